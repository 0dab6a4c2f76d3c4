// AVX-512 tile of gemm_f32.hpp: up to 8 rows x 32 columns in 16 accumulators, k in order, vmulps
// then vaddps (this file is built with -ffp-contract=off so they are never fused). Each lane is one
// output column, so every value is rounded exactly as in the scalar loop, and the AVX2 and
// SIMD128 tiles give the same bits. A strip narrower than 32 columns (N's last) runs with masked
// loads and stores: no scalar edge, and nothing past column N is read into a sum or written.
// The row and vector loops are unrolled by pragma: left to itself g++ kept the accumulator array in
// memory, a store per update (half the speed). The same tile reads B's rows at a fixed stride or at
// a table of offsets (gemm_f32_acc_offsets), and its two vectors can be two columns blocks of one
// GEMM or the same columns of two GEMMs of a row group (two output rows of a narrow convolution:
// 16 accumulators instead of 8, with the same masked lanes).
// Two epilogues pool as they store (a convolution followed by a 2x2 max pool): a tile whose rows
// in fours are one pool window's pixels (pool4), and pool2_tile, which sums two output rows of a
// row group and pools their column pairs by permutes.
// On Zen 5 the FP pipes are 512 bits wide (two multiply, two add), so this tile does twice the
// AVX2 tile's work per cycle; on Zen 4 (double-pumped 256-bit pipes) it is no slower.
#include <immintrin.h>

#include <algorithm>

#include "quant/gemm_f32_kernels.hpp"

namespace stacklab::quant::detail {
namespace {

// Where B's row k starts, and how far vector 1's columns are from vector 0's: a matrix (fixed row
// stride, the next 16 columns) or a table of offsets (an implicit im2col; the next 16 columns, or
// the next GEMM of a row group).
struct Strided {
    const float* B;
    size_t ldb;
    size_t vstep = 16;
    const float* operator()(int k) const { return B + size_t(k) * ldb; }
};
struct Offsets {
    const float* B;
    const size_t* off;
    size_t vstep = 16;
    const float* operator()(int k) const { return B + off[k]; }
};

// Where A's element (r, k) is: row r's start plus a column index, for a matrix (A + r * lda, k) or a
// gathered A (X + rows[r], offsets[k]: each row one output pixel of a convolution, each column
// one kernel tap, read straight from the input).
struct AStrided {
    const float* A;
    size_t lda;
    const float* row(int r) const { return A + size_t(r) * lda; }
    size_t col(int k) const { return size_t(k); }
    AStrided from(int m0) const { return {A + size_t(m0) * lda, lda}; }
};
struct AGathered {
    const float* X;
    const size_t* rows;
    const size_t* off;
    const float* row(int r) const { return X + rows[r]; }
    size_t col(int k) const { return off[k]; }
    AGathered from(int m0) const { return {X, rows + m0, off}; }
};

// What a tile starts from and does before it stores: C itself, row_init[r] (a bias per row) or
// col_init[n] (a bias per column), C not read then; and optionally ReLU (x < 0 ? 0 : x, NaN kept,
// as the executor's Relu).
// zero_init: from +0 (C not read); col_add: + col_add[n] after the sum (a bias added last, as
// MatMul -> Add computes it).
// pool4: rows in fours are the taps of one max-pool window, in the window's order: C's row i is
// the best of rows 4i .. 4i + 3 (after ReLU), each replacing the best only if greater.
struct Ends {
    const float* row_init = nullptr;
    bool relu = false;
    const float* col_init = nullptr;
    bool zero_init = false;
    const float* col_add = nullptr;
    bool pool4 = false;
};

// ONNX Relu: x < 0 ? 0 : x (NaN and -0 kept).
inline __m512 relu_ps(__m512 x) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), x, _mm512_setzero_ps());
}

// max_pool2d's step: v > best ? v : best (vmaxps returns its second operand unless the first is
// greater, so NaN and -0 / +0 ties keep the earlier tap). The zero-masked form with every lane set:
// g++ 12's plain _mm512_max_ps warns about its own undefined pass-through operand.
inline __m512 later_if_greater(__m512 best, __m512 v) { return _mm512_maskz_max_ps(__mmask16(0xFFFF), v, best); }

