/**
 * Bearer authentication. Servers present a broker token (JWT); humans present an operator token
 * (`cbo_...`). Every rejection is a 401/403 JSON error and an audit record; a server that was
 * disabled loses access on its next request, whatever its token's expiry (servers/directory.ts
 * `tokenStanding` decides, for requests and open event streams alike). The errors thrown here
 * are marked `audited`: each refusal is recorded here, with its reason, and only here (a caller
 * that presented no valid credential through the refusal summaries: repeated ones from one source
 * are one record per window with a count, refusal-summary.ts).
 */
import type { MiddlewareHandler } from "hono";
import type { AuditWriter } from "../../audit/writer.js";
import { auditEntry } from "../../audit/entry.js";
import { looksLikeOperatorToken } from "../../auth/operator-tokens.js";
import type { TokenService } from "../../auth/tokens.js";
import { BrokerError, toBrokerError } from "../../errors.js";
import type { OperatorService } from "../../operators/service.js";
import { roleHasPermission } from "../../policy/evaluate.js";
import type { OperatorPermission, PolicySet } from "../../policy/types.js";
import { tokenStanding, type ServerDirectory } from "../../servers/directory.js";
import { bearerToken, uncheckedBearer } from "../bearer.js";
import type { AppEnv } from "../context.js";
import type { RefusalSummaries } from "../refusal-summary.js";
import { requestMeta } from "../request.js";

export interface AuthenticateDeps {
  tokens: Pick<TokenService, "verify" | "verifiedBefore">;
  servers: ServerDirectory;
  operators: Pick<OperatorService, "authenticate">;
  audit: Pick<AuditWriter, "record">;
  refusals: Pick<RefusalSummaries, "record">;
  policy: { current(): PolicySet };
  tokenRef: (value: string) => string;
  clock: () => number;
}

export function createAuthenticators(deps: AuthenticateDeps) {
  /** Records the refusal and returns `error`, marked audited, for the caller to throw. */
  const deny = async (c: Parameters<MiddlewareHandler<AppEnv>>[0], actor: string, actorKind: "server" | "operator" | "anonymous", reason: string, error: unknown): Promise<BrokerError> => {
    await (actorKind === "anonymous" ? deps.refusals : deps.audit).record(
      auditEntry(
        { id: actor, kind: actorKind },
        requestMeta(c),
        { action: "auth.verify", resource: `${c.req.method} ${routeFamily(c.req.path)}`, outcome: "denied", reason },
        deps.clock(),
      ),
    );
    return toBrokerError(error).asAudited();
  };

  /** Requires a valid broker token of an enabled server. */
  const requireServer: MiddlewareHandler<AppEnv> = async function requireServer(c, next) {
    const header = c.req.header("authorization");
    // The tokens a server presents over and over are found first; anything else takes every check.
    const cached = deps.tokens.verifiedBefore(uncheckedBearer(header) ?? "");
    const claims = cached ?? (await verifyServerToken(c, header));
    const standing = await tokenStanding(deps.servers, claims, deps.clock);
    if (!standing.valid) throw await deny(c, claims.serverId, "server", standing.reason, new BrokerError("invalid_token", standing.message));
    const { server } = standing;
    c.set("principal", { kind: "server", serverId: server.id, tokenId: claims.tokenId, expiresAt: claims.expiresAt });
    c.set("tokenRef", deps.tokenRef(claims.tokenId));
    await next();
  };

  /** Parses and verifies a server's bearer token; every refusal is audited. */
  const verifyServerToken = async (c: Parameters<MiddlewareHandler<AppEnv>>[0], header: string | undefined) => {
    let token: string;
    try {
      token = bearerToken(header);
    } catch (error) {
      throw await deny(c, "anonymous", "anonymous", "missing_token", error);
    }
    if (looksLikeOperatorToken(token)) {
      throw await deny(
        c,
        "anonymous",
        "anonymous",
        "operator_token_on_server_route",
        new BrokerError("forbidden", "this route is for MCP servers; operator tokens cannot read secrets here (use the admin API)"),
      );
    }
    try {
      return await deps.tokens.verify(token);
    } catch (error) {
      throw await deny(c, "anonymous", "anonymous", error instanceof BrokerError ? `invalid_token: ${error.message}` : "invalid_token", error);
    }
  };

  /**
   * Requires an operator token, unrevoked and unexpired, whose role holds `permission` under the
   * current policy; with no permission, any such operator (routes about the caller itself).
   */
  const requireOperator = (permission?: OperatorPermission): MiddlewareHandler<AppEnv> =>
    async function requireOperatorPermission(c, next) {
      let token: string;
      try {
        token = bearerToken(c.req.header("authorization"));
      } catch (error) {
        throw await deny(c, "anonymous", "anonymous", "missing_token", error);
      }
      const outcome = looksLikeOperatorToken(token) ? await deps.operators.authenticate(token) : { refused: "unknown" as const };
      if ("refused" in outcome) {
        if (outcome.refused === "expired" && outcome.name !== undefined) {
          throw await deny(c, outcome.name, "operator", "operator_token_expired", new BrokerError("unauthorized", "the operator token has expired; ask an admin for a new one (operator rotate)"));
        }
        throw await deny(c, "anonymous", "anonymous", "invalid_operator_token", new BrokerError("unauthorized", "invalid or revoked operator token"));
      }
      const { operator } = outcome;
      if (permission !== undefined && !roleHasPermission(deps.policy.current(), operator.role, permission)) {
        throw await deny(
          c,
          operator.name,
          "operator",
          `role ${operator.role} lacks ${permission}`,
          new BrokerError("forbidden", `operator ${operator.name} (role ${operator.role}) lacks the ${permission} permission`),
        );
      }
      c.set("principal", { kind: "operator", name: operator.name, role: operator.role });
      c.set("tokenRef", deps.tokenRef(token));
      await next();
    };

  return { requireServer, requireOperator };
}

/** The first two segments of a path: enough to say which API was called without echoing a secret name. */
function routeFamily(path: string): string {
  return path.split("/").slice(0, 3).join("/");
}
