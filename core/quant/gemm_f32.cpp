#include "quant/gemm_f32.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/gemm_f32_kernels.hpp"

namespace stacklab::quant {
namespace {

// Sizes, leading dimensions and pointers of C = A x B (fn names the caller in the message). C's rows
// hold c_cols values: N, or N / 2 for a pooled product.
void check(const char* fn, const float* A, size_t lda, const float* B, size_t ldb, const float* C, size_t ldc, int M,
           int N, int K, int c_cols) {
    if (M < 0 || N < 0 || K < 0)
        throw std::invalid_argument(std::string(fn) + ": negative size M " + std::to_string(M) + ", N " +
                                    std::to_string(N) + ", K " + std::to_string(K));
    if (lda < size_t(K) || ldb < size_t(N) || ldc < size_t(c_cols))
        throw std::invalid_argument(std::string(fn) + ": a leading dimension is shorter than its row (lda " +
                                    std::to_string(lda) + ", ldb " + std::to_string(ldb) + ", ldc " +
                                    std::to_string(ldc) + " for K " + std::to_string(K) + ", N " + std::to_string(N) + ")");
    if (M > 0 && N > 0 && (!C || (K > 0 && (!A || !B)))) throw std::invalid_argument(std::string(fn) + ": null matrix");
}
void check(const char* fn, const float* A, size_t lda, const float* B, size_t ldb, const float* C, size_t ldc, int M,
           int N, int K) {
    check(fn, A, lda, B, ldb, C, ldc, M, N, K, N);
}

// The scalar loop on a sub-block: rows [m0, m1) x columns [n0, n1), B's row k at row_of(k).
template <class RowOf>
void block_loop(const float* A, size_t lda, RowOf row_of, float* C, size_t ldc, int m0, int m1, int n0, int n1, int K) {
    for (int m = m0; m < m1; ++m) {
        float* c = C + size_t(m) * ldc;
        const float* a = A + size_t(m) * lda;
        for (int k = 0; k < K; ++k) {
            const float av = a[k];
            const float* b = row_of(k);
            for (int n = n0; n < n1; ++n) c[n] += av * b[n];
        }
    }
}

// ONNX Relu (x < 0 ? 0 : x, NaN kept) over rows [0, M) x columns [0, N) of C: the scalar paths'
// fused ReLU.
void relu_block(float* C, size_t ldc, int M, int N) {
    for (int m = 0; m < M; ++m)
        for (float* c = C + size_t(m) * ldc; c != C + size_t(m) * ldc + size_t(N); ++c) *c = *c < 0.0f ? 0.0f : *c;
}

void require_isa(const char* fn, Isa isa) {
    if (!isa_available(isa))
        throw std::invalid_argument(std::string(fn) + ": isa " + isa_name(isa) +
                                    " is not available in this build or on this machine");
}

// gemm_f32_acc_offsets and gemm_f32_offsets_max_pool2: the product's checks, the group count, the
// offsets, the ISA.
void check_offsets(const char* fn, const float* A, size_t lda, const float* B, const size_t* b_offsets, const float* C,
                   size_t ldc, int M, int N, int K, int c_cols, int groups, Isa isa) {
    check(fn, A, lda, B, size_t(N), C, ldc, M, N, K, c_cols);
    if (groups < 0) throw std::invalid_argument(std::string(fn) + ": negative group count " + std::to_string(groups));
    if (M > 0 && N > 0 && K > 0 && !b_offsets) throw std::invalid_argument(std::string(fn) + ": null offsets");
    require_isa(fn, isa);
}

// max_pool2d's step: v replaces the best so far only if greater (a NaN best stays, a later NaN is
// skipped, -0 / +0 ties keep the earlier tap).
float later_if_greater(float best, float v) { return v > best ? v : best; }

void block_ref(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int m0, int m1, int n0,
               int n1, int K) {
    block_loop(A, lda, [=](int k) { return B + size_t(k) * ldb; }, C, ldc, m0, m1, n0, n1, K);
}

// Column strips of `cols` (B's strip stays in cache across the row tiles), row tiles of `rows`.
template <class Tile>
void tiled(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N, int K, int rows,
           int cols, Tile tile) {
    const int full = N - N % cols;
    for (int n0 = 0; n0 < full; n0 += cols)
        for (int m0 = 0; m0 < M; m0 += rows)
            tile(std::min(rows, M - m0), A + size_t(m0) * lda, lda, B + n0, ldb, C + size_t(m0) * ldc + n0, ldc, K);
    if (full < N) block_ref(A, lda, B, ldb, C, ldc, 0, M, full, N, K);
}

}  // namespace

bool gemm_f32_any_width(Isa isa) { return isa == Isa::avx512vnni; }

bool gemm_f32_pooled_tiled(Isa isa) { return isa == Isa::avx512vnni || isa == Isa::wasm_simd128; }

void gemm_f32_out(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N, int K,
                  const float* col_add, bool relu, Isa isa) {
    check("gemm_f32_out", A, lda, B, ldb, C, ldc, M, N, K);
    require_isa("gemm_f32_out", isa);
    if (M == 0 || N == 0) return;
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::avx512vnni && K > 0) return detail::f32_gemm_out_avx512(A, lda, B, ldb, C, ldc, M, N, K, col_add, relu);
#endif
    for (int m = 0; m < M; ++m) std::fill_n(C + size_t(m) * ldc, N, 0.0f);
    gemm_f32_acc(A, lda, B, ldb, C, ldc, M, N, K, isa);
    if (col_add)
        for (int m = 0; m < M; ++m)
            for (int n = 0; n < N; ++n) C[size_t(m) * ldc + size_t(n)] += col_add[n];
    if (relu) relu_block(C, ldc, M, N);
}

