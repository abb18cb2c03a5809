/**
 * Every log line written during the suite goes to files under test/.logs/ (one per process), so
 * the global teardown can assert that no secret value, client secret or token was ever logged.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

export const LOG_DIR = resolve(import.meta.dirname, "../.logs");

export function captureFile(): string {
  mkdirSync(LOG_DIR, { recursive: true });
  return join(LOG_DIR, `broker-${process.pid}.log`);
}
