// Camera types → source plug-ins. Adding a camera type = one import and one entry here.
import type { CameraType } from '../config/schema.js';
import { filesSource } from './files.js';
import { gigeSource } from './gige.js';
import { rtspSource } from './rtsp.js';
import { syntheticSource } from './synthetic.js';
import type { SourcePlugin } from './types.js';

const plugins: Partial<{ [T in CameraType]: SourcePlugin<T> }> = {
  files: filesSource,
  gige: gigeSource,
  rtsp: rtspSource,
  synthetic: syntheticSource,
};

/** The plug-in for a camera type, or undefined when this build has none for it. */
export function sourcePlugin<T extends CameraType>(type: T): SourcePlugin<T> | undefined {
  return plugins[type] as SourcePlugin<T> | undefined;
}

export function sourceTypes(): CameraType[] {
  return Object.keys(plugins) as CameraType[];
}
