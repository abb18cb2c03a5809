/**
 * `audit verify` (the keyed chain, against signed checkpoints; or an archived segment offline),
 * `audit archive` (export a verified segment, then remove it) and `audit checkpoint-key`.
 */
import type { Command } from "commander";
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import type { CheckpointPublicKeys, SignedCheckpoint } from "../../audit/checkpoint.js";
import type { VerifyResult } from "../../audit/verify.js";
import { apiClientFromEnv, type ApiClient } from "../api-client.js";
import { CliError } from "../errors.js";
import { terminalSafe, type Output } from "../output.js";

type Verification = VerifyResult & { unreadable: string[] };

/** Checkpoints per POST /v1/audit/verify: keeps each request under the broker's body limit. */
const CHECKPOINTS_PER_REQUEST = 200;

const collect = (value: string, previous: string[] = []) => [...previous, value];

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    throw new CliError(`cannot read ${what} ${file}`, 2);
  }
}

/**
 * Checkpoint and segment code (zod, node:crypto signatures) loads only for the commands that use
 * it: imported at the top it cost every CLI start about 90 ms (`npm run bench:cli`, --help).
 */
const checkpointCode = () => import("../../audit/checkpoint.js");
const segmentCode = () => import("../../audit/segment.js");

async function publicKeys(api: () => ApiClient, file: string | undefined): Promise<CheckpointPublicKeys> {
  const { publicKeysFromPem } = await checkpointCode();
  try {
    if (file) return publicKeysFromPem([readText(file, "public key file")]);
    const { public_key_pem } = await api().request<{ public_key_pem: string }>("GET", "v1/audit/checkpoint-key");
    return publicKeysFromPem([public_key_pem]);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${file ?? "the broker's checkpoint key"} is not an Ed25519 public key (PEM)`, 2);
  }
}

/** Verifies on the broker against `checkpoints`, in requests of CHECKPOINTS_PER_REQUEST, merging the answers. */
async function verifyOnBroker(api: ApiClient, checkpoints: SignedCheckpoint[] | undefined): Promise<Verification> {
  if (!checkpoints) return api.request<Verification>("GET", "v1/audit/verify");
  const batches: SignedCheckpoint[][] = [];
  for (let start = 0; start < Math.max(checkpoints.length, 1); start += CHECKPOINTS_PER_REQUEST) batches.push(checkpoints.slice(start, start + CHECKPOINTS_PER_REQUEST));
  let merged: Verification | undefined;
  const seen = new Set<string>();
  for (const batch of batches) {
    const result = await api.request<Verification>("POST", "v1/audit/verify", { checkpoints: batch });
    const fresh = result.problems.filter((problem) => !seen.has(`${problem.seq} ${problem.kind} ${problem.message}`));
    for (const problem of fresh) seen.add(`${problem.seq} ${problem.kind} ${problem.message}`);
    if (!merged) merged = { ...result, problems: fresh };
    else {
      const newest = [merged.checkpoints.newest, result.checkpoints.newest].filter((n) => n !== null).sort((a, b) => b.seq - a.seq)[0] ?? null;
      merged = {
        ...merged,
        ok: merged.ok && result.ok,
        problems: [...merged.problems, ...fresh],
        checkpoints: { checked: merged.checkpoints.checked + result.checkpoints.checked, archived: merged.checkpoints.archived + result.checkpoints.archived, newest },
      };
    }
  }
  return merged!;
}

function printVerification(out: Output, result: Verification, extraProblems: string[]): void {
  if (out.json) {
    out.out(JSON.stringify({ ...result, ok: result.ok && extraProblems.length === 0, unreadable: [...result.unreadable, ...extraProblems] }));
    return;
  }
  const ok = result.ok && extraProblems.length === 0;
  out.out(ok ? `ok: ${result.checked} records, chain intact, ${result.checkpoints.checked} checkpoint(s) match` : `TAMPERED: ${result.problems.length + result.unreadable.length + extraProblems.length} problem(s) in ${result.checked} records`);
  for (const problem of result.problems) out.out(`  seq ${problem.seq}: ${problem.kind}: ${terminalSafe(problem.message)}`);
  for (const problem of [...result.unreadable, ...extraProblems]) out.out(`  ${terminalSafe(problem)}`);
  if (result.head) out.out(`head: seq ${result.head.seq} hash ${result.head.hash}`);
  if (result.checkpoints.newest) out.out(`newest checkpoint: seq ${result.checkpoints.newest.seq} at ${result.checkpoints.newest.time}`);
}

export function registerAuditIntegrityCommands(audit: Command, output: (json: boolean) => Output, setExit: (promise: Promise<number>) => void) {
  const api = () => apiClientFromEnv();

  audit
    .command("verify")
    .description("check the keyed hash chain and hold it against signed checkpoints: detects deleted, altered, reordered or recomputed records, a truncated tail and a rolled-back database")
    .option("--checkpoints <file>", "a checkpoint file (JSON lines; repeatable); default: the broker's own checkpoint files", collect)
    .option("--public-key <file>", "the checkpoint public key (PEM) to check signatures with here; default: the broker's")
    .option("--segment <file>", "verify an archived segment file offline instead of the broker's chain")
    .option("--json")
    .action(async (options: { checkpoints?: string[]; publicKey?: string; segment?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      if (options.segment !== undefined) {
        const { verifySegment } = await segmentCode();
        const result = verifySegment(readText(options.segment, "segment file"), await publicKeys(api, options.publicKey));
        if (out.json) out.out(JSON.stringify(result));
        else {
          out.out(result.ok ? `ok: segment of ${result.records} records (seq ${result.trailer?.first_seq}..${result.trailer?.last_seq}) intact` : `TAMPERED: ${result.problems.length} problem(s) in the segment`);
          for (const problem of result.problems) out.out(`  ${terminalSafe(problem)}`);
        }
        if (!result.ok) setExit(Promise.resolve(1));
        return;
      }
      let checkpoints: SignedCheckpoint[] | undefined;
      const localProblems: string[] = [];
      if (options.checkpoints) {
        const { parseCheckpointLines, checkpointSignatureValid } = await checkpointCode();
        checkpoints = [];
        for (const file of options.checkpoints) {
          const parsed = parseCheckpointLines(readText(file, "checkpoint file"));
          checkpoints.push(...parsed.checkpoints);
          localProblems.push(...parsed.problems.map((problem) => `${file}: ${problem}`));
        }
        if (options.publicKey) {
          // Checked here with the key the auditor holds, not only by the broker with its own.
          const keys = await publicKeys(api, options.publicKey);
          for (const checkpoint of checkpoints) {
            if (!checkpointSignatureValid(checkpoint, keys)) localProblems.push(`the checkpoint for seq ${checkpoint.seq} is not signed by the key in ${options.publicKey}`);
          }
        }
      } else if (options.publicKey) {
        throw new CliError("--public-key needs --checkpoints or --segment", 2);
      }
      const result = await verifyOnBroker(api(), checkpoints);
      printVerification(out, result, localProblems);
      if (!result.ok || localProblems.length > 0) setExit(Promise.resolve(1));
    });

  audit
    .command("archive")
    .description("export the records before a time as a signed segment file, verify it, then remove those records from the broker (admin)")
    .requiredOption("--before <when>", "ISO time or a duration back from now (e.g. 365d)")
    .option("--out <file>", "segment file to write (default audit-segment-FIRST-LAST.jsonl)")
    .option("--json")
    .action(async (options: { before: string; out?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const client = api();
      const response = await client.raw("GET", `v1/audit/archive?${new URLSearchParams({ before: options.before })}`);
      const text = await response.text();
      if (!response.ok) {
        const error = (JSON.parse(text || "{}") as { error?: { code?: string; message?: string } }).error;
        throw new CliError(error?.message ?? `HTTP ${response.status}`, response.status === 400 ? 2 : 1, error?.code ?? `http_${response.status}`);
      }
      const { verifySegment } = await segmentCode();
      const verified = verifySegment(text, await publicKeys(api, undefined));
      if (!verified.ok || !verified.trailer) throw new CliError(`the exported segment does not verify; nothing was removed: ${verified.problems.join("; ")}`);
      const { first_seq, last_seq, records_sha256 } = verified.trailer;
      const file = options.out ?? `audit-segment-${first_seq}-${last_seq}.jsonl`;
      // Durable before anything is removed: the file is the only copy afterwards.
      const fd = openSync(file, "wx", 0o600);
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      const result = await client.request<{ archived: number; anchor: { seq: number; hash: string } }>("POST", "v1/audit/archive", { through_seq: last_seq, records_sha256 });
      if (out.json) out.out(JSON.stringify({ file, first_seq, last_seq, ...result }));
      else out.out(`archived ${result.archived} records (seq ${first_seq}..${last_seq}) to ${file}; the chain continues from seq ${result.anchor.seq}`);
    });

  audit
    .command("checkpoint-key")
    .description("print the public key (PEM) that audit checkpoints and archive segments are signed with")
    .option("--json")
    .action(async (options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      const key = await api().request<{ key_id: string; public_key_pem: string }>("GET", "v1/audit/checkpoint-key");
      out.out(out.json ? JSON.stringify(key) : key.public_key_pem.trimEnd());
    });
}
