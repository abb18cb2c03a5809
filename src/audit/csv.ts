/** CSV rendering of audit records (RFC 4180 quoting; cells starting with =+-@ are prefixed to defuse spreadsheet formulas). */
import type { AuditRecordJson } from "./record.js";

export const AUDIT_CSV_COLUMNS = [
  "seq", "time", "actor", "actor_kind", "action", "resource", "outcome", "reason",
  "lease_id", "version", "request_id", "source_ip", "token_ref", "prev_hash", "hash",
] as const satisfies ReadonlyArray<keyof AuditRecordJson>;

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text = String(value);
  // A leading line break counts too: some spreadsheets trim it and then evaluate what follows.
  if (/^[=+\-@\t\r\n]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsvRow(record: AuditRecordJson): string {
  return AUDIT_CSV_COLUMNS.map((column) => csvCell(record[column])).join(",");
}
