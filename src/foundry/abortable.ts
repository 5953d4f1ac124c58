/**
 * Abort and idle plumbing of the Foundry client: waits that fail fast when the caller aborts, and an
 * iterator wrapper with an idle watchdog (docs/reliability.md STR-02).
 */

/** Internal marker: the caller's signal fired while we were waiting on something that ignores it. */
class CallerAbort extends Error {
  constructor() {
    super('aborted by the caller');
    this.name = 'AbortError';
  }
}

/** Rejects as soon as `signal` aborts, even if `promise` does not watch the signal (e.g. SDK retry sleeps). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  // The loser must never become an unhandled rejection.
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(new CallerAbort());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CallerAbort());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * Iterates `src`, failing fast when `signal` aborts and calling `onIdle` when no item arrives for `idleMs`.
 * The idle clock runs only while waiting on upstream, not while the consumer handles an item, so a slow
 * consumer (Teams throttling) is never blamed on Foundry.
 */
export async function* guard<T>(
  src: AsyncIterable<T>,
  idleMs: number,
  signal: AbortSignal,
  onIdle: () => void,
): AsyncGenerator<T> {
  const it = src[Symbol.asyncIterator]();
  let rejectStop: (e: Error) => void = () => undefined;
  const stopped = new Promise<never>((_, reject) => {
    rejectStop = reject;
  });
  stopped.catch(() => undefined);
  const onAbort = (): void => rejectStop(new CallerAbort());
  signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    for (;;) {
      if (signal.aborted) throw new CallerAbort();
      timer = setTimeout(onIdle, idleMs);
      const next = it.next();
      next.catch(() => undefined);
      const r = await Promise.race([next, stopped]);
      clearTimeout(timer);
      if (r.done === true) return;
      yield r.value;
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    // Lets the SDK stream release its reader / abort its request; never awaited (it may be mid-read).
    void Promise.resolve()
      .then(() => it.return?.())
      .catch(() => undefined);
  }
}

/** Waits `ms`, or rejects (an `AbortError`) as soon as `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new CallerAbort());
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CallerAbort());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
