/**
 * The canvas flame graph: draws a FlameModel, zooms into a node (ancestors
 * stay as full-width bars), highlights search matches, shows a tooltip, and
 * takes the keyboard. Rectangles are bucketed by palette colour and filled
 * one path per colour; labels are cut by character count in a monospace
 * font, so a frame never measures text. That keeps a 100k-node redraw within
 * one animation frame.
 */
import { el } from '../dom';
import { levels, nodeAt, pathOf, type FlameModel } from './model';

export interface FlameOptions {
  orientation: 'flame' | 'icicle';
  /** Palette index per node and the palette (see colors.ts). */
  colors: (m: FlameModel) => {
    palette: string[];
    nodeColor: Uint16Array;
    darkText?: (paletteIndex: number) => boolean;
  };
  /** Tooltip content for a node (built with textContent only). */
  tooltip: (m: FlameModel, node: number) => Node;
  onZoom?: (node: number, path: string[]) => void;
  onSandwich?: (name: string) => void;
  /** An accessible name for the canvas. */
  label: string;
}

const ROW = 18;
const FONT_PX = 12;
const FONT = `${FONT_PX}px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace`;
const DIM = 'rgb(236, 236, 236)';

export class FlameGraph {
  readonly element: HTMLElement;
  model: FlameModel | undefined;
  zoomNode = 0;
  focusNode = -1;
  /** Milliseconds the last draw() took, and how many draws there were (read by tests and the bench). */
  lastDrawMs = 0;
  draws = 0;
  private readonly canvas: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  private readonly tip: HTMLElement;
  private readonly ctx: CanvasRenderingContext2D;
  private charWidth = 7.2;
  private width = 0;
  private nameMatch: Uint8Array | undefined;
  private palette: string[] = [];
  private nodeColor: Uint16Array = new Uint16Array(0);
  private darkText: ((i: number) => boolean) | undefined;
  private hoverNode = -1;
  private frame = 0;
  // Scratch buffers for one frame's visible rectangles.
  private rx = new Float32Array(0);
  private ry = new Float32Array(0);
  private rw = new Float32Array(0);
  private rc = new Uint16Array(0);
  private rn = new Int32Array(0);
  private drawn = 0;

  constructor(private options: FlameOptions) {
    this.canvas = el('canvas', {
      class: 'flame-canvas',
      tabindex: 0,
      role: 'img',
      'aria-label': options.label,
    });
    this.overlay = el('canvas', { class: 'flame-overlay', 'aria-hidden': 'true' });
    this.tip = el('div', { class: 'tooltip', role: 'tooltip', hidden: true });
    this.element = el('div', { class: 'flame' }, this.canvas, this.overlay, this.tip);
    this.ctx = this.canvas.getContext('2d', { alpha: false })!;
    this.ctx.font = FONT;
    this.charWidth = this.ctx.measureText('M'.repeat(20)).width / 20 || 7.2;
    this.canvas.addEventListener('mousemove', (e) => this.onMove(e));
    this.canvas.addEventListener('mouseleave', () => this.hover(-1));
    this.canvas.addEventListener('click', (e) => this.onClick(e));
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    this.canvas.addEventListener('blur', () => this.setFocus(-1));
    new ResizeObserver(() => this.scheduleDraw()).observe(this.element);
  }

  setModel(model: FlameModel | undefined, zoomPathNames: string[] = []): void {
    this.model = model;
    this.focusNode = this.hoverNode = -1;
    this.zoomNode = 0;
    if (model) {
      const c = this.options.colors(model);
      this.palette = c.palette;
      this.nodeColor = c.nodeColor;
      this.darkText = c.darkText;
      if (this.rx.length < model.count) {
        this.rx = new Float32Array(model.count);
        this.ry = new Float32Array(model.count);
        this.rw = new Float32Array(model.count);
        this.rc = new Uint16Array(model.count);
        this.rn = new Int32Array(model.count);
      }
      if (zoomPathNames.length) this.zoomNode = nodeAt(model, zoomPathNames);
    }
    this.draw();
  }

