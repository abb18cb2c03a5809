/**
 * The operator's stored logins: `credbroker login` keeps a broker URL and an operator token per
 * profile in `$XDG_CONFIG_HOME/credbroker/credentials.json` (else `~/.config/credbroker/...`),
 * the folder 0700 and the file 0600, written whole to a temporary file and renamed, so a reader
 * never sees half a file. A file another user could read, or owned by someone else, is refused
 * rather than used: its token may already be known to them.
 */
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { CliError } from "./errors.js";

export interface StoredProfile {
  url: string;
  token: string;
}

interface CredentialsFile {
  profiles: Record<string, StoredProfile>;
}

export const DEFAULT_PROFILE = "default";
const PROFILE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Where the credentials file is for this environment. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith("/") ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), ".config");
  return join(base, "credbroker", "credentials.json");
}

/** Refuses a profile name that is not `[A-Za-z0-9._-]{1,64}` (usage error). */
export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) throw new CliError(`invalid profile name ${JSON.stringify(name.slice(0, 80))} (letters, digits, . _ -)`, 2);
  return name;
}

function readFile(file: string): CredentialsFile {
  if (!existsSync(file)) return { profiles: {} };
  const stat = statSync(file);
  if (typeof process.getuid === "function" && stat.uid !== process.getuid()) {
    throw new CliError(`${file} belongs to another user; refusing to use it`, 1, "credentials_file_insecure");
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new CliError(`${file} can be read by other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it, and consider its tokens leaked`, 1, "credentials_file_insecure");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new CliError(`${file} is not valid JSON; fix it or remove it and log in again`, 1, "credentials_file_invalid");
  }
  const profiles = (parsed as { profiles?: unknown } | null)?.profiles;
  if (typeof profiles !== "object" || profiles === null || Array.isArray(profiles)) throw new CliError(`${file} has no profiles object`, 1, "credentials_file_invalid");
  const valid: Record<string, StoredProfile> = {};
  for (const [name, value] of Object.entries(profiles)) {
    const { url, token } = (value ?? {}) as Partial<StoredProfile>;
    if (typeof url === "string" && typeof token === "string") valid[name] = { url, token };
  }
  return { profiles: valid };
}

/** The stored profile, or undefined when there is none (or no file). */
export function readProfile(name: string, env: NodeJS.ProcessEnv = process.env): StoredProfile | undefined {
  const profiles = readFile(credentialsPath(env)).profiles;
  return Object.hasOwn(profiles, name) ? profiles[name] : undefined;
}

/** Stores (or replaces) a profile; returns the file written. */
export function writeProfile(name: string, profile: StoredProfile, env: NodeJS.ProcessEnv = process.env): string {
  const file = credentialsPath(env);
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // An existing folder keeps its mode through mkdir: tighten it.
  chmodSync(dir, 0o700);
  const current = readFile(file);
  const next: CredentialsFile = { profiles: { ...current.profiles, [name]: profile } };
  const temporary = `${file}.${process.pid}.tmp`;
  rmSync(temporary, { force: true });
  // Created 0600 from the start: the token is never in a file others could open.
  const fd = openSync(temporary, "wx", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(next, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
  return file;
}
