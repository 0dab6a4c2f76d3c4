// Helpers for screenshot assertions: decode a PNG (pngjs) and measure how much it shows.
import { PNG } from 'pngjs';

// Statistics over a region (default: the whole image) of a PNG buffer.
export function imageStats(buffer, region = null) {
  const png = PNG.sync.read(buffer);
  const { width, height, data } = png;
  const r = region || { x: 0, y: 0, w: width, h: height };
  const colors = new Set();
  let sum = 0, sumSq = 0, n = 0;
  for (let y = r.y; y < r.y + r.h; y++) {
    for (let x = r.x; x < r.x + r.w; x++) {
      const i = (y * width + x) * 4;
      const lum = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      sum += lum; sumSq += lum * lum; n++;
      if (colors.size < 5000) colors.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
  }
  const mean = sum / n;
  return { width, height, distinctColors: colors.size, lumaStdDev: Math.sqrt(Math.max(0, sumSq / n - mean * mean)) };
}

// A frame that drew a UI has many colours (anti-aliased text) and real contrast.
export function assertNotBlank(assert, stats, what) {
  assert.ok(stats.distinctColors >= 50, `${what}: only ${stats.distinctColors} distinct colours, looks blank`);
  assert.ok(stats.lumaStdDev >= 8, `${what}: luminance std-dev ${stats.lumaStdDev.toFixed(1)}, looks blank`);
}

// How many pixels of a region are within `tol` (per channel) of the colour [r, g, b].
export function countColor(buffer, region, rgb, tol = 6) {
  const png = PNG.sync.read(buffer);
  const { width, data } = png;
  let n = 0;
  for (let y = region.y; y < region.y + region.h; y++) {
    for (let x = region.x; x < region.x + region.w; x++) {
      const i = (y * width + x) * 4;
      if (Math.abs(data[i] - rgb[0]) <= tol && Math.abs(data[i + 1] - rgb[1]) <= tol && Math.abs(data[i + 2] - rgb[2]) <= tol) n++;
    }
  }
  return n;
}
