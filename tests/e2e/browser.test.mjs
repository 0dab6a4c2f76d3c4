// The browser build, end to end: serve build/web on loopback, open it in headless Debian Chromium
// (WebGL2 through SwiftShader) with playwright-core, wait for the app's first frames, and check
// what a person would see plus what the page's JS API returns.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/serve.mjs';
import { imageStats, assertNotBlank, countColor } from './image.mjs';
import { checkRooflineAgainstCli, checkSystolicAgainstCli, checkCellAgainstCli, checkCertifyAgainstCli, checkModelsAgainstCli, checkModelTileAgainstCli, regionOf,
         checkTileSimAgainstCli, cellFileWithFaults, checkGraphViewAgainstFile } from './checks.mjs';

const webDir = process.env.STACKLAB_WEB || 'build/web';
const cli = process.env.STACKLAB_CLI || 'build/native/stacklab';

let server, browser, baseUrl;
const pageErrors = [];

before(async () => {
  server = await serve(webDir, 0);
  baseUrl = `http://127.0.0.1:${server.address().port}/`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise(r => server ? server.close(r) : r());
});

async function openApp(viewport = { width: 1440, height: 900 }) {
  const page = await browser.newPage({ viewport });
  page.on('pageerror', e => pageErrors.push(String(e)));
  page.on('console', m => { if (m.type() === 'error') pageErrors.push(m.text()); });
  // The app opens on the Stack view; these tests are about the Chips panel.
  await page.goto(baseUrl + '#tab=chips');
  await page.waitForSelector('html[data-stacklab-ready="true"]', { timeout: 60000 });
  return page;
}

test('the page draws the app in WebGL2 and the Chips panel shows the catalog', async () => {
  const page = await openApp();
  // Let a few more frames go by so the layout has settled (ImGui sizes columns on frame 2).
  await page.waitForFunction(() => window.stacklab.uiReport().frame >= 10, null, { timeout: 30000 });
  const shot = await page.screenshot();
  const stats = imageStats(shot);
  assertNotBlank(assert, stats, 'browser screenshot');
  // The table region (upper right of the sidebar) holds text, not an empty panel.
  assertNotBlank(assert, imageStats(shot, { x: 300, y: 60, w: 1000, h: 250 }), 'chips table region');

  const report = await page.evaluate(() => window.stacklab.uiReport());
  const catalog = await page.evaluate(() => window.stacklab.chips());
  assert.equal(report.load_error, '');
  assert.equal(report.chips_panel.rows_drawn, catalog.chips.length);
  assert.deepEqual([...report.chips_panel.row_ids].sort(), catalog.chips.map(c => c.id).sort());
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser.png'), shot);
  else fs.writeFileSync(path.join(os.tmpdir(), 'stacklab-browser.png'), shot);
  await page.close();
});

test('window.stacklab.chips() returns exactly what the native CLI prints', async () => {
  const page = await openApp();
  const fromPage = await page.evaluate(() => window.stacklab.chipsJson());
  const fromCli = execFileSync(cli, ['chips', '--json'], { encoding: 'utf8' });
  assert.equal(fromPage + '\n', fromCli);
  await page.close();
});

test('clicking a column header sorts the chips table', async () => {
  const page = await openApp();
  const before = await page.evaluate(() => window.stacklab.uiReport());
  assert.equal(before.chips_panel.sorted_by, 'name');
  // The UI reports where it drew each header; click "INT8 TOPS" like a person would, twice for
  // descending order.
  const headers = await page.evaluate(() => window.stacklab.uiReport().chips_panel.headers);
  const int8 = headers.find(h => h.key === 'int8_tops');
  assert.ok(int8, 'the UI reports where the INT8 header is');
  await page.mouse.click(int8.x + int8.w / 2, int8.y + int8.h / 2);
  await page.waitForFunction(() => window.stacklab.uiReport().chips_panel.sorted_by === 'int8_tops', null, { timeout: 10000 });
  await page.mouse.click(int8.x + int8.w / 2, int8.y + int8.h / 2);
  await page.waitForFunction(() => !window.stacklab.uiReport().chips_panel.ascending, null, { timeout: 10000 });
  const after = await page.evaluate(() => window.stacklab.uiReport());
  const catalog = await page.evaluate(() => window.stacklab.chips());
  const int8Of = id => catalog.chips.find(c => c.id === id).figures.int8_tops.value;
  const known = after.chips_panel.row_ids.filter(id => int8Of(id) !== null).map(int8Of);
  assert.ok(known.length >= 5);
  for (let i = 1; i < known.length; i++) assert.ok(known[i - 1] >= known[i], `not descending: ${known}`);
  // Unknown figures sort last.
  const firstUnknown = after.chips_panel.row_ids.findIndex(id => int8Of(id) === null);
  if (firstUnknown >= 0) assert.equal(firstUnknown, known.length);
  await page.close();
});

test('the LLM serving tab opens from the URL and shows the numbers the CLI computes', async () => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', e => pageErrors.push(String(e)));
  await page.goto(baseUrl + '#tab=llm&chip=nvidia-h100&llm=llama-3-8b');
  await page.waitForSelector('html[data-stacklab-ready="true"]', { timeout: 60000 });
  await page.waitForFunction(() => window.stacklab.uiReport().active_tab === 'LLM serving', null, { timeout: 30000 });
  const report = await page.evaluate(() => window.stacklab.uiReport());
  assert.equal(report.scenario_error, '');
  assert.equal(report.selected_chip, 'nvidia-h100');
  assert.equal(report.llm_panel.llm, 'llama-3-8b');
  const shot = await page.screenshot();
  assertNotBlank(assert, imageStats(shot, { x: 250, y: 200, w: 600, h: 500 }), 'roofline chart region');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-llm.png'), shot);
  // Every chip's row is the estimate the native CLI prints for the same scenario, to the last bit.
  let compared = 0;
  for (const row of report.llm_panel.rows) {
    const r = spawnSync(cli, ['llm', '--chip', row.chip, '--llm', 'llama-3-8b', '--json'], { encoding: 'utf8' });
    if (!row.ok) {
      assert.notEqual(r.status, 0, `${row.chip}: the page has no estimate but the CLI does`);
      continue;
    }
    const doc = JSON.parse(r.stdout);
    assert.equal(row.tokens_per_s, doc.tokens_per_s, row.chip);
    assert.equal(row.ttft_ms, doc.ttft_ms, row.chip);
    assert.equal(row.fits, doc.fits, row.chip);
    compared++;
  }
  assert.ok(compared >= 6, `only ${compared} chips compared`);
  await page.close();
});

async function openHash(hash, tab) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', e => pageErrors.push(String(e)));
  page.on('console', m => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(baseUrl + hash);
  await page.waitForSelector('html[data-stacklab-ready="true"]', { timeout: 60000 });
  await page.waitForFunction(t => window.stacklab.uiReport().active_tab === t && window.stacklab.uiReport().frame >= 6,
                             tab, { timeout: 30000 });
  return page;
}

test('the Chips tab draws two chips\' rooflines with the LLM\'s GEMMs at the CLI\'s numbers', async () => {
  const page = await openHash('#tab=chips&chip=nvidia-h100&chip2=ascend-910b&llm=qwen2.5-7b&dtype=fp16', 'Chips');
  const report = await page.evaluate(() => window.stacklab.uiReport());
  assert.equal(report.scenario_error, '');
  const roof = report.chips_panel.roofline;
  assert.equal(roof.dtype, 'fp16');
  assert.deepEqual(roof.chips, ['nvidia-h100', 'ascend-910b']);
  assert.equal(roof.ops.length, 16);
  assert.equal(checkRooflineAgainstCli(roof, cli), 16);
  const shot = await page.screenshot();
  assertNotBlank(assert, imageStats(shot, regionOf(roof.rect)), 'roofline chart region');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-roofline.png'), shot);
  await page.close();
});

