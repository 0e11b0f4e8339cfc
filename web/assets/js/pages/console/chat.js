// One chat (spec 60 §9.2): its record and members, and update, kick, transfer (Owner only) and
// delete. The page reads the chat again after each act.

import * as api from '../../api.js';
import { navigate } from '../../router.js';
import { facts, failure, field, fill, h, loading, section } from '../../ui.js';
import { actCard, confirmField, confirmName, frame, outcomeLine, person, reasonField, table, when } from './common.js';
import { VISIBILITIES } from './chats.js';
import { allows } from './rules.js';

export default {
  title: 'Chat',
  access: 'member',
  async render(main, { user, params }) {
    if (!frame(main, user, 'Chat', '/console/chats', 'chats')) return;
    const path = `/v1/admin/chats/${api.segment(params.id)}`;
    const outcome = outcomeLine();
    const body = h('div', {}, loading());
    main.append(outcome, body);

    const act = (title, fields, label, post, after = refresh) => actCard(outcome, title, fields, { label, post, after });

    async function refresh() {
      const chat = await api.get(path);
      main.querySelector('h1').textContent = `Chat ${chat.name}`;
      const update = act(
        'Update',
        [
          field({ label: 'Name', name: 'name', value: chat.name, minlength: 2, maxlength: 64 }),
          field({ label: 'Visibility', name: 'visibility', type: 'select', options: VISIBILITIES }),
          field({ label: 'Address name (slug)', name: 'slug', value: chat.slug ?? '', hint: 'Empty clears it and makes the chat private.' }),
          field({ label: 'Label', name: 'label', value: chat.label ?? '', maxlength: 32 }),
          field({ label: 'Description', name: 'description', value: chat.description ?? '', maxlength: 500 }),
          field({ label: 'Members may ask for browser control', name: 'allow_control_requests', type: 'select', options: [['true', 'Yes'], ['false', 'No']] }),
        ],
        'Save chat',
        (v) => api.post(`${path}/update`, { name: v.name, visibility: v.visibility, slug: v.slug || null, label: v.label || null, description: v.description || null, allow_control_requests: v.allow_control_requests === 'true' }),
      );
      update.querySelector('[name=visibility]').value = chat.visibility;
      update.querySelector('[name=allow_control_requests]').value = String(chat.allow_control_requests);
      const members = chat.members.map((m) => [m.user.id, m.user.username]);
      fill(
        body,
        section(
          'Record',
          facts([
            ['Id', String(chat.id)],
            ['Visibility', chat.visibility],
            ['Slug', chat.slug ?? '—'],
            ['Owner', chat.owner_id ? h('span', { id: 'chat-owner' }, person(chat.owner_id)) : 'direct chat'],
            ['Members', String(chat.member_count)],
            ['Messages', String(chat.message_count)],
            ['Key epoch', String(chat.epoch)],
            ['Created', when(chat.created_at)],
          ]),
        ),
        section('Members', table('Members', ['Member', 'Online', 'Joined'], chat.members.map((m) => [person(m.user.id), m.is_online ? 'yes' : 'no', when(m.joined_at)]))),
        section(
          'Acts',
          h(
            'div',
            { class: 'acts' },
            update,
            members.length ? act('Kick a member', [field({ label: 'Member', name: 'user_id', type: 'select', options: members }), reasonField(false)], 'Kick', (v) => api.post(`${path}/kick`, { user_id: Number(v.user_id), reason: v.reason || null })) : null,
            allows(user, 'transfer') && chat.owner_id ? act('Transfer', [field({ label: 'New owner (user id)', name: 'new_owner_id', type: 'number', min: 1, required: true })], 'Transfer chat', (v) => api.post(`${path}/transfer`, { new_owner_id: Number(v.new_owner_id) })) : null,
            act(
              'Delete',
              [confirmField('Type the chat’s name to delete it')],
              'Delete chat',
              (v) => {
                confirmName(v.confirm, chat.name);
                return api.post(`${path}/delete`);
              },
              async () => navigate('/console/chats'),
            ),
          ),
        ),
      );
    }

    try {
      await refresh();
    } catch (error) {
      fill(body, failure(error));
    }
  },
};
