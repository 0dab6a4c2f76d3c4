// Private to core/quant: the fp32 activations of activations.hpp written once over a vector trait V
// (activations_avx2_x86.cpp: 8 lanes, activations_avx512_x86.cpp: 16 lanes). Each is the scalar
// fast_* function of elementary.hpp transcribed operation for operation: the same multiplies, adds
// and divides in the same order, every select as a compare and a blend, no fused multiply-add (the
// including files are built with -ffp-contract=off, see core/CMakeLists.txt; g++ would otherwise
// contract a * b + c). IEEE arithmetic is correctly rounded per operation, so each lane equals the
// scalar function bit for bit, NaN and infinities included (tests/core/quant_normact_test.cpp
// sweeps bit patterns across the whole float range on every ISA to check it).
//
// Why by hand: g++ 12 vectorizes the scalar loops with SSE2 (4 lanes) but refuses to if-convert
// fast_exp once SSE4.1 or AVX2 is enabled, so a plain -mavx2 build of activations.cpp stays scalar.
//
// V provides: F (floats), I (int32 lanes), M (a lane mask); splat, zero, add, sub, mul, div; gt, lt,
// ge, is_number (x == x) -> M; select(M, a, b) (a where set); abs, neg; cvtt (truncate to I), cvt
// (I to F); isplat, iadd, isub, igt -> M, iselect; exponent (I << 23 as F bits); load, store; width.
#pragma once

#include <cstddef>

#include "quant/activations_kernels.hpp"

namespace stacklab::quant::detail::simd {

// fast_exp, line for line.
template <class V>
inline typename V::F exp_v(typename V::F x) {
    using F = typename V::F;
    using I = typename V::I;
    const F hi = V::splat(88.7f), lo = V::splat(-87.3f);
    F xc = V::select(V::gt(x, hi), hi, x);
    xc = V::select(V::lt(xc, lo), lo, xc);
    xc = V::select(V::is_number(xc), xc, V::zero());
    const F v = V::add(V::mul(xc, V::splat(1.44269504088896341f)), V::splat(0.5f));
    const F tr = V::cvt(V::cvtt(v));
    const F k = V::select(V::gt(tr, v), V::sub(tr, V::splat(1.0f)), tr);
    const F r = V::sub(V::sub(xc, V::mul(k, V::splat(0.693359375f))), V::mul(k, V::splat(-2.12194440e-4f)));
    F p = V::splat(1.9875691500e-4f);
    p = V::add(V::mul(p, r), V::splat(1.3981999507e-3f));
    p = V::add(V::mul(p, r), V::splat(8.3334519073e-3f));
    p = V::add(V::mul(p, r), V::splat(4.1665795894e-2f));
    p = V::add(V::mul(p, r), V::splat(1.6666665459e-1f));
    p = V::add(V::mul(p, r), V::splat(5.0000001201e-1f));
    const F er = V::add(V::add(V::mul(V::mul(p, r), r), r), V::splat(1.0f));
    const I ki = V::cvtt(k);
    const auto big = V::igt(ki, V::isplat(127));
    const auto small = V::igt(V::isplat(-126), ki);
    const I e = V::iselect(big, V::isub(ki, V::isplat(1)), V::iselect(small, V::iadd(ki, V::isplat(1)), ki));
    const F step = V::select(big, V::splat(2.0f), V::select(small, V::splat(0.5f), V::splat(1.0f)));
    const F pow2 = V::exponent(V::iadd(e, V::isplat(127)));
    const F y = V::mul(V::mul(er, pow2), step);
    const F out = V::select(V::gt(x, hi), V::splat(__builtin_inff()), V::select(V::lt(x, lo), V::zero(), y));
    return V::select(V::is_number(x), out, x);
}

// fast_erf, line for line.
template <class V>
inline typename V::F erf_v(typename V::F x) {
    using F = typename V::F;
    const F a = V::abs(x);
    const F t = V::div(V::splat(1.0f), V::add(V::splat(1.0f), V::mul(V::splat(0.3275911f), a)));
    F poly = V::splat(1.061405429f);
    poly = V::sub(V::mul(poly, t), V::splat(1.453152027f));
    poly = V::add(V::mul(poly, t), V::splat(1.421413741f));
    poly = V::sub(V::mul(poly, t), V::splat(0.284496736f));
    poly = V::add(V::mul(poly, t), V::splat(0.254829592f));
    poly = V::mul(poly, t);
    const F r = V::sub(V::splat(1.0f), V::mul(poly, exp_v<V>(V::mul(V::neg(a), a))));
    const F out = V::select(V::lt(x, V::zero()), V::neg(r), r);
    return V::select(V::is_number(x), out, x);
}

// fast_tanh, line for line.
template <class V>
inline typename V::F tanh_v(typename V::F x) {
    using F = typename V::F;
    const F a = V::abs(x);
    const F t = exp_v<V>(V::mul(V::splat(-2.0f), a));
    const F r = V::div(V::sub(V::splat(1.0f), t), V::add(V::splat(1.0f), t));
    const auto negative = V::lt(x, V::zero());
    const F out = V::select(V::gt(a, V::splat(9.0f)), V::select(negative, V::splat(-1.0f), V::splat(1.0f)),
                            V::select(negative, V::neg(r), r));
    return V::select(V::is_number(x), out, x);
}

// activations.cpp's gelu_erf_v, gelu_tanh_v and sigmoid_v.
template <class V>
inline typename V::F gelu_erf_v(typename V::F x, float inv_sqrt2) {
    return V::mul(V::mul(V::splat(0.5f), x), V::add(V::splat(1.0f), erf_v<V>(V::mul(x, V::splat(inv_sqrt2)))));
}
template <class V>
inline typename V::F gelu_tanh_v(typename V::F x, float sqrt2_over_pi, float cubic) {
    using F = typename V::F;
    const F x3 = V::mul(V::mul(V::mul(V::splat(cubic), x), x), x);
    const F inner = V::mul(V::splat(sqrt2_over_pi), V::add(x, x3));
    return V::mul(V::mul(V::splat(0.5f), x), V::add(V::splat(1.0f), tanh_v<V>(inner)));
}
template <class V>
inline typename V::F sigmoid_v(typename V::F x) {
    using F = typename V::F;
    const auto nonneg = V::ge(x, V::zero());
    const F e = exp_v<V>(V::select(nonneg, V::neg(x), x));
    const F den = V::add(V::splat(1.0f), e);
    return V::select(nonneg, V::div(V::splat(1.0f), den), V::div(e, den));
}

// The longest prefix of whole vectors; returns its length (the caller finishes the rest).
template <class V>
size_t activation(Activation a, const float* x, size_t n, float* y, const ActivationConstants& c) {
    auto run = [&](auto f) {
        size_t i = 0;
        for (; i + V::width <= n; i += V::width) V::store(y + i, f(V::load(x + i)));
        return i;
    };
    using F = typename V::F;
    switch (a) {
        case Activation::gelu_erf: return run([&](F v) { return gelu_erf_v<V>(v, c.inv_sqrt2); });
        case Activation::gelu_tanh: return run([&](F v) { return gelu_tanh_v<V>(v, c.sqrt2_over_pi, c.gelu_tanh_cubic); });
        case Activation::sigmoid: return run([](F v) { return sigmoid_v<V>(v); });
        case Activation::tanh: return run([](F v) { return tanh_v<V>(v); });
        case Activation::hardswish: return 0;  // the SSE2 loop of activations.cpp is already cheap
    }
    return 0;
}

}  // namespace stacklab::quant::detail::simd
