/**
 * Routes about the caller and the broker, for any operator whatever their role: who am I
 * (GET /v1/admin/whoami) and how is the broker (GET /v1/admin/status). Neither returns a secret,
 * a token or a connection string.
 */
import { BrokerError } from "../../errors.js";
import type { AppDeps } from "../deps.js";
import type { createAuthenticators } from "../middleware/authenticate.js";
import { brokerApp, errors, json, operatorSecurity, route } from "../openapi.js";
import { operatorActor } from "../request.js";
import { BrokerStatus, WhoAmI } from "../schemas.js";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function brokerInfoRoutes(deps: AppDeps, auth: ReturnType<typeof createAuthenticators>) {
  const app = brokerApp();
  const anyOperator = auth.requireOperator();
  const tags = ["admin: operators"];

  route(
    app,
    {
      method: "get",
      path: "/v1/admin/whoami",
      summary: "The operator the token names: name, role, its permissions now, and when the token expires",
      description: "Any operator, whatever their role.",
      tags,
      security: operatorSecurity,
      responses: { 200: json(WhoAmI, "the calling operator"), ...errors(401, 503) },
    },
    anyOperator,
    async (c) => {
      const { id } = operatorActor(c);
      const operator = await deps.operators.get(id);
      // Authentication found it a moment ago: gone now means revoked in between.
      if (!operator || operator.revokedAt !== null) throw new BrokerError("unauthorized", "invalid or revoked operator token");
      const permissions = [...(deps.policy.current().roles.get(operator.role) ?? [])];
      return c.json({ name: operator.name, role: operator.role, permissions, created_at: iso(operator.createdAt)!, expires_at: iso(operator.expiresAt) });
    },
  );

  route(
    app,
    {
      method: "get",
      path: "/v1/admin/status",
      summary: "Version, uptime, storage kind, each mount with its backend kind and health, the policy set in force",
      description: "Any operator, whatever their role. No connection string, address or secret.",
      tags: ["health"],
      security: operatorSecurity,
      responses: { 200: json(BrokerStatus, "the broker's status (a mount that is down is reported, not an error)"), ...errors(401, 503) },
    },
    anyOperator,
    async (c) => {
      const status = await deps.brokerStatus();
      return c.json({
        version: status.version,
        storage: status.storage,
        started_at: iso(status.startedAt)!,
        uptime_seconds: status.uptimeSeconds,
        mounts: status.mounts,
        policy: status.policy,
      });
    },
  );

  return app;
}
