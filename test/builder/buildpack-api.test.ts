import fs from 'node:fs';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BuildError, runBuildpacks } from '../../src/builder/buildpacks.js';
import { CA_BUNDLE, cleanup, makeBuildpack, sandbox, script, tempDir } from './helpers.js';
import { alive } from '../support/proc.js';

const execFileP = promisify(execFile);
const git = (cwd: string, ...args: string[]) =>
  execFileP('git', ['-c', 'user.name=Slipway Test', '-c', 'user.email=test@slipway.invalid', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
  });

/**
 * A third-party buildpack written against the Heroku buildpack API v2 only:
 * it reads a config var from ENV_DIR, keeps a counter in CACHE_DIR, reports
 * what its environment holds, and declares process types and config vars.
 */
const API_PACK = {
  detect: 'echo "API Test"',
  compile: `
build="$1"; cache="$2"; envdir="$3"
greeting="$(cat "$envdir/GREETING")"
runs=0
if [[ -f "$cache/runs" ]]; then runs="$(cat "$cache/runs")"; fi
runs=$((runs + 1))
echo "$runs" > "$cache/runs"
echo "$greeting (build $runs)" > "$build/built.txt"
echo "-----> Compiling in $PWD"
echo "       STACK=$STACK HOME=$HOME"
echo "       CA=\${NODE_EXTRA_CA_CERTS:-} \${npm_config_cafile:-} \${SSL_CERT_FILE:-} \${PIP_CERT:-} \${REQUESTS_CA_BUNDLE:-} \${GIT_SSL_CAINFO:-}"
echo "       SOURCE_VERSION=\${SOURCE_VERSION:-unset} GREETING_IN_ENV=\${GREETING:-unset} LEAK=\${SLIPWAY_TEST_LEAK:-none}"`,
  release: `cat <<'YAML'
---
addons: []
default_process_types:
  web: ./serve --port $PORT
  worker: ./work
config_vars:
  FROM_PACK: "yes"
  PACK_NUMBER: 42
YAML`,
};

