// The table of ended sessions (spec 20-users §3.5, and the Owner's view of a user, §2): one row a
// session with its device, address, place, start, end and why it ended. Shared by My sessions and a
// user's page.

import { dateTime, device, endReason, place } from './format.js';
import { h } from './ui.js';

/** The table of `sessions` with the element id `id` and a caption for screen readers. */
export function pastSessionsTable(id, caption, sessions) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { id },
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, ['Device', 'Address', 'Place', 'Started', 'Ended', 'Why'].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        {},
        sessions.map((s) =>
          h(
            'tr',
            {},
            h('td', {}, device(s.user_agent)),
            h('td', {}, s.client_ip),
            h('td', {}, place(s.geo) ?? 'Unknown'),
            h('td', {}, dateTime(s.created_at)),
            h('td', {}, dateTime(s.ended_at)),
            h('td', {}, endReason(s.end_reason)),
          ),
        ),
      ),
    ),
  );
}
