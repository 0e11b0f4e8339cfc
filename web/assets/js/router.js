// Hash routes: the server serves only `/` and `/assets/…`, and the part after `#` names the page,
// so a reload or a shared link (`/#/users/42`, `/#/invite/AbC123`) opens the same page.
// Patterns are written `/users/:id`; `:name` matches one path segment and arrives decoded in
// `params`. A query after `?` (`/#/login?next=/sessions`) arrives as `query` (URLSearchParams).

const routes = [];
let notFound = null;

/** Adds a page: `load` is a function returning the page module (a dynamic `import`). */
export function route(pattern, load) {
  const keys = [];
  const source = pattern
    .split('/')
    .map((part) => {
      if (part.startsWith(':')) {
        keys.push(part.slice(1));
        return '([^/]+)';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  routes.push({ pattern, regex: new RegExp(`^${source}$`), keys, load });
}

/** The page for paths no route matches. */
export function fallback(load) {
  notFound = load;
}

/** The path and query of the current address (`/` when there is no hash route). */
export function current() {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const [path, search = ''] = hash.split('?', 2);
  return { path, query: new URLSearchParams(search), href: hash };
}

/** Finds the route of `path`: `{ load, params, pattern }`. */
export function resolve(path) {
  for (const entry of routes) {
    const found = entry.regex.exec(path);
    if (!found) continue;
    const params = {};
    entry.keys.forEach((key, i) => {
      try {
        params[key] = decodeURIComponent(found[i + 1]);
      } catch {
        params[key] = found[i + 1];
      }
    });
    return { load: entry.load, params, pattern: entry.pattern };
  }
  return { load: notFound, params: {}, pattern: null };
}

/** Goes to `href` (`/sessions`, `/login?next=/chats`); the hashchange listener renders it. */
export function navigate(href, { replace = false } = {}) {
  const target = `#${href}`;
  if (location.hash === target) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else if (replace) {
    history.replaceState(null, '', target);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = target;
  }
}

/** Loads every page's module in the background, so pages still open while the server is away. */
export function preload() {
  for (const entry of routes) entry.load().catch(() => {});
  notFound?.().catch(() => {});
}

/** Calls `render(current())` now and on every change of the address. */
export function listen(render) {
  window.addEventListener('hashchange', () => render(current()));
  render(current());
}

/** `#/…` link target for an `<a href>`. */
export const link = (path) => `#${path}`;

/** Where to go after a login: only a path of this front, never another site. */
export function safeNext(next) {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}
