// Tile-level simulation speed (issue 5's performance targets): a full Qwen2.5-7B decode step on the
// Ascend 910B (w16a16, batch 1, 1024 tokens of context; target < 100 ms natively, < 300 ms in the
// browser) and the fashion_cnn-sized conv/GEMM ops of a whole-model simulation. Prints one JSON
// document: the median over the runs of wall-clock ms per simulation, and a digest of the result
// (FNV-1a over every op's time, cycles, bytes and energy), which must not change when the simulator
// is made faster.
//   stacklab-chip-bench [--runs N] [--batch B] [--context C] [--timeline]
//   (defaults: 7 runs, batch 1, context 1024, no timeline; --timeline keeps simulate_graph's
//   default of 20000 timeline events per op, as a caller that wants the Gantt chart would)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "chip/catalog.hpp"
#include "chip/llm.hpp"
#include "chip/llm_tile.hpp"
#include "chip/tile_sim.hpp"

using namespace stacklab::chip;
using Clock = std::chrono::steady_clock;

namespace {

Machine machine(const std::string& id) {
    for (const auto& c : load_catalog(bundled_catalog_files()))
        if (c.id == id) return machine_of(c);
    throw std::logic_error("no chip " + id);
}

uint64_t digest(const GraphResult& g) {
    uint64_t h = 1469598103934665603ull;
    auto add = [&](double v) {
        unsigned char b[8];
        std::memcpy(b, &v, 8);
        for (unsigned char c : b) h = (h ^ c) * 1099511628211ull;
    };
    for (const auto& r : g.ops) {
        add(r.time_s), add(r.cycles), add(r.energy_j), add(r.padded_macs);
        add(r.bytes.offchip), add(r.bytes.l2), add(r.bytes.l1), add(r.bytes.l0), add(r.bytes.ub);
        add(r.util_matrix), add(r.util_vector), add(r.util_dma);
    }
    return h;
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 7, batch = 1, context = 1024;
    bool timeline = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--timeline") == 0) timeline = true;
        if (i + 1 >= argc) continue;
        if (std::strcmp(argv[i], "--runs") == 0) runs = std::max(1, std::atoi(argv[i + 1]));
        if (std::strcmp(argv[i], "--batch") == 0) batch = std::max(1, std::atoi(argv[i + 1]));
        if (std::strcmp(argv[i], "--context") == 0) context = std::max(1, std::atoi(argv[i + 1]));
    }
    const Machine m = machine("ascend-910b");
    const std::vector<TileOp> ops = llm_decode_ops(find_llm("qwen2.5-7b"), m, parse_llm_quant("w16a16", false), batch, context);
    SimOptions opt;
    if (!timeline) opt.max_timeline_events = 0;
    std::vector<double> ms;
    GraphResult g;
    for (int r = 0; r < runs; ++r) {
        const auto t0 = Clock::now();
        g = simulate_graph(m, ops, opt);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("{\n  \"qwen2.5-7b_decode_step_910b_tile\": {\"batch\": %d, \"context\": %d, \"timeline\": %s, \"ops\": %zu, \"runs\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, "
                "\"simulated_us\": %.6f, \"digest\": \"%016llx\"}\n}\n",
                batch, context, timeline ? "true" : "false", ops.size(), runs, ms[ms.size() / 2], ms[0], g.time_s * 1e6, (unsigned long long)digest(g));
    return 0;
}
