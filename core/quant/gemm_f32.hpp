// fp32 GEMM with the rounding of the plain loop, on every target.
//
//   C[m, n] = C[m, n] + A[m, 0] * B[0, n] + A[m, 1] * B[1, n] + ... + A[m, K-1] * B[K-1, n]
//
// evaluated left to right: each product is rounded to float, then added to the running sum and
// rounded again (no fused multiply-add, no reassociation). That is exactly what the scalar loop
// `c += a * b` over k does when compiled without contraction (x86-64 baseline, WebAssembly), so the
// fast paths give the same bits as gemm_f32_acc_ref natively and in wasm, and a model's float
// outputs are identical on every target. The SIMD kernels vectorize across n (each lane is one
// output column, still summing in k order): AVX2 8-wide with a 6 x 16 register tile, WebAssembly
// SIMD128 4-wide with a 4 x 8 tile. Separate multiply and add costs little on the CPUs this runs
// on: AMD Zen has separate FP multiply and add pipes, so mul + add issue as fast as one FMA.
// The AVX2 file is compiled with -ffp-contract=off (core/CMakeLists.txt) so g++ cannot fuse them.
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
void gemm_f32_acc_ref(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int M, int N,
                      int K);

}  // namespace stacklab::quant
