// WebAssembly SIMD128 forms of the fp32 activations (activations.hpp), four values at a time: the
// AVX2 file (activations_avx2_x86.cpp) lane for lane, i.e. each scalar fast_* function of
// elementary.hpp transcribed operation for operation, every select a compare and a bitselect (or
// the pmin / pmax defined as that select).
// SIMD128 has no fused multiply-add and IEEE arithmetic is correctly rounded per operation, so each
// lane equals the scalar function bit for bit (tests/core/quant_normact_test.cpp sweeps bit patterns
// across the float range on every ISA, NaN results compared as NaN).
//
// Why by hand: clang vectorizes only some of the scalar loops (the selects of fast_exp defeat it),
// and the scalar GELU was half the time of the int8 Mixer in the browser.
#include <wasm_simd128.h>

#include <cstddef>
#include <cstdint>

#include "quant/activations_kernels.hpp"

namespace stacklab::quant::detail {

namespace {

inline v128_t splat(float v) { return wasm_f32x4_splat(v); }
// c ? a : b, lane by lane, for a compare mask c.
inline v128_t select(v128_t c, v128_t a, v128_t b) { return wasm_v128_bitselect(a, b, c); }
inline v128_t gt(v128_t a, v128_t b) { return wasm_f32x4_gt(a, b); }
inline v128_t lt(v128_t a, v128_t b) { return wasm_f32x4_lt(a, b); }
inline v128_t is_number(v128_t a) { return wasm_f32x4_eq(a, a); }  // x == x
inline v128_t abs4(v128_t a) { return wasm_f32x4_abs(a); }  // std::fabs
inline v128_t neg4(v128_t a) { return wasm_f32x4_neg(a); }  // unary minus

// fast_exp, line for line.
inline v128_t exp4(v128_t x) {
    const v128_t hi = splat(88.7f), lo = splat(-87.3f);
    // pmin(a, b) is defined as b < a ? b : a and pmax(a, b) as a < b ? b : a: the two clamps.
    v128_t xc = wasm_f32x4_pmax(wasm_f32x4_pmin(x, hi), lo);
    xc = select(is_number(xc), xc, wasm_f32x4_splat(0.0f));
    const v128_t v = wasm_f32x4_add(wasm_f32x4_mul(xc, splat(1.44269504088896341f)), splat(0.5f));
    const v128_t tr = wasm_f32x4_convert_i32x4(wasm_i32x4_trunc_sat_f32x4(v));
    const v128_t k = select(gt(tr, v), wasm_f32x4_sub(tr, splat(1.0f)), tr);
    const v128_t r =
        wasm_f32x4_sub(wasm_f32x4_sub(xc, wasm_f32x4_mul(k, splat(0.693359375f))), wasm_f32x4_mul(k, splat(-2.12194440e-4f)));
    v128_t p = splat(1.9875691500e-4f);
    p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.3981999507e-3f));
    p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(8.3334519073e-3f));
    p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(4.1665795894e-2f));
    p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.6666665459e-1f));
    p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(5.0000001201e-1f));
    const v128_t er = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), r), splat(1.0f));
    const v128_t ki = wasm_i32x4_trunc_sat_f32x4(k);
    const v128_t big = wasm_i32x4_gt(ki, wasm_i32x4_splat(127));
    const v128_t small = wasm_i32x4_gt(wasm_i32x4_splat(-126), ki);
    const v128_t e = wasm_v128_bitselect(wasm_i32x4_sub(ki, wasm_i32x4_splat(1)),
                                         wasm_v128_bitselect(wasm_i32x4_add(ki, wasm_i32x4_splat(1)), ki, small), big);
    const v128_t step = select(big, splat(2.0f), select(small, splat(0.5f), splat(1.0f)));
    const v128_t pow2 = wasm_i32x4_shl(wasm_i32x4_add(e, wasm_i32x4_splat(127)), 23);
    const v128_t y = wasm_f32x4_mul(wasm_f32x4_mul(er, pow2), step);
    const v128_t out = select(gt(x, hi), splat(__builtin_inff()), select(lt(x, lo), wasm_f32x4_splat(0.0f), y));
    return select(is_number(x), out, x);
}

