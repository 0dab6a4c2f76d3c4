// Checks shared by the desktop and browser tests: the numbers a panel reports against the CLI's,
// and the screenshot region of a chart the panel says it drew.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
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

// The Robot panel's cell run is what `stacklab robot cell --scenario ID --chip C --json` prints: the
// same verdicts, stage latencies (the CLI prints 3 decimals) and action log, rule by rule. `scenario`
// may be a file (a bundled cell with faults added: cellFileWithFaults) standing for the cell `cellId`.
export function checkCellAgainstCli(panel, cliPath, scenario, chip, cellId = scenario) {
  const doc = JSON.parse(execFileSync(cliPath, ['robot', 'cell', '--scenario', scenario, '--chip', chip, '--json'], { encoding: 'utf8' }));
  const f3 = v => v.toFixed(3);
  assert.equal(panel.error, '');
  assert.equal(panel.cell, cellId);
  assert.equal(panel.chip, chip);
  assert.equal(panel.pass, doc.pass);
  assert.equal(f3(panel.inference_ms), f3(doc.inference_ms));
  assert.deepEqual(panel.verdicts, doc.verdicts);
  assert.equal(panel.stages.length, doc.stages.length);
  doc.stages.forEach((s, i) => {
    const u = panel.stages[i];
    assert.equal(u.stage, s.stage);
    for (const k of ['max_ms', 'mean_ms', 'budget_ms']) assert.equal(f3(u[k]), f3(s[k]), `${s.stage} ${k}`);
    assert.equal(u.samples, s.samples, s.stage);
  });
  assert.equal(panel.log.length, doc.log.length);
  doc.log.forEach((e, i) => {
    const u = panel.log[i];
    assert.deepEqual([f3(u.t_s), u.rule, u.action, u.inputs], [f3(e.t_s), e.rule, e.action, e.inputs], `log entry ${i}`);
  });
  assert.equal(panel.protective_stops, doc.safety.protective_stops);
  assert.deepEqual(panel.frames, doc.frames);
  return doc;
}

// The Certify panel's decision is what `stacklab certify` decides for the same manifest at the same
// time, signed with the same (demo) key: the key is SHA-256 of the phrase the panel shows.
export function checkCertifyAgainstCli(panel, cliPath, deployment) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-certify-'));
  const seed = crypto.createHash('sha256').update('stacklab playground demo key: public, proves nothing').digest('hex');
  fs.writeFileSync(path.join(dir, 'secret.key'), seed + '\n');
  const out = path.join(dir, 'cert.json');
  const r = spawnSync(cliPath, ['certify', '--manifest', `models/deployments/${deployment}.json`, '--key', path.join(dir, 'secret.key'),
                                '--out', out, '--now', panel.now, '--json'], { encoding: 'utf8' });
  const doc = JSON.parse(r.stdout);
  assert.equal(r.status, doc.pass ? 0 : 1, r.stderr);
  assert.equal(panel.error, '');
  assert.equal(panel.deployment, deployment);
  assert.equal(panel.pass, doc.pass);
  assert.equal(panel.summary, doc.summary);
  assert.deepEqual(panel.deciding_rules, doc.deciding_rules);
  assert.deepEqual(panel.warnings, doc.warnings);
  const cert = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(cert.issuer.key_id, panel.key_id);
  assert.equal(panel.verdicts.length, cert.verdicts.length);
  cert.verdicts.forEach((v, i) => {
    const u = panel.verdicts[i];
    assert.deepEqual([u.pack, u.rule, u.outcome, u.reasons], [v.pack, v.rule, v.outcome, v.reasons], `verdict ${i}`);
  });
  return { doc, cert };
}

