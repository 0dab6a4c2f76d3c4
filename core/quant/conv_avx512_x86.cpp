// conv_kernels.hpp's direct_plane pairs in AVX-512 (this file gets -mavx512f/bw/vl/vnni...).
// A 32-bit load at x + p holds the pair (x[p], x[p + 1]) for position p, so one load per tap pair
// serves the even positions p, p + 2, ... and one at x + p + 1 the odd ones; vpdpwssd multiplies
// both taps and adds them to the position's sum (exact: 16 x 16-bit products, int32 sums, no
// saturation). Even and odd sums are interleaved back into position order at the end of a block.
#include <immintrin.h>

#include "quant/conv_kernels.hpp"

namespace stacklab::quant::detail {

void direct_pairs_avx512(int32_t* acc, const int16_t* x, const size_t* off, const int32_t* w, size_t pairs, size_t n) {
    static_assert(kDirectRound == 64, "one block is 64 positions");
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (size_t p = 0; p < n; p += 64) {
        // Four independent sums (positions p .. p + 31 and p + 32 .. p + 63, even and odd).
        __m512i e0 = _mm512_setzero_si512(), o0 = e0, e1 = e0, o1 = e0;
        for (size_t t = 0; t < pairs; ++t) {
            const int16_t* xp = x + off[t] + p;
            const __m512i wt = _mm512_set1_epi32(w[t]);
            e0 = _mm512_dpwssd_epi32(e0, _mm512_loadu_si512(xp), wt);
            o0 = _mm512_dpwssd_epi32(o0, _mm512_loadu_si512(xp + 1), wt);
            e1 = _mm512_dpwssd_epi32(e1, _mm512_loadu_si512(xp + 32), wt);
            o1 = _mm512_dpwssd_epi32(o1, _mm512_loadu_si512(xp + 33), wt);
        }
        _mm512_storeu_si512(acc + p, _mm512_permutex2var_epi32(e0, lo, o0));
        _mm512_storeu_si512(acc + p + 16, _mm512_permutex2var_epi32(e0, hi, o0));
        _mm512_storeu_si512(acc + p + 32, _mm512_permutex2var_epi32(e1, lo, o1));
        _mm512_storeu_si512(acc + p + 48, _mm512_permutex2var_epi32(e1, hi, o1));
    }
}

}  // namespace stacklab::quant::detail
