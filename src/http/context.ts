/** Per-request state shared by middleware and routes, typed once. */
import type { HttpBindings } from "@hono/node-server";
import type { Principal, RequestMeta } from "../domain.js";

export interface AppVariables {
  requestId: string;
  sourceIp: string | null;
  /** The request's facts that every audit record of it carries. */
  meta: RequestMeta;
  principal: Principal;
  /** HMAC reference of the bearer credential, for audit records. */
  tokenRef: string;
  /** Set by a route whose Response already carries every header the API promises (see http/headers.ts). */
  headersIncluded: boolean;
}

/** `incoming` is the raw Node request (@hono/node-server); absent when the app is called directly. */
export type AppEnv = { Variables: AppVariables; Bindings: Partial<HttpBindings> };
