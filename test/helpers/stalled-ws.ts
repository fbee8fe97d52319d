// A WebSocket client that stops reading: python3 with a 4 KB receive buffer completes the handshake on
// /api/live, prints the status line, then sleeps without ever reading again. A real socket in the state a hung
// browser leaves it in (the kernel stops acking, the server's writes back up); stop it with kill().
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

const PY = `
import socket, sys, time, base64, os
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', int(sys.argv[1])))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(('GET /api/live HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n'
  'Sec-WebSocket-Key: ' + key + '\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n').encode())
head = b''
while b'\\r\\n\\r\\n' not in head:
  head += s.recv(1)
print(head.split(b'\\r\\n')[0].decode(), flush=True)
time.sleep(3600)
`;
import { track } from './children.js';

export interface StalledClient {
  process: ChildProcess;
  /** The HTTP status line of the handshake (101 Switching Protocols when it worked). */
  statusLine: Promise<string>;
}

export function stalledWebSocket(port: number): StalledClient {
  const c = track(spawn('python3', ['-c', PY, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const statusLine = new Promise<string>((resolve, reject) => {
    c.stdout!.once('data', (b: Buffer) => resolve(b.toString().trim()));
    c.once('exit', (code) => reject(new Error(`stalled client exited (${code}) before the handshake`)));
  });
  return { process: c, statusLine };
}
