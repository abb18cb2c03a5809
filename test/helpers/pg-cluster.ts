/**
 * A throwaway PostgreSQL cluster with password (SCRAM) authentication, for tests that must see a
 * password refused (the machine's own server trusts every login): initdb + pg_ctl from
 * /usr/lib/postgresql/<version>/bin, a free port on 127.0.0.1, a temporary folder, every
 * statement logged (so a test can check what reached the server's log).
 */
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import pg from "pg";

export interface ScramCluster {
  readonly port: number;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** Runs SQL as the admin (a superuser). */
  query(sql: string): Promise<pg.QueryResult>;
  /** Whether `user` can log in with `password` right now. */
  canLogin(user: string, password: string): Promise<boolean>;
  /** The server's log so far. */
  log(): string;
  stop(): Promise<void>;
}

/** The PostgreSQL binaries folder, or undefined when none is installed. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((name) => existsSync(join(root, name, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startScramCluster(): Promise<ScramCluster> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error("no PostgreSQL binaries under /usr/lib/postgresql/*/bin");
  const dir = mkdtempSync(join(tmpdir(), "cb-pg-"));
  // initdb refuses to run as root: run the binaries as the postgres user then.
  const asRoot = process.getuid?.() === 0;
  const run = (program: string, args: string[]) =>
    execFileSync(asRoot ? "runuser" : join(bin, program), asRoot ? ["-u", "postgres", "--", join(bin, program), ...args] : args, { stdio: "ignore" });
  const adminUser = "cbadmin";
  const adminPassword = `admin-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, "pw"), adminPassword);
  if (asRoot) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
    chownSync(join(dir, "pw"), uid, gid);
  }
  const data = join(dir, "data");
  run("initdb", ["-D", data, "-A", "scram-sha-256", "-U", adminUser, `--pwfile=${join(dir, "pw")}`]);
  const port = await freePort();
  const logFile = join(dir, "server.log");
  run("pg_ctl", ["-D", data, "-l", logFile, "-w", "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c log_statement=all`, "start"]);

  const connect = async (user: string, password: string) => {
    const client = new pg.Client({ host: "127.0.0.1", port, user, password, database: "postgres", connectionTimeoutMillis: 5000 });
    client.on("error", () => undefined);
    await client.connect();
    return client;
  };
  return {
    port,
    adminUser,
    adminPassword,
    async query(sql) {
      const client = await connect(adminUser, adminPassword);
      try {
        return await client.query(sql);
      } finally {
        await client.end();
      }
    },
    async canLogin(user, password) {
      try {
        const client = await connect(user, password);
        await client.end();
        return true;
      } catch {
        return false;
      }
    },
    log: () => readFileSync(logFile, "utf8"),
    stop() {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return Promise.resolve();
    },
  };
}

function postgresIds(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith("postgres:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) throw new Error("running as root, but there is no postgres user to run PostgreSQL as");
  return { uid: Number(uid), gid: Number(gid) };
}
