/**
 * The broker's token signing keys (Ed25519). Private keys are stored envelope-encrypted; the
 * public halves are published at /.well-known/jwks.json. Rotation adds a new signing key and
 * keeps the previous one verifiable for `overlapSeconds` (at least the token lifetime), so no
 * token in flight is rejected.
 */
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import { randomBytes } from "node:crypto";
import type { Envelope } from "../crypto/envelope.js";
import type { SigningKeyRow, Store } from "../store/store.js";

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  createdAt: number;
  retiredAt: number | null;
  expiresAt: number | null;
}

const envelopePath = (kid: string) => `signing-key/${kid}`;

/**
 * Brokers sharing a PostgreSQL store each hold the keys in memory; one of them rotates. The others
 * hear of it through the relayed `signing_keys.changed` event; should that be lost, they pick the
 * change up when they next sign after REFRESH_INTERVAL_MS, and when they meet a token signed by a
 * key they do not know yet (at most once per UNKNOWN_KID_RELOAD_MS, so tokens with made-up kids
 * cannot turn into a query each).
 */
const REFRESH_INTERVAL_MS = 60_000;
const UNKNOWN_KID_RELOAD_MS = 5_000;

export class SigningKeys {
  private keys = new Map<string, SigningKey>();
  private active: SigningKey | undefined;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private unknownKidReloadAt = Number.NEGATIVE_INFINITY;
  private reloading: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<Store, "listSigningKeys" | "insertSigningKey" | "retireSigningKey">,
    private readonly envelope: Envelope,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Loads keys from the store, creating the first key when there is none. */
  async load(): Promise<void> {
    const rows = await this.store.listSigningKeys();
    const loaded = new Map<string, SigningKey>();
    for (const row of rows) loaded.set(row.kid, await this.decode(row));
    this.keys = loaded;
    this.active = [...loaded.values()].filter((key) => key.retiredAt === null).at(-1);
    this.loadedAt = this.clock();
    if (!this.active) await this.rotate(0);
  }

  /** Reloads when the keys in memory are older than a minute (another broker may have rotated). */
  async refreshIfStale(): Promise<void> {
    if (this.clock() - this.loadedAt >= REFRESH_INTERVAL_MS) await this.refresh();
  }

  /**
   * Like `verificationKey`, but an unknown kid may be another broker's new key: the keys are
   * reloaded from the store (at most every 5 s) before the answer is no.
   */
  async verificationKeyOrReload(kid: string): Promise<SigningKey | undefined> {
    const known = this.verificationKey(kid);
    if (known) return known;
    const now = this.clock();
    if (now - this.unknownKidReloadAt < UNKNOWN_KID_RELOAD_MS) return undefined;
    this.unknownKidReloadAt = now;
    await this.refresh();
    return this.verificationKey(kid);
  }

  /** Reloads the keys from the store now (another broker rotated); callers arriving meanwhile share one reload. */
  refresh(): Promise<void> {
    this.reloading ??= this.load().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  /** The key that signs new tokens. */
  signingKey(): SigningKey {
    if (!this.active) throw new TypeError("signing keys not loaded");
    return this.active;
  }

  /** A key that may verify tokens now: active, or retired but inside its overlap window. */
  verificationKey(kid: string): SigningKey | undefined {
    const key = this.keys.get(kid);
    if (!key) return undefined;
    if (key.expiresAt !== null && key.expiresAt <= this.clock()) return undefined;
    return key;
  }

  publicJwks(): { keys: JWK[] } {
    const now = this.clock();
    return {
      keys: [...this.keys.values()]
        .filter((key) => key.expiresAt === null || key.expiresAt > now)
        .map((key) => ({ ...key.publicJwk, kid: key.kid, alg: "EdDSA", use: "sig" })),
    };
  }

  /** Creates a new active key; the old one verifies for `overlapSeconds` more. Returns the new kid. */
  async rotate(overlapSeconds: number): Promise<string> {
    const now = this.clock();
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const kid = `bk-${new Date(now).toISOString().slice(0, 10)}-${randomBytes(4).toString("hex")}`;
    const publicJwk = await exportJWK(publicKey);
    const privateJwk = await exportJWK(privateKey);
    const sealed = this.envelope.seal({ path: envelopePath(kid), version: 1 }, Buffer.from(JSON.stringify(privateJwk)));
    const row: SigningKeyRow = {
      kid,
      publicJwk: JSON.stringify(publicJwk),
      keyId: sealed.keyId,
      wrappedKey: sealed.wrappedKey,
      privateJwkCiphertext: sealed.ciphertext,
      createdAt: now,
      retiredAt: null,
      expiresAt: null,
    };
    await this.store.insertSigningKey(row);
    const previous = this.active;
    if (previous) await this.store.retireSigningKey(previous.kid, now, now + overlapSeconds * 1000);
    await this.load();
    return kid;
  }

  private async decode(row: SigningKeyRow): Promise<SigningKey> {
    const privateJwk = JSON.parse(
      this.envelope
        .open(
          { path: envelopePath(row.kid), version: 1 },
          { keyId: row.keyId, wrappedKey: row.wrappedKey, ciphertext: row.privateJwkCiphertext },
        )
        .toString("utf8"),
    ) as JWK;
    const publicJwk = JSON.parse(row.publicJwk) as JWK;
    return {
      kid: row.kid,
      privateKey: (await importJWK(privateJwk, "EdDSA")) as CryptoKey,
      publicKey: (await importJWK(publicJwk, "EdDSA")) as CryptoKey,
      publicJwk,
      createdAt: row.createdAt,
      retiredAt: row.retiredAt,
      expiresAt: row.expiresAt,
    };
  }
}

export const signingKeyEnvelopePath = envelopePath;
