// Int8 GEMM throughput of our kernels, single thread, on the shapes of issue 3. Prints one JSON
// document; benchmarks/run.mjs runs it natively and as wasm beside ONNX Runtime and makes the table.
//   stacklab-bench [--quick] [--isa NAME]
// Each measurement repeats the GEMM until a run lasts >= 50 ms (>= 5 ms with --quick) and reports
// the median of 7 runs (5 with --quick). Ops = 2*M*N*K (one multiply and one add per MAC).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "quant/gemm.hpp"

using namespace stacklab::quant;
using Clock = std::chrono::steady_clock;

#if defined(__x86_64__)
double measure_vnni_peak_gops(int runs, double min_seconds);  // peak_x86.cpp
#endif

namespace {

template <typename F>
std::vector<double> time_runs(F&& fn, double ops, int runs, double min_seconds) {
    fn();  // warm caches and page in B
    long iters = 1;
    for (;;) {  // calibrate the iteration count so one run lasts min_seconds
        auto t0 = Clock::now();
        for (long i = 0; i < iters; ++i) fn();
        double s = std::chrono::duration<double>(Clock::now() - t0).count();
        if (s >= min_seconds) break;
        iters = s <= 0 ? iters * 10 : std::max(iters + 1, long(double(iters) * min_seconds / s * 1.2));
    }
    std::vector<double> gops;
    for (int r = 0; r < runs; ++r) {
        auto t0 = Clock::now();
        for (long i = 0; i < iters; ++i) fn();
        double s = std::chrono::duration<double>(Clock::now() - t0).count();
        gops.push_back(ops * double(iters) / s / 1e9);
    }
    return gops;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    Isa isa = best_isa();
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--quick") {
            quick = true;
        } else if (a == "--isa" && i + 1 < argc) {
            std::string name = argv[++i];
            bool found = false;
            for (Isa c : available_isas())
                if (name == isa_name(c)) isa = c, found = true;
            if (!found) {
                std::fprintf(stderr, "stacklab-bench: ISA %s is not available here\n", name.c_str());
                return 1;
            }
        } else {
            std::fprintf(stderr, "usage: stacklab-bench [--quick] [--isa NAME]\n");
            return 2;
        }
    }
    const int runs = quick ? 5 : 7;
    const double min_s = quick ? 0.005 : 0.05;
    const int shapes[][3] = {{1, 4096, 4096}, {16, 4096, 4096}, {128, 4096, 4096}, {512, 512, 512}, {64, 3072, 768}};
    nlohmann::json results = nlohmann::json::array();
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> d(-128, 127);
    for (const auto& s : shapes) {
        const int M = s[0], N = s[1], K = s[2];
        std::vector<uint8_t> A(size_t(M) * size_t(K));
        std::vector<int8_t> B(size_t(K) * size_t(N));
        for (auto& a : A) a = uint8_t(d(rng) + 128);
        for (auto& b : B) b = int8_t(d(rng));
        // Weights are packed once, as a runtime does when it loads a model (ONNX Runtime prepacks
        // constant weights the same way).
        const PackedB packed = pack_b(B.data(), K, N, N, {3}, isa);
        std::vector<int32_t> C(size_t(M) * size_t(N));
        auto gops = time_runs([&] { gemm_u8s8_s32(A.data(), M, K, 128, packed, C.data(), N); },
                              2.0 * M * N * K, runs, min_s);
        results.push_back({{"M", M}, {"N", N}, {"K", K}, {"gops_median", median(gops)}, {"gops_runs", gops}});
    }
    nlohmann::json doc = {{"isa", isa_name(isa)}, {"threads", 1}, {"results", results}};
#if defined(__x86_64__)
    bool vnni = false;
    for (Isa c : available_isas()) vnni |= c == Isa::avx512vnni;
    if (vnni) doc["peak_gops"] = measure_vnni_peak_gops(runs, min_s);
#endif
    std::printf("%s\n", doc.dump(2).c_str());
    return 0;
}
