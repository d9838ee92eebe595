import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { recordPrograms } from '../../src/exec/record-programs.js';

/** Debian's Chromium (setup.sh installs the `chromium` package); Playwright cannot download a browser here. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Starts headless Chromium with a fresh profile. The flags keep it from reaching for Google's services, which
 * this machine's closed network refuses (and which would slow every start).
 */
export async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'sfip-chromium-'));
  // Playwright starts the browser itself, past src/exec: record it for the program-coverage test.
  recordPrograms([CHROMIUM]);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
