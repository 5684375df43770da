/**
 * Reading an application/octet-stream predict body into rows: in place when the bytes are
 * 4-byte aligned, copied when not, and refused (naming the row and value) when a value is not
 * finite, whichever way it was read.
 */
import { describe, expect, it } from 'vitest';
import { Problem } from '../../src/api/errors.js';
import { binaryToMatrix } from '../../src/api/services/data.js';

const WIDTH = 3;
const rows = [1.5, -0, 3.4028234663852886e38, 1e-45, -2, 0.1];

/** The rows' little-endian float32 bytes at `offset` within a larger buffer. */
function bodyAt(offset: number, values: number[] = rows): Uint8Array {
  const buffer = new ArrayBuffer(offset + 4 * values.length + 3);
  const view = new DataView(buffer, offset);
  values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return new Uint8Array(buffer, offset, 4 * values.length);
}

describe('binaryToMatrix', () => {
  for (const offset of [0, 4, 1, 2, 3]) {
    it(`reads rows at byte offset ${offset} (${offset % 4 === 0 ? 'in place' : 'copied'})`, () => {
      const bytes = bodyAt(offset);
      const m = binaryToMatrix(bytes, WIDTH, 'body');
      expect(m.rows).toBe(2);
      expect(m.width).toBe(WIDTH);
      expect(Array.from(m.values)).toEqual(rows.map((v) => Math.fround(v)));
      expect(Object.is(m.values[1], -0)).toBe(true);
      expect(m.values.buffer === bytes.buffer).toBe(offset % 4 === 0);
    });

    it(`refuses NaN and infinities at byte offset ${offset}, naming the row and value`, () => {
      for (const bad of [Number.NaN, Infinity, -Infinity]) {
        const values = rows.slice();
        values[4] = bad;
        let caught: unknown = null;
        try {
          binaryToMatrix(bodyAt(offset, values), WIDTH, 'body');
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(Problem);
        expect((caught as Problem).status).toBe(422);
        expect((caught as Problem).message).toContain(`body row 1, value 1 is ${bad}`);
      }
    });
  }
});
