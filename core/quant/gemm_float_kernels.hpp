// Private to core/quant: the per-ISA kernels behind gemm_lowbit.hpp and gemm_float.hpp. Shapes and
// sizes are checked by the public functions before these run.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/blocks.hpp"
#include "quant/gemm_float.hpp"

namespace stacklab::quant::detail {

// GroupedWeights as raw pointers plus the derived sizes the kernels need.
struct GroupedView {
    const uint8_t* data = nullptr;
    size_t data_bytes = 0;
    const uint16_t* scales = nullptr;
    const uint16_t* mins = nullptr;  // null when symmetric
    int bits = 4, group_size = 32;
    size_t rows = 0, cols = 0, row_bytes = 0, groups = 0;
};

#if defined(__x86_64__) || defined(_M_X64)
void lowbit_grouped_avx2(const float* X, int M, int ldx, const GroupedView& W, float* Y, int ldy);
void lowbit_q4_0_avx2(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy);
void lowbit_q8_0_avx2(const float* X, int M, int K, int ldx, const BlockQ8_0* W, int N, float* Y, int ldy);
float dot_q4_0_q8_0_avx2(const BlockQ4_0* w, const BlockQ8_0* x, size_t nb);
void gemm_f16_avx2(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb, float* C,
                   int ldc);
void gemm_f16_avx512(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb,
                     float* C, int ldc);
#endif
#if defined(__wasm_simd128__)
void lowbit_grouped_wasm(const float* X, int M, int ldx, const GroupedView& W, float* Y, int ldy);
void lowbit_q4_0_wasm(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy);
void lowbit_q8_0_wasm(const float* X, int M, int K, int ldx, const BlockQ8_0* W, int N, float* Y, int ldy);
float dot_q4_0_q8_0_wasm(const BlockQ4_0* w, const BlockQ8_0* x, size_t nb);
void gemm_f16_wasm(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb, float* C,
                   int ldc);
#endif

// Rows of X per decoded weight chunk, and weight rows per tile, shared by the x86 and wasm drivers.
constexpr int kLowbitRows = 4;
// Weight rows decoded per cache block: 64 rows of Q4_0 at K = 4096 are 147 KiB, within L2, so the
// block is reused from cache by every group of kLowbitRows rows of X.
constexpr int kLowbitRowBlock = 64;

}  // namespace stacklab::quant::detail
