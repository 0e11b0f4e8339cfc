// The end-to-end-encrypted room of one chat (spec 90), drawn into a container: its status line, the
// people present (live from `room:members`), the history with scroll-back, the composer and, for
// group chats, the controls the caller may use. The chat page and the strangers page both use it;
// a direct chat is joined with its match token (spec 91 §4.2).
//
// Keys: the device key is registered first (keystore.js); the room answers `room:key_request` by
// itself (generate a fresh key for the epoch, or seal the one held), opens `room:key` and the `key`
// of `room:joined`, and keeps every chat key it learns, so messages of older epochs stay readable
// here. A message whose key this device does not hold says so in words.

import * as api from './api.js';
import * as crypto from './crypto.js';
import * as keystore from './keystore.js';
import * as realtime from './realtime.js';
import { clock, dateTime, levelName } from './format.js';
import { actionButton, announce, confirmButton, describe, field, fill, form, h, resultRegion, section, showResult } from './ui.js';

const PAGE = 50;
const KEY_WAIT_MS = 15000;

const WORDS = {
  connecting: 'Connecting to the chat…',
  registering: 'Preparing this device’s encryption key…',
  waiting: 'Waiting for the key from another member…',
  ready: 'Messages are end-to-end encrypted; only the people in this chat can read them.',
  reconnecting: 'Connection lost — reconnecting; the chat will be joined again…',
};

const ROTATIONS = {
  clear: 'the chat was cleared',
  wipe: 'the messages were wiped automatically',
  kick: 'someone was kicked',
  ban: 'someone was banned',
  access_lost: 'someone lost access',
  join: 'someone joined while earlier history is hidden',
  key_lost: 'nobody present held the key',
  ended: 'the chat ended',
};

const REMOVED = {
  kick: 'You were removed from this chat (kicked). You cannot read what is sent there now.',
  ban: 'You were banned from this chat. You cannot read what is sent there now.',
  access_lost: 'You no longer have access to this chat.',
};

const WIPE_PRESETS = [
  ['off', 'Off'],
  ['1m', 'Every minute'],
  ['15m', 'Every 15 minutes'],
  ['1h', 'Every hour'],
  ['4h', 'Every 4 hours'],
  ['24h', 'Every day'],
];

