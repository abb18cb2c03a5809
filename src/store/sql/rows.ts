/**
 * Reading driver values into domain values, for both dialects: better-sqlite3 returns integers as
 * numbers and booleans as 0/1; node-postgres returns bigint (int8) and count(*) as decimal text,
 * booleans as booleans; both return blobs/bytea as Buffers. A value of an unexpected type means
 * the schema and the code disagree: a TypeError, which the store reports as storage_unavailable.
 */
export function num(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value !== "" && Number.isFinite(Number(value))) return Number(value);
  if (typeof value === "bigint") return Number(value);
  throw new TypeError(`expected a number from the database, got ${typeof value}`);
}

export function numOrNull(value: unknown): number | null {
  return value === null ? null : num(value);
}

export function str(value: unknown): string {
  if (typeof value === "string") return value;
  throw new TypeError(`expected text from the database, got ${typeof value}`);
}

export function strOrNull(value: unknown): string | null {
  return value === null ? null : str(value);
}

export function bool(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  if (value === 0 || value === 1) return value === 1;
  throw new TypeError(`expected a boolean from the database, got ${typeof value}`);
}

export function bytes(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  throw new TypeError(`expected bytes from the database, got ${typeof value}`);
}

/** `value` when it is one of `allowed` (a text column holding a closed set of words). */
export function oneOf<const T extends string>(value: unknown, allowed: readonly T[]): T {
  const found = allowed.find((candidate) => candidate === value);
  if (found === undefined) throw new TypeError(`unexpected value in a ${allowed.join("|")} column`);
  return found;
}
