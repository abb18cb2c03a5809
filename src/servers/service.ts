/**
 * Server registration and credentials. A client secret is shown once and stored as an HMAC
 * under a broker key (auth/client-secret.ts); a server may instead (or also) register a public
 * JWK for private_key_jwt. Disabling a server revokes its leases at once; its tokens stop working
 * on the next request.
 */
import { calculateJwkThumbprint, type JWK } from "jose";
import { randomUUID } from "node:crypto";
import type { Lease, Page, PageRequest, RequestMeta, ServerRecord } from "../domain.js";
import { isValidServerId, pageOf } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry, type Actor } from "../audit/entry.js";
import { generateClientSecret, type ClientSecretHasher } from "../auth/client-secret.js";
import { validatePublicJwk } from "../auth/public-jwk.js";
import type { Store } from "../store/store.js";

export interface ServerServiceDeps {
  store: Pick<
    Store,
    | "createServer"
    | "getServer"
    | "listServers"
    | "setServerDisabled"
    | "setTokensNotBefore"
    | "addCredential"
    | "revokeCredentials"
    | "revokeLeases"
    | "activeCredentials"
    | "deleteServer"
  >;
  audit: Pick<AuditWriter, "record">;
  secretHasher: Pick<ClientSecretHasher, "hash">;
  clock: () => number;
  onRevoked?: (leases: Lease[]) => void | Promise<void>;
  onServerDisabled?: (serverId: string) => void;
  /** Called once the server's earlier tokens are refused, so open event streams end with them. */
  onCredentialsRotated?: (serverId: string) => void;
  /**
   * Told of every public key a server gains (registration, replacement, addition): whoever can add
   * a key can read as that server, so the server's own streams and the other brokers hear of it.
   */
  onKeyAdded?: (serverId: string, key: AddedKey) => void;
}

/** How a server's new public key is named in audit records and events: never key material. */
export interface AddedKey {
  /** The JWK's `kid`, or null when it has none. */
  kid: string | null;
  /** RFC 7638 SHA-256 thumbprint, base64url. */
  thumbprint: string;
}

/**
 * What rotate-credentials does with a public key: `replace` (the default) makes it the server's
 * only credential, revoking its client secret and other keys and the tokens they obtained, so a
 * takeover cannot leave the real server working beside it; `add` keeps everything and adds the key
 * (key rollover), announced like any key.
 */
export type KeyMode = "replace" | "add";

export interface RegisterInput {
  id: string;
  description?: string;
  labels?: Record<string, string>;
  /** Register this public key for private_key_jwt; with `noSecret`, no client secret is made. */
  publicJwk?: JWK;
  noSecret?: boolean;
}

export class ServerService {
  constructor(private readonly deps: ServerServiceDeps) {}

  /** Registers a server; returns its client secret (shown once) unless `noSecret`. */
  async register(actor: Actor, input: RegisterInput, meta: RequestMeta): Promise<{ server: ServerRecord; clientSecret: string | null }> {
    const { store, audit, clock } = this.deps;
    if (!isValidServerId(input.id)) throw new BrokerError("invalid_request", `invalid server id ${JSON.stringify(input.id)}: use [a-z0-9][a-z0-9-]{1,62}`);
    if (input.noSecret && !input.publicJwk) throw new BrokerError("invalid_request", "a server without a client secret needs a public key");
    const publicJwk = input.publicJwk ? validatePublicJwk(input.publicJwk) : undefined;
    const now = clock();
    const server: ServerRecord = { id: input.id, description: input.description ?? "", labels: input.labels ?? {}, createdAt: now, disabledAt: null, tokensNotBefore: null };
    await store.createServer(server);
    const clientSecret = input.noSecret ? null : generateClientSecret();
    if (clientSecret) {
      await store.addCredential({ id: randomUUID(), serverId: server.id, kind: "client_secret", secretHash: this.deps.secretHasher.hash(clientSecret), publicJwk: null, createdAt: now, revokedAt: null });
    }
    const key = publicJwk ? await addedKey(publicJwk) : undefined;
    if (publicJwk) {
      await store.addCredential({ id: randomUUID(), serverId: server.id, kind: "public_key", secretHash: null, publicJwk: JSON.stringify(publicJwk), createdAt: now, revokedAt: null });
    }
    await audit.record(auditEntry(actor, meta, { action: "admin.server.register", resource: server.id, outcome: "allowed", reason: key ? `with public key ${describeKey(key)}` : "client secret" }, now));
    if (key) this.deps.onKeyAdded?.(server.id, key);
    return { server, clientSecret };
  }

  /** One page of servers ordered by id. */
  async list(page: PageRequest<string>): Promise<Page<ServerRecord, string>> {
    return pageOf(await this.deps.store.listServers({ ...page, limit: page.limit + 1 }), page.limit, (server) => server.id);
  }

  async get(id: string): Promise<ServerRecord> {
    const server = await this.deps.store.getServer(id);
    if (!server) throw new BrokerError("not_found", `server ${id} not found`);
    return server;
  }

