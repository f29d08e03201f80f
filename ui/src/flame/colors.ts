/**
 * Node colours. Flame graphs: a warm hue per package or module, so one
 * library reads as one colour wherever it sits, with a little lightness
 * variation per function so neighbours stay apart. Diffs: a colour-blind-safe
 * diverging scale (ColorBrewer RdBu: blue shrank, red grew) on the change of
 * a node's share of its side's total, on a square-root scale.
 */
import { scaleDivergingSqrt } from 'd3-scale';
import { interpolateRdBu } from 'd3-scale-chromatic';
import type { FlameModel } from './model';

/** The package / module / class a frame name belongs to, by the conventions of the languages we ingest. */
export function packageOf(name: string): string {
  const n = name.replace(/\s*\(.*$/, '').replace(/^\[|\]$/g, '');
  const file = /^(.*\/)[^/]*\.(?:[jt]sx?|mjs|cjs|py|rb|go|rs)(?::|$)/.exec(n);
  if (file) return file[1];
  const cpp = n.indexOf('::');
  if (cpp > 0) return n.slice(0, cpp);
  const slash = n.lastIndexOf('/');
  if (slash > 0) {
    const dot = n.indexOf('.', slash);
    return dot > 0 ? n.slice(0, dot) : n.slice(0, slash);
  }
  const dot = n.lastIndexOf('.');
  if (dot > 0) {
    // Java/Kotlin/.NET: package.Class.method -> package.Class
    return n.slice(0, dot);
  }
  return n.startsWith('node:') || n.startsWith('(') ? n.split(/[:)]/)[0] : '';
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/**
 * A small palette and a palette index per name. Lightness is quantised to a
 * few steps so a frame has at most (packages × 4) colours: the renderer fills
 * all rectangles of one colour in a single path.
 */
export function flameColors(names: string[]): { palette: string[]; index: Uint16Array } {
  const palette: string[] = ['hsl(0, 0%, 78%)'];
  const paletteIndex = new Map<string, number>();
  const index = new Uint16Array(names.length);
  const byPackage = new Map<string, number>();
  for (let i = 0; i < names.length; i++) {
    if (i === 0 && names[i] === 'total') continue;
    const pkg = packageOf(names[i]);
    let h = byPackage.get(pkg);
    if (h === undefined) byPackage.set(pkg, (h = hash(pkg)));
    const color = `hsl(${(h % 50) + 5}, ${70 + ((h >>> 8) % 4) * 6}%, ${50 + (hash(names[i]) % 4) * 5}%)`;
    let k = paletteIndex.get(color);
    if (k === undefined) {
      k = palette.length;
      if (k >= 65535) k = 0;
      else {
        palette.push(color);
        paletteIndex.set(color, k);
      }
    }
    index[i] = k;
  }
  return { palette, index };
}

export const DIFF_DOMAIN = 1; // colour saturates at ±100 % change

// Square-root scale: a +10 % change is already clearly tinted, +100 % saturates.
const diffScale = scaleDivergingSqrt<string>((t) => interpolateRdBu(1 - t))
  .domain([-DIFF_DOMAIN, 0, DIFF_DOMAIN])
  .clamp(true);

/**
 * The change a diff node's colour shows, as a fraction: relative mode
 * compares shares of each side's total, absolute mode raw values. A node
 * only on the comparison side is +∞ (new), only on the baseline −1 (gone).
 */
export function diffChange(m: FlameModel, n: number): number {
  const d = m.diff!;
  const l = d.mode === 'relative' ? (d.L > 0 ? d.leftTotal[n] / d.L : 0) : d.leftTotal[n];
  const r = d.mode === 'relative' ? (d.R > 0 ? d.rightTotal[n] / d.R : 0) : d.rightTotal[n];
  if (l === 0) return r === 0 ? 0 : Infinity;
  return (r - l) / l;
}

export function diffColor(change: number): string {
  // Below 1 % the change is noise in almost any profile: draw it neutral.
  if (Math.abs(change) < 0.01) return NEUTRAL;
  return diffScale(Number.isFinite(change) ? change : DIFF_DOMAIN);
}

const NEUTRAL = 'rgb(225, 225, 225)';
const BUCKETS = 20; // per side: 5 % steps up to ±100 %

/** The diff palette, quantised: index 0 neutral, then BUCKETS shrinking and BUCKETS growing steps. */
export const DIFF_PALETTE: string[] = [NEUTRAL];
for (let i = 1; i <= BUCKETS; i++) DIFF_PALETTE.push(diffScale(-DIFF_DOMAIN * (i / BUCKETS) ** 2));
for (let i = 1; i <= BUCKETS; i++) DIFF_PALETTE.push(diffScale(DIFF_DOMAIN * (i / BUCKETS) ** 2));

export function diffPaletteIndex(change: number): number {
  if (!(Math.abs(change) >= 0.01)) return 0;
  // Buckets are even steps of the scale's square root, so they follow the colours.
  const step = Math.min(
    BUCKETS,
    Math.max(1, Math.round(Math.sqrt(Math.min(Math.abs(change), DIFF_DOMAIN) / DIFF_DOMAIN) * BUCKETS)),
  );
  return change < 0 ? step : BUCKETS + step;
}

/** Strongly coloured diff cells take white text. */
export function diffDark(index: number): boolean {
  return index !== 0 && ((index - 1) % BUCKETS) + 1 >= 12;
}

/** Colours for the legend, from −DIFF_DOMAIN to +DIFF_DOMAIN. */
export function diffLegendStops(steps = 11): { change: number; color: string }[] {
  return Array.from({ length: steps }, (_, i) => {
    const t = -1 + (2 * i) / (steps - 1);
    const change = Math.sign(t) * t * t * DIFF_DOMAIN;
    return { change, color: diffScale(change) };
  });
}
