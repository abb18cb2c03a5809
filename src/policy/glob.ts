/**
 * Secret paths and the globs that select them in policy files.
 *
 * A secret path is segments of `[A-Za-z0-9._+=@-]` joined by `/` (never empty, `.` or `..`),
 * optionally followed by `#key` to select one key of a structured value. In a glob, a segment
 * `*` matches exactly one segment, `**` matches zero or more segments, and `*` inside a segment
 * (`github/*-token`) matches any characters within that one segment. A glob always matches
 * against the part of the path before `#`.
 *
 * Our own matcher rather than picomatch: the product's semantics are small and fixed, and a
 * general file-glob library brings file-system rules (dotfiles, braces, extglobs) that would
 * make `credbroker policy explain` harder to predict.
 */

const SEGMENT_CHARS = "A-Za-z0-9._+=@-";
const C = `[${SEGMENT_CHARS}]`;
const SEGMENT_CHAR_RE = new RegExp(`^${C}$`);
const PATH_SHAPE_RE = new RegExp(`^${C}+(?:/${C}+)*(?:#${C}+)?$`);
const DOT_SEGMENT_RE = /(?:^|\/)\.{1,2}(?=\/|#|$)/;

/** A compiled glob. `test` takes a path WITHOUT its `#key` suffix (callers strip it once). */
export interface SecretGlob {
  readonly pattern: string;
  readonly test: (basePath: string) => boolean;
}

/**
 * Whether `path` is a well-formed secret path, with or without a `#key` suffix.
 * `github/token`, `kv/app#token`, `a/b+c=d@e` are; `a//b`, `../x`, `a/./b`, `a#` are not.
 */
export function isValidSecretPath(path: string): boolean {
  return PATH_SHAPE_RE.test(path) && !DOT_SEGMENT_RE.test(path);
}

/** The part of a secret path that globs match: everything before `#`, if any. */
export function secretPathBase(path: string): string {
  const hash = path.indexOf("#");
  return hash < 0 ? path : path.slice(0, hash);
}

/**
 * Checks a glob as written in a policy file.
 *
 * @returns undefined when the glob is valid, otherwise one sentence naming the problem.
 */
export function validateGlob(pattern: string): string | undefined {
  if (pattern.length === 0) return "a secret glob cannot be empty";
  if (pattern.includes("#")) return `a secret glob cannot contain "#": globs match the path before "#key"`;
  const segments = pattern.split("/");
  for (const segment of segments) {
    if (segment === "") return `empty path segment (a leading or trailing "/", or "//")`;
    if (segment === "." || segment === "..") return `path segment "${segment}" is not allowed`;
    if (segment === "**") continue;
    if (segment.includes("**")) return `"**" must be a whole path segment (as in "a/**/b"), not part of "${segment}"`;
    for (const char of segment) {
      if (char !== "*" && !SEGMENT_CHAR_RE.test(char)) {
        return `character ${JSON.stringify(char)} is not allowed (path segments use letters, digits and ._+=@- only)`;
      }
    }
  }
  return undefined;
}

/**
 * Compiles a glob into a matcher that takes a full secret path (a `#key` suffix is ignored).
 *
 * @throws TypeError when the glob is invalid; validate policy input with {@link validateGlob} first.
 */
export function compileGlob(pattern: string): (path: string) => boolean {
  const glob = compileSecretGlob(pattern);
  return function matchesSecretGlob(path: string): boolean {
    return glob.test(secretPathBase(path));
  };
}

/**
 * Compiles a glob into a {@link SecretGlob} whose `test` takes the path without `#key`; the
 * evaluator strips the suffix once per request instead of once per rule.
 *
 * A glob without wildcards compiles to a string comparison. Otherwise it compiles to one RegExp
 * built so that it cannot backtrack catastrophically: every segment is delimited by `/`, and
 * each piece between two wildcards is matched at its first occurrence, made atomic with the
 * `(?=(...))\N` idiom (JavaScript has no atomic groups). Taking the earliest occurrence of a
 * middle piece is always correct for `*`-style wildcards, so nothing is lost, and matching
 * stays polynomial with a small degree in the path length.
 *
 * @throws TypeError when the glob is invalid.
 */
export function compileSecretGlob(pattern: string): SecretGlob {
  const problem = validateGlob(pattern);
  if (problem !== undefined) throw new TypeError(`invalid secret glob ${JSON.stringify(pattern)}: ${problem}`);
  if (!pattern.includes("*")) {
    return Object.freeze({ pattern, test: (basePath: string) => basePath === pattern });
  }
  const re = new RegExp(globSource(pattern));
  return Object.freeze({ pattern, test: (basePath: string) => re.test(basePath) });
}

/** Builds the RegExp source for a valid glob that contains at least one `*`. */
function globSource(pattern: string): string {
  // Split into blocks of ordinary segments separated by `**`; consecutive `**` are one.
  const blocks: string[][] = [[]];
  let previousWasGlobstar = false;
  for (const segment of pattern.split("/")) {
    if (segment === "**") {
      if (!previousWasGlobstar) blocks.push([]);
      previousWasGlobstar = true;
    } else {
      blocks[blocks.length - 1]!.push(segment);
      previousWasGlobstar = false;
    }
  }

  const groups = { count: 0 };
  const block = (segments: string[]): string => segments.map((s) => segmentSource(s, groups)).join("/");
  const first = blocks[0]!;
  const last = blocks[blocks.length - 1]!;
  const globstars = blocks.length - 1;

  if (globstars === 0) return `^${block(first)}$`;

  let source = "^" + block(first);
  const startsWithGlobstar = first.length === 0;
  // A middle block is found at its earliest position after what came before, atomically.
  for (let i = 1; i < globstars; i++) {
    const skip = i === 1 && startsWithGlobstar ? `(?:${C}+/)*?` : `(?:/${C}+)*?/`;
    const group = ++groups.count;
    source += `(?=(${skip}${block(blocks[i]!)}(?=/|$)))\\${group}`;
  }
  if (last.length > 0) {
    const skip = globstars === 1 && startsWithGlobstar ? `(?:${C}+/)*` : `(?:/${C}+)*/`;
    source += `${skip}${block(last)}$`;
  } else if (globstars === 1 && startsWithGlobstar) {
    source += `${C}+(?:/${C}+)*$`; // the glob is just `**`
  } else {
    source += `(?:/${C}+)*$`;
  }
  return source;
}

/** RegExp source for one ordinary segment; it never crosses a `/`. */
function segmentSource(segment: string, groups: { count: number }): string {
  if (segment === "*") return `${C}+`;
  if (!segment.includes("*")) return escapeRegExp(segment);
  const pieces = segment.split("*");
  let source = escapeRegExp(pieces[0]!);
  for (let i = 1; i < pieces.length - 1; i++) {
    const group = ++groups.count;
    source += `(?=(${C}*?${escapeRegExp(pieces[i]!)}))\\${group}`;
  }
  return source + `${C}*${escapeRegExp(pieces[pieces.length - 1]!)}`;
}

/** Escapes a validated literal piece: of the allowed characters only `.` and `+` are special. */
function escapeRegExp(text: string): string {
  return text.replace(/[.+]/g, "\\$&");
}
