/**
 * Repeated unauthenticated refusals from one source, audited once per window with a count. A
 * flood of junk (no token, a forged token, unknown routes, requests over the rate limit) would
 * otherwise append one record per request: the audit trail is append-only, so whoever can reach
 * the broker could grow it without limit.
 *
 * The first `recordedPerWindow` refusals of a kind (source address, action, reason) in a window
 * are recorded at once, one by one, as they always were. The rest of that window's refusals of
 * that kind are counted, and when the window has closed one summary record is written: the same
 * action, the last request's id and resource, and the reason `<reason>; count=<N>` (N refusals
 * beyond those recorded on their own). A window closes `windowSeconds` after its first refusal; its summary is written by
 * the next refusal of its kind, by the flush timer (running only while a count is pending), or at
 * shutdown ({@link RefusalSummaries.close}). At most `maxKinds` kinds are tracked: past that the
 * refusals of new kinds from any source share one kind per action and reason, summarised with no
 * source address, so a flood from many addresses stays bounded too.
 *
 * Refusals of authenticated callers never come here: each of them is one record (every access by
 * a known server or operator is recorded).
 */
import type { AuditWriter } from "../audit/writer.js";
import type { AuditEntry } from "../domain.js";
import type { Logger } from "../logger.js";

export interface RefusalSummaryOptions {
  audit: Pick<AuditWriter, "record">;
  logger: Pick<Logger, "error">;
  clock: () => number;
  /** Length of a window, in seconds (>= 1). */
  windowSeconds: number;
  /** Refusals of one kind recorded one by one in a window before the rest are counted (>= 1). */
  recordedPerWindow: number;
  /** Kinds of refusal tracked at once before new ones share an overflow kind (default 10,000). */
  maxKinds?: number;
}

interface Window {
  endsAt: number;
  /** Refusals recorded one by one so far. */
  recorded: number;
  /** Refusals after the first, not yet written. */
  count: number;
  /** The last of them: its request id and resource go into the summary. */
  last: AuditEntry | undefined;
  overflow: boolean;
}

/** Room left in a reason for the count suffix (audit fields are cut at 300 characters). */
const MAX_REASON = 250;

export class RefusalSummaries {
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private readonly maxKinds: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: RefusalSummaryOptions) {
    if (!(options.windowSeconds >= 1)) throw new TypeError("RefusalSummaries needs windowSeconds >= 1");
    if (!(options.recordedPerWindow >= 1)) throw new TypeError("RefusalSummaries needs recordedPerWindow >= 1");
    this.windowMs = options.windowSeconds * 1000;
    this.maxKinds = options.maxKinds ?? 10_000;
  }

  /**
   * Records `entry`, an unauthenticated refusal, now when it opens a window of its kind, else
   * counts it. Rejects when writing a record fails (as AuditWriter.record does).
   */
  async record(entry: AuditEntry): Promise<void> {
    if (this.closed) {
      await this.options.audit.record(entry);
      return;
    }
    const now = this.options.clock();
    let key = `${entry.sourceIp ?? ""}\u0000${entry.action}\u0000${entry.reason}`;
    let overflow = false;
    // Full: first let go of the windows that have closed (writing their summaries).
    if (!this.windows.has(key) && this.windows.size >= this.maxKinds) await this.flush();
    if (!this.windows.has(key) && this.windows.size >= this.maxKinds) {
      key = `\u0000overflow\u0000${entry.action}\u0000${entry.reason}`;
      overflow = true;
    }
    const open = this.windows.get(key);
    if (open && open.endsAt > now && open.recorded < this.options.recordedPerWindow) {
      open.recorded += 1;
      await this.options.audit.record(overflow ? { ...entry, sourceIp: null } : entry);
      return;
    }
    if (open && open.endsAt > now) {
      open.count += 1;
      open.last = entry;
      this.armTimer();
      return;
    }
    if (open) {
      this.windows.delete(key);
      await this.writeSummary(open, now);
    }
    this.windows.set(key, { endsAt: now + this.windowMs, recorded: 1, count: 0, last: undefined, overflow });
    await this.options.audit.record(overflow ? { ...entry, sourceIp: null } : entry);
  }

  /** Writes the summary of every window that has closed (of every window, when `all`). */
  async flush(all = false): Promise<void> {
    const now = this.options.clock();
    const due: Window[] = [];
    for (const [key, window] of this.windows) {
      if (!all && window.endsAt > now) continue;
      this.windows.delete(key);
      due.push(window);
    }
    await Promise.all(due.map((window) => this.writeSummary(window, now)));
  }

  /** Writes every pending count and stops the timer; later refusals are recorded one by one. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush(true);
  }

  private async writeSummary(window: Window, now: number): Promise<void> {
    const last = window.last;
    if (window.count === 0 || last === undefined) return;
    const reason = `${last.reason.slice(0, MAX_REASON)}; count=${window.count}`;
    await this.options.audit.record({ ...last, time: now, reason, ...(window.overflow && { sourceIp: null }) });
  }

  /**
   * A timer only while some count waits for its window to close, so an idle broker runs none.
   * It flushes this process's own memory, so it is no job for the job runner (which runs work
   * shared by every broker on the database).
   */
  private armTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.flush()
        .catch((error: unknown) => this.options.logger.error({ err: String(error) }, "could not audit a refusal summary"))
        .finally(() => {
          if (![...this.windows.values()].some((window) => window.count > 0) && this.timer) {
            clearInterval(this.timer);
            this.timer = undefined;
          }
        });
    }, Math.min(this.windowMs, 60_000));
    this.timer.unref();
  }
}
