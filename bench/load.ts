/**
 * One autocannon run, with every response checked and latencies kept at 10 µs resolution
 * (autocannon's own histogram rounds to whole milliseconds, too coarse for a sub-millisecond p50).
 */
import autocannon from "autocannon";

export interface LoadSpec {
  title: string;
  url: string;
  method: "GET" | "POST";
  headers?: Record<string, string>;
  /** A fixed body, or one made for each request (e.g. a client assertion, whose jti is accepted once). */
  body?: string | (() => string);
  connections: number;
  durationSeconds: number;
  /** True when a 2xx body is the expected answer; anything else counts as a mismatch. */
  verify: (body: string) => boolean;
}

export interface LatencyMs {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LoadFigures {
  connections: number;
  durationSeconds: number;
  /** Responses received in the window (any status). */
  responses: number;
  ok2xx: number;
  /** Completed responses per second over the window. */
  requestsPerSecond: number;
  latencyMs: LatencyMs;
  /** Any of these above zero makes the run invalid: a bench that measures errors is wrong. */
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  resets: number;
  statusCodes: Record<string, number>;
  /** autocannon's own summary, for cross-checking (its latencies are whole milliseconds). */
  autocannon: { requestsPerSecondAverage: number; latencyP50Ms: number; latencyP99Ms: number };
  /** CPU used by this (the load-generating) process during the window, in % of one core. */
  clientCpuPercent: number;
}

const BUCKET_MICROS = 10;
const MAX_MICROS = 5_000_000;

/** A fixed-bucket latency histogram: cheap enough to record 100k samples a second. */
class LatencyHistogram {
  private readonly buckets = new Uint32Array(MAX_MICROS / BUCKET_MICROS + 1);
  private count = 0;
  private sumMs = 0;
  private maxMs = 0;

  record(ms: number): void {
    const index = Math.min(this.buckets.length - 1, Math.floor((ms * 1000) / BUCKET_MICROS));
    this.buckets[index]! += 1;
    this.count += 1;
    this.sumMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** Upper edge of the bucket holding the q-quantile, in milliseconds. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let index = 0; index < this.buckets.length; index++) {
      seen += this.buckets[index]!;
      if (seen >= rank) return ((index + 1) * BUCKET_MICROS) / 1000;
    }
    return this.maxMs;
  }

  summary(): LatencyMs {
    const round = (ms: number) => Math.round(ms * 100) / 100;
    return {
      mean: round(this.count ? this.sumMs / this.count : 0),
      p50: round(this.quantile(0.5)),
      p90: round(this.quantile(0.9)),
      p99: round(this.quantile(0.99)),
      p999: round(this.quantile(0.999)),
      max: round(this.maxMs),
    };
  }
}

export function runLoad(spec: LoadSpec): Promise<LoadFigures> {
  const histogram = new LatencyHistogram();
  let ok2xx = 0;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        title: spec.title,
        url: spec.url,
        method: spec.method,
        ...(spec.headers && { headers: spec.headers }),
        ...(typeof spec.body === "string" && { body: spec.body }),
        ...(typeof spec.body === "function" && { requests: [{ setupRequest: ((makeBody) => (request: { body?: string }) => ({ ...request, body: makeBody() }))(spec.body) }] }),
        connections: spec.connections,
        duration: spec.durationSeconds,
        pipelining: 1,
        timeout: 10,
        verifyBody: spec.verify,
      },
      (error, result) => {
        if (error) return reject(error);
        const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        const cpu = process.cpuUsage(cpuBefore);
        const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]));
        const responses = result.requests.total;
        resolve({
          connections: spec.connections,
          durationSeconds: result.duration,
          responses,
          ok2xx,
          requestsPerSecond: Math.round(responses / result.duration),
          latencyMs: histogram.summary(),
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          mismatches: result.mismatches,
          resets: result.resets,
          statusCodes,
          autocannon: { requestsPerSecondAverage: Math.round(result.requests.average), latencyP50Ms: result.latency.p50, latencyP99Ms: result.latency.p99 },
          clientCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / wallSeconds) * 1000) / 10,
        });
      },
    );
    instance.on("response", (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode >= 200 && statusCode < 300) {
        ok2xx += 1;
        histogram.record(responseTimeMs);
      }
    });
  });
}

/** True when a run saw nothing but verified 2xx answers (and, unless `allowEmpty`, at least one). */
export function isClean(figures: LoadFigures, allowEmpty = false): boolean {
  return figures.non2xx === 0 && figures.errors === 0 && figures.timeouts === 0 && figures.mismatches === 0 && (allowEmpty || figures.responses > 0);
}
