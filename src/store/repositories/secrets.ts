/** Secret metadata (every path) and encrypted versions (the local backend's values). */
import { and, asc, eq, isNull, ne, sql, type Column, type SQL } from "drizzle-orm";
import type { PageRequest, SecretMetadata, SecretVersionInfo } from "../../domain.js";
import { parseLabels } from "../shared.js";
import { afterKey, allColumns, assignments, excluded, insertInto, pageLimit, startsWith, whereAll } from "../sql/build.js";
import type { Row, SqlExecutor } from "../sql/executor.js";
import { bytes, num, numOrNull, oneOf, str } from "../sql/rows.js";
import type { EncryptedVersion, SecretWrite } from "../store.js";
import type { StoreTables } from "../tables.js";

export interface SecretRepository {
  write(write: SecretWrite): Promise<number>;
  metadata(path: string): Promise<SecretMetadata | undefined>;
  list(prefix: string, page?: PageRequest<string>): Promise<SecretMetadata[]>;
  version(path: string, version: number): Promise<EncryptedVersion | undefined>;
  currentVersion(path: string): Promise<EncryptedVersion | undefined>;
  versions(path: string): Promise<SecretVersionInfo[]>;
  delete(path: string, now: number): Promise<boolean>;
  destroyVersion(path: string, version: number, now: number): Promise<boolean>;
  versionsNotWrappedBy(keyId: string, limit: number): Promise<EncryptedVersion[]>;
  rewrap(path: string, version: number, expectedKeyId: string, keyId: string, wrappedKey: Buffer): Promise<boolean>;
}

function metadataFromRow(row: Row): SecretMetadata {
  return {
    path: str(row.path),
    description: str(row.description),
    owner: str(row.owner),
    labels: parseLabels(str(row.labels)),
    sensitivity: oneOf(row.sensitivity, ["low", "medium", "high"]),
    currentVersion: num(row.current_version),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    deletedAt: numOrNull(row.deleted_at),
  };
}

function versionFromRow(row: Row): EncryptedVersion {
  return {
    path: str(row.path),
    version: num(row.version),
    keyId: str(row.key_id),
    wrappedKey: bytes(row.wrapped_key),
    ciphertext: bytes(row.ciphertext),
    createdAt: num(row.created_at),
    createdBy: str(row.created_by),
    destroyedAt: numOrNull(row.destroyed_at),
  };
}

function versionInfoFromRow(row: Row): SecretVersionInfo {
  return { path: str(row.path), version: num(row.version), createdAt: num(row.created_at), createdBy: str(row.created_by), destroyedAt: numOrNull(row.destroyed_at) };
}

