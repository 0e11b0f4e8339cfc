// Any address no route knows.

import { link } from '../router.js';
import { fill, h } from '../ui.js';

export default {
  title: 'Page not found',
  access: 'any',
  render(main) {
    fill(main, h('h1', {}, 'Page not found'), h('p', {}, 'There is no page at this address. ', h('a', { href: link('/') }, 'Go home'), '.'));
  },
};
