// Which cluster the app talks to (and whether it is simulated), shared by the header, the
// Setup screen and everything that must follow a switch to the simulated playground.
import { toIpcError, type Backend } from "./backend";
import type { AppInfo } from "./generated/AppInfo";
import type { IpcError } from "./generated/IpcError";
import type { SimulatedInfo } from "./generated/SimulatedInfo";

export class ClusterState {
  info: AppInfo | null = $state.raw(null);
  error: IpcError | null = $state.raw(null);
  /** True while the simulated playground is starting. */
  starting = $state(false);
  startError: IpcError | null = $state.raw(null);

  constructor(private readonly backend: Backend) {}

  get simulated(): SimulatedInfo | null {
    return this.info?.simulated ?? null;
  }

  async refresh(): Promise<void> {
    try {
      this.info = await this.backend.appInfo();
      this.error = null;
    } catch (e) {
      this.error = toIpcError(e);
    }
  }

  /** Starts the simulated playground; resolves true when it runs. */
  async startSimulated(): Promise<boolean> {
    if (this.starting) return false;
    this.starting = true;
    this.startError = null;
    try {
      await this.backend.startSimulated();
      await this.refresh();
      return true;
    } catch (e) {
      this.startError = toIpcError(e);
      return false;
    } finally {
      this.starting = false;
    }
  }
}
