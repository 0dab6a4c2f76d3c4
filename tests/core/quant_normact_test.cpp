// LayerNorm, GELU (fp32 and lookup tables), softmax (fp32 and TFLite's integer-only int8 softmax),
// and the fused LayerNorm+GELU kernel with its drift report: every fast path against its
// reference within the documented bound, lookup tables exact by construction, and the precision
// drift that real ports hit (single-pass variance under a DC offset) shown to happen.
#include <cmath>
#include <cstring>
#include <iomanip>
#include <limits>
#include <random>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "quant/activations.hpp"
#include "quant/elementary.hpp"
#include "quant/norm.hpp"
#include "quant/softmax.hpp"

using namespace stacklab::quant;

namespace {

QuantParams per_tensor(float scale, int32_t zp, bool is_signed) {
    QuantParams p;
    p.scale = {scale};
    p.zero_point = {zp};
    p.is_signed = is_signed;
    return p;
}

std::vector<float> random_rows(size_t n, float offset, float spread, std::mt19937& rng) {
    std::uniform_real_distribution<float> d(-spread, spread);
    std::vector<float> v(n);
    for (auto& x : v) x = offset + d(rng);
    return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quant_normact)

// ---------------------------------------------------------------------------------------------
// Elementary functions.

BOOST_AUTO_TEST_CASE(reference_exp_erf_tanh_agree_with_the_c_library_to_double_precision) {
    double worst_exp = 0, worst_erf = 0, worst_tanh = 0;
    for (int i = -40000; i <= 40000; ++i) {
        const double x = i * 1e-3 + 1.2345e-5;  // [-40, 40], off the grid points
        worst_exp = std::max(worst_exp, std::fabs(ref_exp(x) - std::exp(x)) / std::exp(x));
        worst_erf = std::max(worst_erf, std::fabs(ref_erf(x / 4) - std::erf(x / 4)));
        worst_tanh = std::max(worst_tanh, std::fabs(ref_tanh(x / 2) - std::tanh(x / 2)));
    }
    BOOST_TEST_MESSAGE("ref_exp rel " << worst_exp << ", ref_erf abs " << worst_erf << ", ref_tanh abs " << worst_tanh);
    BOOST_TEST(worst_exp < 1e-15);
    BOOST_TEST(worst_erf < 2e-15);
    BOOST_TEST(worst_tanh < 1e-15);
    BOOST_TEST(ref_exp(0.0) == 1.0);
    BOOST_TEST(ref_erf(0.0) == 0.0);
    BOOST_TEST(ref_exp(-800.0) == 0.0);
    BOOST_TEST(std::isinf(ref_exp(710.0)));
    BOOST_TEST(ref_erf(7.0) == 1.0);
    BOOST_TEST(ref_erf(-7.0) == -1.0);
}

BOOST_AUTO_TEST_CASE(fast_float_exp_erf_tanh_stay_within_their_documented_error) {
    double worst_exp = 0, worst_erf = 0, worst_tanh = 0;
    for (int i = -87000; i <= 88000; ++i) {
        const float x = static_cast<float>(i) * 1e-3f;
        const double r = ref_exp(x);
        worst_exp = std::max(worst_exp, std::fabs(fast_exp(x) - r) / r);
    }
    for (int i = -60000; i <= 60000; ++i) {
        const float x = static_cast<float>(i) * 1e-4f;
        worst_erf = std::max(worst_erf, std::fabs(fast_erf(x) - ref_erf(x)));
        worst_tanh = std::max(worst_tanh, std::fabs(fast_tanh(x * 2) - ref_tanh(double(x) * 2)));
    }
    BOOST_TEST_MESSAGE("fast_exp rel " << worst_exp << ", fast_erf abs " << worst_erf << ", fast_tanh abs " << worst_tanh);
    BOOST_TEST(worst_exp <= 3e-7);
    BOOST_TEST(worst_erf < 5e-7);
    BOOST_TEST(worst_tanh < 5e-7);
    BOOST_TEST(fast_exp(-100.0f) == 0.0f);
    BOOST_TEST(std::isinf(fast_exp(100.0f)));
}

// ---------------------------------------------------------------------------------------------
// LayerNorm.

// The array form runs SIMD code per ISA (AVX2 by hand, SSE2/SIMD128 by the compiler); every lane
// must give the scalar function's float bit for bit (a NaN for a NaN): over bit patterns spread across the whole float
// range (NaNs, infinities and subnormals included), densely over [-12, 12] where the functions bend,
// and at each branch threshold, with a length that leaves a scalar tail.
BOOST_AUTO_TEST_CASE(array_activations_equal_the_scalar_function_bit_for_bit_on_every_isa) {
    std::vector<float> x;
    for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 4099) {
        const uint32_t bits = uint32_t(u);
        float v;
        std::memcpy(&v, &bits, sizeof v);
        x.push_back(v);
    }
    for (int i = -1200000; i <= 1200000; ++i) x.push_back(float(i) * 1e-5f);
    for (float t : {88.7f, -87.3f, 9.0f, -9.0f, 0.0f, -0.0f, 44.35f, -43.65f, 62.7f, -61.7f})
        x.insert(x.end(), {std::nextafter(t, -1e30f), t, std::nextafter(t, 1e30f)});
    x.push_back(std::numeric_limits<float>::infinity());
    x.push_back(-std::numeric_limits<float>::infinity());
    x.push_back(std::numeric_limits<float>::quiet_NaN());
    x.push_back(std::numeric_limits<float>::denorm_min());
    x.push_back(5.0f);  // an odd length: the last values take the scalar tail
    const Activation all[] = {Activation::gelu_erf, Activation::gelu_tanh, Activation::hardswish, Activation::sigmoid,
                              Activation::tanh};
    std::vector<float> y(x.size());
    for (Isa isa : available_isas())
        for (Activation a : all) {
            activation(a, x.data(), x.size(), y.data(), isa);
            size_t mismatches = 0, first = 0;
            for (size_t i = 0; i < x.size(); ++i) {
                const float want = activation(a, x[i]);
                // Any NaN for a NaN: WebAssembly leaves the payload and sign of a NaN result open.
                const bool same = std::memcmp(&want, &y[i], sizeof want) == 0 || (std::isnan(want) && std::isnan(y[i]));
                if (!same && mismatches++ == 0) first = i;
            }
            BOOST_TEST(mismatches == 0u, isa_name(isa) << " " << activation_name(a) << ": " << mismatches
                                                       << " values differ, first x = " << std::setprecision(9) << x[first] << " gives " << y[first]
                                                       << " instead of " << activation(a, x[first]));
        }
}

