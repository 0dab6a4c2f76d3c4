// Chip emulator speed (issue 5's performance targets). Prints one JSON document with three parts:
//   1. qwen: a full Qwen2.5-7B decode step on the Ascend 910B at tile fidelity (w16a16, batch 1,
//      1024 tokens of context; target < 100 ms natively, < 300 ms in the browser): the median over
//      the runs of wall-clock ms per simulation, and a digest of the result (FNV-1a over every op's
//      time, cycles, bytes and energy), which must not change when the simulator is made faster.
//   2. scalesim: our SCALE-Sim v2 compatible systolic model (chip/systolic.hpp) on SCALE-Sim's own
//      AlexNet and ResNet-50 layer lists (benchmarks/data/scalesim, see its README) with SCALE-Sim's
//      default 32x32 array config (tests/data/scalesim/scale.cfg), for each dataflow: the median
//      wall-clock time of `simulate_scalesim_layer` per layer, their sum per network, and the
//      simulated cycles (a digest of every report field guards the results likewise).
//   3. resnet50: a ResNet-50 v1 forward pass (batch 1) through the path `stacklab simulate --model
//      FILE.onnx --fidelity tile` takes (chip/graph_sim.hpp simulate_model) on the Ascend 910B. The
//      graph is built here from ONNX protos (Conv with bias = BatchNormalization folded, as inference
//      exporters write it, Relu, Add, MaxPool, GlobalAveragePool, Flatten, Gemm) with zero weights:
//      the simulator needs shapes only. Float nodes run in the chip's fp16. Timed: simulate_model as
//      a whole (shape inference of the batch, lowering, fusion, tile simulation), and simulate_graph
//      alone on the lowered tile ops. `--write-resnet50 FILE` writes the model, so that
//      `stacklab simulate --chip ascend-910b --model FILE --fidelity tile` reproduces the prediction.
//   1b. llm: the same step for DeepSeek-V2-Lite (MLA + MoE), for Qwen2.5-7B in w4a16 with an int8
//      KV cache, and for one chip's shard of Qwen2.5-7B over 4 chips (tensor parallel), likewise.
//   stacklab-chip-bench [--runs N] [--warmup N] [--scalesim-runs N] [--batch B] [--context C] [--timeline]
//                       [--only qwen|llm|scalesim|resnet50] [--data DIR] [--config FILE.cfg]
//                       [--write-resnet50 FILE.onnx]
// Each timing is reported as the median wall-clock ms and the median process CPU ms of the runs.
//   (defaults: 7 runs, 3 per SCALE-Sim layer (a ResNet-50 pass takes seconds per dataflow), batch 1
//   and context 1024 for the decode step, no timeline; --timeline keeps
//   simulate_graph's default of 20000 timeline events per op, as a caller that wants the Gantt chart
//   would; data and config paths are relative to the repository root; --warmup N (default 0) runs
//   each decode step N times untimed first, so that the timed runs of a JIT (wasm in V8 tiers up
//   from its baseline compiler) or of cold caches do not skew the median)
// The same source is also built as build/wasm/stacklab-chip-bench-web.js for a browser page:
// benchmarks/browser_bench.mjs runs it in headless Chromium beside the native and node builds.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "chip/catalog.hpp"
#include "chip/graph_sim.hpp"
#include "chip/llm.hpp"
#include "chip/llm_tile.hpp"
#include "chip/systolic.hpp"
#include "chip/tile_sim.hpp"
#include "nn/graph.hpp"
#include "nn/onnx_build.hpp"

using namespace stacklab;
using namespace stacklab::chip;
using Clock = std::chrono::steady_clock;

