import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type * as z from "zod";

import { AT_KEY, policyFileSchema, type PolicyFile } from "./schema.js";
import { EXPECTED_KEYS_PREFIX } from "./schema-parts.js";
import { roleFacts, type RoleFacts } from "./roles.js";
import type { PolicyProblem } from "./types.js";
import type { NodeEnd, NodePath, Position } from "./position.js";

/**
 * One policy file from text to validated data, with every problem placed at the line and
 * column of the YAML node it is about.
 */

/** A validated file that can still say where each of its nodes was written. */
export interface ParsedPolicyFile {
  readonly file: string;
  readonly text: string;
  readonly content: PolicyFile;
  /** The 1-based position of the node at `path`, or of its nearest existing ancestor. */
  locate(path: NodePath, end?: NodeEnd): Position;
}

/**
 * The file validated, or its problems. `roles` is there whenever the YAML itself parsed, even
 * with other problems, so that cross-file role problems can be reported in the same pass.
 */
export type ParseResult =
  | { ok: true; parsed: ParsedPolicyFile; roles: RoleFacts }
  | { ok: false; problems: PolicyProblem[]; roles: RoleFacts | undefined };

/**
 * Parses and validates one file. YAML syntax errors, duplicate keys and unresolved tags are
 * reported first and alone: validating a document that did not parse would only add noise.
 */
export function parsePolicyFile(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };

  const syntax = [...doc.errors, ...doc.warnings];
  if (syntax.length > 0) {
    return {
      ok: false,
      problems: syntax.map((error) => ({ file, ...at(error.pos[0]), message: yamlMessage(error.code, error.message) })),
      roles: undefined,
    };
  }

  const locate = (path: NodePath, end: NodeEnd = "value"): Position => at(offsetOf(doc, path, end));
  let data: unknown;
  try {
    // An empty file (or one holding only comments) is an empty policy.
    data = doc.contents === null ? {} : doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // e.g. too many aliases (a "billion laughs" document)
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, problems: [{ file, line: 1, column: 1, message: `YAML: ${reason}` }], roles: undefined };
  }
  const roles = roleFacts(file, data, locate);
  const result = policyFileSchema.safeParse(data, { error: issueMessage });
  if (!result.success) {
    return { ok: false, problems: result.error.issues.flatMap((issue) => toProblems(issue, file, locate)), roles };
  }
  return { ok: true, parsed: { file, text, content: result.data, locate }, roles };
}

function yamlMessage(code: string, message: string): string {
  if (code === "DUPLICATE_KEY") return "duplicate key: a key may appear only once in a map";
  // The yaml package ends some messages with " at line L, column C"; we report those separately.
  return `YAML: ${message.replace(/ at line \d+, column \d+:?[\s\S]*$/, "")}`;
}

function toProblems(issue: z.core.$ZodIssue, file: string, locate: ParsedPolicyFile["locate"]): PolicyProblem[] {
  const where = issue.path.length > 0 ? `${formatPath(issue.path)}: ` : "";
  if (issue.code === "unrecognized_keys") {
    const expected = issue.message.startsWith(EXPECTED_KEYS_PREFIX) ? ` (${issue.message})` : "";
    return issue.keys.map((key) => ({
      file,
      ...locate([...issue.path, key], "key"),
      message: `${where}unknown key ${JSON.stringify(key)}${expected}`,
    }));
  }
  const atKey = issue.code === "invalid_key" || (issue.code === "custom" && issue.params?.["at"] === AT_KEY.at);
  const end: NodeEnd = atKey ? "key" : "value";
  const message = issue.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue.message;
  return [{ file, ...locate(issue.path, end), message: `${where}${message}` }];
}

/** `servers.github-mcp.allow[0].max_ttl`, the way a reader would point at it. */
export function formatPath(path: NodePath): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out === "" ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

/** Messages for zod's built-in checks, written for someone editing a YAML file. */
function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type": {
      if (issue.input === undefined) return "required, but missing";
      return `expected ${describeExpected(issue.expected)}, got ${describeValue(issue.input)}`;
    }
    case "invalid_value":
      return `${describeValue(issue.input)} is not one of: ${issue.values.map(String).join(", ")}`;
    case "too_small":
      if (issue.origin === "array") return "must list at least one entry";
      if (issue.origin === "string") return "must not be empty";
      return `must be at least ${String(issue.minimum)}`;
    case "too_big":
      return `must be at most ${String(issue.maximum)}`;
    default:
      return undefined;
  }
}

function describeExpected(expected: string): string {
  switch (expected) {
    case "array":
      return "a list";
    case "object":
    case "record":
      return "a map";
    case "string":
      return "a string";
    case "number":
    case "int":
      return "a number";
    default:
      return expected;
  }
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

/**
 * Offset of the node at `path`: its key when `end` is "key" (unknown keys, bad map keys), else
 * its value. A path that stops early (a missing required key) points at the deepest node that
 * exists, which is the map that lacks the key.
 */
function offsetOf(doc: Document, path: NodePath, end: NodeEnd): number {
  let node: unknown = doc.contents;
  let best = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const segment = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) return best;
      const keyStart = rangeStart(pair.key);
      if (last && end === "key" && keyStart !== undefined) return keyStart;
      node = pair.value;
      best = rangeStart(node) ?? keyStart ?? best;
    } else if (isSeq(node) && typeof segment === "number") {
      node = node.items[segment];
      best = rangeStart(node) ?? best;
    } else {
      return best;
    }
  }
  return best;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}
