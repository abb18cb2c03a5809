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
import { registerSessionCommands } from "./commands/session.js";
import { checkProfileName } from "./credentials.js";
import { addExample } from "./help.js";
import { BROKER_VERSION } from "../version.js";
import { CliError } from "./errors.js";
import { consoleOutput, terminalSafe } from "./output.js";

/** True when the CLI's own arguments (not those after `--`, which belong to `run`'s child) ask for JSON. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).includes("--json");
}

/**
 * A failure as scripts read it with `--json` (one line on stderr), or as people read it: then
 * terminal-safe, since the message may quote what a caller sent the broker (a denied name, a path).
 */
function reportFailure(json: boolean, code: string, message: string): void {
  process.stderr.write(json ? `${JSON.stringify({ error: { code, message } })}\n` : `credbroker: ${terminalSafe(message)}\n`);
}

const PROFILE_HELP = "the stored login to use (credbroker login --profile NAME); default: CREDBROKER_PROFILE, else default";

/**
 * Every command of the CLI, registered but not run. `setExit` receives the exit status of a
 * command that keeps running after its action returns (dev, serve, run, audit query --follow).
 */
export function buildProgram(json: boolean, setExit: (promise: Promise<number>) => void): Command {
  const program = new Command("credbroker")
    .description("credential broker for MCP servers")
    .version(BROKER_VERSION)
    .option("--profile <name>", PROFILE_HELP)
    // Program options only before the command: otherwise the program's --version would take
    // `secret get PATH --version 2` and print the release, exit 0, as if it were the value.
    .enablePositionalOptions()
    .exitOverride()
    // With --json, commander's own prose is dropped: the failure is reported once, as JSON, below.
    .showHelpAfterError(!json)
    .configureOutput({ writeErr: (text) => (json ? undefined : process.stderr.write(text)) });
  program.hook("preAction", (_program, action) => {
    const { profile } = action.optsWithGlobals() as { profile?: string };
    // The API client reads the profile where it reads the rest of its connection: the environment.
    if (profile !== undefined) process.env.CREDBROKER_PROFILE = checkProfileName(profile);
  });
  registerBrokerCommands(program, consoleOutput, setExit);
  registerSessionCommands(program, consoleOutput);
  registerManageCommands(program, consoleOutput);
  registerInspectCommands(program, consoleOutput, setExit);
  registerRunCommand(program, setExit);
  program.commands.forEach(function everywhere(command: Command) {
    command.exitOverride();
    addExample(command);
    // --profile after the command too (`credbroker whoami --profile prod`).
    if (command.commands.length === 0) command.option("--profile <name>", PROFILE_HELP);
    command.commands.forEach(everywhere);
  });
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const json = wantsJson(argv);
  let pending: Promise<number> | undefined;
  const program = buildProgram(json, (promise) => {
    pending = promise;
  });

  try {
    await program.parseAsync(argv, { from: "user" });
    return pending ? await pending : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
      if (json) reportFailure(true, "usage", error.message.replace(/^error: /, ""));
      return 2;
    }
    if (error instanceof CliError) {
      reportFailure(json, error.code, error.message);
      return error.exitCode;
    }
    if (isBrokerError(error)) {
      reportFailure(json, error.code, error.message);
      return 1;
    }
    reportFailure(json, "internal_error", `unexpected error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