  setOrientation(o: 'flame' | 'icicle'): void {
    this.options.orientation = o;
    this.draw();
  }

  /** Recolours (e.g. the diff mode changed) without losing zoom. */
  recolor(): void {
    if (!this.model) return;
    const c = this.options.colors(this.model);
    this.palette = c.palette;
    this.nodeColor = c.nodeColor;
    this.darkText = c.darkText;
    this.draw();
  }

  /** Flags per name index, or undefined for no search (everything drawn in colour). */
  setSearch(nameMatch: Uint8Array | undefined): void {
    this.nameMatch = nameMatch;
    this.draw();
  }

  /** Zooms into a node; `notify` false when the caller already knows (e.g. the URL changed). */
  zoomTo(node: number, notify = true): void {
    if (!this.model) return;
    this.zoomNode = node >= 0 && node < this.model.count ? node : 0;
    if (notify) this.options.onZoom?.(this.zoomNode, pathOf(this.model, this.zoomNode));
    this.draw();
  }

  scheduleDraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Names of the nodes that got a label in the last frame, left to right per row (for tests). */
  labelled(): string[] {
    const m = this.model;
    if (!m) return [];
    const out: string[] = [];
    for (let i = 0; i < this.drawn; i++)
      if (this.rw[i] >= this.minLabelWidth()) out.push(m.names[m.name[this.rn[i]]]);
    return out;
  }

  /** The rectangle of a node in CSS pixels within the canvas, if drawn. */
  boxOf(node: number): { x: number; y: number; w: number; h: number } | undefined {
    for (let i = 0; i < this.drawn; i++)
      if (this.rn[i] === node) return { x: this.rx[i], y: this.ry[i], w: this.rw[i], h: ROW - 1 };
    return undefined;
  }

