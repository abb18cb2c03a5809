/**
 * The CLI's HTTP client for the broker API: reads CREDBROKER_URL and CREDBROKER_TOKEN, sends
 * JSON, and turns error bodies into CliError with the broker's message (exit code 1).
 */
import { CliError } from "./errors.js";

export interface ApiClientOptions {
  url: string;
  token: string | undefined;
  timeoutMs?: number;
}

export const DEFAULT_URL = "http://127.0.0.1:8787";

export function apiClientFromEnv(env: NodeJS.ProcessEnv = process.env): ApiClient {
  return new ApiClient({ url: env.CREDBROKER_URL ?? DEFAULT_URL, token: env.CREDBROKER_TOKEN });
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
    if (!this.options.token) throw new CliError("CREDBROKER_TOKEN is not set (an operator token; `credbroker dev` prints one)", 1, "no_token");
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
