// AVX-512 VNNI kernel: vpdpbusd multiplies 4 u8 of A by 4 s8 of B and adds the four products into
// an int32 lane without saturation, so results equal the reference exactly.
// Register block: up to 4 rows of A x 4 panels of 16 columns = 16 zmm accumulators.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "quant/gemm_kernels.hpp"

namespace stacklab::quant::detail {
namespace {

template <int MR, int NP>
void block(const uint8_t* A, size_t lda, const int8_t* b0, size_t panel_stride, int k4, int32_t* C, int ldc,
           int n_valid) {
    __m512i acc[MR][NP];
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NP; ++j) acc[r][j] = _mm512_setzero_si512();
    for (int kq = 0; kq < k4; ++kq) {
        __m512i b[NP];
        for (int j = 0; j < NP; ++j)
            b[j] = _mm512_loadu_si512(reinterpret_cast<const void*>(b0 + size_t(j) * panel_stride + size_t(kq) * 64));
        for (int r = 0; r < MR; ++r) {
            int32_t quad;
            std::memcpy(&quad, A + size_t(r) * lda + 4 * size_t(kq), 4);
            const __m512i a = _mm512_set1_epi32(quad);
            for (int j = 0; j < NP; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], a, b[j]);
        }
    }
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NP; ++j) {
            int32_t* c = C + size_t(r) * size_t(ldc) + size_t(j) * kQuadPanel;
            const int valid = n_valid - j * kQuadPanel;
            if (valid >= kQuadPanel)
                _mm512_storeu_si512(reinterpret_cast<void*>(c), acc[r][j]);
            else if (valid > 0)
                _mm512_mask_storeu_epi32(c, __mmask16((1u << valid) - 1u), acc[r][j]);
        }
}

// The full 4 x 64 block written out with named accumulators: GCC keeps a 2-D array of __m512i
// in registers only by shuffling it through ~30 moves per iteration (measured ~20% slower).
void block_4x4(const uint8_t* A, size_t lda, const int8_t* b0, size_t panel_stride, int k4, int32_t* C, int ldc,
               int n_valid) {
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
            c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    const int8_t* p0 = b0;
    const int8_t* p1 = b0 + panel_stride;
    const int8_t* p2 = b0 + 2 * panel_stride;
    const int8_t* p3 = b0 + 3 * panel_stride;
    const uint8_t* a0 = A;
    const uint8_t* a1 = A + lda;
    const uint8_t* a2 = A + 2 * lda;
    const uint8_t* a3 = A + 3 * lda;
    for (int kq = 0; kq < k4; ++kq) {
        const size_t off = size_t(kq) * 64;
        const __m512i b_0 = _mm512_loadu_si512(p0 + off), b_1 = _mm512_loadu_si512(p1 + off),
                      b_2 = _mm512_loadu_si512(p2 + off), b_3 = _mm512_loadu_si512(p3 + off);
        int32_t q;
        std::memcpy(&q, a0 + 4 * size_t(kq), 4);
        __m512i a = _mm512_set1_epi32(q);
        c00 = _mm512_dpbusd_epi32(c00, a, b_0);
        c01 = _mm512_dpbusd_epi32(c01, a, b_1);
        c02 = _mm512_dpbusd_epi32(c02, a, b_2);
        c03 = _mm512_dpbusd_epi32(c03, a, b_3);
        std::memcpy(&q, a1 + 4 * size_t(kq), 4);
        a = _mm512_set1_epi32(q);
        c10 = _mm512_dpbusd_epi32(c10, a, b_0);
        c11 = _mm512_dpbusd_epi32(c11, a, b_1);
        c12 = _mm512_dpbusd_epi32(c12, a, b_2);
        c13 = _mm512_dpbusd_epi32(c13, a, b_3);
        std::memcpy(&q, a2 + 4 * size_t(kq), 4);
        a = _mm512_set1_epi32(q);
        c20 = _mm512_dpbusd_epi32(c20, a, b_0);
        c21 = _mm512_dpbusd_epi32(c21, a, b_1);
        c22 = _mm512_dpbusd_epi32(c22, a, b_2);
        c23 = _mm512_dpbusd_epi32(c23, a, b_3);
        std::memcpy(&q, a3 + 4 * size_t(kq), 4);
        a = _mm512_set1_epi32(q);
        c30 = _mm512_dpbusd_epi32(c30, a, b_0);
        c31 = _mm512_dpbusd_epi32(c31, a, b_1);
        c32 = _mm512_dpbusd_epi32(c32, a, b_2);
        c33 = _mm512_dpbusd_epi32(c33, a, b_3);
    }
    const __m512i acc[4][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}};
    for (int r = 0; r < 4; ++r)
        for (int j = 0; j < 4; ++j) {
            int32_t* c = C + size_t(r) * size_t(ldc) + size_t(j) * kQuadPanel;
            const int valid = n_valid - j * kQuadPanel;
            if (valid >= kQuadPanel)
                _mm512_storeu_si512(reinterpret_cast<void*>(c), acc[r][j]);
            else if (valid > 0)
                _mm512_mask_storeu_epi32(c, __mmask16((1u << valid) - 1u), acc[r][j]);
        }
}

using BlockFn = void (*)(const uint8_t*, size_t, const int8_t*, size_t, int, int32_t*, int, int);

template <int MR>
BlockFn pick_np(int np) {
    switch (np) {
        case 1: return block<MR, 1>;
        case 2: return block<MR, 2>;
        case 3: return block<MR, 3>;
        default: return block<MR, 4>;
    }
}

BlockFn pick(int mr, int np) {
    switch (mr) {
        case 1: return pick_np<1>(np);
        case 2: return pick_np<2>(np);
        case 3: return pick_np<3>(np);
        default: return np == 4 ? block_4x4 : pick_np<4>(np);
    }
}

}  // namespace

void raw_gemm_avx512vnni(const uint8_t* A, int M, int lda, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc) {
    const int K = B.K, N = B.N;
    const int k4 = (K + 3) / 4;
    const int panels = (N + kQuadPanel - 1) / kQuadPanel;
    const size_t panel_stride = size_t(k4) * 64;
    // A copied once with the sign flip applied and K padded to a multiple of 4 with zeros (packed B
    // is zero there too), so the inner loop broadcasts 4 bytes straight from memory.
    const size_t pad_ld = 4 * size_t(k4);
    std::vector<uint8_t> padded(size_t(M) * pad_ld, 0);
    for (int m = 0; m < M; ++m)
        for (int k = 0; k < K; ++k) padded[size_t(m) * pad_ld + size_t(k)] = uint8_t(A[size_t(m) * size_t(lda) + size_t(k)] ^ a_xor);
    // Panels outermost: a group of 4 panels (64 columns x K bytes) stays in L2 while every row of A
    // streams past it.
    for (int p = 0; p < panels; p += 4) {
        const int np = panels - p < 4 ? panels - p : 4;
        const int8_t* b0 = B.data.data() + size_t(p) * panel_stride;
        const int n_valid = N - p * kQuadPanel;
        for (int m = 0; m < M; m += 4) {
            const int mr = M - m < 4 ? M - m : 4;
            pick(mr, np)(padded.data() + size_t(m) * pad_ld, pad_ld, b0, panel_stride, k4,
                         C + size_t(m) * size_t(ldc) + size_t(p) * kQuadPanel, ldc, n_valid);
        }
    }
}

}  // namespace stacklab::quant::detail
