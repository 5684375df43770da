/**
 * Ids are generated here and checked against a strict pattern before they ever become part of
 * a path, so no request can name a file outside DATA_DIR.
 */
import { randomBytes } from 'node:crypto';

export const ID_PATTERN = '^[a-z]{2,4}_[a-z0-9]{8,40}$';
const ID_REGEX = new RegExp(ID_PATTERN);
const NAME_REGEX = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Time-ordered ids (base36 milliseconds, then randomness), so sorting by id sorts by age. */
export function newId(prefix: 'job' | 'ds'): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
}

export function isValidId(id: string): boolean {
  return ID_REGEX.test(id);
}

/** Model names follow the contract's pattern; `.` and `..` alone are excluded by it. */
export function isValidModelName(name: string): boolean {
  return NAME_REGEX.test(name) && name !== '.' && name !== '..';
}
