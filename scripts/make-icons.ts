/**
 * Draws the Teams app icons (appPackage/color.png 192×192, appPackage/outline.png 32×32) with no image
 * tooling: shapes are inside-tests on a supersampled grid, and a tiny PNG encoder (Node zlib) writes them.
 *
 * Teams' rules the output must meet: the color icon is full color at 192×192; the outline icon is 32×32,
 * white on a transparent background, so every pixel here is pure white and only alpha varies.
 *
 * Run: `npm run icons` (compiles, then `node dist/scripts/make-icons.js [outDir]`). The PNGs are committed.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';

export type Rgba = readonly [number, number, number, number];

/** An RGBA8 raster, row-major, non-premultiplied. */
export interface Raster {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

// ---------------------------------------------------------------------------------------------- PNG encoder

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, payload: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(payload.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), payload]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** Encodes an RGBA8 raster as a PNG (color type 6, no interlace, filter 0 on every row). */
export function encodePng(img: Raster): Buffer {
  const { width, height, data } = img;
  if (data.length !== width * height * 4)
    throw new Error(`raster is ${data.length} bytes, expected ${width * height * 4}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // color type: RGBA
  ihdr[10] = 0; // compression
  ihdr[11] = 0; // filter method
  ihdr[12] = 0; // no interlace
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0;
    raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// -------------------------------------------------------------------------------------------------- shapes
// All shapes work in a unit square: (0,0) top-left, (1,1) bottom-right, so one design serves every size.

type Inside = (x: number, y: number) => boolean;

function roundRect(x0: number, y0: number, x1: number, y1: number, r: number): Inside {
  return (x, y) => {
    if (x < x0 || x > x1 || y < y0 || y > y1) return false;
    const cx = Math.min(Math.max(x, x0 + r), x1 - r);
    const cy = Math.min(Math.max(y, y0 + r), y1 - r);
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
  };
}

function triangle(ax: number, ay: number, bx: number, by: number, cx: number, cy: number): Inside {
  const side = (px: number, py: number, qx: number, qy: number, x: number, y: number): number =>
    (qx - px) * (y - py) - (qy - py) * (x - px);
  return (x, y) => {
    const d1 = side(ax, ay, bx, by, x, y);
    const d2 = side(bx, by, cx, cy, x, y);
    const d3 = side(cx, cy, ax, ay, x, y);
    return (d1 >= 0 && d2 >= 0 && d3 >= 0) || (d1 <= 0 && d2 <= 0 && d3 <= 0);
  };
}

/** A four-pointed spark: the superellipse |dx|^p + |dy|^p <= r^p with p < 1 has concave sides and sharp tips. */
function spark(cx: number, cy: number, r: number, p = 0.55): Inside {
  const rp = r ** p;
  return (x, y) => Math.abs(x - cx) ** p + Math.abs(y - cy) ** p <= rp;
}

const union =
  (...s: Inside[]): Inside =>
  (x, y) =>
    s.some((f) => f(x, y));
const minus =
  (a: Inside, ...b: Inside[]): Inside =>
  (x, y) =>
    a(x, y) && !b.some((f) => f(x, y));
const shifted =
  (s: Inside, dx: number, dy: number): Inside =>
  (x, y) =>
    s(x - dx, y - dy);

/** The speech bubble: a rounded body with a tail at its lower left. */
function bubble(x0: number, y0: number, x1: number, y1: number, r: number): Inside {
  const w = x1 - x0;
  const h = y1 - y0;
  const tail = triangle(
    x0 + w * 0.16,
    y1 - r * 0.6,
    x0 + w * 0.42,
    y1 - r * 0.6,
    x0 + w * 0.08,
    y1 + h * 0.26,
  );
  return union(roundRect(x0, y0, x1, y1, r), tail);
}

// ------------------------------------------------------------------------------------------------- painter

/** Paints layers front-to-back over a transparent canvas, with `ss`×`ss` samples per pixel for anti-aliasing. */
function paint(
  size: number,
  ss: number,
  layers: ReadonlyArray<{ shape: Inside; color: (x: number, y: number) => Rgba }>,
): Raster {
  const data = new Uint8Array(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      // Accumulate premultiplied color so that edges blend correctly, then un-premultiply once.
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const x = (px + (sx + 0.5) / ss) / size;
          const y = (py + (sy + 0.5) / ss) / size;
          // Painter's algorithm over the layers (last layer on top), source-over compositing.
          let cr = 0;
          let cg = 0;
          let cb = 0;
          let ca = 0;
          for (const layer of layers) {
            if (!layer.shape(x, y)) continue;
            const [lr, lg, lb, la] = layer.color(x, y);
            const al = la / 255;
            cr = lr * al + cr * (1 - al);
            cg = lg * al + cg * (1 - al);
            cb = lb * al + cb * (1 - al);
            ca = al + ca * (1 - al);
          }
          r += cr;
          g += cg;
          b += cb;
          a += ca;
        }
      }
      const n = ss * ss;
      const i = (py * size + px) * 4;
      const alpha = a / n;
      data[i + 3] = Math.round(alpha * 255);
      if (alpha > 0) {
        data[i] = Math.round(r / n / alpha);
        data[i + 1] = Math.round(g / n / alpha);
        data[i + 2] = Math.round(b / n / alpha);
      }
    }
  }
  return { width: size, height: size, data };
}

const mix = (a: Rgba, b: Rgba, t: number): Rgba => {
  const k = Math.min(1, Math.max(0, t));
  return [
    a[0] + (b[0] - a[0]) * k,
    a[1] + (b[1] - a[1]) * k,
    a[2] + (b[2] - a[2]) * k,
    a[3] + (b[3] - a[3]) * k,
  ];
};

const TOP_LEFT: Rgba = [0x7b, 0x5c, 0xff, 255]; // violet
const BOTTOM_RIGHT: Rgba = [0x2b, 0x1c, 0x9e, 255]; // deep indigo (the manifest's accentColor sits between)
const WHITE: Rgba = [255, 255, 255, 255];
const GOLD: Rgba = [0xff, 0xc8, 0x4a, 255];

/** 192×192 full-color icon: a rounded tile with a violet→indigo gradient, a white speech bubble, a spark. */
export function renderColorIcon(size = 192, ss = 4): Raster {
  const tile = roundRect(0, 0, 1, 1, 0.22);
  const gradient = (x: number, y: number): Rgba => {
    const base = mix(TOP_LEFT, BOTTOM_RIGHT, (x + y) / 2);
    // A soft light from the upper left gives the tile some depth.
    const glow = Math.max(0, 1 - Math.hypot(x - 0.2, y - 0.15) / 0.75) * 0.18;
    return mix(base, WHITE, glow);
  };
  const body = bubble(0.2, 0.24, 0.8, 0.7, 0.13);
  const shadow = shifted(body, 0.012, 0.03);
  const mainSpark = spark(0.5, 0.47, 0.17);
  const sideSpark = spark(0.79, 0.23, 0.085);
  return paint(size, ss, [
    { shape: tile, color: gradient },
    { shape: shadow, color: () => [0x14, 0x0a, 0x50, 70] },
    { shape: body, color: () => WHITE },
    { shape: mainSpark, color: (x, y) => mix(TOP_LEFT, BOTTOM_RIGHT, (x + y - 0.6) / 0.6) },
    // The small spark overlaps the bubble's corner; a ring in the tile color keeps it legible.
    { shape: spark(0.79, 0.23, 0.125), color: gradient },
    { shape: sideSpark, color: () => GOLD },
  ]);
}

/** 32×32 outline icon: white on transparent; the bubble is solid and the spark is cut out of it. */
export function renderOutlineIcon(size = 32, ss = 8): Raster {
  const body = bubble(0.09, 0.13, 0.91, 0.74, 0.17);
  const shape = minus(body, spark(0.5, 0.435, 0.215, 0.6));
  const img = paint(size, ss, [{ shape, color: () => WHITE }]);
  // Fully transparent pixels stay white too: the outline icon is "only white + alpha".
  for (let i = 0; i < img.data.length; i += 4) {
    img.data[i] = 255;
    img.data[i + 1] = 255;
    img.data[i + 2] = 255;
  }
  return img;
}

export function writeIcons(outDir: string): { color: string; outline: string } {
  const color = join(outDir, 'color.png');
  const outline = join(outDir, 'outline.png');
  writeFileSync(color, encodePng(renderColorIcon()));
  writeFileSync(outline, encodePng(renderOutlineIcon()));
  return { color, outline };
}

if (require.main === module) {
  const outDir = resolve(process.argv[2] ?? join(__dirname, '..', '..', 'appPackage'));
  const written = writeIcons(outDir);
  process.stdout.write(`wrote ${written.color} (192x192) and ${written.outline} (32x32)\n`);
}
