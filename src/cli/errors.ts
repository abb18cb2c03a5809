/** CLI failures: exit code 1 for a failed operation, 2 for a usage error. The message names what failed. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}
