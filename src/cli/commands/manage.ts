/** Commands that manage a running broker over its API: server, operator, secret, lease, keys. */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { apiClientFromEnv } from "../api-client.js";
import { CliError } from "../errors.js";
import { table, type Output } from "../output.js";
import { listPages, parseLimit, printPages } from "../pages.js";

interface ServerJson {
  id: string;
  description: string;
  disabled: boolean;
  created_at: string;
}
interface OperatorJson {
  name: string;
  role: string;
  created_at: string;
  expires_at: string | null;
  revoked: boolean;
}
interface SecretListJson {
  path: string;
  current_version: number | null;
  owner: string | null;
  sensitivity: string | null;
  updated_at: string | null;
}
interface LeaseJson {
  lease_id: string;
  server: string;
  secret: string;
  version: number;
  state: string;
  expires_at: string;
}

const enc = encodeURIComponent;
const encPath = (path: string) => path.split("/").map(enc).join("/");

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Key handling (jose) loads only for the commands that read or make a key. */
async function readPublicKeyFile(file: string) {
  const { readPublicKey } = await import("../server-keys.js");
  return readPublicKey(file);
}

export function registerManageCommands(program: Command, output: (json: boolean) => Output) {
  const api = () => apiClientFromEnv();

  // server ----------------------------------------------------------------------------------
  const server = program.command("server").description("register and manage MCP server identities");
  server
    .command("add <id>")
    .description("register a server; prints its client secret once")
    .option("--description <text>")
    .option("--label <key=value...>", "labels (repeatable)")
    .option("--public-key <file>", "register a public key (PEM or JWK) for private_key_jwt")
    .option("--no-secret", "no client secret (needs --public-key)")
    .option("--json")
    .action(async (id: string, options: { description?: string; label?: string[]; publicKey?: string; secret: boolean; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const labels = Object.fromEntries(
        (options.label ?? []).map((pair) => {
          const eq = pair.indexOf("=");
          if (eq < 1) throw new CliError(`--label must be key=value, got ${pair}`, 2);
          return [pair.slice(0, eq), pair.slice(eq + 1)];
        }),
      );
      const publicJwk = options.publicKey === undefined ? undefined : await readPublicKeyFile(options.publicKey);
      const result = await api().request<{ client_id: string; client_secret: string | null }>("POST", "v1/admin/servers", {
        id,
        ...(options.description && { description: options.description }),
        ...(options.label && { labels }),
        ...(publicJwk && { public_jwk: publicJwk }),
        ...(!options.secret && { no_secret: true }),
      });
      if (out.json) out.out(JSON.stringify({ client_id: result.client_id, client_secret: result.client_secret }));
      else {
        out.out(`registered ${result.client_id}`);
        if (result.client_secret) out.out(`client secret (shown once): ${result.client_secret}`);
      }
    });
  server
    .command("keygen <id>")
    .description("make an Ed25519 key pair, write the private key to a 0600 file, and register the server with the public key only (no client secret)")
    .option("--out <file>", "private key file (default ./ID.key; never overwritten)")
    .option("--description <text>")
    .option("--json")
    .action(async (id: string, options: { out?: string; description?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const file = resolve(options.out ?? `${id}.key`);
      const { generateKeyFile } = await import("../server-keys.js");
      const key = await generateKeyFile(file);
      try {
        await api().request("POST", "v1/admin/servers", { id, public_jwk: key.publicJwk, no_secret: true, ...(options.description && { description: options.description }) });
      } catch (error) {
        key.discard();
        throw error;
      }
      if (out.json) out.out(JSON.stringify({ client_id: id, private_key_file: file, kid: key.kid, public_jwk: key.publicJwk }));
      else {
        out.out(`registered ${id} with an Ed25519 key (kid ${key.kid}); private key written to ${file} (mode 0600)`);
        out.out(`  export CREDBROKER_CLIENT_ID=${id}`);
        out.out(`  export CREDBROKER_PRIVATE_KEY_FILE=${file}`);
      }
    });
  server
    .command("list")
    .description("list registered servers, every page of them")
    .option("--limit <n>", "show at most n servers")
    .option("--json")
    .action(async (options: { limit?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const pages = listPages<ServerJson>(api(), "v1/admin/servers", "servers", {}, parseLimit(options.limit));
      await printPages(out, pages, ["id", "disabled", "created", "description"], (s) => [s.id, s.disabled, s.created_at, s.description]);
    });
  server
    .command("show <id>")
    .description("one server: description, labels, whether it is disabled, when it was registered")
    .option("--json")
    .action(async (id: string, options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      const result = await api().request<ServerJson & { labels?: Record<string, string> }>("GET", `v1/admin/servers/${enc(id)}`);
      if (out.json) out.out(JSON.stringify(result));
      else
        out.out(
          table(
            ["field", "value"],
            [
              ["id", result.id],
              ["description", result.description],
              ["labels", Object.entries(result.labels ?? {}).map(([key, value]) => `${key}=${value}`).join(", ")],
              ["disabled", result.disabled],
              ["created", result.created_at],
            ],
          ),
        );
    });
  for (const verb of ["disable", "enable"] as const) {
    server
      .command(`${verb} <id>`)
      .description(verb === "disable" ? "disable a server: its tokens stop working and its leases are revoked at once" : "re-enable a server")
      .option("--json")
      .action(async (id: string, options: { json?: boolean }) => {
        const out = output(Boolean(options.json));
        const result = await api().request<ServerJson>("POST", `v1/admin/servers/${enc(id)}/${verb}`);
        out.out(out.json ? JSON.stringify(result) : `${id} ${verb}d`);
      });
  }
  server
    .command("delete <id>")
    .description("delete a server: its tokens stop working and its leases and credentials are revoked at once; an admin may register the id again afresh")
    .option("--json")
    .action(async (id: string, options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      const result = await api().request<{ id: string; deleted: true; leases_revoked: number; credentials_revoked: number }>("DELETE", `v1/admin/servers/${enc(id)}`);
      out.out(out.json ? JSON.stringify(result) : `deleted ${id}: ${result.leases_revoked} lease(s) and ${result.credentials_revoked} credential(s) revoked`);
    });
  server
    .command("rotate-credentials <id>")
    .description("replace the server's client secret, or with --public-key every credential it has; the old ones stop working at once")
    .option("--public-key <file>", "a public key (PEM or JWK) that replaces every credential of the server")
    .option("--add", "with --public-key: add the key beside the server's credentials (key rollover) instead of replacing them")
    .option("--json")
    .action(async (id: string, options: { publicKey?: string; add?: boolean; json?: boolean }) => {
      const out = output(Boolean(options.json));
      if (options.add && options.publicKey === undefined) throw new CliError("--add needs --public-key", 2);
      const publicJwk = options.publicKey === undefined ? undefined : await readPublicKeyFile(options.publicKey);
      const body = publicJwk ? { public_jwk: publicJwk, mode: options.add ? "add" : "replace" } : {};
      const result = await api().request<{ client_id: string; client_secret: string | null }>("POST", `v1/admin/servers/${enc(id)}/rotate-credentials`, body);
      if (out.json) out.out(JSON.stringify(result));
      else out.out(result.client_secret ? `new client secret for ${id} (shown once): ${result.client_secret}` : options.add ? `public key added to ${id}` : `every credential of ${id} replaced by the public key`);
    });

  // operator --------------------------------------------------------------------------------
  const operator = program.command("operator").description("operator tokens for humans");
  operator
    .command("add <name>")
    .description("create an operator; prints its token once")
    .requiredOption("--role <role>", "admin, security, auditor, developer or a policy-defined role")
    .option("--ttl <duration>", "the token's lifetime (30d, 12h; 1m to 366d); default: it does not expire")
    .option("--json")
    .action(async (name: string, options: { role: string; ttl?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const result = await api().request<{ name: string; token: string; expires_at: string | null }>("POST", "v1/admin/operators", { name, role: options.role, ...(options.ttl && { ttl: options.ttl }) });
      if (out.json) out.out(JSON.stringify({ name: result.name, token: result.token, expires_at: result.expires_at }));
      else out.out(`operator ${result.name} (${options.role}) token (shown once${result.expires_at ? `, expires ${result.expires_at}` : ""}): ${result.token}`);
    });
  operator
    .command("rotate <name>")
    .description("replace an operator's token: prints the new one once; the old one stops working at once")
    .option("--ttl <duration>", "the new token's lifetime from now; default: the expiry stays as it was")
    .option("--json")
    .action(async (name: string, options: { ttl?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const result = await api().request<{ name: string; token: string; expires_at: string | null }>("POST", `v1/admin/operators/${enc(name)}/rotate`, options.ttl ? { ttl: options.ttl } : {});
      if (out.json) out.out(JSON.stringify({ name: result.name, token: result.token, expires_at: result.expires_at }));
      else out.out(`new token for operator ${result.name} (shown once${result.expires_at ? `, expires ${result.expires_at}` : ""}): ${result.token}`);
    });
  operator
    .command("list")
    .description("list operators (never their tokens), every page of them")
    .option("--limit <n>", "show at most n operators")
    .option("--json")
    .action(async (options: { limit?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const pages = listPages<OperatorJson>(api(), "v1/admin/operators", "operators", {}, parseLimit(options.limit));
      await printPages(out, pages, ["name", "role", "created", "expires", "revoked"], (o) => [o.name, o.role, o.created_at, o.expires_at, o.revoked]);
    });
  operator
    .command("revoke <name>")
    .description("revoke an operator's token at once")
    .option("--json")
    .action(async (name: string, options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      await api().request("DELETE", `v1/admin/operators/${enc(name)}`);
      out.out(out.json ? JSON.stringify({ name, revoked: true }) : `operator ${name} revoked`);
    });

  // secret ----------------------------------------------------------------------------------
  const secret = program.command("secret").description("write, list, read and delete secrets");
  secret
    .command("put <path>")
    .description("write a new version from stdin, a file, or a generated random value")
    .option("--value-stdin", "read the value from standard input, byte for byte")
    .option("--from-file <file>", "read the value from a file")
    .option("--generate <n>", "generate a random alphanumeric value of n characters")
    .option("--description <text>")
    .option("--owner <owner>")
    .option("--sensitivity <level>", "low, medium or high")
    .option("--json")
    .action(async (path: string, options: { valueStdin?: boolean; fromFile?: string; generate?: string; description?: string; owner?: string; sensitivity?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const sources = [options.valueStdin, options.fromFile, options.generate].filter((v) => v !== undefined && v !== false);
      if (sources.length !== 1) throw new CliError("give exactly one of --value-stdin, --from-file, --generate", 2);
      let body: Record<string, unknown>;
      if (options.generate !== undefined) {
        if (!/^\d+$/.test(options.generate)) throw new CliError("--generate takes a length", 2);
        body = { path, generate: Number(options.generate) };
      } else {
        let value: Buffer;
        try {
          value = options.valueStdin ? await readStdin() : readFileSync(options.fromFile!);
        } catch {
          throw new CliError(`cannot read ${options.fromFile ?? "standard input"}`);
        }
        body = { path, value_base64: value.toString("base64") };
      }
      const result = await api().request<{ path: string; version: number }>("POST", "v1/admin/secrets", {
        ...body,
        ...(options.description && { description: options.description }),
        ...(options.owner && { owner: options.owner }),
        ...(options.sensitivity && { sensitivity: options.sensitivity }),
      });
      out.out(out.json ? JSON.stringify(result) : `wrote ${result.path} version ${result.version}`);
    });
  secret
    .command("list [prefix]")
    .description("list secrets' metadata under a prefix (never values), every page of them")
    .option("--limit <n>", "show at most n secrets")
    .option("--json")
    .action(async (prefix: string | undefined, options: { limit?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const pages = listPages<SecretListJson>(api(), "v1/admin/secrets", "secrets", prefix ? { prefix } : {}, parseLimit(options.limit));
      await printPages(out, pages, ["path", "version", "sensitivity", "owner", "updated"], (s) => [s.path, s.current_version, s.sensitivity, s.owner, s.updated_at]);
    });
  secret
    .command("versions <path>")
    .description("a secret's versions: number, when, by whom, whether destroyed (never values)")
    .option("--json")
    .action(async (path: string, options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      const result = await api().request<{ versions: Array<{ version: number; created_at: string; created_by: string; destroyed: boolean }> }>("GET", `v1/admin/secrets/${encPath(path)}`);
      out.out(out.json ? JSON.stringify(result.versions) : table(["version", "created", "by", "destroyed"], result.versions.map((v) => [v.version, v.created_at, v.created_by, v.destroyed])));
    });
  secret
    .command("get <path>")
    .description("print a secret's value (audited like any access)")
    .option("--version <n>")
    .option("--json")
    .action(async (path: string, options: { version?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      if (options.version !== undefined && !/^\d+$/.test(options.version)) throw new CliError("--version takes a number", 2);
      const result = await api().request<{ name: string; value: string; encoding: string; version: number }>("POST", "v1/admin/secrets/read", {
        path,
        ...(options.version && { version: Number(options.version) }),
      });
      if (out.json) out.out(JSON.stringify(result));
      else process.stdout.write(result.encoding === "base64" ? Buffer.from(result.value, "base64") : `${result.value}\n`);
    });
  secret
    .command("rollback <path>")
    .description("write version N's value again as a new version (audited; the value is never printed)")
    .requiredOption("--to <n>", "the version whose value comes back")
    .option("--json")
    .action(async (path: string, options: { to: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      if (!/^\d{1,9}$/.test(options.to) || Number(options.to) < 1) throw new CliError("--to takes a version number", 2);
      const result = await api().request<{ path: string; version: number; from: number }>("POST", `v1/admin/secrets/${encPath(path)}/rollback`, { to: Number(options.to) });
      out.out(out.json ? JSON.stringify(result) : `${path}: version ${result.version} now holds the value of version ${result.from}`);
    });
  secret
    .command("destroy <path>")
    .description("destroy one version irreversibly (local store, Vault KV v2; refused on AWS); reading it afterwards is not found")
    .requiredOption("--version <n>", "the version to destroy")
    .option("--json")
    .action(async (path: string, options: { version: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      if (!/^\d{1,9}$/.test(options.version) || Number(options.version) < 1) throw new CliError("--version takes a version number", 2);
      const result = await api().request<{ path: string; version: number; destroyed: true }>("POST", `v1/admin/secrets/${encPath(path)}/destroy`, { version: Number(options.version) });
      out.out(out.json ? JSON.stringify(result) : `${path}: version ${result.version} destroyed`);
    });
  secret
    .command("delete <path>")
    .description("delete a secret and destroy every version's value; its leases are revoked at once")
    .option("--json")
    .action(async (path: string, options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      await api().request("DELETE", `v1/admin/secrets/${encPath(path)}`);
      out.out(out.json ? JSON.stringify({ path, deleted: true }) : `deleted ${path}`);
    });

  // lease -----------------------------------------------------------------------------------
  const lease = program.command("lease").description("list and revoke leases");
  lease
    .command("list")
    .description("list leases (active ones, or every one with --all), every page of them")
    .option("--server <id>")
    .option("--secret <path>")
    .option("--all", "include expired and revoked leases")
    .option("--limit <n>", "show at most n leases")
    .option("--json")
    .action(async (options: { server?: string; secret?: string; all?: boolean; limit?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const query = { ...(options.server && { server: options.server }), ...(options.secret && { secret: options.secret }), ...(options.all && { all: "true" }) };
      const pages = listPages<LeaseJson>(api(), "v1/admin/leases", "leases", query, parseLimit(options.limit));
      await printPages(out, pages, ["lease", "server", "secret", "version", "state", "expires"], (l) => [l.lease_id, l.server, l.secret, l.version, l.state, l.expires_at]);
    });
  lease
    .command("renew <id>")
    .description("extend any server's active lease, as its server could: at most the default ttl, never past its max ttl, only while policy still allows it")
    .option("--increment <seconds>", "seconds to extend by (default and cap: the broker's default lease ttl)")
    .option("--json")
    .action(async (id: string, options: { increment?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      if (options.increment !== undefined && (!/^\d{1,8}$/.test(options.increment) || Number(options.increment) < 1)) throw new CliError("--increment takes a number of seconds", 2);
      const result = await api().request<LeaseJson>("POST", `v1/admin/leases/${enc(id)}/renew`, options.increment ? { increment: Number(options.increment) } : {});
      out.out(out.json ? JSON.stringify(result) : `lease ${result.lease_id} now expires ${result.expires_at}`);
    });
  lease
    .command("revoke [id]")
    .description("revoke one lease, every lease of a server, or every lease of a secret, at once")
    .option("--server <id>")
    .option("--secret <path>")
    .option("--json")
    .action(async (id: string | undefined, options: { server?: string; secret?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const targets = [id, options.server, options.secret].filter((v) => v !== undefined);
      if (targets.length !== 1) throw new CliError("give exactly one of ID, --server, --secret", 2);
      const result = await api().request<{ revoked: number; lease_ids: string[] }>("POST", "v1/admin/leases/revoke", id ? { lease_id: id } : options.server ? { server: options.server } : { secret: options.secret });
      out.out(out.json ? JSON.stringify(result) : `revoked ${result.revoked} lease(s)`);
    });

  // keys ------------------------------------------------------------------------------------
  program
    .command("keys")
    .description("key management")
    .command("rotate")
    .description("new master key version, re-wrapping every data key (or --signing: new token signing key)")
    .option("--signing", "rotate the token signing key instead (the old one verifies during the overlap)")
    .option("--json")
    .action(async (options: { signing?: boolean; json?: boolean }) => {
      const out = output(Boolean(options.json));
      if (!out.json) out.err(options.signing ? "rotating the signing key..." : "rotating the master key and re-wrapping data keys...");
      const result = await api().request<Record<string, unknown>>("POST", `v1/admin/keys/rotate?target=${options.signing ? "signing" : "master"}`);
      out.out(out.json ? JSON.stringify(result) : options.signing ? `new signing key ${String(result.kid)}` : `new master key ${String(result.key_id)}; ${String(result.rewrapped)} data keys re-wrapped`);
    });
}
