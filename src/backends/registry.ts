/**
 * The backend registry: one plug-in per backend kind (an exhaustive map, so a new kind does not
 * compile until it is registered here), the `mounts` entry schema composed from the plug-ins'
 * schemas, and `createMountTable`, which turns the configured mounts into a MountTable. Nothing
 * connects at creation: a backend that is down at start shows in /readyz and fails its calls
 * with 503, it does not stop the broker from starting.
 */
import { z } from "zod";
import type { Metrics } from "../metrics.js";
import { awsPlugin } from "./aws/plugin.js";
import { isDynamic, isListable, isWritable, type BackendKind, type SecretBackend } from "./backend.js";
import { defaultCredentialSources, type CredentialSources } from "./credential-source.js";
import { localPlugin, type LocalBackend } from "./local.js";
import { createBackendMetrics } from "./metrics.js";
import { MountTable } from "./mounts.js";
import type { BackendCapabilities, BackendLogger, BackendPlugin, FactoryDeps } from "./plugin.js";
import { vaultPlugin } from "./vault/plugin.js";

/** One `mounts` entry: a discriminated union on `backend` of every plug-in's schema. */
export const mountSchema = z.discriminatedUnion("backend", [localPlugin.configSchema, vaultPlugin.configSchema, awsPlugin.configSchema]);

export type MountConfig = z.output<typeof mountSchema>;
type MountConfigOf<K extends BackendKind> = Extract<MountConfig, { backend: K }>;

export const backendPlugins: { [K in BackendKind]: BackendPlugin<K, MountConfigOf<K>> } = { local: localPlugin, vault: vaultPlugin, aws: awsPlugin };

// The union above and BackendKind must name the same kinds: this fails to compile otherwise.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const kindsAgree: Same<MountConfig["backend"], BackendKind> = true;
void kindsAgree;

export interface MountTableDeps {
  /** The broker's local encrypted store: serves paths under no mount and `local` mounts. */
  local: LocalBackend;
  logger: BackendLogger;
  /** Backend metrics are registered on `metrics.registry`. */
  metrics: Pick<Metrics, "registry">;
  clock: () => number;
  /** Where tokens and keys named by `*_env` / `*_file` options are read (default: process.env and the file system). */
  credentials?: CredentialSources;
}

/**
 * The mount table for the configured mounts. Wire it in the composition root:
 * `const mounts = await createMountTable(config.mounts, { local, logger, metrics, clock });`
 * and `await mounts.close()` at shutdown (stops Vault token renewal, closes AWS sockets).
 * Throws BrokerError("invalid_request") naming the mount when a credential it names is missing.
 */
export async function createMountTable(mounts: readonly MountConfig[], deps: MountTableDeps): Promise<MountTable> {
  const factoryDeps: FactoryDeps = {
    local: deps.local,
    logger: deps.logger,
    metrics: createBackendMetrics(deps.metrics.registry),
    clock: deps.clock,
    credentials: deps.credentials ?? defaultCredentialSources,
  };
  const built = mounts.map((mount) => ({ path: mount.path, backend: createBackend(mount, factoryDeps) }));
  return Promise.resolve(new MountTable(built, deps.local));
}

function createBackend<K extends BackendKind>(mount: MountConfigOf<K>, deps: FactoryDeps): SecretBackend {
  const plugin = backendPlugins[mount.backend];
  const backend = plugin.create(mount, deps);
  checkCapabilities(mount.path, plugin.capabilities(mount), backend);
  return backend;
}

/** A plug-in whose backend implements other interfaces than it declares is a programming error. */
function checkCapabilities(path: string, declared: BackendCapabilities, backend: SecretBackend): void {
  const checks: [string, boolean, boolean][] = [
    ["versions", declared.versions, isWritable(backend)],
    ["list", declared.list, isListable(backend)],
    ["dynamicIssuance", declared.dynamicIssuance, isDynamic(backend)],
  ];
  for (const [name, said, has] of checks) {
    if (said !== has) throw new TypeError(`mount ${path}: the ${backend.kind} plug-in declares ${name}: ${String(said)}, its backend says ${String(has)}`);
  }
}
