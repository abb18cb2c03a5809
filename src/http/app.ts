/**
 * The HTTP application: middleware order, body limit, route groups, one error handler, and the
 * OpenAPI document of every route (GET /v1/openapi.json).
 */
import { bodyLimit } from "hono/body-limit";
import { BrokerError } from "../errors.js";
import type { AppDeps } from "./deps.js";
import { createAuthenticators } from "./middleware/authenticate.js";
import { errorBody, errorHandler, oauthErrorHandler } from "./middleware/errors.js";
import { requestRateLimit } from "./middleware/rate-limit.js";
import { requestContext } from "./middleware/request-context.js";
import { brokerApp, publishDocument, type BrokerApp } from "./openapi.js";
import { auditRejection } from "./reject-audit.js";
import { adminRoutes } from "./routes/admin.js";
import { adminLifecycleRoutes } from "./routes/admin-lifecycle.js";
import { auditRoutes } from "./routes/audit.js";
import { authRoutes } from "./routes/auth.js";
import { brokerInfoRoutes } from "./routes/broker-info.js";
import { eventRoutes } from "./routes/events.js";
import { healthRoutes } from "./routes/health.js";
import { secretRoutes } from "./routes/secrets.js";

const TOKEN_PATH = "/v1/auth/token";

export function createApp(deps: AppDeps): BrokerApp {
  const app = brokerApp();
  const auth = createAuthenticators({
    tokens: deps.tokens,
    servers: deps.serverDirectory,
    operators: deps.operators,
    audit: deps.audit,
    refusals: deps.refusals,
    policy: deps.policy,
    tokenRef: deps.tokenRef,
    clock: deps.clock,
  });

  app.use("*", requestContext({ logger: deps.logger, metrics: deps.metrics, trustProxy: deps.trustProxy }));
  // Before anything that reads a body, authenticates or audits: a source over its budget costs one map lookup.
  app.use("*", requestRateLimit({ limiter: deps.requestLimiter }));
  const limitBody = bodyLimit({
    maxSize: deps.maxBodyBytes,
    onError: () => {
      throw new BrokerError("payload_too_large", `request body exceeds ${deps.maxBodyBytes} bytes`);
    },
  });
  // Only on methods that carry a body: a GET then goes through one middleware layer less, and
  // never builds the full Request the check needs.
  app.on(["POST", "PUT", "PATCH", "DELETE"], "/v1/*", limitBody);

  app.route("/", healthRoutes(deps));
  app.route("/", authRoutes(deps));
  app.route("/", secretRoutes(deps, auth));
  app.route("/", eventRoutes(deps, auth));
  app.route("/", adminRoutes(deps, auth));
  app.route("/", brokerInfoRoutes(deps, auth));
  app.route("/", adminLifecycleRoutes(deps, auth));
  app.route("/", auditRoutes(deps, auth));
  publishDocument(app);

  app.notFound(async (c) => {
    const error = new BrokerError("not_found", `no route ${c.req.method} ${c.req.path.slice(0, 100)}`);
    await auditRejection(deps, c, error);
    return c.json(errorBody(error, c.get("requestId") ?? ""), 404);
  });
  const brokerErrors = errorHandler(deps);
  // The token route answers in RFC 6749 form, a refusal of the rate limit in front of it too.
  const oauthErrors = oauthErrorHandler(deps);
  app.onError(function handleAppError(error, c) {
    return c.req.path === TOKEN_PATH ? oauthErrors(error, c) : brokerErrors(error, c);
  });
  return app;
}
