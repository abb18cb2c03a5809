/**
 * The rotation strategy contract: every strategy, against its real target system, must pass
 * these cases (test/rotation/*.test.ts run it). A fixture seeds the secret with a working value
 * and says whether the target accepts a value (a real login, the receiver's record, the program's
 * output), so the cases speak about the target, not about the strategy's internals.
 */
import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { isWritable, type SecretBackend } from "../../src/backends/backend.js";
import type { StrategyKind } from "../../src/policy/rotation-options.js";
import { isRetiring, type PendingValues, type RotationContext, type RotationStrategy, type StepState } from "../../src/rotation/strategy.js";

export interface StrategyFixture<K extends StrategyKind> {
  readonly strategy: RotationStrategy<K>;
  /** A fresh context for `rotationId` (as a restarted broker would build one), sharing the fixture's PendingValues. */
  context(rotationId: string): RotationContext<K>;
  /** Whether the target system accepts `value` (the secret's value as consumers get it) right now. */
  accepts(value: Buffer): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * PendingValues as the state machine keeps them, minus the database: first write wins, values
 * are copies. Shared by every context of a fixture, as the rotations table is across restarts.
 */
export function pendingValuesForTests(): PendingValues & { readonly size: number } {
  const kept = new Map<string, Buffer>();
  return {
    get size() {
      return kept.size;
    },
    keep(rotationId, value) {
      if (!kept.has(rotationId)) kept.set(rotationId, Buffer.from(value));
      return Promise.resolve(Buffer.from(kept.get(rotationId)!));
    },
    read(rotationId) {
      const value = kept.get(rotationId);
      return Promise.resolve(value === undefined ? undefined : Buffer.from(value));
    },
  };
}

async function current(backend: SecretBackend, location: string) {
  const value = await backend.read(location);
  if (value === undefined) throw new Error("the fixture must seed the secret");
  return value;
}

async function versionCount(backend: SecretBackend, location: string): Promise<number | undefined> {
  return isWritable(backend) ? (await backend.versions(location)).length : undefined;
}

/** Runs create → set → test → finish, each step with a fresh context; answers every state. */
async function rotate<K extends StrategyKind>(fixture: StrategyFixture<K>, rotationId: string) {
  const { strategy } = fixture;
  const created = await strategy.create(fixture.context(rotationId));
  const set = await strategy.set(fixture.context(rotationId), created);
  const tested = await strategy.test(fixture.context(rotationId), set);
  const finished = await strategy.finish(fixture.context(rotationId), tested);
  return { states: [created, set, tested, finished.state], version: finished.version };
}

function expectNoValue(states: readonly StepState[], value: Buffer): void {
  const text = JSON.stringify(states);
  expect(text.includes(value.toString("utf8"))).toBe(false);
  for (const part of value.toString("utf8").split(/[^A-Za-z0-9]+/).filter((piece) => piece.length >= 12)) expect(text.includes(part)).toBe(false);
}

export function rotationStrategyContract<K extends StrategyKind>(name: string, create: () => Promise<StrategyFixture<K>>): void {
  describe(`rotation strategy contract: ${name}`, () => {
    let fixture: StrategyFixture<K>;
    beforeAll(async () => {
      fixture = await create();
    });
    afterAll(async () => {
      await fixture?.close();
    });

    const holderOf = () => fixture.context(randomUUID()).holder;

    it("a full rotation makes a new current version that the target accepts, and no state holds the value", async () => {
      const { backend, location } = holderOf();
      const before = await current(backend, location);
      expect(await fixture.accepts(before.bytes)).toBe(true);

      const { states, version } = await rotate(fixture, randomUUID());

      const after = await current(backend, location);
      expect(after.version).toBe(version);
      expect(version).toBeGreaterThan(before.version);
      expect(after.bytes.equals(before.bytes)).toBe(false);
      expect(await fixture.accepts(after.bytes)).toBe(true);
      expectNoValue(states, after.bytes);
    });

    it("every step can run again for the same rotation id (a resumed rotation) with the same outcome", async () => {
      const { backend, location } = holderOf();
      const rotationId = randomUUID();
      const countBefore = await versionCount(backend, location);
      const { strategy } = fixture;

      const created = await strategy.create(fixture.context(rotationId));
      expect(await strategy.create(fixture.context(rotationId))).toEqual(created);
      const set = await strategy.set(fixture.context(rotationId), created);
      expect(await strategy.set(fixture.context(rotationId), created)).toEqual(set);
      const tested = await strategy.test(fixture.context(rotationId), set);
      expect(await strategy.test(fixture.context(rotationId), set)).toEqual(tested);
      const finished = await strategy.finish(fixture.context(rotationId), tested);
      expect(await strategy.finish(fixture.context(rotationId), tested)).toEqual(finished);

      const after = await current(backend, location);
      expect(after.version).toBe(finished.version);
      if (countBefore !== undefined) expect(await versionCount(backend, location)).toBe(countBefore + 1);
      expect(await fixture.accepts(after.bytes)).toBe(true);
    });

    it("a rollback after set and test leaves the current version current and working", async () => {
      const { backend, location } = holderOf();
      const before = await current(backend, location);
      const rotationId = randomUUID();
      const { strategy } = fixture;
      const created = await strategy.create(fixture.context(rotationId));
      const set = await strategy.set(fixture.context(rotationId), created);
      const tested = await strategy.test(fixture.context(rotationId), set);

      await strategy.rollback(fixture.context(rotationId), tested);
      await strategy.rollback(fixture.context(rotationId), tested);

      const after = await current(backend, location);
      expect(after.version).toBe(before.version);
      expect(after.bytes.equals(before.bytes)).toBe(true);
      expect(await fixture.accepts(before.bytes)).toBe(true);
    });

    it("a rollback before create completed changes nothing", async () => {
      const { backend, location } = holderOf();
      const before = await current(backend, location);
      await fixture.strategy.rollback(fixture.context(randomUUID()), {});
      const after = await current(backend, location);
      expect(after.version).toBe(before.version);
      expect(await fixture.accepts(before.bytes)).toBe(true);
    });

    it("retire, where the strategy has it, can run twice after finish and keeps the new value working", async (context) => {
      const { strategy } = fixture;
      if (!isRetiring(strategy)) {
        context.skip(`${name} has no retire step: its previous version simply stops being served`);
        return;
      }
      const rotationId = randomUUID();
      const { states } = await rotate(fixture, rotationId);
      const finished = states[3]!;
      await strategy.retire(fixture.context(rotationId), finished);
      await strategy.retire(fixture.context(rotationId), finished);
      const { backend, location } = holderOf();
      expect(await fixture.accepts((await current(backend, location)).bytes)).toBe(true);
    });
  });
}
