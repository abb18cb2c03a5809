/**
 * CLI failures: exit code 1 for a failed operation, 2 for a usage error. The message names what
 * failed; `code` is what `--json` reports (`usage` for every usage error).
 */
export class CliError extends Error {
  readonly code: string;

  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
    code?: string,
  ) {
    super(message);
    this.name = "CliError";
    this.code = code ?? (exitCode === 2 ? "usage" : "failed");
  }
}
