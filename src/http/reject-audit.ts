/**
 * Every refused request leaves one audit record. Use cases and the authentication middleware
 * audit their own refusals (with the deciding rule) and say so on the error they throw
 * (`BrokerError.audited`); this records the rest — bad input, unknown routes, oversized bodies,
 * refusals the use cases raise without a record of their own — as one `http.reject` record.
 */
import type { Context } from "hono";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry } from "../audit/entry.js";
import type { BrokerError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { AppEnv } from "./context.js";

export interface RejectAuditDeps {
  audit: Pick<AuditWriter, "record">;
  logger: Logger;
  clock: () => number;
}

/** Records `error` for this request unless the code that raised it audited it; `action` defaults to http.reject. */
export async function auditRejection(deps: RejectAuditDeps, c: Context<AppEnv>, error: BrokerError, action = "http.reject"): Promise<void> {
  const meta = c.get("meta");
  if (!meta || error.audited) return;
  const principal = c.get("principal");
  const actor = principal
    ? principal.kind === "server"
      ? { id: principal.serverId, kind: "server" as const, tokenRef: c.get("tokenRef") }
      : { id: principal.name, kind: "operator" as const, tokenRef: c.get("tokenRef") }
    : { id: "anonymous", kind: "anonymous" as const };
  try {
    await deps.audit.record(
      auditEntry(actor, meta, { action, resource: `${c.req.method} ${c.req.path}`, outcome: error.status >= 500 ? "error" : "denied", reason: error.code }, deps.clock()),
    );
  } catch (failure) {
    deps.logger.error({ request_id: meta.requestId, err: String(failure) }, "could not audit a rejected request");
  }
}
