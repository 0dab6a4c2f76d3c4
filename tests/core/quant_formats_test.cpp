// Affine int8/uint8 quantization, requantization, fp16/bf16 and calibration (core/quant).
#include <array>
#include <cfenv>
#include <cmath>
#include <cstring>
#include <functional>
#include <iomanip>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "quant/calibrate.hpp"
#include "quant/convert.hpp"
#include "quant/formats.hpp"
#include "quant/half.hpp"
#include "test_support.hpp"

using namespace stacklab::quant;

namespace {

constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax = std::numeric_limits<int32_t>::max();

using stacklab::test::contains;
using stacklab::test::Digest;
using stacklab::test::error_of;
using stacklab::test::Rng;

QuantParams per_tensor(float scale, int32_t zp, bool is_signed) {
    QuantParams p;
    p.scale = {scale};
    p.zero_point = {zp};
    p.is_signed = is_signed;
    return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quant_formats)

// ---------------------------------------------------------------------------------- rounding

BOOST_AUTO_TEST_CASE(round_half_even_matches_nearbyint_under_the_default_mode) {
    // Nothing in StackLab changes the rounding mode; the library does not depend on it either.
    BOOST_TEST(std::fegetround() == FE_TONEAREST);
    const float table[][2] = {{0.5f, 0.0f},   {1.5f, 2.0f},   {2.5f, 2.0f},   {3.5f, 4.0f},  {-0.5f, -0.0f},
                              {-1.5f, -2.0f}, {-2.5f, -2.0f}, {0.49999997f, 0.0f}, {2.5000002f, 3.0f},
                              {8388607.5f, 8388608.0f}, {8388609.0f, 8388609.0f}, {-7.0f, -7.0f}};
    for (const auto& row : table) {
        BOOST_TEST(round_half_even(row[0]) == row[1], row[0]);
        BOOST_TEST(std::signbit(round_half_even(row[0])) == std::signbit(row[1]), row[0]);
    }
    BOOST_TEST(std::isinf(round_half_even(INFINITY)));
    BOOST_TEST(std::isnan(round_half_even(NAN)));
    Rng rng(1);
    for (int i = 0; i < 200000; ++i) {
        // Random values on a grid of quarters (many exact ties) and arbitrary float bit patterns.
        const float q = static_cast<float>(rng.integer(-4000, 4000)) * 0.25f;
        BOOST_TEST_REQUIRE(round_half_even(q) == std::nearbyint(q), q);
        const float r = float_from_bits(rng.bits());
        if (std::isfinite(r)) BOOST_TEST_REQUIRE(round_half_even(r) == std::nearbyint(r), r);
    }
}

// ---------------------------------------------------------------------- affine quantization

BOOST_AUTO_TEST_CASE(quantize_linear_matches_the_onnx_operator_example) {
    // onnx/backend/test/case/node/quantizelinear.py: x / 2 + 128, 3 / 2 = 1.5 rounds to 2.
    const std::vector<float> x = {0, 2, 3, 1000, -254, -1000};
    const auto y = quantize_u8(x, {6}, per_tensor(2.0f, 128, false));
    BOOST_TEST(y == (std::vector<uint8_t>{128, 129, 130, 255, 1, 0}), boost::test_tools::per_element());
    // DequantizeLinear example: (x - zp) * scale.
    const auto d = dequantize(std::vector<uint8_t>{0, 3, 128, 255}, {4}, per_tensor(2.0f, 128, false));
    BOOST_TEST(d == (std::vector<float>{-256, -250, 0, 254}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(quantize_rounds_half_to_even_then_saturates) {
    struct Case {
        float x;
        int32_t int8, uint8;  // scale 1; zero points 0 and 128
    };
    const Case cases[] = {{0.5f, 0, 128},   {1.5f, 2, 130},   {2.5f, 2, 130},    {-0.5f, 0, 128},
                          {-1.5f, -2, 126}, {-2.5f, -2, 126}, {126.5f, 126, 254}, {127.5f, 127, 255},
                          {-128.5f, -128, 0}, {1e30f, 127, 255}, {-1e30f, -128, 0}, {INFINITY, 127, 255},
                          {-INFINITY, -128, 0}, {NAN, 0, 128}};
    for (const auto& c : cases) {
        BOOST_TEST(quantize_value(c.x, 1.0f, 0, -128, 127) == c.int8, "int8 x=" << c.x);
        BOOST_TEST(quantize_value(c.x, 1.0f, 128, 0, 255) == c.uint8, "uint8 x=" << c.x);
    }
    // x / scale is a true division: 0.3 / 0.1 rounds to 3 in float (multiplying by 1 / 0.1f gives
    // a different float for some inputs, so the spec's division is what we implement).
    BOOST_TEST(quantize_value(0.3f, 0.1f, 0, -128, 127) == 3);
}

BOOST_AUTO_TEST_CASE(per_channel_quantization_works_along_every_axis) {
    const std::vector<int64_t> shape = {2, 3, 4};
    Rng rng(7);
    std::vector<float> x(24);
    for (auto& v : x) v = rng.uniform(-3.0f, 3.0f);
    for (int axis = 0; axis < 3; ++axis) {
        BOOST_TEST_CONTEXT("axis " << axis) {
            QuantParams p;
            p.axis = axis;
            p.is_signed = false;
            for (int64_t c = 0; c < shape[axis]; ++c) {
                p.scale.push_back(0.01f + 0.02f * static_cast<float>(c));
                p.zero_point.push_back(static_cast<int32_t>(100 + 10 * c));
            }
            const auto q = quantize_u8(x, shape, p);
            const auto back = dequantize(q, shape, p);
            // Index arithmetic written out independently of the library's [outer, channel, inner] walk.
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 3; ++j)
                    for (int k = 0; k < 4; ++k) {
                        const size_t e = static_cast<size_t>(i * 12 + j * 4 + k);
                        const int c = axis == 0 ? i : axis == 1 ? j : k;
                        const int32_t want = quantize_value(x[e], p.scale[c], p.zero_point[c], 0, 255);
                        BOOST_TEST_REQUIRE(q[e] == want, "element " << e);
                        BOOST_TEST_REQUIRE(back[e] == dequantize_value(want, p.scale[c], p.zero_point[c]));
                    }
        }
    }
}

BOOST_AUTO_TEST_CASE(round_trip_error_is_at_most_half_a_step_inside_the_range) {
    Rng rng(11);
    for (bool is_signed : {true, false}) {
        for (bool symmetric : {true, false}) {
            std::vector<float> x(5000);
            for (auto& v : x) v = rng.uniform(-2.0f, 5.0f);
            const QuantParams p = choose_params(-2.0f, 5.0f, is_signed, symmetric);
            std::vector<float> back(x.size());
            if (is_signed) {
                const auto q = quantize_s8(x, {5000}, p);
                dequantize(q.data(), {5000}, p, back.data());
            } else {
                const auto q = quantize_u8(x, {5000}, p);
                dequantize(q.data(), {5000}, p, back.data());
            }
            for (size_t i = 0; i < x.size(); ++i)
                BOOST_TEST_REQUIRE(std::fabs(x[i] - back[i]) <= p.scale[0] * 0.5f * 1.0001f,
                                   "signed " << is_signed << " symmetric " << symmetric << " x=" << x[i]);
        }
    }
}

BOOST_AUTO_TEST_CASE(invalid_parameters_throw_naming_the_parameter) {
    auto q = [](QuantParams p, std::vector<int64_t> shape) {
        return [p, shape] {
            std::vector<float> x(element_count(shape));
            std::vector<int8_t> y(x.size());
            quantize(x.data(), shape, p, y.data());
        };
    };
    QuantParams ok = per_tensor(0.5f, 0, true);
    QuantParams zero_scale = ok;
    zero_scale.scale = {0.0f};
    QuantParams neg_scale = ok;
    neg_scale.scale = {-1.0f};
    QuantParams nan_scale = ok;
    nan_scale.scale = {NAN};
    QuantParams inf_scale = ok;
    inf_scale.scale = {INFINITY};
    QuantParams zp_range = ok;
    zp_range.zero_point = {200};
    QuantParams axis_big = ok;
    axis_big.axis = 3;
    QuantParams axis_neg = ok;
    axis_neg.axis = -2;
    QuantParams channels = ok;
    channels.axis = 1;
    channels.scale = {1.0f, 1.0f};
    QuantParams zp_count = ok;
    zp_count.axis = 1;
    zp_count.scale = {1.0f, 1.0f, 1.0f};
    zp_count.zero_point = {0, 0};
    QuantParams two_scales = ok;
    two_scales.scale = {1.0f, 2.0f};
    QuantParams unsigned_params = per_tensor(1.0f, 0, false);
    const std::vector<int64_t> shape = {2, 3};
    BOOST_TEST(contains(error_of(q(zero_scale, shape)), "scale[0]"));
    BOOST_TEST(contains(error_of(q(neg_scale, shape)), "scale[0]"));
    BOOST_TEST(contains(error_of(q(nan_scale, shape)), "scale[0]"));
    BOOST_TEST(contains(error_of(q(inf_scale, shape)), "scale[0]"));
    BOOST_TEST(contains(error_of(q(zp_range, shape)), "zero_point[0]"));
    BOOST_TEST(contains(error_of(q(axis_big, shape)), "axis 3 is out of range"));
    BOOST_TEST(contains(error_of(q(axis_neg, shape)), "axis -2"));
    BOOST_TEST(contains(error_of(q(channels, shape)), "scale holds 2 channels but shape[axis=1] is 3"));
    BOOST_TEST(contains(error_of(q(zp_count, shape)), "zero_point holds 2"));
    BOOST_TEST(contains(error_of(q(two_scales, shape)), "per-tensor"));
    BOOST_TEST(contains(error_of(q(unsigned_params, shape)), "is_signed"));
    BOOST_TEST(contains(error_of(q(ok, {2, -3})), "shape[1]"));
    BOOST_TEST(contains(error_of([] { quantize_s8({1.0f, 2.0f}, {3}, per_tensor(1.0f, 0, true)); }), "x holds 2"));
    BOOST_TEST(contains(error_of([] { choose_params(NAN, 1.0f, true, false); }), "min"));
    BOOST_TEST(contains(error_of([] { choose_params(0.0f, INFINITY, true, false); }), "max"));
    BOOST_TEST(contains(error_of([] { choose_params(2.0f, 1.0f, true, false); }), "min (2) must be <= max (1)"));
    BOOST_TEST(error_of(q(ok, shape)) == "(no std::invalid_argument thrown)");
}

BOOST_AUTO_TEST_CASE(choose_params_always_represents_zero_exactly) {
    struct Case {
        float min, max;
        bool is_signed, symmetric;
        float scale;
        int32_t zero_point;
    };
    const Case cases[] = {
        // Asymmetric: onnxruntime's (max - min) / (qmax - qmin) and round(qmin - min / scale).
        {0.0f, 2.55f, false, false, 2.55f / 255.0f, 0},
        {1.0f, 5.0f, false, false, 5.0f / 255.0f, 0},      // widened to [0, 5]
        {-3.0f, -1.0f, false, false, 3.0f / 255.0f, 255},  // widened to [-3, 0]
        {-1.0f, 1.0f, true, false, 2.0f / 255.0f, -1},     // in float -128 + 127.49999 = -0.50001 -> -1
        {-1.0f, 3.0f, true, false, 4.0f / 255.0f, -64},    // -128 + 63.75 = -64.25 -> -64
        {-1.0f, 3.0f, false, false, 4.0f / 255.0f, 64},    // 63.75 -> 64
        // Symmetric: amax / 127 and zero point 0 (int8) or 128 (uint8).
        {-2.0f, 5.0f, true, true, 5.0f / 127.0f, 0},
        {-2.0f, 5.0f, false, true, 5.0f / 127.0f, 128},
        {0.5f, 0.5f, true, true, 0.5f / 127.0f, 0},
        // Empty range: scale 1 instead of a division by zero (onnxruntime).
        {0.0f, 0.0f, false, false, 1.0f, 0},
        {0.0f, 0.0f, true, true, 1.0f, 0},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("[" << c.min << ", " << c.max << "] signed " << c.is_signed << " symmetric " << c.symmetric) {
            const QuantParams p = choose_params(c.min, c.max, c.is_signed, c.symmetric);
            BOOST_TEST(p.axis == -1);
            BOOST_TEST(p.is_signed == c.is_signed);
            BOOST_TEST(p.scale.at(0) == c.scale);
            BOOST_TEST(p.zero_point.at(0) == c.zero_point);
            const int32_t lo = qmin(c.is_signed), hi = qmax(c.is_signed);
            BOOST_TEST(quantize_value(0.0f, p.scale[0], p.zero_point[0], lo, hi) == p.zero_point[0]);
            BOOST_TEST(dequantize_value(p.zero_point[0], p.scale[0], p.zero_point[0]) == 0.0f);
        }
    }
}

BOOST_AUTO_TEST_CASE(dynamic_quantize_linear_matches_the_onnx_test_cases) {
    // Inputs of onnx/backend/test/case/node/dynamicquantizelinear.py; expected outputs computed by
    // a python3 transcription of the spec in float32 (struct-rounded), and they equal ONNX's.
    struct Case {
        std::vector<float> x;
        float scale;
        uint8_t zero_point;
        std::vector<uint8_t> y;
    };
    const std::vector<Case> cases = {
        {{0, 2, -3, -2.5f, 1.34f, 0.5f}, 5.0f / 255.0f, 153, {153, 255, 0, 26, 221, 179}},
        {{-1.0f, -2.1f, -1.3f, -2.5f, -3.34f, -4.0f}, 4.0f / 255.0f, 255, {191, 121, 172, 96, 42, 0}},
        {{1, 2.1f, 1.3f, 2.5f, 3.34f, 4.0f, 1.5f, 2.6f, 3.9f, 4.0f, 3.0f, 2.345f},
         4.0f / 255.0f,
         0,
         {64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149}},
    };
    for (const auto& c : cases) {
        const DynamicQuantized r = dynamic_quantize_linear(c.x.data(), c.x.size());
        BOOST_TEST(r.scale == c.scale);
        BOOST_TEST(int(r.zero_point) == int(c.zero_point));
        BOOST_TEST(r.y == c.y, boost::test_tools::per_element());
    }
    // All zeros: the spec's formula would divide by zero; onnxruntime uses scale 1, zero point 0.
    const std::vector<float> zeros(5, 0.0f);
    const DynamicQuantized z = dynamic_quantize_linear(zeros.data(), zeros.size());
    BOOST_TEST(z.scale == 1.0f);
    BOOST_TEST(int(z.zero_point) == 0);
    BOOST_TEST(z.y == std::vector<uint8_t>(5, 0), boost::test_tools::per_element());
    const std::vector<float> bad = {1.0f, NAN};
    BOOST_TEST(contains(error_of([&] { dynamic_quantize_linear(bad.data(), bad.size()); }), "x[1]"));
}

// ---------------------------------------------------------------------------- requantization

BOOST_AUTO_TEST_CASE(saturating_rounding_doubling_high_mul_follows_gemmlowp) {
    // round(a * b / 2^31), ties toward +inf (VQRDMULH); hand-checked from the definition.
    const int32_t table[][3] = {
        {kMin, kMin, kMax},                // the one overflow: (-1) * (-1) = 1 saturates
        {kMin, kMax, -2147483647},
        {kMax, kMax, 2147483646},
        {1 << 30, 1 << 30, 1 << 29},       // 0.5 * 0.5 = 0.25
        {100, 1 << 30, 50},
        {3, 1 << 30, 2},                   // 1.5 -> 2
        {-3, 1 << 30, -1},                 // -1.5 -> -1 (ties toward +inf)
        {5, 1 << 30, 3},                   // 2.5 -> 3
        {-5, 1 << 30, -2},                 // -2.5 -> -2
        {kMin, 1 << 30, -(1 << 30)},
        {0, 12345, 0},
    };
    for (const auto& r : table)
        BOOST_TEST(saturating_rounding_doubling_high_mul(r[0], r[1]) == r[2], r[0] << " * " << r[1]);
}

BOOST_AUTO_TEST_CASE(rounding_divide_by_pot_rounds_half_away_from_zero) {
    const int32_t table[][3] = {
        {5, 1, 3},     {-5, 1, -3},  {6, 2, 2},        {-6, 2, -2},  {7, 2, 2},   {-7, 2, -2},
        {10, 2, 3},    {-10, 2, -3}, {12345, 0, 12345}, {kMax, 31, 1}, {kMin, 31, -1},
        {kMin, 1, -(1 << 30)}, {-1, 1, -1}, {1, 1, 1},
    };
    for (const auto& r : table) BOOST_TEST(rounding_divide_by_pot(r[0], r[1]) == r[2], r[0] << " >> " << r[1]);
    BOOST_TEST(contains(error_of([] { rounding_divide_by_pot(1, 32); }), "exponent"));
    BOOST_TEST(contains(error_of([] { rounding_divide_by_pot(1, -1); }), "exponent"));
}

BOOST_AUTO_TEST_CASE(quantize_multiplier_follows_tflite) {
    struct Case {
        double m;
        int32_t q31;
        int shift;
    };
    const Case cases[] = {
        {0.0, 0, 0},
        {0.5, 1 << 30, 0},
        {1.0, 1 << 30, 1},
        {0.25, 1 << 30, -1},
        {0.75, 1610612736, 0},
        {0.1, 1717986918, -3},                  // round(0.8 * 2^31) = 1717986918.4 -> ...918
        {0.0003, 1319413953, -11},
        {3.0, 1610612736, 2},
        {-0.5, -(1 << 30), 0},                  // negative multipliers keep their sign
        {std::ldexp(1.0, -31), 1 << 30, -30},
        {std::ldexp(1.0, -32), 1 << 30, -31},   // the smallest kept
        {std::ldexp(1.0, -33), 0, 0},           // shift < -31: flushed to zero
        {1.0 - std::ldexp(1.0, -40), 1 << 30, 1},  // mantissa rounds to 2^31: renormalised
    };
    for (const auto& c : cases) {
        const QuantizedMultiplier q = quantize_multiplier(c.m);
        BOOST_TEST(q.q31 == c.q31, c.m);
        BOOST_TEST(q.shift == c.shift, c.m);
    }
    BOOST_TEST(contains(error_of([] { quantize_multiplier(NAN); }), "real_multiplier"));
    BOOST_TEST(contains(error_of([] { quantize_multiplier(INFINITY); }), "real_multiplier"));
    BOOST_TEST(contains(error_of([] { quantize_multiplier(std::ldexp(1.0, 30)); }), "real_multiplier"));
}

BOOST_AUTO_TEST_CASE(multiply_by_quantized_multiplier_follows_tflite) {
    struct Case {
        int32_t x;
        double m;
        int32_t want;
    };
    const Case cases[] = {
        {100, 0.5, 50},
        {1000, 0.1, 100},
        {15, 0.1, 2},        // 1.5: the high mul gives 12, then 12 / 8 = 1.5 -> 2
        {-15, 0.1, -2},      // -1.5 -> -2 (RoundingDivideByPOT: away from zero)
        {3, 3.0, 9},         // left shift 2, then * 0.75
        {-7, 3.0, -21},
        {12345, 0.0003, 4},  // 3.7035
        {-12345, 0.0003, -4},
        {kMin, 0.5, -(1 << 30)},
    };
    for (const auto& c : cases) {
        const QuantizedMultiplier q = quantize_multiplier(c.m);
        BOOST_TEST(multiply_by_quantized_multiplier(c.x, q.q31, q.shift) == c.want, c.x << " * " << c.m);
    }
    BOOST_TEST(contains(error_of([] { multiply_by_quantized_multiplier(1, 1 << 30, 31); }), "shift"));
    BOOST_TEST(contains(error_of([] { multiply_by_quantized_multiplier(1, 1 << 30, -32); }), "shift"));
}

BOOST_AUTO_TEST_CASE(fixed_point_path_is_within_one_step_of_the_float_path) {
    Rng rng(2024);
    int differ = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
        const float sa = rng.uniform(0.001f, 0.1f), sb = rng.uniform(0.0005f, 0.05f), sy = rng.uniform(0.01f, 0.5f);
        const bool is_signed = (i & 1) != 0;
        const int32_t zp = is_signed ? rng.integer(-20, 20) : rng.integer(100, 150);
        const RequantParams f = make_requant_params(sa, sb, sy, zp, is_signed, RequantMode::float_scale);
        RequantParams x = f;
        x.mode = RequantMode::fixed_point;
        // Accumulators that land within the output range most of the time.
        const float span = 150.0f / f.multiplier;
        const int32_t acc = static_cast<int32_t>(rng.uniform(-span, span));
        const int32_t bias = rng.integer(-1000, 1000);
        const bool relu = (i % 3) == 0;
        const int32_t a = requantize(acc, bias, f, relu), b = requantize(acc, bias, x, relu);
        BOOST_TEST_REQUIRE(std::abs(a - b) <= 1, "acc " << acc << " bias " << bias << ": " << a << " vs " << b);
        differ += a != b;
    }
    // Disagreement is a rare tie effect, not a systematic bias.
    BOOST_TEST(differ < n / 100, differ << " of " << n << " differ");
}

BOOST_AUTO_TEST_CASE(requantize_fuses_bias_zero_point_and_relu) {
    // Scales chosen so that sa * sb / sy = 0.25 exactly in float and in double.
    for (RequantMode mode : {RequantMode::float_scale, RequantMode::fixed_point}) {
        BOOST_TEST_CONTEXT(requant_mode_name(mode)) {
            const RequantParams s8 = make_requant_params(0.5f, 0.25f, 0.5f, -10, true, mode);
            BOOST_TEST(s8.multiplier == 0.25f);
            BOOST_TEST(s8.fixed.q31 == (1 << 30));
            BOOST_TEST(s8.fixed.shift == -1);
            BOOST_TEST(requantize(40, 0, s8, false) == 0);      // 10 - 10
            BOOST_TEST(requantize(40, 8, s8, false) == 2);      // (40 + 8) / 4 - 10
            BOOST_TEST(requantize(-40, 0, s8, false) == -20);
            BOOST_TEST(requantize(-40, 0, s8, true) == -10);    // ReLU clamps at the zero point
            BOOST_TEST(requantize(10000, 0, s8, false) == 127);
            BOOST_TEST(requantize(-10000, 0, s8, false) == -128);
            BOOST_TEST(requantize(kMax, kMax, s8, false) == 127);  // acc + bias saturates, no wrap
            const RequantParams u8 = make_requant_params(0.5f, 0.25f, 0.5f, 128, false, mode);
            BOOST_TEST(requantize(-1000, 0, u8, false) == 0);
            BOOST_TEST(requantize(-1000, 0, u8, true) == 128);
            BOOST_TEST(requantize(400, 0, u8, true) == 228);
        }
    }
    // The paths differ on ties: 10 * 0.25 = 2.5 -> 2 in float (even), 3 in fixed point (away from 0).
    const RequantParams f = make_requant_params(0.5f, 0.25f, 0.5f, 0, true, RequantMode::float_scale);
    RequantParams x = f;
    x.mode = RequantMode::fixed_point;
    BOOST_TEST(requantize(10, 0, f, false) == 2);
    BOOST_TEST(requantize(10, 0, x, false) == 3);
    BOOST_TEST(requantize(-10, 0, f, false) == -2);
    BOOST_TEST(requantize(-10, 0, x, false) == -3);
    BOOST_TEST(contains(error_of([] { make_requant_params(0.0f, 1.0f, 1.0f, 0, true, RequantMode::float_scale); }),
                        "input_scale"));
    BOOST_TEST(contains(error_of([] { make_requant_params(1.0f, NAN, 1.0f, 0, true, RequantMode::float_scale); }),
                        "weight_scale"));
    BOOST_TEST(contains(error_of([] { make_requant_params(1.0f, 1.0f, -1.0f, 0, true, RequantMode::float_scale); }),
                        "output_scale"));
    BOOST_TEST(contains(error_of([] { make_requant_params(1.0f, 1.0f, 1.0f, 300, false, RequantMode::float_scale); }),
                        "zero_point"));
}

BOOST_AUTO_TEST_CASE(float_path_computes_the_multiplier_in_float_like_onnxruntime) {
    const float sa = 0.0137f, sb = 0.0071f, sy = 0.093f;
    const RequantParams p = make_requant_params(sa, sb, sy, 3, true, RequantMode::float_scale);
    const float m = sa * sb / sy;  // float, left to right, as onnxruntime's QLinearMatMul
    BOOST_TEST(p.multiplier == m);
    for (int32_t acc : {-70000, -12345, -1, 0, 7, 999, 65432}) {
        const float r = std::nearbyint(static_cast<float>(acc) * m);
        const int32_t want = static_cast<int32_t>(std::min(127.0f, std::max(-128.0f, r + 3.0f)));
        BOOST_TEST(requantize(acc, 0, p, false) == want, acc);
    }
}

BOOST_AUTO_TEST_CASE(requantize_matrix_applies_one_parameter_set_per_column) {
    const std::vector<int32_t> acc = {100, 200, 300, -100, -200, -300};  // 2 x 3
    const std::vector<int32_t> bias = {0, 10, -20};
    const auto per_col = make_requant_params(1.0f, {0.5f, 0.25f, 0.125f}, 1.0f, 0, true, RequantMode::fixed_point);
    std::vector<int8_t> y(6);
    requantize_matrix(acc.data(), 2, 3, 3, bias.data(), per_col, false, y.data(), 3);
    BOOST_TEST(y == (std::vector<int8_t>{50, 53, 35, -50, -48, -40}), boost::test_tools::per_element());
    std::vector<uint8_t> u(6);
    BOOST_TEST(contains(error_of([&] { requantize_matrix(acc.data(), 2, 3, 3, nullptr, per_col, false, u.data(), 3); }),
                        "is_signed"));
    const std::vector<RequantParams> two(per_col.begin(), per_col.begin() + 2);
    BOOST_TEST(contains(error_of([&] { requantize_matrix(acc.data(), 2, 3, 3, nullptr, two, false, y.data(), 3); }),
                        "per_column"));
}

// ---------------------------------------------------------------------------------- fp16/bf16

BOOST_AUTO_TEST_CASE(every_fp16_bit_pattern_converts_exactly_and_round_trips) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t bits = static_cast<uint16_t>(h);
        const float f = half_to_float(bits);
        const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
        const bool negative = (h & 0x8000) != 0;
        if (exp == 31 && mant != 0) {
            // NaN stays NaN with its sign; the only change on the way back is the quiet bit.
            BOOST_TEST_REQUIRE(std::isnan(f));
            BOOST_TEST_REQUIRE(std::signbit(f) == negative);
            BOOST_TEST_REQUIRE(float_to_half(f) == static_cast<uint16_t>(h | 0x0200), h);
            continue;
        }
        // Exact value from the IEEE 754 binary16 definition.
        double want = exp == 31 ? INFINITY : exp == 0 ? std::ldexp(static_cast<double>(mant), -24)
                                                      : std::ldexp(static_cast<double>(1024 + mant), static_cast<int>(exp) - 25);
        if (negative) want = -want;
        BOOST_TEST_REQUIRE(static_cast<double>(f) == want, "half 0x" << std::hex << h);
        BOOST_TEST_REQUIRE(std::signbit(f) == negative);
        BOOST_TEST_REQUIRE(float_to_half(f) == bits, "half 0x" << std::hex << h);
    }
}

