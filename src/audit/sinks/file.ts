/** The file checkpoint sink: one JSON line per checkpoint, appended and fsynced, file mode 0600. */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { parseCheckpointLines, type SignedCheckpoint } from "../checkpoint.js";
import type { CheckpointSink, CheckpointSource } from "./sink.js";

export class FileCheckpointSink implements CheckpointSink, CheckpointSource {
  readonly description: string;

  constructor(private readonly file: string) {
    this.description = `file ${file}`;
  }

  /**
   * Appends the line and fsyncs it: small and rare (every N records or T seconds), so done
   * synchronously; O_APPEND keeps concurrent writers' lines whole.
   */
  async write(checkpoint: SignedCheckpoint): Promise<void> {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const fd = openSync(this.file, "a", 0o600);
    try {
      writeSync(fd, `${JSON.stringify(checkpoint)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  async readAll(): Promise<{ checkpoints: SignedCheckpoint[]; problems: string[] }> {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { checkpoints: [], problems: [] };
      throw error;
    }
    const parsed = parseCheckpointLines(text);
    return { checkpoints: parsed.checkpoints, problems: parsed.problems.map((problem) => `${this.file}: ${problem}`) };
  }

  async close(): Promise<void> {}
}
