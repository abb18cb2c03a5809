/** Commands for policy authors and auditors: policy check/explain, audit who-accessed/query/export/verify. */
import type { Command } from "commander";
import { createWriteStream, existsSync, readdirSync, statSync } from "node:fs";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { AUDIT_CSV_COLUMNS, toCsvRow } from "../../audit/csv.js";
import type { AuditRecordJson } from "../../audit/record.js";
import type { Explanation } from "../../policy/explain.js";
import type { LoadResult } from "../../policy/load.js";
import type { EvaluationRequest as ExplainRequest } from "../../policy/types.js";
import { apiClientFromEnv, type ApiClient } from "../api-client.js";
import { CliError } from "../errors.js";
import { registerAuditIntegrityCommands } from "./audit-integrity.js";
import { table, terminalSafe, type Output } from "../output.js";

export function registerInspectCommands(program: Command, output: (json: boolean) => Output, setExit: (promise: Promise<number>) => void) {
  const api = () => apiClientFromEnv();

  // policy ----------------------------------------------------------------------------------
  const policy = program.command("policy").description("validate and explain policies");
  policy
    .command("check [dir]")
    .description("validate every policy file; exit 1 with file:line:column messages on problems")
    .option("--json")
    .action(async (dir: string | undefined, options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      const folder = dir ?? "policies";
      const { loadPolicyDir, POLICY_FILE_RE } = await import("../../policy/load.js");
      const result = policyFolderProblem(folder, POLICY_FILE_RE) ?? loadPolicyDir(folder);
      if (result.ok) {
        out.out(out.json ? JSON.stringify({ ok: true, files: result.files }) : `ok: ${result.files.length} file(s) valid`);
        return;
      }
      if (out.json) out.out(JSON.stringify({ ok: false, problems: result.problems }));
      else for (const p of result.problems) out.err(`${p.file}:${p.line}:${p.column}: ${p.message}`);
      setExit(Promise.resolve(1));
    });
  policy
    .command("explain")
    .description("which rule decides whether a server may act on a secret, and why")
    .requiredOption("--server <id>")
    .requiredOption("--secret <path>")
    .option("--action <action>", "read or list", "read")
    .option("--source-ip <ip>", "evaluate source_cidr conditions for this address")
    .option("--dir <dir>", "evaluate this local policy folder (default: the broker's policies when CREDBROKER_URL is set, else ./policies)")
    .option("--json")
    .action(async (options: { server: string; secret: string; action: string; sourceIp?: string; dir?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      if (options.action !== "read" && options.action !== "list") throw new CliError("--action must be read or list", 2);
      const request: ExplainRequest = { serverId: options.server, secretPath: options.secret, action: options.action, ...(options.sourceIp && { sourceIp: options.sourceIp }) };
      const result = options.dir === undefined && process.env.CREDBROKER_URL ? await explainOnBroker(api(), request) : await explainLocally(options.dir ?? "policies", request);
      if (out.json) out.out(JSON.stringify(result));
      else {
        out.out(`${result.decision.allowed ? "ALLOW" : "DENY"}: ${result.decision.allowed ? `${result.decision.rule.file}:${result.decision.rule.line}` : result.decision.message}`);
        for (const considered of result.considered) out.out(`  ${considered.matched ? "matched" : "skipped"} ${considered.rule.effect} ${considered.rule.file}:${considered.rule.line}: ${considered.why}`);
      }
      if (!result.decision.allowed) setExit(Promise.resolve(1));
    });

  policy
    .command("reload")
    .description("make the running broker (CREDBROKER_URL) reload its policy folder now; an invalid set is refused and the last good one kept")
    .option("--json")
    .action(async (options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      const response = await api().raw("POST", "v1/admin/policy/reload");
      const body = (await response.json().catch(() => undefined)) as { ok?: unknown; problems?: unknown } | undefined;
      if (typeof body?.ok !== "boolean" || (response.status !== 200 && response.status !== 422)) {
        const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
        throw new CliError(`${error?.message ?? `HTTP ${response.status}`}`, 1, error?.code ?? `http_${response.status}`);
      }
      const problems = Array.isArray(body.problems) ? body.problems.map(String) : [];
      if (out.json) out.out(JSON.stringify({ ok: body.ok, problems }));
      else if (body.ok) out.out("policies reloaded");
      else for (const problem of problems) out.err(terminalSafe(problem));
      if (!body.ok) setExit(Promise.resolve(1));
    });

  // audit -----------------------------------------------------------------------------------
  const audit = program.command("audit").description("query and verify the audit trail");
  audit
    .command("who-accessed <path>")
    .description("which servers and operators read a secret: count, first, last, outcomes")
    .option("--since <when>", "a duration ago (90d) or an ISO time")
    .option("--json")
    .action(async (path: string, options: { since?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const query = new URLSearchParams({ secret: path, ...(options.since && { since: options.since }) });
      const report = await api().request<{
        servers: Array<{ server: string; actor_kind: string; count: number; first: string; last: string; outcomes: { allowed: number; denied: number; error: number } }>;
      }>("GET", `v1/audit/access-report?${query}`);
      // `server` is the scripting contract's name for the actor, an operator included.
      if (out.json) out.out(JSON.stringify(report.servers.map(({ server, actor_kind, count, first, last, outcomes }) => ({ server, actor_kind, count, first, last, outcomes }))));
      else
        out.out(
          table(
            ["actor", "kind", "count", "first", "last", "allowed", "denied", "error"],
            report.servers.map((r) => [r.server, r.actor_kind, r.count, r.first, r.last, r.outcomes.allowed, r.outcomes.denied, r.outcomes.error]),
          ),
        );
    });
  audit
    .command("query")
    .description("audit records filtered by actor, secret, action, outcome and time; --tail and --follow for the newest")
    .option("--server <id>", "actor (server id or operator name)")
    .option("--secret <path>")
    .option("--action <action>", "e.g. secret.read, auth.token")
    .option("--outcome <outcome>", "allowed, denied or error")
    .option("--since <when>")
    .option("--until <when>")
    .option("--limit <n>", "most records", "100")
    .option("--newest", "newest records first")
    .option("--tail <n>", "the newest n records, oldest of them first")
    .option("--follow", "after the newest records (--tail, default 10), print new ones as they are written, until interrupted; --json prints one record per line")
    .option("--interval <ms>", "how often --follow asks the broker", "1000")
    .option("--format <format>", "table, json or csv", "table")
    .option("--json", "same as --format json")
    .action(async (options: AuditQueryOptions) => {
      const format = options.json ? "json" : options.format;
      if (format !== "table" && format !== "json" && format !== "csv") throw new CliError("--format must be table, json or csv", 2);
      const limit = options.tail ?? (options.follow ? "10" : options.limit);
      if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000) throw new CliError("--limit and --tail take 1 to 1000", 2);
      if (!/^\d{2,6}$/.test(options.interval) || Number(options.interval) < 100) throw new CliError("--interval takes at least 100 ms", 2);
      const out = output(format === "json");
      const filter = {
        ...(options.server && { server: options.server }),
        ...(options.secret && { secret: options.secret }),
        ...(options.action && { action: options.action }),
        ...(options.outcome && { outcome: options.outcome }),
        ...(options.since && { since: options.since }),
        ...(options.until && { until: options.until }),
      };
      const newestFirst = options.newest === true || options.tail !== undefined || options.follow === true;
      const query = new URLSearchParams({ ...filter, limit, ...(newestFirst && { order: "desc" }) });
      const { events } = await api().request<{ events: AuditRecordJson[] }>("GET", `v1/audit/events?${query}`);
      // --tail and --follow read the newest records, and show them in the order they happened.
      const shown = newestFirst && !options.newest ? [...events].reverse() : events;
      if (!options.follow) {
        printAuditRecords(out, format, shown, { header: true, streaming: false });
        return;
      }
      printAuditRecords(out, format, shown, { header: true, streaming: true });
      setExit(followAudit(api(), out, format, filter, events[0]?.seq ?? 0, Number(options.interval)));
    });
  audit
    .command("export")
    .description("export the whole audit trail (or a filtered part) as JSON lines or CSV")
    .option("--format <format>", "jsonl or csv", "jsonl")
    .option("--output <file>", "write to a file instead of stdout")
    .option("--since <when>")
    .option("--until <when>")
    .action(async (options: { format: string; output?: string; since?: string; until?: string }) => {
      if (options.format !== "jsonl" && options.format !== "csv") throw new CliError("--format must be jsonl or csv", 2);
      const query = new URLSearchParams({ format: options.format, ...(options.since && { since: options.since }), ...(options.until && { until: options.until }) });
      const response = await api().raw("GET", `v1/audit/export?${query}`);
      if (!response.ok || !response.body) throw new CliError(`export failed: HTTP ${response.status}`);
      let lines = 0;
      const counter = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          lines += chunk.toString("utf8").split("\n").length - 1;
          process.stderr.write(`\rexported ${lines} lines`);
          target.write(chunk, callback);
        },
      });
      const target = options.output ? createWriteStream(options.output, { mode: 0o600 }) : process.stdout;
      await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), counter);
      if (options.output) await new Promise((done) => (target as ReturnType<typeof createWriteStream>).end(done));
      process.stderr.write(`\rexported ${lines} lines\n`);
    });
  registerAuditIntegrityCommands(audit, output, setExit);
}

