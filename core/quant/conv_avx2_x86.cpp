// conv_kernels.hpp's direct_plane pairs in AVX2 (this file gets -mavx2): as conv_avx512_x86.cpp's
// with pmaddwd + paddd on 16 positions per register, four sums per block of 64 positions.
#include <immintrin.h>

#include "quant/conv_kernels.hpp"

namespace stacklab::quant::detail {

namespace {

// Even sums (positions 0, 2, ..., 14 of a run of 16) and odd ones into position order.
inline void store_interleaved(int32_t* acc, __m256i e, __m256i o) {
    const __m256i a = _mm256_unpacklo_epi32(e, o), b = _mm256_unpackhi_epi32(e, o);  // 0 1 2 3 | 8 9 10 11, 4 5 6 7 | 12 ..
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc), _mm256_permute2x128_si256(a, b, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 8), _mm256_permute2x128_si256(a, b, 0x31));
}

inline __m256i load(const int16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

}  // namespace

void direct_pairs_avx2(int32_t* acc, const int16_t* x, const size_t* off, const int32_t* w, size_t pairs, size_t n) {
    for (size_t p = 0; p < n; p += 32) {
        __m256i e0 = _mm256_setzero_si256(), o0 = e0, e1 = e0, o1 = e0;
        for (size_t t = 0; t < pairs; ++t) {
            const int16_t* xp = x + off[t] + p;
            const __m256i wt = _mm256_set1_epi32(w[t]);
            e0 = _mm256_add_epi32(e0, _mm256_madd_epi16(load(xp), wt));
            o0 = _mm256_add_epi32(o0, _mm256_madd_epi16(load(xp + 1), wt));
            e1 = _mm256_add_epi32(e1, _mm256_madd_epi16(load(xp + 16), wt));
            o1 = _mm256_add_epi32(o1, _mm256_madd_epi16(load(xp + 17), wt));
        }
        store_interleaved(acc + p, e0, o0);
        store_interleaved(acc + p + 16, e1, o1);
    }
}

}  // namespace stacklab::quant::detail
