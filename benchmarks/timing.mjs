// The timing loop the JavaScript benchmarks share: warm up for warmupS seconds (V8 swaps optimized
// wasm code in some 100 ms after the baseline compiler; stacklab-model-bench warms up the same
// way), calibrate a repeat count so one run lasts at least minS seconds, then time `runs` runs;
// returns the seconds per call of each run.
export function median(v) {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function secondsPerCall(call, minS, runs, warmupS = 0.5) {
  for (const w0 = performance.now(); performance.now() - w0 < warmupS * 1000;) await call();
  let iters = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await call();
    const s = (performance.now() - t0) / 1000;
    if (s >= minS) break;
    iters = Math.max(iters + 1, Math.ceil(iters * minS / Math.max(s, 1e-6) * 1.2));
  }
  const out = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await call();
    out.push((performance.now() - t0) / 1000 / iters);
  }
  return out;
}
