// AVX-512 kernel of gemm_float.hpp: the AVX2 scheme with 32-column panels (two zmm per row), an
// 8 x 32 register tile (16 accumulators) and masked stores for the last panel.
#include <immintrin.h>

#include <vector>

#include "quant/gemm_float_kernels.hpp"
#include "quant/half.hpp"

namespace stacklab::quant::detail {
namespace {

constexpr int kPanel = 32;
constexpr int kRows = 8;

// The zero-masking forms: GCC 12's plain forms pass _mm512_undefined_*() and trip
// -Wmaybe-uninitialized; with an all-ones mask the result is the same.
__m512 widen16(Half16 type, __m256i h) {
    const __mmask16 all = 0xffff;
    if (type == Half16::fp16) return _mm512_maskz_cvtph_ps(all, h);
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(all, _mm512_maskz_cvtepu16_epi32(all, h), 16));
}

float widen1(Half16 type, uint16_t h) { return type == Half16::fp16 ? half_to_float(h) : bf16_to_float(h); }

template <int MR>
void tile(const float* A, size_t lda, const float* Bp, size_t K, float* C, size_t ldc, int n_valid) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (size_t k = 0; k < K; ++k) {
        const __m512 b0 = _mm512_load_ps(Bp + k * kPanel), b1 = _mm512_load_ps(Bp + k * kPanel + 16);
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(A[size_t(r) * lda + k]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    const int v0 = n_valid >= 16 ? 16 : n_valid, v1 = n_valid - 16 > 16 ? 16 : (n_valid > 16 ? n_valid - 16 : 0);
    const __mmask16 m0 = __mmask16((1u << v0) - 1u), m1 = __mmask16((1u << v1) - 1u);
    for (int r = 0; r < MR; ++r) {
        float* c = C + size_t(r) * ldc;
        _mm512_mask_storeu_ps(c, m0, acc[r][0]);
        _mm512_mask_storeu_ps(c + 16, m1, acc[r][1]);
    }
}

using TileFn = void (*)(const float*, size_t, const float*, size_t, float*, size_t, int);
constexpr TileFn kTiles[kRows + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>, tile<7>, tile<8>};

}  // namespace

void gemm_f16_avx512(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb,
                     float* C, int ldc) {
    const size_t k = size_t(K);
    std::vector<float> a(size_t(M) * k);
    for (int m = 0; m < M; ++m) {
        const uint16_t* src = A + size_t(m) * size_t(lda);
        float* dst = a.data() + size_t(m) * k;
        size_t i = 0;
        for (; i + 16 <= k; i += 16)
            _mm512_storeu_ps(dst + i, widen16(type, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
        for (; i < k; ++i) dst[i] = widen1(type, src[i]);
    }
    struct alignas(64) Line {
        float v[kPanel];
    };
    std::vector<Line> lines(k + 1);  // 64-byte aligned (C++17 aligned new)
    float* panel = reinterpret_cast<float*>(lines.data());
    for (int n0 = 0; n0 < N; n0 += kPanel) {
        const int nv = N - n0 < kPanel ? N - n0 : kPanel;
        for (size_t kk = 0; kk < k; ++kk) {
            const uint16_t* row = B + kk * size_t(ldb) + size_t(n0);
            float* dst = panel + kk * kPanel;
            if (nv == kPanel) {
                _mm512_store_ps(dst, widen16(type, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row))));
                _mm512_store_ps(dst + 16, widen16(type, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16))));
            } else {
                for (int j = 0; j < kPanel; ++j) dst[j] = j < nv ? widen1(type, row[j]) : 0.0f;
            }
        }
        for (int m = 0; m < M; m += kRows) {
            const int mr = M - m < kRows ? M - m : kRows;
            kTiles[mr](a.data() + size_t(m) * k, k, panel, k, C + size_t(m) * size_t(ldc) + size_t(n0), size_t(ldc), nv);
        }
    }
}

}  // namespace stacklab::quant::detail
