// One chat (spec 60 §9.2): its record, its browser machine (spec 92 §5.2) and members, and update,
// kick, transfer (Owner only), start and stop of the browser (spec 92 §6.3–6.4, for an Admin+ who
// owns the chat or outranks its owner) and delete. The page reads the chat again after each act.

import * as api from '../../api.js';
import { navigate } from '../../router.js';
import { actionButton, facts, failure, field, fill, h, loading, section, showResult } from '../../ui.js';
import { startStopWords } from '../../browser-words.js';
import { actCard, confirmField, confirmName, frame, outcomeLine, person, reasonField, table, when } from './common.js';
import { VISIBILITIES } from './chats.js';
import { allows, runsChatBrowser } from './rules.js';

const MACHINE_STATES = { starting: 'starting up', running: 'running', stopping: 'stopping' };

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

    /** The owner's profile as the API shows it to this viewer, or null when it cannot be read. */
    const ownerProfile = (ownerId) => (ownerId ? api.get(`/v1/users/${api.segment(ownerId)}`).catch(() => null) : Promise.resolve(null));

    /** Start or stop of the chat's browser: the API's message, or its refusal in words. */
    function browserButton(label, busyLabel, act) {
      return actionButton(
        label,
        async () => {
          outcome.textContent = '';
          try {
            const answer = await api.post(`${path}/${act}`);
            await refresh();
            showResult(outcome, answer?.message ?? 'Done.', 'ok');
          } catch (error) {
            showResult(outcome, startStopWords(error), 'error');
          }
          outcome.focus();
        },
        { busyLabel },
      );
    }

    function machineFacts(machine) {
      if (!machine) return h('p', { id: 'chat-machine' }, 'The browser is not running.');
      return h(
        'div',
        { id: 'chat-machine' },
        facts([
          ['State', MACHINE_STATES[machine.state] ?? machine.state],
          ['Engine', machine.engine],
          ['Browser', machine.browser],
          ['Start page', machine.start_url ?? 'blank page'],
          ['Kiosk mode', machine.kiosk ? 'yes' : 'no'],
          ['Started by', person(machine.started_by)],
          ['Started from', machine.route === 'admin' ? 'the console (admin route)' : 'the chat page (portal route)'],
          ['Requested', when(machine.started_at)],
          ['Running since', machine.running_since ? when(machine.running_since) : 'not yet'],
          ['Viewers', String(machine.viewer_count)],
          ['In control', machine.host_id ? person(machine.host_id) : 'nobody'],
        ]),
      );
    }

    async function refresh() {
      const chat = await api.get(path);
      const owner = await ownerProfile(chat.owner_id);
      const runsBrowser = runsChatBrowser(user, chat.owner_id, owner);
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
        section(
          'Browser machine',
          machineFacts(chat.machine),
          runsBrowser
            ? h(
                'div',
                { class: 'actions' },
                chat.machine ? browserButton('Stop the browser', 'Stopping the browser…', 'stop') : browserButton('Start the browser', 'Starting the browser…', 'start'),
              )
            : null,
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
