// My account (spec 20-users §3.3–3.10): username and avatar choice, linked platforms, subscription
// with its history, my punishments, and the chats I own.

import * as api from '../api.js';
import * as session from '../session.js';
import { link } from '../router.js';
import { actionName, actionStatus, dateTime, levelName, platformName, stateName, tierName } from '../format.js';
import { avatar, facts, failure, field, fill, form, h, loading, section } from '../ui.js';

const DEFAULT_AVATARS = [0, 1, 2, 3, 4, 5].map((n) => [`discord_${n}`, `Discord default picture ${n + 1}`]);

export default {
  title: 'My account',
  access: 'member',
  render(main, { user }) {
    const subscription = h('div', {}, loading());
    const punishments = h('div', {}, loading());
    const chats = h('div', {}, loading());
    const profile = h('div');
    fill(
      main,
      h('h1', {}, 'My account'),
      section('Profile', profile),
      h(
        'div',
        { class: 'columns' },
        section('Linked platforms', platforms(user)),
        section('Subscription', subscription),
      ),
      section('Punishments', punishments),
      section('My chats', chats),
    );
    drawProfile(profile, user);
    load(subscription, () => api.get('/v1/users/me/subscription'), subscriptionView);
    load(punishments, () => api.getList('/v1/users/me/punishments?limit=100'), punishmentsView);
    load(chats, () => api.getList('/v1/users/me/chats'), chatsView);
  },
};

function load(target, fetch, view) {
  fetch()
    .then((data) => fill(target, view(data)))
    .catch((error) => fill(target, failure(error)));
}

function drawProfile(target, user) {
  const summary = h('div');
  const avatarOptions = [['', 'Automatic (first linked platform)'], ...user.linked_platforms.map((p) => [p.platform, `My ${platformName(p.platform)} picture`]), ...DEFAULT_AVATARS];
  const editor = form({
    fields: [
      field({ label: 'Username', name: 'username', value: user.username, autocomplete: 'username', hint: '3 to 32 letters, digits, dots, dashes or underscores.' }),
      field({ label: 'Avatar', name: 'avatar_source', type: 'select', options: avatarOptions }),
    ],
    submitLabel: 'Save',
    busyLabel: 'Saving…',
    submit: async (values) => {
      const answer = await api.post('/v1/users/me/update', values);
      session.set(answer.user);
      if (answer.errors) {
        // Each field is judged alone (spec 20-users §3.4): say which were refused, and why.
        const [name, message] = Object.entries(answer.errors)[0];
        throw new api.ApiError({ status: 200, body: { code: 'ERR_VALIDATION', error: message, field: name } });
      }
      drawFacts(summary, answer.user);
      return answer.user;
    },
    success: () => 'Your profile was saved.',
  });
  editor.elements.namedItem('avatar_source').value = user.avatar_source ?? '';
  fill(target, summary, editor);
  drawFacts(summary, user);
}

function drawFacts(target, user) {
  fill(
    target,
    h('div', { class: 'profile-head' }, avatar(user.username, 'large'), h('p', {}, h('strong', { id: 'account-username' }, user.username))),
    facts([
      ['Member since', dateTime(user.created_at)],
      ['Rank', levelName(user.permission_level)],
      ['Rank since', user.permission_since ? dateTime(user.permission_since) : null],
      ['Account state', stateName(user.state)],
      ['Public profile', h('a', { href: link(`/users/${user.id}`) }, 'How others see me')],
    ]),
  );
}

function platforms(user) {
  if (user.linked_platforms.length === 0) return h('p', {}, 'No platform is linked.');
  return h(
    'ul',
    { class: 'list' },
    user.linked_platforms.map((p) =>
      h(
        'li',
        {},
        h('p', {}, h('strong', {}, platformName(p.platform)), ` — ${p.platform_username}`),
        h('p', { class: 'meta' }, `Id ${p.platform_user_id} · linked ${dateTime(p.linked_at)} · last login ${p.last_authenticated_at ? dateTime(p.last_authenticated_at) : 'never'}`),
      ),
    ),
  );
}

function subscriptionView(status) {
  return [
    facts([
      ['Plan', tierName(status.subscription_tier)],
      ['Active', status.is_active ? 'Yes' : 'No'],
      ['Ends', status.expires_at ? dateTime(status.expires_at) : status.subscription_tier === 3 ? 'Never' : '—'],
    ]),
    status.history.length
      ? h(
          'ul',
          { class: 'list', 'aria-label': 'Subscription history' },
          status.history.map((entry) =>
            h('li', {}, `${tierName(entry.old_tier)} → ${tierName(entry.new_tier)}`, h('p', { class: 'meta' }, `${dateTime(entry.created_at)}${entry.reason ? ` · ${entry.reason}` : ''}`)),
          ),
        )
      : h('p', { class: 'hint' }, 'No changes to your plan yet.'),
  ];
}

function punishmentsView({ items }) {
  if (items.length === 0) return h('p', { id: 'no-punishments' }, 'You have no warnings, timeouts, mutes or bans.');
  return h(
    'ul',
    { class: 'list', id: 'punishments' },
    items.map((action) =>
      h(
        'li',
        {},
        h('p', {}, h('strong', {}, actionName(action.action_type)), action.chat_id ? ` (chat ${action.chat_id})` : '', ` — ${actionStatus(action)}`),
        h('p', { class: 'meta' }, `${dateTime(action.created_at)}${action.reason ? ` · ${action.reason}` : ''}`),
      ),
    ),
  );
}

function chatsView({ items }) {
  if (items.length === 0) return h('p', {}, 'You own no chats.');
  return h(
    'ul',
    { class: 'list', id: 'my-chats' },
    items.map((chat) =>
      h(
        'li',
        {},
        h('p', {}, h('strong', {}, chat.name), ` — ${chat.chat_type === 'direct' ? 'direct chat' : chat.visibility}${chat.archived ? ', archived' : ''}`),
        h('p', { class: 'meta' }, `Created ${dateTime(chat.created_at)}${chat.peer ? ` · with ${chat.peer.username}` : ''}`),
      ),
    ),
  );
}
