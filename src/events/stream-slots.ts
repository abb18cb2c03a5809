/**
 * The open event streams of each server on this broker, capped: a stream holds a slot from the
 * moment it is admitted until it ends, whether the client closes it, drops the connection, or
 * the broker ends it. Per broker, in memory: a stream is a connection to this process.
 */
export class StreamSlots {
  private readonly open = new Map<string, number>();

  /** @throws TypeError when `maxPerServer` is not a positive integer. */
  constructor(readonly maxPerServer: number) {
    if (!Number.isInteger(maxPerServer) || maxPerServer < 1) throw new TypeError(`maxPerServer must be a positive integer, got ${maxPerServer}`);
  }

  /** How many streams of `serverId` hold a slot now. */
  held(serverId: string): number {
    return this.open.get(serverId) ?? 0;
  }

  /**
   * Takes a slot for one stream of `serverId`. Returns the function that gives it back (calling
   * it more than once gives back one slot only), or undefined when every slot is taken.
   */
  acquire(serverId: string): (() => void) | undefined {
    const taken = this.open.get(serverId) ?? 0;
    if (taken >= this.maxPerServer) return undefined;
    this.open.set(serverId, taken + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(serverId) ?? 1) - 1;
      if (left > 0) this.open.set(serverId, left);
      else this.open.delete(serverId);
    };
  }
}
