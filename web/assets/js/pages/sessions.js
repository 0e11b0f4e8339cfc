// My sessions (spec 20-users §3.5–3.7): every live session with its device, address and place, this
// one marked; end one or all others; the places on a small chart drawn here; past sessions.

import * as api from '../api.js';
import { dateTime, device, place } from '../format.js';
import { pastSessionsTable } from '../past-sessions.js';
import { placeChart } from '../place-chart.js';
import { actionButton, fill, h, loading, resultRegion, section, showResult } from '../ui.js';

export default {
  title: 'My sessions',
  access: 'member',
  async render(main) {
    const body = h('div', {}, loading('Loading your sessions…'));
    fill(main, h('h1', {}, 'My sessions'), h('p', { class: 'lead' }, 'Every browser or app where you are logged in.'), body);
    await draw(body);
  },
};

async function draw(body) {
  const { sessions, history } = await api.get('/v1/users/me/sessions');
  const result = resultRegion();
  const others = sessions.filter((s) => !s.is_current).length;
  const endOthers =
    others > 0
      ? actionButton(others === 1 ? 'End the other session' : `End all ${others} other sessions`, () => api.post('/v1/users/me/sessions/destroy-others'), {
          busyLabel: 'Ending…',
          region: result,
          className: 'secondary',
          done: ({ destroyed }) => {
            redrawAfter(body, destroyed === 1 ? '1 session ended.' : `${destroyed} sessions ended.`);
            return null;
          },
        })
      : null;
  const chart = placeChart([...sessions, ...history]);
  fill(
    body,
    section(
      `Active sessions (${sessions.length})`,
      h('div', { class: 'section-actions' }, endOthers),
      result,
      h('ul', { class: 'list', id: 'active-sessions' }, sessions.map((s) => activeItem(s, body))),
    ),
    chart ? section('Places', chart) : null,
    section(
      'Past sessions',
      history.length === 0
        ? h('p', {}, 'No ended sessions yet.')
        : pastSessionsTable('past-sessions', 'Ended sessions, most recent first', history),
    ),
  );
}

/** Draws the page again and says `words` in its first result line. */
async function redrawAfter(body, words) {
  await draw(body);
  const region = body.querySelector('[role=status], [role=alert]');
  if (region) showResult(region, words, 'ok');
}

function activeItem(s, body) {
  const result = resultRegion('result small');
  return h(
    'li',
    { 'data-suffix': s.token_suffix, class: s.is_current ? 'current-session' : '' },
    h('p', {}, h('strong', {}, device(s.user_agent)), ' ', s.is_current ? h('span', { class: 'tag current' }, 'This device') : null),
    h('p', { class: 'meta' }, `Address ${s.client_ip}`, ' · ', place(s.geo) ?? 'Place unknown'),
    h('p', { class: 'meta' }, `Logged in ${dateTime(s.created_at)} · ends ${dateTime(s.expires_at)}`),
    s.is_current
      ? null
      : actionButton('End this session', () => api.post(`/v1/users/me/sessions/${api.segment(s.token_suffix)}/destroy`), {
          busyLabel: 'Ending…',
          region: result,
          className: 'small secondary',
          done: () => {
            redrawAfter(body, 'The session was ended.');
            return null;
          },
        }),
    result,
  );
}
