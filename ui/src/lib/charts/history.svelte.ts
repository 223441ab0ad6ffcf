// The last minutes of one service's traffic, polled from the cluster's Prometheus while the
// Traffic screen shows it.
import { toIpcError, type Backend } from "../backend";
import type { IpcError } from "../generated/IpcError";
import type { ServiceHistory } from "../generated/ServiceHistory";
import { recentCounts } from "./scale";

/** How often the charts ask again. */
export const HISTORY_POLL_MS = 3000;
/** The observed split next to the weights: requests answered over this many seconds. */
export const OBSERVED_SECS = 30;

export class HistoryPoll {
  namespace = $state("default");
  service = $state("reviews");
  minutes = $state(5);
  history: ServiceHistory | null = $state.raw(null);
  error: IpcError | null = $state.raw(null);
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Ignores answers to a question that was changed meanwhile. */
  private asked = 0;

  constructor(private readonly backend: Backend) {}

  /** Starts polling; returns the function that stops it. */
  start(): () => void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), HISTORY_POLL_MS);
    return () => {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
    };
  }

  choose(service: string, minutes = this.minutes): void {
    if (service !== this.service || minutes !== this.minutes) this.history = null;
    this.service = service;
    this.minutes = minutes;
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const n = ++this.asked;
    const { namespace, service, minutes } = this;
    try {
      const h = await this.backend.serviceHistory(namespace, service, minutes);
      if (n !== this.asked) return;
      this.history = h;
      this.error = null;
    } catch (e) {
      if (n !== this.asked) return;
      this.error = toIpcError(e);
    }
  }

  /**
   * What the telemetry saw each version of `service` answer lately: every request the
   * sidecars counted, whoever sent it. Null without any.
   */
  observed(service: string): { counts: Record<string, number>; recent: number; over: string } | null {
    const h = this.history;
    if (!h || h.name !== service) return null;
    const { counts, total } = recentCounts(h.points, h.stepSecs, OBSERVED_SECS);
    if (total < 1) return null;
    // The shares only: a count from rates times steps is too rough to print (a run younger
    // than Prometheus's rate window is undercounted).
    return { counts, recent: Math.round(total), over: `over the last ${OBSERVED_SECS} s (from Istio's metrics)` };
  }
}
