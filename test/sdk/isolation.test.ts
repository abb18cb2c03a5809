/** The SDK ships to MCP servers: it may import jose, node built-ins and its own folder, nothing of the broker. */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SDK = resolve(import.meta.dirname, "../../src/sdk");

describe("src/sdk imports", () => {
  it.each(readdirSync(SDK).filter((file) => file.endsWith(".ts")))("%s imports only ./, jose and node:", (file) => {
    const source = readFileSync(join(SDK, file), "utf8");
    const specifiers = [...source.matchAll(/^\s*(?:import|export)[^"']*from\s+["']([^"']+)["']/gm)].map((m) => m[1]!);
    const foreign = specifiers.filter((s) => !(s.startsWith("./") || s === "jose" || s.startsWith("node:")));
    expect(foreign).toEqual([]);
  });
});
