/**
 * A fast path for JSON predict bodies: `{"inputs": [[numbers…], …], "runtime": …}` is read straight
 * from the request bytes into a Float32Array. JSON.parse would build an array per row and a double
 * per value, Ajv would then walk every value, and toMatrix would copy them again: for a one-row
 * predict that is most of the request's CPU time, and for a 4 MiB batch, megabytes of garbage.
 *
 * The fast path takes only the exact shape PredictBody allows (both keys at most once, in any
 * order, numbers only, rows of equal width, finite float32 values, plain strings). Anything else
 * — a string escape, another key, a nested value, a syntax error, a ragged row — returns null and
 * the body goes through JSON.parse and the schema as before, so every error keeps its message.
 * Values are bit-identical to JSON.parse followed by a float32 store (tested on random numbers).
 */
import { FLOAT32_MAX, type Matrix } from './data.js';

/** A predict body the fast path read; by construction it satisfies PredictBody. */
export class ParsedPredictBody {
  constructor(
    readonly inputs: Matrix,
    readonly runtime: 'engine' | 'onnx' | undefined,
  ) {}
}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const BACKSLASH = 0x5c;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/** 10^0 … 10^22: every one is an exact double, which makes m·10^e and m/10^e correctly rounded. */
const POW10 = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
/** Longer numbers go to the general path (String.fromCharCode spreads its arguments). */
const MAX_NUMBER_LENGTH = 1000;

/** Thrown (one shared instance: no stack captured per body) to leave for the general path. */
const BAIL = new Error('general path');

/** Where the last scanNumber stopped (a module variable, so a number costs no allocation). */
let scanEnd = 0;

/**
 * One JSON number (RFC 8259 grammar) starting at `pos`, as JSON.parse reads it; scanEnd is left
 * just past it.
 */
function scanNumber(b: Uint8Array, pos: number): number {
  const start = pos;
  const end = b.length;
  let c = at(b, pos, end);
  const negative = c === MINUS;
  if (negative) c = at(b, ++pos, end);
  if (c < ZERO || c > NINE) throw BAIL;
  let mantissa = 0;
  let digits = 0; // significant digits in the mantissa
  let exponent = 0;
  if (c === ZERO) {
    c = at(b, ++pos, end);
  } else {
    do {
      mantissa = mantissa * 10 + (c - ZERO);
      digits++;
      c = at(b, ++pos, end);
    } while (c >= ZERO && c <= NINE);
  }
  if (c === DOT) {
    c = at(b, ++pos, end);
    if (c < ZERO || c > NINE) throw BAIL;
    do {
      mantissa = mantissa * 10 + (c - ZERO);
      if (mantissa !== 0) digits++;
      exponent--;
      c = at(b, ++pos, end);
    } while (c >= ZERO && c <= NINE);
  }
  if (c === LOWER_E || c === UPPER_E) {
    c = at(b, ++pos, end);
    let sign = 1;
    if (c === PLUS || c === MINUS) {
      sign = c === MINUS ? -1 : 1;
      c = at(b, ++pos, end);
    }
    if (c < ZERO || c > NINE) throw BAIL;
    let e = 0;
    do {
      e = e * 10 + (c - ZERO);
      c = at(b, ++pos, end);
    } while (c >= ZERO && c <= NINE);
    exponent += sign * e;
  }
  scanEnd = pos;
  // Long numbers (a long run of fraction digits could offset a huge exponent, and the
  // exponent itself could overflow) are the general path's, as are the ones Number() must read.
  if (pos - start > MAX_NUMBER_LENGTH) throw BAIL;
  let value: number;
  if (digits <= 15 && exponent >= -22 && exponent <= 22) {
    // Clinger's fast path: an exact mantissa times or divided by an exact power of ten is one
    // correctly rounded operation, the same double JSON.parse returns.
    value = exponent >= 0 ? mantissa * POW10[exponent]! : mantissa / POW10[-exponent]!;
    if (negative) value = -value;
  } else {
    value = numberFromText(b, start, pos);
  }
  if (!(Math.abs(value) <= FLOAT32_MAX)) throw BAIL; // the general path names the bad value
  return value;
}

/** Number() of the bytes [start, end): the rare number with more than 15 digits or a large exponent. */
function numberFromText(b: Uint8Array, start: number, end: number): number {
  return Number(String.fromCharCode(...b.subarray(start, end)));
}

/** The byte at `pos`, or 0 past the end: a number stays a number (no undefined), and 0 is no token. */
function at(b: Uint8Array, pos: number, end: number): number {
  return pos < end ? b[pos]! : 0;
}

