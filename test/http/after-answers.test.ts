/** AfterAnswers: request bookkeeping deferred until after the turn's answers and the audit hand-off. */
import { describe, expect, it } from "vitest";
import { AfterAnswers } from "../../src/http/after-answers.js";

const nextImmediate = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("AfterAnswers", () => {
  it("runs nothing at once, then every task once, in order, in one later turn", async () => {
    const ran: string[] = [];
    const later = new AfterAnswers((error) => ran.push(`error ${String(error)}`));
    later.defer(() => ran.push("a"));
    later.defer(() => ran.push("b"));
    await Promise.resolve();
    expect(ran).toEqual([]);
    await nextImmediate();
    expect(ran).toEqual(["a", "b"]);
    later.defer(() => ran.push("c"));
    await nextImmediate();
    expect(ran).toEqual(["a", "b", "c"]);
  });

  it("runs after a setImmediate queued before its first task (the audit writer's hand-off)", async () => {
    const ran: string[] = [];
    const later = new AfterAnswers(() => undefined);
    setImmediate(() => ran.push("hand-off"));
    later.defer(() => ran.push("metrics"));
    await nextImmediate();
    await nextImmediate();
    expect(ran).toEqual(["hand-off", "metrics"]);
  });

  it("reports a task that throws and still runs the others", async () => {
    const ran: string[] = [];
    const errors: unknown[] = [];
    const later = new AfterAnswers((error) => errors.push(error));
    later.defer(() => ran.push("first"));
    later.defer(() => {
      throw new Error("label out of range");
    });
    later.defer(() => ran.push("third"));
    await nextImmediate();
    expect(ran).toEqual(["first", "third"]);
    expect(errors).toEqual([new Error("label out of range")]);
  });
});
