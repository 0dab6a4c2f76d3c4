// AVX2 kernel (for x86 CPUs without VNNI). B's int8 pairs are sign-extended to int16 and A's
// uint8 pairs zero-extended, then vpmaddwd forms a*b0 + a'*b1 in int32 exactly. (vpmaddubsw would
// be one instruction shorter but saturates at int16: 255*127 + 255*127 > 32767.)
// Register block: up to 4 rows x 2 panels of 8 columns = 8 ymm accumulators.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "quant/gemm_kernels.hpp"

namespace stacklab::quant::detail {
namespace {

template <int MR, int NP>
void block(const uint16_t* A, size_t lda, const int8_t* b0, size_t panel_stride, int k2, int32_t* C, int ldc,
           int n_valid) {
    __m256i acc[MR][NP];
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NP; ++j) acc[r][j] = _mm256_setzero_si256();
    for (int kp = 0; kp < k2; ++kp) {
        __m256i b[NP];
        for (int j = 0; j < NP; ++j)
            b[j] = _mm256_cvtepi8_epi16(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + size_t(j) * panel_stride + size_t(kp) * 16)));
        for (int r = 0; r < MR; ++r) {
            int32_t pair;
            std::memcpy(&pair, A + size_t(r) * lda + 2 * size_t(kp), 4);
            const __m256i a = _mm256_set1_epi32(pair);
            for (int j = 0; j < NP; ++j) acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(a, b[j]));
        }
    }
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NP; ++j) {
            int32_t* c = C + size_t(r) * size_t(ldc) + size_t(j) * kPairPanel;
            const int valid = n_valid - j * kPairPanel;
            if (valid >= kPairPanel) {
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(c), acc[r][j]);
            } else if (valid > 0) {
                alignas(32) int32_t tmp[kPairPanel];
                _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), acc[r][j]);
                std::memcpy(c, tmp, sizeof(int32_t) * size_t(valid));
            }
        }
}

using BlockFn = void (*)(const uint16_t*, size_t, const int8_t*, size_t, int, int32_t*, int, int);

template <int MR>
BlockFn pick_np(int np) {
    return np == 1 ? block<MR, 1> : block<MR, 2>;
}

BlockFn pick(int mr, int np) {
    switch (mr) {
        case 1: return pick_np<1>(np);
        case 2: return pick_np<2>(np);
        case 3: return pick_np<3>(np);
        default: return pick_np<4>(np);
    }
}

}  // namespace

void raw_gemm_avx2(const uint8_t* A, int M, int lda, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc) {
    const int K = B.K, N = B.N;
    const int k2 = (K + 1) / 2;
    const int panels = (N + kPairPanel - 1) / kPairPanel;
    const size_t panel_stride = size_t(k2) * 16;
    // A widened to uint16 once (sign flip applied, K padded to even with zeros), so the inner loop
    // broadcasts a k pair straight from memory.
    const size_t wide_ld = 2 * size_t(k2);
    std::vector<uint16_t> wide(size_t(M) * wide_ld, 0);
    for (int m = 0; m < M; ++m)
        for (int k = 0; k < K; ++k) wide[size_t(m) * wide_ld + size_t(k)] = uint8_t(A[size_t(m) * size_t(lda) + size_t(k)] ^ a_xor);
    for (int p = 0; p < panels; p += 2) {
        const int np = panels - p < 2 ? panels - p : 2;
        const int8_t* b0 = B.data.data() + size_t(p) * panel_stride;
        const int n_valid = N - p * kPairPanel;
        for (int m = 0; m < M; m += 4) {
            const int mr = M - m < 4 ? M - m : 4;
            pick(mr, np)(wide.data() + size_t(m) * wide_ld, wide_ld, b0, panel_stride, k2,
                         C + size_t(m) * size_t(ldc) + size_t(p) * kPairPanel, ldc, n_valid);
        }
    }
}

}  // namespace stacklab::quant::detail
