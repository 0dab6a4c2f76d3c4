// The machine's int8 peak on one core: a loop of independent AVX-512 VNNI vpdpbusd instructions
// (16 lanes x 4 u8*s8 MACs = 128 ops each) with no loads, long enough that the loop overhead is
// negligible. The GEMM's "% of peak" divides by this measured number, not a datasheet figure.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <vector>

// Twelve named accumulators (not an array, which GCC keeps in memory) hide vpdpbusd's latency.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double vnni_loop(long iters) {
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    __m512i c0 = _mm512_set1_epi32(0), c1 = _mm512_set1_epi32(1), c2 = _mm512_set1_epi32(2),
            c3 = _mm512_set1_epi32(3), c4 = _mm512_set1_epi32(4), c5 = _mm512_set1_epi32(5),
            c6 = _mm512_set1_epi32(6), c7 = _mm512_set1_epi32(7), c8 = _mm512_set1_epi32(8),
            c9 = _mm512_set1_epi32(9), c10 = _mm512_set1_epi32(10), c11 = _mm512_set1_epi32(11);
    for (long it = 0; it < iters; ++it) {
        __asm__ volatile("" : "+v"(a), "+v"(b));  // opaque inputs: the loop cannot be folded away
        c0 = _mm512_dpbusd_epi32(c0, a, b);
        c1 = _mm512_dpbusd_epi32(c1, a, b);
        c2 = _mm512_dpbusd_epi32(c2, a, b);
        c3 = _mm512_dpbusd_epi32(c3, a, b);
        c4 = _mm512_dpbusd_epi32(c4, a, b);
        c5 = _mm512_dpbusd_epi32(c5, a, b);
        c6 = _mm512_dpbusd_epi32(c6, a, b);
        c7 = _mm512_dpbusd_epi32(c7, a, b);
        c8 = _mm512_dpbusd_epi32(c8, a, b);
        c9 = _mm512_dpbusd_epi32(c9, a, b);
        c10 = _mm512_dpbusd_epi32(c10, a, b);
        c11 = _mm512_dpbusd_epi32(c11, a, b);
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)));
    alignas(64) int lanes[16];
    _mm512_store_si512(lanes, s);
    double total = 0;
    for (int v : lanes) total += v;
    return total;
}

double measure_vnni_peak_gops(int runs, double min_seconds) {
    using Clock = std::chrono::steady_clock;
    long iters = 1 << 16;
    volatile double sink = 0;
    for (;;) {
        auto t0 = Clock::now();
        sink = sink + vnni_loop(iters);
        if (std::chrono::duration<double>(Clock::now() - t0).count() >= min_seconds) break;
        iters *= 2;
    }
    std::vector<double> gops;
    for (int r = 0; r < runs; ++r) {
        auto t0 = Clock::now();
        sink = sink + vnni_loop(iters);
        double s = std::chrono::duration<double>(Clock::now() - t0).count();
        gops.push_back(double(iters) * 12.0 * 128.0 / s / 1e9);
    }
    std::sort(gops.begin(), gops.end());
    return gops[gops.size() / 2];
}
