// Guards against pages from other sites that reach the console through the operator's own browser.
// Without auth (loopback only) the Host header must name a loopback address: a DNS-rebinding page whose name
// now resolves to 127.0.0.1 sends its own name and is refused. A WebSocket handshake is not bound by CORS, so
// one whose Origin names another host than the one it connects to is refused in every mode.
import type { FastifyRequest } from 'fastify';
import { isLoopback } from '../../config/schema.js';

/** The host name of a Host header or an origin's authority (`[::1]:8080` → `::1`). */
function hostName(authority: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(authority);
  if (v6) return v6[1];
  return authority.replace(/:\d+$/, '').toLowerCase();
}

/** Why a request to the no-auth loopback server is refused, or undefined when its Host is loopback. */
export function loopbackHostProblem(req: FastifyRequest): string | undefined {
  const host = req.headers.host;
  if (host !== undefined && isLoopback(hostName(host))) return undefined;
  return 'the console without web.auth answers only requests addressed to a loopback name (127.0.0.1, localhost, [::1])';
}

/** Why a WebSocket handshake is refused (its page is from another site), or undefined. */
export function crossSiteWebSocket(req: FastifyRequest): string | undefined {
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return undefined;
  const origin = req.headers.origin;
  if (origin === undefined) return undefined; // not a browser: no ambient credentials to abuse
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return 'WebSocket from an unreadable Origin';
  }
  return originHost.toLowerCase() === (req.headers.host ?? '').toLowerCase()
    ? undefined
    : 'WebSocket from a page of another site';
}
