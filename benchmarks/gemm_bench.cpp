// Int8 GEMM throughput of our kernels, single thread, on the shapes of issue 3. Prints one JSON
// document; benchmarks/run.mjs runs it natively and as wasm beside ONNX Runtime and makes the table.
//   stacklab-bench [--quick] [--isa NAME]
// Each measurement repeats the GEMM until a run lasts >= 50 ms (>= 5 ms with --quick) and reports
// the median of 7 runs (5 with --quick). Ops = 2*M*N*K (one multiply and one add per MAC).
// The "lowbit" array adds the LLM weight paths (gemm_lowbit.hpp, gemm_float.hpp): Q4_0 / Q8_0 /
// grouped 4-bit GEMV at 1 x 4096 x 4096 (one decode step of a 4096-wide projection), the ggml
// Q4_0 x Q8_0 integer path, Q4_0 at M = 16 (decode amortized over rows), and fp16 / bf16 GEMM at
// 32 x 2048 x 2048; each with GFLOPS and the weight bytes streamed per second (weight_gbps, bytes
// of W as stored divided by the time of one call).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "quant/blocks.hpp"
#include "quant/gemm.hpp"
#include "quant/gemm_float.hpp"
#include "quant/gemm_lowbit.hpp"
#include "quant/half.hpp"

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

nlohmann::json lowbit_entry(const char* kind, int M, int N, int K, double weight_bytes, const std::vector<double>& gflops) {
    const double ops = 2.0 * M * N * K;
    std::vector<double> gbps;
    for (double g : gflops) gbps.push_back(g * 1e9 / ops * weight_bytes / 1e9);
    return {{"kind", kind},           {"M", M},
            {"N", N},                 {"K", K},
            {"weight_bytes", weight_bytes}, {"gflops_median", median(gflops)},
            {"gflops_runs", gflops},  {"weight_gbps_median", median(gbps)}};
}

// The LLM weight paths, on the ISA under test (lowbit formats run AVX2 kernels under avx512vnni).
nlohmann::json lowbit_section(Isa isa, int runs, double min_s) {
    nlohmann::json out = nlohmann::json::array();
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int N = 4096, K = 4096;
    std::vector<float> Wf(size_t(N) * size_t(K));
    for (auto& w : Wf) w = 0.02f * nd(rng);
    std::vector<BlockQ4_0> q4;
    std::vector<BlockQ8_0> q8;
    for (int n = 0; n < N; ++n) {
        const auto r4 = quantize_q4_0(Wf.data() + size_t(n) * K, size_t(K));
        const auto r8 = quantize_q8_0(Wf.data() + size_t(n) * K, size_t(K));
        q4.insert(q4.end(), r4.begin(), r4.end());
        q8.insert(q8.end(), r8.begin(), r8.end());
    }
    const GroupedWeights g4 = quantize_grouped(Wf.data(), size_t(N), size_t(K), GroupedFormat{4, 32, false});
    std::vector<float> X(size_t(16) * K), Y(size_t(16) * N);
    for (auto& x : X) x = nd(rng);
    const double q4_bytes = double(q4.size() * sizeof(BlockQ4_0)), q8_bytes = double(q8.size() * sizeof(BlockQ8_0));
    const double g4_bytes = double(g4.data.size() + 2 * g4.scales.size());
    const double ops1 = 2.0 * N * K;
    out.push_back(lowbit_entry("q4_0_f32", 1, N, K, q4_bytes, time_runs([&] {
        gemm_q4_0(X.data(), 1, K, K, q4.data(), N, Y.data(), N, isa); }, ops1, runs, min_s)));
    out.push_back(lowbit_entry("q4_0_q8_0_int", 1, N, K, q4_bytes, time_runs([&] {
        gemm_q4_0_q8_0(X.data(), 1, K, K, q4.data(), N, Y.data(), N, isa); }, ops1, runs, min_s)));
    out.push_back(lowbit_entry("grouped4_g32_f32", 1, N, K, g4_bytes, time_runs([&] {
        gemm_grouped(X.data(), 1, K, g4, Y.data(), N, isa); }, ops1, runs, min_s)));
    out.push_back(lowbit_entry("q8_0_f32", 1, N, K, q8_bytes, time_runs([&] {
        gemm_q8_0(X.data(), 1, K, K, q8.data(), N, Y.data(), N, isa); }, ops1, runs, min_s)));
    out.push_back(lowbit_entry("q4_0_f32", 16, N, K, q4_bytes, time_runs([&] {
        gemm_q4_0(X.data(), 16, K, K, q4.data(), N, Y.data(), N, isa); }, 16 * ops1, runs, min_s)));
    const int fm = 32, fn = 2048, fk = 2048;
    std::vector<float> af(size_t(fm) * fk), bf(size_t(fk) * fn);
    for (auto& a : af) a = nd(rng);
    for (auto& b : bf) b = 0.02f * nd(rng);
    std::vector<float> C(size_t(fm) * fn);
    for (Half16 type : {Half16::fp16, Half16::bf16}) {
        const auto A = type == Half16::fp16 ? to_half(af) : to_bf16(af);
        const auto B = type == Half16::fp16 ? to_half(bf) : to_bf16(bf);
        out.push_back(lowbit_entry(type == Half16::fp16 ? "fp16_gemm" : "bf16_gemm", fm, fn, fk, 2.0 * fk * fn,
                                   time_runs([&] { gemm_f16(type, A.data(), fm, fk, fk, B.data(), fn, fn, C.data(), fn, isa); },
                                             2.0 * fm * fn * fk, runs, min_s)));
    }
    return out;
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
    doc["lowbit"] = lowbit_section(isa, runs, min_s);
#if defined(__x86_64__)
    bool vnni = false;
    for (Isa c : available_isas()) vnni |= c == Isa::avx512vnni;
    if (vnni) doc["peak_gops"] = measure_vnni_peak_gops(runs, min_s);
#endif
    std::printf("%s\n", doc.dump(2).c_str());
    return 0;
}
