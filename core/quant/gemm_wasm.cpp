// WebAssembly SIMD128 kernel. Emscripten 3.1.6 has no relaxed-SIMD dot product, so B's int8 pairs
// are sign-extended to int16 and A's uint8 pairs zero-extended, and i32x4.dot_i16x8_s forms
// a*b0 + a'*b1 per int32 lane exactly.
// Register block: up to 4 rows x 8 columns (two i32x4 per row) = 8 accumulators.
#include <wasm_simd128.h>

#include <cstring>
#include <vector>

#include "quant/gemm_kernels.hpp"

namespace stacklab::quant::detail {
namespace {

template <int MR>
void block(const uint16_t* A, size_t lda, const int8_t* b0, int k2, int32_t* C, int ldc, int n_valid) {
    v128_t lo[MR], hi[MR];
    for (int r = 0; r < MR; ++r) lo[r] = hi[r] = wasm_i32x4_splat(0);
    for (int kp = 0; kp < k2; ++kp) {
        const v128_t b = wasm_v128_load(b0 + size_t(kp) * 16);
        const v128_t b_lo = wasm_i16x8_extend_low_i8x16(b);   // columns 0-3, k and k+1
        const v128_t b_hi = wasm_i16x8_extend_high_i8x16(b);  // columns 4-7
        for (int r = 0; r < MR; ++r) {
            const v128_t a = wasm_v128_load32_splat(A + size_t(r) * lda + 2 * size_t(kp));
            lo[r] = wasm_i32x4_add(lo[r], wasm_i32x4_dot_i16x8(a, b_lo));
            hi[r] = wasm_i32x4_add(hi[r], wasm_i32x4_dot_i16x8(a, b_hi));
        }
    }
    for (int r = 0; r < MR; ++r) {
        int32_t* c = C + size_t(r) * size_t(ldc);
        if (n_valid >= kPairPanel) {
            wasm_v128_store(c, lo[r]);
            wasm_v128_store(c + 4, hi[r]);
        } else {
            int32_t tmp[kPairPanel];
            wasm_v128_store(tmp, lo[r]);
            wasm_v128_store(tmp + 4, hi[r]);
            std::memcpy(c, tmp, sizeof(int32_t) * size_t(n_valid));
        }
    }
}

}  // namespace

void raw_gemm_wasm_simd128(const uint8_t* A, int M, int lda, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc) {
    const int K = B.K, N = B.N;
    const int k2 = (K + 1) / 2;
    const int panels = (N + kPairPanel - 1) / kPairPanel;
    const size_t panel_stride = size_t(k2) * 16;
    // A widened to uint16 once (sign flip applied, K padded to even with zeros): every panel then
    // broadcasts a k pair with one v128.load32_splat instead of assembling it from bytes.
    const size_t wide_ld = 2 * size_t(k2);
    std::vector<uint16_t> wide(size_t(M) * wide_ld, 0);
    for (int m = 0; m < M; ++m)
        for (int k = 0; k < K; ++k) wide[size_t(m) * wide_ld + size_t(k)] = uint8_t(A[size_t(m) * size_t(lda) + size_t(k)] ^ a_xor);
    for (int p = 0; p < panels; ++p) {
        const int8_t* b0 = B.data.data() + size_t(p) * panel_stride;
        const int n_valid = N - p * kPairPanel;
        for (int m = 0; m < M; m += 4) {
            const int mr = M - m < 4 ? M - m : 4;
            const uint16_t* a = wide.data() + size_t(m) * wide_ld;
            int32_t* c = C + size_t(m) * size_t(ldc) + size_t(p) * kPairPanel;
            switch (mr) {
                case 1: block<1>(a, wide_ld, b0, k2, c, ldc, n_valid); break;
                case 2: block<2>(a, wide_ld, b0, k2, c, ldc, n_valid); break;
                case 3: block<3>(a, wide_ld, b0, k2, c, ldc, n_valid); break;
                default: block<4>(a, wide_ld, b0, k2, c, ldc, n_valid); break;
            }
        }
    }
}

}  // namespace stacklab::quant::detail
