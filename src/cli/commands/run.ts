/** `credbroker run [--env NAME=PATH ...] [--on-change MODE] -- COMMAND [ARGS...]` */
import type { Command } from "commander";
import { parseEnvMappings, parseOnChange, RunUsageError } from "../../sdk/run/options.js";
import type { RunStdio } from "../../sdk/run/run.js";
import { CliError } from "../errors.js";

const collect = (value: string, previous: string[]) => [...previous, value];

function seconds(option: string, text: string): number {
  if (!/^\d+(\.\d+)?$/.test(text)) throw new CliError(`${option} must be a number of seconds`, 2);
  return Math.round(Number(text) * 1000);
}

export function registerRunCommand(program: Command, setExit: (promise: Promise<number>) => void): void {
  program
    .command("run")
    .description("start COMMAND with secrets from the broker in its environment; restart it when they rotate")
    .usage("[options] -- COMMAND [ARGS...]")
    .argument("<command>", "the command to run (found on PATH, no shell)")
    .argument("[args...]", "its arguments; ${NAME} is replaced by the value injected as NAME")
    .option("--env <NAME=PATH>", "inject secret PATH as environment variable NAME (repeatable)", collect, [])
    .option("--on-change <mode>", "on rotation or revocation: restart, signal:SIGHUP (or another signal), exit, none", "restart")
    .option("--stdio <mode>", "auto (relay MCP over pipes, inherit a terminal), mcp, inherit", "auto")
    .option("--start-timeout <seconds>", "how long to keep trying to reach the broker at start", "30")
    .option("--drain-timeout <seconds>", "how long a restart waits for requests in flight", "10")
    .option("--kill-timeout <seconds>", "how long the command may take to exit after SIGTERM before SIGKILL", "10")
    .addHelpText(
      "after",
      `
Credentials come from CREDBROKER_URL, CREDBROKER_CLIENT_ID and CREDBROKER_CLIENT_SECRET (or
CREDBROKER_PRIVATE_KEY_FILE); they are removed from COMMAND's environment.

Example:
  credbroker run --env DB_URL=db/analytics -- mcp-server-postgres '\${DB_URL}'`,
    )
    .action((command: string, args: string[], options: { env: string[]; onChange: string; stdio: string; startTimeout: string; drainTimeout: string; killTimeout: string }) => {
      let env: Record<string, string>;
      let onChange;
      try {
        env = parseEnvMappings(options.env);
        onChange = parseOnChange(options.onChange);
      } catch (error) {
        if (error instanceof RunUsageError) throw new CliError(error.message, 2);
        throw error;
      }
      if (Object.keys(env).length === 0) throw new CliError("give at least one --env NAME=PATH", 2);
      if (!["auto", "mcp", "inherit"].includes(options.stdio)) throw new CliError("--stdio must be auto, mcp or inherit", 2);
      // The wrapper and the SDK load only here, not for every other command's start.
      const run = import("../../sdk/run/run.js").then(({ runWithSecrets }) =>
        runWithSecrets(
        {
          env,
          command,
          args,
          onChange,
          stdio: options.stdio as RunStdio,
          startTimeoutMs: seconds("--start-timeout", options.startTimeout),
          drainTimeoutMs: seconds("--drain-timeout", options.drainTimeout),
          killGraceMs: seconds("--kill-timeout", options.killTimeout),
        },
        { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signals: process },
        ),
      );
      // Nothing may keep the wrapper alive once the command has ended.
      setExit(run.finally(() => process.stdin.destroy()));
    });
}
