/** A sortable table: click a header to sort by it, again to reverse. Cells are text only. */
import { el } from '../dom';

export interface Column<T> {
  key: string;
  label: string;
  title?: string;
  value: (row: T) => number | string;
  format?: (row: T) => string;
  numeric?: boolean;
  className?: (row: T) => string | undefined;
}

export interface TableOptions<T> {
  columns: Column<T>[];
  /** `key` ascending, `-key` descending. */
  sort: string;
  onSort: (sort: string) => void;
  onRow?: (row: T) => void;
  rowTitle?: string;
  limit?: number;
  caption?: string;
  selected?: (row: T) => boolean;
}

export function sortRows<T>(rows: T[], columns: Column<T>[], sort: string): T[] {
  const desc = sort.startsWith('-');
  const col = columns.find((c) => c.key === sort.replace(/^-/, '')) ?? columns[0];
  return [...rows].sort((a, b) => {
    const va = col.value(a);
    const vb = col.value(b);
    const cmp =
      typeof va === 'number' && typeof vb === 'number'
        ? va - vb
        : String(va) < String(vb)
          ? -1
          : String(va) > String(vb)
            ? 1
            : 0;
    return desc ? -cmp : cmp;
  });
}

export function table<T>(rows: T[], o: TableOptions<T>): HTMLElement {
  const sorted = sortRows(rows, o.columns, o.sort);
  const shown = o.limit ? sorted.slice(0, o.limit) : sorted;
  const current = o.sort.replace(/^-/, '');
  const desc = o.sort.startsWith('-');
  const head = el(
    'tr',
    {},
    ...o.columns.map((c) => {
      const active = c.key === current;
      const next = active ? (desc ? c.key : `-${c.key}`) : c.numeric ? `-${c.key}` : c.key;
      return el(
        'th',
        {
          scope: 'col',
          class: c.numeric ? 'num' : undefined,
          'aria-sort': active ? (desc ? 'descending' : 'ascending') : undefined,
          title: c.title,
        },
        el(
          'button',
          { type: 'button', class: 'sort', 'data-sort': c.key, onclick: () => o.onSort(next) },
          c.label,
          active ? (desc ? ' ▼' : ' ▲') : '',
        ),
      );
    }),
  );
  const body = el('tbody');
  for (const row of shown) {
    const tr = el(
      'tr',
      { class: o.selected?.(row) ? 'selected' : undefined, title: o.rowTitle },
      ...o.columns.map((c) =>
        el(
          'td',
          { class: [c.numeric ? 'num' : 'name', c.className?.(row)].filter(Boolean).join(' ') },
          c.format ? c.format(row) : String(c.value(row)),
        ),
      ),
    );
    if (o.onRow) {
      tr.tabIndex = 0;
      tr.addEventListener('click', () => o.onRow!(row));
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') o.onRow!(row);
      });
    }
    body.appendChild(tr);
  }
  const t = el(
    'table',
    { class: 'data' },
    o.caption ? el('caption', {}, o.caption) : null,
    el('thead', {}, head),
    body,
  );
  const note =
    sorted.length > shown.length
      ? el('p', { class: 'muted' }, `Showing ${shown.length} of ${sorted.length} rows.`)
      : null;
  return el('div', { class: 'table-wrap' }, t, note);
}
