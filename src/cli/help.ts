/**
 * One example per command, shown at the end of its `--help`. Kept in one table so a reviewer
 * sees every command's example together; test/cli/help.test.ts fails for a command without one.
 */
import type { Command } from "commander";

/** Command path (`server add`) → example lines. */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  dev: ["credbroker dev --port 8787", "credbroker dev --json   # one line: {url, admin_token}"],
  serve: ["credbroker serve --config credbroker.yaml"],
  init: ["credbroker init --config credbroker.yaml --json"],
  migrate: ["credbroker migrate --config credbroker.yaml"],
  login: ["credbroker login https://broker.example.com   # prompts for the token, without echo", "pass show credbroker/prod | credbroker login https://broker.example.com --profile prod"],
  whoami: ["credbroker whoami --json"],
  status: ["credbroker status", "credbroker --profile prod status --json"],
  "server add": ["credbroker server add github-mcp --label team=platform --json"],
  "server keygen": ["credbroker server keygen github-mcp --out ./github-mcp.key"],
  "server list": ["credbroker server list --limit 20"],
  "server show": ["credbroker server show github-mcp --json"],
  "server disable": ["credbroker server disable github-mcp"],
  "server enable": ["credbroker server enable github-mcp"],
  "server delete": ["credbroker server delete old-mcp --json"],
  "server rotate-credentials": ["credbroker server rotate-credentials github-mcp", "credbroker server rotate-credentials github-mcp --public-key new.pub --add"],
  "operator add": ["credbroker operator add alice --role security --ttl 30d --json"],
  "operator list": ["credbroker operator list"],
  "operator revoke": ["credbroker operator revoke alice"],
  "operator rotate": ["credbroker operator rotate alice --ttl 30d"],
  "secret put": ["printf %s \"$TOKEN\" | credbroker secret put github/token --value-stdin", "credbroker secret put db/password --generate 32"],
  "secret list": ["credbroker secret list github/ --json"],
  "secret versions": ["credbroker secret versions github/token"],
  "secret get": ["credbroker secret get github/token --version 2"],
  "secret rollback": ["credbroker secret rollback github/token --to 3"],
  "secret destroy": ["credbroker secret destroy github/token --version 2 --json"],
  "secret delete": ["credbroker secret delete github/token"],
  "lease list": ["credbroker lease list --server github-mcp --all --limit 50"],
  "lease renew": ["credbroker lease renew 0f9c2b1e-... --increment 600"],
  "lease revoke": ["credbroker lease revoke --server github-mcp"],
  "keys rotate": ["credbroker keys rotate", "credbroker keys rotate --signing"],
  "policy check": ["credbroker policy check ./policies"],
  "policy explain": ["credbroker policy explain --server github-mcp --secret github/token --action read"],
  "policy reload": ["credbroker policy reload"],
  "audit who-accessed": ["credbroker audit who-accessed github/token --since 90d --json"],
  "audit query": ["credbroker audit query --server github-mcp --outcome denied --since 7d", "credbroker audit query --follow"],
  "audit export": ["credbroker audit export --format csv --output audit.csv"],
  "audit verify": ["credbroker audit verify", "credbroker audit verify --checkpoints checkpoints.jsonl --public-key checkpoint.pem --json"],
  "audit archive": ["credbroker audit archive --before 365d --out audit-2025.jsonl"],
  "audit checkpoint-key": ["credbroker audit checkpoint-key > checkpoint.pem"],
};

/** The command's path below the program, e.g. `server add`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current?.parent; current = current.parent) names.unshift(current.name());
  return names.join(" ");
}

/** Adds the command's example from {@link EXAMPLES} to its help; a command with none is left as it is. */
export function addExample(command: Command): void {
  const lines = EXAMPLES[commandPath(command)];
  if (lines) command.addHelpText("after", `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((line) => `  ${line}`).join("\n")}`);
}
