// Join a chat by its invite link, `/#/invite/<code>` (spec 60-chats §8.8). Signed out, the link
// leads through the login page and back here.

import * as api from '../api.js';
import { link } from '../router.js';
import { actionButton, fill, h, resultRegion } from '../ui.js';

export default {
  title: 'Join a chat',
  access: 'member',
  render(main, { params }) {
    const result = resultRegion();
    const next = h('p');
    const join = actionButton('Join the chat', () => api.post(`/v1/portal/resolve/${api.segment(params.code)}`), {
      busyLabel: 'Joining…',
      region: result,
      done: ({ chat, joined }) => {
        join.remove();
        fill(next, h('a', { href: link('/chats') }, 'See your chats'));
        return joined ? `You joined ${chat.name}.` : `You are already in ${chat.name}.`;
      },
    });
    fill(main, h('h1', {}, 'Join a chat'), h('p', {}, 'Someone sent you an invite to a chat on Portal.'), join, result, next);
  },
};
