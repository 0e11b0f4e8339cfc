// One person's staff page: the record the API shows this viewer (the elevated view of
// `GET /v1/users/{id}` for an Admin+ who outranks them, else the public card), their moderation
// records and audit rows, and a form for every act the viewer's rank allows (rules.js). After an
// act the page reads the person again, so the new state and the new audit row are what it shows.

import * as api from '../../api.js';
import { navigate } from '../../router.js';
import { dateTime, endReason, levelName, place, platformName, stateName, tierName } from '../../format.js';
import { facts, failure, field, fill, h, loading, section } from '../../ui.js';
import { actCard, confirmField, confirmName, durationFields, frame, outcomeLine, person, reasonField, seconds, table, when } from './common.js';
import { actionTable, auditTable, inForce } from './records.js';
import { allows, assignable, targetOf } from './rules.js';

const TIMEOUTS = [[600, '10 minutes'], [3600, '1 hour'], [86400, '1 day'], [604800, '7 days'], [2592000, '30 days']];
const BANS = [[0, 'Permanent'], [86400, '1 day'], [604800, '7 days'], [2592000, '30 days'], [31536000, '365 days']];
const MUTES = [[300, '5 minutes'], [3600, '1 hour'], [86400, '1 day'], [0, 'Until lifted']];

async function read(id) {
  const path = api.segment(id);
  const [profile, actions, audit] = await Promise.all([
    api.get(`/v1/users/${path}`),
    api.get(`/v1/admin/moderation/actions?user_id=${path}&limit=100`),
    api.get(`/v1/admin/audit/logs?target_type=user&target_id=${path}&limit=10`),
  ]);
  return { profile, actions: actions.actions, audit: audit.items };
}

/** The summary of what the API showed: full record or public card. */
function summary(profile, elevated) {
  return facts([
    ['Id', String(profile.id)],
    ['Name', profile.username],
    ['Level', elevated ? levelName(profile.permission_level) : undefined],
    ['State', elevated ? h('strong', { id: 'user-state' }, stateName(profile.state)) : undefined],
    ['Subscription', `${tierName(profile.subscription_tier)}${profile.subscription_expires_at ? ` until ${dateTime(profile.subscription_expires_at)}` : ''}`],
    ['Platforms', elevated ? profile.linked_platforms.map((p) => `${platformName(p.platform)} ${p.platform_user_id} (${p.platform_username})`).join(', ') || 'none' : undefined],
    ['Joined', elevated ? dateTime(profile.created_at) : undefined],
    ['Last seen', elevated ? dateTime(profile.last_activity_at) : undefined],
    ['Level since', elevated && profile.permission_since ? dateTime(profile.permission_since) : undefined],
  ]);
}

function histories(profile) {
  const parts = [
    section('Level changes', table('Level changes', ['When', 'From', 'To', 'By', 'Reason'], profile.permission_history.map((e) => [when(e.created_at), levelName(e.old_level), levelName(e.new_level), person(e.changed_by_id), e.reason]))),
    section('Subscription changes', table('Subscription changes', ['When', 'From', 'To', 'By', 'Reason'], profile.subscription_history.map((e) => [when(e.created_at), tierName(e.old_tier), tierName(e.new_tier), person(e.granted_by_id), e.reason]))),
    section('Chats owned', table('Chats owned', ['Chat', 'Visibility', 'Created'], profile.chats.map((c) => [h('a', { href: `#/console/chats/${c.id}` }, c.name), c.visibility, when(c.created_at)]))),
    section('Bots owned', table('Bots owned', ['Bot', 'Platform', 'Active'], profile.bots.map((b) => [h('a', { href: `#/console/bots/${b.id}` }, b.name), platformName(b.platform), b.is_active ? 'yes' : 'no']))),
  ];
  if (profile.session_history.length) {
    parts.push(section('Ended sessions', table('Ended sessions', ['Opened', 'Ended', 'How', 'Address', 'Place'], profile.session_history.map((s) => [when(s.created_at), when(s.ended_at), endReason(s.end_reason), s.client_ip, place(s.geo)]))));
  }
  return parts;
}

