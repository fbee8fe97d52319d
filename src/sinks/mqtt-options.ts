// Turns the mqtt config section into mqtt.js client options (credentials, TLS files, protocol version).
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { Config } from '../config/schema.js';

export function mqttClientOptions(cfg: Config['mqtt']): IClientOptions {
  const read = (path: string | undefined): Buffer | undefined => (path ? readFileSync(path) : undefined);
  return {
    protocolVersion: cfg.protocolVersion,
    clientId: cfg.clientId,
    username: cfg.username,
    password: cfg.password,
    keepalive: cfg.keepaliveSec,
    ca: read(cfg.tls?.ca),
    cert: read(cfg.tls?.cert),
    key: read(cfg.tls?.key),
    rejectUnauthorized: cfg.tls?.rejectUnauthorized ?? true,
  };
}
