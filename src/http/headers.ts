/**
 * Response headers set on the Node response itself when there is one (@hono/node-server).
 *
 * `c.header()` makes hono build a WHATWG Headers object per response, and @hono/node-server then
 * converts it back into a plain object: about 3% of a secret read's CPU for a few constant
 * headers. Headers set here are merged by Node into whatever the returned Response writes. Only
 * for headers hono never writes itself (never content-type: the Response's own would win).
 * Without a Node response (the app called directly), falls back to `c.header()`.
 */
import type { Context } from "hono";
import type { AppEnv } from "./context.js";

export function setHeader(c: Context<AppEnv>, name: string, value: string): void {
  const outgoing = c.env?.outgoing;
  if (outgoing && !outgoing.headersSent) outgoing.setHeader(name, value);
  else c.header(name, value);
}
