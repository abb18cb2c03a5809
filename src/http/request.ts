/** Typed accessors for the per-request facts set by the middleware. */
import type { Context } from "hono";
import type { Actor } from "../audit/entry.js";
import type { RequestMeta } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { AppEnv } from "./context.js";

export function requestMeta(c: Context<AppEnv>): RequestMeta {
  return c.get("meta");
}

/** The authenticated server (requireServer ran before). */
export function serverActor(c: Context<AppEnv>): Actor & { kind: "server" } {
  const principal = c.get("principal");
  if (principal?.kind !== "server") throw new BrokerError("unauthorized", "a server token is required");
  return { id: principal.serverId, kind: "server", tokenRef: c.get("tokenRef") };
}

/** The authenticated operator (requireOperator ran before). */
export function operatorActor(c: Context<AppEnv>): Actor & { kind: "operator" } {
  const principal = c.get("principal");
  if (principal?.kind !== "operator") throw new BrokerError("unauthorized", "an operator token is required");
  return { id: principal.name, kind: "operator", tokenRef: c.get("tokenRef") };
}

/** A path parameter of the matched route; a route without it is a programming error. */
export function pathParam(c: Context<AppEnv>, name: string): string {
  const value = c.req.param(name);
  if (value === undefined) throw new TypeError(`route has no :${name} parameter`);
  return value;
}
