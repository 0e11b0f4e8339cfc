// What the browser keeps for end-to-end encryption, in IndexedDB (database `portal-keys`):
//   devices   per user id: { userId, deviceId, privateKey (non-extractable CryptoKey), publicKey }
//   chatKeys  per "userId:chatId:epoch": the 32 raw bytes of that epoch's chat key (needed to seal
//             it for other devices and to read older messages after a rotation)
// The device key is registered with `POST /v1/portal/keys` (spec 90 §3.1) once per page load;
// a new session (another `device_id`) gets a new pair. Tabs of one session share it.

import * as api from './api.js';
import { newDeviceKey, toBase64 } from './crypto.js';

const DB_NAME = 'portal-keys';
let opening = null;

function database() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore('devices', { keyPath: 'userId' });
      request.result.createObjectStore('chatKeys');
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opening;
}

async function run(store, mode, work) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const request = work(tx.objectStore(store));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
  });
}

const registered = new Map();

async function register(userId) {
  let device = await run('devices', 'readonly', (s) => s.get(userId));
  if (device) {
    const answer = await api.post('/v1/portal/keys', { public_key: toBase64(device.publicKey) });
    // The same session answers with the same device id; another one means a new session (a new
    // login), which gets a key pair of its own.
    if (answer.device_id === device.deviceId) return device;
  }
  const fresh = await newDeviceKey();
  const answer = await api.post('/v1/portal/keys', { public_key: toBase64(fresh.publicKey) });
  device = { userId, deviceId: answer.device_id, ...fresh };
  await run('devices', 'readwrite', (s) => s.put(device));
  return device;
}

/**
 * This session's device `{ deviceId, privateKey, publicKey }`, registered with the server (once
 * per page load and user; again after `forgetRegistration`, e.g. when the server lists none).
 */
export function device(userId) {
  if (!registered.has(userId)) {
    const pending = register(userId);
    registered.set(userId, pending);
    pending.catch(() => registered.delete(userId));
  }
  return registered.get(userId);
}

/** Makes the next `device()` register the key again (the server reported none for this device). */
export function forgetRegistration(userId) {
  registered.delete(userId);
}

const chatKeyId = (userId, chatId, epoch) => `${userId}:${chatId}:${epoch}`;

export const saveChatKey = (userId, chatId, epoch, key) =>
  run('chatKeys', 'readwrite', (s) => s.put(key, chatKeyId(userId, chatId, epoch)));

/** The stored chat key of (chat, epoch), or undefined. */
export const chatKey = (userId, chatId, epoch) => run('chatKeys', 'readonly', (s) => s.get(chatKeyId(userId, chatId, epoch)));
