/**
 * `--paired` arithmetic: each read (and calibration) run against the bare runs around it, and
 * each read against the calibration run just before it. Kept apart from the driver so it is tested.
 */

/** What the arithmetic needs of a run, in run order. */
export interface PairedRun {
  id: string;
  load: { requestsPerSecond: number; latencyMs: { p99: number } };
  server: { cpuMicrosPerRequest: number; cpuPercent: number };
  /** Set here for reads and calibration runs. */
  ratioToBare?: number;
}

/**
 * A bare run whose CPU per request exceeds the run's median bare figure by this factor was
 * disturbed: the bare app does the same work per request every time, so only another tenant on
 * the machine makes it costlier (seen: 32 µs against 18-19). Its lower throughput would inflate
 * the ratios divided by it.
 */
export const DISTURBED_BARE_FACTOR = 1.25;

/**
 * A bare run that got less than this share of the run's median bare CPU use was disturbed too:
 * under load the bare app keeps its thread busy (94.9-98.5% of a core in every undisturbed run
 * so far), so a run at 77% waited for a core another tenant held, and served less for it.
 */
export const DISTURBED_BARE_SHARE = 0.92;

/** The lower middle of `items` ordered by `key` (the median for an odd count). */
export function lowerMedian<T>(items: T[], key: (item: T) => number): T {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)]!;
}

export interface PairedSummary {
  ratios: number[];
  median: number;
  medianP99Ms: number;
  /** The calibration's ratios to bare, and each round's broker ÷ calibration. */
  minimalRatios: number[];
  brokerToMinimal: number[];
  /** The median calibration round (by ratio) and the median of the calibration's p99s; absent without calibration runs. */
  calibration?: { median: number; medianP99Ms: number };
  /** Positions (in run order) of bare runs left out of the divisors as disturbed. */
  disturbedBare: number[];
}

/**
 * `--paired`: sets each secret-get and calibration run's ratio to its throughput divided by the
 * mean of the nearest bare runs before and after it (the bare app's speed drifts with the
 * machine's other load; neighbours share that drift), and returns the ratios with their medians.
 * Disturbed bare runs (see {@link DISTURBED_BARE_FACTOR} and {@link DISTURBED_BARE_SHARE}) are skipped when looking for neighbours,
 * unless every bare run would be. Read and calibration runs are never left out: a disturbed one
 * only lowers its own ratio, which errs on the safe side.
 */
export function applyPairedRatios(results: PairedRun[]): PairedSummary {
  const isAnyBare = (run: PairedRun) => run.id === "bare" || run.id === "bare-end";
  const bareRuns = results.filter(isAnyBare);
  const typical = (key: (run: PairedRun) => number) => (bareRuns.length >= 3 ? key(lowerMedian(bareRuns, key)) : undefined);
  const typicalCpu = typical((run) => run.server.cpuMicrosPerRequest) ?? Infinity;
  const typicalShare = typical((run) => run.server.cpuPercent) ?? 0;
  const disturbed = new Set(
    bareRuns.filter((run) => run.server.cpuMicrosPerRequest > typicalCpu * DISTURBED_BARE_FACTOR || run.server.cpuPercent < typicalShare * DISTURBED_BARE_SHARE),
  );
  if (disturbed.size === bareRuns.length) disturbed.clear();
  const isBare = (run: PairedRun) => isAnyBare(run) && !disturbed.has(run);
  const reads: PairedRun[] = [];
  const minimal: PairedRun[] = [];
  const brokerToMinimal: number[] = [];
  results.forEach((result, index) => {
    if (result.id !== "secret-get" && result.id !== "minimal") return;
    const before = results.slice(0, index).findLast(isBare);
    const after = results.slice(index + 1).find(isBare);
    const neighbours = [before, after].filter((run) => run !== undefined);
    const bareRps = neighbours.reduce((sum, run) => sum + run.load.requestsPerSecond, 0) / neighbours.length;
    result.ratioToBare = Math.round((result.load.requestsPerSecond / bareRps) * 1000) / 1000;
    if (result.id === "minimal") minimal.push(result);
    else {
      reads.push(result);
      const calibration = results[index - 1];
      if (calibration?.id === "minimal") brokerToMinimal.push(Math.round((result.load.requestsPerSecond / calibration.load.requestsPerSecond) * 1000) / 1000);
    }
  });
  const ratio = (result: PairedRun) => result.ratioToBare!;
  const p99 = (result: PairedRun) => result.load.latencyMs.p99;
  return {
    ratios: reads.map(ratio),
    median: ratio(lowerMedian(reads, ratio)),
    medianP99Ms: p99(lowerMedian(reads, p99)),
    minimalRatios: minimal.map(ratio),
    brokerToMinimal,
    ...(minimal.length > 0 && { calibration: { median: ratio(lowerMedian(minimal, ratio)), medianP99Ms: p99(lowerMedian(minimal, p99)) } }),
    disturbedBare: results.flatMap((run, index) => (disturbed.has(run) ? [index] : [])),
  };
}

export interface Targets {
  ratioToBare: number;
  p99Ms: number;
}

/**
 * What the calibration says of this machine now: the calibration does the hot-path list
 * and nothing else, so a target it misses as a median is out of reach here for the broker too,
 * whatever the broker's own code costs. Undefined without calibration rounds.
 */
export function machineVerdict(summary: PairedSummary, targets: Targets): string | undefined {
  const { calibration } = summary;
  if (!calibration) return undefined;
  const missed = [
    ...(calibration.median < targets.ratioToBare ? [`throughput (≥ ${targets.ratioToBare} of bare)`] : []),
    ...(calibration.medianP99Ms >= targets.p99Ms ? [`p99 (< ${targets.p99Ms} ms)`] : []),
  ];
  const figures = `the calibration's median round ${calibration.median.toFixed(3)} of bare, its median p99 ${calibration.medianP99Ms.toFixed(2)} ms`;
  return missed.length === 0
    ? `machine: ${figures}: both targets are within reach of a design that does only the issue's list here`
    : `machine: ${figures}: even the issue's list alone misses the ${missed.join(" and the ")} target${missed.length > 1 ? "s" : ""} on this machine now`;
}