  /** Disables (or re-enables) a server. Disabling revokes all of its leases. */
  async setDisabled(actor: Actor, id: string, disabled: boolean, meta: RequestMeta): Promise<ServerRecord> {
    const { store, audit, clock } = this.deps;
    const now = clock();
    await this.get(id);
    await store.setServerDisabled(id, disabled ? now : null);
    let revoked: Lease[] = [];
    if (disabled) {
      // Tokens carry a millisecond `iat`: everything issued before now stops working.
      await store.setTokensNotBefore(id, now);
      revoked = await store.revokeLeases({ serverId: id }, now, "server disabled");
      this.deps.onServerDisabled?.(id);
      if (revoked.length > 0) await this.deps.onRevoked?.(revoked);
    }
    await audit.record(
      auditEntry(actor, meta, { action: disabled ? "admin.server.disable" : "admin.server.enable", resource: id, outcome: "allowed", reason: disabled ? `${revoked.length} lease(s) revoked` : "enabled" }, now),
    );
    return this.get(id);
  }

  /**
   * Deletes a server: at once its tokens are refused and it is gone from every listing and
   * lookup (a policy naming it grants nothing: nothing can authenticate as it), then every lease
   * it holds is revoked (dynamic credentials destroyed) and every credential revoked. Registering
   * the id again (an admin, `credentials` permission) starts afresh: no old token, lease or
   * credential comes back. Audited `admin.server.delete`.
   * @throws BrokerError `not_found` when there is no such server.
   */
  async delete(actor: Actor, id: string, meta: RequestMeta): Promise<{ leasesRevoked: number; credentialsRevoked: number }> {
    const { store, audit, clock } = this.deps;
    const now = clock();
    // First, so that nothing the server holds works a moment longer than the deletion.
    if (!(await store.deleteServer(id, now))) throw new BrokerError("not_found", `server ${id} not found`);
    this.deps.onServerDisabled?.(id);
    const revoked = await store.revokeLeases({ serverId: id }, now, "server deleted");
    const credentialsRevoked = await store.revokeCredentials(id, now);
    if (revoked.length > 0) await this.deps.onRevoked?.(revoked);
    await audit.record(
      auditEntry(actor, meta, { action: "admin.server.delete", resource: id, outcome: "allowed", reason: `${revoked.length} lease(s) and ${credentialsRevoked} credential(s) revoked` }, now),
    );
    return { leasesRevoked: revoked.length, credentialsRevoked };
  }

  /**
   * Without a public key: replaces the server's client secret (the old one stops working at once;
   * its public keys stay). With one: `mode` says whether the key replaces every credential of the
   * server (default) or is added beside them. Replacing revokes the server's tokens; adding does
   * not. Returns the new client secret, or null when a key was given.
   */
  async rotateCredentials(actor: Actor, id: string, input: { publicJwk?: JWK; mode?: KeyMode }, meta: RequestMeta): Promise<{ clientSecret: string | null }> {
    const { store, audit, clock } = this.deps;
    const now = clock();
    await this.get(id);
    const mode = input.mode ?? "replace";
    if (mode === "add" && !input.publicJwk) throw new BrokerError("invalid_request", "mode add needs a public_jwk");
    let clientSecret: string | null = null;
    let key: AddedKey | undefined;
    if (input.publicJwk) {
      const publicJwk = validatePublicJwk(input.publicJwk);
      key = await addedKey(publicJwk);
      if (mode === "replace") await store.revokeCredentials(id, now);
      await store.addCredential({ id: randomUUID(), serverId: id, kind: "public_key", secretHash: null, publicJwk: JSON.stringify(publicJwk), createdAt: now, revokedAt: null });
    } else {
      clientSecret = generateClientSecret();
      const hash = this.deps.secretHasher.hash(clientSecret);
      await store.revokeCredentials(id, now, "client_secret");
      await store.addCredential({ id: randomUUID(), serverId: id, kind: "client_secret", secretHash: hash, publicJwk: null, createdAt: now, revokedAt: null });
    }
    // Tokens obtained with the old credential stop working too: it may be the one that leaked.
    if (mode === "replace") {
      await store.setTokensNotBefore(id, now);
      this.deps.onCredentialsRotated?.(id);
    }
    const reason = !key ? "client secret replaced" : mode === "replace" ? `every credential replaced by public key ${describeKey(key)}` : `public key ${describeKey(key)} added`;
    await audit.record(auditEntry(actor, meta, { action: "admin.server.rotate_credentials", resource: id, outcome: "allowed", reason }, now));
    if (key) this.deps.onKeyAdded?.(id, key);
    return { clientSecret };
  }
}


async function addedKey(publicJwk: JWK): Promise<AddedKey> {
  return { kid: typeof publicJwk.kid === "string" ? publicJwk.kid : null, thumbprint: await calculateJwkThumbprint(publicJwk, "sha256") };
}

function describeKey(key: AddedKey): string {
  return `${key.kid === null ? "" : `kid ${JSON.stringify(key.kid)} `}thumbprint ${key.thumbprint}`;
}

export function serverToJson(server: ServerRecord) {
  return {
    id: server.id,
    description: server.description,
    labels: server.labels,
    created_at: new Date(server.createdAt).toISOString(),
    disabled: server.disabledAt !== null,
    disabled_at: server.disabledAt === null ? null : new Date(server.disabledAt).toISOString(),
  };
}
