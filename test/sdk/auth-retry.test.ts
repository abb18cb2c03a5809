/**
 * The client SDK's credentials (client secret, private key as PEM or JWK, token file), token
 * renewal, and its retry rules: retried on 5xx and network errors, never on 4xx, bounded by timeouts.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BrokerClient, BrokerClientError } from "../../src/sdk/client.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";
import { nextChange, waitFor } from "../helpers/wait.js";

const POLICY = `
servers:
  key-mcp:
    allow:
      - secrets: ["keyed/*"]
        actions: [read]
  jwk-mcp:
    allow:
      - secrets: ["keyed/*"]
        actions: [read]
  file-mcp:
    allow:
      - secrets: ["keyed/*"]
        actions: [read]
  cryptokey-mcp:
    allow:
      - secrets: ["keyed/*"]
        actions: [read]
  secret-mcp:
    allow:
      - secrets: ["keyed/*"]
        actions: [read]
`;

/** A real HTTP proxy in front of the broker that can answer 5xx or 4xx itself, and counts requests per path. */
class FlakyProxy {
  readonly counts = new Map<string, number>();
  failures: Array<{ path: RegExp; status: number; times: number }> = [];
  private server: Server | undefined;
  url = "";

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? "/";
    const key = path.replace(/lease_[\w-]+/, "lease_X");
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const failure = this.failures.find((f) => f.path.test(path) && f.times > 0);
    if (failure) {
      failure.times -= 1;
      req.resume();
      res.writeHead(failure.status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: failure.status >= 500 ? "backend_unavailable" : "invalid_request", message: `injected ${failure.status}` } }));
      return;
    }
    const upstream = httpRequest(`${this.target}${path}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  }

  count(path: string): number {
    return this.counts.get(path) ?? 0;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

describe("client credentials and retries", () => {
  let b: TestBroker;
  let dir: string;
  let secret: string;
  const value = testSecret("keyed");
  const clients: BrokerClient[] = [];
  const track = (client: BrokerClient) => {
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    b = await startTestBroker({ policy: POLICY, config: { token_ttl: 3, lease: { default_ttl: 30, max_ttl: "1h" } } });
    dir = mkdtempSync(join(tmpdir(), "credbroker-sdk-keys-"));
    await b.putSecret("keyed/value", value);
    secret = await b.registerServer("secret-mcp");
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  afterAll(async () => {
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("authenticates with an Ed25519 private key from a PEM file (RFC 7523 client assertion)", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    await b.registerServer("key-mcp", { public_jwk: publicKey.export({ format: "jwk" }), no_secret: true });
    const file = join(dir, "key.pem");
    writeFileSync(file, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    const client = track(BrokerClient.fromEnv({ CREDBROKER_URL: b.url, CREDBROKER_CLIENT_ID: "key-mcp", CREDBROKER_PRIVATE_KEY_FILE: file }));
    const set = await client.load({ VALUE: "keyed/value" });
    expect(set.get("VALUE")).toBe(value);
  });

  it("authenticates with an ES256 private JWK held in memory, sending its kid", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    await b.registerServer("jwk-mcp", { public_jwk: publicJwk, no_secret: true });
    const privateJwk = { ...(await exportJWK(privateKey)), kid: "k1", alg: "ES256" };
    const set = await track(new BrokerClient({ url: b.url, clientId: "jwk-mcp", privateKey: privateJwk })).load({ VALUE: "keyed/value" });
    expect(set.get("VALUE")).toBe(value);
  });

  it("authenticates with a WebCrypto CryptoKey held in memory", async () => {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA");
    await b.registerServer("cryptokey-mcp", { public_jwk: await exportJWK(publicKey), no_secret: true });
    const set = await track(new BrokerClient({ url: b.url, clientId: "cryptokey-mcp", privateKey, events: false })).load({ VALUE: "keyed/value" });
    expect(set.get("VALUE")).toBe(value);
  });

  it("refuses an object that only looks like a key (the option's type is structural) with invalid_configuration", async () => {
    const lookalike = { type: "private", algorithm: { name: "Ed25519" }, extractable: false, usages: ["sign"] };
    await expect(new BrokerClient({ url: b.url, clientId: "cryptokey-mcp", privateKey: lookalike }).load({ V: "keyed/value" })).rejects.toMatchObject({
      code: "invalid_configuration",
      message: "privateKey is neither a KeyObject, a CryptoKey nor a JWK",
    });
  });

  it("refuses a public JWK or an unreadable key file with invalid_configuration, naming the file only", async () => {
    const { publicKey } = await generateKeyPair("ES256", { extractable: true });
    await expect(new BrokerClient({ url: b.url, clientId: "jwk-mcp", privateKey: await exportJWK(publicKey) }).load({ V: "keyed/value" })).rejects.toMatchObject({
      code: "invalid_configuration",
    });
    const missing = join(dir, "nope.pem");
    await expect(new BrokerClient({ url: b.url, clientId: "key-mcp", privateKeyFile: missing }).load({ V: "keyed/value" })).rejects.toMatchObject({
      code: "invalid_configuration",
      message: expect.stringContaining(missing),
    });
  });

  it("sends the JWT of a token file as the client assertion, reading the file at each authentication", async () => {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
    await b.registerServer("file-mcp", { public_jwk: await exportJWK(publicKey), no_secret: true });
    const file = join(dir, "token");
    const writeAssertion = async () => {
      const now = Math.floor(Date.now() / 1000);
      const jwt = await new SignJWT({})
        .setProtectedHeader({ alg: "EdDSA" })
        .setIssuer("file-mcp")
        .setSubject("file-mcp")
        .setAudience(`${b.url}/v1/auth/token`)
        .setIssuedAt(now)
        .setExpirationTime(now + 120)
        .setJti(randomUUID())
        .sign(privateKey);
      writeFileSync(file, `${jwt}\n`);
    };
    await writeAssertion();
    const set = await track(new BrokerClient({ url: b.url, clientId: "file-mcp", tokenFile: file, events: false })).load({ VALUE: "keyed/value" });
    expect(set.get("VALUE")).toBe(value);
  });

  it("re-authenticates as tokens expire, and keeps following events", async () => {
    await b.putSecret("keyed/rotating", testSecret("r1"));
    const client = track(new BrokerClient({ url: b.url, clientId: "secret-mcp", clientSecret: secret }));
    const set = await client.load({ ROTATING: "keyed/rotating" });
    const startedAt = Date.now();
    // Past two token lifetimes (3 s each), the stream still delivers. Real time: the broker ends a
    // stream when its token expires and the SDK reconnects with a new one, each on its own timers
    // over real HTTP in this process, which fake timers would stall.
    await waitFor("two token lifetimes", () => Date.now() - startedAt > 6_500 && client.following, 30_000, 100);
    const next = testSecret("r2");
    const change = nextChange(set);
    await b.putSecret("keyed/rotating", next);
    await change;
    expect(set.get("ROTATING")).toBe(next);
  });

  describe("through a flaky proxy", () => {
    let proxy: FlakyProxy;
    beforeAll(async () => {
      proxy = new FlakyProxy(b.url);
      await proxy.start();
    });
    afterAll(() => proxy.close());

    it("retries a 5xx with backoff and succeeds", async () => {
      proxy.failures = [{ path: /^\/v1\/secrets\/read$/, status: 503, times: 2 }];
      const before = proxy.count("/v1/secrets/read");
      const set = await track(new BrokerClient({ url: proxy.url, clientId: "secret-mcp", clientSecret: secret, events: false, retry: { baseDelayMs: 10 } })).load({ V: "keyed/value" });
      expect(set.get("V")).toBe(value);
      expect(proxy.count("/v1/secrets/read") - before).toBe(3);
    });

    it("gives up after the configured attempts with `unavailable`, carrying the broker's code", async () => {
      proxy.failures = [{ path: /^\/v1\/secrets\/read$/, status: 503, times: 10 }];
      const error = (await track(new BrokerClient({ url: proxy.url, clientId: "secret-mcp", clientSecret: secret, events: false, retry: { attempts: 3, baseDelayMs: 10 } }))
        .load({ V: "keyed/value" })
        .catch((e: unknown) => e)) as BrokerClientError;
      expect(error.code).toBe("unavailable");
      expect(error.brokerCode).toBe("backend_unavailable");
      proxy.failures = [];
    });

    it("never retries a 4xx", async () => {
      proxy.failures = [{ path: /^\/v1\/secrets\/read$/, status: 400, times: 1 }];
      const before = proxy.count("/v1/secrets/read");
      const error = (await track(new BrokerClient({ url: proxy.url, clientId: "secret-mcp", clientSecret: secret, events: false, retry: { baseDelayMs: 10 } }))
        .load({ V: "keyed/value" })
        .catch((e: unknown) => e)) as BrokerClientError;
      expect(error.code).toBe("request_failed");
      expect(proxy.count("/v1/secrets/read") - before).toBe(1);
    });

  });

  it("times out a broker that accepts connections but never answers", async () => {
    const silent = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const error = (await new BrokerClient({ url, clientId: "secret-mcp", clientSecret: secret, timeoutMs: 300, retry: { attempts: 2, baseDelayMs: 10 } })
        .load({ V: "keyed/value" })
        .catch((e: unknown) => e)) as BrokerClientError;
      expect(error.code).toBe("unavailable");
      expect(error.message).toMatch(/timed out/);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
