// Every chat (spec 60 §9.1) filtered by visibility, and creating an official chat (§9.3).

import * as api from '../../api.js';
import { link, navigate } from '../../router.js';
import { field, form, h, section } from '../../ui.js';
import { frame, paged, person, query, table, when } from './common.js';

export const VISIBILITIES = [['official', 'Official'], ['public', 'Public'], ['private', 'Private']];

function draw(chats) {
  return table(
    'Chats',
    ['Chat', 'Visibility', 'Slug', 'Owner', 'Last activity', 'Created'],
    chats.map((c) => [h('a', { href: link(`/console/chats/${c.id}`) }, c.name), c.visibility, c.slug, c.owner_id ? person(c.owner_id) : 'direct chat', when(c.last_activity_at), when(c.created_at)]),
  );
}

export default {
  title: 'Chats',
  access: 'member',
  render(main, { user, query: params }) {
    if (!frame(main, user, 'Chats', '/console/chats', 'chats')) return;
    const visibility = params.get('visibility') ?? '';
    const filter = h('form', { class: 'form', role: 'search', 'aria-label': 'Filter chats' }, field({ label: 'Visibility', name: 'visibility', type: 'select', options: [['', 'Any'], ...VISIBILITIES] }), h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));
    filter.elements.namedItem('visibility').value = visibility;
    filter.addEventListener('submit', (event) => {
      event.preventDefault();
      navigate(`/console/chats${query({ visibility: filter.elements.namedItem('visibility').value })}`);
    });
    const list = paged({
      load: async (offset, limit) => {
        const { items, total } = await api.getList(`/v1/admin/chats${query({ visibility, offset, limit })}`);
        return { rows: items, total };
      },
      draw,
      label: 'chats',
    });
    const create = form({
      fields: [
        field({ label: 'Name', name: 'name', required: true, minlength: 2, maxlength: 64 }),
        field({ label: 'Address name (slug)', name: 'slug', required: true, pattern: '[a-z0-9-]{2,32}', hint: '2–32 of a–z, 0–9 and -.' }),
        field({ label: 'Description', name: 'description', maxlength: 500 }),
        field({ label: 'Members may ask for browser control', name: 'allow_control_requests', type: 'select', options: [['true', 'Yes'], ['false', 'No']] }),
      ],
      submitLabel: 'Create official chat',
      busyLabel: 'Creating…',
      submit: (v) => api.post('/v1/admin/chats', { name: v.name, slug: v.slug, description: v.description || null, allow_control_requests: v.allow_control_requests === 'true' }),
      success: (chat) => {
        list.reload(true);
        return `Official chat ${chat.chat_name} created.`;
      },
    });
    main.append(section('Create an official chat', create), section('Every chat', filter, list));
  },
};
