// AVX2 forms of the fp32 activations (activations.hpp), eight values at a time. Each is the scalar
// fast_* function of elementary.hpp transcribed operation for operation: the same multiplies, adds
// and divides in the same order, every select as a compare and a blend, no fused multiply-add (this
// file is built with -ffp-contract=off, see core/CMakeLists.txt; g++ would otherwise contract the
// intrinsics' a * b + c). IEEE arithmetic is correctly rounded per operation, so each lane equals
// the scalar function bit for bit, NaN and infinities included (tests/core/quant_normact_test.cpp
// sweeps bit patterns across the whole float range to check it).
//
// Why by hand: g++ 12 vectorizes the scalar loops with SSE2 (4 lanes) but refuses to if-convert
// fast_exp once SSE4.1 or AVX2 is enabled, so a plain -mavx2 build of activations.cpp stays scalar.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "quant/activations_kernels.hpp"

namespace stacklab::quant::detail {

namespace {

inline __m256 splat(float v) { return _mm256_set1_ps(v); }
// c ? a : b, lane by lane, for a compare mask c.
inline __m256 select(__m256 c, __m256 a, __m256 b) { return _mm256_blendv_ps(b, a, c); }
inline __m256 gt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
inline __m256 lt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline __m256 is_number(__m256 a) { return _mm256_cmp_ps(a, a, _CMP_EQ_OQ); }  // x == x
inline __m256 abs8(__m256 a) { return _mm256_andnot_ps(splat(-0.0f), a); }     // std::fabs
inline __m256 neg8(__m256 a) { return _mm256_xor_ps(splat(-0.0f), a); }       // unary minus

// fast_exp, line for line.
inline __m256 exp8(__m256 x) {
    const __m256 hi = splat(88.7f), lo = splat(-87.3f);
    __m256 xc = select(gt(x, hi), hi, x);
    xc = select(lt(xc, lo), lo, xc);
    xc = select(is_number(xc), xc, _mm256_setzero_ps());
    const __m256 v = _mm256_add_ps(_mm256_mul_ps(xc, splat(1.44269504088896341f)), splat(0.5f));
    const __m256 tr = _mm256_cvtepi32_ps(_mm256_cvttps_epi32(v));
    const __m256 k = select(gt(tr, v), _mm256_sub_ps(tr, splat(1.0f)), tr);
    const __m256 r =
        _mm256_sub_ps(_mm256_sub_ps(xc, _mm256_mul_ps(k, splat(0.693359375f))), _mm256_mul_ps(k, splat(-2.12194440e-4f)));
    __m256 p = splat(1.9875691500e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), splat(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), splat(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), splat(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), splat(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), splat(5.0000001201e-1f));
    const __m256 er = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), splat(1.0f));
    const __m256i ki = _mm256_cvttps_epi32(k);
    const __m256i big = _mm256_cmpgt_epi32(ki, _mm256_set1_epi32(127));
    const __m256i small = _mm256_cmpgt_epi32(_mm256_set1_epi32(-126), ki);
    const __m256i e = _mm256_blendv_epi8(_mm256_blendv_epi8(ki, _mm256_add_epi32(ki, _mm256_set1_epi32(1)), small),
                                         _mm256_sub_epi32(ki, _mm256_set1_epi32(1)), big);
    const __m256 step = select(_mm256_castsi256_ps(big), splat(2.0f),
                               select(_mm256_castsi256_ps(small), splat(0.5f), splat(1.0f)));
    const __m256 pow2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
    const __m256 y = _mm256_mul_ps(_mm256_mul_ps(er, pow2), step);
    const __m256 out = select(gt(x, hi), splat(__builtin_inff()), select(lt(x, lo), _mm256_setzero_ps(), y));
    return select(is_number(x), out, x);
}

// fast_erf, line for line.
inline __m256 erf8(__m256 x) {
    const __m256 a = abs8(x);
    const __m256 t = _mm256_div_ps(splat(1.0f), _mm256_add_ps(splat(1.0f), _mm256_mul_ps(splat(0.3275911f), a)));
    __m256 poly = splat(1.061405429f);
    poly = _mm256_sub_ps(_mm256_mul_ps(poly, t), splat(1.453152027f));
    poly = _mm256_add_ps(_mm256_mul_ps(poly, t), splat(1.421413741f));
    poly = _mm256_sub_ps(_mm256_mul_ps(poly, t), splat(0.284496736f));
    poly = _mm256_add_ps(_mm256_mul_ps(poly, t), splat(0.254829592f));
    poly = _mm256_mul_ps(poly, t);
    const __m256 r = _mm256_sub_ps(splat(1.0f), _mm256_mul_ps(poly, exp8(_mm256_mul_ps(neg8(a), a))));
    const __m256 out = select(lt(x, _mm256_setzero_ps()), neg8(r), r);
    return select(is_number(x), out, x);
}

// fast_tanh, line for line.
inline __m256 tanh8(__m256 x) {
    const __m256 a = abs8(x);
    const __m256 t = exp8(_mm256_mul_ps(splat(-2.0f), a));
    const __m256 r = _mm256_div_ps(_mm256_sub_ps(splat(1.0f), t), _mm256_add_ps(splat(1.0f), t));
    const __m256 negative = lt(x, _mm256_setzero_ps());
    const __m256 out = select(gt(a, splat(9.0f)), select(negative, splat(-1.0f), splat(1.0f)), select(negative, neg8(r), r));
    return select(is_number(x), out, x);
}

// activations.cpp's gelu_erf_v, gelu_tanh_v and sigmoid_v.
inline __m256 gelu_erf8(__m256 x, float inv_sqrt2) {
    return _mm256_mul_ps(_mm256_mul_ps(splat(0.5f), x),
                         _mm256_add_ps(splat(1.0f), erf8(_mm256_mul_ps(x, splat(inv_sqrt2)))));
}
inline __m256 gelu_tanh8(__m256 x, float sqrt2_over_pi, float cubic) {
    const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(splat(cubic), x), x), x);
    const __m256 inner = _mm256_mul_ps(splat(sqrt2_over_pi), _mm256_add_ps(x, x3));
    return _mm256_mul_ps(_mm256_mul_ps(splat(0.5f), x), _mm256_add_ps(splat(1.0f), tanh8(inner)));
}
inline __m256 sigmoid8(__m256 x) {
    const __m256 nonneg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
    const __m256 e = exp8(select(nonneg, neg8(x), x));
    const __m256 den = _mm256_add_ps(splat(1.0f), e);
    return select(nonneg, _mm256_div_ps(splat(1.0f), den), _mm256_div_ps(e, den));
}

template <class F>
size_t run8(const float* x, size_t n, float* y, F f) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
    return i;
}

}  // namespace

size_t activation_avx2(Activation a, const float* x, size_t n, float* y, const ActivationConstants& c) {
    switch (a) {
        case Activation::gelu_erf: return run8(x, n, y, [&](__m256 v) { return gelu_erf8(v, c.inv_sqrt2); });
        case Activation::gelu_tanh:
            return run8(x, n, y, [&](__m256 v) { return gelu_tanh8(v, c.sqrt2_over_pi, c.gelu_tanh_cubic); });
        case Activation::sigmoid: return run8(x, n, y, sigmoid8);
        case Activation::tanh: return run8(x, n, y, tanh8);
        case Activation::hardswish: return 0;  // the SSE2 loop of activations.cpp is already cheap
    }
    return 0;
}

}  // namespace stacklab::quant::detail
