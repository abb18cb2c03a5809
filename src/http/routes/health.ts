/** Liveness, readiness (storage, each backend, audit writable) and Prometheus metrics. */
import { Hono } from "hono";
import type { AppEnv } from "../context.js";
import type { AppDeps } from "../deps.js";
import { BrokerError } from "../../errors.js";
import { setHeader } from "../headers.js";

export function healthRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const checks: Record<string, { ok: boolean; error?: string }> = {};
    const run = async (name: string, check: () => Promise<unknown>) => {
      try {
        await check();
        checks[name] = { ok: true };
      } catch (error) {
        checks[name] = { ok: false, error: error instanceof Error ? error.message : "failed" };
      }
    };
    for (const probe of deps.readiness) await run(probe.name, () => probe.check());
    const ok = Object.values(checks).every((check) => check.ok);
    return c.json({ status: ok ? "ready" : "not_ready", checks }, ok ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    if (deps.scrapeToken && !deps.scrapeToken.matches(c.req.header("authorization"))) {
      setHeader(c, "www-authenticate", 'Bearer realm="credbroker metrics"');
      throw new BrokerError("unauthorized", "GET /metrics needs the scrape token (metrics.token_file)");
    }
    deps.metrics.activeLeases.set(await deps.leases.countActive());
    c.header("content-type", deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });

  return app;
}
