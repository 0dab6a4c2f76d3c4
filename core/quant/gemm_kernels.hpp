// Private to core/quant: the raw kernels behind gemm.hpp. Each computes
//   C[m,n] = sum_k (A[m,k] ^ a_xor) * B[k,n]     (u8 x s8 -> s32, no zero points)
// over B packed in its instruction set's layout (see pack_b in gemm.cpp).
#pragma once

#include "quant/gemm.hpp"

namespace stacklab::quant::detail {

void raw_gemm_scalar(const uint8_t* A, int M, int lda, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc);
#if defined(__x86_64__) || defined(_M_X64)
void raw_gemm_avx2(const uint8_t* A, int M, int lda, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc);
void raw_gemm_avx512vnni(const uint8_t* A, int M, int lda, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc);
#endif
#if defined(__wasm_simd128__)
void raw_gemm_wasm_simd128(const uint8_t* A, int M, int lda, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc);
#endif

// Layout constants shared by pack_b and the kernels.
constexpr int kQuadPanel = 16;  // avx512vnni: 16 columns x 4 k per 64-byte vector
constexpr int kPairPanel = 8;   // avx2, wasm: 8 columns x 2 k per 16 bytes

}  // namespace stacklab::quant::detail
