#include "quant/activations.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "quant/activations_kernels.hpp"
#include "quant/elementary.hpp"
#include "quant/errors.hpp"

namespace stacklab::quant {

namespace {

using detail::fail;

// sqrt(2/pi) and 1/sqrt(2), to double precision.
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kGeluTanhCubic = 0.044715;  // Hendrycks & Gimpel's fitted constant

void check_per_tensor(const QuantParams& p, const char* name) {
    if (p.axis != -1 || p.scale.size() != 1)
        fail(std::string(name) + " must be per-tensor (axis -1, one scale) for a lookup table");
    validate(p, {1});
}

int32_t zp(const QuantParams& p) { return p.zero_point.empty() ? 0 : p.zero_point[0]; }

template <typename In, typename Out>
void apply_impl(const Lut8& lut, const In* x, size_t n, Out* y) {
    if (lut.input_signed != std::is_signed<In>::value)
        fail(std::string("lookup table built for ") + (lut.input_signed ? "int8" : "uint8") + " input, given " +
             (std::is_signed<In>::value ? "int8" : "uint8"));
    if (lut.output_signed != std::is_signed<Out>::value)
        fail(std::string("lookup table built for ") + (lut.output_signed ? "int8" : "uint8") + " output, given " +
             (std::is_signed<Out>::value ? "int8" : "uint8"));
    if (n > 0 && (x == nullptr || y == nullptr)) fail("apply_lut: x and y must not be null");
    for (size_t i = 0; i < n; ++i) y[i] = static_cast<Out>(lut.table[static_cast<uint8_t>(x[i])]);
}

}  // namespace

const char* activation_name(Activation a) {
    switch (a) {
        case Activation::gelu_erf: return "gelu_erf";
        case Activation::gelu_tanh: return "gelu_tanh";
        case Activation::hardswish: return "hardswish";
        case Activation::sigmoid: return "sigmoid";
        case Activation::tanh: return "tanh";
    }
    return "?";
}

double gelu_erf_ref(double x) { return 0.5 * x * (1.0 + ref_erf(x * kInvSqrt2)); }
double gelu_tanh_ref(double x) {
    return 0.5 * x * (1.0 + ref_tanh(kSqrt2OverPi * (x + kGeluTanhCubic * x * x * x)));
}
double hardswish_ref(double x) { return x * std::min(std::max(x + 3.0, 0.0), 6.0) / 6.0; }
double sigmoid_ref(double x) {
    // Written so that e^t never overflows: for x < 0, e^x / (1 + e^x).
    if (x >= 0) return 1.0 / (1.0 + ref_exp(-x));
    const double e = ref_exp(x);
    return e / (1.0 + e);
}
double tanh_ref(double x) { return ref_tanh(x); }

double activation_ref(Activation a, double x) {
    switch (a) {
        case Activation::gelu_erf: return gelu_erf_ref(x);
        case Activation::gelu_tanh: return gelu_tanh_ref(x);
        case Activation::hardswish: return hardswish_ref(x);
        case Activation::sigmoid: return sigmoid_ref(x);
        case Activation::tanh: return tanh_ref(x);
    }
    fail("unknown activation");
}

namespace {

// The float functions, inline so that the array loops below vectorize.
inline float gelu_erf_v(float x) { return 0.5f * x * (1.0f + fast_erf(x * static_cast<float>(kInvSqrt2))); }
inline float gelu_tanh_v(float x) {
    const float inner = static_cast<float>(kSqrt2OverPi) * (x + static_cast<float>(kGeluTanhCubic) * x * x * x);
    return 0.5f * x * (1.0f + fast_tanh(inner));
}
inline float hardswish_v(float x) { return x * std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f; }
// 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below (no overflow); as selects, so loops vectorize.
inline float sigmoid_v(float x) {
    const float e = fast_exp(x >= 0 ? -x : x);
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

}  // namespace

float gelu_erf(float x) { return gelu_erf_v(x); }
float gelu_tanh(float x) { return gelu_tanh_v(x); }
float hardswish(float x) { return hardswish_v(x); }
float sigmoid(float x) { return sigmoid_v(x); }

float activation(Activation a, float x) {
    switch (a) {
        case Activation::gelu_erf: return gelu_erf(x);
        case Activation::gelu_tanh: return gelu_tanh(x);
        case Activation::hardswish: return hardswish(x);
        case Activation::sigmoid: return sigmoid(x);
        case Activation::tanh: return fast_tanh(x);
    }
    fail("unknown activation");
}

void activation(Activation a, const float* x, size_t n, float* y) { activation(a, x, n, y, best_isa()); }

void activation(Activation a, const float* x, size_t n, float* y, Isa isa) {
    if (n > 0 && (x == nullptr || y == nullptr)) fail("activation: x and y must not be null");
    if (!isa_available(isa)) fail(std::string("activation: isa ") + isa_name(isa) + " is not available in this build or on this machine");
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::avx2 || isa == Isa::avx512vnni) {
        const detail::ActivationConstants c{static_cast<float>(kInvSqrt2), static_cast<float>(kSqrt2OverPi),
                                            static_cast<float>(kGeluTanhCubic)};
        if (isa == Isa::avx512vnni) {  // 16 lanes, then at most one 8-lane step below
            const size_t done = detail::activation_avx512(a, x, n, y, c);
            x += done, y += done, n -= done;
        }
        const size_t done = detail::activation_avx2(a, x, n, y, c);
        x += done, y += done, n -= done;
    }
#elif defined(__wasm_simd128__)
    if (isa == Isa::wasm_simd128) {
        const detail::ActivationConstants c{static_cast<float>(kInvSqrt2), static_cast<float>(kSqrt2OverPi),
                                            static_cast<float>(kGeluTanhCubic)};
        const size_t done = detail::activation_wasm(a, x, n, y, c);
        x += done, y += done, n -= done;
    }
#endif
    // One loop per function (not a switch per element), so each vectorizes.
    switch (a) {
        case Activation::gelu_erf: for (size_t i = 0; i < n; ++i) y[i] = gelu_erf_v(x[i]); return;
        case Activation::gelu_tanh: for (size_t i = 0; i < n; ++i) y[i] = gelu_tanh_v(x[i]); return;
        case Activation::hardswish: for (size_t i = 0; i < n; ++i) y[i] = hardswish_v(x[i]); return;
        case Activation::sigmoid: for (size_t i = 0; i < n; ++i) y[i] = sigmoid_v(x[i]); return;
        case Activation::tanh: for (size_t i = 0; i < n; ++i) y[i] = fast_tanh(x[i]); return;
    }
    fail("unknown activation");
}

int32_t lut_reference(const std::function<double(double)>& fn, int32_t q, const QuantParams& in,
                      const QuantParams& out) {
    check_per_tensor(in, "input parameters");
    check_per_tensor(out, "output parameters");
    if (q < qmin(in.is_signed) || q > qmax(in.is_signed))
        fail("input value " + std::to_string(q) + " is outside the input storage range");
    const double real_in = dequantize_value(q, in.scale[0], zp(in));
    const float real_out = static_cast<float>(fn(real_in));
    return quantize_value(real_out, out.scale[0], zp(out), qmin(out.is_signed), qmax(out.is_signed));
}

Lut8 build_lut(const std::function<double(double)>& fn, const QuantParams& in, const QuantParams& out) {
    if (!fn) fail("build_lut: fn is empty");
    check_per_tensor(in, "input parameters");
    check_per_tensor(out, "output parameters");
    Lut8 lut;
    lut.input_signed = in.is_signed;
    lut.output_signed = out.is_signed;
    for (int32_t q = qmin(in.is_signed); q <= qmax(in.is_signed); ++q)
        lut.table[static_cast<uint8_t>(q)] = static_cast<uint8_t>(lut_reference(fn, q, in, out));
    return lut;
}

Lut8 build_lut(Activation a, const QuantParams& in, const QuantParams& out) {
    return build_lut([a](double x) { return activation_ref(a, x); }, in, out);
}

void apply_lut(const Lut8& lut, const int8_t* x, size_t n, int8_t* y) { apply_impl(lut, x, n, y); }
void apply_lut(const Lut8& lut, const int8_t* x, size_t n, uint8_t* y) { apply_impl(lut, x, n, y); }
void apply_lut(const Lut8& lut, const uint8_t* x, size_t n, int8_t* y) { apply_impl(lut, x, n, y); }
void apply_lut(const Lut8& lut, const uint8_t* x, size_t n, uint8_t* y) { apply_impl(lut, x, n, y); }

}  // namespace stacklab::quant