export default {
  title: 'User',
  access: 'member',
  async render(main, { user, params }) {
    if (!frame(main, user, 'User', '/console/users')) return;
    const id = Number(params.id);
    const outcome = outcomeLine();
    const body = h('div', {}, loading());
    main.append(outcome, body);

    async function refresh() {
      const data = await read(id);
      main.querySelector('h1').textContent = `User ${data.profile.username}`;
      draw(data);
    }

    const act = (title, fields, options) => actCard(outcome, title, fields, { after: refresh, ...options });

    function controls({ profile, actions }) {
      const target = targetOf(user, profile);
      const may = (what) => target !== null && allows(user, what, target);
      const path = `/v1/admin/users/${api.segment(id)}`;
      const holds = (type) => actions.some((a) => a.action_type === type && inForce(a));
      const list = [];
      if (may('warn')) list.push(act('Warn', [reasonField()], { label: 'Warn', busy: 'Warning…', post: (v) => api.post(`${path}/warn`, { reason: v.reason }) }));
      if (may('timeout')) {
        list.push(act('Time out', [...durationFields('duration', 'For how long', TIMEOUTS), reasonField()], { label: 'Time out', busy: 'Timing out…', post: (v) => api.post(`${path}/timeout`, { duration: seconds(v, 'duration'), reason: v.reason }) }));
      }
      if (may('untimeout') && holds('PLATFORM_TIMEOUT')) list.push(act('Lift the timeout', [reasonField()], { label: 'Lift timeout', busy: 'Lifting…', post: (v) => api.post(`${path}/untimeout`, { reason: v.reason }) }));
      if (may('ban')) {
        list.push(act('Ban', [...durationFields('duration', 'For how long', BANS), reasonField()], { label: 'Ban', busy: 'Banning…', post: (v) => api.post(`${path}/ban`, { duration: seconds(v, 'duration'), reason: v.reason }) }));
      }
      if (may('unban') && holds('PLATFORM_BAN')) list.push(act('Lift the ban', [reasonField()], { label: 'Unban', busy: 'Unbanning…', post: (v) => api.post(`${path}/unban`, { reason: v.reason }) }));
      if (may('hardMute')) {
        list.push(act('Mute in every chat', [...durationFields('duration', 'For how long', MUTES), reasonField(false)], { label: 'Mute everywhere', busy: 'Muting…', words: 'Muted in every chat.', post: (v) => api.post('/v1/portal/hard-mute', { user_id: id, duration: seconds(v, 'duration'), reason: v.reason || null }) }));
        if (holds('PLATFORM_MUTE')) list.push(act('Lift the mute', [reasonField(false)], { label: 'Unmute', busy: 'Unmuting…', words: 'The mute is lifted.', post: (v) => api.post('/v1/portal/hard-unmute', { user_id: id, reason: v.reason || null }) }));
      }
      if (may('permission')) {
        const levels = assignable(user.permission_level).filter((level) => level !== target.level);
        list.push(act('Set the level', [field({ label: 'New level', name: 'level', type: 'select', options: levels.map((l) => [String(l), levelName(l)]) }), reasonField()], { label: 'Set level', busy: 'Setting…', post: (v) => api.post(`${path}/permission`, { level: Number(v.level), reason: v.reason }) }));
      }
      if (may('subscription')) {
        list.push(
          act(
            'Grant a subscription',
            [
              field({ label: 'Tier', name: 'tier', type: 'select', options: [['TRIAL', 'Trial'], ['PREMIUM', 'Premium'], ['LIFETIME', 'Lifetime']] }),
              field({ label: 'Days (Premium)', name: 'duration_days', type: 'number', min: 1, max: 3650, value: '30', hint: 'Only Premium uses a number of days.' }),
              reasonField(false),
            ],
            { label: 'Grant subscription', busy: 'Granting…', post: (v) => api.post('/v1/admin/subscriptions/grant', { user_id: id, tier: v.tier, duration_days: v.tier === 'PREMIUM' ? Number(v.duration_days) : null, reason: v.reason || null }) },
          ),
        );
        if (profile.subscription_tier > 0) list.push(act('Revoke the subscription', [reasonField()], { label: 'Revoke subscription', busy: 'Revoking…', post: (v) => api.post('/v1/admin/subscriptions/revoke', { user_id: id, reason: v.reason }) }));
      }
      if (may('delete')) {
        list.push(
          act('Delete the account', [h('p', { class: 'hint' }, 'Deleting removes the account, its bots, its chats and its records. It cannot be undone.'), reasonField(), confirmField('Type the name to confirm')], {
            label: 'Delete user',
            busy: 'Deleting…',
            post: async (v) => {
              confirmName(v.confirm, profile.username);
              return api.post(`${path}/delete`, { reason: v.reason });
            },
            after: async () => navigate('/console/users'),
          }),
        );
      }
      return list.length ? h('div', { class: 'acts' }, list) : h('p', { class: 'hint', id: 'no-acts' }, 'Your rank allows no act on this person.');
    }

    function draw(data) {
      const { profile, actions, audit } = data;
      const elevated = Array.isArray(profile.moderation_actions);
      fill(
        body,
        section('Record', summary(profile, elevated), elevated ? null : h('p', { class: 'hint' }, 'Your rank shows you the public card of this person; the API still checks every act.')),
        section('Acts', controls(data)),
        section('Moderation records', actions.length ? actionTable(actions, { withTarget: false }) : h('p', { class: 'hint' }, 'No records.')),
        section('Latest audit rows', h('div', { id: 'user-audit' }, audit.length ? auditTable(audit) : h('p', { class: 'hint' }, 'No audit rows.')), h('p', {}, h('a', { href: `#/console/audit?target_type=user&target_id=${profile.id}` }, 'Every audit row about this person'))),
        elevated ? histories(profile) : null,
      );
    }

    try {
      await refresh();
    } catch (error) {
      fill(body, failure(error));
    }
  },
};

