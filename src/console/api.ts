// The console's calls to its server: the session (user, role, CSRF token) first, then JSON GETs and POSTs that
// carry x-csrf-token. A 401 means "log in" (only when the server requires users).
export interface Session {
  user: string;
  role: 'viewer' | 'engineer';
  csrfToken: string;
  authRequired: boolean;
}

let session: Session | null = null;

export class NeedLogin extends Error {}

export async function loadSession(): Promise<Session> {
  const r = await fetch('/api/session', { credentials: 'same-origin' });
  if (r.status === 401) throw new NeedLogin('log in');
  if (!r.ok) throw new Error(`session: HTTP ${r.status}`);
  session = (await r.json()) as Session;
  return session;
}

export function currentSession(): Session | null {
  return session;
}

async function answer<T>(r: Response): Promise<T> {
  const body = (await r.json().catch(() => ({}))) as T & { error?: string };
  if (r.status === 401) throw new NeedLogin(body.error ?? 'log in');
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
}

export async function getJson<T>(url: string): Promise<T> {
  return answer<T>(await fetch(url, { credentials: 'same-origin' }));
}

export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (session) headers['x-csrf-token'] = session.csrfToken;
  return answer<T>(
    await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin' }),
  );
}