// The Models panel's evaluation is what `stacklab eval --limit 1000 --json` prints for the same
// model, recipe, calibration and fusion, calibrated on the same first 256 training images: the
// same correct count, the same prediction for every image (fp32 and quantized), the same per-layer
// and logits SQNR, fusions and folded BatchNorms. Returns the quantized CLI document.
export function checkModelsAgainstCli(panel, cliPath, { model = 'fashion_cnn', quant = 'int8', calib = 'minmax', fuse = true } = {}) {
  assert.equal(panel.error, '');
  assert.equal(panel.stage, 'done');
  assert.equal(panel.n, 1000);
  assert.equal(panel.evaluated, 1000);
  const run = q => JSON.parse(execFileSync(cliPath, ['eval', '--model', `models/${model}.onnx`, '--data', 'fashion-mnist',
    '--quant', q, '--calibration', calib, ...(fuse ? [] : ['--no-fuse']), '--limit', '1000', '--predictions', '--json'],
  { encoding: 'utf8', maxBuffer: 64 << 20 }));
  const fp32 = run('fp32'), doc = run(quant);
  assert.equal(panel.fp32.correct, fp32.correct);
  assert.equal(panel.fp32.accuracy, fp32.accuracy);
  assert.deepEqual(panel.fp32.predictions, fp32.predictions);
  assert.equal(panel.correct, doc.correct);
  assert.equal(panel.accuracy, doc.accuracy);
  assert.deepEqual(panel.predictions, doc.predictions);
  if (quant !== 'fp32') {
    assert.equal(panel.calibration_samples, doc.calibration_samples);
    assert.deepEqual(panel.fusions, doc.fusions);
    assert.deepEqual(panel.folded_batch_norms, doc.folded_batch_norms);
    assert.equal(panel.logits_sqnr_db, doc.logits_sqnr_db);
    assert.deepEqual(panel.per_layer, doc.per_layer);  // error histograms included
    assert.ok(panel.per_layer.every(l => l.error_histogram.counts.length === 21), 'every layer has an error histogram');
    // The histogram is drawn, for the layer the panel picked (at first the lowest output SQNR).
    assert.ok(panel.histogram_rect.w > 0 && panel.histogram_rect.h > 0, 'error histogram drawn');
    const worst = panel.per_layer.reduce((k, l, i, a) => ((l.sqnr_db ?? Infinity) < (a[k].sqnr_db ?? Infinity) ? i : k), 0);
    assert.equal(panel.histogram_layer, worst);
  }
  // The confusion matrix counts the quantized predictions: its diagonal is the correct count.
  const k = panel.classes;
  assert.equal(panel.confusion.length, k * k);
  assert.equal(panel.confusion.reduce((a, b) => a + b, 0), 1000);
  let diagonal = 0;
  for (let c = 0; c < k; c++) diagonal += panel.confusion[c * k + c];
  assert.equal(diagonal, doc.correct);
  return doc;
}

