// Chats (spec 60-chats §8): the chats I can see, official first (the API's order); a private chat
// of my own when the API allows it; invites of a chat (create, copy the link, revoke); leave or
// delete. Whether I may create a chat or manage a chat's invites is the API's answer, shown in
// words; the page offers the action and never guesses. The chat room itself is `#/chats/:id`.

import * as api from '../api.js';
import { link } from '../router.js';
import { dateTime } from '../format.js';
import { actionButton, announce, failure, field, fill, form, h, loading, resultRegion, section, showResult } from '../ui.js';

const VISIBILITY = { official: 'Official', public: 'Public', private: 'Private', direct: 'Direct' };

/** The invite link a person can send: it opens the join page of this front. */
export const inviteLink = (code) => `${location.origin}/${link(`/invite/${encodeURIComponent(code)}`)}`;

export default {
  title: 'Chats',
  access: 'member',
  async render(main, { user }) {
    const list = h('div', { id: 'chats' }, loading('Loading chats…'));
    fill(
      main,
      h('h1', {}, 'Chats'),
      section('Chats you can see', list),
      section('Start a private chat', createForm(list, user)),
    );
    await drawList(list, user);
  },
};

function createForm(list, user) {
  return form({
    fields: [
      field({ label: 'Name', name: 'name', required: true, hint: '2 to 64 characters.' }),
      field({ label: 'Description (optional)', name: 'description' }),
    ],
    submitLabel: 'Create chat',
    busyLabel: 'Creating…',
    submit: async ({ name, description }) => {
      const chat = await api.post('/v1/portal/chats', { name, description: description || null });
      await drawList(list, user);
      return chat;
    },
    success: (chat) => `Chat "${chat.name}" created. Only people you invite can join it.`,
  });
}

async function drawList(target, user) {
  let chats;
  try {
    ({ items: chats } = await api.getList('/v1/portal/chats'));
  } catch (error) {
    fill(target, failure(error));
    return;
  }
  if (chats.length === 0) {
    fill(target, h('p', {}, 'No chats yet.'));
    return;
  }
  fill(target, h('ul', { class: 'list chat-list' }, chats.map((chat) => chatItem(chat, user, target))));
}

function chatItem(chat, user, list) {
  const result = resultRegion('result small');
  const invites = h('div', { class: 'invites' });
  const mine = chat.owner?.id === user.id;
  const group = chat.chat_type === 'group';
  const actions = [];
  if (group) {
    const toggle = h('button', { type: 'button', class: 'small secondary', 'aria-expanded': 'false' }, 'Invites');
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') === 'true';
      toggle.setAttribute('aria-expanded', String(!open));
      if (open) fill(invites);
      else drawInvites(invites, chat);
    });
    actions.push(toggle);
  }
  if (group && !mine) {
    actions.push(
      actionButton('Leave', () => api.post(`/v1/portal/chats/${chat.id}/leave`), {
        busyLabel: 'Leaving…',
        region: result,
        className: 'small secondary',
        done: () => {
          announce(`You left ${chat.name}.`);
          drawList(list, user);
          return null;
        },
      }),
    );
  }
  if (mine) {
    actions.push(confirmedDelete(chat, result, () => drawList(list, user)));
  }
  return h(
    'li',
    { 'data-chat-id': chat.id },
    h(
      'p',
      {},
      h('strong', {}, chat.name),
      ' ',
      h('span', { class: 'tag' }, VISIBILITY[chat.visibility] ?? chat.visibility),
      chat.archived ? h('span', { class: 'tag' }, 'Archived') : null,
    ),
    chat.description ? h('p', {}, chat.description) : null,
    h('p', { class: 'meta' }, chat.owner ? `Owner: ${chat.owner.username}` : `With ${chat.peer?.username ?? 'a stranger'}`),
    h('div', { class: 'actions' }, actions),
    result,
    invites,
  );
}

