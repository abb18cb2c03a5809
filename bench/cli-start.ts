/**
 * How long the CLI takes to start, against a plain `node` start measured in the same run:
 * `credbroker --version`, `--help` and `server list` (a command that calls the broker) to exit, and how much later a command wrapped by
 * `credbroker run` starts than the same command started directly (the time until it prints its
 * first line), with a real `credbroker dev` to fetch one secret from; and the same for a real MCP
 * server (@modelcontextprotocol/sdk over stdio): the time from spawning it until its answer to an
 * `initialize` request arrives, started directly and through `credbroker run` (which relays the
 * MCP session). Rounds alternate between the commands so a change in the machine's load hits all
 * of them alike.
 *
 *   npm run bench:cli                 # 15 rounds
 *   npm run bench:cli -- --rounds 30
 *
 * Runs the compiled CLI (dist/, built by `npm run build`).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { machineFacts } from "./machine.js";

const ROOT = resolve(import.meta.dirname, "..");
const CLI = resolve(ROOT, "dist/cli/bin.js");

function argValue(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${name} needs a positive whole number`);
    process.exit(2);
  }
  return value;
}

/** Time from spawning `argv` until it writes its first byte to stdout, ms. */
function timeToFirstOutput(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  return new Promise((done, fail) => {
    child.stdout.once("data", () => done(Number(process.hrtime.bigint() - started) / 1e6));
    child.once("exit", (code) => fail(new Error(`${argv.join(" ")} exited ${code} before any output: ${stderr.slice(0, 500)}`)));
  });
}

const MCP_SERVER = resolve(ROOT, "bench/fixtures/mcp-stdio-server.mjs");
const INITIALIZE = `${JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1.0.0" } },
})}\n`;

/** Time from spawning `argv` until its answer to an MCP `initialize` (written at once to its stdin) arrives, ms. */
function timeToInitialize(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, argv, { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  child.stdin.write(INITIALIZE);
  return new Promise((done, fail) => {
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      if (!stdout.includes("\n")) return;
      const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
      const answer = JSON.parse(stdout.slice(0, stdout.indexOf("\n"))) as { id?: number; result?: unknown };
      child.stdin.end();
      child.kill("SIGTERM");
      if (answer.id === 1 && answer.result !== undefined) done(elapsed);
      else fail(new Error(`unexpected answer to initialize: ${stdout.slice(0, 300)}`));
    });
    child.once("exit", (code) => {
      if (!stdout.includes("\n")) fail(new Error(`${argv.join(" ")} exited ${code} before answering initialize: ${stderr.slice(0, 500)}`));
    });
  });
}

