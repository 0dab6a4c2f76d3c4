// fp32 GEMM with the rounding of the plain loop, on every target.
//
//   C[m, n] = C[m, n] + A[m, 0] * B[0, n] + A[m, 1] * B[1, n] + ... + A[m, K-1] * B[K-1, n]
//
// evaluated left to right: each product is rounded to float, then added to the running sum and
// rounded again (no fused multiply-add, no reassociation). That is exactly what the scalar loop
// `c += a * b` over k does when compiled without contraction (x86-64 baseline, WebAssembly), so the
// fast paths give the same bits as gemm_f32_acc_ref natively and in wasm, and a model's float
// outputs are identical on every target. The SIMD kernels vectorize across n (each lane is one
// output column, still summing in k order): AVX-512 16-wide with an 8 x 32 register tile (the last
// column strip masked), AVX2 8-wide with a 6 x 16 tile, WebAssembly SIMD128 4-wide with a 4 x 8
// tile. Separate multiply and add costs little on the CPUs this runs on: AMD Zen has separate FP
// multiply and add pipes, so mul + add issue as fast as one FMA (Zen 5's are 512 bits wide, hence
// the AVX-512 tile). The x86 files are compiled with -ffp-contract=off (core/CMakeLists.txt) so
// g++ cannot fuse them.
//
// C is accumulated into: callers start it at zero or at the bias (the convolution starts at the
// bias, the executor's Gemm at zero and adds the bias afterwards; each keeps its order).
#pragma once

#include <cstddef>

#include "quant/gemm.hpp"

namespace stacklab::quant {

// A: M x K row-major (lda >= K), B: K x N row-major (ldb >= N), C: M x N row-major (ldc >= N).
// Throws std::invalid_argument for a negative size, a short leading dimension, a null pointer with
// a non-empty product, or an ISA this build or machine lacks.
void gemm_f32_acc(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N, int K,
                  Isa isa = best_isa());
// A layer's output: C = sum from +0 in k order (as gemm_f32_acc on a zeroed C), then + col_add[n]
// if given (a bias added after the sum, as Gemm / MatMul -> Add compute it), then ReLU if asked.
// C is only written. AVX-512 does it in the tile (one store); elsewhere zero, gemm_f32_acc, one pass.
void gemm_f32_out(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N, int K,
                  const float* col_add = nullptr, bool relu = false, Isa isa = best_isa());

// The same product with B's row k at B + b_offsets[k] (N floats; rows may overlap): a stride-1
// convolution reads its taps straight from the input plane this way, with no im2col copy.
// Same sums in the same order, so the same bits as gemm_f32_acc on the gathered B.
// Register-tiled on AVX-512 only (a narrow N packs two products of a row group per tile); every
// other ISA runs the scalar loop (callers check gemm_f32_any_width first).
struct OffsetsGemm {
    // A row group: `groups` products with the same A and offsets; product q reads B + q *
    // b_group_step and writes C + q * c_group_step (a convolution's output rows, one call per image).
    int groups = 1;
    size_t b_group_step = 0, c_group_step = 0;
    // Non-null: every product starts from row_init[m] (a bias per output row) instead of C's value,
    // and C is only written (as if C had been filled with it first: the same bits).
    const float* row_init = nullptr;
    // ReLU on the way out (x < 0 ? 0 : x, NaN kept): a convolution fused with the Relu after it.
    bool relu = false;
};
void gemm_f32_acc_offsets(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* C, size_t ldc,
                          int M, int N, int K, const OffsetsGemm& options = {}, Isa isa = best_isa());

// The row group of gemm_f32_acc_offsets followed by a 2x2 / stride 2 max pool over pairs of its
// products, which are never stored: products 2p and 2p + 1 (each from row_init, or from +0 when it
// is null; ReLU if asked) pool into Y + p * y_group_step, whose row m column j is the best of
// columns 2j and 2j + 1 of both products' row m, taken as max_pool2d takes them (product 2p's two
// columns, then product 2p + 1's, each replacing the best only if greater). p < groups / 2 and
// j < N / 2: a last odd product or column is not computed (a floor-mode pool drops it).
// options.c_group_step is not used. A convolution with stride 1 and no padding followed by
// [Relu ->] MaxPool(2x2, stride 2) writes its pooled planes this way (output channels as rows).
// Register-tiled on AVX-512 and on SIMD128 (N >= 8 there); elsewhere the scalar loop through a
// two-product scratch.
void gemm_f32_offsets_max_pool2(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* Y,
                                size_t ldy, size_t y_group_step, int M, int N, int K, const OffsetsGemm& options,
                                Isa isa = best_isa());

// The product with a gathered A: A[m, k] = X[a_rows[m] + a_offsets[k]] (a convolution with output
// pixels as rows and kernel taps as columns, read from the input itself), B a K x N matrix (the
// weights transposed: output channels as columns), C = col_init[n] + sum_k A[m, k] * B[k, n] in k
// order (col_init null: accumulated into C), then ReLU if asked. Same bits as gemm_f32_acc on the
// gathered A. Register-tiled on AVX-512 only (the scalar loop elsewhere).
void gemm_f32_gather_a(const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B, size_t ldb, float* C,
                       size_t ldc, int M, int N, int K, const float* col_init = nullptr, bool relu = false,
                       Isa isa = best_isa());

// The gathered product max-pooled over rows in fours (each four a pool window's taps in the
// window's order: a convolution's output pixels listed window by window): C's row i is the best of
// the product's rows 4i .. 4i + 3, each from col_init (or +0 when null) and after ReLU if asked,
// taken as max_pool2d takes them (the first, then each later one only if greater). C has M / 4 rows
// and is only written; M must be a multiple of 4. Register-tiled on AVX-512 and SIMD128 (the four
// rows never reach memory; N >= 4 on SIMD128), the scalar loop elsewhere.
void gemm_f32_gather_a_max_pool4(const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B, size_t ldb,
                                 float* C, size_t ldc, int M, int N, int K, const float* col_init = nullptr,
                                 bool relu = false, Isa isa = best_isa());

// True where gemm_f32_offsets_max_pool2 and gemm_f32_gather_a_max_pool4 are register-tiled
// (AVX-512, SIMD128): a convolution followed by a 2x2 pool takes them there.
bool gemm_f32_pooled_tiled(Isa isa);

// True where gemm_f32_acc and gemm_f32_acc_offsets on `isa` run any N at full SIMD speed
// (AVX-512); elsewhere columns past the last multiple of the tile width (16 AVX2, 8 SIMD128) take
// the scalar loop, and callers that can pad N (the convolution's panels) should.
bool gemm_f32_any_width(Isa isa);
void gemm_f32_acc_ref(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N,
                      int K);

}  // namespace stacklab::quant
