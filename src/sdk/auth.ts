/**
 * Broker tokens for the client: the client-credentials exchange with a client secret, a client
 * assertion signed with the server's private key (RFC 7523), or a JWT read from a file each time
 * (a workload identity token that its issuer keeps fresh). One token is cached and replaced once
 * two thirds of its lifetime have passed; concurrent callers share one exchange.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { RetryPolicy } from "./backoff.js";
import { BrokerClientError } from "./errors.js";
import { responseError, type BrokerHttp } from "./http.js";
import type { SigningKey } from "./keys.js";

export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export type ClientCredential =
  | { kind: "secret"; secret: string }
  | { kind: "key"; key: () => Promise<SigningKey> }
  | { kind: "token_file"; file: string };

export interface TokenSourceOptions {
  clientId: string;
  credential: ClientCredential;
  /** The `aud` of client assertions; default: the token endpoint URL of the broker being called. */
  audience?: string | undefined;
  clock: () => number;
}

/** Seconds an assertion is valid: the broker accepts at most 300. */
const ASSERTION_LIFETIME_SECONDS = 60;

export class TokenSource {
  private current: { token: string; obtainedAt: number; expiresAt: number } | undefined;
  private inFlight: Promise<string> | undefined;

  constructor(
    private readonly http: BrokerHttp,
    private readonly options: TokenSourceOptions,
  ) {}

  /** A token valid for a while yet: the cached one, or a fresh one once 2/3 of its lifetime have passed. */
  async token(signal?: AbortSignal, retry?: RetryPolicy): Promise<string> {
    const now = this.options.clock();
    const current = this.current;
    if (current && now < current.obtainedAt + ((current.expiresAt - current.obtainedAt) * 2) / 3) return current.token;
    this.inFlight ??= this.exchange(signal, retry).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** When the cached token expires (epoch ms), or undefined without one. */
  get expiresAt(): number | undefined {
    return this.current?.expiresAt;
  }

  /** Forgets the cached token (after the broker refused it). */
  invalidate(token?: string): void {
    if (token === undefined || this.current?.token === token) this.current = undefined;
  }

  private async exchange(signal?: AbortSignal, retry?: RetryPolicy): Promise<string> {
    const requestedAt = this.options.clock();
    const response = await this.http.send({
      method: "POST",
      path: "/v1/auth/token",
      body: async (baseUrl: string) => ({ contentType: "application/x-www-form-urlencoded", text: (await this.form(baseUrl)).toString() }),
      ...(signal && { signal }),
      ...(retry && { retry }),
    });
    if (response.status !== 200) throw responseError(response, `authenticate as ${this.options.clientId}`);
    const body = response.body as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (typeof body?.access_token !== "string" || typeof body.expires_in !== "number") {
      throw new BrokerClientError("bad_response", "the token response lacks access_token or expires_in");
    }
    // Expiry counted from when the request was sent: never later than the broker's own.
    this.current = { token: body.access_token, obtainedAt: requestedAt, expiresAt: requestedAt + body.expires_in * 1000 };
    return body.access_token;
  }

  private async form(baseUrl: string): Promise<URLSearchParams> {
    const { clientId, credential } = this.options;
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: clientId });
    switch (credential.kind) {
      case "secret":
        form.set("client_secret", credential.secret);
        break;
      case "key": {
        const { key, alg, kid } = await credential.key();
        // jose loads with the first assertion: a server using a client secret never pays for it
        // (about 60 ms of a `credbroker run` start here, `npm run bench:cli`).
        const { SignJWT } = await import("jose");
        const nowSeconds = Math.floor(this.options.clock() / 1000);
        const assertion = await new SignJWT({})
          .setProtectedHeader({ alg, typ: "JWT", ...(kid !== undefined && { kid }) })
          .setIssuer(clientId)
          .setSubject(clientId)
          .setAudience(this.options.audience ?? `${baseUrl}/v1/auth/token`)
          .setIssuedAt(nowSeconds)
          .setExpirationTime(nowSeconds + ASSERTION_LIFETIME_SECONDS)
          .setJti(randomUUID())
          .sign(key);
        form.set("client_assertion_type", CLIENT_ASSERTION_TYPE);
        form.set("client_assertion", assertion);
        break;
      }
      case "token_file": {
        let token: string;
        try {
          token = readFileSync(credential.file, "utf8").trim();
        } catch (error) {
          throw new BrokerClientError("invalid_configuration", `cannot read the token file ${credential.file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
        }
        form.set("client_assertion_type", CLIENT_ASSERTION_TYPE);
        form.set("client_assertion", token);
        break;
      }
    }
    return form;
  }
}
