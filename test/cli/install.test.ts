/**
 * The README's install paths. `npm install -g` from the checkout or from the packed tarball puts
 * `credbroker` on the PATH, so the `mcpServers` example works as written: an MCP client spawns the
 * bare command name `credbroker` with `run` and its environment, with no shell alias. The client
 * package, installed alone from its tarball, brings jose and nothing of the broker, works on its
 * own, and its declarations compile in a consumer's strict project under TypeScript 5.x and 7
 * (TypeScript 7 is installed by this test into a temporary folder, version TYPESCRIPT_7).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runCli, startDev } from "../helpers/cli.js";
import { testSecret } from "../helpers/broker.js";

const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
const CLIENT_DIR = join(ROOT, "packages", "client");
/** The TypeScript 7 release the client's declarations are checked with. */
const TYPESCRIPT_7 = "7.0.2";
/** The client alone (with jose) is about 0.5 MB installed; the broker about 100 MB. */
const CLIENT_INSTALL_LIMIT_BYTES = 1024 * 1024;

const POLICY = 'servers:\n  analytics-mcp:\n    allow:\n      - secrets: ["db/analytics-ro"]\n        actions: [read]\n';

/** Spawns a bare command name the way MCP clients do: PATH lookup, no shell. */
function spawnByName(command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.once("error", fail);
    child.once("close", (code) => done({ code, stdout, stderr }));
  });
}