  draw(): void {
    const t0 = performance.now();
    const m = this.model;
    const width = Math.max(100, this.element.clientWidth || 800);
    const rows = m ? levels(m) : 0;
    const height = Math.max(ROW, rows * ROW);
    const dpr = window.devicePixelRatio || 1;
    for (const c of [this.canvas, this.overlay]) {
      if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
        c.width = Math.round(width * dpr);
        c.height = Math.round(height * dpr);
        c.style.width = `${width}px`;
        c.style.height = `${height}px`;
      }
    }
    this.width = width;
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, width, height);
    this.drawn = 0;
    if (m && m.count > 0) this.collect(m, rows);
    this.paint(m);
    this.paintOverlay();
    this.lastDrawMs = performance.now() - t0;
    this.draws++;
    this.canvas.dataset.draws = String(this.draws);
  }

  private rowY(depth: number, rows: number): number {
    return this.options.orientation === 'icicle' ? depth * ROW : (rows - 1 - depth) * ROW;
  }

  /** Gathers the visible rectangles of this frame into the scratch buffers. */
  private collect(m: FlameModel, rows: number): void {
    const z = this.zoomNode;
    const vx0 = m.x[z];
    const vw = m.w[z] || 1;
    const scale = this.width / vw;
    const match = this.nameMatch;
    const dimIndex = this.palette.length; // one past the palette: drawn as DIM
    let k = 0;
    for (let a = m.parent[z]; a >= 0; a = m.parent[a]) {
      this.rx[k] = 0;
      this.ry[k] = this.rowY(m.depth[a], rows);
      this.rw[k] = this.width;
      this.rc[k] = match && !match[m.name[a]] ? dimIndex : this.nodeColor[a];
      this.rn[k++] = a;
    }
    const vx1 = vx0 + vw;
    for (let d = m.depth[z]; d < rows; d++) {
      const start = m.levelStart[d];
      const end = m.levelStart[d + 1];
      // First node whose right edge is past the window's left edge.
      let lo = start;
      let hi = end;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (m.x[mid] + m.w[mid] <= vx0) lo = mid + 1;
        else hi = mid;
      }
      const y = this.rowY(d, rows);
      let lastRight = -1;
      for (let n = lo; n < end && m.x[n] < vx1; n++) {
        const px = (m.x[n] - vx0) * scale;
        const pw = m.w[n] * scale;
        // Sub-pixel nodes that land on a pixel already drawn add nothing.
        if (pw < 0.5 && px < lastRight) continue;
        this.rx[k] = px;
        this.ry[k] = y;
        this.rw[k] = pw;
        this.rc[k] = match && !match[m.name[n]] ? dimIndex : this.nodeColor[n];
        this.rn[k++] = n;
        lastRight = px + Math.max(pw, 1);
      }
    }
    this.drawn = k;
  }

  private minLabelWidth(): number {
    return this.charWidth * 3 + 6;
  }

  private paint(m: FlameModel | undefined): void {
    const ctx = this.ctx;
    const k = this.drawn;
    const colors = this.palette.length + 1;
    // Counting sort of rectangles by colour, then one path per colour.
    const counts = new Int32Array(colors + 1);
    for (let i = 0; i < k; i++) counts[this.rc[i] + 1]++;
    for (let c = 0; c < colors; c++) counts[c + 1] += counts[c];
    const order = new Int32Array(k);
    const next = counts.slice(0, colors);
    for (let i = 0; i < k; i++) order[next[this.rc[i]]++] = i;
    for (let c = 0; c < colors; c++) {
      if (counts[c] === counts[c + 1]) continue;
      ctx.beginPath();
      for (let j = counts[c]; j < counts[c + 1]; j++) {
        const i = order[j];
        const w = this.rw[i];
        ctx.rect(this.rx[i], this.ry[i], w > 2 ? w - 0.5 : Math.max(w, 0.5), ROW - 1);
      }
      ctx.fillStyle = c < this.palette.length ? this.palette[c] : DIM;
      ctx.fill();
    }
    if (!m) return;
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    const minW = this.minLabelWidth();
    for (const light of [false, true]) {
      ctx.fillStyle = light ? '#fff' : '#1b1b1b';
      for (let i = 0; i < k; i++) {
        const w = this.rw[i];
        if (w < minW) continue;
        const c = this.rc[i];
        const dark = c < this.palette.length && this.darkText ? this.darkText(c) : false;
        if (dark !== light) continue;
        const n = this.rn[i];
        const name = m.names[m.name[n]];
        const fit = Math.floor((w - 6) / this.charWidth);
        const label = name.length <= fit ? name : `${name.slice(0, fit - 1)}…`;
        ctx.fillText(label, Math.max(this.rx[i], 0) + 3, this.ry[i] + ROW / 2);
      }
    }
  }

  /** Hover and keyboard focus outlines live on a second canvas, so moving the mouse never redraws the graph. */
  private paintOverlay(): void {
    const ctx = this.overlay.getContext('2d')!;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    for (const [node, style] of [
      [this.hoverNode, '#222'],
      [this.focusNode, '#0a58ca'],
    ] as const) {
      if (node < 0) continue;
      const b = this.boxOf(node);
      if (!b) continue;
      ctx.strokeStyle = style;
      ctx.lineWidth = node === this.focusNode ? 2 : 1;
      ctx.strokeRect(b.x + 0.5, b.y + 0.5, Math.max(b.w - 1, 1), b.h - 1);
    }
  }

  /** The node under a point in CSS pixels, or -1. */
  nodeAtPoint(px: number, py: number): number {
    const m = this.model;
    if (!m || m.count === 0) return -1;
    const rows = levels(m);
    const row = Math.floor(py / ROW);
    const d = this.options.orientation === 'icicle' ? row : rows - 1 - row;
    if (d < 0 || d >= rows) return -1;
    const z = this.zoomNode;
    if (d < m.depth[z]) {
      let a = z;
      while (m.depth[a] > d) a = m.parent[a];
      return a;
    }
    const v = m.x[z] + (px / this.width) * m.w[z];
    let lo = m.levelStart[d];
    let hi = m.levelStart[d + 1];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (m.x[mid] + m.w[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    if (lo < m.levelStart[d + 1] && m.x[lo] <= v && isInside(m, lo, z)) return lo;
    return -1;
  }

  private onMove(e: MouseEvent): void {
    const node = this.nodeAtPoint(e.offsetX, e.offsetY);
    this.hover(node, e.offsetX, e.offsetY);
  }

  private hover(node: number, px = 0, py = 0): void {
    if (node !== this.hoverNode) {
      this.hoverNode = node;
      this.paintOverlay();
    }
    this.showTip(node, px, py);
  }

  private showTip(node: number, px: number, py: number): void {
    if (node < 0 || !this.model) {
      this.tip.hidden = true;
      return;
    }
    this.tip.replaceChildren(this.options.tooltip(this.model, node));
    this.tip.hidden = false;
    const tw = this.tip.offsetWidth;
    const left = px + 16 + tw > this.width ? Math.max(0, px - tw - 12) : px + 16;
    this.tip.style.left = `${left}px`;
    this.tip.style.top = `${py + 18}px`;
  }

  private onClick(e: MouseEvent): void {
    const node = this.nodeAtPoint(e.offsetX, e.offsetY);
    if (node < 0 || !this.model) return;
    if (e.shiftKey && this.options.onSandwich) {
      this.options.onSandwich(this.model.names[this.model.name[node]]);
      return;
    }
    this.zoomTo(node === this.zoomNode ? Math.max(this.model.parent[node], 0) : node);
  }

  private setFocus(node: number): void {
    this.focusNode = node;
    this.paintOverlay();
    if (node >= 0) {
      const b = this.boxOf(node);
      this.showTip(node, b ? Math.max(0, b.x) : 0, b ? b.y : 0);
      this.canvas.setAttribute(
        'aria-label',
        `${this.options.label}: ${this.model!.names[this.model!.name[node]]}`,
      );
    } else this.tip.hidden = true;
  }

  private onKey(e: KeyboardEvent): void {
    const m = this.model;
    if (!m || m.count === 0) return;
    let f = this.focusNode >= 0 ? this.focusNode : this.zoomNode;
    const towardsLeaves = () => {
      let best = -1;
      for (let c = m.firstChild[f], end = c + m.childCount[f]; c !== -1 && c < end; c++)
        if (best < 0 || m.w[c] > m.w[best]) best = c;
      return best;
    };
    // Up and Down follow the picture: in a flame graph leaves are up, in an icicle down.
    const leafward = this.options.orientation === 'flame' ? 'ArrowUp' : 'ArrowDown';
    const rootward = this.options.orientation === 'flame' ? 'ArrowDown' : 'ArrowUp';
    switch (e.key) {
      case leafward: {
        const c = towardsLeaves();
        if (c >= 0) f = c;
        break;
      }
      case rootward:
        if (m.parent[f] >= 0) f = m.parent[f];
        break;
      case 'ArrowLeft':
        if (f > m.levelStart[m.depth[f]] && isInside(m, f - 1, this.zoomNode)) f--;
        break;
      case 'ArrowRight':
        if (f + 1 < m.levelStart[m.depth[f] + 1] && isInside(m, f + 1, this.zoomNode)) f++;
        break;
      case 'Enter':
        this.zoomTo(f);
        break;
      case 'Escape':
        this.zoomTo(Math.max(m.parent[this.zoomNode], 0));
        return;
      case 'Home':
        this.zoomTo(0);
        return;
      case 's':
        if (this.options.onSandwich) this.options.onSandwich(m.names[m.name[f]]);
        return;
      default:
        return;
    }
    e.preventDefault();
    this.setFocus(f);
  }
}

/** Whether node n lies inside the zoomed node's subtree (or is one of its ancestors). */
function isInside(m: FlameModel, n: number, z: number): boolean {
  if (m.depth[n] < m.depth[z]) {
    let a = z;
    while (m.depth[a] > m.depth[n]) a = m.parent[a];
    return a === n;
  }
  let a = n;
  while (m.depth[a] > m.depth[z]) a = m.parent[a];
  return a === z;
}
