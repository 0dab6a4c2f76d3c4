// Private to core/quant: the inner loop of conv.cpp's direct_plane algorithm, once per instruction
// set: the portable body here (the scalar ISA), conv_avx2_x86.cpp, conv_avx512_x86.cpp and
// conv_wasm.cpp. Exact integer arithmetic: every instruction set gives the same sums.
#pragma once

#include <cstddef>
#include <cstdint>

namespace stacklab::quant::detail {

// Tap pairs: pair t stands for two kernel taps of one output channel, at input offsets off[t] and
// off[t] + 1 (horizontal neighbours; a tap without one gets weight 0 for the second), with weights
// packed as w[t] = uint16(w_first) | uint16(w_second) << 16 (the 16-bit pairs of pmaddwd /
// i32x4.dot_i16x8_s). One output channel's accumulators over a run of n output positions:
//   acc[p] = sum over t of w_first * x[off[t] + p] + w_second * x[off[t] + p + 1]
// The SIMD forms write whole blocks of up to kDirectRound positions past n and read up to
// kDirectRound + 1 values past the last position's taps: the caller pads x and acc by kDirectPad.
constexpr size_t kDirectRound = 64;
constexpr size_t kDirectPad = 2 * kDirectRound;

inline void direct_pairs_body(int32_t* acc, const int16_t* x, const size_t* off, const int32_t* w, size_t pairs, size_t n) {
    for (size_t p = 0; p < n; ++p) {
        int32_t sum = 0;
        for (size_t t = 0; t < pairs; ++t) {
            const int16_t* xp = x + off[t] + p;
            sum += int32_t(int16_t(w[t] & 0xffff)) * int32_t(xp[0]) + int32_t(int16_t(uint32_t(w[t]) >> 16)) * int32_t(xp[1]);
        }
        acc[p] = sum;
    }
}

#if defined(__x86_64__) || defined(_M_X64)
void direct_pairs_avx2(int32_t* acc, const int16_t* x, const size_t* off, const int32_t* w, size_t pairs, size_t n);
void direct_pairs_avx512(int32_t* acc, const int16_t* x, const size_t* off, const int32_t* w, size_t pairs, size_t n);
#endif
#if defined(__wasm_simd128__)
void direct_pairs_wasm(int32_t* acc, const int16_t* x, const size_t* off, const int32_t* w, size_t pairs, size_t n);
#endif

}  // namespace stacklab::quant::detail
