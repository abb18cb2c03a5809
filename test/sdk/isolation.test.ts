/** The SDK ships to MCP servers: it may import jose, node built-ins and its own folder, nothing of the broker. */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SDK = resolve(import.meta.dirname, "../../src/sdk");

describe("src/sdk imports", () => {
  // Recursive: `credbroker run` (src/sdk/run/) is client side too.
  const files = readdirSync(SDK, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".ts"));

  it("covers the run wrapper", () => {
    expect(files).toContain(join("run", "run.ts"));
  });

  it.each(files)("%s imports only src/sdk/, jose and node:", (file) => {
    const source = readFileSync(join(SDK, file), "utf8");
    const specifiers = [...source.matchAll(/^\s*(?:import|export)[^"']*from\s+["']([^"']+)["']/gm)].map((m) => m[1]!);
    const insideSdk = (specifier: string) => specifier.startsWith(".") && !relative(SDK, resolve(SDK, dirname(file), specifier)).startsWith("..");
    const foreign = specifiers.filter((s) => !(insideSdk(s) || s === "jose" || s.startsWith("node:")));
    expect(foreign).toEqual([]);
  });
});
