// Private to core/quant: the per-ISA register tiles behind gemm_f32.hpp. Each computes one full
// tile of MR rows (1 <= MR <= the ISA's maximum) by the ISA's column width, accumulating into C in
// k order with separate multiply and add; gemm_f32.cpp handles the AVX2 and SIMD128 tiles' column
// edges with the scalar loop. The AVX-512 tile takes any width 1..32 (masked) and has no edge.
#pragma once

#include <cstddef>

namespace stacklab::quant::detail {

#if defined(__x86_64__) || defined(_M_X64)
constexpr int kF32TileRowsAvx2 = 6, kF32TileColsAvx2 = 16;
void f32_tile_avx2(int rows, const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int K);
constexpr int kF32TileRowsAvx512 = 8, kF32TileColsAvx512 = 32;
// Whole products (the AVX-512 tiles have no scalar edge): gemm_f32_acc, and the row group of
// gemm_f32_acc_offsets (GEMM q reads B + q * b_group_step and writes C + q * c_group_step).
void f32_gemm_avx512(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N, int K);
void f32_gemm_out_avx512(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N, int K,
                         const float* col_add, bool relu);
void f32_gemm_offsets_avx512(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* C, size_t ldc,
                             int M, int N, int K, int groups, size_t b_group_step, size_t c_group_step,
                             const float* row_init, bool relu);
void f32_gemm_gather_a_avx512(const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B, size_t ldb,
                              float* C, size_t ldc, int M, int N, int K, const float* col_init, bool relu, bool pool4);
void f32_gemm_offsets_max_pool2_avx512(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* Y,
                                      size_t ldy, int M, int N, int K, int pairs, size_t b_group_step,
                                      size_t y_group_step, const float* row_init, bool relu);
#endif
#if defined(__wasm_simd128__)
constexpr int kF32TileRowsWasm = 4, kF32TileColsWasm = 8;
void f32_tile_wasm(int rows, const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int K);
// The pooled products on as many columns as they tile (returned: every column from 0 up to it is
// done; the caller's scalar loop takes the rest).
int f32_offsets_pool2_wasm(const float* A, size_t lda, const float* B, const size_t* b_offsets, float* Y, size_t ldy,
                           int M, int N, int K, int pairs, size_t b_group_step, size_t y_group_step,
                           const float* row_init, bool relu);
int f32_gather_a_pool4_wasm(const float* X, const size_t* a_rows, const size_t* a_offsets, const float* B, size_t ldb,
                            float* C, size_t ldc, int M, int N, int K, const float* col_init, bool relu);
#endif

}  // namespace stacklab::quant::detail