namespace {

Machine machine(const std::string& id) {
    for (const auto& c : load_catalog(bundled_catalog_files()))
        if (c.id == id) return machine_of(c);
    throw std::logic_error("no chip " + id);
}

struct Fnv {
    uint64_t h = 1469598103934665603ull;
    void add(const void* p, size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    }
    void add(double v) { add(&v, 8); }
    void add(int64_t v) { add(&v, 8); }
};

uint64_t digest(const GraphResult& g) {
    Fnv f;
    for (const auto& r : g.ops) {
        f.add(r.time_s), f.add(r.cycles), f.add(r.energy_j), f.add(r.padded_macs);
        f.add(r.bytes.offchip), f.add(r.bytes.l2), f.add(r.bytes.l1), f.add(r.bytes.l0), f.add(r.bytes.ub);
        f.add(r.util_matrix), f.add(r.util_vector), f.add(r.util_dma);
    }
    return f.h;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Wall-clock and process CPU time of each run. On the shared development VM the process gets a
// fraction of a core, so the CPU time (std::clock: process CPU time natively; under Emscripten it
// follows the wall clock) is the steadier figure; both are reported.
struct Samples {
    std::vector<double> wall_ms, cpu_ms;
    double wall() const { return median(wall_ms); }
    double cpu() const { return median(cpu_ms); }
};

template <class F>
void sample(Samples& s, F&& f) {
    const std::clock_t c0 = std::clock();
    const auto t0 = Clock::now();
    f();
    s.wall_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    s.cpu_ms.push_back(1000.0 * double(std::clock() - c0) / CLOCKS_PER_SEC);
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path + " (run from the repository root, or pass --data / --config)");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
    return buf;
}

std::string llm_decode(const char* key, const char* llm, const char* quant, bool kv8, int chips, int warmup, int runs,
                       int batch, int context, bool timeline) {
    const Machine m = machine("ascend-910b");
    TileLlmOptions o;
    o.chips = chips;
    o.link_bytes_per_s = 56e9;  // a benchmark input (the --link-gbps 56 of tests/cli/cli_test.sh), not a catalog figure
    const std::vector<TileOp> ops = llm_decode_ops(find_llm(llm), m, parse_llm_quant(quant, kv8), batch, context, o);
    SimOptions opt;
    if (!timeline) opt.max_timeline_events = 0;
    Samples ms;
    GraphResult g;
    for (int r = 0; r < warmup; ++r) g = simulate_graph(m, ops, opt);
    for (int r = 0; r < runs; ++r) sample(ms, [&] { g = simulate_graph(m, ops, opt); });
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "  \"%s\": {\"batch\": %d, \"context\": %d, \"timeline\": %s, \"ops\": %zu, \"warmup\": %d, "
                  "\"runs\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, \"cpu_median_ms\": %.3f, \"simulated_us\": %.6f, \"digest\": \"%s\"}",
                  key, batch, context, timeline ? "true" : "false", ops.size(), warmup, runs, ms.wall(),
                  *std::min_element(ms.wall_ms.begin(), ms.wall_ms.end()), ms.cpu(), g.time_s * 1e6, hex(digest(g)).c_str());
    return buf;
}

