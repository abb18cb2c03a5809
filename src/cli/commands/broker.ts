/** Commands that run or prepare a broker process: dev, serve, init, migrate. */
import type { Command } from "commander";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type { BrokerConfig } from "../../config.js";
import type { Logger } from "../../logger.js";
import type { RunningBroker } from "../../main.js";
import { lockDataDir } from "../data-dir-lock.js";
import { CliError } from "../errors.js";
import type { Output } from "../output.js";

/**
 * The broker's own modules (configuration, store drivers, backends and their SDKs), loaded only
 * by the commands that start or prepare a broker. Every other call (`--help`, `run`, the API
 * commands) starts without them: see `npm run bench:cli` for what that saves.
 */
async function brokerModules() {
  const [{ initialiseStore, isInitialised, devAdminToken, resolveMasterKey }, { loadConfig }, { createLogger }, { startBroker }, { openStore }] = await Promise.all([
    import("../../wiring/bootstrap.js"),
    import("../../config.js"),
    import("../../logger.js"),
    import("../../main.js"),
    import("../../store/open.js"),
  ]);
  return { initialiseStore, isInitialised, devAdminToken, resolveMasterKey, loadConfig, createLogger, startBroker, openStore };
}

/**
 * Refuses a port something already listens on, so `dev` can fail before it changes anything.
 * A rival could still take the port in between; then the start fails later, as any bind does.
 */
async function refuseBusyPort(port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((done, fail) => {
    probe.once("error", (error: NodeJS.ErrnoException) =>
      fail(error.code === "EADDRINUSE" ? new CliError(`port ${port} is in use on 127.0.0.1 (another credbroker dev?); choose another with --port`, 1) : error),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => done()));
  });
}

const EXAMPLE_POLICY = `# Example policy written by \`credbroker dev\`. Edit it: the broker reloads it on save.
servers:
  example-mcp:
    description: An example MCP server that may read one secret
    allow:
      - secrets: ["example/*"]
        actions: [read]
        max_ttl: 15m
roles:
  security: [rotate, approve, revoke, audit]
  auditor: [audit]
`;

/**
 * SIGINT/SIGTERM stop the broker, SIGHUP reloads its policies (the reload logs its outcome).
 * Listening starts before the broker does: a supervisor may signal the moment the broker logs
 * that it listens, and a signal without a listener would kill the process before it drains its
 * audit writer. A stop asked for during the start runs as soon as the start is done. The start
 * and stop lines go through the broker's logger, so its stderr is one format.
 */
function stopOnSignal(logger: Logger): { attach(broker: RunningBroker): Promise<number> } {
  let broker: RunningBroker | undefined;
  let requested: NodeJS.Signals | undefined;
  let stopped: ((code: number) => void) | undefined;
  const stopping = new Promise<number>((resolvePromise) => (stopped = resolvePromise));
  const stop = (running: RunningBroker, signal: NodeJS.Signals) => {
    logger.info({ signal }, "shutting down");
    process.off("SIGHUP", hup);
    running.close().then(
      () => {
        logger.info("credbroker stopped");
        stopped?.(0);
      },
      (error: unknown) => {
        logger.error({ err: String(error) }, "credbroker did not stop cleanly");
        stopped?.(1);
      },
    );
  };
  const onStop = (signal: NodeJS.Signals) => {
    if (requested) return;
    requested = signal;
    if (broker) stop(broker, signal);
  };
  const hup = () => broker?.reloadPolicies();
  process.once("SIGINT", onStop);
  process.once("SIGTERM", onStop);
  process.on("SIGHUP", hup);
  return {
    attach(running) {
      broker = running;
      if (requested) stop(running, requested);
      return stopping;
    },
  };
}

const ACCEPT_ROLLBACK_HELP =
  "start even though the database is behind (or differs from) the newest audit checkpoint (a restored backup); recorded in the audit trail as audit.rollback_accepted";

