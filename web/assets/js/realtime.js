// The realtime connection, `GET /v1/portal/ws` (spec 80 §3): one WebSocket per page while signed
// in. Frames are `{event, data}` JSON objects. Pages listen with `on(event, fn)` and write with
// `send(event, data)`; the module reconnects by itself with growing, jittered waits, and reports
// its state ('offline', 'connecting', 'live', 'reconnecting') to `onStatus` listeners, which the
// header shows. Two local events are dispatched as well:
//   'socket:open'   {}                        a connection opened (a snapshot follows)
//   'socket:close'  {code, reason, wasOpen}   a connection closed, before any reconnect
// Close code 4001 means the session ended (spec 80 §3.6): no reconnect; the app logs out.

const SESSION_ENDED = 4001;
const FIRST_WAIT_MS = 1000;
const LONGEST_WAIT_MS = 30000;

const listeners = new Map();
const statusListeners = new Set();
let socket = null;
let wanted = false;
let attempt = 0;
let retryTimer = null;
let status = 'offline';

function setStatus(next) {
  if (status === next) return;
  status = next;
  for (const listener of statusListeners) listener(status, attempt);
}

function dispatch(event, data) {
  for (const listener of listeners.get(event) ?? []) {
    try {
      listener(data);
    } catch (error) {
      console.error(`a listener of ${event} failed`, error);
    }
  }
}

function url() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/v1/portal/ws`;
}

function open() {
  clearTimeout(retryTimer);
  retryTimer = null;
  setStatus(attempt === 0 ? 'connecting' : 'reconnecting');
  let wasOpen = false;
  const ws = new WebSocket(url());
  socket = ws;
  ws.addEventListener('open', () => {
    wasOpen = true;
    attempt = 0;
    setStatus('live');
    dispatch('socket:open', {});
  });
  ws.addEventListener('message', (message) => {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame && typeof frame.event === 'string') dispatch(frame.event, frame.data ?? null);
  });
  ws.addEventListener('close', (closed) => {
    if (socket !== ws) return;
    socket = null;
    dispatch('socket:close', { code: closed.code, reason: closed.reason, wasOpen });
    if (!wanted || closed.code === SESSION_ENDED) {
      wanted = false;
      setStatus('offline');
      return;
    }
    attempt += 1;
    const ceiling = Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** (attempt - 1));
    const wait = ceiling / 2 + Math.random() * (ceiling / 2);
    setStatus('reconnecting');
    retryTimer = setTimeout(open, wait);
  });
}

/** Opens the connection (once signed in). Calling it again while running does nothing. */
export function start() {
  if (wanted) return;
  wanted = true;
  attempt = 0;
  open();
}

/** Closes the connection and stops reconnecting (on logout). */
export function stop() {
  wanted = false;
  clearTimeout(retryTimer);
  retryTimer = null;
  if (socket) {
    const ws = socket;
    socket = null;
    ws.close(1000);
  }
  setStatus('offline');
}

/** Reconnects now instead of waiting for the next try (the "Reconnect now" button). */
export function retryNow() {
  if (wanted && !socket) open();
}

/** Calls `listener(data)` for every `event` frame; returns the function that stops it. */
export function on(event, listener) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(listener);
  return () => listeners.get(event)?.delete(listener);
}

/** Sends one frame; false when no connection is open (the caller decides whether to retry). */
export function send(event, data = null) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify({ event, data }));
  return true;
}

/** Calls `listener(status, attempt)` on every change of the connection's state. */
export function onStatus(listener) {
  statusListeners.add(listener);
  return () => statusListeners.delete(listener);
}

export const currentStatus = () => status;
