import { CronExpressionParser } from "cron-parser";

/**
 * Pure facts about a rotation rule's schedule: time zones, start windows and the shortest
 * interval of a cron expression, used by `policy check` (a grace or a due-soon notice longer than
 * the interval is a problem) and by whatever computes when a rotation is due.
 */

/** Undefined when `timeZone` is an IANA zone this runtime knows (e.g. `Europe/Berlin`, `UTC`), else why not. */
export function timeZoneProblem(timeZone: string): string | undefined {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return undefined;
  } catch {
    return `unknown time zone ${JSON.stringify(timeZone)}: use an IANA name such as UTC or Europe/Berlin`;
  }
}

/**
 * The hours in which a scheduled rotation may start, in the rule's time zone, as minutes after
 * midnight. `end` is exclusive; a window with `end <= start` runs past midnight (22:00-04:00).
 */
export interface RotationWindow {
  readonly startMinute: number;
  readonly endMinute: number;
}

const WINDOW_RE = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;

/**
 * Parses `HH:MM-HH:MM` (24-hour, e.g. `02:00-05:00`, `22:00-04:00`; `24:00` as an end only).
 *
 * @returns the window, or a sentence saying what is wrong.
 */
export function parseWindow(text: string): RotationWindow | string {
  const match = WINDOW_RE.exec(text);
  if (match === null) return "expected HH:MM-HH:MM (24-hour), such as 02:00-05:00 or 22:00-04:00";
  const startMinute = Number(match[1]) * 60 + Number(match[2]);
  const endMinute = Number(match[3]) * 60 + Number(match[4]);
  if (endMinute > 24 * 60) return "a window ends at 24:00 at the latest";
  if (startMinute === endMinute) return "a window must not be empty (start and end are equal)";
  return { startMinute, endMinute };
}

/** Whether the local time `minuteOfDay` (0..1439) lies in `window`. */
export function inWindow(window: RotationWindow, minuteOfDay: number): boolean {
  if (window.startMinute < window.endMinute) return minuteOfDay >= window.startMinute && minuteOfDay < window.endMinute;
  return minuteOfDay >= window.startMinute || minuteOfDay < window.endMinute;
}

// A fixed start, so that the answer never depends on when `policy check` runs.
const SAMPLE_START = new Date("2001-01-01T00:00:00Z");
const SAMPLE_MAX_RUNS = 1000;
const SAMPLE_MIN_SPAN_MS = 400 * 86_400_000;

/**
 * The shortest time between two consecutive runs of `expression`, in seconds, sampled over the
 * first 1000 runs from 2001-01-01 or at least 400 days (so a monthly or quarterly schedule shows
 * its shortest month). Measured on the wall clock, so the rule's time zone does not change it:
 * a weekly run is 7 days apart even across a daylight-saving shift that makes it 6d23h, and a
 * 7d grace on it is not a problem.
 *
 * @returns undefined when the expression runs fewer than twice (no interval to speak of).
 * @throws whatever cron-parser throws for an invalid expression (validate first).
 */
export function shortestCronIntervalSeconds(expression: string): number | undefined {
  const runs = CronExpressionParser.parse(expression, { tz: "UTC", currentDate: SAMPLE_START });
  let previous: number | undefined;
  let shortest: number | undefined;
  for (let count = 0; count < SAMPLE_MAX_RUNS; count++) {
    if (!runs.hasNext()) break;
    const at = runs.next().getTime();
    if (previous !== undefined) {
      const gap = (at - previous) / 1000;
      shortest = shortest === undefined ? gap : Math.min(shortest, gap);
      if (at - SAMPLE_START.getTime() >= SAMPLE_MIN_SPAN_MS && count >= 2) break;
    }
    previous = at;
  }
  return shortest;
}

/**
 * Whether some run of `expression` starts within `window`, both read in `timeZone`, sampled over
 * the first 1000 runs from 2001-01-01. A cron schedule whose runs all fall outside its window
 * would never rotate.
 *
 * @throws whatever cron-parser throws for an invalid expression or zone (validate first).
 */
export function cronRunsInWindow(expression: string, timeZone: string, window: RotationWindow): boolean {
  const runs = CronExpressionParser.parse(expression, { tz: timeZone, currentDate: SAMPLE_START });
  for (let count = 0; count < SAMPLE_MAX_RUNS && runs.hasNext(); count++) {
    const run = runs.next();
    if (inWindow(window, run.getHours() * 60 + run.getMinutes())) return true;
  }
  return false;
}
