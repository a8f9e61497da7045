// api.js: the JSON API over fetch. It keeps the session's CSRF token and
// sends it as X-CSRF-Token on every unsafe request; a 401 anywhere is
// announced as a "wharf:signed-out" event on window.

let csrf = ''
const HINT = 'wharf.signedIn' // set while we believe a session cookie exists

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message)
    this.status = status
    this.retryAfter = retryAfter
  }
}

// csrfHeaders are the headers an unsafe request made outside api() needs
// (the tus client's POST/PATCH/DELETE).
export function csrfHeaders() {
  return csrf ? { 'X-CSRF-Token': csrf } : {}
}

const safe = new Set(['GET', 'HEAD', 'OPTIONS'])

// api sends method to /api/v1 + path with body as JSON and returns the
// decoded answer (null for 204); errors come back as ApiError with the
// server's message.
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  if (!safe.has(method)) Object.assign(headers, csrfHeaders())
  let res
  try {
    res = await fetch('/api/v1' + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    })
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check your connection and try again.')
  }
  if (res.status === 204) return null
  const text = await res.text()
  let data = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = null
  }
  if (!res.ok) {
    const msg = (data && data.error) || text.trim() || `${res.status} ${res.statusText}`
    if (res.status === 401 && path !== '/session') {
      window.dispatchEvent(new CustomEvent('wharf:signed-out'))
    }
    throw new ApiError(res.status, msg, Number(res.headers.get('Retry-After')) || 0)
  }
  return data
}

// The session: who is signed in. current() asks the server only when a
// session is believed to exist, so that a fresh visit goes straight to the
// sign-in form.
export const session = {
  async current() {
    if (!localStorage.getItem(HINT)) return null
    try {
      return remember(await api('GET', '/session'))
    } catch (err) {
      if (err.status === 401) {
        forget()
        return null
      }
      throw err
    }
  },
  async login(user, password) {
    return remember(await api('POST', '/session', { user, password }))
  },
  async logout() {
    try {
      await api('DELETE', '/session')
    } finally {
      forget()
    }
  },
}

function remember(s) {
  csrf = s.csrf || ''
  localStorage.setItem(HINT, '1')
  return s
}

function forget() {
  csrf = ''
  localStorage.removeItem(HINT)
}

// wsURL turns a same-origin path into a websocket URL.
export function wsURL(path) {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`
}
