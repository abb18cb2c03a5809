/** The SDK waits out a short Retry-After on 429 from a real, throttling broker; a lockout is reported. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrokerClient } from "../../src/sdk/client.js";
import { startTestBroker, testSecret, type TestBroker } from "../helpers/broker.js";

const POLICY = `
servers:
  busy-mcp:
    allow:
      - secrets: ["busy/*"]
        actions: [read]
`;

describe("SDK and the token endpoint's rate limit", () => {
  let b: TestBroker;
  let secret: string;
  const value = testSecret("busy");

  // The broker's clock runs with real time (the SDK waits out a Retry-After on its own timers) plus
  // an offset a test may advance instead of sleeping until the rate limit lets a request through.
  let aheadMs = 0;
  const clock = () => Date.now() + aheadMs;

  beforeAll(async () => {
    // One token per second per client id, no burst: a second client right after the first is throttled.
    b = await startTestBroker({ policy: POLICY, clock, config: { rate_limit: { per_second: 1, burst: 1, max_failures: 2, failure_window: "5m", lockout: "15m" } } });
    secret = await b.registerServer("busy-mcp");
    await b.putSecret("busy/key", value);
  });
  afterAll(() => b.close());

  it("retries after Retry-After when throttled, and loads", async () => {
    const first = new BrokerClient({ url: b.url, clientId: "busy-mcp", clientSecret: secret, events: false });
    const second = new BrokerClient({ url: b.url, clientId: "busy-mcp", clientSecret: secret, events: false });
    try {
      await first.load({ KEY: "busy/key" });
      const set = await second.load({ KEY: "busy/key" });
      expect(set.get("KEY")).toBe(value);
      const throttled = await b.broker.store.queryAudit({ action: "auth.token", outcome: "denied", limit: 10 });
      expect(throttled.map((r) => r.reason)).toContain("rate_limited");
    } finally {
      await first.close();
      await second.close();
    }
  });

  it("reports a lockout (Retry-After in minutes) instead of waiting for it", async () => {
    const wrong = (attempt: number) => new BrokerClient({ url: b.url, clientId: "busy-mcp", clientSecret: `cbs_wrong${attempt}`, events: false }).load({ KEY: "busy/key" });
    // A second between attempts refills the bucket, so each is judged on its credentials.
    for (const attempt of [1, 2]) {
      aheadMs += 1100;
      await expect(wrong(attempt)).rejects.toMatchObject({ code: "invalid_client" });
    }
    aheadMs += 1100;
    // Waiting out a 15-minute lockout would exceed the test's timeout: answering at all proves it did not.
    await expect(new BrokerClient({ url: b.url, clientId: "busy-mcp", clientSecret: secret, events: false }).load({ KEY: "busy/key" })).rejects.toMatchObject({ code: "rate_limited" });
  });
});
