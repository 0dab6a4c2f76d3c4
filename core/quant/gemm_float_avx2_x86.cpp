// AVX2 + FMA + F16C kernel of gemm_float.hpp. B is widened one panel of 16 columns at a time into
// a K x 16 float buffer (vcvtph2ps for fp16, zero-extension and a 16-bit left shift for bf16, both
// exact), A once into float rows; a 6 x 16 register tile (12 accumulators) then runs over k in order.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "quant/gemm_float_kernels.hpp"
#include "quant/half.hpp"

namespace stacklab::quant::detail {
namespace {

constexpr int kPanel = 16;
constexpr int kRows = 6;

__m256 widen8(Half16 type, const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (type == Half16::fp16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

float widen1(Half16 type, uint16_t h) { return type == Half16::fp16 ? half_to_float(h) : bf16_to_float(h); }

template <int MR>
void tile(const float* A, size_t lda, const float* Bp, size_t K, float* C, size_t ldc, int n_valid) {
    __m256 acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (size_t k = 0; k < K; ++k) {
        const __m256 b0 = _mm256_load_ps(Bp + k * kPanel), b1 = _mm256_load_ps(Bp + k * kPanel + 8);
        for (int r = 0; r < MR; ++r) {
            const __m256 a = _mm256_broadcast_ss(A + size_t(r) * lda + k);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < MR; ++r) {
        float* c = C + size_t(r) * ldc;
        if (n_valid >= kPanel) {
            _mm256_storeu_ps(c, acc[r][0]);
            _mm256_storeu_ps(c + 8, acc[r][1]);
        } else {
            alignas(32) float t[kPanel];
            _mm256_store_ps(t, acc[r][0]);
            _mm256_store_ps(t + 8, acc[r][1]);
            std::memcpy(c, t, sizeof(float) * size_t(n_valid));
        }
    }
}

using TileFn = void (*)(const float*, size_t, const float*, size_t, float*, size_t, int);
constexpr TileFn kTiles[kRows + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

}  // namespace

void gemm_f16_avx2(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb, float* C,
                   int ldc) {
    const size_t k = size_t(K);
    std::vector<float> a(size_t(M) * k);
    for (int m = 0; m < M; ++m) {
        const uint16_t* src = A + size_t(m) * size_t(lda);
        float* dst = a.data() + size_t(m) * k;
        size_t i = 0;
        for (; i + 8 <= k; i += 8) _mm256_storeu_ps(dst + i, widen8(type, src + i));
        for (; i < k; ++i) dst[i] = widen1(type, src[i]);
    }
    // One panel buffer, 32-byte aligned for the tile's aligned loads.
    struct alignas(32) Line {
        float v[kPanel];
    };
    std::vector<Line> lines(k + 1);
    float* panel = reinterpret_cast<float*>(lines.data());
    for (int n0 = 0; n0 < N; n0 += kPanel) {
        const int nv = N - n0 < kPanel ? N - n0 : kPanel;
        for (size_t kk = 0; kk < k; ++kk) {
            const uint16_t* row = B + kk * size_t(ldb) + size_t(n0);
            float* dst = panel + kk * kPanel;
            if (nv == kPanel) {
                _mm256_store_ps(dst, widen8(type, row));
                _mm256_store_ps(dst + 8, widen8(type, row + 8));
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
