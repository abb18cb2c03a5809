/**
 * The rotation state machine on the real stores (SQLite and PostgreSQL), the real local backend
 * with envelope encryption, the real audit writer and the real `generate` strategy. A broker
 * killed mid-rotation is played by a wrapper around the real strategy that stops forever at a
 * chosen point (before a step's work, or after the work but before the machine could record
 * it): that machine never runs again, exactly like a process killed there, and a new machine on
 * the same store resumes once the dead one's hold has passed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { AuditWriter } from "../../src/audit/writer.js";
import { LocalBackend } from "../../src/backends/local.js";
import { MountTable } from "../../src/backends/mounts.js";
import { Envelope } from "../../src/crypto/envelope.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import type { RotationStep } from "../../src/domain.js";
import { BrokerError } from "../../src/errors.js";
import { rotationRuleFor } from "../../src/policy/evaluate.js";
import { loadPolicyText } from "../../src/policy/load.js";
import type { RotationRule } from "../../src/policy/types.js";
import { secretsFromMounts } from "../../src/rotation/broker-secrets.js";
import { RotationMachine } from "../../src/rotation/machine.js";
import { storedPendingValues } from "../../src/rotation/pending-values.js";
import { strategyFor, type BoundStrategy } from "../../src/rotation/registry.js";
import { openPostgresStore } from "../../src/store/postgres.js";
import type { Store } from "../../src/store/store.js";
import { TEST_CHAIN_KEY } from "../helpers/chain-key.js";
import { openTempStore } from "../helpers/temp-store.js";
import { createTestSchema, describePostgres } from "../store/postgres-helpers.js";

const T0 = 1_700_000_000_000;
const LEASE_MS = 60_000;
const PATH = "rotated/api";
const INITIAL = Buffer.from("initial-value-0123456789");
const STEPS: readonly RotationStep[] = ["create", "set", "test", "finish"];

const policy = (() => {
  const result = loadPolicyText(`rotation:\n  - secrets: ["rotated/**"]\n    every: 30d\n    strategy: { generate: { length: 40 } }\n`, "policies/rotation.yaml");
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join("\n"));
  return result.policy;
})();
const ruleFor = (path: string): RotationRule | undefined => rotationRuleFor(policy, path);
const rule = ruleFor(PATH)!;

type Crash = { step: RotationStep; when: "before" | "after" };

/**
 * The real strategy of a rule, stopping forever at `crash` (a killed broker runs nothing more);
 * `reached` resolves when it stops there.
 */
function dyingAt(crash: Crash): { strategyFor: typeof strategyFor; reached: Promise<void> } {
  let stop!: () => void;
  const reached = new Promise<void>((resolve) => (stop = resolve));
  const never = <T>(): Promise<T> => {
    stop();
    return new Promise<T>(() => undefined);
  };
  return {
    reached,
    strategyFor(config) {
      const real = strategyFor(config);
      const wrap =
        <A extends unknown[], R>(step: RotationStep, run: (...args: A) => Promise<R>) =>
        async (...args: A): Promise<R> => {
          if (crash.step === step && crash.when === "before") return never();
          const result = await run(...args);
          return crash.step === step ? never() : result;
        };
      return { ...real, create: wrap("create", real.create), set: wrap("set", real.set), test: wrap("test", real.test), finish: wrap("finish", real.finish) };
    },
  };
}

/** The real strategy of a rule whose `step` fails as a target refusing the value would. */
function failingAt(step: RotationStep, code: "rotation_failed" | "backend_unavailable" = "rotation_failed"): typeof strategyFor {
  return (config) => {
    const real: BoundStrategy = strategyFor(config);
    return { ...real, [step]: () => Promise.reject(new BrokerError(code, `the target refused step ${step}`)) };
  };
}

interface Subject {
  store: Store;
  close(): Promise<void>;
}

