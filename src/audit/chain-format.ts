/**
 * Where the keyed chain begins, and where the kept chain begins after an archive: two small facts
 * kept in broker_meta, each with an HMAC under the audit key, so someone who can write the
 * database but does not hold the key cannot move them (claim that more records are plain SHA-256,
 * or that more records were archived) without verify noticing.
 *
 * - `audit_chain_format` `{keyed_from, mac}`: records with seq < keyed_from were written before the
 *   chain was keyed and verify with SHA-256; every later record must carry the keyed hash. Set once,
 *   by the first broker of this version to start (head seq + 1 then; 1 on a new database).
 * - `audit_archive_anchor` `{seq, hash, mac}`: records up to `seq` were archived (archive.ts); the
 *   first kept record must be seq + 1 and chain onto `hash`.
 */
import { timingSafeEqual } from "node:crypto";
import { BrokerError } from "../errors.js";
import type { Store } from "../store/store.js";
import type { ChainHead, ChainKey } from "./chain.js";

const FORMAT_KEY = "audit_chain_format";
const ANCHOR_KEY = "audit_archive_anchor";

/** How the stored chain is to be verified. */
export interface ChainFormat {
  key: ChainKey;
  /** First seq whose hash is keyed; earlier records are plain SHA-256. */
  keyedFromSeq: number;
  /** The last archived record, when records were archived: the kept chain continues from it. */
  anchor: ChainHead | undefined;
}

const formatMac = (key: ChainKey, keyedFrom: number) => key.mac(`credbroker audit chain format: keyed from ${keyedFrom}`);
const anchorMac = (key: ChainKey, anchor: ChainHead) => key.mac(`credbroker audit archive anchor: ${anchor.seq} ${anchor.hash}`);

/** A problem with the chain's metadata, or undefined with the format. */
export type FormatReading = { ok: true; format: ChainFormat } | { ok: false; message: string };

/**
 * Makes sure the chain format marker exists (the first start of a keyed broker writes it) and
 * returns the format. Brokers starting at once on one database agree on one marker: only the
 * first insert counts. Throws BrokerError("audit_tampered") when the stored marker or anchor was
 * not written with this key.
 */
export async function establishChainFormat(store: Pick<Store, "getMeta" | "setMetaIfAbsent" | "queryAudit">, key: ChainKey): Promise<ChainFormat> {
  if ((await store.getMeta(FORMAT_KEY)) === undefined) {
    const [head] = await store.queryAudit({ order: "desc", limit: 1 });
    const keyedFrom = (head?.seq ?? 0) + 1;
    await store.setMetaIfAbsent(FORMAT_KEY, JSON.stringify({ keyed_from: keyedFrom, mac: formatMac(key, keyedFrom) }));
  }
  const reading = await readChainFormat(store, key);
  if (!reading.ok) throw new BrokerError("audit_tampered", reading.message);
  return reading.format;
}

/** Reads and checks the marker and the anchor; a missing marker or a wrong MAC is a problem (fail closed). */
export async function readChainFormat(store: Pick<Store, "getMeta">, key: ChainKey): Promise<FormatReading> {
  const storedFormat = parseStored(await store.getMeta(FORMAT_KEY));
  if (!storedFormat) return { ok: false, message: "the audit chain format marker is missing or unreadable: it was removed or altered in the database" };
  const keyedFrom = storedFormat.keyed_from;
  if (!Number.isSafeInteger(keyedFrom) || (keyedFrom as number) < 1 || !sameMac(storedFormat.mac, formatMac(key, keyedFrom as number))) {
    return { ok: false, message: "the audit chain format marker does not carry the audit key's MAC: it was altered in the database" };
  }
  const storedAnchor = await store.getMeta(ANCHOR_KEY);
  let anchor: ChainHead | undefined;
  if (storedAnchor !== undefined) {
    const parsed = parseStored(storedAnchor);
    const candidate = parsed && typeof parsed.seq === "number" && typeof parsed.hash === "string" ? { seq: parsed.seq, hash: parsed.hash } : undefined;
    if (!candidate || !sameMac(parsed?.mac, anchorMac(key, candidate))) {
      return { ok: false, message: "the audit archive anchor does not carry the audit key's MAC: it was altered in the database" };
    }
    anchor = candidate;
  }
  return { ok: true, format: { key, keyedFromSeq: keyedFrom as number, anchor } };
}

/** The broker_meta row that records `anchor` as the last archived record. */
export function anchorMeta(key: ChainKey, anchor: ChainHead): { key: string; value: string } {
  return { key: ANCHOR_KEY, value: JSON.stringify({ seq: anchor.seq, hash: anchor.hash, mac: anchorMac(key, anchor) }) };
}

function parseStored(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Constant-time comparison of two hex MACs. */
function sameMac(given: unknown, expected: string): boolean {
  if (typeof given !== "string" || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}
