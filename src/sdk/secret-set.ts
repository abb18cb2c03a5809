/**
 * A live set of secret values that keeps itself valid: it renews each lease at about 2/3 of its
 * ttl, fetches a secret again when its lease cannot be renewed any more or was revoked, or when
 * the broker announces a new version, and emits `change` with the environment names whose value
 * changed. It never hands out a value whose lease has ended: `get()` then throws.
 */
import { backoffDelay } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { BrokerClientError, SecretAccessError } from "./errors.js";

/** One secret as POST /v1/secrets/read returns it. */
export interface IssuedSecret {
  value: string;
  encoding: "utf8" | "base64";
  version: number;
  lease_id: string;
  lease_ttl: number;
  renewable: boolean;
  expires_at: string;
}

export interface RenewedLease {
  lease_id: string;
  lease_ttl: number;
  renewable: boolean;
  expires_at: string;
}

/** What a set needs from the client: the three lease calls. */
export interface LeaseApi {
  /** One batch read; throws SecretAccessError (with environment names) for denied or missing secrets. */
  read(secrets: string[], namesBySecret: ReadonlyMap<string, string[]>): Promise<Record<string, IssuedSecret>>;
  renew(leaseId: string): Promise<RenewedLease>;
  revoke(leaseId: string): Promise<void>;
}

export interface SecretSetOptions {
  clock: () => number;
  /** Fraction of a lease's ttl after which it is renewed or replaced (default 2/3). */
  renewAt: number;
  /** Longest wait between two attempts to bring back a value that is unavailable, ms. */
  pollIntervalMs: number;
  /** Where an `error` goes when the set has no `error` listener. */
  unhandledError: (error: BrokerClientError) => void;
  /** Called once the set is closed, so the client can forget it. */
  onClose?: () => void;
}

export type SecretState = "valid" | "revoked" | "expired" | "closed";

/** Metadata of one value; never the value itself. */
export interface SecretInfo {
  /** The secret name as requested, e.g. `kv/app#token`. */
  secret: string;
  version: number;
  leaseId: string;
  expiresAt: Date;
  renewable: boolean;
  state: SecretState;
}

interface Entry {
  secret: string;
  /** The secret path: the name before `#`, which events carry. */
  path: string;
  names: string[];
  value: string;
  encoding: "utf8" | "base64";
  version: number;
  leaseId: string;
  renewable: boolean;
  obtainedAt: number;
  expiresAt: number;
  /** When to renew (or, when not renewable, fetch again), epoch ms. */
  refreshAt: number;
  state: SecretState;
  /** A fetch was asked for (event, revocation, poll). */
  stale: boolean;
  /** Consecutive failed attempts, for backoff. */
  failures: number;
  /** The loss of this value was reported with an `error` already. */
  lossReported: boolean;
}

/** The events of a set: `change` with the environment names whose value changed, `error` for any failure of upkeep. */
export type SecretSetEvents<K extends string> = {
  change: [names: K[]];
  error: [error: BrokerClientError];
};

/** When to renew a lease obtained at `obtainedAt` that ends at `expiresAt`. */
export function refreshTime(obtainedAt: number, expiresAt: number, fraction: number, random: () => number = Math.random): number {
  // A little jitter, earlier only, so many clients do not renew in lockstep.
  const jittered = fraction * (1 - 0.05 * random());
  return obtainedAt + Math.max(0, expiresAt - obtainedAt) * jittered;
}

/**
 * The work due at `now`: values to expire, leases to renew, secrets to fetch again, and when to
 * look next. `nextAt` is never later than work already due (then it is `now`): a caller that
 * computes it after a pass, with a later clock, must not sleep past an entry that fell due meanwhile.
 */
export function dueWork<E extends Pick<Entry, "state" | "stale" | "renewable" | "refreshAt" | "expiresAt">>(
  entries: Iterable<E>,
  now: number,
): { expire: E[]; renew: E[]; fetch: E[]; nextAt: number | undefined } {
  const expire: E[] = [];
  const renew: E[] = [];
  const fetch: E[] = [];
  let nextAt: number | undefined;
  const consider = (at: number) => {
    nextAt = nextAt === undefined ? at : Math.min(nextAt, at);
  };
  for (const entry of entries) {
    if (entry.state === "closed") continue;
    if (entry.state === "valid" && entry.expiresAt <= now) expire.push(entry);
    const valid = entry.state === "valid" && entry.expiresAt > now;
    if (entry.stale || entry.refreshAt <= now) {
      if (valid && entry.renewable && !entry.stale) renew.push(entry);
      else fetch.push(entry);
      consider(now);
    } else {
      consider(entry.refreshAt);
    }
    if (valid) consider(entry.expiresAt);
  }
  return { expire, renew, fetch, nextAt };
}

