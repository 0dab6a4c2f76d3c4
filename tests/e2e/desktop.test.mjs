// The desktop app in a real X server (Xvfb): it starts, renders frames, writes a screenshot that
// is not blank, shows the chip catalog in the Chips panel, and exits cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { imageStats, assertNotBlank, countColor } from './image.mjs';
import { checkRooflineAgainstCli, checkSystolicAgainstCli, checkCellAgainstCli, checkCertifyAgainstCli, checkModelsAgainstCli, regionOf,
         checkTileSimAgainstCli, checkModelTileAgainstCli, cellFileWithFaults, checkGraphViewAgainstFile } from './checks.mjs';

const gui = process.env.STACKLAB_GUI || 'build/native/stacklab-gui';
const cli = process.env.STACKLAB_CLI || 'build/native/stacklab';

function runGui(args) {
  const r = spawnSync('xvfb-run', ['-a', '-s', '-screen 0 1600x1000x24', gui, ...args],
                      { encoding: 'utf8', timeout: 120000 });
  return r;
}

test('desktop app renders the chip catalog under Xvfb and exits cleanly', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'desktop.png');
  const r = runGui(['--frames', '8', '--screenshot', shot, '--width', '1440', '--height', '900', '--scenario', 'tab=chips']);
  assert.equal(r.status, 0, `stacklab-gui exited with ${r.status}: ${r.stderr}`);
  const stats = imageStats(fs.readFileSync(shot));
  assert.equal(stats.width, 1440);
  assert.equal(stats.height, 900);
  assertNotBlank(assert, stats, 'desktop screenshot');

  // The app reports what it drew: one table row per chip of the catalog, the same ids as the CLI.
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  const catalog = JSON.parse(execFileSync(cli, ['chips', '--json'], { encoding: 'utf8' }));
  assert.equal(report.load_error, '');
  assert.equal(report.chips_panel.rows_drawn, catalog.chips.length);
  assert.deepEqual([...report.chips_panel.row_ids].sort(), catalog.chips.map(c => c.id).sort());
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop.png'));
});

test('desktop app opens the LLM serving tab from --scenario with the CLI\'s numbers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'llm.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--scenario', 'tab=llm&chip=ascend-910b&llm=qwen2.5-7b&quant=w8a8&batch=4']);
  assert.equal(r.status, 0, r.stderr);
  assertNotBlank(assert, imageStats(fs.readFileSync(shot)), 'LLM tab screenshot');
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.active_tab, 'LLM serving');
  assert.equal(report.llm_panel.quant, 'w8a8');
  const row = report.llm_panel.rows.find(x => x.chip === 'ascend-910b');
  const cliDoc = JSON.parse(execFileSync(cli, ['llm', '--chip', 'ascend-910b', '--llm', 'qwen2.5-7b', '--quant', 'w8a8',
                                               '--batch', '4', '--json'], { encoding: 'utf8' }));
  assert.equal(row.tokens_per_s, cliDoc.tokens_per_s);
  assert.equal(row.ttft_ms, cliDoc.ttft_ms);
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-llm.png'));
});

test('desktop app draws two chips\' rooflines with the LLM\'s GEMMs at the CLI\'s numbers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'roofline.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--scenario',
                    'tab=chips&chip=nvidia-h100&chip2=ascend-910b&llm=llama-3-8b&dtype=int8']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.scenario_error, '');
  const roof = report.chips_panel.roofline;
  assert.deepEqual(roof.chips, ['nvidia-h100', 'ascend-910b']);
  assert.equal(roof.llm, 'llama-3-8b');
  // Four GEMMs of one layer at decode and at prefill, on each chip.
  assert.equal(roof.ops.length, 16);
  assert.ok(roof.ops.some(o => o.name === 'decode qkv' && o.m === 1 && o.n === 6144 && o.k === 4096));
  assert.equal(checkRooflineAgainstCli(roof, cli), 16);
  assertNotBlank(assert, imageStats(fs.readFileSync(shot), regionOf(roof.rect)), 'roofline chart region');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-roofline.png'));
});

