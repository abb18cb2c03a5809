/**
 * The CLI's HTTP client for the broker API: reads CREDBROKER_URL and CREDBROKER_TOKEN (else the
 * profile `credbroker login` stored), sends JSON, and turns error bodies into CliError with the
 * broker's message (exit code 1).
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
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
    const response = await this.exchange(method, path, body);
    let parsed: unknown = undefined;
    if (response.text) {
      try {
        parsed = JSON.parse(response.text);
      } catch {
        throw new CliError(`the broker answered ${response.status} with a body that is not JSON`);
      }
    }
    if (response.status < 200 || response.status > 299) {
      const error = (parsed as { error?: { code?: string; message?: string; denied?: unknown } } | undefined)?.error;
      throw new CliError(`${error?.message ?? `HTTP ${response.status}`}${error?.code ? ` (${error.code})` : ""}`, 1, error?.code ?? `http_${response.status}`);
    }
    return parsed as T;
  }

  /**
   * One request and its whole answer, through node:http rather than fetch: a process that used
   * fetch takes about 60 ms longer to exit (undici's WebAssembly parser is torn down at exit),
   * which was a third of a broker-calling command's time (`npm run bench:cli`, `server list`).
   */
  private exchange(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const url = this.urlOf(path);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), "utf8");
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const request = send(url, {
        method,
        headers: {
          authorization: `Bearer ${this.token()}`,
          accept: "application/json",
          ...(payload !== undefined && { "content-type": "application/json", "content-length": String(payload.length) }),
        },
        timeout: this.options.timeoutMs ?? 120_000,
      });
      request.on("timeout", () => request.destroy(new Error(`no answer within ${Math.round((this.options.timeoutMs ?? 120_000) / 1000)} s`)));
      request.on("error", (error) => reject(this.unreachable(error)));
      request.on("response", (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", (error) => reject(this.unreachable(error)));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      });
      request.end(payload);
    });
  }

  private token(): string {
    if (!this.options.token) throw new CliError("no operator token: run `credbroker login`, or set CREDBROKER_TOKEN (`credbroker dev` prints one)", 1, "no_token");
    return this.options.token;
  }

  private urlOf(path: string): URL {
    return new URL(path, this.options.url.endsWith("/") ? this.options.url : `${this.options.url}/`);
  }

  private unreachable(error: unknown): CliError {
    const cause = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
    return new CliError(`cannot reach the broker at ${this.options.url}: ${cause}`, 1, "broker_unreachable");
  }

  /** The raw response, for streaming endpoints. Throws CliError when the broker cannot be reached. */
  async raw(method: string, path: string, body?: unknown): Promise<Response> {
    const token = this.token();
    try {
      return await fetch(this.urlOf(path), {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined && { "content-type": "application/json" }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 120_000),
      });
    } catch (error) {
      throw this.unreachable(error);
    }
  }
}