// A copy of the bundled cell `cellId` with the faults the Robot panel says it injected added to the
// file's "faults" section, as a person would write them (the panel's windows last 1 s, its person
// walks the core's default path): the file the CLI must run to the panel's result. Returns its path.
export function cellFileWithFaults(cellId, faults) {
  const doc = JSON.parse(fs.readFileSync(`models/cells/${cellId}.json`, 'utf8'));
  doc.faults = doc.faults || {};
  const add = (key, v) => { doc.faults[key] = [...(doc.faults[key] || []), v]; };
  for (const f of faults) {
    if (f.kind === 'outage') add('network_outage', { start_s: f.at_s, end_s: f.at_s + 1 });
    else if (f.kind === 'dropout') add('sensor_dropout', { start_s: f.at_s, end_s: f.at_s + 1 });
    else if (f.kind === 'obstacle') add('low_confidence_obstacle', { start_s: f.at_s, end_s: f.at_s + 1, confidence: 0.5 });
    else if (f.kind === 'person') add('person', { enter_s: f.at_s, start_distance_m: 3, speed_m_s: 1.6, min_distance_m: 0.5, stay_s: 1 });
    else if (f.kind === 'swap') doc.faults.slower_chip = { at_s: f.at_s, chip: f.chip };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-cell-'));
  const file = path.join(dir, `${cellId}.json`);
  fs.writeFileSync(file, JSON.stringify(doc, null, 2));
  return file;
}

// The Chips panel's tile-simulation view is `stacklab simulate --gemm M,N,K --fidelity tile
// --timeline --json` for the same chip and data type: the same time, event count, dropped events,
// utilization and energy by part, and one Gantt lane per (core, unit) pair in the CLI's timeline.
export function checkTileSimAgainstCli(tile, cliPath) {
  assert.equal(tile.error, '');
  const doc = JSON.parse(execFileSync(cliPath, ['simulate', '--chip', tile.chip, '--gemm', `${tile.m},${tile.n},${tile.k}`,
                                                '--dtype', tile.dtype, '--fidelity', 'tile', '--timeline', '--json'],
                                      { encoding: 'utf8', maxBuffer: 64 << 20 }));
  assert.equal(tile.time_us, doc.time_us);
  assert.equal(tile.energy_uj, doc.energy_uj);
  assert.equal(tile.cores_used, doc.ops[0].cores_used);
  assert.equal(tile.events, doc.timeline.length);
  assert.equal(tile.dropped, doc.timeline_dropped);
  assert.deepEqual(tile.utilization, doc.ops[0].utilization);
  assert.deepEqual(tile.energy_parts_uj, doc.ops[0].energy_parts_uj);
  assert.equal(tile.gantt_rows, new Set(doc.timeline.map(e => `${e.core} ${e.unit}`)).size);
  return doc;
}

// The tile view on the Models tab's model (scenario gemm=model) is `stacklab simulate --chip C --model
// M.onnx --fidelity tile --batch B --timeline --json`: the same totals (time, energy, off-chip bytes),
// one row per node in graph order with the same op, lowering, bound, start, time, off-chip bytes and
// energy, the same events per node, and one Gantt lane per (core, unit) pair of the CLI's timeline.
export function checkModelTileAgainstCli(tile, cliPath, modelPath) {
  assert.equal(tile.error, '');
  assert.equal(tile.source, 'model');
  const doc = JSON.parse(execFileSync(cliPath, ['simulate', '--chip', tile.chip, '--model', modelPath, '--fidelity', 'tile',
                                                '--batch', String(tile.batch), '--timeline', '--json'],
                                      { encoding: 'utf8', maxBuffer: 256 << 20 }));
  assert.equal(tile.time_us, doc.totals.time_us);
  assert.equal(tile.energy_uj, doc.totals.energy_uj);
  assert.equal(tile.offchip_bytes, doc.totals.bytes.offchip);
  assert.equal(tile.ops.length, doc.ops.length);
  doc.ops.forEach((row, i) => {
    const u = tile.ops[i];
    assert.equal(u.name, row.name);
    assert.equal(u.op, row.op);
    assert.equal(u.dtype, row.dtype);
    assert.equal(u.lowered, row.lowered);
    assert.equal(u.fidelity_used, row.fidelity_used);
    if (row.fidelity_used === 'none') {
      assert.equal(u.bound, null);
      assert.equal(u.time_us, 0);
      return;
    }
    assert.equal(u.bound, row.bound, row.name);
    assert.equal(u.time_us, row.time_us, row.name);
    assert.equal(u.start_us, row.start_us, row.name);
    assert.equal(u.offchip_bytes, row.bytes.offchip, row.name);
    assert.equal(u.energy_uj, row.energy_uj, row.name);
    assert.equal(u.events, doc.timeline.filter(e => e.op === row.name).length, row.name);
  });
  assert.equal(tile.events, doc.timeline.length);
  assert.equal(tile.dropped, doc.timeline_dropped);
  assert.equal(tile.gantt_rows, new Set(doc.timeline.map(e => `${e.core} ${e.unit}`)).size);
  return doc;
}

// The nodes of an ONNX file's main graph, read straight from the protobuf wire format (not through
// StackLab's importer, so a test can compare what the graph view drew with the file itself):
// ModelProto.graph = 7, GraphProto.node = 1, NodeProto.name = 3, op_type = 4 (onnx/onnx.proto).
export function onnxNodes(bytes) {
  const fields = (buf, from, to, want) => {
    const out = [];
    let i = from;
    const varint = () => {
      let v = 0, mul = 1, b;
      do { b = buf[i++]; v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
      return v;
    };
    while (i < to) {
      const key = varint(), field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) varint();
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else if (wire === 2) {
        const len = varint();
        if (field === want) out.push([i, i + len]);
        i += len;
      } else throw new Error(`wire type ${wire} at byte ${i}`);
    }
    if (i !== to) throw new Error('truncated message');
    return out;
  };
  const text = ([a, b], buf) => Buffer.from(buf.subarray(a, b)).toString('utf8');
  const graphs = fields(bytes, 0, bytes.length, 7);
  assert.equal(graphs.length, 1, 'one graph in the model');
  return fields(bytes, graphs[0][0], graphs[0][1], 1).map(([a, b]) => {
    const name = fields(bytes, a, b, 3), op = fields(bytes, a, b, 4), outputs = fields(bytes, a, b, 2);
    return { name: name.length ? text(name[0], bytes) : '', op_type: text(op[0], bytes),
             output: outputs.length ? text(outputs[0], bytes) : '' };
  });
}

// Checks the graph view's report against the file's own node list: one box per node, in file order
// (the importer keeps it), labelled as GraphNode::label() does, the same histogram of ops.
export function checkGraphViewAgainstFile(gv, bytes) {
  const nodes = onnxNodes(bytes);
  assert.equal(gv.error, '');
  assert.equal(gv.nodes, nodes.length);
  assert.equal(gv.boxes_drawn, nodes.length);
  const reported = Math.min(nodes.length, 400);
  assert.deepEqual(gv.boxes.slice(0, reported).map(b => b.op), nodes.slice(0, reported).map(n => n.op_type));
  assert.deepEqual(gv.boxes.slice(0, reported).map(b => b.name),
                   nodes.slice(0, reported).map(n => n.name || `-> ${n.output}`));
  const histogram = {};
  for (const n of nodes) histogram[n.op_type] = (histogram[n.op_type] || 0) + 1;
  assert.deepEqual(gv.ops, histogram);
  assert.ok(gv.boxes_visible > 0, 'no node box inside the canvas');
  assert.ok(gv.edges_drawn > 0, 'no edge drawn');
  return nodes;
}