void gemm_f32_acc_offsets(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* C, size_t ldc,
                          int M, int N, int K, const OffsetsGemm& o, Isa isa) {
    check_offsets("gemm_f32_acc_offsets", A, lda, B, b_offsets, C, ldc, M, N, K, N, o.groups, isa);
    if (M == 0 || N == 0 || o.groups == 0) return;
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::avx512vnni && K > 0)
        return detail::f32_gemm_offsets_avx512(A, lda, B, b_offsets, C, ldc, M, N, K, o.groups, o.b_group_step,
                                               o.c_group_step, o.row_init, o.relu);
#endif
    for (int q = 0; q < o.groups; ++q) {
        const float* Bq = B + size_t(q) * o.b_group_step;
        float* Cq = C + size_t(q) * o.c_group_step;
        if (o.row_init)
            for (int m = 0; m < M; ++m) std::fill_n(Cq + size_t(m) * ldc, N, o.row_init[m]);
        block_loop(A, lda, [=](int k) { return Bq + b_offsets[k]; }, Cq, ldc, 0, M, 0, N, K);
        if (o.relu) relu_block(Cq, ldc, M, N);
    }
}

void gemm_f32_offsets_max_pool2(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* Y,
                                size_t ldy, size_t y_group_step, int M, int N, int K, const OffsetsGemm& o, Isa isa) {
    check_offsets("gemm_f32_offsets_max_pool2", A, lda, B, b_offsets, Y, ldy, M, N, K, N / 2, o.groups, isa);
    const int pairs = o.groups / 2, out_w = N / 2;
    if (M == 0 || out_w == 0 || pairs == 0) return;
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::avx512vnni && K > 0)
        return detail::f32_gemm_offsets_max_pool2_avx512(A, lda, B, b_offsets, Y, ldy, M, N, K, pairs, o.b_group_step,
                                                        y_group_step, o.row_init, o.relu);
#endif
    int n0 = 0;  // columns [0, n0) done by a SIMD tile (even), the rest by the scalar loop
#if defined(__wasm_simd128__)
    if (isa == Isa::wasm_simd128 && K > 0)
        n0 = detail::f32_offsets_pool2_wasm(A, lda, B, b_offsets, Y, ldy, M, N, K, pairs, o.b_group_step, y_group_step,
                                            o.row_init, o.relu);
#endif
    if (n0 / 2 == out_w) return;
    // Products 2p and 2p + 1 into a scratch (rows m of product q at (2m + q) * N), then the pool.
    std::vector<float> two(size_t(2) * size_t(M) * size_t(N));
    for (int p = 0; p < pairs; ++p) {
        for (int q = 0; q < 2; ++q) {
            float* c = two.data() + size_t(q) * size_t(N);
            for (int m = 0; m < M; ++m)
                std::fill_n(c + size_t(m) * 2 * size_t(N) + n0, N - n0, o.row_init ? o.row_init[m] : 0.0f);
            const float* Bq = B + size_t(2 * p + q) * o.b_group_step;
            block_loop(A, lda, [=](int k) { return Bq + b_offsets[k]; }, c, 2 * size_t(N), 0, M, n0, N, K);
            if (o.relu) relu_block(c + n0, 2 * size_t(N), M, N - n0);
        }
        for (int m = 0; m < M; ++m) {
            const float* r0 = two.data() + size_t(m) * 2 * size_t(N);
            const float* r1 = r0 + N;
            float* y = Y + size_t(p) * y_group_step + size_t(m) * ldy;
            for (int j = n0 / 2; j < out_w; ++j) {
                float best = r0[2 * j];
                for (const float v : {r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]}) best = later_if_greater(best, v);
                y[j] = best;
            }
        }
    }
}

