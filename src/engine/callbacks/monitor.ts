export type MonitorMode = 'auto' | 'min' | 'max';

/** Keras's 'auto' mode: maximize accuracy-like quantities, minimize everything else. */
export function resolveMode(monitor: string, mode: MonitorMode | undefined): 'min' | 'max' {
  if (mode === 'min' || mode === 'max') return mode;
  return /acc/.test(monitor) ? 'max' : 'min';
}
