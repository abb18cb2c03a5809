/** Liveness, readiness (the probes built in wiring: storage, audit writable, each backend) and Prometheus metrics. */
import type { AppDeps } from "../deps.js";
import { BrokerError } from "../../errors.js";
import { setHeader } from "../headers.js";
import { brokerApp, errors, json, route } from "../openapi.js";
import { Health, Readiness } from "../schemas.js";

export function healthRoutes(deps: AppDeps) {
  const app = brokerApp();

  route(
    app,
    { method: "get", path: "/healthz", summary: "Liveness", tags: ["health"], responses: { 200: json(Health, "the process serves requests") } },
    (c) => c.json({ status: "ok" }),
  );

  route(
    app,
    {
      method: "get",
      path: "/readyz",
      summary: "Readiness: storage, audit writable (probed with a real write), each backend",
      tags: ["health"],
      responses: { 200: json(Readiness, "every check passed"), 503: json(Readiness, "some check failed; each says why") },
    },
    async (c) => {
      const checks: Record<string, { ok: boolean; error?: string }> = {};
      for (const probe of deps.readiness) {
        try {
          await probe.check();
          checks[probe.name] = { ok: true };
        } catch (error) {
          checks[probe.name] = { ok: false, error: error instanceof Error ? error.message : "failed" };
        }
      }
      const ok = Object.values(checks).every((check) => check.ok);
      return c.json({ status: ok ? "ready" : "not_ready", checks }, ok ? 200 : 503);
    },
  );

  route(
    app,
    {
      method: "get",
      path: "/metrics",
      summary: "Prometheus metrics (with the scrape token when metrics.token_file is set)",
      tags: ["health"],
      security: [{}, { scrapeToken: [] }],
      responses: { 200: { description: "Prometheus text exposition format", content: { "text/plain": { schema: { type: "string" } } } }, ...errors(401) },
    },
    async (c) => {
      if (deps.scrapeToken && !deps.scrapeToken.matches(c.req.header("authorization"))) {
        setHeader(c, "www-authenticate", 'Bearer realm="credbroker metrics"');
        throw new BrokerError("unauthorized", "GET /metrics needs the scrape token (metrics.token_file)");
      }
      deps.metrics.activeLeases.set(await deps.leases.countActive());
      c.header("content-type", deps.metrics.registry.contentType);
      return c.body(await deps.metrics.registry.metrics());
    },
  );

  return app;
}
