// How audit rows and moderation records read, shared by their lists, the user page and the CSV
// export: the event in words, who did it and to what (each a link), and what the metadata says.

import { link } from '../../router.js';
import { actionName, dateTime } from '../../format.js';
import { h } from '../../ui.js';
import { person, table, when } from './common.js';

/** Every audit event type of spec 30 §8.3, for the filter. */
export const EVENT_TYPES = [
  'USER_WARN', 'USER_TIMEOUT', 'USER_UNTIMEOUT', 'USER_BAN', 'USER_UNBAN', 'USER_PERMISSION', 'USER_DELETE',
  'USER_HARD_MUTE', 'USER_HARD_UNMUTE', 'SUBSCRIPTION_GRANT', 'SUBSCRIPTION_REVOKE', 'BOT_REGISTER', 'BOT_UPDATE',
  'BOT_VERIFY', 'BOT_UNVERIFY', 'BOT_KEY_REGENERATE', 'BOT_DELETE', 'BOT_STATS_RESET', 'CHAT_CREATE', 'CHAT_UPDATE',
  'CHAT_DELETE', 'CHAT_TRANSFER', 'CHAT_KICK', 'CHAT_MUTE', 'CHAT_UNMUTE', 'CHAT_BAN', 'CHAT_UNBAN',
  'CHAT_MESSAGES_DELETE', 'CHAT_CLEAR', 'CHAT_CONFIG_UPDATE', 'NOTIFICATION_SEND', 'PUBLIC_KEY_CREATE',
  'PUBLIC_KEY_REVOKE', 'LOGIN_CODE_CREATE', 'SESSION_REVOKE', 'STRANGER_BLOCK', 'STRANGER_BLOCK_LIFT', 'MATCH_REPORT_HANDLE',
  'BROWSER_START', 'BROWSER_STOP', 'BROWSER_CONTROL_OVERRIDE',
];

/** Every moderation action type of spec 30 §3.2. */
export const ACTION_TYPES = ['PLATFORM_WARNING', 'PLATFORM_TIMEOUT', 'PLATFORM_BAN', 'PLATFORM_MUTE', 'CHAT_MUTE', 'CHAT_BAN', 'CHAT_KICK'];

/** `USER_BAN` → `User ban`. */
export const eventName = (type) => type.charAt(0) + type.slice(1).toLowerCase().replace(/_/g, ' ');

/** The metadata of an audit row as `key: value` words (values as JSON when not plain). */
function details(metadata) {
  return Object.entries(metadata ?? {})
    .filter(([, value]) => value !== null && !(Array.isArray(value) && value.length === 0))
    .map(([key, value]) => `${key.replace(/_/g, ' ')}: ${typeof value === 'object' ? JSON.stringify(value) : value}`)
    .join('; ');
}

const TARGET_PATHS = { user: '/console/users/', bot: '/console/bots/', chat: '/console/chats/' };

/** The target of an audit row as a link to its console page. */
export function target(row) {
  if (row.target_type === 'user' && row.target_id) return person(row.target_id);
  const path = TARGET_PATHS[row.target_type];
  if (!path || !row.target_id) return row.target_type;
  return h('a', { href: link(`${path}${row.target_id}`) }, `${row.target_type} #${row.target_id}`);
}

/** Audit rows as a table. */
export function auditTable(items) {
  return table(
    'Audit log',
    ['When', 'Event', 'By', 'Target', 'Details'],
    items.map((row) => [when(row.created_at), h('span', { 'data-event': row.event_type }, eventName(row.event_type)), person(row.actor_id), target(row), details(row.metadata)]),
  );
}

/** Whether a moderation record is in force now (spec 30 §1). */
export const inForce = (action) => !action.is_lifted && (!action.expires_at || new Date(action.expires_at) > new Date());

function status(action) {
  if (action.is_lifted) return `Lifted ${dateTime(action.lifted_at)}`;
  if (action.expires_at && new Date(action.expires_at) <= new Date()) return `Expired ${dateTime(action.expires_at)}`;
  return action.expires_at ? `In force until ${dateTime(action.expires_at)}` : 'In force';
}

/** Moderation records as a table. */
export function actionTable(actions, { withTarget = true } = {}) {
  return table(
    'Moderation records',
    ['When', 'Action', ...(withTarget ? ['User'] : []), 'By', 'Reason', 'Chat', 'Status'],
    actions.map((action) => [
      when(action.created_at),
      actionName(action.action_type),
      ...(withTarget ? [person(action.user_id)] : []),
      person(action.issued_by_id),
      action.reason,
      action.chat_id ? h('a', { href: link(`/console/chats/${action.chat_id}`) }, `#${action.chat_id}`) : '—',
      status(action),
    ]),
  );
}

/** CSV columns of an audit row. */
export const AUDIT_CSV = ['id', 'created_at', 'event_type', 'actor_id', 'target_type', 'target_id', 'metadata'];
export const auditCsvRow = (row) => [row.id, row.created_at, row.event_type, row.actor_id, row.target_type, row.target_id, JSON.stringify(row.metadata)];

/** CSV columns of a moderation record. */
export const ACTION_CSV = ['id', 'created_at', 'action_type', 'user_id', 'issued_by_id', 'reason', 'chat_id', 'expires_at', 'is_lifted', 'lifted_at', 'lifted_by_id'];
export const actionCsvRow = (action) => ACTION_CSV.map((key) => action[key]);
