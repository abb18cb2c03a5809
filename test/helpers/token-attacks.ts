/** Requests and keys the token-attack specs (test/http/attacks-tokens-*.test.ts) share. */
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { randomBytes, scryptSync } from "node:crypto";
import { expect } from "vitest";
import { rawRequest, type AttackResponse, type AttackTarget } from "./attack-kit.js";

export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
export const TOKEN_TTL_SECONDS = 15 * 60;

export function readAs(target: AttackTarget, token: string | undefined, names: string[] = ["a/token"], headers: Record<string, string> = {}): Promise<AttackResponse> {
  return rawRequest(target.tb.url, {
    method: "POST",
    target: "/v1/secrets/read",
    headers: { "content-type": "application/json", ...(token !== undefined && { authorization: `Bearer ${token}` }), ...headers },
    body: JSON.stringify({ names }),
  });
}

export function withAuthorization(target: AttackTarget, method: string, path: string, authorization: string | undefined, body?: unknown): Promise<AttackResponse> {
  return rawRequest(target.tb.url, {
    method,
    target: path,
    headers: { ...(authorization !== undefined && { authorization }), ...(body !== undefined && { "content-type": "application/json" }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

export type TokenBody = { form: string } | { json: unknown } | { raw: string; contentType?: string };

export function tokenRequest(target: AttackTarget, body: TokenBody, headers: Record<string, string> = {}): Promise<AttackResponse> {
  const [contentType, text] =
    "form" in body ? ["application/x-www-form-urlencoded", body.form] : "json" in body ? ["application/json", JSON.stringify(body.json)] : [body.contentType, body.raw];
  return rawRequest(target.tb.url, {
    method: "POST",
    target: "/v1/auth/token",
    headers: { ...(contentType !== undefined && { "content-type": contentType }), ...headers },
    body: text,
  });
}

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

/** The broker's published signing key (the first JWK of /.well-known/jwks.json). */
export async function publishedKey(target: AttackTarget): Promise<JWK & { kid: string; x: string }> {
  const { status, body } = await target.tb.call<{ keys: Array<JWK & { kid: string; x: string }> }>("GET", "/.well-known/jwks.json");
  expect(status).toBe(200);
  expect(body.keys.length).toBeGreaterThan(0);
  for (const key of body.keys) for (const member of ["d", "p", "q", "k"]) expect(key, "the JWKS publishes public keys only").not.toHaveProperty(member);
  return body.keys[0]!;
}

export async function attackerKey(): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey) };
}

/** The stored form brokers wrote before client secrets were HMACs (cheap cost: a test). */
export function legacyScryptHash(secret: string, cost = { N: 2 ** 10, r: 8, p: 1 }): string {
  const salt = randomBytes(16);
  const hash = scryptSync(secret, salt, 32, cost);
  return ["scrypt", cost.N, cost.r, cost.p, salt.toString("base64url"), hash.toString("base64url")].join("$");
}
