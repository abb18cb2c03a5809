/**
 * The calibration target: the hot-path list and nothing else, in the broker's harness
 * shape. Per read: a verified-token cache lookup with a revocation check (EdDSA verification on
 * a miss), one policy lookup, one AES-256-GCM open, a request id and a lease, and the audit record
 * plus the lease row group-committed durably (the broker's own committer thread, the broker's
 * SQLite tables and indexes, synchronous=FULL) before the JSON answer. No policy engine, metrics,
 * request context, security headers, logging or middleware.
 *
 * Its ratio to the bare app is what this machine allows any design that keeps every audit record
 * durable before its response; the broker's ratio to it is what the product's own work costs.
 * Same request and response shape as `GET /v1/secrets/{path}`, so the same load checks apply.
 */
import { Hono } from "hono";
import { SignJWT, generateKeyPair, jwtVerify } from "jose";
import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChainKey } from "../src/audit/chain.js";
import { chainFieldValues, type AuditFieldValues } from "../src/audit/record.js";
import type { Lease } from "../src/domain.js";
import { newLeaseId } from "../src/leases/lease.js";
import { SqliteCommitter, pushLeaseRow } from "../src/store/sqlite-committer.js";
import { openSqliteStore } from "../src/store/sqlite.js";
import { BENCH_SERVER_ID } from "./protocol.js";
import { closeServer, committedAuditCounts, listen, processStats, type Running } from "./target-kit.js";

const SECRET_NAME = "bench/secret-1";
const TOKEN_TTL_SECONDS = 900;
const LEASE_TTL_MS = 900_000;

interface SealedValue {
  version: number;
  key: KeyObject;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
  aad: Buffer;
}

function seal(path: string, version: number, value: string): SealedValue {
  const raw = randomBytes(32);
  const iv = randomBytes(12);
  const aad = Buffer.from(`${path}\u0000${version}`);
  const cipher = createCipheriv("aes-256-gcm", raw, iv).setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
  return { version, key: createSecretKey(raw), iv, ciphertext, tag: cipher.getAuthTag(), aad };
}

function open(sealed: SealedValue): string {
  const decipher = createDecipheriv("aes-256-gcm", sealed.key, sealed.iv).setAAD(sealed.aad).setAuthTag(sealed.tag);
  return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString("utf8");
}

/** Audit records with their lease rows, one transaction per event-loop turn, one in flight. */
class GroupCommit {
  private queue: Array<{ fields: AuditFieldValues; lease: Lease; settle: (error?: unknown) => void }> = [];
  private busy = false;

  constructor(private readonly committer: SqliteCommitter) {}

  /** Resolves once the record and its lease are durable. */
  add(fields: AuditFieldValues, lease: Lease): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ fields, lease, settle: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.busy && this.queue.length === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    if (this.busy || this.queue.length === 0) return;
    this.busy = true;
    const batch = this.queue.splice(0);
    const leaseRows: unknown[] = [];
    for (const { lease } of batch) pushLeaseRow(leaseRows, lease);
    let failure: unknown;
    try {
      await this.committer.commit({ auditFields: batch.map(({ fields }) => fields), leaseRows });
    } catch (error) {
      failure = error ?? new Error("commit failed");
    }
    this.busy = false;
    for (const { settle } of batch) settle(failure);
    if (this.queue.length > 0) setImmediate(() => void this.flush());
  }
}

export async function startMinimal(): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "credbroker-bench-minimal-"));
  try {
    return await startMinimalIn(dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function startMinimalIn(dir: string): Promise<Running> {
  const databaseFile = join(dir, "minimal.db");
  // The broker's own schema (tables and indexes), then only the committer's connection.
  await openSqliteStore({ file: databaseFile, offThreadCommits: false }).close();
  const committer = new SqliteCommitter(databaseFile);
  // Keyed like the broker's chain: the HMAC per record is part of the durable step.
  committer.useChainKey(ChainKey.of(randomBytes(32)));
  const commits = new GroupCommit(committer);

  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt" })
    .setSubject(BENCH_SERVER_ID)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${TOKEN_TTL_SECONDS}s`)
    .sign(privateKey);
  const verified = new Map<string, { serverId: string; expiresAt: number; tokenRef: string }>();
  const disabledServers = new Set<string>();
  const grants = new Set([`${BENCH_SERVER_ID}\u0000${SECRET_NAME}`]);
  const value = `ghp_${randomBytes(27).toString("base64url")}`;
  const secrets = new Map([[SECRET_NAME, seal(SECRET_NAME, 1, value)]]);

  const app = new Hono<{ Bindings: { incoming: IncomingMessage } }>();
  app.get("/v1/secrets/:path{.+}", async (c) => {
    const bearer = c.req.header("authorization")?.slice("Bearer ".length) ?? "";
    let claims = verified.get(bearer);
    if (!claims) {
      try {
        const { payload } = await jwtVerify(bearer, publicKey, { algorithms: ["EdDSA"] });
        claims = { serverId: payload.sub!, expiresAt: payload.exp! * 1000, tokenRef: createHash("sha256").update(payload.jti!).digest("hex").slice(0, 32) };
        verified.set(bearer, claims);
      } catch {
        return c.json({ error: { code: "invalid_token" } }, 401);
      }
    }
    const now = Date.now();
    if (claims.expiresAt <= now || disabledServers.has(claims.serverId)) return c.json({ error: { code: "invalid_token" } }, 401);
    const path = c.req.param("path");
    if (!grants.has(`${claims.serverId}\u0000${path}`)) return c.json({ error: { code: "denied" } }, 403);
    const sealed = secrets.get(path);
    if (!sealed) return c.json({ error: { code: "not_found" } }, 404);
    const plaintext = open(sealed);
    const lease: Lease = {
      id: newLeaseId(now),
      serverId: claims.serverId,
      secretPath: path,
      version: sealed.version,
      issuedAt: now,
      expiresAt: now + LEASE_TTL_MS,
      maxExpiresAt: now + LEASE_TTL_MS,
      renewable: false,
      revokedAt: null,
      revokeReason: null,
      externalLeaseId: null,
    };
    const requestId = randomUUID();
    const record = chainFieldValues({
      time: now,
      actor: claims.serverId,
      actorKind: "server",
      action: "secret.read",
      resource: path,
      outcome: "allowed",
      reason: "bench.yaml:1",
      leaseId: lease.id,
      version: lease.version,
      requestId,
      sourceIp: c.env.incoming.socket.remoteAddress ?? null,
      tokenRef: claims.tokenRef,
    });
    try {
      await commits.add(record, lease);
    } catch {
      return c.json({ error: { code: "audit_unavailable" } }, 503);
    }
    return c.json({
      request_id: requestId,
      name: path,
      value: plaintext,
      encoding: "utf8",
      version: lease.version,
      lease_id: lease.id,
      lease_ttl: LEASE_TTL_MS / 1000,
      renewable: lease.renewable,
      expires_at: new Date(lease.expiresAt).toISOString(),
    });
  });
  const { server, url } = await listen(app.fetch);

  return {
    ready: { type: "ready", url, pid: process.pid, broker: { token, clientId: BENCH_SERVER_ID, clientSecret: "", secrets: { [SECRET_NAME]: value }, database: databaseFile } },
    stats: async () => processStats(),
    auditCounts: () => committedAuditCounts(databaseFile),
    async stop() {
      await closeServer(server);
      await committer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
