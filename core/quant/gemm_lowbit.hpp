// Low-bit-weight GEMM / GEMV for LLM layers: Y[m,n] = sum_k X[m,k] * W[n,k].
//
// X is fp32, M x K (ldx). W is stored N x K like llama.cpp/ggml (row n = output channel n, its K
// weights contiguous), in one of the formats of blocks.hpp: grouped k-bit (GroupedWeights, rows = N,
// cols = K) or ggml Q4_0 / Q8_0 blocks (row n = K/32 consecutive blocks, K % 32 == 0). Y is fp32,
// M x N (ldy). M = 1 is the decode-step GEMV; larger M is a prompt batch.
//
// Float path. The reference `gemm_*_ref` defines the result: dequantize row n of W with blocks.hpp
// (dequantize_grouped_row / dequantize_q4_0 / dequantize_q8_0), then
//   s = 0; for k in 0..K-1: s = s + X[m,k] * w[k]          (rounded product, rounded sum, index order)
// Fast paths decode each chunk of 8 weights in registers to the SAME float values as the reference
// dequantizer (the decode is exact: (q - offset) * d has at most 19 significant bits; the asymmetric
// "+ min" is a separate rounded add, as in dequantize_grouped_row), then use one decoded chunk for up
// to 4 rows of X (the unpacking is amortized over the rows) with fused multiply-adds in 8 lanes. So the
// two differ only in summation order and FMA, and the tolerance (asserted by the tests) is
//   |fast - ref| <= float_dot_error_bound(K, sum_k |X[m,k] w[k]|) = 2 gamma_K sum_k |X[m,k] w[k]|
// (gemm_float.hpp; w the dequantized weights: "the group sums" of |q d x|).
//
// Integer path (ggml's ggml_vec_dot_q4_0_q8_0): each row of X is quantized to Q8_0 (quantize_q8_0,
// ggml's reference rounding), and each block pair contributes
//   isum_b = sum_{j<32} (q4_j - 8) * q8_j      (int32, exact: |isum| <= 32 * 8 * 128)
//   v_b    = (d_w * d_x) * float(isum_b)       (two rounded float products, fp16 d's widened exactly)
// The float combination order is DEFINED here so that SIMD and scalar agree bit for bit: block b
// goes to partial sum p[b % 8] (p[l] = p[l] + v_b, blocks in order), and
//   total = ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7))
// which is exactly how an 8-lane vector of partial sums is reduced (high half onto low half, then
// pairs). Integer block sums are exact on every ISA, so every ISA returns the reference's bits.
// (ggml itself computes sumi * d_x * d_y in its scalar path and d_x * d_y * sumi with FMAs in 8
// lanes in its AVX2 path, so its own paths differ in the last bits; ours do not.)
//
// Isa::scalar runs the reference. Isa::avx512vnni runs the AVX2+FMA+F16C kernels for these
// formats (no 16-wide decoder has been written or measured yet).
// Errors: std::invalid_argument naming `K` (Q4_0/Q8_0 need K % 32 == 0), `W` fields whose sizes
// disagree with the shape, leading dimensions, or `isa`. The integer path also throws (naming `X`)
// for a non-finite activation, as quantize_q8_0 does.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/blocks.hpp"
#include "quant/gemm.hpp"

namespace stacklab::quant {

// Grouped k-bit weights: N = W.rows, K = W.cols.
void gemm_grouped_ref(const float* X, int M, int ldx, const GroupedWeights& W, float* Y, int ldy);
void gemm_grouped(const float* X, int M, int ldx, const GroupedWeights& W, float* Y, int ldy, Isa isa = best_isa());

// Q4_0 / Q8_0 rows: W holds N * (K / 32) blocks.
void gemm_q4_0_ref(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy);
void gemm_q4_0(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy,
               Isa isa = best_isa());
void gemm_q8_0_ref(const float* X, int M, int K, int ldx, const BlockQ8_0* W, int N, float* Y, int ldy);
void gemm_q8_0(const float* X, int M, int K, int ldx, const BlockQ8_0* W, int N, float* Y, int ldy,
               Isa isa = best_isa());

// The integer path: one block row of weights against one block row of Q8_0 activations (nb blocks).
float vec_dot_q4_0_q8_0_ref(const BlockQ4_0* w, const BlockQ8_0* x, size_t nb);
float vec_dot_q4_0_q8_0(const BlockQ4_0* w, const BlockQ8_0* x, size_t nb, Isa isa = best_isa());
// X quantized row by row to Q8_0, then Y[m,n] = vec_dot_q4_0_q8_0(W row n, X row m).
void gemm_q4_0_q8_0_ref(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy);
void gemm_q4_0_q8_0(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy,
                    Isa isa = best_isa());

}  // namespace stacklab::quant