function isSpace(c: number): boolean {
  return c === SPACE || c === LF || c === CR || c === TAB;
}

class Reader {
  pos = 0;
  values = new Float32Array(1024);
  count = 0;

  constructor(private readonly bytes: Uint8Array) {}

  ws(): void {
    const b = this.bytes;
    let pos = this.pos;
    while (isSpace(at(b, pos, b.length))) pos++;
    this.pos = pos;
  }

  expect(byte: number): void {
    this.ws();
    if (this.bytes[this.pos] !== byte) throw BAIL;
    this.pos++;
  }

  /** Consumes `byte` (after whitespace) when it is next. */
  take(byte: number): boolean {
    this.ws();
    if (this.bytes[this.pos] !== byte) return false;
    this.pos++;
    return true;
  }

  /** A short string without escapes (the keys and runtime names; anything longer is not one). */
  string(): string {
    this.expect(QUOTE);
    const start = this.pos;
    const b = this.bytes;
    for (;;) {
      const c = b[this.pos];
      if (c === undefined || c === BACKSLASH || c < SPACE || this.pos - start > 16) throw BAIL;
      if (c === QUOTE) break;
      this.pos++;
    }
    this.pos++;
    return String.fromCharCode(...b.subarray(start, this.pos - 1));
  }

  /** One JSON number (after whitespace). */
  number(): number {
    this.ws();
    const value = scanNumber(this.bytes, this.pos);
    this.pos = scanEnd;
    return value;
  }

  /**
   * The numbers of one row after its `[`, through its `]`, in one loop over locals: a 784-value
   * row is most of a predict body, and with a method call and field updates per value the body
   * took ~1.35× as long to read.
   */
  rowValues(): void {
    const b = this.bytes;
    const end = b.length;
    let pos = this.pos;
    let values = this.values;
    let count = this.count;
    for (;;) {
      let c = at(b, pos, end);
      while (isSpace(c)) c = at(b, ++pos, end);
      const value = scanNumber(b, pos);
      pos = scanEnd;
      if (count === values.length) {
        const grown = new Float32Array(values.length * 2);
        grown.set(values);
        values = grown;
      }
      values[count++] = value;
      c = at(b, pos, end);
      while (isSpace(c)) c = at(b, ++pos, end);
      pos++;
      if (c === CLOSE_BRACKET) break;
      if (c !== COMMA) throw BAIL;
    }
    this.pos = pos;
    this.values = values;
    this.count = count;
  }

  /** [[n, …], …] with at least one row, every row as wide as the first. */
  rows(): { rows: number; width: number } {
    this.expect(OPEN_BRACKET);
    let rows = 0;
    let width = -1;
    do {
      this.expect(OPEN_BRACKET);
      const before = this.count;
      if (!this.take(CLOSE_BRACKET)) this.rowValues();
      const w = this.count - before;
      if (width === -1) width = w;
      else if (w !== width) throw BAIL;
      rows++;
    } while (this.take(COMMA));
    this.expect(CLOSE_BRACKET);
    if (width === 0) throw BAIL;
    return { rows, width };
  }

  end(): void {
    this.ws();
    if (this.pos !== this.bytes.length) throw BAIL;
  }
}

/** Reads a JSON predict body, or returns null when it needs the general path. */
export function parsePredictJson(bytes: Uint8Array): ParsedPredictBody | null {
  const reader = new Reader(bytes);
  try {
    let shape: { rows: number; width: number } | null = null;
    let runtime: 'engine' | 'onnx' | undefined;
    reader.expect(OPEN_BRACE);
    do {
      const key = reader.string();
      reader.expect(COLON);
      if (key === 'inputs' && shape === null) {
        shape = reader.rows();
      } else if (key === 'runtime' && runtime === undefined) {
        const value = reader.string();
        if (value !== 'engine' && value !== 'onnx') throw BAIL;
        runtime = value;
      } else {
        throw BAIL;
      }
    } while (reader.take(COMMA));
    reader.expect(CLOSE_BRACE);
    reader.end();
    if (shape === null) return null;
    const values = reader.values.length === reader.count ? reader.values : reader.values.slice(0, reader.count);
    return new ParsedPredictBody({ values, rows: shape.rows, width: shape.width }, runtime);
  } catch (error) {
    if (error === BAIL) return null;
    throw error;
  }
}

/** One JSON number text as the fast path reads it, as a double (null: the general path's job). Exposed for tests. */
export function readJsonNumber(text: string): number | null {
  const reader = new Reader(Buffer.from(text, 'latin1'));
  try {
    const value = reader.number();
    reader.end();
    return value;
  } catch (error) {
    if (error === BAIL) return null;
    throw error;
  }
}
