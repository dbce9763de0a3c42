import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

const root = path.resolve(new URL('../..', import.meta.url).pathname);

/** A tree of the same shape as src/ with one bad import per rule; each must be reported. */
const FIXTURE: Record<string, string> = {
  'src/errors.ts': 'export const E = 1;\n',
  'src/store/index.ts': "import { run } from '../pipeline/runner.js';\nexport const store = run;\n",
  'src/pipeline/runner.ts':
    "import type Docker from 'dockerode';\nimport { ProcessDriver } from '../runtime/process/driver.js';\nexport const run = (d?: Docker) => [d, ProcessDriver];\n",
  'src/runtime/process/driver.ts': "import { relay } from './relay.js';\nexport class ProcessDriver {\n  relay = relay;\n}\n",
  'src/runtime/process/relay.ts': 'export const relay = 1;\n',
  'src/runtime/docker/driver.ts': "import { ProcessDriver } from '../process/driver.js';\nexport const DockerDriver = ProcessDriver;\n",
  'src/runtime/driver.ts': "import { E } from '../errors.js';\nexport const contract = E;\n",
  'src/router/nginx.ts': "import { compile } from '../builder/buildpacks.js';\nexport const n = compile;\n",
  'src/builder/buildpacks.ts': "import { contract } from '../runtime/driver.js';\nexport const compile = contract;\n",
  // The CLI's start path loading the daemon at its top: every command would pay for it.
  'src/cli/index.ts':
    "import { run } from '../pipeline/runner.js';\nexport const main = async () => [run, await import('../daemon/server.js')];\n",
  'src/daemon/server.ts': 'export const start = 1;\n',
  'src/git/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
  'src/git/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
  // A cycle of type-only imports, as pipeline/context.ts ↔ workspaces.ts once was: it loads, but the two are one module.
  'src/git/c.ts': "import type { D } from './d.js';\nexport interface C {\n  d?: D;\n}\n",
  'src/git/d.ts': "import type { C } from './c.js';\nexport interface D {\n  c?: C;\n}\n",
};

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

describe('dependency rules (.dependency-cruiser.cjs)', function () {
  this.timeout(60_000);
  let violations: Violation[];
  let exitCode: number | undefined;
  let errOutput: string;

  before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-deps-'));
    for (const [file, text] of Object.entries(FIXTURE)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    }
    fs.copyFileSync(path.join(root, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    const depcruise = (type: string) =>
      execa(
        path.join(root, 'node_modules/.bin/depcruise'),
        ['src', '--config', path.join(root, '.dependency-cruiser.cjs'), '--output-type', type],
        { cwd: dir, reject: false },
      );
    violations = JSON.parse((await depcruise('json')).stdout).summary.violations;
    // What `npm run lint:deps` prints and exits with.
    const err = await depcruise('err');
    exitCode = err.exitCode;
    errOutput = err.stdout;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const found = (rule: string) => violations.filter((v) => v.rule.name === rule).map((v) => `${v.from} -> ${v.to}`);

  it('fails the check (non-zero exit) naming each violation', () => {
    expect(exitCode).to.not.equal(0);
    expect(errOutput).to.include('error no-upward-from-store: src/store/index.ts → src/pipeline/runner.ts');
  });

  it('refuses an upward import (store importing the pipeline)', () => {
    expect(found('no-upward-from-store')).to.deep.equal(['src/store/index.ts -> src/pipeline/runner.ts']);
  });

  it('refuses dockerode outside the docker code', () => {
    expect(found('no-dockerode-outside-docker')).to.have.length(1);
    expect(found('no-dockerode-outside-docker')[0]).to.match(/^src\/pipeline\/runner\.ts -> .*dockerode/);
  });

  it('refuses the pipeline reaching a driver implementation', () => {
    expect(found('pipeline-only-through-interfaces')).to.deep.equal(['src/pipeline/runner.ts -> src/runtime/process/driver.ts']);
  });

  it('refuses one engine importing another, but not an engine importing a contract', () => {
    expect(found('no-router-to-other-engines')).to.deep.equal(['src/router/nginx.ts -> src/builder/buildpacks.ts']);
    expect(violations.filter((v) => v.from === 'src/builder/buildpacks.ts')).to.deep.equal([]);
  });

  it('refuses one driver importing another, not a driver importing its own modules', () => {
    expect(found('no-driver-to-other-driver')).to.deep.equal(['src/runtime/docker/driver.ts -> src/runtime/process/driver.ts']);
  });

  it("refuses a static import of the heavy parts on the CLI's start path, not a dynamic one", () => {
    expect(found('cli-starts-light')).to.deep.equal(['src/cli/index.ts -> src/pipeline/runner.ts']);
  });

  it('refuses a cycle, type-only imports included', () => {
    const cycles = found('no-circular');
    expect(cycles).to.have.length(2);
    expect(cycles.filter((c) => /\/(a|b)\.ts -> /.test(c))[0]).to.be.oneOf([
      'src/git/a.ts -> src/git/b.ts',
      'src/git/b.ts -> src/git/a.ts',
    ]);
    expect(cycles.filter((c) => /\/(c|d)\.ts -> /.test(c))[0]).to.be.oneOf([
      'src/git/c.ts -> src/git/d.ts',
      'src/git/d.ts -> src/git/c.ts',
    ]);
  });
});