const decode = (entry: Pick<Entry, "value" | "encoding">): Buffer => Buffer.from(entry.value, entry.encoding === "base64" ? "base64" : "utf8");

export class SecretSet<K extends string = string> extends Emitter<SecretSetEvents<K>> {
  private readonly bySecret = new Map<string, Entry>();
  private readonly byName = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private rerun = false;
  private closed = false;

  /** @internal Built by BrokerClient.load(). */
  constructor(
    private readonly api: LeaseApi,
    mapping: Readonly<Record<K, string>>,
    issued: Record<string, IssuedSecret>,
    requestedAt: number,
    private readonly options: SecretSetOptions,
  ) {
    super(options.unhandledError);
    for (const [name, secret] of Object.entries(mapping) as Array<[string, string]>) {
      let entry = this.bySecret.get(secret);
      if (!entry) {
        const first = issued[secret];
        if (!first) throw new BrokerClientError("bad_response", `the broker did not return ${secret}`);
        entry = this.newEntry(secret, first, requestedAt);
        this.bySecret.set(secret, entry);
      }
      entry.names.push(name);
      this.byName.set(name, entry);
    }
    this.schedule();
  }

  /** The environment names of this set. */
  get names(): K[] {
    return [...this.byName.keys()] as K[];
  }

  /**
   * The current value of `name` as text (a binary value, sent by the broker as base64, is
   * returned as base64 text: use {@link bytes}).
   * @throws BrokerClientError `lease_expired` or `lease_revoked` when the value's lease has
   *   ended and no fresh value could be fetched yet, `closed` after close(); TypeError for a
   *   name that is not in the set.
   */
  get(name: K): string {
    return this.usable(name).value;
  }

  /**
   * The current value of `name` as bytes (a Buffer at run time, typed as Uint8Array so the
   * declarations need no `@types/node`); throws like {@link get}.
   */
  bytes(name: K): Uint8Array {
    return decode(this.usable(name));
  }

  /** Every value, by environment name; throws like {@link get} if any of them is unavailable. */
  values(): Record<K, string> {
    const out = {} as Record<K, string>;
    for (const name of this.byName.keys()) out[name as K] = this.get(name as K);
    return out;
  }

  /** Version, lease and state of `name`'s value (no value). */
  info(name: K): SecretInfo {
    const entry = this.entry(name);
    this.expireIfDue(entry, this.options.clock());
    return {
      secret: entry.secret,
      version: entry.version,
      leaseId: entry.leaseId,
      expiresAt: new Date(entry.expiresAt),
      renewable: entry.renewable,
      state: entry.state,
    };
  }

  /** Fetches every secret again now (the client does this while the event stream is down). */
  refreshAll(): void {
    for (const entry of this.bySecret.values()) entry.stale = true;
    this.kick();
  }

  /** @internal The broker announced a new version (or deletion) of the secret at `path`. */
  secretChanged(path: string, version: number | undefined): void {
    let any = false;
    for (const entry of this.bySecret.values()) {
      if (entry.path === path && (version === undefined || entry.version < version)) {
        entry.stale = true;
        any = true;
      }
    }
    if (any) this.kick();
  }

  /** @internal The broker revoked lease `leaseId`: stop serving its value and fetch it again. */
  leaseRevoked(leaseId: string): void {
    for (const entry of this.bySecret.values()) {
      if (entry.leaseId === leaseId && entry.state === "valid") {
        entry.state = "revoked";
        entry.stale = true;
        this.kick();
      }
    }
  }

  /** @internal The server was disabled: nothing it holds may be used any more. */
  serverDisabled(): void {
    for (const entry of this.bySecret.values()) {
      if (entry.state === "valid") {
        entry.state = "revoked";
        entry.stale = true;
      }
    }
    this.emit("error", new BrokerClientError("server_disabled", "an operator disabled this server; its secrets may not be used", { names: this.names }));
    this.kick();
  }

