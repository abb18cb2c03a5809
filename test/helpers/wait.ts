/** Waiting on conditions (never on wall-clock assertions): machines are shared and slow at times. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves with the names of the next `change` of a secret set. */
export function nextChange(set: { on(event: "change", listener: (names: string[]) => void): unknown; off(event: "change", listener: (names: string[]) => void): unknown }, timeoutMs = 20_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      set.off("change", listener);
      reject(new Error("timed out waiting for a change event"));
    }, timeoutMs);
    function listener(names: string[]) {
      clearTimeout(timer);
      set.off("change", listener);
      resolve(names);
    }
    set.on("change", listener);
  });
}
