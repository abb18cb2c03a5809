/** Per-request state shared by middleware and routes, typed once. */
import type { Principal } from "../domain.js";

export interface AppVariables {
  requestId: string;
  sourceIp: string | null;
  principal: Principal;
  /** HMAC reference of the bearer credential, for audit records. */
  tokenRef: string;
}

export type AppEnv = { Variables: AppVariables };
