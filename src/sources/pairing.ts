// How a triggered camera's frames are paired with PLC part messages, from its config: by the camera's own
// evidence where it gives some (a GigE camera through gige-runner.py), by arrival order only where the user
// asked for it. The config schema has already refused the combinations that cannot work.
import type { CameraConfig } from '../config/schema.js';
import type { CameraPairing } from '../pipeline/triggers.js';
import { triggerKind } from './gige.js';

/** What `pairing: order` costs, said at start-up and by `config check`. */
export const ORDER_WARNING =
  'triggers paired by arrival order: a lost or merged frame gives the next part this part’s image';

/** The camera's pairing (null when it takes no triggers), and a warning when it is by order. */
export function cameraPairing(cfg: CameraConfig): (CameraPairing & { warning?: string }) | null {
  if (!cfg.trigger.enabled) return null;
  const p = cfg.trigger.pairing;
  if (p === 'order') return { method: 'order', warning: ORDER_WARNING };
  if (cfg.type !== 'gige') return { method: 'order', warning: ORDER_WARNING }; // the schema refuses it
  const toleranceMs = cfg.trigger.toleranceMs;
  if (p === 'timestamp') return { method: 'timestamp', toleranceMs };
  return triggerKind(cfg) === 'software' ? { method: 'trigger-token' } : { method: 'timestamp', toleranceMs };
}