test('the Chips tab\'s tile simulation draws a per-core Gantt chart at the CLI\'s numbers and zooms with the mouse wheel', async () => {
  const page = await openHash('#tab=chips&chip=ascend-910b&llm=qwen2.5-7b&dtype=int8&gemm=P1', 'Chips');
  await page.waitForFunction(() => window.stacklab.uiReport().chips_panel.tile_sim?.gantt_rows > 0, null, { timeout: 30000 });
  const report = await page.evaluate(() => window.stacklab.uiReport());
  assert.equal(report.scenario_error, '');
  const t = report.chips_panel.tile_sim;
  assert.equal(t.gemm, 'P1 prefill qkv');
  assert.equal(t.computations, 1);
  // The wasm simulation is the native CLI's, event for event.
  const doc = checkTileSimAgainstCli(t, cli);
  assert.ok(t.events > 0 && t.gantt_bars === t.events);
  assert.deepEqual(t.view_us, [0, doc.time_us]);
  const shot = await page.screenshot();
  const gantt = regionOf(t.gantt_rect);
  assertNotBlank(assert, imageStats(shot, gantt), 'Gantt chart');
  assert.ok(countColor(shot, gantt, [235, 150, 60]) > 100, 'no matrix bars in the Gantt chart');
  assert.ok(countColor(shot, gantt, [90, 160, 230]) > 100, 'no DMA-in bars in the Gantt chart');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-tile.png'), shot);
  // Hovering core 0's longest DMA-in job shows that event's tooltip: the CLI's event, with its bytes.
  const plot = t.gantt_plot_rect, lane = plot.h / t.gantt_rows;
  const longest = doc.timeline.map((e, i) => ({ ...e, i })).filter(e => e.core === 0 && e.unit === 'dma_in')
    .reduce((a, b) => (b.end_us - b.start_us > a.end_us - a.start_us ? b : a));
  await page.mouse.move(plot.x + plot.w * (longest.start_us + longest.end_us) / 2 / doc.time_us, plot.y + lane / 2);
  await page.waitForFunction(() => window.stacklab.uiReport().chips_panel.tile_sim.hovered_event >= 0, null, { timeout: 10000 });
  const h = (await page.evaluate(() => window.stacklab.uiReport())).chips_panel.tile_sim;
  const ev = doc.timeline[h.hovered_event];
  assert.deepEqual([ev.core, ev.unit], [0, 'dma_in']);
  assert.ok(ev.start_us <= longest.end_us && ev.end_us >= longest.start_us, 'the hovered bar is not the one under the mouse');
  assert.match(h.tooltip, new RegExp(`core 0, dma_in, output tile ${ev.tile}\\n`));
  assert.match(h.tooltip, new RegExp(`\\n${ev.bytes} bytes$`));
  // Wheel up over the chart zooms in about the cursor: a narrower window, fewer bars in it.
  await page.mouse.move(t.gantt_rect.x + t.gantt_rect.w * 0.4, t.gantt_rect.y + t.gantt_rect.h * 0.3);
  for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -120);
  await page.waitForFunction(() => { const v = window.stacklab.uiReport().chips_panel.tile_sim.view_us; return v[1] - v[0] < v[1] * 0.9; },
                             null, { timeout: 10000 });
  const z = (await page.evaluate(() => window.stacklab.uiReport())).chips_panel.tile_sim;
  assert.ok(z.view_us[0] > 0 && z.view_us[1] < doc.time_us, JSON.stringify(z.view_us));
  assert.ok(z.gantt_bars < t.gantt_bars, `${z.gantt_bars} bars after zooming in, ${t.gantt_bars} before`);
  assert.equal(z.computations, 1);  // zooming does not rerun the simulation
  await page.close();
});

test('the Chips tab\'s tile view draws the Models tab\'s whole model as one Gantt chart with its ops on top, at the CLI\'s numbers', async () => {
  const page = await openHash('#tab=chips&chip=ascend-910b&gemm=model&model=fashion_cnn', 'Chips');
  await page.waitForFunction(() => window.stacklab.uiReport().chips_panel.tile_sim?.gantt_rows > 0, null, { timeout: 30000 });
  const report = await page.evaluate(() => window.stacklab.uiReport());
  assert.equal(report.scenario_error, '');
  assert.equal(report.scenario, 'tab=chips&chip=ascend-910b&gemm=model');
  const t = report.chips_panel.tile_sim;
  assert.equal(t.model, 'fashion_cnn');
  assert.equal(t.computations, 1);
  // The wasm simulation is the native CLI's: totals, every per-node row and its events.
  const doc = checkModelTileAgainstCli(t, cli, 'models/fashion_cnn.onnx');
  assert.ok(t.events > 0 && t.gantt_bars === t.events);
  assert.deepEqual(t.view_us, [0, doc.totals.time_us]);
  const shot = await page.screenshot();
  assertNotBlank(assert, imageStats(shot, regionOf(t.gantt_rect)), 'Gantt chart');
  assert.ok(countColor(shot, regionOf(t.gantt_rect), [235, 150, 60]) > 100, 'no matrix bars in the Gantt chart');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-tile-model.png'), shot);
  // Hovering the middle of the longest node's band names that node in the tooltip.
  const longest = doc.ops.map((o, i) => ({ ...o, i })).filter(o => o.fidelity_used !== 'none')
    .reduce((a, b) => (b.time_us > a.time_us ? b : a));
  const band = t.op_band_rect;
  await page.mouse.move(band.x + band.w * (longest.start_us + longest.time_us / 2) / doc.totals.time_us, band.y + band.h / 2);
  await page.waitForFunction(() => window.stacklab.uiReport().chips_panel.tile_sim.hovered_op >= 0, null, { timeout: 10000 });
  const h = (await page.evaluate(() => window.stacklab.uiReport())).chips_panel.tile_sim;
  assert.equal(h.hovered_op, longest.i);
  assert.equal(h.hovered_event, -1);
  assert.ok(h.tooltip.startsWith(`${longest.name} (${longest.op}, `), h.tooltip);
  // An event of that node: its tooltip names the node too.
  const ev = doc.timeline.filter(e => e.op === longest.name && e.core === 0 && e.unit === 'dma_in')
    .reduce((a, b) => (b.end_us - b.start_us > a.end_us - a.start_us ? b : a));
  const plot = t.gantt_plot_rect, lane = plot.h / t.gantt_rows;
  await page.mouse.move(plot.x + plot.w * (ev.start_us + ev.end_us) / 2 / doc.totals.time_us, plot.y + lane / 2);
  await page.waitForFunction(() => window.stacklab.uiReport().chips_panel.tile_sim.hovered_event >= 0, null, { timeout: 10000 });
  const e = (await page.evaluate(() => window.stacklab.uiReport())).chips_panel.tile_sim;
  const hit = doc.timeline[e.hovered_event];
  assert.equal(hit.op, doc.ops[e.hovered_op].name);
  assert.ok(e.tooltip.startsWith(`${hit.op} (`), e.tooltip);
  assert.match(e.tooltip, new RegExp(`core ${hit.core}, ${hit.unit}, output tile ${hit.tile}\\n`));
  await page.close();
});

