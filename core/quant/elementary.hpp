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
// The tests (tests/core/quant_normact_test.cpp) check every bound against the C library.
#pragma once

namespace stacklab::quant {

double ref_exp(double x);
double ref_erf(double x);
double ref_tanh(double x);
// log10 x from the exact frexp split x = m 2^e and the atanh series of ln m (|t| <= 0.172, 16
// terms): relative error within a few ulp; NaN below 0, -inf at 0. Used for decibels (SQNR).
double ref_log10(double x);

float fast_exp(float x);
float fast_erf(float x);
float fast_tanh(float x);

}  // namespace stacklab::quant
