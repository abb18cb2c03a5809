/** The command line of `credbroker run`, parsed and checked: `--env NAME=PATH`, `--on-change`, `${NAME}` in arguments. */

export type OnChange = { kind: "restart" } | { kind: "signal"; signal: NodeJS.Signals } | { kind: "exit" } | { kind: "none" };

/** A usage problem: the CLI prints it and exits 2. */
export class RunUsageError extends Error {
  override readonly name = "RunUsageError";
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SIGNALS: ReadonlySet<string> = new Set(["SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT"]);

/** The variables that carry the wrapper's own credentials: never passed on to the child. */
export const CREDENTIAL_ENV = ["CREDBROKER_URL", "CREDBROKER_TOKEN", "CREDBROKER_CLIENT_ID", "CREDBROKER_CLIENT_SECRET", "CREDBROKER_PRIVATE_KEY_FILE", "CREDBROKER_TOKEN_FILE"] as const;

/** Parses repeated `NAME=PATH` into a mapping; a NAME given twice, or a malformed pair, is a usage error. */
export function parseEnvMappings(pairs: readonly string[]): Record<string, string> {
  const mapping: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    const name = equals < 0 ? pair : pair.slice(0, equals);
    const secret = equals < 0 ? "" : pair.slice(equals + 1);
    if (!ENV_NAME.test(name)) throw new RunUsageError(`--env ${pair}: NAME must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)`);
    if (secret.length === 0) throw new RunUsageError(`--env ${pair}: expected NAME=PATH, e.g. --env DB_URL=db/readonly`);
    if (name.startsWith("CREDBROKER_")) throw new RunUsageError(`--env ${pair}: CREDBROKER_* names are reserved for the wrapper's own configuration`);
    if (Object.hasOwn(mapping, name)) throw new RunUsageError(`--env ${name} is given twice`);
    mapping[name] = secret;
  }
  return mapping;
}

/** `restart` (default), `signal:SIGHUP` (any of HUP, INT, QUIT, TERM, USR1, USR2, WINCH, CONT), `exit` or `none`. */
export function parseOnChange(text: string): OnChange {
  if (text === "restart" || text === "exit" || text === "none") return { kind: text };
  const match = /^signal:(?:SIG)?([A-Z0-9]+)$/i.exec(text);
  const signal = match ? `SIG${match[1]!.toUpperCase()}` : undefined;
  if (signal && SIGNALS.has(signal)) return { kind: "signal", signal: signal as NodeJS.Signals };
  throw new RunUsageError(`--on-change ${text}: expected restart, signal:SIGHUP (or another signal), exit or none`);
}

/** Replaces `${NAME}` for each injected NAME; other `${...}` text is left as it is (no shell is involved). */
export function substituteArgs(args: readonly string[], values: Readonly<Record<string, string>>): string[] {
  return args.map((arg) => arg.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? values[name]! : whole)));
}

/** The child's environment: the wrapper's, less its credentials, plus the injected values. */
export function childEnvironment(base: Readonly<Record<string, string | undefined>>, values: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined && !(CREDENTIAL_ENV as readonly string[]).includes(name)) env[name] = value;
  }
  return { ...env, ...values };
}