test('the Kernels tab opens from the URL and shows the drift report the CLI prints', async () => {
  const page = await openHash('#tab=kernels&variance=welford&gelu=tanh&fp16=1&rows=8&cols=333&seed=7&offset=-2.5', 'Kernels');
  const k = (await page.evaluate(() => window.stacklab.uiReport())).kernels_panel;
  assert.equal(k.error, '');
  assert.equal(k.computations, 1);
  // The browser build dispatches to wasm SIMD128 (or scalar); never to an x86 path.
  assert.ok(k.isas.includes('scalar') && !k.isas.includes('avx2'));
  const doc = JSON.parse(execFileSync(cli, ['kernels', 'drift', '--variant', 'welford', '--gelu', 'tanh', '--fp16', '--rows', '8',
                                            '--cols', '333', '--seed', '7', '--offset', '-2.5', '--json'], { encoding: 'utf8' }));
  assert.equal(k.variant, doc.variant);
  assert.equal(k.max_abs_error, doc.max_abs_error);
  assert.equal(k.mean_abs_error, doc.mean_abs_error);
  assert.equal(k.differing, doc.differing);
  assert.equal(k.max_abs_lsb, doc.max_abs_lsb);
  assert.deepEqual(k.lsb_histogram, doc.lsb_histogram);
  const shot = await page.screenshot();
  assertNotBlank(assert, imageStats(shot, regionOf(k.histogram_rect)), 'LSB histogram region');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-kernels.png'), shot);
  await page.close();
});

test('the Models tab quantizes the CNN over frames and reports the native CLI\'s accuracy, predictions and SQNR', async () => {
  const page = await openHash('#tab=models&model=fashion_cnn&quant=int8&calib=minmax&fuse=1', 'Models');
  await page.waitForFunction(() => ['done', 'error'].includes(window.stacklab.uiReport().models_panel.stage), null,
                             { timeout: 240000 });
  // A few frames more so the finished panel (charts, confusion, images) is on screen.
  const at = (await page.evaluate(() => window.stacklab.uiReport())).frame;
  await page.waitForFunction(f => window.stacklab.uiReport().frame >= f + 3, at, { timeout: 30000 });
  const report = await page.evaluate(() => window.stacklab.uiReport());
  assert.equal(report.scenario_error, '');
  const m = report.models_panel;
  assert.equal(m.quant, 'int8');
  assert.equal(m.computations, 1);
  assert.ok(m.frames > 1, `the evaluation ran in ${m.frames} frame(s)`);
  // Single-threaded wasm: the steps run on the page's thread, spread over frames.
  assert.equal(m.threaded, false);
  assert.ok(m.ui_thread_steps >= m.frames, `${m.ui_thread_steps} steps in ${m.frames} frames`);
  // Same numbers as the native CLI on the same images: native and wasm kernels agree exactly.
  const doc = checkModelsAgainstCli(m, cli, { model: 'fashion_cnn', quant: 'int8', calib: 'minmax', fuse: true });
  assert.ok(doc.accuracy > 0.85, `int8 accuracy ${doc.accuracy}`);
  assert.ok(m.per_node.length > 0 && m.batch === 64);
  const shot = await page.screenshot();
  // The accuracy bars in their two colours (fp32 blue, quantized orange: ui/models_panel.cpp).
  const acc = regionOf(m.accuracy_rect);
  assert.ok(countColor(shot, acc, [90, 150, 230]) > 200, 'no fp32 bar in the accuracy chart');
  assert.ok(countColor(shot, acc, [235, 150, 60]) > 200, 'no quantized bar in the accuracy chart');
  assertNotBlank(assert, imageStats(shot, regionOf(m.layers_rect)), 'per-layer table');
  assertNotBlank(assert, imageStats(shot, regionOf(m.confusion_rect)), 'confusion matrix');
  assertNotBlank(assert, imageStats(shot, regionOf(m.images_rect)), 'test image grid');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-models.png'), shot);
  else fs.writeFileSync(path.join(os.tmpdir(), 'stacklab-browser-models.png'), shot);
  await page.close();
});

