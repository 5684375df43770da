/** loadConfig: the environment variables the README documents, and clear errors for bad values. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('turns fused multiply-add kernels on by default, off with KERNEL_FMA=0 or false', () => {
    expect(loadConfig({}).kernelFma).toBe(true);
    expect(loadConfig({ KERNEL_FMA: '1' }).kernelFma).toBe(true);
    expect(loadConfig({ KERNEL_FMA: 'true' }).kernelFma).toBe(true);
    expect(loadConfig({ KERNEL_FMA: '0' }).kernelFma).toBe(false);
    expect(loadConfig({ KERNEL_FMA: 'false' }).kernelFma).toBe(false);
  });

  it('names the variable and the value it cannot read', () => {
    expect(() => loadConfig({ KERNEL_FMA: 'yes' })).toThrow(ConfigError);
    expect(() => loadConfig({ KERNEL_FMA: 'yes' })).toThrow(/KERNEL_FMA must be 1, 0, true or false \(got "yes"\)/);
    expect(() => loadConfig({ PREDICT_THREADS: '0' })).toThrow(/PREDICT_THREADS must be an integer >= 1/);
  });
});
