// stacklab-model-bench: whole-model latency of our executor (fast kernels, one thread) on an ONNX
// image classifier, as JSON, for benchmarks/model_bench.mjs, which runs ONNX Runtime native and
// web on the same files in the same session.
//
//   stacklab-model-bench --model FILE.onnx --batch B [--runs R] [--min-s S] [--warmup-s W] [--nodes 1]
//
// The input is [B, 1, 28, 28] pixels / 255 from a fixed pattern (latency does not depend on the
// values for these models). Each run times enough back-to-back nn::run calls to last at least
// --min-s seconds (prepare() is outside the timing, as a runtime loads a model once); the JSON has
// the median and every run's ms per batch; --nodes 1 adds each node's median ms over 21 more runs
// (the executor's own per-node clock: where the time goes, e.g. conv1 against conv2).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nn/executor.hpp"
#include "nn/graph.hpp"

using namespace stacklab;

int main(int argc, char** argv) {
    std::string model;
    int batch = 1, runs = 7;
    double min_s = 0.2, warmup_s = 0.5;
    bool nodes = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--model") model = v;
        else if (a == "--batch") batch = std::atoi(v.c_str());
        else if (a == "--runs") runs = std::atoi(v.c_str());
        else if (a == "--min-s") min_s = std::atof(v.c_str());
        else if (a == "--warmup-s") warmup_s = std::atof(v.c_str());
        else if (a == "--nodes") nodes = v == "1";
        else {
            std::fprintf(stderr, "stacklab-model-bench: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (model.empty() || batch < 1 || runs < 1) {
        std::fprintf(stderr,
                     "usage: stacklab-model-bench --model FILE.onnx --batch B [--runs R] [--min-s S] [--warmup-s W] "
                     "[--nodes 1]\n");
        return 2;
    }
    try {
        std::ifstream in(model, std::ios::binary);
        if (!in) throw std::invalid_argument(model + ": cannot open");
        std::ostringstream bytes;
        bytes << in.rdbuf();
        const nn::Graph g = nn::load_onnx(bytes.str(), model);
        const nn::Plan plan = nn::prepare(g, nn::Kernels::fast);
        nn::onnx::Tensor x;
        x.name = "image";
        x.dtype = nn::onnx::DataType::FLOAT;
        x.dims = {batch, 1, 28, 28};
        std::vector<float> pixels(size_t(batch) * 784);
        for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = float((i * 37 + i / 784 * 11) % 256) / 255.0f;
        x.data.resize(pixels.size() * sizeof(float));
        std::copy_n(reinterpret_cast<const uint8_t*>(pixels.data()), x.data.size(), x.data.data());
        // Built once, like ORT's feeds: `run(plan, {x}, ro)` copied the 200 KB batch-64 input into a
        // fresh (mmap'ed, page-faulting) vector on every run, some 10 % of a batch-64 int8 run.
        const std::vector<nn::onnx::Tensor> inputs{x};
        nn::Workspace ws;  // kept across runs, as a serving loop would
        nn::RunOptions ro;
        ro.workspace = &ws;
        using clock = std::chrono::steady_clock;
        // Warm-up for warmup_s seconds: in wasm, V8 first runs the module on its baseline compiler
        // and swaps in optimized code some 100 ms later; the timed runs must not straddle that.
        for (const auto w0 = std::chrono::steady_clock::now();
             std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() < warmup_s;)
            nn::run(plan, inputs, ro);
        int iters = 1;
        for (;;) {
            const auto t0 = clock::now();
            for (int i = 0; i < iters; ++i) nn::run(plan, inputs, ro);
            const double s = std::chrono::duration<double>(clock::now() - t0).count();
            if (s >= min_s) break;
            iters = std::max(iters + 1, int(iters * min_s / std::max(s, 1e-6) * 1.2));
        }
        std::vector<double> ms;
        for (int r = 0; r < runs; ++r) {
            const auto t0 = clock::now();
            for (int i = 0; i < iters; ++i) nn::run(plan, inputs, ro);
            ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count() / iters);
        }
        std::vector<double> sorted = ms;
        std::sort(sorted.begin(), sorted.end());
        const double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                                : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
        std::printf("{\"model\": \"%s\", \"batch\": %d, \"iterations\": %d, \"ms_per_batch_median\": %.6f, \"ms_per_batch_runs\": [",
                    model.c_str(), batch, iters, median);
        for (size_t i = 0; i < ms.size(); ++i) std::printf("%s%.6f", i ? ", " : "", ms[i]);
        std::printf("]");
        if (nodes) {
            std::vector<std::vector<double>> per;  // per node, one entry per run
            std::vector<nn::NodeTiming> names;
            for (int r = 0; r < 21; ++r) {
                const nn::RunResult res = nn::run(plan, inputs, ro);
                if (per.empty()) per.resize(res.timings.size()), names = res.timings;
                for (size_t k = 0; k < res.timings.size() && k < per.size(); ++k) per[k].push_back(res.timings[k].ms);
            }
            std::printf(", \"nodes\": [");
            for (size_t k = 0; k < per.size(); ++k) {
                std::sort(per[k].begin(), per[k].end());
                std::printf("%s{\"name\": \"%s\", \"kernel\": \"%s\", \"ms_median\": %.6f}", k ? ", " : "",
                            names[k].name.c_str(), names[k].kernel.c_str(), per[k][per[k].size() / 2]);
            }
            std::printf("]");
        }
        std::printf("}\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stacklab-model-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