describe('build/buildpack API v2', function () {
  this.timeout(30_000);
  after(cleanup);

  it('runs a buildpack given as a path: ENV_DIR, CACHE_DIR reuse, clean env, release YAML', async () => {
    const pack = await makeBuildpack(path.join(await tempDir(), 'api-pack'), API_PACK);
    const sb = await sandbox();
    await writeFile(path.join(sb.buildDir, 'Procfile'), 'worker: ./work --fast\n');
    process.env.SLIPWAY_TEST_LEAK = 'daemon secret';
    try {
      const env = { GREETING: 'hello', OLD_VAR: 'stale', SOURCE_VERSION: 'abc123' };
      const result = await runBuildpacks(sb.opts({ buildpackUrl: pack, env }));

      expect(result.buildpacks).to.deep.equal([pack]);
      // The Procfile wins over default_process_types; types it does not name are kept.
      expect(result.processTypes).to.deep.equal({ web: './serve --port $PORT', worker: './work --fast' });
      expect(result.configVars).to.deep.equal({ FROM_PACK: 'yes', PACK_NUMBER: '42' });
      expect(await readFile(path.join(sb.buildDir, 'built.txt'), 'utf8')).to.equal('hello (build 1)\n');
      expect(await readFile(path.join(sb.envDir, 'GREETING'), 'utf8')).to.equal('hello');

      const out = sb.lines.join('\n');
      expect(sb.lines[0]).to.equal('-----> API Test app detected');
      expect(out).to.contain(`-----> Compiling in ${sb.buildDir}`);
      expect(out).to.contain(`STACK=slipway-bookworm HOME=${path.join(sb.root, 'work', 'home')}\n`);
      expect(out).to.contain(`CA=${Array(6).fill(CA_BUNDLE).join(' ')}`);
      // Config vars reach buildpacks only through ENV_DIR; the daemon's env never does.
      expect(out).to.contain('SOURCE_VERSION=abc123 GREETING_IN_ENV=unset LEAK=none');
    } finally {
      delete process.env.SLIPWAY_TEST_LEAK;
    }

    // A second build from fresh source reuses CACHE_DIR and gets a rewritten ENV_DIR.
    await rm(sb.buildDir, { recursive: true });
    await mkdir(sb.buildDir);
    await writeFile(path.join(sb.buildDir, 'Procfile'), 'web: ./other\n');
    const second = await runBuildpacks(sb.opts({ env: { GREETING: 'hi again', BUILDPACK_URL: pack } }));
    expect(await readFile(path.join(sb.buildDir, 'built.txt'), 'utf8')).to.equal('hi again (build 2)\n');
    expect(second.processTypes).to.deep.equal({ web: './other', worker: './work' });
    expect((await readdir(sb.envDir)).sort()).to.deep.equal(['BUILDPACK_URL', 'GREETING']);
  });

  it('clones a git buildpack, honouring a #ref', async () => {
    const repo = path.join(await tempDir(), 'heroku-buildpack-greet.git');
    await makeBuildpack(repo, { detect: 'echo Greet', compile: 'echo "tagged" > "$1/which.txt"', release: 'echo "--- {}"' });
    await git(repo, 'init', '--quiet');
    await git(repo, 'add', '.');
    await git(repo, 'commit', '--quiet', '-m', 'v1');
    await git(repo, 'tag', 'v1');
    await script(path.join(repo, 'bin', 'compile'), 'echo "main" > "$1/which.txt"');
    await git(repo, 'commit', '--quiet', '-am', 'v2');

    const sb = await sandbox();
    const url = `file://${repo}`;
    const result = await runBuildpacks(sb.opts({ buildpackUrl: url }));
    expect(result.buildpacks).to.deep.equal([url]);
    expect(await readFile(path.join(sb.buildDir, 'which.txt'), 'utf8')).to.equal('main\n');
    expect(sb.lines).to.include(`-----> Fetching buildpack ${url}`);
    expect(sb.lines).to.include('-----> Greet app detected');

    await runBuildpacks(sb.opts({ buildpackUrl: `${url}#v1` }));
    expect(await readFile(path.join(sb.buildDir, 'which.txt'), 'utf8')).to.equal('tagged\n');

    const err = await runBuildpacks(sb.opts({ buildpackUrl: `${url}#no-such-ref` })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(BuildError);
    expect((err as BuildError).message).to.match(/^heroku-buildpack-greet buildpack: git clone failed \(exit \d+\)$/);
    expect((err as BuildError).hint).to.contain('"no-such-ref"');
  });

  it("runs every buildpack in .buildpacks, passing each one's export file to the next", async () => {
    const dir = await tempDir();
    const first = await makeBuildpack(path.join(dir, 'first'), {
      detect: 'echo First',
      compile: `bp_dir="$(cd "$(dirname "$0")/.." && pwd)"
echo "export FIRST_SAYS='hello from first'" > "$bp_dir/export"
echo "export PATH=\\"/opt/first/bin:\\$PATH\\"" >> "$bp_dir/export"`,
      release: "printf -- '---\\ndefault_process_types:\\n  web: first-web\\nconfig_vars:\\n  A: first\\n  B: first\\n'",
    });
    const second = await makeBuildpack(path.join(dir, 'second'), {
      detect: 'echo Second',
      compile: 'echo "${FIRST_SAYS:-nothing}|${PATH%%:*}" > "$1/second.txt"',
      release: "printf -- '---\\ndefault_process_types:\\n  web: second-web\\nconfig_vars:\\n  B: second\\n'",
    });
    const sb = await sandbox();
    await writeFile(path.join(sb.buildDir, '.buildpacks'), `# two buildpacks\n${first}\n\n${second}\n`);
    const result = await runBuildpacks(sb.opts());

    expect(result.buildpacks).to.deep.equal([first, second]);
    expect(await readFile(path.join(sb.buildDir, 'second.txt'), 'utf8')).to.equal('hello from first|/opt/first/bin\n');
    expect(result.processTypes).to.deep.equal({ web: 'second-web' });
    expect(result.configVars).to.deep.equal({ A: 'first', B: 'second' });
    expect(sb.lines.filter((l) => l.endsWith('app detected'))).to.deep.equal(['-----> First app detected', '-----> Second app detected']);
    // Buildpacks run from private copies, so the original folder stays clean.
    expect(
      await stat(path.join(first, 'export')).then(
        () => true,
        () => false,
      ),
    ).to.equal(false);
  });

  it('mixes built-in names into .buildpacks', async () => {
    const sb = await sandbox('procfile-hello');
    await writeFile(path.join(sb.buildDir, '.buildpacks'), 'heroku/procfile\n');
    const result = await runBuildpacks(sb.opts());
    expect(result.buildpacks).to.deep.equal(['heroku/procfile']);
    expect(result.processTypes).to.deep.equal({ web: 'node server.js' });
  });

  it('reports a failing compile as a BuildError with the buildpack and exit code', async () => {
    const pack = await makeBuildpack(path.join(await tempDir(), 'broken-pack'), {
      detect: 'echo Broken',
      compile: 'echo "-----> Trying"\necho " !     it broke" >&2\nexit 3',
    });
    const sb = await sandbox();
    const err = await runBuildpacks(sb.opts({ buildpackUrl: pack })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(BuildError);
    const e = err as BuildError;
    expect(e.message).to.equal('broken-pack buildpack: compile failed (exit 3)');
    expect(e).to.include({ buildpack: 'broken-pack', step: 'compile', command: 'bin/compile', exitCode: 3, code: 'build_failed' });
    expect(sb.lines).to.include.members(['-----> Trying', ' !     it broke']);
  });

  it('refuses an explicit buildpack whose detect fails, and one that cannot be started', async () => {
    const dir = await tempDir();
    const picky = await makeBuildpack(path.join(dir, 'picky'), { detect: 'exit 1', compile: 'true' });
    const sb = await sandbox();
    const err = await runBuildpacks(sb.opts({ buildpackUrl: picky })).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as BuildError).message).to.equal('picky buildpack: app not compatible (bin/detect failed)');

    const noexec = await makeBuildpack(path.join(dir, 'noexec'), { detect: 'echo NoExec' });
    await writeFile(path.join(noexec, 'bin', 'compile'), 'echo hi\n');
    const err2 = await runBuildpacks(sb.opts({ buildpackUrl: noexec })).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err2 as BuildError).message).to.equal('noexec buildpack: bin/compile could not be started (EACCES)');
  });

  it('reports invalid release YAML', async () => {
    const pack = await makeBuildpack(path.join(await tempDir(), 'yamlish'), {
      compile: 'true',
      release: 'echo "default_process_types: [web]"',
    });
    const sb = await sandbox();
    const err = await runBuildpacks(sb.opts({ buildpackUrl: pack })).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as BuildError).message).to.equal(
      'yamlish buildpack: release printed invalid YAML: default_process_types must be a mapping',
    );
  });

  it('streams compile output line by line while compile runs', async () => {
    // The second line is only printed once the test has seen the first: if output
    // were held back until compile exits, this build could never finish.
    const gate = path.join(await tempDir(), 'gate');
    const pack = await makeBuildpack(path.join(await tempDir(), 'slow'), {
      detect: 'echo Slow',
      compile: `echo "-----> first"\nwhile [ ! -f "${gate}" ]; do sleep 0.1; done\necho "-----> second"`,
    });
    const sb = await sandbox();
    const seen: string[] = [];
    await runBuildpacks(
      sb.opts({
        buildpackUrl: pack,
        log: (line) => {
          seen.push(line);
          if (line === '-----> first') fs.writeFileSync(gate, '');
        },
      }),
    );
    expect(seen.indexOf('-----> first')).to.be.lessThan(seen.indexOf('-----> second'));
  });

  it('kills the buildpack process group when the signal aborts', async () => {
    const dir = await tempDir();
    const pidFile = path.join(dir, 'sleeper.pid');
    const pack = await makeBuildpack(path.join(dir, 'sleepy'), {
      detect: 'echo Sleepy',
      compile: `echo "-----> sleeping"\nsleep 30 &\necho $! > "${pidFile}"\nwait`,
    });
    const sb = await sandbox();
    const controller = new AbortController();
    const build = runBuildpacks(
      sb.opts({
        buildpackUrl: pack,
        signal: controller.signal,
        log: (line) => {
          if (line === '-----> sleeping') setTimeout(() => controller.abort(), 100);
        },
      }),
    );
    const err = await build.then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as BuildError).message).to.equal('sleepy buildpack: compile aborted');
    const pid = Number(await readFile(pidFile, 'utf8'));
    // SIGKILL to the group is asynchronous: give the kernel a moment, then the grandchild must be gone.
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid), 'the grandchild sleep is gone').to.equal(false);
  });
});
