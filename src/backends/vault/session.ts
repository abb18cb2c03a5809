/**
 * The broker's own session with one Vault: logs in (token from env/file, or AppRole), keeps the
 * token alive with renew-self at ~2/3 of its TTL, and logs in again when a renewal is refused,
 * the token reaches its max TTL, or Vault no longer knows the token. Tokens are never logged.
 *
 * Renewal happens lazily before a call that finds the token due, and in the background on an
 * unref'd timer so an idle broker keeps its token too. All Vault calls run inside the mount's
 * guard (deadline, circuit breaker, metrics).
 */
import type vault from "node-vault";
import { readCredential, type CredentialSources } from "../credential-source.js";
import type { MountGuard } from "../guard.js";
import type { BackendLogger } from "../plugin.js";
import type { VaultMountConfig } from "./config.js";
import { vaultStatus } from "./errors.js";

export interface VaultSessionOptions {
  mount: string;
  client: vault.client;
  auth: VaultMountConfig["auth"];
  sources: CredentialSources;
  guard: MountGuard;
  clock: () => number;
  logger: BackendLogger;
  /** Fraction of the token's TTL after which it is renewed (default 2/3). */
  renewFraction?: number;
}

interface TokenState {
  /** TTL granted at the last login or renewal, seconds (0: the token never expires). */
  ttlSeconds: number;
  /** When to renew or log in again, ms; null when the token never expires. */
  dueAt: number | null;
  /** What to do when due: renew-self, or log in again (not renewable, or capped by its max TTL). */
  next: "renew" | "login";
}

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Pause before a background renewal that failed is tried again. */
const RETRY_AFTER_FAILURE_MS = 15_000;

export class VaultSession {
  private state: TokenState | undefined;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly renewFraction: number;

  constructor(private readonly options: VaultSessionOptions) {
    this.renewFraction = options.renewFraction ?? 2 / 3;
  }

  get client(): vault.client {
    return this.options.client;
  }

  get authMethod(): "token" | "approle" {
    return this.options.auth.approle ? "approle" : "token";
  }

  /** Makes sure the client carries a live token: logs in on first use, renews or logs in again when due. */
  async ready(): Promise<void> {
    const state = this.state;
    if (state && (state.dueAt === null || this.options.clock() < state.dueAt)) return;
    await this.once(() => (state?.next === "renew" ? this.renew() : this.login()));
  }

  /**
   * Runs `call` with a live token. When Vault answers 403 and the token itself turns out to be
   * dead (revoked, expired behind our back), logs in again and retries once; a 403 with a live
   * token is a real permission problem and is rethrown.
   */
  async call<T>(call: (client: vault.client) => Promise<T>): Promise<T> {
    await this.ready();
    try {
      return await call(this.client);
    } catch (error) {
      if (vaultStatus(error) !== 403 || !(await this.tokenIsDead())) throw error;
      this.options.logger.warn({ mount: this.options.mount, auth: this.authMethod }, "vault token no longer valid; logging in again");
      await this.once(() => this.login());
      return call(this.client);
    }
  }

  /** Stops background renewal. The token is not revoked: leases it created must outlive a restart. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private once(work: () => Promise<void>): Promise<void> {
    this.inflight ??= work().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async tokenIsDead(): Promise<boolean> {
    try {
      await this.client.tokenLookupSelf();
      return false;
    } catch (error) {
      return vaultStatus(error) === 403;
    }
  }

  private async login(): Promise<void> {
    const { auth, mount, sources, logger } = this.options;
    if (auth.approle) {
      const approle = auth.approle;
      const roleId = readCredential(mount, "auth.approle.role_id", { env: approle.role_id_env, file: approle.role_id_file }, sources);
      const secretId = readCredential(mount, "auth.approle.secret_id", { env: approle.secret_id_env, file: approle.secret_id_file }, sources);
      // node-vault stores the returned client_token on the client (tokenSource).
      const response = (await this.client.approleLogin({ role_id: roleId, secret_id: secretId, mount_point: approle.mount })) as LoginResponse;
      this.settle(leaseSeconds(response.auth?.lease_duration), response.auth?.renewable === true, false);
    } else {
      this.client.token = readCredential(mount, "auth.token", { env: auth.token_env, file: auth.token_file }, sources);
      const lookup = (await this.client.tokenLookupSelf()) as { data?: { ttl?: unknown; renewable?: unknown } };
      this.settle(leaseSeconds(lookup.data?.ttl), lookup.data?.renewable === true, false);
    }
    logger.info({ mount, auth: this.authMethod, ttlSeconds: this.state?.ttlSeconds }, "logged in to vault");
  }

  private async renew(): Promise<void> {
    const { mount, logger } = this.options;
    const previous = this.state?.ttlSeconds ?? 0;
    let response: LoginResponse;
    try {
      response = (await this.client.tokenRenewSelf()) as LoginResponse;
    } catch (error) {
      const status = vaultStatus(error);
      if (status !== 400 && status !== 403) throw error;
      logger.warn({ mount, auth: this.authMethod, status }, "vault refused to renew the broker's token; logging in again");
      await this.login();
      return;
    }
    const ttlSeconds = leaseSeconds(response.auth?.lease_duration);
    const capped = ttlSeconds < previous || (response.warnings ?? []).some((warning) => /max_ttl/i.test(warning));
    this.settle(ttlSeconds, response.auth?.renewable === true, capped);
    if (capped) logger.warn({ mount, auth: this.authMethod, ttlSeconds }, "vault token is reaching its max TTL; the broker will log in again");
    else logger.debug({ mount, ttlSeconds }, "renewed vault token");
  }

  private settle(ttlSeconds: number, renewable: boolean, capped: boolean): void {
    const now = this.options.clock();
    const dueAt = ttlSeconds > 0 ? now + Math.max(1000, Math.floor(ttlSeconds * this.renewFraction * 1000)) : null;
    this.state = { ttlSeconds, dueAt, next: renewable && !capped ? "renew" : "login" };
    this.schedule();
  }

  /** Arms the background timer for the next renewal; after a failed attempt, retries no sooner than `minDelayMs`. */
  private schedule(minDelayMs = 0): void {
    clearTimeout(this.timer);
    const dueAt = this.state?.dueAt;
    if (this.closed || dueAt === null || dueAt === undefined) return;
    const delay = Math.min(Math.max(minDelayMs, dueAt - this.options.clock()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.options.guard.run("token_renew", undefined, () => this.ready()).catch((error: unknown) => {
        this.options.logger.warn({ mount: this.options.mount, err: error instanceof Error ? error.message : String(error) }, "background vault token renewal failed");
        this.schedule(RETRY_AFTER_FAILURE_MS);
      });
    }, delay);
    this.timer.unref();
  }
}

interface LoginResponse {
  auth?: { lease_duration?: unknown; renewable?: unknown };
  warnings?: string[] | null;
}

function leaseSeconds(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}
