// What `pinpoint run` needs beyond a valid config, checked without loading any weights: enabled cameras,
// a model bundle whose manifest and files are there, of the input size the config expects, and reject
// and pixel thresholds for every camera (from the bundle's teach-in or the config). `config check`,
// `doctor --config` and `run` all call this one function, so they accept and refuse the same configs.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { readManifest, teacherFilePath } from '../model/bundle.js';
import { tilingProblems } from './camera-tiling.js';
import { STUDENTS_FILE, type Manifest } from '../model/manifest.js';
import { resolveModelPath } from '../model/versions.js';
import { resolveVerdictSettings } from '../pipeline/verdict.js';
import { usersFileProblem } from '../sinks/web/auth-users.js';
import { sourcePlugin } from '../sources/registry.js';
import type { SourcePlugin } from '../sources/types.js';

export interface PreflightProblem {
  /** Key path in the config the problem is about. */
  path: (string | number)[];
  message: string;
  /** 'config': the config cannot work (exit 2). 'model': the bundle is missing or unreadable (exit 1). */
  kind: 'config' | 'model';
}

export interface Preflight {
  problems: PreflightProblem[];
  /** Absolute bundle directory, when the config names one. */
  bundleDir?: string;
  /** The bundle's manifest, when it could be read. */
  manifest?: Manifest;
}

/** Checks a validated config against what `run` needs; relative paths resolve against configDir. */
export function preflight(config: Config, configDir: string): Preflight {
  const problems: PreflightProblem[] = [];
  const cameras = Object.entries(config.cameras).filter(([, c]) => c.enabled);
  if (cameras.length === 0)
    problems.push({ path: ['cameras'], kind: 'config', message: 'no enabled cameras in the config' });
  // What a source can tell before it starts (a replay folder that is missing or empty).
  for (const [id, c] of cameras) {
    const problem = (sourcePlugin(c.type) as SourcePlugin | undefined)?.check?.(id, c as never, configDir);
    if (!problem) continue;
    // Sources name the key they mean ("cameras.<id>.path: …"): report it at that key's line.
    const key = /^cameras\.[^.]+\.(\w+): ([^]*)$/.exec(problem);
    problems.push({
      path: key ? ['cameras', id, key[1]] : ['cameras', id],
      kind: 'config',
      message: key ? key[2] : problem,
    });
  }
  const users = config.web.enabled ? usersFileProblem(config.web.auth, configDir) : undefined;
  if (users) problems.push({ path: ['web', 'auth', 'usersFile'], kind: 'config', message: users });
  if (!config.model) {
    problems.push({
      path: ['model'],
      kind: 'config',
      message: 'model.path is not set: pinpoint run needs a model bundle',
    });
    return { problems };
  }
  const path = resolveModelPath(resolve(configDir, config.model.path));
  const bundleDir = path.bundleDir;
  if (bundleDir === null) {
    const message = `the models directory ${path.kind === 'models' ? path.modelsDir : ''} has no current version (pinpoint model promote)`;
    problems.push({ path: ['model', 'path'], kind: 'model', message });
    return { problems };
  }
  const manifest = readable(bundleDir, problems);
  if (!manifest) return { problems, bundleDir };

  const expected = config.pipeline.inputSize;
  if (expected !== undefined && expected !== manifest.input.size) {
    problems.push({
      path: ['pipeline', 'inputSize'],
      kind: 'config',
      message:
        `the config expects input size ${expected}, the bundle ${bundleDir} was built for ${manifest.input.size} ` +
        `(build one with --size ${expected}, or change pipeline.inputSize)`,
    });
  }
  problems.push(...tilingProblems(config, cameras, manifest));
  const untaught = cameras
    .filter(([, c]) => !resolveVerdictSettings(manifest.thresholds, config.verdict, c.verdict).thresholds)
    .map(([id]) => id);
  if (untaught.length > 0) {
    problems.push({
      path: ['model', 'path'],
      kind: 'config',
      message:
        `the bundle ${bundleDir} has no thresholds (teach it in: pinpoint train) and the config sets no ` +
        `verdict.rejectThreshold and pixelThreshold for camera${untaught.length === 1 ? '' : 's'} ${untaught.join(', ')}: ` +
        'every part would get the fail-safe verdict',
    });
  }
  return { problems, bundleDir, manifest };
}

/** The manifest, when it and the files it names are there (hashes are checked when the model loads). */
function readable(dir: string, problems: PreflightProblem[]): Manifest | undefined {
  const problem = (message: string): undefined => {
    problems.push({ path: ['model', 'path'], kind: 'model', message });
    return undefined;
  };
  let manifest: Manifest;
  try {
    manifest = readManifest(dir);
  } catch (e) {
    return problem((e as Error).message);
  }
  const teacher = teacherFilePath(dir, manifest);
  if (!existsSync(teacher)) return problem(`the bundle's teacher weights ${teacher} do not exist`);
  if (!existsSync(join(dir, STUDENTS_FILE)))
    return problem(`the bundle's student weights ${join(dir, STUDENTS_FILE)} do not exist`);
  return manifest;
}
