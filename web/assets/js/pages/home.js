// Home: the hard-mute banner when it applies, who is online (live from the realtime connection),
// and my notifications with the unread count (live), marked read one by one or all at once.

import * as api from '../api.js';
import * as notifications from '../notifications.js';
import * as presence from '../presence.js';
import * as realtime from '../realtime.js';
import { link } from '../router.js';
import { dateTime, levelName } from '../format.js';
import { actionButton, avatar, failure, fill, h, loading, resultRegion, section } from '../ui.js';

const PAGE_SIZE = 20;

export default {
  title: 'Home',
  access: 'member',
  render(main, { user, keep }) {
    const banner = h('div', { id: 'mute-banner' });
    const online = h('div', { id: 'online' });
    const onlineNote = h('p', { class: 'hint', id: 'online-note', role: 'status' });
    const inbox = h('div', { id: 'notifications' });
    fill(
      main,
      h('h1', {}, 'Home'),
      h('p', { class: 'lead' }, `Signed in as ${user.username} (${levelName(user.permission_level)}).`),
      banner,
      section('Who is online', onlineNote, online),
      notificationSection(inbox, keep),
    );

    function drawPresence() {
      const state = presence.state();
      fill(banner, muteBanner(state));
      const live = realtime.currentStatus() === 'live';
      onlineNote.textContent = live ? '' : 'Live updates are paused while the connection is re-established.';
      if (!state.known) {
        fill(online, loading('Connecting to see who is online…'));
        return;
      }
      fill(
        online,
        h('p', { id: 'online-count' }, state.users.length === 1 ? '1 person is online.' : `${state.users.length} people are online.`),
        h(
          'ul',
          { class: 'people', 'aria-label': 'Online now' },
          state.users.map(({ user: person }) =>
            h(
              'li',
              { 'data-user-id': person.id },
              avatar(person.username),
              h('a', { href: link(`/users/${person.id}`) }, person.username),
              person.permission_level > 0 ? h('span', { class: 'tag' }, levelName(person.permission_level)) : null,
            ),
          ),
        ),
      );
    }
    keep(presence.onChange(drawPresence));
    keep(realtime.onStatus(drawPresence));
    drawPresence();
  },
};

function muteBanner(state) {
  if (!state.muted) return null;
  return h(
    'p',
    { class: 'banner', role: 'alert' },
    state.mutedUntil
      ? `You are muted in every chat until ${dateTime(state.mutedUntil)}. You can read, but not write.`
      : 'You are muted in every chat until a staff member lifts it. You can read, but not write.',
  );
}

/** The notifications section: the count, "mark all read", the list, new ones arriving live. */
function notificationSection(list, keep) {
  const count = h('p', { id: 'unread-count', role: 'status' });
  const result = resultRegion();
  const more = h('div');
  const markAll = actionButton('Mark all read', () => notifications.markAllRead(), {
    busyLabel: 'Marking…',
    region: result,
    done: (marked) => {
      for (const item of list.querySelectorAll('li.unread')) markedRead(item);
      return marked === 1 ? '1 notification marked read.' : `${marked} notifications marked read.`;
    },
  });
  const ul = h('ul', { class: 'notifications', 'aria-label': 'Notifications' });
  const shown = (id) => ul.querySelector(`[data-notification-id="${id}"]`) !== null;

  function drawCount(unread) {
    count.textContent = unread === 0 ? 'No unread notifications.' : unread === 1 ? '1 unread notification.' : `${unread} unread notifications.`;
    markAll.hidden = unread === 0;
  }
  keep(notifications.onChange(drawCount));
  drawCount(notifications.unreadCount());

  async function loadPage(offset) {
    const page = await api.get(`/v1/notifications?limit=${PAGE_SIZE}&offset=${offset}`);
    for (const item of page.notifications) if (!shown(item.id)) ul.append(notificationItem(item));
    const loaded = offset + page.notifications.length;
    fill(
      more,
      loaded < page.total
        ? actionButton('Show older notifications', () => loadPage(loaded), { busyLabel: 'Loading…', region: result })
        : null,
    );
  }

  function reload() {
    ul.replaceChildren();
    fill(list, loading('Loading notifications…'));
    loadPage(0)
      .then(() => fill(list, ul, more))
      .catch((error) => fill(list, failure(error)));
  }
  reload();
  // On every (re)connection the list is read again: notifications sent while no socket was open
  // reached none. An item shown already (by id) is not shown twice.
  keep(realtime.on('socket:open', reload));
  keep(
    realtime.on('notification:new', (item) => {
      if (shown(item.id)) return;
      ul.prepend(notificationItem(item));
      if (!list.contains(ul)) fill(list, ul, more);
    }),
  );
  return section('Notifications', h('div', { class: 'section-actions' }, count, markAll), result, list);
}

function notificationItem(item) {
  const result = resultRegion('result small');
  const node = h(
    'li',
    { class: `notification type-${item.type} ${item.read_at ? 'read' : 'unread'}`, 'data-notification-id': item.id },
    h('p', { class: 'title' }, h('span', { class: 'visually-hidden' }, item.read_at ? '' : 'Unread: '), item.title),
    h('p', { class: 'body' }, item.body),
    h('p', { class: 'meta' }, dateTime(item.created_at), item.is_broadcast ? ' · to everyone' : ''),
  );
  if (!item.read_at) {
    node.append(
      actionButton('Mark read', () => notifications.markRead(item.id), {
        busyLabel: 'Marking…',
        region: result,
        className: 'small',
        done: () => {
          markedRead(node);
          return null;
        },
      }),
      result,
    );
  }
  return node;
}

function markedRead(node) {
  node.classList.replace('unread', 'read');
  node.querySelector('button')?.remove();
  const label = node.querySelector('.title .visually-hidden');
  if (label) label.textContent = '';
}
