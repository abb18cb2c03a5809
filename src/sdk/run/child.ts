/** The wrapped process: start it, stop it gently then firmly, read its exit status the shell way. */
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";

export interface ChildSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** `inherit`: the child uses the wrapper's stdin and stdout; `pipe`: the wrapper relays them. stderr is always inherited. */
  stdio: "inherit" | "pipe";
}

export function startChild(spec: ChildSpec): ChildProcess {
  return spawn(spec.command, spec.args, {
    env: spec.env,
    stdio: spec.stdio === "inherit" ? ["inherit", "inherit", "inherit"] : ["pipe", "pipe", "inherit"],
    windowsHide: true,
  });
}

/** Whether the process has ended (exited or killed). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves once the child has exited: SIGTERM first, SIGKILL after `graceMs`. */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (hasExited(child) || child.pid === undefined) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** The exit status a shell would report: the code, or 128 + the signal's number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal ? constants.signals[signal] : undefined;
  return number === undefined ? 1 : 128 + number;
}

export function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}
