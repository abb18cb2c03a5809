/**
 * Cursor pagination of the list routes: `?limit=` (1..1000, default 100; outside that range a 400)
 * and `?cursor=` (the `next_cursor` of the previous page). A cursor is opaque to clients: base64url
 * of a JSON array naming the listing and the sort key of the last row served. It grants nothing:
 * every page is read with the request's own filters and permissions, so a forged cursor can only
 * move the start of a listing the caller may read anyway. A cursor that does not decode, names
 * another listing or holds a malformed key is a 400 `invalid_request`, never a 500.
 */
import type { Context } from "hono";
import { z } from "@hono/zod-openapi";
import type { LeaseSortKey, Page, PageRequest } from "../domain.js";
import { BrokerError } from "../errors.js";
import { queryInt } from "./body.js";

/** Rows per page when `limit` is absent. */
export const DEFAULT_PAGE_LIMIT = 100;
/** The largest `limit` accepted. */
export const MAX_PAGE_LIMIT = 1000;
/** Longer cursors are refused before decoding: no listing's key comes near it. */
const MAX_CURSOR_CHARS = 2048;

/** The query parameters every list route documents. */
export const pageQuery = {
  limit: z.string().optional().describe(`rows per page, 1..${MAX_PAGE_LIMIT}, default ${DEFAULT_PAGE_LIMIT}`),
  cursor: z.string().optional().describe("next_cursor of the previous page; opaque"),
};

/** How one listing's sort key is written into a cursor and read back (strictly) from one. */
interface CursorCodec<Key> {
  listing: string;
  parts: z.ZodType<Key>;
  toParts(key: Key): unknown[];
}

const name = z.string().min(1).max(1024);

/** Lease listings (`GET /v1/leases`, `GET /v1/admin/leases`): issue time (ms), then lease id. */
export const leaseCursor: CursorCodec<LeaseSortKey> = {
  listing: "leases",
  parts: z.tuple([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), name]).transform(([issuedAt, id]) => ({ issuedAt, id })),
  toParts: (key) => [key.issuedAt, key.id],
};

/** A listing sorted by one unique name (server id, operator name, secret path). */
function nameCursor(listing: string): CursorCodec<string> {
  return { listing, parts: z.tuple([name]).transform(([key]) => key), toParts: (key) => [key] };
}

/** `GET /v1/admin/servers`: by server id. */
export const serverCursor = nameCursor("servers");
/** `GET /v1/admin/operators`: by operator name. */
export const operatorCursor = nameCursor("operators");
/** `GET /v1/admin/secrets`: by secret path. */
export const secretCursor = nameCursor("secrets");

/** The page the request asks for; throws `invalid_request` for a bad limit or cursor. */
export function requestedPage<Key>(c: Context, codec: CursorCodec<Key>): PageRequest<Key> {
  const limit = queryInt(c.req.query("limit"), "limit", 1, MAX_PAGE_LIMIT) ?? DEFAULT_PAGE_LIMIT;
  const cursor = c.req.query("cursor");
  if (cursor === undefined || cursor === "") return { limit };
  return { limit, after: decodeCursor(codec, cursor) };
}

/** `next_cursor` for a page: null on the last one. */
export function nextCursor<Key>(codec: CursorCodec<Key>, page: Page<unknown, Key>): string | null {
  return page.next === null ? null : Buffer.from(JSON.stringify([codec.listing, ...codec.toParts(page.next)]), "utf8").toString("base64url");
}

function decodeCursor<Key>(codec: CursorCodec<Key>, cursor: string): Key {
  const invalid = () => new BrokerError("invalid_request", "cursor is not a next_cursor of this listing", { data: { problems: ["cursor: invalid"] } });
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(decoded) || decoded[0] !== codec.listing) throw invalid();
  const parsed = codec.parts.safeParse(decoded.slice(1));
  if (!parsed.success) throw invalid();
  return parsed.data;
}
