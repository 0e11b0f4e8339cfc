// Bar charts drawn as SVG by the page: one bar per `[label, value]`, the value written at the bar's
// end, and the same numbers as a table for screen readers (the drawing itself is `aria-hidden`).
// Colours come from the stylesheet (`.chart …`), so the strict style policy holds.

import { h, svg } from './ui.js';


const BAR = 22;
const GAP = 8;
const LABEL = 140;
const WIDTH = 480;

/** A horizontal bar chart of `rows` (`[label, value]`) titled `title`, in a `<figure>`. */
export function barChart(title, rows, { unit = '' } = {}) {
  const max = Math.max(1, ...rows.map(([, value]) => value));
  const height = rows.length * (BAR + GAP) + GAP;
  const drawing = svg('svg', { viewBox: `0 0 ${WIDTH} ${height}`, class: 'chart-drawing', 'aria-hidden': 'true', focusable: 'false' });
  const room = WIDTH - LABEL - 60;
  rows.forEach(([label, value], i) => {
    const y = GAP + i * (BAR + GAP);
    const length = Math.max(value > 0 ? 2 : 0, Math.round((value / max) * room));
    drawing.append(
      svg('text', { x: LABEL - 8, y: y + BAR / 2, class: 'chart-label', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, label),
      svg('rect', { x: LABEL, y, width: length, height: BAR, rx: 3, class: `chart-bar bar-${i % 6}` }),
      svg('text', { x: LABEL + length + 6, y: y + BAR / 2, class: 'chart-value', 'dominant-baseline': 'middle' }, `${value}${unit}`),
    );
  });
  return h(
    'figure',
    { class: 'chart' },
    h('figcaption', {}, title),
    rows.length ? drawing : h('p', { class: 'hint' }, 'Nothing to show yet.'),
    h(
      'table',
      { class: 'visually-hidden' },
      h('caption', {}, title),
      h('tbody', {}, rows.map(([label, value]) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, `${value}${unit}`)))),
    ),
  );
}