export function secretRepository(db: SqlExecutor, t: StoreTables): SecretRepository {
  const s = t.secrets;
  const v = t.secretVersions;
  // The read path's lookups, compiled once.
  const metadataByPath = db.prepare(sql`select ${allColumns(s)} from ${s} where ${eq(s.path, sql.placeholder("path"))}`);
  const versionByKey = db.prepare(
    sql`select ${allColumns(v)} from ${v} where ${and(eq(v.path, sql.placeholder("path")), eq(v.version, sql.placeholder("version")))}`,
  );
  const currentByPath = db.prepare(
    sql`select ${allColumns(v)} from ${s} inner join ${v} on ${and(eq(v.path, s.path), eq(v.version, s.currentVersion))} where ${and(
      eq(s.path, sql.placeholder("path")),
      isNull(s.deletedAt),
    )}`,
  );
  return {
    write(write) {
      return db.transaction(async (tx) => {
        const meta = write.metadata ?? {};
        const recreated = sql`${s.deletedAt} is not null`;
        /** Given → the new value; not given → kept, unless the path was deleted (then the default, as on a first write). */
        const metadataUpdate = (column: Column, given: unknown): SQL =>
          given === undefined ? sql`case when ${recreated} then ${excluded(column)} else ${column} end` : excluded(column);
        // The upsert row-locks the path until commit (PostgreSQL; SQLite has one writer), so
        // concurrent writers get consecutive versions. A deleted path continues above its old
        // versions: numbers are never reused.
        const row = {
          path: write.path,
          description: meta.description ?? "",
          owner: meta.owner ?? "",
          labels: JSON.stringify(meta.labels ?? {}),
          sensitivity: meta.sensitivity ?? "medium",
          currentVersion: 1,
          createdAt: write.now,
          updatedAt: write.now,
          deletedAt: null,
        };
        const [written] = await tx.all(
          sql`${insertInto(s, [row])} on conflict (${sql.identifier(s.path.name)}) do update set ${assignments(s, {
            currentVersion: sql`${s.currentVersion} + 1`,
            description: metadataUpdate(s.description, meta.description),
            owner: metadataUpdate(s.owner, meta.owner),
            labels: metadataUpdate(s.labels, meta.labels),
            sensitivity: metadataUpdate(s.sensitivity, meta.sensitivity),
            createdAt: sql`case when ${recreated} then ${excluded(s.createdAt)} else ${s.createdAt} end`,
            updatedAt: write.now,
            deletedAt: null,
          })} returning ${sql.identifier(s.currentVersion.name)}`,
        );
        if (!written) throw new Error("the secrets upsert returned no row");
        const version = num(written.current_version);
        const sealed = write.seal(version);
        await tx.run(insertInto(v, [{ path: write.path, version, ...sealed, createdAt: write.now, createdBy: write.createdBy, destroyedAt: null }]));
        return version;
      });
    },
    async metadata(path) {
      const row = await metadataByPath.get({ path });
      return row && metadataFromRow(row);
    },
    async list(prefix, page) {
      const where = whereAll(isNull(s.deletedAt), startsWith(s.path, prefix), afterKey(s.path, page));
      const rows = await db.all(sql`select ${allColumns(s)} from ${s}${where} order by ${asc(s.path)}${pageLimit(page)}`);
      return rows.map(metadataFromRow);
    },
    async version(path, version) {
      const row = await versionByKey.get({ path, version });
      return row && versionFromRow(row);
    },
    async currentVersion(path) {
      const row = await currentByPath.get({ path });
      return row && versionFromRow(row);
    },
    async versions(path) {
      const rows = await db.all(
        sql`select ${v.path}, ${v.version}, ${v.createdAt}, ${v.createdBy}, ${v.destroyedAt} from ${v} where ${eq(v.path, path)} order by ${asc(v.version)}`,
      );
      return rows.map(versionInfoFromRow);
    },
    delete(path, now) {
      return db.transaction(async (tx) => {
        const changed = await tx.run(sql`update ${s} set ${assignments(s, { deletedAt: now, updatedAt: now })} where ${and(eq(s.path, path), isNull(s.deletedAt))}`);
        if (changed === 0) return false;
        // Destroy the ciphertext (empty bytes) but keep the row: version numbers are never reused.
        await tx.run(
          sql`update ${v} set ${assignments(v, { destroyedAt: now, ciphertext: Buffer.alloc(0), wrappedKey: Buffer.alloc(0) })} where ${and(
            eq(v.path, path),
            isNull(v.destroyedAt),
          )}`,
        );
        return true;
      });
    },
    async destroyVersion(path, version, now) {
      // The same destruction as a deletion's, for one version of a live secret.
      const live = sql`exists (select 1 from ${s} where ${and(eq(s.path, path), isNull(s.deletedAt))})`;
      const where = and(eq(v.path, path), eq(v.version, version), isNull(v.destroyedAt), live);
      return (await db.run(sql`update ${v} set ${assignments(v, { destroyedAt: now, ciphertext: Buffer.alloc(0), wrappedKey: Buffer.alloc(0) })} where ${where}`)) > 0;
    },
    async versionsNotWrappedBy(keyId, limit) {
      const rows = await db.all(
        sql`select ${allColumns(v)} from ${v} where ${and(ne(v.keyId, keyId), isNull(v.destroyedAt))} order by ${asc(v.path)}, ${asc(v.version)} limit ${limit}`,
      );
      return rows.map(versionFromRow);
    },
    async rewrap(path, version, expectedKeyId, keyId, wrappedKey) {
      return (
        (await db.run(
          sql`update ${v} set ${assignments(v, { keyId, wrappedKey })} where ${and(eq(v.path, path), eq(v.version, version), eq(v.keyId, expectedKeyId))}`,
        )) > 0
      );
    },
  };
}
