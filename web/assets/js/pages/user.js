// A user's page, `GET /v1/users/{user_id}` made visible (spec 20-users §2). The API decides what
// the viewer may see; this page draws whatever the answer holds and never reasons about ranks:
// the public card always; the staff fields and histories when they are present; past sessions
// when the list has entries.

import * as api from '../api.js';
import { actionName, actionStatus, dateTime, levelName, platformName, stateName, tierName } from '../format.js';
import { pastSessionsTable } from '../past-sessions.js';
import { placeChart } from '../place-chart.js';
import { avatar, facts, fill, h, loading, section } from '../ui.js';

export default {
  title: 'Profile',
  access: 'member',
  async render(main, { params }) {
    fill(main, h('h1', {}, 'Profile'), loading());
    const user = await api.get(`/v1/users/${api.segment(params.id)}`);
    document.title = `${user.username} — Portal`;
    fill(main, h('h1', {}, user.username), ...view(user));
  },
};

const has = (user, key) => Object.prototype.hasOwnProperty.call(user, key);

function view(user) {
  const parts = [
    section(
      'Profile',
      h('div', { class: 'profile-head' }, avatar(user.username, 'large'), h('p', {}, h('strong', {}, user.username), h('br'), `Plan: ${tierName(user.subscription_tier)}`)),
    ),
  ];
  if (has(user, 'state')) parts.push(staffFacts(user));
  if (has(user, 'linked_platforms')) parts.push(section('Linked platforms', linkedPlatforms(user.linked_platforms)));
  if (has(user, 'moderation_actions')) parts.push(section('Moderation history', moderation(user.moderation_actions)));
  if (has(user, 'chats')) parts.push(section('Chats they own', listOr(user.chats, (c) => `${c.name} — ${c.visibility}${c.archived ? ', archived' : ''} · created ${dateTime(c.created_at)}`, 'No chats.')));
  if (has(user, 'bots')) parts.push(section('Bots', listOr(user.bots, (b) => `${b.name} — ${platformName(b.platform)}, ${b.is_active ? 'active' : 'inactive'}, key ${b.api_key_prefix}…`, 'No bots.')));
  if (has(user, 'subscription_history'))
    parts.push(section('Subscription history', listOr(user.subscription_history, (e) => `${tierName(e.old_tier)} → ${tierName(e.new_tier)} · ${dateTime(e.created_at)}${e.reason ? ` · ${e.reason}` : ''}${e.granted_by_id ? ` · by user ${e.granted_by_id}` : ''}`, 'No changes.')));
  if (has(user, 'permission_history'))
    parts.push(section('Rank history', listOr(user.permission_history, (e) => `${levelName(e.old_level)} → ${levelName(e.new_level)} · ${dateTime(e.created_at)}${e.reason ? ` · ${e.reason}` : ''}${e.changed_by_id ? ` · by user ${e.changed_by_id}` : ''}`, 'No changes.')));
  if (Array.isArray(user.session_history) && user.session_history.length > 0) parts.push(pastSessions(user.session_history));
  return parts;
}

function staffFacts(user) {
  return section(
    'Account',
    facts([
      ['Id', String(user.id)],
      ['Rank', levelName(user.permission_level)],
      ['State', stateName(user.state)],
      ['Kind', user.kind],
      ['Plan ends', user.subscription_expires_at ? dateTime(user.subscription_expires_at) : '—'],
      ['Plan granted by', user.subscription_granted_by ? `user ${user.subscription_granted_by}` : '—'],
      ['Last seen', dateTime(user.last_activity_at)],
      ['Rank since', user.permission_since ? dateTime(user.permission_since) : '—'],
      ['Member since', dateTime(user.created_at)],
      ['Updated', dateTime(user.updated_at)],
    ]),
  );
}

function listOr(items, line, empty) {
  if (items.length === 0) return h('p', {}, empty);
  return h('ul', { class: 'list' }, items.map((item) => h('li', {}, line(item))));
}

function linkedPlatforms(links) {
  return listOr(links, (p) => `${platformName(p.platform)} — ${p.platform_username} (id ${p.platform_user_id}) · linked ${dateTime(p.linked_at)}`, 'No platform is linked.');
}

function moderation(actions) {
  return listOr(
    actions,
    (a) =>
      h(
        'span',
        {},
        h('strong', {}, actionName(a.action_type)),
        a.chat_id ? ` (chat ${a.chat_id})` : '',
        ` — ${actionStatus(a)} · ${dateTime(a.created_at)}`,
        a.reason ? ` · ${a.reason}` : '',
        a.issued_by_id ? ` · by user ${a.issued_by_id}` : '',
      ),
    'No moderation actions.',
  );
}

function pastSessions(sessions) {
  return section('Past sessions', placeChart(sessions), pastSessionsTable('user-past-sessions', 'Past sessions, most recent first', sessions));
}
