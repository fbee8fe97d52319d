// The one place OpenCV is loaded. opencv4nodejs reports native allocations to V8 by default, which
// aborts the process ("Check failed: marking_done_") inside connectedComponentsWithStats and the async
// ops; the variable must be set before the addon loads, so the module is required here, not imported.
import { createRequire } from 'node:module';
import type * as CvTypes from '@u4/opencv4nodejs';

process.env.OPENCV4NODEJS_DISABLE_EXTERNAL_MEM_TRACKING = '1';

type CvModule = typeof CvTypes.default;
let loaded: CvModule | undefined;

/** The OpenCV binding, loaded on first use; throws with the reason when the addon is missing. */
export function cv(): CvModule {
  if (!loaded) {
    const require = createRequire(import.meta.url);
    // opencv-build prints its configuration on every load; the daemon's logs are ours.
    (require('@u4/opencv-build') as { Log: { silence: boolean } }).Log.silence = true;
    const mod = require('@u4/opencv4nodejs') as CvModule & { default?: CvModule };
    loaded = mod.default ?? mod;
  }
  return loaded;
}

export type Mat = CvTypes.Mat;
