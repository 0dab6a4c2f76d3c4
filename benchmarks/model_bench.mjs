// Whole-model latency (issue 4): node benchmarks/model_bench.mjs [--quick] [--models a.onnx,b.onnx]
// For each shipped model (fp32) and its int8 QDQ file (made here by `stacklab quantize --quant int8`),
// at batch 1 and 64, one thread everywhere, in the same session:
//   ours native   build/native/stacklab-model-bench (executor, fast kernels)
//   ours wasm     build/wasm/stacklab-model-bench.js under node
//   ORT native    onnxruntime-node, intra/inter-op threads 1, all graph optimizations
//   ORT web       onnxruntime-web's wasm backend under node, numThreads 1, SIMD
// Each side is a median of 7 runs (5 with --quick) of ms per batch. This machine's speed drifts by
// up to 1.5x within minutes, so ours and ORT are measured back to back on the same target, in 3
// pairs of alternating order (ours, ORT / ORT, ours / ours, ORT; --pairs N): ratio = the median
// of the pairs' ORT time / our time (> 1: we are faster), each ms column the median of its side.
// Writes benchmarks/results/model.json (every pair too) and prints a Markdown table.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { median, secondsPerCall } from './timing.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const RUNS = quick ? 5 : 7;
const pairsArg = process.argv.indexOf('--pairs');
const PAIRS = pairsArg > 0 ? Math.max(1, Number(process.argv[pairsArg + 1])) : (quick ? 1 : 3);
const MIN_S = quick ? 0.05 : 0.2;
const modelsArg = process.argv.indexOf('--models');
const models = modelsArg > 0 ? process.argv[modelsArg + 1].split(',')
  : ['models/fashion_cnn.onnx', 'models/fashion_mixer.onnx'].filter((m) => fs.existsSync(path.join(root, m)));


function ours(target, model, batch) {
  const args = ['--model', model, '--batch', String(batch), '--runs', String(RUNS), '--min-s', String(MIN_S)];
  const out = target === 'native'
    ? execFileSync(path.join(root, 'build/native/stacklab-model-bench'), args, { cwd: root, encoding: 'utf8' })
    : execFileSync(process.execPath, ['--no-experimental-fetch', path.join(root, 'build/wasm/stacklab-model-bench.js'), ...args],
                   { cwd: root, encoding: 'utf8' });
  return JSON.parse(out).ms_per_batch_median;
}

async function ort(lib, options, model, batch) {
  const session = await lib.InferenceSession.create(fs.readFileSync(path.resolve(root, model)), options);
  const x = new Float32Array(batch * 784);
  for (let i = 0; i < x.length; ++i) x[i] = ((i * 37 + Math.floor(i / 784) * 11) % 256) / 255;
  const feeds = { [session.inputNames[0]]: new lib.Tensor('float32', x, [batch, 1, 28, 28]) };
  const ms = (await secondsPerCall(() => session.run(feeds), MIN_S, RUNS)).map((t) => t * 1000);
  await session.release?.();
  return median(ms);
}

const ortNode = require('onnxruntime-node');
const ortWeb = require('onnxruntime-web');
ortWeb.env.wasm.numThreads = 1;
ortWeb.env.wasm.simd = true;
const nodeOpts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
const webOpts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stacklab-model-bench-'));
const rows = [];
for (const model of models) {
  const int8 = path.join(tmp, path.basename(model, '.onnx') + '_int8.onnx');
  execFileSync(path.join(root, 'build/native/stacklab'), ['quantize', '--model', model, '--out', int8, '--quant', 'int8'],
               { cwd: root, encoding: 'utf8' });
  for (const [precision, file] of [['fp32', model], ['int8', int8]]) {
    for (const batch of [1, 64]) {
      process.stderr.write(`[model-bench] ${model} ${precision} batch ${batch}\n`);
      // Pairs of back-to-back measurements, alternating which side goes first.
      const pairs = async (oursFn, ortFn) => {
        const list = [];
        for (let p = 0; p < PAIRS; ++p) {
          let o, t;
          if (p % 2 === 0) { o = oursFn(); t = await ortFn(); } else { t = await ortFn(); o = oursFn(); }
          list.push({ ours_ms: o, ort_ms: t, ratio: t / o });
        }
        return list;
      };
      const nat = await pairs(() => ours('native', file, batch), () => ort(ortNode, nodeOpts, file, batch));
      const web = await pairs(() => ours('wasm', file, batch), () => ort(ortWeb, webOpts, file, batch));
      const med = (list, key) => median(list.map((x) => x[key]));
      rows.push({
        model, precision, batch,
        ours_native_ms: med(nat, 'ours_ms'), ort_native_ms: med(nat, 'ort_ms'), ratio_native: med(nat, 'ratio'),
        ours_wasm_ms: med(web, 'ours_ms'), ort_web_ms: med(web, 'ort_ms'), ratio_wasm: med(web, 'ratio'),
        pairs_native: nat, pairs_wasm: web,
      });
    }
  }
}
fs.rmSync(tmp, { recursive: true, force: true });

const version = (name) => JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
const result = {
  date: new Date().toISOString(), quick, runs: RUNS, pairs: PAIRS, cpu: os.cpus()[0]?.model, loadavg: os.loadavg(),
  onnxruntime_node: version('onnxruntime-node'), onnxruntime_web: version('onnxruntime-web'), rows,
};
fs.mkdirSync(path.join(root, 'benchmarks/results'), { recursive: true });
fs.writeFileSync(path.join(root, 'benchmarks/results/model.json'), JSON.stringify(result, null, 2) + '\n');
const f = (v) => v.toFixed(3);
const range = (list) => `${Math.min(...list.map((x) => x.ratio)).toFixed(2)}-${Math.max(...list.map((x) => x.ratio)).toFixed(2)}`;
console.log('| model | precision | batch | ours native ms | ORT native ms | ORT / ours (pairs) | ours wasm ms | ORT-Web ms | ORT-Web / ours (pairs) |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(`| ${path.basename(r.model)} | ${r.precision} | ${r.batch} | ${f(r.ours_native_ms)} | ${f(r.ort_native_ms)} | ` +
              `${r.ratio_native.toFixed(2)}x (${range(r.pairs_native)}) | ${f(r.ours_wasm_ms)} | ${f(r.ort_web_ms)} | ` +
              `${r.ratio_wasm.toFixed(2)}x (${range(r.pairs_wasm)}) |`);
console.log(`load average during the run: ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
