/** Facts about the machine a bench ran on, recorded next to its figures. */
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";

export interface MachineFacts {
  nproc: number;
  cpuModel: string;
  node: string;
  platform: string;
  totalMemoryGiB: number;
  /** 1, 5 and 15 minute load averages when the bench started (a shared machine shows here). */
  loadAverage: number[];
  /** write(4 KiB) + fsync on the temp folder's disk, where the bench database lives. */
  fsyncMicros: { p50: number; p99: number; samples: number };
}

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((entry) => entry.startsWith("model name"));
    if (line) return line.slice(line.indexOf(":") + 1).trim();
  } catch {
    /* not Linux: fall back to what os.cpus() says */
  }
  return cpus()[0]?.model ?? "unknown";
}

/** What one durable commit costs on this disk, at best: the floor under every audit batch. */
export function probeFsync(samples = 200): MachineFacts["fsyncMicros"] {
  const dir = mkdtempSync(join(tmpdir(), "credbroker-fsync-"));
  const fd = openSync(join(dir, "probe"), "w");
  const block = Buffer.alloc(4096, 1);
  const micros: number[] = [];
  try {
    for (let index = 0; index < samples; index++) {
      const started = process.hrtime.bigint();
      writeSync(fd, block);
      fsyncSync(fd);
      micros.push(Number(process.hrtime.bigint() - started) / 1000);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  micros.sort((a, b) => a - b);
  const at = (q: number) => Math.round(micros[Math.min(micros.length - 1, Math.ceil(q * micros.length) - 1)]!);
  return { p50: at(0.5), p99: at(0.99), samples };
}

export function machineFacts(): MachineFacts {
  return {
    nproc: availableParallelism(),
    cpuModel: cpuModel(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    totalMemoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
    fsyncMicros: probeFsync(),
  };
}
