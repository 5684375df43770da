/**
 * Chooses whether the kernel helper thread takes part in large tasks, from how long the same
 * tasks took with and without it. A helper whose core another process also wants (a second
 * training job, the API serving, a neighbour on a shared VM) makes sharing a loss: it can be
 * descheduled in the middle of a chunk while the main thread waits for it, and its spinning can
 * push the main thread onto the busy core. With a busy process pinned to the second core, two
 * threads trained the small bench model at 0.4–0.75× the speed of one.
 *
 * Tasks repeat (the same products every training step), so each kind of task (operation and
 * sizes) keeps a moving average of its time shared and alone. One way runs for a stretch of
 * tasks, then the other way for a short burst; after the burst the other way is kept if the
 * kinds timed in it took less in sum that way by a margin (15%, so noise does not flip it). A
 * stretch doubles while its way keeps winning (re-checking costs a little when sharing clearly
 * pays) and starts short again after a switch. Times right after a switch are not counted: a
 * helper that was asleep (it sleeps ~0.4 ms after its last task) would make sharing look slower
 * than it is for the rest of a stretch, when the helper is awake. Results never depend on the
 * choice: every output element is computed the same way by either thread.
 *
 * A stretch also ends early when the kept way slows down and stays slow: when 24 tasks in a row
 * (8 steps of a 2-layer model) each take over 1.5× the least average their kind had in the
 * stretch. Otherwise a helper that lost its core (a neighbour's burst, or both threads put on one
 * vCPU) kept sharing until the end of a long stretch: up to 4,096 tasks, with shared products
 * 2.4–2.8× their usual time and 1.4–1.6× the time alone. With 8 tasks in a row instead of 24, the
 * small bench model's training on this noisy VM re-checked early 10–13 times in 20 epochs without
 * any disturbance, and sometimes ran alone for a stretch after a host hiccup; with 24, once.
 */
export interface ShareChooserOptions {
  /**
   * The first stretch, in tasks: long enough that the first re-check does not time the helper
   * while it starts (its thread boots and its kernels run unoptimized at first).
   */
  firstStretch?: number;
  /** The stretch after a switch. */
  minStretch?: number;
  /** The longest stretch. */
  maxStretch?: number;
  /** Tasks run the other way to re-check. */
  burst?: number;
  /** Tasks not counted after each switch. */
  warmUp?: number;
  /** How much faster the other way must have been to switch to it (noise must not flip it). */
  margin?: number;
  /** Weight of the newest time in the moving averages. */
  weight?: number;
  /** Kinds of task remembered (the oldest is forgotten past this). */
  maxKinds?: number;
  /** A task of the kept way counts as slow past this multiple of its kind's least average in the stretch. */
  slowdown?: number;
  /** Slow tasks in a row that end a stretch early. */
  slowRun?: number;
}

interface Times {
  shared: number;
  alone: number;
  /** The least average of the kept way in this stretch, once it has a few times (NaN before). */
  best: number;
  /** Times of the kept way recorded in this stretch. */
  kept: number;
  /** The last time of the kept way. */
  last: number;
}

export class ShareChooser {
  private readonly times = new Map<string, Times>();
  /** The kinds timed during the current re-check: only they are compared, with fresh times. */
  private readonly checked = new Set<string>();
  private readonly minStretch: number;
  private readonly maxStretch: number;
  private readonly burst: number;
  private readonly warmUp: number;
  private readonly margin: number;
  private readonly weight: number;
  private readonly maxKinds: number;
  private readonly slowdown: number;
  private readonly slowRun: number;
  /** Slow tasks of the kept way in a row (see slowdown). */
  private slow = 0;
  private sharing = true;
  private checking = false;
  private stretch: number;
  private left: number;
  private skip: number;
  /** Tasks run alone (while sharing lost, and in re-checks); for tests and the benchmark. */
  aloneTasks = 0;
  /** Times the kept way changed. */
  switches = 0;
  /** Stretches ended early because the kept way slowed down. */
  earlyChecks = 0;