// fast_erf, line for line.
inline v128_t erf4(v128_t x) {
    const v128_t a = abs4(x);
    const v128_t t = wasm_f32x4_div(splat(1.0f), wasm_f32x4_add(splat(1.0f), wasm_f32x4_mul(splat(0.3275911f), a)));
    v128_t poly = splat(1.061405429f);
    poly = wasm_f32x4_sub(wasm_f32x4_mul(poly, t), splat(1.453152027f));
    poly = wasm_f32x4_add(wasm_f32x4_mul(poly, t), splat(1.421413741f));
    poly = wasm_f32x4_sub(wasm_f32x4_mul(poly, t), splat(0.284496736f));
    poly = wasm_f32x4_add(wasm_f32x4_mul(poly, t), splat(0.254829592f));
    poly = wasm_f32x4_mul(poly, t);
    const v128_t r = wasm_f32x4_sub(splat(1.0f), wasm_f32x4_mul(poly, exp4(wasm_f32x4_mul(neg4(a), a))));
    const v128_t out = select(lt(x, wasm_f32x4_splat(0.0f)), neg4(r), r);
    return select(is_number(x), out, x);
}

// fast_tanh, line for line.
inline v128_t tanh4(v128_t x) {
    const v128_t a = abs4(x);
    const v128_t t = exp4(wasm_f32x4_mul(splat(-2.0f), a));
    const v128_t r = wasm_f32x4_div(wasm_f32x4_sub(splat(1.0f), t), wasm_f32x4_add(splat(1.0f), t));
    const v128_t negative = lt(x, wasm_f32x4_splat(0.0f));
    const v128_t out = select(gt(a, splat(9.0f)), select(negative, splat(-1.0f), splat(1.0f)), select(negative, neg4(r), r));
    return select(is_number(x), out, x);
}

// activations.cpp's gelu_erf_v, gelu_tanh_v and sigmoid_v.
inline v128_t gelu_erf4(v128_t x, float inv_sqrt2) {
    return wasm_f32x4_mul(wasm_f32x4_mul(splat(0.5f), x),
                          wasm_f32x4_add(splat(1.0f), erf4(wasm_f32x4_mul(x, splat(inv_sqrt2)))));
}
inline v128_t gelu_tanh4(v128_t x, float sqrt2_over_pi, float cubic) {
    const v128_t x3 = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_mul(splat(cubic), x), x), x);
    const v128_t inner = wasm_f32x4_mul(splat(sqrt2_over_pi), wasm_f32x4_add(x, x3));
    return wasm_f32x4_mul(wasm_f32x4_mul(splat(0.5f), x), wasm_f32x4_add(splat(1.0f), tanh4(inner)));
}
inline v128_t sigmoid4(v128_t x) {
    const v128_t nonneg = wasm_f32x4_ge(x, wasm_f32x4_splat(0.0f));
    const v128_t e = exp4(select(nonneg, neg4(x), x));
    const v128_t den = wasm_f32x4_add(splat(1.0f), e);
    return select(nonneg, wasm_f32x4_div(splat(1.0f), den), wasm_f32x4_div(e, den));
}

template <class F>
size_t run4(const float* x, size_t n, float* y, F f) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, f(wasm_v128_load(x + i)));
    return i;
}

}  // namespace

size_t activation_wasm(Activation a, const float* x, size_t n, float* y, const ActivationConstants& c) {
    switch (a) {
        case Activation::gelu_erf: return run4(x, n, y, [&](v128_t v) { return gelu_erf4(v, c.inv_sqrt2); });
        case Activation::gelu_tanh:
            return run4(x, n, y, [&](v128_t v) { return gelu_tanh4(v, c.sqrt2_over_pi, c.gelu_tanh_cubic); });
        case Activation::sigmoid: return run4(x, n, y, sigmoid4);
        case Activation::tanh: return run4(x, n, y, tanh4);
        case Activation::hardswish: return 0;  // the scalar loop of activations.cpp vectorizes
    }
    return 0;
}

}  // namespace stacklab::quant::detail
