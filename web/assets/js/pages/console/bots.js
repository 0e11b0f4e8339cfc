// Every bot (spec 50 §9.1) with its type, owner, activity and hourly quota, and registration
// (§9.2): the new key is shown once.

import * as api from '../../api.js';
import { link } from '../../router.js';
import { dateTime, platformName } from '../../format.js';
import { field, fill, form, h, section } from '../../ui.js';
import { frame, paged, person, table } from './common.js';
import { keyOnce } from './key.js';

export const BOT_TYPES = { 1: 'Official', 2: 'Verified', 3: 'Community' };

function draw(bots) {
  return table(
    'Bots',
    ['Bot', 'Platform', 'Type', 'Owner', 'Active', 'Last activity', 'Quota per hour', 'Groups / users'],
    bots.map((b) => [
      h('a', { href: link(`/console/bots/${b.id}`) }, b.name),
      platformName(b.platform),
      BOT_TYPES[b.bot_type],
      person(b.owner_id),
      b.is_active ? 'yes' : 'no',
      b.last_activity_at ? dateTime(b.last_activity_at) : 'never',
      String(b.rate_limit_per_hour),
      `${b.groups} / ${b.users}`,
    ]),
  );
}

export default {
  title: 'Bots',
  access: 'member',
  render(main, { user }) {
    if (!frame(main, user, 'Bots', '/console/bots', 'bots')) return;
    const shown = h('div', { id: 'registered' });
    const list = paged({
      load: async (offset, limit) => {
        const { items, total } = await api.getList(`/v1/admin/bots?offset=${offset}&limit=${limit}`);
        return { rows: items, total };
      },
      draw,
      limit: 25,
      label: 'bots',
    });
    const register = form({
      fields: [
        field({ label: 'Name', name: 'name', required: true, minlength: 2, maxlength: 32 }),
        field({ label: 'Platform', name: 'platform', type: 'select', options: [['discord', 'Discord'], ['telegram', 'Telegram']] }),
        field({ label: 'Owner (user id)', name: 'owner_id', type: 'number', min: 1, value: String(user.id), hint: 'You, or someone you outrank.' }),
        field({ label: 'Requests per hour', name: 'rate_limit_per_hour', type: 'number', min: 1, max: 100000, value: '1000' }),
      ],
      submitLabel: 'Register bot',
      busyLabel: 'Registering…',
      submit: (v) =>
        api.post('/v1/admin/bots', { name: v.name, platform: v.platform, owner_id: Number(v.owner_id), rate_limit_per_hour: v.rate_limit_per_hour ? Number(v.rate_limit_per_hour) : null }),
      success: (answer) => {
        fill(shown, h('p', {}, 'Registered ', h('a', { href: link(`/console/bots/${answer.bot.id}`) }, answer.bot.name), '.'), keyOnce(answer.api_key));
        list.reload();
        return answer.message;
      },
    });
    main.append(section('Register a bot', register, shown), section('Every bot', list));
  },
};
