// The chat's shared browser (spec 92), drawn into a container beside the encrypted room: whether
// its machine runs (from the realtime connection's `room:joined`, `room:started`, `room:stopped` and
// `room:viewers`), Start and Stop for the chat's owner and Owners, and while it runs the screen:
// its own WebSocket (`/v1/portal/chats/{id}/screen`) carrying JPEG frames, drawn into a canvas, and
// JSON events (page, viewers, control, cursors, errors), with navigation, control and — for the
// host — pointer, wheel, keys and pasted text sent back in viewport pixels.
//
// The screen opens only for a session whose realtime connection has joined the chat's room (§7.1),
// so the panel waits for `room:joined` before opening it and after the server closed it with 4012.

import * as api from './api.js';
import * as realtime from './realtime.js';
import { actionButton, announce, fill, h, resultRegion, showResult } from './ui.js';
import { CLOSE_WORDS, refusalReason, screenErrorWords, startStopWords, stopReason } from './browser-words.js';

/** §7.2: clients send pointer moves at most 60 times a second. */
const MOVE_INTERVAL_MS = 1000 / 60;
/** §7.3: the frame header this page understands. */
const FRAME_VERSION = 1;
const FRAME_KIND_JPEG = 1;
const FRAME_HEADER_MIN = 24;
/** §7.10: closes after which the screen is opened again by itself. */
const RECONNECT_CODES = new Set([1001, 1006, 1011, 1013, 4000, 4014]);
/** §7.10: session ended, timed out, removed from the room: the screen stays closed. */
const FINAL_CODES = new Set([4001, 4003, 4011]);
const MACHINE_STOPPED = 4010;
const ROOM_LEFT = 4012;
const FIRST_WAIT_MS = 1000;
const LONGEST_WAIT_MS = 30000;
/** Openings refused before the socket opened (an HTTP refusal looks like 1006) before giving up. */
const REFUSALS_BEFORE_GIVING_UP = 4;
const BUTTON_NAMES = ['left', 'middle', 'right', 'back', 'forward'];
const DOUBLE_CLICK_MS = 500;
const DOUBLE_CLICK_DISTANCE = 5;
const WHEEL_LINE_PX = 16;
const WHEEL_LIMIT = 10000;
const OWNER_LEVEL = 3;

const NOTICE_WORDS =
  'The shared browser is not end-to-end encrypted. The server renders every page, so it sees everything shown and typed here — passwords too — and everyone watching sees what the person in control types.';

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
const rounded = (value) => Math.round(value * 100) / 100;
const modifiersOf = (event) => (event.altKey ? 1 : 0) | (event.ctrlKey ? 2 : 0) | (event.metaKey ? 4 : 0) | (event.shiftKey ? 8 : 0);

/**
 * Draws the panel of `chat` (its ChatSummary) into `container`. `me` is `/v1/users/me`; `keep` as
 * in page contexts (everything here ends when the person leaves the page). `onRunning(running)` is
 * told when the machine starts or stops, so the page can lay the panel out beside the room.
 */
