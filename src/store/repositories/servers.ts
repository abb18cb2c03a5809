/** Servers and their credentials (client secrets, public keys). */
import { and, asc, eq, isNotNull, isNull, sql } from "drizzle-orm";
import type { PageRequest, ServerCredential, ServerRecord } from "../../domain.js";
import { BrokerError } from "../../errors.js";
import { parseLabels } from "../shared.js";
import { afterKey, allColumns, assignments, excluded, insertInto, pageLimit, whereAll } from "../sql/build.js";
import type { PreparedQuery, Row, SqlExecutor } from "../sql/executor.js";
import { num, numOrNull, oneOf, str, strOrNull } from "../sql/rows.js";
import type { StoreTables } from "../tables.js";

/** The part of Store this repository implements (see store.ts for the contract). */
export interface ServerRepository {
  create(server: ServerRecord): Promise<void>;
  get(id: string): Promise<ServerRecord | undefined>;
  list(page?: PageRequest<string>): Promise<ServerRecord[]>;
  setDisabled(id: string, disabledAt: number | null): Promise<boolean>;
  setTokensNotBefore(id: string, notBefore: number): Promise<boolean>;
  addCredential(credential: ServerCredential): Promise<void>;
  activeCredentials(serverId: string): Promise<ServerCredential[]>;
  revokeCredentials(serverId: string, now: number, kind?: ServerCredential["kind"]): Promise<number>;
  replaceSecretHash(credentialId: string, expectedOldHash: string, newHash: string): Promise<boolean>;
  markDeleted(id: string, now: number): Promise<boolean>;
}

function serverFromRow(row: Row): ServerRecord {
  return {
    id: str(row.id),
    description: str(row.description),
    labels: parseLabels(str(row.labels)),
    createdAt: num(row.created_at),
    disabledAt: numOrNull(row.disabled_at),
    tokensNotBefore: numOrNull(row.tokens_not_before),
  };
}

function credentialFromRow(row: Row): ServerCredential {
  return {
    id: str(row.id),
    serverId: str(row.server_id),
    kind: oneOf(row.kind, ["client_secret", "public_key"]),
    secretHash: strOrNull(row.secret_hash),
    publicJwk: strOrNull(row.public_jwk),
    createdAt: num(row.created_at),
    revokedAt: numOrNull(row.revoked_at),
  };
}

export function serverRepository(db: SqlExecutor, t: StoreTables): ServerRepository {
  const s = t.servers;
  const c = t.serverCredentials;
  // The per-request lookup, compiled once.
  const byId: PreparedQuery = db.prepare(sql`select ${allColumns(s)} from ${s} where ${and(eq(s.id, sql.placeholder("id")), isNull(s.deletedAt))}`);
  return {
    async create(server) {
      // A deleted server's id may be registered again: its row is taken over, keeping
      // tokens_not_before, so tokens issued to the deleted server stay refused.
      const inserted = await db.all(
        sql`${insertInto(s, [{ ...server, labels: JSON.stringify(server.labels) }])} on conflict (${sql.identifier(s.id.name)}) do update set ${assignments(s, {
          description: excluded(s.description),
          labels: excluded(s.labels),
          createdAt: excluded(s.createdAt),
          disabledAt: excluded(s.disabledAt),
          deletedAt: null,
        })} where ${isNotNull(s.deletedAt)} returning ${sql.identifier(s.id.name)}`,
      );
      if (inserted.length === 0) throw new BrokerError("conflict", `server ${server.id} already exists`);
    },
    async get(id) {
      const row = await byId.get({ id });
      return row && serverFromRow(row);
    },
    async list(page) {
      return (await db.all(sql`select ${allColumns(s)} from ${s}${whereAll(isNull(s.deletedAt), afterKey(s.id, page))} order by ${asc(s.id)}${pageLimit(page)}`)).map(serverFromRow);
    },
    async setDisabled(id, disabledAt) {
      return (await db.run(sql`update ${s} set ${assignments(s, { disabledAt })} where ${eq(s.id, id)}`)) > 0;
    },
    async setTokensNotBefore(id, notBefore) {
      return (await db.run(sql`update ${s} set ${assignments(s, { tokensNotBefore: notBefore })} where ${eq(s.id, id)}`)) > 0;
    },
    async addCredential(credential) {
      await db.run(insertInto(c, [{ ...credential }]));
    },
    async activeCredentials(serverId) {
      const rows = await db.all(
        sql`select ${allColumns(c)} from ${c} where ${and(eq(c.serverId, serverId), isNull(c.revokedAt))} order by ${asc(c.createdAt)}, ${asc(c.id)}`,
      );
      return rows.map(credentialFromRow);
    },
    async revokeCredentials(serverId, now, kind) {
      const conditions = [eq(c.serverId, serverId), isNull(c.revokedAt)];
      if (kind) conditions.push(eq(c.kind, kind));
      return db.run(sql`update ${c} set ${assignments(c, { revokedAt: now })} where ${and(...conditions)}`);
    },
    async markDeleted(id, now) {
      const where = and(eq(s.id, id), isNull(s.deletedAt));
      return (await db.run(sql`update ${s} set ${assignments(s, { deletedAt: now, disabledAt: now, tokensNotBefore: now })} where ${where}`)) > 0;
    },
    async replaceSecretHash(credentialId, expectedOldHash, newHash) {
      const where = and(eq(c.id, credentialId), eq(c.secretHash, expectedOldHash), isNull(c.revokedAt));
      return (await db.run(sql`update ${c} set ${assignments(c, { secretHash: newHash })} where ${where}`)) > 0;
    },
  };
}
