// Checks shared by the desktop and browser tests: the numbers a panel reports against the CLI's,
// and the screenshot region of a chart the panel says it drew.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The region of a screenshot where the UI says it drew a chart (window coordinates = pixels here).
export function regionOf(rect) {
  assert.ok(rect && rect.w > 50 && rect.h > 50, `no chart drawn: ${JSON.stringify(rect)}`);
  return { x: Math.round(rect.x), y: Math.round(rect.y), w: Math.floor(rect.w), h: Math.floor(rect.h) };
}

// Each operator on the Chips panel's roofline is the row `stacklab simulate --gemm` prints.
export function checkRooflineAgainstCli(roofline, cliPath) {
  let compared = 0;
  for (const op of roofline.ops) {
    const doc = JSON.parse(execFileSync(cliPath, ['simulate', '--chip', op.chip, '--gemm', `${op.m},${op.n},${op.k}`,
                                                  '--dtype', roofline.dtype, '--json'], { encoding: 'utf8' }));
    assert.equal(op.time_us, doc.time_us, `${op.chip} ${op.name}`);
    assert.equal(op.intensity, doc.ops[0].intensity_ops_per_byte, `${op.chip} ${op.name}`);
    assert.equal(op.bound, doc.ops[0].bound, `${op.chip} ${op.name}`);
    compared++;
  }
  return compared;
}


// The Systolic panel's per-layer reports are what `stacklab simulate --scalesim-*` prints for the
// same topology and config: counts exactly, percentages to the CLI's six decimals. `array` and
// `dataflow` rewrite the golden config (tests/data/scalesim/scale.cfg) the panel's example is.
export function checkSystolicAgainstCli(panel, cliPath, { rows = 32, cols = 32, dataflow = 'ws' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-scalesim-'));
  const cfg = fs.readFileSync('tests/data/scalesim/scale.cfg', 'utf8')
    .replace(/^ArrayHeight:.*$/m, `ArrayHeight: ${rows}`)
    .replace(/^ArrayWidth:.*$/m, `ArrayWidth: ${cols}`)
    .replace(/^Dataflow :.*$/m, `Dataflow : ${dataflow}`);
  fs.writeFileSync(path.join(dir, 'scale.cfg'), cfg);
  const doc = JSON.parse(execFileSync(cliPath, ['simulate', '--scalesim-topology', 'tests/data/scalesim/alexnet_conv1.csv',
                                                '--scalesim-config', path.join(dir, 'scale.cfg'), '--json'], { encoding: 'utf8' }));
  assert.equal(panel.error, '');
  assert.deepEqual(panel.array, [rows, cols]);
  assert.equal(panel.dataflow, dataflow);
  assert.equal(panel.layers.length, doc.layers.length);
  for (let i = 0; i < doc.layers.length; i++) {
    const ui = panel.layers[i], c = doc.layers[i];
    for (const key of ['layer_id', 'layer', 'total_cycles', 'stall_cycles', 'macs', 'sram_reads', 'sram_writes', 'dram_reads', 'dram_writes'])
      assert.deepEqual(ui[key], c[key], `${c.layer} ${key}`);
    for (const key of ['overall_util_pct', 'mapping_eff_pct', 'compute_util_pct'])
      assert.equal(ui[key].toFixed(6), c[key].toFixed(6), `${c.layer} ${key}`);
  }
  return doc;
}
