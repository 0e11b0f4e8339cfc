// Every page of the front: a hash path and the module that draws it (loaded when first visited).
// To add a page, write `pages/<name>.js` (see pages/README in docs/ARCHITECTURE.md) and add a line.

import { route, fallback } from './router.js';

route('/', () => import('./pages/home.js'));
route('/login', () => import('./pages/login.js'));
// Chats: the list, one room, joining by invite link, talking to a stranger.
route('/chats', () => import('./pages/chats.js'));
route('/chats/:id', () => import('./pages/chat.js'));
route('/invite/:code', () => import('./pages/invite.js'));
route('/strangers', () => import('./pages/strangers.js'));
fallback(() => import('./pages/not-found.js'));