test('desktop app\'s Chips tab draws the tile simulation of a prefill GEMM as a per-core Gantt chart at the CLI\'s numbers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'tile.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--width', '1440', '--height', '900', '--scenario',
                    'tab=chips&chip=ascend-910b&llm=qwen2.5-7b&dtype=int8&gemm=P1']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.scenario_error, '');
  const t = report.chips_panel.tile_sim;
  assert.ok(t, 'the tile-simulation view was not drawn');
  assert.equal(t.gemm, 'P1 prefill qkv');
  assert.equal(t.m, 512);  // batch 1 x prompt 512
  assert.equal(t.computations, 1);  // cached, not rerun every frame
  const doc = checkTileSimAgainstCli(t, cli);
  assert.ok(t.gantt_rows > 0 && t.events > 0 && t.gantt_bars > 0, JSON.stringify(t));
  // The whole run is in view and every kept event was drawn; this GEMM overflows the kept timeline.
  assert.deepEqual(t.view_us, [0, doc.time_us]);
  assert.equal(t.gantt_bars, t.events);
  assert.ok(t.dropped > 0);
  const png = fs.readFileSync(shot);
  const gantt = regionOf(t.gantt_rect);
  assertNotBlank(assert, imageStats(png, gantt), 'Gantt chart');
  // Each unit's colour (ui/chips_panel.cpp kUnitColors) is on the chart: DMA in, matrix, DMA out.
  for (const [unit, rgb] of [['dma_in', [90, 160, 230]], ['matrix', [235, 150, 60]], ['dma_out', [190, 120, 230]]])
    assert.ok(countColor(png, gantt, rgb) > 100, `no ${unit} bars in the Gantt chart`);
  assertNotBlank(assert, imageStats(png, regionOf(t.util_rect)), 'utilization bars');
  assertNotBlank(assert, imageStats(png, regionOf(t.energy_rect)), 'energy bars');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-tile.png'));
  // A chip without the data type: the view says why instead of drawing.
  const r2 = runGui(['--frames', '3', '--scenario', 'tab=chips&chip=edge-npu-64tops&dtype=bf16&gemm=D1']);
  assert.equal(r2.status, 0, r2.stderr);
  const t2 = JSON.parse(r2.stdout.trim().split('\n').pop()).chips_panel.tile_sim;
  const cliErr = spawnSync(cli, ['simulate', '--chip', 'edge-npu-64tops', '--gemm', `${t2.m},${t2.n},${t2.k}`, '--dtype', 'bf16',
                                 '--fidelity', 'tile', '--json'], { encoding: 'utf8' });
  assert.notEqual(cliErr.status, 0);
  assert.notEqual(t2.error, '');
  assert.equal(t2.gantt_rows, 0);
});

