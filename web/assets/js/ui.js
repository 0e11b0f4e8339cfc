// Small building blocks for pages: elements built node by node (every text goes in as text, so
// nothing the server or another user wrote can become markup), the live region, forms that show
// their progress and put each error next to the field that caused it, and buttons that do the same.

import { ApiError } from './api.js';
import { duration, dateTime } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element (charts drawn by the page) with its attributes and optional text. */
export function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/**
 * `h('a', { href: '#/', class: 'x', onclick: fn, 'aria-label': '…' }, 'text', child, …)`.
 * Attributes starting with `on` become listeners; `false`, `null` and `undefined` ones are left
 * out; children may be strings, nodes, arrays or nothing.
 */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      node.className = value;
    } else if (value === true) {
      node.setAttribute(name, '');
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces everything in `node` with `children`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A change the next frame is read even when the same words come twice.
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

/** The words for an error, as a person should read them. */
export function describe(error) {
  if (!(error instanceof ApiError)) return 'Something went wrong in this page. Reload it and try again.';
  const wait = error.retryAfter != null ? duration(error.retryAfter) : null;
  switch (error.code) {
    case 'ERR_NETWORK':
      return 'The server cannot be reached. Check your connection and try again.';
    case 'ERR_INVALID_CODE':
      return 'That code is not valid. Check it (capitals matter): it may be mistyped, already used or expired.';
    case 'ERR_TOO_MANY_ATTEMPTS':
      return `Too many wrong codes were tried from your network. Try again in ${wait ?? 'a few minutes'}.`;
    case 'ERR_TOO_MANY_PENDING_CODES':
      return `Too many login codes are waiting for your network. Try again in ${wait ?? 'a few minutes'}.`;
    case 'ERR_ACCOUNT_BANNED':
      return error.expiresAt
        ? `This account is banned until ${dateTime(error.expiresAt)}.`
        : 'This account is banned permanently.';
    case 'ERR_ACCOUNT_TIMED_OUT':
      return error.expiresAt
        ? `Your account is timed out until ${dateTime(error.expiresAt)}.`
        : 'Your account is timed out.';
    case 'ERR_HARD_MUTED':
      return error.expiresAt ? `You are muted in every chat until ${dateTime(error.expiresAt)}.` : 'You are muted in every chat.';
    case 'ERR_RATE_LIMITED':
      return `Too many requests. Try again in ${wait ?? 'a moment'}.`;
    case 'ERR_AUTH_REQUIRED':
      return 'You are not logged in, or your session has ended. Log in again.';
    case 'ERR_USER_NOT_FOUND':
      return 'No user has that name.';
    case 'ERR_PREMIUM_REQUIRED':
      return 'Starting a private chat needs an active subscription.';
    case 'ERR_INVITE_NOT_FOUND':
      return 'This invite does not exist, has expired or has been used up. Ask for a new link.';
    case 'ERR_CHAT_SLOT_LIMIT':
      return `All your chat slots are in use (${error.limit ?? 'no'} slots).`;
    case 'ERR_INTERNAL':
    case 'ERR_SERVICE_UNAVAILABLE':
      return `The server had a problem (${error.message}). Try again; if it persists, give the operator this reference: ${error.correlationId ?? 'none'}.`;
    default: {
      // The server's words (lower case, no full stop for validation messages) as a sentence.
      const text = error.message.charAt(0).toUpperCase() + error.message.slice(1);
      return /[.!?]$/.test(text) ? text : `${text}.`;
    }
  }
}

/** A paragraph that screen readers read when it changes: where a form or section says its result. */
export function resultRegion(className = 'result') {
  return h('p', { class: className, role: 'status', 'aria-live': 'polite' });
}

/** Shows `text` in a result region as a success or an error. */
export function showResult(region, text, kind = 'ok') {
  region.textContent = text;
  region.dataset.kind = kind;
  if (kind === 'error') region.setAttribute('role', 'alert');
  else region.setAttribute('role', 'status');
}

let fieldIds = 0;

/**
 * A labelled input: `{ label, name, type, value, hint, autocomplete, required, … }` → the wrapper
 * with label, input, hint and an error slot that `form()` fills when the server names this field.
 */
export function field({ label, name, hint, type = 'text', options, ...attributes }) {
  const id = `f-${name}-${++fieldIds}`;
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ');
  const control =
    type === 'select'
      ? h(
          'select',
          { id, name, 'aria-describedby': describedBy, ...attributes },
          (options ?? []).map(([value, text]) => h('option', { value }, text)),
        )
      : h('input', { id, name, type, 'aria-describedby': describedBy, ...attributes });
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errorId, 'data-error-for': name }),
  );
}

