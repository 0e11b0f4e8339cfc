// What every console page shares: the staff gate and the console's own navigation, links to the
// people a row names (their names fetched once per page visit), paged tables, the reason and
// duration fields every staff act carries, and walking all pages of a list (for CSV and counts).

import * as api from '../../api.js';
import { link } from '../../router.js';
import { dateTime } from '../../format.js';
import { failure, field, fill, form, h, loading, showResult } from '../../ui.js';
import { allows, isStaff } from './rules.js';

/** The console's sections: [path, label, act the viewer must be allowed]. */
const SECTIONS = [
  ['/console', 'Dashboard', 'records'],
  ['/console/users', 'Users', 'records'],
  ['/console/moderation', 'Moderation records', 'records'],
  ['/console/audit', 'Audit log', 'records'],
  ['/console/bots', 'Bots', 'bots'],
  ['/console/chats', 'Chats', 'chats'],
  ['/console/matchmaking', 'Matchmaking', 'matchmaking'],
  ['/console/notifications', 'Notifications', 'notifications'],
];

/**
 * Draws the page heading and the console navigation into `main`; false (with the reason in the
 * page) when the viewer is not staff or may not use this section (`act`).
 */
export function frame(main, user, title, current, act = 'records') {
  const nav = h(
    'nav',
    { 'aria-label': 'Console', class: 'console-nav' },
    h(
      'ul',
      {},
      SECTIONS.filter(([, , need]) => allows(user, need)).map(([path, label]) =>
        h('li', {}, h('a', { href: link(path), 'aria-current': path === current ? 'page' : false }, label)),
      ),
    ),
  );
  if (!isStaff(user) || !allows(user, act)) {
    fill(main, h('h1', {}, title), h('p', { class: 'error', role: 'alert', id: 'console-refused' }, 'This part of the console is for staff of a higher rank than yours.'));
    return false;
  }
  fill(main, h('h1', {}, title), nav);
  return true;
}

const names = new Map();

/** A link to a person's console page, `#42` until their name is known, then `name (#42)`. */
export function person(id) {
  if (id === null || id === undefined) return h('span', { class: 'hint' }, 'command-line tool');
  const anchor = h('a', { href: link(`/console/users/${id}`), 'data-user-id': id }, `#${id}`);
  if (!names.has(id)) names.set(id, api.get(`/v1/users/${api.segment(id)}`).then((u) => u.username, () => null));
  names.get(id).then((name) => {
    if (name) anchor.textContent = `${name} (#${id})`;
  });
  return anchor;
}

/** A table with `headings` and one row of cells per item (cells: strings or nodes). */
export function table(caption, headings, rows) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, headings.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell ?? '—'))))),
    ),
  );
}

/**
 * A paged list: `load(offset, limit)` resolves to `{ rows, total }`, `draw(rows)` to a node. Shows
 * "a–b of total" and Previous / Next; `reload()` on the returned node draws the same page again.
 */
export function paged({ load, draw, limit = 25, label }) {
  const body = h('div', {});
  const status = h('p', { class: 'hint', role: 'status' });
  const previous = h('button', { type: 'button', class: 'secondary small' }, 'Previous page');
  const next = h('button', { type: 'button', class: 'secondary small' }, 'Next page');
  const node = h('div', { class: 'paged' }, status, body, h('div', { class: 'section-actions' }, previous, next));
  let offset = 0;
  async function show() {
    fill(body, loading());
    previous.disabled = true;
    next.disabled = true;
    try {
      const { rows, total } = await load(offset, limit);
      fill(body, rows.length ? draw(rows) : h('p', { class: 'hint' }, `No ${label} match.`));
      status.textContent = total ? `${label[0].toUpperCase()}${label.slice(1)} ${offset + 1}–${offset + rows.length} of ${total}.` : '';
      previous.disabled = offset === 0;
      next.disabled = offset + rows.length >= total;
    } catch (error) {
      fill(body, failure(error));
    }
  }
  previous.addEventListener('click', () => {
    offset = Math.max(0, offset - limit);
    show();
  });
  next.addEventListener('click', () => {
    offset += limit;
    show();
  });
  node.reload = (fromStart = false) => {
    if (fromStart) offset = 0;
    return show();
  };
  show();
  return node;
}

