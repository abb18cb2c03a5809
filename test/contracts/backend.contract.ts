/**
 * The backend contract: one suite every backend implementation passes (local, vault, aws). It
 * states the edge cases of src/backends/backend.ts as tests: absence is `undefined`, versions are
 * monotonic and listed oldest first, a refused credential is `forbidden`, a backend that is down
 * or slow is a fast 503 `backend_unavailable` naming the mount, never a hang.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isListable, isWritable, type ListableBackend, type SecretBackend, type WritableBackend } from "../../src/backends/backend.js";
import { SECRET_MARKER, json, rejection, testSecret } from "../backends/helpers.js";

export interface ContractSubject {
  backend: SecretBackend;
  /** A location the broker's own credentials may not read. */
  deniedLocation?: string;
  /** Makes the backend unreachable (connections refused or reset). */
  takeDown?: () => Promise<void>;
  /** Makes every answer slower than the mount's timeout. */
  slowDown?: () => void;
  /** The mount's per-call timeout, ms. */
  timeoutMs?: number;
  close(): Promise<void>;
}

export interface ContractOptions {
  name: string;
  create(): Promise<ContractSubject>;
  /** Cases that do not apply, each with the reason shown in the test name. */
  notApplicable?: Partial<Record<"permission" | "down" | "slow", string>>;
}

/** Slack over the mount's timeout for "fast" failures: scheduling, connection set-up, one retry. */
const SLACK_MS = 1500;

export function backendContract(options: ContractOptions): void {
  describe(`backend contract: ${options.name}`, () => {
    let subject: ContractSubject;
    let backend: WritableBackend & ListableBackend;
    let unique: string;

    beforeEach(async () => {
      subject = await options.create();
      if (!isWritable(subject.backend) || !isListable(subject.backend)) throw new Error(`${options.name} must be writable and listable`);
      backend = subject.backend;
      unique = `contract-${Math.random().toString(36).slice(2, 10)}`;
    });

    afterEach(async () => {
      await subject.close();
    });

    const value = (label: string) => ({ password: testSecret(label), user: "app" });
    const bytes = (object: unknown) => Buffer.from(JSON.stringify(object), "utf8");
    const writeTwo = async (location: string) => {
      const first = value("one");
      const second = value("two");
      const v1 = await backend.write(location, bytes(first), { createdBy: "tester" });
      const v2 = await backend.write(location, bytes(second), { createdBy: "tester" });
      return { first, second, v1, v2 };
    };

    it("reads the current version", async () => {
      const location = `${unique}/db`;
      const { second, v2 } = await writeTwo(location);
      const current = await backend.read(location);
      expect(json(current?.bytes)).toEqual(second);
      expect(current?.version).toBe(v2);
      expect(current?.createdAt).toBeGreaterThan(0);
    });

    it("reads a given version", async () => {
      const location = `${unique}/db`;
      const { first, v1 } = await writeTwo(location);
      const old = await backend.read(location, v1);
      expect(json(old?.bytes)).toEqual(first);
      expect(old?.version).toBe(v1);
    });

    it("answers undefined for a missing location or a missing version, never throws", async () => {
      expect(await backend.read(`${unique}/missing`)).toBeUndefined();
      const location = `${unique}/db`;
      const { v2 } = await writeTwo(location);
      expect(await backend.read(location, v2 + 1)).toBeUndefined();
      expect(await backend.versions(`${unique}/missing`)).toEqual([]);
    });

    it("writes new versions with increasing numbers, listed oldest first", async () => {
      const location = `${unique}/db`;
      const { v1, v2 } = await writeTwo(location);
      expect(v2).toBeGreaterThan(v1);
      const versions = await backend.versions(location);
      expect(versions.map((entry) => entry.version)).toEqual([v1, v2]);
      expect(versions.every((entry) => !entry.destroyed && entry.createdAt > 0)).toBe(true);
      // A write is visible to the next read at once (the cache is invalidated by writes).
      await backend.read(location);
      const third = value("three");
      const v3 = await backend.write(location, bytes(third), { createdBy: "tester" });
      expect(v3).toBeGreaterThan(v2);
      expect(json((await backend.read(location))?.bytes)).toEqual(third);
    });

    it("lists the locations under a prefix", async () => {
      for (const location of [`${unique}/a`, `${unique}/b/c`, `${unique}-other/d`]) {
        await backend.write(location, bytes(value(location)), { createdBy: "tester" });
      }
      expect(await backend.list(`${unique}/`)).toEqual([`${unique}/a`, `${unique}/b/c`]);
      expect(await backend.list(`${unique}/nothing/`)).toEqual([]);
    });

    it("removes a location, idempotently", async () => {
      const location = `${unique}/db`;
      await writeTwo(location);
      expect(await backend.remove(location)).toBe(true);
      expect(await backend.read(location)).toBeUndefined();
      expect(await backend.remove(location)).toBe(false);
    });

    it("passes readiness while it is up", async () => {
      await expect(backend.checkHealth()).resolves.toBeUndefined();
    });

    caseOrSkip("permission", "answers a refused credential with `forbidden` naming the mount, not with `not found`", async () => {
      const location = subject.deniedLocation;
      if (location === undefined) throw new Error("subject.deniedLocation is required for this case");
      const error = await rejection(backend.read(location));
      expect(error.code).toBe("forbidden");
      expect(error.status).toBe(403);
      expect(error.message).toContain(backend.mount);
    });

    caseOrSkip("down", "answers a backend that is down with a fast 503 `backend_unavailable` naming the mount", async () => {
      const location = `${unique}/db`;
      await writeTwo(location);
      await subject.takeDown?.();
      const started = Date.now();
      const error = await rejection(backend.read(`${unique}/not-cached`));
      expect(Date.now() - started).toBeLessThan((subject.timeoutMs ?? 0) + SLACK_MS);
      expect(error.code).toBe("backend_unavailable");
      expect(error.status).toBe(503);
      expect(error.message).toContain(backend.mount);
      expect(error.message).not.toContain(SECRET_MARKER);
      await expect(backend.checkHealth()).rejects.toMatchObject({ code: "backend_unavailable" });
    });

    caseOrSkip("slow", "gives up on a slow backend at its timeout with a 503 naming the mount", async () => {
      const timeoutMs = subject.timeoutMs ?? 0;
      subject.slowDown?.();
      const started = Date.now();
      const error = await rejection(backend.read(`${unique}/slow`));
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(timeoutMs * 0.9);
      expect(elapsed).toBeLessThan(timeoutMs + SLACK_MS);
      expect(error.code).toBe("backend_unavailable");
      expect(error.message).toContain(backend.mount);
    });

    function caseOrSkip(key: "permission" | "down" | "slow", title: string, run: () => Promise<void>): void {
      const reason = options.notApplicable?.[key];
      if (reason !== undefined) it.skip(`${title} (not applicable: ${reason})`, run);
      else it(title, run);
    }
  });
}