/** Wall time of one run of `argv`, ms; throws when it does not exit 0. */
function timeRun(argv: string[], env: NodeJS.ProcessEnv): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, argv, { env, stdio: ["ignore", "ignore", "pipe"] });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${argv.join(" ")} exited ${result.status}: ${result.stderr.toString().slice(0, 500)}`);
  return elapsed;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

async function startDev(dir: string): Promise<{ url: string; token: string; stop: () => Promise<void> }> {
  mkdirSync(join(dir, "policies"));
  writeFileSync(join(dir, "policies", "bench.yaml"), 'servers:\n  bench-mcp:\n    allow:\n      - secrets: ["bench/*"]\n        actions: [read]\n');
  const child = spawn(process.execPath, [CLI, "dev", "--json", "--port", "0", "--data-dir", join(dir, "data"), "--policies", join(dir, "policies")], {
    stdio: ["ignore", "pipe", "ignore"],
    env: { ...process.env, CREDBROKER_LOG_LEVEL: "warn" },
  });
  const line = await new Promise<string>((done, fail) => {
    let text = "";
    child.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      if (text.includes("\n")) done(text.slice(0, text.indexOf("\n")));
    });
    child.once("exit", (code) => fail(new Error(`credbroker dev exited ${code}`)));
  });
  const ready = JSON.parse(line) as { url: string; admin_token: string };
  return {
    url: ready.url,
    token: ready.admin_token,
    stop: () =>
      new Promise((done) => {
        child.once("exit", () => done());
        child.kill("SIGTERM");
      }),
  };
}

async function main(): Promise<void> {
  const rounds = argValue("--rounds", 15);
  const facts = machineFacts();
  console.log(`credbroker CLI start bench: ${facts.nproc} CPUs, node ${facts.node}, load ${facts.loadAverage.join(" ")}, ${rounds} rounds`);
  const dir = mkdtempSync(join(tmpdir(), "credbroker-bench-cli-"));
  const dev = await startDev(dir);
  try {
    const operator = { ...process.env, CREDBROKER_URL: dev.url, CREDBROKER_TOKEN: dev.token };
    const added = spawnSync(process.execPath, [CLI, "server", "add", "bench-mcp", "--json"], { env: operator });
    const { client_secret } = JSON.parse(added.stdout.toString()) as { client_secret: string };
    spawnSync(process.execPath, [CLI, "secret", "put", "bench/token", "--value-stdin"], { env: operator, input: "bench-value" });
    const server = { ...process.env, CREDBROKER_URL: dev.url, CREDBROKER_CLIENT_ID: "bench-mcp", CREDBROKER_CLIENT_SECRET: client_secret };

    // The "MCP server": prints a line the moment it runs, then exits.
    const serverArgs = ["-e", "process.stdout.write('up\\n')"];
    const commands: Array<{ name: string; argv: string[]; env: NodeJS.ProcessEnv; measure: (argv: string[], env: NodeJS.ProcessEnv) => number | Promise<number> }> = [
      { name: "node -e 0 (reference)", argv: ["-e", "0"], env: process.env, measure: timeRun },
      { name: "credbroker --version", argv: [CLI, "--version"], env: process.env, measure: timeRun },
      { name: "credbroker --help", argv: [CLI, "--help"], env: process.env, measure: timeRun },
      { name: "credbroker server list (one API call)", argv: [CLI, "server", "list"], env: operator, measure: timeRun },
      { name: "a server, started directly", argv: serverArgs, env: process.env, measure: timeToFirstOutput },
      { name: "the same through credbroker run", argv: [CLI, "run", "--env", "TOKEN=bench/token", "--stdio", "inherit", "--", process.execPath, ...serverArgs], env: server, measure: timeToFirstOutput },
      { name: "an MCP server, initialize, started directly", argv: [MCP_SERVER], env: process.env, measure: timeToInitialize },
      { name: "the MCP server through credbroker run", argv: [CLI, "run", "--env", "TOKEN=bench/token", "--", process.execPath, MCP_SERVER], env: server, measure: timeToInitialize },
    ];
    const times = new Map(commands.map((command) => [command.name, [] as number[]]));
    for (const command of commands) await command.measure(command.argv, command.env); // warm the file cache
    for (let round = 0; round < rounds; round++) {
      for (const command of round % 2 ? [...commands].reverse() : commands) times.get(command.name)!.push(await command.measure(command.argv, command.env));
    }
    const medianOf = (name: string) => median(times.get(name)!);
    console.log("\ncommand (to exit, to the first line, or to initialize answered)   median ms   min ms");
    for (const command of commands) {
      console.log(`${command.name.padEnd(62)}  ${medianOf(command.name).toFixed(0).padStart(9)}  ${Math.min(...times.get(command.name)!).toFixed(0).padStart(7)}`);
    }
    const reference = medianOf(commands[0]!.name);
    console.log(`\n--help: ${(medianOf("credbroker --help") / reference).toFixed(2)}x a plain node start (${medianOf("credbroker --help").toFixed(0)} ms)`);
    console.log(`credbroker run adds ${(medianOf("the same through credbroker run") - medianOf("a server, started directly")).toFixed(0)} ms to a server's start (token, one read, the wrapper's own start)`);
    console.log(
      `credbroker run adds ${(medianOf("the MCP server through credbroker run") - medianOf("an MCP server, initialize, started directly")).toFixed(0)} ms to an MCP server's answer to initialize (${medianOf("an MCP server, initialize, started directly").toFixed(0)} ms directly)`,
    );
  } finally {
    await dev.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
