/**
 * First-start work shared by `credbroker init` and `credbroker dev`: resolve the master key,
 * create the signing key and the first admin operator, and mark the store initialised.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { auditEntry } from "../audit/entry.js";
import { AuditWriter } from "../audit/writer.js";
import { hashOperatorToken, looksLikeOperatorToken } from "../auth/operator-tokens.js";
import { SigningKeys } from "../auth/signing-keys.js";
import type { BrokerConfig } from "../config.js";
import { Envelope } from "../crypto/envelope.js";
import { MasterKeyRing } from "../crypto/master-key.js";
import { SealedMeta } from "../crypto/sealed-meta.js";
import { BrokerError } from "../errors.js";
import { OperatorService } from "../operators/service.js";
import { emptyPolicySet } from "../policy/compile.js";
import type { Store } from "../store/store.js";
import { keyAuditChain } from "./audit-integrity.js";

export const INITIALISED_KEY = "initialised_at";

/**
 * The master key ring for this config: CREDBROKER_MASTER_KEY wins; otherwise `master_key_file`,
 * created when `createIfMissing` (init, dev) and absent.
 */
export function resolveMasterKey(config: Pick<BrokerConfig, "master_key_file">, env: NodeJS.ProcessEnv, createIfMissing: boolean): MasterKeyRing {
  if (env.CREDBROKER_MASTER_KEY) return MasterKeyRing.fromEnvironment(env.CREDBROKER_MASTER_KEY);
  const file = config.master_key_file;
  if (!file) throw new BrokerError("invalid_request", "no master key: set master_key_file in the config or CREDBROKER_MASTER_KEY");
  if (existsSync(file)) return MasterKeyRing.fromFile(file);
  if (!createIfMissing) throw new BrokerError("not_initialised", `master key file ${file} does not exist; run credbroker init`);
  return MasterKeyRing.create(file);
}

export async function isInitialised(store: Pick<Store, "getMeta">): Promise<boolean> {
  return (await store.getMeta(INITIALISED_KEY)) !== undefined;
}

/**
 * Creates the signing key, the audit HMAC key and an admin operator named `adminName`; returns its
 * token. Refuses when the store is already initialised.
 */
export async function initialiseStore(store: Store, ring: MasterKeyRing, adminName = "admin", clock: () => number = Date.now): Promise<string> {
  if (await isInitialised(store)) throw new BrokerError("conflict", "this broker is already initialised");
  const envelope = new Envelope(ring);
  // Keys the chain (and sets its format marker) before the first record.
  await keyAuditChain(store, new SealedMeta(store, envelope));
  await new SigningKeys(store, envelope, clock).load();
  const audit = new AuditWriter(store, undefined);
  const operators = new OperatorService({ store, audit, policy: { current: emptyPolicySet }, clock });
  const { token } = await operators.create(null, adminName, "admin", { requestId: null, sourceIp: null });
  await audit.record(auditEntry({ id: "system", kind: "system" }, { requestId: null, sourceIp: null }, { action: "admin.init", resource: "broker", outcome: "allowed", reason: `first admin ${adminName}` }, clock()));
  await store.setMeta(INITIALISED_KEY, new Date(clock()).toISOString());
  return token;
}

const DEV_ADMIN = "dev-admin";

/**
 * Dev mode's admin token: the one kept in `tokenFile` while it is still the active `dev-admin`
 * operator's, so a restart leaves exported CREDBROKER_TOKENs valid; otherwise a new one (the old
 * operator revoked), written to `tokenFile` (0600) for the next start.
 */
export async function devAdminToken(store: Store, ring: MasterKeyRing, tokenFile: string, clock: () => number = Date.now): Promise<string> {
  const kept = readKeptToken(tokenFile);
  if (kept !== undefined) {
    const operator = await store.operatorByTokenHash(hashOperatorToken(kept));
    if (operator?.name === DEV_ADMIN && operator.revokedAt === null) return kept;
  }
  await keyAuditChain(store, new SealedMeta(store, new Envelope(ring)));
  const token = await issueDevAdminToken(store, clock);
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  // writeFileSync keeps the mode of a file that already exists.
  chmodSync(tokenFile, 0o600);
  return token;
}

function readKeptToken(tokenFile: string): string | undefined {
  try {
    const text = readFileSync(tokenFile, "utf8").trim();
    return looksLikeOperatorToken(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/** A new token for the `dev-admin` operator (the old one is revoked). */
async function issueDevAdminToken(store: Store, clock: () => number): Promise<string> {
  const audit = new AuditWriter(store, undefined);
  const operators = new OperatorService({ store, audit, policy: { current: emptyPolicySet }, clock });
  const meta = { requestId: null, sourceIp: null };
  await store.revokeOperator(DEV_ADMIN, clock());
  const { token } = await operators.create(null, DEV_ADMIN, "admin", meta);
  return token;
}
