// WebAssembly SIMD128 tiles of gemm_f32.hpp: up to 4 rows x 8 columns in 8 accumulators, k in order,
// f32x4.mul then f32x4.add (SIMD128 has no fused multiply-add); and the two products pooled as they
// are stored: the gathered-A product (a convolution's four window pixels as the rows) and the row
// group (two output rows of a convolution, their column pairs).
#include <wasm_simd128.h>

#include <algorithm>

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

// gemm_f32_gather_a_max_pool4's tile: the four rows of one pool window (A gathered from X: row r
// is X + rows[r], column k at offsets[k]) x 8 columns, from col_init or +0, ReLU if asked, then
// the window's best in its tap order. pmax(a, b) is a < b ? b : a: pmax(x, 0) is ONNX Relu (NaN
// and -0 kept) and pmax(best, v) is max_pool2d's v > best ? v : best.
template <int NV>
void pool4_tile(const float* X, const size_t* rows, const size_t* off, const float* B, size_t ldb, float* C, int K,
                const float* col_init, bool relu) {
    v128_t acc[4][NV];
    for (int v = 0; v < NV; ++v) {
        const v128_t init = col_init ? wasm_v128_load(col_init + 4 * v) : wasm_f32x4_splat(0.0f);
        for (int r = 0; r < 4; ++r) acc[r][v] = init;
    }
    const float* x[4] = {X + rows[0], X + rows[1], X + rows[2], X + rows[3]};
    for (int k = 0; k < K; ++k) {
        const float* b = B + size_t(k) * ldb;
        v128_t bv[NV];
        for (int v = 0; v < NV; ++v) bv[v] = wasm_v128_load(b + 4 * v);
        const size_t o = off[k];
        for (int r = 0; r < 4; ++r) {
            const v128_t a = wasm_f32x4_splat(x[r][o]);
            for (int v = 0; v < NV; ++v) acc[r][v] = wasm_f32x4_add(acc[r][v], wasm_f32x4_mul(a, bv[v]));
        }
    }
    const v128_t zero = wasm_f32x4_splat(0.0f);
    for (int v = 0; v < NV; ++v) {
        if (relu)
            for (int r = 0; r < 4; ++r) acc[r][v] = wasm_f32x4_pmax(acc[r][v], zero);
        v128_t best = acc[0][v];
        for (int r = 1; r < 4; ++r) best = wasm_f32x4_pmax(best, acc[r][v]);
        wasm_v128_store(C + 4 * v, best);
    }
}

// gemm_f32_offsets_max_pool2's tile: MR rows of A x products 2p and 2p + 1 x 8 columns (two
// vectors; 8 accumulators for MR = 2, V8 having 16 registers on x86), from row_init or +0, ReLU,
// then each pooled value from its taps in max_pool2d's order: product 2p's even columns, its odd
// ones (split by shuffles), then product 2p + 1's.
template <int MR>
void pool2_tile(const float* A, size_t lda, const float* B, const size_t* off, size_t step, float* Y, size_t ldy, int K,
                const float* row_init, bool relu) {
    v128_t acc[MR][2][2];
    for (int r = 0; r < MR; ++r) {
        const v128_t init = wasm_f32x4_splat(row_init ? row_init[r] : 0.0f);
        for (int q = 0; q < 2; ++q) acc[r][q][0] = acc[r][q][1] = init;
    }
    for (int k = 0; k < K; ++k) {
        const float* b = B + off[k];
        v128_t bv[2][2];
        for (int q = 0; q < 2; ++q)
            for (int v = 0; v < 2; ++v) bv[q][v] = wasm_v128_load(b + size_t(q) * step + 4 * size_t(v));
        for (int r = 0; r < MR; ++r) {
            const v128_t a = wasm_f32x4_splat(A[size_t(r) * lda + size_t(k)]);
            for (int q = 0; q < 2; ++q)
                for (int v = 0; v < 2; ++v) acc[r][q][v] = wasm_f32x4_add(acc[r][q][v], wasm_f32x4_mul(a, bv[q][v]));
        }
    }
    const v128_t zero = wasm_f32x4_splat(0.0f);
    for (int r = 0; r < MR; ++r) {
        if (relu)
            for (int q = 0; q < 2; ++q)
                for (int v = 0; v < 2; ++v) acc[r][q][v] = wasm_f32x4_pmax(acc[r][q][v], zero);
        v128_t best = wasm_i32x4_shuffle(acc[r][0][0], acc[r][0][1], 0, 2, 4, 6);
        best = wasm_f32x4_pmax(best, wasm_i32x4_shuffle(acc[r][0][0], acc[r][0][1], 1, 3, 5, 7));
        best = wasm_f32x4_pmax(best, wasm_i32x4_shuffle(acc[r][1][0], acc[r][1][1], 0, 2, 4, 6));
        best = wasm_f32x4_pmax(best, wasm_i32x4_shuffle(acc[r][1][0], acc[r][1][1], 1, 3, 5, 7));
        wasm_v128_store(Y + size_t(r) * ldy, best);
    }
}

}  // namespace

