#include "quant/elementary.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace stacklab::quant {

double ref_exp(double x) {
    if (std::isnan(x)) return x;
    if (x > 709.78) return std::numeric_limits<double>::infinity();
    if (x < -745.2) return 0.0;
    // ln2 = ln2_hi + ln2_lo, ln2_hi with 32 significant bits so k * ln2_hi is exact for |k| < 2^21.
    const double ln2_hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000
    const double ln2_lo = 1.90821492927058770002e-10;  // 0x3dea39ef35793c76
    const double inv_ln2 = 1.44269504088896338700e+00;
    const double k = std::floor(x * inv_ln2 + 0.5);
    const double r = (x - k * ln2_hi) - k * ln2_lo;
    // Taylor series of e^r, Horner from the 14th degree down; |r| <= 0.3466. The factorials are
    // exact integers in double (14! < 2^53), so each coefficient 1/n! is correctly rounded.
    double fact[15];
    fact[0] = 1.0;
    for (int n = 1; n <= 14; ++n) fact[n] = fact[n - 1] * n;
    double p = 1.0 / fact[14];
    for (int n = 13; n >= 0; --n) p = p * r + 1.0 / fact[n];
    // ldexp is exact (a change of exponent) except where the result is subnormal.
    return std::ldexp(p, static_cast<int>(k));
}

double ref_erf(double x) {
    if (std::isnan(x)) return x;
    const double a = std::fabs(x);
    const double sign = x < 0 ? -1.0 : 1.0;
    if (a >= 6.0) return sign;
    const double two_over_sqrt_pi = 1.12837916709551257390;
    const double one_over_sqrt_pi = 0.56418958354775628695;
    if (a < 3.0) {
        // sum_n (2x^2)^n x / (1*3*...*(2n+1)); the terms shrink once 2n+3 > 2x^2 (n > 7 at x = 3).
        const double two_x2 = 2.0 * a * a;
        double term = a, sum = a;
        for (int n = 1; n < 200; ++n) {
            term *= two_x2 / (2 * n + 1);
            sum += term;
            if (term < sum * 1e-18) break;
        }
        return sign * two_over_sqrt_pi * ref_exp(-a * a) * sum;
    }
    // erfc x = e^(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))).
    double f = a;
    for (int n = 80; n >= 1; --n) f = a + (0.5 * n) / f;
    const double erfc = one_over_sqrt_pi * ref_exp(-a * a) / f;
    return sign * (1.0 - erfc);
}

double ref_tanh(double x) {
    if (std::isnan(x)) return x;
    const double a = std::fabs(x);
    if (a > 20.0) return x < 0 ? -1.0 : 1.0;  // 1 - tanh(20) < 1e-17
    const double t = ref_exp(-2.0 * a);
    const double r = (1.0 - t) / (1.0 + t);
    return x < 0 ? -r : r;
}

double ref_log10(double x) {
    if (std::isnan(x) || x < 0.0) return std::numeric_limits<double>::quiet_NaN();
    if (x == 0.0) return -std::numeric_limits<double>::infinity();
    if (std::isinf(x)) return x;
    int e = 0;
    double m = std::frexp(x, &e);  // exact: x = m * 2^e, m in [0.5, 1)
    if (m < 0.70710678118654752) {
        m *= 2.0;
        --e;
    }
    // ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 0.1716: 2 (t + t^3/3 + t^5/5 + ...); the
    // term t^(2k+1) / (2k+1) falls below 1e-20 relative by k = 13.
    const double t = (m - 1.0) / (m + 1.0), t2 = t * t;
    double power = t, sum = 0.0;
    for (int k = 0; k < 16; ++k) {
        sum += power / double(2 * k + 1);
        power *= t2;
    }
    const double log10_2 = 0.30102999566398119521, ln10 = 2.30258509299404568402;
    return double(e) * log10_2 + 2.0 * sum / ln10;
}

}  // namespace stacklab::quant
