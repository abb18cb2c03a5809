import { spawn } from "node:child_process";

import { BrokerError } from "../../errors.js";
import type { HookStep } from "../../policy/rotation-options.js";
import { hookContext, hookStrategy } from "../hook.js";
import type { RetiringStrategy, RotationContext } from "../strategy.js";

/**
 * `command`: an operator's program applies the new value to its system.
 *
 * The program (`argv`, absolute path, no shell) runs once per step listed in `steps` (default
 * `[set]`) with the step's value on stdin (set, test: the new value; rollback: the current one;
 * retire: nothing) and the JSON {@link hookContext} in the environment variable
 * `CREDBROKER_ROTATION`. Its environment holds nothing else but `PATH=/usr/bin:/bin`, so the
 * broker's own credentials never reach it. Exit code 0 means done; anything else fails the step;
 * after `timeout` it is killed (SIGKILL). Its stdout is ignored; the end of its stderr goes to
 * the log with every occurrence of the value removed.
 *
 * A step may run again after a crash, so the program must be idempotent for the same
 * `rotation_id` and step. finish writes the new version to the backend that holds the secret.
 */

export const ROTATION_CONTEXT_ENV = "CREDBROKER_ROTATION";
const CHILD_PATH = "/usr/bin:/bin";
const STDERR_KEEP_BYTES = 2048;

type Context = RotationContext<"command">;

export const commandStrategy: RetiringStrategy<"command"> = hookStrategy("command", (context, step, value) => runProgram(context, step, value ?? Buffer.alloc(0)));

function runProgram(context: Context, step: HookStep, stdin: Buffer): Promise<void> {
  const { argv, timeoutSeconds } = context.options;
  const [program, ...args] = argv;
  const target = `command ${program}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      shell: false,
      stdio: ["pipe", "ignore", "pipe"],
      env: { PATH: CHILD_PATH, [ROTATION_CONTEXT_ENV]: JSON.stringify(hookContext(context, step)) },
      timeout: timeoutSeconds * 1000,
      killSignal: "SIGKILL",
      signal: context.signal,
    });
    let stderr = Buffer.alloc(0);
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = Buffer.concat([stderr, chunk]).subarray(-STDERR_KEEP_BYTES);
    });
    // A program that exits without reading stdin closes the pipe: that is its business, not an error.
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin);
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (error.name === "AbortError") {
        reject(new BrokerError("backend_unavailable", `${target}: step ${step} was aborted`, { data: { target } }));
        return;
      }
      reject(new BrokerError("rotation_failed", `${target} could not be started (${error.code ?? error.name})`, { data: { target } }));
    });
    child.on("close", (code, signal) => {
      const detail = redact(stderr.toString("utf8"), stdin);
      if (code === 0) resolve();
      else if (signal === "SIGKILL" && !context.signal.aborted) {
        reject(new BrokerError("backend_unavailable", `${target} did not finish step ${step} within ${timeoutSeconds}s and was killed`, { detail, data: { target } }));
      } else if (code !== null) {
        reject(new BrokerError("rotation_failed", `${target} failed step ${step} with exit code ${code}`, { detail, data: { target, exit_code: code } }));
      } else {
        reject(new BrokerError("rotation_failed", `${target} was ended by ${signal ?? "a signal"} during step ${step}`, { detail, data: { target } }));
      }
    });
  });
}

/** The program's stderr without the value, should it have echoed it. */
function redact(text: string, value: Buffer): string {
  const secret = value.toString("utf8");
  return secret.length === 0 ? text : text.split(secret).join("[redacted]");
}
