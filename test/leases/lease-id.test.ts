/** Lease ids: UUIDv7 after `lease_`, ordered by issue time, unguessable in their random part. */
import { describe, expect, it } from "vitest";
import { newLeaseId } from "../../src/leases/lease.js";

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const UUID_V7 = /^lease_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("newLeaseId", () => {
  it("is lease_ and an RFC 9562 version 7 UUID carrying the issue time in its first 48 bits", () => {
    const id = newLeaseId(T0);
    expect(id).toMatch(UUID_V7);
    const millis = Number.parseInt(id.slice("lease_".length).replace("-", "").slice(0, 12), 16);
    expect(millis).toBe(T0);
  });

  it("sorts by issue time, so inserts append to the end of the primary-key index", () => {
    const ids = [T0, T0 + 1, T0 + 1000, T0 + 86_400_000].map(newLeaseId);
    expect([...ids].sort()).toEqual(ids);
  });

  it("differs in its random part for leases issued in the same millisecond", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newLeaseId(T0)));
    expect(ids.size).toBe(10_000);
    for (const id of ids) expect(id).toMatch(UUID_V7);
  });
});