// Issue #8: one's own ONNX file, through the page's file input as a person's file picker fills it.
// A copy of the shipped CNN under another name must give the shipped model's numbers; a truncated
// file must leave a banner naming it and everything loaded before; the graph view must draw one box
// per node of the file (counted from the protobuf itself, checks.mjs onnxNodes), fp32 and quantized.
test('the Models tab loads an ONNX file from the file input, evaluates it and draws its graph like Netron', async () => {
  const page = await openHash('#tab=models&quant=int8&calib=minmax&fuse=1', 'Models');
  const rep = () => page.evaluate(() => window.stacklab.uiReport());
  const click = r => page.mouse.click(r.x + r.w / 2, r.y + r.h / 2, { delay: 50 });
  const cnn = fs.readFileSync('models/fashion_cnn.onnx');
  const load = (name, buffer) => page.setInputFiles('#onnx-file', { name, mimeType: 'application/octet-stream', buffer });
  await load('my_model.onnx', cnn);
  await page.waitForFunction(() => window.stacklab.uiReport().models_panel.model === 'my_model', null, { timeout: 30000 });
  let r = await rep();
  assert.equal(r.models_panel.user_model_error, '');
  assert.deepEqual(r.models_panel.user_models.map(u => [u.id, u.file, u.bytes, u.fashion_note]),
                   [['my_model', 'my_model.onnx', cnn.length, '']]);
  assert.deepEqual(r.models_panel.ids.slice(-1), ['my_model']);
  assert.ok(r.models_panel.ids.includes('fashion_cnn'), 'the shipped models are still offered');
  await page.waitForFunction(() => { const m = window.stacklab.uiReport().models_panel;
                                     return m.model === 'my_model' && ['done', 'error'].includes(m.stage); },
                             null, { timeout: 240000 });
  const m = (await rep()).models_panel;
  // The same numbers as the native CLI on the shipped file: the bytes are the same.
  checkModelsAgainstCli(m, cli, { model: 'fashion_cnn', quant: 'int8', calib: 'minmax', fuse: true });

  // The graph view, opened with its button like a person would.
  await click(m.graph_rect);
  await page.waitForFunction(() => { const g = window.stacklab.uiReport().models_panel.graph_view;
                                     return g.open && g.nodes > 0 && g.boxes_visible > 0; }, null, { timeout: 10000 });
  r = await rep();
  let gv = r.models_panel.graph_view;
  assert.equal(gv.quantized, false);
  checkGraphViewAgainstFile(gv, cnn);
  assert.equal(gv.inputs, 1);
  assert.equal(gv.outputs, 1);
  // Clicking a box opens its details.
  const box = gv.boxes.find(b => b.visible && b.op === 'Conv') || gv.boxes.find(b => b.visible);
  await click(box.rect);
  await page.waitForFunction(n => window.stacklab.uiReport().models_panel.graph_view.selected === n, box.name, { timeout: 10000 });
  // The mouse still over it: its tooltip names it and its output's inferred shape.
  const tip = (await rep()).models_panel.graph_view.hovered;
  assert.ok(tip.startsWith(`${box.op} ${box.name}\n-> `) && /: float \[\?(,\d+)+\]/.test(tip), tip);
  const shot = await page.screenshot();
  assertNotBlank(assert, imageStats(shot, regionOf(gv.canvas_rect)), 'graph canvas');
  assertNotBlank(assert, imageStats(shot, regionOf(gv.details_rect)), 'node details');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-graph.png'), shot);
  else fs.writeFileSync(path.join(os.tmpdir(), 'stacklab-browser-graph.png'), shot);

  // The quantized graph: the QDQ model the native CLI writes for the same recipe, node for node.
  await click(gv.quant_rect);
  await page.waitForFunction(() => { const g = window.stacklab.uiReport().models_panel.graph_view;
                                     return g.quantized && g.nodes > 0; }, null, { timeout: 10000 });
  gv = (await rep()).models_panel.graph_view;
  const qfile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-graph-')), 'cnn_int8.onnx');
  execFileSync(cli, ['quantize', '--model', 'models/fashion_cnn.onnx', '--out', qfile, '--quant', 'int8', '--calibration', 'minmax'],
               { encoding: 'utf8' });
  const qnodes = checkGraphViewAgainstFile(gv, fs.readFileSync(qfile));
  assert.ok(qnodes.some(n => n.op_type === 'DequantizeLinear'), 'the int8 model has DequantizeLinear nodes');
  // Per-channel weights (count and range of scales) and per-tensor activations (one scale, one zero point).
  assert.ok(gv.boxes.some(b => /^axis \d+: \d+ scales [-\d.e]+\.\.[-\d.e]+, zp /.test(b.quant)), JSON.stringify(gv.boxes.map(b => b.quant)));
  assert.ok(gv.boxes.some(b => /^s [-\d.e]+ zp -?\d+$/.test(b.quant)), 'no per-tensor quantization shown');
  assert.ok(gv.quantized_boxes >= gv.ops.DequantizeLinear, `${gv.quantized_boxes} boxes with quantization`);
  if (process.env.STACKLAB_SCREENSHOT_DIR)
    fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-graph-int8.png'), await page.screenshot());

  // A truncated file: a banner naming it; what was loaded stays, the app goes on drawing.
  const before = await rep();
  await load('broken.onnx', cnn.subarray(0, Math.floor(cnn.length / 2)));
  await page.waitForFunction(() => window.stacklab.uiReport().models_panel.user_model_error !== '', null, { timeout: 10000 });
  await page.waitForFunction(f => window.stacklab.uiReport().frame >= f + 3, before.frame, { timeout: 10000 });
  r = await rep();
  assert.match(r.models_panel.user_model_error, /^Could not load broken\.onnx: /);
  assert.deepEqual(r.models_panel.user_models.map(u => u.id), ['my_model']);
  assert.equal(r.models_panel.model, 'my_model');
  assert.equal(r.models_panel.computations, before.models_panel.computations, 'a failed load restarted the evaluation');
  assert.equal(r.models_panel.graph_view.nodes, gv.nodes);
  // An op the importer does not know (the first Relu's op_type renamed in place, same length): the
  // banner names the file, the node, the op and the opset.
  const badOp = Buffer.from(cnn);
  const at = badOp.indexOf(Buffer.from([0x22, 4, ...Buffer.from('Relu')]));  // NodeProto.op_type = 4, 4 bytes
  assert.ok(at > 0);
  badOp.write('Relx', at + 2);
  await load('bad_op.onnx', badOp);
  await page.waitForFunction(() => /bad_op/.test(window.stacklab.uiReport().models_panel.user_model_error), null, { timeout: 10000 });
  r = await rep();
  assert.match(r.models_panel.user_model_error,
               /^Could not load bad_op\.onnx: Relx node 'relu1' \(opset 13\): op type 'Relx' is not supported/);
  assert.deepEqual(r.models_panel.user_models.map(u => u.id), ['my_model']);
  await page.waitForFunction(f => window.stacklab.uiReport().frame >= f + 2, r.frame, { timeout: 10000 });
  r = await rep();

  // A model that is not a 28x28 classifier of ten classes (the PCB cell's defect classifier): its
  // graph, and a note instead of an evaluation. This one through the tab's "Open ONNX file..." button,
  // which opens the browser's file chooser.
  const pcb = fs.readFileSync('models/pcb/pcb_cnn_fp32.onnx');
  const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 10000 }), click(r.models_panel.open_file_rect)]);
  await chooser.setFiles({ name: 'pcb_cnn_fp32.onnx', mimeType: 'application/octet-stream', buffer: pcb });
  await page.waitForFunction(() => { const m = window.stacklab.uiReport().models_panel;
                                     return m.model === 'pcb_cnn_fp32' && m.stage === 'error'; }, null, { timeout: 30000 });
  // The banner went and the note came: wait for a frame with the new layout before clicking.
  await page.waitForFunction(f => window.stacklab.uiReport().frame >= f + 2, (await rep()).frame, { timeout: 10000 });
  await click((await rep()).models_panel.graph_view.fp32_rect);
  await page.waitForFunction(() => { const m = window.stacklab.uiReport().models_panel;
                                     return m.stage === 'error' && !m.graph_view.quantized && m.graph_view.nodes > 0; },
                             null, { timeout: 30000 });
  r = await rep();
  assert.equal(r.models_panel.user_model_error, '');
  assert.deepEqual(r.models_panel.user_models.map(u => u.id), ['my_model', 'pcb_cnn_fp32']);
  const note = r.models_panel.user_models[1].fashion_note;
  assert.notEqual(note, '');
  assert.equal(r.models_panel.error, `pcb_cnn_fp32.onnx cannot be evaluated on Fashion-MNIST: ${note} (the graph view still shows it)`);
  checkGraphViewAgainstFile(r.models_panel.graph_view, pcb);

  // Drag-and-drop: a file dropped on the canvas, as the browser delivers it (a DataTransfer with a File).
  const mixer = fs.readFileSync('models/fashion_mixer.onnx');
  const dataTransfer = await page.evaluateHandle(({ b64, name }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name));
    return dt;
  }, { b64: mixer.toString('base64'), name: 'dropped_mixer.onnx' });
  await page.dispatchEvent('#canvas', 'drop', { dataTransfer });
  await page.waitForFunction(() => { const m = window.stacklab.uiReport().models_panel;
                                     return m.model === 'dropped_mixer' && m.graph_view.nodes > 0 && m.stage !== 'error'; },
                             null, { timeout: 30000 });
  r = await rep();
  assert.deepEqual(r.models_panel.user_models.map(u => [u.id, u.bytes, u.fashion_note]),
                   [['my_model', cnn.length, ''], ['pcb_cnn_fp32', pcb.length, note], ['dropped_mixer', mixer.length, '']]);
  checkGraphViewAgainstFile(r.models_panel.graph_view, mixer);
  await page.close();
});

test('the Systolic tab opens from the URL with the CLI\'s SCALE-Sim report for the same array', async () => {
  const page = await openHash('#tab=systolic&array=64x16&dataflow=is', 'Systolic');
  const s = (await page.evaluate(() => window.stacklab.uiReport())).systolic_panel;
  assert.equal(s.computations, 1);
  checkSystolicAgainstCli(s, cli, { rows: 64, cols: 16, dataflow: 'is' });
  const shot = await page.screenshot();
  assertNotBlank(assert, imageStats(shot, regionOf(s.util_rect)), 'utilisation bars region');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-systolic.png'), shot);
  await page.close();
});

// The cell runs as a job: in the browser (one thread) its control ticks run in slices over frames,
// so the page draws while it runs; the result is the native CLI's.
async function waitForCell(page) {
  await page.waitForFunction(() => ['done', 'error'].includes(window.stacklab.uiReport().robot_panel.job.stage), null,
                             { timeout: 120000 });
}

