/**
 * One budget's value over time against its limit: a D3 line over the
 * series' points, the limit as a dashed horizontal line, and the windows
 * where the line is over it shaded. A point opens its step, a shaded window
 * the whole stretch over the limit (both by click or keyboard). Growth
 * budgets have no line to draw: their limit is on a change, not a level.
 */
import { axisBottom, axisLeft } from 'd3-axis';
import { scaleLinear, scaleTime } from 'd3-scale';
import { select, type Selection } from 'd3-selection';
import { line } from 'd3-shape';
import { axisTime, formatTime } from '../time';

export interface ChartPoint {
  t: number;
  value: number;
}

export interface ChartSpec {
  points: ChartPoint[];
  stepMs: number;
  /** The x domain, ms. */
  range: [number, number];
  /** The limit in the points' terms; undefined draws none (growth). */
  limit?: number;
  limitText?: string;
  format: (x: number) => string;
  /** The y axis's labels (default `format`). */
  axisFormat?: (x: number) => string;
  /** What the chart shows, for screen readers. */
  label: string;
  /** A point's step or a window over the limit, [from, until) in ms. */
  onPick: (window: [number, number], what: 'point' | 'over') => void;
}

const HEIGHT = 168;
const MARGIN = { top: 14, right: 14, bottom: 22, left: 74 };

/** Stretches of consecutive points over the limit, each as [first point's t, last point's t + one step). */
export function overWindows(
  points: ChartPoint[],
  limit: number | undefined,
  stepMs: number,
): [number, number][] {
  if (limit === undefined) return [];
  const out: [number, number][] = [];
  let start: number | undefined;
  let last = 0;
  for (const p of points) {
    if (p.value > limit) {
      start ??= p.t;
      last = p.t;
    } else if (start !== undefined) {
      out.push([start, last + stepMs]);
      start = undefined;
    }
  }
  if (start !== undefined) out.push([start, last + stepMs]);
  return out;
}

export class BudgetChart {
  readonly element: HTMLElement;
  /** Over-limit windows as drawn (for the tests). */
  windows: [number, number][] = [];
  draws = 0;
  private svg: Selection<SVGSVGElement, unknown, null, undefined>;

  constructor(private spec: ChartSpec) {
    this.element = document.createElement('div');
    this.element.className = 'budget-chart';
    this.svg = select(this.element).append('svg').attr('role', 'group').attr('aria-label', spec.label);
    this.windows = overWindows(spec.points, spec.limit, spec.stepMs);
    let width = 0;
    new ResizeObserver(() => {
      // Only a new width redraws: the observer also fires when the chart is attached.
      if (this.element.clientWidth && this.element.clientWidth !== width) {
        width = this.element.clientWidth;
        this.render();
      }
    }).observe(this.element);
    this.render();
  }

  get points(): ChartPoint[] {
    return this.spec.points;
  }

  get limit(): number | undefined {
    return this.spec.limit;
  }

  get stepMs(): number {
    return this.spec.stepMs;
  }

  private render(): void {
    const { points, limit, format, stepMs, onPick } = this.spec;
    const width = Math.max(260, this.element.clientWidth || 560);
    const svg = this.svg
      .attr('width', width)
      .attr('height', HEIGHT)
      .attr('viewBox', `0 0 ${width} ${HEIGHT}`);
    svg.selectAll('*').remove();
    const x = scaleTime()
      .domain(this.spec.range.map((t) => new Date(t)))
      .range([MARGIN.left, width - MARGIN.right]);
    let top = limit ?? 0;
    for (const p of points) if (p.value > top) top = p.value;
    const y = scaleLinear()
      .domain([0, top > 0 ? top * 1.12 : 1])
      .nice()
      .range([HEIGHT - MARGIN.bottom, MARGIN.top]);
    const [y0, y1] = [y.range()[1], y.range()[0]];

    svg
      .append('g')
      .attr('class', 'axis axis-x')
      .attr('transform', `translate(0,${HEIGHT - MARGIN.bottom})`)
      .call(
        axisBottom(x)
          .ticks(Math.max(2, Math.floor(width / 120)))
          .tickFormat((d) => axisTime(d as Date)),
      );
    svg
      .append('g')
      .attr('class', 'axis axis-y')
      .attr('transform', `translate(${MARGIN.left},0)`)
      .call(
        axisLeft(y)
          .ticks(4)
          .tickFormat((v) => (this.spec.axisFormat ?? format)(Number(v))),
      );

    // The stretches over the limit, under the line: a click opens the whole stretch.
    const pick = (win: [number, number], what: 'point' | 'over') => (event: Event) => {
      if (event instanceof KeyboardEvent && event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault();
      onPick(win, what);
    };
    for (const win of this.windows) {
      const x0 = x(new Date(win[0]));
      const rect = svg
        .append('rect')
        .attr('class', 'over-window')
        .attr('x', x0)
        .attr('y', y0)
        .attr('width', Math.max(4, x(new Date(win[1])) - x0))
        .attr('height', y1 - y0)
        .attr('tabindex', 0)
        .attr('role', 'button')
        .attr('data-from', win[0])
        .attr('data-until', win[1])
        .attr(
          'aria-label',
          `over the limit ${formatTime(win[0])} – ${formatTime(win[1])}: open the flame graph`,
        )
        .on('click', pick(win, 'over'))
        .on('keydown', pick(win, 'over'));
      rect
        .append('title')
        .text(
          `Over the limit ${formatTime(win[0])} – ${formatTime(win[1])}\nclick: open the flame graph of this window`,
        );
    }

    if (limit !== undefined) {
      const ly = y(limit);
      svg
        .append('line')
        .attr('class', 'limit-line')
        .attr('x1', MARGIN.left)
        .attr('x2', width - MARGIN.right)
        .attr('y1', ly)
        .attr('y2', ly);
      svg
        .append('text')
        .attr('class', 'limit-label')
        .attr('x', width - MARGIN.right - 2)
        .attr('y', ly - 4)
        .attr('text-anchor', 'end')
        .text(`limit ${this.spec.limitText ?? format(limit)}`);
    }

    const path = line<ChartPoint>()
      .x((p) => x(new Date(p.t)))
      .y((p) => y(p.value));
    svg.append('path').datum(points).attr('class', 'value-line').attr('d', path);

    const dots = svg.append('g').attr('class', 'points');
    for (const p of points) {
      const over = limit !== undefined && p.value > limit;
      const win: [number, number] = [p.t, p.t + stepMs];
      const g = dots
        .append('g')
        .attr('class', over ? 'point over' : 'point')
        .attr('data-t', p.t)
        .attr('tabindex', 0)
        .attr('role', 'button')
        .attr(
          'aria-label',
          `${formatTime(p.t)}: ${format(p.value)}${over ? ', over the limit' : ''}; open the flame graph`,
        )
        .on('click', pick(win, 'point'))
        .on('keydown', pick(win, 'point'));
      g.append('circle')
        .attr('class', 'dot')
        .attr('cx', x(new Date(p.t)))
        .attr('cy', y(p.value))
        .attr('r', 3.5);
      // A larger invisible target: the dot alone is hard to hit.
      g.append('circle')
        .attr('class', 'hit')
        .attr('cx', x(new Date(p.t)))
        .attr('cy', y(p.value))
        .attr('r', 8);
      g.append('title').text(
        `${formatTime(p.t)}: ${format(p.value)}${over ? ' (over the limit)' : ''}\nclick: open the flame graph of this step`,
      );
    }
    this.draws++;
  }
}
