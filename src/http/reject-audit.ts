/**
 * Every refused request leaves one audit record. Use cases and the authentication middleware
 * audit their own refusals (with the deciding rule) and say so on the error they throw
 * (`BrokerError.audited`); this records the rest — bad input, unknown routes, oversized bodies,
 * refusals the use cases raise without a record of their own — as one `http.reject` record.
 * A refusal of a caller that did not authenticate goes through the refusal summaries
 * (refusal-summary.ts): repeated ones from one source become one record per window with a count.
 */
import type { Context } from "hono";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry } from "../audit/entry.js";
import type { BrokerError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { AppEnv } from "./context.js";
import type { RefusalSummaries } from "./refusal-summary.js";

export interface RejectAuditDeps {
  audit: Pick<AuditWriter, "record">;
  /** Where unauthenticated refusals go: aggregated per source and window. */
  refusals: Pick<RefusalSummaries, "record">;
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
    const entry = auditEntry(actor, meta, { action, resource: `${c.req.method} ${c.req.path}`, outcome: error.status >= 500 ? "error" : "denied", reason: error.code }, deps.clock());
    // A server error is no flood a caller controls: each is recorded.
    await (principal || error.status >= 500 ? deps.audit : deps.refusals).record(entry);
  } catch (failure) {
    deps.logger.error({ request_id: meta.requestId, err: String(failure) }, "could not audit a rejected request");
  }
}
