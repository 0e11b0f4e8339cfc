// How values of the API read for people: times, waits, levels, tiers, states, places, devices.

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** `2026-04-04T10:10:00Z` → the reader's local date and time. */
export const dateTime = (iso) => (iso ? dateTimeFormat.format(new Date(iso)) : '—');

/** The reader's local time of day. */
export const clock = (iso) => (iso ? timeFormat.format(new Date(iso)) : '—');

/** A wait in whole seconds, in words: `45 seconds`, `7 minutes`, `2 hours`. */
export function duration(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`;
  const m = Math.ceil(s / 60);
  if (m < 60) return m === 1 ? '1 minute' : `${m} minutes`;
  const hours = Math.round(m / 60);
  if (hours < 48) return hours === 1 ? '1 hour' : `${hours} hours`;
  return `${Math.round(hours / 24)} days`;
}

export const LEVELS = ['User', 'Moderator', 'Admin', 'Owner'];
export const TIERS = ['Basic', 'Trial', 'Premium', 'Lifetime'];
export const STATES = ['Active', 'Timed out', 'Banned'];

export const levelName = (level) => LEVELS[level] ?? `Level ${level}`;
export const tierName = (tier) => TIERS[tier] ?? `Tier ${tier}`;
export const stateName = (state) => STATES[state] ?? `State ${state}`;

const PLATFORM_NAMES = { discord: 'Discord', telegram: 'Telegram' };
export const platformName = (platform) => PLATFORM_NAMES[platform] ?? platform;

const ACTIONS = {
  PLATFORM_WARNING: 'Warning',
  PLATFORM_TIMEOUT: 'Timeout',
  PLATFORM_BAN: 'Ban',
  PLATFORM_MUTE: 'Mute in every chat',
  CHAT_MUTE: 'Mute in a chat',
  CHAT_BAN: 'Ban from a chat',
  CHAT_KICK: 'Kick from a chat',
};
export const actionName = (type) => ACTIONS[type] ?? type;

const END_REASONS = {
  logout: 'Logged out',
  revoked: 'Ended from another device',
  expired: 'Expired',
  banned: 'Ended by a ban',
  deleted: 'Account deleted',
  permission_change: 'Ended by a rank change',
};
export const endReason = (reason) => END_REASONS[reason] ?? reason;

/** `Berlin, Berlin, DE — Deutsche Telekom`, or null when the server knows no place. */
export function place(geo) {
  if (!geo) return null;
  const where = [geo.city, geo.region_name, geo.country_code].filter(Boolean).join(', ');
  const network = geo.isp || geo.org;
  const flags = [geo.is_mobile && 'mobile', geo.is_proxy && 'proxy or VPN', geo.is_hosting && 'hosting'].filter(Boolean);
  const text = [where, network].filter(Boolean).join(' — ');
  if (!text && !flags.length) return null;
  return flags.length ? `${text}${text ? ' ' : ''}(${flags.join(', ')})` : text;
}

/** A short name for a `User-Agent`: `Chrome on Linux`. */
export function device(userAgent) {
  if (!userAgent) return 'Unknown device';
  const browser =
    [
      [/Edg\//, 'Edge'],
      [/OPR\//, 'Opera'],
      [/Firefox\//, 'Firefox'],
      [/Chrom(e|ium)\//, 'Chrome'],
      [/Safari\//, 'Safari'],
      [/curl\//, 'curl'],
    ].find(([pattern]) => pattern.test(userAgent))?.[1] ?? null;
  const system =
    [
      [/Android/, 'Android'],
      [/iPhone|iPad|iOS/, 'iOS'],
      [/Windows/, 'Windows'],
      [/Mac OS X|Macintosh/, 'macOS'],
      [/Linux/, 'Linux'],
    ].find(([pattern]) => pattern.test(userAgent))?.[1] ?? null;
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? userAgent.slice(0, 60);
}

/** Where a moderation action stands: in force, lifted early, or over (spec 20-users §1.8). */
export function actionStatus(action) {
  if (action.is_lifted) return `lifted ${dateTime(action.lifted_at)}`;
  if (action.expires_at === null) {
    return action.action_type === 'PLATFORM_WARNING' || action.action_type === 'CHAT_KICK' ? 'recorded' : 'in force, permanent';
  }
  return Date.parse(action.expires_at) > Date.now() ? `in force until ${dateTime(action.expires_at)}` : `ended ${dateTime(action.expires_at)}`;
}
