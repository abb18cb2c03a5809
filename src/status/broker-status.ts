/**
 * What `credbroker status` shows an operator: the broker's version and uptime, the kind of
 * storage, each mount with its backend kind and health, and the policy set in force. Only kinds,
 * prefixes, digests and counts: never a connection string (it may carry a password), a backend
 * address or a secret.
 */
import type { BackendKind } from "../backends/backend.js";
import type { MountTable } from "../backends/mounts.js";
import type { PolicySet } from "../policy/types.js";

export interface MountStatus {
  /** The mount's path prefix; "" for the local store serving every path under no mount. */
  path: string;
  backend: BackendKind;
  healthy: boolean;
  /** Why it is not healthy (the backend's public message); null when healthy. */
  error: string | null;
}

export interface BrokerStatus {
  version: string;
  storage: "sqlite" | "postgres";
  startedAt: number;
  /** Whole seconds since start. */
  uptimeSeconds: number;
  mounts: MountStatus[];
  policy: { digest: string; files: number; servers: number; roles: number };
}

export interface BrokerStatusDeps {
  version: string;
  storage: "sqlite" | "postgres";
  /** When this broker process started, ms. */
  startedAt: number;
  mounts: Pick<MountTable, "all" | "mounted">;
  policy: { current(): PolicySet };
  clock: () => number;
}

/** Checks every backend's health at once (each has its own timeout) and reports the status. */
export async function brokerStatus(deps: BrokerStatusDeps): Promise<BrokerStatus> {
  const mounts = await Promise.all(
    deps.mounts.all().map(async (backend): Promise<MountStatus> => {
      // The one backend that is no configured mount is the local store serving unmounted paths.
      const path = deps.mounts.mounted().find((mount) => mount.backend === backend)?.path ?? "";
      try {
        await backend.checkHealth();
        return { path, backend: backend.kind, healthy: true, error: null };
      } catch (error) {
        return { path, backend: backend.kind, healthy: false, error: error instanceof Error ? error.message : "unhealthy" };
      }
    }),
  );
  const policy = deps.policy.current();
  const now = deps.clock();
  return {
    version: deps.version,
    storage: deps.storage,
    startedAt: deps.startedAt,
    uptimeSeconds: Math.max(0, Math.floor((now - deps.startedAt) / 1000)),
    mounts,
    policy: { digest: policy.digest, files: policy.files.length, servers: policy.servers.size, roles: policy.roles.size },
  };
}
