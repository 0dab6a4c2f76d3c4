// conv_kernels.hpp's direct_plane pairs in WebAssembly SIMD128: as conv_avx512_x86.cpp's with
// i32x4.dot_i16x8_s (pmaddwd) on 8 positions per register, four sums per block of 16 positions.
#include <wasm_simd128.h>

#include "quant/conv_kernels.hpp"

namespace stacklab::quant::detail {

void direct_pairs_wasm(int32_t* acc, const int16_t* x, const size_t* off, const int32_t* w, size_t pairs, size_t n) {
    for (size_t p = 0; p < n; p += 16) {
        v128_t e0 = wasm_i32x4_splat(0), o0 = e0, e1 = e0, o1 = e0;
        for (size_t t = 0; t < pairs; ++t) {
            const int16_t* xp = x + off[t] + p;
            const v128_t wt = wasm_i32x4_splat(w[t]);
            e0 = wasm_i32x4_add(e0, wasm_i32x4_dot_i16x8(wasm_v128_load(xp), wt));
            o0 = wasm_i32x4_add(o0, wasm_i32x4_dot_i16x8(wasm_v128_load(xp + 1), wt));
            e1 = wasm_i32x4_add(e1, wasm_i32x4_dot_i16x8(wasm_v128_load(xp + 8), wt));
            o1 = wasm_i32x4_add(o1, wasm_i32x4_dot_i16x8(wasm_v128_load(xp + 9), wt));
        }
        wasm_v128_store(acc + p, wasm_i32x4_shuffle(e0, o0, 0, 4, 1, 5));
        wasm_v128_store(acc + p + 4, wasm_i32x4_shuffle(e0, o0, 2, 6, 3, 7));
        wasm_v128_store(acc + p + 8, wasm_i32x4_shuffle(e1, o1, 0, 4, 1, 5));
        wasm_v128_store(acc + p + 12, wasm_i32x4_shuffle(e1, o1, 2, 6, 3, 7));
    }
}

}  // namespace stacklab::quant::detail
