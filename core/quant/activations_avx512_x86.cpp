// AVX-512 forms of the fp32 activations (activations.hpp), sixteen values at a time: the vector
// trait for activations_simd.hpp (which has the functions and why they equal the scalar ones bit
// for bit). Compares give mask registers and selects are mask blends; the arithmetic per lane is
// the AVX2 form's. Zen 5's 512-bit pipes run it at twice the AVX2 form's rate.
// GCC 12's avx512fintrin.h seeds some intrinsics (cvttps_epi32, andnot, xor) with a self-initialized
// `_mm512_undefined_*` vector and then warns that it may be used uninitialized: a false positive
// fixed in GCC 13 (the value is fully overwritten; see e.g. google/highway#710).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "quant/activations_simd.hpp"

namespace stacklab::quant::detail {
namespace {

struct Avx512 {
    using F = __m512;
    using I = __m512i;
    using M = __mmask16;
    static constexpr size_t width = 16;
    static F splat(float v) { return _mm512_set1_ps(v); }
    static F zero() { return _mm512_setzero_ps(); }
    static F add(F a, F b) { return _mm512_add_ps(a, b); }
    static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
    static F div(F a, F b) { return _mm512_div_ps(a, b); }
    static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static M ge(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
    static M is_number(F a) { return _mm512_cmp_ps_mask(a, a, _CMP_EQ_OQ); }
    static F select(M c, F a, F b) { return _mm512_mask_blend_ps(c, b, a); }  // set lanes take a
    static F abs(F a) { return _mm512_andnot_ps(splat(-0.0f), a); }           // std::fabs
    static F neg(F a) { return _mm512_xor_ps(splat(-0.0f), a); }              // unary minus
    static I cvtt(F a) { return _mm512_cvttps_epi32(a); }
    static F cvt(I a) { return _mm512_cvtepi32_ps(a); }
    static I isplat(int v) { return _mm512_set1_epi32(v); }
    static I iadd(I a, I b) { return _mm512_add_epi32(a, b); }
    static I isub(I a, I b) { return _mm512_sub_epi32(a, b); }
    static M igt(I a, I b) { return _mm512_cmpgt_epi32_mask(a, b); }
    static I iselect(M c, I a, I b) { return _mm512_mask_blend_epi32(c, b, a); }
    static F exponent(I e) { return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23)); }
    static F load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
};

}  // namespace

size_t activation_avx512(Activation a, const float* x, size_t n, float* y, const ActivationConstants& c) {
    return simd::activation<Avx512>(a, x, n, y, c);
}

}  // namespace stacklab::quant::detail
