/**
 * The store contract: one suite every Store implementation passes (SQLite, PostgreSQL). It states
 * the edge cases of src/store/store.ts as tests: absence is `undefined` (or `false` for updates),
 * a duplicate key is `conflict` (whatever the call), a storage failure is `storage_unavailable`,
 * version numbers are never reused, the audit chain is unbroken and an append that fails commits
 * nothing.
 * Times are explicit arguments everywhere, so no clock is involved.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chainHash, GENESIS_HASH } from "../../src/audit/chain.js";
import { verifyChain } from "../../src/audit/verify.js";
import { KEYED_FROM_START, TEST_CHAIN_KEY } from "../helpers/chain-key.js";
import type { AuditEntry, AuditRecord, Lease, RotationRecord, ServerCredential, ServerRecord } from "../../src/domain.js";
import { BrokerError } from "../../src/errors.js";
import { type SecretWrite, type SigningKeyRow, type Store } from "../../src/store/store.js";

export interface StoreSubject {
  store: Store;
  /** Closes the store and removes whatever `open` created (file, schema). */
  cleanup(): Promise<void>;
  /** Breaks the storage under the store (e.g. drops the `servers` table), for the storage-failure case. */
  breakStorage?(): Promise<void>;
}

/** Cases an implementation is known to fail, each with the reason shown in the skipped test's name. */
export type KnownGap = "case-sensitive-prefixes" | "escaped-like-patterns";

export interface StoreContractOptions {
  knownGaps?: Partial<Record<KnownGap, string>>;
}

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

export function server(id: string, overrides: Partial<ServerRecord> = {}): ServerRecord {
  return { id, description: `${id} server`, labels: { team: "platform" }, createdAt: T0, disabledAt: null, tokensNotBefore: null, ...overrides };
}

export function lease(id: string, overrides: Partial<Lease> = {}): Lease {
  return {
    id,
    serverId: "github-mcp",
    secretPath: "github/token",
    version: 1,
    issuedAt: T0,
    expiresAt: T0 + 15 * MINUTE,
    maxExpiresAt: T0 + 60 * MINUTE,
    renewable: true,
    revokedAt: null,
    revokeReason: null,
    externalLeaseId: null,
    ...overrides,
  };
}

export function entry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    time: T0,
    actor: "github-mcp",
    actorKind: "server",
    action: "secret.read",
    resource: "github/token",
    outcome: "allowed",
    reason: "allow github/token",
    leaseId: null,
    version: 1,
    requestId: "req-1",
    sourceIp: "10.0.0.1",
    tokenRef: null,
    ...overrides,
  };
}

function credential(id: string, serverId: string, kind: ServerCredential["kind"], createdAt = T0): ServerCredential {
  return {
    id,
    serverId,
    kind,
    secretHash: kind === "client_secret" ? `scrypt$${id}` : null,
    publicJwk: kind === "public_key" ? JSON.stringify({ kty: "OKP", crv: "Ed25519", x: id }) : null,
    createdAt,
    revokedAt: null,
  };
}

function signingKey(kid: string, createdAt: number, keyId = "mk-1"): SigningKeyRow {
  return {
    kid,
    publicJwk: JSON.stringify({ kty: "OKP", crv: "Ed25519", x: kid }),
    keyId,
    wrappedKey: Buffer.from(`wrapped-${kid}`),
    privateJwkCiphertext: Buffer.from([0, 1, 2, 255, 254]),
    createdAt,
    retiredAt: null,
    expiresAt: null,
  };
}

/** Sealed bytes that record which version they were sealed for. */
function sealFor(label: string, keyId = "mk-1"): SecretWrite["seal"] {
  return (version) => ({
    keyId,
    wrappedKey: Buffer.from(`wk-${label}-${version}`),
    ciphertext: Buffer.from(`ct-${label}-${version}\u0000\u00ff`, "latin1"),
  });
}

function write(path: string, now: number, extra: Partial<SecretWrite> = {}): SecretWrite {
  return { path, createdBy: "operator:alice", now, seal: sealFor(path), ...extra };
}

/** The rejection of `call`, which must be a BrokerError (never a raw driver error). */
async function brokerRejection(call: Promise<unknown>): Promise<BrokerError> {
  let outcome: unknown;
  try {
    await call;
  } catch (error) {
    outcome = error;
  }
  expect(outcome, "the call should have rejected").toBeInstanceOf(BrokerError);
  return outcome as BrokerError;
}

async function allAudit(store: Store): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const page of store.auditPages(7)) out.push(...page);
  return out;
}

