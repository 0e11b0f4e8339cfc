// Matchmaking for staff (spec 91 §8.8–8.13): the queue and direct-chat counters, reports to
// handle, and blocking strangers from matchmaking (with the list of blocks and lifting one).

import * as api from '../../api.js';
import { navigate } from '../../router.js';
import { facts, failure, field, fill, form, h, section } from '../../ui.js';
import { durationFields, frame, paged, person, query, reasonField, seconds, table, when } from './common.js';

const BLOCKS = [[86400, '1 day'], [604800, '7 days'], [2592000, '30 days'], [0, 'Permanent']];

function party(p) {
  const who = `${p.username}${p.is_stranger ? ' (stranger)' : ''}${p.country_code ? `, ${p.country_code}` : ''}`;
  return p.is_stranger ? `${who} #${p.user_id}` : h('span', {}, person(p.user_id), ` ${who}`);
}

export default {
  title: 'Matchmaking',
  access: 'member',
  render(main, { user, query: params }) {
    if (!frame(main, user, 'Matchmaking', '/console/matchmaking', 'matchmaking')) return;
    const handled = params.get('handled') ?? 'false';
    const stats = h('div', { id: 'match-stats' });
    const readStats = () =>
      api.get('/v1/admin/match/stats').then((s) =>
        fill(
          stats,
          facts([
            ['Searching now', String(s.searching_count)],
            ['Direct chats open', String(s.active_chat_count)],
            ['Direct chats archived', String(s.archived_chat_count)],
            ['Strangers signed in', String(s.stranger_count)],
            ['Reports to handle', String(s.open_report_count)],
          ]),
          s.queues.length ? table('Queues', ['Tag', 'Waiting'], s.queues.map((q) => [q.tag, String(q.waiting)])) : h('p', { class: 'hint' }, 'Nobody is waiting.'),
        ),
      );

    const reportFilter = h('form', { class: 'form', 'aria-label': 'Which reports' }, field({ label: 'Reports', name: 'handled', type: 'select', options: [['false', 'To handle'], ['true', 'Handled'], ['', 'All']] }), h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show reports')));
    reportFilter.elements.namedItem('handled').value = handled;
    reportFilter.addEventListener('submit', (event) => {
      event.preventDefault();
      navigate(`/console/matchmaking${query({ handled: reportFilter.elements.namedItem('handled').value })}`);
    });
    const reports = paged({
      load: async (offset, limit) => {
        const answer = await api.get(`/v1/admin/match/reports${query({ handled, offset, limit })}`);
        return { rows: answer.reports, total: answer.total };
      },
      draw: (rows) =>
        table(
          'Reports',
          ['When', 'Reporter', 'Reported', 'Reason', 'Matched on', 'Handled'],
          rows.map((r) => [when(r.created_at), party(r.reporter), party(r.reported), r.reason, r.matched_on.join(', '), r.handled ? [`by `, person(r.handled_by_id), ` ${r.note ?? ''}`] : handleForm(r)]),
        ),
      label: 'reports',
    });

    function handleForm(report) {
      return form({
        fields: [field({ label: `Note on report ${report.id}`, name: 'note', maxlength: 500 })],
        submitLabel: 'Mark handled',
        busyLabel: 'Saving…',
        submit: (v) => api.post(`/v1/admin/match/reports/${report.id}/handle`, { note: v.note || null }),
        success: (answer) => {
          reports.reload();
          readStats();
          return answer.message;
        },
      });
    }

    const blocks = paged({
      load: async (offset, limit) => {
        const answer = await api.get(`/v1/admin/strangers/blocks${query({ active_only: 'true', offset, limit })}`);
        return { rows: answer.blocks, total: answer.total };
      },
      draw: (rows) =>
        table(
          'Blocks in force',
          ['Stranger', 'Reason', 'Until', 'By', 'Lift'],
          rows.map((b) => [`${b.username} #${b.user_id}`, b.reason, b.expires_at ? when(b.expires_at) : 'permanent', person(b.issued_by_id), liftForm(b)]),
        ),
      label: 'blocks',
    });

    function liftForm(block) {
      return form({
        fields: [reasonField()],
        submitLabel: `Lift block ${block.id}`,
        busyLabel: 'Lifting…',
        submit: (v) => api.post(`/v1/admin/strangers/blocks/${block.id}/lift`, { reason: v.reason }),
        success: (answer) => {
          blocks.reload();
          return answer.message;
        },
      });
    }

    const block = form({
      fields: [field({ label: 'Stranger (user id)', name: 'user_id', type: 'number', min: 1, required: true }), ...durationFields('duration', 'For how long', BLOCKS), reasonField()],
      submitLabel: 'Block stranger',
      busyLabel: 'Blocking…',
      submit: (v) => api.post(`/v1/admin/strangers/${api.segment(v.user_id)}/block`, { duration: seconds(v, 'duration'), reason: v.reason }),
      success: (answer) => {
        blocks.reload(true);
        return answer.message;
      },
    });

    main.append(section('Now', stats), section('Reports', reportFilter, reports), section('Block a stranger', block), section('Blocks in force', blocks));
    readStats().catch((error) => fill(stats, failure(error)));
  },
};
