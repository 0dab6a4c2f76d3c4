// AVX-512 tile of gemm_f32.hpp: up to 8 rows x 32 columns in 16 accumulators, k in order, vmulps
// then vaddps (this file is built with -ffp-contract=off so they are never fused). Each lane is one
// output column, so every value is rounded exactly as in the scalar loop, and the AVX2 and
// SIMD128 tiles give the same bits. A strip narrower than 32 columns (N's last) runs with masked
// loads and stores: no scalar edge, and nothing past column N is read into a sum or written.
// The row and vector loops are unrolled by pragma: left to itself g++ kept the accumulator array in
// memory, a store per update (half the speed). The same tile reads B's rows at a fixed stride or at a table of offsets (gemm_f32_acc_offsets).
// On Zen 5 the FP pipes are 512 bits wide (two multiply, two add), so this tile does twice the
// AVX2 tile's work per cycle; on Zen 4 (double-pumped 256-bit pipes) it is no slower.
#include <immintrin.h>

#include "quant/gemm_f32_kernels.hpp"

namespace stacklab::quant::detail {
namespace {

// Where B's row k starts: a fixed stride (a matrix) or a table of offsets (an implicit im2col).
struct Strided {
    const float* B;
    size_t ldb;
    const float* operator()(int k) const { return B + size_t(k) * ldb; }
};
struct Offsets {
    const float* B;
    const size_t* off;
    const float* operator()(int k) const { return B + off[k]; }
};

template <int MR, int NV, bool Masked, class Rows>
void tile(const float* A, size_t lda, Rows rows_of_b, float* C, size_t ldc, int K, __mmask16 m0, __mmask16 m1) {
    const __mmask16 mask[2] = {m0, m1};
    __m512 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v)
            acc[r][v] = Masked ? _mm512_maskz_loadu_ps(mask[v], C + size_t(r) * ldc + 16 * v)
                               : _mm512_loadu_ps(C + size_t(r) * ldc + 16 * v);
    for (int k = 0; k < K; ++k) {
        const float* b = rows_of_b(k);
        __m512 bv[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) bv[v] = Masked ? _mm512_maskz_loadu_ps(mask[v], b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(A[size_t(r) * lda + size_t(k)]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_mul_ps(a, bv[v]));
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
            if (Masked)
                _mm512_mask_storeu_ps(C + size_t(r) * ldc + 16 * v, mask[v], acc[r][v]);
            else
                _mm512_storeu_ps(C + size_t(r) * ldc + 16 * v, acc[r][v]);
        }
}

template <class Rows>
using TileFn = void (*)(const float*, size_t, Rows, float*, size_t, int, __mmask16, __mmask16);

template <int MR, class Rows>
constexpr TileFn<Rows> pick(int nv, bool masked) {
    return nv == 2 ? (masked ? tile<MR, 2, true, Rows> : tile<MR, 2, false, Rows>)
                   : (masked ? tile<MR, 1, true, Rows> : tile<MR, 1, false, Rows>);
}

template <class Rows>
void run_tile(int rows, int cols, const float* A, size_t lda, Rows b, float* C, size_t ldc, int K) {
    const int nv = cols > 16 ? 2 : 1;
    const bool masked = cols != 16 * nv;
    const __mmask16 m0 = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1u);
    const __mmask16 m1 = cols >= 32 ? __mmask16(0xFFFF) : cols > 16 ? __mmask16((1u << (cols - 16)) - 1u) : __mmask16(0);
    TileFn<Rows> fn;
    switch (rows) {
        case 8: fn = pick<8, Rows>(nv, masked); break;
        case 7: fn = pick<7, Rows>(nv, masked); break;
        case 6: fn = pick<6, Rows>(nv, masked); break;
        case 5: fn = pick<5, Rows>(nv, masked); break;
        case 4: fn = pick<4, Rows>(nv, masked); break;
        case 3: fn = pick<3, Rows>(nv, masked); break;
        case 2: fn = pick<2, Rows>(nv, masked); break;
        default: fn = pick<1, Rows>(nv, masked); break;
    }
    fn(A, lda, b, C, ldc, K, m0, m1);
}

}  // namespace

void f32_tile_avx512(int rows, int cols, const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc,
                     int K) {
    run_tile(rows, cols, A, lda, Strided{B, ldb}, C, ldc, K);
}

void f32_tile_avx512_offsets(int rows, int cols, const float* A, size_t lda, const float* B, const size_t* b_offsets,
                             float* C, size_t ldc, int K) {
    run_tile(rows, cols, A, lda, Offsets{B, b_offsets}, C, ldc, K);
}

}  // namespace stacklab::quant::detail
