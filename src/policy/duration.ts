import { BrokerError } from "../errors.js";

/**
 * Durations as people write them in policy files and on the command line: `30s`, `15m`, `1h`,
 * `90d`, `2w`, or several of those from the largest unit down (`1h30m`).
 */

const UNIT_SECONDS = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 } as const;
type Unit = keyof typeof UNIT_SECONDS;
const UNITS_DESCENDING: readonly Unit[] = ["w", "d", "h", "m", "s"];

// Whole string must be one or more <digits><unit> groups; the order check below rejects `1m1h`.
const DURATION_RE = /^(?:\d+[wdhms])+$/;
const PART_RE = /(\d+)([wdhms])/g;

/**
 * Parses a duration into whole seconds.
 *
 * @param text e.g. `"15m"`, `"1h"`, `"90d"`, `"30s"`, `"2w"`, `"1h30m"` (units w, d, h, m, s; each
 *   unit at most once, largest first; no spaces, no fractions, no sign).
 * @returns a positive safe integer number of seconds.
 * @throws BrokerError with code `invalid_request` when the text is not such a duration or is zero.
 */
export function parseDuration(text: string): number {
  const problem = durationProblem(text);
  if (typeof problem === "string") {
    throw new BrokerError("invalid_request", `invalid duration ${JSON.stringify(text)}: ${problem}`);
  }
  return problem.seconds;
}

/**
 * The same parse without throwing, for validators that collect every problem: either the
 * seconds or a sentence saying what is wrong (without repeating the input).
 */
export function durationProblem(text: unknown): { seconds: number } | string {
  if (typeof text !== "string") return "expected a duration such as 15m, 1h, 90d";
  if (!DURATION_RE.test(text)) {
    return "expected a number followed by a unit (s, m, h, d, w), such as 15m, 1h, 90d or 1h30m";
  }
  let seconds = 0;
  let previousRank = -1;
  for (const [, digits, unit] of text.matchAll(PART_RE)) {
    const rank = UNITS_DESCENDING.indexOf(unit as Unit);
    if (rank <= previousRank) return "units must appear at most once, largest first (1h30m, not 30m1h)";
    previousRank = rank;
    seconds += Number(digits) * UNIT_SECONDS[unit as Unit];
  }
  if (!Number.isSafeInteger(seconds)) return "too long";
  if (seconds <= 0) return "must be longer than zero";
  return { seconds };
}

/**
 * Formats seconds as a duration that {@link parseDuration} reads back exactly: `900` → `"15m"`,
 * `5400` → `"1h30m"`, `1209600` → `"2w"`, `7776000` → `"90d"`, `0` → `"0s"`. Weeks are used
 * only for a whole number of weeks, because "90d" reads better than "12w6d".
 *
 * @throws TypeError when `seconds` is not a non-negative safe integer (a programming error).
 */
export function formatDuration(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new TypeError(`formatDuration expects a non-negative integer number of seconds, got ${seconds}`);
  }
  if (seconds === 0) return "0s";
  let rest = seconds;
  let out = "";
  for (const unit of UNITS_DESCENDING) {
    if (unit === "w" && seconds % UNIT_SECONDS.w !== 0) continue;
    const size = UNIT_SECONDS[unit];
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
