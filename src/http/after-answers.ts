/**
 * Bookkeeping that every request needs but its answer does not wait for: the request metrics and
 * the access log line.
 *
 * Secret reads are answered in bursts: when an audit batch commits, its 20-odd answers are written
 * one after another, and the next batch goes to the committer only after that burst (the writer
 * hands it over in the next `setImmediate`). Every microsecond a request spends after its answer
 * is built therefore delays the next commit, and every read queued behind it. Tasks deferred here
 * run in order, once per event-loop turn, after the turn's I/O callbacks and after the writer's
 * hand-off (both use `setImmediate`; the writer's is always queued first), while the committer
 * works. A task that throws is reported and does not stop the others.
 */
export class AfterAnswers {
  private tasks: Array<() => void> = [];
  private scheduled = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  defer(task: () => void): void {
    this.tasks.push(task);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const tasks = this.tasks;
    this.tasks = [];
    for (const task of tasks) {
      try {
        task();
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
