/**
 * A real broker process killed (SIGKILL) mid-rotation, on a SQLite file and on PostgreSQL: a new broker on the same
 * database takes the rotation over once the dead one's hold has passed and finishes it with
 * exactly one new version, the old one kept, the value the dead broker kept as pending the one
 * that becomes current. The child (test/e2e/fixtures/rotate-and-die.ts) runs the real machine and
 * the real generate strategy and stops at the chosen point before being killed.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

import { describe, expect, it } from "vitest";

import { AuditWriter } from "../../src/audit/writer.js";
import { LocalBackend } from "../../src/backends/local.js";
import { MountTable } from "../../src/backends/mounts.js";
import { Envelope } from "../../src/crypto/envelope.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import { rotationRuleFor } from "../../src/policy/evaluate.js";
import { loadPolicyText } from "../../src/policy/load.js";
import { secretsFromMounts } from "../../src/rotation/broker-secrets.js";
import { RotationMachine } from "../../src/rotation/machine.js";
import { storedPendingValues } from "../../src/rotation/pending-values.js";
import { openPostgresStore } from "../../src/store/postgres.js";
import type { Store } from "../../src/store/store.js";
import { openSqliteStore } from "../../src/store/sqlite.js";
import { TEST_CHAIN_KEY } from "../helpers/chain-key.js";
import { waitFor } from "../helpers/wait.js";
import { NODE_TS } from "../e2e/mcp.js";
import { createTestSchema, describePostgres } from "../store/postgres-helpers.js";

const ROOT = resolve(import.meta.dirname, "../..");
const PATH = "rotated/killed";
const INITIAL = Buffer.from("initial-value-0123456789");
/** Past any hold the dead broker took (the machine's default hold is 5 minutes). */
const LATER_MS = 60 * 60_000;

const loaded = loadPolicyText(`rotation:\n  - secrets: ["rotated/**"]\n    every: 30d\n    strategy: { generate: { length: 40 } }\n`, "policies/rotation.yaml");
if (!loaded.ok) throw new Error("test policy is invalid");
const policy = loaded.policy;

/** A database for one test: where the child opens it (file or URL), and how to drop it. */
interface Database {
  location: string;
  open(): Promise<Store>;
  drop(): Promise<void>;
}

async function open(database: Database, keyFile: string, clock: () => number) {
  const store = await database.open();
  store.useAuditChainKey(TEST_CHAIN_KEY);
  const envelope = new Envelope(MasterKeyRing.fromFile(keyFile));
  const local = new LocalBackend(store, envelope, clock);
  const mounts = new MountTable([], local);
  const machine = new RotationMachine({
    store,
    mounts,
    secrets: secretsFromMounts(mounts),
    pending: storedPendingValues({ store, envelope, clock }),
    audit: new AuditWriter(store, undefined),
    clock,
    owner: "survivor",
  });
  return { store, envelope, local, machine };
}

function killSuite(name: string, database: (dir: string) => Promise<Database>): void {
  describe(`rotation machine: a broker killed with SIGKILL mid-rotation (${name})`, () => {
    it.each(["before:create", "after:create", "after:set", "after:test", "after:finish"])(
      "killed at %s: the next broker resumes to exactly one new version",
      async (stopAt) => {
        const dir = mkdtempSync(join(tmpdir(), "credbroker-machine-kill-"));
        const keyFile = join(dir, "master.key");
        const db = await database(dir);
        try {
          MasterKeyRing.create(keyFile);
          const seeding = await open(db, keyFile, Date.now);
          await seeding.local.write(PATH, INITIAL, { createdBy: "test" });
          await seeding.store.close();

          const child = spawn(NODE_TS[0], [...NODE_TS.slice(1), "test/e2e/fixtures/rotate-and-die.ts", db.location, keyFile, PATH, stopAt], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
          let out = "";
          let err = "";
          child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
          child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
          const exited = new Promise<NodeJS.Signals | null>((resolveExit) => child.once("exit", (_code, signal) => resolveExit(signal)));
          try {
            await waitFor(`the doomed broker to stop at ${stopAt} (stderr: ${err})`, () => out.includes('"stopped"'), 60_000);
          } finally {
            child.kill("SIGKILL");
          }
          expect(await exited).toBe("SIGKILL");
          const rotationId = (JSON.parse(out.trim().split("\n").at(-1)!) as { stopped: string }).stopped;

          const survivor = await open(db, keyFile, () => Date.now() + LATER_MS);
          try {
            expect(await survivor.store.getRotation(rotationId)).toMatchObject({ state: "running", owner: expect.stringMatching(/^doomed:/) });
            const pending = await storedPendingValues({ store: survivor.store, envelope: survivor.envelope, clock: Date.now }).read(rotationId);

            const [resumed, ...others] = await survivor.machine.resume((path) => rotationRuleFor(policy, path));
            expect(others).toEqual([]);
            expect(resumed).toMatchObject({ id: rotationId, state: "done", version: 2 });
            expect((await survivor.local.versions(PATH)).map((v) => v.version)).toEqual([1, 2]);
            expect((await survivor.local.read(PATH, 1))!.bytes.equals(INITIAL)).toBe(true);
            const current = (await survivor.local.read(PATH))!;
            if (pending !== undefined) expect(current.bytes.equals(pending)).toBe(true);
            expect(await survivor.store.getPendingValue(rotationId)).toBeUndefined();
          } finally {
            await survivor.store.close();
          }
        } finally {
          await db.drop();
          rmSync(dir, { recursive: true, force: true });
        }
      },
      90_000,
    );
  });
}

killSuite("sqlite", async (dir) => {
  const file = join(dir, "broker.db");
  return { location: file, open: async () => openSqliteStore({ file }), drop: async () => undefined };
});

describePostgres("postgres", () => {
  killSuite("postgres", async () => {
    const schema = await createTestSchema("machine_kill");
    return { location: schema.url, open: () => openPostgresStore({ url: schema.url, poolSize: 2 }), drop: () => schema.drop() };
  });
});
