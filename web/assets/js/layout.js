// The frame around every page: the header with the site name, the navigation (the current page
// marked), who is signed in with the logout button, the unread count, and the state of the
// realtime connection when it is not live. Pages draw only inside `<main>`.

import * as notifications from './notifications.js';
import * as realtime from './realtime.js';
import * as session from './session.js';
import { link } from './router.js';
import { isStaff } from './pages/console/rules.js';
import { announce, describe, fill, h } from './ui.js';

/** The navigation of a signed-in member: [path, label]. */
const MEMBER_NAV = [
  ['/', 'Home'],
  ['/chats', 'Chats'],
  ['/users', 'People'],
  ['/sessions', 'Sessions'],
  ['/account', 'Account'],
  ['/strangers', 'Talk to a stranger'],
];

let header;
let activePath = '/';
let onLogout = () => {};

const CONNECTION_WORDS = {
  connecting: 'Connecting to live updates…',
  reconnecting: 'Live updates lost — reconnecting…',
};

function navigation(user) {
  if (!user) {
    return h('nav', { 'aria-label': 'Main' }, h('ul', {}, h('li', {}, navLink('/login', 'Log in')), h('li', {}, navLink('/strangers', 'Talk to a stranger'))));
  }
  // The console entry follows the level `/v1/users/me` gave (pages/console/rules.js).
  const entries = isStaff(user) ? [...MEMBER_NAV, ['/console', 'Console']] : MEMBER_NAV;
  return h('nav', { 'aria-label': 'Main' }, h('ul', {}, entries.map(([path, label]) => h('li', {}, navLink(path, label)))));
}

function navLink(path, label) {
  const current = path === activePath || (path !== '/' && activePath.startsWith(`${path}/`));
  const badge =
    path === '/' && notifications.unreadCount() > 0
      ? h('span', { class: 'badge', id: 'unread-badge' }, String(notifications.unreadCount()), h('span', { class: 'visually-hidden' }, ' unread'))
      : null;
  return h('a', { href: link(path), 'aria-current': current ? 'page' : false }, label, badge ? ' ' : null, badge);
}

function whoAmI(user) {
  if (!user) return null;
  const button = h('button', { type: 'button', class: 'link-button', id: 'logout' }, 'Log out');
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = 'Logging out…';
    try {
      await session.logout();
      announce('You are logged out.');
      onLogout();
    } catch (error) {
      announce(describe(error));
    }
  });
  return h(
    'div',
    { class: 'who' },
    h('span', {}, 'Signed in as ', h('a', { href: link('/account'), id: 'whoami' }, user.username)),
    button,
  );
}

function connection() {
  const status = realtime.currentStatus();
  const words = session.user() ? CONNECTION_WORDS[status] : null;
  const node = h('p', { class: 'connection', id: 'connection-status', role: 'status', 'data-state': status });
  if (words) {
    node.append(words);
    if (status === 'reconnecting') {
      node.append(' ', h('button', { type: 'button', class: 'link-button', onclick: () => realtime.retryNow() }, 'Retry now'));
    }
  }
  return node;
}

function draw() {
  const user = session.user();
  // The header is drawn again on every change (a new notification, the connection's state); the
  // keyboard focus stays on the same link or button.
  const focused = header.contains(document.activeElement) ? document.activeElement : null;
  const href = focused?.getAttribute('href');
  const id = focused?.id;
  fill(
    header,
    h('div', { class: 'bar' }, h('a', { class: 'brand', href: link('/') }, 'Portal'), navigation(user), whoAmI(user)),
    connection(),
  );
  const again = id ? header.querySelector(`#${CSS.escape(id)}`) : href ? header.querySelector(`a[href="${CSS.escape(href)}"]`) : null;
  again?.focus();
}

/** Draws the header into `node` and keeps it current; `logout` runs after a logout. */
export function mount(node, { logout }) {
  header = node;
  onLogout = logout;
  session.onChange(draw);
  notifications.onChange(draw);
  realtime.onStatus(draw);
  document.getElementById('skip-link')?.addEventListener('click', (event) => {
    // The hash names pages, so the skip link moves focus itself.
    event.preventDefault();
    document.getElementById('main')?.focus();
  });
  draw();
}

/** Marks `path` as the current page in the navigation. */
export function setActive(path) {
  activePath = path;
  if (header) draw();
}