test('desktop app\'s Chips tab draws the Models tab\'s whole model at tile fidelity as one Gantt chart with its ops marked, at the CLI\'s numbers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'tile-model.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--width', '1440', '--height', '900', '--scenario',
                    'tab=chips&chip=ascend-910b&gemm=model&model=fashion_cnn']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.scenario_error, '');
  assert.equal(report.scenario, 'tab=chips&chip=ascend-910b&gemm=model');  // fashion_cnn is the default model
  const t = report.chips_panel.tile_sim;
  assert.ok(t, 'the tile-simulation view was not drawn');
  assert.equal(t.model, 'fashion_cnn');
  assert.equal(t.batch, 1);
  assert.equal(t.computations, 1);  // cached, not rerun every frame
  const doc = checkModelTileAgainstCli(t, cli, 'models/fashion_cnn.onnx');
  assert.ok(t.events > 0 && t.gantt_bars > 0 && t.gantt_rows > 0, JSON.stringify(t));
  assert.deepEqual(t.view_us, [0, doc.totals.time_us]);
  // One band per node that takes time, all in view at zoom 1.
  assert.equal(t.op_bands, doc.ops.filter(o => o.fidelity_used !== 'none' && o.time_us > 0).length);
  assert.ok(t.op_bands >= 2);
  const png = fs.readFileSync(shot);
  const gantt = regionOf(t.gantt_rect);
  assertNotBlank(assert, imageStats(png, gantt), 'Gantt chart');
  for (const [unit, rgb] of [['dma_in', [90, 160, 230]], ['matrix', [235, 150, 60]]])
    assert.ok(countColor(png, gantt, rgb) > 100, `no ${unit} bars in the Gantt chart`);
  // The op strip: the matrix nodes' band colour (ui/chips_panel.cpp band_color).
  const b = t.op_band_rect;  // a thin strip: regionOf wants a chart-sized rectangle
  assert.ok(b.w > 50 && b.h > 5, JSON.stringify(b));
  const strip = { x: Math.round(b.x), y: Math.round(b.y), w: Math.floor(b.w), h: Math.floor(b.h) };
  assert.ok(countColor(png, strip, [245, 200, 150]) > 50, 'no matrix op band above the lanes');
  assertNotBlank(assert, imageStats(png, regionOf(t.ops_table_rect)), 'per-op table');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-tile-model.png'));
  // Batch 4: a different simulation, again the CLI's.
  const r2 = runGui(['--frames', '3', '--scenario', 'tab=chips&chip=ascend-910b&gemm=model&model=fashion_cnn&tilebatch=4']);
  assert.equal(r2.status, 0, r2.stderr);
  const t2 = JSON.parse(r2.stdout.trim().split('\n').pop()).chips_panel.tile_sim;
  assert.equal(t2.batch, 4);
  const doc2 = checkModelTileAgainstCli(t2, cli, 'models/fashion_cnn.onnx');
  assert.ok(doc2.totals.time_us > doc.totals.time_us);
});

test('desktop app opens the Kernels tab from --scenario with the drift report the CLI prints', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'kernels.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--scenario',
                    'tab=kernels&variance=single-pass&offset=1000&rows=8&cols=333&seed=7']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.active_tab, 'Kernels');
  const k = report.kernels_panel;
  assert.equal(k.error, '');
  // Computed once for the scenario, not once per frame.
  assert.equal(k.computations, 1);
  assert.ok(k.isas.includes('scalar') && k.isas[k.isas.length - 1] === k.best_isa);
  const doc = JSON.parse(execFileSync(cli, ['kernels', 'drift', '--variant', 'single-pass', '--offset', '1000', '--rows', '8',
                                            '--cols', '333', '--seed', '7', '--json'], { encoding: 'utf8' }));
  assert.equal(k.variant, doc.variant);
  assert.equal(k.max_abs_error, doc.max_abs_error);
  assert.equal(k.mean_abs_error, doc.mean_abs_error);
  assert.equal(k.differing, doc.differing);
  assert.equal(k.max_abs_lsb, doc.max_abs_lsb);
  assert.deepEqual(k.lsb_histogram, doc.lsb_histogram);
  // The cancellation this input provokes shows: some outputs differ from the reference.
  assert.ok(doc.differing > 0);
  assertNotBlank(assert, imageStats(fs.readFileSync(shot), regionOf(k.histogram_rect)), 'LSB histogram region');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-kernels.png'));
});

test('desktop app\'s Systolic tab reproduces SCALE-Sim\'s golden AlexNet conv1 run, as the CLI does', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'systolic.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--scenario', 'tab=systolic']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.active_tab, 'Systolic');
  const s = report.systolic_panel;
  assert.equal(s.computations, 1);
  checkSystolicAgainstCli(s, cli);
  // SCALE-Sim's own golden COMPUTE_REPORT (tests/data/scalesim/README.md).
  assert.equal(s.layers[0].total_cycles, 112283);
  assert.equal(s.layers[0].dram_reads.ifmap, 1805023);
  assertNotBlank(assert, imageStats(fs.readFileSync(shot), regionOf(s.util_rect)), 'utilisation bars region');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-systolic.png'));
  // Another array and dataflow: still the CLI's numbers for the same config.
  const r2 = runGui(['--frames', '3', '--scenario', 'tab=systolic&array=16x64&dataflow=os']);
  assert.equal(r2.status, 0, r2.stderr);
  const s2 = JSON.parse(r2.stdout.trim().split('\n').pop()).systolic_panel;
  checkSystolicAgainstCli(s2, cli, { rows: 16, cols: 64, dataflow: 'os' });
  assert.notEqual(s2.layers[0].total_cycles, 112283);
});

