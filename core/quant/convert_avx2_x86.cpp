// AVX2 loops of convert.hpp: eight lanes of exactly the portable loop's float operations (compare +
// blend for each select; built with -ffp-contract=off like the other exact-float AVX2 files).
#include <immintrin.h>

#include "quant/convert.hpp"

namespace stacklab::quant::detail {

namespace {

inline __m256 select(__m256 c, __m256 a, __m256 b) { return _mm256_blendv_ps(b, a, c); }

// Eight quantized values as int32 lanes: the portable loop's value in fewer instructions. It
// clamps x / scale to +-1024 and rounds to nearest even with the magic number; roundps rounds
// every value the same way, and a value beyond +-1024 stays beyond the storage range, where the
// final clamp takes it to the same end (|1024 + zero point| > 255 for every zero point). Then the
// zero point (or the zero point alone for NaN: the select only where x may be NaN) and the clamp.
// maxps(a, b) is (a > b ? a : b) and minps(a, b) is (a < b ? a : b), b when either is NaN: so
// maxps(lo, r) is the select (r < lo ? lo : r) lane for lane in one instruction.
template <bool MaybeNan = true>
inline __m256i quantize8(__m256 x, __m256 scale, __m256 zf, __m256 lof, __m256 hif) {
    __m256 r = _mm256_round_ps(_mm256_div_ps(x, scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    if constexpr (MaybeNan) r = select(_mm256_cmp_ps(r, r, _CMP_EQ_OQ), _mm256_add_ps(r, zf), zf);
    else r = _mm256_add_ps(r, zf);
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

// The QdqOutput map on eight accumulators: the cvt / mul / add / ReLU select of
// dequantize_accumulators (each an IEEE operation rounded once, no contraction), then quantize8,
// its NaN select only where v can be NaN (MaybeNan: a multiplier or bias that is not finite;
// finite ones give finite or infinite v).
template <bool Relu, bool MaybeNan>
inline __m256i requantize8(__m256i a, __m256 m, __m256 b, __m256 scale, __m256 zf, __m256 lof, __m256 hif) {
    __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a), m), b);
    // maxps(0, v) is (0 > v ? 0 : v): the select (v < 0 ? 0 : v), -0 and NaN passing through.
    if constexpr (Relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);
    return quantize8<MaybeNan>(v, scale, zf, lof, hif);
}

template <bool Signed, bool Relu, bool PerColumn, bool MaybeNan, class T>
size_t requantize_blocks(const int32_t* acc, size_t n, const QdqOutput& q, T* y) {
    const __m256 s = _mm256_set1_ps(q.scale), zf = _mm256_set1_ps(float(q.zero_point));
    const __m256 lof = _mm256_set1_ps(Signed ? -128.0f : 0.0f), hif = _mm256_set1_ps(Signed ? 127.0f : 255.0f);
    const __m256 m1 = _mm256_set1_ps(q.multiplier[0]), b1 = _mm256_set1_ps(q.bias[0]);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 m = PerColumn ? _mm256_loadu_ps(q.multiplier + i) : m1;
        const __m256 b = PerColumn ? _mm256_loadu_ps(q.bias + i) : b1;
        const __m256i r = requantize8<Relu, MaybeNan>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + i)), m,
                                                      b, s, zf, lof, hif);
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        const __m128i bytes = Signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), bytes);
    }
    return i;
}

template <bool Signed, class T>
size_t requantize_run(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, T* y) {
    return with_requantize_flags(q.relu, per_column, !finite, [&](auto relu, auto column, auto nan) {
        return requantize_blocks<Signed, decltype(relu)::value, decltype(column)::value, decltype(nan)::value>(acc, n, q, y);
    });
}

}  // namespace

size_t requantize_run_avx2(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, int8_t* y) {
    return requantize_run<true>(acc, n, q, per_column, finite, y);
}
size_t requantize_run_avx2(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, uint8_t* y) {
    return requantize_run<false>(acc, n, q, per_column, finite, y);
}

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
