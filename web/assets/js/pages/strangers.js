// Talk to a stranger (`/#/strangers`, spec 91): for members with their own session, and for people
// without an account, who continue with a stranger session (`POST /v1/authentication/stranger`).
// The page picks 1–3 interests, searches (`POST /v1/portal/match`), follows the match events of the
// realtime connection (found, expired, peer left / returned, ended) and shows the direct chat in
// the same encrypted room view as every chat, joined with the match token. Leave, block and report
// act on the chat shown.
//
// A stranger counts as signed out for the rest of the front (session.js), so this page opens the
// realtime connection for them itself and closes it when they leave the page.

import * as api from '../api.js';
import * as realtime from '../realtime.js';
import * as room from '../room.js';
import { link } from '../router.js';
import { clock, dateTime } from '../format.js';
import { actionButton, announce, confirmButton, describe, field, fill, form, h, loading, resultRegion, section } from '../ui.js';

const SUGGESTED = ['music', 'movies', 'gaming', 'books', 'sports', 'tech', 'art', 'travel'];
const TAG = /^[a-z0-9]{3,12}$/;

export default {
  title: 'Talk to a stranger',
  access: 'any',
  async render(main, { keep }) {
    const stage = h('div', { id: 'strangers-stage' }, loading('Loading…'));
    const status = h('p', { class: 'notice', id: 'match-status', role: 'status', 'aria-live': 'polite', hidden: true });
    fill(
      main,
      h('h1', {}, 'Talk to a stranger'),
      h('p', { class: 'lead' }, 'Meet someone who shares an interest, one to one. Messages are end-to-end encrypted.'),
      status,
      stage,
    );

    let me = await whoAmI();
    let shown = null;
    let roomView = null;
    let leftMyself = false;

    function say(words) {
      status.hidden = !words;
      status.textContent = words ?? '';
    }

    async function whoAmI() {
      try {
        return await api.get('/v1/users/me');
      } catch (error) {
        if (error.status === 401) return null;
        throw error;
      }
    }

    function welcome() {
      const result = resultRegion();
      fill(
        stage,
        section(
          'Without an account',
          h('p', {}, 'You get a random name for a day. Nothing links it to you, and it ends when you close this chat for good.'),
          h(
            'div',
            { class: 'actions' },
            actionButton(
              'Continue without an account',
              async () => {
                me = await api.post('/v1/authentication/stranger');
                startStranger();
                await showStatus();
              },
              { busyLabel: 'Starting…', region: result },
            ),
          ),
          result,
          h('p', {}, 'Have an account? ', h('a', { href: link('/login?next=/strangers') }, 'Log in'), ' to talk under your own name.'),
        ),
      );
    }

    function startStranger() {
      if (me?.kind !== 'stranger') return;
      realtime.start();
      keep(() => realtime.stop());
    }

    async function showStatus() {
      try {
        draw(await api.get('/v1/portal/match/status'));
      } catch (error) {
        fill(stage, h('p', { class: 'error', role: 'alert' }, describe(error)));
      }
    }

    function draw(matchStatus) {
      if (matchStatus.state === 'matched' || (matchStatus.chats.length && matchStatus.state !== 'searching')) {
        const chat = matchStatus.chats[matchStatus.chats.length - 1];
        showChat(chat);
      } else if (matchStatus.state === 'searching') {
        searching(matchStatus);
      } else {
        pick();
      }
    }

    function pick(note = null) {
      shown = null;
      const chosen = h('fieldset', { class: 'interests' }, h('legend', {}, 'Your interests (1 to 3)'));
      for (const tag of SUGGESTED) {
        chosen.append(h('label', { class: 'chip' }, h('input', { type: 'checkbox', name: 'interest', value: tag }), ` ${tag}`));
      }
      const picker = form({
        fields: [
          chosen,
          field({
            label: 'Another interest (optional)',
            name: 'other',
            hint: '3 to 12 lower-case letters or digits, e.g. chess.',
            autocapitalize: 'off',
            spellcheck: 'false',
            maxlength: '12',
          }),
          h('p', { class: 'field-error', 'data-error-for': 'interests' }),
        ],
        submitLabel: 'Find someone',
        busyLabel: 'Searching…',
        submit: async (_values, formNode) => {
          const interests = [...formNode.querySelectorAll('input[name=interest]:checked')].map((box) => box.value);
          const other = formNode.elements.other.value.trim();
          if (other) interests.push(other);
          const problem =
            interests.length === 0
              ? 'Pick at least one interest.'
              : interests.length > 3
                ? 'Pick at most three interests.'
                : interests.find((tag) => !TAG.test(tag))
                  ? 'An interest is 3 to 12 lower-case letters or digits.'
                  : null;
          if (problem) {
            throw new api.ApiError({ status: 400, body: { code: 'ERR_VALIDATION', error: problem, field: other && !TAG.test(other) ? 'other' : 'interests' } });
          }
          return api.post('/v1/portal/match', { interests });
        },
        success: (answer) => {
          draw(answer);
          return null;
        },
      });
      say(note);
      fill(stage, section('Find someone to talk to', picker));
    }

    function searching(matchStatus) {
      shown = null;
      const result = resultRegion();
      say(`Searching for someone who likes ${matchStatus.interests.join(', ')}… (until ${clock(matchStatus.expires_at)})`);
      fill(
        stage,
        section(
          'Searching',
          h('p', { class: 'loading' }, 'Keep this page open; the chat opens by itself when someone is found.'),
          actionButton(
            'Stop searching',
            async () => {
              draw(await api.post('/v1/portal/match/dequeue'));
            },
            { className: 'secondary', busyLabel: 'Stopping…', region: result },
          ),
          result,
        ),
      );
    }

    function showChat(chat) {
      // `match:found` and the enqueue answer may both announce one chat.
      if (shown?.chat_id === chat.chat_id) return;
      shown = chat;
      leftMyself = false;
      const peer = chat.peer;
      const roomNode = h('div', { id: 'direct-room' });
      const controls = h('div', { class: 'actions' });
      const result = resultRegion();
      const reportArea = h('div');
      say(`Matched with ${peer.username}${peer.is_stranger ? ' (no account)' : ''}${peer.country_code ? ` from ${peer.country_code}` : ''} on ${chat.matched_on.join(', ')}.`);
      controls.append(
        actionButton('Leave chat', () => {
          leftMyself = true;
          return api.post('/v1/portal/match/leave', { chat_id: chat.chat_id });
        }, {
          className: 'secondary',
          busyLabel: 'Leaving…',
          region: result,
        }),
        confirmButton(
          'Block',
          () => {
            leftMyself = true;
            return api.post('/v1/portal/match/block', { chat_id: chat.chat_id });
          },
          {
            question: `Block ${peer.username}? You are never matched again, and this chat ends.`,
            confirmLabel: 'Yes, block',
            className: 'secondary',
            busyLabel: 'Blocking…',
            region: result,
            done: () => `${peer.username} is blocked.`,
          },
        ),
        h('button', { type: 'button', class: 'secondary', onclick: () => reportForm(reportArea, chat) }, 'Report'),
      );
      fill(
        stage,
        section(`Chat with ${peer.username}`, h('p', { class: 'hint' }, `Open until ${dateTime(chat.expires_at)} at the latest.`), controls, result, reportArea),
        roomNode,
      );
      roomView = room.mount(roomNode, { me, token: chat.token, chat: { chat_type: 'direct' }, keep });
      if (chat.peer_grace_until_ms) say(`${peer.username} disconnected; they have until ${clock(new Date(chat.peer_grace_until_ms).toISOString())} to come back.`);
    }

    function reportForm(target, chat) {
      fill(
        target,
        form({
          fields: field({ label: 'What happened?', name: 'reason', required: true, maxlength: '500', hint: 'Staff read this; up to 500 characters.' }),
          submitLabel: 'Send report',
          busyLabel: 'Sending…',
          submit: ({ reason }) => api.post('/v1/portal/match/report', { chat_id: chat.chat_id, reason }),
          success: () => 'Thank you; staff will look at your report.',
        }),
      );
      target.querySelector('input').focus();
    }

    function ended(reason) {
      const name = shown?.peer.username ?? 'The other person';
      const why = {
        left: leftMyself ? 'You left it.' : `${name} left it.`,
        disconnected: `${name} did not come back in time.`,
        expired: 'It reached its time limit.',
      };
      const words = `The chat has ended. ${why[reason] ?? ''}`.trim();
      roomView?.close(words);
      say(words);
      announce(words);
      stage.querySelector('section')?.append(h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => pick() }, 'Find someone new')));
    }

    keep(
      realtime.on('match:found', (data) => {
        if (!shown) showChat({ ...data, peer_grace_until_ms: null });
      }),
    );
    keep(
      realtime.on('match:expired', ({ reason }) => {
        if (!shown) pick(reason === 'blocked' ? 'You can no longer search: staff blocked this session.' : 'Nobody was found in time. Try again, perhaps with other interests.');
      }),
    );
    keep(
      realtime.on('room:peer_left', ({ chat_id: chatId, grace_until_ms: grace }) => {
        if (shown?.chat_id !== chatId) return;
        const words = grace
          ? `${shown.peer.username} disconnected; they have until ${clock(new Date(grace).toISOString())} to come back.`
          : `${shown.peer.username} left the chat.`;
        say(words);
        announce(words);
      }),
    );
    keep(
      realtime.on('room:peer_returned', ({ chat_id: chatId }) => {
        if (shown?.chat_id !== chatId) return;
        say(`${shown.peer.username} is back.`);
        announce(`${shown.peer.username} is back.`);
      }),
    );
    keep(
      realtime.on('room:ended', ({ chat_id: chatId, reason }) => {
        if (shown?.chat_id === chatId) ended(reason);
      }),
    );

    if (!me) {
      welcome();
      return;
    }
    startStranger();
    await showStatus();
  },
};