export function mount(container, { me, chat, keep, onRunning = () => {} }) {
  const chatId = chat.id;
  const maySwitch = chat.owner?.id === me.id || me.permission_level >= OWNER_LEVEL;
  const noticeKey = `portal-browser-notice:${me.id}:${chatId}`;

  let running = Boolean(chat.running);
  let viewerCount = chat.viewer_count ?? 0;
  let joined = false;
  let socket = null;
  let wasOpen = false;
  let attempt = 0;
  let refusals = 0;
  let retryTimer = null;
  let ended = false;
  let state = null;
  let page = null;
  let control = { host: null, host_away_until: null, queue: [] };
  let viewers = [];
  let drawnFrame = 0;
  let newestFrame = 0;
  const cursors = new Map();

  // ---- elements ---------------------------------------------------------------------------

  const status = h('p', { class: 'browser-status', id: 'browser-status', role: 'status', 'aria-live': 'polite' });
  const switchResult = resultRegion('result');
  switchResult.id = 'browser-result';
  const switches = h('div', { class: 'actions browser-switches' });
  const retry = h('button', { type: 'button', class: 'secondary', 'data-act': 'retry', hidden: true }, 'Open the screen again');
  retry.addEventListener('click', () => {
    retry.hidden = true;
    ended = false;
    refusals = 0;
    attempt = 0;
    openScreen();
  });
  const screenError = h('p', { class: 'error', id: 'browser-error', role: 'alert' });

  const back = h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Back', onclick: () => send('nav:back') }, '←');
  const forward = h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Forward', onclick: () => send('nav:forward') }, '→');
  const reload = h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Reload', onclick: () => send('nav:reload') }, '↻');
  const address = h('input', { id: 'browser-address', name: 'address', type: 'text', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', readonly: true });
  const go = h('button', { type: 'submit', class: 'small' }, 'Go');
  const addressBar = h(
    'form',
    { class: 'browser-address', id: 'browser-address-bar', novalidate: true, onsubmit: goTo },
    back,
    forward,
    reload,
    h('label', { for: 'browser-address', class: 'visually-hidden' }, 'Address of the shared page'),
    address,
    go,
  );
  const title = h('p', { class: 'browser-title', id: 'browser-title' });
  const canvas = h('canvas', { id: 'browser-screen', class: 'browser-screen', width: '1280', height: '720', role: 'img', 'aria-label': 'The shared browser’s screen' });
  const cursorLayer = h('canvas', { class: 'browser-cursors', width: '1280', height: '720', 'aria-hidden': 'true' });
  const stage = h('div', { class: 'browser-stage' }, canvas, cursorLayer);
  const screenHint = h('p', { class: 'hint', id: 'browser-screen-hint' });
  const typeInput = h('input', { id: 'browser-type', name: 'text', type: 'text', maxlength: '4000', autocomplete: 'off' });
  const typeForm = h(
    'form',
    { class: 'form inline browser-type', novalidate: true, onsubmit: typeText },
    h('div', { class: 'field' }, h('label', { for: 'browser-type' }, 'Type or paste into the page'), typeInput),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Send text')),
  );
  const controlLine = h('p', { class: 'browser-control', id: 'browser-control', 'aria-live': 'polite' });
  const controlButtons = h('div', { class: 'actions browser-control-buttons' });
  const notice = h('div', { class: 'notice browser-notice', id: 'browser-notice', role: 'alert', hidden: true });
  const viewerList = h('ul', { class: 'people browser-viewers', id: 'browser-viewers', 'aria-label': 'Watching the browser' });
  const e2eLine = h('p', { class: 'hint' }, 'Not end-to-end encrypted: the server and everyone watching see this page and what is typed into it.');
  const screenPart = h(
    'div',
    { class: 'browser-live', hidden: true },
    addressBar,
    title,
    stage,
    screenHint,
    e2eLine,
    typeForm,
    h('h3', {}, 'Control'),
    controlLine,
    notice,
    controlButtons,
    h('h3', {}, 'Watching'),
    viewerList,
  );

  fill(
    container,
    h(
      'section',
      { class: 'card browser-panel', 'aria-labelledby': 'browser-heading' },
      h('h2', { id: 'browser-heading' }, 'Shared browser'),
      status,
      retry,
      switches,
      switchResult,
      screenError,
      screenPart,
    ),
  );

  // ---- what the panel says ----------------------------------------------------------------

  const iHost = () => control.host?.id === me.id;
  const kiosk = () => Boolean(state?.kiosk);
  const manager = () => Boolean(state?.you?.manager);
  const acknowledged = () => {
    try {
      return localStorage.getItem(noticeKey) === '1';
    } catch {
      return false;
    }
  };
  /** Input goes to the page only from the host who has read the notice (§11). */
  const drives = () => iHost() && acknowledged() && socket?.readyState === WebSocket.OPEN;

  function setStatus(words, kind = 'info') {
    status.textContent = words;
    status.dataset.kind = kind;
  }

  function sayRunning() {
    if (!running) return;
    const watching = viewerCount === 1 ? '1 person watching' : `${viewerCount} people watching`;
    setStatus(`The shared browser is running — ${watching}.`, 'ok');
  }

  function drawSwitches() {
    if (!maySwitch) return fill(switches);
    const start = actionButton(
      'Start the browser',
      async () => {
        try {
          await api.post(`/v1/portal/chats/${api.segment(chatId)}/start`);
        } catch (error) {
          showResult(switchResult, startStopWords(error), 'error');
          return null;
        }
        setRunning(true);
        return 'The browser is running.';
      },
      { busyLabel: 'Starting the browser…', region: switchResult, done: (words) => words },
    );
    const stop = actionButton(
      'Stop the browser',
      async () => {
        try {
          await api.post(`/v1/portal/chats/${api.segment(chatId)}/stop`);
        } catch (error) {
          showResult(switchResult, startStopWords(error), 'error');
          return null;
        }
        return 'The browser was stopped.';
      },
      { busyLabel: 'Stopping the browser…', region: switchResult, done: (words) => words },
    );
    return fill(switches, running ? stop : start);
  }

  function drawPage() {
    const url = page?.url ?? '';
    const words = page?.title || 'Untitled page';
    if (document.activeElement !== address || !iHost()) address.value = url;
    fill(title, page ? [page.loading ? 'Loading: ' : 'Page: ', h('strong', {}, words), url ? ` — ${url}` : ''] : 'Waiting for the first page…');
    canvas.setAttribute('aria-label', page ? `The shared browser’s screen, showing “${words}” at ${url || 'no address'}` : 'The shared browser’s screen');
    back.disabled = !page?.can_go_back;
    forward.disabled = !page?.can_go_forward;
  }

  function person(user) {
    return user.id === me.id ? `${user.username} (you)` : user.username;
  }

  function drawControl() {
    const host = control.host;
    const queue = control.queue ?? [];
    const away = host && control.host_away_until ? ' (away for a moment)' : '';
    const hostWords = !host ? 'Nobody controls the browser.' : iHost() ? `You control the browser${away}.` : `${host.username} controls the browser${away}.`;
    const queueWords = queue.length ? ` Waiting: ${queue.map(person).join(', ')}.` : '';
    controlLine.textContent = hostWords + queueWords;

    const hosting = iHost();
    const queued = queue.some((u) => u.id === me.id);
    const mayControl = state?.you?.may_control !== false;
    const buttons = [];
    if (!hosting && !queued && mayControl) buttons.push(button('Request control', () => afterNotice(() => send('control:request')), 'request'));
    if (queued) buttons.push(button('Cancel request', () => send('control:cancel'), 'cancel', 'secondary'));
    if (hosting) buttons.push(button('Release control', () => send('control:release'), 'release', 'secondary'));
    if (manager() && !hosting && mayControl) buttons.push(button('Take control', () => afterNotice(() => send('control:take')), 'take'));
    if (manager() && host && !hosting) buttons.push(button('Revoke control', () => send('control:revoke'), 'revoke', 'secondary'));
    const mayGrant = manager() || (hosting && !state?.settings?.locked_controls);
    const others = viewers.filter((v) => v.id !== host?.id);
    if (mayGrant && others.length) {
      const choice = h('select', { id: 'browser-grant-to', name: 'user_id' }, others.map((v) => h('option', { value: String(v.id) }, person(v))));
      buttons.push(
        h(
          'form',
          { class: 'browser-grant', novalidate: true, onsubmit: (event) => { event.preventDefault(); send('control:grant', { user_id: Number(choice.value) }); } },
          h('label', { for: 'browser-grant-to' }, 'Hand control to'),
          ' ',
          choice,
          ' ',
          h('button', { type: 'submit', class: 'secondary' }, 'Grant control'),
        ),
      );
    }
    if (!mayControl && !hosting) buttons.push(h('p', { class: 'hint' }, 'You may watch, but not control this browser.'));
    fill(controlButtons, buttons);

    // The address bar is for the host; everyone else reads it. Kiosk mode shows none (§2.5).
    addressBar.hidden = kiosk();
    address.readOnly = !hosting;
    for (const node of [back, forward, reload, go]) node.hidden = !hosting;
    typeForm.hidden = !hosting;
    if (hosting) {
      canvas.setAttribute('role', 'application');
      canvas.setAttribute('aria-roledescription', 'shared browser screen');
      canvas.setAttribute('tabindex', '0');
      canvas.setAttribute('aria-describedby', 'browser-screen-hint');
      canvas.dataset.driving = 'true';
      screenHint.textContent = 'You control the page: click into the screen, then your mouse, wheel and keys act on it. Tab leaves the screen.';
    } else {
      canvas.setAttribute('role', 'img');
      canvas.removeAttribute('aria-roledescription');
      canvas.removeAttribute('tabindex');
      canvas.removeAttribute('aria-describedby');
      delete canvas.dataset.driving;
      screenHint.textContent = host ? `${host.username} controls the page; you watch.` : 'Nobody controls the page.';
    }
    if (hosting && !acknowledged() && notice.hidden) showNotice(null);
    drawPage();
  }

  function button(label, onclick, act, className = '') {
    return h('button', { type: 'button', class: className, 'data-act': act, onclick }, label);
  }

  function drawViewers() {
    fill(
      viewerList,
      viewers.map((v) =>
        h(
          'li',
          { 'data-user-id': String(v.id) },
          h('span', {}, person(v)),
          v.id === control.host?.id ? [' ', h('span', { class: 'tag current' }, 'in control')] : null,
          (control.queue ?? []).some((q) => q.id === v.id) ? [' ', h('span', { class: 'tag' }, 'waiting')] : null,
        ),
      ),
    );
    drawCursors();
  }

  /**
   * §11: before someone first takes control in this chat on this browser, say that the browser
   * room is not end-to-end encrypted. `then` is the act that waits for the answer (null when
   * control came without asking: a grant or implicit hosting; input waits for the answer then).
   */
  function showNotice(then) {
    const agree = h('button', { type: 'button', 'data-act': 'acknowledge' }, 'I understand');
    agree.addEventListener('click', () => {
      try {
        localStorage.setItem(noticeKey, '1');
      } catch {
        // Without storage the notice is simply shown again next time.
      }
      notice.hidden = true;
      fill(notice);
      if (then) then();
      drawControl();
      if (iHost()) canvas.focus();
    });
    const later = then ? h('button', { type: 'button', class: 'secondary', onclick: () => { notice.hidden = true; fill(notice); } }, 'Not now') : null;
    fill(notice, h('p', {}, NOTICE_WORDS), h('div', { class: 'actions' }, agree, ' ', later));
    notice.hidden = false;
    agree.focus();
  }

  function afterNotice(act) {
    if (acknowledged()) act();
    else showNotice(act);
  }

  // ---- the screen socket ------------------------------------------------------------------

  function send(event, data = null) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify({ event, data }));
    return true;
  }

  function wantScreen() {
    return running && joined && !ended && !socket && !retryTimer;
  }

  function openScreen() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (!running || !joined || ended || socket) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/v1/portal/chats/${api.segment(chatId)}/screen`);
    ws.binaryType = 'arraybuffer';
    socket = ws;
    wasOpen = false;
    setStatus('Opening the screen…');
    ws.addEventListener('open', () => {
      if (socket !== ws) return;
      wasOpen = true;
      attempt = 0;
      refusals = 0;
      screenError.textContent = '';
    });
    ws.addEventListener('message', (message) => {
      if (socket !== ws) return;
      if (message.data instanceof ArrayBuffer) {
        drawFrame(message.data);
        return;
      }
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame && typeof frame.event === 'string') handle(frame.event, frame.data ?? {});
    });
    ws.addEventListener('close', (closed) => {
      if (socket !== ws) return;
      socket = null;
      screenClosed(closed.code, wasOpen);
    });
  }

  function closeScreen() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (socket) {
      const ws = socket;
      socket = null;
      ws.close(1000);
    }
    cursors.clear();
    drawCursors();
  }

  function screenClosed(code, opened) {
    cursors.clear();
    drawCursors();
    if (code === MACHINE_STOPPED) {
      // `screen:stopped` said why; the next `room:started` opens it again.
      return;
    }
    if (code === ROOM_LEFT) {
      joined = false;
      setStatus(CLOSE_WORDS[code]);
      return;
    }
    if (FINAL_CODES.has(code)) {
      ended = true;
      setStatus(CLOSE_WORDS[code], 'error');
      return;
    }
    if (!RECONNECT_CODES.has(code)) {
      setStatus(`The screen was closed (code ${code}).`, 'error');
      offerRetry();
      return;
    }
    if (!opened) refusals += 1;
    if (refusals >= REFUSALS_BEFORE_GIVING_UP) {
      setStatus('The screen could not be opened. The browser may have stopped, you may have too many screens open, or it has as many viewers as it can take.', 'error');
      offerRetry();
      return;
    }
    attempt += 1;
    const ceiling = Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** (attempt - 1));
    setStatus(CLOSE_WORDS[code] ?? 'The screen’s connection was lost; reconnecting…');
    retryTimer = setTimeout(() => {
      retryTimer = null;
      openScreen();
    }, ceiling / 2 + Math.random() * (ceiling / 2));
  }

  /** After a close that is not retried by itself, a person may still try again. */
  function offerRetry() {
    retry.hidden = false;
  }

  function showLive(show) {
    screenPart.hidden = !show;
    container.dataset.running = show ? 'true' : 'false';
  }

  function setRunning(now) {
    const changed = now !== running;
    running = now;
    if (changed) onRunning(running);
    drawSwitches();
    if (running) {
      showLive(true);
      sayRunning();
      if (wantScreen()) openScreen();
    } else {
      closeScreen();
      showLive(false);
      state = null;
      page = null;
      control = { host: null, host_away_until: null, queue: [] };
      viewers = [];
      drawnFrame = 0;
      newestFrame = 0;
      delete canvas.dataset.frame;
    }
  }

  function stoppedWords(reason, stoppedBy) {
    if (reason === 'requested' && stoppedBy) {
      const who = stoppedBy === me.id ? 'you stopped it' : stoppedBy === chat.owner?.id ? `${chat.owner.username} stopped it` : 'someone stopped it';
      return `The shared browser stopped: ${who}.`;
    }
    return `The shared browser stopped: ${stopReason(reason)}.`;
  }

  // ---- frames (§7.3) ----------------------------------------------------------------------

  const context = canvas.getContext('2d');

  function drawFrame(buffer) {
    if (buffer.byteLength < FRAME_HEADER_MIN) return;
    const view = new DataView(buffer);
    const version = view.getUint8(0);
    const kind = view.getUint8(1);
    const headerLength = view.getUint16(2);
    // A later version may add fields, so the image starts where the header says.
    if (version !== FRAME_VERSION || kind !== FRAME_KIND_JPEG || headerLength < FRAME_HEADER_MIN || headerLength > buffer.byteLength) return;
    const number = view.getUint32(4);
    const width = view.getUint16(8);
    const height = view.getUint16(10);
    const jpegLength = Math.min(view.getUint32(20), buffer.byteLength - headerLength);
    if (!width || !height || number <= newestFrame) return;
    newestFrame = number;
    const jpeg = new Uint8Array(buffer, headerLength, jpegLength);
    createImageBitmap(new Blob([jpeg], { type: 'image/jpeg' }))
      .then((bitmap) => {
        // Decoding is asynchronous: a later frame may already be on the canvas.
        if (number <= drawnFrame || !running) {
          bitmap.close();
          return;
        }
        if (canvas.width !== width || canvas.height !== height) {
          canvas.width = width;
          canvas.height = height;
          cursorLayer.width = width;
          cursorLayer.height = height;
          drawCursors();
        }
        context.drawImage(bitmap, 0, 0, width, height);
        bitmap.close();
        drawnFrame = number;
        canvas.dataset.frame = String(number);
      })
      .catch(() => {
        // A frame that does not decode is skipped; the next one replaces it.
      });
  }

  // ---- cursors (§7.8) ---------------------------------------------------------------------

  const cursorContext = cursorLayer.getContext('2d');

  function drawCursors() {
    cursorContext.clearRect(0, 0, cursorLayer.width, cursorLayer.height);
    // Cursors keep one size on the display however far the screen is scaled down.
    const shown = cursorLayer.getBoundingClientRect().width;
    const scale = shown > 0 ? Math.max(1, cursorLayer.width / shown) : 1;
    for (const [userId, cursor] of cursors) {
      const name = viewers.find((v) => v.id === userId)?.username ?? (control.host?.id === userId ? control.host.username : 'someone');
      const colour = cursor.host ? '#c2410c' : '#2f3fb0';
      cursorContext.save();
      cursorContext.translate(cursor.x, cursor.y);
      cursorContext.scale(scale, scale);
      cursorContext.beginPath();
      cursorContext.moveTo(0, 0);
      cursorContext.lineTo(0, 16);
      cursorContext.lineTo(4.5, 12);
      cursorContext.lineTo(8, 19);
      cursorContext.lineTo(10.5, 18);
      cursorContext.lineTo(7, 11);
      cursorContext.lineTo(12, 11);
      cursorContext.closePath();
      cursorContext.fillStyle = colour;
      cursorContext.strokeStyle = '#ffffff';
      cursorContext.lineWidth = 1.5;
      cursorContext.fill();
      cursorContext.stroke();
      cursorContext.font = '12px system-ui, sans-serif';
      const label = cursor.host ? `${name} (in control)` : name;
      const width = cursorContext.measureText(label).width + 8;
      cursorContext.fillStyle = colour;
      cursorContext.fillRect(12, 18, width, 16);
      cursorContext.fillStyle = '#ffffff';
      cursorContext.fillText(label, 16, 30);
      cursorContext.restore();
    }
  }

  // ---- server events (§7.5) ---------------------------------------------------------------

  function handle(event, data) {
    if (data.chat_id !== undefined && data.chat_id !== chatId) return;
    switch (event) {
      case 'screen:state':
        state = data;
        page = data.page;
        control = data.control ?? control;
        viewers = data.viewers ?? [];
        if (data.viewport && drawnFrame === 0) {
          canvas.width = data.viewport.width;
          canvas.height = data.viewport.height;
          cursorLayer.width = data.viewport.width;
          cursorLayer.height = data.viewport.height;
        }
        sayRunning();
        if (data.state === 'starting') setStatus('The shared browser is starting…');
        drawControl();
        drawViewers();
        break;
      case 'screen:page': {
        const urlChanged = page?.url !== data.url;
        page = data;
        drawPage();
        if (urlChanged && !data.loading) announce(`The shared page is now ${data.title || data.url}.`);
        break;
      }
      case 'screen:viewers':
        viewers = data.viewers ?? [];
        drawViewers();
        drawControl();
        break;
      case 'control:changed': {
        const wasHost = iHost();
        control = { host: data.host, host_away_until: data.host_away_until, queue: data.queue ?? [] };
        drawControl();
        drawViewers();
        if (!wasHost && iHost()) announce('You now control the shared browser.');
        if (wasHost && !iHost()) announce('You no longer control the shared browser.');
        break;
      }
      case 'cursor:moved':
        cursors.set(data.user_id, { x: data.x, y: data.y, host: Boolean(data.host) });
        drawCursors();
        break;
      case 'cursor:gone':
        cursors.delete(data.user_id);
        drawCursors();
        break;
      case 'nav:refused':
        screenError.textContent = data.top_level
          ? `The page ${data.url} was not opened: ${refusalReason(data.reason)}.`
          : `Part of the page from ${data.url} was blocked: ${refusalReason(data.reason)}.`;
        break;
      case 'screen:error':
        screenError.textContent = screenErrorWords(data);
        break;
      case 'screen:stopped':
        setStatus(stoppedWords(data.reason, null));
        setRunning(false);
        break;
      default:
        break;
    }
  }

  // ---- the host's input (§7.6) ------------------------------------------------------------

  /** A pointer position on the canvas in the viewport's pixels (the frames' pixels). */
  function toViewport(event) {
    const box = canvas.getBoundingClientRect();
    if (!box.width || !box.height) return { x: 0, y: 0 };
    return {
      x: rounded(clamp(((event.clientX - box.left) / box.width) * canvas.width, 0, canvas.width - 1)),
      y: rounded(clamp(((event.clientY - box.top) / box.height) * canvas.height, 0, canvas.height - 1)),
    };
  }

  let pendingMove = null;
  let moveTimer = null;
  let lastMoveAt = 0;

  function flushMove() {
    clearTimeout(moveTimer);
    moveTimer = null;
    if (!pendingMove) return;
    lastMoveAt = performance.now();
    send('input:pointer', pendingMove);
    pendingMove = null;
  }

  function queueMove(data) {
    pendingMove = data;
    if (moveTimer) return;
    moveTimer = setTimeout(flushMove, Math.max(0, lastMoveAt + MOVE_INTERVAL_MS - performance.now()));
  }

  let lastDown = { at: 0, x: 0, y: 0, button: -1, count: 0 };

  function clickCount(event) {
    const near = Math.hypot(event.clientX - lastDown.x, event.clientY - lastDown.y) <= DOUBLE_CLICK_DISTANCE;
    const soon = event.timeStamp - lastDown.at <= DOUBLE_CLICK_MS;
    const count = near && soon && event.button === lastDown.button ? Math.min(3, lastDown.count + 1) : 1;
    lastDown = { at: event.timeStamp, x: event.clientX, y: event.clientY, button: event.button, count };
    return count;
  }

  canvas.addEventListener('pointermove', (event) => {
    // A viewer's moves are shown to others as their cursor only while the chat allows it (§7.8).
    const showsCursor = Boolean(state?.settings?.inactive_cursors) && !iHost() && socket?.readyState === WebSocket.OPEN;
    if (!drives() && !showsCursor) return;
    queueMove({ type: 'move', ...toViewport(event), buttons: event.buttons, modifiers: modifiersOf(event) });
  });
  canvas.addEventListener('pointerdown', (event) => {
    if (!drives()) return;
    event.preventDefault();
    canvas.focus();
    canvas.setPointerCapture?.(event.pointerId);
    flushMove();
    send('input:pointer', {
      type: 'down',
      ...toViewport(event),
      button: BUTTON_NAMES[event.button] ?? 'left',
      buttons: clamp(event.buttons, 0, 31),
      click_count: clickCount(event),
      modifiers: modifiersOf(event),
    });
  });
  function pointerUp(event) {
    if (!drives()) return;
    event.preventDefault();
    flushMove();
    send('input:pointer', {
      type: 'up',
      ...toViewport(event),
      button: BUTTON_NAMES[event.button] ?? 'left',
      buttons: clamp(event.buttons, 0, 31),
      click_count: lastDown.count || 1,
      modifiers: modifiersOf(event),
    });
  }
  canvas.addEventListener('pointerup', pointerUp);
  canvas.addEventListener('pointercancel', pointerUp);
  canvas.addEventListener('contextmenu', (event) => {
    if (iHost()) event.preventDefault();
  });

  let pendingWheel = null;
  let wheelTimer = null;
  canvas.addEventListener(
    'wheel',
    (event) => {
      if (!drives()) return;
      event.preventDefault();
      const unit = event.deltaMode === 1 ? WHEEL_LINE_PX : event.deltaMode === 2 ? canvas.height : 1;
      const at = toViewport(event);
      pendingWheel = {
        ...at,
        dx: (pendingWheel?.dx ?? 0) + event.deltaX * unit,
        dy: (pendingWheel?.dy ?? 0) + event.deltaY * unit,
        modifiers: modifiersOf(event),
      };
      if (wheelTimer) return;
      wheelTimer = setTimeout(() => {
        wheelTimer = null;
        if (!pendingWheel) return;
        const wheel = pendingWheel;
        pendingWheel = null;
        send('input:wheel', { ...wheel, dx: rounded(clamp(wheel.dx, -WHEEL_LIMIT, WHEEL_LIMIT)), dy: rounded(clamp(wheel.dy, -WHEEL_LIMIT, WHEEL_LIMIT)) });
      }, MOVE_INTERVAL_MS);
    },
    { passive: false },
  );

  function keyData(type, event) {
    const printable = [...event.key].length === 1 && !event.ctrlKey && !event.metaKey;
    const text = type === 'down' ? (printable ? event.key : event.key === 'Enter' ? '\r' : '') : '';
    return {
      type,
      key: event.key.slice(0, 32) || 'Unidentified',
      code: (event.code ?? '').slice(0, 32),
      text: text.slice(0, 8),
      modifiers: modifiersOf(event),
      repeat: event.repeat,
    };
  }

  /** Keys the page keeps: Tab leaves the screen (no keyboard trap); Ctrl+V fires `paste`. */
  function keptByThisPage(event) {
    if (event.key === 'Tab' && !event.ctrlKey && !event.altKey && !event.metaKey) return true;
    return (event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'v';
  }

  canvas.addEventListener('keydown', (event) => {
    if (!drives() || keptByThisPage(event)) return;
    event.preventDefault();
    send('input:key', keyData('down', event));
  });
  canvas.addEventListener('keyup', (event) => {
    if (!drives() || keptByThisPage(event)) return;
    event.preventDefault();
    send('input:key', keyData('up', event));
  });
  canvas.addEventListener('paste', (event) => {
    if (!drives()) return;
    const text = event.clipboardData?.getData('text/plain') ?? '';
    event.preventDefault();
    if (text) send('input:text', { text: text.slice(0, 4000) });
  });

  function typeText(event) {
    event.preventDefault();
    const text = typeInput.value;
    if (!text || !iHost()) return;
    afterNotice(() => {
      if (send('input:text', { text: text.slice(0, 4000) })) typeInput.value = '';
    });
  }

  function goTo(event) {
    event.preventDefault();
    if (!iHost() || kiosk()) return;
    let url = address.value.trim();
    if (!url) return;
    // A typed host name without a scheme means the web address people expect.
    if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) url = `https://${url}`;
    screenError.textContent = '';
    send('nav:go', { url });
    canvas.focus();
  }

  // ---- the realtime connection (§5.3) -----------------------------------------------------

  const mine = (data) => data && data.chat_id === chatId;
  const handlers = {
    'room:joined': (data) => {
      if (!mine(data)) return;
      joined = true;
      if (typeof data.viewer_count === 'number') viewerCount = data.viewer_count;
      if (typeof data.running === 'boolean') setRunning(data.running);
      if (running) sayRunning();
      else if (!status.textContent) setStatus('The shared browser is not running.');
      if (wantScreen()) openScreen();
    },
    'room:started': (data) => {
      if (!mine(data)) return;
      ended = false;
      refusals = 0;
      setRunning(true);
      announce('The shared browser started.');
    },
    'room:stopped': (data) => {
      if (!mine(data)) return;
      setStatus(stoppedWords(data.reason, data.stopped_by));
      setRunning(false);
      announce('The shared browser stopped.');
    },
    'room:viewers': (data) => {
      if (!mine(data)) return;
      viewerCount = data.viewer_count;
      sayRunning();
    },
    'room:kicked': (data) => {
      if (!mine(data)) return;
      ended = true;
      closeScreen();
      showLive(false);
      fill(switches);
    },
    'socket:close': () => {
      joined = false;
    },
  };
  for (const [event, handler] of Object.entries(handlers)) keep(realtime.on(event, handler));
  keep(() => {
    ended = true;
    clearTimeout(moveTimer);
    clearTimeout(wheelTimer);
    closeScreen();
  });

  setStatus(running ? 'The shared browser is running.' : 'The shared browser is not running.', running ? 'ok' : 'info');
  showLive(running);
  drawSwitches();
  drawPage();
  onRunning(running);
}
