/**
 * Operator tokens for humans: create (token shown once, with an optional lifetime), list, revoke,
 * rotate (a new token shown once; the old one stops working at once), and authenticate a bearer
 * token (an expired one is refused like a revoked one).
 */
import type { OperatorRecord, Page, PageRequest, RequestMeta } from "../domain.js";
import { isValidOperatorName, pageOf } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry, type Actor } from "../audit/entry.js";
import { generateOperatorToken, hashOperatorToken } from "../auth/operator-tokens.js";
import type { PolicySet } from "../policy/types.js";
import { knownRoles } from "../policy/evaluate.js";
import type { Store } from "../store/store.js";

export interface OperatorServiceDeps {
  store: Pick<Store, "createOperator" | "operatorByTokenHash" | "listOperators" | "revokeOperator" | "getOperator" | "replaceOperatorToken">;
  audit: Pick<AuditWriter, "record">;
  policy: { current(): PolicySet };
  clock: () => number;
}

/** Longest operator token lifetime accepted (`--ttl`), seconds: 366 days. */
export const MAX_OPERATOR_TTL_SECONDS = 366 * 86_400;

/** Why an operator token does not authenticate, for the audit record (never the token). */
export type OperatorRefusal = "unknown" | "revoked" | "expired";

function expiryAfter(now: number, ttlSeconds: number | undefined): number | null {
  if (ttlSeconds === undefined) return null;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > MAX_OPERATOR_TTL_SECONDS) {
    throw new BrokerError("invalid_request", `an operator token's ttl is 1m to ${MAX_OPERATOR_TTL_SECONDS / 86_400}d`);
  }
  return now + ttlSeconds * 1000;
}

export class OperatorService {
  constructor(private readonly deps: OperatorServiceDeps) {}

  /**
   * Creates an operator and returns its token (the only time it is visible). `ttlSeconds`: the
   * token's lifetime (60 s to 366 days); undefined: it does not expire.
   */
  async create(actor: Actor | null, name: string, role: string, meta: RequestMeta, ttlSeconds?: number): Promise<{ operator: OperatorRecord; token: string }> {
    if (!isValidOperatorName(name)) throw new BrokerError("invalid_request", `invalid operator name ${JSON.stringify(name)}`);
    const roles = knownRoles(this.deps.policy.current());
    if (!roles.includes(role)) throw new BrokerError("invalid_request", `unknown role ${JSON.stringify(role)} (known: ${roles.join(", ")})`);
    const now = this.deps.clock();
    const token = generateOperatorToken();
    const operator: OperatorRecord = { name, role, createdAt: now, revokedAt: null, expiresAt: expiryAfter(now, ttlSeconds) };
    await this.deps.store.createOperator({ ...operator, tokenHash: hashOperatorToken(token) });
    await this.deps.audit.record(
      auditEntry(
        actor ?? { id: "system", kind: "system" },
        meta,
        { action: "admin.operator.create", resource: name, outcome: "allowed", reason: `role ${role}${operator.expiresAt === null ? "" : `, expires ${new Date(operator.expiresAt).toISOString()}`}` },
        now,
      ),
    );
    return { operator, token };
  }

  /** One page of operators ordered by name (revoked ones included). */
  async list(page: PageRequest<string>): Promise<Page<OperatorRecord, string>> {
    return pageOf(await this.deps.store.listOperators({ ...page, limit: page.limit + 1 }), page.limit, (operator) => operator.name);
  }

  async revoke(actor: Actor, name: string, meta: RequestMeta): Promise<void> {
    const now = this.deps.clock();
    if (!(await this.deps.store.revokeOperator(name, now))) throw new BrokerError("not_found", `operator ${name} not found or already revoked`);
    await this.deps.audit.record(auditEntry(actor, meta, { action: "admin.operator.revoke", resource: name, outcome: "allowed", reason: "revoked" }, now));
  }

  /**
   * Replaces an operator's token: the new one is returned (the only time it is visible) and the
   * old one is refused from this moment. `ttlSeconds` gives the new token a lifetime from now;
   * without it the expiry stays as it was (a rotation replaces a token, not its lifetime), and an
   * expired operator needs one.
   * @throws BrokerError `not_found` (no such active operator), `invalid_request` (bad ttl, expired without ttl).
   */
  async rotate(actor: Actor, name: string, meta: RequestMeta, ttlSeconds?: number): Promise<{ operator: OperatorRecord; token: string }> {
    const now = this.deps.clock();
    const current = await this.deps.store.getOperator(name);
    if (!current || current.revokedAt !== null) throw new BrokerError("not_found", `operator ${name} not found or revoked`);
    const expiresAt = ttlSeconds === undefined ? current.expiresAt : expiryAfter(now, ttlSeconds);
    if (expiresAt !== null && expiresAt <= now) throw new BrokerError("invalid_request", `operator ${name}'s token has expired; give the new one a ttl`);
    const token = generateOperatorToken();
    if (!(await this.deps.store.replaceOperatorToken(name, hashOperatorToken(token), expiresAt))) throw new BrokerError("not_found", `operator ${name} not found or revoked`);
    await this.deps.audit.record(auditEntry(actor, meta, { action: "admin.operator.rotate", resource: name, outcome: "allowed", reason: "new token; the old one is refused" }, now));
    return { operator: { ...current, expiresAt }, token };
  }

  /** The operator of that name (revoked or not), or undefined. */
  get(name: string): Promise<OperatorRecord | undefined> {
    return this.deps.store.getOperator(name);
  }

  /** The active, unexpired operator holding this token; otherwise why not. */
  async authenticate(token: string): Promise<{ operator: OperatorRecord } | { refused: OperatorRefusal; name?: string }> {
    const operator = await this.deps.store.operatorByTokenHash(hashOperatorToken(token));
    if (!operator) return { refused: "unknown" };
    if (operator.revokedAt !== null) return { refused: "revoked", name: operator.name };
    // Expired at the instant it reaches its expiry, as leases are.
    if (operator.expiresAt !== null && this.deps.clock() >= operator.expiresAt) return { refused: "expired", name: operator.name };
    return { operator };
  }
}

export function operatorToJson(operator: OperatorRecord) {
  return {
    name: operator.name,
    role: operator.role,
    created_at: new Date(operator.createdAt).toISOString(),
    expires_at: operator.expiresAt === null ? null : new Date(operator.expiresAt).toISOString(),
    revoked: operator.revokedAt !== null,
  };
}
