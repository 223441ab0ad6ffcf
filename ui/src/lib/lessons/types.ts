// The lessons' shapes as the Rust side sends them (playground::lessons). Written by hand
// from the contract in LESSONS.md until the ts-rs types exist on main; then these become
// re-exports of ../generated.
import type { ErrorCode } from "../generated/ErrorCode";
import type { FaultPlan } from "../generated/FaultPlan";
import type { InjectionRequest } from "../generated/InjectionRequest";
import type { MtlsPlan } from "../generated/MtlsPlan";
import type { NodeKind } from "../generated/NodeKind";
import type { ResetPlan } from "../generated/ResetPlan";
import type { RetryPlan } from "../generated/RetryPlan";
import type { RoutePlan } from "../generated/RoutePlan";
import type { TelemetryProblem } from "../generated/TelemetryProblem";
import type { TimeoutPlan } from "../generated/TimeoutPlan";
import type { TrafficSettings } from "../generated/TrafficSettings";
import type { WeightPlan } from "../generated/WeightPlan";

export type LessonSource = { type: "builtin" } | { type: "file"; path: string };

export type LessonSummary = {
  name: string;
  title: string;
  summary: string;
  minutes: number | null;
  stepCount: number;
  source: LessonSource;
};

/** Nodes by id or id prefix (ending in `-` or `/`), and whole kinds. */
export type Spotlight = { nodes: string[]; kinds: NodeKind[] };

export type StepAction =
  | "setup"
  | "teardown"
  | "stopTraffic"
  | { inject: InjectionRequest }
  | { traffic: TrafficSettings }
  | { weights: WeightPlan }
  | { route: RoutePlan }
  | { fault: FaultPlan }
  | { timeout: TimeoutPlan }
  | { retries: RetryPlan }
  | { mtls: MtlsPlan }
  | { resetRouting: ResetPlan };

export type Check =
  | "clusterGone"
  | { ready: { namespace: string; workloads: string[] } }
  | { sidecars: { namespace: string } }
  | { traffic: { namespace: string; service: string; minPerSecond: number } }
  | { split: { namespace: string; service: string; version: string; atLeast: number } }
  | { splitNear: { namespace: string; service: string; weights: Record<string, number>; within: number } }
  | { errors: { namespace: string; service: string; source: string | null; atLeast: number } }
  | { mtls: { namespace: string; service: string; atLeast: number } };

export type Step = {
  id: string;
  title: string;
  what: string;
  why: string;
  look: Spotlight;
  do: StepAction[];
  check: Check | null;
  hint: string;
  reset: StepAction[];
};

export type Lesson = {
  schema: string;
  name: string;
  title: string;
  summary: string;
  minutes: number | null;
  steps: Step[];
};

export type VersionPercent = { version: string; percent: number; expected: number | null };

export type Observation =
  | { type: "ready"; ready: number; wanted: number; notReady: string[] }
  | { type: "sidecars"; withSidecar: number; pods: number; without: string[] }
  | { type: "traffic"; perSecond: number }
  | { type: "split"; answeredPerSecond: number; versions: VersionPercent[] }
  | { type: "errors"; perSecond: number; percent: number | null }
  | { type: "mtls"; perSecond: number; percent: number | null }
  | { type: "noFigures"; problem: TelemetryProblem }
  | { type: "clusterGone"; gone: boolean };

export type CheckOutcome = { passed: boolean; atMs: number; windowSecs: number | null; observed: Observation };

export type AppliedAction = { action: StepAction; yaml: string | null; kubectl: string[] };

export type StepRun = { step: string; applied: AppliedAction[] };

export type LessonState = { current: string | null; passed: string[] };

export type LessonProgress = { lessons: Record<string, LessonState> };

/** Lesson error codes (in ErrorCode once the Rust types are generated on main). */
export const LESSON_INVALID = "lesson_invalid" as ErrorCode;
export const LESSON_UNKNOWN = "lesson_unknown" as ErrorCode;
