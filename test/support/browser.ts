import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** Where the browser tests leave their screenshots (gitignored: .slipway-test/). */
export const SCREENSHOTS = path.resolve('.slipway-test', 'screenshots');

/**
 * Debian's chromium, headless, through playwright-core. Each launch gets a
 * fresh temporary profile of playwright's own (it refuses --user-data-dir in
 * args and deletes the profile on close), so no state leaks between runs.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p)) ?? 'chromium';
  return chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
