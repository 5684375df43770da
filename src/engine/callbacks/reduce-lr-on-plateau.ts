/**
 * Keras ReduceLROnPlateau: when `monitor` has not improved for `patience` epochs, multiply the
 * learning rate by `factor` (not below minLr), then wait `cooldown` epochs before counting again.
 */
import type { ReduceLROnPlateauSpec } from '../spec.js';
import { resolveMode } from './monitor.js';

export interface ReduceLROnPlateauState {
  best: number;
  wait: number;
  cooldownCounter: number;
}

export class ReduceLROnPlateau {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;
  state: ReduceLROnPlateauState;

  constructor(spec: ReduceLROnPlateauSpec) {
    this.monitor = spec.monitor ?? 'val_loss';
    this.mode = resolveMode(this.monitor, spec.mode);
    this.factor = spec.factor ?? 0.1;
    this.patience = spec.patience ?? 10;
    this.minDelta = spec.minDelta ?? 1e-4;
    this.cooldown = spec.cooldown ?? 0;
    this.minLr = spec.minLr ?? 0;
    this.state = { best: this.mode === 'min' ? Infinity : -Infinity, wait: 0, cooldownCounter: 0 };
  }

  /** Returns the learning rate to use from now on. */
  onEpochEnd(logs: Record<string, number>, learningRate: number): number {
    const current = logs[this.monitor];
    if (current === undefined) return learningRate;
    const s = this.state;
    if (s.cooldownCounter > 0) {
      s.cooldownCounter -= 1;
      s.wait = 0;
    }
    const improved = this.mode === 'min' ? current < s.best - this.minDelta : current > s.best + this.minDelta;
    if (improved) {
      s.best = current;
      s.wait = 0;
    } else if (s.cooldownCounter === 0) {
      s.wait += 1;
      if (s.wait >= this.patience && learningRate > Math.fround(this.minLr)) {
        s.cooldownCounter = this.cooldown;
        s.wait = 0;
        return Math.max(learningRate * this.factor, this.minLr);
      }
    }
    return learningRate;
  }
}
