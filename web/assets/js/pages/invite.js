// Joining by an invite link (`/#/invite/:code`). The API has no way to look at an invite without
// using it (spec 60 §8.8), so the page names the code and offers Join; the answer names the chat,
// which the page then shows with a link into its room.

import * as api from '../api.js';
import { link } from '../router.js';
import { actionButton, fill, h, resultRegion, section } from '../ui.js';

export default {
  title: 'Invitation',
  access: 'member',
  render(main, { params }) {
    const code = params.code;
    const result = resultRegion();
    const joined = h('div', { id: 'invite-result' });
    const join = actionButton(
      'Join the chat',
      async () => {
        const answer = await api.post(`/v1/portal/resolve/${api.segment(code)}`);
        join.hidden = true;
        fill(
          joined,
          h(
            'p',
            { class: 'notice', role: 'status' },
            answer.joined ? `You joined ${answer.chat.name}.` : `You are already in ${answer.chat.name}.`,
            ' ',
            h('a', { href: link(`/chats/${answer.chat.id}`), id: 'open-joined-chat' }, `Open ${answer.chat.name}`),
          ),
        );
        joined.querySelector('a').focus();
        return null;
      },
      { busyLabel: 'Joining…', region: result },
    );
    fill(
      main,
      h('h1', {}, 'You are invited to a chat'),
      section(
        'Invitation',
        h('p', {}, 'Someone gave you an invite with the code ', h('code', {}, code), '. Joining makes you a member of their chat; you can leave it at any time from your chat list.'),
        h('div', { class: 'actions' }, join),
        result,
        joined,
      ),
    );
  },
};