BOOST_AUTO_TEST_CASE(layer_norm_matches_a_hand_computed_row) {
    // x = {1, 2, 3, 4}: mean 2.5, var 1.25, (x - mean) / sqrt(1.25) = {-1.3416, -0.4472, 0.4472, 1.3416}.
    const float x[4] = {1, 2, 3, 4}, gamma[4] = {1, 2, 1, 1}, beta[4] = {0, 0, 1, 0};
    double y[4];
    layer_norm_ref(x, 1, 4, gamma, beta, 0.0f, y);
    BOOST_TEST(y[0] == -1.5 / std::sqrt(1.25), boost::test_tools::tolerance(1e-15));
    BOOST_TEST(y[1] == -1.0 / std::sqrt(1.25), boost::test_tools::tolerance(1e-15));
    BOOST_TEST(y[2] == 0.5 / std::sqrt(1.25) + 1.0, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(y[3] == 1.5 / std::sqrt(1.25), boost::test_tools::tolerance(1e-15));
}

BOOST_AUTO_TEST_CASE(fast_layer_norm_is_within_tolerance_of_the_double_reference) {
    std::mt19937 rng(11);
    struct Case { size_t rows, cols; float offset, spread; };
    for (const Case& c : {Case{1, 1, 0, 1}, Case{3, 7, 0, 1}, Case{4, 768, 0, 3}, Case{2, 4096, 5, 1},
                          Case{8, 1000, 100, 2}, Case{5, 33, -3, 0.1f}}) {
        auto x = random_rows(c.rows * c.cols, c.offset, c.spread, rng);
        auto gamma = random_rows(c.cols, 0, 1.5f, rng);
        auto beta = random_rows(c.cols, 0, 0.5f, rng);
        std::vector<double> ref(x.size());
        std::vector<float> fast(x.size());
        for (const float* b : {static_cast<const float*>(beta.data()), static_cast<const float*>(nullptr)}) {
            layer_norm_ref(x.data(), c.rows, c.cols, gamma.data(), b, 1e-5f, ref.data());
            layer_norm(x.data(), c.rows, c.cols, gamma.data(), b, 1e-5f, fast.data());
            double worst = 0;
            for (size_t i = 0; i < x.size(); ++i) {
                const size_t col = i % c.cols;
                const double tol = 2e-5 * std::max(1.0, double(std::fabs(gamma[col]))) + (b ? std::fabs(b[col]) * 1e-6 : 0);
                worst = std::max(worst, std::fabs(fast[i] - ref[i]) / tol);
            }
            BOOST_TEST(worst <= 1.0, "rows " << c.rows << " cols " << c.cols << " offset " << c.offset
                                             << ": error / tolerance = " << worst);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GELU and the lookup tables.

BOOST_AUTO_TEST_CASE(gelu_forms_match_published_values) {
    // Phi(1) = 0.841344746068543, so GELU(1) = 0.841344746..., GELU(-1) = -0.158655253...
    BOOST_TEST(gelu_erf_ref(1.0) == 0.8413447460685429, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(gelu_erf_ref(-1.0) == -0.15865525393145707, boost::test_tools::tolerance(1e-14));
    BOOST_TEST(gelu_erf_ref(0.0) == 0.0);
    // The tanh form is an approximation: within 5e-4 of the erf form everywhere.
    double worst_forms = 0, worst_fast = 0;
    for (int i = -8000; i <= 8000; ++i) {
        const double x = i * 1e-3;
        worst_forms = std::max(worst_forms, std::fabs(gelu_tanh_ref(x) - gelu_erf_ref(x)));
        const float xf = static_cast<float>(x);
        const double tol = 1e-6 * std::max(1.0, std::fabs(x));
        worst_fast = std::max(worst_fast, std::fabs(gelu_erf(xf) - gelu_erf_ref(xf)) / tol);
        worst_fast = std::max(worst_fast, std::fabs(gelu_tanh(xf) - gelu_tanh_ref(xf)) / tol);
        worst_fast = std::max(worst_fast, std::fabs(sigmoid(xf) - sigmoid_ref(xf)) / tol);
        worst_fast = std::max(worst_fast, std::fabs(hardswish(xf) - hardswish_ref(xf)) / tol);
    }
    BOOST_TEST_MESSAGE("|gelu_tanh - gelu_erf| <= " << worst_forms);
    BOOST_TEST(worst_forms > 1e-4);  // the forms really differ...
    BOOST_TEST(worst_forms < 5e-4);  // ...by a bounded amount
    BOOST_TEST(worst_fast <= 1.0);
}

BOOST_AUTO_TEST_CASE(lookup_tables_are_exact_against_their_definition_for_every_input) {
    const std::vector<std::pair<QuantParams, QuantParams>> params = {
        {per_tensor(0.05f, 0, true), per_tensor(0.03f, -100, true)},
        {per_tensor(0.1f, 128, false), per_tensor(0.02f, 10, false)},
        {per_tensor(0.031f, -7, true), per_tensor(1.0f / 256, 0, false)},
        {per_tensor(0.02f, 200, false), per_tensor(1.0f / 128, 0, true)},
    };
    for (Activation a : {Activation::gelu_erf, Activation::gelu_tanh, Activation::hardswish, Activation::sigmoid,
                         Activation::tanh}) {
        for (const auto& [in, out] : params) {
            const Lut8 lut = build_lut(a, in, out);
            size_t bad = 0, off_by_more_than_one = 0;
            for (int32_t q = qmin(in.is_signed); q <= qmax(in.is_signed); ++q) {
                // The definition, written out independently of lut_reference.
                const double real = (q - in.zero_point[0]) * double(in.scale[0]);
                const int32_t want = quantize_value(static_cast<float>(activation_ref(a, real)), out.scale[0],
                                                    out.zero_point[0], qmin(out.is_signed), qmax(out.is_signed));
                int32_t got;
                if (in.is_signed && out.is_signed) { int8_t i = int8_t(q), o; apply_lut(lut, &i, 1, &o); got = o; }
                else if (in.is_signed) { int8_t i = int8_t(q); uint8_t o; apply_lut(lut, &i, 1, &o); got = o; }
                else if (out.is_signed) { uint8_t i = uint8_t(q); int8_t o; apply_lut(lut, &i, 1, &o); got = o; }
                else { uint8_t i = uint8_t(q), o; apply_lut(lut, &i, 1, &o); got = o; }
                bad += got != want;
                // And the fp32 fast path, quantized, lands within one step of the table.
                const int32_t fast = quantize_value(activation(a, static_cast<float>(real)), out.scale[0],
                                                    out.zero_point[0], qmin(out.is_signed), qmax(out.is_signed));
                off_by_more_than_one += std::abs(fast - got) > 1;
            }
            BOOST_TEST(bad == 0u, activation_name(a) << ": " << bad << " table entries differ from the definition");
            BOOST_TEST(off_by_more_than_one == 0u, activation_name(a));
        }
    }
}

BOOST_AUTO_TEST_CASE(lut_builder_takes_any_function_and_checks_storage_types) {
    const QuantParams in = per_tensor(0.5f, 0, true), out = per_tensor(1.0f, 0, true);
    const Lut8 neg = build_lut([](double x) { return -x; }, in, out);
    const int8_t x[4] = {-128, -2, 0, 127};
    int8_t y[4];
    apply_lut(neg, x, 4, y);
    // -(-64) = 64, -(-1) = 1, 0, -(63.5) = -63.5 -> -64 (ties to even)
    BOOST_TEST(y[0] == 64);
    BOOST_TEST(y[1] == 1);
    BOOST_TEST(y[2] == 0);
    BOOST_TEST(y[3] == -64);
    uint8_t yu[4];
    BOOST_CHECK_THROW(apply_lut(neg, x, 4, yu), std::invalid_argument);
    QuantParams per_channel = in;
    per_channel.axis = 0;
    BOOST_CHECK_THROW(build_lut(Activation::gelu_erf, per_channel, out), std::invalid_argument);
    BOOST_CHECK_THROW(build_lut(Activation::gelu_erf, per_tensor(0.0f, 0, true), out), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Softmax.

BOOST_AUTO_TEST_CASE(fast_softmax_is_within_tolerance_of_the_double_reference) {
    std::mt19937 rng(3);
    for (size_t cols : {size_t{1}, size_t{5}, size_t{16}, size_t{1000}, size_t{4099}}) {
        for (float beta : {1.0f, 0.5f, 3.0f}) {
            auto x = random_rows(4 * cols, 2.0f, 8.0f, rng);
            std::vector<double> ref(x.size());
            std::vector<float> fast(x.size());
            softmax_ref(x.data(), 4, cols, beta, ref.data());
            softmax(x.data(), 4, cols, beta, fast.data());
            double worst = 0;
            for (size_t i = 0; i < x.size(); ++i)
                worst = std::max(worst, std::fabs(fast[i] - ref[i]) / (1e-6 + 2e-6 * ref[i]));
            BOOST_TEST(worst <= 1.0, "cols " << cols << " beta " << beta << ": error / tolerance " << worst);
        }
    }
}

BOOST_AUTO_TEST_CASE(fixed_point_exp_and_reciprocal_are_accurate) {
    double worst_exp = 0, worst_recip = 0;
    for (int64_t a = 0; a >= -(int64_t{1} << 31); a -= 1 << 16) {  // Q5.26 over [-32, 0]
        const int32_t got = fixed_exp_on_negative_values(static_cast<int32_t>(a), 5);
        worst_exp = std::max(worst_exp, std::fabs(got / 2147483648.0 - ref_exp(a / 67108864.0)));
    }
    for (int64_t a = 0; a < (int64_t{1} << 31); a += 1 << 16) {  // Q0.31 over [0, 1)
        const int32_t got = fixed_one_over_one_plus_x(static_cast<int32_t>(a));
        worst_recip = std::max(worst_recip, std::fabs(got / 2147483648.0 - 1.0 / (1.0 + a / 2147483648.0)));
    }
    BOOST_TEST_MESSAGE("fixed exp abs " << worst_exp << ", reciprocal abs " << worst_recip);
    BOOST_TEST(worst_exp < 1e-6);
    BOOST_TEST(worst_recip < 1e-6);
    BOOST_TEST(fixed_exp_on_negative_values(0, 5) == 2147483647);
}

BOOST_AUTO_TEST_CASE(integer_softmax_is_within_one_output_step_of_the_fp32_reference) {
    std::mt19937 rng(21);
    std::uniform_int_distribution<int> d8(-128, 127);
    double worst_lsb = 0;
    size_t total = 0, off_by_one = 0, signed_unsigned_differ = 0;
    for (float scale : {0.01f, 0.0625f, 0.1f, 0.25f, 0.9f}) {
        for (size_t cols : {size_t{1}, size_t{2}, size_t{10}, size_t{100}, size_t{1000}, size_t{4095}}) {
            const SoftmaxQuantParams p = prepare_softmax_quantized(scale);
            const size_t rows = 3;
            std::vector<int8_t> x(rows * cols);
            for (auto& v : x) v = static_cast<int8_t>(d8(rng));
            std::vector<float> xf(x.size());
            for (size_t i = 0; i < x.size(); ++i) xf[i] = dequantize_value(x[i], scale, 0);
            std::vector<double> ref(x.size());
            softmax_ref(xf.data(), rows, cols, 1.0f, ref.data());
            std::vector<int8_t> ys(x.size());
            std::vector<uint8_t> yu(x.size());
            softmax_quantized(x.data(), rows, cols, p, ys.data());
            softmax_quantized(x.data(), rows, cols, p, yu.data());
            for (size_t i = 0; i < x.size(); ++i) {
                signed_unsigned_differ += int(ys[i]) + 128 != int(yu[i]);  // zero points -128 and 0
                const double err_lsb = std::fabs(yu[i] / 256.0 - ref[i]) * 256.0;
                worst_lsb = std::max(worst_lsb, err_lsb);
                const int exact_q = std::min(255, static_cast<int>(std::nearbyint(ref[i] * 256.0)));
                off_by_one += yu[i] != exact_q;
                ++total;
            }
        }
    }
    BOOST_TEST_MESSAGE("integer softmax: max error " << worst_lsb << " LSB, " << off_by_one << " of " << total
                                                      << " not the nearest step");
    BOOST_TEST(signed_unsigned_differ == 0u);  // int8 and uint8 outputs are the same probabilities
    BOOST_TEST(worst_lsb <= 1.0);
    // Beyond the bound: the fixed-point errors are so small that the result is the nearest step to
    // the exact probability nearly everywhere (measured: everywhere on this data).
    BOOST_TEST(off_by_one <= total / 1000);
}

BOOST_AUTO_TEST_CASE(integer_softmax_known_rows) {
    const SoftmaxQuantParams p = prepare_softmax_quantized(0.1f);
    // Four equal values: 1/4 each = 64/256.
    const int8_t equal[4] = {5, 5, 5, 5};
    uint8_t y[4];
    softmax_quantized(equal, 1, 4, p, y);
    for (uint8_t v : y) BOOST_TEST(int(v) == 64);
    // One value far above the others: probability 1 saturates to 255/256 (uint8); the others lie
    // below diff_min (-floor(31 * 2^26 / 2^23) = -248 steps at scale 0.1) and output the minimum.
    const int8_t peak[3] = {-128, 127, -128};
    softmax_quantized(peak, 1, 3, p, y);
    BOOST_TEST(int(y[1]) == 255);
    BOOST_TEST(int(y[0]) == 0);
    BOOST_TEST(p.diff_min == -248);
    // Shifting every input by the same amount changes nothing: only differences enter.
    std::mt19937 rng(8);
    std::uniform_int_distribution<int> d(-100, 27);
    std::vector<int8_t> a(50), b(50);
    for (size_t i = 0; i < a.size(); ++i) {
        a[i] = static_cast<int8_t>(d(rng));
        b[i] = static_cast<int8_t>(a[i] + 100);
    }
    std::vector<int8_t> ya(50), yb(50);
    softmax_quantized(a.data(), 1, 50, p, ya.data());
    softmax_quantized(b.data(), 1, 50, p, yb.data());
    BOOST_TEST(ya == yb);
    BOOST_CHECK_THROW(prepare_softmax_quantized(0.0f), std::invalid_argument);
    BOOST_CHECK_THROW(prepare_softmax_quantized(100.0f), std::invalid_argument);
    BOOST_CHECK_THROW(softmax_quantized(a.data(), 1, 5000, p, ya.data()), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Fused LayerNorm + GELU and its drift report.

BOOST_AUTO_TEST_CASE(fused_int8_output_is_the_quantized_fp32_output) {
    const DriftCase dc = make_drift_case(4, 100, 5, 0.0f);
    for (VarianceMethod vm : {VarianceMethod::two_pass, VarianceMethod::single_pass, VarianceMethod::welford})
        for (bool fp16 : {false, true}) {
            const LnGeluVariant v{vm, GeluForm::tanh, fp16};
            std::vector<float> f(dc.x.size());
            std::vector<int8_t> q(dc.x.size());
            layer_norm_gelu(dc.x.data(), 4, 100, dc.gamma.data(), dc.beta.data(), dc.epsilon, v, f.data());
            layer_norm_gelu(dc.x.data(), 4, 100, dc.gamma.data(), dc.beta.data(), dc.epsilon, v, dc.out, q.data());
            size_t bad = 0;
            for (size_t i = 0; i < f.size(); ++i)
                bad += q[i] != quantize_value(f[i], dc.out.scale[0], dc.out.zero_point[0], -128, 127);
            BOOST_TEST(bad == 0u, variant_name(v));
        }
}

BOOST_AUTO_TEST_CASE(exact_variant_drifts_at_most_one_step_and_only_at_rounding_ties) {
    // fp32 two-pass + erf is within ~1e-5 of the reference (measured below), 1/3000 of an output
    // step (1/32): a quantized value can only change where the reference lies within that distance
    // of a rounding boundary, and then by one step.
    const DriftCase dc = make_drift_case(64, 768, 1, 0.0f);
    const DriftReport r = layer_norm_gelu_drift({}, dc.x.data(), dc.rows, dc.cols, dc.gamma.data(), dc.beta.data(),
                                                dc.epsilon, dc.out);
    BOOST_TEST_MESSAGE(r.variant << ": max " << r.max_abs_error << " mean " << r.mean_abs_error << " differing "
                                 << r.differing);
    BOOST_TEST(r.variant == "two-pass/erf/fp32");
    BOOST_TEST(r.max_abs_error < 1e-5);
    BOOST_TEST(r.max_abs_lsb <= 1);
    BOOST_TEST(r.differing <= 5u);  // of 49152; ties within 1e-5 of a boundary: expected ~ 49152 * 2e-5 / (1/32)
    uint64_t total = 0;
    for (uint64_t h : r.lsb_histogram) total += h;
    BOOST_TEST(total == 64u * 768u);
    BOOST_TEST(r.lsb_histogram[4] == total - r.differing);
}

BOOST_AUTO_TEST_CASE(approximate_variants_drift_by_a_bounded_nonzero_amount) {
    const DriftCase dc = make_drift_case(64, 768, 2, 0.0f);
    struct Expect { LnGeluVariant v; double max_abs; };
    const std::vector<Expect> cases = {
        {{VarianceMethod::two_pass, GeluForm::tanh, false}, 6e-4},   // tanh form: <= 5e-4 * |gamma| + fp32
        {{VarianceMethod::two_pass, GeluForm::erf, true}, 1e-2},     // fp16: 2^-11 relative twice, |y| < 8
        {{VarianceMethod::single_pass, GeluForm::erf, false}, 1e-3},  // no offset: single pass is harmless
        {{VarianceMethod::welford, GeluForm::erf, false}, 1e-4},
    };
    for (const Expect& e : cases) {
        const DriftReport r = layer_norm_gelu_drift(e.v, dc.x.data(), dc.rows, dc.cols, dc.gamma.data(), dc.beta.data(),
                                                    dc.epsilon, dc.out);
        BOOST_TEST_MESSAGE(r.variant << ": max " << r.max_abs_error << " mean " << r.mean_abs_error << " differing "
                                     << r.differing << " max lsb " << r.max_abs_lsb);
        BOOST_TEST(r.max_abs_error > 0.0, r.variant);
        BOOST_TEST(r.max_abs_error < e.max_abs, r.variant);
        BOOST_TEST(r.max_abs_lsb <= 1, r.variant);
    }
    // The tanh form and fp16 storage change some quantized outputs: nonzero drift.
    const DriftReport t = layer_norm_gelu_drift({VarianceMethod::two_pass, GeluForm::tanh, false}, dc.x.data(), dc.rows,
                                                dc.cols, dc.gamma.data(), dc.beta.data(), dc.epsilon, dc.out);
    const DriftReport h = layer_norm_gelu_drift({VarianceMethod::two_pass, GeluForm::erf, true}, dc.x.data(), dc.rows,
                                                dc.cols, dc.gamma.data(), dc.beta.data(), dc.epsilon, dc.out);
    BOOST_TEST(t.differing > 0u);
    BOOST_TEST(h.differing > t.differing);
}

BOOST_AUTO_TEST_CASE(single_pass_variance_drifts_catastrophically_under_a_dc_offset) {
    // x = 1000 + noise: E[x^2] ~ 1e6, whose float rounding (ulp 0.0625) is as large as the variance
    // of the narrow rows; E[x^2] - E[x]^2 then keeps mostly rounding error.
    const DriftCase dc = make_drift_case(64, 768, 3, 1000.0f);
    auto drift = [&](VarianceMethod vm) {
        return layer_norm_gelu_drift({vm, GeluForm::erf, false}, dc.x.data(), dc.rows, dc.cols, dc.gamma.data(),
                                     dc.beta.data(), dc.epsilon, dc.out);
    };
    const DriftReport single = drift(VarianceMethod::single_pass);
    const DriftReport two = drift(VarianceMethod::two_pass);
    const DriftReport welford = drift(VarianceMethod::welford);
    for (const DriftReport* r : {&single, &two, &welford})
        BOOST_TEST_MESSAGE(r->variant << " at offset 1000: max " << r->max_abs_error << " mean " << r->mean_abs_error
                                      << " differing " << r->differing << " max lsb " << r->max_abs_lsb);
    BOOST_TEST(single.max_abs_lsb >= 4);
    BOOST_TEST(single.max_abs_error > 0.1);
    BOOST_TEST(single.differing > 64u * 768u / 10);
    BOOST_TEST(two.max_abs_lsb <= 1);
    BOOST_TEST(two.max_abs_error < 1e-3);
    BOOST_TEST(welford.max_abs_lsb <= 1);
}

BOOST_AUTO_TEST_CASE(drift_case_is_the_same_on_every_standard_library) {
    // FNV-1a over the bits of everything generated; the value is what native x86-64 (libstdc++)
    // produces, and the wasm build (libc++) must reproduce it.
    const DriftCase dc = make_drift_case(3, 17, 42, 10.5f);
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const std::vector<float>& v) {
        for (float f : v) {
            uint32_t b;
            std::memcpy(&b, &f, 4);
            for (int k = 0; k < 4; ++k) h = (h ^ ((b >> (8 * k)) & 0xff)) * 1099511628211ull;
        }
    };
    mix(dc.x);
    mix(dc.gamma);
    mix(dc.beta);
    BOOST_TEST_MESSAGE("drift case hash " << h);
    BOOST_TEST(h == 16217349895825038212ull);
    BOOST_TEST(dc.x.size() == 51u);
    BOOST_TEST(dc.out.scale[0] == 1.0f / 32.0f);
}

BOOST_AUTO_TEST_CASE(bad_arguments_are_rejected_with_a_reason) {
    const float x[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1};
    float y[4];
    double yd[4];
    BOOST_CHECK_THROW(layer_norm(x, 1, 0, g, nullptr, 1e-5f, y), std::invalid_argument);
    BOOST_CHECK_THROW(layer_norm(nullptr, 1, 4, g, nullptr, 1e-5f, y), std::invalid_argument);
    BOOST_CHECK_THROW(layer_norm_ref(x, 1, 4, nullptr, nullptr, 1e-5f, yd), std::invalid_argument);
    BOOST_CHECK_THROW(layer_norm(x, 1, 4, g, nullptr, -1.0f, y), std::invalid_argument);
    BOOST_CHECK_THROW(softmax(x, 1, 4, 0.0f, y), std::invalid_argument);
    uint8_t q[4];
    BOOST_CHECK_THROW(layer_norm_gelu(x, 1, 4, g, nullptr, 1e-5f, {}, per_tensor(0.1f, 0, true), q),
                      std::invalid_argument);
    BOOST_CHECK_THROW(parse_variance_method("three-pass"), std::invalid_argument);
    BOOST_CHECK_THROW(parse_gelu_form("relu"), std::invalid_argument);
    BOOST_TEST((parse_variance_method("single-pass") == VarianceMethod::single_pass));
    BOOST_TEST((parse_gelu_form("tanh") == GeluForm::tanh));
    layer_norm(x, 0, 4, nullptr, nullptr, 1e-5f, nullptr);  // no rows: nothing to do, no error
}

BOOST_AUTO_TEST_SUITE_END()
