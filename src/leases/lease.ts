/** Lease arithmetic: pure functions over a frozen clock value. */
import { randomUUID } from "node:crypto";
import type { Lease } from "../domain.js";

export interface LeaseTerms {
  /** Lifetime of one grant before renewal, seconds. */
  defaultTtlSeconds: number;
  /** Longest total lifetime from issue, seconds. */
  maxTtlSeconds: number;
}

/** The terms for one issue: the policy's `max_ttl` caps both the ttl and the total lifetime. */
export function leaseTerms(config: LeaseTerms, policyMaxTtlSeconds: number | undefined): LeaseTerms {
  const maxTtlSeconds = Math.min(config.maxTtlSeconds, policyMaxTtlSeconds ?? config.maxTtlSeconds);
  return { defaultTtlSeconds: Math.min(config.defaultTtlSeconds, maxTtlSeconds), maxTtlSeconds };
}

export interface NewLeaseInput {
  serverId: string;
  secretPath: string;
  version: number;
  now: number;
  terms: LeaseTerms;
  /** A dynamic credential: the backend's lease id, what it granted, and whether it renews. */
  dynamic?: { externalLeaseId: string; ttlSeconds: number; renewable: boolean };
}

/**
 * `lease_` and a UUIDv7 (RFC 9562): 48 bits of issue time in ms, then 74 random bits. Ids that
 * grow with time append to the right edge of the leases primary-key index; random v4 ids touched
 * a different index page on every insert, which made each group commit write many more pages.
 * Built from a v4 UUID (Node draws those from a pooled buffer; one randomBytes call per lease was
 * a tenth of a read's CPU): its first 48 bits become the time, its version nibble a 7.
 */
/** The time part of the last id: leases issued in the same millisecond share it. */
let idPrefix = { millis: -1, text: "" };

export function newLeaseId(now: number): string {
  const millis = Math.max(0, Math.floor(now)) % 2 ** 48;
  if (millis !== idPrefix.millis) {
    const time = millis.toString(16).padStart(12, "0");
    idPrefix = { millis, text: `lease_${time.slice(0, 8)}-${time.slice(8)}-7` };
  }
  return idPrefix.text + randomUUID().slice(15);
}


export function newLease(input: NewLeaseInput): Lease {
  const { now, terms, dynamic } = input;
  // A broker lease never outlives the backend's lease behind it.
  const ttlSeconds = dynamic ? Math.min(terms.defaultTtlSeconds, dynamic.ttlSeconds) : terms.defaultTtlSeconds;
  const expiresAt = now + ttlSeconds * 1000;
  const maxExpiresAt = dynamic && !dynamic.renewable ? expiresAt : now + terms.maxTtlSeconds * 1000;
  return {
    id: newLeaseId(now),
    serverId: input.serverId,
    secretPath: input.secretPath,
    version: input.version,
    issuedAt: now,
    expiresAt,
    maxExpiresAt,
    renewable: maxExpiresAt > expiresAt,
    revokedAt: null,
    revokeReason: null,
    externalLeaseId: dynamic?.externalLeaseId ?? null,
  };
}

export type LeaseState = "active" | "expired" | "revoked";

export function leaseState(lease: Lease, now: number): LeaseState {
  if (lease.revokedAt !== null) return "revoked";
  return lease.expiresAt <= now ? "expired" : "active";
}

/** New expiry after a renewal asking for `incrementSeconds` (default ttl when omitted), capped at the max. */
export function renewedExpiry(lease: Lease, now: number, incrementSeconds: number): number {
  return Math.min(lease.maxExpiresAt, now + incrementSeconds * 1000);
}

export function ttlSeconds(lease: Lease, now: number): number {
  return Math.max(0, Math.floor((lease.expiresAt - now) / 1000));
}

export function leaseToJson(lease: Lease, now: number) {
  return {
    lease_id: lease.id,
    server: lease.serverId,
    secret: lease.secretPath,
    version: lease.version,
    issued_at: new Date(lease.issuedAt).toISOString(),
    expires_at: new Date(lease.expiresAt).toISOString(),
    max_expires_at: new Date(lease.maxExpiresAt).toISOString(),
    ttl: ttlSeconds(lease, now),
    renewable: lease.revokedAt === null && lease.maxExpiresAt > lease.expiresAt,
    state: leaseState(lease, now),
    revoked_at: lease.revokedAt === null ? null : new Date(lease.revokedAt).toISOString(),
    revoke_reason: lease.revokeReason,
  };
}
