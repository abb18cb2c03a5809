/**
 * Starts a real broker (HTTP server, SQLite file, local encrypted store) on a free port in a
 * temporary folder, with its log captured for the suite-wide "no secret in any log" check.
 */
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { initialiseStore, isInitialised } from "../../src/wiring/bootstrap.js";
import { parseConfig, type BrokerConfigInput } from "../../src/config.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import { REDACTED_PATHS } from "../../src/logger.js";
import { startBroker, type RunningBroker } from "../../src/main.js";
import { openStore } from "../../src/store/open.js";
import { captureFile } from "./log-capture.js";

export interface TestBroker {
  broker: RunningBroker;
  url: string;
  dir: string;
  adminToken: string;
  policiesDir: string;
  /** Writes a policy file (and reloads synchronously). */
  writePolicy(name: string, yaml: string): void;
  /** Operator API call with the admin token (or another). */
  admin<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  registerServer(id: string, extra?: Record<string, unknown>): Promise<string>;
  putSecret(path: string, value: string): Promise<number>;
  serverToken(id: string, secret: string): Promise<string>;
  call<T = unknown>(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string>; rawBody?: string }): Promise<{ status: number; body: T; headers: Headers }>;
  close(): Promise<void>;
}

export interface StartOptions {
  config?: BrokerConfigInput;
  policy?: string;
  clock?: () => number;
  /** Watch the policy folder like a production broker (default false: tests reload explicitly). */
  watchPolicies?: boolean;
  /** Join an existing broker's database: its master key file and admin token. */
  masterKeyFile?: string;
  adminToken?: string;
  /** Start even behind the newest audit checkpoint (`--accept-audit-rollback`). */
  acceptAuditRollback?: boolean;
}

/** A value that must never appear in a log line: the suite teardown greps for the marker. */
export const SECRET_MARKER = "s3cr3t-VALUE-";
export const testSecret = (label: string) => `${SECRET_MARKER}${label}-${Math.random().toString(36).slice(2, 10)}`;

export async function startTestBroker(options: StartOptions = {}): Promise<TestBroker> {
  const dir = mkdtempSync(join(tmpdir(), "credbroker-test-"));
  const policiesDir = join(dir, "policies");
  mkdirSync(policiesDir);
  if (options.policy) writeFileSync(join(policiesDir, "test.yaml"), options.policy);
  const config = parseConfig({
    listen: "127.0.0.1:0",
    database: `sqlite:${join(dir, "broker.db")}`,
    policies: policiesDir,
    master_key_file: join(dir, "master.key"),
    log_level: "debug",
    // Budgets no test reaches by accident, and every refusal recorded one by one so that a test
    // can find the record of each request it sends (test/http/attacks-flooding.test.ts sets the
    // defaults to test the limits and the refusal summaries).
    rate_limit: { per_second: 1000, burst: 1000, max_failures: 1000, requests: { per_second: 1_000_000, burst: 1_000_000 }, refusals_recorded: 1_000_000 },
    ...options.config,
  });
  const ring = options.masterKeyFile ? MasterKeyRing.fromFile(options.masterKeyFile) : MasterKeyRing.create(join(dir, "master.key"));
  const store = await openStore(config.database);
  const clock = options.clock ?? Date.now;
  // A second broker on a shared database joins it: the first one initialised it.
  const adminToken = (await isInitialised(store)) ? (options.adminToken ?? "") : await initialiseStore(store, ring, "admin", clock);
  await store.close();
  const logger = pino({ level: "debug", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, pino.destination({ dest: captureFile(), sync: true, append: true }));
  const broker = await startBroker({ config, masterKey: ring, logger, clock, watchPolicies: options.watchPolicies ?? false, acceptAuditRollback: options.acceptAuditRollback ?? false });
  const url = broker.url;

  const call: TestBroker["call"] = async (method, path, callOptions = {}) => {
    const headers: Record<string, string> = { ...callOptions.headers };
    if (callOptions.token) headers.authorization = `Bearer ${callOptions.token}`;
    let body: string | undefined = callOptions.rawBody;
    if (callOptions.body !== undefined) {
      headers["content-type"] ??= "application/json";
      body = JSON.stringify(callOptions.body);
    }
    const response = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined && { body }) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: response.status, body: parsed as never, headers: response.headers };
  };

  const harness: TestBroker = {
    broker,
    url,
    dir,
    adminToken,
    policiesDir,
    writePolicy(name, yaml) {
      writeFileSync(join(policiesDir, name), yaml);
      const outcome = broker.reloadPolicies();
      if (!outcome.ok) throw new Error(`test policy invalid: ${JSON.stringify(outcome.problems)}`);
    },
    admin: (method, path, body, token = adminToken) => call(method, path, { token, ...(body !== undefined && { body }) }),
    async registerServer(id, extra = {}) {
      const { status, body } = await call<{ client_secret: string }>("POST", "/v1/admin/servers", { token: adminToken, body: { id, ...extra } });
      if (status !== 201) throw new Error(`register ${id}: ${status} ${JSON.stringify(body)}`);
      return body.client_secret;
    },
    async putSecret(path, value) {
      const { status, body } = await call<{ version: number }>("POST", "/v1/admin/secrets", { token: adminToken, body: { path, value } });
      if (status !== 201) throw new Error(`put ${path}: ${status} ${JSON.stringify(body)}`);
      return body.version;
    },
    async serverToken(id, secret) {
      const { status, body } = await call<{ access_token: string }>("POST", "/v1/auth/token", {
        body: { grant_type: "client_credentials", client_id: id, client_secret: secret },
      });
      if (status !== 200) throw new Error(`token for ${id}: ${status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    call,
    async close() {
      await broker.close();
      logger.flush();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