export function registerBrokerCommands(program: Command, output: (json: boolean) => Output, setExit: (promise: Promise<number>) => void) {
  program
    .command("dev")
    .description("run a development broker with everything embedded in ./.credbroker/ (SQLite, generated master key)")
    .option("--port <n>", "port to listen on", "8787")
    .option("--data-dir <dir>", "where the database and master key live", ".credbroker")
    .option("--policies <dir>", "policy folder (default ./policies, else an example in the data dir)")
    .option("--config <file>", "extra settings (mounts, ...) on top of the embedded default")
    .option("--json", "print one JSON line {url, admin_token} once ready")
    .option("--accept-audit-rollback", ACCEPT_ROLLBACK_HELP)
    .action(async (options: { port: string; dataDir: string; policies?: string; config?: string; json?: boolean; acceptAuditRollback?: boolean }) => {
      const out = output(Boolean(options.json));
      if (!/^\d{1,5}$/.test(options.port) || Number(options.port) > 65535) throw new CliError("--port must be a number 0-65535", 2);
      const dataDir = resolve(options.dataDir);
      // Before anything is created: a dev that cannot listen must leave no trace.
      await refuseBusyPort(Number(options.port));
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      // Before anything in the folder changes: a second dev must leave the first one untouched.
      const lock = lockDataDir(dataDir);
      const { loadConfig, resolveMasterKey, openStore, isInitialised, initialiseStore, devAdminToken, createLogger, startBroker } = await brokerModules();
      let policies = options.policies ? resolve(options.policies) : resolve("policies");
      if (!options.policies && !existsSync(policies)) {
        policies = join(dataDir, "policies");
        mkdirSync(policies, { recursive: true });
        const example = join(policies, "example.yaml");
        if (!existsSync(example)) writeFileSync(example, EXAMPLE_POLICY);
      }
      const config = loadConfig(options.config, process.env, {
        database: `sqlite:${join(dataDir, "credbroker.db")}`,
        master_key_file: join(dataDir, "master.key"),
      });
      config.listen = `127.0.0.1:${options.port}`;
      config.policies = policies;
      const ring = resolveMasterKey(config, process.env, true);
      if (config.master_key_file && existsSync(config.master_key_file)) chmodSync(config.master_key_file, 0o600);
      out.err(
        [
          "",
          "  WARNING: development mode. The master key is a plain file next to the database",
          `  (${config.master_key_file ?? "CREDBROKER_MASTER_KEY"}) and the admin token is kept in ${join(dataDir, "admin.token")}.`,
          "  Do not store production secrets with `credbroker dev`; use `credbroker init` + `credbroker serve`.",
          "",
        ].join("\n"),
      );
      const store = await openStore(config.database);
      try {
        if (!(await isInitialised(store))) await initialiseStore(store, ring, "admin");
      } finally {
        await store.close();
      }
      const adminStore = await openStore(config.database);
      const adminToken = await devAdminToken(adminStore, ring, join(dataDir, "admin.token")).finally(() => adminStore.close());
      const logger = createLogger(config.log_level);
      const signals = stopOnSignal(logger);
      const broker = await startBroker({ config, masterKey: ring, logger, acceptAuditRollback: options.acceptAuditRollback === true });
      const exited = signals.attach(broker).finally(() => lock.release());
      if (out.json) {
        out.out(JSON.stringify({ url: broker.url, admin_token: adminToken }));
      } else {
        out.out(`credbroker dev listening on ${broker.url}`);
        out.out(`policies: ${config.policies}`);
        out.out("");
        out.out(`  export CREDBROKER_URL=${broker.url}`);
        out.out(`  export CREDBROKER_TOKEN=${adminToken}`);
        out.out("");
      }
      setExit(exited);
    });

  program
    .command("serve")
    .description("run a production broker from a config file plus CREDBROKER_* environment")
    .option("--config <file>", "configuration file (YAML)")
    .option("--accept-audit-rollback", ACCEPT_ROLLBACK_HELP)
    .action(async (options: { config?: string; acceptAuditRollback?: boolean }) => {
      const { loadConfig, resolveMasterKey, openStore, isInitialised, createLogger, startBroker } = await brokerModules();
      const config = loadConfig(options.config ?? (existsSync("credbroker.yaml") ? "credbroker.yaml" : undefined));
      const ring = resolveMasterKey(config, process.env, false);
      const store = await openStore(config.database);
      const initialised = await isInitialised(store).finally(() => store.close());
      if (!initialised) throw new CliError("this broker is not initialised: run `credbroker init` first");
      const logger = createLogger(config.log_level);
      const signals = stopOnSignal(logger);
      setExit(signals.attach(await startBroker({ config, masterKey: ring, logger, acceptAuditRollback: options.acceptAuditRollback === true })));
    });

  program
    .command("init")
    .description("initialise a production broker: migrations, master key file, first admin operator (token printed once)")
    .option("--config <file>", "configuration file (YAML)")
    .option("--admin <name>", "name of the first admin operator", "admin")
    .option("--json", "print {admin_token}")
    .action(async (options: { config?: string; admin: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const { loadConfig, openStore, isInitialised, resolveMasterKey, initialiseStore } = await brokerModules();
      const config: BrokerConfig = loadConfig(options.config);
      const store = await openStore(config.database);
      try {
        if (await isInitialised(store)) throw new CliError("this broker is already initialised; nothing was changed");
        const ring = resolveMasterKey(config, process.env, true);
        const token = await initialiseStore(store, ring, options.admin);
        if (out.json) out.out(JSON.stringify({ admin_token: token }));
        else {
          out.out(`initialised. Admin operator "${options.admin}" token (shown once, store it safely):`);
          out.out(`  ${token}`);
        }
      } finally {
        await store.close();
      }
    });

  program
    .command("migrate")
    .description("apply pending migrations to the configured database")
    .option("--config <file>", "configuration file (YAML)")
    .option("--json", "machine-readable output")
    .action(async (options: { config?: string; json?: boolean }) => {
      const out = output(Boolean(options.json));
      const { loadConfig } = await brokerModules();
      const config = loadConfig(options.config);
      out.err("applying migrations...");
      let applied: string[];
      if (config.database.startsWith("sqlite:")) {
        const { openSqliteStore } = await import("../../store/sqlite.js");
        const store = openSqliteStore({ file: config.database.slice("sqlite:".length), migrate: false, offThreadCommits: false });
        applied = store.migrate();
        await store.close();
      } else {
        const { openPostgresStore } = await import("../../store/postgres.js");
        const store = await openPostgresStore({ url: config.database, migrate: false });
        try {
          applied = await store.migrate();
        } finally {
          await store.close();
        }
      }
      if (out.json) out.out(JSON.stringify({ applied }));
      else out.out(applied.length === 0 ? "database is up to date" : `applied: ${applied.join(", ")}`);
    });
}
