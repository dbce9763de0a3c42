import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { requires } from '../support/requires.js';
import { SCREENSHOTS, launchChromium } from '../support/browser.js';
import { addBuildpack, appRepo, commitAll, eventually, httpGet, push, setMessage, useServer } from './harness.js';

const PASSWORD = 'a long enough dashboard password';

describe('e2e: the dashboard in a real browser', function () {
  this.timeout(300_000);
  requires('chromium');
  const env = useServer();
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let miaToken: string;
  const base = () => `http://127.0.0.1:${env.server.ports.http}`;
  const cli = (args: string[], input?: string) => {
    const r = env.server.cli(args, input);
    if (r.code !== 0) throw new Error(`slipway ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** The API as mia, for what the test checks behind the page's back. */
  const api = async (urlPath: string, token = miaToken) => {
    const r = await httpGet({
      port: env.server.ports.http,
      host: '127.0.0.1',
      path: urlPath,
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: r.status, json: JSON.parse(r.body) };
  };

  before(async function () {
    this.timeout(120_000);
    cli(['users:add', 'mia']);
    cli(['users:add', 'otto']);
    cli(['users:passwd', 'mia'], PASSWORD);
    miaToken = cli(['tokens:create', '--user', 'mia', '--name', 'test']);
    cli(['apps:create', 'mia-app']);
    cli(['apps:transfer', 'mia-app', 'mia']);
    cli(['apps:create', 'otto-app']);
    cli(['apps:transfer', 'otto-app', 'otto']);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
  });

  it('logs in with a password and lists only the apps the user may use', async () => {
    await page.goto(`${base()}/`);
    expect(new URL(page.url()).pathname).to.equal('/login');
    await page.getByLabel('User name').fill('mia');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).first().click();
    await page.waitForURL(`${base()}/`);
    expect(await page.locator('tr[data-app="mia-app"]').count()).to.equal(1);
    expect(await page.locator('tr[data-app="otto-app"]').count()).to.equal(0);
    expect(await page.content()).not.to.include('otto-app');
    const cookie = (await context.cookies()).find((c) => c.name === 'slipway_session')!;
    expect(cookie.httpOnly).to.equal(true);
    expect(cookie.sameSite).to.equal('Strict');
  });

  it('streams the build log of a running deploy into the page while it runs', async () => {
    const repo = appRepo('procfile-hello');
    setMessage(repo, 'one');
    const first = await push(repo, env.server.httpRemote('mia-app', miaToken));
    expect(first.code, first.stderr).to.equal(0);
    // A build that says one thing, waits, then says another: the page must show the first before the second exists.
    addBuildpack(repo, 'slowpack', 'echo tick-one; sleep 8; echo tick-two');
    fs.writeFileSync(path.join(repo, 'message.txt'), 'two\n');
    commitAll(repo, 'two, with a slow build');
    const pushing = push(repo, env.server.httpRemote('mia-app', miaToken));
    // The app page shows the running job once the push has queued it.
    await eventually(async () => {
      await page.goto(`${base()}/apps/mia-app`);
      return (await page.locator('pre.live-log').count()) > 0;
    }, 'the running deploy on the app page');
    const log = page.locator('pre.live-log').first();
    await log.getByText('tick-one').waitFor({ timeout: 60_000 });
    // tick-one is on the page while the build has not yet said tick-two, and the job still runs.
    expect(await log.textContent()).not.to.include('tick-two');
    const jobs = await api('/api/v1/apps/mia-app/jobs');
    expect(jobs.json[0].status).to.equal('running');
    // The deploys page lists it among the running jobs meanwhile (the build still sleeps before tick-two).
    const deploys = await context.newPage();
    await deploys.goto(`${base()}/deploys`);
    const row = deploys
      .locator('#deploys table')
      .first()
      .locator('tr', { hasText: `#${jobs.json[0].id}` });
    expect(await row.textContent()).to.match(/mia-app[\s\S]*running/);
    await deploys.close();
    await log.getByText('tick-two').waitFor({ timeout: 60_000 });
    const pushed = await pushing;
    expect(pushed.code, pushed.stderr).to.equal(0);
    expect((await env.server.get('mia-app')).body.trim()).to.equal('two');
  });

  it('rolls back from the Rollback button: the app serves the old body and the ledger gains the rollback release', async () => {
    await page.goto(`${base()}/apps/mia-app`);
    await page.getByRole('button', { name: 'Roll back to v1' }).click();
    await page.waitForURL(`${base()}/apps/mia-app`);
    await eventually(async () => (await env.server.get('mia-app')).body.trim() === 'one', 'the old body over HTTP', 60_000);
    const releases = await api('/api/v1/apps/mia-app/releases');
    expect(releases.json[0]).to.include({ version: 'v3', kind: 'rollback', live: true });
    await page.goto(`${base()}/apps/mia-app`);
    expect(await page.locator('#releases tr[data-version="v3"]').textContent()).to.include('rollback');
  });

  it('sets a config var from the form, as config:set does (a new release)', async () => {
    await page.goto(`${base()}/apps/mia-app`);
    await page.getByLabel('Name').fill('GREETING');
    await page.getByLabel('Value').fill('hello <b>world</b>');
    await page.getByRole('button', { name: 'Set' }).click();
    await page.waitForURL(`${base()}/apps/mia-app`);
    await eventually(async () => (await api('/api/v1/apps/mia-app/config')).json.vars.GREETING === 'hello <b>world</b>', 'the var');
    await eventually(async () => (await api('/api/v1/apps/mia-app/releases')).json[0].kind === 'config', 'a config release', 60_000);
    await page.goto(`${base()}/apps/mia-app`);
    // Escaped on the page: the markup shows as text.
    expect(await page.locator('#config').textContent()).to.include('hello <b>world</b>');
  });

  it('tails the runtime log live, filtered to a process type, while Restart brings up a new instance', async () => {
    const logs = await context.newPage();
    await logs.goto(`${base()}/apps/mia-app/logs?ps=web`);
    const pre = logs.locator('#runtime-log');
    const listening = async () => ((await pre.textContent()) ?? '').split('listening on port').length - 1;
    await eventually(async () => (await listening()) > 0, "the instance's start in the log");
    const before = await listening();
    await page.goto(`${base()}/apps/mia-app`);
    await page.getByRole('button', { name: 'Restart web' }).click();
    await page.waitForURL(`${base()}/apps/mia-app`);
    expect(await page.locator('.flash').textContent()).to.match(/Restarted 1 instance/);
    // The new instance's line reaches the open page without a reload.
    await eventually(async () => (await listening()) > before, 'the restarted instance in the live log', 60_000);
    await logs.close();
  });

  it('refuses a POST without the CSRF token', async () => {
    const r = await context.request.post(`${base()}/apps/mia-app/config`, {
      form: { key: 'SNEAKY', value: '1' },
      maxRedirects: 0,
    });
    expect(r.status()).to.equal(403);
    expect(await r.text()).to.include('not sent from your dashboard session');
    expect((await api('/api/v1/apps/mia-app/config')).json.vars).not.to.have.property('SNEAKY');
  });

  it('takes screenshots of the apps list and the app page at desktop and phone widths', async () => {
    for (const [name, size] of [
      ['desktop', { width: 1280, height: 900 }],
      ['phone', { width: 390, height: 844 }],
    ] as const) {
      await page.setViewportSize(size);
      await page.goto(`${base()}/`);
      await page.screenshot({ path: path.join(SCREENSHOTS, `apps-${name}.png`), fullPage: true });
      await page.goto(`${base()}/apps/mia-app`);
      await page.screenshot({ path: path.join(SCREENSHOTS, `app-${name}.png`), fullPage: true });
      // At phone width nothing but the tables' own scroll areas is wider than the screen.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `${name} page overflows by ${overflow}px`).to.be.at.most(0);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('logs out from the button, which revokes the token the password login made', async () => {
    const live = () => cli(['tokens', '--user', 'mia']);
    expect(live()).to.match(/dashboard/);
    await page.goto(`${base()}/`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base()}/login`);
    await page.goto(`${base()}/apps/mia-app`);
    expect(new URL(page.url()).pathname).to.equal('/login');
    const row = live()
      .split('\n')
      .find((l) => /\bdashboard\b/.test(l))!;
    expect(row).to.match(/revoked/);
  });

  it('logs out a session whose token is revoked, and ends its open log stream at once', async () => {
    const token = cli(['tokens:create', '--user', 'mia', '--name', 'browser']);
    const other = await browser.newContext();
    const tab = await other.newPage();
    await tab.goto(`${base()}/login`);
    await tab.getByLabel('API token').fill(token);
    await tab.getByRole('button', { name: 'Log in' }).nth(1).click();
    await tab.waitForURL(`${base()}/`);
    expect(await tab.locator('tr[data-app="mia-app"]').count()).to.equal(1);
    // A runtime log followed live: the stream is open when the revocation comes.
    await Promise.all([
      tab.waitForResponse((r) => r.url().includes('/apps/mia-app/logs/stream') && r.status() === 200),
      tab.goto(`${base()}/apps/mia-app/logs`),
    ]);
    cli(['tokens:revoke', '--user', 'mia', 'browser']);
    await tab.locator('#runtime-log').getByText('this session is closed').waitFor({ timeout: 30_000 });
    await tab.goto(`${base()}/apps/mia-app`);
    expect(new URL(tab.url()).pathname).to.equal('/login');
    await other.close();
  });
});
