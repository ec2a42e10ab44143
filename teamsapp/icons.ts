/**
 * Draws the app icons (a spreadsheet with a rising bar chart) and writes teamsapp/color.png and
 * teamsapp/outline.png: `npm run icons`. The PNGs are committed; run this again only to change them.
 *
 * Teams' rules: color.png 192×192, full colour, the symbol inside the central 96×96 with the
 * background running to the edges; outline.png 32×32, white on a transparent background.
 * Shapes are sampled 4×4 per pixel so edges are anti-aliased.
 */
import { writeFileSync } from 'node:fs';
import { isMain } from '../core/lifecycle.ts';
import { encodePng, type RgbaImage } from './png.ts';

/** The manifest's accentColor: the colour icon's background. */
export const ACCENT_COLOR = '#1E6E5A';

type Rgba = [r: number, g: number, b: number, a: number];
type Shape = (x: number, y: number) => boolean;

const SUBSAMPLES = 4;

function hex(color: string, alpha = 1): Rgba {
  const n = Number.parseInt(color.slice(1), 16);
  return [(n >> 16) / 255, ((n >> 8) & 0xff) / 255, (n & 0xff) / 255, alpha];
}

function roundRect(x0: number, y0: number, x1: number, y1: number, r: number): Shape {
  return (x, y) => {
    if (x < x0 || x > x1 || y < y0 || y > y1) return false;
    const dx = Math.max(x0 + r - x, 0, x - (x1 - r));
    const dy = Math.max(y0 + r - y, 0, y - (y1 - r));
    return dx * dx + dy * dy <= r * r;
  };
}

const rect = (x0: number, y0: number, x1: number, y1: number): Shape => roundRect(x0, y0, x1, y1, 0);
const both = (a: Shape, b: Shape): Shape => (x, y) => a(x, y) && b(x, y);
const without = (a: Shape, b: Shape): Shape => (x, y) => a(x, y) && !b(x, y);

/** A canvas of premultiplied RGBA floats; paint() composites a shape's coverage "over" it. */
class Canvas {
  readonly width: number;
  readonly height: number;
  private readonly px: Float64Array;

  constructor(width: number, height: number) {
    this.width = width;
    this.height = height;
    this.px = new Float64Array(width * height * 4);
  }

  paint(shape: Shape, [r, g, b, a]: Rgba): this {
    for (let y = 0; y < this.height; y++) {
      for (let x = 0; x < this.width; x++) {
        let hits = 0;
        for (let sy = 0; sy < SUBSAMPLES; sy++) {
          for (let sx = 0; sx < SUBSAMPLES; sx++) if (shape(x + (sx + 0.5) / SUBSAMPLES, y + (sy + 0.5) / SUBSAMPLES)) hits++;
        }
        const cover = (hits / (SUBSAMPLES * SUBSAMPLES)) * a;
        if (cover === 0) continue;
        const i = (y * this.width + x) * 4;
        this.px[i] = r * cover + this.px[i] * (1 - cover);
        this.px[i + 1] = g * cover + this.px[i + 1] * (1 - cover);
        this.px[i + 2] = b * cover + this.px[i + 2] * (1 - cover);
        this.px[i + 3] = cover + this.px[i + 3] * (1 - cover);
      }
    }
    return this;
  }

  toImage(): RgbaImage {
    const data = new Uint8Array(this.width * this.height * 4);
    for (let i = 0; i < this.width * this.height; i++) {
      const a = this.px[i * 4 + 3];
      for (let c = 0; c < 3; c++) data[i * 4 + c] = a > 0 ? Math.round((this.px[i * 4 + c] / a) * 255) : 0;
      data[i * 4 + 3] = Math.round(a * 255);
    }
    return { width: this.width, height: this.height, data };
  }
}

/** 192×192: a white sheet with a tinted header row, grid lines and three rising bars on the accent colour. */
export function colorIcon(): RgbaImage {
  const sheet = roundRect(48, 50, 144, 142, 8);
  const grid = [rect(79, 70, 81.5, 142), rect(111, 70, 113.5, 142), rect(48, 93, 144, 95.5), rect(48, 117, 144, 119.5)];
  const canvas = new Canvas(192, 192)
    .paint(rect(0, 0, 192, 192), hex(ACCENT_COLOR))
    .paint(sheet, hex('#FFFFFF'))
    .paint(both(sheet, rect(48, 50, 144, 70)), hex('#BFE3D6'));
  for (const line of grid) canvas.paint(both(sheet, line), hex('#D5E7E0'));
  for (const [x, top] of [[57, 110], [88, 92], [119, 76]]) canvas.paint(roundRect(x, top, x + 16, 134, 2), hex('#2F9C7F'));
  return canvas.toImage();
}

/** 32×32: the same sheet as a white outline with a filled header and three bars, on transparency. */
export function outlineIcon(): RgbaImage {
  const white = hex('#FFFFFF');
  const canvas = new Canvas(32, 32)
    .paint(without(roundRect(3, 4, 29, 28, 3), roundRect(5, 6, 27, 26, 1.5)), white)
    .paint(rect(5, 6, 27, 11), white);
  for (const [x, top] of [[7, 19], [14, 16], [21, 13]]) canvas.paint(rect(x, top, x + 4, 24), white);
  return canvas.toImage();
}

if (isMain(import.meta.url)) {
  for (const [name, image] of [['color.png', colorIcon()], ['outline.png', outlineIcon()]] as const) {
    const file = new URL(`./${name}`, import.meta.url);
    writeFileSync(file, encodePng(image));
    console.log(`wrote ${file.pathname} (${image.width}×${image.height})`);
  }
}
