// Who is online and whether I am hard-muted, kept from the realtime connection (spec 80 §2–3):
// each `presence:snapshot` (the first frame of every connection) replaces the state, and
// `user:joined`, `user:left`, `user:hard_muted`, `user:hard_unmuted` update it. Pages read it with
// `state()` and hear of changes with `onChange`.

import * as realtime from './realtime.js';
import * as session from './session.js';

let online = new Map();
let known = false;
let mute = { muted: false, until: null };
const listeners = new Set();

function emit() {
  for (const listener of listeners) listener(state());
}

realtime.on('presence:snapshot', (status) => {
  online = new Map(status.users.map((entry) => [entry.user.id, entry]));
  mute = { muted: status.muted, until: status.muted_until };
  known = true;
  emit();
});
realtime.on('user:joined', ({ user, session_id }) => {
  online.set(user.id, { user, session_id });
  emit();
});
realtime.on('user:left', ({ user }) => {
  online.delete(user.id);
  emit();
});
realtime.on('user:hard_muted', ({ user_id, expires_at }) => {
  if (user_id !== session.user()?.id) return;
  mute = { muted: true, until: expires_at };
  emit();
});
realtime.on('user:hard_unmuted', ({ user_id }) => {
  if (user_id !== session.user()?.id) return;
  mute = { muted: false, until: null };
  emit();
});
session.onChange((user) => {
  if (user) return;
  online = new Map();
  known = false;
  mute = { muted: false, until: null };
  emit();
});

/** `{ known, users: [PresenceEntry…] (in the order they came online), muted, mutedUntil }`. */
export function state() {
  return { known, users: [...online.values()], muted: mute.muted, mutedUntil: mute.until };
}

export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
