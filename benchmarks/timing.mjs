// The timing loop the JavaScript benchmarks share: calibrate a repeat count so one run lasts at
// least minS seconds, then time `runs` runs; returns the seconds per call of each run.
export function median(v) {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function secondsPerCall(call, minS, runs) {
  await call();  // warm-up
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
