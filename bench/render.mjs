// render.mjs — the dashboard's first render in Chromium, per view: from
// navigation to the view's numbers on screen, in a fresh browser each time
// (no cache). Run by bench/dashboard.sh.   usage: node bench/render.mjs URL
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(new URL('../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const base = process.argv[2];
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
console.log('first render in Chromium (90-day preset by day, fresh profile each):');
for (const v of ['overview', 'breakdowns', 'latency', 'users', 'alerts', 'live']) {
  const dir = mkdtempSync(join(tmpdir(), 'tmrender-'));
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(`${base}/#view=${v}&range=90d&interval=day&tz=UTC`);
  await page.waitForSelector(`main[data-ready="${v}"]`, { timeout: 120000 });
  const t = await page.evaluate(() => window.tokmeter.firstRender || NaN);
  console.log(`  ${v.padEnd(12)} ${t.toFixed(0).padStart(6)} ms`);
  await ctx.close();
  rmSync(dir, { recursive: true, force: true });
}
