/** The configuration examples users copy from the docs are valid configuration. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig } from "../src/config.js";

const root = resolve(import.meta.dirname, "..");

/** The fenced yaml blocks of a markdown file that start with a `# credbroker.yaml` comment or are configs. */
function yamlBlocks(file: string): string[] {
  const text = readFileSync(resolve(root, file), "utf8");
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1]!).filter((block) => /^(listen|database|mounts):/m.test(block));
}

describe("documented configuration", () => {
  it.each(["README.md", "deploy/credbroker.compose.yaml"])("%s parses with the broker's config schema", (file) => {
    const blocks = file.endsWith(".yaml") ? [readFileSync(resolve(root, file), "utf8")] : yamlBlocks(file);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) expect(() => parseConfig(parse(block))).not.toThrow();
  });
});
