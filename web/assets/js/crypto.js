// The front's end-to-end encryption, made only of the browser's WebCrypto (no cipher is written
// here). The scheme (docs/SECURITY.md, "The web front's cryptography"):
//   device key   an X25519 pair per session; the private half is not extractable
//   key blob     a chat key sealed to one device: an ephemeral X25519 pair, ECDH with the
//                recipient's public key, HKDF-SHA-256 (salt = ephemeral ‖ recipient public keys,
//                info "portal chat key v1") to an AES-256-GCM key;
//                blob = ephemeral public (32) ‖ nonce (12) ‖ AES-GCM(chat key) (48) = 92 bytes
//   message      nonce (12) ‖ AES-256-GCM(chat key, padded UTF-8, AAD "portal:{chat}:{epoch}"),
//                the plaintext padded with 0x80 then zeros to a multiple of 32 bytes, sent as
//                the bundle {"v":2,"epoch":E,"ct":base64} (spec 90 §1.4)

const subtle = globalThis.crypto.subtle;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const BLOB_INFO = encoder.encode('portal chat key v1');
const PAD_BLOCK = 32;
const NONCE_BYTES = 12;
const KEY_BYTES = 32;

/** Standard base64 with padding (the form the server returns public keys in). */
export function toBase64(bytes) {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

/** Either base64 alphabet, with or without padding (spec 90 §1.4) → bytes. */
export function fromBase64(text) {
  let standard = text.replace(/-/g, '+').replace(/_/g, '/');
  while (standard.length % 4) standard += '=';
  return Uint8Array.from(atob(standard), (char) => char.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const randomBytes = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/** A new device key pair: `{ privateKey (non-extractable CryptoKey), publicKey (32 raw bytes) }`. */
export async function newDeviceKey() {
  const pair = await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
  const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

/** A fresh chat key: 32 random bytes. */
export const newChatKey = () => randomBytes(KEY_BYTES);

async function blobKey(privateKey, peerPublic, ephemeralPublic, recipientPublic) {
  const peer = await subtle.importKey('raw', peerPublic, { name: 'X25519' }, false, []);
  const shared = await subtle.deriveBits({ name: 'X25519', public: peer }, privateKey, 256);
  const material = await subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  return subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: concat(ephemeralPublic, recipientPublic), info: BLOB_INFO },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** Seals `chatKey` (32 bytes) to the device whose raw public key is `recipientPublic`; base64. */
export async function sealChatKey(chatKey, recipientPublic) {
  const ephemeral = await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits']);
  const ephemeralPublic = new Uint8Array(await subtle.exportKey('raw', ephemeral.publicKey));
  const key = await blobKey(ephemeral.privateKey, recipientPublic, ephemeralPublic, recipientPublic);
  const nonce = randomBytes(NONCE_BYTES);
  const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce }, key, chatKey));
  return toBase64(concat(ephemeralPublic, nonce, sealed));
}

/** Opens a blob sealed to this device (`privateKey`, raw `ownPublic`); the 32-byte chat key. */
export async function openChatKey(blob, privateKey, ownPublic) {
  const bytes = fromBase64(blob);
  if (bytes.length !== 32 + NONCE_BYTES + KEY_BYTES + 16) throw new Error('a key blob of the wrong size');
  const ephemeralPublic = bytes.slice(0, 32);
  const nonce = bytes.slice(32, 32 + NONCE_BYTES);
  const key = await blobKey(privateKey, ephemeralPublic, ephemeralPublic, ownPublic);
  const chatKey = new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce }, key, bytes.slice(32 + NONCE_BYTES)));
  if (chatKey.length !== KEY_BYTES) throw new Error('a chat key of the wrong size');
  return chatKey;
}

const additionalData = (chatId, epoch) => encoder.encode(`portal:${chatId}:${epoch}`);

function aesKey(chatKey, usage) {
  return subtle.importKey('raw', chatKey, 'AES-GCM', false, [usage]);
}

/** The bundle string (spec 90 §1.4) of `text` under `chatKey` at `epoch` in chat `chatId`. */
export async function encryptMessage(text, chatKey, chatId, epoch) {
  const plain = encoder.encode(text);
  // 0x80 then zeros up to the next multiple of 32 (at least one byte of padding, so it is undone
  // without knowing the length).
  const padded = new Uint8Array(Math.ceil((plain.length + 1) / PAD_BLOCK) * PAD_BLOCK);
  padded.set(plain);
  padded[plain.length] = 0x80;
  const nonce = randomBytes(NONCE_BYTES);
  const sealed = await subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: additionalData(chatId, epoch) },
    await aesKey(chatKey, 'encrypt'),
    padded,
  );
  return JSON.stringify({ v: 2, epoch, ct: toBase64(concat(nonce, new Uint8Array(sealed))) });
}

/** `{ epoch, ct }` of a bundle string, or null when it is not a version-2 bundle. */
export function parseBundle(content) {
  try {
    const bundle = JSON.parse(content);
    if (bundle && bundle.v === 2 && Number.isInteger(bundle.epoch) && typeof bundle.ct === 'string') return bundle;
  } catch {
    // Not JSON: not a bundle.
  }
  return null;
}

/** The text of a bundle's `ct` under `chatKey`; throws when it does not open. */
export async function decryptMessage(ct, chatKey, chatId, epoch) {
  const bytes = fromBase64(ct);
  const padded = new Uint8Array(
    await subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.slice(0, NONCE_BYTES), additionalData: additionalData(chatId, epoch) },
      await aesKey(chatKey, 'decrypt'),
      bytes.slice(NONCE_BYTES),
    ),
  );
  const end = padded.lastIndexOf(0x80);
  if (end < 0 || padded.subarray(end + 1).some((byte) => byte !== 0)) throw new Error('bad padding');
  return decoder.decode(padded.subarray(0, end));
}
