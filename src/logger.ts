/**
 * pino JSON logging. Handlers never log values; redaction is the second line of defence for
 * anything that looks like a credential field.
 */
import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger };

export const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "*.authorization",
  "*.client_secret",
  "*.client_assertion",
  "*.access_token",
  "*.admin_token",
  "*.token",
  "*.value",
  "*.password",
  "*.secret",
  "client_secret",
  "access_token",
  "token",
  "value",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "credbroker" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  );
}
