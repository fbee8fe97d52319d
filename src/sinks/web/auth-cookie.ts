// The session cookie: set and read by hand for one name (the console needs no general cookie support).
// HttpOnly keeps it from page scripts, SameSite=Strict from every cross-site request, Secure on https.
// No Max-Age: the browser forgets it on close and the server ends it after the idle time anyway.

export const SESSION_COOKIE = 'pinpoint_session';

/** The Set-Cookie value that opens a session. */
export function sessionCookie(id: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** The Set-Cookie value that makes the browser drop the session cookie. */
export function clearedCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}

/** The session id in a Cookie header, or undefined (ids are base64url: anything else is not ours). */
export function sessionIdFrom(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (/^[A-Za-z0-9_-]{43}$/.test(value)) return value;
  }
  return undefined;
}