/** Message ids `"{ms}-{seq}"` in their order (spec 90 §1.4). */
function compareIds(a, b) {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/**
 * Draws the room into `container` and joins it. `me` is the `/v1/users/me` answer (a stranger's
 * too); exactly one of `chatId` and `token`; `chat` the ChatSummary when known (group chats: it
 * names the owner, which decides what controls are shown); `keep` as in page contexts.
 * `onJoined(chatId)` runs after each `room:joined`. Returns `{ close(words) }`, which ends the
 * room for this page (a direct chat that ended) and leaves the composer read-only.
 */
export function mount(container, { me, chatId: givenId = null, token = null, chat = null, keep, onJoined = () => {} }) {
  let chatId = givenId;
  let epoch = null;
  let device = null;
  let deviceId = null;
  let closed = false;
  let historyLoaded = false;
  let members = [];
  const keys = new Map();
  const keyWaiters = new Set();
  const messages = new Map();
  const unreadable = new Map();
  const direct = Boolean(token) || chat?.chat_type === 'direct';
  // What the API says of the caller's role: the owner of the chat (its answer), or staff by their
  // own level. The API still decides every act; its refusals are shown next to the control.
  const manages = !direct && (chat?.owner?.id === me.id || me.permission_level >= 1);

  const status = h('p', { class: 'room-status', id: 'room-status', role: 'status', 'aria-live': 'polite' });
  const memberList = h('ul', { class: 'people room-members', id: 'room-members', 'aria-label': 'People in this chat' });
  const memberResult = resultRegion();
  const log = h('ol', { class: 'messages', id: 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages' });
  const olderResult = resultRegion();
  const older = h('div', { class: 'older' });
  const composerResult = resultRegion();
  const input = h('textarea', { id: 'message-input', name: 'message', rows: '2', maxlength: '2000', 'aria-describedby': 'message-hint' });
  const sendButton = h('button', { type: 'submit' }, 'Send');
  const composer = h(
    'form',
    { class: 'composer', id: 'composer', novalidate: true },
    h('label', { for: 'message-input' }, 'Message'),
    input,
    h('p', { class: 'hint', id: 'message-hint' }, 'Enter sends; Shift+Enter starts a new line.'),
    h('div', { class: 'actions' }, sendButton),
    composerResult,
  );
  const tools = h('div', { class: 'room-tools' });

  fill(
    container,
    status,
    h(
      'div',
      { class: 'room' },
      h('section', { class: 'card room-log', 'aria-labelledby': 'messages-heading' }, h('h2', { id: 'messages-heading' }, 'Messages'), older, olderResult, log, composer),
      h(
        'aside',
        { class: 'room-side' },
        h('section', { class: 'card', 'aria-labelledby': 'members-heading' }, h('h2', { id: 'members-heading' }, 'People here'), memberList, memberResult),
        tools,
      ),
    ),
  );

  function setStatus(words, kind = 'info') {
    status.textContent = words;
    status.dataset.kind = kind;
  }

  // ---- keys -------------------------------------------------------------------------------

  async function keyFor(e) {
    if (!keys.has(e)) {
      const stored = await keystore.chatKey(me.id, chatId, e);
      if (stored) keys.set(e, stored);
    }
    return keys.get(e);
  }

  async function learnKey(e, key) {
    keys.set(e, key);
    await keystore.saveChatKey(me.id, chatId, e, key);
    for (const waiter of keyWaiters) waiter();
    const pending = [...unreadable.entries()].filter(([, message]) => message.epoch === e);
    for (const [id, message] of pending) {
      unreadable.delete(id);
      showMessage(message);
    }
    if (e === epoch && !closed) setStatus(WORDS.ready, 'ok');
  }

  async function openBlob(blob) {
    if (!blob || blob.chat_id !== chatId) return;
    try {
      await learnKey(blob.epoch, await crypto.openChatKey(blob.blob, device.privateKey, device.publicKey));
    } catch (error) {
      console.error('a key blob did not open', error);
      setStatus('A key sent to this device could not be opened. Reload the page to get a new one.', 'error');
    }
  }

  /** Resolves with the key of the current epoch once this device holds it (or rejects in time). */
  function currentKey() {
    return new Promise((resolve, reject) => {
      let timer;
      const check = async () => {
        const key = epoch === null ? undefined : await keyFor(epoch);
        if (!key) return false;
        clearTimeout(timer);
        keyWaiters.delete(check);
        resolve({ key, epoch });
        return true;
      };
      check().then((done) => {
        if (done) return;
        keyWaiters.add(check);
        timer = setTimeout(() => {
          keyWaiters.delete(check);
          reject(new Error('no key'));
        }, KEY_WAIT_MS);
      });
    });
  }

  async function answerKeyRequest({ epoch: e, generate, devices }) {
    let key = await keyFor(e);
    if (generate && !key) {
      key = crypto.newChatKey();
      await learnKey(e, key);
    }
    if (!key) return;
    const blobs = await Promise.all(
      devices.map(async (target) => ({
        user_id: target.user_id,
        device_id: target.device_id,
        public_key: target.public_key,
        blob: await crypto.sealChatKey(key, crypto.fromBase64(target.public_key)),
      })),
    );
    try {
      await api.post(`/v1/portal/chats/${api.segment(chatId)}/keys`, { epoch: e, blobs });
    } catch (error) {
      // A rotation or a faster holder overtook this answer; the server asks again when needed.
      if (error.code !== 'ERR_EPOCH_MISMATCH' && error.code !== 'ERR_NOT_KEY_DISTRIBUTOR') {
        setStatus(`Handing the chat key to others failed: ${describe(error)}`, 'error');
      }
    }
  }

  // ---- messages ---------------------------------------------------------------------------

  function senderName(message) {
    if (message.type === 'system') return null;
    return message.sender?.username ?? 'someone';
  }

  function messageNode(message) {
    const mine = message.sender?.id === me.id;
    const node = h(
      'li',
      { class: `message ${message.type}${mine ? ' mine' : ''}`, 'data-id': message.id },
      message.type === 'system'
        ? null
        : h(
            'p',
            { class: 'meta' },
            h('strong', { class: 'sender' }, senderName(message)),
            message.permission_level > 0 ? [' ', h('span', { class: 'tag' }, levelName(message.permission_level))] : null,
            ' ',
            h('time', { datetime: message.created_at, title: dateTime(message.created_at) }, clock(message.created_at)),
          ),
      h('p', { class: 'text' }, message.type === 'system' ? message.content : 'Decrypting…'),
    );
    if (message.type === 'system') node.querySelector('.text').prepend(h('span', { class: 'visually-hidden' }, 'Notice: '));
    // Deleting one message needs authority over the chat (spec 90 §6.1); everyone else deletes all
    // of their own at once (the tools beside the room).
    if (manages && !closed) {
      const region = resultRegion('result small');
      node.append(
        h(
          'div',
          { class: 'message-actions' },
          confirmButton('Delete', () => api.post(`/v1/portal/chats/${api.segment(chatId)}/messages/delete`, { ids: [message.id] }), {
            question: mine ? 'Delete your message for everyone?' : `Delete ${senderName(message) ?? 'this notice'}’s message for everyone?`,
            confirmLabel: 'Yes, delete',
            className: 'small secondary',
            busyLabel: 'Deleting…',
            region,
          }),
          region,
        ),
      );
    }
    return node;
  }

  async function showMessage(message) {
    const node = messages.get(message.id)?.node;
    if (!node || message.type === 'system') return;
    const text = node.querySelector('.text');
    const bundle = crypto.parseBundle(message.content);
    if (!bundle) {
      text.textContent = 'This message is not in a form this page can read.';
      text.classList.add('unreadable');
      return;
    }
    const key = await keyFor(bundle.epoch);
    if (!key) {
      unreadable.set(message.id, message);
      text.classList.add('unreadable');
      text.textContent =
        epoch !== null && bundle.epoch >= epoch
          ? 'Waiting for the key from another member to read this message…'
          : 'This message was sent before you joined (or before the key changed) and cannot be read on this device.';
      return;
    }
    try {
      text.textContent = await crypto.decryptMessage(bundle.ct, key, chatId, bundle.epoch);
      text.classList.remove('unreadable');
    } catch {
      text.textContent = 'This message could not be decrypted with the key this device holds.';
      text.classList.add('unreadable');
    }
  }

  function addMessage(message, { live = false } = {}) {
    if (messages.has(message.id)) return;
    const node = messageNode(message);
    messages.set(message.id, { message, node });
    const later = [...log.children].find((li) => compareIds(li.dataset.id, message.id) > 0);
    log.insertBefore(node, later ?? null);
    showMessage(message).then(() => {
      if (live && message.type === 'system') announce(message.content);
    });
    if (live) node.scrollIntoView?.({ block: 'nearest' });
  }

  function removeMessages(ids) {
    for (const id of ids) {
      messages.get(id)?.node.remove();
      messages.delete(id);
      unreadable.delete(id);
    }
  }

  async function loadHistory(query) {
    const page = await api.get(`/v1/portal/chats/${api.segment(chatId)}/history?${query}`);
    for (const message of page.messages) addMessage(message);
    return page;
  }

  function olderButton(hasMore) {
    if (!hasMore) {
      fill(older, h('p', { class: 'hint' }, messages.size ? 'This is the start of the history you may read.' : 'No messages yet. Say hello!'));
      return;
    }
    fill(
      older,
      actionButton(
        'Load older messages',
        async () => {
          const first = log.firstElementChild?.dataset.id;
          const page = await loadHistory(`limit=${PAGE}${first ? `&before=${encodeURIComponent(first)}` : ''}`);
          olderButton(page.has_more);
        },
        { className: 'secondary', busyLabel: 'Loading…', region: olderResult },
      ),
    );
  }

  async function catchUp() {
    try {
      if (!historyLoaded) {
        const page = await loadHistory(`limit=${PAGE}`);
        historyLoaded = true;
        olderButton(page.has_more);
        return;
      }
      // After a reconnect: what arrived while the connection was down (spec 90 §2.7).
      let last = log.lastElementChild?.dataset.id;
      for (;;) {
        const page = await loadHistory(`limit=100${last ? `&after=${encodeURIComponent(last)}` : ''}`);
        if (!page.has_more || !page.messages.length) break;
        last = page.messages[page.messages.length - 1].id;
      }
    } catch (error) {
      showResult(olderResult, `The history could not be loaded: ${describe(error)}`, 'error');
    }
  }

  // ---- sending ----------------------------------------------------------------------------

  async function send(text) {
    for (let attempt = 0; ; attempt += 1) {
      let current;
      try {
        current = await currentKey();
      } catch {
        throw new Error('The key of this chat has not arrived yet. Wait for another member to hand it over, then send again.');
      }
      const content = await crypto.encryptMessage(text, current.key, chatId, current.epoch);
      try {
        return await api.post(`/v1/portal/chats/${api.segment(chatId)}/messages`, { content });
      } catch (error) {
        // The key changed between encrypting and sending: encrypt again under the new epoch.
        if (error.code === 'ERR_EPOCH_MISMATCH' && attempt < 2) {
          epoch = error.epoch ?? epoch;
          continue;
        }
        // This device made the key a moment ago and its upload is still on the way.
        if (error.code === 'ERR_NO_ROOM_KEY' && attempt < 2) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          continue;
        }
        throw error;
      }
    }
  }

  composer.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || closed || composer.getAttribute('aria-busy') === 'true') return;
    composer.setAttribute('aria-busy', 'true');
    sendButton.disabled = true;
    sendButton.textContent = 'Encrypting and sending…';
    composerResult.textContent = '';
    try {
      await send(text);
      input.value = '';
    } catch (error) {
      showResult(composerResult, error instanceof api.ApiError ? describe(error) : error.message, 'error');
    } finally {
      composer.removeAttribute('aria-busy');
      sendButton.disabled = closed;
      sendButton.textContent = 'Send';
      input.focus();
    }
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  // ---- people and controls ----------------------------------------------------------------

  const MEMBERSHIP = { owner: 'Owner', member: 'Member', visitor: 'Visitor' };

  function drawMembers() {
    fill(
      memberList,
      members.map(({ user, membership, devices }) =>
        h(
          'li',
          { 'data-user-id': user.id },
          h('span', { class: 'who-name' }, user.username, user.id === me.id ? ' (you)' : ''),
          direct ? null : h('span', { class: 'tag' }, MEMBERSHIP[membership] ?? membership),
          devices.some((d) => d.public_key === null) ? h('span', { class: 'hint' }, ' (no key yet)') : null,
          manages && user.id !== me.id && membership !== 'owner' ? moderation(user) : null,
        ),
      ),
    );
  }

  function moderation(user) {
    const act = (action, body, done) =>
      actionButton(
        { mute: 'Mute 5 min', kick: 'Kick', ban: 'Ban' }[action],
        () => api.post(`/v1/portal/chats/${api.segment(chatId)}/${action}`, { user_id: user.id, ...body }),
        { className: 'small secondary', busyLabel: 'Working…', region: memberResult, done: () => done },
      );
    return h(
      'span',
      { class: 'member-actions', role: 'group', 'aria-label': `Moderate ${user.username}` },
      act('mute', { duration: 300 }, `${user.username} is muted here for 5 minutes.`),
      act('kick', {}, `${user.username} was kicked.`),
      act('ban', {}, `${user.username} is banned from this chat.`),
    );
  }

  function drawTools() {
    if (!manages) {
      const region = resultRegion();
      fill(
        tools,
        section(
          'My messages',
          confirmButton('Delete all my messages', () => api.post(`/v1/portal/chats/${api.segment(chatId)}/messages/delete-mine`), {
            question: 'Delete every message you sent in this chat, for everyone?',
            confirmLabel: 'Yes, delete them',
            className: 'secondary',
            busyLabel: 'Deleting…',
            region,
            done: (r) => (r.deleted === 1 ? '1 message deleted.' : `${r.deleted} messages deleted.`),
          }),
          region,
        ),
      );
      return;
    }
    const clearResult = resultRegion();
    fill(
      tools,
      section(
        'Chat settings',
        form({
          fields: [
            field({ label: 'Auto-wipe', name: 'wipe_preset', type: 'select', options: WIPE_PRESETS }),
            h(
              'div',
              { class: 'field checkbox' },
              h('label', {}, h('input', { type: 'checkbox', name: 'history_visible', value: 'yes' }), ' Newcomers may read earlier messages'),
            ),
          ],
          submitLabel: 'Save settings',
          busyLabel: 'Saving…',
          submit: (values) =>
            api.post(`/v1/portal/chats/${api.segment(chatId)}/config/update`, {
              wipe_preset: values.wipe_preset,
              history_visible: values.history_visible === 'yes',
            }),
          success: () => 'Settings saved.',
        }),
        h('h3', {}, 'Clear the chat'),
        h('p', { class: 'hint' }, 'Deletes every message for everyone and changes the chat key.'),
        confirmButton('Clear chat', () => api.post(`/v1/portal/chats/${api.segment(chatId)}/clear`), {
          question: 'Delete every message of this chat for everyone?',
          confirmLabel: 'Yes, clear',
          className: 'secondary',
          busyLabel: 'Clearing…',
          region: clearResult,
          done: (r) => `${r.cleared} messages deleted.`,
        }),
        clearResult,
      ),
    );
    if (chat) applyConfig(chat);
  }

  function applyConfig(summary) {
    const formNode = tools.querySelector('form');
    if (!formNode) return;
    formNode.elements.wipe_preset.value = summary.wipe_preset;
    formNode.elements.history_visible.checked = summary.history_visible;
  }

  // ---- the room over the realtime connection ----------------------------------------------

  const mineEvent = (data) => data && chatId !== null && data.chat_id === chatId;

  function join() {
    if (closed) return;
    setStatus(WORDS.connecting);
    realtime.send('room:join', token ? { token } : { chat_id: chatId });
  }

  function close(words, kind = 'info') {
    closed = true;
    setStatus(words, kind);
    input.disabled = true;
    sendButton.disabled = true;
    for (const button of container.querySelectorAll('.message-actions button, .member-actions button')) button.disabled = true;
  }

  /** Out of the room for good: nobody is listed any more, what was read stays. */
  function removed(words) {
    members = [];
    drawMembers();
    close(words, 'error');
  }

  const handlers = {
    'room:joined': async (data) => {
      if (token && chatId === null) chatId = data.chat_id;
      if (data.chat_id !== chatId) return;
      deviceId = data.device_id;
      epoch = data.epoch;
      members = data.members;
      drawMembers();
      const mineListed = members.flatMap((m) => m.devices).find((d) => d.device_id === deviceId);
      if (mineListed && mineListed.public_key === null) {
        // The server holds no key for this device (it ended or was replaced): register again.
        keystore.forgetRegistration(me.id);
        device = await keystore.device(me.id);
      }
      if (data.key) await openBlob(data.key);
      setStatus((await keyFor(epoch)) ? WORDS.ready : WORDS.waiting, (await keyFor(epoch)) ? 'ok' : 'info');
      onJoined(chatId);
      await catchUp();
    },
    'room:error': (data) => {
      if (data.event !== 'room:join' || (data.chat_id !== chatId && !(token && data.chat_id === null))) return;
      if (data.code === 'ERR_DIRECT_CHAT_ENDED') {
        close('This chat has ended. You can still read what this device can open.');
        catchUp();
        return;
      }
      close(`You cannot enter this chat: ${describe(new api.ApiError({ status: 0, body: data }))}`, 'error');
    },
    'room:members': (data) => {
      if (!mineEvent(data)) return;
      members = data.members;
      drawMembers();
    },
    'room:key_request': (data) => {
      if (mineEvent(data)) answerKeyRequest(data);
    },
    'room:key': (data) => {
      if (mineEvent(data) && data.device_id === deviceId) openBlob(data);
    },
    'room:epoch_changed': async (data) => {
      if (!mineEvent(data)) return;
      epoch = data.epoch;
      if (data.reason === 'ended') return;
      const has = await keyFor(epoch);
      setStatus(
        has ? WORDS.ready : `The chat key changed (${ROTATIONS[data.reason] ?? data.reason}). Waiting for the new key…`,
        has ? 'ok' : 'info',
      );
    },
    'room:kicked': (data) => {
      if (mineEvent(data)) removed(REMOVED[data.reason] ?? REMOVED.access_lost);
    },
    'room:destroyed': (data) => {
      if (mineEvent(data)) removed('This chat was deleted.');
    },
    'room:config': (data) => {
      if (data && data.id === chatId) applyConfig(data);
    },
    'message:new': (data) => {
      if (mineEvent(data)) addMessage(data, { live: true });
    },
    'message:bulk_deleted': (data) => {
      if (mineEvent(data)) removeMessages(data.ids);
    },
    'portal:cleared': (data) => {
      if (!mineEvent(data)) return;
      removeMessages([...messages.keys()]);
      announce(data.reason === 'wipe' ? 'The messages were wiped automatically.' : 'The chat was cleared.');
    },
    'user:muted': (data) => {
      if (mineEvent(data) && data.user_id === me.id) {
        showResult(composerResult, data.expires_at ? `You are muted in this chat until ${dateTime(data.expires_at)}.` : 'You are muted in this chat.', 'error');
      }
    },
    'user:unmuted': (data) => {
      if (mineEvent(data) && data.user_id === me.id) showResult(composerResult, 'You may write in this chat again.', 'ok');
    },
    'socket:open': () => {
      if (device) join();
    },
    'socket:close': () => {
      if (!closed) setStatus(WORDS.reconnecting);
    },
  };

  for (const [event, handler] of Object.entries(handlers)) keep(realtime.on(event, handler));
  keep(() => {
    if (chatId !== null && !closed) realtime.send('room:leave', { chat_id: chatId });
  });

  drawTools();
  setStatus(WORDS.registering);
  keystore
    .device(me.id)
    .then((registeredDevice) => {
      device = registeredDevice;
      if (realtime.currentStatus() === 'live') join();
      else setStatus(WORDS.connecting);
    })
    .catch((error) => setStatus(`This device’s encryption key could not be prepared: ${describe(error)}`, 'error'));

  return { close, chatId: () => chatId };
}
