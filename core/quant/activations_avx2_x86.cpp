// AVX2 forms of the fp32 activations (activations.hpp), eight values at a time: the vector trait for
// activations_simd.hpp (which has the functions and why they equal the scalar ones bit for bit).
#include <immintrin.h>

#include "quant/activations_simd.hpp"

namespace stacklab::quant::detail {
namespace {

struct Avx2 {
    using F = __m256;
    using I = __m256i;
    using M = __m256;  // compare result: all ones / all zeros per lane
    static constexpr size_t width = 8;
    static F splat(float v) { return _mm256_set1_ps(v); }
    static F zero() { return _mm256_setzero_ps(); }
    static F add(F a, F b) { return _mm256_add_ps(a, b); }
    static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
    static F div(F a, F b) { return _mm256_div_ps(a, b); }
    static M gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static M lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static M ge(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
    static M is_number(F a) { return _mm256_cmp_ps(a, a, _CMP_EQ_OQ); }
    static F select(M c, F a, F b) { return _mm256_blendv_ps(b, a, c); }
    static F abs(F a) { return _mm256_andnot_ps(splat(-0.0f), a); }  // std::fabs
    static F neg(F a) { return _mm256_xor_ps(splat(-0.0f), a); }     // unary minus
    static I cvtt(F a) { return _mm256_cvttps_epi32(a); }
    static F cvt(I a) { return _mm256_cvtepi32_ps(a); }
    static I isplat(int v) { return _mm256_set1_epi32(v); }
    static I iadd(I a, I b) { return _mm256_add_epi32(a, b); }
    static I isub(I a, I b) { return _mm256_sub_epi32(a, b); }
    static M igt(I a, I b) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(a, b)); }
    static I iselect(M c, I a, I b) { return _mm256_blendv_epi8(b, a, _mm256_castps_si256(c)); }
    static F exponent(I e) { return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)); }
    static F load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
};

}  // namespace

size_t activation_avx2(Activation a, const float* x, size_t n, float* y, const ActivationConstants& c) {
    return simd::activation<Avx2>(a, x, n, y, c);
}

}  // namespace stacklab::quant::detail
