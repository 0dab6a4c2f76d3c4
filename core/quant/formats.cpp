#include "quant/formats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include "quant/errors.hpp"

namespace stacklab::quant {

namespace {

using detail::fail;
using detail::num;

int32_t clamp_i32(int64_t v, int32_t lo, int32_t hi) {
    return static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(v, lo), hi));
}

// The storage type's signedness must agree with the parameters, or every value would be garbage.
void check_signedness(const QuantParams& p, bool storage_signed) {
    if (p.is_signed != storage_signed)
        fail(std::string("is_signed is ") + (p.is_signed ? "true" : "false") + " but the storage type is " +
             (storage_signed ? "int8" : "uint8"));
}

// Walks a row-major tensor as [outer, channels, inner] around the quantization axis and calls
// f(element_index, channel) for every element. Per-tensor parameters use channel 0 throughout.
template <typename F>
void for_each_channel(const std::vector<int64_t>& shape, const QuantParams& p, F f) {
    const size_t n = element_count(shape);
    if (p.axis < 0) {
        for (size_t i = 0; i < n; ++i) f(i, size_t{0});
        return;
    }
    size_t outer = 1, inner = 1;
    const size_t axis = static_cast<size_t>(p.axis);
    for (size_t d = 0; d < axis; ++d) outer *= static_cast<size_t>(shape[d]);
    for (size_t d = axis + 1; d < shape.size(); ++d) inner *= static_cast<size_t>(shape[d]);
    const size_t channels = static_cast<size_t>(shape[axis]);
    size_t i = 0;
    for (size_t o = 0; o < outer; ++o)
        for (size_t c = 0; c < channels; ++c)
            for (size_t j = 0; j < inner; ++j) f(i++, c);
}

int32_t zero_point_of(const QuantParams& p, size_t channel) {
    return p.zero_point.empty() ? 0 : p.zero_point[channel];
}

template <typename Q>
void quantize_impl(const float* x, const std::vector<int64_t>& shape, const QuantParams& p, Q* y) {
    validate(p, shape);
    check_signedness(p, std::is_signed<Q>::value);
    const int32_t lo = qmin(p.is_signed), hi = qmax(p.is_signed);
    for_each_channel(shape, p, [&](size_t i, size_t c) {
        y[i] = static_cast<Q>(quantize_value(x[i], p.scale[c], zero_point_of(p, c), lo, hi));
    });
}

template <typename Q>
void dequantize_impl(const Q* q, const std::vector<int64_t>& shape, const QuantParams& p, float* x) {
    validate(p, shape);
    check_signedness(p, std::is_signed<Q>::value);
    for_each_channel(shape, p, [&](size_t i, size_t c) { x[i] = dequantize_value(q[i], p.scale[c], zero_point_of(p, c)); });
}

void check_size(size_t got, const std::vector<int64_t>& shape, const char* what) {
    const size_t want = element_count(shape);
    if (got != want)
        fail(std::string(what) + " holds " + std::to_string(got) + " values but the shape has " + std::to_string(want));
}

void check_scale(float s, const char* name) {
    if (!std::isfinite(s) || !(s > 0.0f)) fail(std::string(name) + " must be finite and > 0 (got " + num(s) + ")");
}

template <typename Q>
void requantize_impl(const int32_t* acc, const int32_t* bias, size_t n, const RequantParams& p, bool relu, Q* y) {
    if (p.is_signed != std::is_signed<Q>::value)
        fail(std::string("is_signed is ") + (p.is_signed ? "true" : "false") + " but the storage type is " +
             (std::is_signed<Q>::value ? "int8" : "uint8"));
    for (size_t i = 0; i < n; ++i) y[i] = static_cast<Q>(requantize(acc[i], bias ? bias[i] : 0, p, relu));
}

