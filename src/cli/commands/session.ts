/** Commands about the operator's own session and the broker: login, whoami, status. */
import type { Command } from "commander";
import { ApiClient, apiClientFromEnv, DEFAULT_URL, normaliseUrl, resolveConnection } from "../api-client.js";
import { checkProfileName, DEFAULT_PROFILE, readProfile, writeProfile } from "../credentials.js";
import { CliError } from "../errors.js";
import { table, terminalSafe, type Output } from "../output.js";
import { readToken } from "../secret-input.js";

interface WhoAmIJson {
  name: string;
  role: string;
  permissions: string[];
  created_at: string;
  expires_at: string | null;
}

interface StatusJson {
  version: string;
  storage: string;
  started_at: string;
  uptime_seconds: number;
  mounts: Array<{ path: string; backend: string; healthy: boolean; error: string | null }>;
  policy: { digest: string; files: number; servers: number; roles: number };
}

/** `3d 4h 5m`, `2m 10s`: an uptime as people read it. */
function formatUptime(seconds: number): string {
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86_400], ["h", 3_600], ["m", 60]] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  if (parts.length < 2) parts.push(`${seconds}s`);
  return parts.join(" ");
}

function checkUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(`not a URL: ${text}`, 2);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError("the broker URL must be http:// or https://", 2);
  if (url.username || url.password || url.search || url.hash) throw new CliError("the broker URL takes no user, password, query or fragment", 2);
  return normaliseUrl(url.toString());
}

export function registerSessionCommands(program: Command, output: (json: boolean) => Output) {
  program
    .command("login [url]")
    .description("store an operator token for a broker URL in the credentials file (0600); the token is read from stdin, a hidden prompt, or CREDBROKER_TOKEN, never from the command line")
    .option("--json")
    .action(async (urlArgument: string | undefined, options: { json?: boolean }, command: Command) => {
      const out = output(Boolean(options.json));
      const profile = checkProfileName((command.optsWithGlobals() as { profile?: string }).profile ?? process.env.CREDBROKER_PROFILE ?? DEFAULT_PROFILE);
      const url = checkUrl(urlArgument ?? process.env.CREDBROKER_URL ?? readProfile(profile)?.url ?? DEFAULT_URL);
      const token = process.env.CREDBROKER_TOKEN ?? (await readToken(`operator token for ${url}: `));
      // A token is stored only once the broker has accepted it: no typo waits for the next command.
      const me = await new ApiClient({ url, token }).request<WhoAmIJson>("GET", "v1/admin/whoami");
      const file = writeProfile(profile, { url, token });
      if (out.json) out.out(JSON.stringify({ profile, url, name: me.name, role: me.role, expires_at: me.expires_at, credentials_file: file }));
      else out.out(`logged in to ${url} as ${terminalSafe(me.name)} (role ${terminalSafe(me.role)})${me.expires_at ? `, token expires ${me.expires_at}` : ""}; profile ${profile} in ${file}`);
    });

  program
    .command("whoami")
    .description("the operator your token names: name, role, permissions, token expiry, and the broker it was sent to")
    .option("--json")
    .action(async (options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      const { url, profile } = resolveConnection();
      const me = await apiClientFromEnv().request<WhoAmIJson>("GET", "v1/admin/whoami");
      if (out.json) out.out(JSON.stringify({ ...me, url, profile: profile ?? null }));
      else {
        out.out(`${terminalSafe(me.name)} (role ${terminalSafe(me.role)}) at ${url}${profile ? ` (profile ${profile})` : ""}`);
        out.out(`  permissions: ${me.permissions.map(terminalSafe).join(", ") || "none"}`);
        out.out(`  token expires: ${me.expires_at ?? "never"}`);
      }
    });

  program
    .command("status")
    .description("the broker's version, uptime, storage, mounts with their backend and health, and the policy set in force")
    .option("--json")
    .action(async (options: { json?: boolean }) => {
      const out = output(Boolean(options.json));
      const { url } = resolveConnection();
      const status = await apiClientFromEnv().request<StatusJson>("GET", "v1/admin/status");
      if (out.json) {
        out.out(JSON.stringify({ url, ...status }));
        return;
      }
      out.out(`broker   ${url}`);
      out.out(`version  ${terminalSafe(status.version)}, up ${formatUptime(status.uptime_seconds)} (since ${status.started_at})`);
      out.out(`storage  ${terminalSafe(status.storage)}`);
      out.out(`policy   ${status.policy.files} file(s), ${status.policy.servers} server(s), ${status.policy.roles} role(s), digest ${status.policy.digest.slice(0, 16)}`);
      out.out("");
      out.out(table(["mount", "backend", "health"], status.mounts.map((m) => [m.path === "" ? "(default)" : m.path, m.backend, m.healthy ? "ok" : `down: ${m.error ?? "unknown"}`])));
    });
}