// Every layer timed `runs` times on its own (simulate_scalesim is this call per layer); the network
// total is the sum of the per-layer medians.
std::string scalesim(int runs, const std::string& data, const std::string& config_path) {
    SystolicConfig base = parse_scalesim_config(read_text(config_path), config_path);
    std::string out = "  \"scalesim\": {\"config\": \"" + config_path + "\", \"array\": [" + std::to_string(base.array_rows) +
                      ", " + std::to_string(base.array_cols) + "], \"interface_bandwidth\": \"" +
                      (base.user_bandwidth ? "USER" : "CALC") + "\", \"runs\": " + std::to_string(runs) + ", \"networks\": [";
    bool first_net = true;
    for (const char* net : {"alexnet", "resnet50"}) {
        const std::string path = data + "/" + net + ".csv";
        const std::vector<ConvLayer> layers = parse_scalesim_topology(read_text(path), path);
        for (Dataflow df : {Dataflow::os, Dataflow::ws, Dataflow::is}) {
            SystolicConfig cfg = base;
            cfg.dataflow = df;
            Fnv f;
            double sum_ms = 0, sum_cpu_ms = 0, cycles = 0;
            std::string rows;
            for (size_t i = 0; i < layers.size(); ++i) {
                Samples ms;
                LayerReport rep;
                for (int r = 0; r < runs; ++r) sample(ms, [&] { rep = simulate_scalesim_layer(cfg, layers[i], int(i)); });
                sum_ms += ms.wall();
                sum_cpu_ms += ms.cpu();
                cycles += double(rep.total_cycles);
                f.add(rep.total_cycles), f.add(rep.stall_cycles), f.add(rep.overall_util_pct), f.add(rep.mapping_eff_pct);
                f.add(rep.compute_util_pct), f.add(rep.sram_ifmap_reads), f.add(rep.sram_filter_reads);
                f.add(rep.sram_ofmap_writes), f.add(rep.dram_ifmap_reads), f.add(rep.dram_filter_reads);
                f.add(rep.dram_ofmap_writes);
                char buf[256];
                std::snprintf(buf, sizeof buf, "%s{\"layer\": \"%s\", \"median_ms\": %.3f, \"cpu_median_ms\": %.3f, \"total_cycles\": %lld}",
                              i ? ", " : "", layers[i].name.c_str(), ms.wall(), ms.cpu(), (long long)rep.total_cycles);
                rows += buf;
            }
            char head[512];
            std::snprintf(head, sizeof head,
                          "%s\n    {\"network\": \"%s\", \"dataflow\": \"%s\", \"layers\": %zu, \"sum_of_layer_medians_ms\": %.3f, \"sum_of_layer_cpu_medians_ms\": %.3f, "
                          "\"simulated_cycles\": %.0f, \"digest\": \"%s\", \"per_layer\": [",
                          first_net ? "" : ",", net, dataflow_name(df), layers.size(), sum_ms, sum_cpu_ms, cycles,
                          hex(f.h).c_str());
            first_net = false;
            out += head + rows + "]}";
        }
    }
    return out + "\n  ]}";
}

// ResNet-50 v1 (He et al., "Deep residual learning for image recognition", 2015, Table 1): conv1
// 7x7/2 64, max-pool 3x3/2, bottleneck stages of 3, 4, 6, 3 blocks (1x1 w, 3x3 w, 1x1 4w with
// w = 64, 128, 256, 512), a 1x1 projection shortcut on each stage's first block, the stride on the
// first 1x1 convolution of stages 3-5 (v1; SCALE-Sim's Resnet50.csv places it there too), global
// average pool, a 1000-way fully connected layer. Convolutions carry a bias: BatchNormalization
// folded in, as exporters write an inference graph. Weights are zeros: only shapes matter here.
nn::onnx::Model resnet50_model() {
    using namespace nn::onnx;
    Graph g;
    g.name = "resnet50_v1_shapes";
    g.inputs = {float_value("input", {-1, 3, 224, 224})};
    g.outputs = {float_value("logits", {-1, 1000})};
    int count = 0;
    auto conv = [&](const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride, bool relu) {
        const std::string id = "conv" + std::to_string(++count);
        const int64_t pad = k / 2;
        g.initializers.push_back(float_tensor(id + ".w", {cout, cin, k, k}, std::vector<float>(size_t(cout * cin * k * k))));
        g.initializers.push_back(float_tensor(id + ".b", {cout}, std::vector<float>(size_t(cout))));
        g.nodes.push_back(make_node("Conv", id, {x, id + ".w", id + ".b"}, {id + ".y"},
                                    {ints_attr("kernel_shape", {k, k}), ints_attr("strides", {stride, stride}),
                                     ints_attr("pads", {pad, pad, pad, pad})}));
        if (!relu) return id + ".y";
        g.nodes.push_back(make_node("Relu", id + ".relu", {id + ".y"}, {id + ".r"}));
        return id + ".r";
    };
    std::string x = conv("input", 3, 64, 7, 2, true);
    g.nodes.push_back(make_node("MaxPool", "pool1", {x}, {"pool1.y"},
                                {ints_attr("kernel_shape", {3, 3}), ints_attr("strides", {2, 2}), ints_attr("pads", {1, 1, 1, 1})}));
    x = "pool1.y";
    int64_t cin = 64;
    const int blocks[4] = {3, 4, 6, 3};
    for (int s = 0; s < 4; ++s) {
        const int64_t w = int64_t(64) << s;
        for (int b = 0; b < blocks[s]; ++b) {
            const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
            const std::string a = conv(x, cin, w, 1, stride, true);
            const std::string c = conv(a, w, w, 3, 1, true);
            const std::string e = conv(c, w, 4 * w, 1, 1, false);
            const std::string shortcut = b == 0 ? conv(x, cin, 4 * w, 1, stride, false) : x;
            const std::string id = "block" + std::to_string(s + 2) + char('a' + b);
            g.nodes.push_back(make_node("Add", id + ".add", {e, shortcut}, {id + ".sum"}));
            g.nodes.push_back(make_node("Relu", id + ".relu", {id + ".sum"}, {id + ".y"}));
            x = id + ".y";
            cin = 4 * w;
        }
    }
    g.nodes.push_back(make_node("GlobalAveragePool", "gap", {x}, {"gap.y"}));
    g.nodes.push_back(make_node("Flatten", "flatten", {"gap.y"}, {"flat"}));
    g.initializers.push_back(float_tensor("fc.w", {1000, 2048}, std::vector<float>(size_t(1000 * 2048))));
    g.initializers.push_back(float_tensor("fc.b", {1000}, std::vector<float>(1000)));
    g.nodes.push_back(make_node("Gemm", "fc", {"flat", "fc.w", "fc.b"}, {"logits"}, {int_attr("transB", 1)}));
    Model m;
    m.ir_version = 8;
    m.opset_imports = {{"", 13}};
    m.producer_name = "stacklab-chip-bench";
    m.graph = std::move(g);
    return m;
}

