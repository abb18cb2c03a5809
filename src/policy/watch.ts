import { readdirSync, statSync, watch as watchPath, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";

import { emptyPolicySet } from "./compile.js";
import { loadPolicyDir, type LoadResult } from "./load.js";
import type { PolicyProblem, PolicySet } from "./types.js";

/**
 * Hot reload: the holder keeps the last good policy set and swaps in a new one only when the
 * whole folder loads without a problem, so a bad edit is reported and never half-applied.
 */

export type ReloadOutcome =
  | { ok: true; files: string[]; changed: boolean }
  | { ok: false; problems: PolicyProblem[] };

export interface PolicyHolderOptions {
  /** The policy folder, as users should see it in messages (e.g. `policies`). */
  readonly dir: string;
  /** Quiet time after the last change before reloading, in ms. Default 100. */
  readonly debounceMs?: number;
  /** While neither the folder nor its parent can be watched, how often to look again, in ms. Default 1000. */
  readonly retryMs?: number;
}

/**
 * Holds the current policy set of a folder.
 *
 * Until the first successful {@link reload} it holds the empty policy, which denies everything;
 * the composition root calls `reload()` once at start (and refuses to start on `ok: false`),
 * again on SIGHUP, and may call {@link watch} for edits.
 */
export class PolicyHolder {
  readonly dir: string;
  private readonly debounceMs: number;
  private readonly retryMs: number;
  private policy: PolicySet = emptyPolicySet();
  /** The problems of the latest reload, as text; undefined when it succeeded. */
  private failure: string | undefined;

  constructor({ dir, debounceMs = 100, retryMs = 1000 }: PolicyHolderOptions) {
    this.dir = dir;
    this.debounceMs = debounceMs;
    this.retryMs = retryMs;
  }

  /** The policy set to evaluate against now. Cheap: read it per request, do not cache it. */
  current(): PolicySet {
    return this.policy;
  }

  /**
   * Loads the folder again. On success the new set replaces the current one at once (`changed`
   * says whether anything differs); on failure the current set stays and the problems are returned.
   */
  reload(): ReloadOutcome {
    return this.apply(loadPolicyDir(this.dir)).outcome;
  }

  /**
   * Watches the folder and reloads after changes settle. `onReload` is called when a reload
   * changed the policy, failed with problems other than the last reported ones, or succeeded
   * after a failure; an editor touching a file without changing the policy calls nothing, so
   * the audit trail records real changes only.
   *
   * Editors that save by writing a temporary file and renaming it, a folder that is created
   * later, removed, or replaced, and Kubernetes ConfigMap link swaps are all followed. A file
   * still being written (its size or time changes while it is read) is read again later.
   *
   * @returns a function that stops watching.
   */
  watch(onReload: (outcome: ReloadOutcome) => void): () => void {
    let closed = false;
    let debounce: NodeJS.Timeout | undefined;
    let retry: NodeJS.Timeout | undefined;
    let folderWatcher: FSWatcher | undefined;
    let folderInode: number | undefined;
    let parentWatcher: FSWatcher | undefined;

    const schedule = () => {
      if (closed) return;
      clearTimeout(debounce);
      debounce = setTimeout(settle, this.debounceMs);
    };

    const closeFolderWatcher = () => {
      folderWatcher?.close();
      folderWatcher = undefined;
      folderInode = undefined;
    };

    // Watch the folder itself when it exists, else its parent for the folder to appear; if even
    // that is impossible, look again later.
    const arm = () => {
      if (closed) return;
      const inode = inodeOf(this.dir);
      if (folderWatcher !== undefined && inode === folderInode) return;
      closeFolderWatcher(); // gone or replaced: the old watch follows the old folder
      if (inode !== undefined) {
        try {
          folderWatcher = watchPath(this.dir, schedule);
          folderWatcher.on("error", () => {
            closeFolderWatcher();
            schedule();
          });
          folderInode = inode;
          parentWatcher?.close();
          parentWatcher = undefined;
          return;
        } catch {
          closeFolderWatcher();
        }
      }
      if (parentWatcher === undefined) {
        try {
          const name = basename(this.dir);
          parentWatcher = watchPath(dirname(this.dir), (_event, file) => {
            if (file === null || file === name) schedule();
          });
          parentWatcher.on("error", () => {
            parentWatcher?.close();
            parentWatcher = undefined;
            schedule();
          });
        } catch {
          parentWatcher = undefined;
        }
      }
      if (parentWatcher === undefined && retry === undefined) {
        retry = setTimeout(() => {
          retry = undefined;
          schedule();
        }, this.retryMs);
      }
    };

    const settle = () => {
      debounce = undefined;
      if (closed) return;
      arm();
      const before = snapshot(this.dir);
      const result = loadPolicyDir(this.dir);
      if (snapshot(this.dir) !== before) {
        schedule(); // a file changed while we read it: never apply a half-written file
        return;
      }
      const { outcome, notable } = this.apply(result);
      if (notable) onReload(outcome);
    };

    arm();
    return function stopWatchingPolicies() {
      closed = true;
      clearTimeout(debounce);
      clearTimeout(retry);
      closeFolderWatcher();
      parentWatcher?.close();
      parentWatcher = undefined;
    };
  }

  /** Swaps in a successful load; says whether the outcome is worth reporting to a watcher. */
  private apply(result: LoadResult): { outcome: ReloadOutcome; notable: boolean } {
    const previousFailure = this.failure;
    if (!result.ok) {
      this.failure = JSON.stringify(result.problems);
      return { outcome: { ok: false, problems: result.problems }, notable: this.failure !== previousFailure };
    }
    const changed = result.policy.digest !== this.policy.digest;
    this.policy = result.policy;
    this.failure = undefined;
    return { outcome: { ok: true, files: result.files, changed }, notable: changed || previousFailure !== undefined };
  }
}

function inodeOf(path: string): number | undefined {
  try {
    const stats = statSync(path);
    return stats.isDirectory() ? stats.ino : undefined;
  } catch {
    return undefined;
  }
}

/** Names, sizes and modification times of the folder's entries: changes while loading show here. */
function snapshot(dir: string): string {
  try {
    return readdirSync(dir)
      .sort()
      .map((name) => {
        try {
          const stats = statSync(join(dir, name));
          return `${name}:${stats.size}:${stats.mtimeMs}`;
        } catch {
          return `${name}:unreadable`;
        }
      })
      .join("\n");
  } catch {
    return "unreadable";
  }
}
