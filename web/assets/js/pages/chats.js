// The chat list (`/#/chats`): every chat the caller can see (`GET /v1/portal/chats`, spec 60 §8.1:
// official, public, the caller's private chats, then their direct chats), creating a private chat
// (the API decides who may; its refusal, e.g. the slot limit, is shown next to the form), the
// invites of a chat one manages (create, copy the link, list, revoke) and leaving a chat.
// `GET /v1/users/me/chats` gives the group chats the caller owns, which use their chat slots.

import * as api from '../api.js';
import { link, navigate } from '../router.js';
import { dateTime } from '../format.js';
import { actionButton, confirmButton, failure, field, fill, form, h, loading, resultRegion, section, showResult } from '../ui.js';

const GROUPS = [
  ['official', 'Official chats'],
  ['public', 'Public chats'],
  ['private', 'Private chats'],
  ['direct', 'Direct chats'],
];

const EXPIRIES = [
  ['', 'Never'],
  ['3600', 'In 1 hour'],
  ['86400', 'In 1 day'],
  ['604800', 'In 7 days'],
];

/** The address a person opens to join with `code`. */
const inviteLink = (code) => `${location.origin}/#/invite/${encodeURIComponent(code)}`;

export default {
  title: 'Chats',
  access: 'member',
  async render(main, { user }) {
    const list = h('div', { id: 'chat-list' }, loading('Loading your chats…'));
    const owned = h('p', { class: 'hint', id: 'owned-count' });
    fill(
      main,
      h('h1', {}, 'Chats'),
      h('p', { class: 'lead' }, 'Messages are end-to-end encrypted in your browser; the server stores only ciphertext.'),
      h('div', { class: 'columns' }, section('Your chats', list), section('Create a private chat', owned, createForm())),
    );

    async function load() {
      try {
        const [{ items: chats }, mine] = await Promise.all([api.getList('/v1/portal/chats'), api.getList('/v1/users/me/chats')]);
        const groupsOwned = mine.items.filter((c) => c.chat_type === 'group').length;
        owned.textContent = groupsOwned === 1 ? 'You own 1 group chat.' : `You own ${groupsOwned} group chats.`;
        drawList(chats);
      } catch (error) {
        fill(list, failure(error));
      }
    }

    function drawList(chats) {
      if (!chats.length) {
        fill(list, h('p', {}, 'You are in no chat yet. Create one, or open an invite link someone sent you.'));
        return;
      }
      fill(
        list,
        GROUPS.map(([visibility, title]) => {
          const group = chats.filter((c) => c.visibility === visibility);
          if (!group.length) return null;
          return [h('h3', {}, title), h('ul', { class: 'list chats' }, group.map((chat) => chatItem(chat)))];
        }),
      );
    }

    function chatItem(chat) {
      const ownsIt = chat.owner?.id === user.id;
      const region = resultRegion();
      const extra = h('div', { class: 'invites' });
      const actions = h('div', { class: 'actions' });
      if (chat.chat_type === 'group' && (ownsIt || user.permission_level >= 1)) {
        actions.append(
          h('button', { type: 'button', class: 'small secondary', 'aria-expanded': 'false', onclick: (event) => toggleInvites(event.currentTarget, chat, extra) }, 'Invites'),
        );
      }
      if (chat.visibility === 'private' && !ownsIt) {
        actions.append(
          confirmButton(
            'Leave',
            async () => {
              await api.post(`/v1/portal/chats/${api.segment(chat.id)}/leave`);
              await load();
            },
            { question: `Leave ${chat.name}? You need a new invite to come back.`, confirmLabel: 'Yes, leave', className: 'small', busyLabel: 'Leaving…', region },
          ),
        );
      }
      const direct = chat.chat_type === 'direct';
      return h(
        'li',
        { 'data-chat-id': chat.id },
        h(
          'p',
          { class: 'chat-title' },
          h('a', { href: link(`/chats/${chat.id}`) }, chat.name),
          chat.label ? [' ', h('span', { class: 'tag' }, chat.label)] : null,
          direct ? [' ', h('span', { class: 'tag' }, chat.archived ? 'Direct, ended' : 'Direct')] : null,
          ownsIt ? [' ', h('span', { class: 'tag current' }, 'Yours')] : null,
        ),
        direct && chat.peer
          ? h('p', { class: 'hint' }, `With ${chat.peer.username}${chat.peer.is_stranger ? ' (no account)' : ''}.`, chat.archived ? ` Deleted ${dateTime(chat.expires_at)}.` : '')
          : chat.owner && !ownsIt
            ? h('p', { class: 'hint' }, `Owned by ${chat.owner.username}.`)
            : null,
        chat.description ? h('p', {}, chat.description) : null,
        actions.childElementCount ? actions : null,
        region,
        extra,
      );
    }

    function createForm() {
      return form({
        fields: [
          field({ label: 'Name', name: 'name', required: true, maxlength: '64', hint: '2 to 64 characters.' }),
          field({ label: 'Description (optional)', name: 'description', maxlength: '500' }),
        ],
        submitLabel: 'Create chat',
        busyLabel: 'Creating…',
        submit: ({ name, description }) => api.post('/v1/portal/chats', { name, description: description || null }),
        success: (chat) => {
          navigate(`/chats/${chat.id}`);
          return null;
        },
      });
    }

    await load();
  },
};