template <typename Q>
void requantize_matrix_impl(const int32_t* acc, size_t rows, size_t cols, size_t ld_acc, const int32_t* bias,
                            const std::vector<RequantParams>& per_column, bool relu, Q* y, size_t ld_y) {
    if (per_column.size() != 1 && per_column.size() != cols)
        fail("per_column holds " + std::to_string(per_column.size()) + " parameter sets; expected 1 or cols = " +
             std::to_string(cols));
    if (ld_acc < cols || ld_y < cols) fail("ld_acc and ld_y must be >= cols");
    for (const auto& p : per_column)
        if (p.is_signed != std::is_signed<Q>::value)
            fail(std::string("is_signed of per_column disagrees with the storage type ") +
                 (std::is_signed<Q>::value ? "int8" : "uint8"));
    for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) {
            const RequantParams& p = per_column.size() == 1 ? per_column[0] : per_column[c];
            y[r * ld_y + c] = static_cast<Q>(requantize(acc[r * ld_acc + c], bias ? bias[c] : 0, p, relu));
        }
}

}  // namespace

float round_half_even(float v) {
    // |v| >= 2^23 is already an integer (and NaN/inf pass through).
    if (!(std::fabs(v) < 8388608.0f)) return v;
    // floor is exact and v - floor(v) is exact for |v| < 2^23, so nothing here depends on the
    // rounding mode (std::nearbyint does, and onnxruntime once called fesetround() to pin it).
    const float f = std::floor(v);
    const float d = v - f;
    float r;
    if (d > 0.5f) {
        r = f + 1.0f;
    } else if (d < 0.5f) {
        r = f;
    } else {
        const float half = f * 0.5f;
        r = std::floor(half) == half ? f : f + 1.0f;  // tie: the even neighbour
    }
    return std::copysign(r, v);  // -0.3 -> -0, as nearbyint gives
}

size_t element_count(const std::vector<int64_t>& shape) {
    size_t n = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] < 0) fail("shape[" + std::to_string(d) + "] is negative (" + std::to_string(shape[d]) + ")");
        n *= static_cast<size_t>(shape[d]);
    }
    return n;
}

