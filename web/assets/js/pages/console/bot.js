// One bot (spec 50 §7.2 private view, §9.3–9.7): its record, its command statistics as a chart,
// and, when the viewer manages it (rules.js `managesBot`: Official bots only for Owners), update,
// type, activity, a new key (shown once), statistics reset and deletion.

import * as api from '../../api.js';
import { navigate } from '../../router.js';
import { barChart } from '../../chart.js';
import { dateTime, platformName } from '../../format.js';
import { actionButton, facts, failure, field, fill, form, h, loading, resultRegion, section, showResult } from '../../ui.js';
import { confirmField, confirmName, frame, outcomeLine, person, table, when } from './common.js';
import { keyOnce } from './key.js';
import { BOT_TYPES } from './bots.js';
import { OFFICIAL, allows, managesBot } from './rules.js';

/** The owner's level when the API shows it to this viewer (the elevated view), else null. */
async function ownerLevel(ownerId) {
  const owner = await api.get(`/v1/users/${api.segment(ownerId)}`).catch(() => null);
  return owner && Array.isArray(owner.moderation_actions) ? owner.permission_level : null;
}

export default {
  title: 'Bot',
  access: 'member',
  async render(main, { user, params }) {
    if (!frame(main, user, 'Bot', '/console/bots', 'bots')) return;
    const path = `/v1/admin/bots/${api.segment(params.id)}`;
    const outcome = outcomeLine();
    const key = h('div', { id: 'new-key' });
    const body = h('div', {}, loading());
    main.append(outcome, key, body);

    const said = (answer) => {
      showResult(outcome, answer.message ?? 'Done.', 'ok');
      outcome.focus();
    };
    /** An act that succeeded is followed by a fresh read; a refusal stays next to its control. */
    const then = async (request) => {
      const answer = await request;
      await refreshQuietly();
      said(answer);
    };

    async function refresh() {
      const bot = await api.get(`/v1/bots/${api.segment(params.id)}`);
      const [level, commands] = await Promise.all([ownerLevel(bot.owner_id), api.getList(`${path}/commands`)]);
      main.querySelector('h1').textContent = `Bot ${bot.name}`;
      fill(
        body,
        section(
          'Record',
          facts([
            ['Id', String(bot.id)],
            ['Platform', platformName(bot.platform)],
            ['Type', h('span', { id: 'bot-type' }, BOT_TYPES[bot.bot_type])],
            ['Owner', person(bot.owner_id)],
            ['Active', h('span', { id: 'bot-active' }, bot.is_active ? 'yes' : 'no')],
            ['Quota', `${bot.rate_limit_per_hour} requests per hour`],
            ['Groups / users', `${bot.groups} / ${bot.users}`],
            ['Latency', bot.latency_ms == null ? '—' : `${bot.latency_ms} ms`],
            ['Last activity', bot.last_activity_at ? dateTime(bot.last_activity_at) : 'never'],
            ['Key', `${bot.api_key_prefix}… since ${dateTime(bot.api_key_created_at)}`],
          ]),
        ),
        section('Controls', controls(bot, level)),
        section(
          'Commands',
          barChart(`Commands run by ${bot.name}`, commands.items.map((c) => [c.command, c.count])),
          commands.items.length ? table('Commands', ['Command', 'Count', 'First', 'Last'], commands.items.map((c) => [c.command, String(c.count), when(c.first_at), when(c.last_at)])) : null,
        ),
      );
    }

    function controls(bot, level) {
      if (!managesBot(user, bot, level)) {
        return h(
          'p',
          { class: 'hint', id: 'bot-controls-refused' },
          bot.bot_type === OFFICIAL ? 'Official bots can obtain login codes for anyone, so only Owners manage them.' : 'You manage only your own bots and those of people you outrank.',
        );
      }
      const result = resultRegion();
      const post = (suffix, body) => api.post(`${path}/${suffix}`, body);
      const types = Object.entries(BOT_TYPES).filter(([type]) => Number(type) !== OFFICIAL || allows(user, 'officialBots'));
      const typeForm = form({
        fields: [field({ label: 'Type', name: 'bot_type', type: 'select', options: types })],
        submitLabel: 'Set type',
        busyLabel: 'Saving…',
        submit: async (v) => then(post('update', { bot_type: Number(v.bot_type) })),
      });
      typeForm.elements.namedItem('bot_type').value = String(bot.bot_type);
      const update = form({
        fields: [
          field({ label: 'Name', name: 'name', value: bot.name, minlength: 2, maxlength: 32 }),
          field({ label: 'Owner (user id)', name: 'owner_id', type: 'number', min: 1, value: String(bot.owner_id) }),
          field({ label: 'Requests per hour', name: 'rate_limit_per_hour', type: 'number', min: 1, max: 100000, value: String(bot.rate_limit_per_hour) }),
        ],
        submitLabel: 'Save changes',
        busyLabel: 'Saving…',
        submit: async (v) => then(post('update', { name: v.name, owner_id: Number(v.owner_id), rate_limit_per_hour: Number(v.rate_limit_per_hour) })),
      });
      const buttons = h(
        'div',
        { class: 'section-actions' },
        actionButton(bot.is_active ? 'Deactivate' : 'Activate', async () => then(post('update', { is_active: !bot.is_active })), { region: result }),
        actionButton(
          'Regenerate key',
          async () => {
            const answer = await post('regenerate-key');
            fill(key, keyOnce(answer.api_key));
            said(answer);
            await refreshQuietly();
          },
          { region: result, busyLabel: 'Regenerating…' },
        ),
        actionButton('Reset statistics', async () => then(post('reset-stats')), { region: result, busyLabel: 'Resetting…' }),
      );
      const remove = form({
        fields: [confirmField('Type the bot’s name to delete it')],
        submitLabel: 'Delete bot',
        busyLabel: 'Deleting…',
        submit: async (v) => {
          confirmName(v.confirm, bot.name);
          await post('delete');
          navigate('/console/bots');
        },
      });
      return [buttons, result, h('h3', {}, 'Type'), typeForm, h('h3', {}, 'Details'), update, h('h3', {}, 'Delete'), remove];
    }

    // After an act the record is read again; a failure to read it shows in the page, not the form.
    const refreshQuietly = () => refresh().catch((error) => fill(body, failure(error)));

    try {
      await refresh();
    } catch (error) {
      fill(body, failure(error));
    }
  },
};