test('desktop app\'s Robot tab runs the PCB cell on the sidebar\'s chip with the CLI\'s verdicts, budget and log', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'robot.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--scenario', 'tab=robot&chip=ascend-310p&cell=pcb-cell-ascend-310p&t=9.5']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.scenario_error, '');
  assert.equal(report.active_tab, 'Robot');
  const p = report.robot_panel;
  assert.equal(p.computations, 1);  // cached, not rerun every frame
  const doc = checkCellAgainstCli(p, cli, 'pcb-cell-ascend-310p', 'ascend-310p');
  assert.equal(doc.pass, true);
  assert.ok(p.log.some(e => e.rule.startsWith('SSM-')), 'the person fault shows as separation-monitoring events');
  // The 3D view shows the arm at the chosen time: base, then two points per joint (offset d, then a).
  assert.equal(p.view_t_s, 9.5);
  assert.equal(p.arm_points_m.length, 13);
  assert.ok(p.trace_samples > 1000);
  for (const [name, rect] of [['budget bar', p.budget_rect], ['arm view', p.arm_rect], ['joint plot', p.joints_rect]])
    assertNotBlank(assert, imageStats(fs.readFileSync(shot), regionOf(rect)), name);
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-robot.png'));
  // A slower chip in the sidebar: the same scenario misses its inference budget, as the CLI says.
  const r2 = runGui(['--frames', '3', '--scenario', 'tab=robot&chip=edge-npu-64tops&cell=pcb-cell-ascend-310p&t=0']);
  assert.equal(r2.status, 0, r2.stderr);
  const p2 = JSON.parse(r2.stdout.trim().split('\n').pop()).robot_panel;
  const doc2 = checkCellAgainstCli(p2, cli, 'pcb-cell-ascend-310p', 'edge-npu-64tops');
  assert.equal(doc2.pass, false);
  assert.equal(p2.verdicts.find(v => v.name === 'inference-budget').pass, false);
  assert.notDeepEqual(p2.arm_points_m, p.arm_points_m);  // another time of the run, another pose
});

test('desktop app\'s Robot tab runs the cell with injected faults from --scenario, as the CLI runs the file with them added', () => {
  const base = 'tab=robot&chip=ascend-310p&cell=pcb-cell-ascend-310p&t=30';
  const r0 = runGui(['--frames', '3', '--scenario', base]);
  assert.equal(r0.status, 0, r0.stderr);
  const p0 = JSON.parse(r0.stdout.trim().split('\n').pop()).robot_panel;
  assert.deepEqual(p0.faults, []);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'robot-faults.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--scenario', `${base}&faults=outage@30.00,person@25.5`]);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.scenario_error, '');
  const p = report.robot_panel;
  assert.equal(p.faults_query, 'outage@30.00,person@25.50');
  assert.deepEqual(p.faults.map(f => [f.kind, f.at_s]), [['outage', 30], ['person', 25.5]]);
  checkCellAgainstCli(p, cli, cellFileWithFaults('pcb-cell-ascend-310p', p.faults), 'ascend-310p', 'pcb-cell-ascend-310p');
  // The outage trips the link watchdog 100 ms in (link_timeout_ms), the person the separation monitor.
  assert.ok(p.log.some(e => e.rule === 'WD-LINK' && e.t_s >= 30 && e.t_s <= 30.2), 'no link stop after the outage');
  assert.ok(!p0.log.some(e => e.rule === 'WD-LINK' && e.t_s >= 30 && e.t_s <= 31));
  assert.ok(p.log.some(e => e.rule.startsWith('SSM-') && e.t_s >= 25.5 && e.t_s < 29), 'no separation event after the person');
  assert.ok(p.protective_stops > p0.protective_stops);
  assertNotBlank(assert, imageStats(fs.readFileSync(shot), regionOf(p.joints_rect)), 'joint plot with fault windows');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-robot-faults.png'));
  // Without the file's faults, only the injected ones act; a bad item is named.
  const r2 = runGui(['--frames', '3', '--scenario', `${base}&faults=nofile,flood@3`]);
  const rep2 = JSON.parse(r2.stdout.trim().split('\n').pop());
  assert.match(rep2.scenario_error, /fault "flood@3" is not nofile or KIND@SECONDS/);
  const r3 = runGui(['--frames', '3', '--scenario', `${base}&faults=nofile`]);
  const p3 = JSON.parse(r3.stdout.trim().split('\n').pop()).robot_panel;
  assert.equal(p3.file_faults, false);
  assert.ok(!p3.log.some(e => e.rule.startsWith('SSM-') || e.rule === 'WD-LINK'), 'a fault of the file still acted');
});

