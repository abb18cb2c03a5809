/**
 * Reads a V8 .cpuprofile (written by `npm run bench -- --profile`, or by `node --cpu-prof`) and
 * prints where the time goes: self time per function, inclusive time per function, and self time
 * per area (a src/ file, an npm package, Node internals, GC). Percentages are of busy samples
 * (idle samples, when the event loop waits for I/O, are reported apart).
 *
 *   npx tsx bench/profile-summary.ts bench/results/profiles/secret-get-....cpuprofile [--top 25]
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

export interface CostRow {
  name: string;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  durationSeconds: number;
  samples: number;
  /** Share of samples where the thread was idle (waiting in the event loop). */
  idlePercent: number;
  /** Share of samples spent in the garbage collector. */
  gcPercent: number;
  selfByFunction: CostRow[];
  inclusiveByFunction: CostRow[];
  /** Inclusive time of the broker's own functions (src/), the ones a change would target. */
  inclusiveBySrcFunction: CostRow[];
  selfByArea: CostRow[];
}

const REPO = fileURLToPath(new URL("..", import.meta.url));
const SPECIAL = new Set(["(root)", "(program)", "(idle)", "(garbage collector)"]);

function shortUrl(url: string): string {
  let path = url.startsWith("file://") ? fileURLToPath(url) : url;
  if (path.startsWith(REPO)) path = path.slice(REPO.length);
  return path;
}

/**
 * `file:function:line`. Files loaded through tsx are whitespace-minified (every line number is 1),
 * so their line is left out; a native frame names its JavaScript caller, since `run [native]`
 * alone does not say which SQLite statement ran.
 */
function functionKey(frame: CallFrame, caller?: CallFrame): string {
  const name = frame.functionName || "(anonymous)";
  if (SPECIAL.has(name)) return name;
  if (!frame.url) return caller && caller.url ? `${name} [native] ← ${functionKey(caller)}` : `${name} [native]`;
  const path = shortUrl(frame.url);
  return frame.lineNumber > 0 ? `${path}:${name}:${frame.lineNumber + 1}` : `${path}:${name}`;
}

/** src/http/app.ts, hono, better-sqlite3, node:internal/..., (garbage collector), native. */
function areaKey(frame: CallFrame): string {
  const name = frame.functionName;
  if (SPECIAL.has(name)) return name;
  if (!frame.url) return "native (V8 builtins, C++ bindings: SQLite, crypto, ...)";
  const path = shortUrl(frame.url);
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (packageMatch) return `npm:${packageMatch[1]}`;
  if (path.startsWith("node:")) return path.split("/").slice(0, 2).join("/");
  return path;
}

function percentRows(counts: Map<string, number>, total: number, top: number): CostRow[] {
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, count]) => ({ name, percent: Math.round((count / total) * 1000) / 10 }));
}

export function summariseProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areas = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  for (const sampleId of profile.samples) {
    const node = byId.get(sampleId);
    if (!node) continue;
    const frame = node.callFrame;
    if (frame.functionName === "(idle)") {
      idle += 1;
      continue;
    }
    if (frame.functionName === "(garbage collector)") gc += 1;
    const callerId = parent.get(node.id);
    const key = functionKey(frame, callerId === undefined ? undefined : byId.get(callerId)?.callFrame);
    self.set(key, (self.get(key) ?? 0) + 1);
    const area = areaKey(frame);
    areas.set(area, (areas.get(area) ?? 0) + 1);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const ancestor = byId.get(id)!.callFrame;
      if (SPECIAL.has(ancestor.functionName)) continue;
      const ancestorKey = functionKey(ancestor);
      if (seen.has(ancestorKey)) continue;
      seen.add(ancestorKey);
      inclusive.set(ancestorKey, (inclusive.get(ancestorKey) ?? 0) + 1);
    }
  }
  const busy = profile.samples.length - idle;
  return {
    file,
    durationSeconds: Math.round((profile.endTime - profile.startTime) / 1e4) / 100,
    samples: profile.samples.length,
    idlePercent: Math.round((idle / Math.max(1, profile.samples.length)) * 1000) / 10,
    gcPercent: Math.round((gc / Math.max(1, busy)) * 1000) / 10,
    selfByFunction: percentRows(self, busy, top),
    inclusiveByFunction: percentRows(inclusive, busy, top),
    inclusiveBySrcFunction: percentRows(new Map([...inclusive].filter(([name]) => name.startsWith("src/"))), busy, top),
    selfByArea: percentRows(areas, busy, top),
  };
}

export function formatProfileSummary(summary: ProfileSummary): string {
  const lines = [
    `profile ${summary.file}`,
    `  ${summary.samples} samples over ${summary.durationSeconds} s; idle ${summary.idlePercent}% of samples; GC ${summary.gcPercent}% of busy samples`,
    "  percentages below are of busy (non-idle) samples",
  ];
  const section = (title: string, rows: CostRow[]) => {
    lines.push("", `  ${title}`);
    for (const row of rows) lines.push(`  ${row.percent.toFixed(1).padStart(6)}%  ${row.name}`);
  };
  section("self time by area", summary.selfByArea);
  section("self time by function", summary.selfByFunction);
  section("inclusive time by function", summary.inclusiveByFunction);
  section("inclusive time of src/ functions", summary.inclusiveBySrcFunction);
  return lines.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "25" } } });
  if (positionals.length === 0) {
    console.error("usage: tsx bench/profile-summary.ts FILE.cpuprofile [--top N]");
    process.exit(2);
  }
  for (const file of positionals) console.log(formatProfileSummary(summariseProfile(file, Number(values.top))));
}