void validate(const QuantParams& p, const std::vector<int64_t>& shape) {
    element_count(shape);
    const int rank = static_cast<int>(shape.size());
    size_t channels = 1;
    if (p.axis < -1) {
        fail("axis " + std::to_string(p.axis) + " is invalid: use -1 for per-tensor or an axis in [0, " +
             std::to_string(rank) + ")");
    } else if (p.axis >= 0) {
        if (p.axis >= rank)
            fail("axis " + std::to_string(p.axis) + " is out of range for a rank-" + std::to_string(rank) + " shape");
        channels = static_cast<size_t>(shape[static_cast<size_t>(p.axis)]);
        if (p.scale.size() != channels)
            fail("scale holds " + std::to_string(p.scale.size()) + " channels but shape[axis=" +
                 std::to_string(p.axis) + "] is " + std::to_string(channels));
    } else if (p.scale.size() != 1) {
        fail("scale holds " + std::to_string(p.scale.size()) + " values; per-tensor (axis -1) needs exactly 1");
    }
    if (!p.zero_point.empty() && p.zero_point.size() != p.scale.size())
        fail("zero_point holds " + std::to_string(p.zero_point.size()) + " values but scale holds " +
             std::to_string(p.scale.size()));
    for (size_t c = 0; c < p.scale.size(); ++c)
        if (!std::isfinite(p.scale[c]) || !(p.scale[c] > 0.0f))
            fail("scale[" + std::to_string(c) + "] must be finite and > 0 (got " + num(p.scale[c]) + ")");
    const int32_t lo = qmin(p.is_signed), hi = qmax(p.is_signed);
    for (size_t c = 0; c < p.zero_point.size(); ++c)
        if (p.zero_point[c] < lo || p.zero_point[c] > hi)
            fail("zero_point[" + std::to_string(c) + "] = " + std::to_string(p.zero_point[c]) + " is outside [" +
                 std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

int32_t quantize_value(float x, float scale, int32_t zero_point, int32_t lo, int32_t hi) {
    if (std::isnan(x)) return std::min(std::max(zero_point, lo), hi);
    // ONNX QuantizeLinear: saturate(round(x / y_scale) + y_zero_point), ties to even. Comparing in
    // float before converting keeps +-inf and huge quotients out of the int conversion.
    const float r = round_half_even(x / scale);
    if (r <= static_cast<float>(lo - zero_point)) return lo;
    if (r >= static_cast<float>(hi - zero_point)) return hi;
    return static_cast<int32_t>(r) + zero_point;
}


void quantize(const float* x, const std::vector<int64_t>& shape, const QuantParams& p, int8_t* y) {
    quantize_impl(x, shape, p, y);
}
void quantize(const float* x, const std::vector<int64_t>& shape, const QuantParams& p, uint8_t* y) {
    quantize_impl(x, shape, p, y);
}
void dequantize(const int8_t* q, const std::vector<int64_t>& shape, const QuantParams& p, float* x) {
    dequantize_impl(q, shape, p, x);
}
void dequantize(const uint8_t* q, const std::vector<int64_t>& shape, const QuantParams& p, float* x) {
    dequantize_impl(q, shape, p, x);
}

std::vector<int8_t> quantize_s8(const std::vector<float>& x, const std::vector<int64_t>& shape, const QuantParams& p) {
    check_size(x.size(), shape, "x");
    std::vector<int8_t> y(x.size());
    quantize(x.data(), shape, p, y.data());
    return y;
}
std::vector<uint8_t> quantize_u8(const std::vector<float>& x, const std::vector<int64_t>& shape, const QuantParams& p) {
    check_size(x.size(), shape, "x");
    std::vector<uint8_t> y(x.size());
    quantize(x.data(), shape, p, y.data());
    return y;
}
std::vector<float> dequantize(const std::vector<int8_t>& q, const std::vector<int64_t>& shape, const QuantParams& p) {
    check_size(q.size(), shape, "q");
    std::vector<float> x(q.size());
    dequantize(q.data(), shape, p, x.data());
    return x;
}
std::vector<float> dequantize(const std::vector<uint8_t>& q, const std::vector<int64_t>& shape, const QuantParams& p) {
    check_size(q.size(), shape, "q");
    std::vector<float> x(q.size());
    dequantize(q.data(), shape, p, x.data());
    return x;
}

QuantParams choose_params(float min, float max, bool is_signed, bool symmetric) {
    if (!std::isfinite(min)) fail("min must be finite (got " + num(min) + ")");
    if (!std::isfinite(max)) fail("max must be finite (got " + num(max) + ")");
    if (min > max) fail("min (" + num(min) + ") must be <= max (" + num(max) + ")");
    // Widen the range to include 0 so that real 0 is exactly q = zero_point (ONNX
    // DynamicQuantizeLinear, onnxruntime's quantization tool, TFLite all do this).
    min = std::min(min, 0.0f);
    max = std::max(max, 0.0f);
    const int32_t lo = qmin(is_signed), hi = qmax(is_signed);
    QuantParams p;
    p.is_signed = is_signed;
    if (symmetric) {
        // 127 steps each side: int8 uses [-127, 127] (TFLite's symmetric int8 weights, onnxruntime's
        // symmetric int8 range), uint8 the same steps around 128 so that -amax and +amax both fit.
        // (onnxruntime's tool uses (2 * amax) / 255 for uint8 instead, which clips +amax by half a step.)
        const float amax = std::max(-min, max);
        float scale = amax / 127.0f;
        if (!(scale >= std::numeric_limits<float>::min())) scale = 1.0f;  // empty or denormal range
        p.scale = {scale};
        p.zero_point = {is_signed ? 0 : 128};
        return p;
    }
    const float range = max - min;
    if (std::isinf(range)) fail("max - min overflows float (min " + num(min) + ", max " + num(max) + ")");
    // onnxruntime GetQuantizationParameter (core/util/qmath.h), computed in float as there.
    float scale = max == min ? 1.0f : range / static_cast<float>(hi - lo);
    if (!(scale >= std::numeric_limits<float>::min())) scale = 1.0f;
    const float initial_zero_point = static_cast<float>(lo) - min / scale;
    const float clamped = std::max(static_cast<float>(lo), std::min(static_cast<float>(hi), initial_zero_point));
    p.scale = {scale};
    p.zero_point = {static_cast<int32_t>(round_half_even(clamped))};
    return p;
}

DynamicQuantized dynamic_quantize_linear(const float* x, size_t n) {
    // Starting at 0 is the spec's maximum(0, max(x)) and minimum(0, min(x)).
    float mn = 0.0f, mx = 0.0f;
    for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i])) fail("x[" + std::to_string(i) + "] is not finite (" + num(x[i]) + ")");
        mn = std::min(mn, x[i]);
        mx = std::max(mx, x[i]);
    }
    const float range = mx - mn;
    if (std::isinf(range)) fail("x: max - min overflows float");
    DynamicQuantized out;
    // y_scale = (max - min) / (qmax - qmin) with qmin = 0, qmax = 255; an empty range gives 1 (onnxruntime).
    out.scale = mx == mn ? 1.0f : range / 255.0f;
    // y_zero_point = round(saturate(qmin - min / y_scale)), ties to even.
    const float initial_zero_point = 0.0f - mn / out.scale;
    out.zero_point = static_cast<uint8_t>(round_half_even(std::max(0.0f, std::min(255.0f, initial_zero_point))));
    out.y.resize(n);
    for (size_t i = 0; i < n; ++i) out.y[i] = static_cast<uint8_t>(quantize_value(x[i], out.scale, out.zero_point, 0, 255));
    return out;
}

