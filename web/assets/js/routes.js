// Every page of the front: a hash path and the module that draws it (loaded when first visited).
// To add a page, write `pages/<name>.js` and add its line here (docs/ARCHITECTURE.md, "How to add a
// page").

import { route, fallback } from './router.js';

route('/', () => import('./pages/home.js'));
route('/login', () => import('./pages/login.js'));
route('/account', () => import('./pages/account.js'));
route('/sessions', () => import('./pages/sessions.js'));
route('/users', () => import('./pages/users.js'));
route('/users/:id', () => import('./pages/user.js'));
// Chats: the list, one room, joining by invite link, talking to a stranger.
route('/chats', () => import('./pages/chats.js'));
route('/chats/:id', () => import('./pages/chat.js'));
route('/invite/:code', () => import('./pages/invite.js'));
route('/strangers', () => import('./pages/strangers.js'));
fallback(() => import('./pages/not-found.js'));

// The staff console (pages/console/, Moderator+; each page checks its own section).
route('/console', () => import('./pages/console/dashboard.js'));
route('/console/users', () => import('./pages/console/users.js'));
route('/console/users/:id', () => import('./pages/console/user.js'));
route('/console/moderation', () => import('./pages/console/moderation.js'));
route('/console/audit', () => import('./pages/console/audit.js'));
route('/console/bots', () => import('./pages/console/bots.js'));
route('/console/bots/:id', () => import('./pages/console/bot.js'));
route('/console/chats', () => import('./pages/console/chats.js'));
route('/console/chats/:id', () => import('./pages/console/chat.js'));
route('/console/matchmaking', () => import('./pages/console/matchmaking.js'));
route('/console/notifications', () => import('./pages/console/notifications.js'));