test('desktop app\'s Certify tab certifies with the demo key, verifies, and a tampered byte fails verification', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'certify.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--scenario', 'tab=certify&deployment=warehouse-cell-tier2-pass&tamper=1']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.active_tab, 'Certify');
  const c = report.certify_panel;
  assert.equal(c.demo_key, true);
  checkCertifyAgainstCli(c, cli, 'warehouse-cell-tier2-pass');
  assert.equal(c.pass, true);
  assert.equal(c.verify.ok, true, c.verify.reason);
  assert.equal(c.tampered, true);
  assert.equal(c.tampered_verify.ok, false);
  assert.match(c.tampered_verify.reason, /signature|hash/);
  assertNotBlank(assert, imageStats(fs.readFileSync(shot)), 'certify screenshot');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-certify.png'));
  // The failing example: refused, with the rules that decided it, as the CLI decides.
  const r2 = runGui(['--frames', '3', '--scenario', 'tab=certify&deployment=edge-cell-tier2-fail']);
  const c2 = JSON.parse(r2.stdout.trim().split('\n').pop()).certify_panel;
  checkCertifyAgainstCli(c2, cli, 'edge-cell-tier2-fail');
  assert.equal(c2.pass, false);
  assert.ok(c2.deciding_rules.length > 0);
});

test('desktop app verifies a certificate file given with --certificate, as a dropped .json is, and names a bad one', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-cert-'));
  const seed = crypto.createHash('sha256').update('stacklab playground demo key: public, proves nothing').digest('hex');
  fs.writeFileSync(path.join(dir, 'secret.key'), seed + '\n');
  const cert = path.join(dir, 'cert.json');
  const c = spawnSync(cli, ['certify', '--manifest', 'models/deployments/warehouse-cell-tier2-pass.json', '--key',
                            path.join(dir, 'secret.key'), '--out', cert], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  const verified = file => {
    const r = runGui(['--frames', '3', '--certificate', file]);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.equal(report.active_tab, 'Certify');
    assert.equal(report.certify_panel.export.save, true);
    return report.certify_panel.verify_input;
  };
  let v = verified(cert);
  assert.equal(v.source, cert);
  assert.equal(v.ok, true, v.message);
  fs.writeFileSync(path.join(dir, 'broken.json'), '{"format": ');
  v = verified(path.join(dir, 'broken.json'));
  assert.equal(v.ok, false);
  assert.ok(v.message.startsWith(`${path.join(dir, 'broken.json')}: NOT valid: parse:`), v.message);
  v = verified(path.join(dir, 'missing.json'));
  assert.equal(v.ok, false);
  assert.match(v.message, /cannot open .*missing\.json/);
});

