// Sending a notification (spec 80 §4): to one user or to everyone, with a preview of how it will
// read before it goes.

import * as api from '../../api.js';
import { field, fill, form, h, section } from '../../ui.js';
import { frame } from './common.js';

const TYPES = [['info', 'Information'], ['success', 'Good news'], ['warning', 'Warning'], ['error', 'Problem']];

export default {
  title: 'Notifications',
  access: 'member',
  render(main, { user }) {
    if (!frame(main, user, 'Notifications', '/console/notifications', 'notifications')) return;
    const preview = h('div', { class: 'preview', id: 'notification-preview', 'aria-live': 'polite' });
    const send = form({
      fields: [
        field({ label: 'To (user id)', name: 'user_id', type: 'number', min: 1, hint: 'Leave empty to send to every user.' }),
        field({ label: 'Kind', name: 'type', type: 'select', options: TYPES }),
        field({ label: 'Title', name: 'title', required: true, maxlength: 100 }),
        field({ label: 'Text', name: 'body', required: true, maxlength: 2000 }),
      ],
      submitLabel: 'Send notification',
      busyLabel: 'Sending…',
      submit: (v) => api.post('/v1/admin/notifications', { user_id: v.user_id ? Number(v.user_id) : null, type: v.type, title: v.title, body: v.body }),
      success: (answer) => `${answer.message} (${answer.recipients === 1 ? '1 recipient' : `${answer.recipients} recipients`}).`,
    });
    const drawPreview = () => {
      const values = Object.fromEntries(new FormData(send));
      const kind = TYPES.find(([value]) => value === values.type)?.[1];
      fill(
        preview,
        h('p', { class: 'hint' }, values.user_id ? `Preview — to user #${values.user_id}:` : 'Preview — to every user:'),
        h('div', { class: 'notification unread' }, h('p', { class: 'title' }, `${kind}: ${values.title || '(no title yet)'}`), h('p', {}, values.body || '(no text yet)')),
      );
    };
    send.addEventListener('input', drawPreview);
    drawPreview();
    main.append(section('Send a notification', send, preview));
  },
};
