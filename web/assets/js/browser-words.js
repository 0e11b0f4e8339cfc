// How the shared browser's answers read (spec 92): the refusals of starting and stopping, the
// `screen:error` codes of the screen socket, stop reasons, refusal reasons of the egress filter and
// the screen's close codes. Both the chat page's browser panel and the staff console use them.

import { dateTime, duration } from './format.js';
import { describe } from './ui.js';

/** Why a machine stopped (§4.4). */
export const STOP_REASONS = {
  requested: 'someone stopped it',
  idle: 'nobody watched it for a while',
  crashed: 'the browser crashed',
  capacity: 'it used more memory or processes than allowed',
  start_failed: 'it could not be started',
  chat_deleted: 'the chat was deleted',
  shutdown: 'the server is shutting down',
  node_lost: 'the server running it went away',
};

export const stopReason = (reason) => STOP_REASONS[reason] ?? reason;

/** Why the egress filter refused a destination (§3.4). */
const REFUSALS = {
  scheme: 'only http and https addresses can be opened',
  host: 'this server does not allow that site',
  port: 'that port is not allowed',
  address: 'that address is on a private or local network',
};

export const refusalReason = (reason) => REFUSALS[reason] ?? reason;

/**
 * The refusal of a start or stop (portal §6.1–6.2, admin §6.3–6.4) in words; `error` is an
 * `ApiError`. Codes shared with every endpoint (network, session, rate limit, timeout) read as
 * `describe` says.
 */
export function startStopWords(error) {
  switch (error?.code) {
    case 'ERR_FORBIDDEN':
      return error.message === 'Only the chat owner can start or stop the browser'
        ? 'Only the chat’s owner (or an Owner) can start or stop its browser.'
        : 'The server refused a request that did not come from this site. Reload the page and try again.';
    case 'ERR_SIGN_IN_REQUIRED':
      return 'Log in with an account to use the shared browser.';
    case 'ERR_VALIDATION':
      return 'This address names no chat.';
    case 'ERR_CHAT_NOT_FOUND':
      return 'This chat does not exist any more, is a direct chat, or you cannot see it.';
    case 'ERR_INSUFFICIENT_PERMISSION':
      return 'Starting and stopping browsers here needs an Admin.';
    case 'ERR_HIERARCHY':
      return 'You neither own this chat nor outrank its owner.';
    case 'ERR_BROWSER_DISABLED':
      return 'Shared browsers are turned off on this server.';
    case 'ERR_BROWSER_UNSUPPORTED':
      return 'This chat asks for a browser this server cannot run (Tor). Choose another browser in the chat’s settings.';
    case 'ERR_BROWSER_USER_LIMIT':
      return `You already run as many shared browsers as allowed (${error.limit ?? 'the limit'}). Stop one of them first.`;
    case 'ERR_BROWSER_CAPACITY':
      return 'No browser machine is free right now. Try again later.';
    case 'ERR_BROWSER_START_FAILED':
      return 'The browser could not be started. Try again; if it keeps failing, tell the operator.';
    case 'ERR_BROWSER_ALREADY_RUNNING':
      return 'The browser is already running (or starting).';
    case 'ERR_BROWSER_NOT_RUNNING':
      return error.message === 'The browser was stopped while starting'
        ? 'The browser was stopped while it was starting.'
        : 'The browser is not running.';
    default:
      return describe(error);
  }
}

/** A `screen:error` (§7.9) in words; `data` is its payload. */
export function screenErrorWords(data) {
  switch (data.code) {
    case 'ERR_NOT_HOST':
      return 'You do not control the browser.';
    case 'ERR_CONTROLS_LOCKED':
      return 'Controls are locked in this chat: only its managers can hand over control.';
    case 'ERR_CONTROL_REQUESTS_DISABLED':
      return 'Asking for control is turned off in this chat.';
    case 'ERR_NOT_VIEWING':
      return 'That person is not watching the browser any more.';
    case 'ERR_BROWSER_KIOSK':
      return 'Navigation is turned off on this browser; use the page’s own links.';
    case 'ERR_BROWSER_NOT_RUNNING':
      return 'The browser is not running.';
    case 'ERR_NOT_CHAT_MODERATOR':
      return 'Only the chat’s managers can do that.';
    case 'ERR_CHAT_OWNER_TARGET':
      return 'The chat’s owner holds control; nobody can take it from them.';
    case 'ERR_HIERARCHY':
      return 'The person in control outranks you.';
    case 'ERR_CHAT_MUTED':
      return data.ttl ? `You are muted in this chat for ${duration(data.ttl)}, so you cannot control the browser.` : 'You are muted in this chat, so you cannot control the browser.';
    case 'ERR_HARD_MUTED':
      return data.expires_at
        ? `You are muted in every chat until ${dateTime(data.expires_at)}, so you cannot control the browser.`
        : 'You are muted in every chat, so you cannot control the browser.';
    default: {
      // ERR_FORBIDDEN and ERR_VALIDATION carry the exact rule in the server's words.
      const text = String(data.error ?? data.code ?? 'The browser refused that');
      return /[.!?]$/.test(text) ? text : `${text}.`;
    }
  }
}

/** Why the screen closed (§7.10), as the panel says it. */
export const CLOSE_WORDS = {
  1001: 'The server is restarting; reconnecting to the screen…',
  1011: 'The screen had a problem on the server; reconnecting…',
  1013: 'The screen could not keep up; reconnecting…',
  4000: 'The screen stopped answering; reconnecting…',
  4001: 'Your session ended. Log in again to watch.',
  4003: 'Your account was timed out, so the screen was closed.',
  4011: 'You were removed from this chat, so the screen was closed.',
  4012: 'The chat’s connection dropped; the screen reopens once the chat is joined again…',
  4014: 'The link to the browser’s server broke; reconnecting…',
};