test('desktop app opens on the Stack view, whose numbers follow the sidebar\'s chip', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'stack.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--scenario', 'chip=ascend-310p&llm=qwen2.5-7b&quant=w8a8']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.active_tab, 'Stack');
  const boxes = report.stack_panel.boxes;
  assert.deepEqual(boxes.map(b => b.layer), ['chip', 'model', 'robot', 'policy']);
  assertNotBlank(assert, imageStats(fs.readFileSync(shot), regionOf(report.stack_panel.rect)), 'stack boxes');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-stack.png'));
  const r2 = runGui(['--frames', '3', '--scenario', 'chip=edge-npu-64tops&llm=qwen2.5-7b&quant=w8a8']);
  const boxes2 = JSON.parse(r2.stdout.trim().split('\n').pop()).stack_panel.boxes;
  for (const [chip, bx] of [['ascend-310p', boxes], ['edge-npu-64tops', boxes2]]) {
    const llm = JSON.parse(execFileSync(cli, ['llm', '--chip', chip, '--llm', 'qwen2.5-7b', '--quant', 'w8a8', '--json'], { encoding: 'utf8' }));
    assert.equal(bx[0].value, llm.decode_ms_per_token, chip);
    const cell = JSON.parse(execFileSync(cli, ['robot', 'cell', '--scenario', 'pcb-cell-ascend-310p', '--chip', chip, '--json'], { encoding: 'utf8' }));
    assert.equal(bx[2].ok, cell.pass, chip);
  }
  assert.notEqual(boxes[0].value, boxes2[0].value);
  assert.notEqual(boxes[2].ok, boxes2[2].ok);  // the slower chip fails the cell
  // The default deployment is the first bundled one, edge-cell-tier2-fail: refused at tier 2.
  assert.equal(boxes[3].ok, false);
  assert.equal(boxes[3].headline, 'REFUSED tier 2');
});

test('desktop app reports a bad --scenario and still renders', () => {
  const r = runGui(['--frames', '3', '--scenario', 'llm=gpt-9&quant=w3']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /no LLM "gpt-9"/);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.match(report.scenario_error, /quantization "w3" is not one of/);
});

test('desktop app names bad Kernels and Systolic scenario values and refuses a drift input too large for a frame', () => {
  const r = runGui(['--frames', '3', '--scenario', 'tab=kernels&rows=1024&cols=8192&variance=fast&array=0x4&gelu=x&fp16=2&dataflow=xs']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  for (const re of [/variance "fast" is not two-pass, single-pass or welford/, /array "0x4" is not ROWSxCOLS/,
                    /gelu "x" is not erf or tanh/, /fp16 "2" is not 0 or 1/, /dataflow "xs" is not os, ws or is/])
    assert.match(report.scenario_error, re);
  assert.equal(report.active_tab, 'Kernels');
  assert.equal(report.kernels_panel.computed, false);
  assert.match(report.kernels_panel.error, /rows x cols = 8388608 is more than the page computes \(1048576\)/);
});

test('desktop app\'s Models tab evaluates the mixed-precision CNN with the CLI\'s accuracy, predictions and SQNR', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'models.png');
  // --frames keeps drawing until the evaluation (on its worker thread) is done.
  const r = runGui(['--frames', '4', '--screenshot', shot, '--scenario', 'tab=models&model=fashion_cnn&quant=mixed&calib=percentile&fuse=0']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.scenario_error, '');
  const m = report.models_panel;
  assert.equal(m.quant, 'mixed');
  assert.equal(m.fused, false);
  // Natively the job ran on its worker thread: no step on the UI thread, and frames kept coming
  // while quantize_model and the per-layer SQNR (a second or so each) ran.
  assert.equal(m.threaded, true);
  assert.equal(m.ui_thread_steps, 0);
  assert.ok(m.frames > 4, `only ${m.frames} frames were drawn during the evaluation`);
  checkModelsAgainstCli(m, cli, { model: 'fashion_cnn', quant: 'mixed', calib: 'percentile', fuse: false });
  // Mixed precision: every layer carries its sensitivity, and the recipe put some at 4 and some at 8 bits.
  assert.ok(m.per_layer.every(l => typeof l.sensitivity_db === 'number'));
  const png = fs.readFileSync(shot);
  const acc = regionOf(m.accuracy_rect);
  assert.ok(countColor(png, acc, [90, 150, 230]) > 200, 'no fp32 bar in the accuracy chart');
  assert.ok(countColor(png, acc, [235, 150, 60]) > 200, 'no quantized bar in the accuracy chart');
  assertNotBlank(assert, imageStats(png, regionOf(m.confusion_rect)), 'confusion matrix');
  assertNotBlank(assert, imageStats(png, regionOf(m.images_rect)), 'test image grid');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-models.png'));
});

