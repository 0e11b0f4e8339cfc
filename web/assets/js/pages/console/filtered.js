// A staff list with filters, pages and a CSV export of the current filter: the audit log and the
// moderation records. The filter lives in the address (`#/console/audit?actor_id=3`), so a row's
// link or a shared address opens the same view; the export walks the API's pages of that filter.

import * as api from '../../api.js';
import { navigate } from '../../router.js';
import { csvText, download } from '../../csv.js';
import { actionButton, h, resultRegion, section } from '../../ui.js';
import { everyRow, paged, query } from './common.js';

/**
 * `fields` (built with `field()`, named as the API's query parameters, values taken from `initial`),
 * `path` of this page, `endpoint`, `key` of the rows in the answer, `draw(rows)`, `csv` `{ name,
 * header, row }`, `limit` (page size) and `exportLimit` (the API's largest page).
 */
export function filteredList({ fields, initial, path, endpoint, key, draw, csv, label, limit = 25, exportLimit = 100, convert = (v) => v }) {
  const filters = h('form', { class: 'form filters', role: 'search', 'aria-label': `Filter ${label}` }, fields, h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply filters'), h('button', { type: 'reset', class: 'secondary' }, 'Clear')));
  for (const [name, value] of initial) {
    const control = filters.elements.namedItem(name);
    if (control) control.value = convert.fromQuery ? convert.fromQuery(name, value) : value;
  }
  const current = () => {
    const values = {};
    for (const [name, value] of new FormData(filters)) values[name] = String(value).trim();
    return convert(values);
  };
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(`${path}${query(current())}`);
  });
  filters.addEventListener('reset', () => setTimeout(() => navigate(path)));
  const applied = Object.fromEntries(initial);
  const load = async (offset, size) => {
    const answer = await api.get(`${endpoint}${query({ ...applied, offset, limit: size })}`);
    return { rows: answer[key], total: answer.total };
  };
  const list = paged({ load, draw, limit, label });
  const exportResult = resultRegion();
  const exportButton = actionButton(
    'Export this filter as CSV',
    async () => {
      const { rows, complete } = await everyRow(load, exportLimit);
      download(csv.name, csvText(csv.header, rows.map(csv.row)));
      return `${rows.length} rows exported${complete ? '' : ' (the list changed while it was read; export again for the rest)'}.`;
    },
    { busyLabel: 'Exporting…', region: exportResult, done: (words) => words },
  );
  return [section('Filters', filters), section(`${label[0].toUpperCase()}${label.slice(1)}`, h('div', { class: 'section-actions' }, exportButton, exportResult), list)];
}
