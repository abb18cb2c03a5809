/** The driver's handle on a forked bench/target.ts: start, request/reply over IPC, stop. */
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AuditCounts, TargetMessage, TargetReady, TargetReply, TargetRequest, TargetSpec, TargetStats } from "./protocol.js";

/** This checkout; `--compare` starts targets from another one (a worktree of the ref). */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

export class TargetProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (reply: TargetReply) => void; reject: (error: Error) => void }>();
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly ready: TargetReady,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    child.on("message", (raw) => {
      const reply = raw as TargetMessage;
      if ("type" in reply) return;
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if (reply.op === "error") waiter.reject(new Error(`bench target: ${reply.message}`));
      else waiter.resolve(reply);
    });
    child.once("exit", (code) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`bench target exited (code ${code})`));
      this.waiting.clear();
    });
  }

  /**
   * Forks `<root>/bench/target.ts` (TypeScript through tsx) and waits until it listens and is set
   * up. `root` defaults to this checkout; `wrapper` is a command that runs node (`valgrind ...`).
   */
  static start(spec: TargetSpec, nodeFlags: string[] = [], root = REPO_ROOT, wrapper: string[] = []): Promise<TargetProcess> {
    const node = ["--import", "tsx", ...nodeFlags];
    // A wrapper (e.g. valgrind) runs node itself; the IPC channel survives its exec.
    const child = fork(join(root, "bench", "target.ts"), [JSON.stringify(spec)], {
      cwd: root,
      ...(wrapper.length > 0 ? { execPath: wrapper[0], execArgv: [...wrapper.slice(1), process.execPath, ...node] } : { execArgv: node }),
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`bench target exited during setup (code ${code})`));
      child.once("exit", onExit);
      child.once("error", reject);
      child.on("message", function onReady(raw) {
        const message = raw as TargetMessage;
        if (!("type" in message) || message.type !== "ready") return;
        child.off("message", onReady);
        child.off("exit", onExit);
        resolve(new TargetProcess(child, message));
      });
    });
  }

  get pid(): number {
    return this.ready.pid;
  }

  private ask(request: TargetRequest): Promise<TargetReply> {
    return new Promise((resolve, reject) => {
      this.waiting.set(request.id, { resolve, reject });
      this.child.send(request);
    });
  }

  async stats(): Promise<TargetStats> {
    const reply = await this.ask({ id: this.nextId++, op: "stats" });
    if (reply.op !== "stats") throw new Error(`bench target answered ${reply.op} to stats`);
    return reply.stats;
  }

  async auditCounts(): Promise<AuditCounts> {
    const reply = await this.ask({ id: this.nextId++, op: "audit-counts" });
    if (reply.op !== "audit-counts") throw new Error(`bench target answered ${reply.op} to audit-counts`);
    return reply.counts;
  }

  async profileStart(samplingIntervalMicros: number): Promise<void> {
    await this.ask({ id: this.nextId++, op: "profile-start", samplingIntervalMicros });
  }

  async profileStop(file: string): Promise<void> {
    await this.ask({ id: this.nextId++, op: "profile-stop", file });
  }

  /** Asks the target to close (draining its audit queue) and waits for the process to exit. */
  async stop(): Promise<void> {
    await this.ask({ id: this.nextId++, op: "stop" });
    await this.exited;
  }
}
