import { randomInt } from "node:crypto";

import { isOfClass, type ValueSpec } from "../policy/rotation-options.js";

/** Draws before giving up on `require` (each draw fails with a tiny probability for policy-valid specs). */
const MAX_DRAWS = 1000;

/**
 * A new random value: `spec.length` characters drawn uniformly (crypto.randomInt, no modulo
 * bias) from `spec.alphabet`, drawn again until it holds every class in `spec.require`.
 * ASCII only, so its bytes are its characters. Never log the result.
 *
 * @throws TypeError when no draw satisfies `require` (a spec that policy validation should have refused)
 */
export function generateValue(spec: ValueSpec): Buffer {
  const alphabet = [...spec.alphabet];
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    const chars: string[] = [];
    for (let i = 0; i < spec.length; i++) chars.push(alphabet[randomInt(alphabet.length)]!);
    if (spec.require.every((kind) => chars.some((char) => isOfClass(char, kind)))) return Buffer.from(chars.join(""), "ascii");
  }
  throw new TypeError(`no value of ${spec.length} characters satisfies require ${spec.require.join(", ")}`);
}
