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
    .option("--server <id>", "actor (server id or operator name)")
    .option("--secret <path>")
    .option("--action <action>", "e.g. secret.read, auth.token")
    .option("--outcome <outcome>", "allowed, denied or error")
    .option("--since <when>")
    .option("--until <when>")
    .option("--limit <n>", "most records", "100")
    .option("--format <format>", "table, json or csv", "table")
    .option("--json", "same as --format json")
    .action(async (options: { server?: string; secret?: string; action?: string; outcome?: string; since?: string; until?: string; limit: string; format: string; json?: boolean }) => {
      const format = options.json ? "json" : options.format;
      if (!["table", "json", "csv"].includes(format)) throw new CliError("--format must be table, json or csv", 2);
      const out = output(format === "json");
      const query = new URLSearchParams({
        ...(options.server && { server: options.server }),
        ...(options.secret && { secret: options.secret }),
        ...(options.action && { action: options.action }),
        ...(options.outcome && { outcome: options.outcome }),
        ...(options.since && { since: options.since }),
        ...(options.until && { until: options.until }),
        limit: options.limit,
      });
      const { events } = await api().request<{ events: AuditRecordJson[] }>("GET", `v1/audit/events?${query}`);
      if (format === "json") out.out(JSON.stringify(events));
      else if (format === "csv") out.out([AUDIT_CSV_COLUMNS.join(","), ...events.map(toCsvRow)].join("\n"));
      else out.out(table(["seq", "time", "actor", "action", "resource", "outcome", "reason"], events.map((e) => [e.seq, e.time, e.actor, e.action, e.resource, e.outcome, e.reason])));
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
  audit
    .command("verify")
    .description("check the hash chain: detects deleted, altered or reordered records")
    .option("--json")
    .action(async (options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      const result = await api().request<{ ok: boolean; checked: number; head: { seq: number; hash: string } | null; problems: Array<{ seq: number; kind: string; message: string }> }>(
        "GET",
        "v1/audit/verify",
      );
      if (out.json) out.out(JSON.stringify(result));
      else {
        out.out(result.ok ? `ok: ${result.checked} records, chain intact` : `TAMPERED: ${result.problems.length} problem(s) in ${result.checked} records`);
        for (const problem of result.problems) out.out(`  seq ${problem.seq}: ${problem.kind}: ${terminalSafe(problem.message)}`);
        if (result.head) out.out(`head: seq ${result.head.seq} hash ${result.head.hash} (record it outside the broker to detect truncation)`);
      }
      if (!result.ok) setExit(Promise.resolve(1));
    });
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
