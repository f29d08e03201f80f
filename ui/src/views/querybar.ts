/**
 * The query bar: service, profile type, label matchers (typed, or picked from
 * the labels the service has), time range presets, refresh. In compare mode it
 * has a baseline and a comparison matcher and a "compare by label" shortcut
 * (pick `version`, then the two values).
 */
import { api, type ProfileType } from '../api';
import type { App } from '../app';
import { el, select } from '../dom';
import type { State } from '../state';
import { describeRange, PRESETS } from '../time';

const typeCache = new Map<string, Promise<ProfileType[]>>();

export function profileTypes(service: string): Promise<ProfileType[]> {
  let p = typeCache.get(service);
  if (!p) {
    p = api.profileTypes(service);
    typeCache.set(service, p);
    p.catch(() => typeCache.delete(service));
  }
  return p;
}

export function typeKey(t: ProfileType): string {
  return t.unit ? `${t.type}:${t.unit}` : t.type;
}

/** The default type of a service: CPU when there is one. */
export function defaultType(types: ProfileType[]): string {
  const pick =
    types.find((t) => t.type === 'cpu') ??
    types.find((t) => t.type === 'wall') ??
    types.find((t) => t.type === 'samples') ??
    types[0];
  return pick ? typeKey(pick) : '';
}

export class QueryBar {
  readonly element: HTMLElement;

  constructor(
    private app: App,
    private services: string[],
    private mode: 'explore' | 'compare',
  ) {
    this.element = el('form', { class: 'querybar', role: 'search', onsubmit: (e) => e.preventDefault() });
  }

  async render(s: State): Promise<void> {
    const types = s.service ? await profileTypes(s.service).catch(() => [] as ProfileType[]) : [];
    const service = select(
      this.services.map((v) => ({ value: v })),
      s.service,
      {
        'aria-label': 'service',
        name: 'service',
        onchange: (e) =>
          this.app.update(
            {
              service: (e.target as HTMLSelectElement).value,
              type: '',
              labels: '',
              left: '',
              right: '',
              zoom: '',
              fn: '',
            },
            { push: true },
          ),
      },
    );
    const type = select(
      types.map((t) => ({ value: typeKey(t), label: t.unit ? `${t.type} (${t.unit})` : t.type })),
      s.type,
      {
        'aria-label': 'profile type',
        name: 'type',
        onchange: (e) =>
          this.app.update({ type: (e.target as HTMLSelectElement).value, zoom: '', fn: '' }, { push: true }),
      },
    );
    const presetValue = s.until === 'now' && PRESETS.some((p) => p.from === s.from) ? s.from : 'custom';
    const range = select(
      [
        ...PRESETS.map((p) => ({ value: p.from, label: p.label })),
        ...(presetValue === 'custom' ? [{ value: 'custom', label: describeRange(s.from, s.until) }] : []),
      ],
      presetValue,
      {
        'aria-label': 'time range',
        name: 'range',
        onchange: (e) => {
          const v = (e.target as HTMLSelectElement).value;
          if (v !== 'custom')
            this.app.update(
              { from: v, until: 'now', lfrom: '', luntil: '', rfrom: '', runtil: '' },
              { push: true },
            );
        },
      },
    );
    const refresh = el(
      'button',
      {
        type: 'button',
        title: 'Fetch again (relative ranges move to now)',
        onclick: () => this.app.update({}, { push: false }),
      },
      'Refresh',
    );
    const fields: Node[] = [field('Service', service), field('Profile type', type)];
    if (this.mode === 'explore') {
      fields.push(this.matcherField('Labels', 'labels', s.labels, s));
    } else {
      fields.push(
        this.matcherField('Baseline', 'left', s.left, s),
        this.matcherField('Comparison', 'right', s.right, s),
      );
    }
    fields.push(field('Time range', range), refresh);
    this.element.replaceChildren(...fields);
    if (this.mode === 'compare' && s.service) this.element.appendChild(this.byLabel(s));
  }

