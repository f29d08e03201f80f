/**
 * Where a report is read: GitHub's markdown (a PR comment) or a terminal
 * (`flamewatch ci compare` at a prompt). Each escapes untrusted text for its
 * own reader: markdown turns every character that could make a link, a
 * mention or HTML into an entity; a terminal gets the text as it is, flattened
 * to one line and stripped of control characters (no escape sequences).
 */
export interface Medium {
  name: 'markdown' | 'text';
  /** Untrusted text in a line or table cell. */
  cell(text: string): string;
  /** A selector or other code-like text, quoted. */
  code(text: string): string;
  strong(text: string): string;
  /** A label that links to `url` where the medium can; the label alone where it cannot. */
  link(label: string, url: string | undefined): string;
  heading(text: string): string;
  /** A table: the header and its rows, cells already escaped. */
  table(header: string[], rows: string[][]): string[];
  /** A folded part: a summary line, then its lines. */
  details(summary: string, body: string[]): string[];
  /** A footnote. */
  small(text: string): string;
}

const MAX_NAME = 160;

const cut = (text: string) => (text.length > MAX_NAME ? `${text.slice(0, MAX_NAME - 1)}…` : text);

/**
 * Makes untrusted text (a function name, a selector) safe in a markdown table
 * cell: no line breaks, no cell separators, no HTML, no code spans, links,
 * emphasis or @mentions; long names are cut.
 */
export function escapeCell(text: string): string {
  // `:` and `/` too, and the dot of `www.`: GitHub links bare URLs, and a function name must not become one.
  return cut(text.replace(/[\r\n\t\u2028\u2029]+/g, ' '))
    .replace(/[&<>"|`\\*_[\]~@#!():/]/g, (c) => `&#${c.charCodeAt(0)};`)
    .replace(/(www)\./gi, '$1&#46;');
}

/**
 * Untrusted text for a terminal: one line, no control characters (an escape sequence could rewrite the screen)
 * and no bidirectional controls (they would reorder the rest of the line as displayed).
 */
export function plainText(text: string): string {
  return cut(
    text
      .replace(/[\r\n\t\u2028\u2029]+/g, ' ')
      .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?'),
  );
}

export const markdown: Medium = {
  name: 'markdown',
  cell: escapeCell,
  // Inside a code span a backtick or a line break would end it.
  code: (text) => `\`${text.replace(/[\r\n]+/g, ' ').replace(/`/g, "'")}\``,
  strong: (text) => `**${text}**`,
  link: (label, url) => (url ? `[${label}](${url})` : label),
  heading: (text) => `### ${text}`,
  table: (header, rows) => [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ],
  details: (summary, body) => [`<details><summary>${summary}</summary>`, '', ...body, '', '</details>'],
  small: (text) => `<sub>${text}</sub>`,
};

/** Columns padded to their widest cell (by code points: names are mostly ASCII, emoji are rare in cells). */
function aligned(header: string[], rows: string[][]): string[] {
  const width = header.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(width[i] - [...c].length)))
      .join('  ')
      .trimEnd();
  return [line(header), line(width.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

export const text: Medium = {
  name: 'text',
  cell: plainText,
  code: (t) => plainText(t),
  strong: (t) => t,
  link: (label) => label,
  heading: (t) => `${t}:`,
  table: aligned,
  details: (summary, body) => [`${summary}:`, '', ...body],
  small: (t) => t,
};