/** `policy check`'s refusal of a folder that cannot hold the policy: missing, or without any policy file. */
function policyFolderProblem(folder: string, policyFile: RegExp): LoadResult | undefined {
  const problem = (message: string): LoadResult => ({ ok: false, problems: [{ file: folder, line: 1, column: 1, message }] });
  if (!existsSync(folder)) return problem(`the policy folder ${folder} does not exist`);
  if (!statSync(folder).isDirectory()) return problem(`${folder} is not a folder`);
  if (!readdirSync(folder).some((name) => policyFile.test(name) && !name.startsWith("."))) return problem(`no policy file (*.yaml, *.yml) in ${folder}`);
  return undefined;
}

/** The policy parser and evaluator load only for the commands that evaluate a local folder. */
async function explainLocally(folder: string, request: ExplainRequest): Promise<Explanation> {
  const [{ loadPolicyDir }, { explain }] = await Promise.all([import("../../policy/load.js"), import("../../policy/explain.js")]);
  const loaded = loadPolicyDir(folder);
  if (!loaded.ok) throw new CliError(`policies are invalid; run credbroker policy check ${folder}`);
  return explain(loaded.policy, request);
}

/** The broker's answer for its enforced policy set (GET /v1/admin/policy/explain, `audit` permission). */
function explainOnBroker(api: ApiClient, request: ExplainRequest): Promise<Explanation> {
  const query = new URLSearchParams({ server: request.serverId, secret: request.secretPath, action: request.action, ...(request.sourceIp && { source_ip: request.sourceIp }) });
  return api.request<Explanation>("GET", `v1/admin/policy/explain?${query}`);
}

