/**
 * One broker per data directory. `credbroker dev` keeps its SQLite file, master key and admin
 * operator in one folder; a second process on it would reissue the admin token (revoking the
 * first one's) and write the same SQLite file from two row caches. The lock is a file created
 * exclusively (O_EXCL) holding the owner's pid; a lock whose pid no longer runs is stale and taken.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CliError } from "./errors.js";

export const LOCK_FILE_NAME = "credbroker.lock";

export interface DataDirLock {
  readonly file: string;
  /** Removes the lock file if it is still ours; idempotent. */
  release(): void;
}

/**
 * Takes the lock of `dataDir` for this process, or throws CliError (exit 1) naming the pid that
 * holds it. The lock is released by `release()` or, at the latest, when the process exits.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = join(dataDir, LOCK_FILE_NAME);
  // Two attempts: the second follows the removal of a stale lock. A rival that took the lock in
  // between wins, and this process refuses like any second start.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (tryCreate(file)) return held(file);
    const holder = readHolder(file);
    if (holder !== undefined && isRunning(holder)) {
      throw new CliError(`another credbroker (pid ${holder}) is using the data directory ${dataDir}; stop it first, or use another --data-dir`, 1);
    }
    removeIfHolder(file, holder);
  }
  throw new CliError(`could not take the lock ${file}; another credbroker is starting on the same data directory`, 1);
}

function tryCreate(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new CliError(`cannot create the lock ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`, 1);
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** The pid in the lock file; undefined when it is unreadable or holds no pid (a torn write). */
function readHolder(file: string): number | undefined {
  try {
    const text = readFileSync(file, "utf8").trim();
    return /^\d{1,10}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user; it still holds the folder.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes a stale lock, unless another process replaced it since it was read. */
function removeIfHolder(file: string, holder: number | undefined): void {
  if (readHolder(file) !== holder) return;
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new CliError(`cannot remove the stale lock ${file}`, 1);
  }
}

function held(file: string): DataDirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    if (readHolder(file) === process.pid) removeIfHolder(file, process.pid);
  };
  process.on("exit", release);
  return { file, release };
}
