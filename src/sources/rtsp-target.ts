// The rule for an RTSP camera's URL: one literal GStreamer can take, with the credentials split off so
// they travel as rtspsrc's user-id/user-pw and never appear in GStreamer's own messages. Pure: the camera
// code builds its pipeline with it and the config schema runs the same function, so `config check`
// refuses exactly what `run` would.
import { PipelineValueError, checkLiteral, redactText } from './gst-pipeline.js';

export interface RtspTarget {
  /** The URL without credentials. */
  location: string;
  user?: string;
  password?: string;
}

/** Splits credentials off an rtsp(s) URL; rejects anything GStreamer could not take as one literal. */
export function rtspTarget(url: string): RtspTarget {
  checkLiteral('url', url);
  if (/\s/.test(url)) throw new PipelineValueError('url: must not contain whitespace');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PipelineValueError(`url: not a valid URL: ${redactText(url)}`);
  }
  if (u.protocol !== 'rtsp:' && u.protocol !== 'rtsps:')
    throw new PipelineValueError(`url: must be rtsp:// or rtsps://, got ${u.protocol}`);
  const user = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  u.username = '';
  u.password = '';
  const location = checkLiteral('url', u.href);
  if (user !== undefined) checkLiteral('url user', user);
  if (password !== undefined) checkLiteral('url password', password);
  return { location, user, password };
}
