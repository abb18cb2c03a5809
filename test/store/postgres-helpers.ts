/**
 * PostgreSQL for tests: the server in TEST_POSTGRES_URL (default: the CI server on 127.0.0.1, trust
 * auth, database `test`), a fresh schema per store so tests share nothing, and the reachability rule:
 * unreachable means skipped with a message, except under TEST_REQUIRE_POSTGRES=1 (.ci/run) where
 * it means failed.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, it } from "vitest";

export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const required = process.env.TEST_REQUIRE_POSTGRES === "1";

/** The URL without its password, for messages. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/** Undefined when the server answers `SELECT 1` within 3 s, else why not. */
async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.constructor.name : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const unreachable = await probe();

/**
 * `describe` for tests that need PostgreSQL. Unreachable: the block is skipped and one console line
 * says why, or, with TEST_REQUIRE_POSTGRES=1, a failing test says why instead.
 */
export function describePostgres(title: string, body: () => void): void {
  if (unreachable === undefined) {
    describe(title, body);
    return;
  }
  const why = `PostgreSQL at ${displayUrl(TEST_POSTGRES_URL)} is unreachable (${unreachable})`;
  if (required) {
    describe(title, () => {
      it("needs a reachable PostgreSQL (TEST_REQUIRE_POSTGRES=1)", () => {
        throw new Error(`${why}; TEST_REQUIRE_POSTGRES=1 forbids skipping`);
      });
    });
    return;
  }
  console.warn(`SKIPPED "${title}": ${why}. Set TEST_POSTGRES_URL to run them; TEST_REQUIRE_POSTGRES=1 makes this a failure.`);
  describe.skip(`${title} [skipped: ${why}]`, body);
}

export interface TestSchema {
  name: string;
  /** TEST_POSTGRES_URL with `search_path` set to the schema, so every connection of a pool works in it. */
  url: string;
  /** A direct connection for setting up and inspecting (search_path set to the schema). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  drop(): Promise<void>;
}

/** Creates an empty schema with a random name; `drop()` removes it and everything in it. */
export async function createTestSchema(label: string): Promise<TestSchema> {
  const name = `cbtest_${label}_${randomBytes(6).toString("hex")}`;
  const url = new URL(TEST_POSTGRES_URL);
  url.searchParams.set("options", `-c search_path=${name}`);
  const admin = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 });
  admin.on("error", () => undefined);
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${name}`);
  return {
    name,
    url: url.toString(),
    query: (text, values) => admin.query(text, values),
    async drop() {
      try {
        await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await admin.end().catch(() => undefined);
      }
    },
  };
}
