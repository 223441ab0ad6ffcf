// The traffic generator as the window sees it: settings typed by the user (validated here
// with the same ranges as the Rust side, which checks again), and the live figures. Lives
// above the screens so traffic keeps running while the user looks at the Mesh screen.
import { toIpcError, type Backend } from "../backend";
import type { IpcError } from "../generated/IpcError";
import type { TrafficSettings } from "../generated/TrafficSettings";
import type { TrafficStats } from "../generated/TrafficStats";

export const RATE_MIN = 0.5;
export const RATE_MAX = 500;
export const CONCURRENCY_MAX = 256;
export const DURATION_MAX = 3600;
export const USER_MAX = 64;

export interface SettingsForm {
  rate: string;
  concurrency: string;
  /** Empty: until stopped. */
  duration: string;
  /** Empty: anonymous requests only. */
  user: string;
  /** Percent of the requests sent as `user`. */
  userShare: string;
}

export type SettingsErrors = Partial<Record<keyof SettingsForm, string>>;

/** Turns the form into settings, or says what is wrong with each field. */
export function parseSettings(form: SettingsForm): { settings: TrafficSettings | null; errors: SettingsErrors } {
  const errors: SettingsErrors = {};
  const num = (t: string) => (/^\s*\d+(\.\d+)?\s*$/.test(t) ? Number(t) : NaN);
  const rate = num(form.rate);
  if (Number.isNaN(rate) || rate < RATE_MIN || rate > RATE_MAX) {
    errors.rate = `Choose a rate from ${RATE_MIN} to ${RATE_MAX} requests per second.`;
  }
  const concurrency = num(form.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > CONCURRENCY_MAX) {
    errors.concurrency = `Choose a whole number from 1 to ${CONCURRENCY_MAX}.`;
  }
  let durationSecs: number | null = null;
  if (form.duration.trim() !== "") {
    const d = num(form.duration);
    if (Number.isNaN(d) || d < 1 || d > DURATION_MAX) {
      errors.duration = `Choose from 1 to ${DURATION_MAX} seconds, or leave it empty to run until you press Stop.`;
    } else {
      durationSecs = d;
    }
  }
  const user = form.user.trim() === "" ? null : form.user.trim();
  let userShare: number | null = null;
  if (user !== null) {
    if (/\s/.test(user) || user.length > USER_MAX) {
      errors.user = `Type one word of at most ${USER_MAX} letters, such as jason.`;
    }
    const share = num(form.userShare.replace(/%\s*$/, ""));
    if (Number.isNaN(share) || share > 100) {
      errors.userShare = "Choose from 0 to 100 percent of the requests.";
    } else {
      userShare = share;
    }
  }
  if (Object.keys(errors).length) return { settings: null, errors };
  return { settings: { rate, concurrency, durationSecs, user, userShare }, errors };
}

export class TrafficRunState {
  form: SettingsForm = $state({ rate: "20", concurrency: "10", duration: "60", user: "", userShare: "50" });
  stats: TrafficStats | null = $state.raw(null);
  running = $state(false);
  starting = $state(false);
  error: IpcError | null = $state.raw(null);

  constructor(private readonly backend: Backend) {}

  get errors(): SettingsErrors {
    return parseSettings(this.form).errors;
  }

  async start(): Promise<void> {
    const { settings } = parseSettings(this.form);
    if (!settings || this.running || this.starting) return;
    this.starting = true;
    this.error = null;
    this.stats = null;
    try {
      await this.backend.startTraffic(settings, (s) => {
        this.stats = s;
        this.running = s.running;
      });
      this.running = true;
    } catch (e) {
      this.error = toIpcError(e);
    } finally {
      this.starting = false;
    }
  }

  /** Follows every run, also one a lesson step started, so the figures and Stop show here. */
  async follow(): Promise<void> {
    try {
      await this.backend.followTraffic((s) => {
        this.stats = s;
        this.running = s.running;
      });
    } catch (e) {
      this.error = toIpcError(e);
    }
  }

  async stop(): Promise<void> {
    try {
      await this.backend.stopTraffic();
    } catch (e) {
      this.error = toIpcError(e);
    }
  }
}
