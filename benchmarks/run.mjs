// One command for the kernel benchmarks: node benchmarks/run.mjs [--quick]
// Runs, in the same session and on the same shapes: our int8 GEMM natively and as wasm under node,
// ONNX Runtime native (onnxruntime-node, MatMulInteger, 1 intra-op thread) and ONNX Runtime Web's
// wasm backend (onnxruntime-web under node, numThreads = 1), plus the machine's measured VNNI peak.
// Prints a table of medians and ratios, and writes benchmarks/results/gemm.json.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { modelBytes, DT } from './onnx_model.mjs';
import { median, secondsPerCall } from './timing.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const RUNS = quick ? 5 : 7;
const MIN_S = quick ? 0.005 : 0.05;

function ours(cmd, args) {
  const out = execFileSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out);
}

function pkgVersion(name) {
  return JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
}


// Deterministic inputs (same distribution as gemm_bench.cpp: uniform over the full int8 range).
function lcg(seed) { let s = seed >>> 0; return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24; }

async function ortThroughput(ort, sessionOptions, M, N, K) {
  const rnd = lcg(M * 31 + N * 7 + K);
  const A = Uint8Array.from({ length: M * K }, rnd);
  const B = Int8Array.from({ length: K * N }, () => rnd() - 128);
  const bytes = modelBytes({
    nodes: [{ op: 'MatMulInteger', inputs: ['A', 'B', 'a_zp', 'b_zp'], outputs: ['C'] }],
    initializers: [
      { name: 'B', dtype: DT.INT8, dims: [K, N], raw: new Uint8Array(B.buffer) },
      { name: 'a_zp', dtype: DT.UINT8, dims: [], raw: Uint8Array.of(128) },
      { name: 'b_zp', dtype: DT.INT8, dims: [], raw: Uint8Array.of(3) },
    ],
    inputs: [{ name: 'A', dtype: DT.UINT8, dims: [M, K] }],
    outputs: [{ name: 'C', dtype: DT.INT32, dims: [M, N] }],
  });
  const session = await ort.InferenceSession.create(bytes, sessionOptions);
  const feeds = { A: new ort.Tensor('uint8', A, [M, K]) };
  const seconds = await secondsPerCall(() => session.run(feeds), MIN_S, RUNS);
  const gops = seconds.map((t) => 2 * M * N * K / t / 1e9);
  await session.release?.();
  return { gops_median: median(gops), gops_runs: gops };
}

const bench = quick ? ['--quick'] : [];
process.stderr.write('[bench] our kernels (native, wasm)\n');
const native = ours(path.join(root, 'build/native/stacklab-bench'), bench);
const wasm = ours(process.execPath, ['--no-experimental-fetch', path.join(root, 'build/wasm/stacklab-bench.js'), ...bench]);

const ortNode = require('onnxruntime-node');
const ortWeb = require('onnxruntime-web');
ortWeb.env.wasm.numThreads = 1;
ortWeb.env.wasm.simd = true;
const nodeOpts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
const webOpts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };

const rows = [];
for (let i = 0; i < native.results.length; i++) {
  const { M, N, K } = native.results[i];
  process.stderr.write(`[bench] ONNX Runtime on ${M}x${N}x${K}\n`);
  const ortN = await ortThroughput(ortNode, nodeOpts, M, N, K);
  const ortW = await ortThroughput(ortWeb, webOpts, M, N, K);
  rows.push({
    M, N, K,
    ours_native_gops: native.results[i].gops_median,
    ours_wasm_gops: wasm.results[i].gops_median,
    ort_native_gops: ortN.gops_median,
    ort_wasm_gops: ortW.gops_median,
    ratio_native_vs_ort: native.results[i].gops_median / ortN.gops_median,
    ratio_wasm_vs_ort: wasm.results[i].gops_median / ortW.gops_median,
    fraction_of_peak_native: native.peak_gops ? native.results[i].gops_median / native.peak_gops : null,
  });
}

const fmt = (x, d = 1) => (x == null ? 'n/a' : x.toFixed(d));
const header = '| M x N x K | ours native | ORT native | ours/ORT | ours wasm | ORT-Web wasm | ours/ORT | % of peak |';
const lines = [header, '|---|---:|---:|---:|---:|---:|---:|---:|'];
for (const r of rows) {
  lines.push(`| ${r.M} x ${r.N} x ${r.K} | ${fmt(r.ours_native_gops)} | ${fmt(r.ort_native_gops)} | ` +
             `${fmt(r.ratio_native_vs_ort, 2)}x | ${fmt(r.ours_wasm_gops)} | ${fmt(r.ort_wasm_gops)} | ` +
             `${fmt(r.ratio_wasm_vs_ort, 2)}x | ${r.fraction_of_peak_native == null ? 'n/a' : (100 * r.fraction_of_peak_native).toFixed(0) + '%'} |`);
}
console.log(`int8 GEMM (u8 x s8 -> s32), GOPS, single thread, median of ${RUNS} runs; ` +
            `native kernel: ${native.isa}; measured VNNI peak: ${fmt(native.peak_gops)} GOPS`);
console.log(lines.join('\n'));
if (native.lowbit) {
  console.log('\nLLM weight paths (ours), GFLOPS / weight GB/s, single thread, median');
  console.log('| kind | M x N x K | native | wasm |');
  console.log('|---|---|---:|---:|');
  native.lowbit.forEach((r, i) => {
    const w = wasm.lowbit?.[i];
    console.log(`| ${r.kind} | ${r.M} x ${r.N} x ${r.K} | ${fmt(r.gflops_median)} / ${fmt(r.weight_gbps_median, 2)} | ` +
                `${w ? fmt(w.gflops_median) + ' / ' + fmt(w.weight_gbps_median, 2) : 'n/a'} |`);
  });
}

const doc = {
  date: new Date().toISOString(), quick, runs: RUNS, native_isa: native.isa, wasm_isa: wasm.isa,
  peak_gops: native.peak_gops ?? null,
  onnxruntime_node: pkgVersion('onnxruntime-node'),
  onnxruntime_web: pkgVersion('onnxruntime-web'),
  rows,
  // LLM weight paths (GEMV / 16-bit GEMM), ours only: see gemm_bench.cpp.
  lowbit_native: native.lowbit ?? null,
  lowbit_wasm: wasm.lowbit ?? null,
};
fs.mkdirSync(path.join(root, 'benchmarks/results'), { recursive: true });
fs.writeFileSync(path.join(root, 'benchmarks/results/gemm.json'), JSON.stringify(doc, null, 2) + '\n');
console.log('wrote benchmarks/results/gemm.json');