// ---------------------------------------------------------------------------------------------

int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
    // gemmlowp fixedpoint.h, scalar int32 specialisation, verbatim in meaning: the nudge makes the
    // truncating division round to nearest (ties toward +inf, like VQRDMULH).
    const bool overflow = a == b && a == std::numeric_limits<int32_t>::min();
    const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
    const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
    const int32_t high = static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
    return overflow ? std::numeric_limits<int32_t>::max() : high;
}

int32_t rounding_divide_by_pot(int32_t x, int exponent) {
    if (exponent < 0 || exponent > 31) fail("exponent " + std::to_string(exponent) + " is outside [0, 31]");
    // gemmlowp RoundingDivideByPOT: an arithmetic shift plus 1 when the remainder exceeds half,
    // with the threshold raised by one for negative x so that ties go away from zero.
    const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

QuantizedMultiplier quantize_multiplier(double real_multiplier) {
    if (!std::isfinite(real_multiplier)) fail("real_multiplier must be finite (got " + num(real_multiplier) + ")");
    QuantizedMultiplier m;
    if (real_multiplier == 0.0) return m;
    // TFLite quantization_util.cc QuantizeMultiplier (without TFLITE_SINGLE_ROUNDING).
    int shift = 0;
    const double q = std::frexp(real_multiplier, &shift);
    int64_t q_fixed = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << 31)));
    if (q_fixed == (int64_t{1} << 31)) {
        q_fixed /= 2;
        ++shift;
    }
    if (shift < -31) {  // every bit would be shifted out: flush to zero as TFLite does
        shift = 0;
        q_fixed = 0;
    }
    if (shift > 30) fail("real_multiplier " + num(real_multiplier) + " is too large (must be < 2^30)");
    m.q31 = static_cast<int32_t>(q_fixed);
    m.shift = shift;
    return m;
}

int32_t multiply_by_quantized_multiplier(int32_t x, int32_t q31, int shift) {
    if (shift < -31 || shift > 30) fail("shift " + std::to_string(shift) + " is outside [-31, 30]");
    // TFLite common.h MultiplyByQuantizedMultiplier (double rounding).
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift);
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, q31), right_shift);
}

const char* requant_mode_name(RequantMode m) {
    switch (m) {
        case RequantMode::float_scale: return "float_scale";
        case RequantMode::fixed_point: return "fixed_point";
    }
    return "unknown";
}

