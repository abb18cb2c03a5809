/**
 * The dynamic backend contract: one suite every DynamicBackend passes (today Vault's dynamic
 * engines). It states the edge cases of `DynamicBackend` in src/backends/backend.ts as tests: each
 * issue is a fresh credential bound to its own backend lease, renew extends that lease, revoke
 * destroys it (idempotently; a revoked or expired lease cannot be renewed), refusals and unknown
 * roles are coded BrokerErrors naming the mount, and a backend that is down or slow is a fast 503
 * `backend_unavailable`, never a hang.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isDynamic, type DynamicBackend, type SecretBackend } from "../../src/backends/backend.js";
import { rejection } from "../backends/helpers.js";

export interface DynamicContractSubject {
  backend: SecretBackend;
  /** A role the broker may issue, its backend lease TTLs: `defaultSeconds` < `maxSeconds`. */
  role: { location: string; defaultSeconds: number; maxSeconds: number };
  /** A role whose credentials cannot be renewed. */
  nonRenewableRole?: string;
  /** A role the broker's own credentials may not issue. */
  deniedRole?: string;
  /** The backend-side state: the lease ids the target system still honours. */
  activeLeaseIds(): string[];
  /** The remaining TTL the target system holds for a lease, seconds; undefined when it does not know it. */
  leaseTtlSeconds(externalLeaseId: string): number | undefined;
  /** Moves the target system's clock forward. */
  advanceClock?: (seconds: number) => void;
  /** Makes the backend unreachable (connections refused). */
  takeDown?: () => Promise<void>;
  /** Makes every answer slower than the mount's timeout. */
  slowDown?: () => void;
  /** The mount's per-call timeout, ms. */
  timeoutMs: number;
  close(): Promise<void>;
}

export interface DynamicContractOptions {
  name: string;
  create(): Promise<DynamicContractSubject>;
  /** Cases that do not apply, each with the reason shown in the test name. */
  notApplicable?: Partial<Record<"not-renewable" | "permission" | "expiry" | "down" | "slow", string>>;
}

/** Slack over the mount's timeout for "fast" failures: scheduling, connection set-up. */
const SLACK_MS = 1500;

