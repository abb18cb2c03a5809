/**
 * `audit who-accessed` answers "who", servers and operators alike: the table's first column is
 * the actor with its kind beside it, and --json keeps the scripting contract's `server` field
 * while saying which kind of actor it is.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrokerClient } from "../../src/sdk/client.js";
import { runCli, startDev, type DevBroker } from "../helpers/cli.js";
import { testSecret } from "../helpers/broker.js";

describe("credbroker audit who-accessed", () => {
  let dev: DevBroker;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dev = await startDev('servers:\n  github-mcp:\n    allow:\n      - secrets: ["github/token"]\n        actions: [read]\n');
    env = dev.env;
    const { client_secret } = JSON.parse((await runCli(["server", "add", "github-mcp", "--json"], { env })).stdout) as { client_secret: string };
    expect((await runCli(["secret", "put", "github/token", "--value-stdin"], { env, input: testSecret("who") })).code).toBe(0);
    const client = new BrokerClient({ url: dev.url, clientId: "github-mcp", clientSecret: client_secret, events: false });
    await client.load({ TOKEN: "github/token" });
    await client.close();
    expect((await runCli(["secret", "get", "github/token"], { env })).code).toBe(0);
  });
  afterAll(async () => {
    expect(await dev.stop()).toBe(0);
  });

  it("lists the server and the operator under an actor column with their kinds", async () => {
    const result = await runCli(["audit", "who-accessed", "github/token"], { env });
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trimEnd().split("\n");
    expect(header!.split(/\s+/).slice(0, 2)).toEqual(["ACTOR", "KIND"]);
    expect(rows.map((row) => row.split(/\s+/).slice(0, 2))).toEqual(expect.arrayContaining([["github-mcp", "server"], ["dev-admin", "operator"]]));
  });

  it("--json keeps `server` and adds `actor_kind`", async () => {
    const rows = JSON.parse((await runCli(["audit", "who-accessed", "github/token", "--json"], { env })).stdout) as Array<Record<string, unknown>>;
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ server: "github-mcp", actor_kind: "server", outcomes: expect.objectContaining({ allowed: 1 }) }),
        expect.objectContaining({ server: "dev-admin", actor_kind: "operator" }),
      ]),
    );
  });
});
