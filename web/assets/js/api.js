// The one way pages talk to the server: same-origin fetch, JSON in and out, the `psession` cookie
// sent by the browser. Every non-2xx answer becomes an `ApiError` carrying the contract's error
// body (spec 00-conventions §5): `code`, `message` (the server's words), `field`, and the extra
// fields some codes add (`expiresAt`, `limit`, `ttl`, `epoch`), plus `retryAfter` from the header.

/** An answer the API refused, or a request that never got one (`code` `ERR_NETWORK`). */
export class ApiError extends Error {
  constructor({ status, body = {}, retryAfter = null }) {
    super(body.error || `The server answered ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code || 'ERR_UNKNOWN';
    this.field = body.field ?? null;
    this.correlationId = body.correlation_id ?? null;
    this.expiresAt = body.expires_at ?? null;
    this.limit = body.limit ?? null;
    this.ttl = body.ttl ?? null;
    this.epoch = body.epoch ?? null;
    /** Whole seconds the server asked us to wait (`Retry-After`), or null. */
    this.retryAfter = retryAfter;
    this.body = body;
  }
}

let unauthorizedHandler = null;

/**
 * Called with the error whenever the server answers 401 `ERR_AUTH_REQUIRED`: the session is gone.
 * The app uses it to send the person to the login page.
 */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/**
 * `method` `path` with an optional JSON `body`. Resolves to the parsed JSON answer (with
 * `X-Total-Count` as `total` on a bare array's `response` when asked through `getPage`).
 */
export async function request(method, path, body, { raw = false } = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
    cache: 'no-store',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError({
      status: 0,
      body: { code: 'ERR_NETWORK', error: 'The server cannot be reached' },
    });
  }
  let parsed = null;
  const text = await response.text();
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const retry = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
    const error = new ApiError({
      status: response.status,
      body: parsed && typeof parsed === 'object' ? parsed : {},
      retryAfter: Number.isFinite(retry) ? retry : null,
    });
    if (error.code === 'ERR_AUTH_REQUIRED' && unauthorizedHandler) unauthorizedHandler(error);
    throw error;
  }
  return raw ? { body: parsed, headers: response.headers } : parsed;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);

/** A bare-array list (spec 00-conventions §7): `{ items, total }` from the body and `X-Total-Count`. */
export async function getList(path) {
  const { body, headers } = await request('GET', path, undefined, { raw: true });
  const total = Number.parseInt(headers.get('X-Total-Count') ?? '', 10);
  return { items: body ?? [], total: Number.isFinite(total) ? total : (body ?? []).length };
}

/** `encodeURIComponent` for one path segment, so ids and codes never change a path's shape. */
export const segment = (value) => encodeURIComponent(String(value));
