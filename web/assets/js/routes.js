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
route('/chats', () => import('./pages/chats.js'));
route('/invite/:code', () => import('./pages/invite.js'));
fallback(() => import('./pages/not-found.js'));