  /** Stops upkeep and revokes this set's leases (best effort). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    const leases: string[] = [];
    const now = this.options.clock();
    for (const entry of this.bySecret.values()) {
      if (entry.state === "valid" && entry.expiresAt > now) leases.push(entry.leaseId);
      entry.state = "closed";
    }
    this.options.onClose?.();
    await Promise.all(leases.map((leaseId) => this.api.revoke(leaseId).catch(() => {})));
  }

  private newEntry(secret: string, issued: IssuedSecret, requestedAt: number): Entry {
    const hash = secret.indexOf("#");
    const expiresAt = requestedAt + issued.lease_ttl * 1000;
    return {
      secret,
      path: hash < 0 ? secret : secret.slice(0, hash),
      names: [],
      value: issued.value,
      encoding: issued.encoding,
      version: issued.version,
      leaseId: issued.lease_id,
      renewable: issued.renewable,
      obtainedAt: requestedAt,
      expiresAt,
      refreshAt: refreshTime(requestedAt, expiresAt, this.options.renewAt),
      state: "valid",
      stale: false,
      failures: 0,
      lossReported: false,
    };
  }

  private entry(name: string): Entry {
    const entry = this.byName.get(name);
    if (!entry) throw new TypeError(`${name} is not part of this secret set (it has ${this.names.join(", ")})`);
    return entry;
  }

  private usable(name: string): Entry {
    const entry = this.entry(name);
    if (this.closed) throw new BrokerClientError("closed", `the secret set was closed; ${name} is no longer available`, { names: [name] });
    this.expireIfDue(entry, this.options.clock());
    if (entry.state === "revoked") throw new BrokerClientError("lease_revoked", `the lease of ${name} (${entry.secret}) was revoked and no fresh value could be fetched yet`, { names: [name] });
    if (entry.state === "expired") throw new BrokerClientError("lease_expired", `the lease of ${name} (${entry.secret}) has expired and no fresh value could be fetched yet`, { names: [name] });
    return entry;
  }

  /** Checked on every read, so a late timer can never let an expired value out. */
  private expireIfDue(entry: Entry, now: number): void {
    if (entry.state === "valid" && entry.expiresAt <= now) {
      entry.state = "expired";
      entry.stale = true;
      this.kick();
    }
  }

