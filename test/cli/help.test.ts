/**
 * Every command of the CLI explains itself: a description and an example in its --help, and
 * --json wherever a script may want to read its answer (the exceptions say why not). Walks the
 * real commander tree, so a command added later without them fails here.
 */
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { commandPath, EXAMPLES } from "../../src/cli/help.js";
import { buildProgram } from "../../src/cli/main.js";
import { runCli } from "../helpers/cli.js";

/** Commands without --json, and why. */
const NO_JSON: Record<string, string> = {
  run: "its stdin, stdout and stderr belong to the command it starts (an MCP stdio server)",
  serve: "runs until stopped; what it prints is the broker's JSON log",
  "audit export": "its output is the export itself, in the --format asked for (jsonl or csv)",
};

function leaves(command: Command): Command[] {
  return command.commands.length === 0 ? [command] : command.commands.flatMap(leaves);
}

function helpOf(command: Command): string {
  let text = "";
  command.configureOutput({ writeOut: (chunk) => (text += chunk), writeErr: (chunk) => (text += chunk) });
  command.outputHelp();
  return text;
}

const program = buildProgram(false, () => undefined);
const commands = leaves(program).map((command) => [commandPath(command), command] as const);

describe("credbroker help", () => {
  it("walks a tree of more than thirty commands", () => {
    expect(commands.length).toBeGreaterThan(30);
  });

  it.each(commands)("%s has a description and an example", (_path, command) => {
    expect(command.description().length).toBeGreaterThan(10);
    expect(helpOf(command)).toMatch(/\nExamples?:\n {2}\S/);
  });

  it.each(commands)("%s accepts --json, or says why not", (path, command) => {
    const json = command.options.some((option) => option.long === "--json");
    if (path in NO_JSON) expect(json, `${path} is listed as having no --json`).toBe(false);
    else expect(json, `${path} has no --json`).toBe(true);
  });

  it("every group has a description", () => {
    for (const group of program.commands.filter((command) => command.commands.length > 0)) expect(group.description().length, group.name()).toBeGreaterThan(5);
  });

  it("names no command that does not exist, in its examples or its exceptions", () => {
    const paths = new Set(commands.map(([path]) => path));
    for (const path of [...Object.keys(EXAMPLES), ...Object.keys(NO_JSON)]) expect(paths.has(path), path).toBe(true);
  });

  it("shows the example in the real CLI's --help", async () => {
    const result = await runCli(["operator", "rotate", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("credbroker operator rotate alice --ttl 30d");
  });
});
