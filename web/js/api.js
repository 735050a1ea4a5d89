// Same-origin JSON client for the DreamStream API. Every failure becomes an ApiError carrying
// the HTTP status and the server's {"error":{"code","message"}}.

export class ApiError extends Error {
  constructor(status, code, message, body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const kFallbackMessages = {
  0: 'Could not reach the server. Check your connection and try again.',
  401: 'Please log in first.',
  403: 'That is not allowed.',
  404: 'Not found.',
  413: 'That is too large.',
  429: 'Too many attempts. Wait a moment and try again.',
  500: 'Something went wrong on our side. Try again in a moment.',
  502: 'The server is unreachable right now.',
  503: 'This service is not available right now.',
};

export async function api(path, { method = 'GET', body, signal, headers = {} } = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json', ...headers },
    signal,
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', kFallbackMessages[0]);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const message = err.message || kFallbackMessages[res.status] || `Request failed (${res.status}).`;
    throw new ApiError(res.status, err.code || `http_${res.status}`, message, data);
  }
  return data;
}

export const get = (path, opts) => api(path, { ...opts, method: 'GET' });
export const post = (path, body, opts) => api(path, { ...opts, method: 'POST', body });
export const patch = (path, body, opts) => api(path, { ...opts, method: 'PATCH', body });
export const del = (path, body, opts) => api(path, { ...opts, method: 'DELETE', body });

let mePromise = null;

// The logged-in user, or null. Shared by the header and the page so /api/me is fetched once.
export function currentUser({ refresh = false } = {}) {
  if (!mePromise || refresh) {
    mePromise = get('/api/me').then(
      (d) => d.user,
      (e) => {
        if (e instanceof ApiError && e.status === 401) return null;
        throw e;
      },
    );
  }
  return mePromise;
}

const kDefaultConfig = { payments_enabled: true, min_credits: 1, max_credits: 1000, default_credits: 12 };

// Server-side settings the UI adapts to; defaults when the endpoint is missing.
export async function siteConfig() {
  try {
    return { ...kDefaultConfig, ...(await get('/api/config')) };
  } catch {
    return { ...kDefaultConfig };
  }
}
