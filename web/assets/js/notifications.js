// The unread count of my notifications (spec 80 §1), shown in the header and on Home: read from
// the server when I sign in and whenever the realtime connection (re)opens, raised by each
// `notification:new`, lowered by the marks made through `markRead` / `markAllRead`.

import * as api from './api.js';
import * as realtime from './realtime.js';
import * as session from './session.js';

let unread = 0;
const listeners = new Set();

function set(count) {
  unread = Math.max(0, count);
  for (const listener of listeners) listener(unread);
}

/** Asks the server (after a reconnect, events may have been missed). */
export async function refresh() {
  if (!session.user()) return set(0);
  try {
    const answer = await api.get('/v1/notifications/unread-count');
    set(answer.unread);
  } catch {
    // The header keeps the last count; the next reconnect asks again.
  }
}

realtime.on('notification:new', () => set(unread + 1));
realtime.on('socket:open', refresh);
session.onChange((user) => (user ? refresh() : set(0)));

/** Marks one read; resolves to the updated notification. */
export async function markRead(id) {
  const notification = await api.post(`/v1/notifications/${api.segment(id)}/read`);
  set(unread - 1);
  return notification;
}

/** Marks all read; resolves to how many were marked. */
export async function markAllRead() {
  const { marked } = await api.post('/v1/notifications/read-all');
  set(0);
  return marked;
}

export const unreadCount = () => unread;

export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