test('desktop app draws the Models tab\'s graph view from --scenario, fp32 and quantized, one box per node of the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'graph.png');
  const r = runGui(['--frames', '6', '--screenshot', shot, '--width', '1440', '--height', '900', '--scenario',
                    'tab=models&model=fashion_cnn&quant=fp32&view=graph']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.scenario_error, '');
  assert.equal(report.active_tab, 'Models');
  const gv = report.models_panel.graph_view;
  assert.equal(gv.open, true);
  assert.equal(gv.quantized, false);
  checkGraphViewAgainstFile(gv, fs.readFileSync('models/fashion_cnn.onnx'));
  const png = fs.readFileSync(shot);
  assertNotBlank(assert, imageStats(png, regionOf(gv.canvas_rect)), 'graph canvas');
  // Netron's blue of the Conv boxes' title bars (ui/graph_view.cpp op_color).
  assert.ok(countColor(png, regionOf(gv.canvas_rect), [51, 85, 136]) > 200, 'no Conv box drawn');
  if (process.env.STACKLAB_SCREENSHOT_DIR) fs.copyFileSync(shot, path.join(process.env.STACKLAB_SCREENSHOT_DIR, 'desktop-graph.png'));

  // The quantized graph is the QDQ model `stacklab quantize` writes for the same recipe.
  const r2 = runGui(['--frames', '6', '--scenario', 'tab=models&model=fashion_cnn&quant=int8&calib=minmax&view=graph&graph=quant']);
  assert.equal(r2.status, 0, r2.stderr);
  const gq = JSON.parse(r2.stdout.trim().split('\n').pop()).models_panel.graph_view;
  assert.equal(gq.quantized, true);
  const qfile = path.join(dir, 'cnn_int8.onnx');
  execFileSync(cli, ['quantize', '--model', 'models/fashion_cnn.onnx', '--out', qfile, '--quant', 'int8', '--calibration', 'minmax']);
  checkGraphViewAgainstFile(gq, fs.readFileSync(qfile));
  assert.ok(gq.quantized_boxes > 0);

  const bad = runGui(['--frames', '3', '--scenario', 'tab=models&view=tree&graph=int4']);
  const rb = JSON.parse(bad.stdout.trim().split('\n').pop());
  assert.match(rb.scenario_error, /view "tree" is not graph or evaluation/);
  assert.match(rb.scenario_error, /graph "int4" is not fp32 or quant/);
});

test('desktop app loads ONNX files given with --onnx: a model that is not a Fashion-MNIST classifier gets its graph and a note', () => {
  const missing = path.join(os.tmpdir(), 'stacklab-no-such-model.onnx');
  const r = runGui(['--frames', '4', '--onnx', 'models/pcb/pcb_cnn_fp32.onnx', '--onnx', missing, '--scenario', 'tab=models&view=graph']);
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout.trim().split('\n').pop()).models_panel;
  assert.deepEqual(m.user_models.map(u => [u.id, u.file]), [['pcb_cnn_fp32', 'models/pcb/pcb_cnn_fp32.onnx']]);
  assert.equal(m.model, 'pcb_cnn_fp32');
  assert.match(m.user_model_error, new RegExp(`^Could not load ${missing.replace(/[.]/g, '\\.')}: cannot open `));
  assert.notEqual(m.user_models[0].fashion_note, '');
  assert.equal(m.stage, 'error');
  assert.match(m.error, /cannot be evaluated on Fashion-MNIST/);
  checkGraphViewAgainstFile(m.graph_view, fs.readFileSync('models/pcb/pcb_cnn_fp32.onnx'));
});

test('desktop app light theme also renders', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const shot = path.join(dir, 'light.png');
  const r = runGui(['--frames', '4', '--screenshot', shot, '--light']);
  assert.equal(r.status, 0, r.stderr);
  assertNotBlank(assert, imageStats(fs.readFileSync(shot)), 'light-theme screenshot');
});

test('desktop app rejects bad options with a usage message', () => {
  const r = spawnSync(gui, ['--frames'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--frames needs a value/);
  const r2 = spawnSync(gui, ['--screenshot', 'x.png'], { encoding: 'utf8' });
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /--screenshot needs --frames/);
});

