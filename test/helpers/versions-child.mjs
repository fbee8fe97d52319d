// A process that publishes and promotes model versions, and re-saves a plain bundle's students, as fast as it
// can, for the test that kill -9s it at random moments. Plain JavaScript on the built dist/ (quick restarts).
// argv[2]: JSON { models, bundles: [dirs], plain }. Prints "ready" once it is about to start writing.
import { loadBundle, saveStudents } from '../../dist/model/bundle.js';
import { publishVersion } from '../../dist/model/version-publish.js';
import { recoverModelsDir } from '../../dist/model/version-recover.js';
import { currentVersion } from '../../dist/model/versions.js';

const args = JSON.parse(process.argv[2]);
const students = args.bundles.map((b) => loadBundle(b).students);
recoverModelsDir(args.models);
console.log('ready');
for (let i = 0; ; i++) {
  const k = i % args.bundles.length;
  publishVersion(args.models, args.bundles[k], { parent: currentVersion(args.models) }, { promote: true });
  saveStudents(args.plain, students[k], {
    thresholds: { reject: 1000 + k, pixel: 1000 + k, rule: 'kill-test', precision: 'fp32' },
  });
}