function clearErrors(formNode) {
  for (const slot of formNode.querySelectorAll('[data-error-for]')) slot.textContent = '';
  for (const control of formNode.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
}

/** Puts `message` next to the control named `name` in `formNode`; false when there is none. */
export function showFieldError(formNode, name, message) {
  const slot = formNode.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  const control = formNode.elements.namedItem(name);
  if (!slot || !control) return false;
  slot.textContent = message;
  control.setAttribute('aria-invalid', 'true');
  control.focus();
  return true;
}

/**
 * A validation message starts with the field's name as the API spells it (`platform_user_id
 * contains invalid characters`); next to the field it reads better with the field's label.
 */
function fieldWords(formNode, error) {
  if (!(error instanceof ApiError) || error.code !== 'ERR_VALIDATION' || !error.field) return null;
  if (!error.message.startsWith(error.field)) return null;
  const control = formNode.elements.namedItem(error.field);
  const label = control?.labels?.[0]?.textContent;
  return label ? `${label}${error.message.slice(error.field.length)}.` : null;
}

/**
 * A form that runs `submit(values, formNode)` (values: name → trimmed string) and shows progress on
 * its button while it runs. A thrown API error goes next to the field it names (spec `field`),
 * else into the form's result line; `success(result)` may return words to show there.
 */
export function form({ fields, submitLabel, busyLabel = 'Working…', submit, success, className = 'form' }) {
  const button = h('button', { type: 'submit' }, submitLabel);
  const result = resultRegion();
  const node = h('form', { class: className, novalidate: true }, fields, h('div', { class: 'actions' }, button), result);
  node.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (node.getAttribute('aria-busy') === 'true') return;
    clearErrors(node);
    result.textContent = '';
    delete result.dataset.kind;
    const values = {};
    for (const [name, value] of new FormData(node)) values[name] = typeof value === 'string' ? value.trim() : value;
    node.setAttribute('aria-busy', 'true');
    button.disabled = true;
    button.textContent = busyLabel;
    try {
      const outcome = await submit(values, node);
      const words = success ? success(outcome) : null;
      if (words) showResult(result, words, 'ok');
    } catch (error) {
      const words = fieldWords(node, error) ?? describe(error);
      if (!(error instanceof ApiError && error.field && showFieldError(node, error.field, words))) {
        showResult(result, words, 'error');
      }
    } finally {
      node.removeAttribute('aria-busy');
      if (button.isConnected) {
        button.disabled = false;
        button.textContent = submitLabel;
      }
    }
  });
  return node;
}

/**
 * A button that runs `action()` with progress, and reports errors (and `done` words) in `region`
 * (or announces them when no region is given).
 */
export function actionButton(label, action, { busyLabel = 'Working…', region = null, className = '', done } = {}) {
  const button = h('button', { type: 'button', class: className }, label);
  button.addEventListener('click', async () => {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.textContent = busyLabel;
    try {
      const outcome = await action();
      const words = done ? done(outcome) : null;
      if (words) (region ? showResult(region, words, 'ok') : announce(words));
    } catch (error) {
      const words = describe(error);
      if (region) showResult(region, words, 'error');
      else announce(words);
    } finally {
      if (button.isConnected) {
        button.disabled = false;
        button.removeAttribute('aria-busy');
        button.textContent = label;
      }
    }
  });
  return button;
}

/** The first letters of a name in a coloured circle (pictures from other hosts are not loaded). */
export function avatar(name, size = 'small') {
  const text = String(name ?? '?');
  let hash = 0;
  for (const char of text) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  const initials = text.replace(/[^A-Za-z0-9]/g, ' ').trim().slice(0, 2).toUpperCase() || '?';
  return h('span', { class: `avatar avatar-${size} hue-${hash % 8}`, 'aria-hidden': 'true' }, initials);
}

/** A section with a heading (`h2`) and its content. */
export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

/** A definition list of `[term, value]` rows; rows whose value is undefined are left out. */
export function facts(rows) {
  return h(
    'dl',
    { class: 'facts' },
    rows.filter(([, value]) => value !== undefined).map(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '—')]),
  );
}

/** What a section says while it loads, and what it says when loading failed. */
export const loading = (what = 'Loading…') => h('p', { class: 'loading', role: 'status' }, what);
export const failure = (error) => h('p', { class: 'error', role: 'alert' }, describe(error));

/**
 * A button for an act that cannot be undone: the first press asks `question` in the page with
 * `confirmLabel` and Cancel (no browser dialog, so keyboards, screen readers and tests see it);
 * confirming runs `action` as `actionButton` does.
 */
export function confirmButton(label, action, { question, confirmLabel, className = '', ...options }) {
  const holder = h('span', { class: 'confirm' });
  const ask = h('button', { type: 'button', class: className }, label);
  function reset() {
    fill(holder, ask);
    ask.focus();
  }
  ask.addEventListener('click', () => {
    const yes = actionButton(confirmLabel, async () => {
      const outcome = await action();
      if (holder.isConnected) fill(holder, ask);
      return outcome;
    }, { className, ...options });
    fill(holder, h('span', { class: 'question' }, question), ' ', yes, ' ', h('button', { type: 'button', class: `${className} secondary`, onclick: reset }, 'Cancel'));
    yes.focus();
  });
  return fill(holder, ask);
}
