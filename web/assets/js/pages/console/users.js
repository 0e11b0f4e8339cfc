// Finding people (spec 20 §3.11): by part of the name or the exact id through the API's search,
// narrowed by level, state and subscription. The search has no such filters, so when one is set
// the page reads every page of the search and keeps the matching full records; people the viewer
// does not outrank come back as public cards without those fields and cannot be narrowed. Admins
// also see the list of active subscriptions.

import * as api from '../../api.js';
import { link, navigate } from '../../router.js';
import { LEVELS, STATES, TIERS, dateTime, levelName, platformName, stateName, tierName } from '../../format.js';
import { field, fill, h, failure, loading, section } from '../../ui.js';
import { everyRow, frame, paged, query, table } from './common.js';
import { allows } from './rules.js';

const FILTERS = [
  ['level', 'permission_level'],
  ['state', 'state'],
  ['tier', 'subscription_tier'],
];

const choices = (names) => [['', 'Any'], ...names.map((name, i) => [String(i), name])];

function draw(users) {
  return table(
    'Users',
    ['User', 'Id', 'Level', 'State', 'Subscription', 'Platforms', 'Last seen'],
    users.map((u) => [
      h('a', { href: link(`/console/users/${u.id}`) }, u.username),
      String(u.id),
      u.permission_level === undefined ? 'not shown to you' : levelName(u.permission_level),
      u.state === undefined ? '—' : stateName(u.state),
      tierName(u.subscription_tier),
      u.linked_platforms ? u.linked_platforms.map((p) => `${platformName(p.platform)} ${p.platform_user_id}`).join(', ') : '—',
      u.last_activity_at ? dateTime(u.last_activity_at) : '—',
    ]),
  );
}

const search = (q) => async (offset, limit) => {
  const answer = await api.get(`/v1/users/search${query({ q, offset, limit })}`);
  return { rows: answer.users, total: answer.total };
};

/** Everyone whose subscription is in force (spec 40 §5), of the chosen tier when it is not Basic. */
function subscribers(tier) {
  return paged({
    load: async (offset, limit) => {
      const answer = await api.get(`/v1/admin/subscriptions/active${query({ tier: Number(tier) > 0 ? tier : '', offset, limit })}`);
      return { rows: answer.users, total: answer.total };
    },
    draw: (rows) =>
      table(
        'Active subscriptions',
        ['User', 'Subscription', 'Until'],
        rows.map((u) => [h('a', { href: link(`/console/users/${u.id}`) }, u.name), tierName(u.tier), u.expires_at ? dateTime(u.expires_at) : 'no end']),
      ),
    label: 'subscribers',
  });
}

export default {
  title: 'Users',
  access: 'member',
  render(main, { user, query: params }) {
    if (!frame(main, user, 'Users', '/console/users')) return;
    const form = h(
      'form',
      { class: 'form filters', role: 'search', 'aria-label': 'Find users' },
      field({ label: 'Name or id', name: 'q', type: 'search', maxlength: 50, value: params.get('q') ?? '', hint: 'Part of the name, or the exact user id.' }),
      field({ label: 'Level', name: 'level', type: 'select', options: choices(LEVELS) }),
      field({ label: 'State', name: 'state', type: 'select', options: choices(STATES) }),
      field({ label: 'Subscription', name: 'tier', type: 'select', options: choices(TIERS) }),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search')),
    );
    for (const [name] of FILTERS) form.elements.namedItem(name).value = params.get(name) ?? '';
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const values = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v).trim()]));
      navigate(`/console/users${query(values)}`);
    });
    const results = h('div', { id: 'user-results' });
    main.append(section('Find users', form), section('Results', results));
    if (allows(user, 'subscription')) main.append(section('Active subscriptions', subscribers(params.get('tier'))));

    const q = params.get('q') ?? '';
    const wanted = FILTERS.filter(([name]) => params.get(name)).map(([name, key]) => [key, Number(params.get(name))]);
    if (!wanted.length) {
      results.append(paged({ load: search(q), draw, limit: 25, label: 'users' }));
      return;
    }
    fill(results, loading('Reading every page of the search…'));
    everyRow(search(q), 100).then(
      ({ rows }) => {
        const full = rows.filter((u) => u.permission_level !== undefined);
        const kept = full.filter((u) => wanted.every(([key, value]) => u[key] === value));
        fill(
          results,
          h('p', { class: 'hint', role: 'status' }, `${kept.length} of ${rows.length} users match.${rows.length > full.length ? ` ${rows.length - full.length} shown to you only publicly could not be filtered.` : ''}`),
          kept.length ? draw(kept) : null,
        );
      },
      (error) => fill(results, failure(error)),
    );
  },
};