// C's vector v of row r is at C + r * ldc + v * c_vstep.
template <int MR, int NV, bool Masked, class ARows, class Rows>
void tile(ARows a_of, Rows rows_of_b, float* C, size_t ldc, size_t c_vstep, int K, __mmask16 m0, __mmask16 m1,
          const Ends& ends) {
    const __mmask16 mask[2] = {m0, m1};
    __m512 acc[MR][NV];
    const float* arow[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) arow[r] = a_of.row(r);
    // f(r, v) for every accumulator, fully unrolled (MR and NV are constants).
    auto each = [&](auto f) {
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) f(r, v);
    };
    auto load = [&](const float* p, int v) { return Masked ? _mm512_maskz_loadu_ps(mask[v], p) : _mm512_loadu_ps(p); };
    auto c_at = [&](int r, int v) { return C + size_t(r) * ldc + size_t(v) * c_vstep; };
    // One branch per tile, then straight-line loads (a test per accumulator had g++ spill and
    // branch: some 130 cycles per tile, most of a K = 9 convolution tile's time).
    if (ends.zero_init) {
        each([&](int r, int v) { acc[r][v] = _mm512_setzero_ps(); });
    } else if (ends.row_init) {
        each([&](int r, int v) { acc[r][v] = _mm512_set1_ps(ends.row_init[r]); });
    } else if (ends.col_init) {
        const __m512 init[2] = {load(ends.col_init, 0), NV > 1 ? load(ends.col_init + 16, 1) : _mm512_setzero_ps()};
        each([&](int r, int v) { acc[r][v] = init[v]; });
    } else {
        each([&](int r, int v) { acc[r][v] = load(c_at(r, v), v); });
    }
    for (int k = 0; k < K; ++k) {
        const float* b = rows_of_b(k);
        __m512 bv[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) bv[v] = load(b + size_t(v) * rows_of_b.vstep, v);
        const size_t kk = a_of.col(k);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(arow[r][kk]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_mul_ps(a, bv[v]));
        }
    }
    if (ends.col_add) {
        const __m512 add[2] = {load(ends.col_add, 0), NV > 1 ? load(ends.col_add + 16, 1) : _mm512_setzero_ps()};
        each([&](int r, int v) { acc[r][v] = _mm512_add_ps(acc[r][v], add[v]); });
    }
    if (ends.relu) each([&](int r, int v) { acc[r][v] = relu_ps(acc[r][v]); });
    auto store = [&](float* p, int v, __m512 value) {
        if (Masked)
            _mm512_mask_storeu_ps(p, mask[v], value);
        else
            _mm512_storeu_ps(p, value);
    };
    if constexpr (MR % 4 == 0) {
        if (ends.pool4) {
#pragma GCC unroll 2
            for (int w = 0; w < MR / 4; ++w)
#pragma GCC unroll 2
                for (int v = 0; v < NV; ++v) {
                    __m512 best = acc[4 * w][v];
                    best = later_if_greater(best, acc[4 * w + 1][v]);
                    best = later_if_greater(best, acc[4 * w + 2][v]);
                    best = later_if_greater(best, acc[4 * w + 3][v]);
                    store(c_at(w, v), v, best);
                }
            return;
        }
    }
    each([&](int r, int v) { store(c_at(r, v), v, acc[r][v]); });
}

template <class ARows, class Rows>
using TileFn = void (*)(ARows, Rows, float*, size_t, size_t, int, __mmask16, __mmask16, const Ends&);

template <int MR, class ARows, class Rows>
constexpr TileFn<ARows, Rows> pick(int nv, bool masked) {
    return nv == 2 ? (masked ? tile<MR, 2, true, ARows, Rows> : tile<MR, 2, false, ARows, Rows>)
                   : (masked ? tile<MR, 1, true, ARows, Rows> : tile<MR, 1, false, ARows, Rows>);
}

__mmask16 lanes(int n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u); }

// The tiles for one strip shape (nv vectors, masks k0 / k1) over M rows: full-height tiles and the
// last, shorter one. Chosen once per strip, not per tile: a row group calls them thousands of times
// (a K = 9 convolution spent a quarter of its time choosing).
template <class ARows, class Rows>
struct Tiles {
    TileFn<ARows, Rows> full = nullptr, tail = nullptr;
    __mmask16 k0 = 0, k1 = 0;
};

template <class ARows, class Rows>
Tiles<ARows, Rows> tiles_for(int M, int nv, __mmask16 k0, __mmask16 k1) {
    const bool masked = k0 != 0xFFFF || (nv == 2 && k1 != 0xFFFF);
    Tiles<ARows, Rows> t;
    t.k0 = k0;
    t.k1 = k1;
    t.full = pick<8, ARows, Rows>(nv, masked);
    switch (M % kF32TileRowsAvx512) {
        case 7: t.tail = pick<7, ARows, Rows>(nv, masked); break;
        case 6: t.tail = pick<6, ARows, Rows>(nv, masked); break;
        case 5: t.tail = pick<5, ARows, Rows>(nv, masked); break;
        case 4: t.tail = pick<4, ARows, Rows>(nv, masked); break;
        case 3: t.tail = pick<3, ARows, Rows>(nv, masked); break;
        case 2: t.tail = pick<2, ARows, Rows>(nv, masked); break;
        case 1: t.tail = pick<1, ARows, Rows>(nv, masked); break;
        default: t.tail = t.full; break;
    }
    return t;
}

