// Log in (spec 10-auth §2): by username (lookup → pick a platform → request → the bot delivers the
// code → type it), by platform and platform id (request → code), or with a code the bot already
// sent (flow C, or one printed by `portal user login-code`). Every step says what to do next, and
// every refusal is worded next to the field it concerns.

import * as api from '../api.js';
import * as router from '../router.js';
import * as session from '../session.js';
import { clock, dateTime, platformName } from '../format.js';
import { announce, fill, field, form, h } from '../ui.js';

const MODES = [
  ['username', 'With my username'],
  ['platform', 'With my platform id'],
  ['code', 'I already have a code'],
];

/** Platforms offered for a login by id; the server's list decides (an unknown one is refused). */
const PLATFORMS = [
  ['discord', 'Discord'],
  ['telegram', 'Telegram'],
];

export default {
  title: 'Log in',
  access: 'guest',
  render(main, { query }) {
    const ended = session.takeEndedReason();
    const step = h('div', { class: 'login-step' });
    const choices = h('div', { class: 'choices', role: 'group', 'aria-label': 'How do you want to log in?' });
    const next = router.safeNext(query.get('next'));

    function choose(mode) {
      for (const button of choices.querySelectorAll('button')) {
        button.setAttribute('aria-pressed', String(button.dataset.mode === mode));
      }
      if (mode === 'username') usernameStep(step, next);
      else if (mode === 'platform') platformStep(step, next);
      else codeStep(step, next, null);
    }
    for (const [mode, label] of MODES) {
      choices.append(h('button', { type: 'button', 'data-mode': mode, 'aria-pressed': 'false', onclick: () => choose(mode) }, label));
    }

    fill(
      main,
      h('h1', {}, 'Log in'),
      ended ? h('p', { class: 'notice', role: 'alert', id: 'session-ended' }, ended) : null,
      h(
        'p',
        { class: 'lead' },
        'Portal has no passwords. The Portal bot on your chat platform sends you a one-time code of 8 letters and digits; type it here.',
      ),
      choices,
      step,
    );
    choose('username');
  },
};

/** Step 1 of flow A: the username, then the platforms it can log in with. */
function usernameStep(step, next) {
  const platforms = h('div', { class: 'platforms' });
  fill(
    step,
    form({
      fields: field({
        label: 'Username',
        name: 'username',
        autocomplete: 'username',
        required: true,
        autocapitalize: 'off',
        spellcheck: 'false',
      }),
      submitLabel: 'Find my account',
      busyLabel: 'Looking up…',
      submit: ({ username }) => api.post('/v1/authentication/lookup', { username }),
      success: (found) => {
        choosePlatform(platforms, found, step, next);
        return null;
      },
    }),
    platforms,
  );
}

/** The linked platforms of a looked-up account, each with a "send me a code" button. */
function choosePlatform(target, found, step, next) {
  if (found.platforms.length === 0) {
    fill(
      target,
      h(
        'p',
        { class: 'error', role: 'alert' },
        `${found.username} has no chat platform to receive a code on. An operator can print a code with "portal user login-code ${found.username}".`,
      ),
    );
    return;
  }
  const options = found.platforms.map((p, i) => [`${i}`, `${platformName(p.platform)} (id ${p.platform_user_id})`]);
  fill(
    target,
    h('h2', {}, `Where should the bot send ${found.username}'s code?`),
    form({
      fields: field({ label: 'Platform', name: 'choice', type: 'select', options }),
      submitLabel: 'Send me a code',
      busyLabel: 'Asking for a code…',
      submit: async ({ choice }) => {
        const identity = found.platforms[Number(choice)];
        const answer = await api.post('/v1/authentication/request', identity);
        return { identity, answer };
      },
      success: ({ identity, answer }) => {
        codeStep(step, next, { platform: identity.platform, expiresAt: answer.expires_at });
        return null;
      },
    }),
  );
  target.querySelector('select').focus();
}

/** Flow A/B by platform id: request a code for an identity typed in. */
function platformStep(step, next) {
  fill(
    step,
    form({
      fields: [
        field({ label: 'Platform', name: 'platform', type: 'select', options: PLATFORMS }),
        field({
          label: 'Your id on that platform',
          name: 'platform_user_id',
          hint: 'On Discord: your user id (Settings → Advanced → Developer Mode, then "Copy User ID").',
          autocomplete: 'off',
          spellcheck: 'false',
          required: true,
        }),
      ],
      submitLabel: 'Send me a code',
      busyLabel: 'Asking for a code…',
      submit: async (values) => {
        const answer = await api.post('/v1/authentication/request', values);
        return { platform: values.platform, answer };
      },
      success: ({ platform, answer }) => {
        codeStep(step, next, { platform, expiresAt: answer.expires_at });
        return null;
      },
    }),
  );
}

/**
 * The code itself. `requested` (`{platform, expiresAt}`) when this page asked for the code: the
 * page then tells where it comes from and, after its expiry, that it expired.
 */
function codeStep(step, next, requested) {
  const intro = requested
    ? h(
        'p',
        { class: 'notice', role: 'status', id: 'code-sent' },
        `Your code is ready. Send the Portal bot on ${platformName(requested.platform)} its login command (/login); the bot sends you the code in a direct message. It is valid until ${clock(requested.expiresAt)}.`,
      )
    : h('p', {}, 'Type the code the bot sent you, or the one an operator gave you.');
  const codeForm = form({
    fields: field({
      label: 'Login code',
      name: 'code',
      hint: '8 letters and digits; capitals matter.',
      autocomplete: 'one-time-code',
      autocapitalize: 'off',
      spellcheck: 'false',
      maxlength: '8',
      required: true,
    }),
    submitLabel: 'Log in',
    busyLabel: 'Checking the code…',
    submit: async ({ code }) => {
      try {
        return await api.post('/v1/authentication/verify', { code });
      } catch (error) {
        throw explainCodeError(error, requested);
      }
    },
    success: (user) => {
      session.set(user);
      announce(user.user_created ? `Welcome to Portal, ${user.username}. Your account was created.` : `Welcome back, ${user.username}.`);
      router.navigate(next);
      return null;
    },
  });
  fill(step, intro, codeForm);
  codeForm.querySelector('input').focus();
}

/** Verify's refusals all concern the code: they are shown next to it, in words that say why. */
function explainCodeError(error, requested) {
  if (!(error instanceof api.ApiError) || error.code === 'ERR_NETWORK') return error;
  const expired =
    error.code === 'ERR_INVALID_CODE' && requested && Date.parse(requested.expiresAt) <= Date.now();
  const explained = new api.ApiError({
    status: error.status,
    body: {
      ...error.body,
      field: 'code',
      error: expired ? `The code expired at ${dateTime(requested.expiresAt)}. Ask for a new one` : error.body.error,
      code: expired ? 'ERR_CODE_EXPIRED' : error.code,
    },
    retryAfter: error.retryAfter,
  });
  return explained;
}
