import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  addBuildpack,
  BIN,
  commitAll,
  eventually,
  git,
  httpGet,
  push,
  ssh,
  sshArgs,
  sshKey,
  tmpdir,
  useServer,
  type TestServer,
} from './harness.js';
import { alive } from '../support/proc.js';
import { until } from '../support/wait.js';

/**
 * Where access ends, on one real server whose public host is
 * paas.example.test and whose apps live under example.test:
 * - taking access away ends what it let in: removing a collaborator, a user,
 *   a key or a token ends their open `logs -f`, `run`, pushes and API streams
 *   within seconds, each with one line saying why, and a `run`'s one-off
 *   process is gone afterwards (real ssh, the real remote CLI, plain HTTP);
 * - a member cannot take host names that are another app's, another owner's
 *   or the server's own.
 */

const ENDED = (reason: string) => ` !     ${reason}; this session is closed`;
/** Long enough for a session to be ended by revocation, far shorter than anything here runs on its own. */
const ENDS_WITHIN = 15_000;

/** An app that logs every request it gets, so a test can make a log line appear on demand. */
function echoRepo(): string {
  const dir = tmpdir('echo');
  fs.writeFileSync(path.join(dir, 'Procfile'), 'web: node server.js\n');
  fs.writeFileSync(
    path.join(dir, 'server.js'),
    `require('http').createServer((req, res) => { console.log('request ' + req.url); res.end('echo'); }).listen(Number(process.env.PORT));\n`,
  );
  git(dir, ['init', '-q', '-b', 'main']);
  commitAll(dir, 'echo');
  return dir;
}

interface Watched {
  proc: ChildProcess;
  out(): string;
  /** Resolves with the exit code once the client exited. */
  exited: Promise<number | null>;
  done(): boolean;
}

/** A long-running client whose output (stdout and stderr together) and exit we watch. */
function watch(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Watched {
  const proc = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let finished = false;
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  // 'close', not 'exit': the client can exit with its last words still in the pipe, unread.
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => ((finished = true), resolve(code))));
  return { proc, out: () => out, exited, done: () => finished };
}

/** The parent of a process, or 0 once it is gone. */
function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/**
 * Live processes the daemon started whose arguments include `marker` (a
 * one-off's `sleep 600.N` and its launcher); the clients that asked for them
 * carry the marker too, but are not the daemon's.
 */
function oneOffProcesses(server: TestServer, marker: string): number[] {
  const daemon = server.proc!.pid!;
  const underDaemon = (pid: number) => {
    for (let p = parentOf(pid); p > 1; p = parentOf(p)) if (p === daemon) return true;
    return false;
  };
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number)
    .filter((pid) => alive(pid) && underDaemon(pid));
}

