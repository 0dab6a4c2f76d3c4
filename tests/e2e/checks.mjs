// Checks shared by the desktop and browser tests: the numbers a panel reports against the CLI's,
// and the screenshot region of a chart the panel says it drew.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

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