int f32_offsets_pool2_wasm(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* Y, size_t ldy,
                           int M, int N, int K, int pairs, size_t b_group_step, size_t y_group_step,
                           const float* row_init, bool relu) {
    // Blocks of 8 columns (4 pooled) over the pooled width's columns; a last partial block is moved
    // back to end there, recomputing a few pooled values (the same bits) instead of reading past
    // the row.
    const int used = N / 2 * 2;
    if (used < 8) return 0;
    for (int p = 0; p < pairs; ++p)
        for (int b0 = 0; b0 < used; b0 += 8) {
            const int n0 = std::min(b0, used - 8);
            for (int m0 = 0; m0 < M; m0 += 2) {
                const float* b = B + size_t(2 * p) * b_group_step + size_t(n0);
                float* y = Y + size_t(p) * y_group_step + size_t(m0) * ldy + size_t(n0 / 2);
                const float* init = row_init ? row_init + m0 : nullptr;
                if (M - m0 >= 2)
                    pool2_tile<2>(A + size_t(m0) * lda, lda, b, b_offsets, b_group_step, y, ldy, K, init, relu);
                else
                    pool2_tile<1>(A + size_t(m0) * lda, lda, b, b_offsets, b_group_step, y, ldy, K, init, relu);
            }
        }
    return used;
}

int f32_gather_a_pool4_wasm(const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B, size_t ldb,
                            float* C, size_t ldc, int M, int N, int K, const float* col_init, bool relu) {
    // Columns in blocks of 8, then of 4, the last one moved back to end at N (recomputing a few
    // columns: the same bits).
    if (N < 4) return 0;
    for (int w = 0; w < M / 4; ++w) {
        const size_t* rows = a_rows + 4 * size_t(w);
        float* c = C + size_t(w) * ldc;
        int n0 = 0;
        for (; n0 + 8 <= N; n0 += 8)
            pool4_tile<2>(X, rows, a_offsets, B + n0, ldb, c + n0, K, col_init ? col_init + n0 : nullptr, relu);
        for (; n0 < N; n0 += 4) {
            const int at = std::min(n0, N - 4);
            pool4_tile<1>(X, rows, a_offsets, B + at, ldb, c + at, K, col_init ? col_init + at : nullptr, relu);
        }
    }
    return N;
}

void f32_tile_wasm(int rows, const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int K) {
    switch (rows) {
        case 4: return tile<4>(A, lda, B, ldb, C, ldc, K);
        case 3: return tile<3>(A, lda, B, ldb, C, ldc, K);
        case 2: return tile<2>(A, lda, B, ldb, C, ldc, K);
        default: return tile<1>(A, lda, B, ldb, C, ldc, K);
    }
}

}  // namespace stacklab::quant::detail
