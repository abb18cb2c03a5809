/**
 * `npm run bench -- --compare REF`: the read scenario from a checkout of REF and from this working
 * tree, alternating A B B A ... so the machine's drift falls on both sides, and the ratio of each
 * round. Effects of a few percent are lost in the drift between runs minutes apart (see
 * docs/benchmarks.md); this is how to see them.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./target-process.js";

export type CompareSide = "ref" | "tree";

export interface RefCheckout {
  root: string;
  /** The commit REF resolved to. */
  commit: string;
  remove(): void;
}

/**
 * A detached git worktree of `ref` in a temporary folder, sharing this checkout's node_modules
 * (the ref must use the same dependencies and bench protocol). Throws with git's message for an
 * unknown ref.
 */
export function checkoutRef(ref: string): RefCheckout {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  const commit = git("rev-parse", "--verify", `${ref}^{commit}`);
  const root = join(mkdtempSync(join(tmpdir(), "credbroker-bench-ref-")), "tree");
  git("worktree", "add", "--detach", root, commit);
  symlinkSync(join(REPO_ROOT, "node_modules"), join(root, "node_modules"), "dir");
  return {
    root,
    commit,
    remove() {
      git("worktree", "remove", "--force", root);
      rmSync(join(root, ".."), { recursive: true, force: true });
    },
  };
}

/** Which side runs first in round `index`: A B, then B A, so neither side always runs second. */
export function roundOrder(index: number): [CompareSide, CompareSide] {
  return index % 2 === 0 ? ["ref", "tree"] : ["tree", "ref"];
}

export interface CompareFigures {
  requestsPerSecond: number;
  cpuMicrosPerRequest: number;
  /** Share of the window an audit commit was in flight (broker scenarios only). */
  commitShare?: number;
}

export interface CompareSummary {
  /** Working tree ÷ ref, per round: above 1 means the tree serves more. */
  throughputRatios: number[];
  medianThroughputRatio: number;
  /** Working tree ÷ ref CPU per read, per round: below 1 means the tree costs less. */
  cpuRatios: number[];
  medianCpuRatio: number;
  /**
   * Each side's median share of the window with a commit in flight, when every run reported one.
   * It rises when less time passes between one batch's commit and the next: a figure of the
   * commit cycle that the machine's drift moves much less than throughput (docs/benchmarks.md).
   */
  medianCommitShare?: Record<CompareSide, number>;
}

/** Ratios of each round's tree run to its ref run (`rounds` as run: one ref and one tree each). */
export function compareRounds(rounds: Array<Record<CompareSide, CompareFigures>>): CompareSummary {
  const round3 = (value: number) => Math.round(value * 1000) / 1000;
  const throughputRatios = rounds.map((round) => round3(round.tree.requestsPerSecond / round.ref.requestsPerSecond));
  const cpuRatios = rounds.map((round) => round3(round.tree.cpuMicrosPerRequest / round.ref.cpuMicrosPerRequest));
  const summary: CompareSummary = { throughputRatios, medianThroughputRatio: median(throughputRatios), cpuRatios, medianCpuRatio: median(cpuRatios) };
  const shares = (side: CompareSide) => rounds.flatMap((round) => (round[side].commitShare === undefined ? [] : [round[side].commitShare]));
  const ref = shares("ref");
  const tree = shares("tree");
  if (rounds.length > 0 && ref.length === rounds.length && tree.length === rounds.length) summary.medianCommitShare = { ref: median(ref), tree: median(tree) };
  return summary;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : Math.round(((sorted[middle - 1]! + sorted[middle]!) / 2) * 1000) / 1000;
}
