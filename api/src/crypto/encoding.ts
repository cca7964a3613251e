// Unambiguous byte encodings for associated data. Every field is length-prefixed, so no two
// different tuples encode to the same bytes ("a/b" + "c" never equals "a" + "b/c").

export function encodeFields(label: string, fields: ReadonlyArray<string | number | bigint>): Buffer {
  const parts: Buffer[] = [lengthPrefixed(Buffer.from(label, 'utf8'))];
  for (const f of fields) {
    if (typeof f === 'string') {
      parts.push(Buffer.from([0x73]), lengthPrefixed(Buffer.from(f, 'utf8')));
    } else {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(f));
      parts.push(Buffer.from([0x6e]), b);
    }
  }
  return Buffer.concat(parts);
}

function lengthPrefixed(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** A reader over a blob that throws a typed error instead of reading past the end. */
export class BlobReader {
  private offset = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly fail: (why: string) => Error,
  ) {}

  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.offset++);
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** A UTF-8 string with a u16 length prefix; rejects invalid UTF-8. */
  str16(): string {
    const raw = this.bytes(this.u16());
    const s = raw.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(raw)) throw this.fail('invalid UTF-8 in header');
    return s;
  }

  rest(): Buffer {
    const v = this.buf.subarray(this.offset);
    this.offset = this.buf.length;
    return v;
  }

  remaining(): number {
    return this.buf.length - this.offset;
  }

  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw this.fail('truncated');
  }
}

export function str16(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length > 0xffff) throw new RangeError('header string too long');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
