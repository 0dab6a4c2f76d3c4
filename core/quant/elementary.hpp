// Elementary functions (exp, erf, tanh) written with + - * / and exact scaling only, so every
// kernel that uses them gives the same bits natively (glibc) and in WebAssembly (musl): the C
// library's exp/erf/tanh are not correctly rounded and differ between libraries by an ulp here and
// there, which would make a printed drift report differ between the two targets.
//
//   ref_*   double, the references that define the semantics of GELU, softmax, sigmoid, tanh.
//           ref_exp: Cody-Waite reduction x = k ln2 + r (|r| <= ln2/2, ln2 split into a 32-bit
//           head so k*ln2_hi is exact) and the Taylor series of e^r to degree 14 (truncation
//           < 1e-17 relative); relative error within a few ulp.
//           ref_erf: |x| < 3: erf x = 2/sqrt(pi) e^(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
//           (Abramowitz & Stegun 7.1.6; every term positive, so no cancellation); |x| >= 3: the
//           continued fraction of erfc (A&S 7.1.14) evaluated bottom-up over 80 levels; |x| >= 6:
//           +-1 (erfc(6) < 2.2e-17). Absolute error < 2e-15 (mostly the rounding of -x^2).
//           ref_tanh: (1 - e^(-2|x|)) / (1 + e^(-2|x|)) with the sign restored. Absolute error
//           < 1e-15 (relative accuracy near 0 is not needed by any caller: GELU multiplies by x).
//   fast_*  float, branch-light and vectorizable, the fast fp32 paths:
//           fast_exp: Cephes expf (reduction with C1 = 0.693359375, C2 = -2.12194440e-4, degree-6
//           polynomial), exponent built in the bits; returns 0 below -87.3 (no subnormals) and
//           +inf above 88.7. Relative error <= 3e-7.
//           fast_erf: Abramowitz & Stegun 7.1.26 (p = 0.3275911, a1..a5), absolute error 1.5e-7
//           plus float rounding: asserted < 5e-7.
//           fast_tanh: (1 - e^(-2|x|)) / (1 + e^(-2|x|)) with fast_exp, absolute error < 5e-7.
// The fast_* functions are defined here, inline and written with selects instead of early returns
// (every branch computed on a clamped input, the answer picked at the end), so that a loop over an
// array of them vectorizes (natively with -fno-trapping-math, see core/CMakeLists.txt; SIMD128 in
// wasm). Each select picks exactly the
// value the plain branchy code returns, and floor(v) for |v| < 2^31 is computed exactly from the
// truncation, so the bits are those of the straightforward code on every input.
// The tests (tests/core/quant_normact_test.cpp) check every bound against the C library.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace stacklab::quant {

double ref_exp(double x);
double ref_erf(double x);
double ref_tanh(double x);
// log10 x from the exact frexp split x = m 2^e and the atanh series of ln m (|t| <= 0.172, 16
// terms): relative error within a few ulp; NaN below 0, -inf at 0. Used for decibels (SQNR).
double ref_log10(double x);

inline float fast_exp(float x) {
    // The computed branch runs on x clamped to [-87.3, 88.7] (NaN to 0); the selects at the end
    // give NaN, +inf above 88.7 and 0 below -87.3.
    float xc = x > 88.7f ? 88.7f : x;
    xc = xc < -87.3f ? -87.3f : xc;
    xc = xc == xc ? xc : 0.0f;
    const float v = xc * 1.44269504088896341f + 0.5f;  // in [-125.5, 128.5]
    const float tr = static_cast<float>(static_cast<int32_t>(v));
    const float k = tr > v ? tr - 1.0f : tr;  // floor(v)
    // Cephes expf: ln2 = C1 - C2 with C1 exact in 9 bits, so k * C1 is exact.
    const float r = (xc - k * 0.693359375f) - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float er = p * r * r + r + 1.0f;
    // 2^k from its bits; k is in [-126, 128]. For k = 128 scale in two steps (the factor 1 is exact).
    const int32_t ki = static_cast<int32_t>(k);
    const int32_t e = ki > 127 ? ki - 1 : (ki < -126 ? ki + 1 : ki);
    const float step = ki > 127 ? 2.0f : (ki < -126 ? 0.5f : 1.0f);
    const uint32_t bits = static_cast<uint32_t>(e + 127) << 23;
    float pow2;
    std::memcpy(&pow2, &bits, sizeof pow2);
    const float y = er * pow2 * step;
    const float out = x > 88.7f ? std::numeric_limits<float>::infinity() : (x < -87.3f ? 0.0f : y);
    return x == x ? out : x;
}

inline float fast_erf(float x) {
    const float a = std::fabs(x);
    // A&S 7.1.26: erf x = 1 - (a1 t + a2 t^2 + a3 t^3 + a4 t^4 + a5 t^5) e^(-x^2), t = 1/(1 + p x).
    const float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = 1.061405429f;
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    poly = poly * t;
    const float r = 1.0f - poly * fast_exp(-a * a);
    const float out = x < 0 ? -r : r;
    return x == x ? out : x;
}

inline float fast_tanh(float x) {
    const float a = std::fabs(x);
    const float t = fast_exp(-2.0f * a);
    const float r = (1.0f - t) / (1.0f + t);
    const float out = a > 9.0f ? (x < 0 ? -1.0f : 1.0f) : (x < 0 ? -r : r);  // 1 - tanh(9) < 3e-8: below half an ulp of 1
    return x == x ? out : x;
}

}  // namespace stacklab::quant
