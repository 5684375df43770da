/** Converting JSON rows into float32 buffers, with errors that point at the offending cell. */
import { unprocessable, type FieldIssue } from '../errors.js';

/** The largest finite float32: a number above it would become Infinity when stored. */
export const FLOAT32_MAX = 3.4028234663852886e38;

export interface Matrix {
  values: Float32Array;
  rows: number;
  width: number;
}

function widthMismatch(path: string, row: number, got: number, want: number, againstRow0: boolean) {
  const message = `${path}[${row}] has ${got} values but ${againstRow0 ? `row 0 has ${want}` : `the model takes ${want} features per row`}`;
  return unprocessable(message, [{ path: `${path}[${row}]`, message }]);
}

/** Rows already packed as float32 (all of one width) must be as wide as the model's input. */
export function checkWidth(x: Matrix, width: number, path: string): Matrix {
  if (x.width !== width) throw widthMismatch(path, 0, x.width, width, false);
  return x;
}

/** number[][] → flat float32; every row must have `width` finite numbers (width inferred when null). */
export function toMatrix(rows: number[][], width: number | null, path: string): Matrix {
  if (rows.length === 0)
    throw unprocessable(`${path} must have at least one row`, [{ path, message: `${path} must have at least one row` }]);
  const w = width ?? rows[0]!.length;
  if (w === 0) throw unprocessable(`${path}[0] is empty`, [{ path: `${path}[0]`, message: `${path}[0] is empty` }]);
  const values = new Float32Array(rows.length * w);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    if (row.length !== w) throw widthMismatch(path, r, row.length, w, width === null);
    for (let j = 0; j < w; j++) {
      const v = row[j]!;
      if (!Number.isFinite(v) || Math.abs(v) > FLOAT32_MAX) {
        const message = `${path}[${r}][${j}] must be a finite float32 number`;
        throw unprocessable(message, [{ path: `${path}[${r}][${j}]`, message }]);
      }
      values[r * w + j] = v;
    }
  }
  return { values, rows: rows.length, width: w };
}

const LITTLE_ENDIAN = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;

/**
 * A body of little-endian float32 rows of `width` values (application/octet-stream) → a matrix.
 * On little-endian hosts a 4-byte-aligned body is used in place (request bodies are: Node's
 * buffer pool aligns to 8 bytes), so the values view the body's memory; otherwise they are copied.
 * Copying a one-row body into a new array cost more than reading and checking it (1.5 of 2.3 µs).
 */
export function binaryToMatrix(bytes: Uint8Array, width: number, path: string): Matrix {
  const rowBytes = 4 * width;
  if (bytes.byteLength === 0 || bytes.byteLength % rowBytes !== 0) {
    const message = `${path} has ${bytes.byteLength} bytes, not a whole number of rows: a row is ${width} little-endian float32 values (${rowBytes} bytes)`;
    throw unprocessable(message, [{ path, message }]);
  }
  const count = bytes.byteLength / 4;
  let values: Float32Array;
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) {
    values = new Float32Array(bytes.buffer, bytes.byteOffset, count);
  } else if (LITTLE_ENDIAN) {
    values = new Float32Array(count);
    new Uint8Array(values.buffer).set(bytes);
  } else {
    values = new Float32Array(count);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) values[i] = view.getFloat32(4 * i, true);
  }
  // NaN and ±Infinity are the float32s whose exponent bits are all ones.
  const bits = new Uint32Array(values.buffer, values.byteOffset, count);
  for (let i = 0; i < count; i++) {
    if ((bits[i]! & 0x7f800000) === 0x7f800000) {
      const r = Math.floor(i / width);
      const message = `${path} row ${r}, value ${i - r * width} is ${values[i]}: values must be finite`;
      throw unprocessable(message, [{ path: `${path}[${r}][${i - r * width}]`, message }]);
    }
  }
  return { values, rows: count / width, width };
}

/** number[] (one value per row) or number[][] → flat float32 with its width. */
export function toTargets(y: number[] | number[][], rows: number, path: string): Matrix {
  if (y.length !== rows) {
    const message = `${path} has ${y.length} rows but x has ${rows}`;
    throw unprocessable(message, [{ path, message }]);
  }
  if (y.length > 0 && Array.isArray(y[0])) return toMatrix(y as number[][], null, path);
  const values = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const v = (y as number[])[r]!;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const message = `${path}[${r}] must be a finite number`;
      throw unprocessable(message, [{ path: `${path}[${r}]`, message }]);
    }
    values[r] = v;
  }
  return { values, rows, width: 1 };
}

/** Parses a CSV with a header row; `label` names the target column, all others are features. */
export function parseCsv(text: string, label: string): { x: Matrix; y: Matrix; columns: string[] } {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  const fail = (message: string, path = 'body'): never => {
    throw unprocessable(message, [{ path, message } satisfies FieldIssue]);
  };
  if (lines.length < 2) fail('the CSV needs a header row and at least one data row');
  const header = splitCsvLine(lines[0]!).map((h) => h.trim());
  const labelIndex = header.indexOf(label);
  if (labelIndex < 0) fail(`label column ${JSON.stringify(label)} is not in the header (${header.join(', ')})`, 'label');
  const columns = header.filter((_, i) => i !== labelIndex);
  if (columns.length === 0) fail('the CSV has no feature columns besides the label');
  const rows = lines.length - 1;
  const x = new Float32Array(rows * columns.length);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const cells = splitCsvLine(lines[r + 1]!);
    if (cells.length !== header.length)
      fail(`CSV line ${r + 2} has ${cells.length} cells; the header has ${header.length}`, `line ${r + 2}`);
    let k = 0;
    for (let c = 0; c < cells.length; c++) {
      const raw = cells[c]!.trim();
      const v = raw === '' ? NaN : Number(raw);
      if (!Number.isFinite(v))
        fail(`CSV line ${r + 2}, column ${JSON.stringify(header[c])}: ${JSON.stringify(raw)} is not a number`, `line ${r + 2}`);
      if (c === labelIndex) y[r] = v;
      else x[r * columns.length + k++] = v;
    }
  }
  return { x: { values: x, rows, width: columns.length }, y: { values: y, rows, width: 1 }, columns };
}

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        current += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else current += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(current);
      current = '';
    } else current += ch;
  }
  cells.push(current);
  return cells;
}
