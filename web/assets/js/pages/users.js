// People: search users by part of their name or by id (spec 20-users §3.11), each a link to their
// page. Staff see more on that page when the API gives them more.

import * as api from '../api.js';
import { link } from '../router.js';
import { tierName } from '../format.js';
import { avatar, field, fill, form, h } from '../ui.js';

export default {
  title: 'People',
  access: 'member',
  render(main, { query }) {
    const results = h('div', { id: 'search-results' });
    const search = form({
      className: 'form search',
      fields: field({ label: 'Name or id', name: 'q', type: 'search', value: query.get('q') ?? '', autocomplete: 'off' }),
      submitLabel: 'Search',
      busyLabel: 'Searching…',
      submit: ({ q }) => api.get(`/v1/users/search?limit=50&q=${encodeURIComponent(q)}`),
      success: (page) => {
        draw(results, page);
        return page.total === 1 ? '1 person found.' : `${page.total} people found.`;
      },
    });
    fill(main, h('h1', {}, 'People'), search, results);
    search.requestSubmit();
  },
};

function draw(target, page) {
  fill(
    target,
    h(
      'ul',
      { class: 'people', 'aria-label': 'Search results' },
      page.users.map((user) =>
        h('li', {}, avatar(user.username), h('a', { href: link(`/users/${user.id}`) }, user.username), h('span', { class: 'tag' }, tierName(user.subscription_tier))),
      ),
    ),
  );
}