RequantParams make_requant_params(float input_scale, float weight_scale, float output_scale,
                                  int32_t output_zero_point, bool is_signed, RequantMode mode) {
    check_scale(input_scale, "input_scale");
    check_scale(weight_scale, "weight_scale");
    check_scale(output_scale, "output_scale");
    if (output_zero_point < qmin(is_signed) || output_zero_point > qmax(is_signed))
        fail("zero_point " + std::to_string(output_zero_point) + " is outside the " +
             (is_signed ? "int8" : "uint8") + " range");
    RequantParams p;
    p.mode = mode;
    p.zero_point = output_zero_point;
    p.is_signed = is_signed;
    // onnxruntime QLinearMatMul/QLinearConv compute the output scale in float,
    // a_scale * b_scale / y_scale, and MLAS multiplies float(acc) by it. Doing the same in float
    // (not double) is what makes our float path agree with onnxruntime on rounding ties.
    p.multiplier = input_scale * weight_scale / output_scale;
    // TFLite (PopulateConvolutionQuantizationParams) computes the effective scale in double:
    // double(input_scale) * double(filter_scale) / double(output_scale).
    const double real = static_cast<double>(input_scale) * static_cast<double>(weight_scale) /
                        static_cast<double>(output_scale);
    if (!(real < static_cast<double>(int64_t{1} << 30)))
        fail("input_scale * weight_scale / output_scale = " + num(real) + " is too large (must be < 2^30)");
    p.fixed = quantize_multiplier(real);
    return p;
}

std::vector<RequantParams> make_requant_params(float input_scale, const std::vector<float>& weight_scales,
                                               float output_scale, int32_t output_zero_point, bool is_signed,
                                               RequantMode mode) {
    std::vector<RequantParams> out;
    out.reserve(weight_scales.size());
    for (size_t c = 0; c < weight_scales.size(); ++c) {
        if (!std::isfinite(weight_scales[c]) || !(weight_scales[c] > 0.0f))
            fail("weight_scales[" + std::to_string(c) + "] must be finite and > 0 (got " + num(weight_scales[c]) + ")");
        out.push_back(make_requant_params(input_scale, weight_scales[c], output_scale, output_zero_point, is_signed, mode));
    }
    return out;
}

int32_t requantize(int32_t acc, int32_t bias, const RequantParams& p, bool relu) {
    const int32_t a = clamp_i32(static_cast<int64_t>(acc) + bias, std::numeric_limits<int32_t>::min(),
                                std::numeric_limits<int32_t>::max());
    const int32_t hi = qmax(p.is_signed);
    // A fused ReLU clamps at real 0, which is q = zero_point.
    const int32_t lo = relu ? std::max(qmin(p.is_signed), p.zero_point) : qmin(p.is_signed);
    if (p.mode == RequantMode::float_scale) {
        // MLAS MlasRequantizeOutput: float(acc) * scale, clamped to [lo - zp, hi - zp], rounded to
        // nearest even (its magic-number add), plus zp. Clamping after rounding is the same since
        // the bounds are integers.
        const float v = static_cast<float>(a) * p.multiplier;
        const float r = round_half_even(v);
        if (r <= static_cast<float>(lo - p.zero_point)) return lo;
        if (r >= static_cast<float>(hi - p.zero_point)) return hi;
        return static_cast<int32_t>(r) + p.zero_point;
    }
    // TFLite reference_integer_ops: MultiplyByQuantizedMultiplier, + output_offset, clamp.
    const int32_t scaled = multiply_by_quantized_multiplier(a, p.fixed.q31, p.fixed.shift);
    return clamp_i32(static_cast<int64_t>(scaled) + p.zero_point, lo, hi);
}

void requantize(const int32_t* acc, const int32_t* bias, size_t n, const RequantParams& p, bool relu, int8_t* y) {
    requantize_impl(acc, bias, n, p, relu, y);
}
void requantize(const int32_t* acc, const int32_t* bias, size_t n, const RequantParams& p, bool relu, uint8_t* y) {
    requantize_impl(acc, bias, n, p, relu, y);
}

void requantize_matrix(const int32_t* acc, size_t rows, size_t cols, size_t ld_acc, const int32_t* bias,
                       const std::vector<RequantParams>& per_column, bool relu, int8_t* y, size_t ld_y) {
    requantize_matrix_impl(acc, rows, cols, ld_acc, bias, per_column, relu, y, ld_y);
}
void requantize_matrix(const int32_t* acc, size_t rows, size_t cols, size_t ld_acc, const int32_t* bias,
                       const std::vector<RequantParams>& per_column, bool relu, uint8_t* y, size_t ld_y) {
    requantize_matrix_impl(acc, rows, cols, ld_acc, bias, per_column, relu, y, ld_y);
}

}  // namespace stacklab::quant