export function describeStoreContract(name: string, open: () => Promise<StoreSubject>, options: StoreContractOptions = {}): void {
  /** A case the implementation is known to fail is skipped, and says why in its name. */
  const gapIt = (gap: KnownGap, title: string, body: () => Promise<void>) => {
    const reason = options.knownGaps?.[gap];
    if (reason) it.skip(`${title} [skipped on ${name}: ${reason}]`, body);
    else it(title, body);
  };

  describe(`store contract: ${name}`, () => {
    let subject: StoreSubject;
    let store: Store;

    beforeEach(async () => {
      subject = await open();
      store = subject.store;
      store.useAuditChainKey(TEST_CHAIN_KEY);
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    describe("servers", () => {
      it("creates a server and reads it back with its labels and null times", async () => {
        await store.createServer(server("github-mcp", { labels: { team: "dev", env: "prod" } }));
        expect(await store.getServer("github-mcp")).toEqual(server("github-mcp", { labels: { team: "dev", env: "prod" } }));
      });

      it("answers undefined for a missing server", async () => {
        expect(await store.getServer("nobody")).toBeUndefined();
      });

      it("deletes a server: gone from get and list, its tokens refused from then on, even once its id is registered again", async () => {
        await store.createServer(server("old-mcp", { description: "first" }));
        await store.createServer(server("other-mcp"));
        expect(await store.deleteServer("old-mcp", T0 + 5)).toBe(true);
        expect(await store.deleteServer("old-mcp", T0 + 6), "already deleted").toBe(false);
        expect(await store.deleteServer("nobody", T0 + 6)).toBe(false);
        expect(await store.getServer("old-mcp")).toBeUndefined();
        expect((await store.listServers()).map((s) => s.id)).toEqual(["other-mcp"]);
        await store.createServer(server("old-mcp", { description: "second", createdAt: T0 + 10 }));
        expect(await store.getServer("old-mcp")).toEqual(server("old-mcp", { description: "second", createdAt: T0 + 10, tokensNotBefore: T0 + 5 }));
        expect((await brokerRejection(store.createServer(server("old-mcp")))).code, "a live server is not taken over").toBe("conflict");
      });

      it("refuses a second server with the same id with conflict and keeps the first", async () => {
        await store.createServer(server("github-mcp"));
        const error = await brokerRejection(store.createServer(server("github-mcp", { description: "impostor" })));
        expect(error.code).toBe("conflict");
        expect((await store.getServer("github-mcp"))?.description).toBe("github-mcp server");
      });

      it("lists servers ordered by id", async () => {
        for (const id of ["zeta-mcp", "alpha-mcp", "mid-mcp"]) await store.createServer(server(id));
        expect((await store.listServers()).map((s) => s.id)).toEqual(["alpha-mcp", "mid-mcp", "zeta-mcp"]);
      });

      it("disables and re-enables a server; false for a missing one", async () => {
        await store.createServer(server("github-mcp"));
        expect(await store.setServerDisabled("github-mcp", T0 + 1)).toBe(true);
        expect((await store.getServer("github-mcp"))?.disabledAt).toBe(T0 + 1);
        expect(await store.setServerDisabled("github-mcp", null)).toBe(true);
        expect((await store.getServer("github-mcp"))?.disabledAt).toBeNull();
        expect(await store.setServerDisabled("nobody", T0)).toBe(false);
      });

      it("records tokens-not-before; false for a missing server", async () => {
        await store.createServer(server("github-mcp"));
        expect(await store.setTokensNotBefore("github-mcp", T0 + 5000)).toBe(true);
        expect((await store.getServer("github-mcp"))?.tokensNotBefore).toBe(T0 + 5000);
        expect(await store.setTokensNotBefore("nobody", T0)).toBe(false);
      });
    });

    describe("server credentials", () => {
      it("lists only the active credentials of the given server", async () => {
        await store.createServer(server("github-mcp"));
        await store.createServer(server("other-mcp"));
        await store.addCredential(credential("c1", "github-mcp", "client_secret"));
        await store.addCredential(credential("c2", "github-mcp", "public_key"));
        await store.addCredential(credential("c3", "other-mcp", "client_secret"));
        const active = await store.activeCredentials("github-mcp");
        expect(active.map((c) => c.id).sort()).toEqual(["c1", "c2"]);
        expect(active.find((c) => c.id === "c1")).toEqual(credential("c1", "github-mcp", "client_secret"));
        expect(await store.activeCredentials("nobody")).toEqual([]);
      });

      it("revokes credentials of one kind, then all kinds, and counts what it revoked", async () => {
        await store.createServer(server("github-mcp"));
        await store.createServer(server("other-mcp"));
        await store.addCredential(credential("c1", "github-mcp", "client_secret"));
        await store.addCredential(credential("c2", "github-mcp", "client_secret"));
        await store.addCredential(credential("c3", "github-mcp", "public_key"));
        await store.addCredential(credential("c4", "other-mcp", "client_secret"));
        expect(await store.revokeCredentials("github-mcp", T0 + 1, "client_secret")).toBe(2);
        expect((await store.activeCredentials("github-mcp")).map((c) => c.id)).toEqual(["c3"]);
        expect(await store.revokeCredentials("github-mcp", T0 + 2)).toBe(1);
        expect(await store.revokeCredentials("github-mcp", T0 + 3)).toBe(0);
        expect(await store.activeCredentials("github-mcp")).toEqual([]);
        expect((await store.activeCredentials("other-mcp")).map((c) => c.id)).toEqual(["c4"]);
        expect(await store.revokeCredentials("nobody", T0)).toBe(0);
      });

      it("lists active credentials oldest first, ties by id", async () => {
        await store.createServer(server("github-mcp"));
        await store.addCredential(credential("c-late", "github-mcp", "client_secret", T0 + 2));
        await store.addCredential(credential("c-b", "github-mcp", "public_key", T0 + 1));
        await store.addCredential(credential("c-a", "github-mcp", "client_secret", T0 + 1));
        await store.addCredential(credential("c-early", "github-mcp", "public_key", T0));
        expect((await store.activeCredentials("github-mcp")).map((c) => c.id)).toEqual(["c-early", "c-a", "c-b", "c-late"]);
      });

      it("refuses a credential with a duplicate id or for a missing server with a BrokerError", async () => {
        await store.createServer(server("github-mcp"));
        await store.addCredential(credential("c1", "github-mcp", "client_secret"));
        const duplicate = await brokerRejection(store.addCredential(credential("c1", "github-mcp", "public_key")));
        expect(duplicate.code).toBe("conflict");
        expect((await brokerRejection(store.addCredential(credential("c2", "nobody", "client_secret")))).code).toBe("storage_unavailable");
        expect((await store.activeCredentials("github-mcp")).map((c) => c.kind)).toEqual(["client_secret"]);
      });

      it("replaces a secret hash only while it is the expected one, on an active credential (compare-and-set)", async () => {
        await store.createServer(server("github-mcp"));
        await store.addCredential({ ...credential("c1", "github-mcp", "client_secret"), secretHash: "scrypt$old" });
        await store.addCredential({ ...credential("c2", "github-mcp", "client_secret"), secretHash: "scrypt$other" });
        expect(await store.replaceCredentialSecretHash("c1", "scrypt$stale", "hmac-sha256$new")).toBe(false);
        expect(await store.replaceCredentialSecretHash("c1", "scrypt$old", "hmac-sha256$new")).toBe(true);
        expect(await store.replaceCredentialSecretHash("c1", "scrypt$old", "hmac-sha256$again"), "a second writer loses").toBe(false);
        expect(await store.replaceCredentialSecretHash("nobody", "scrypt$old", "hmac-sha256$new")).toBe(false);
        const hashes = Object.fromEntries((await store.activeCredentials("github-mcp")).map((c) => [c.id, c.secretHash]));
        expect(hashes).toEqual({ c1: "hmac-sha256$new", c2: "scrypt$other" });
        await store.revokeCredentials("github-mcp", T0 + 1);
        expect(await store.replaceCredentialSecretHash("c2", "scrypt$other", "hmac-sha256$new"), "revoked").toBe(false);
      });
    });

    describe("operators", () => {
      const operator = (name: string, tokenHash: string, role = "admin", createdAt = T0, expiresAt: number | null = null) => ({ name, role, tokenHash, createdAt, revokedAt: null, expiresAt });

      it("finds an operator by token hash, without the hash; undefined for an unknown hash", async () => {
        await store.createOperator(operator("alice", "hash-a"));
        expect(await store.operatorByTokenHash("hash-a")).toEqual({ name: "alice", role: "admin", createdAt: T0, revokedAt: null, expiresAt: null });
        expect(await store.operatorByTokenHash("hash-unknown")).toBeUndefined();
      });

      it("refuses a second active operator with the same name with conflict", async () => {
        await store.createOperator(operator("alice", "hash-a"));
        const error = await brokerRejection(store.createOperator(operator("alice", "hash-b", "auditor")));
        expect(error.code).toBe("conflict");
        expect(await store.operatorByTokenHash("hash-a")).toMatchObject({ name: "alice", role: "admin" });
        expect(await store.operatorByTokenHash("hash-b")).toBeUndefined();
      });

      it("lets exactly one of two simultaneous creations of a name win; the other is a conflict", async () => {
        const results = await Promise.allSettled([store.createOperator(operator("alice", "hash-1")), store.createOperator(operator("alice", "hash-2"))]);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        expect(results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []))).toMatchObject([{ name: "BrokerError", code: "conflict" }]);
        expect(await store.countActiveOperators()).toBe(1);
      });

      it("revokes an operator once; false when already revoked or missing", async () => {
        await store.createOperator(operator("alice", "hash-a"));
        expect(await store.revokeOperator("alice", T0 + 1)).toBe(true);
        expect(await store.revokeOperator("alice", T0 + 2)).toBe(false);
        expect(await store.revokeOperator("nobody", T0)).toBe(false);
        expect((await store.operatorByTokenHash("hash-a"))?.revokedAt).toBe(T0 + 1);
      });

      it("re-creates a revoked operator with a new token and role; the old token no longer names it", async () => {
        await store.createOperator(operator("alice", "hash-a", "admin"));
        await store.revokeOperator("alice", T0 + 1);
        await store.createOperator(operator("alice", "hash-a2", "auditor", T0 + 2));
        expect(await store.operatorByTokenHash("hash-a2")).toEqual({ name: "alice", role: "auditor", createdAt: T0 + 2, revokedAt: null, expiresAt: null });
        expect(await store.operatorByTokenHash("hash-a")).toBeUndefined();
        expect(await store.countActiveOperators()).toBe(1);
      });

      it("lists operators by name without token hashes and counts the active ones", async () => {
        await store.createOperator(operator("carol", "hash-c"));
        await store.createOperator(operator("alice", "hash-a", "security"));
        await store.createOperator(operator("bob", "hash-b", "auditor"));
        expect(await store.countActiveOperators()).toBe(3);
        await store.revokeOperator("bob", T0 + 1);
        const listed = await store.listOperators();
        expect(listed.map((o) => o.name)).toEqual(["alice", "bob", "carol"]);
        expect(listed[1]).toEqual({ name: "bob", role: "auditor", createdAt: T0, revokedAt: T0 + 1, expiresAt: null });
        for (const row of listed) expect(row).not.toHaveProperty("tokenHash");
        expect(await store.countActiveOperators()).toBe(2);
        expect(typeof (await store.countActiveOperators())).toBe("number");
      });

      it("keeps a token's expiry, and a revoked name taken over gets the new one", async () => {
        await store.createOperator(operator("alice", "hash-a", "admin", T0, T0 + 1000));
        expect(await store.getOperator("alice")).toEqual({ name: "alice", role: "admin", createdAt: T0, revokedAt: null, expiresAt: T0 + 1000 });
        await store.revokeOperator("alice", T0 + 1);
        await store.createOperator(operator("alice", "hash-a2", "admin", T0 + 2));
        expect((await store.operatorByTokenHash("hash-a2"))?.expiresAt).toBeNull();
        expect(await store.getOperator("nobody")).toBeUndefined();
      });

      it("replaces an active operator's token: the old hash names nobody, the new one names it; false when revoked or missing", async () => {
        await store.createOperator(operator("alice", "hash-a", "security", T0, T0 + 1000));
        expect(await store.replaceOperatorToken("alice", "hash-a2", T0 + 5000)).toBe(true);
        expect(await store.operatorByTokenHash("hash-a")).toBeUndefined();
        expect(await store.operatorByTokenHash("hash-a2")).toEqual({ name: "alice", role: "security", createdAt: T0, revokedAt: null, expiresAt: T0 + 5000 });
        expect(await store.replaceOperatorToken("nobody", "hash-x", null)).toBe(false);
        await store.revokeOperator("alice", T0 + 1);
        expect(await store.replaceOperatorToken("alice", "hash-a3", null)).toBe(false);
        expect(await store.operatorByTokenHash("hash-a3")).toBeUndefined();
        await store.createOperator(operator("bob", "hash-b"));
        expect((await brokerRejection(store.replaceOperatorToken("bob", "hash-a2", null))).code).toBe("conflict");
      });

      it("refuses a token hash another operator already holds with a BrokerError", async () => {
        await store.createOperator(operator("alice", "hash-same"));
        expect((await brokerRejection(store.createOperator(operator("bob", "hash-same")))).code).toBe("conflict");
        expect((await store.operatorByTokenHash("hash-same"))?.name).toBe("alice");
        expect(await store.countActiveOperators()).toBe(1);
      });
    });

    describe("secrets", () => {
      it("allocates versions 1, 2, ... and seals each value for the version it gets", async () => {
        const sealedFor: number[] = [];
        const seal: SecretWrite["seal"] = (version) => {
          sealedFor.push(version);
          return sealFor("db/pw")(version);
        };
        expect(await store.writeSecretVersion(write("db/pw", T0, { seal }))).toBe(1);
        expect(await store.writeSecretVersion(write("db/pw", T0 + 1, { seal }))).toBe(2);
        expect(sealedFor).toEqual([1, 2]);
        expect(await store.getEncryptedVersion("db/pw", 2)).toEqual({
          path: "db/pw",
          version: 2,
          keyId: "mk-1",
          wrappedKey: Buffer.from("wk-db/pw-2"),
          ciphertext: Buffer.from("ct-db/pw-2\u0000\u00ff", "latin1"),
          createdAt: T0 + 1,
          createdBy: "operator:alice",
          destroyedAt: null,
        });
      });

      it("applies metadata on the first write and updates only the fields a later write gives", async () => {
        await store.writeSecretVersion(
          write("db/pw", T0, { metadata: { description: "db password", owner: "team-a", labels: { env: "prod" }, sensitivity: "high" } }),
        );
        await store.writeSecretVersion(write("db/pw", T0 + 10, { metadata: { owner: "team-b" } }));
        expect(await store.getSecretMetadata("db/pw")).toEqual({
          path: "db/pw",
          description: "db password",
          owner: "team-b",
          labels: { env: "prod" },
          sensitivity: "high",
          currentVersion: 2,
          createdAt: T0,
          updatedAt: T0 + 10,
          deletedAt: null,
        });
      });

      it("uses defaults for metadata not given on the first write", async () => {
        await store.writeSecretVersion(write("db/pw", T0));
        expect(await store.getSecretMetadata("db/pw")).toMatchObject({ description: "", owner: "", labels: {}, sensitivity: "medium", currentVersion: 1 });
      });

      it("answers undefined for missing metadata and missing versions, [] for versions of a missing path", async () => {
        await store.writeSecretVersion(write("db/pw", T0));
        expect(await store.getSecretMetadata("db/nothing")).toBeUndefined();
        expect(await store.getEncryptedVersion("db/nothing", 1)).toBeUndefined();
        expect(await store.getEncryptedVersion("db/pw", 2)).toBeUndefined();
        expect(await store.listVersions("db/nothing")).toEqual([]);
      });

      it("reads the current version of a live secret in one call, and nothing once it is deleted", async () => {
        await store.writeSecretVersion(write("db/pw", T0));
        expect((await store.getCurrentEncryptedVersion("db/pw"))?.version).toBe(1);
        await store.writeSecretVersion(write("db/pw", T0 + 1));
        expect(await store.getCurrentEncryptedVersion("db/pw")).toEqual(await store.getEncryptedVersion("db/pw", 2));
        expect(await store.getCurrentEncryptedVersion("db/nothing")).toBeUndefined();
        expect(await store.getCurrentEncryptedVersion("db")).toBeUndefined();
        await store.deleteSecret("db/pw", T0 + 2);
        expect(await store.getCurrentEncryptedVersion("db/pw")).toBeUndefined();
        expect(await store.writeSecretVersion(write("db/pw", T0 + 3))).toBe(3);
        expect(await store.getCurrentEncryptedVersion("db/pw")).toMatchObject({ version: 3, destroyedAt: null, ciphertext: Buffer.from("ct-db/pw-3\u0000\u00ff", "latin1") });
      });

      it("lists versions oldest first without ciphertext", async () => {
        await store.writeSecretVersion(write("db/pw", T0));
        await store.writeSecretVersion(write("db/pw", T0 + 1, { createdBy: "system:rotation" }));
        expect(await store.listVersions("db/pw")).toEqual([
          { path: "db/pw", version: 1, createdAt: T0, createdBy: "operator:alice", destroyedAt: null },
          { path: "db/pw", version: 2, createdAt: T0 + 1, createdBy: "system:rotation", destroyedAt: null },
        ]);
      });

      it("commits nothing when sealing fails: the version is not used up", async () => {
        const failing = store.writeSecretVersion(
          write("db/pw", T0, {
            seal: () => {
              throw new BrokerError("internal", "sealing failed");
            },
          }),
        );
        await expect(failing).rejects.toMatchObject({ name: "BrokerError", code: "internal", message: "sealing failed" });
        expect(await store.getSecretMetadata("db/pw")).toBeUndefined();
        expect(await store.writeSecretVersion(write("db/pw", T0 + 1))).toBe(1);
      });

      it("never shows a read what a write still in progress (and then rolled back) wrote", async () => {
        const failing = store.writeSecretVersion(
          write("db/pw", T0, {
            seal: () => {
              throw new BrokerError("internal", "sealing failed");
            },
          }),
        );
        const readMeanwhile = store.getSecretMetadata("db/pw");
        await expect(failing).rejects.toMatchObject({ code: "internal" });
        expect(await readMeanwhile).toBeUndefined();
        expect(await store.getSecretMetadata("db/pw")).toBeUndefined();
      });

      it("lists live secrets under a prefix, ordered by path; the empty prefix lists all", async () => {
        for (const path of ["b/two", "a/one", "a/three", "ab/four"]) await store.writeSecretVersion(write(path, T0));
        expect((await store.listSecrets("a/")).map((s) => s.path)).toEqual(["a/one", "a/three"]);
        expect((await store.listSecrets("")).map((s) => s.path)).toEqual(["a/one", "a/three", "ab/four", "b/two"]);
        expect(await store.listSecrets("zzz/")).toEqual([]);
      });

      gapIt("escaped-like-patterns", "takes % and _ in a listing prefix literally", async () => {
        for (const path of ["a_b/x", "axb/x", "p%q/x", "pzzq/x", "back\\slash/x", "backxslash/x"]) await store.writeSecretVersion(write(path, T0));
        expect((await store.listSecrets("a_b/")).map((s) => s.path)).toEqual(["a_b/x"]);
        expect((await store.listSecrets("p%q")).map((s) => s.path)).toEqual(["p%q/x"]);
        expect((await store.listSecrets("back\\")).map((s) => s.path)).toEqual(["back\\slash/x"]);
      });

      gapIt("case-sensitive-prefixes", "matches listing prefixes case-sensitively, as paths are", async () => {
        await store.writeSecretVersion(write("Prod/db", T0));
        await store.writeSecretVersion(write("prod/db", T0));
        expect((await store.listSecrets("prod/")).map((s) => s.path)).toEqual(["prod/db"]);
      });

      it("deletes a secret: hidden from listings, every version's ciphertext destroyed, metadata kept as deleted", async () => {
        await store.writeSecretVersion(write("db/pw", T0));
        await store.writeSecretVersion(write("db/pw", T0 + 1));
        await store.writeSecretVersion(write("db/other", T0));
        expect(await store.deleteSecret("db/pw", T0 + 5)).toBe(true);
        expect((await store.listSecrets("db/")).map((s) => s.path)).toEqual(["db/other"]);
        expect(await store.getSecretMetadata("db/pw")).toMatchObject({ deletedAt: T0 + 5, currentVersion: 2 });
        for (const version of [1, 2]) {
          const row = await store.getEncryptedVersion("db/pw", version);
          expect(row).toMatchObject({ destroyedAt: T0 + 5 });
          expect(row?.ciphertext.length).toBe(0);
          expect(row?.wrappedKey.length).toBe(0);
        }
        expect((await store.getEncryptedVersion("db/other", 1))?.ciphertext.length).toBeGreaterThan(0);
      });

      it("answers false when deleting a missing or already deleted secret", async () => {
        await store.writeSecretVersion(write("db/pw", T0));
        expect(await store.deleteSecret("db/nothing", T0)).toBe(false);
        expect(await store.deleteSecret("db/pw", T0 + 1)).toBe(true);
        expect(await store.deleteSecret("db/pw", T0 + 2)).toBe(false);
        expect((await store.getSecretMetadata("db/pw"))?.deletedAt).toBe(T0 + 1);
      });

      it("never reuses a version number after a delete; the new life starts with fresh metadata", async () => {
        await store.writeSecretVersion(write("db/pw", T0, { metadata: { description: "old", sensitivity: "high" } }));
        await store.writeSecretVersion(write("db/pw", T0 + 1));
        await store.deleteSecret("db/pw", T0 + 2);
        expect(await store.writeSecretVersion(write("db/pw", T0 + 3, { metadata: { owner: "new-owner" } }))).toBe(3);
        expect(await store.getSecretMetadata("db/pw")).toEqual({
          path: "db/pw",
          description: "",
          owner: "new-owner",
          labels: {},
          sensitivity: "medium",
          currentVersion: 3,
          createdAt: T0 + 3,
          updatedAt: T0 + 3,
          deletedAt: null,
        });
        expect((await store.listVersions("db/pw")).map((v) => [v.version, v.destroyedAt])).toEqual([
          [1, T0 + 2],
          [2, T0 + 2],
          [3, null],
        ]);
        expect((await store.listSecrets("db/")).map((s) => s.path)).toEqual(["db/pw"]);
      });

      it("finds versions wrapped by another key, skipping destroyed ones, up to the limit", async () => {
        await store.writeSecretVersion(write("a/one", T0, { seal: sealFor("a/one", "mk-old") }));
        await store.writeSecretVersion(write("a/one", T0, { seal: sealFor("a/one", "mk-new") }));
        await store.writeSecretVersion(write("a/two", T0, { seal: sealFor("a/two", "mk-old") }));
        await store.writeSecretVersion(write("a/gone", T0, { seal: sealFor("a/gone", "mk-old") }));
        await store.deleteSecret("a/gone", T0 + 1);
        const stale = await store.versionsNotWrappedBy("mk-new", 10);
        expect(stale.map((v) => `${v.path}@${v.version}`).sort()).toEqual(["a/one@1", "a/two@1"]);
        expect(stale.every((v) => v.keyId === "mk-old" && v.wrappedKey.length > 0)).toBe(true);
        expect(await store.versionsNotWrappedBy("mk-new", 1)).toHaveLength(1);
      });

      it("lists versions wrapped by another key ordered by path, then version", async () => {
        for (const path of ["c/three", "a/one", "b/two"]) {
          await store.writeSecretVersion(write(path, T0, { seal: sealFor(path, "mk-old") }));
          await store.writeSecretVersion(write(path, T0 + 1, { seal: sealFor(path, "mk-old") }));
        }
        const order = ["a/one@1", "a/one@2", "b/two@1", "b/two@2", "c/three@1", "c/three@2"];
        expect((await store.versionsNotWrappedBy("mk-new", 10)).map((v) => `${v.path}@${v.version}`)).toEqual(order);
        expect((await store.versionsNotWrappedBy("mk-new", 3)).map((v) => `${v.path}@${v.version}`)).toEqual(order.slice(0, 3));
      });

      it("re-wraps a data key only while it is still wrapped by the expected key (compare-and-set)", async () => {
        await store.writeSecretVersion(write("a/one", T0, { seal: sealFor("a/one", "mk-old") }));
        const before = await store.getEncryptedVersion("a/one", 1);
        expect(await store.rewrapVersion("a/one", 1, "mk-old", "mk-new", Buffer.from("rewrapped"))).toBe(true);
        expect(await store.rewrapVersion("a/one", 1, "mk-old", "mk-other", Buffer.from("lost race"))).toBe(false);
        expect(await store.rewrapVersion("a/none", 1, "mk-new", "mk-x", Buffer.from("x"))).toBe(false);
        const after = await store.getEncryptedVersion("a/one", 1);
        expect(after).toMatchObject({ keyId: "mk-new", wrappedKey: Buffer.from("rewrapped") });
        expect(after?.ciphertext).toEqual(before?.ciphertext);
        expect(await store.versionsNotWrappedBy("mk-new", 10)).toEqual([]);
      });
    });

    describe("leases", () => {
      it("stores a lease and reads it back exactly; undefined for a missing id", async () => {
        const dynamic = lease("l-dyn", { renewable: false, externalLeaseId: "database/creds/ro/abc" });
        await store.insertLease(lease("l-1"));
        await store.insertLease(dynamic);
        expect(await store.getLease("l-1")).toEqual(lease("l-1"));
        expect(await store.getLease("l-dyn")).toEqual(dynamic);
        expect(await store.getLease("l-missing")).toBeUndefined();
      });

      it("refuses a duplicate lease id with a BrokerError and keeps the first", async () => {
        await store.insertLease(lease("l-1"));
        const error = await brokerRejection(store.insertLease(lease("l-1", { serverId: "other-mcp" })));
        expect(error.code).toBe("conflict");
        expect((await store.getLease("l-1"))?.serverId).toBe("github-mcp");
      });

      it("lists leases by server, by secret and active at a time, oldest issued first", async () => {
        await store.insertLease(lease("l-3", { issuedAt: T0 + 3 }));
        await store.insertLease(lease("l-1", { issuedAt: T0 + 1 }));
        await store.insertLease(lease("l-other", { serverId: "other-mcp", issuedAt: T0 + 2 }));
        await store.insertLease(lease("l-db", { secretPath: "db/pw", issuedAt: T0 + 4 }));
        await store.insertLease(lease("l-expired", { issuedAt: T0 + 5, expiresAt: T0 + MINUTE }));
        await store.insertLease(lease("l-revoked", { issuedAt: T0 + 6, revokedAt: T0 + 7, revokeReason: "test" }));
        const ids = async (filter: Parameters<Store["listLeases"]>[0]) => (await store.listLeases(filter)).map((l) => l.id);
        expect(await ids({})).toEqual(["l-1", "l-other", "l-3", "l-db", "l-expired", "l-revoked"]);
        expect(await ids({ serverId: "github-mcp" })).toEqual(["l-1", "l-3", "l-db", "l-expired", "l-revoked"]);
        expect(await ids({ secretPath: "db/pw" })).toEqual(["l-db"]);
        expect(await ids({ serverId: "github-mcp", secretPath: "github/token", activeAt: T0 + 2 * MINUTE })).toEqual(["l-1", "l-3"]);
        // A lease is no longer active at the instant it expires.
        expect(await ids({ activeAt: T0 + MINUTE })).not.toContain("l-expired");
        expect(await ids({ activeAt: T0 + MINUTE - 1 })).toContain("l-expired");
        expect(await ids({ serverId: "nobody" })).toEqual([]);
      });

      it("lists leases issued at the same time by id", async () => {
        for (const id of ["l-c", "l-a", "l-b"]) await store.insertLease(lease(id));
        await store.insertLease(lease("l-first", { issuedAt: T0 - 1 }));
        expect((await store.listLeases({})).map((l) => l.id)).toEqual(["l-first", "l-a", "l-b", "l-c"]);
      });

      it("extends an unrevoked lease; false for a revoked or missing one", async () => {
        await store.insertLease(lease("l-1"));
        await store.insertLease(lease("l-revoked", { revokedAt: T0 + 1, revokeReason: "test" }));
        expect(await store.extendLease("l-1", T0 + 30 * MINUTE)).toBe(true);
        expect((await store.getLease("l-1"))?.expiresAt).toBe(T0 + 30 * MINUTE);
        expect(await store.extendLease("l-revoked", T0 + 30 * MINUTE)).toBe(false);
        expect(await store.extendLease("l-missing", T0 + 30 * MINUTE)).toBe(false);
      });

      it("revokes one lease by id, returns it revoked, and returns nothing the second time", async () => {
        await store.insertLease(lease("l-1"));
        await store.insertLease(lease("l-2"));
        const revoked = await store.revokeLeases({ id: "l-1" }, T0 + 1, "operator request");
        expect(revoked).toEqual([lease("l-1", { revokedAt: T0 + 1, revokeReason: "operator request" })]);
        expect(await store.revokeLeases({ id: "l-1" }, T0 + 2, "again")).toEqual([]);
        expect((await store.getLease("l-1"))?.revokeReason).toBe("operator request");
        expect((await store.getLease("l-2"))?.revokedAt).toBeNull();
      });

      it("does not revoke an expired lease", async () => {
        await store.insertLease(lease("l-1", { expiresAt: T0 + MINUTE }));
        expect(await store.revokeLeases({ id: "l-1" }, T0 + MINUTE, "late")).toEqual([]);
        expect((await store.getLease("l-1"))?.revokedAt).toBeNull();
      });

      it("revokes every active lease of a server and only those", async () => {
        await store.insertLease(lease("l-1"));
        await store.insertLease(lease("l-2", { secretPath: "db/pw" }));
        await store.insertLease(lease("l-other", { serverId: "other-mcp" }));
        const revoked = await store.revokeLeases({ serverId: "github-mcp" }, T0 + 1, "server disabled");
        expect(revoked.map((l) => l.id).sort()).toEqual(["l-1", "l-2"]);
        expect(revoked.every((l) => l.revokedAt === T0 + 1 && l.revokeReason === "server disabled")).toBe(true);
        expect(await store.countActiveLeases(T0 + 1)).toBe(1);
      });

      it("revokes the leases of a secret including its #key selections, not of look-alike paths", async () => {
        await store.insertLease(lease("l-whole", { secretPath: "kv/app" }));
        await store.insertLease(lease("l-key", { secretPath: "kv/app#token" }));
        await store.insertLease(lease("l-longer", { secretPath: "kv/app2" }));
        await store.insertLease(lease("l-child", { secretPath: "kv/app/sub" }));
        await store.insertLease(lease("l-longer-key", { secretPath: "kv/app2#token" }));
        const revoked = await store.revokeLeases({ secretPath: "kv/app" }, T0 + 1, "secret deleted");
        expect(revoked.map((l) => l.id).sort()).toEqual(["l-key", "l-whole"]);
      });

      gapIt("escaped-like-patterns", "takes _ and % in a revoked secret path literally, #key selections included", async () => {
        await store.insertLease(lease("l-exact", { secretPath: "a_b" }));
        await store.insertLease(lease("l-key", { secretPath: "a_b#k" }));
        await store.insertLease(lease("l-lookalike", { secretPath: "axb#k" }));
        await store.insertLease(lease("l-pct", { secretPath: "p%q#k" }));
        await store.insertLease(lease("l-pct-lookalike", { secretPath: "pzzzq#k" }));
        expect((await store.revokeLeases({ secretPath: "a_b" }, T0 + 1, "r")).map((l) => l.id).sort()).toEqual(["l-exact", "l-key"]);
        expect((await store.revokeLeases({ secretPath: "p%q" }, T0 + 1, "r")).map((l) => l.id)).toEqual(["l-pct"]);
      });

      gapIt("case-sensitive-prefixes", "matches the #key selections of a revoked secret case-sensitively", async () => {
        await store.insertLease(lease("l-upper", { secretPath: "KV/app#token" }));
        await store.insertLease(lease("l-lower", { secretPath: "kv/app#token" }));
        expect((await store.revokeLeases({ secretPath: "kv/app" }, T0 + 1, "r")).map((l) => l.id)).toEqual(["l-lower"]);
      });

      it("combines revocation filters with AND", async () => {
        await store.insertLease(lease("l-1"));
        await store.insertLease(lease("l-2", { secretPath: "db/pw" }));
        await store.insertLease(lease("l-3", { serverId: "other-mcp", secretPath: "db/pw" }));
        const revoked = await store.revokeLeases({ serverId: "github-mcp", secretPath: "db/pw" }, T0 + 1, "r");
        expect(revoked.map((l) => l.id)).toEqual(["l-2"]);
      });

      it("rejects a revocation without any filter and revokes nothing", async () => {
        await store.insertLease(lease("l-1"));
        // An empty filter would revoke every lease: a programming error, not a storage failure.
        await expect(store.revokeLeases({}, T0 + 1, "everything")).rejects.toBeInstanceOf(TypeError);
        await expect(store.revokeLeases({ id: undefined }, T0 + 1, "everything")).rejects.toBeInstanceOf(TypeError);
        expect((await store.getLease("l-1"))?.revokedAt).toBeNull();
      });

      it("counts leases neither revoked nor expired, as a number", async () => {
        expect(await store.countActiveLeases(T0)).toBe(0);
        await store.insertLease(lease("l-1"));
        await store.insertLease(lease("l-2", { expiresAt: T0 + MINUTE }));
        await store.insertLease(lease("l-3", { revokedAt: T0, revokeReason: "r" }));
        expect(await store.countActiveLeases(T0)).toBe(2);
        expect(await store.countActiveLeases(T0 + MINUTE)).toBe(1);
      });
    });

    describe("pages of listings", () => {
      it("pages servers, operators and secrets by their key: limit rows after the key, in order", async () => {
        for (const id of ["s-d", "s-a", "s-c", "s-b", "s-e"]) await store.createServer(server(id));
        expect((await store.listServers({ limit: 2 })).map((s) => s.id)).toEqual(["s-a", "s-b"]);
        expect((await store.listServers({ after: "s-b", limit: 2 })).map((s) => s.id)).toEqual(["s-c", "s-d"]);
        expect((await store.listServers({ after: "s-bb", limit: 10 })).map((s) => s.id)).toEqual(["s-c", "s-d", "s-e"]);
        expect(await store.listServers({ after: "s-e", limit: 10 })).toEqual([]);
        for (const name of ["carol", "alice", "bob"]) await store.createOperator({ name, role: "auditor", createdAt: T0, revokedAt: null, expiresAt: null, tokenHash: `hash-${name}` });
        expect((await store.listOperators({ after: "alice", limit: 1 })).map((o) => o.name)).toEqual(["bob"]);
        for (const path of ["p/c", "p/a", "q/z", "p/b"]) await store.writeSecretVersion(write(path, T0));
        expect((await store.listSecrets("p/", { after: "p/a", limit: 5 })).map((s) => s.path)).toEqual(["p/b", "p/c"]);
        expect((await store.listSecrets("", { after: "p/c", limit: 5 })).map((s) => s.path)).toEqual(["q/z"]);
      });

      it("pages leases by issue time then id, ties across a page boundary included, with filters", async () => {
        for (const [id, issuedAt] of [["l-b", T0], ["l-a", T0], ["l-c", T0], ["l-0", T0 - 5], ["l-z", T0 + 1]] as const) {
          await store.insertLease(lease(id, { issuedAt }));
        }
        await store.insertLease(lease("l-other", { serverId: "other-mcp", issuedAt: T0 }));
        const page = async (after: { issuedAt: number; id: string } | undefined, limit: number, filter = {}) =>
          (await store.listLeases(filter, { ...(after && { after }), limit })).map((l) => l.id);
        expect(await page(undefined, 2)).toEqual(["l-0", "l-a"]);
        expect(await page({ issuedAt: T0, id: "l-a" }, 2)).toEqual(["l-b", "l-c"]);
        expect(await page({ issuedAt: T0, id: "l-c" }, 2)).toEqual(["l-other", "l-z"]);
        expect(await page({ issuedAt: T0, id: "l-a" }, 10, { serverId: "github-mcp" })).toEqual(["l-b", "l-c", "l-z"]);
        expect(await page({ issuedAt: T0 + 1, id: "l-z" }, 10)).toEqual([]);
      });

      it("refuses a page limit that is not a positive integer as misuse (TypeError)", async () => {
        await expect(store.listServers({ limit: 0 })).rejects.toBeInstanceOf(TypeError);
        await expect(store.listLeases({}, { limit: 1.5 })).rejects.toBeInstanceOf(TypeError);
      });
    });

    describe("lease purge", () => {
      it("deletes leases that expired or were revoked before the cutoff, at most `limit` at a time, and nothing else", async () => {
        const cutoff = T0 + 10 * MINUTE;
        await store.insertLease(lease("expired-long-ago", { expiresAt: T0 + MINUTE }));
        await store.insertLease(lease("revoked-long-ago", { expiresAt: T0 + 60 * MINUTE, revokedAt: T0 + 2 * MINUTE, revokeReason: "test" }));
        await store.insertLease(lease("expired-at-cutoff", { expiresAt: cutoff }));
        await store.insertLease(lease("revoked-after-cutoff", { expiresAt: T0 + 60 * MINUTE, revokedAt: cutoff + 1, revokeReason: "test" }));
        await store.insertLease(lease("active", { expiresAt: T0 + 60 * MINUTE }));
        for (let i = 0; i < 5; i++) await store.insertLease(lease(`old-${i}`, { expiresAt: T0 + i }));
        // A dynamic credential revoked long ago is forgotten; one that expired unrevoked keeps its backend lease id.
        await store.insertLease(lease("dynamic-revoked", { expiresAt: T0 + 60 * MINUTE, revokedAt: T0 + 1, revokeReason: "test", externalLeaseId: "database/creds/ro/a" }));
        await store.insertLease(lease("dynamic-expired", { expiresAt: T0 + MINUTE, externalLeaseId: "database/creds/ro/b" }));
        expect(await store.purgeEndedLeases(cutoff, 4)).toBe(4);
        expect(await store.purgeEndedLeases(cutoff, 4)).toBe(4);
        expect(await store.purgeEndedLeases(cutoff, 4)).toBe(0);
        expect((await store.listLeases({})).map((l) => l.id).sort()).toEqual(["active", "dynamic-expired", "expired-at-cutoff", "revoked-after-cutoff"]);
      });
    });

    describe("job locks", () => {
      const TTL = MINUTE;
      it("gives a due job's lock to one owner at a time, until it expires or is released", async () => {
        expect(await store.getJobState("purge")).toBeUndefined();
        expect(await store.acquireJobLock("purge", "broker-a", T0, T0 + TTL)).toBe(true);
        expect(await store.acquireJobLock("purge", "broker-b", T0 + 1, T0 + 1 + TTL)).toBe(false);
        expect(await store.acquireJobLock("purge", "broker-a", T0 + 1, T0 + 1 + TTL)).toBe(false);
        expect(await store.getJobState("purge")).toEqual({
          name: "purge",
          owner: "broker-a",
          lockedUntil: T0 + TTL,
          nextRunAt: 0,
          lastStartedAt: T0,
          lastFinishedAt: null,
          lastOutcome: null,
        });
        // Another job has its own lock.
        expect(await store.acquireJobLock("rotation", "broker-b", T0, T0 + TTL)).toBe(true);
      });

      it("renews only the holder's unexpired lock; an expired lock is taken over and the old holder can neither renew nor finish", async () => {
        await store.acquireJobLock("purge", "broker-a", T0, T0 + TTL);
        expect(await store.renewJobLock("purge", "broker-a", T0 + 10, T0 + 10 + TTL)).toBe(true);
        expect(await store.renewJobLock("purge", "broker-b", T0 + 10, T0 + 10 + TTL)).toBe(false);
        expect(await store.acquireJobLock("purge", "broker-b", T0 + 10 + TTL - 1, T0 + 2 * TTL)).toBe(false);
        // At the instant the lock expires, another runner takes it over.
        expect(await store.acquireJobLock("purge", "broker-b", T0 + 10 + TTL, T0 + 10 + 2 * TTL)).toBe(true);
        expect(await store.renewJobLock("purge", "broker-a", T0 + 10 + TTL, T0 + 10 + 2 * TTL)).toBe(false);
        expect(await store.finishJobRun("purge", "broker-a", T0 + 20 + TTL, "ok", T0 + 99 * TTL)).toBe(false);
        expect((await store.getJobState("purge"))?.owner).toBe("broker-b");
      });

      it("records a finished run, frees the lock and is not due again before nextRunAt", async () => {
        await store.acquireJobLock("purge", "broker-a", T0, T0 + TTL);
        expect(await store.finishJobRun("purge", "broker-a", T0 + 5, "error", T0 + 10 * MINUTE)).toBe(true);
        expect(await store.getJobState("purge")).toEqual({
          name: "purge",
          owner: null,
          lockedUntil: null,
          nextRunAt: T0 + 10 * MINUTE,
          lastStartedAt: T0,
          lastFinishedAt: T0 + 5,
          lastOutcome: "error",
        });
        expect(await store.acquireJobLock("purge", "broker-b", T0 + 10 * MINUTE - 1, T0 + 11 * MINUTE)).toBe(false);
        expect(await store.acquireJobLock("purge", "broker-b", T0 + 10 * MINUTE, T0 + 11 * MINUTE)).toBe(true);
      });
    });

    describe("rotations", () => {
      const LEASE = MINUTE;
      const rotation = (id: string, overrides: Partial<RotationRecord> = {}): RotationRecord => ({
        id,
        secretPath: "prod/api",
        strategy: "generate",
        ruleRef: "policies/rotation.yaml:2#0",
        state: "running",
        lastStep: null,
        stepState: "{}",
        attempt: 1,
        errorCode: null,
        version: null,
        owner: "broker-a",
        leaseUntil: T0 + LEASE,
        createdAt: T0,
        updatedAt: T0,
        endedAt: null,
        ...overrides,
      });
      const pendingRow = (rotationId: string, ciphertext: string) => ({ rotationId, keyId: "k1", wrappedKey: Buffer.from("wrapped"), ciphertext: Buffer.from(ciphertext), createdAt: T0 });

      it("allows one active rotation per secret: a second is a conflict until the first has ended", async () => {
        await store.insertRotation(rotation("r1"));
        await expect(store.insertRotation(rotation("r2"))).rejects.toMatchObject({ code: "conflict" });
        await expect(store.insertRotation(rotation("r2", { state: "pending", owner: null, leaseUntil: null }))).rejects.toMatchObject({ code: "conflict" });
        // Another secret has its own.
        await store.insertRotation(rotation("r3", { secretPath: "prod/other" }));
        await expect(store.insertRotation(rotation("r1", { secretPath: "prod/third" }))).rejects.toMatchObject({ code: "conflict" });

        expect(await store.endRotation("r1", "broker-a", { state: "done", errorCode: null, version: 2, now: T0 + 5, keepPending: false })).toBe(true);
        await store.insertRotation(rotation("r2", { createdAt: T0 + 6 }));
        expect((await store.listRotations({ secretPath: "prod/api" })).map((r) => [r.id, r.state])).toEqual([
          ["r1", "done"],
          ["r2", "running"],
        ]);
        expect((await store.listRotations({ states: ["running"] })).map((r) => r.id)).toEqual(["r3", "r2"]);
      });

      it("records steps only for the holder; an expired hold is taken over and the old holder can record nothing more", async () => {
        await store.insertRotation(rotation("r1"));
        expect(await store.recordRotationStep("r1", "broker-a", "create", '{"held":{"baseVersion":1}}', T0 + 1, T0 + 1 + LEASE)).toBe(true);
        expect(await store.recordRotationStep("r1", "broker-b", "set", "{}", T0 + 2, T0 + 2 + LEASE)).toBe(false);
        expect(await store.getRotation("r1")).toEqual(rotation("r1", { lastStep: "create", stepState: '{"held":{"baseVersion":1}}', leaseUntil: T0 + 1 + LEASE, updatedAt: T0 + 1 }));

        expect(await store.claimRotation("r1", "broker-b", T0 + LEASE, T0 + 2 * LEASE)).toBe(false);
        expect(await store.claimRotation("r1", "broker-b", T0 + 1 + LEASE, T0 + 2 * LEASE)).toBe(true);
        expect(await store.recordRotationStep("r1", "broker-a", "set", "{}", T0 + 2 + LEASE, T0 + 3 * LEASE)).toBe(false);
        expect(await store.endRotation("r1", "broker-a", { state: "done", errorCode: null, version: 2, now: T0 + 2 + LEASE, keepPending: false })).toBe(false);
        expect(await store.endRotation("r1", "broker-b", { state: "rolled_back", errorCode: "rotation_failed", version: null, now: T0 + 3 + LEASE, keepPending: false })).toBe(true);
        expect(await store.getRotation("r1")).toMatchObject({ state: "rolled_back", errorCode: "rotation_failed", owner: null, leaseUntil: null, endedAt: T0 + 3 + LEASE, lastStep: "create" });
        // Ended: no one claims it again.
        expect(await store.claimRotation("r1", "broker-c", T0 + 99 * LEASE, T0 + 100 * LEASE)).toBe(false);
        expect(await store.getRotation("missing")).toBeUndefined();
        await expect(store.endRotation("r1", "broker-b", { state: "running" as "done", errorCode: null, version: null, now: T0, keepPending: false })).rejects.toBeInstanceOf(TypeError);
      });

      it("keeps the first pending value, and drops it when the rotation ends unless told to keep it", async () => {
        await store.insertRotation(rotation("r1"));
        expect(await store.getPendingValue("r1")).toBeUndefined();
        await store.keepPendingValue(pendingRow("r1", "first"));
        await store.keepPendingValue(pendingRow("r1", "second"));
        expect((await store.getPendingValue("r1"))?.ciphertext.toString()).toBe("first");
        expect(await store.endRotation("r1", "broker-a", { state: "done", errorCode: null, version: 2, now: T0 + 1, keepPending: false })).toBe(true);
        expect(await store.getPendingValue("r1")).toBeUndefined();

        await store.insertRotation(rotation("r2"));
        await store.keepPendingValue(pendingRow("r2", "kept"));
        expect(await store.endRotation("r2", "broker-a", { state: "failed", errorCode: "backend_unavailable", version: null, now: T0 + 2, keepPending: true })).toBe(true);
        expect((await store.getPendingValue("r2"))?.ciphertext.toString()).toBe("kept");
      });
    });

    describe("signing keys", () => {
      it("stores keys with their bytes and lists them oldest first", async () => {
        await store.insertSigningKey(signingKey("kid-2", T0 + 1));
        await store.insertSigningKey(signingKey("kid-1", T0));
        expect(await store.listSigningKeys()).toEqual([signingKey("kid-1", T0), signingKey("kid-2", T0 + 1)]);
      });

      it("lists keys created at the same time retired ones first (a key is retired for the one replacing it), then by kid", async () => {
        for (const kid of ["kid-c", "kid-a", "kid-b"]) await store.insertSigningKey(signingKey(kid, T0));
        expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual(["kid-a", "kid-b", "kid-c"]);
        await store.retireSigningKey("kid-c", T0, T0 + MINUTE);
        expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual(["kid-c", "kid-a", "kid-b"]);
      });

      it("retires a key once: a second retirement changes nothing", async () => {
        await store.insertSigningKey(signingKey("kid-1", T0));
        await store.retireSigningKey("kid-1", T0 + 1, T0 + 100);
        await store.retireSigningKey("kid-1", T0 + 2, T0 + 200);
        await store.retireSigningKey("kid-missing", T0 + 2, T0 + 200);
        expect((await store.listSigningKeys())[0]).toMatchObject({ retiredAt: T0 + 1, expiresAt: T0 + 100 });
      });

      it("re-wraps a signing key only while it is wrapped by the expected key", async () => {
        await store.insertSigningKey(signingKey("kid-1", T0, "mk-old"));
        expect(await store.rewrapSigningKey("kid-1", "mk-old", "mk-new", Buffer.from("rewrapped"))).toBe(true);
        expect(await store.rewrapSigningKey("kid-1", "mk-old", "mk-x", Buffer.from("lost race"))).toBe(false);
        expect(await store.rewrapSigningKey("kid-missing", "mk-new", "mk-x", Buffer.from("x"))).toBe(false);
        expect((await store.listSigningKeys())[0]).toMatchObject({ keyId: "mk-new", wrappedKey: Buffer.from("rewrapped") });
      });
    });

    describe("client assertions", () => {
      it("accepts an assertion id once and refuses its replay until it expires", async () => {
        expect(await store.rememberAssertion("jti-1", T0 + MINUTE, T0)).toBe(true);
        expect(await store.rememberAssertion("jti-1", T0 + MINUTE, T0 + 1)).toBe(false);
        expect(await store.rememberAssertion("jti-2", T0 + MINUTE, T0 + 1)).toBe(true);
        // Once expired the id is purged: the assertion itself would be refused for its exp anyway.
        expect(await store.rememberAssertion("jti-1", T0 + 2 * MINUTE, T0 + MINUTE)).toBe(true);
      });

      it("accepts exactly one of two simultaneous uses of the same assertion id", async () => {
        const accepted = await Promise.all([store.rememberAssertion("jti-1", T0 + MINUTE, T0), store.rememberAssertion("jti-1", T0 + MINUTE, T0)]);
        expect(accepted.sort()).toEqual([false, true]);
      });
    });

    describe("audit", () => {
      it("chains the first record onto the genesis hash and later appends onto the last record", async () => {
        const first = await store.appendAudit([entry({ requestId: "r1" }), entry({ requestId: "r2" })]);
        const second = await store.appendAudit([entry({ requestId: "r3", outcome: "denied" })]);
        expect(first.map((r) => r.seq)).toEqual([1, 2]);
        expect(first[0]?.prevHash).toBe(GENESIS_HASH);
        expect(first[1]?.prevHash).toBe(first[0]?.hash);
        expect(second[0]).toMatchObject({ seq: 3, prevHash: first[1]?.hash, requestId: "r3", outcome: "denied" });
        expect(second[0]?.hash).toBe(chainHash(TEST_CHAIN_KEY, first[1]!.hash, 3, entry({ requestId: "r3", outcome: "denied" })));
        const stored = await allAudit(store);
        expect(stored).toEqual([...first, ...second]);
        expect(await verifyChain(store.auditPages(2), KEYED_FROM_START)).toMatchObject({ ok: true, checked: 3, head: { seq: 3, hash: second[0]?.hash } });
      });

      it("returns [] and writes nothing for an empty batch", async () => {
        expect(await store.appendAudit([])).toEqual([]);
        expect(await allAudit(store)).toEqual([]);
      });

      it("inserts the given leases in the same transaction", async () => {
        const l1 = lease("l-1", { externalLeaseId: "ext-1" });
        const records = await store.appendAudit([entry({ leaseId: "l-1" }), entry({ leaseId: "l-2" })], [l1, lease("l-2")]);
        expect(records).toHaveLength(2);
        expect(await store.getLease("l-1")).toEqual(l1);
        expect(await store.getLease("l-2")).toEqual(lease("l-2"));
      });

      it("commits nothing when a lease of the batch cannot be inserted (duplicate id), and the chain goes on unbroken", async () => {
        await store.appendAudit([entry()], [lease("l-existing")]);
        const failed = store.appendAudit([entry({ requestId: "lost-1" }), entry({ requestId: "lost-2" })], [
          lease("l-new"),
          lease("l-existing", { serverId: "other-mcp" }),
        ]);
        expect((await brokerRejection(failed)).code).toBe("conflict");
        expect(await store.getLease("l-new")).toBeUndefined();
        expect((await store.getLease("l-existing"))?.serverId).toBe("github-mcp");
        expect((await allAudit(store)).map((r) => r.seq)).toEqual([1]);
        const next = await store.appendAudit([entry({ requestId: "after" })], [lease("l-new")]);
        expect(next[0]?.seq).toBe(2);
        expect(await store.getLease("l-new")).toBeDefined();
        expect((await verifyChain(store.auditPages(10), KEYED_FROM_START)).ok).toBe(true);
      });

      describe("queries", () => {
        let records: AuditRecord[];

        beforeEach(async () => {
          records = await store.appendAudit(
            [
              entry({ time: T0 + 1, actor: "github-mcp", resource: "github/token" }),
              entry({ time: T0 + 2, actor: "other-mcp", resource: "github/token", outcome: "denied" }),
              entry({ time: T0 + 3, actor: "github-mcp", resource: "prod/db#password" }),
              entry({ time: T0 + 4, actor: "alice", actorKind: "operator", action: "admin.secret.write", resource: "prod_x/db" }),
              entry({ time: T0 + 5, actor: "github-mcp", resource: "prod/app", outcome: "error" }),
              entry({ time: T0 + 6, actor: "github-mcp", resource: "pct%/a" }),
              entry({ time: T0 + 7, actor: "github-mcp", resource: "pctx/a" }),
            ],
          );
        });

        const seqs = async (filter: Partial<Parameters<Store["queryAudit"]>[0]>) =>
          (await store.queryAudit({ limit: 100, ...filter })).map((r) => r.seq);

        it("filters by actor, resource, action and outcome", async () => {
          expect(await seqs({ actor: "other-mcp" })).toEqual([2]);
          expect(await seqs({ resource: "github/token" })).toEqual([1, 2]);
          expect(await seqs({ action: "admin.secret.write" })).toEqual([4]);
          expect(await seqs({ outcome: "error" })).toEqual([5]);
          expect(await seqs({ actor: "github-mcp", resource: "github/token" })).toEqual([1]);
          expect(await seqs({ actor: "nobody" })).toEqual([]);
        });

        it("filters by a resource prefix taken literally (% and _ are not wildcards)", async () => {
          expect(await seqs({ resourcePrefix: "prod/" })).toEqual([3, 5]);
          expect(await seqs({ resourcePrefix: "prod_" })).toEqual([4]);
          expect(await seqs({ resourcePrefix: "pct%" })).toEqual([6]);
        });

        gapIt("case-sensitive-prefixes", "matches a resource prefix case-sensitively", async () => {
          expect(await seqs({ resourcePrefix: "PROD/" })).toEqual([]);
        });

        it("filters by an inclusive time range", async () => {
          expect(await seqs({ since: T0 + 2, until: T0 + 4 })).toEqual([2, 3, 4]);
          expect(await seqs({ since: T0 + 7 })).toEqual([7]);
          expect(await seqs({ until: T0 + 1 })).toEqual([1]);
        });

        it("pages with afterSeq and limit in ascending seq order", async () => {
          const page1 = await store.queryAudit({ limit: 3 });
          const page2 = await store.queryAudit({ limit: 3, afterSeq: page1[page1.length - 1]!.seq });
          const page3 = await store.queryAudit({ limit: 3, afterSeq: page2[page2.length - 1]!.seq });
          expect([page1, page2, page3].map((page) => page.map((r) => r.seq))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
          expect(await store.queryAudit({ limit: 3, afterSeq: 7 })).toEqual([]);
          expect(await seqs({ actor: "github-mcp", afterSeq: 3, limit: 2 })).toEqual([5, 6]);
        });

        it("pages newest first with order desc and beforeSeq, filters included", async () => {
          const page1 = await store.queryAudit({ limit: 3, order: "desc" });
          const page2 = await store.queryAudit({ limit: 3, order: "desc", beforeSeq: page1.at(-1)!.seq });
          const page3 = await store.queryAudit({ limit: 3, order: "desc", beforeSeq: page2.at(-1)!.seq });
          expect([page1, page2, page3].map((page) => page.map((r) => r.seq))).toEqual([[7, 6, 5], [4, 3, 2], [1]]);
          expect(await store.queryAudit({ limit: 3, order: "desc", beforeSeq: 1 })).toEqual([]);
          expect(await seqs({ actor: "github-mcp", order: "desc", limit: 2 })).toEqual([7, 6]);
          expect(await seqs({ afterSeq: 2, beforeSeq: 6 })).toEqual([3, 4, 5]);
        });

        it("returns records exactly as appended, with numbers as numbers", async () => {
          const [first] = await store.queryAudit({ limit: 1 });
          expect(first).toEqual(records[0]);
          expect(typeof first?.seq).toBe("number");
          expect(typeof first?.time).toBe("number");
        });

        it("streams every record in seq order in pages of the given size", async () => {
          const pages: number[][] = [];
          for await (const page of store.auditPages(3)) pages.push(page.map((r) => r.seq));
          expect(pages).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
        });
      });

      it("streams nothing from an empty log", async () => {
        const pages: AuditRecord[][] = [];
        for await (const page of store.auditPages(10)) pages.push(page);
        expect(pages).toEqual([]);
      });

      it("summarises reads of a secret (and its #key selections) per actor, with counts as numbers", async () => {
        await store.appendAudit(
          [
            entry({ time: T0 + 1, actor: "github-mcp", resource: "kv/app" }),
            entry({ time: T0 + 2, actor: "github-mcp", resource: "kv/app#token", outcome: "denied" }),
            entry({ time: T0 + 3, actor: "other-mcp", resource: "kv/app", outcome: "error" }),
            entry({ time: T0 + 4, actor: "alice", actorKind: "operator", action: "secret.get", resource: "kv/app" }),
            entry({ time: T0 + 5, actor: "github-mcp", resource: "kv/app" }),
            // Not reads of kv/app: another action, look-alike paths.
            entry({ time: T0 + 6, actor: "github-mcp", action: "lease.renew", resource: "kv/app" }),
            entry({ time: T0 + 7, actor: "github-mcp", resource: "kv/app2" }),
            entry({ time: T0 + 8, actor: "github-mcp", resource: "kv/app/sub" }),
          ],
        );
        const summary = await store.accessSummary("kv/app", undefined);
        expect(summary).toEqual([
          { actor: "alice", actorKind: "operator", count: 1, first: T0 + 4, last: T0 + 4, allowed: 1, denied: 0, error: 0 },
          { actor: "github-mcp", actorKind: "server", count: 3, first: T0 + 1, last: T0 + 5, allowed: 2, denied: 1, error: 0 },
          { actor: "other-mcp", actorKind: "server", count: 1, first: T0 + 3, last: T0 + 3, allowed: 0, denied: 0, error: 1 },
        ]);
        expect(await store.accessSummary("kv/app", T0 + 4)).toEqual([
          { actor: "alice", actorKind: "operator", count: 1, first: T0 + 4, last: T0 + 4, allowed: 1, denied: 0, error: 0 },
          { actor: "github-mcp", actorKind: "server", count: 1, first: T0 + 5, last: T0 + 5, allowed: 1, denied: 0, error: 0 },
        ]);
        expect(await store.accessSummary("kv/none", undefined)).toEqual([]);
      });

      it("orders the summary by actor, then actor kind", async () => {
        await store.appendAudit([
          entry({ actor: "zed", actorKind: "server", resource: "kv/app" }),
          entry({ actor: "same", actorKind: "server", resource: "kv/app" }),
          entry({ actor: "same", actorKind: "operator", action: "secret.get", resource: "kv/app" }),
          entry({ actor: "abe", actorKind: "operator", action: "secret.get", resource: "kv/app" }),
        ]);
        expect((await store.accessSummary("kv/app", undefined)).map((row) => `${row.actor}/${row.actorKind}`)).toEqual([
          "abe/operator",
          "same/operator",
          "same/server",
          "zed/server",
        ]);
      });

      it("summarises a path with _ without counting look-alike paths", async () => {
        await store.appendAudit([entry({ resource: "a_b#k" }), entry({ resource: "axb#k" })]);
        expect((await store.accessSummary("a_b", undefined)).map((row) => row.count)).toEqual([1]);
      });

      gapIt("case-sensitive-prefixes", "summarises #key selections case-sensitively", async () => {
        await store.appendAudit([entry({ resource: "kv/app#k" }), entry({ resource: "KV/app#k" })]);
        expect((await store.accessSummary("kv/app", undefined)).map((row) => row.count)).toEqual([1]);
      });
    });

    describe("meta", () => {
      it("answers undefined for a missing key and overwrites on set", async () => {
        expect(await store.getMeta("initialised")).toBeUndefined();
        await store.setMeta("initialised", "yes");
        await store.setMeta("other", "1");
        await store.setMeta("initialised", "again");
        expect(await store.getMeta("initialised")).toBe("again");
        expect(await store.getMeta("other")).toBe("1");
      });

      it("stores a value only when the key has none, saying whether it did", async () => {
        expect(await store.setMetaIfAbsent("sealed:x", "first")).toBe(true);
        expect(await store.setMetaIfAbsent("sealed:x", "second")).toBe(false);
        expect(await store.getMeta("sealed:x")).toBe("first");
        const racing = await Promise.all([store.setMetaIfAbsent("sealed:y", "a"), store.setMetaIfAbsent("sealed:y", "b")]);
        expect(racing.filter(Boolean)).toHaveLength(1);
        expect(await store.getMeta("sealed:y")).toBe(racing[0] ? "a" : "b");
      });

      it("answers a ping, and says an audit record could be written now", async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        await expect(store.checkAuditWritable()).resolves.toBeUndefined();
      });
    });

    describe("storage failures", () => {
      it("reports a broken database as storage_unavailable, naming no value", async () => {
        if (!subject.breakStorage) throw new Error(`the ${name} subject must provide breakStorage`);
        await store.createServer(server("github-mcp", { labels: { marker: "label-value-xyz" } }));
        await subject.breakStorage();
        for (const call of [() => store.getServer("github-mcp"), () => store.createServer(server("other-mcp", { labels: { marker: "label-value-xyz" } }))]) {
          const error = await brokerRejection(call());
          expect(error.code).toBe("storage_unavailable");
          expect(error.status).toBe(503);
          expect(error.message).not.toContain("label-value-xyz");
          expect(error.detail ?? "").not.toContain("label-value-xyz");
          expect(error.message).not.toMatch(/select|insert/i);
        }
      });
    });
  });
}
