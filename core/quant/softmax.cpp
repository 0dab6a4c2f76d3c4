#include "quant/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "quant/elementary.hpp"
#include "quant/formats.hpp"

namespace stacklab::quant {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("quant: " + message); }

void check_args(const char* fn, const void* x, size_t rows, size_t cols, const void* y) {
    const std::string f = fn;
    if (rows > 0 && cols == 0) fail(f + ": cols must be > 0");
    if (rows > 0 && (x == nullptr || y == nullptr)) fail(f + ": x and y must not be null");
}

void check_beta(const char* fn, float beta) {
    if (!std::isfinite(beta) || !(beta > 0.0f)) fail(std::string(fn) + ": beta must be finite and > 0");
}

// gemmlowp's scalar int32 primitives. Additions wrap modulo 2^32 (gemmlowp's plain int32 '+', whose
// overflow the algorithms below never reach) without C++ signed-overflow undefined behaviour.
int32_t add(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }
int32_t sub(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b)); }
int32_t mul(int32_t a, int32_t b) { return saturating_rounding_doubling_high_mul(a, b); }

// SaturatingRoundingMultiplyByPOT<exponent>: a saturating left shift, or a rounding right shift.
int32_t mul_pot(int32_t x, int exponent) {
    if (exponent == 0) return x;
    if (exponent < 0) return rounding_divide_by_pot(x, -exponent);
    const int32_t threshold = static_cast<int32_t>((int64_t{1} << (31 - exponent)) - 1);
    if (x > threshold) return std::numeric_limits<int32_t>::max();
    if (x < -threshold) return std::numeric_limits<int32_t>::min();
    return static_cast<int32_t>(static_cast<uint32_t>(x) << exponent);
}

// RoundingHalfSum: (a + b) / 2 rounded to nearest, ties away from zero (ARM VRHADD).
int32_t rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = int64_t{a} + int64_t{b};
    return static_cast<int32_t>((sum + (sum >= 0 ? 1 : -1)) / 2);
}

constexpr int32_t kQ0One = std::numeric_limits<int32_t>::max();  // gemmlowp's One() for 0 integer bits

// exp(a) for a in [-1/4, 0), Q0.31: Taylor expansion around -1/8 to the 4th degree.
int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t constant_term = 1895147668;  // exp(-1/8) in Q0.31
    const int32_t constant_1_over_3 = 715827883;  // 1/3 in Q0.31
    const int32_t x = add(a, int32_t{1} << 28);  // x = a + 1/8
    const int32_t x2 = mul(x, x);
    const int32_t x3 = mul(x2, x);
    const int32_t x4 = mul(x2, x2);
    const int32_t x4_over_4 = mul_pot(x4, -2);
    const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 = mul_pot(add(mul(add(x4_over_4, x3), constant_1_over_3), x2), -1);
    return add(constant_term, mul(constant_term, add(x, x4_over_24_plus_x3_over_6_plus_x2_over_2)));
}

// Q2.29 Newton-Raphson iteration for 1 / half_denominator, half_denominator in [1/2, 1).
int32_t newton_reciprocal_q2(int32_t half_denominator) {
    const int32_t constant_48_over_17 = 1515870810;     // Q2.29
    const int32_t constant_neg_32_over_17 = -1010580540;  // Q2.29
    const int32_t one_q2 = int32_t{1} << 29;
    int32_t x = add(constant_48_over_17, mul(half_denominator, constant_neg_32_over_17));
    for (int i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = mul(half_denominator, x);
        const int32_t one_minus = sub(one_q2, half_denominator_times_x);
        x = add(x, mul_pot(mul(x, one_minus), 2));  // Rescale<2> of a Q4 product
    }
    return x;
}

