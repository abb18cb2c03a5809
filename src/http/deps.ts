/** Everything the HTTP layer needs, built by the composition root (src/main.ts). */
import type { Actor } from "../audit/entry.js";
import type { AuditArchive } from "../audit/archive.js";
import type { AuditQueries } from "../audit/query.js";
import type { AuditWriter } from "../audit/writer.js";
import type { ClientCredentials } from "../auth/client-credentials.js";
import type { BudgetLimiter } from "../auth/rate-limit.js";
import type { SigningKeys } from "../auth/signing-keys.js";
import type { TokenService } from "../auth/tokens.js";
import type { RotationProgress } from "../keys/master-key-rotation.js";
import type { Lease, RequestMeta } from "../domain.js";
import type { EventBus } from "../events/bus.js";
import type { StreamSlots } from "../events/stream-slots.js";
import type { LeaseService } from "../leases/service.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { OperatorService } from "../operators/service.js";
import type { PolicySet } from "../policy/types.js";
import type { SecretAdmin } from "../secrets/admin.js";
import type { SecretReader } from "../secrets/read.js";
import type { ServerDirectory } from "../servers/directory.js";
import type { ServerService } from "../servers/service.js";
import type { BrokerStatus } from "../status/broker-status.js";
import type { RefusalSummaries } from "./refusal-summary.js";
import type { ScrapeToken } from "./scrape-token.js";

export interface PolicySource {
  current(): PolicySet;
  /** Reloads from disk; returns a summary (the caller audits it). */
  reload(): { ok: boolean; problems: string[] };
}

/**
 * One readiness check of GET /readyz (storage, audit writable, each backend). Resolves when ready;
 * rejects with an error whose message says what is wrong (shown to the caller: no secret in it).
 */
export interface ReadinessProbe {
  name: string;
  check(): Promise<void>;
}

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  maxBodyBytes: number;
  trustProxy: boolean;
  /** When set, GET /metrics requires this bearer token. */
  scrapeToken: ScrapeToken | undefined;
  audit: AuditWriter;
  /** Unauthenticated refusals, audited once per source and window with a count. */
  refusals: RefusalSummaries;
  /** Every route's budget per source address (`rate_limit.requests`). */
  requestLimiter: BudgetLimiter;
  auditQueries: AuditQueries;
  /** Retention: exporting and removing the oldest records (src/audit/archive.ts). */
  auditArchive: AuditArchive;
  /** The audit checkpoint public key, for verifiers: its key id and PEM (SPKI). */
  checkpointKey: { keyId: string; publicKeyPem: string };
  clientCredentials: ClientCredentials;
  tokens: TokenService;
  signingKeys: SigningKeys;
  /** A new token signing key (src/keys/signing-key-rotation.ts). */
  rotateSigningKey: (actor: Actor, meta: RequestMeta) => Promise<{ kid: string }>;
  /** Deletes a secret and revokes its leases (src/secrets/delete.ts). */
  deleteSecret: (actor: Actor, path: string, meta: RequestMeta) => Promise<Lease[]>;
  secretReader: SecretReader;
  secretAdmin: SecretAdmin;
  leases: LeaseService;
  servers: ServerService;
  /** What authentication asks about the server behind a token. */
  serverDirectory: ServerDirectory;
  /** The checks of GET /readyz, in the order they are reported. */
  readiness: ReadinessProbe[];
  operators: OperatorService;
  events: EventBus;
  /** Open GET /v1/events streams per server, capped (`events.max_streams_per_server`). */
  eventStreams: StreamSlots;
  policy: PolicySource;
  /** A new master key, every data key re-wrapped, audited (src/keys/master-key-rotation.ts). */
  rotateMasterKey: (actor: Actor, meta: RequestMeta) => Promise<RotationProgress>;
  /** Version, storage, mounts and their health, policy set (src/status/broker-status.ts). */
  brokerStatus: () => Promise<BrokerStatus>;
  tokenRef: (value: string) => string;
  clock: () => number;
}