function machineSuite(name: string, open: () => Promise<Subject>): void {
  describe(`rotation machine: ${name}`, () => {
    let subject: Subject;
    let store: Store;
    let local: LocalBackend;
    let envelope: Envelope;
    let keyDir: string;
    let now: number;
    const clock = () => now;

    beforeEach(async () => {
      subject = await open();
      store = subject.store;
      store.useAuditChainKey(TEST_CHAIN_KEY);
      keyDir = mkdtempSync(join(tmpdir(), "credbroker-machine-"));
      envelope = new Envelope(MasterKeyRing.create(join(keyDir, "master.key")));
      now = T0;
      local = new LocalBackend(store, envelope, clock);
      await local.write(PATH, INITIAL, { createdBy: "test" });
    });

    afterEach(async () => {
      await subject.close();
      rmSync(keyDir, { recursive: true, force: true });
    });

    /** A broker's machine on the shared store, as a restarted broker builds it. */
    function machine(owner: string, strategies?: typeof strategyFor) {
      const mounts = new MountTable([], local);
      return new RotationMachine({
        store,
        mounts,
        secrets: secretsFromMounts(mounts),
        pending: storedPendingValues({ store, envelope, clock }),
        audit: new AuditWriter(store, undefined),
        clock,
        owner,
        leaseMs: LEASE_MS,
        ...(strategies === undefined ? {} : { strategyFor: strategies }),
      });
    }

    const auditOf = async () => store.queryAudit({ resource: PATH, limit: 1000 });

    it("rotates: one new current version, the old one kept, every transition audited without the value", async () => {
      const ended = await machine("broker-a").start(PATH, rule);

      expect(ended).toMatchObject({ state: "done", lastStep: "finish", version: 2, errorCode: null, owner: null, strategy: "generate", ruleRef: "policies/rotation.yaml:2#0" });
      const current = (await local.read(PATH))!;
      expect(current.version).toBe(2);
      expect(current.bytes.equals(INITIAL)).toBe(false);
      expect((await local.read(PATH, 1))!.bytes.equals(INITIAL)).toBe(true);
      expect(await store.getPendingValue(ended.id)).toBeUndefined();

      const records = await auditOf();
      expect(records.filter((r) => r.action.startsWith("rotation.")).map((r) => [r.action, r.version])).toEqual([
        ["rotation.start", null],
        ["rotation.step", null],
        ["rotation.step", null],
        ["rotation.step", null],
        ["rotation.step", 2],
        ["rotation.finish", 2],
      ]);
      expect(records.every((r) => !r.action.startsWith("rotation.") || (r.reason.includes(ended.id) && r.reason.includes("generate") && r.reason.includes("policies/rotation.yaml:2#0")))).toBe(true);
      expect(JSON.stringify(records)).not.toContain(current.bytes.toString("utf8"));
      expect((await store.getRotation(ended.id))!.stepState).not.toContain(current.bytes.toString("utf8"));
    });

    it("refuses a second rotation of a secret while one is running", async () => {
      const dying = dyingAt({ step: "set", when: "before" });
      void machine("broker-a", dying.strategyFor).start(PATH, rule);
      await dying.reached;
      await expect(machine("broker-b").start(PATH, rule)).rejects.toMatchObject({ code: "conflict", message: `secret ${PATH} already has a rotation pending or running` });
    });

    it.each(STEPS.flatMap((step) => (["before", "after"] as const).map((when) => ({ step, when }))))(
      "a broker killed $when the work of $step: a new broker resumes, one new version, the old one kept, the pending value never served before finish",
      async (crash) => {
        const dying = dyingAt(crash);
        void machine("broker-a", dying.strategyFor).start(PATH, rule);
        await dying.reached;
        const [running] = await store.listRotations({ states: ["running"] });
        expect(running).toBeDefined();

        // Until finish, the read path serves the old version only, and the pending value sits encrypted apart.
        const pending = await storedPendingValues({ store, envelope, clock }).read(running!.id);
        if (crash.step !== "finish" || crash.when === "before") {
          expect((await local.read(PATH))).toMatchObject({ version: 1, bytes: INITIAL });
          expect(await local.versions(PATH)).toHaveLength(1);
        }
        if (pending !== undefined) {
          expect((await store.getPendingValue(running!.id))!.ciphertext.includes(pending)).toBe(false);
          expect(JSON.stringify(await auditOf())).not.toContain(pending.toString("utf8"));
        }

        // The dead broker's hold has not passed yet: nobody takes the rotation over.
        now = T0 + LEASE_MS - 1;
        expect(await machine("broker-b").resume(ruleFor)).toEqual([]);

        now = T0 + 2 * LEASE_MS;
        const [resumed, ...others] = await machine("broker-b").resume(ruleFor);
        expect(others).toEqual([]);
        expect(resumed).toMatchObject({ id: running!.id, state: "done", version: 2, lastStep: "finish", owner: null });

        const versions = await local.versions(PATH);
        expect(versions.map((v) => v.version)).toEqual([1, 2]);
        expect((await local.read(PATH, 1))!.bytes.equals(INITIAL)).toBe(true);
        const current = (await local.read(PATH))!;
        expect(current.version).toBe(2);
        // The value kept before the crash is the one that became current: create's first write won.
        if (pending !== undefined) expect(current.bytes.equals(pending)).toBe(true);
        expect(await store.getPendingValue(running!.id)).toBeUndefined();
        const actions = (await auditOf()).map((r) => r.action);
        expect(actions.filter((a) => a === "rotation.finish")).toHaveLength(1);
        expect(actions.at(-1)).toBe("rotation.finish");
      },
    );

    it.each(["create", "set", "test", "finish"] as const)("a failed %s rolls back: the old version stays current, the pending value is dropped, fail and rollback audited", async (step) => {
      const ended = await machine("broker-a", failingAt(step)).start(PATH, rule);

      expect(ended).toMatchObject({ state: "rolled_back", errorCode: "rotation_failed", version: null, owner: null });
      expect(await local.read(PATH)).toMatchObject({ version: 1, bytes: INITIAL });
      expect(await local.versions(PATH)).toHaveLength(1);
      expect(await store.getPendingValue(ended.id)).toBeUndefined();
      const actions = (await auditOf()).map((r) => r.action).filter((a) => a.startsWith("rotation."));
      expect(actions.slice(-2)).toEqual(["rotation.fail", "rotation.rollback"]);
      // Ended: the next rotation may start.
      expect(await machine("broker-a").start(PATH, rule)).toMatchObject({ state: "done", version: 2 });
    });

    it("a rollback that fails ends the rotation failed and keeps its pending value", async () => {
      const strategies: typeof strategyFor = (config) => {
        const real = failingAt("test")(config);
        return { ...real, rollback: () => Promise.reject(new BrokerError("backend_unavailable", "the target did not answer")) };
      };
      const ended = await machine("broker-a", strategies).start(PATH, rule);
      expect(ended).toMatchObject({ state: "failed", errorCode: "rotation_failed" });
      expect(await store.getPendingValue(ended.id)).toBeDefined();
      expect(await local.read(PATH)).toMatchObject({ version: 1, bytes: INITIAL });
      expect((await auditOf()).at(-1)).toMatchObject({ action: "rotation.fail", outcome: "error" });
    });

    it("a rotation whose rule is gone cannot be resumed: it ends failed with conflict, its pending value kept", async () => {
      const dying = dyingAt({ step: "set", when: "after" });
      void machine("broker-a", dying.strategyFor).start(PATH, rule);
      await dying.reached;
      now = T0 + 2 * LEASE_MS;
      const [ended] = await machine("broker-b").resume(() => undefined);
      expect(ended).toMatchObject({ state: "failed", errorCode: "conflict", lastStep: "create" });
      expect(await store.getPendingValue(ended!.id)).toBeDefined();
      expect(await local.read(PATH)).toMatchObject({ version: 1, bytes: INITIAL });
    });

    it.each(["../etc/passwd", "rotated//api", "rotated/api#password", ""])("refuses to rotate the malformed path %j before recording anything", async (path) => {
      await expect(machine("broker-a").start(path, rule)).rejects.toMatchObject({ code: "invalid_path" });
      expect(await store.listRotations({})).toEqual([]);
    });

    it("a rotation whose recorded state is not readable JSON ends failed with conflict on resume, and the next is resumed", async () => {
      const damaged = { secretPath: PATH, strategy: "generate", ruleRef: "policies/rotation.yaml:2#0", state: "running" as const, lastStep: "create" as const, attempt: 1, errorCode: null, version: null, owner: "dead", leaseUntil: T0, createdAt: T0, updatedAt: T0, endedAt: null };
      await store.insertRotation({ ...damaged, id: "00000000-0000-4000-8000-000000000001", stepState: "{not json" });
      await store.insertRotation({ ...damaged, id: "00000000-0000-4000-8000-000000000002", secretPath: "rotated/other", lastStep: null, stepState: "{}", createdAt: T0 + 1 });
      await local.write("rotated/other", INITIAL, { createdBy: "test" });
      now = T0 + 1;
      const ended = await machine("broker-b").resume(ruleFor);
      expect(ended.map((r) => [r.secretPath, r.state, r.errorCode])).toEqual([
        [PATH, "failed", "conflict"],
        ["rotated/other", "done", null],
      ]);
      expect(await local.read(PATH)).toMatchObject({ version: 1, bytes: INITIAL });
    });

    it("two brokers starting the same secret at once: one rotates, the other gets conflict", async () => {
      const results = await Promise.allSettled([machine("broker-a").start(PATH, rule), machine("broker-b").start(PATH, rule)]);
      expect(results.filter((r) => r.status === "fulfilled").map((r) => r.value.state)).toEqual(["done"]);
      expect(results.filter((r) => r.status === "rejected").map((r) => (r.reason as BrokerError).code)).toEqual(["conflict"]);
      expect((await local.versions(PATH)).map((v) => v.version)).toEqual([1, 2]);
    });

    it("two brokers resuming at once: each dead rotation is taken over by exactly one of them", async () => {
      const dying = dyingAt({ step: "test", when: "after" });
      void machine("broker-a", dying.strategyFor).start(PATH, rule);
      await dying.reached;
      now = T0 + 2 * LEASE_MS;
      const [byB, byC] = await Promise.all([machine("broker-b").resume(ruleFor), machine("broker-c").resume(ruleFor)]);
      expect([...byB!, ...byC!].map((r) => r.state)).toEqual(["done"]);
      expect((await local.versions(PATH)).map((v) => v.version)).toEqual([1, 2]);
    });

    it("a step stopped by shutdown (the abort signal) is not rolled back: the rotation stays running, to be resumed", async () => {
      const shutdown = new AbortController();
      const stopping: typeof strategyFor = (config) => {
        const real = strategyFor(config);
        return {
          ...real,
          set() {
            shutdown.abort();
            return Promise.reject(new BrokerError("backend_unavailable", "the call was aborted"));
          },
          rollback: () => Promise.reject(new Error("rollback must not run on shutdown")),
        };
      };
      const mounts = new MountTable([], local);
      const stopped = new RotationMachine({ store, mounts, secrets: secretsFromMounts(mounts), pending: storedPendingValues({ store, envelope, clock }), audit: new AuditWriter(store, undefined), clock, owner: "broker-a", leaseMs: LEASE_MS, strategyFor: stopping, signal: shutdown.signal });
      await expect(stopped.start(PATH, rule)).rejects.toMatchObject({ code: "backend_unavailable" });
      const [running] = await store.listRotations({ states: ["running"] });
      expect(running).toMatchObject({ lastStep: "create", owner: "broker-a" });
      now = T0 + 2 * LEASE_MS;
      expect(await machine("broker-b").resume(ruleFor)).toMatchObject([{ id: running!.id, state: "done", version: 2 }]);
    });

    it("a resuming broker whose hold is taken over in turn leaves that rotation out and goes on with the others", async () => {
      for (const path of [PATH, "rotated/second"]) {
        if (path !== PATH) await local.write(path, INITIAL, { createdBy: "test" });
        const dying = dyingAt({ step: "create", when: "after" });
        void machine("broker-a", dying.strategyFor).start(path, ruleFor(path)!);
        await dying.reached;
        now += 1;
      }
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let reached!: () => void;
      const atSet = new Promise<void>((resolve) => (reached = resolve));
      const slowFirstSet: typeof strategyFor = (config) => {
        const real = strategyFor(config);
        return {
          ...real,
          async set(context, state) {
            if (context.secretPath === PATH) {
              reached();
              await gate;
            }
            return real.set(context, state);
          },
        };
      };
      now = T0 + 2 * LEASE_MS;
      const slow = machine("broker-b", slowFirstSet).resume(ruleFor);
      await atSet;
      now = T0 + 4 * LEASE_MS;
      expect((await machine("broker-c").resume(ruleFor)).map((r) => [r.secretPath, r.state])).toEqual([
        [PATH, "done"],
        ["rotated/second", "done"],
      ]);
      release();
      expect(await slow).toEqual([]);
      expect(await local.versions(PATH)).toHaveLength(2);
      expect(await local.versions("rotated/second")).toHaveLength(2);
    });

    it("a broker whose hold was taken over records nothing more and stops with conflict", async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let reached!: () => void;
      const atSet = new Promise<void>((resolve) => (reached = resolve));
      const slowSet: typeof strategyFor = (config) => {
        const real = strategyFor(config);
        return {
          ...real,
          async set(context, state) {
            reached();
            await gate;
            return real.set(context, state);
          },
        };
      };
      const slow = machine("broker-a", slowSet).start(PATH, rule);
      await atSet;
      now = T0 + 2 * LEASE_MS;
      const [resumed] = await machine("broker-b").resume(ruleFor);
      expect(resumed).toMatchObject({ state: "done", version: 2 });
      release();
      await expect(slow).rejects.toMatchObject({ code: "conflict" });
      expect(await local.versions(PATH)).toHaveLength(2);
    });
  });
}

machineSuite("sqlite", async () => {
  const { store, close } = openTempStore("machine");
  return { store, close };
});

describePostgres("postgres", () => {
  machineSuite("postgres", async () => {
    const schema = await createTestSchema("machine");
    const store = await openPostgresStore({ url: schema.url, poolSize: 4 });
    return {
      store,
      async close() {
        await store.close();
        await schema.drop();
      },
    };
  });
});
