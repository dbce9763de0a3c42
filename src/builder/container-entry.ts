/**
 * Runs inside the stack container of a container build (see container-build.ts):
 * the very same buildpack runner a host build uses, on the stack's own tools,
 * so both builds make the same release directory. Output lines go to stdout,
 * which the daemon streams to the pusher; the outcome goes to a file, so no
 * build output can be mistaken for it. Runs on the stack's node (18): import
 * only what the runner itself needs.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runBuildpacks, type BuildError } from './buildpacks.js';
import { IN_CONTAINER as P, type ContainerBuildOutcome, type ContainerBuildRequest } from './container-paths.js';

// `-`: a warm build (host-builder.ts) started this runner before the request was known; it comes on stdin.
const request = JSON.parse(process.argv[2] === '-' ? await readStdin() : (process.argv[2] ?? '{}')) as ContainerBuildRequest;
const abort = new AbortController();
// The daemon stops the container when the deploy is cancelled; the runner then kills the buildpack's process group.
process.on('SIGTERM', () => abort.abort());

let outcome: ContainerBuildOutcome;
try {
  const result = await runBuildpacks({
    app: request.app,
    buildDir: P.build,
    cacheDir: P.cache,
    envDir: P.env,
    envDirReady: true,
    env: request.sourceVersion ? { SOURCE_VERSION: request.sourceVersion } : {},
    builtinDir: path.join(P.root, 'buildpacks'),
    workDir: P.scratch,
    buildpackUrl: request.buildpackUrl,
    extraCaBundle: request.extraCaBundle,
    log: (line) => process.stdout.write(`${line}\n`),
    signal: abort.signal,
  });
  outcome = { ok: true, ...result };
} catch (err) {
  const e = err as Partial<BuildError> & Error;
  outcome = { ok: false, message: e.message, hint: e.hint, buildpack: e.buildpack, step: e.step, command: e.command, exitCode: e.exitCode };
  process.exitCode = 1;
}
writeFileSync(P.outcome, JSON.stringify(outcome));
// Last: what comes after it is not read. Pipes are written synchronously here, so every line above is out first.
if (request.doneMark) process.stdout.write(`${request.doneMark}\n`);

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}
