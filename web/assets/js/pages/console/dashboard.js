// The console's first page: the community in numbers. Counts by tier, bots and chats come from the
// statistics endpoints (spec 70); the server's health from `GET /v1/admin/health` (Admin+); who is
// online from the realtime presence. Users by level and state, sign-ups and last logins per day
// have no endpoint of their own: the page reads the full records the search shows this viewer
// (spec 20 §3.11: those the viewer outranks) and counts them, and says how many it could read.

import * as api from '../../api.js';
import * as presence from '../../presence.js';
import { barChart } from '../../chart.js';
import { LEVELS, STATES, TIERS, duration } from '../../format.js';
import { facts, failure, fill, h, loading, section } from '../../ui.js';
import { everyRow, frame } from './common.js';
import { allows } from './rules.js';

const DAYS = 14;

/** The last `DAYS` days (the reader's calendar) as `[label, count]` of the times in `isoTimes`. */
function perDay(isoTimes) {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const days = [];
  for (let i = DAYS - 1; i >= 0; i--) {
    const start = new Date(today);
    start.setDate(today.getDate() - i);
    days.push([start, 0]);
  }
  for (const iso of isoTimes) {
    if (!iso) continue;
    const time = new Date(iso);
    const day = days.findLast(([start]) => time >= start);
    if (day && time < new Date(today.getTime() + 86400000)) day[1]++;
  }
  const format = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
  return days.map(([start, count]) => [format.format(start), count]);
}

/** Fills `node` with what `load()` gives, drawn by `draw`, or the error in words. */
function part(node, load, draw) {
  fill(node, loading());
  load().then((value) => fill(node, draw(value)), (error) => fill(node, failure(error)));
  return node;
}

function counting(list, key, names) {
  return names.map((name, i) => [name, list.filter((u) => u[key] === i).length]);
}

function health(report) {
  return facts([
    ['Status', h('strong', { id: 'health-status' }, report.status)],
    ['Database', report.database ? 'answering' : 'not answering'],
    ['Database latency', `${report.db_statistics.latency_ms} ms`],
    ['Connections', `${report.db_statistics.checked_out} in use of ${report.db_statistics.size}`],
    ['Cache', report.cache ? 'answering' : 'not answering'],
    ['Cache latency', report.cache_statistics.latency_ms == null ? '—' : `${report.cache_statistics.latency_ms} ms`],
    ['Build', report.source_hash],
    ['Errors', (report.errors ?? []).join('; ') || 'none'],
  ]);
}

export default {
  title: 'Console',
  access: 'member',
  render(main, { user, keep }) {
    if (!frame(main, user, 'Console', '/console')) return;
    const online = h('p', { id: 'online-now', role: 'status' });
    const drawOnline = () => {
      const state = presence.state();
      online.textContent = state.known ? `${state.users.length} online now.` : 'Connecting to see who is online…';
    };
    keep(presence.onChange(drawOnline));
    drawOnline();

    const app = api.get('/v1/statistics/app');
    main.append(
      h(
        'div',
        { class: 'columns' },
        section(
          'Now',
          online,
          part(h('div', {}), () => app, (s) =>
            facts([['Version', s.version], ['Up for', duration(s.uptime_seconds)], ['Users', String(s.users.total_count)], ['Active in 24 hours', String(s.users.active_24h_count)]]),
          ),
        ),
        allows(user, 'health') ? section('Health', part(h('div', { id: 'health' }), () => api.get('/v1/admin/health'), health)) : null,
      ),
      section(
        'Subscriptions, bots and chats',
        part(h('div', { class: 'charts' }), () => app, (s) => [
          barChart('Users by subscription', TIERS.map((name, i) => [name, s.users[['basic_count', 'trial_count', 'premium_count', 'lifetime_count'][i]]])),
          barChart('Bots', [['Official', s.bots.official_count], ['Verified', s.bots.verified_count - s.bots.official_count], ['Community', s.bots.community_count], ['Active', s.bots.active_count]]),
          barChart('Chats', [['Public', s.chats.public_count], ['Private', s.chats.private_count]]),
        ]),
      ),
      section(
        'People',
        part(h('div', { class: 'charts', id: 'people-charts' }), () => everyRow(async (offset, limit) => {
          const answer = await api.get(`/v1/users/search?offset=${offset}&limit=${limit}`);
          return { rows: answer.users, total: answer.total };
        }, 100), ({ rows }) => {
          const full = rows.filter((u) => u.permission_level !== undefined);
          return [
            h('p', { class: 'hint' }, `Counted from the ${full.length} of ${rows.length} records your rank shows in full.`),
            barChart('Users by level', counting(full, 'permission_level', LEVELS)),
            barChart('Users by state', counting(full, 'state', STATES)),
            barChart(`Sign-ups, last ${DAYS} days`, perDay(full.map((u) => u.created_at))),
            barChart(`Last login, last ${DAYS} days`, perDay(full.flatMap((u) => u.linked_platforms.map((p) => p.last_authenticated_at)))),
          ];
        }),
      ),
    );
  },
};