  constructor(options: ShareChooserOptions = {}) {
    this.minStretch = options.minStretch ?? 256;
    this.maxStretch = options.maxStretch ?? 4096;
    this.burst = options.burst ?? 24;
    this.warmUp = options.warmUp ?? 2;
    this.margin = options.margin ?? 1.15;
    this.weight = options.weight ?? 0.25;
    this.maxKinds = options.maxKinds ?? 256;
    this.slowdown = options.slowdown ?? 1.5;
    this.slowRun = options.slowRun ?? 24;
    this.stretch = options.firstStretch ?? 1024;
    this.left = this.stretch;
    this.skip = this.warmUp;
  }

  /** Whether the next task should be shared. */
  share(): boolean {
    const shared = this.checking ? !this.sharing : this.sharing;
    if (!shared) this.aloneTasks++;
    return shared;
  }

  /** How long (ms) a task of this kind took, shared or alone, as share() said. */
  record(kind: string, shared: boolean, ms: number): void {
    if (this.skip > 0) {
      this.skip--;
    } else {
      let t = this.times.get(kind);
      if (t) {
        // Most recently used last, so the kinds forgotten past maxKinds are the ones not seen lately.
        this.times.delete(kind);
      } else {
        if (this.times.size >= this.maxKinds) this.times.delete(this.times.keys().next().value!);
        t = { shared: Number.NaN, alone: Number.NaN, best: Number.NaN, kept: 0, last: Number.NaN };
      }
      this.times.set(kind, t);
      const key = shared ? 'shared' : 'alone';
      // A re-check starts each kind's average afresh: times from before the last switch say
      // nothing about now.
      const fresh = Number.isNaN(t[key]) || (this.checking && !this.checked.has(kind));
      t[key] = fresh ? ms : t[key] + this.weight * (ms - t[key]);
      if (this.checking) this.checked.add(kind);
      else if (this.slowedDown(t, ms, t[key])) {
        // Re-check now, against the kept way's times as they are now (its averages lag behind a
        // sudden slowdown), and trust it again only for a short stretch.
        for (const other of this.times.values()) if (other.kept > 0) other[key] = other.last;
        this.left = 1;
        this.stretch = this.minStretch / 2;
        this.earlyChecks++;
      }
    }
    if (--this.left > 0) return;
    if (!this.checking) {
      this.checking = true;
      this.left = this.burst;
    } else {
      this.checking = false;
      if (this.otherWayWins()) {
        this.sharing = !this.sharing;
        this.stretch = this.minStretch;
        this.switches++;
      } else {
        this.stretch = Math.min(this.stretch * 2, this.maxStretch);
      }
      this.left = this.stretch;
      // A new stretch: its slow tasks are measured against what its way does from now on.
      for (const t of this.times.values()) {
        t.best = Number.NaN;
        t.kept = 0;
      }
      this.slow = 0;
    }
    this.skip = this.warmUp;
  }

  /**
   * Whether this time of the kept way ends a run of slow tasks long enough to re-check now. A
   * kind's least average needs a few times first; single slow tasks (a preemption) do not count,
   * since the run must be unbroken.
   */
  private slowedDown(t: Times, ms: number, average: number): boolean {
    t.kept++;
    t.last = ms;
    if (t.kept >= 4 && !(average >= t.best)) t.best = average;
    if (Number.isNaN(t.best)) return false;
    this.slow = ms > t.best * this.slowdown ? this.slow + 1 : 0;
    if (this.slow < this.slowRun) return false;
    this.slow = 0;
    return true;
  }

  /**
   * Whether the kinds timed in the re-check took less in sum the way not kept, by the margin
   * (false when none of them has been timed both ways).
   */
  private otherWayWins(): boolean {
    let shared = 0;
    let alone = 0;
    let compared = 0;
    for (const kind of this.checked) {
      const t = this.times.get(kind);
      if (!t || Number.isNaN(t.shared) || Number.isNaN(t.alone)) continue;
      shared += t.shared;
      alone += t.alone;
      compared++;
    }
    this.checked.clear();
    if (compared === 0) return false;
    return this.sharing ? alone * this.margin < shared : shared * this.margin < alone;
  }
}
