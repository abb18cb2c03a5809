/** A minimal typed event emitter; an `error` with no listener goes to a fallback instead of throwing. */
type Listener = (...args: unknown[]) => void;

export class Emitter<Events extends Record<string, unknown[]>> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  constructor(private readonly unhandledError: (...args: Events["error"]) => void = () => {}) {}

  on<E extends keyof Events>(event: E, listener: (...args: Events[E]) => void): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as Listener);
    return this;
  }

  off<E extends keyof Events>(event: E, listener: (...args: Events[E]) => void): this {
    this.listeners.get(event)?.delete(listener as unknown as Listener);
    return this;
  }

  protected emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) {
      if (event === "error") (this.unhandledError as unknown as Listener)(...args);
      return;
    }
    // Like node:events, a listener that throws is a bug of the caller: it surfaces as an uncaught error.
    for (const listener of [...set]) listener(...args);
  }
}
