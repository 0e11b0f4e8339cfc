// Which controls the console shows. The API decides every act; this only keeps a control away from
// someone the contract would refuse anyway, and every refusal that still comes back is shown in the
// API's words. It mirrors spec 00-conventions §3.2–3.3 and the minimum levels of the endpoint
// tables (30, 40, 50 §4.1, 60, 80, 91), and it reads only what the API gave: the viewer's own
// `permission_level` from `/v1/users/me` and, when the API showed it, the target's level. A target
// whose level the API did not show (a Moderator gets the public card) is not guessed at: the
// control is shown and the API answers.

const MODERATOR = 1;
const ADMIN = 2;
const OWNER = 3;

/** The minimum level of each console act, as the endpoint tables of the spec give it. */
const MINIMUM = {
  warn: MODERATOR,
  timeout: MODERATOR,
  untimeout: MODERATOR,
  ban: ADMIN,
  unban: ADMIN,
  permission: ADMIN,
  delete: ADMIN,
  subscription: ADMIN,
  hardMute: ADMIN,
  bots: ADMIN,
  chats: ADMIN,
  browser: ADMIN,
  transfer: OWNER,
  officialBots: OWNER,
  notifications: ADMIN,
  health: ADMIN,
  matchmaking: MODERATOR,
  records: MODERATOR,
};

/** `can_act_on(actor, target)` of 00-conventions §3.2. */
const canActOn = (actorLevel, targetLevel) => actorLevel > targetLevel || (actorLevel === OWNER && targetLevel === OWNER);

/** The levels `actorLevel` may assign (00-conventions §3.3): Admin 0–1, Owner 0–2, else none. */
export const assignable = (actorLevel) => (actorLevel >= OWNER ? [0, 1, 2] : actorLevel >= ADMIN ? [0, 1] : []);

/** Whether the console is for this person at all (Moderator+). */
export const isStaff = (viewer) => (viewer?.permission_level ?? 0) >= MODERATOR;

/**
 * Whether `viewer` may do `act`; with a `target` (`{ id, level }`, `level` null when the API did not
 * show it) the self rule and `can_act_on` apply too.
 */
export function allows(viewer, act, target = null) {
  const level = viewer?.permission_level ?? 0;
  if (level < MINIMUM[act]) return false;
  if (!target) return true;
  if (target.id === viewer.id) return false;
  return target.level === null || target.level === undefined || canActOn(level, target.level);
}

/**
 * The person of a `GET /v1/users/{id}` answer as `allows` reads them, or null when no act on them
 * can succeed. The elevated view carries their level. An Admin+ is given the public card only for
 * people they do not outrank (spec 20 §2), so for them the card itself says no; a Moderator always
 * gets the card, so their level stays unknown and the API decides.
 */
export function targetOf(viewer, profile) {
  if (Array.isArray(profile.moderation_actions)) return { id: profile.id, level: profile.permission_level };
  return (viewer?.permission_level ?? 0) >= ADMIN ? null : { id: profile.id, level: null };
}

/** Bot types (spec 50 §3): 1 Official, 2 Verified, 3 Community. */
export const OFFICIAL = 1;

/**
 * Whether `viewer` may manage `bot` (spec 50 §4: Admin+ owning it or outranking its owner, whose
 * level is `ownerLevel` when the API showed it) and, for an Official bot, is an Owner (§4.1).
 */
export function managesBot(viewer, bot, ownerLevel) {
  if (!allows(viewer, 'bots')) return false;
  if (bot.bot_type === OFFICIAL && !allows(viewer, 'officialBots')) return false;
  return bot.owner_id === viewer.id || ownerLevel === null || ownerLevel === undefined || canActOn(viewer.permission_level, ownerLevel);
}

/**
 * Whether `viewer` may start and stop the browser of a chat owned by `ownerId` (spec 92 §6.3: Admin+
 * owning the chat or outranking its owner). `ownerProfile` is the `GET /v1/users/{id}` answer, or
 * null when it could not be read (the control is then shown and the API decides).
 */
export function runsChatBrowser(viewer, ownerId, ownerProfile) {
  if (!allows(viewer, 'browser') || !ownerId) return false;
  if (ownerId === viewer.id) return true;
  if (!ownerProfile) return true;
  const target = targetOf(viewer, ownerProfile);
  return target !== null && allows(viewer, 'browser', target);
}