std::string resnet50(int runs, const std::string& write_path) {
    const nn::onnx::Model model = resnet50_model();
    if (!write_path.empty()) {
        std::ofstream out(write_path, std::ios::binary);
        out << nn::onnx::serialize_model(model);
        if (!out) throw std::runtime_error("cannot write " + write_path);
    }
    const nn::Graph g = nn::import_onnx(model);
    const Machine m = machine("ascend-910b");
    Samples whole, tiles_only;
    ModelSim sim;
    for (int r = 0; r < runs; ++r) sample(whole, [&] { sim = simulate_model(m, g, "resnet50", 1, Fidelity::tile); });
    // The tile ops simulate_model hands to simulate_graph, timed alone (the rest is lowering).
    const std::vector<NodeLowering> low = lower_graph(with_batch(g, 1), m);
    std::vector<TileOp> ops;
    int64_t convs = 0, matrix = 0, vector_model = 0;
    for (const auto& L : low) {
        if (L.tile_sim && L.kind != Lowered::fused) ops.push_back(L.op);
        convs += L.kind == Lowered::matrix && L.op.kind == OpKind::conv;
        matrix += L.kind == Lowered::matrix;
        vector_model += (L.kind == Lowered::vector || L.kind == Lowered::movement) && !L.tile_sim;
    }
    SimOptions opt;
    opt.max_timeline_events = 0;
    GraphResult gr;
    for (int r = 0; r < runs; ++r) sample(tiles_only, [&] { gr = simulate_graph(m, ops, opt); });
    double macs = 0;
    for (const auto& row : sim.rows)
        if (row.kind == Lowered::matrix) macs += row.ops / 2;
    char buf[1024];
    std::snprintf(buf, sizeof buf,
                  "  \"resnet50_910b_tile\": {\"batch\": 1, \"dtype\": \"fp16\", \"nodes\": %zu, \"matrix_nodes\": %lld, "
                  "\"conv_nodes\": %lld, \"tile_sim_ops\": %zu, \"vector_model_nodes\": %lld, \"gmacs\": %.4f, \"runs\": %d, "
                  "\"simulate_model_median_ms\": %.3f, \"simulate_model_cpu_median_ms\": %.3f, "
                  "\"simulate_graph_median_ms\": %.3f, \"simulate_graph_cpu_median_ms\": %.3f, "
                  "\"simulated_us\": %.3f, "
                  "\"roofline_us\": %.3f, \"energy_mj\": %.4f, \"offchip_mb\": %.3f, \"digest\": \"%s\"}",
                  sim.rows.size(), (long long)matrix, (long long)convs, ops.size(), (long long)vector_model, macs / 1e9, runs,
                  whole.wall(), whole.cpu(), tiles_only.wall(), tiles_only.cpu(), sim.time_s * 1e6, sim.roofline_s * 1e6, sim.energy_j * 1e3,
                  sim.bytes.offchip / 1e6, hex(digest(gr)).c_str());
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 7, warmup = 0, scalesim_runs = 3, batch = 1, context = 1024;
    bool timeline = false;
    std::string only, data = "benchmarks/data/scalesim", config = "tests/data/scalesim/scale.cfg", write_resnet;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--timeline") == 0) timeline = true;
        if (i + 1 >= argc) continue;
        if (std::strcmp(argv[i], "--runs") == 0) runs = std::max(1, std::atoi(argv[i + 1]));
        if (std::strcmp(argv[i], "--warmup") == 0) warmup = std::max(0, std::atoi(argv[i + 1]));
        if (std::strcmp(argv[i], "--batch") == 0) batch = std::max(1, std::atoi(argv[i + 1]));
        if (std::strcmp(argv[i], "--context") == 0) context = std::max(1, std::atoi(argv[i + 1]));
        if (std::strcmp(argv[i], "--scalesim-runs") == 0) scalesim_runs = std::max(1, std::atoi(argv[i + 1]));
        if (std::strcmp(argv[i], "--only") == 0) only = argv[i + 1];
        if (std::strcmp(argv[i], "--data") == 0) data = argv[i + 1];
        if (std::strcmp(argv[i], "--config") == 0) config = argv[i + 1];
        if (std::strcmp(argv[i], "--write-resnet50") == 0) write_resnet = argv[i + 1];
    }
    if (!only.empty() && only != "qwen" && only != "llm" && only != "scalesim" && only != "resnet50") {
        std::fprintf(stderr, "--only expects qwen, llm, scalesim or resnet50, got \"%s\"\n", only.c_str());
        return 2;
    }
    try {
        std::vector<std::string> parts;
        if (only.empty() || only == "qwen")
            parts.push_back(llm_decode("qwen2.5-7b_decode_step_910b_tile", "qwen2.5-7b", "w16a16", false, 1, warmup, runs, batch,
                                       context, timeline));
        // The other lowerings of chip/llm_tile.hpp: MLA + MoE, packed 4-bit weights with an int8 KV
        // cache, and one chip's shard of 4-way tensor parallelism.
        if (only.empty() || only == "llm") {
            parts.push_back(llm_decode("deepseek-v2-lite_decode_step_910b_tile", "deepseek-v2-lite", "w16a16", false, 1, warmup, runs,
                                       batch, context, timeline));
            parts.push_back(llm_decode("qwen2.5-7b_w4a16_kv8_decode_step_910b_tile", "qwen2.5-7b", "w4a16", true, 1, warmup, runs,
                                       batch, context, timeline));
            parts.push_back(llm_decode("qwen2.5-7b_tp4_decode_step_910b_tile", "qwen2.5-7b", "w16a16", false, 4, warmup, runs, batch,
                                       context, timeline));
        }
        if (only.empty() || only == "resnet50") parts.push_back(resnet50(runs, write_resnet));
        if (only.empty() || only == "scalesim") parts.push_back(scalesim(scalesim_runs, data, config));
        std::string doc = "{\n";
        for (size_t i = 0; i < parts.size(); ++i) doc += parts[i] + (i + 1 < parts.size() ? ",\n" : "\n");
        std::fputs((doc + "}\n").c_str(), stdout);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stacklab-chip-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
