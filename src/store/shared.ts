/** Small pieces both store dialects share. */
import type { AuditRecord } from "../domain.js";
import type { AuditFilter, Store } from "./store.js";

export const parseLabels = (text: string): Record<string, string> => JSON.parse(text) as Record<string, string>;

/** Escapes `\`, `%` and `_` for a LIKE pattern written with `ESCAPE '\'`. */
export const escapeLike = (value: string): string => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Every audit record matching `filter`, in seq order, one page at a time. */
export async function* auditPagesOf(
  store: Pick<Store, "queryAudit">,
  filter: Omit<AuditFilter, "limit" | "afterSeq">,
  pageSize: number,
): AsyncIterable<AuditRecord[]> {
  let afterSeq = 0;
  for (;;) {
    const page = await store.queryAudit({ ...filter, afterSeq, limit: pageSize });
    if (page.length === 0) return;
    yield page;
    afterSeq = page.at(-1)!.seq;
  }
}
