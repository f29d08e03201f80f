/**
 * Tiny DOM helpers. Every piece of text goes through `textContent`, never
 * `innerHTML`: function names, labels and error messages are attacker-controlled.
 */

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') node.addEventListener(key.replace(/^on/, ''), value);
    else if (key === 'class') node.className = String(value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

export function clear(node: Node): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** A <select> of options; `value` is selected when present. */
export function select(
  options: { value: string; label?: string }[],
  value: string | undefined,
  attrs: Attrs = {},
): HTMLSelectElement {
  const s = el('select', attrs);
  for (const o of options) {
    const opt = el('option', { value: o.value }, o.label ?? o.value);
    if (o.value === value) opt.selected = true;
    s.appendChild(opt);
  }
  return s;
}

/** A message panel for empty, loading and error states. */
export function notice(kind: 'empty' | 'loading' | 'error', title: string, ...body: Child[]): HTMLElement {
  return el(
    'div',
    { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    el('strong', {}, title),
    ...body,
  );
}