template <typename In, typename Out>
void softmax_quantized_impl(const In* x, size_t rows, size_t cols, const SoftmaxQuantParams& p, Out* y) {
    check_args("softmax_quantized", x, rows, cols, y);
    if (cols > 4095) fail("softmax_quantized: cols must be <= 4095 (the Q12.19 sum of exponentials would overflow)");
    if (p.input_left_shift < 1 || p.input_left_shift > 30 || p.input_multiplier < (int32_t{1} << 30) || p.diff_min > 0)
        fail("softmax_quantized: parameters were not made by prepare_softmax_quantized");
    constexpr int32_t out_min = std::numeric_limits<Out>::min();
    constexpr int32_t out_max = std::numeric_limits<Out>::max();
    constexpr int kScaledDiffIntegerBits = 5;  // Q5.26 input to exp (TFLite)
    constexpr int kAccumulationIntegerBits = 12;  // Q12.19 sum (TFLite)
    std::vector<int32_t> exps(cols);
    for (size_t r = 0; r < rows; ++r) {
        const In* xr = x + r * cols;
        Out* yr = y + r * cols;
        int32_t max_q = std::numeric_limits<In>::min();
        for (size_t c = 0; c < cols; ++c) max_q = std::max<int32_t>(max_q, xr[c]);
        int32_t sum = 0;
        for (size_t c = 0; c < cols; ++c) {
            const int32_t diff = static_cast<int32_t>(xr[c]) - max_q;
            if (diff >= p.diff_min) {
                // MultiplyByQuantizedMultiplierGreaterThanOne; |diff| <= -diff_min keeps the shift in int32.
                const int32_t scaled = mul(diff * (int32_t{1} << p.input_left_shift), p.input_multiplier);
                exps[c] = fixed_exp_on_negative_values(scaled, kScaledDiffIntegerBits);
                sum = add(sum, mul_pot(exps[c], -kAccumulationIntegerBits));
            } else {
                exps[c] = -1;  // marks "below diff_min"
            }
        }
        // GetReciprocal (TFLite kernels/internal/common.h): sum = 2^num_bits_over_unit * (1 + f).
        int headroom_plus_one = 0;
        while (headroom_plus_one < 32 && !(static_cast<uint32_t>(sum) & (0x80000000u >> headroom_plus_one)))
            ++headroom_plus_one;
        const int num_bits_over_unit = kAccumulationIntegerBits - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            static_cast<int32_t>((static_cast<uint32_t>(sum) << headroom_plus_one) - (uint32_t{1} << 31));
        const int32_t shifted_scale = fixed_one_over_one_plus_x(shifted_sum_minus_one);
        const int exponent = num_bits_over_unit + 31 - 8;
        for (size_t c = 0; c < cols; ++c) {
            if (exps[c] < 0) {
                yr[c] = static_cast<Out>(out_min);
                continue;
            }
            // TFLite checks exponent <= 31 and aborts beyond (a sum of exponentials >= 512); the
            // exactly rounded quotient of a value below 2^31 by 2^32 or more is 0, which we return.
            const int32_t prod = mul(shifted_scale, exps[c]);
            const int32_t unsat = exponent <= 31 ? rounding_divide_by_pot(prod, exponent) : 0;
            yr[c] = static_cast<Out>(std::min(std::max(add(unsat, out_min), out_min), out_max));
        }
    }
}

}  // namespace

int32_t fixed_exp_on_negative_values(int32_t a, int integer_bits) {
    if (integer_bits < 0 || integer_bits > 29) fail("fixed_exp_on_negative_values: integer_bits must be in [0, 29]");
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = int32_t{1} << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = sub(a & mask, one_quarter);
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(mul_pot(a_mod_quarter_minus_one_quarter, integer_bits));
    const int32_t remainder = sub(a_mod_quarter_minus_one_quarter, a);
    // Barrel shifter: multiply by exp(-2^e) for every bit e of the remainder (exp(-1/4) ... exp(-16)
    // in Q0.31, gemmlowp's constants).
    const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int e = -2; e <= 4; ++e) {
        if (integer_bits <= e) continue;
        const int shift = fractional_bits + e;
        if (remainder & (int32_t{1} << shift)) result = mul(result, multipliers[e + 2]);
    }
    if (integer_bits > 5) {
        const int32_t clamp = -(int32_t{1} << (36 - integer_bits));  // -32: exp below is 0 in Q0.31
        if (a < clamp) result = 0;
    }
    if (a == 0) result = kQ0One;
    return result;
}

