// AVX2 loops of convert.hpp: eight lanes of exactly the portable loop's float operations (compare +
// blend for each select; built with -ffp-contract=off like the other exact-float AVX2 files).
#include <immintrin.h>

#include "quant/convert.hpp"

namespace stacklab::quant::detail {

namespace {

inline __m256 select(__m256 c, __m256 a, __m256 b) { return _mm256_blendv_ps(b, a, c); }

// Eight quantized values as int32 lanes.
inline __m256i quantize8(__m256 x, __m256 scale, __m256 zf, __m256 lof, __m256 hif) {
    const __m256 lim = _mm256_set1_ps(1024.0f), nlim = _mm256_set1_ps(-1024.0f), magic = _mm256_set1_ps(12582912.0f);
    // maxps(a, b) is (a > b ? a : b) and minps(a, b) is (a < b ? a : b), b when either is NaN: so
    // maxps(lo, v) is the select (v < lo ? lo : v) lane for lane, NaN included, in one instruction.
    __m256 v = _mm256_div_ps(x, scale);
    v = _mm256_max_ps(nlim, v);
    v = _mm256_min_ps(lim, v);
    __m256 r = _mm256_sub_ps(_mm256_add_ps(v, magic), magic);
    r = select(_mm256_cmp_ps(r, r, _CMP_EQ_OQ), _mm256_add_ps(r, zf), zf);
    r = _mm256_max_ps(lof, r);
    r = _mm256_min_ps(hif, r);
    return _mm256_cvttps_epi32(r);
}

template <bool Signed, class T>
size_t quantize_blocks(const float* x, size_t n, float scale, int32_t z, T* y) {
    const __m256 s = _mm256_set1_ps(scale), zf = _mm256_set1_ps(float(z));
    const __m256 lof = _mm256_set1_ps(Signed ? -128.0f : 0.0f), hif = _mm256_set1_ps(Signed ? 127.0f : 255.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i q = quantize8(_mm256_loadu_ps(x + i), s, zf, lof, hif);
        // The lanes are already within the storage range, so the saturating packs only narrow.
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        const __m128i b = Signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), b);
    }
    return i;
}

template <bool Signed, class T>
size_t dequantize_blocks(const T* q, size_t n, float scale, int32_t z, float* x) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256i zv = _mm256_set1_epi32(z);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + i));
        const __m256i v = Signed ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, zv)), s));
    }
    return i;
}

}  // namespace

size_t quantize_array_avx2(const float* x, size_t n, float scale, int32_t z, int8_t* y) {
    return quantize_blocks<true>(x, n, scale, z, y);
}
size_t quantize_array_avx2(const float* x, size_t n, float scale, int32_t z, uint8_t* y) {
    return quantize_blocks<false>(x, n, scale, z, y);
}
size_t dequantize_array_avx2(const int8_t* q, size_t n, float scale, int32_t z, float* x) {
    return dequantize_blocks<true>(q, n, scale, z, x);
}
size_t dequantize_array_avx2(const uint8_t* q, size_t n, float scale, int32_t z, float* x) {
    return dequantize_blocks<false>(q, n, scale, z, x);
}

}  // namespace stacklab::quant::detail
