// AVX2 tile of gemm_f32.hpp: up to 6 rows x 16 columns in 12 accumulators, k in order, vmulps then
// vaddps (this file is built with -ffp-contract=off so they are never fused). The row loops are
// unrolled by pragma: left to itself g++ kept the accumulator array in memory, a store per update.
#include <immintrin.h>

#include "quant/gemm_f32_kernels.hpp"

namespace stacklab::quant::detail {
namespace {

template <int MR>
void tile(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int K) {
    __m256 acc[MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        acc[r][0] = _mm256_loadu_ps(C + size_t(r) * ldc);
        acc[r][1] = _mm256_loadu_ps(C + size_t(r) * ldc + 8);
    }
    for (int k = 0; k < K; ++k) {
        const float* b = B + size_t(k) * ldb;
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const __m256 a = _mm256_broadcast_ss(A + size_t(r) * lda + size_t(k));
            acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_mul_ps(a, b0));
            acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_mul_ps(a, b1));
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        _mm256_storeu_ps(C + size_t(r) * ldc, acc[r][0]);
        _mm256_storeu_ps(C + size_t(r) * ldc + 8, acc[r][1]);
    }
}

}  // namespace

void f32_tile_avx2(int rows, const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int K) {
    switch (rows) {
        case 6: return tile<6>(A, lda, B, ldb, C, ldc, K);
        case 5: return tile<5>(A, lda, B, ldb, C, ldc, K);
        case 4: return tile<4>(A, lda, B, ldb, C, ldc, K);
        case 3: return tile<3>(A, lda, B, ldb, C, ldc, K);
        case 2: return tile<2>(A, lda, B, ldb, C, ldc, K);
        default: return tile<1>(A, lda, B, ldb, C, ldc, K);
    }
}

}  // namespace stacklab::quant::detail
