/**
 * Keras EarlyStopping: stop when `monitor` has not improved by more than minDelta for `patience`
 * epochs; with restoreBestWeights, the best epoch's weights are restored when training ends.
 */
import type { EarlyStoppingSpec } from '../spec.js';
import { resolveMode } from './monitor.js';

export interface EarlyStoppingState {
  best: number;
  bestEpoch: number;
  wait: number;
  stoppedEpoch: number;
  /** Snapshot of the params and state arenas at the best epoch (restoreBestWeights only). */
  bestWeights: { params: Float32Array | Float64Array; state: Float32Array | Float64Array } | null;
}

export class EarlyStopping {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly minDelta: number;
  readonly patience: number;
  readonly baseline: number | undefined;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  state: EarlyStoppingState;

  constructor(spec: EarlyStoppingSpec) {
    this.monitor = spec.monitor ?? 'val_loss';
    this.mode = resolveMode(this.monitor, spec.mode);
    this.minDelta = Math.abs(spec.minDelta ?? 0);
    this.patience = spec.patience ?? 0;
    this.baseline = spec.baseline;
    this.restoreBestWeights = spec.restoreBestWeights ?? false;
    this.startFromEpoch = spec.startFromEpoch ?? 0;
    this.state = { best: this.mode === 'min' ? Infinity : -Infinity, bestEpoch: 0, wait: 0, stoppedEpoch: 0, bestWeights: null };
  }

  private isImprovement(value: number, reference: number): boolean {
    return this.mode === 'min' ? value + this.minDelta < reference : value - this.minDelta > reference;
  }

  /**
   * Called after each epoch (0-based `epoch`) with that epoch's logs; `snapshot` copies the
   * current weights. Returns true when training should stop.
   */
  onEpochEnd(epoch: number, logs: Record<string, number>, snapshot: () => EarlyStoppingState['bestWeights']): boolean {
    const current = logs[this.monitor];
    if (current === undefined || epoch < this.startFromEpoch) return false;
    const s = this.state;
    if (this.restoreBestWeights && s.bestWeights === null) {
      s.bestWeights = snapshot();
      s.bestEpoch = epoch;
    }
    s.wait += 1;
    if (this.isImprovement(current, s.best)) {
      s.best = current;
      s.bestEpoch = epoch;
      if (this.restoreBestWeights) s.bestWeights = snapshot();
      if (this.baseline === undefined || this.isImprovement(current, this.baseline)) s.wait = 0;
      return false;
    }
    if (s.wait >= this.patience && epoch > 0) {
      s.stoppedEpoch = epoch;
      return true;
    }
    return false;
  }
}
