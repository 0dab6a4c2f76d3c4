// The certification report, end to end: `stacklab certify --report FILE.html` on both example
// deployments, opened in headless Debian Chromium (playwright-core), checked in the DOM a browser
// actually built (every rule of the certificate has a row with its verdict, both SVG charts have
// one bar per chip) and on a screenshot that must not be blank.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { imageStats, assertNotBlank } from './image.mjs';

const cli = process.env.STACKLAB_CLI || 'build/native/stacklab';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-report-'));
let browser;

before(async () => {
  const keygen = spawnSync(cli, ['keygen', '--out', path.join(tmp, 'keys')], { encoding: 'utf8' });
  assert.equal(keygen.status, 0, keygen.stderr);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function certify(example) {
  const cert = path.join(tmp, `${example}.cert`), report = path.join(tmp, `${example}.html`);
  const r = spawnSync(cli, ['certify', '--manifest', `models/deployments/${example}.json`, '--key',
    path.join(tmp, 'keys', 'secret.key'), '--out', cert, '--report', report, '--now', '2025-06-01T00:00:00Z'],
  { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, cert: JSON.parse(fs.readFileSync(cert, 'utf8')), report };
}

for (const example of ['warehouse-cell-tier2-pass', 'edge-cell-tier2-fail']) {
  test(`the ${example} report renders in Chromium with every rule and both charts`, async () => {
    const { status, cert, report } = certify(example);
    assert.equal(status, example.includes('pass') ? 0 : 1);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));
    await page.goto(pathToFileURL(report).href);
    const rows = await page.evaluate(() =>
      [...document.querySelectorAll('tr[data-rule]')].map(tr => ({
        rule: tr.dataset.rule, outcome: tr.dataset.outcome, label: tr.cells[0].textContent })));
    assert.deepEqual(rows.map(r => [r.rule, r.outcome]), cert.verdicts.map(v => [v.rule, v.outcome]));
    for (const r of rows)
      assert.equal(r.label, { pass: 'PASS', fail: 'FAIL', not_applicable: 'N/A' }[r.outcome], r.rule);
    // Two charts; each has a bar (rect after the background) per chip, with a visible width.
    const charts = await page.evaluate(() => [...document.querySelectorAll('figure svg')].map(svg => {
      const rects = [...svg.querySelectorAll('rect')].slice(1);
      return { bars: rects.length, widths: rects.map(r => r.getBoundingClientRect().width) };
    }));
    assert.equal(charts.length, 2);
    for (const c of charts) {
      assert.equal(c.bars, cert.subject.chips.length);
      for (const w of c.widths) assert.ok(w > 1, `bar width ${w}`);
    }
    if (example.includes('fail')) {
      const failing = await page.$eval('tr[data-rule="AG.action-latency-budget"]', tr => tr.textContent);
      assert.match(failing, /FAIL/);
    }
    const shot = await page.screenshot({ fullPage: true });
    fs.writeFileSync(path.join(tmp, `${example}.png`), shot);
    assertNotBlank(assert, imageStats(shot), `${example} report screenshot`);
    // The chart area itself is drawn (bars in two colours at most plus text), not empty.
    const chart = await (await page.$('figure svg')).screenshot();
    assert.ok(imageStats(chart).distinctColors >= 10, 'latency chart looks blank');
    assert.deepEqual(errors, []);
    await page.close();
  });
}
