/**
 * Credentials a mount reads from the environment or a file (never from the config file itself).
 * Files are read again at every login, so a credential rotated on disk (Vault Agent sink,
 * Kubernetes secret volume) is picked up without a restart.
 */
import { readFileSync } from "node:fs";
import { BrokerError } from "../errors.js";

export interface CredentialSources {
  env: NodeJS.ProcessEnv;
  readFile: (path: string) => string;
}

export const defaultCredentialSources: CredentialSources = {
  env: process.env,
  readFile: (path) => readFileSync(path, "utf8"),
};

/**
 * The credential named by `env` (a variable name) or `file` (a path), trimmed.
 * Throws BrokerError("invalid_request") naming the mount and the option, never the value.
 */
export function readCredential(mount: string, option: string, source: { env?: string | undefined; file?: string | undefined }, sources: CredentialSources): string {
  if (source.env !== undefined) {
    const value = sources.env[source.env]?.trim();
    if (!value) throw new BrokerError("invalid_request", `mount ${mount}: environment variable ${source.env} (${option}) is not set`);
    return value;
  }
  if (source.file !== undefined) {
    let text: string;
    try {
      text = sources.readFile(source.file);
    } catch (error) {
      throw new BrokerError("invalid_request", `mount ${mount}: cannot read ${option} file ${source.file}`, { detail: String(error), cause: error });
    }
    const value = text.trim();
    if (!value) throw new BrokerError("invalid_request", `mount ${mount}: ${option} file ${source.file} is empty`);
    return value;
  }
  throw new TypeError(`readCredential: ${option} names neither an environment variable nor a file`);
}
