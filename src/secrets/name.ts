/** Parsing of secret names as clients send them: `path` or `path#key`. */
import { isUtf8 } from "node:buffer";
import { BrokerError } from "../errors.js";
import { isValidSecretPath } from "../policy/glob.js";

export interface SecretName {
  /** The full name as requested, e.g. `kv/app#token`. */
  name: string;
  /** The secret's path, e.g. `kv/app`. */
  path: string;
  /** The selected key of a structured value, if any. */
  key: string | undefined;
}

export const MAX_SECRET_NAME_LENGTH = 512;

/** Throws BrokerError("invalid_path") naming the problem; never echoes more than the name itself. */
export function parseSecretName(name: unknown): SecretName {
  if (typeof name !== "string" || name.length === 0) throw new BrokerError("invalid_path", "a secret name must be a non-empty string");
  if (name.length > MAX_SECRET_NAME_LENGTH) throw new BrokerError("invalid_path", `a secret name is at most ${MAX_SECRET_NAME_LENGTH} characters`);
  if (!isValidSecretPath(name)) {
    throw new BrokerError(
      "invalid_path",
      `invalid secret name ${JSON.stringify(name)}: segments of letters, digits and ._+=@- joined by "/", never empty, "." or "..", optionally "#key"`,
    );
  }
  const hash = name.indexOf("#");
  return hash < 0 ? { name, path: name, key: undefined } : { name, path: name.slice(0, hash), key: name.slice(hash + 1) };
}

/** Selects `key` of a JSON object value; undefined when the value is not an object or lacks the key. */
export function selectKey(bytes: Buffer, key: string): Buffer | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed) || !Object.hasOwn(parsed, key)) return undefined;
  const selected = (parsed as Record<string, unknown>)[key];
  return Buffer.from(typeof selected === "string" ? selected : JSON.stringify(selected), "utf8");
}

/** A value as JSON carries it: UTF-8 text when it is valid UTF-8, else base64. */
export function encodeValue(bytes: Buffer): { value: string; encoding: "utf8" | "base64" } {
  return isUtf8(bytes) ? { value: bytes.toString("utf8"), encoding: "utf8" } : { value: bytes.toString("base64"), encoding: "base64" };
}
