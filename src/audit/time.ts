/** Time bounds in audit queries: an ISO 8601 time, epoch milliseconds, or a duration ago (`90d`, `12h`). */
import { BrokerError } from "../errors.js";
import { durationProblem } from "../policy/duration.js";

export function parseTimeBound(value: string | undefined, now: number, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (/^\d{13}$/.test(value)) return Number(value);
  const ago = durationProblem(value);
  if (typeof ago !== "string") return now - ago.seconds * 1000;
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  throw new BrokerError("invalid_request", `${name} must be an ISO time (2026-01-31T00:00:00Z), epoch milliseconds or a duration ago (90d)`);
}
