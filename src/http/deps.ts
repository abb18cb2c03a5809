/** Everything the HTTP layer needs, built by the composition root (src/main.ts). */
import type { AuditQueries } from "../audit/query.js";
import type { AuditWriter } from "../audit/writer.js";
import type { ClientCredentials } from "../auth/client-credentials.js";
import type { SigningKeys } from "../auth/signing-keys.js";
import type { TokenService } from "../auth/tokens.js";
import type { MountTable } from "../backends/mounts.js";
import type { RotationProgress } from "../crypto/key-rotation.js";
import type { EventBus } from "../events/bus.js";
import type { LeaseService } from "../leases/service.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { OperatorService } from "../operators/service.js";
import type { PolicySet } from "../policy/types.js";
import type { SecretAdmin } from "../secrets/admin.js";
import type { SecretReader } from "../secrets/read.js";
import type { ServerService } from "../servers/service.js";
import type { ScrapeToken } from "./scrape-token.js";
import type { Store } from "../store/store.js";

export interface PolicySource {
  current(): PolicySet;
  /** Reloads from disk; returns a summary (the caller audits it). */
  reload(): { ok: boolean; problems: string[] };
}

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  maxBodyBytes: number;
  trustProxy: boolean;
  /** When set, GET /metrics requires this bearer token. */
  scrapeToken: ScrapeToken | undefined;
  store: Store;
  audit: AuditWriter;
  auditQueries: AuditQueries;
  clientCredentials: ClientCredentials;
  tokens: TokenService;
  signingKeys: SigningKeys;
  signingKeyOverlapSeconds: number;
  secretReader: SecretReader;
  secretAdmin: SecretAdmin;
  leases: LeaseService;
  servers: ServerService;
  operators: OperatorService;
  mounts: MountTable;
  events: EventBus;
  policy: PolicySource;
  rotateMasterKey: (onProgress: (progress: RotationProgress) => void) => Promise<RotationProgress>;
  tokenRef: (value: string) => string;
  clock: () => number;
}