// The scenario as a file (issue #8): --save writes the JSON document on exit, --load starts from it.
test('desktop app saves the scenario with --save and --load reopens the same view', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const file = path.join(dir, 'scenario.json');
  const r1 = runGui(['--frames', '4', '--scenario', 'tab=systolic&chip=nvidia-h100&llm=llama-3-8b&array=16x64&dataflow=os&batch=4',
                     '--save', file]);
  assert.equal(r1.status, 0, r1.stderr);
  const a = JSON.parse(r1.stdout.trim().split('\n').pop());
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.deepEqual(doc, { stacklab_scenario: 1, tab: 'systolic', chip: 'nvidia-h100', llm: 'llama-3-8b', batch: 4,
                          array: '16x64', dataflow: 'os' });
  assert.ok(!fs.existsSync(file + '.tmp'));
  const r2 = runGui(['--frames', '4', '--load', file]);
  assert.equal(r2.status, 0, r2.stderr);
  const b = JSON.parse(r2.stdout.trim().split('\n').pop());
  assert.equal(b.scenario_error, '');
  assert.equal(b.scenario, a.scenario);
  assert.equal(b.active_tab, 'Systolic');
  assert.equal(b.selected_chip, 'nvidia-h100');
  assert.deepEqual(b.systolic_panel.layers, a.systolic_panel.layers);
  assert.deepEqual(b.stack_panel.boxes, a.stack_panel.boxes);
  checkSystolicAgainstCli(b.systolic_panel, cli, { rows: 16, cols: 64, dataflow: 'os' });
});

test('a malformed or outdated scenario file gives a banner naming the file and the app still runs on the defaults', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const cases = [
    ['bad.json', '{\n  "stacklab_scenario": 1,\n  "tab": \n}\n', /Scenario file .*bad\.json: malformed JSON at line 4, column 1/],
    ['future.json', '{"stacklab_scenario": 99, "tab": "llm"}', /Scenario file .*future\.json: scenario version 99 is outdated or unknown/],
    ['types.json', '{"stacklab_scenario": 1, "batch": "four", "tab": "llm"}', /types\.json: "batch" must be a whole number, not a string/],
  ];
  for (const [name, text, re] of cases) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    const r = runGui(['--frames', '3', '--load', file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, re);
    const report = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.match(report.scenario_error, re);
    assert.equal(report.stack_panel.boxes.length + report.llm_panel.rows.length > 0, true);
    // Nothing of a refused document applies; a wrong-typed key is skipped and the rest applies.
    assert.equal(report.active_tab, name === 'types.json' ? 'LLM serving' : 'Stack');
    assert.equal(fs.readFileSync(file, 'utf8'), text);  // loading never writes
  }
  const r = runGui(['--frames', '3', '--load', path.join(dir, 'missing.json')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(JSON.parse(r.stdout.trim().split('\n').pop()).scenario_error, /Scenario file .*missing\.json: cannot open/);
});

test('a failed save leaves the saved scenario file as it was', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-gui-'));
  const file = path.join(dir, 'keep.json');
  assert.equal(runGui(['--frames', '2', '--scenario', 'tab=llm&batch=8', '--save', file]).status, 0);
  const original = fs.readFileSync(file, 'utf8');
  assert.equal(JSON.parse(original).batch, 8);
  // The temporary file cannot be created (a directory holds its name): the save fails before the
  // old file is touched, where writing over it in place would have succeeded.
  fs.mkdirSync(file + '.tmp');
  const r = runGui(['--frames', '2', '--scenario', 'tab=kernels&rows=5', '--save', file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot save .*keep\.json: cannot create .*keep\.json\.tmp/);
  assert.equal(fs.readFileSync(file, 'utf8'), original);
  assert.ok(fs.statSync(file + '.tmp').isDirectory());  // not removed: it was not ours
  fs.rmdirSync(file + '.tmp');
  assert.equal(runGui(['--frames', '2', '--scenario', 'tab=kernels&rows=5', '--save', file]).status, 0);
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { stacklab_scenario: 1, tab: 'kernels', rows: 5 });
});
