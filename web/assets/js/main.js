// The front's entry point: draws the header, shows the page the address names, keeps the realtime
// connection open while someone is signed in, and sends the person to the login page with a word
// of explanation when their session ends (here or on another device).
//
// A page is a module under `pages/` whose default export is
//   { title: 'Sessions', access: 'member' | 'guest' | 'any', render(main, context) }
// `render` draws into the emptied `<main>` and may be async. `context` holds `params` (from the
// route pattern), `query` (URLSearchParams), `user` (the signed-in user or null) and `keep(fn)`:
// functions given to `keep` (e.g. what `realtime.on` returns) run when the person leaves the page.
// After `render`, focus moves to the page's `<h1>` so keyboard and screen-reader users start there.

import * as api from './api.js';
import * as layout from './layout.js';
import * as realtime from './realtime.js';
import * as router from './router.js';
import * as session from './session.js';
import { failure, fill, h } from './ui.js';
import './routes.js';
import './presence.js';
import './notifications.js';

const main = document.getElementById('main');
let leaving = [];
let generation = 0;

const ENDED = 'Your session has ended (logged out, ended from another device, or expired). Log in again to continue.';

function sessionEnded() {
  session.forget(ENDED);
  router.navigate('/login', { replace: true });
}

function leave() {
  for (const stop of leaving) {
    try {
      stop();
    } catch (error) {
      console.error('leaving a page failed', error);
    }
  }
  leaving = [];
}

/** A page module that could not be fetched: the server is away. */
function unreachable() {
  throw new api.ApiError({ status: 0, body: { code: 'ERR_NETWORK', error: 'The page could not be loaded' } });
}

async function show({ path, query, href }) {
  const mine = ++generation;
  leave();
  const { load, params } = router.resolve(path);
  let page;
  let user;
  try {
    [page, user] = await Promise.all([load().then((module) => module.default, unreachable), session.current()]);
  } catch (error) {
    if (mine !== generation) return;
    fill(main, h('h1', { tabindex: '-1' }, 'Portal'), failure(error), h('p', {}, h('a', { href: router.link(path) }, 'Try again')));
    main.querySelector('h1').focus();
    return;
  }
  if (mine !== generation) return;
  if (page.access === 'member' && !user) {
    router.navigate(`/login?next=${encodeURIComponent(href)}`, { replace: true });
    return;
  }
  if (page.access === 'guest' && user) {
    router.navigate(router.safeNext(query.get('next')), { replace: true });
    return;
  }
  layout.setActive(path);
  document.title = `${page.title} — Portal`;
  main.replaceChildren();
  const context = { params, query, user, keep: (stop) => leaving.push(stop) };
  try {
    await page.render(main, context);
  } catch (error) {
    if (mine !== generation) return;
    if (!main.querySelector('h1')) main.append(h('h1', {}, page.title));
    main.append(failure(error));
  }
  if (mine !== generation) return;
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
}

api.onUnauthorized(() => {
  if (session.user()) sessionEnded();
});
realtime.on('socket:close', async ({ code, wasOpen }) => {
  if (!session.user()) return;
  if (code === 4001) {
    sessionEnded();
  } else if (!wasOpen) {
    // A refused upgrade shows no reason; ask whether the session still stands.
    const user = await session.refresh().catch(() => undefined);
    if (user === null) sessionEnded();
  }
});
session.onChange((user) => (user ? realtime.start() : realtime.stop()));

layout.mount(document.getElementById('site-header'), { logout: () => router.navigate('/login') });
router.listen(show);
router.preload();
