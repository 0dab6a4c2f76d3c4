#!/usr/bin/env bash
# CLI behaviour, native and wasm side by side: same bytes on stdout, same errors, same exit codes.
# usage: cli_test.sh build/native/stacklab build/wasm/stacklab-cli.js   (run from the repo root)
set -u
native=$1
wasm_js=$2
wasm() { node --no-experimental-fetch "$wasm_js" "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     /' <<<"$2"; }

[ -x "$native" ] || { echo "FAIL native CLI missing: $native"; echo "0 passed, 1 failed"; exit 1; }
[ -f "$wasm_js" ] || { echo "FAIL wasm CLI missing: $wasm_js"; echo "0 passed, 1 failed"; exit 1; }

# 1. Same output, byte for byte, on both targets.
scalesim="simulate --scalesim-topology tests/data/scalesim/alexnet_conv1.csv --scalesim-config tests/data/scalesim/scale.cfg"
# Robot numbers come out in one fixed printf format, so glibc and the wasm libm agree byte for byte.
robot_cases=(
  "robot fk --arm ur5e --q 0.1,-1.2,1.3,-0.4,1.1,0.5 --json"
  "robot fk --arm ur10e --q 0,0,0,0,0,0"
  "robot ik --arm ur5e --T 0.597441712,0.008677272,-0.801865392,-0.637397902,-0.726090821,0.430283475,-0.536328492,-0.243327408,0.340375560,0.902652112,0.263369783,0.450446528,0,0,0,1 --seed 0.1,-1.2,1.3,-0.4,1.1,0.5 --json"
  "robot ik --arm ur10e --T 0.597441712,0.008677272,-0.801865392,-0.637397902,-0.726090821,0.430283475,-0.536328492,-0.243327408,0.340375560,0.902652112,0.263369783,0.450446528,0,0,0,1"
  "robot id --arm ur5e --q 0.1,-1.2,1.3,-0.4,1.1,0.5 --qd 0.5,-0.3,0.2,1,-1,2 --qdd 1,2,3,-1,-2,-3 --json"
  "robot id --arm ur10e --q 0,-1.57,0,-1.57,0,0 --qd 0,0,0,0,0,0 --qdd 0,0,0,0,0,0"
  "robot cell --scenario models/cells/pcb-cell-ascend-310p.json --json"
  "robot cell --scenario pcb-cell-slower-chip"
  "robot cell --scenario pcb-cell-model-latency --json"
  "robot cell --scenario pcb-cell-ascend-310p --chip edge-npu-64tops --json"
)
# The kernels drift report is floating-point arithmetic end to end: identical bytes mean the core's
# math (own exp/erf, fixed summation order, no FMA contraction) and the input generator (raw mt19937
# output, no std:: distributions) agree between libstdc++/glibc and libc++/musl.
for args in "chips --json" "chips show ascend-910b --json" "version --json" "chips" "chips show nvidia-h100" \
            "simulate --chip ascend-910b --gemm 1,4096,4096 --dtype fp16 --pick low --json" \
            "llm list" "llm --chip nvidia-h100 --llm deepseek-v2-lite --batch 64 --prompt 1000 --output 300 --json" \
            "llm --chip ascend-910b --llm qwen2.5-72b --quant w8a8 --kv-int8 --chips 8 --link-gbps 56 --batch 16" \
            "llm --chip ascend-910b --llm deepseek-v2-lite --fidelity tile --batch 2 --prompt 64 --output 16 --json" \
            "llm --chip ascend-910b --llm llama-3-8b --kv-onchip --prompt 512 --output 64 --json" \
            "llm --chip ascend-910b --llm qwen2.5-7b --fidelity tile --quant w4a16 --kv-int8 --kv-onchip --chips 2 --link-gbps 56 --link-latency-us 2 --prompt 128 --output 32" \
            "kernels drift --json" "kernels drift --variant single-pass --offset 1000 --json" \
            "kernels drift --variant welford --gelu tanh --fp16 --rows 8 --cols 333 --seed 7 --offset -2.5" \
            "kernels drift --variant single-pass --offset 1000" "${robot_cases[@]}" \
            "kernels drift --model models/fashion_mixer.onnx --limit 64 --variant welford --json" \
            "$scalesim" "$scalesim --json" \
            "simulate --chip ascend-910b --gemm 1024,1024,1024 --dtype fp16 --fidelity tile" \
            "simulate --chip nvidia-a100 --gemm 1,4096,4096 --dtype int8 --fidelity tile --json" \
            "simulate --chip cambricon-mlu370-x8 --gemm 300,200,700 --dtype bf16 --fidelity tile --pick high --json" \
            "simulate --chip ascend-910b --gemm 64,64,64 --fidelity tile --tile 32x32x32 --timeline --json" \
            "simulate --chip ascend-910b --model models/fashion_cnn.onnx --json" \
            "simulate --chip cambricon-mlu370-x8 --model models/fashion_cnn.onnx --fidelity tile --batch 4" \
            "simulate --chip nvidia-h100 --model models/fashion_cnn.onnx --fidelity tile --batch 2 --no-fuse --json" \
            "simulate --chip ascend-910b --model models/fashion_mixer.onnx --fidelity tile --timeline --json"; do

  "$native" $args >"$tmp/n.out" 2>"$tmp/n.err"; n_rc=$?
  wasm $args >"$tmp/w.out" 2>"$tmp/w.err"; w_rc=$?
  if [ $n_rc -eq 0 ] && [ $w_rc -eq 0 ] && cmp -s "$tmp/n.out" "$tmp/w.out" && [ -s "$tmp/n.out" ]; then
    ok "'$args': native and wasm print identical output ($(wc -c <"$tmp/n.out") bytes)"
  else
    bad "'$args': native rc=$n_rc, wasm rc=$w_rc, outputs differ or are empty" "$(diff "$tmp/n.out" "$tmp/w.out" | head -5; cat "$tmp/w.err")"
  fi
done

# 2. --json output is one JSON document with the catalog.
"$native" chips --json >"$tmp/chips.json"
if node -e '
  const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const ids = d.chips.map(c => c.id);
  for (const id of ["ascend-910b","ascend-310p","kunlun-k200","cambricon-mlu370-x8","biren-br100",
                    "hygon-dcu-k100","horizon-journey5","nvidia-a100","nvidia-h100"])
    if (!ids.includes(id)) throw new Error("missing " + id);
  for (const c of d.chips) for (const k of ["id","name","vendor","figures"]) if (!(k in c)) throw new Error(c.id + " lacks " + k);
' "$tmp/chips.json" 2>"$tmp/err"; then
  ok "chips --json is one JSON document listing every required chip"
else
  bad "chips --json is not the expected document" "$(cat "$tmp/err")"
fi

# 2b. Every command given --json prints exactly one JSON document on stdout.
for args in "help --json" "version --json" "chips --json" "chips show nvidia-a100 --json" \
            "chips validate models/chips/nvidia-h100.json --json" "llm list --json" \
            "llm --chip nvidia-a100 --llm qwen2.5-7b --json" "simulate --chip nvidia-h100 --gemm 8,8,8 --json" \
            "$scalesim --json" \
            "simulate --chip edge-npu-64tops --gemm 256,256,256 --fidelity tile --timeline --json"; do

  if "$native" $args >"$tmp/j.out" 2>"$tmp/j.err" && node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$tmp/j.out" 2>"$tmp/j.err"; then
    ok "'$args' prints one JSON document"
  else
    bad "'$args' does not print one JSON document" "$(head -3 "$tmp/j.err")"
  fi
done
# 2b'. llm --fidelity tile --json: bytes per memory level and the bound for prefill and decode; the
# decode step is no faster than its memory floor, the prefill no faster than its compute floor.
"$native" llm --chip ascend-910b --llm ernie-4.5-21b-a3b --fidelity tile --quant w8a8 --batch 4 --prompt 64 --output 8 --json >"$tmp/tl.json"
if node -e '
  const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (d.fidelity !== "tile" || d.kv_placement !== "offchip") throw new Error("fidelity/kv_placement");
  for (const k of ["prefill", "decode"]) {
    const s = d[k];
    for (const l of ["offchip", "l2", "l1", "l0", "ub"]) if (!(s.bytes[l] > 0)) throw new Error(k + " bytes." + l);
    if (!["memory", "compute"].includes(s.bound)) throw new Error(k + " bound");
  }
  if (d.decode.time_ms < d.decode.memory_floor_ms || d.prefill.time_ms < d.prefill.compute_floor_ms) throw new Error("below a floor");
  if (d.decode.bound !== "memory" || d.ttft_ms !== d.prefill.time_ms) throw new Error("totals");
  // Decode is the mean over the 8 output steps: between the first and last step, both simulated.
  const steps = d.decode_samples.map((x) => x.step).join(",");
  if (steps !== "0,1,3,5,7" || d.decode_samples[0].context !== 65 || d.decode_samples[4].context !== 72) throw new Error("samples " + steps);
  if (d.decode_ms_first !== d.decode_samples[0].ms || d.decode_ms_last !== d.decode_samples[4].ms) throw new Error("first/last");
  if (!(d.decode_ms_first <= d.decode_ms_per_token && d.decode_ms_per_token <= d.decode_ms_last)) throw new Error("mean outside first..last");
' "$tmp/tl.json" 2>"$tmp/err"; then
  ok "llm --fidelity tile --json reports bytes per level and a bound for prefill and decode, above their floors, and decode as the mean of the output's steps"
else
  bad "llm --fidelity tile --json is not the expected document" "$(cat "$tmp/err")"
fi

# 2c. robot fk: UR's published UR5e flange position at q = 0; robot ik returns 8 solutions.
"$native" robot fk --arm ur5e --q 0,0,0,0,0,0 --json >"$tmp/fk.json"
"$native" robot ik --arm ur5e --T 0.597441712,0.008677272,-0.801865392,-0.637397902,-0.726090821,0.430283475,-0.536328492,-0.243327408,0.340375560,0.902652112,0.263369783,0.450446528,0,0,0,1 --json >"$tmp/ik.json"
if node -e '
  const fs = require("fs");
  const fk = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const want = [-0.8172, -0.2329, 0.0628];
  want.forEach((w, i) => { if (Math.abs(fk.position[i] - w) > 1e-9) throw new Error("position " + fk.position); });
  if (fk.T.length !== 4 || fk.T[3].join() !== "0,0,0,1") throw new Error("T is not 4x4 homogeneous");
  const ik = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  if (ik.solutions.length !== 8 || ik.solutions.some(s => s.length !== 6)) throw new Error("want 8 solutions of 6");
' "$tmp/fk.json" "$tmp/ik.json" 2>"$tmp/err"; then
  ok "robot fk gives the published UR5e flange position at q = 0; robot ik returns 8 solutions"
else
  bad "robot fk/ik JSON is not as expected" "$(cat "$tmp/err")"
fi

# 2c'. robot cell: the bundled cell passes on the Ascend 310P and fails on the slower chip (its
# inference budget); the trained model decides (not the stand-in) and its accuracy over the run is reported.
"$native" robot cell --scenario pcb-cell-ascend-310p --json >"$tmp/c1.json"
"$native" robot cell --scenario pcb-cell-slower-chip --json >"$tmp/c2.json"
if node -e '
  const fs = require("fs");
  const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8")), b = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  if (a.pass !== true || a.chip !== "ascend-310p") throw new Error("310p run should pass");
  if (b.pass !== false || b.slower_chip.chip !== "edge-npu-64tops") throw new Error("slower chip run should fail");
  const inf = b.verdicts.find(v => v.name === "inference-budget");
  if (!inf || inf.pass !== false) throw new Error("the slower chip must fail its inference budget");
  if (!(b.slower_chip.inference_ms > a.inference_ms)) throw new Error("the slower chip must be slower");
  for (const d of [a, b]) {
    if (d.perception_is_standin !== false || d.classifier !== "model" || d.perception.includes("STAND-IN") ||
        !d.perception.includes("trained int8 CNN")) throw new Error("the trained model must decide, and say so");
    const ca = d.classifier_accuracy;
    if (!ca || ca.classified !== d.boards.filter(x => x.result !== "not-seen").length ||
        ca.correct !== d.boards.filter(x => x.result !== "not-seen" && x.label === x.truth).length)
      throw new Error("classifier_accuracy does not match the boards");
    if (!d.log.length || d.log.some(e => !e.rule)) throw new Error("every log entry needs a rule id");
    if (d.stages.map(s => s.stage).join() !== "sensor,transfer,inference,planning,control,round-trip") throw new Error("stages");
  }
' "$tmp/c1.json" "$tmp/c2.json" 2>"$tmp/err"; then
  ok "robot cell: the 310P scenario passes, the slower chip fails its inference budget, the trained model decides"
else
  bad "robot cell JSON is not as expected" "$(cat "$tmp/err")"
fi

# 2d. SCALE-Sim's golden run (AlexNet conv1, 32x32 weight-stationary, 64 KB SRAMs): 112283 cycles,
# 91.68% overall utilisation, on both targets.
for tool in native wasm; do
  if [ $tool = native ]; then "$native" $scalesim --json >"$tmp/s.json" 2>"$tmp/s.err"; else wasm $scalesim --json >"$tmp/s.json" 2>"$tmp/s.err"; fi
  if node -e '
    const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const l = d.layers[0];
    if (d.layers.length !== 1 || l.layer !== "Conv1") throw new Error("expected one layer Conv1");
    if (l.total_cycles !== 112283 || l.stall_cycles !== 0) throw new Error("cycles " + l.total_cycles + "/" + l.stall_cycles);
    if (l.overall_util_pct.toFixed(2) !== "91.68") throw new Error("util " + l.overall_util_pct);
    if (l.dram_reads.ifmap !== 1805023 || l.dram_writes.ofmap !== 3484831) throw new Error("dram " + JSON.stringify(l));
  ' "$tmp/s.json" 2>"$tmp/err"; then
    ok "$tool: simulate reproduces SCALE-Sim's golden AlexNet conv1 run (112283 cycles, 91.68%)"
  else
    bad "$tool: simulate does not reproduce SCALE-Sim's golden run" "$(cat "$tmp/err" "$tmp/s.err")"
  fi
done
if "$native" $scalesim | grep -Eq '^0 +Conv1 +112283 +0 +91\.68'; then
  ok "simulate prints the golden run as a table row"
else
  bad "simulate table lacks the golden row" "$("$native" $scalesim 2>&1 | head -4)"
fi

# 3. The bundled files all validate, from disk, on both targets.
for tool in native wasm; do
  if [ $tool = native ]; then run=("$native"); else run=(wasm); fi
  if "${run[@]}" chips validate models/chips/*.json >"$tmp/v.out" 2>&1; then
    ok "$tool: chips validate accepts every file in models/chips"
  else
    bad "$tool: chips validate rejected a shipped file" "$(cat "$tmp/v.out")"
  fi
  "${run[@]}" chips --json --chips models/chips >"$tmp/dir.json" 2>"$tmp/dir.err"
  "$native" chips --json >"$tmp/bundled.json"
  # Loading from disk names files by path, but the figures must be the same as the bundled copy.
  if cmp -s "$tmp/dir.json" "$tmp/bundled.json"; then
    ok "$tool: --chips models/chips gives the same catalog as the bundled copy"
  else
    bad "$tool: --chips models/chips differs from the bundled catalog" "$(head -3 "$tmp/dir.err")"
  fi
done

# 4. Bad input: a clear error naming the file and the problem, non-zero exit, nothing on stdout.
expect_error() {  # name, expected rc, stderr pattern, args...
  local name=$1 want_rc=$2 pattern=$3; shift 3
  for tool in native wasm; do
    if [ $tool = native ]; then "$native" "$@" >"$tmp/o" 2>"$tmp/e"; rc=$?; else wasm "$@" >"$tmp/o" 2>"$tmp/e"; rc=$?; fi
    if [ $rc -eq "$want_rc" ] && grep -Eq -e "$pattern" "$tmp/e" && { [ ! -s "$tmp/o" ] || [ "$2" = validate ]; }; then
      ok "$tool: $name -> exit $rc: $(head -1 "$tmp/e")"
    else
      bad "$tool: $name: rc=$rc (want $want_rc), stderr did not match /$pattern/" "$(cat "$tmp/e" "$tmp/o" | head -5)"
    fi
  done
}
expect_error "malformed chip file" 1 'bad-chips/malformed/broken\.json: malformed JSON: parse error at line 5' \
  chips --json --chips tests/data/bad-chips/malformed
expect_error "wrong field type" 1 'wrong-field\.json: /figures/memory_bandwidth_gbps/value: expected a number, found string' \
  chips --json --chips tests/data/bad-chips/wrong-field
expect_error "validate a broken file" 1 'broken\.json: malformed JSON' \
  chips validate --json tests/data/bad-chips/malformed/broken.json
expect_error "missing directory" 1 'no-such-dir: not a directory' chips --json --chips tests/data/no-such-dir
expect_error "unknown chip id" 1 'no chip with id "nope"' chips show nope --json
expect_error "llm without a link for 2 chips" 1 '2 chips need a chip-to-chip link bandwidth' \
  llm --chip nvidia-a100 --llm llama-3-8b --chips 2 --json
expect_error "unknown LLM" 1 'no LLM with id "gpt-9" \(known: deepseek-v2-lite' llm --chip nvidia-a100 --llm gpt-9
expect_error "bad batch" 2 '--batch expects a whole number >= 1, got "-3"' llm --chip nvidia-a100 --llm llama-3-8b --batch -3
expect_error "on-chip KV cache larger than half the L2" 1 'needs .* MiB per chip, more than half of nvidia-h100.s L2' \
  llm --chip nvidia-h100 --llm qwen2.5-7b --fidelity tile --kv-onchip --prompt 2048 --output 8
expect_error "--link-latency-us at roofline fidelity" 2 '--link-latency-us needs --fidelity tile' \
  llm --chip nvidia-h100 --llm qwen2.5-7b --chips 2 --link-gbps 100 --link-latency-us 3
expect_error "gemm without K" 2 '--gemm expects M,N,K' simulate --chip nvidia-a100 --gemm 4,4
expect_error "unknown drift variant" 2 'unknown variance method "foo"' kernels drift --variant foo --json
expect_error "drift rows not a count" 2 'rows must be an integer in \[1, 65536\] \(got "0"\)' kernels drift --rows 0 --json
expect_error "robot: wrong joint count" 1 '^stacklab: --q: expected 6 comma-separated numbers, got 2' robot fk --arm ur5e --q 1,2 --json
expect_error "robot: not a number" 1 '^stacklab: --qdd: "x" is not a finite number' robot id --arm ur5e --q 0,0,0,0,0,0 --qd 0,0,0,0,0,0 --qdd 0,0,x,0,0,0 --json
expect_error "robot: unknown arm" 1 '^stacklab: --arm: .*no bundled arm "ur7"' robot fk --arm ur7 --q 0 --json
expect_error "robot: not a rotation" 1 '^stacklab: --T: .*not a rotation' robot ik --arm ur5e --T 1,0,0,0,0,1,0,0,0,0,2,0,0,0,0,1 --json
expect_error "robot: missing flag" 2 '^stacklab: robot id needs --qd' robot id --arm ur5e --q 0,0,0,0,0,0 --json
expect_error "robot cell: unknown scenario key" 1 '^stacklab: tests/data/cells/bad-field\.json: /camera/fps: unknown key' \
  robot cell --scenario tests/data/cells/bad-field.json --json
expect_error "robot cell: unknown chip" 1 '^stacklab: --chip: unknown chip "nope"' robot cell --scenario pcb-cell-ascend-310p --chip nope
expect_error "robot cell: unknown bundled scenario" 1 'no bundled scenario "pcb-x" \(known: pcb-cell-ascend-310p' robot cell --scenario pcb-x
expect_error "malformed SCALE-Sim config" 1 'bad/bad_dataflow\.cfg:14: Dataflow: "xs" is not one of os, ws, is' \
  simulate --json --scalesim-topology tests/data/scalesim/alexnet_conv1.csv --scalesim-config tests/data/scalesim/bad/bad_dataflow.cfg
expect_error "short SCALE-Sim topology row" 1 'short_row\.csv:2: row: expected 8 fields' \
  simulate --scalesim-topology tests/data/scalesim/bad/short_row.csv --scalesim-config tests/data/scalesim/scale.cfg
expect_error "missing SCALE-Sim file" 1 'no-such\.csv: cannot open file' \
  simulate --scalesim-topology tests/data/scalesim/no-such.csv --scalesim-config tests/data/scalesim/scale.cfg
expect_error "simulate without inputs" 2 'simulate needs --chip ID --gemm M,N,K, --chip ID --model FILE.onnx, or --scalesim-topology' simulate --json
expect_error "tile that does not fit" 1 'tile 512x512x512 does not fit: the A chunk' \
  simulate --chip ascend-910b --gemm 4096,4096,4096 --fidelity tile --tile 512x512x512 --json
expect_error "tile simulation of a chip without a microarchitecture" 1 'needs microarch/matrix_cores, which is unknown' \
  simulate --chip hygon-dcu-k100 --gemm 4,4,4 --fidelity tile
expect_error "--tile without --fidelity tile" 2 '--tile and --timeline need --fidelity tile' \
  simulate --chip ascend-910b --gemm 4,4,4 --tile 16x16x16
expect_error "--timeline of a model without --fidelity tile" 2 '--timeline needs --fidelity tile' \
  simulate --chip ascend-910b --model models/fashion_cnn.onnx --timeline --json
expect_error "--tile with a model" 2 '--tile applies to --gemm only' \
  simulate --chip ascend-910b --model models/fashion_cnn.onnx --fidelity tile --tile 16x16x16
expect_error "eval without a model" 2 'eval needs --model FILE.onnx and --data' eval --data fashion-mnist --json
expect_error "eval with an unknown quantization" 2 "quantization 'int3' is not one of fp32, int8" \
  eval --model models/fashion_cnn.onnx --data fashion-mnist --quant int3
expect_error "quantize with an unknown calibration" 2 "calibration method 'kl' is not one of minmax, percentile, mse" \
  quantize --model models/fashion_cnn.onnx --out "$tmp/never.onnx" --calibration kl
expect_error "quantize with an unknown 4-bit storage" 2 "4-bit weight storage 'int2' is not one of int4, int8" \
  quantize --model models/fashion_cnn.onnx --out "$tmp/never.onnx" --int4-storage int2
expect_error "quantize a file that is not ONNX" 1 '^stacklab: README\.md: field 4 uses wire type 3' \
  quantize --model README.md --out "$tmp/never.onnx"
expect_error "drift on a model without LayerNorm -> Gelu" 1 'fashion_cnn\.onnx: the model has no LayerNormalization whose only reader is a Gelu' \
  kernels drift --model models/fashion_cnn.onnx --limit 8
expect_error "eval of a missing data folder" 1 'no-such-dir/t10k-images-idx3-ubyte: cannot open file' \
  eval --model x.onnx --data tests/data/no-such-dir --json
expect_error "unknown command" 2 'unknown command "frobnicate"' frobnicate --json
expect_error "simulate a missing model file" 1 'no-such\.onnx: cannot open file' \
  simulate --chip ascend-910b --model tests/data/no-such.onnx --json
expect_error "simulate a file that is not ONNX" 1 'models/chips/ascend-910b\.json' \
  simulate --chip ascend-910b --model models/chips/ascend-910b.json --json
expect_error "simulate a float model on an int8-only chip" 1 \
  'fashion_cnn\.onnx: edge-npu-64tops: the matrix unit has no fp16 or bf16 mode, and Conv node .conv1. is a float matrix op: quantize' \
  simulate --chip edge-npu-64tops --model models/fashion_cnn.onnx --json
expect_error "simulate a model on a chip without a microarch figure" 1 'fashion_cnn\.onnx: hygon-dcu-k100: the tile simulator needs microarch/' \
  simulate --chip hygon-dcu-k100 --model models/fashion_cnn.onnx
expect_error "simulate --model with --gemm" 2 'simulate takes --gemm or --model, not both' \
  simulate --chip ascend-910b --model models/fashion_cnn.onnx --gemm 4,4,4
expect_error "simulate --limit without --data" 2 '--limit needs --data' \
  simulate --chip ascend-910b --model models/fashion_cnn.onnx --limit 5
expect_error "simulate with a bad fidelity" 1 'fidelity "cycle" is not one of roofline, tile' \
  simulate --chip ascend-910b --model models/fashion_cnn.onnx --fidelity cycle

# 4b. simulate --model: the JSON document has the per-op rows and totals, fusion lowers the traffic,
# and with --data --numerics fp32 the predictions are eval's, image for image.
if "$native" simulate --chip ascend-910b --model models/fashion_cnn.onnx --fidelity tile --batch 8 --json >"$tmp/f.json" 2>"$tmp/e" &&
   "$native" simulate --chip ascend-910b --model models/fashion_cnn.onnx --fidelity tile --batch 8 --no-fuse --json >"$tmp/u.json" 2>>"$tmp/e" &&
   node -e '
    const fs = require("fs");
    const f = JSON.parse(fs.readFileSync(process.argv[1], "utf8")), u = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
    if (f.chip !== "ascend-910b" || f.fidelity !== "tile" || f.batch !== 8) throw new Error("header " + JSON.stringify(f).slice(0, 200));
    for (const k of ["cycles", "time_us", "energy_uj", "bytes"]) if (!(k in f.totals)) throw new Error("totals lack " + k);
    for (const k of ["offchip", "l2", "l1", "l0", "ub"]) if (!(k in f.totals.bytes)) throw new Error("bytes lack " + k);
    const conv = f.ops.find(r => r.name === "conv1");
    for (const k of ["name", "op", "dtype", "fused_with", "bound", "cycles", "time_us", "bytes", "energy_uj", "utilization", "fidelity_used"])
      if (!(k in conv)) throw new Error("conv1 row lacks " + k);
    if (conv.dtype !== "fp16" || conv.fidelity_used !== "tile" || conv.fused_with[0] !== "relu1") throw new Error("conv1 " + JSON.stringify(conv));
    if (f.ops.find(r => r.name === "pool1").fidelity_used !== "roofline") throw new Error("pool1 should use the roofline model");
    if (!(f.totals.bytes.offchip < u.totals.bytes.offchip)) throw new Error("fusion did not lower off-chip bytes");
    if (!/^[0-9a-f]{16}$/.test(f.functional.digest) || f.functional.numerics.indexOf("fp16") !== 0) throw new Error("functional " + JSON.stringify(f.functional));
  ' "$tmp/f.json" "$tmp/u.json" 2>>"$tmp/e"; then
  ok "simulate --model --json: per-op rows, totals, fusion saves off-chip bytes, fp16 functional run"
else
  bad "simulate --model --json is not as expected" "$(cat "$tmp/e")"
fi
if "$native" simulate --chip nvidia-a100 --model models/fashion_cnn.onnx --data fashion-mnist --limit 300 --batch 64 --numerics fp32 --json >"$tmp/s.json" 2>"$tmp/e" &&
   "$native" eval --model models/fashion_cnn.onnx --data fashion-mnist --limit 300 --batch 64 --predictions --json >"$tmp/v.json" 2>>"$tmp/e" &&
   node -e '
    const fs = require("fs");
    const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).functional, v = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
    if (s.numerics !== "fp32 (chip would use fp16)") throw new Error("numerics " + s.numerics);
    if (JSON.stringify(s.predictions) !== JSON.stringify(v.predictions) || s.accuracy !== v.accuracy) throw new Error("differs from eval");
  ' "$tmp/s.json" "$tmp/v.json" 2>>"$tmp/e"; then
  ok "simulate --model --data --numerics fp32 predicts exactly what eval predicts ($(grep -m1 '"accuracy"' "$tmp/s.json" | tr -d ' ,'))"
else
  bad "simulate --data differs from eval" "$(cat "$tmp/e")"
fi

# 4b. Quantization (issue 4): the QDQ file and the report are the same bytes on both targets, and
# eval --quant predicts the same classes with the same per-layer SQNR.
qargs="quantize --model models/fashion_cnn.onnx --quant w4g32a8 --calib 64 --calibration percentile --json"
"$native" $qargs --out "$tmp/qn.onnx" >"$tmp/qn.json" 2>"$tmp/qn.err"; n_rc=$?
wasm $qargs --out "$tmp/qw.onnx" >"$tmp/qw.json" 2>"$tmp/qw.err"; w_rc=$?
if [ $n_rc -eq 0 ] && [ $w_rc -eq 0 ] && cmp -s "$tmp/qn.onnx" "$tmp/qw.onnx" &&
   diff <(grep -v '"out"' "$tmp/qn.json") <(grep -v '"out"' "$tmp/qw.json") >/dev/null; then
  ok "quantize writes the same QDQ file ($(wc -c <"$tmp/qn.onnx") bytes) and report natively and in wasm"
else
  bad "quantize differs between targets (rc $n_rc / $w_rc)" "$(cat "$tmp/qn.err" "$tmp/qw.err" | head -5)"
fi
eargs="eval --model models/fashion_cnn.onnx --data fashion-mnist --quant mixed --calib 128 --limit 300 --json --predictions"
"$native" $eargs >"$tmp/en.json" 2>"$tmp/en.err"; n_rc=$?
wasm $eargs >"$tmp/ew.json" 2>"$tmp/ew.err"; w_rc=$?
if [ $n_rc -eq 0 ] && [ $w_rc -eq 0 ] && node -e '
  const fs = require("fs");
  const [a, b] = process.argv.slice(1).map(f => JSON.parse(fs.readFileSync(f, "utf8")));
  const strip = d => JSON.stringify({acc: d.accuracy, p: d.predictions, l: d.per_layer, s: d.logits_sqnr_db, k: d.per_node.map(x => x.kernel)});
  if (strip(a) !== strip(b)) throw new Error("native and wasm disagree");
  if (a.n !== 300 || a.per_layer.length !== 4 || !a.per_layer.some(l => l.weight_bits === 4) || !a.per_layer.some(l => l.weight_bits === 8))
    throw new Error("expected 300 images and a 4/8-bit mix over 4 layers");
' "$tmp/en.json" "$tmp/ew.json" 2>"$tmp/err"; then
  ok "eval --quant mixed: same predictions, accuracy, kernels and per-layer SQNR natively and in wasm"
else
  bad "eval --quant mixed differs between targets (rc $n_rc / $w_rc)" "$(cat "$tmp/err" "$tmp/en.err" "$tmp/ew.err" | head -5)"
fi

# 5. Policy certification: keys, certificates, verification, the audit log (issue 7).
pass_m=models/deployments/warehouse-cell-tier2-pass.json
fail_m=models/deployments/edge-cell-tier2-fail.json
now=2025-06-01T00:00:00Z
later=2025-07-01T00:00:00Z
"$native" keygen --out "$tmp/keys" --json >/dev/null 2>"$tmp/e"
if [ "$(stat -c %a "$tmp/keys/secret.key")" = 600 ] && [ -s "$tmp/keys/public.key" ]; then
  ok "keygen writes secret.key with mode 0600 and public.key"
else
  bad "keygen: wrong files or mode" "$(ls -l "$tmp/keys"; cat "$tmp/e")"
fi
if ! "$native" keygen --out "$tmp/keys" >/dev/null 2>"$tmp/e" && grep -q 'exists already' "$tmp/e"; then
  ok "keygen refuses to overwrite an existing key"
else
  bad "keygen overwrote a key" "$(cat "$tmp/e")"
fi
for tool in native wasm; do
  if [ $tool = native ]; then run=("$native"); else run=(wasm); fi
  "${run[@]}" certify --manifest $pass_m --key "$tmp/keys/secret.key" --out "$tmp/pass.$tool.cert" \
    --log "$tmp/audit.$tool.log" --now $now --report "$tmp/pass.$tool.html" --json >"$tmp/certify.$tool.out" 2>"$tmp/e"; rc=$?
  [ $rc -eq 0 ] && ok "$tool: the pass example certifies (exit 0)" || bad "$tool: pass example: rc=$rc" "$(cat "$tmp/e")"
  "${run[@]}" certify --manifest $fail_m --key "$tmp/keys/secret.key" --out "$tmp/fail.$tool.cert" \
    --log "$tmp/audit.$tool.log" --now $now --report "$tmp/fail.$tool.md" --json >"$tmp/certify-fail.$tool.out" 2>"$tmp/e"; rc=$?
  if [ $rc -eq 1 ] && grep -q 'AG.action-latency-budget' "$tmp/e" && grep -q '"status":"refused"' "$tmp/fail.$tool.cert"; then
    ok "$tool: the fail example is refused naming AG.action-latency-budget, the refusal still written"
  else
    bad "$tool: fail example: rc=$rc" "$(cat "$tmp/e")"
  fi
  if grep -q '^- \[ \] \*\*FAIL\*\* `AG.action-latency-budget`' "$tmp/fail.$tool.md" \
     && grep -q 'data-rule="T2.chip-binding" data-outcome="pass"' "$tmp/pass.$tool.html"; then
    ok "$tool: certify --report writes the Markdown and HTML reports with each rule's verdict"
  else
    bad "$tool: certify --report: rule verdicts missing" "$(head -c 300 "$tmp/fail.$tool.md" 2>&1)"
  fi
  "${run[@]}" verify "$tmp/pass.$tool.cert" --pubkey "$tmp/keys/public.key" --log "$tmp/audit.$tool.log" --now $later --json \
    >"$tmp/verify.$tool.out" 2>"$tmp/e"; rc=$?
  if [ $rc -eq 0 ] && grep -q '"audit log inclusion"' "$tmp/verify.$tool.out"; then
    ok "$tool: verify accepts the certificate with its audit log inclusion"
  else
    bad "$tool: verify rejected the good certificate: rc=$rc" "$(cat "$tmp/e")"
  fi
  "${run[@]}" audit check --log "$tmp/audit.$tool.log" --pubkey "$tmp/keys/public.key" --json >"$tmp/check.$tool.out" 2>"$tmp/e" \
    && ok "$tool: audit check accepts the log" || bad "$tool: audit check failed" "$(cat "$tmp/e")"
done
for f in pass.%s.cert fail.%s.cert pass.%s.html fail.%s.md audit.%s.log certify.%s.out certify-fail.%s.out verify.%s.out check.%s.out; do
  n=$(printf "$f" native); w=$(printf "$f" wasm)
  # the certify output names its own file paths, which differ by tool: compare with the names unified
  if cmp -s <(sed 's/\.native\./.TOOL./g' "$tmp/$n") <(sed 's/\.wasm\./.TOOL./g' "$tmp/$w"); then
    ok "native and wasm write identical ${f//.%s/}"
  else
    bad "native and wasm differ in ${f//.%s/}" "$(diff <(sed 's/\.native\./.TOOL./g' "$tmp/$n") <(sed 's/\.wasm\./.TOOL./g' "$tmp/$w") | head -5)"
  fi
done
# Changed bytes anywhere in the certificate (every 61st byte natively, a few in wasm) are rejected
# with a reason; the core test flips every byte.
cert="$tmp/pass.native.cert"
size=$(wc -c <"$cert")
flip_rejected=0 flip_total=0
flip() {  # file offset out
  python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[int(sys.argv[2])]^=1; open(sys.argv[3],"wb").write(b)' "$@"
}
for ((i = 0; i < size; i += 61)); do
  flip "$cert" $i "$tmp/t.cert"
  flip_total=$((flip_total + 1))
  if ! "$native" verify "$tmp/t.cert" --pubkey "$tmp/keys/public.key" --now $later >/dev/null 2>"$tmp/e" && [ -s "$tmp/e" ]; then
    flip_rejected=$((flip_rejected + 1))
  fi
done
[ $flip_rejected -eq $flip_total ] && ok "native: verify rejects all $flip_total single-byte changes sampled across the certificate" \
  || bad "native: verify accepted $((flip_total - flip_rejected)) of $flip_total changed certificates"
for i in 1 200 3000 $((size - 2)); do
  flip "$cert" $i "$tmp/t.cert"
  if ! wasm verify "$tmp/t.cert" --pubkey "$tmp/keys/public.key" --now $later >/dev/null 2>"$tmp/e"; then
    ok "wasm: verify rejects a changed byte at $i: $(head -1 "$tmp/e")"
  else
    bad "wasm: verify accepted a certificate changed at byte $i"
  fi
done
# A changed byte in the log breaks verify --log.
flip "$tmp/audit.native.log" 40 "$tmp/t.log"
if ! "$native" verify "$cert" --log "$tmp/t.log" --now $later >/dev/null 2>"$tmp/e" && grep -q 'log:' "$tmp/e"; then
  ok "verify --log rejects a log with a changed byte: $(head -1 "$tmp/e")"
else
  bad "verify --log accepted a changed log" "$(cat "$tmp/e")"
fi

# The RFC 6962 reference tree through the CLI, on both targets.
want='{"root":"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77","size":3}'
for tool in native wasm; do
  if [ $tool = native ]; then out=$("$native" audit root --leaves-hex '"",00,10' --json); else out=$(wasm audit root --leaves-hex '"",00,10' --json); fi
  if [ "$(node -e 'const d=JSON.parse(process.argv[1]); console.log(JSON.stringify({root:d.root,size:d.size}))' "$out")" = "$want" ]; then
    ok "$tool: audit root of the leaves \"\",00,10 is the RFC 6962 reference root of size 3"
  else
    bad "$tool: audit root: $out"
  fi
done
out=$("$native" audit root --leaves-hex '"",00,10,2021,3031,40414243,5051525354555657,606162636465666768696a6b6c6d6e6f' --json)
grep -q 5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328 <<<"$out" \
  && ok "audit root of the 8 reference leaves is 5dc9da79...4328" || bad "audit root of 8 leaves: $out"

# Proofs out of a log, checked, and a corrupted one refused.
log="$tmp/p.log"
for i in 0 1 2 3 4 5 6; do "$native" audit append --log "$log" --data "entry $i" --key "$tmp/keys/secret.key" --now $now >/dev/null; done
"$native" audit prove --log "$log" --index 5 --json >"$tmp/incl.json" && "$native" audit verify-proof --proof "$tmp/incl.json" >/dev/null \
  && ok "audit prove --index gives an inclusion proof that verify-proof accepts" || bad "inclusion proof round trip failed"
"$native" audit prove --log "$log" --from 3 --json >"$tmp/cons.json" && "$native" audit verify-proof --proof "$tmp/cons.json" >/dev/null \
  && ok "audit prove --from gives a consistency proof that verify-proof accepts" || bad "consistency proof round trip failed"
sed 's/"index": 5/"index": 4/' "$tmp/incl.json" >"$tmp/bad.json"
if ! "$native" audit verify-proof --proof "$tmp/bad.json" >/dev/null 2>"$tmp/e"; then
  ok "verify-proof rejects a proof with the wrong index: $(head -1 "$tmp/e")"
else
  bad "verify-proof accepted a wrong index"
fi
# A crash mid-append: cut the last record short. check reports the torn tail; append recovers it.
cp "$log" "$tmp/torn.log"
truncate -s -20 "$tmp/torn.log"
if ! "$native" audit check --log "$tmp/torn.log" >/dev/null 2>"$tmp/e" && grep -q 'torn tail' "$tmp/e"; then
  ok "audit check reports a torn tail: $(head -1 "$tmp/e")"
else
  bad "audit check did not report the torn tail" "$(cat "$tmp/e")"
fi
"$native" audit append --log "$tmp/torn.log" --data "after crash" --key "$tmp/keys/secret.key" --now $now --json >"$tmp/o" 2>"$tmp/e"
if grep -q 'recovered' "$tmp/e" && "$native" audit check --log "$tmp/torn.log" --pubkey "$tmp/keys/public.key" --json >"$tmp/o" \
   && grep -q '"entries": 8' "$tmp/o"; then
  ok "audit append truncates the torn tail, keeps all 7 committed entries and adds the 8th"
else
  bad "torn tail recovery failed" "$(cat "$tmp/e" "$tmp/o")"
fi
# 5b. Measured evidence: certify --measure evaluates models/fashion_cnn.onnx on the test set and runs
# the cell scenario on every chip for every seed; the rules read those records.
mpass=models/deployments/pcb-cell-tier2-measured-pass.json
mfail=models/deployments/pcb-cell-tier2-measured-fail.json
for tool in native wasm; do
  if [ $tool = native ]; then run=("$native"); else run=(wasm); fi
  "${run[@]}" certify --manifest $mpass --key "$tmp/keys/secret.key" --out "$tmp/mpass.$tool.cert" --measure --limit 200 \
    --now $now --report "$tmp/mpass.$tool.md" --json >"$tmp/o" 2>"$tmp/e"; rc=$?
  if [ $rc -eq 0 ] && grep -q '"function":"policy::measure_model_eval"' "$tmp/mpass.$tool.cert" \
     && grep -q '^- \[x\] \*\*PASS\*\* `AG.functional-properties.measured`' "$tmp/mpass.$tool.md" \
     && grep -q '^## Measured evidence' "$tmp/mpass.$tool.md"; then
    ok "$tool: certify --measure certifies the measured pass example on measured records, and the report lists them"
  else
    bad "$tool: certify --measure (pass example): rc=$rc" "$(cat "$tmp/e"; head -c 400 "$tmp/o")"
  fi
  "${run[@]}" certify --manifest $mfail --key "$tmp/keys/secret.key" --out "$tmp/mfail.$tool.cert" --measure --limit 200 \
    --now $now --json >"$tmp/o" 2>"$tmp/e"; rc=$?
  if [ $rc -eq 1 ] && grep -q 'AG.functional-properties.measured' "$tmp/e" && grep -q 'CMC.two-domestic-platforms.measured' "$tmp/e"; then
    ok "$tool: the measured fail example is refused: the edge NPU fails its measured cell runs"
  else
    bad "$tool: certify --measure (fail example): rc=$rc" "$(cat "$tmp/e")"
  fi
done
# Same measurements on both targets: the cell record whole; of the model evaluation the counts, the
# predictions and the reference kernels' logits (the fast kernels differ by ISA, and say which).
if python3 - "$tmp/mpass.native.cert" "$tmp/mpass.wasm.cert" <<'PY'
import json, sys
n, w = (json.load(open(f))["evidence"]["measured"] for f in sys.argv[1:3])
assert n["cell"] == w["cell"], "cell records differ"
assert n["convergence"] == w["convergence"], "convergence records differ"
for k in ("correct", "reference_correct", "predictions_sha256", "reference_logits_sha256", "model_sha256", "test_set_sha256"):
    assert n["model_eval"]["value"][k] == w["model_eval"]["value"][k], k + " differs"
PY
then ok "native and wasm measure the same cell record, predictions and reference-kernel logits hash"
else bad "native and wasm measurements differ"
fi
"$native" verify "$tmp/mpass.native.cert" --pubkey "$tmp/keys/public.key" --now $later --remeasure --json >"$tmp/o" 2>"$tmp/e" \
  && grep -q '"measured evidence re-run"' "$tmp/o" \
  && ok "verify --remeasure re-runs every measured record and gets the same values" \
  || bad "verify --remeasure rejected a fresh certificate" "$(cat "$tmp/e")"
python3 -c 'import sys; s=open(sys.argv[1]).read(); open(sys.argv[2],"w").write(s.replace("\"correct\":", "\"correct\":1", 1))' \
  "$tmp/mpass.native.cert" "$tmp/t.cert"
if ! cmp -s "$tmp/mpass.native.cert" "$tmp/t.cert" && ! "$native" verify "$tmp/t.cert" --pubkey "$tmp/keys/public.key" --now $later >/dev/null 2>"$tmp/e"; then
  ok "verify rejects a certificate whose measured correct count was changed: $(head -1 "$tmp/e")"
else
  bad "verify accepted a changed measured value" "$(cat "$tmp/e")"
fi
expect_error "certify --measure without a measure section" 1 'needs a "measure" section' \
  certify --manifest $pass_m --key "$tmp/keys/secret.key" --out "$tmp/x.cert" --measure --now $now
expect_error "certify --limit without --measure" 2 '--limit only applies with --measure' \
  certify --manifest $mpass --key "$tmp/keys/secret.key" --out "$tmp/x.cert" --limit 5 --now $now

expect_error "verify a missing certificate" 1 'no-such\.cert: cannot open file' verify tests/data/no-such.cert
expect_error "certify without a key" 2 'certify needs --manifest FILE --key SECRET_KEY --out CERT' certify --manifest $pass_m
expect_error "unknown policy pack" 1 'no policy pack with id "nope"' \
  certify --manifest $pass_m --key "$tmp/keys/secret.key" --out "$tmp/x.cert" --policy nope --now $now

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
