// The lessons' shapes, as the Rust side (playground::lessons) exports them.
export type { AppliedAction } from "../generated/AppliedAction";
export type { Check } from "../generated/Check";
export type { CheckOutcome } from "../generated/CheckOutcome";
export type { Lesson } from "../generated/Lesson";
export type { LessonProgress } from "../generated/LessonProgress";
export type { LessonSource } from "../generated/LessonSource";
export type { LessonState } from "../generated/LessonState";
export type { LessonSummary } from "../generated/LessonSummary";
export type { Observation } from "../generated/Observation";
export type { Spotlight } from "../generated/Spotlight";
export type { Step } from "../generated/Step";
export type { StepAction } from "../generated/StepAction";
export type { StepRun } from "../generated/StepRun";
export type { VersionPercent } from "../generated/VersionPercent";

/** What "Do it" may be asked: `simulated` picks what a setup step builds; `dryRun` only
 * returns the YAML and commands, writing nothing (a step's text for slides). */
export interface DoOptions {
  simulated: boolean;
  dryRun: boolean;
}
