/**
 * Request body parsing: JSON only (or form where a route allows it), size-limited by the app's
 * body limit, validated by a strict zod schema so unknown fields are rejected with a 400.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { BrokerError } from "../errors.js";

export async function readJson<Schema extends z.ZodType>(c: Context, schema: Schema): Promise<z.output<Schema>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new BrokerError("unsupported_media_type", "send the body as application/json");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await c.req.text());
  } catch {
    throw new BrokerError("invalid_json", "the body is not valid JSON");
  }
  return validate(schema, raw);
}

export function validate<Schema extends z.ZodType>(schema: Schema, raw: unknown, what = "body"): z.output<Schema> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".") || what}: ${issue.message}`);
    throw new BrokerError("invalid_request", `invalid ${what}: ${problems.join("; ")}`, { data: { problems } });
  }
  return result.data;
}

/** Parses `?limit=` style integers; throws a 400 naming the parameter. */
export function queryInt(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d+$/.test(value)) throw new BrokerError("invalid_request", `${name} must be an integer`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new BrokerError("invalid_request", `${name} must be between ${min} and ${max}`);
  return parsed;
}
