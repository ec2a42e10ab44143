/**
 * Just enough PNG for the app icons, on node:zlib: write 8-bit RGBA images, and read any
 * non-interlaced 8-bit PNG back to RGBA so the packager can check an icon a designer replaced
 * (size, transparency, white outline) instead of trusting the file name.
 * Format reference: https://www.w3.org/TR/png-3/
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';

/** Straight (not premultiplied) RGBA pixels, row by row, 4 bytes each. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG colour types and their samples per pixel. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])) >>> 0, 0);
  return Buffer.concat([head, body, crc]);
}

/** Encode RGBA pixels as a PNG (colour type 6, filter 0 on every row, best compression). */
export function encodePng(image: RgbaImage): Buffer {
  const { width, height, data } = image;
  if (data.length !== width * height * 4) throw new Error(`expected ${width * height * 4} bytes of RGBA, got ${data.length}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

/** Width and height from the IHDR chunk, without decoding the pixels. */
export function pngSize(file: Uint8Array): { width: number; height: number } {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.length < 24 || !buf.subarray(0, 8).equals(SIGNATURE) || buf.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error('not a PNG file');
  }
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Decode a PNG to RGBA. Supports bit depth 8, colour types 0/2/3/4/6, tRNS transparency; refuses
 * interlaced and 16-bit images with a message saying so (re-save the icon without them).
 */
export function decodePng(file: Uint8Array): RgbaImage {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const { width, height } = pngSize(buf);
  let bitDepth = 0;
  let colorType = 0;
  let interlace = 0;
  let palette: Buffer | undefined;
  let trns: Buffer | undefined;
  const idat: Buffer[] = [];
  for (let at = 8; at < buf.length;) {
    if (at + 12 > buf.length) throw new Error('truncated PNG chunk');
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const body = buf.subarray(at + 8, at + 8 + length);
    if (body.length !== length) throw new Error(`truncated PNG chunk ${type}`);
    if ((crc32(buf.subarray(at + 4, at + 8 + length)) >>> 0) !== buf.readUInt32BE(at + 8 + length)) {
      throw new Error(`PNG chunk ${type} has a bad checksum`);
    }
    if (type === 'IHDR') {
      bitDepth = body[8];
      colorType = body[9];
      interlace = body[12];
    } else if (type === 'PLTE') palette = body;
    else if (type === 'tRNS') trns = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  if (bitDepth !== 8) throw new Error(`PNG bit depth ${bitDepth} is not supported here: save the icon as 8-bit`);
  if (interlace !== 0) throw new Error('interlaced PNGs are not supported here: save the icon without interlacing');
  const channels = CHANNELS[colorType];
  if (!channels) throw new Error(`unknown PNG colour type ${colorType}`);
  if (colorType === 3 && !palette) throw new Error('palette PNG without a PLTE chunk');

  const stride = width * channels;
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length < (stride + 1) * height) throw new Error('PNG image data is shorter than its size says');
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : undefined;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[x - channels] : 0;
      const b = prev ? prev[x] : 0;
      const c = prev && x >= channels ? prev[x - channels] : 0;
      const predictor = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : filter === 4 ? paeth(a, b, c) : -1;
      if (predictor < 0) throw new Error(`unknown PNG filter ${filter} on row ${y}`);
      out[x] = (line[x] + predictor) & 0xff;
    }
  }

  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const p = pixels.subarray(i * channels, (i + 1) * channels);
    let rgba: [number, number, number, number];
    switch (colorType) {
      case 0: rgba = [p[0], p[0], p[0], trns && trns.length >= 2 && trns.readUInt16BE(0) === p[0] ? 0 : 255]; break;
      case 2: rgba = [p[0], p[1], p[2], trns && trns.length >= 6 && trns.readUInt16BE(0) === p[0] && trns.readUInt16BE(2) === p[1] && trns.readUInt16BE(4) === p[2] ? 0 : 255]; break;
      case 3: rgba = [palette![p[0] * 3], palette![p[0] * 3 + 1], palette![p[0] * 3 + 2], trns && p[0] < trns.length ? trns[p[0]] : 255]; break;
      case 4: rgba = [p[0], p[0], p[0], p[1]]; break;
      default: rgba = [p[0], p[1], p[2], p[3]];
    }
    data.set(rgba, i * 4);
  }
  return { width, height, data };
}
