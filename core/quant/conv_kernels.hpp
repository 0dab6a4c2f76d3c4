// Private to core/quant: the inner loop of conv.cpp's direct_plane algorithm, compiled once per
// instruction set (conv.cpp for the build's baseline: SSE2 natively, SIMD128 in wasm;
// conv_avx2_x86.cpp; conv_avx512_x86.cpp) from this one body. Exact integer arithmetic: every
// instruction set gives the same sums.
#pragma once

#include <cstddef>
#include <cstdint>

namespace stacklab::quant::detail {

// acc[p] += w[0] * x[0][p] + w[1] * x[1][p] + w[2] * x[2][p] + w[3] * x[3][p] for p < n: four
// kernel taps of one output channel over a run of output positions (int16 x int16 -> int32 products,
// which compilers turn into the 16-bit multiplies of each instruction set).
inline void direct_taps4_body(int32_t* acc, const int16_t* const* x, const int16_t* w, size_t n) {
    const int16_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
    const int16_t *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    for (size_t p = 0; p < n; ++p)
        acc[p] += int32_t(w0) * int32_t(x0[p]) + int32_t(w1) * int32_t(x1[p]) + int32_t(w2) * int32_t(x2[p]) +
                  int32_t(w3) * int32_t(x3[p]);
}

void direct_taps4_baseline(int32_t* acc, const int16_t* const* x, const int16_t* w, size_t n);
#if defined(__x86_64__) || defined(_M_X64)
void direct_taps4_avx2(int32_t* acc, const int16_t* const* x, const int16_t* w, size_t n);
void direct_taps4_avx512(int32_t* acc, const int16_t* const* x, const int16_t* w, size_t n);
#endif

}  // namespace stacklab::quant::detail