export function dynamicBackendContract(options: DynamicContractOptions): void {
  describe(`dynamic backend contract: ${options.name}`, () => {
    let subject: DynamicContractSubject;
    let backend: DynamicBackend;

    beforeEach(async () => {
      subject = await options.create();
      if (!isDynamic(subject.backend)) throw new Error(`${options.name} must be a dynamic backend`);
      backend = subject.backend;
    });

    afterEach(async () => {
      await subject.close();
    });

    it("issues a fresh credential per call, each bound to its own backend lease", async () => {
      const { location, defaultSeconds } = subject.role;
      const first = await backend.issue(location, defaultSeconds);
      const second = await backend.issue(location, defaultSeconds);
      expect(first.bytes.length).toBeGreaterThan(0);
      expect(second.bytes.equals(first.bytes)).toBe(false);
      expect(first.externalLeaseId).not.toBe("");
      expect(second.externalLeaseId).not.toBe(first.externalLeaseId);
      expect(first.ttlSeconds).toBe(defaultSeconds);
      expect(first.renewable).toBe(true);
      expect(subject.activeLeaseIds()).toEqual(expect.arrayContaining([first.externalLeaseId, second.externalLeaseId]));
    });

    it("extends a new lease towards the TTL asked for, up to the role's maximum, and says what it granted", async () => {
      const { location, defaultSeconds, maxSeconds } = subject.role;
      const longer = await backend.issue(location, defaultSeconds + 60);
      expect(longer.ttlSeconds).toBe(defaultSeconds + 60);
      expect(subject.leaseTtlSeconds(longer.externalLeaseId)).toBe(defaultSeconds + 60);
      const capped = await backend.issue(location, maxSeconds * 2);
      expect(capped.ttlSeconds).toBe(maxSeconds);
    });

    it("holds no static values: read answers undefined", async () => {
      expect(await backend.read(subject.role.location)).toBeUndefined();
    });

    it("renews a lease: the backend extends it by the increment", async () => {
      const issued = await backend.issue(subject.role.location, subject.role.defaultSeconds);
      const renewed = await backend.renew(issued.externalLeaseId, subject.role.defaultSeconds + 120);
      expect(renewed).toEqual({ ttlSeconds: subject.role.defaultSeconds + 120, renewable: true });
      expect(subject.leaseTtlSeconds(issued.externalLeaseId)).toBe(subject.role.defaultSeconds + 120);
    });

    it("revokes a lease: the backend forgets it, it cannot be renewed, and revoking again is not an error", async () => {
      const issued = await backend.issue(subject.role.location, subject.role.defaultSeconds);
      const kept = await backend.issue(subject.role.location, subject.role.defaultSeconds);
      await backend.revoke(issued.externalLeaseId);
      expect(subject.activeLeaseIds()).not.toContain(issued.externalLeaseId);
      expect(subject.activeLeaseIds()).toContain(kept.externalLeaseId);
      const error = await rejection(backend.renew(issued.externalLeaseId, 60));
      expect(error.code).toBe("lease_expired");
      expect(error.message).toContain(backend.mount);
      await expect(backend.revoke(issued.externalLeaseId)).resolves.toBeUndefined();
    });

    it("answers an unknown role with `not_found` naming the role and the mount", async () => {
      const error = await rejection(backend.issue("no-such-role", 60));
      expect(error.code).toBe("not_found");
      expect(error.status).toBe(404);
      expect(error.message).toContain("no-such-role");
      expect(error.message).toContain(backend.mount);
    });

    it("renews and revokes only leases of its own engine, never another lease id", async () => {
      for (const call of [backend.renew("auth/token/create/abc", 60), backend.revoke("auth/token/create/abc")]) {
        const error = await rejection(call);
        expect(error.code).toBe("invalid_request");
        expect(error.message).toContain(backend.mount);
      }
    });

    it("refuses nonsense TTLs as a programming error", async () => {
      await expect(backend.issue(subject.role.location, 0)).rejects.toThrow(TypeError);
      const issued = await backend.issue(subject.role.location, subject.role.defaultSeconds);
      await expect(backend.renew(issued.externalLeaseId, 1.5)).rejects.toThrow(TypeError);
    });

    caseOrSkip("not-renewable", "issues a credential that cannot be renewed as `renewable: false`; renewing it is `not_renewable`", async () => {
      const location = subject.nonRenewableRole;
      if (location === undefined) throw new Error("subject.nonRenewableRole is required for this case");
      const issued = await backend.issue(location, subject.role.defaultSeconds * 2);
      expect(issued.renewable).toBe(false);
      // Not renewable: the lease keeps what the backend granted, whatever was asked.
      expect(issued.ttlSeconds).toBe(subject.leaseTtlSeconds(issued.externalLeaseId));
      const error = await rejection(backend.renew(issued.externalLeaseId, 60));
      expect(error.code).toBe("not_renewable");
      expect(error.message).toContain(backend.mount);
    });

    caseOrSkip("expiry", "cannot renew a lease the backend let expire: `lease_expired`", async () => {
      const issued = await backend.issue(subject.role.location, subject.role.defaultSeconds);
      subject.advanceClock?.(subject.role.defaultSeconds + 1);
      expect(subject.activeLeaseIds()).not.toContain(issued.externalLeaseId);
      const error = await rejection(backend.renew(issued.externalLeaseId, 60));
      expect(error.code).toBe("lease_expired");
    });

    caseOrSkip("permission", "answers a role the broker may not issue with `forbidden` naming the mount", async () => {
      const location = subject.deniedRole;
      if (location === undefined) throw new Error("subject.deniedRole is required for this case");
      const error = await rejection(backend.issue(location, 60));
      expect(error.code).toBe("forbidden");
      expect(error.status).toBe(403);
      expect(error.message).toContain(backend.mount);
    });

    caseOrSkip("down", "answers issue, renew and revoke with a fast 503 `backend_unavailable` naming the mount while the backend is down", async () => {
      const issued = await backend.issue(subject.role.location, subject.role.defaultSeconds);
      await subject.takeDown?.();
      for (const call of [() => backend.issue(subject.role.location, 60), () => backend.renew(issued.externalLeaseId, 60), () => backend.revoke(issued.externalLeaseId)]) {
        const started = Date.now();
        const error = await rejection(call());
        expect(Date.now() - started).toBeLessThan(subject.timeoutMs + SLACK_MS);
        expect(error.code).toBe("backend_unavailable");
        expect(error.status).toBe(503);
        expect(error.message).toContain(backend.mount);
      }
      await expect(backend.checkHealth()).rejects.toMatchObject({ code: "backend_unavailable" });
    });

    caseOrSkip("slow", "gives up on a slow backend at its timeout with a 503 naming the mount", async () => {
      subject.slowDown?.();
      const started = Date.now();
      const error = await rejection(backend.issue(subject.role.location, 60));
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(subject.timeoutMs * 0.9);
      expect(elapsed).toBeLessThan(subject.timeoutMs + SLACK_MS);
      expect(error.code).toBe("backend_unavailable");
      expect(error.message).toContain(backend.mount);
    });

    it("passes readiness while it is up", async () => {
      await expect(backend.checkHealth()).resolves.toBeUndefined();
    });

    function caseOrSkip(key: keyof NonNullable<DynamicContractOptions["notApplicable"]>, title: string, run: () => Promise<void>): void {
      const reason = options.notApplicable?.[key];
      if (reason !== undefined) it.skip(`${title} (not applicable: ${reason})`, run);
      else it(title, run);
    }
  });
}