test('the Robot tab opens from the URL and runs the cell with the native CLI\'s verdicts, budget and log', async () => {
  const page = await openHash('#tab=robot&chip=ascend-310p&cell=pcb-cell-ascend-310p&t=9.5', 'Robot');
  await waitForCell(page);
  const p = (await page.evaluate(() => window.stacklab.uiReport())).robot_panel;
  assert.equal(p.computations, 1);
  assert.equal(p.job.stage, 'done');
  assert.equal(p.job.threaded, false);
  assert.ok(p.job.ui_thread_steps > 1, `the run took ${p.job.ui_thread_steps} steps on the UI thread: not split`);
  assert.ok(p.job.frames > 1, `the run took ${p.job.frames} frames`);
  assert.ok(p.job.ticks_total > 30000 && p.job.ticks_done === p.job.ticks_total, JSON.stringify(p.job));
  assert.ok(p.job.max_step_ms < p.job.run_ms, 'one step took the whole run');
  console.log(`robot job in the browser: ${p.job.ticks_total} ticks in ${p.job.ui_thread_steps} steps over ${p.job.frames} frames, ` +
              `preparation ${p.job.prepare_ms.toFixed(1)} ms, longest slice ${p.job.max_step_ms.toFixed(1)} ms, ${p.job.run_ms.toFixed(0)} ms in all`);
  // Native and wasm runs of the cell agree (integer-seeded RNG, fixed-step simulation).
  checkCellAgainstCli(p, cli, 'pcb-cell-ascend-310p', 'ascend-310p');
  assert.equal(p.arm_points_m.length, 13);
  const shot = await page.screenshot();
  for (const [name, rect] of [['budget bar', p.budget_rect], ['arm view', p.arm_rect], ['joint plot', p.joints_rect]])
    assertNotBlank(assert, imageStats(shot, regionOf(rect)), name);
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-robot.png'), shot);
  await page.close();
});

test('the Robot tab\'s network-outage button injects the fault at the play time and the cell result changes as the CLI says', async () => {
  const hash = '#tab=robot&chip=ascend-310p&cell=pcb-cell-ascend-310p&t=30';
  const page = await openHash(hash, 'Robot');
  await waitForCell(page);
  const before = (await page.evaluate(() => window.stacklab.uiReport())).robot_panel;
  assert.equal(before.computations, 1);
  assert.deepEqual(before.faults, []);
  const button = before.fault_buttons.find(b => b.kind === 'outage');
  assert.ok(button, 'the UI reports where the network-outage button is');
  await page.mouse.click(button.rect.x + button.rect.w / 2, button.rect.y + button.rect.h / 2);
  await page.waitForFunction(() => window.stacklab.uiReport().robot_panel.computations === 2, null, { timeout: 30000 });
  // A frame in the middle of the rerun: the progress bar and Cancel are drawn, the page keeps the
  // previous result (greyed) instead of a blank panel.
  await page.waitForFunction(() => { const j = window.stacklab.uiReport().robot_panel.job;
                                     return j.stage !== 'run' || (j.ticks_done > 0 && j.ticks_done < j.ticks_total); },
                             null, { timeout: 60000, polling: 'raf' });
  const mid = (await page.evaluate(() => window.stacklab.uiReport())).robot_panel;
  if (mid.job.stage === 'run') {
    assert.ok(mid.job.progress_rect.w > 0 && mid.job.cancel_rect.w > 0, 'no progress bar or Cancel while the cell runs');
    assert.equal(mid.computed, false);
    assert.equal(mid.job.has_result, true);
    assert.equal(mid.job.result_cell, 'pcb-cell-ascend-310p');
    if (process.env.STACKLAB_SCREENSHOT_DIR)
      fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-robot-rerunning.png'), await page.screenshot());
  }
  await waitForCell(page);
  const at = (await page.evaluate(() => window.stacklab.uiReport())).frame;
  await page.waitForFunction(f => window.stacklab.uiReport().frame >= f + 3, at, { timeout: 30000 });
  const p = (await page.evaluate(() => window.stacklab.uiReport())).robot_panel;
  assert.equal(mid.job.stage, 'run', 'the rerun finished before a frame in its middle was seen');
  assert.equal(p.job.stage, 'done');
  assert.ok(p.job.ui_thread_steps > 1);
  assert.deepEqual(p.faults, [{ kind: 'outage', at_s: 30, chip: '' }]);
  assert.equal(p.faults_query, 'outage@30.00');
  // The link watchdog stops the arm 100 ms into the outage; without the fault it did not.
  assert.ok(p.log.some(e => e.rule === 'WD-LINK' && e.t_s >= 30 && e.t_s <= 30.2), 'no link stop after the outage');
  assert.ok(!before.log.some(e => e.rule === 'WD-LINK' && e.t_s >= 30 && e.t_s <= 31));
  assert.equal(p.protective_stops, before.protective_stops + 1);
  assert.ok(p.frames.lost > before.frames.lost);
  // The same run as the native CLI on the scenario file with that outage written into it.
  checkCellAgainstCli(p, cli, cellFileWithFaults('pcb-cell-ascend-310p', p.faults), 'ascend-310p', 'pcb-cell-ascend-310p');
  const shot = await page.screenshot();
  assertNotBlank(assert, imageStats(shot, regionOf(p.joints_rect)), 'joint plot with the outage');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-robot-faults.png'), shot);
  await page.close();
  // The scenario key round-trips the fault: a page opened with it runs the same cell.
  const again = await openHash(`${hash}&faults=${p.faults_query}`, 'Robot');
  await waitForCell(again);
  const q = (await again.evaluate(() => window.stacklab.uiReport())).robot_panel;
  assert.deepEqual(q.faults, p.faults);
  assert.deepEqual(q.log, p.log);
  assert.deepEqual(q.verdicts, p.verdicts);
  await again.close();
});

// The demo key's public half, derived here with Node's own Ed25519 (not the app's code): the seed is
// SHA-256 of the phrase the panel shows; PKCS#8 wraps a raw Ed25519 seed behind this fixed prefix (RFC 8410).
function demoPublicKeyHex() {
  const seed = crypto.createHash('sha256').update('stacklab playground demo key: public, proves nothing').digest();
  const key = crypto.createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
                                        format: 'der', type: 'pkcs8' });
  return crypto.createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex');
}

