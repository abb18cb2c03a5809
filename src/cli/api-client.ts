/**
 * The CLI's HTTP client for the broker API: reads CREDBROKER_URL and CREDBROKER_TOKEN (else the
 * profile `credbroker login` stored), sends JSON, and turns error bodies into CliError with the
 * broker's message (exit code 1).
 */
import { DEFAULT_PROFILE, readProfile } from "./credentials.js";
import { CliError } from "./errors.js";

export interface ApiClientOptions {
  url: string;
  token: string | undefined;
  timeoutMs?: number;
}

export const DEFAULT_URL = "http://127.0.0.1:8787";

/** A URL as the CLI compares them: without trailing slashes. */
export function normaliseUrl(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * Where the CLI talks to and with which token. The environment wins over the stored profile
 * (CREDBROKER_PROFILE, set by `--profile`, else "default"); the profile's token is sent only to
 * the profile's own URL, never to another broker that CREDBROKER_URL names.
 */
export function resolveConnection(env: NodeJS.ProcessEnv = process.env): { url: string; token: string | undefined; profile: string | undefined } {
  if (env.CREDBROKER_URL !== undefined && env.CREDBROKER_TOKEN !== undefined) return { url: env.CREDBROKER_URL, token: env.CREDBROKER_TOKEN, profile: undefined };
  const name = env.CREDBROKER_PROFILE ?? DEFAULT_PROFILE;
  const stored = readProfile(name, env);
  const url = env.CREDBROKER_URL ?? stored?.url ?? DEFAULT_URL;
  if (env.CREDBROKER_TOKEN !== undefined) return { url, token: env.CREDBROKER_TOKEN, profile: undefined };
  const sameBroker = stored !== undefined && normaliseUrl(stored.url) === normaliseUrl(url);
  return { url, token: sameBroker ? stored.token : undefined, profile: sameBroker ? name : undefined };
}

export function apiClientFromEnv(env: NodeJS.ProcessEnv = process.env): ApiClient {
  const { url, token } = resolveConnection(env);
  return new ApiClient({ url, token });
}

export class ApiClient {
  constructor(private readonly options: ApiClientOptions) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.raw(method, path, body);
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new CliError(`the broker answered ${response.status} with a body that is not JSON`);
      }
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string; denied?: unknown } } | undefined)?.error;
      throw new CliError(`${error?.message ?? `HTTP ${response.status}`}${error?.code ? ` (${error.code})` : ""}`, 1, error?.code ?? `http_${response.status}`);
    }
    return parsed as T;
  }

  /** The raw response, for streaming endpoints. Throws CliError when the broker cannot be reached. */
  async raw(method: string, path: string, body?: unknown): Promise<Response> {
    if (!this.options.token) throw new CliError("no operator token: run `credbroker login`, or set CREDBROKER_TOKEN (`credbroker dev` prints one)", 1, "no_token");
    const url = new URL(path, this.options.url.endsWith("/") ? this.options.url : `${this.options.url}/`);
    try {
      return await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          ...(body !== undefined && { "content-type": "application/json" }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 120_000),
      });
    } catch (error) {
      throw new CliError(
        `cannot reach the broker at ${this.options.url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`,
        1,
        "broker_unreachable",
      );
    }
  }
}