  private kick(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), 0);
    this.timer.unref();
  }

  private schedule(nextAt?: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const at = nextAt ?? dueWork(this.bySecret.values(), this.options.clock()).nextAt;
    if (at === undefined) return;
    // Long waits are re-planned hourly; setTimeout cannot wait more than 2^31-1 ms.
    const delay = Math.min(Math.max(0, at - this.options.clock()), 3_600_000);
    this.timer = setTimeout(() => void this.run(), delay);
    this.timer.unref();
  }

  /** One pass of upkeep; passes never overlap, a request during one runs another right after. */
  private async run(): Promise<void> {
    if (this.closed) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    let nextAt: number | undefined;
    try {
      do {
        this.rerun = false;
        const now = this.options.clock();
        const work = dueWork(this.bySecret.values(), now);
        for (const entry of work.expire) this.expireIfDue(entry, now);
        const refetch = new Set(work.fetch);
        await Promise.all(
          work.renew.map(async (entry) => {
            if (await this.renew(entry)) refetch.add(entry);
          }),
        );
        if (this.closed) return;
        if (refetch.size > 0) await this.fetch([...refetch]);
        nextAt = dueWork(this.bySecret.values(), this.options.clock()).nextAt;
      } while (this.rerun && !this.closed);
    } finally {
      this.running = false;
    }
    this.schedule(nextAt);
  }

  /** Renews one lease; true when the secret must be fetched again instead. */
  private async renew(entry: Entry): Promise<boolean> {
    const leaseId = entry.leaseId;
    const requestedAt = this.options.clock();
    try {
      const renewed = await this.api.renew(leaseId);
      if (this.closed || entry.leaseId !== leaseId) return false;
      // Counted from when the request left: never later than the broker's own expiry.
      entry.expiresAt = requestedAt + renewed.lease_ttl * 1000;
      entry.renewable = renewed.renewable;
      entry.obtainedAt = requestedAt;
      entry.refreshAt = refreshTime(requestedAt, entry.expiresAt, this.options.renewAt);
      entry.failures = 0;
      return false;
    } catch (error) {
      if (this.closed || entry.leaseId !== leaseId) return false;
      const failure = asClientError(error);
      if (failure.code === "lease_revoked") {
        if (entry.state === "valid") entry.state = "revoked";
        return true;
      }
      if (failure.code === "lease_expired") {
        if (entry.state === "valid") entry.state = "expired";
        return true;
      }
      // At its max ttl, or unknown to the broker: a fresh read gives a fresh lease.
      if (failure.brokerCode === "not_renewable" || failure.code === "not_found") return true;
      this.failed([entry], failure);
      return false;
    }
  }

  /** Fetches `entries` again in one batch (minus any the broker refuses, which are reported). */
  private async fetch(entries: Entry[]): Promise<void> {
    let pending = entries;
    for (let round = 0; round < 2 && pending.length > 0; round += 1) {
      const requestedAt = this.options.clock();
      const namesBySecret = new Map(pending.map((entry) => [entry.secret, entry.names]));
      try {
        const issued = await this.api.read(
          pending.map((entry) => entry.secret),
          namesBySecret,
        );
        if (this.closed) return;
        this.apply(pending, issued, requestedAt);
        return;
      } catch (error) {
        if (this.closed) return;
        const failure = asClientError(error);
        if (!(failure instanceof SecretAccessError)) {
          this.failed(pending, failure);
          return;
        }
        // All-or-nothing on the broker side: report the refused ones, fetch the rest again.
        const refused = new Set([...failure.denied.map((d) => d.secret), ...failure.missing.map((m) => m.secret)]);
        const refusedEntries = pending.filter((entry) => refused.has(entry.secret));
        this.failed(refusedEntries.length > 0 ? refusedEntries : pending, failure);
        pending = pending.filter((entry) => !refused.has(entry.secret));
      }
    }
  }

  private apply(entries: Entry[], issued: Record<string, IssuedSecret>, requestedAt: number): void {
    const changed: string[] = [];
    for (const entry of entries) {
      const fresh = issued[entry.secret];
      if (!fresh) {
        this.failed([entry], new BrokerClientError("bad_response", `the broker did not return ${entry.secret}`, { names: entry.names }));
        continue;
      }
      const previousLease = entry.state === "valid" && entry.expiresAt > requestedAt ? entry.leaseId : undefined;
      const valueChanged = fresh.value !== entry.value || fresh.encoding !== entry.encoding;
      const next = this.newEntry(entry.secret, fresh, requestedAt);
      Object.assign(entry, { ...next, names: entry.names });
      if (valueChanged) changed.push(...entry.names);
      // The superseded lease is of no more use: give it back.
      if (previousLease !== undefined && previousLease !== entry.leaseId) void this.api.revoke(previousLease).catch(() => {});
    }
    if (changed.length > 0) this.emit("change", changed as K[]);
  }

  /** Plans the next attempt for entries that could not be refreshed, and reports the failure. */
  private failed(entries: Entry[], failure: BrokerClientError): void {
    const now = this.options.clock();
    const lost: Entry[] = [];
    let firstFailure = false;
    for (const entry of entries) {
      entry.stale = false;
      entry.failures += 1;
      if (entry.failures === 1) firstFailure = true;
      const valid = entry.state === "valid" && entry.expiresAt > now;
      const cap = valid ? Math.max(250, (entry.expiresAt - now) / 3) : this.options.pollIntervalMs;
      entry.refreshAt = now + Math.min(backoffDelay(entry.failures - 1, { baseDelayMs: 1_000, maxDelayMs: 30_000 }), cap);
      if (!valid && !entry.lossReported) {
        entry.lossReported = true;
        lost.push(entry);
      }
    }
    for (const entry of lost) {
      const code = entry.state === "revoked" ? "lease_revoked" : "lease_expired";
      this.emit(
        "error",
        new BrokerClientError(code, `${entry.names.join(", ")} (${entry.secret}): the lease ${code === "lease_revoked" ? "was revoked" : "expired"} and a fresh value could not be fetched: ${failure.message}`, {
          names: entry.names,
          cause: failure,
        }),
      );
    }
    if (lost.length === 0 && firstFailure) this.emit("error", failure);
  }
}

function asClientError(error: unknown): BrokerClientError {
  return error instanceof BrokerClientError ? error : new BrokerClientError("unavailable", error instanceof Error ? error.message : String(error), { cause: error });
}
