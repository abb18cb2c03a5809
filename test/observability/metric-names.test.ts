/** Every metric the broker exposes shares one prefix, once: dashboards and alerts select on it. */
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/metrics.js";

describe("metric names", () => {
  it("start with credbroker_ exactly once, Node's process metrics included", async () => {
    const text = await createMetrics().registry.metrics();
    const names = [...new Set(text.split("\n").filter((line) => line.startsWith("# TYPE ")).map((line) => line.split(" ")[2]!))];
    expect(names).toContain("credbroker_process_cpu_user_seconds_total");
    expect(names).toContain("credbroker_nodejs_heap_size_used_bytes");
    expect(names).toContain("credbroker_http_requests_total");
    for (const name of names) {
      expect(name).toMatch(/^credbroker_[a-z]/);
      expect(name).not.toMatch(/^credbroker_process_(process|nodejs)_/);
    }
  });
});
