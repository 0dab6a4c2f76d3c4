// Int8 GEMM with a fused output stage: C = requantize((A - a_zp) * (B - b_zp) + bias), int8/uint8.
//
// Semantics are exactly the composition of the two references, element by element:
//   acc[m,n] = gemm_*_s32_ref(A, B)[m,n]                      (gemm.hpp)
//   C[m,n]   = requantize(acc[m,n], bias ? bias[n] : 0, params[n or 0], relu)   (formats.hpp)
// i.e. bias is added to the int32 accumulator with saturation, then the float_scale (MLAS) or
// fixed_point (TFLite) rule of `RequantParams::mode` scales it, adds the output zero point and
// clamps (a fused ReLU clamps below at the zero point). Both steps are integer-exact or defined
// per element, so every instruction set's result is bit-identical to the reference composition.
//
// Fused: the accumulators of a block of rows (at most kRequantBlockBytes of int32, a size that
// stays in L2) are produced by the ISA's raw kernel and requantized straight away, so no M x N
// int32 temporary exists; memory for the block is the only scratch (as MLAS and XNNPACK requantize
// per tile instead of per matrix).
#pragma once

#include <cstdint>
#include <vector>

#include "quant/formats.hpp"
#include "quant/gemm.hpp"

namespace stacklab::quant {

// Scratch bound of the fused stage: rows per block = max(1, kRequantBlockBytes / (4 * N)).
constexpr int kRequantBlockBytes = 64 * 1024;

// The output stage of one layer. `bias` has N values or is null; `params` holds 1 (shared by all
// columns) or N (per output channel) sets, whose is_signed must match the output type.
struct OutputStage {
    const int32_t* bias = nullptr;
    std::vector<RequantParams> params;
    bool relu = false;
};

// C (M x N, leading dimension ldc) of the output stage's storage type. Throws
// std::invalid_argument naming `params`, `ldc` or the shape when they do not fit.
void gemm_u8s8_requant(const uint8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, const OutputStage& out,
                       int8_t* C, int ldc);
void gemm_u8s8_requant(const uint8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, const OutputStage& out,
                       uint8_t* C, int ldc);
void gemm_s8s8_requant(const int8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, const OutputStage& out,
                       int8_t* C, int ldc);
void gemm_s8s8_requant(const int8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, const OutputStage& out,
                       uint8_t* C, int ldc);

// The reference composition, B unpacked (K x N, ldb): gemm_*_s32_ref into a full M x N int32
// matrix, then requantize_matrix. Defines what the fused functions must produce.
template <typename AT, typename CT>
void gemm_requant_ref(const AT* A, int M, int K, int lda, int32_t a_zp, const int8_t* B, int N, int ldb,
                      const std::vector<int32_t>& b_zero_points, const OutputStage& out, CT* C, int ldc);

}  // namespace stacklab::quant
