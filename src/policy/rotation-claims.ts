import type { Position } from "./position.js";
import type { PolicyProblem } from "./types.js";

/**
 * One secret, one rotation rule. Two rules "claim the same secret" when some secret path matches
 * a glob of each: identical globs, one glob inside the other (`prod/**` and `prod/db/*`), and
 * globs that only cross (`prod/*\/main` and `prod/db/*` both take `prod/db/main`). Which rule
 * wins would otherwise depend on file order, and two schedules or strategies for one secret
 * cannot both be right, so every such pair is a problem, reported at the later rule's glob with
 * an example path both match.
 *
 * The test is exact, not a heuristic: two globs share a path if and only if
 * {@link sharedPath} finds one. Globs of the same rule may overlap each other.
 */

/** Where a rule's glob is written, for the message. */
export interface RotationClaim extends Position {
  readonly file: string;
  /** The rule's 0-based position in its file's `rotation:` list. */
  readonly rule: number;
  /** The glob's 0-based position in the rule's `secrets`. */
  readonly glob: number;
  readonly pattern: string;
}

/** Every pair of claims by different rules that share a secret path, in load order. */
export function rotationClaimProblems(claims: readonly RotationClaim[]): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const reported = new Set<string>();
  for (let later = 0; later < claims.length; later++) {
    const claim = claims[later]!;
    for (let earlier = 0; earlier < later; earlier++) {
      const other = claims[earlier]!;
      if (other.file === claim.file && other.rule === claim.rule) continue;
      const pairKey = `${claim.file}\0${claim.rule}\0${other.file}\0${other.rule}`;
      if (reported.has(pairKey)) continue;
      const example = sharedPath(other.pattern, claim.pattern);
      if (example === undefined) continue;
      reported.add(pairKey);
      problems.push({
        file: claim.file,
        line: claim.line,
        column: claim.column,
        message:
          `rotation[${claim.rule}].secrets[${claim.glob}]: ${JSON.stringify(claim.pattern)} claims secrets that the rotation rule at ` +
          `${other.file}:${other.line} (${JSON.stringify(other.pattern)}) claims too, e.g. ${JSON.stringify(example)}; a secret may have one rotation rule`,
      });
    }
  }
  return problems;
}

/** Placeholder text for a wildcard that both globs leave free. */
const FILLER = "x";

/**
 * A secret path (without `#key`) matched by both valid globs, or undefined when there is none.
 * `*` is one whole segment, `**` zero or more segments, `*` inside a segment any characters in it.
 */
export function sharedPath(a: string, b: string): string | undefined {
  const left = a.split("/");
  const right = b.split("/");
  const memo = new Map<string, string[] | null>();
  // Segments common to left[i..] and right[j..], or null; every step advances i or j, so it ends.
  const walk = (i: number, j: number): string[] | null => {
    const key = `${i},${j}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let found: string[] | null = null;
    const x = left[i];
    const y = right[j];
    if (x === undefined && y === undefined) {
      found = [];
    } else if (x === "**" || y === "**") {
      // A globstar matches nothing here, or takes one segment that the other side supplies.
      if (x === "**") found = walk(i + 1, j);
      if (found === null && y === "**") found = walk(i, j + 1);
      if (found === null && x === "**" && y !== undefined && y !== "**") {
        const rest = walk(i, j + 1);
        if (rest !== null) found = [segmentExample(y), ...rest];
      }
      if (found === null && y === "**" && x !== undefined && x !== "**") {
        const rest = walk(i + 1, j);
        if (rest !== null) found = [segmentExample(x), ...rest];
      }
    } else if (x !== undefined && y !== undefined) {
      const segment = sharedSegment(x, y);
      if (segment !== undefined) {
        const rest = walk(i + 1, j + 1);
        if (rest !== null) found = [segment, ...rest];
      }
    }
    memo.set(key, found);
    return found;
  };
  const segments = walk(0, 0);
  if (segments === null) return undefined;
  // Only `**` on both sides is left: any one segment is a path both match.
  return (segments.length === 0 ? [FILLER] : segments).join("/");
}

/** A segment matching the segment pattern `p` (a literal, `*`, or a literal with `*`s). */
function segmentExample(p: string): string {
  return p === "*" ? FILLER : p.replaceAll("*", "");
}

/**
 * One segment both patterns match, or undefined. A pattern with `*`s is a prefix, pieces in order
 * and a suffix; two such patterns share a segment exactly when one prefix starts the other and
 * one suffix ends the other (the stars can take everything in between).
 */
function sharedSegment(p: string, q: string): string | undefined {
  const pWild = p.includes("*");
  const qWild = q.includes("*");
  if (!pWild && !qWild) return p === q ? p : undefined;
  if (!pWild) return segmentMatches(q, p) ? p : undefined;
  if (!qWild) return segmentMatches(p, q) ? q : undefined;
  const pParts = p.split("*");
  const qParts = q.split("*");
  const pPrefix = pParts[0]!;
  const qPrefix = qParts[0]!;
  const pSuffix = pParts[pParts.length - 1]!;
  const qSuffix = qParts[qParts.length - 1]!;
  const prefix = pPrefix.length >= qPrefix.length ? pPrefix : qPrefix;
  const suffix = pSuffix.length >= qSuffix.length ? pSuffix : qSuffix;
  if (!prefix.startsWith(pPrefix.length >= qPrefix.length ? qPrefix : pPrefix)) return undefined;
  if (!suffix.endsWith(pSuffix.length >= qSuffix.length ? qSuffix : pSuffix)) return undefined;
  const candidate = prefix + pParts.slice(1, -1).join("") + FILLER + qParts.slice(1, -1).join("") + suffix;
  return segmentMatches(p, candidate) && segmentMatches(q, candidate) ? candidate : undefined;
}

/** Whether the segment pattern matches `segment` (`*` alone needs at least one character). */
function segmentMatches(pattern: string, segment: string): boolean {
  if (pattern === "*") return segment.length > 0;
  const parts = pattern.split("*");
  if (parts.length === 1) return pattern === segment;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (segment.length < first.length + last.length || !segment.startsWith(first) || !segment.endsWith(last)) return false;
  let at = first.length;
  const end = segment.length - last.length;
  for (const piece of parts.slice(1, -1)) {
    const found = segment.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}
