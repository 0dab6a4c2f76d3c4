// fp16 and bf16 GEMM with fp32 accumulation: C[m,n] = sum_k A[m,k] * B[k,n].
//
// A (M x K, lda) and B (K x N, ldb) hold fp16 or bf16 bit patterns (uint16_t, half.hpp); C is fp32
// (M x N, ldc). There is no native 16-bit arithmetic here: operands are widened to float (exactly,
// half.hpp) and multiplied and summed in float, which is how ggml and MLAS run 16-bit weights on
// CPUs without AVX512-FP16 / AMX.
//
// The reference `gemm_*_ref` defines the result: widen with half.hpp, then for each output
//   s = 0; for k in 0..K-1: s = s + float(a_k) * float(b_k)     (a rounded product, then a rounded sum)
// Fast paths (AVX2+F16C / AVX-512 / wasm SIMD128) widen B one column panel at a time into a small
// float buffer (vcvtph2ps for fp16; a 16-bit left shift for bf16; half_to_float in wasm, which has
// no conversion instruction) and keep the k order per output element, but may use a fused
// multiply-add. The documented tolerance, asserted by the tests, is the classic dot-product bound
// (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., 2002, eq. 3.5: |fl(x.y) - x.y|
// <= gamma_K sum|x_k y_k| for ANY summation order, with or without FMA), applied to both sides:
//   |fast - ref| <= 2 * gamma_K * sum_k |a_k b_k|,   gamma_K = K u / (1 - K u),  u = 2^-24.
// (A product of two fp16 values has at most 22 significant bits, so it is exact in float and the FMA
// cannot change it: for fp16 inputs whose products neither overflow nor underflow the k-ordered fast
// paths are in fact bit-identical to the reference; the bound is what callers may rely on.)
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/gemm.hpp"

namespace stacklab::quant {

// 2 * gamma_K * sum_abs_products (see above), for comparing two float evaluations of one K-term
// dot product whose exact value has sum_k |x_k y_k| = sum_abs_products. Valid while K u < 1.
double float_dot_error_bound(size_t K, double sum_abs_products);

enum class Half16 { fp16, bf16 };

// Throws std::invalid_argument naming the dimension or leading dimension that does not fit, or
// `isa` when this build or machine cannot run it.
void gemm_f16_ref(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb,
                  float* C, int ldc);
void gemm_f16(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb, float* C,
              int ldc, Isa isa = best_isa());

}  // namespace stacklab::quant