BOOST_AUTO_TEST_CASE(float_to_half_rounds_to_nearest_even_at_every_midpoint) {
    for (uint16_t h = 0; h < 0x7c00; ++h) {
        const float a = half_to_float(h);
        // The next half up; above 65504 the rounding boundary is the midpoint toward 2^16.
        const float b = h == 0x7bff ? 65536.0f : half_to_float(static_cast<uint16_t>(h + 1));
        const float mid = (a + b) * 0.5f;  // exact: both have at most 11 significant bits
        const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : h;
        for (float sign : {1.0f, -1.0f}) {
            const uint16_t s = sign < 0 ? 0x8000 : 0;
            BOOST_TEST_REQUIRE(float_to_half(sign * mid) == static_cast<uint16_t>(even | s), "mid above 0x" << std::hex << h);
            BOOST_TEST_REQUIRE(float_to_half(sign * std::nextafter(mid, 0.0f)) == static_cast<uint16_t>(h | s));
            BOOST_TEST_REQUIRE(float_to_half(sign * std::nextafter(mid, INFINITY)) == static_cast<uint16_t>((h + 1) | s));
        }
    }
}

BOOST_AUTO_TEST_CASE(fp16_known_values) {
    struct Case {
        float f;
        uint16_t h;
    };
    const Case cases[] = {
        {0.0f, 0x0000},        {-0.0f, 0x8000},        {1.0f, 0x3c00},           {-2.0f, 0xc000},
        {65504.0f, 0x7bff},    // largest finite
        {65519.0f, 0x7bff},    {65520.0f, 0x7c00},     // the midpoint to 2^16 ties to "even" infinity
        {1e6f, 0x7c00},        {-1e6f, 0xfc00},        {INFINITY, 0x7c00},       {-INFINITY, 0xfc00},
        {6.103515625e-05f, 0x0400},  // 2^-14, smallest normal
        {6.1e-05f, 0x03ff},    // just below it: the largest subnormal (1023.4 * 2^-24)
        {std::ldexp(1.0f, -24), 0x0001},            // smallest subnormal
        {std::ldexp(1.0f, -25), 0x0000},            // tie between 0 and 2^-24: to even 0
        {float_from_bits(0x33000001), 0x0001},      // just above the tie
        {std::ldexp(3.0f, -25), 0x0002},            // 1.5 * 2^-24: tie between 1 and 2: to even 2
        {std::ldexp(1023.5f, -24), 0x0400},         // tie between the largest subnormal and 2^-14
        {1.0f / 3.0f, 0x3555}, // 0.33325195
        {0.1f, 0x2e66},        {3.14159265f, 0x4248},
    };
    for (const auto& c : cases) BOOST_TEST(float_to_half(c.f) == c.h, c.f);
    BOOST_TEST(half_to_float(0x3555) == 0.333251953125f);
    BOOST_TEST(half_to_float(0x7bff) == 65504.0f);
    BOOST_TEST((float_to_half(NAN) & 0x7e00) == 0x7e00);  // quiet NaN
    BOOST_TEST(float_to_half(float_from_bits(0x7f800001)) == 0x7e00);  // payload below fp16's: still NaN
    const std::vector<float> xs = {1.0f, 65504.0f, 6.1e-05f};
    BOOST_TEST(from_half(to_half(xs)) == (std::vector<float>{1.0f, 65504.0f, half_to_float(0x03ff)}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bf16_rounds_ties_to_even_and_keeps_nan) {
    struct Case {
        uint32_t f;
        uint16_t b;
    };
    const Case cases[] = {
        {0x3f800000, 0x3f80},  // 1
        {0x3f808000, 0x3f80},  // 1 + 2^-8: tie, the kept bit is even -> down
        {0x3f818000, 0x3f82},  // 1 + 3 * 2^-8: tie, the kept bit is odd -> up
        {0x3f808001, 0x3f81},  // just above the tie
        {0x3f807fff, 0x3f80},  // just below it
        {0xbf818000, 0xbf82},  // the same for negatives
        {0x7f7fffff, 0x7f80},  // FLT_MAX rounds to infinity
        {0x7f800000, 0x7f80},  // inf
        {0xff800000, 0xff80},
        {0x00000001, 0x0000},  // the smallest subnormal rounds to 0
        {0x80000000, 0x8000},
        {0x7fc00000, 0x7fc0},  // quiet NaN
        {0x7f800001, 0x7fc0},  // NaN whose payload lies in the dropped bits: stays NaN
        {0xff800001, 0xffc0},
    };
    for (const auto& c : cases) BOOST_TEST(float_to_bf16(float_from_bits(c.f)) == c.b, "0x" << std::hex << c.f);
    // Every bf16 is a float: bf16 -> float -> bf16 is the identity except for NaN quieting.
    for (uint32_t b = 0; b < 65536; ++b) {
        const float f = bf16_to_float(static_cast<uint16_t>(b));
        BOOST_TEST_REQUIRE(float_bits(f) == (b << 16));
        const bool nan = (b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0;
        BOOST_TEST_REQUIRE(float_to_bf16(f) == static_cast<uint16_t>(nan ? (b | 0x40) : b), b);
    }
    const std::vector<float> xs = {1.0f, float_from_bits(0x3f818000)};
    BOOST_TEST(to_bf16(xs) == (std::vector<uint16_t>{0x3f80, 0x3f82}), boost::test_tools::per_element());
    BOOST_TEST(from_bf16({0x3f82}) == (std::vector<float>{1.015625f}), boost::test_tools::per_element());
}

// -------------------------------------------------------------------------------- calibration

BOOST_AUTO_TEST_CASE(running_min_max_spans_every_batch) {
    MinMaxState s;
    const std::vector<float> b1 = {0.5f, 1.5f, -0.25f}, b2 = {3.0f, 0.0f}, b3 = {-2.0f};
    observe_min_max(s, b1.data(), b1.size());
    BOOST_TEST(s.min == -0.25f);
    BOOST_TEST(s.max == 1.5f);
    observe_min_max(s, b2.data(), b2.size());
    observe_min_max(s, b3.data(), b3.size());
    BOOST_TEST(s.min == -2.0f);
    BOOST_TEST(s.max == 3.0f);
    BOOST_TEST(s.count == 6u);
    const QuantParams p = params_from_min_max(s, false, false);
    BOOST_TEST(p.scale[0] == 5.0f / 255.0f);
    BOOST_TEST(p.zero_point[0] == 102);  // 2 / (5 / 255) = 102
    // A batch that is all positive still leaves 0 representable (choose_params widens).
    MinMaxState pos;
    const std::vector<float> b4 = {2.0f, 4.0f};
    observe_min_max(pos, b4.data(), b4.size());
    BOOST_TEST(params_from_min_max(pos, false, false).zero_point[0] == 0);
    BOOST_TEST(contains(error_of([] { params_from_min_max(MinMaxState{}, true, true); }), "state"));
    const std::vector<float> bad = {1.0f, INFINITY};
    BOOST_TEST(contains(error_of([&] { observe_min_max(s, bad.data(), bad.size()); }), "x[1]"));
}

BOOST_AUTO_TEST_CASE(per_channel_min_max_tracks_each_channel) {
    // shape {2, 3}, axis 1: channel c sees x[0][c] and x[1][c].
    std::vector<MinMaxState> states;
    const std::vector<float> x = {1, -2, 3, -4, 5, -6};
    observe_min_max_per_channel(states, x.data(), {2, 3}, 1);
    BOOST_TEST(states.size() == 3u);
    BOOST_TEST(states[0].min == -4.0f);
    BOOST_TEST(states[0].max == 1.0f);
    BOOST_TEST(states[1].min == -2.0f);
    BOOST_TEST(states[1].max == 5.0f);
    BOOST_TEST(states[2].min == -6.0f);
    BOOST_TEST(states[2].max == 3.0f);
    const QuantParams p = params_from_min_max(states, 1, true, true);
    BOOST_TEST(p.axis == 1);
    BOOST_TEST(p.scale == (std::vector<float>{4.0f / 127.0f, 5.0f / 127.0f, 6.0f / 127.0f}), boost::test_tools::per_element());
    validate(p, {2, 3});
    BOOST_TEST(contains(error_of([&] { observe_min_max_per_channel(states, x.data(), {3, 2}, 1); }), "states holds 3"));
    BOOST_TEST(contains(error_of([&] { observe_min_max_per_channel(states, x.data(), {2, 3}, 2); }), "axis 2"));
}

BOOST_AUTO_TEST_CASE(percentile_interpolates_like_numpy) {
    const std::vector<float> x = {10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
    BOOST_TEST(percentile(x.data(), x.size(), 0.0) == 1.0f);
    BOOST_TEST(percentile(x.data(), x.size(), 100.0) == 10.0f);
    BOOST_TEST(percentile(x.data(), x.size(), 50.0) == 5.5f);   // numpy.percentile(range(1, 11), 50)
    BOOST_TEST(percentile(x.data(), x.size(), 90.0) == 9.1f);   // rank 8.1
    const std::vector<float> y = {-100, 1, -2, 3};
    BOOST_TEST(abs_percentile(y.data(), y.size(), 100.0) == 100.0f);
    BOOST_TEST(abs_percentile(y.data(), y.size(), 50.0) == 2.5f);
    BOOST_TEST(contains(error_of([&] { percentile(x.data(), x.size(), 100.5); }), "percentile p"));
    BOOST_TEST(contains(error_of([&] { percentile(x.data(), 0, 50.0); }), "n must be"));
}

BOOST_AUTO_TEST_CASE(mse_optimal_clipping_beats_min_max_on_laplace_data_with_outliers) {
    // 65536 Laplace(0, 1) values (weights and activations are roughly Laplacian) plus four
    // outliers near +-25. Min/max spends the 8-bit grid on the outliers; the MSE search clips a
    // little and wins by ~10-15 %. Clipping at the 99.99th percentile of |x| instead drops the
    // outliers entirely, and their clipping error makes it far worse than either: at 8 bits, a
    // few big values are worth keeping nearly whole.
    Rng rng(42);
    std::vector<float> x(65536);
    for (auto& v : x) {
        const float u = (static_cast<float>(rng.bits() >> 8) + 0.5f) * (1.0f / 16777216.0f) - 0.5f;  // (-0.5, 0.5)
        v = -std::copysign(std::log(1.0f - 2.0f * std::fabs(u)), u);
    }
    for (size_t i = 0; i < 4; ++i) x[i * 16384 + 1] = (i % 2 ? -25.0f : 25.0f) + 0.5f * static_cast<float>(i);
    const float p9999 = abs_percentile(x.data(), x.size(), 99.99);
    BOOST_TEST(p9999 < 20.0f);  // the percentile ignores the 4 outliers
    for (bool symmetric : {true, false}) {
        BOOST_TEST_CONTEXT("symmetric " << symmetric) {
            const ClipSearchResult r = search_mse_clip(x.data(), x.size(), true, symmetric, 100);
            MinMaxState s;
            observe_min_max(s, x.data(), x.size());
            const QuantParams mm = params_from_min_max(s, true, symmetric);
            BOOST_TEST(r.mse_min_max == quantization_mse(x.data(), x.size(), mm));
            BOOST_TEST(r.mse == quantization_mse(x.data(), x.size(), r.params));
            BOOST_TEST(r.mse < 0.95 * r.mse_min_max, "clipped " << r.mse << " vs min/max " << r.mse_min_max);
            BOOST_TEST(r.clip_high < s.max);
            BOOST_TEST(r.clip_low > s.min);
            BOOST_TEST(r.params.scale[0] < mm.scale[0]);
            const QuantParams pc = choose_params(-p9999, p9999, true, symmetric);
            BOOST_TEST(quantization_mse(x.data(), x.size(), pc) > r.mse_min_max);
        }
    }
    BOOST_TEST(contains(error_of([&] { search_mse_clip(x.data(), x.size(), true, true, 0); }), "steps"));
}

// ------------------------------------------------------------------------------ determinism

BOOST_AUTO_TEST_CASE(results_are_bit_identical_on_every_target) {
    // A digest of many outputs on inputs made from mt19937 bits only. The constant is what the
    // native build computes; the wasm build must compute the very same bytes.
    Digest d;
    Rng rng(99);
    std::vector<float> x(4096);
    for (auto& v : x) v = rng.uniform(-8.0f, 8.0f);
    QuantParams pc;
    pc.axis = 1;
    for (int c = 0; c < 16; ++c) {
        pc.scale.push_back(rng.uniform(0.01f, 0.1f));
        pc.zero_point.push_back(rng.integer(-20, 20));
    }
    const auto q = quantize_s8(x, {16, 16, 16}, pc);
    d.add(q);
    d.add(dequantize(q, {16, 16, 16}, pc));
    const DynamicQuantized dq = dynamic_quantize_linear(x.data(), x.size());
    d.add(dq.y);
    d.add(dq.scale);
    d.add(dq.zero_point);
    // Every draw is its own statement: the order in which function arguments are evaluated is
    // unspecified (g++ and clang differ), which would feed the two targets different inputs.
    for (bool is_signed : {true, false})
        for (bool symmetric : {true, false}) {
            const float lo = rng.uniform(-5.0f, 0.0f);
            const float hi = rng.uniform(0.0f, 5.0f);
            const QuantParams p = choose_params(lo, hi, is_signed, symmetric);
            d.add(p.scale[0]);
            d.add(p.zero_point[0]);
        }
    for (int i = 0; i < 20000; ++i) {
        const float sa = rng.uniform(0.001f, 0.1f);
        const float sb = rng.uniform(0.001f, 0.1f);
        const float sy = rng.uniform(0.01f, 1.0f);
        const int32_t zp = rng.integer(-128, 127);
        const RequantParams p =
            make_requant_params(sa, sb, sy, zp, true, (i & 1) ? RequantMode::float_scale : RequantMode::fixed_point);
        const int32_t acc = rng.integer(-2000000, 2000000);
        const int32_t bias = rng.integer(-5000, 5000);
        d.add(p.multiplier);
        d.add(p.fixed.q31);
        d.add(requantize(acc, bias, p, (i % 5) == 0));
    }
    for (int i = 0; i < 20000; ++i) {
        const float f = float_from_bits(rng.bits());
        d.add(float_to_half(f));
        d.add(float_to_bf16(f));
    }
    d.add(abs_percentile(x.data(), x.size(), 99.9));
    d.add(percentile(x.data(), x.size(), 12.5));
    const ClipSearchResult r = search_mse_clip(x.data(), 1024, false, false, 40);
    d.add(r.mse);
    d.add(r.params.scale[0]);
    d.add(r.params.zero_point[0]);
    BOOST_TEST_MESSAGE("quant_formats digest 0x" << std::hex << d.h);
    BOOST_TEST(d.h == 0x3c5086c3998dcc3dull, "digest 0x" << std::hex << d.h);
}

// The array forms the executor runs between int8 layers are quantize_value / dequantize_value
// element by element on every ISA: quotients on and beside every tie (k + 0.5 for k in +-300),
// around each saturation bound, NaN, infinities, subnormals and random values, for several scales
// and zero points across both storage ranges, with lengths that leave a scalar tail.
BOOST_AUTO_TEST_CASE(array_quantize_and_dequantize_equal_the_per_value_formulas_on_every_isa) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> wide(-400.0f, 400.0f);
    for (const float scale : {1.0f, 0.0371f, 0.5f, 3.25f, 1e-3f}) {
        std::vector<float> x;
        for (int k = -300; k <= 300; ++k)
            for (float t : {float(k) + 0.5f, float(k)})
                for (float v : {std::nextafter(t, -1e9f), t, std::nextafter(t, 1e9f)}) x.push_back(v * scale);
        for (int i = 0; i < 20000; ++i) x.push_back(wide(rng) * scale);
        for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::denorm_min(), -0.0f, 0.0f,
                        1e30f, -1e30f, 1024.0f * scale, -1024.0f * scale, 2000.0f * scale})
            x.push_back(v);
        x.push_back(1.5f * scale);  // odd length
        for (Isa isa : available_isas())
            for (const int32_t z : {-128, -3, 0, 127}) {
                std::vector<int8_t> y8(x.size());
                quantize_array(x.data(), x.size(), scale, z, y8.data(), isa);
                size_t bad = 0;
                for (size_t i = 0; i < x.size(); ++i) bad += y8[i] != quantize_value(x[i], scale, z, -128, 127);
                BOOST_TEST(bad == 0u, isa_name(isa) << " int8 scale " << scale << " zero point " << z);
                const int32_t zu = z + 128;
                std::vector<uint8_t> yu(x.size());
                quantize_array(x.data(), x.size(), scale, zu, yu.data(), isa);
                bad = 0;
                for (size_t i = 0; i < x.size(); ++i) bad += yu[i] != quantize_value(x[i], scale, zu, 0, 255);
                BOOST_TEST(bad == 0u, isa_name(isa) << " uint8 scale " << scale << " zero point " << zu);
                // Every stored value back, twice over plus a tail.
                std::vector<int8_t> q8;
                std::vector<uint8_t> qu;
                for (int r = 0; r < 2; ++r)
                    for (int v = 0; v < 256; ++v) q8.push_back(int8_t(v - 128)), qu.push_back(uint8_t(v));
                q8.push_back(5), qu.push_back(5);
                std::vector<float> back(q8.size());
                dequantize_array(q8.data(), q8.size(), scale, z, back.data(), isa);
                bad = 0;
                for (size_t i = 0; i < q8.size(); ++i) bad += back[i] != dequantize_value(q8[i], scale, z);
                dequantize_array(qu.data(), qu.size(), scale, zu, back.data(), isa);
                for (size_t i = 0; i < qu.size(); ++i) bad += back[i] != dequantize_value(qu[i], scale, zu);
                BOOST_TEST(bad == 0u, isa_name(isa) << " dequantize scale " << scale << " zero point " << z);
            }
    }
    float x = 1.0f;
    int8_t y = 0;
    BOOST_CHECK_EXCEPTION(quantize_array(&x, 1, 0.0f, 0, &y), std::invalid_argument,
                          [](const std::invalid_argument& e) { return std::string(e.what()).find("scale") != std::string::npos; });
    BOOST_CHECK_EXCEPTION(quantize_array(&x, 1, 1.0f, 200, &y), std::invalid_argument,
                          [](const std::invalid_argument& e) { return std::string(e.what()).find("zero_point 200") != std::string::npos; });
}

// Rounding ties are where a fast quantizer goes wrong (a product with 1 / scale instead of the
// division, a different rounding trick): 300 log-uniform scales, each with values on, beside and a
// few ulps around half-integer quotients up to the saturation range, and random ones. (A version
// that multiplied by 1 / scale away from ties was tried, checked by this test, and measured no faster
// than the division on this machine, so the division stayed.)
BOOST_AUTO_TEST_CASE(array_quantize_rounds_like_the_division_near_ties_for_many_scales) {
    std::mt19937 rng(17);
    std::uniform_real_distribution<double> log_scale(std::log(1e-6), std::log(20.0));
    std::uniform_int_distribution<int> k_of(-400, 400), ulps(-6, 6);
    std::uniform_real_distribution<float> any(-600.0f, 600.0f), tiny(-2e-3f, 2e-3f);
    size_t checked = 0;
    for (int trial = 0; trial < 300; ++trial) {
        const float scale = float(std::exp(log_scale(rng)));
        std::vector<float> x;
        for (int i = 0; i < 3000; ++i) {
            float v = (float(k_of(rng)) + 0.5f) * scale;                // a tie, as near as float gets
            for (int u = ulps(rng); u != 0; u += u > 0 ? -1 : 1) v = std::nextafter(v, u > 0 ? 1e30f : -1e30f);
            x.push_back(v);
            x.push_back((float(k_of(rng)) + 0.5f + tiny(rng)) * scale);  // close to one
            x.push_back(any(rng) * scale);
        }
        for (Isa isa : available_isas()) {
            std::vector<int8_t> y(x.size());
            std::vector<uint8_t> yu(x.size());
            quantize_array(x.data(), x.size(), scale, 3, y.data(), isa);
            quantize_array(x.data(), x.size(), scale, 130, yu.data(), isa);
            size_t bad = 0;
            for (size_t i = 0; i < x.size(); ++i)
                bad += (y[i] != quantize_value(x[i], scale, 3, -128, 127)) + (yu[i] != quantize_value(x[i], scale, 130, 0, 255));
            BOOST_TEST(bad == 0u, isa_name(isa) << " scale " << std::setprecision(9) << scale << ": " << bad << " values differ");
            checked += 2 * x.size();
        }
    }
    BOOST_TEST(checked >= 300u * 9000u * 2u);
}

// The output stage of a QDQ layer on int32 accumulators (what the executor's Gemm / MatMul tail and
// the fused convolution run) is, per value, the three nodes' float operations in order: the float
// map, the ReLU select, QuantizeLinear. Checked against those formulas written out here on random
// accumulators (some of them near rounding ties), a row stride wider than the row, one column
// (a channel's run), shapes that cross the 4096-value chunks, both storage types and every ISA;
// and the scratch vector is reused across calls of different sizes.
BOOST_AUTO_TEST_CASE(requantize_accumulators_equals_the_float_map_then_quantize_linear) {
    std::mt19937 rng(23);
    std::uniform_int_distribution<int32_t> any_acc(-200000, 200000);
    std::uniform_real_distribution<float> mul(1e-5f, 4e-3f), bias(-3.0f, 3.0f);
    std::vector<float> scratch;
    size_t checked = 0;
    // The SIMD ISAs fuse the map for single contiguous channels and rows of 16 columns or more
    // (whole blocks, then the ends per value); other shapes go through the float scratch. The last
    // field asks for extreme stages: infinite products and a NaN bias.
    for (const auto& [rows, cols, stride, extreme] : std::vector<std::array<size_t, 4>>{
             {7, 1, 1, 0}, {1000, 1, 1, 0}, {37, 1, 1, 0}, {9000, 1, 3, 0}, {33, 16, 16, 0}, {300, 32, 40, 0},
             {50, 21, 24, 0}, {64, 7, 7, 0}, {5, 4096, 4096, 0}, {3, 5000, 5001, 0}, {1, 3, 3, 0}, {45, 1, 1, 1},
             {9, 40, 41, 1}}) {
        std::vector<int32_t> acc(rows * stride);
        for (auto& a : acc) a = any_acc(rng);
        std::vector<float> m(cols), b(cols);
        for (auto& v : m) v = mul(rng);
        for (auto& v : b) v = bias(rng);
        const float scale = 0.0213f;
        // Some accumulators near ties: acc * m + b ~ (k + 0.5) * scale, acc rounded to an integer.
        for (size_t r = 0; r < rows; r += 3) {
            const size_t j = r % cols;
            acc[r * stride + j] = int32_t(std::lround(((float(int(r % 200) - 100) + 0.5f) * scale - b[j]) / m[j]));
        }
        if (extreme) {
            m[0] = 3e38f;
            b[cols - 1] = std::numeric_limits<float>::quiet_NaN();
            acc[0] = 0;
        }
        for (const bool relu : {false, true})
            for (Isa isa : available_isas()) {
                const QdqOutput q8{m.data(), b.data(), relu, scale, -7};
                const QdqOutput qu{m.data(), b.data(), relu, scale, 121};
                std::vector<int8_t> y8(rows * cols);
                std::vector<uint8_t> yu(rows * cols);
                requantize_accumulators(acc.data(), rows, cols, stride, q8, y8.data(), scratch, isa);
                requantize_accumulators(acc.data(), rows, cols, stride, qu, yu.data(), scratch, isa);
                std::vector<float> f(rows * cols);
                dequantize_accumulators(acc.data(), rows, cols, stride, m.data(), b.data(), relu, f.data());
                size_t bad = 0;
                for (size_t r = 0; r < rows; ++r)
                    for (size_t j = 0; j < cols; ++j) {
                        float v = float(acc[r * stride + j]) * m[j] + b[j];
                        if (relu && v < 0.0f) v = 0.0f;
                        bad += std::memcmp(&f[r * cols + j], &v, sizeof v) != 0;
                        bad += y8[r * cols + j] != quantize_value(v, scale, -7, -128, 127);
                        bad += yu[r * cols + j] != quantize_value(v, scale, 121, 0, 255);
                        checked += 2;
                    }
                BOOST_TEST(bad == 0u, isa_name(isa) << " " << rows << " x " << cols << " stride " << stride
                                                    << (relu ? " relu" : ""));
            }
    }
    BOOST_TEST(checked > 100000u);
    // Bad stages are refused before any work, naming the function and the problem.
    const int32_t a[2] = {1, 2};
    const float m1 = 1.0f, b1 = 0.0f;
    int8_t y[2] = {9, 9};
    auto refuses = [&](const QdqOutput& q, size_t stride, const char* what) {
        const std::string e = error_of([&] { requantize_accumulators(a, 1, 1, stride, q, y, scratch); });
        BOOST_TEST(contains(e, "requantize_accumulators"), e);
        BOOST_TEST(contains(e, what), e);
    };
    refuses(QdqOutput{nullptr, &b1, false, 1.0f, 0}, 1, "multiplier");
    refuses(QdqOutput{&m1, &b1, false, 0.0f, 0}, 1, "scale");
    refuses(QdqOutput{&m1, &b1, false, std::numeric_limits<float>::quiet_NaN(), 0}, 1, "scale");
    refuses(QdqOutput{&m1, &b1, false, 1.0f, 128}, 1, "zero_point 128");
    const std::string e = error_of(
        [&] { requantize_accumulators(a, 1, 2, 1, QdqOutput{&m1, &b1, false, 1.0f, 0}, y, scratch); });
    BOOST_TEST(contains(e, "stride 1"), e);
    BOOST_TEST(y[0] == 9);
    BOOST_TEST(y[1] == 9);
}

BOOST_AUTO_TEST_SUITE_END()