interface AuditQueryOptions {
  server?: string;
  secret?: string;
  action?: string;
  outcome?: string;
  since?: string;
  until?: string;
  limit: string;
  newest?: boolean;
  tail?: string;
  follow?: boolean;
  interval: string;
  format: string;
  json?: boolean;
}

const AUDIT_TABLE_COLUMNS = ["seq", "time", "actor", "action", "resource", "outcome", "reason"] as const;

/**
 * Audit records as a table, CSV or JSON. Streaming (`--follow`) prints JSON one record per line
 * and tables without realigning what was already printed.
 */
function printAuditRecords(out: Output, format: "table" | "json" | "csv", records: AuditRecordJson[], options: { header: boolean; streaming: boolean }): void {
  if (format === "json") {
    if (!options.streaming) out.out(JSON.stringify(records));
    else for (const record of records) out.out(JSON.stringify(record));
    return;
  }
  if (format === "csv") {
    const lines = [...(options.header ? [AUDIT_CSV_COLUMNS.join(",")] : []), ...records.map(toCsvRow)];
    if (lines.length > 0) out.out(lines.join("\n"));
    return;
  }
  const rows = records.map((record) => AUDIT_TABLE_COLUMNS.map((column) => record[column]));
  if (!options.streaming) {
    out.out(table([...AUDIT_TABLE_COLUMNS], rows));
    return;
  }
  if (options.header) out.out(AUDIT_TABLE_COLUMNS.map((column) => column.toUpperCase()).join("  "));
  for (const row of rows) out.out(row.map((cell) => (cell === null || cell === undefined ? "-" : terminalSafe(String(cell)))).join("  "));
}

/** Polls for records after `afterSeq` until SIGINT or SIGTERM; resolves with the exit status. */
function followAudit(api: ApiClient, out: Output, format: "table" | "json" | "csv", filter: Record<string, string>, afterSeq: number, intervalMs: number): Promise<number> {
  return new Promise((resolvePromise) => {
    let cursor = afterSeq;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const stop = () => {
      stopped = true;
      clearTimeout(timer);
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolvePromise(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    const poll = async () => {
      try {
        for (;;) {
          const query = new URLSearchParams({ ...filter, limit: "1000", cursor: String(cursor) });
          const { events } = await api.request<{ events: AuditRecordJson[] }>("GET", `v1/audit/events?${query}`);
          if (stopped) return;
          printAuditRecords(out, format, events, { header: false, streaming: true });
          cursor = events.at(-1)?.seq ?? cursor;
          if (events.length < 1000) break;
        }
      } catch (error) {
        // A broker restarting or briefly unreachable: say so once per failure and keep following.
        out.err(`credbroker: ${terminalSafe(error instanceof Error ? error.message : String(error))}; retrying`);
      }
      if (!stopped) timer = setTimeout(() => void poll(), intervalMs);
    };
    timer = setTimeout(() => void poll(), intervalMs);
  });
}
