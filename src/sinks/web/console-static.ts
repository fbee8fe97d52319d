// The console's pages: built assets (dist/console: index.html, styles, compiled TypeScript modules) served from
// the package with @fastify/static, and the page routes (/, /part/<camera>/<partId>, /status, /whatif) that all
// answer index.html so a deep link from a PLC HMI opens the right view. Nothing from a CDN: line PCs are offline.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/** dist/console next to this module (installed package), or ../../../dist/console when run from src by tsx. */
export function consoleAssetsDir(): string | undefined {
  for (const rel of ['../../console/', '../../../dist/console/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`) && existsSync(`${dir}app.js`)) return dir;
  }
  return undefined;
}

export async function registerConsoleStatic(app: FastifyInstance, root: string): Promise<void> {
  const { default: fastifyStatic } = await import('@fastify/static');
  await app.register(fastifyStatic, { root, prefix: '/console/', index: false, maxAge: 60_000 });
  const page = async (_req: unknown, reply: { sendFile(f: string): unknown }) => reply.sendFile('index.html');
  app.get('/', page);
  app.get('/status', page);
  app.get('/whatif', page);
  app.get('/search', page);
  app.get('/part/:camera/:partId', page);
}
