/**
 * The timeline: the selection's value over time as D3 areas, with one brush
 * (explore: pick a range) or two (compare: baseline in the top band,
 * comparison in the bottom band, each its own brush so they never fight).
 */
import { axisBottom } from 'd3-axis';
import { brushX, type BrushBehavior, type D3BrushEvent } from 'd3-brush';
import { scaleLinear, scaleTime } from 'd3-scale';
import { select, type Selection } from 'd3-selection';
import { area, curveStepAfter } from 'd3-shape';
import { formatValue } from '../format';
import { axisTime } from '../time';

export interface Series {
  points: [number, number][];
  color: string;
  label: string;
}

export interface BrushSpec {
  key: string;
  color: string;
  label: string;
}

const HEIGHT = 96;
// The top margin holds the "peak" label, above the plot, so it never covers the areas.
const MARGIN = { top: 14, right: 12, bottom: 20, left: 12 };

export class Timeline {
  readonly element: HTMLElement;
  private svg: Selection<SVGSVGElement, unknown, null, undefined>;
  private range: [number, number] = [0, 1];
  private brushes = new Map<
    string,
    { brush: BrushBehavior<unknown>; g: Selection<SVGGElement, unknown, null, undefined> }
  >();
  private selections = new Map<string, [number, number] | null>();
  private quiet = false;
  private series: Series[] = [];
  private unit = '';

  constructor(
    private specs: BrushSpec[],
    private onBrush: (key: string, range: [number, number]) => void,
  ) {
    this.element = document.createElement('div');
    this.element.className = 'timeline';
    this.svg = select(this.element)
      .append('svg')
      .attr('role', 'group')
      .attr('aria-label', 'timeline: drag to select a time range');
    new ResizeObserver(() => this.render()).observe(this.element);
  }

  setData(series: Series[], range: [number, number], unit: string): void {
    this.series = series;
    this.range = range;
    this.unit = unit;
    this.render();
  }

  /** Shows a brush's range without firing onBrush (null hides it). */
  setSelection(key: string, range: [number, number] | null): void {
    this.selections.set(key, range);
    this.moveBrush(key);
  }

  private width(): number {
    return Math.max(200, this.element.clientWidth || 800);
  }

  private x() {
    return scaleTime()
      .domain(this.range.map((t) => new Date(t)))
      .range([MARGIN.left, this.width() - MARGIN.right]);
  }

  private render(): void {
    const width = this.width();
    const svg = this.svg
      .attr('width', width)
      .attr('height', HEIGHT)
      .attr('viewBox', `0 0 ${width} ${HEIGHT}`);
    svg.selectAll('*').remove();
    const x = this.x();
    let max = 0;
    for (const s of this.series) for (const [, v] of s.points) if (v > max) max = v;
    const y = scaleLinear()
      .domain([0, max || 1])
      .range([HEIGHT - MARGIN.bottom, MARGIN.top]);
    const shape = area<[number, number]>()
      .x((d) => x(d[0]))
      .y0(y(0))
      .y1((d) => y(d[1]))
      .curve(curveStepAfter);
    for (const s of this.series) {
      svg
        .append('path')
        .datum(s.points)
        .attr('class', 'timeline-area')
        .attr('fill', s.color)
        .attr('fill-opacity', this.series.length > 1 ? 0.35 : 0.5)
        .attr('stroke', s.color)
        .attr('d', shape);
    }
    svg
      .append('g')
      .attr('transform', `translate(0,${HEIGHT - MARGIN.bottom})`)
      .call(
        axisBottom(x)
          .ticks(Math.max(2, Math.floor(width / 110)))
          .tickFormat((d) => axisTime(d as Date)),
      );
    if (max > 0)
      svg
        .append('text')
        .attr('class', 'timeline-max')
        .attr('x', width - MARGIN.right)
        .attr('y', MARGIN.top - 4)
        .attr('text-anchor', 'end')
        .text(`peak ${formatValue(max, this.unit)} per step`);
    const bands = this.specs.length;
    const bandH = (HEIGHT - MARGIN.top - MARGIN.bottom) / bands;
    this.brushes.clear();
    this.specs.forEach((spec, i) => {
      const y0 = MARGIN.top + i * bandH;
      const brush = brushX<unknown>()
        .extent([
          [MARGIN.left, y0],
          [width - MARGIN.right, y0 + bandH],
        ])
        .on('end', (event: D3BrushEvent<unknown>) => {
          if (this.quiet || !event.sourceEvent) return;
          const sel = event.selection as [number, number] | null;
          if (!sel) return;
          const xs = this.x();
          const range: [number, number] = [
            Math.round(xs.invert(sel[0]).getTime()),
            Math.round(xs.invert(sel[1]).getTime()),
          ];
          this.selections.set(spec.key, range);
          this.onBrush(spec.key, range);
        });
      const g = svg
        .append('g')
        .attr('class', `brush brush-${spec.key}`)
        .attr('data-key', spec.key)
        .call(brush);
      g.select('.selection').attr('fill', spec.color).attr('fill-opacity', 0.25).attr('stroke', spec.color);
      if (bands > 1)
        g.append('text')
          .attr('class', 'brush-label')
          .attr('x', MARGIN.left + 4)
          .attr('y', y0 + 11)
          .text(spec.label);
      this.brushes.set(spec.key, { brush, g });
      this.moveBrush(spec.key);
    });
  }

  private moveBrush(key: string): void {
    const b = this.brushes.get(key);
    if (!b) return;
    const range = this.selections.get(key);
    const x = this.x();
    // A selection outside the domain (the range moved before the selection did) is hidden, not drawn with a negative width.
    const at = range
      ? ([Math.max(x.range()[0], x(range[0])), Math.min(x.range()[1], x(range[1]))] as [number, number])
      : null;
    this.quiet = true;
    b.brush.move(b.g, at && at[1] > at[0] ? at : null);
    this.quiet = false;
  }
}
