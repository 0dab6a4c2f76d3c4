// WebAssembly SIMD128 tile of gemm_f32.hpp: up to 4 rows x 8 columns in 8 accumulators, k in order,
// f32x4.mul then f32x4.add (SIMD128 has no fused multiply-add).
#include <wasm_simd128.h>

#include "quant/gemm_f32_kernels.hpp"

namespace stacklab::quant::detail {
namespace {

template <int MR>
void tile(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int K) {
    v128_t acc[MR][2];
    for (int r = 0; r < MR; ++r) {
        acc[r][0] = wasm_v128_load(C + size_t(r) * ldc);
        acc[r][1] = wasm_v128_load(C + size_t(r) * ldc + 4);
    }
    for (int k = 0; k < K; ++k) {
        const float* b = B + size_t(k) * ldb;
        const v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
        for (int r = 0; r < MR; ++r) {
            const v128_t a = wasm_f32x4_splat(A[size_t(r) * lda + size_t(k)]);
            acc[r][0] = wasm_f32x4_add(acc[r][0], wasm_f32x4_mul(a, b0));
            acc[r][1] = wasm_f32x4_add(acc[r][1], wasm_f32x4_mul(a, b1));
        }
    }
    for (int r = 0; r < MR; ++r) {
        wasm_v128_store(C + size_t(r) * ldc, acc[r][0]);
        wasm_v128_store(C + size_t(r) * ldc + 4, acc[r][1]);
    }
}

}  // namespace

void f32_tile_wasm(int rows, const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int K) {
    switch (rows) {
        case 4: return tile<4>(A, lda, B, ldb, C, ldc, K);
        case 3: return tile<3>(A, lda, B, ldb, C, ldc, K);
        case 2: return tile<2>(A, lda, B, ldb, C, ldc, K);
        default: return tile<1>(A, lda, B, ldb, C, ldc, K);
    }
}

}  // namespace stacklab::quant::detail
