/** Operator tokens for humans: create (token shown once), list, revoke, and authenticate a bearer token. */
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
  store: Pick<Store, "createOperator" | "operatorByTokenHash" | "listOperators" | "revokeOperator">;
  audit: Pick<AuditWriter, "record">;
  policy: { current(): PolicySet };
  clock: () => number;
}

export class OperatorService {
  constructor(private readonly deps: OperatorServiceDeps) {}

  /** Creates an operator and returns its token (the only time it is visible). */
  async create(actor: Actor | null, name: string, role: string, meta: RequestMeta): Promise<{ operator: OperatorRecord; token: string }> {
    if (!isValidOperatorName(name)) throw new BrokerError("invalid_request", `invalid operator name ${JSON.stringify(name)}`);
    const roles = knownRoles(this.deps.policy.current());
    if (!roles.includes(role)) throw new BrokerError("invalid_request", `unknown role ${JSON.stringify(role)} (known: ${roles.join(", ")})`);
    const now = this.deps.clock();
    const token = generateOperatorToken();
    const operator: OperatorRecord = { name, role, createdAt: now, revokedAt: null };
    await this.deps.store.createOperator({ ...operator, tokenHash: hashOperatorToken(token) });
    await this.deps.audit.record(
      auditEntry(actor ?? { id: "system", kind: "system" }, meta, { action: "admin.operator.create", resource: name, outcome: "allowed", reason: `role ${role}` }, now),
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

  /** The active operator holding this token, or undefined. */
  async authenticate(token: string): Promise<OperatorRecord | undefined> {
    const operator = await this.deps.store.operatorByTokenHash(hashOperatorToken(token));
    return operator && operator.revokedAt === null ? operator : undefined;
  }
}

export function operatorToJson(operator: OperatorRecord) {
  return {
    name: operator.name,
    role: operator.role,
    created_at: new Date(operator.createdAt).toISOString(),
    revoked: operator.revokedAt !== null,
  };
}
