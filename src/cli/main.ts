/**
 * The `credbroker` command line. Exit codes: 0 success, 1 operation failed (the message says
 * which), 2 usage error. Human output by default, `--json` for scripts; messages go to stderr.
 */
import { Command, CommanderError } from "commander";
import { isBrokerError } from "../errors.js";
import { registerBrokerCommands } from "./commands/broker.js";
import { registerInspectCommands } from "./commands/inspect.js";
import { registerManageCommands } from "./commands/manage.js";
import { registerRunCommand } from "./commands/run.js";
import { CliError } from "./errors.js";
import { consoleOutput, terminalSafe } from "./output.js";

export async function runCli(argv: string[]): Promise<number> {
  let pending: Promise<number> | undefined;
  const setExit = (promise: Promise<number>) => {
    pending = promise;
  };
  const program = new Command("credbroker")
    .description("credential broker for MCP servers")
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  registerBrokerCommands(program, consoleOutput, setExit);
  registerManageCommands(program, consoleOutput);
  registerInspectCommands(program, consoleOutput, setExit);
  registerRunCommand(program, setExit);
  program.commands.forEach(function exitOverrideEverywhere(command: Command) {
    command.exitOverride();
    command.commands.forEach(exitOverrideEverywhere);
  });

  try {
    await program.parseAsync(argv, { from: "user" });
    return pending ? await pending : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
      return 2;
    }
    if (error instanceof CliError) {
      process.stderr.write(`credbroker: ${error.message}\n`);
      return error.exitCode;
    }
    if (isBrokerError(error)) {
      // The broker's message may quote what a caller sent (a denied name, a path).
      process.stderr.write(`credbroker: ${terminalSafe(error.message)}\n`);
      return 1;
    }
    process.stderr.write(`credbroker: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
