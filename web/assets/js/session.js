// Who is signed in: the `GET /v1/users/me` object, `null` when nobody is, `undefined` before the
// first answer. The cookie itself is `HttpOnly`; the page never sees or stores the token.

import * as api from './api.js';

let me;
const listeners = new Set();

function emit() {
  for (const listener of listeners) listener(me);
}

/** Asks the server who we are. A stranger's session (spec 91) counts as not signed in here. */
export async function refresh() {
  try {
    const user = await api.get('/v1/users/me');
    me = user.kind === 'registered' ? user : null;
  } catch (error) {
    if (error.status !== 401 && error.status !== 403) throw error;
    me = null;
  }
  emit();
  return me;
}

/** The signed-in user, asking the server the first time. */
export async function current() {
  return me === undefined ? refresh() : me;
}

/** The answer of verify (or `/me/update`) is the new truth. */
export function set(user) {
  me = user;
  emit();
}

/** Ends this browser's session; whatever the server answers, the page forgets the user. */
export async function logout() {
  try {
    await api.post('/v1/authentication/logout');
  } finally {
    forget();
  }
}

let endedReason = null;

/**
 * Forgets the user. With `reason`, the session ended by itself (another device ended it, it
 * expired, a ban): the login page says so once (`takeEndedReason`).
 */
export function forget(reason = null) {
  endedReason = reason;
  me = null;
  emit();
}

/** Why the last session ended by itself, once; null when it did not. */
export function takeEndedReason() {
  const reason = endedReason;
  endedReason = null;
  return reason;
}

export const user = () => me ?? null;

/** Calls `listener(user or null)` whenever the signed-in user changes. */
export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