test('the Certify tab runs a certification stage by stage, downloads a certificate the CLI verifies, and verifies opened files', async () => {
  const page = await openHash('#tab=certify&deployment=warehouse-cell-tier2-pass', 'Certify');
  const rep = async () => (await page.evaluate(() => window.stacklab.uiReport())).certify_panel;
  const click = r => page.mouse.click(r.x + r.w / 2, r.y + r.h / 2, { delay: 50 });
  const button = async name => {
    await page.waitForFunction(n => window.stacklab.uiReport().certify_panel.buttons.some(b => b.button === n && b.rect.w > 0),
                               name, { timeout: 10000 });
    return (await rep()).buttons.find(b => b.button === name).rect;
  };
  await page.waitForFunction(() => window.stacklab.uiReport().certify_panel.stage === 'done', null, { timeout: 30000 });
  const first = await rep();
  // "Run again": a new certification, one stage per frame, appended to the log.
  await click(await button('run'));
  await page.waitForFunction(n => { const c = window.stacklab.uiReport().certify_panel; return c.stage === 'done' && c.log.entries === n + 1; },
                             first.log.entries, { timeout: 30000 });
  const c = await rep();
  assert.equal(c.error, '');
  assert.equal(c.pass, true, c.summary);
  assert.equal(c.verify.ok, true, c.verify.reason);
  assert.equal(c.frames, c.stages_total);
  assert.equal(c.stages_done, c.stages_total);
  assert.deepEqual(c.stages.map(s => s.name), ['parse manifest', 'load packs', 'gather evidence', ...c.packs.map(p => `evaluate ${p}`),
                                               'certify and sign', 'verify', 'append to audit log']);
  assert.equal(c.log.check_ok, true, c.log.check_reason);
  assert.equal(c.log.proof.ok, true, c.log.proof.reason);
  assert.equal(c.log.proof.index, c.log.entries - 1);
  checkCertifyAgainstCli(c, cli, 'warehouse-cell-tier2-pass');
  // Download the certificate: its bytes are the panel's and verify with the native CLI and the demo public key.
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), click(await button('export_certificate'))]);
  assert.equal(download.suggestedFilename(), 'warehouse-cell-tier2-pass.certificate.json');
  const bytes = fs.readFileSync(await download.path());
  assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), c.certificate_sha256);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-cert-dl-'));
  fs.writeFileSync(path.join(dir, 'cert.json'), bytes);
  fs.writeFileSync(path.join(dir, 'demo.pub'), demoPublicKeyHex() + '\n');
  const v = spawnSync(cli, ['verify', path.join(dir, 'cert.json'), '--pubkey', path.join(dir, 'demo.pub'), '--json'], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.equal(JSON.parse(v.stdout).valid, true);
  // Open files through the page's certificate input (the "Open certificate file..." button's): the
  // downloaded one, a copy with one digit of the evidence changed, and a file that is not JSON.
  const open = async (name, buffer) => {
    const before = (await rep()).verify_input.message;
    await page.setInputFiles('#cert-file', { name, mimeType: 'application/json', buffer });
    await page.waitForFunction(m => window.stacklab.uiReport().certify_panel.verify_input.message !== m, before, { timeout: 10000 });
    return (await rep()).verify_input;
  };
  let r = await open('downloaded.json', bytes);
  assert.equal(r.source, 'downloaded.json');
  assert.equal(r.ok, true, r.message);
  const text = bytes.toString('utf8');
  const at = text.indexOf('"evidence"') + text.slice(text.indexOf('"evidence"')).search(/[0-9]/);
  const tampered = text.slice(0, at) + String((Number(text[at]) + 1) % 10) + text.slice(at + 1);
  r = await open('tampered.json', Buffer.from(tampered));
  assert.equal(r.ok, false);
  assert.match(r.message, /^tampered\.json: NOT valid: signature:/);
  r = await open('notes.json', Buffer.from('not a certificate'));
  assert.match(r.message, /^notes\.json: NOT valid: parse:/);
  const shot = await page.screenshot();
  assertNotBlank(assert, imageStats(shot), 'certify tools screenshot');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-certify-tools.png'), shot);
  await page.close();
});

test('the Certify tab certifies with the demo key, verifies, and shows a tampered byte failing', async () => {
  const page = await openHash('#tab=certify&deployment=warehouse-cell-tier2-pass&tamper=1', 'Certify');
  await page.waitForFunction(() => window.stacklab.uiReport().certify_panel.tampered === true, null, { timeout: 30000 });
  const c = (await page.evaluate(() => window.stacklab.uiReport())).certify_panel;
  checkCertifyAgainstCli(c, cli, 'warehouse-cell-tier2-pass');
  assert.equal(c.verify.ok, true, c.verify.reason);
  assert.equal(c.tampered_verify.ok, false);
  assert.match(c.tampered_verify.reason, /signature|hash/);
  const shot = await page.screenshot();
  assertNotBlank(assert, imageStats(shot), 'certify screenshot');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-certify.png'), shot);
  await page.close();
});

test('the Stack view follows the sidebar\'s chip: decode time and cell verdict change with it', async () => {
  const values = {};
  for (const chip of ['ascend-310p', 'edge-npu-64tops']) {
    const page = await openHash(`#tab=stack&chip=${chip}&llm=qwen2.5-7b&quant=w8a8`, 'Stack');
    await waitForCell(page);  // the robot box waits for the cell job
    await page.waitForFunction(() => window.stacklab.uiReport().stack_panel.boxes[2].headline.startsWith('cell '), null,
                               { timeout: 10000 });
    const s = (await page.evaluate(() => window.stacklab.uiReport())).stack_panel;
    assert.deepEqual(s.boxes.map(b => b.layer), ['chip', 'model', 'robot', 'policy']);
    const llm = JSON.parse(execFileSync(cli, ['llm', '--chip', chip, '--llm', 'qwen2.5-7b', '--quant', 'w8a8', '--json'], { encoding: 'utf8' }));
    assert.equal(s.boxes[0].value, llm.decode_ms_per_token, chip);
    const cell = JSON.parse(execFileSync(cli, ['robot', 'cell', '--scenario', 'pcb-cell-ascend-310p', '--chip', chip, '--json'], { encoding: 'utf8' }));
    assert.equal(s.boxes[2].ok, cell.pass, chip);
    values[chip] = s.boxes;
    const shot = await page.screenshot();
    assertNotBlank(assert, imageStats(shot, regionOf(s.rect)), 'stack boxes');
    if (process.env.STACKLAB_SCREENSHOT_DIR && chip === 'ascend-310p')
      fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-stack.png'), shot);
    await page.close();
  }
  assert.notEqual(values['ascend-310p'][0].value, values['edge-npu-64tops'][0].value);
  assert.notEqual(values['ascend-310p'][2].ok, values['edge-npu-64tops'][2].ok);
});

test('a bad scenario in the URL shows a banner and the app still runs', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.on('pageerror', e => pageErrors.push(String(e)));
  await page.goto(baseUrl + '#tab=robots&chip=nope&batch=-4');
  await page.waitForSelector('html[data-stacklab-ready="true"]', { timeout: 60000 });
  const report = await page.evaluate(() => window.stacklab.uiReport());
  assert.match(report.scenario_error, /tab "robots" is not stack, chips, llm, models, kernels, systolic, robot or certify/);
  assert.match(report.scenario_error, /no chip "nope"/);
  assert.match(report.scenario_error, /batch "-4" is not a whole number/);
  assert.equal(report.active_tab, 'Stack');
  assert.equal(report.stack_panel.boxes.length, 4);
  // The link is left as it was typed (the page rewrites the hash only when the view changes).
  assert.equal(await page.evaluate(() => location.hash), '#tab=robots&chip=nope&batch=-4');
  await page.close();
});

