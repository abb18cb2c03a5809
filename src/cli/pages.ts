/**
 * List commands follow the broker's pages: a list answer `{KEY: [...], next_cursor}` is asked
 * again with `cursor=next_cursor` while a cursor comes back (an answer without `next_cursor`, as
 * from a broker that does not paginate, is the only page). Rows are shown as pages arrive;
 * `--json` prints one array once every page is in.
 */
import type { ApiClient } from "./api-client.js";
import { CliError } from "./errors.js";
import { terminalSafe, type Output } from "./output.js";

/** Largest page the CLI asks for when `--limit` is below it (the broker may answer fewer). */
const PAGE_LIMIT = 100;

/**
 * The rows of a paginated list route, page by page, at most `limit` in all (every row when
 * undefined). `query` is the route's own filter; `limit` and `cursor` are added here.
 * @throws CliError when the broker answers a page without the `key` array, or repeats a cursor
 *   (a loop that would never end).
 */
export async function* listPages<T>(api: ApiClient, path: string, key: string, query: Record<string, string>, limit: number | undefined): AsyncGenerator<T[]> {
  let cursor: string | undefined;
  let shown = 0;
  const seen = new Set<string>();
  for (;;) {
    const remaining = limit === undefined ? undefined : limit - shown;
    if (remaining !== undefined && remaining <= 0) return;
    const params = new URLSearchParams({
      ...query,
      ...(remaining !== undefined && remaining < PAGE_LIMIT && { limit: String(remaining) }),
      ...(cursor !== undefined && { cursor }),
    });
    const text = params.toString();
    const page = await api.request<Record<string, unknown>>("GET", text ? `${path}?${text}` : path);
    const rows = page[key];
    if (!Array.isArray(rows)) throw new CliError(`the broker's answer has no ${key} list`);
    const kept = (remaining === undefined ? rows : rows.slice(0, remaining)) as T[];
    shown += kept.length;
    if (kept.length > 0) yield kept;
    const next = page.next_cursor;
    if (typeof next !== "string" || next === "") return;
    if (seen.has(next)) throw new CliError(`the broker repeated the page cursor ${JSON.stringify(next.slice(0, 40))}; stopped`);
    seen.add(next);
    cursor = next;
  }
}

/** Parses `--limit N` (a whole number from 1); undefined when not given. */
export function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw new CliError("--limit takes a whole number from 1", 2);
  return Number(text);
}

type Cell = string | number | boolean | null | undefined;

/**
 * Prints a paginated list: with `--json` one array of `toJson(row)` at the end; for people a
 * table whose column widths are set by the first page (later pages are padded to them, never
 * realigning what was printed), every cell terminal-safe. An empty list prints the header only.
 */
export async function printPages<T>(out: Output, pages: AsyncIterable<T[]>, headers: string[], toCells: (row: T) => Cell[], toJson: (row: T) => unknown = (row) => row): Promise<void> {
  if (out.json) {
    const all: unknown[] = [];
    for await (const page of pages) for (const row of page) all.push(toJson(row));
    out.out(JSON.stringify(all));
    return;
  }
  let widths: number[] | undefined;
  const line = (cells: string[]) => cells.map((cell, index) => cell.padEnd(widths![index]!)).join("  ").trimEnd();
  for await (const page of pages) {
    const rows = page.map((row) => toCells(row).map((cell) => (cell === null || cell === undefined ? "-" : terminalSafe(String(cell)))));
    if (!widths) {
      widths = headers.map((header, index) => Math.max(header.length, ...rows.map((row) => row[index]!.length)));
      out.out(line(headers.map((header) => header.toUpperCase())));
    }
    for (const row of rows) out.out(line(row));
  }
  if (!widths) out.out(headers.map((header) => header.toUpperCase()).join("  "));
}