// Rows 0 .. M-1 in tiles of up to 8.
template <class ARows, class Rows>
void run_rows(const Tiles<ARows, Rows>& t, int M, ARows a, Rows b, float* C, size_t ldc, size_t c_vstep, int K,
              const Ends& ends) {
    for (int m0 = 0; m0 < M; m0 += kF32TileRowsAvx512) {
        Ends e = ends;
        if (e.row_init) e.row_init += m0;
        const size_t c_row = size_t(ends.pool4 ? m0 / 4 : m0);
        (M - m0 >= kF32TileRowsAvx512 ? t.full : t.tail)(a.from(m0), b, C + c_row * ldc, ldc, c_vstep, K, t.k0, t.k1, e);
    }
}

// Strips of 32 columns, the last one masked, each over a group of `groups` products: product q
// reads B q * b_step further and writes C q * c_step further (one product: groups = 1).
template <class ARows, class Rows>
void run_strips(int M, int N, ARows a, Rows b, float* C, size_t ldc, int K, const Ends& ends = {}, int groups = 1,
                size_t b_step = 0, size_t c_step = 0) {
    for (int n0 = 0; n0 < N; n0 += kF32TileColsAvx512) {
        const int cols = std::min(kF32TileColsAvx512, N - n0);
        const Tiles<ARows, Rows> t = tiles_for<ARows, Rows>(M, cols > 16 ? 2 : 1, lanes(cols), lanes(cols - 16));
        Ends e = ends;
        if (e.col_init) e.col_init += n0;
        if (e.col_add) e.col_add += n0;
        for (int q = 0; q < groups; ++q) {
            Rows bs = b;
            bs.B += size_t(n0) + size_t(q) * b_step;
            run_rows(t, M, a, bs, C + size_t(n0) + size_t(q) * c_step, ldc, 16, K, e);
        }
    }
}

// The row group with a 2x2 / stride 2 max pool (gemm_f32_offsets_max_pool2): MR rows of A (a
// convolution's output channels) x products 2p and 2p + 1 (output rows 2p, 2p + 1) x NV vectors of
// columns, summed as the tile above, ReLU, then each pooled value from its four taps in
// max_pool2d's order: product 2p's even column, its odd column, then product 2p + 1's even and odd,
// each replacing the best only if greater. Even and odd columns are split by permutes across the
// strip's two vectors, and only the pooled row is stored: the products never reach memory.
template <int MR, int NV>
void pool2_tile(const float* A, size_t lda, const float* B, const size_t* off, size_t step, float* Y, size_t ldy, int K,
                __mmask16 m0, __mmask16 m1, __mmask16 out_mask, const float* row_init, bool relu) {
    const __mmask16 mask[2] = {m0, m1};
    __m512 acc[MR][2][NV];
    auto each = [&](auto f) {
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
            for (int q = 0; q < 2; ++q)
#pragma GCC unroll 2
                for (int v = 0; v < NV; ++v) f(r, q, v);
    };
    if (row_init)
        each([&](int r, int q, int v) { acc[r][q][v] = _mm512_set1_ps(row_init[r]); });
    else
        each([&](int r, int q, int v) { acc[r][q][v] = _mm512_setzero_ps(); });
    for (int k = 0; k < K; ++k) {
        const float* b = B + off[k];
        __m512 bv[2][NV];
#pragma GCC unroll 2
        for (int q = 0; q < 2; ++q)
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) bv[q][v] = _mm512_maskz_loadu_ps(mask[v], b + size_t(q) * step + size_t(v) * 16);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(A[size_t(r) * lda + size_t(k)]);
#pragma GCC unroll 2
            for (int q = 0; q < 2; ++q)
#pragma GCC unroll 2
                for (int v = 0; v < NV; ++v) acc[r][q][v] = _mm512_add_ps(acc[r][q][v], _mm512_mul_ps(a, bv[q][v]));
        }
    }
    if (relu) each([&](int r, int q, int v) { acc[r][q][v] = relu_ps(acc[r][q][v]); });
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        // Columns 0..31 of product q as two vectors (one strip of 16 or fewer: the second is unused).
        // Indexed with constants only: a lambda taking q made g++ keep every accumulator in memory.
        const __m512 r0_lo = acc[r][0][0], r0_hi = acc[r][0][NV - 1], r1_lo = acc[r][1][0], r1_hi = acc[r][1][NV - 1];
        __m512 best = _mm512_permutex2var_ps(r0_lo, even, r0_hi);
        best = later_if_greater(best, _mm512_permutex2var_ps(r0_lo, odd, r0_hi));
        best = later_if_greater(best, _mm512_permutex2var_ps(r1_lo, even, r1_hi));
        best = later_if_greater(best, _mm512_permutex2var_ps(r1_lo, odd, r1_hi));
        _mm512_mask_storeu_ps(Y + size_t(r) * ldy, out_mask, best);
    }
}

