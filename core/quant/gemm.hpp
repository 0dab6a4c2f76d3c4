// Integer GEMM: C[m,n] = sum_k (A[m,k] - a_zp) * (B[k,n] - b_zp[n]), int32 accumulation.
//
// A (activations) is uint8 or int8, row-major M x K. B (weights) is int8, K x N, packed once per
// weight matrix into the layout of the instruction set that will run it (PackedB). The scalar
// reference `gemm_*_ref` defines the semantics; every fast path must match it bit for bit.
//
// How the fast paths stay exact (TFLite keeps reference and optimized kernels apart the same way):
//   * int8 A is turned into uint8 by flipping the sign bit (a + 128) and the zero point moves by
//     128, so one u8 x s8 kernel serves both signednesses.
//   * The kernels compute only the raw sum of a*b; the zero-point terms are added afterwards from
//     row sums of A and column sums of B:  sum (a-za)(b-zb) = sum ab - zb*sum a - za*sum b + K*za*zb.
//   * AVX-512 VNNI uses vpdpbusd (u8 x s8, 4-way, no saturation). AVX2 and WebAssembly SIMD128
//     widen to int16 and use vpmaddwd / i32x4.dot_i16x8_s, which are exact: AVX2's vpmaddubsw is
//     NOT used because it saturates pairs of u8*s8 products at int16 (255*127*2 > 32767).
// Limits: |(a-za)(b-zb)| <= 255*255, so K <= 32768 keeps every int32 sum exact; larger K throws.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace stacklab::quant {

enum class Isa { scalar, avx2, avx512vnni, wasm_simd128 };
const char* isa_name(Isa isa);
// Instruction sets this build can run on this machine (CPUID at run time on x86), best last.
std::vector<Isa> available_isas();
Isa best_isa();
bool isa_available(Isa isa);  // isa is in available_isas()

constexpr int kMaxGemmK = 32768;

// Int8 weights packed for one instruction set's kernel, with the per-column data the zero-point
// correction needs. Immutable after pack_b; reusable across calls and threads.
struct PackedB {
    Isa isa = Isa::scalar;
    int K = 0, N = 0;
    std::vector<int32_t> zero_points;  // size N (a per-tensor zero point is repeated)
    std::vector<int32_t> col_sums;     // sum_k B[k,n]
    std::vector<int8_t> data;          // layout depends on isa (see gemm.cpp)
};

// B is K x N row-major with leading dimension ldb. b_zero_points has size 1 (per tensor) or N.
PackedB pack_b(const int8_t* B, int K, int N, int ldb, const std::vector<int32_t>& b_zero_points,
               Isa isa = best_isa());

// C (M x N, leading dimension ldc) = (A - a_zp) * (B - b_zp).
void gemm_u8s8_s32(const uint8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, int32_t* C, int ldc);
void gemm_s8s8_s32(const int8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, int32_t* C, int ldc);

// The reference: obviously-correct loops over unpacked B, in int64 and then checked to fit int32.
void gemm_u8s8_s32_ref(const uint8_t* A, int M, int K, int lda, int32_t a_zp, const int8_t* B, int N, int ldb,
                       const std::vector<int32_t>& b_zero_points, int32_t* C, int ldc);
void gemm_s8s8_s32_ref(const int8_t* A, int M, int K, int lda, int32_t a_zp, const int8_t* B, int N, int ldb,
                       const std::vector<int32_t>& b_zero_points, int32_t* C, int ldc);

}  // namespace stacklab::quant