// Issue #8: the URL hash follows the view (history.replaceState after a frame that changed the
// scenario), so the URL copied after a few clicks reopens the same view.
test('the URL hash follows clicks on a tab and the chip picker, and reloading it shows the same view', async () => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', e => pageErrors.push(String(e)));
  page.on('console', m => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(baseUrl);
  await page.waitForSelector('html[data-stacklab-ready="true"]', { timeout: 60000 });
  const rep = () => page.evaluate(() => window.stacklab.uiReport());
  const click = r => page.mouse.click(r.x + r.w / 2, r.y + r.h / 2, { delay: 50 });
  let r = await rep();
  assert.equal(r.scenario, '');
  assert.equal(await page.evaluate(() => location.hash), '');
  const historyLength = await page.evaluate(() => history.length);
  // A tab, clicked where the UI says it drew it.
  await click(r.layout.tabs.find(t => t.tab === 'Systolic').rect);
  await page.waitForFunction(() => window.stacklab.uiReport().active_tab === 'Systolic', null, { timeout: 10000 });
  // Another chip from the sidebar's picker: open it, click a visible entry.
  r = await rep();
  await click(r.layout.chip_combo);
  await page.waitForFunction(() => window.stacklab.uiReport().layout.chip_items.length > 1, null, { timeout: 10000 });
  r = await rep();
  const item = r.layout.chip_items.find(c => c.chip !== r.selected_chip && c.rect.h > 0);
  await click(item.rect);
  await page.waitForFunction(c => window.stacklab.uiReport().selected_chip === c, item.chip, { timeout: 10000 });
  await page.waitForFunction(q => decodeURIComponent(location.hash.slice(1)) === q, `tab=systolic&chip=${item.chip}`,
                             { timeout: 10000 })
    .catch(async e => { throw new Error(`hash ${await page.evaluate(() => location.hash)}: ${e}`); });
  const before = await rep();
  assert.equal(before.scenario, `tab=systolic&chip=${item.chip}`);
  assert.equal(await page.evaluate(() => window.stacklab.scenario()), before.scenario);
  assert.deepEqual(await page.evaluate(() => window.stacklab.scenarioJson()),
                   { stacklab_scenario: 1, tab: 'systolic', chip: item.chip });
  assert.equal(await page.evaluate(() => history.length), historyLength);  // replaced, never pushed
  const url = page.url();
  assert.ok(url.endsWith(`#tab=systolic&chip=${item.chip}`), url);
  // The sidebar's Share buttons: the link it copies is this URL; the download is the scenario JSON.
  const share = name => before.layout.share_buttons.find(b => b.button === name).rect;
  await click(share('copy_link'));
  await page.waitForFunction(() => window.stacklab.lastLink !== undefined, null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.stacklab.lastLink), url);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), click(share('download'))]);
  assert.equal(download.suggestedFilename(), 'stacklab-scenario.json');
  assert.deepEqual(JSON.parse(fs.readFileSync(await download.path(), 'utf8')),
                   { stacklab_scenario: 1, tab: 'systolic', chip: item.chip });
  // Reload with that hash: the same view.
  await page.reload();
  await page.waitForSelector('html[data-stacklab-ready="true"]', { timeout: 60000 });
  await page.waitForFunction(() => window.stacklab.uiReport().active_tab === 'Systolic' && window.stacklab.uiReport().frame >= 6,
                             null, { timeout: 30000 });
  const after = await rep();
  assert.equal(after.scenario_error, '');
  assert.equal(after.scenario, before.scenario);
  assert.equal(after.selected_chip, item.chip);
  assert.deepEqual(after.systolic_panel.layers, before.systolic_panel.layers);
  assert.equal(page.url(), url);
  await page.close();
  // The same link in a fresh page, with a Robot fault, the LLM and the Kernels choices on top: the scenario
  // the page writes back is the one it was given, in canonical order.
  const hash = `#tab=robot&chip=${item.chip}&llm=llama-3-8b&batch=4&offset=-2.5&rows=8&t=9.5&faults=outage@30.00`;
  const other = await openHash(hash, 'Robot');
  assert.equal((await other.evaluate(() => window.stacklab.uiReport())).scenario, hash.slice(1));
  await other.close();
});

// Issue #8: the hash is the view. Editing it by hand (or a link to another view of the page, or Back)
// applies it the way the opening hash is applied; a bad one shows the banner and leaves the view. The
// page's own hash updates (history.replaceState) fire no hashchange, so nothing loops.
test('a hash set by hand applies its view, a bad one shows the banner and keeps the view, and our own updates do not loop', async () => {
  const page = await openHash('#tab=chips&chip=nvidia-h100', 'Chips');
  const rep = () => page.evaluate(() => window.stacklab.uiReport());
  await page.evaluate(() => { window.hashChanges = 0; window.addEventListener('hashchange', () => window.hashChanges++); });
  // Our own update: a tab clicked rewrites the hash with replaceState, and no hashchange fires.
  const r0 = await rep();
  const click = r => page.mouse.click(r.x + r.w / 2, r.y + r.h / 2, { delay: 50 });
  await click(r0.layout.tabs.find(t => t.tab === 'Systolic').rect);
  await page.waitForFunction(() => decodeURIComponent(location.hash) === '#tab=systolic&chip=nvidia-h100', null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.hashChanges), 0);
  // By hand: another tab and chip, and a key set on top of the defaults (batch), replacing the view.
  await page.evaluate(() => { location.hash = '#tab=llm&chip=ascend-910b&batch=4'; });
  await page.waitForFunction(() => { const r = window.stacklab.uiReport();
                                     return r.active_tab === 'LLM serving' && r.selected_chip === 'ascend-910b'; },
                             null, { timeout: 10000 });
  let r = await rep();
  assert.equal(r.scenario_error, '');
  assert.equal(r.scenario, 'tab=llm&chip=ascend-910b&batch=4');
  assert.equal(await page.evaluate(() => window.hashChanges), 1);
  // A link naming less: what it leaves out goes back to the defaults (batch), as in a new page.
  await page.evaluate(() => { location.hash = '#tab=llm&chip=nvidia-h100'; });
  await page.waitForFunction(() => window.stacklab.uiReport().selected_chip === 'nvidia-h100', null, { timeout: 10000 });
  r = await rep();
  assert.equal(r.scenario, 'tab=llm&chip=nvidia-h100');
  assert.equal(r.scenario_error, '');
  // A bad hash: the banner names the problems, the view stays, the typed hash stays in the URL.
  const frame = r.frame;
  await page.evaluate(() => { location.hash = '#tab=robots&chip=nope'; });
  await page.waitForFunction(() => window.stacklab.uiReport().scenario_error !== '', null, { timeout: 10000 });
  await page.waitForFunction(f => window.stacklab.uiReport().frame >= f + 5, frame, { timeout: 10000 });
  r = await rep();
  assert.match(r.scenario_error, /tab "robots" is not stack/);
  assert.match(r.scenario_error, /no chip "nope"/);
  assert.equal(r.active_tab, 'LLM serving');
  assert.equal(r.selected_chip, 'nvidia-h100');
  assert.equal(r.scenario, 'tab=llm&chip=nvidia-h100');
  assert.equal(await page.evaluate(() => location.hash), '#tab=robots&chip=nope');
  // Back: the previous hash applies again, and the banner goes.
  await page.goBack();
  await page.waitForFunction(() => window.stacklab.uiReport().scenario_error === '', null, { timeout: 10000 });
  r = await rep();
  assert.equal(r.scenario, 'tab=llm&chip=nvidia-h100');
  await page.close();
});