namespace {

void check_gather_a(const char* fn, const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B,
                    size_t ldb, const float* C, size_t ldc, int M, int N, int K, Isa isa) {
    if (M < 0 || N < 0 || K < 0)
        throw std::invalid_argument(std::string(fn) + ": negative size M " + std::to_string(M) + ", N " + std::to_string(N) +
                                    ", K " + std::to_string(K));
    if (ldb < size_t(N) || ldc < size_t(N))
        throw std::invalid_argument(std::string(fn) + ": a leading dimension is shorter than N");
    if (M > 0 && N > 0 && (!C || (K > 0 && (!X || !a_rows || !a_offsets || !B))))
        throw std::invalid_argument(std::string(fn) + ": null matrix or offsets");
    require_isa(fn, isa);
}

// Rows [m0, m1) of the gathered product into C's rows from 0 (from col_init, or accumulated).
void gather_a_loop(const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B, size_t ldb, float* C,
                   size_t ldc, int m0, int m1, int N, int K, const float* col_init) {
    for (int m = m0; m < m1; ++m) {
        float* c = C + size_t(m - m0) * ldc;
        if (col_init) std::copy_n(col_init, N, c);
        const float* x = X + a_rows[m];
        for (int k = 0; k < K; ++k) {
            const float av = x[a_offsets[k]];
            const float* b = B + size_t(k) * ldb;
            for (int n = 0; n < N; ++n) c[n] += av * b[n];
        }
    }
}

}  // namespace

void gemm_f32_gather_a(const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B, size_t ldb, float* C,
                       size_t ldc, int M, int N, int K, const float* col_init, bool relu, Isa isa) {
    check_gather_a("gemm_f32_gather_a", X, a_rows, a_offsets, B, ldb, C, ldc, M, N, K, isa);
    if (M == 0 || N == 0) return;
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::avx512vnni && K > 0)
        return detail::f32_gemm_gather_a_avx512(X, a_rows, a_offsets, B, ldb, C, ldc, M, N, K, col_init, relu, false);
#endif
    gather_a_loop(X, a_rows, a_offsets, B, ldb, C, ldc, 0, M, N, K, col_init);
    if (relu) relu_block(C, ldc, M, N);
}

void gemm_f32_gather_a_max_pool4(const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B, size_t ldb,
                                 float* C, size_t ldc, int M, int N, int K, const float* col_init, bool relu, Isa isa) {
    check_gather_a("gemm_f32_gather_a_max_pool4", X, a_rows, a_offsets, B, ldb, C, ldc, M, N, K, isa);
    if (M % 4 != 0)
        throw std::invalid_argument("gemm_f32_gather_a_max_pool4: M " + std::to_string(M) +
                                    " is not a multiple of 4 (rows in fours are a pool window's taps)");
    if (M == 0 || N == 0) return;
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::avx512vnni && K > 0)
        return detail::f32_gemm_gather_a_avx512(X, a_rows, a_offsets, B, ldb, C, ldc, M, N, K, col_init, relu, true);
#endif
    int n0 = 0;  // columns [0, n0) done by a SIMD tile, the rest by the scalar loop
#if defined(__wasm_simd128__)
    if (isa == Isa::wasm_simd128)
        n0 = detail::f32_gather_a_pool4_wasm(X, a_rows, a_offsets, B, ldb, C, ldc, M, N, K, col_init, relu);
#endif
    if (n0 == N) return;
    const int cols = N - n0;
    std::vector<float> four(size_t(4) * size_t(cols));
    for (int w = 0; w < M / 4; ++w) {
        if (!col_init) std::fill(four.begin(), four.end(), 0.0f);
        gather_a_loop(X, a_rows, a_offsets, B + n0, ldb, four.data(), size_t(cols), 4 * w, 4 * w + 4, cols, K,
                      col_init ? col_init + n0 : nullptr);
        if (relu) relu_block(four.data(), size_t(cols), 4, cols);
        float* c = C + size_t(w) * ldc + n0;
        for (int n = 0; n < cols; ++n) {
            float best = four[size_t(n)];
            for (int j = 1; j < 4; ++j) best = later_if_greater(best, four[size_t(j) * size_t(cols) + size_t(n)]);
            c[n] = best;
        }
    }
}

void gemm_f32_acc_ref(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N,
                      int K) {
    check("gemm_f32_acc_ref", A, lda, B, ldb, C, ldc, M, N, K);
    block_ref(A, lda, B, ldb, C, ldc, 0, M, 0, N, K);
}

void gemm_f32_acc(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N, int K,
                  Isa isa) {
    check("gemm_f32_acc", A, lda, B, ldb, C, ldc, M, N, K);
    require_isa("gemm_f32_acc", isa);
    if (M == 0 || N == 0 || K == 0) return;
    switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
        case Isa::avx2:
            return tiled(A, lda, B, ldb, C, ldc, M, N, K, detail::kF32TileRowsAvx2, detail::kF32TileColsAvx2,
                         detail::f32_tile_avx2);
        case Isa::avx512vnni:  // strips of 32 columns, the last one masked: no scalar edge
            return detail::f32_gemm_avx512(A, lda, B, ldb, C, ldc, M, N, K);
#endif
#if defined(__wasm_simd128__)
        case Isa::wasm_simd128:
            return tiled(A, lda, B, ldb, C, ldc, M, N, K, detail::kF32TileRowsWasm, detail::kF32TileColsWasm,
                         detail::f32_tile_wasm);
#endif
        default:
            return block_ref(A, lda, B, ldb, C, ldc, 0, M, 0, N, K);
    }
}

}  // namespace stacklab::quant
