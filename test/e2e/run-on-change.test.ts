/**
 * End to end, wrapper path: what `credbroker run --on-change` does to a running command when the
 * broker announces a new version of one of its secrets.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testSecret } from "../helpers/broker.js";
import { node, startRunBroker, type RunBroker } from "../helpers/run-wrapper.js";
import { waitFor } from "../helpers/wait.js";

/**
 * Puts new versions of `tickets/other` until the wrapper shows it heard of one. Real processes
 * and a real event stream: a version put before the wrapper follows the stream is missed, so it
 * puts again every half second rather than guessing how long the subscription takes.
 */
async function untilHeard(r: RunBroker, label: string, heard: () => boolean): Promise<void> {
  await waitFor(
    "the wrapper to hear of a new version",
    async () => {
      if (heard()) return true;
      await r.b.putSecret("tickets/other", testSecret(label));
      await new Promise((resolve) => setTimeout(resolve, 500));
      return heard();
    },
    30_000,
  );
}

describe("credbroker run --on-change", () => {
  let r: RunBroker;
  beforeAll(async () => {
    r = await startRunBroker();
  });
  afterAll(() => r.b.close());

  it("sends the chosen signal instead of restarting with --on-change signal:SIGHUP", async () => {
    await r.b.putSecret("tickets/other", testSecret("other-v1"));
    const script = "process.on('SIGHUP', () => process.stdout.write('hup\\n')); process.stdout.write('ready ' + process.pid + '\\n'); setInterval(() => {}, 1000);";
    const wrapper = r.spawnRun(["run", "--on-change", "signal:SIGHUP", "--env", "OTHER=tickets/other", "--", ...node(script)]);
    try {
      await waitFor("the command to start", () => wrapper.out().includes("ready") || (wrapper.err().length > 0 && !wrapper.err().includes("warn") && Promise.reject(new Error(wrapper.err()))));
      await waitFor("the event stream", async () => (await r.b.admin<{ leases: Array<{ secret: string; state: string }> }>("GET", "/v1/admin/leases?server=ticket-mcp")).body.leases.some((l) => l.secret === "tickets/other" && l.state === "active"));
      await untilHeard(r, "other-next", () => wrapper.out().includes("hup"));
      expect(wrapper.out().match(/ready/g)).toHaveLength(1);
      expect(wrapper.err()).toContain("new value for OTHER: sending SIGHUP");
    } finally {
      wrapper.child.kill("SIGTERM");
      await wrapper.code;
    }
  });

  it.each([
    { mode: "exit", expectation: "stops the command and exits with its status" },
    { mode: "none", expectation: "leaves the command running untouched" },
  ])("with --on-change $mode, on a new version it $expectation", async ({ mode }) => {
    await r.b.putSecret("tickets/other", testSecret(`other-${mode}`));
    const script = "process.on('SIGTERM', () => process.exit(9)); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);";
    const wrapper = r.spawnRun(["run", "--on-change", mode, "--env", "OTHER=tickets/other", "--", ...node(script)]);
    try {
      await waitFor("the command to start", () => wrapper.out().includes("ready"));
      await untilHeard(r, `other-${mode}-next`, () => wrapper.err().includes("new value for OTHER"));
      if (mode === "exit") {
        expect(await wrapper.code).toBe(9);
        expect(wrapper.err()).toContain("new value for OTHER: stopping");
      } else {
        // Showing that a real process does not exit needs real time to pass; a second is ample
        // for the restart it would otherwise start at once.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(wrapper.exitCode()).toBeUndefined();
        expect(wrapper.out().match(/ready/g)).toHaveLength(1);
      }
    } finally {
      wrapper.child.kill("SIGTERM");
      await wrapper.code;
    }
  });
});
