/** Positions in a policy file, shared by the parser and the checks that point into a parsed document. */

/** A path into the document, as zod reports it: map keys and sequence indexes. */
export type NodePath = readonly PropertyKey[];

/** Where a problem points: at a map key (`key`) or at the value under it (`value`). */
export type NodeEnd = "key" | "value";

export interface Position {
  readonly line: number;
  readonly column: number;
}