// Issue #8: dark and light themes. The graph view's canvas follows the theme (its own palette, not
// the ImGui style): screenshots of both differ in background and neither is blank.
test('the graph view follows the light theme: both themes draw, with different backgrounds', async () => {
  const page = await openHash('#tab=models&model=fashion_cnn&view=graph', 'Models');
  const rep = () => page.evaluate(() => window.stacklab.uiReport());
  await page.waitForFunction(() => { const g = window.stacklab.uiReport().models_panel.graph_view;
                                     return g.open && g.boxes_visible > 0; }, null, { timeout: 30000 });
  const shots = {};
  for (const theme of ['dark', 'light']) {
    let r = await rep();
    if (r.dark_theme !== (theme === 'dark')) {
      const c = r.layout.theme_checkbox;
      await page.mouse.click(c.x + c.h / 2, c.y + c.h / 2, { delay: 50 });
      await page.waitForFunction(d => window.stacklab.uiReport().dark_theme === d, theme === 'dark', { timeout: 10000 });
      const f = (await rep()).frame;
      await page.waitForFunction(f => window.stacklab.uiReport().frame >= f + 3, f, { timeout: 10000 });
      r = await rep();
    }
    const gv = r.models_panel.graph_view;
    assert.equal(gv.palette.theme, theme);
    const shot = await page.screenshot();
    const region = regionOf(gv.canvas_rect);
    assertNotBlank(assert, imageStats(shot, region), `graph canvas, ${theme} theme`);
    // The canvas background is the palette's: count its pixels in the canvas region.
    const bg = countColor(shot, region, gv.palette.canvas.slice(0, 3), 3);
    assert.ok(bg > region.w * region.h * 0.2, `${theme}: only ${bg} pixels of the canvas colour ${gv.palette.canvas}`);
    shots[theme] = { shot, palette: gv.palette };
    if (process.env.STACKLAB_SCREENSHOT_DIR)
      fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, `browser-graph-${theme}.png`), shot);
  }
  const luma = c => 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
  assert.ok(luma(shots.light.palette.canvas) - luma(shots.dark.palette.canvas) > 150, 'the light canvas is not light');
  await page.close();
});

// Lesson mode: the policy lesson from the URL, answered start to finish by clicking like a student.
// The right answer of each step is read from what the app's own panels computed (the Certify panel's
// decision; for "which deployment passes", the Certify panel opened on each candidate), never from
// the lesson; a wrong answer is tried first and must be refused.
test('a lesson runs start to finish: each answer is checked against what the panels computed', async () => {
  const page = await openHash('#lesson=policy-tier2', 'Certify');
  const rep = () => page.evaluate(() => window.stacklab.uiReport());
  const click = r => page.mouse.click(r.x + r.w / 2, r.y + r.h / 2, { delay: 50 });  // a press that spans frames
  const choose = async label => {
    const find = async () => (await rep()).lesson_panel.choices.find(c => c.label === label);
    if ((await find()).rect.w === 0) {  // a long list is a drop-down: open it first
      await click((await rep()).lesson_panel.answer_rect);
      await page.waitForFunction(l => window.stacklab.uiReport().lesson_panel.choices.find(c => c.label === l).rect.w > 0,
                                 label, { timeout: 10000 });
    }
    await click((await find()).rect);
    await page.waitForFunction(a => window.stacklab.uiReport().lesson_panel.answer === a, label, { timeout: 10000 });
  };
  let r = await rep();
  assert.equal(r.scenario_error, '');
  const lp = r.lesson_panel;
  assert.equal(lp.load_error, '');
  assert.equal(lp.active, 'policy-tier2');
  assert.ok(lp.lessons.length >= 4);
  assert.deepEqual([...new Set(lp.lessons.map(l => l.layer))].sort(), ['chip', 'model', 'policy', 'robot']);
  const passes = {};  // deployment id -> the Certify panel's verdict, opened on it
  for (let step = 0; step < lp.steps; step++) {
    await page.waitForFunction(s => {
      const r = window.stacklab.uiReport();
      return r.lesson_panel.step === s && r.lesson_panel.choices.length >= 2 && r.certify_panel.computed &&
             r.certify_panel.deployment === new URLSearchParams(r.lesson_panel.scenario).get('deployment');
    }, step, { timeout: 30000 });
    r = await rep();
    assert.equal(r.lesson_panel.scenario_error, '', `step ${step}`);
    const labels = r.lesson_panel.choices.map(c => c.label);
    let right;
    if (r.lesson_panel.fact === 'policy.pass') right = r.certify_panel.pass ? 'yes' : 'no';
    else if (r.lesson_panel.fact === 'policy.deciding_rule') right = r.certify_panel.deciding_rules[0];
    else if (r.lesson_panel.fact === 'policy.passing_deployment') {
      for (const id of labels) {
        const other = await openHash(`#tab=certify&deployment=${id}`, 'Certify');
        await other.waitForFunction(() => window.stacklab.uiReport().certify_panel.computed, null, { timeout: 30000 });
        passes[id] = (await other.evaluate(() => window.stacklab.uiReport())).certify_panel.pass;
        await other.close();
      }
      await page.bringToFront();  // a page in the background gets no animation frames
      right = labels.find(id => passes[id]);
    } else assert.fail(`unexpected fact ${r.lesson_panel.fact}`);
    assert.ok(labels.includes(right), `step ${step}: ${right} is not offered (${labels})`);
    const accepted = r.lesson_panel.fact === 'policy.deciding_rule' ? r.certify_panel.deciding_rules
      : r.lesson_panel.fact === 'policy.passing_deployment' ? labels.filter(id => passes[id]) : [right];
    const wrong = labels.find(l => !accepted.includes(l));
    assert.ok(wrong, `step ${step}: every choice is right`);
    // A wrong answer first: refused, with a reason.
    await choose(wrong);
    await click(r.lesson_panel.check_rect);
    await page.waitForFunction(() => window.stacklab.uiReport().lesson_panel.result.message !== '', null, { timeout: 10000 });
    let res = (await rep()).lesson_panel.result;
    assert.equal(res.correct, false, `step ${step}: "${wrong}" accepted`);
    assert.ok(res.ready && res.message.startsWith('Not '), res.message);
    // Then the answer the panel computed: accepted.
    await choose(right);
    await click(r.lesson_panel.check_rect);
    await page.waitForFunction(() => window.stacklab.uiReport().lesson_panel.result.correct, null, { timeout: 10000 })
      .catch(async e => { throw new Error(`step ${step}, answer "${right}": ${JSON.stringify((await rep()).lesson_panel.result)}: ${e}`); });
    res = (await rep()).lesson_panel.result;
    assert.match(res.message, /^Correct/);
    await click((await rep()).lesson_panel.next_rect);
  }
  await page.waitForFunction(() => window.stacklab.uiReport().lesson_panel.finished, null, { timeout: 10000 });
  r = await rep();
  assert.deepEqual(r.lesson_panel.solved, Array(lp.steps).fill(1));
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.writeFileSync(path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'browser-lesson.png'), await page.screenshot());
  await page.close();
});

test('a lesson step greys out the sidebar controls it hides and opens its tab', async () => {
  const page = await openHash('#lesson=chip-decode-roofline', 'LLM serving');
  const r = await page.evaluate(() => window.stacklab.uiReport());
  assert.equal(r.scenario_error, '');
  assert.equal(r.lesson_panel.step, 0);
  assert.deepEqual(r.lesson_panel.hidden, ['chip', 'llm', 'quant', 'kv']);
  assert.equal(r.llm_panel.llm, 'qwen2.5-7b');
  assert.equal(r.selected_chip, 'ascend-910b');
  await page.close();
  const bad = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  bad.on('pageerror', e => pageErrors.push(String(e)));
  await bad.goto(baseUrl + '#lesson=no-such-lesson');
  await bad.waitForSelector('html[data-stacklab-ready="true"]', { timeout: 60000 });
  const b = await bad.evaluate(() => window.stacklab.uiReport());
  assert.match(b.scenario_error, /no bundled lesson "no-such-lesson"/);
  assert.equal(b.lesson_panel.active, '');
  await bad.close();
});

test('the page raised no errors', () => {
  assert.deepEqual(pageErrors, []);
});
