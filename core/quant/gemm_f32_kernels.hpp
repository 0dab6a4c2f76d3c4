// Private to core/quant: the per-ISA register tiles behind gemm_f32.hpp. Each computes one full
// tile of MR rows (1 <= MR <= the ISA's maximum) by the ISA's column width, accumulating into C in
// k order with separate multiply and add; gemm_f32.cpp handles the edges with the scalar loop.
#pragma once

#include <cstddef>

namespace stacklab::quant::detail {

#if defined(__x86_64__) || defined(_M_X64)
constexpr int kF32TileRowsAvx2 = 6, kF32TileColsAvx2 = 16;
void f32_tile_avx2(int rows, const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int K);
#endif
#if defined(__wasm_simd128__)
constexpr int kF32TileRowsWasm = 4, kF32TileColsWasm = 8;
void f32_tile_wasm(int rows, const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int K);
#endif

}  // namespace stacklab::quant::detail