async function toggleInvites(button, chat, target) {
  const open = button.getAttribute('aria-expanded') === 'true';
  button.setAttribute('aria-expanded', String(!open));
  if (open) {
    fill(target);
    return;
  }
  const listed = h('ul', { class: 'list', 'aria-label': `Invites of ${chat.name}` });
  const listResult = resultRegion();
  const base = `/v1/portal/chats/${api.segment(chat.id)}/invites`;

  async function refresh() {
    try {
      const { invites } = await api.get(base);
      fill(listed, invites.length ? invites.map((invite) => inviteItem(invite)) : h('li', {}, 'No active invites.'));
    } catch (error) {
      // The API decides who manages a chat's invites; its refusal replaces the whole panel.
      fill(target, failure(error));
    }
  }

  function inviteItem(invite) {
    const address = inviteLink(invite.code);
    const region = resultRegion();
    const linkField = h('input', { type: 'text', readonly: true, value: address, class: 'invite-link', 'aria-label': `Invite link ${invite.code}` });
    return h(
      'li',
      { 'data-code': invite.code },
      linkField,
      h(
        'p',
        { class: 'hint' },
        `Uses: ${invite.uses}${invite.max_uses ? ` of ${invite.max_uses}` : ''}; `,
        invite.expires_at ? `expires ${dateTime(invite.expires_at)}.` : 'never expires.',
      ),
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'small',
            onclick: async () => {
              linkField.select();
              try {
                await navigator.clipboard.writeText(address);
                showResult(region, 'Link copied.', 'ok');
              } catch {
                showResult(region, 'The link is selected: copy it with Ctrl+C (⌘C).', 'ok');
              }
            },
          },
          'Copy link',
        ),
        actionButton(
          'Revoke',
          async () => {
            await api.post(`${base}/${api.segment(invite.code)}/delete`);
            await refresh();
          },
          { className: 'small secondary', busyLabel: 'Revoking…', region: listResult, done: () => 'Invite revoked.' },
        ),
      ),
      region,
    );
  }

  fill(
    target,
    h('h4', {}, `Invites of ${chat.name}`),
    form({
      className: 'form invite-form',
      fields: [
        field({ label: 'Uses (empty: unlimited)', name: 'max_uses', type: 'number', min: '1', max: '1000000', inputmode: 'numeric' }),
        field({ label: 'Expires', name: 'expires_in', type: 'select', options: EXPIRIES }),
      ],
      submitLabel: 'Create invite',
      busyLabel: 'Creating…',
      submit: ({ max_uses: maxUses, expires_in: expiresIn }) =>
        api.post(base, {
          max_uses: maxUses ? Number(maxUses) : null,
          expires_at: expiresIn ? new Date(Date.now() + Number(expiresIn) * 1000).toISOString() : null,
        }),
      success: (invite) => {
        refresh();
        return `Invite created: ${inviteLink(invite.code)}`;
      },
    }),
    listResult,
    listed,
  );
  await refresh();
}
