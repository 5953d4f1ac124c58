import { bindToActiveContext } from '../observability/telemetry';

/**
 * Per-thread serialisation inside one instance: one turn runs at a time per Foundry thread, a few more wait
 * in line (MAX_QUEUED_TURNS), the rest are refused. Across instances the durable busy lease in the thread
 * record does the same job (see relay.ts). Jobs are tracked so shutdown can drain them.
 */
export interface Job {
  run: (signal: AbortSignal) => Promise<void>;
  /** Called instead of `run` when the job is dropped at shutdown. */
  dropped?: () => Promise<void>;
}

interface Lane {
  running: boolean;
  queue: Job[];
}

export class Lanes {
  private readonly lanes = new Map<string, Lane>();
  private readonly active = new Set<Promise<void>>();
  private readonly controllers = new Set<AbortController>();

  constructor(
    private readonly maxQueued: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Starts `job` now, queues it, or returns false when the lane is full. */
  submit(key: string, job: Job): 'started' | 'queued' | 'full' {
    job = traced(job);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { running: false, queue: [] };
      this.lanes.set(key, lane);
    }
    if (!lane.running) {
      lane.running = true;
      this.start(key, lane, job);
      return 'started';
    }
    if (lane.queue.length >= this.maxQueued) return 'full';
    lane.queue.push(job);
    return 'queued';
  }

  /** Runs a job outside any lane (card continuations), still tracked for drain. */
  detach(job: Job): void {
    void this.track(traced(job));
  }

  private start(key: string, lane: Lane, job: Job): void {
    const p = this.track(job);
    void p.then(() => {
      const next = lane.queue.shift();
      if (next) this.start(key, lane, next);
      else {
        lane.running = false;
        this.lanes.delete(key);
      }
    });
  }

  private track(job: Job): Promise<void> {
    const ac = new AbortController();
    this.controllers.add(ac);
    const p = (async () => {
      try {
        await job.run(ac.signal);
      } catch (err) {
        this.onError(err);
      } finally {
        this.controllers.delete(ac);
      }
    })();
    this.active.add(p);
    void p.finally(() => this.active.delete(p));
    return p;
  }

  /** Number of jobs running or waiting. */
  get inFlight(): number {
    let queued = 0;
    for (const l of this.lanes.values()) queued += l.queue.length;
    return this.active.size + queued;
  }

  /** Resolves when nothing runs (for tests and drain). */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }

  /**
   * Shutdown: queued jobs are dropped (their `dropped` hook tells the user), running ones get `graceMs` to
   * finish, then their signal is aborted so they can tell their users to retry.
   */
  async drain(graceMs: number): Promise<{ finished: boolean }> {
    const dropped: Job[] = [];
    for (const lane of this.lanes.values()) dropped.push(...lane.queue.splice(0));
    await Promise.allSettled(dropped.map((j) => (j.dropped ? j.dropped() : Promise.resolve())));
    const all = Promise.allSettled([...this.active]).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), graceMs);
    });
    const finished = await Promise.race([all, timeout]);
    if (timer) clearTimeout(timer);
    if (!finished) {
      for (const ac of this.controllers) ac.abort(new Error('shutting down'));
      await Promise.race([this.idle(), new Promise((r) => setTimeout(r, 2000).unref())]);
    }
    return { finished };
  }
}

/** Runs the job in the trace context of whoever submitted it (a job starts later, after other work). */
function traced(job: Job): Job {
  return {
    run: bindToActiveContext(job.run),
    ...(job.dropped ? { dropped: bindToActiveContext(job.dropped) } : {}),
  };
}
