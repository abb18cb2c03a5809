import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { evaluate } from "../../src/policy/evaluate.js";
import { PolicyHolder, type ReloadOutcome } from "../../src/policy/watch.js";
import { yaml } from "./helpers.js";

const grant = (secret: string) =>
  yaml("servers:", "  app-mcp:", "    allow:", `      - secrets: ["${secret}"]`, "        actions: [read]");

/** Collects watcher outcomes and lets a test wait for the next one without fixed sleeps. */
function recorder() {
  const outcomes: ReloadOutcome[] = [];
  const waiters: Array<() => void> = [];
  return {
    outcomes,
    onReload(outcome: ReloadOutcome) {
      outcomes.push(outcome);
      waiters.splice(0).forEach((wake) => wake());
    },
    /** Resolves once `count` outcomes have been seen. */
    async waitFor(count: number, timeoutMs = 5_000): Promise<ReloadOutcome> {
      const deadline = Date.now() + timeoutMs;
      while (outcomes.length < count) {
        if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for reload #${count}, saw ${outcomes.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return outcomes[count - 1]!;
    },
  };
}

const canRead = (holder: PolicyHolder, secretPath: string) =>
  evaluate(holder.current(), { serverId: "app-mcp", secretPath, action: "read" }).allowed;

describe("PolicyHolder", () => {
  let root: string;
  let dir: string;
  let stop: (() => void) | undefined;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "credbroker-watch-"));
    dir = join(root, "policies");
  });
  afterEach(() => {
    stop?.();
    stop = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  it("holds the empty policy until the first reload", () => {
    mkdirSync(dir);
    writeFileSync(join(dir, "app.yaml"), grant("app/a"));
    const holder = new PolicyHolder({ dir });
    expect(canRead(holder, "app/a")).toBe(false);
    expect(holder.reload()).toEqual({ ok: true, files: [join(dir, "app.yaml")], changed: true });
    expect(canRead(holder, "app/a")).toBe(true);
    expect(holder.reload()).toEqual({ ok: true, files: [join(dir, "app.yaml")], changed: false });
  });

  it("keeps the last good set when a reload finds problems", () => {
    mkdirSync(dir);
    writeFileSync(join(dir, "app.yaml"), grant("app/a"));
    const holder = new PolicyHolder({ dir });
    holder.reload();
    const good = holder.current();
    writeFileSync(join(dir, "app.yaml"), grant("app/b") + "oops: [\n");
    const outcome = holder.reload();
    expect(outcome.ok).toBe(false);
    expect(holder.current()).toBe(good);
    expect(canRead(holder, "app/a")).toBe(true);
    expect(canRead(holder, "app/b")).toBe(false);
  });

  it("never half-applies: one bad file keeps every file's old rules", () => {
    mkdirSync(dir);
    writeFileSync(join(dir, "a.yaml"), grant("app/a"));
    const holder = new PolicyHolder({ dir });
    holder.reload();
    writeFileSync(join(dir, "b.yaml"), grant("app/b"));
    writeFileSync(join(dir, "c.yaml"), "servers: {app-mcp: {allow: [{secrets: [app/c], actions: [write]}]}}\n");
    expect(holder.reload()).toMatchObject({ ok: false, problems: [{ file: join(dir, "c.yaml"), line: 1 }] });
    expect(canRead(holder, "app/b")).toBe(false);
  });

  it("picks up a valid file written while watching", async () => {
    mkdirSync(dir);
    const holder = new PolicyHolder({ dir, debounceMs: 20 });
    holder.reload();
    const seen = recorder();
    stop = holder.watch(seen.onReload);
    writeFileSync(join(dir, "app.yaml"), grant("app/a"));
    expect(await seen.waitFor(1)).toEqual({ ok: true, files: [join(dir, "app.yaml")], changed: true });
    expect(canRead(holder, "app/a")).toBe(true);
  });

  it("reports an invalid file and keeps the old set, then recovers", async () => {
    mkdirSync(dir);
    writeFileSync(join(dir, "app.yaml"), grant("app/a"));
    const holder = new PolicyHolder({ dir, debounceMs: 20 });
    holder.reload();
    const seen = recorder();
    stop = holder.watch(seen.onReload);

    writeFileSync(join(dir, "app.yaml"), yaml("servers:", "  app-mcp:", "    allow:", "      - secrets: [app/b]", "        actions: [read]", "        max_ttl: forever"));
    const failed = await seen.waitFor(1);
    expect(failed).toMatchObject({ ok: false, problems: [{ file: join(dir, "app.yaml"), line: 6, column: 18 }] });
    expect(canRead(holder, "app/a")).toBe(true);
    expect(canRead(holder, "app/b")).toBe(false);

    writeFileSync(join(dir, "app.yaml"), grant("app/b"));
    expect(await seen.waitFor(2)).toMatchObject({ ok: true, changed: true });
    expect(canRead(holder, "app/b")).toBe(true);
  });

  it("follows editors that save by renaming a temporary file over the original", async () => {
    mkdirSync(dir);
    writeFileSync(join(dir, "app.yaml"), grant("app/a"));
    const holder = new PolicyHolder({ dir, debounceMs: 20 });
    holder.reload();
    const seen = recorder();
    stop = holder.watch(seen.onReload);
    writeFileSync(join(dir, ".app.yaml.tmp"), grant("app/b"));
    renameSync(join(dir, ".app.yaml.tmp"), join(dir, "app.yaml"));
    expect(await seen.waitFor(1)).toMatchObject({ ok: true, changed: true });
    expect(canRead(holder, "app/b")).toBe(true);
    expect(canRead(holder, "app/a")).toBe(false);
  });

  it("starts without the folder and loads it once it appears", async () => {
    const holder = new PolicyHolder({ dir, debounceMs: 20 });
    expect(holder.reload()).toEqual({ ok: true, files: [], changed: false });
    const seen = recorder();
    stop = holder.watch(seen.onReload);
    mkdirSync(dir);
    writeFileSync(join(dir, "app.yaml"), grant("app/a"));
    const outcome = await seen.waitFor(1);
    expect(outcome).toMatchObject({ ok: true, changed: true });
    // The folder may be seen before its file: wait until the file's grant has arrived.
    if (!canRead(holder, "app/a")) await seen.waitFor(2);
    expect(canRead(holder, "app/a")).toBe(true);
  });

  it("follows a folder that is removed and replaced by another", async () => {
    mkdirSync(dir);
    writeFileSync(join(dir, "app.yaml"), grant("app/a"));
    const holder = new PolicyHolder({ dir, debounceMs: 20 });
    holder.reload();
    const seen = recorder();
    stop = holder.watch(seen.onReload);
    const next = join(root, "policies.next");
    mkdirSync(next);
    writeFileSync(join(next, "app.yaml"), grant("app/b"));
    rmSync(dir, { recursive: true });
    renameSync(next, dir);
    // Depending on timing the removal is seen as its own reload (an empty policy) or not at all.
    for (let count = 1; !canRead(holder, "app/b"); count++) await seen.waitFor(count);
    expect(canRead(holder, "app/a")).toBe(false);

    writeFileSync(join(dir, "more.yaml"), grant("app/c"));
    for (let count = seen.outcomes.length + 1; !canRead(holder, "app/c"); count++) await seen.waitFor(count);
  });

  it("stops calling back once stopped", async () => {
    mkdirSync(dir);
    const holder = new PolicyHolder({ dir, debounceMs: 20 });
    holder.reload();
    const seen = recorder();
    holder.watch(seen.onReload)();
    writeFileSync(join(dir, "app.yaml"), grant("app/a"));
    await expect(seen.waitFor(1, 300)).rejects.toThrow(/waited/);
    expect(canRead(holder, "app/a")).toBe(false);
  });
});
