// One chat's room (`/#/chats/:id`): its name and kind from the chat list of the API, then the
// end-to-end-encrypted room of room.js and, for group chats, the shared browser of
// browser-panel.js (beside the room while its machine runs on a wide screen, above it otherwise).
// A chat the caller cannot see is not in the list; the room then says so in the API's words when
// it refuses the join.

import * as api from '../api.js';
import * as browserPanel from '../browser-panel.js';
import * as room from '../room.js';
import { link } from '../router.js';
import { fill, h, loading } from '../ui.js';

const KINDS = { official: 'Official chat', public: 'Public chat', private: 'Private chat', direct: 'Direct chat' };

export default {
  title: 'Chat',
  access: 'member',
  async render(main, { params, user, keep }) {
    const chatId = Number(params.id);
    const heading = h('h1', {}, 'Chat');
    const body = h('div', {}, loading('Loading the chat…'));
    fill(main, h('p', { class: 'crumbs' }, h('a', { href: link('/chats') }, '← All chats')), heading, body);
    if (!Number.isSafeInteger(chatId) || chatId < 1) {
      fill(body, h('p', { class: 'error', role: 'alert' }, 'This address names no chat.'));
      return;
    }
    const chat = (await api.getList('/v1/portal/chats')).items.find((c) => c.id === chatId) ?? null;
    if (chat) {
      heading.textContent = chat.chat_type === 'direct' && chat.peer ? `${chat.name} (with ${chat.peer.username})` : chat.name;
      document.title = `${chat.name} — Portal`;
      heading.after(h('p', { class: 'lead' }, KINDS[chat.visibility] ?? chat.visibility, chat.owner ? ` owned by ${chat.owner.username}` : ''));
    }
    const roomPart = h('div', { class: 'chat-room' });
    if (chat && chat.chat_type !== 'direct') {
      const layout = h('div', { class: 'chat-layout' });
      const panel = h('div', { class: 'chat-browser' });
      fill(body, fill(layout, panel, roomPart));
      // The panel listens before the room joins, so it sees the `room:joined` that says whether
      // the machine runs.
      browserPanel.mount(panel, {
        me: user,
        chat,
        keep,
        onRunning: (running) => {
          layout.dataset.running = running ? 'true' : 'false';
        },
      });
    } else {
      fill(body, roomPart);
    }
    room.mount(roomPart, { me: user, chatId, chat, keep });
  },
};