using Pool2Fn = void (*)(const float*, size_t, const float*, const size_t*, size_t, float*, size_t, int, __mmask16,
                         __mmask16, __mmask16, const float*, bool);

// 16 accumulators: 4 rows x 2 products x 2 vectors, or 8 x 2 x 1 for a strip of 16 columns or
// fewer; `rows` below the full height picks the shorter tile for M's last rows.
constexpr int pool2_rows(int nv) { return nv == 2 ? 4 : 8; }

Pool2Fn pool2_pick(int nv, int rows) {
    if (nv == 2) {
        switch (rows) {
            case 3: return pool2_tile<3, 2>;
            case 2: return pool2_tile<2, 2>;
            case 1: return pool2_tile<1, 2>;
            default: return pool2_tile<pool2_rows(2), 2>;
        }
    }
    switch (rows) {
        case 7: return pool2_tile<7, 1>;
        case 6: return pool2_tile<6, 1>;
        case 5: return pool2_tile<5, 1>;
        case 4: return pool2_tile<4, 1>;
        case 3: return pool2_tile<3, 1>;
        case 2: return pool2_tile<2, 1>;
        case 1: return pool2_tile<1, 1>;
        default: return pool2_tile<pool2_rows(1), 1>;
    }
}

}  // namespace

void f32_gemm_avx512(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N, int K) {
    run_strips(M, N, AStrided{A, lda}, Strided{B, ldb}, C, ldc, K);
}

void f32_gemm_out_avx512(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N, int K,
                         const float* col_add, bool relu) {
    Ends ends;
    ends.zero_init = true;
    ends.col_add = col_add;
    ends.relu = relu;
    run_strips(M, N, AStrided{A, lda}, Strided{B, ldb}, C, ldc, K, ends);
}

void f32_gemm_gather_a_avx512(const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B, size_t ldb,
                              float* C, size_t ldc, int M, int N, int K, const float* col_init, bool relu, bool pool4) {
    Ends ends;
    ends.col_init = col_init;
    ends.relu = relu;
    ends.pool4 = pool4;
    ends.zero_init = pool4 && !col_init;  // pooled rows are not sums to continue: from +0
    run_strips(M, N, AGathered{X, a_rows, a_offsets}, Strided{B, ldb}, C, ldc, K, ends);
}

void f32_gemm_offsets_avx512(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* C, size_t ldc,
                             int M, int N, int K, int groups, size_t b_group_step, size_t c_group_step,
                             const float* row_init, bool relu) {
    const Ends ends{row_init, relu};
    if (N > 16)
        return run_strips(M, N, AStrided{A, lda}, Offsets{B, b_offsets}, C, ldc, K, ends, groups, b_group_step,
                          c_group_step);
    // N <= 16: two GEMMs of the group per tile (vector v is GEMM q + v), an odd last one alone.
    using T = Tiles<AStrided, Offsets>;
    const __mmask16 m = lanes(N);
    const T two = tiles_for<AStrided, Offsets>(M, 2, m, m), one = tiles_for<AStrided, Offsets>(M, 1, m, m);
    for (int q = 0; q < groups; q += 2)
        run_rows(groups - q >= 2 ? two : one, M, AStrided{A, lda},
                 Offsets{B + size_t(q) * b_group_step, b_offsets, b_group_step}, C + size_t(q) * c_group_step, ldc,
                 c_group_step, K, ends);
}

void f32_gemm_offsets_max_pool2_avx512(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* Y,
                                      size_t ldy, int M, int N, int K, int pairs, size_t b_group_step,
                                      size_t y_group_step, const float* row_init, bool relu) {
    for (int n0 = 0; n0 < N; n0 += kF32TileColsAvx512) {
        const int cols = std::min(kF32TileColsAvx512, N - n0);
        if (cols < 2) break;  // a last odd column pools into nothing
        const int nv = cols > 16 ? 2 : 1, mr = pool2_rows(nv);
        const Pool2Fn full = pool2_pick(nv, mr), tail = pool2_pick(nv, M % mr);
        const __mmask16 k0 = lanes(cols), k1 = lanes(cols - 16), out = lanes(cols / 2);
        for (int p = 0; p < pairs; ++p)
            for (int m0 = 0; m0 < M; m0 += mr)
                (M - m0 >= mr ? full : tail)(A + size_t(m0) * lda, lda, B + size_t(n0) + size_t(2 * p) * b_group_step,
                                             b_offsets, b_group_step,
                                             Y + size_t(p) * y_group_step + size_t(m0) * ldy + size_t(n0 / 2), ldy, K, k0,
                                             k1, out, row_init ? row_init + m0 : nullptr, relu);
    }
}

}  // namespace stacklab::quant::detail