/**
 * Every row of a paged list, page by page (`load(offset, limit)` → `{ rows, total }`), at most
 * `cap` rows; `{ rows, total, complete }`.
 */
export async function everyRow(load, limit, cap = 10000) {
  const rows = [];
  let total = 0;
  do {
    const page = await load(rows.length, limit);
    total = page.total;
    rows.push(...page.rows);
    if (!page.rows.length) break;
  } while (rows.length < total && rows.length < cap);
  return { rows, total, complete: rows.length >= total };
}

/** The reason every staff act carries (spec 30 §2.5: 1–500 characters). */
export const reasonField = (required = true) =>
  field({ label: required ? 'Reason' : 'Reason (optional)', name: 'reason', required, maxlength: 500, hint: required ? 'Required: it is stored with the act and shown in the audit log.' : null });

/** Seconds from a preset choice, or from the custom count and unit when the preset is `custom`. */
export function seconds(values, name) {
  if (values[name] !== 'custom') return Number(values[name]);
  return Math.round(Number(values[`${name}_count`]) * Number(values[`${name}_unit`]));
}

/** A duration choice: `presets` ([seconds, words]) and a custom count with a unit. */
export function durationFields(name, label, presets) {
  return [
    field({ label, name, type: 'select', options: [...presets.map(([value, words]) => [String(value), words]), ['custom', 'Other…']] }),
    h(
      'div',
      { class: 'inline-fields' },
      field({ label: 'Other: how many', name: `${name}_count`, type: 'number', min: 1, step: 1, hint: 'Used when “Other…” is chosen.' }),
      field({ label: 'Unit', name: `${name}_unit`, type: 'select', options: [['60', 'minutes'], ['3600', 'hours'], ['86400', 'days']] }),
    ),
  ];
}

/** When something happened, as a cell. */
export const when = (iso) => h('time', { datetime: iso ?? '' }, dateTime(iso));

/** A query string from `values`, leaving out empty ones. */
export function query(values) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) if (value !== '' && value !== null && value !== undefined) params.set(name, value);
  const text = params.toString();
  return text ? `?${text}` : '';
}

/**
 * A deletion asks for the name typed out; a mismatch is refused like the API refuses a field, so
 * the words appear next to the `confirm` field.
 */
export function confirmName(typed, name) {
  if (typed !== name) throw new api.ApiError({ status: 400, body: { code: 'ERR_CONFIRM', error: 'type the exact name to confirm', field: 'confirm' } });
}

/** The field that `confirmName` checks. */
export const confirmField = (label) => field({ label, name: 'confirm', autocomplete: 'off' });

/** The line where a staff page says the API's answer to the last act; focus moves there. */
export const outcomeLine = () => h('p', { class: 'result', id: 'action-result', role: 'status', 'aria-live': 'polite', tabindex: '-1' });

/**
 * An act as a card with its form: `post(values)` sends it, then `after()` (reading the page's
 * record again) runs, then the API's `message` is said in `outcome`. A refusal stays in the form,
 * next to the field it names. `words` are said when the answer carries no `message`.
 */
export function actCard(outcome, title, fields, { label, busy = 'Working…', post, after, words = 'Done.' }) {
  return h(
    'div',
    { class: 'card act', 'data-act': label },
    h('h3', {}, title),
    form({
      fields,
      submitLabel: label,
      busyLabel: busy,
      submit: async (values) => {
        outcome.textContent = '';
        const answer = await post(values);
        await after();
        showResult(outcome, answer?.message ?? words, 'ok');
        outcome.focus();
      },
    }),
  );
}