describe('e2e: where access ends', function () {
  this.timeout(300_000);
  const env = useServer({ env: { SLIPWAY_PUBLIC_HOST: 'paas.example.test', SLIPWAY_DOMAIN: 'example.test' } });
  let server: TestServer;
  const keys: Record<string, ReturnType<typeof sshKey>> = {};
  const tokens: Record<string, string> = {};
  const cli = (args: string[]) => {
    const r = server.cli(args);
    if (r.code !== 0) throw new Error(`slipway ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const sshAs = (who: string, argv: string[]) => ssh(keys[who]!.key, server.ports.ssh, argv);
  /** A user with an SSH key and an API token named laptop. */
  const addUser = (who: string) => {
    cli(['users:add', who]);
    keys[who] = sshKey();
    cli(['keys:add', '--user', who, keys[who]!.pub]);
    tokens[who] = cli(['tokens:create', '--user', who, '--name', 'laptop']);
  };
  before(() => void (server = env.server));
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`slipway server output:\n${server.output}`);
  });

  const sshWatch = (key: string, argv: string[]) => watch('ssh', [...sshArgs(key, server.ports.ssh), ...argv]);
  /** The remote CLI on a laptop, logged in with `token`: NDJSON over HTTP. */
  const remoteWatch = (token: string, argv: string[]) =>
    watch(BIN, argv, {
      PATH: process.env.PATH,
      HOME: tmpdir('laptop'),
      SLIPWAY_URL: `http://127.0.0.1:${server.ports.http}`,
      SLIPWAY_TOKEN: token,
    });
  const hit = (app: string, marker: string) => httpGet({ port: server.ports.router, host: `${app}.example.test`, path: marker });

  /** Makes a log line appear and waits until every follower printed it: they are all streaming. */
  async function streaming(app: string, marker: string, followers: Watched[]): Promise<void> {
    await eventually(async () => {
      await hit(app, marker);
      return followers.every((f) => f.out().includes(`request ${marker}`));
    }, `${marker} on every follow of ${app}`);
  }

  /** The processes of the one-off whose command carries `marker`, once it runs. */
  const oneOff = (marker: string) =>
    until(
      `the one-off with ${marker} to run`,
      () => {
        const pids = oneOffProcesses(server, marker);
        return pids.length ? pids : undefined;
      },
      30_000,
    );

  /** Each session ends with the reason and a non-zero exit; the given one-offs' processes are gone. */
  async function expectEnded(sessions: Watched[], reason: string, oneOffs: number[][] = []): Promise<void> {
    await eventually(() => sessions.every((s) => s.done()), `the sessions to end (${reason})`, ENDS_WITHIN);
    for (const s of sessions) {
      expect(s.out(), s.proc.spawnargs.join(' ')).to.include(ENDED(reason));
      expect(await s.exited, `${s.proc.spawnargs.join(' ')}\n${s.out()}`).to.not.equal(0);
    }
    for (const pids of oneOffs)
      await eventually(() => !pids.some(alive), `the one-off's processes ${pids.join(', ')} to be gone`, ENDS_WITHIN);
  }

  /**
   * alice's apps, shared with bob, carol and dave: made once, by whichever
   * suite below runs first, so each test can also run alone.
   */
  let alicesApps: Promise<void> | undefined;
  const withAlicesApps = () => (alicesApps ??= makeAlicesApps());
  async function makeAlicesApps(): Promise<void> {
    for (const who of ['alice', 'bob', 'carol', 'dave']) addUser(who);
    keys['dave-desk'] = sshKey();
    cli(['keys:add', '--user', 'dave', keys['dave-desk']!.pub]);
    tokens['dave-ci'] = cli(['tokens:create', '--user', 'dave', '--name', 'ci']);
    // alice owns the apps and shares them, over SSH as a user would.
    const repo = echoRepo();
    for (const app of ['myapp', 'otherapp']) {
      expect(sshAs('alice', ['apps:create', app]).code).to.equal(0);
      const pushed = await push(repo, server.sshRemote(app), { sshCommand: keys.alice!.sshCommand });
      expect(pushed.code, pushed.stderr).to.equal(0);
    }
    expect(sshAs('alice', ['apps:create', 'slowapp']).code).to.equal(0);
    for (const [app, who] of [
      ['myapp', 'bob'],
      ['myapp', 'carol'],
      ['myapp', 'dave'],
      ['otherapp', 'bob'],
      ['slowapp', 'bob'],
    ]) {
      expect(sshAs('alice', ['access:add', app!, who!]).code).to.equal(0);
    }
  }

  describe('revocation ends sessions', () => {
    before(async function () {
      this.timeout(180_000);
      await withAlicesApps();
    });

    it("access:remove ends the collaborator's logs -f and run on that app (SSH and API) with the reason; their session on another app goes on", async () => {
      const sshFollow = sshWatch(keys.bob!.key, ['logs', 'myapp', '-f', '-n', '0']);
      const apiFollow = remoteWatch(tokens.bob!, ['logs', 'myapp', '-f', '-n', '0']);
      const sshRun = sshWatch(keys.bob!.key, ['run', 'myapp', '--', 'sleep', '600.1']);
      const apiRun = remoteWatch(tokens.bob!, ['run', 'myapp', '--', 'sleep', '600.2']);
      const elsewhere = sshWatch(keys.bob!.key, ['logs', 'otherapp', '-f', '-n', '0']);
      const owners = sshWatch(keys.alice!.key, ['logs', 'myapp', '-f', '-n', '0']);
      await streaming('myapp', '/before-remove', [sshFollow, apiFollow, owners]);
      await streaming('otherapp', '/before-remove', [elsewhere]);
      const oneOffs = [await oneOff('600.1'), await oneOff('600.2')];

      const removed = sshAs('alice', ['access:remove', 'myapp', 'bob']);
      expect(removed.code, removed.stderr).to.equal(0);
      await expectEnded([sshFollow, apiFollow, sshRun, apiRun], 'your access to myapp was removed', oneOffs);

      // Bob's follow of another app, and the owner's of this one, go on.
      await streaming('otherapp', '/after-remove', [elsewhere]);
      await streaming('myapp', '/after-remove', [owners]);
      expect(elsewhere.done() || owners.done()).to.equal(false);
      for (const w of [elsewhere, owners]) w.proc.kill('SIGKILL');
      // And a new session finds no app.
      expect(sshAs('bob', ['logs', 'myapp']).stderr).to.include('app "myapp" does not exist, or you have no access to it');
    });

    it('access:remove ends a push in progress over SSH and a followed job log over the API', async () => {
      const repo = echoRepo();
      addBuildpack(repo, 'slowpack', 'echo "-----> slow build starts"; sleep 120');
      commitAll(repo, 'a slow build');
      const pushing = watch(
        'git',
        ['push', server.sshRemote('slowapp'), 'main'],
        { ...process.env, GIT_SSH_COMMAND: keys.bob!.sshCommand, GIT_TERMINAL_PROMPT: '0' },
        repo,
      );
      await eventually(() => pushing.out().includes('slow build starts'), 'the build to start', 60_000);
      const jobs = JSON.parse(
        (
          await httpGet({
            port: server.ports.http,
            host: '127.0.0.1',
            path: '/api/v1/apps/slowapp/jobs',
            headers: { authorization: `Bearer ${tokens.bob}` },
          })
        ).body,
      ) as Array<{ id: number; status: string }>;
      const job = jobs.find((j) => j.status === 'running')!;
      expect(job, JSON.stringify(jobs)).to.not.equal(undefined);
      let log = '';
      let logEnded = false;
      const followed = http.get(
        {
          host: '127.0.0.1',
          port: server.ports.http,
          path: `/api/v1/jobs/${job.id}/log?follow=1`,
          headers: { authorization: `Bearer ${tokens.bob}` },
        },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (d) => (log += d));
          res.on('end', () => (logEnded = true));
        },
      );
      followed.on('error', () => undefined);
      await eventually(() => log.includes('slow build starts'), 'the job log to stream');

      expect(sshAs('alice', ['access:remove', 'slowapp', 'bob']).code).to.equal(0);
      await expectEnded([pushing], 'your access to slowapp was removed');
      await eventually(() => logEnded, 'the job log stream to end', ENDS_WITHIN);
      expect(log.trimEnd().split('\n').at(-1)).to.equal(ENDED('your access to slowapp was removed'));
    });

    it('users:remove ends every session of the user', async () => {
      const sshFollow = sshWatch(keys.carol!.key, ['logs', 'myapp', '-f', '-n', '0']);
      const apiFollow = remoteWatch(tokens.carol!, ['logs', 'myapp', '-f', '-n', '0']);
      const sshRun = sshWatch(keys.carol!.key, ['run', 'myapp', '--', 'sleep', '600.3']);
      await streaming('myapp', '/before-users-remove', [sshFollow, apiFollow]);
      const running = await oneOff('600.3');

      cli(['users:remove', 'carol']);
      await expectEnded([sshFollow, apiFollow, sshRun], 'your user account was removed', [running]);
    });

    it("keys:remove ends that key's sessions only", async () => {
      const laptopFollow = sshWatch(keys.dave!.key, ['logs', 'myapp', '-f', '-n', '0']);
      const laptopRun = sshWatch(keys.dave!.key, ['run', 'myapp', '--', 'sleep', '600.4']);
      const deskFollow = sshWatch(keys['dave-desk']!.key, ['logs', 'myapp', '-f', '-n', '0']);
      await streaming('myapp', '/before-key-remove', [laptopFollow, deskFollow]);
      const running = await oneOff('600.4');

      // The first key added is the laptop's; dave removes it himself, from his desk.
      const listed = cli(['keys:list', '--user', 'dave'])
        .split('\n')
        .filter((l) => l.includes('SHA256:'));
      const laptopFingerprint = /(SHA256:\S+)/.exec(listed[0]!)![1]!;
      const removed = ssh(keys['dave-desk']!.key, server.ports.ssh, ['keys:remove', laptopFingerprint]);
      expect(removed.code, removed.stderr).to.equal(0);
      await expectEnded([laptopFollow, laptopRun], 'your SSH key was removed', [running]);

      await streaming('myapp', '/after-key-remove', [deskFollow]);
      expect(deskFollow.done()).to.equal(false);
      deskFollow.proc.kill('SIGKILL');
    });

    it("tokens:revoke ends that token's streams only", async () => {
      const laptopFollow = remoteWatch(tokens.dave!, ['logs', 'myapp', '-f', '-n', '0']);
      const laptopRun = remoteWatch(tokens.dave!, ['run', 'myapp', '--', 'sleep', '600.5']);
      const ciFollow = remoteWatch(tokens['dave-ci']!, ['logs', 'myapp', '-f', '-n', '0']);
      await streaming('myapp', '/before-token-revoke', [laptopFollow, ciFollow]);
      const running = await oneOff('600.5');

      const revoked = ssh(keys['dave-desk']!.key, server.ports.ssh, ['tokens:revoke', 'laptop']);
      expect(revoked.code, revoked.stderr).to.equal(0);
      await expectEnded([laptopFollow, laptopRun], 'your API token was revoked', [running]);

      await streaming('myapp', '/after-token-revoke', [ciFollow]);
      expect(ciFollow.done()).to.equal(false);
      ciFollow.proc.kill('SIGKILL');
    });
  });

  describe('host names', () => {
    before(async function () {
      this.timeout(120_000);
      for (const who of ['victim', 'mallory']) addUser(who);
      expect(sshAs('victim', ['apps:create', 'shopapp']).code).to.equal(0);
      const pushed = await push(echoRepo(), server.sshRemote('shopapp'), { sshCommand: keys.victim!.sshCommand });
      expect(pushed.code, pushed.stderr).to.equal(0);
      expect(sshAs('victim', ['domains:add', 'shopapp', 'shop.test']).code).to.equal(0);
      expect(sshAs('mallory', ['apps:create', 'malapp']).code).to.equal(0);
    });

    /** What a user sees: exit code and both streams, with the name asked for made generic. */
    const seen = (r: { code: number; stdout: string; stderr: string }, name: string) =>
      `${r.code}\n${r.stdout}\n${r.stderr}`.split(name).join('<NAME>');

    it("refuses names under another app's name, the server's host and another owner's domains exactly like a taken name; the victim is still served", async () => {
      const taken = sshAs('mallory', ['domains:add', 'malapp', 'shop.test']);
      expect(taken.code).to.not.equal(0);
      expect(taken.stderr).to.include('shop.test is already in use by another app');
      const attempts = [
        'x.shopapp.example.test', // under another app's default name: its cookies
        'shopapp.example.test', // another app's default name itself
        'future.example.test', // the default name of an app not created yet
        'a.b.future.example.test',
        'paas.example.test', // the server's public host (git remotes, the API)
        'api.paas.example.test',
        'x.shop.test', // under another owner's domain
        'y.x.shop.test',
      ];
      for (const host of attempts)
        expect(seen(sshAs('mallory', ['domains:add', 'malapp', host]), host), host).to.equal(seen(taken, 'shop.test'));
      // The other direction: a name above one another owner has is taken too.
      expect(sshAs('mallory', ['domains:add', 'malapp', 'www.mal.test']).code).to.equal(0);
      expect(seen(sshAs('victim', ['domains:add', 'shopapp', 'mal.test']), 'mal.test')).to.equal(
        seen(sshAs('victim', ['domains:add', 'shopapp', 'www.mal.test']), 'www.mal.test'),
      );
      // An app named after the server's host answers like a taken app name.
      const paas = sshAs('mallory', ['apps:create', 'paas']);
      expect(paas.code).to.not.equal(0);
      expect(seen(paas, 'paas')).to.equal(seen(sshAs('mallory', ['apps:create', 'shopapp']), 'shopapp'));

      expect(
        sshAs('mallory', ['domains', 'malapp'])
          .stdout.trim()
          .split('\n')
          .slice(1)
          .map((l) => l.split(/\s+/)[0]),
      ).to.deep.equal(['malapp.example.test', 'www.mal.test']);
      for (const host of ['shopapp.example.test', 'shop.test']) {
        const served = await httpGet({ port: server.ports.router, host, path: '/' });
        expect(served.status, host).to.equal(200);
        expect(served.body, host).to.equal('echo');
      }
      for (const host of ['x.shopapp.example.test', 'paas.example.test', 'x.shop.test'])
        expect((await httpGet({ port: server.ports.router, host, path: '/' })).status, host).to.equal(404);
    });

    it("lets an app have names under its own default name and its owner's domains", () => {
      for (const host of ['www.shopapp.example.test', 'www.shop.test']) {
        const r = sshAs('victim', ['domains:add', 'shopapp', host]);
        expect(r.code, `${host}: ${r.stderr}`).to.equal(0);
      }
    });
  });

  describe('stopping the server', () => {
    before(async function () {
      this.timeout(180_000);
      await withAlicesApps();
    });

    it('ends open remote-CLI follows with a line saying why, instead of waiting for them', async () => {
      const follow = remoteWatch(tokens.alice!, ['logs', 'myapp', '-f', '-n', '0']);
      await streaming('myapp', '/before-stop', [follow]);
      await server.stop();
      await expectEnded([follow], 'the Slipway server is stopping');
    });
  });
});