  private matcherField(
    label: string,
    key: 'labels' | 'left' | 'right',
    value: string,
    s: State,
  ): HTMLElement {
    const input = el('input', {
      type: 'text',
      name: key,
      value,
      spellcheck: 'false',
      autocomplete: 'off',
      class: 'matchers',
      placeholder: 'version="1.5", region=~"eu-.*"',
      'aria-label': `${label} label matchers`,
    });
    const apply = () => {
      if (input.value !== this.app.state[key])
        this.app.update({ [key]: input.value.trim(), zoom: '' }, { push: true });
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') apply();
    });
    input.addEventListener('change', apply);
    const add = el(
      'button',
      {
        type: 'button',
        class: 'small',
        title: 'Add a filter from the labels this service has',
        'aria-label': `add a ${label.toLowerCase()} filter`,
      },
      '+',
    );
    const wrap = field(label, el('span', { class: 'matcher-row' }, '{', input, '}', add));
    add.addEventListener('click', () => {
      const existing = wrap.querySelector('.picker');
      if (existing) existing.remove();
      else
        wrap.appendChild(
          this.picker(s, (matcher) => {
            const cur = this.app.state[key].trim();
            this.app.update({ [key]: cur ? `${cur},${matcher}` : matcher, zoom: '' }, { push: true });
          }),
        );
    });
    return wrap;
  }

  /** Label name, then value: adds `name="value"`. */
  private picker(s: State, done: (matcher: string) => void): HTMLElement {
    const box = el('div', { class: 'picker' }, el('span', { class: 'muted' }, 'Loading labels…'));
    api.labels(s.service, s.from, s.until).then(
      (names) => {
        if (names.length === 0) {
          box.replaceChildren(el('span', { class: 'muted' }, 'No labels in this range.'));
          return;
        }
        const values = el('select', { 'aria-label': 'label value', disabled: true });
        const nameSel = select([{ value: '', label: 'label…' }, ...names.map((n) => ({ value: n }))], '', {
          'aria-label': 'label name',
          onchange: async () => {
            const vs = nameSel.value ? await api.labelValues(s.service, nameSel.value, s.from, s.until) : [];
            values.replaceChildren(
              el('option', { value: '' }, 'value…'),
              ...vs.map((v) => el('option', { value: v }, v)),
            );
            values.disabled = vs.length === 0;
          },
        });
        values.addEventListener('change', () => {
          if (nameSel.value && values.value !== '') done(`${nameSel.value}=${quote(values.value)}`);
        });
        box.replaceChildren(nameSel, ' = ', values);
      },
      (err: Error) =>
        box.replaceChildren(el('span', { class: 'error-text' }, `Could not load labels: ${err.message}`)),
    );
    return box;
  }

  /** The few-clicks path to a version comparison: one label, two of its values. */
  private byLabel(s: State): HTMLElement {
    const box = el('div', { class: 'bylabel' }, el('span', { class: 'muted' }, 'Compare by label: '));
    api.labels(s.service, s.from, s.until).then(
      (names) => {
        const current = /^([A-Za-z_][\w.\-/]*)="/.exec(s.left)?.[1] ?? '';
        const labelSel = select(
          [{ value: '', label: 'label…' }, ...names.map((n) => ({ value: n }))],
          names.includes(current) ? current : '',
          { 'aria-label': 'compare by label' },
        );
        const leftSel = el('select', { 'aria-label': 'baseline value' });
        const rightSel = el('select', { 'aria-label': 'comparison value' });
        const fill = async () => {
          const vs = labelSel.value ? await api.labelValues(s.service, labelSel.value, s.from, s.until) : [];
          for (const [sel, key] of [
            [leftSel, 'left'],
            [rightSel, 'right'],
          ] as const) {
            const want = new RegExp(`^${escapeRe(labelSel.value)}="(.*)"$`).exec(s[key])?.[1];
            sel.replaceChildren(
              el('option', { value: '' }, key === 'left' ? 'baseline…' : 'comparison…'),
              ...vs.map((v) => {
                const o = el('option', { value: v }, v);
                if (want !== undefined && unquote(want) === v) o.selected = true;
                return o;
              }),
            );
          }
        };
        const apply = () => {
          if (!labelSel.value || leftSel.value === '' || rightSel.value === '') return;
          this.app.update(
            {
              left: `${labelSel.value}=${quote(leftSel.value)}`,
              right: `${labelSel.value}=${quote(rightSel.value)}`,
              lfrom: '',
              luntil: '',
              rfrom: '',
              runtil: '',
              zoom: '',
            },
            { push: true },
          );
        };
        labelSel.addEventListener('change', () => void fill());
        leftSel.addEventListener('change', apply);
        rightSel.addEventListener('change', apply);
        void fill();
        box.append(labelSel, ' baseline ', leftSel, ' comparison ', rightSel);
      },
      () => box.remove(),
    );
    return box;
  }
}

function field(label: string, control: Node): HTMLElement {
  return el('label', { class: 'field' }, el('span', { class: 'field-label' }, label), control);
}

export function quote(v: string): string {
  return `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function unquote(v: string): string {
  return v.replace(/\\(.)/g, '$1');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
