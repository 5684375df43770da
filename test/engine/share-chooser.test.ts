/**
 * The choice between sharing large tasks with the kernel helper thread and running them alone:
 * stretches of the kept way, short re-check bursts of the other, a switch when the other way was
 * faster by the margin. Driven with synthetic times (the runtime feeds it real ones).
 */
import { describe, expect, it } from 'vitest';
import { ShareChooser, type ShareChooserOptions } from '../../src/engine/kernels/wasm/share-chooser.js';

const small: ShareChooserOptions = { firstStretch: 40, minStretch: 20, maxStretch: 80, burst: 8, warmUp: 2 };

/** Runs `tasks` tasks cycling through `kinds`, each taking time(kind, shared); returns the choices. */
function drive(chooser: ShareChooser, tasks: number, time: (kind: string, shared: boolean) => number, kinds = ['a', 'b', 'c']): boolean[] {
  const choices: boolean[] = [];
  for (let i = 0; i < tasks; i++) {
    const kind = kinds[i % kinds.length]!;
    const shared = chooser.share();
    choices.push(shared);
    chooser.record(kind, shared, time(kind, shared));
  }
  return choices;
}

const alone = (choices: boolean[]): number => choices.filter((c) => !c).length;

describe('ShareChooser', () => {
  it('shares from the start, and keeps sharing while it is faster, re-checking in ever rarer bursts', () => {
    const chooser = new ShareChooser(small);
    const choices = drive(chooser, 40 + 8 + 80 + 8 + 80 + 8 + 80, (_, shared) => (shared ? 1 : 1.9));
    expect(choices.slice(0, 40).every(Boolean)).toBe(true);
    // Bursts after stretches of 40, then 80, then 80 shared tasks (the stretch doubles, up to
    // maxStretch = 80).
    expect(alone(choices.slice(40, 48))).toBe(8);
    expect(choices.slice(48, 128).every(Boolean)).toBe(true);
    expect(alone(choices.slice(128, 136))).toBe(8);
    expect(choices.slice(136, 216).every(Boolean)).toBe(true);
    expect(alone(choices.slice(216, 224))).toBe(8);
    expect(choices.slice(224).every(Boolean)).toBe(true);
    expect(chooser.switches).toBe(0);
    expect(chooser.aloneTasks).toBe(alone(choices));
  });

  it('switches to running alone when sharing is slower by more than the margin, and re-checks sharing', () => {
    const chooser = new ShareChooser(small);
    const choices = drive(chooser, 40 + 8 + 20 + 8 + 40, (_, shared) => (shared ? 2 : 1));
    expect(chooser.switches).toBe(1);
    // After the first burst: a stretch of 20 alone, a burst of 8 shared, then 40 alone.
    expect(alone(choices.slice(48, 68))).toBe(20);
    expect(alone(choices.slice(68, 76))).toBe(0);
    expect(alone(choices.slice(76))).toBe(40);
  });

  it('does not switch on a difference within the margin', () => {
    const chooser = new ShareChooser({ ...small, margin: 1.15 });
    drive(chooser, 1000, (_, shared) => (shared ? 1.1 : 1));
    expect(chooser.switches).toBe(0);
  });

  it('goes back to sharing when the helper is fast again', () => {
    const chooser = new ShareChooser(small);
    drive(chooser, 100, (_, shared) => (shared ? 3 : 1));
    expect(chooser.switches).toBe(1);
    const later = drive(chooser, 200, (_, shared) => (shared ? 0.5 : 1));
    expect(chooser.switches).toBe(2);
    expect(later.slice(-40).filter(Boolean).length).toBeGreaterThanOrEqual(32);
  });

  it('does not count the first tasks after a switch, when the helper may still be asleep', () => {
    const chooser = new ShareChooser(small);
    drive(chooser, 100, (_, shared) => (shared ? 3 : 1));
    expect(chooser.switches).toBe(1);
    // The helper is fast again, but the first two shared tasks after alone ones find it asleep
    // and are slow. Counted, they would keep the re-checks from ever seeing sharing win.
    let run = 0;
    let last = false;
    drive(chooser, 200, (_, shared) => {
      run = shared === last ? run + 1 : 0;
      last = shared;
      return shared ? (run < 2 ? 100 : 0.5) : 1;
    });
    expect(chooser.switches).toBe(2);
  });

  it('keeps the kinds used lately when it must forget some (maxKinds)', () => {
    const chooser = new ShareChooser({ ...small, maxKinds: 3 });
    // 'a' and 'b' repeat; every third task is a kind never seen before (say, a batch of a new
    // size). Forgetting by first use would drop 'a' and 'b' again and again, losing their times,
    // and nothing would ever be compared; forgetting the least lately used drops the one-offs.
    let fresh = 0;
    for (let i = 0; i < 300; i++) {
      const kind = i % 3 === 2 ? `once ${fresh++}` : i % 3 === 0 ? 'a' : 'b';
      const shared = chooser.share();
      chooser.record(kind, shared, shared ? 3 : 1);
    }
    expect(chooser.switches).toBe(1);
  });

  it('ends a long stretch early when the kept way slows down and stays slow', () => {
    const chooser = new ShareChooser({ ...small, maxStretch: 1000, slowRun: 8 });
    // Sharing wins its first re-checks, so its stretches grow: 40, then 80, then 160 tasks.
    drive(chooser, 40 + 8 + 80 + 8 + 40, (_, shared) => (shared ? 1 : 2));
    expect(chooser.switches).toBe(0);
    // 40 tasks into the stretch, the helper loses its core: shared tasks take 3, alone ones
    // still 2. Without the early re-check, sharing would be kept for the stretch's other 120.
    const choices = drive(chooser, 40, (_, shared) => (shared ? 3 : 2));
    expect(chooser.earlyChecks).toBe(1);
    expect(chooser.switches).toBe(1);
    // 8 slow tasks in a row, then the burst of 8 alone tasks (2 of them not counted) decides;
    // then a stretch of 20 alone and the next re-check of sharing.
    expect(choices.slice(0, 8).every(Boolean)).toBe(true);
    expect(alone(choices.slice(8, 36))).toBe(28);
    expect(choices.slice(36).every(Boolean)).toBe(true);
  });

  it('does not end a stretch for slow tasks that are not in a row', () => {
    const chooser = new ShareChooser({ ...small, maxStretch: 1000, slowRun: 8 });
    // Every fifth task is 10 times slower (a preemption), the others take their usual time.
    let i = 0;
    const choices = drive(chooser, 40 + 8 + 80 + 8 + 160, (_, shared) => (i++ % 5 === 4 ? 10 : shared ? 1 : 2));
    expect(chooser.earlyChecks).toBe(0);
    expect(chooser.switches).toBe(0);
    // Re-check bursts only where the stretches end (after 40, then 80 shared tasks).
    expect(alone(choices)).toBe(16);
  });

  it('after an early re-check that keeps the way, measures slow tasks against the new times', () => {
    const chooser = new ShareChooser({ ...small, maxStretch: 1000, slowRun: 8 });
    drive(chooser, 40 + 8 + 80 + 8 + 40, (_, shared) => (shared ? 1 : 4));
    // Sharing slows to 1.6 but stays faster than alone (4): one early re-check, no switch, and
    // no further early re-check at the new speed.
    drive(chooser, 600, (_, shared) => (shared ? 1.6 : 4));
    expect(chooser.earlyChecks).toBe(1);
    expect(chooser.switches).toBe(0);
  });

  it('compares only the kinds timed in the last re-check, so stale kinds do not decide', () => {
    const chooser = new ShareChooser(small);
    // Kind 'old' was much faster alone, long ago; now only 'new' runs, and sharing it pays.
    drive(chooser, 48, (_, shared) => (shared ? 50 : 1), ['old']);
    expect(chooser.switches).toBe(1);
    drive(chooser, 28, (_, shared) => (shared ? 1 : 2), ['new']);
    expect(chooser.switches).toBe(2);
  });
});