/** Deleting is for good: the button asks once more before it acts. */
function confirmedDelete(chat, result, after) {
  const holder = h('span');
  const ask = h('button', { type: 'button', class: 'small secondary' }, 'Delete chat');
  ask.addEventListener('click', () => {
    const confirm = actionButton(`Delete "${chat.name}" for everyone`, () => api.post(`/v1/portal/chats/${chat.id}/delete`), {
      busyLabel: 'Deleting…',
      region: result,
      className: 'small',
      done: () => {
        announce(`${chat.name} was deleted.`);
        after();
        return null;
      },
    });
    const cancel = h('button', { type: 'button', class: 'small secondary', onclick: () => fill(holder, ask) }, 'Keep it');
    fill(holder, confirm, ' ', cancel);
    confirm.focus();
  });
  fill(holder, ask);
  return holder;
}

async function drawInvites(target, chat) {
  fill(target, loading('Loading invites…'));
  let invites;
  try {
    ({ invites } = await api.get(`/v1/portal/chats/${chat.id}/invites`));
  } catch (error) {
    fill(target, failure(error));
    return;
  }
  const result = resultRegion('result small');
  const creator = form({
    className: 'form inline',
    fields: [
      field({ label: 'Uses (empty: unlimited)', name: 'max_uses', type: 'number', min: '1', max: '1000000', inputmode: 'numeric' }),
      field({
        label: 'Valid for',
        name: 'expires_at',
        type: 'select',
        options: [
          ['', 'Until revoked'],
          ['1', '1 hour'],
          ['24', '1 day'],
          ['168', '7 days'],
        ],
      }),
    ],
    submitLabel: 'Create invite',
    busyLabel: 'Creating…',
    submit: async ({ max_uses, expires_at }) => {
      const body = {
        max_uses: max_uses === '' ? null : Number(max_uses),
        expires_at: expires_at === '' ? null : new Date(Date.now() + Number(expires_at) * 3600_000).toISOString(),
      };
      const invite = await api.post(`/v1/portal/chats/${chat.id}/invites`, body);
      await drawInvites(target, chat);
      announce('Invite created. Copy its link and send it to whom you want in the chat.');
      return invite;
    },
  });
  fill(
    target,
    h('h3', {}, `Invites of ${chat.name}`),
    invites.length === 0
      ? h('p', { class: 'hint' }, 'No active invites.')
      : h('ul', { class: 'list invite-list' }, invites.map((invite) => inviteItem(invite, chat, target, result))),
    result,
    creator,
  );
}

function inviteItem(invite, chat, target, result) {
  const address = inviteLink(invite.code);
  const copy = h('button', { type: 'button', class: 'small secondary' }, 'Copy link');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(address);
      showResult(result, 'Link copied.', 'ok');
    } catch {
      // Without clipboard access the link is selected, ready to be copied by hand.
      const range = document.createRange();
      range.selectNodeContents(copy.parentElement.querySelector('.invite-link'));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      showResult(result, 'The link is selected: copy it with your keyboard or menu.', 'ok');
    }
  });
  const revoke = actionButton('Revoke', () => api.post(`/v1/portal/chats/${chat.id}/invites/${encodeURIComponent(invite.code)}/delete`), {
    busyLabel: 'Revoking…',
    region: result,
    className: 'small secondary',
    done: () => {
      drawInvites(target, chat).then(() => announce('Invite revoked; its link no longer works.'));
      return null;
    },
  });
  const limits = [
    `used ${invite.uses}${invite.max_uses ? ` of ${invite.max_uses}` : ''} times`,
    invite.expires_at ? `valid until ${dateTime(invite.expires_at)}` : 'valid until revoked',
  ].join(' · ');
  return h(
    'li',
    { 'data-invite': invite.code },
    h('p', {}, h('code', { class: 'invite-link' }, address)),
    h('p', { class: 'meta' }, limits),
    h('div', { class: 'actions' }, copy, revoke),
  );
}