/** npm with the registry's answers taken from its cache when it has them. */
function npm(args: string[], cwd: string): string {
  return execFileSync(NPM, [...args, "--no-audit", "--no-fund", "--prefer-offline"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Only the prefix's bin and node's own folder: nothing else could answer to `credbroker`. */
function pathOnly(prefix: string): NodeJS.ProcessEnv {
  return { ...process.env, PATH: [join(prefix, "bin"), join(process.execPath, "..")].join(delimiter) };
}

interface Packed {
  /** Absolute path of the .tgz. */
  file: string;
  /** Paths inside the package, e.g. `dist/index.js`. */
  files: string[];
  manifest: { engines?: Record<string, string>; dependencies?: Record<string, string>; publishConfig?: Record<string, string> };
}

/** `npm pack` of the package in `dir` into `destination`; `scripts: false` packs what is built already. */
function pack(dir: string, destination: string, options: { scripts: boolean }): Packed {
  const args = ["pack", "--json", "--pack-destination", destination, ...(options.scripts ? [] : ["--ignore-scripts"])];
  const [result] = JSON.parse(npm(args, dir)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  return {
    file: join(destination, result!.filename),
    files: result!.files.map((entry) => entry.path),
    manifest: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Packed["manifest"],
  };
}

/** Total size in bytes of every file under `dir`. */
function treeBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).reduce((sum, entry) => {
    const stats = statSync(join(dir, entry));
    return stats.isFile() ? sum + stats.size : sum;
  }, 0);
}

/** The packages installed at the top of `node_modules` (`@scope/name` for scoped ones). */
function topLevelPackages(nodeModules: string): string[] {
  return readdirSync(nodeModules)
    .filter((entry) => !entry.startsWith("."))
    .flatMap((entry) => (entry.startsWith("@") ? readdirSync(join(nodeModules, entry)).map((name) => `${entry}/${name}`) : [entry]))
    .sort();
}

async function expectVersionOnPath(pathEnv: NodeJS.ProcessEnv): Promise<void> {
  const result = await spawnByName("credbroker", ["--version"], pathEnv);
  expect(result.code).toBe(0);
  expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
}

/** A dev broker holding `db/analytics-ro` for analytics-mcp, which authenticates with a key file. */
async function brokerWithSecret(): Promise<{ url: string; keyFile: string; value: string; stop: () => Promise<number | null> }> {
  const dev = await startDev(POLICY);
  const value = testSecret("install");
  expect((await runCli(["secret", "put", "db/analytics-ro", "--value-stdin"], { env: dev.env, input: value })).code).toBe(0);
  const keyFile = join(dev.dir, "analytics-mcp.key");
  expect((await runCli(["server", "keygen", "analytics-mcp", "--out", keyFile], { env: dev.env })).code).toBe(0);
  return { url: dev.url, keyFile, value, stop: () => dev.stop() };
}

/** The README's mcpServers entry: its "command" and "args", and its "env" block. */
async function expectRunByName(pathEnv: NodeJS.ProcessEnv): Promise<void> {
  const broker = await brokerWithSecret();
  try {
    const env = { ...pathEnv, CREDBROKER_URL: broker.url, CREDBROKER_CLIENT_ID: "analytics-mcp", CREDBROKER_PRIVATE_KEY_FILE: broker.keyFile };
    const result = await spawnByName(
      "credbroker",
      ["run", "--env", "PG_URL=db/analytics-ro", "--stdio", "inherit", "--", "node", "-e", "process.stdout.write(process.argv[1] === process.env.PG_URL ? 'same' : 'different')", "${PG_URL}"],
      env,
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("same");
  } finally {
    expect(await broker.stop()).toBe(0);
  }
}

describe("npm install -g from the checkout", () => {
  let dir: string;
  let pathEnv: NodeJS.ProcessEnv;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-install-"));
    npm(["install", "-g", "--prefix", join(dir, "prefix"), ROOT], dir);
    pathEnv = pathOnly(join(dir, "prefix"));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("puts credbroker on the PATH", () => expectVersionOnPath(pathEnv));

  it("runs the README's mcpServers entry shape: credbroker run by name, secrets injected", () => expectRunByName(pathEnv));
});

/** A consumer's strict project using the client's public API (types only: it is compiled, never run). */
const CONSUMER_SOURCE = `import { BrokerClient, BrokerClientError, SecretAccessError, withBrokerSecrets, type BrokerClientOptions, type McpServerLike, type PrivateKeyInput } from "@credbroker/client";

const jwk: PrivateKeyInput = { kty: "OKP", crv: "Ed25519", x: "x", d: "d" };
const options: BrokerClientOptions = { urls: ["https://a.example", "https://b.example"], clientId: "tickets-mcp", privateKey: jwk, timeoutMs: 5_000 };
const client = new BrokerClient(options);
const secrets = await client.load({ API_KEY: "tickets/api-key", DB_URL: "db/readonly" });
const apiKey: string = secrets.get("API_KEY");
const bytes: Uint8Array = secrets.bytes("DB_URL");
const all: Record<"API_KEY" | "DB_URL", string> = secrets.values();
secrets.on("change", (names) => names.forEach((name) => secrets.get(name)));
secrets.on("error", (error) => console.error(error.code, error.message));
try {
  await BrokerClient.fromEnv().load({ X: "x/y" });
} catch (error) {
  if (error instanceof SecretAccessError) console.error(error.denied.map((denied) => denied.reason), error.missing.length);
  else if (error instanceof BrokerClientError) console.error(error.code);
}
declare const server: McpServerLike;
const live = await withBrokerSecrets(server, { TOKEN: "github/token" });
console.log(apiKey.length, bytes.byteLength, Object.keys(all), live.get("TOKEN").length);
await client.close();
`;

const CONSUMER_TSCONFIG = JSON.stringify({ compilerOptions: { strict: true, module: "nodenext", noEmit: true }, include: ["main.ts"] });

/** Imports the installed client, reads one secret with it, and says where the import resolved. */
const CONSUMER_SCRIPT = `import { BrokerClient } from "@credbroker/client";
const client = BrokerClient.fromEnv();
const secrets = await client.load({ PG_URL: "db/analytics-ro" });
process.stdout.write(JSON.stringify({ resolved: import.meta.resolve("@credbroker/client"), same: secrets.get("PG_URL") === process.env.EXPECTED }));
await client.close();
`;

describe("npm pack, then npm install -g and npm i @credbroker/client from the tarballs", () => {
  let dir: string;
  let broker: Packed;
  let client: Packed;
  let pathEnv: NodeJS.ProcessEnv;
  const consumer = () => join(dir, "consumer");

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-pack-"));
    // test/global-setup.ts built the broker's dist/ from the sources; the client's prepack cleans and builds its own.
    broker = pack(ROOT, dir, { scripts: false });
    client = pack(CLIENT_DIR, dir, { scripts: true });
    // better-sqlite3 builds here when no prebuilt binary can be fetched, hence the long timeout.
    npm(["install", "-g", "--prefix", join(dir, "prefix"), broker.file], dir);
    pathEnv = pathOnly(join(dir, "prefix"));
    mkdirSync(consumer());
    writeFileSync(join(consumer(), "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    npm(["install", client.file], consumer());
  }, 600_000);
  // About 100 MB of installed files: removing them takes a while on a busy machine.
  afterAll(() => rmSync(dir, { recursive: true, force: true }), 300_000);

  it("packs both packages clean: built code and types, no sources, tests or bench, engines set", () => {
    for (const { files, manifest } of [broker, client]) {
      expect(files.filter((file) => /^(src|test|bench|examples|packages|scripts|deploy)\//.test(file))).toEqual([]);
      expect(manifest.engines).toEqual({ node: ">=20" });
    }
    expect(broker.files).toEqual(expect.arrayContaining(["bin/credbroker.js", "dist/main.js", "dist/main.d.ts", "dist/sdk/index.js", "dist/sdk/index.d.ts", "migrations/sqlite/0001_init.sql"]));
    expect(client.files).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "dist/client.d.ts", "README.md", "package.json"]));
    // `credbroker run` belongs to the broker: the client carries the SDK only.
    expect(client.files.filter((file) => !/^dist\/[a-z-]+\.(js|d\.ts)$/.test(file)).sort()).toEqual(["README.md", "package.json"]);
    expect(client.manifest.dependencies).toEqual({ jose: broker.manifest.dependencies?.jose });
    expect(client.manifest.publishConfig).toEqual({ access: "public" });
    // The MCP SDK is the client's optional peer; the broker runs without it.
    expect(Object.keys(broker.manifest.dependencies ?? {})).not.toContain("@modelcontextprotocol/sdk");
  });

  it("puts credbroker on the PATH", () => expectVersionOnPath(pathEnv));

  it("initialises a store with the installed broker: its SQLite driver was built and its migrations came along", async () => {
    const config = join(dir, "credbroker.yaml");
    writeFileSync(config, "listen: 127.0.0.1:0\ndatabase: sqlite:./db/credbroker.db\npolicies: ./policies\nmaster_key_file: ./master.key\n");
    const result = await spawnByName("credbroker", ["init", "--config", config, "--json"], pathEnv);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { admin_token: string }).admin_token).toMatch(/^cbo_/);
  });

  it("runs the README's mcpServers entry shape: credbroker run by name, secrets injected", () => expectRunByName(pathEnv));

  it("installs @credbroker/client with jose alone, under 1 MiB, and it reads a secret on its own", async () => {
    const nodeModules = join(consumer(), "node_modules");
    expect(topLevelPackages(nodeModules)).toEqual(["@credbroker/client", "jose"]);
    expect(treeBytes(nodeModules)).toBeLessThan(CLIENT_INSTALL_LIMIT_BYTES);

    writeFileSync(join(consumer(), "read.js"), CONSUMER_SCRIPT);
    const running = await brokerWithSecret();
    try {
      // A bare environment: no NODE_PATH or NODE_OPTIONS through which the checkout could leak in.
      const env = { PATH: pathEnv.PATH, CREDBROKER_URL: running.url, CREDBROKER_CLIENT_ID: "analytics-mcp", CREDBROKER_PRIVATE_KEY_FILE: running.keyFile, EXPECTED: running.value };
      const result = await spawnByName(process.execPath, ["read.js"], env, consumer());
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const output = JSON.parse(result.stdout) as { resolved: string; same: boolean };
      expect(fileURLToPath(output.resolved)).toBe(join(nodeModules, "@credbroker", "client", "dist", "index.js"));
      expect(output.same).toBe(true);
    } finally {
      expect(await running.stop()).toBe(0);
    }
  });

  it(`its declarations compile in a strict consumer project with TypeScript 5.x and ${TYPESCRIPT_7}, no @types/node`, () => {
    writeFileSync(join(consumer(), "main.ts"), CONSUMER_SOURCE);
    writeFileSync(join(consumer(), "tsconfig.json"), CONSUMER_TSCONFIG);
    const tsc7Dir = join(dir, "typescript-7");
    mkdirSync(tsc7Dir);
    npm(["install", "--prefix", tsc7Dir, `typescript@${TYPESCRIPT_7}`], dir);
    const compilers: Array<[RegExp, string]> = [
      [/^Version 5\./, join(ROOT, "node_modules/typescript/bin/tsc")],
      [new RegExp(`^Version ${TYPESCRIPT_7.replaceAll(".", "\\.")}$`), join(tsc7Dir, "node_modules/typescript/bin/tsc")],
    ];
    for (const [version, tsc] of compilers) {
      expect(execFileSync(process.execPath, [tsc, "--version"], { encoding: "utf8" }).trim()).toMatch(version);
      // The diagnostics are on stdout: a failure shows them.
      const result = spawnSync(process.execPath, [tsc, "-p", join(consumer(), "tsconfig.json")], { cwd: consumer(), encoding: "utf8" });
      expect({ status: result.status, diagnostics: result.stdout + result.stderr }).toEqual({ status: 0, diagnostics: "" });
    }
  }, 300_000);
});