int32_t fixed_one_over_one_plus_x(int32_t a) {
    const int32_t half_denominator = rounding_half_sum(a, kQ0One);
    // ExactMulByPot<-1> turns the Q2.29 value into Q1.30 (same bits); Rescale<0> shifts it left by 1.
    return mul_pot(newton_reciprocal_q2(half_denominator), 1);
}

SoftmaxQuantParams prepare_softmax_quantized(float input_scale, float beta) {
    if (!std::isfinite(input_scale) || !(input_scale > 0.0f)) fail("input_scale must be finite and > 0");
    check_beta("prepare_softmax_quantized", beta);
    // PreprocessSoftmaxScaling(beta, input_scale, kScaledDiffIntegerBits = 5).
    const double real = static_cast<double>(beta) * static_cast<double>(input_scale) * static_cast<double>(1 << 26);
    if (!(real > 1.0) || !(real < 1073741824.0))
        fail("beta * input_scale must be in (2^-26, 16) for the integer softmax (got " + std::to_string(real / (1 << 26)) + ")");
    const QuantizedMultiplier m = quantize_multiplier(real);
    SoftmaxQuantParams p;
    p.input_multiplier = m.q31;
    p.input_left_shift = m.shift;
    // CalculateInputRadius(5, left_shift): floor((2^5 - 1) * 2^26 / 2^left_shift).
    const double radius = 31.0 * static_cast<double>(1 << 26) / std::ldexp(1.0, p.input_left_shift);
    p.diff_min = -static_cast<int32_t>(std::floor(radius));
    return p;
}

void softmax_quantized(const int8_t* x, size_t rows, size_t cols, const SoftmaxQuantParams& p, int8_t* y) {
    softmax_quantized_impl(x, rows, cols, p, y);
}
void softmax_quantized(const int8_t* x, size_t rows, size_t cols, const SoftmaxQuantParams& p, uint8_t* y) {
    softmax_quantized_impl(x, rows, cols, p, y);
}
void softmax_quantized(const uint8_t* x, size_t rows, size_t cols, const SoftmaxQuantParams& p, int8_t* y) {
    softmax_quantized_impl(x, rows, cols, p, y);
}
void softmax_quantized(const uint8_t* x, size_t rows, size_t cols, const SoftmaxQuantParams& p, uint8_t* y) {
    softmax_quantized_impl(x, rows, cols, p, y);
}

void softmax_ref(const float* x, size_t rows, size_t cols, float beta, double* y) {
    check_args("softmax_ref", x, rows, cols, y);
    check_beta("softmax_ref", beta);
    for (size_t r = 0; r < rows; ++r) {
        const float* xr = x + r * cols;
        double* yr = y + r * cols;
        float mx = xr[0];
        for (size_t c = 1; c < cols; ++c) mx = std::max(mx, xr[c]);
        double sum = 0.0;
        for (size_t c = 0; c < cols; ++c) {
            yr[c] = ref_exp(static_cast<double>(beta) * (static_cast<double>(xr[c]) - mx));
            sum += yr[c];
        }
        for (size_t c = 0; c < cols; ++c) yr[c] /= sum;
    }
}

void softmax(const float* x, size_t rows, size_t cols, float beta, float* y) {
    check_args("softmax", x, rows, cols, y);
    check_beta("softmax", beta);
    for (size_t r = 0; r < rows; ++r) {
        const float* xr = x + r * cols;
        float* yr = y + r * cols;
        float mx = xr[0];
        for (size_t c = 1; c < cols; ++c) mx = std::max(mx, xr[c]);
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t c = 0;
        for (; c + 8 <= cols; c += 8)
            for (size_t l = 0; l < 8; ++l) {
                yr[c + l] = fast_exp(beta * (xr[c + l] - mx));
                acc[l] += yr[c + l];
            }
        float tail = 0.0f;
        for (; c < cols; ++c) {
            yr[c] = fast_exp(beta * (xr[c] - mx));
            tail += yr[c];
        }
        const float sum = (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
        const float inv = 1.0f / sum;
        for (c = 0; c < cols; ++c) yr[c] *= inv;
    }
}

}  // namespace stacklab::quant
