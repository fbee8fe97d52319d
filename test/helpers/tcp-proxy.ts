// A TCP relay between a client and a real broker that a test can cut, to lose a connection while the broker
// stays up (a cable pulled, a switch rebooted): the broker then sees the client vanish and publishes its will,
// which stopping the broker itself could never show.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../src/util/net.js';

export interface TcpProxy {
  port: number;
  url: string;
  /** Drops every relayed connection and refuses new ones. */
  cut(): Promise<void>;
  /** Accepts connections again (same port). */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
      server = s;
    });
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await listen();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    async cut() {
      const closing = stopListening();
      for (const s of sockets) s.destroy();
      await closing;
    },
    restore: listen,
    async close() {
      const closing = stopListening();
      for (const s of sockets) s.destroy();
      await closing;
    },
  };
}
