#include "quant/calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include "quant/errors.hpp"

namespace stacklab::quant {

namespace {

using detail::fail;
using detail::num;

void check_finite(const float* x, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (!std::isfinite(x[i])) fail("x[" + std::to_string(i) + "] is not finite (" + num(x[i]) + ")");
}

void update(MinMaxState& s, float v) {
    if (s.count == 0) {
        s.min = v;
        s.max = v;
    } else {
        s.min = std::min(s.min, v);
        s.max = std::max(s.max, v);
    }
    ++s.count;
}

// numpy.percentile(method="linear") over a copy sorted just enough by nth_element.
float interpolated_rank(std::vector<float>& v, double p) {
    if (!(p >= 0.0 && p <= 100.0)) fail("percentile p = " + num(p) + " must be in [0, 100]");
    const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(rank));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
    const double a = v[lo];
    // The next order statistic is the minimum of everything above position lo.
    const double b = hi == lo ? a : *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(hi), v.end());
    const double frac = rank - static_cast<double>(lo);
    return static_cast<float>(a + (b - a) * frac);
}

}  // namespace

void observe_min_max(MinMaxState& state, const float* x, size_t n) {
    check_finite(x, n);
    for (size_t i = 0; i < n; ++i) update(state, x[i]);
}

void observe_min_max_per_channel(std::vector<MinMaxState>& states, const float* x, const std::vector<int64_t>& shape,
                                 int axis) {
    const size_t n = element_count(shape);
    const int rank = static_cast<int>(shape.size());
    if (axis < 0 || axis >= rank)
        fail("axis " + std::to_string(axis) + " is out of range for a rank-" + std::to_string(rank) + " shape");
    const size_t channels = static_cast<size_t>(shape[static_cast<size_t>(axis)]);
    if (states.empty()) states.resize(channels);
    if (states.size() != channels)
        fail("states holds " + std::to_string(states.size()) + " channels but shape[axis=" + std::to_string(axis) +
             "] is " + std::to_string(channels));
    check_finite(x, n);
    size_t outer = 1, inner = 1;
    for (size_t d = 0; d < static_cast<size_t>(axis); ++d) outer *= static_cast<size_t>(shape[d]);
    for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= static_cast<size_t>(shape[d]);
    size_t i = 0;
    for (size_t o = 0; o < outer; ++o)
        for (size_t c = 0; c < channels; ++c)
            for (size_t j = 0; j < inner; ++j) update(states[c], x[i++]);
}

QuantParams params_from_min_max(const MinMaxState& state, bool is_signed, bool symmetric) {
    if (state.count == 0) fail("state has observed no values");
    return choose_params(state.min, state.max, is_signed, symmetric);
}

QuantParams params_from_min_max(const std::vector<MinMaxState>& states, int axis, bool is_signed, bool symmetric) {
    if (states.empty()) fail("states is empty");
    if (axis < 0) fail("axis " + std::to_string(axis) + " must be >= 0 for per-channel parameters");
    QuantParams p;
    p.axis = axis;
    p.is_signed = is_signed;
    for (size_t c = 0; c < states.size(); ++c) {
        if (states[c].count == 0) fail("states[" + std::to_string(c) + "] has observed no values");
        const QuantParams one = choose_params(states[c].min, states[c].max, is_signed, symmetric);
        p.scale.push_back(one.scale[0]);
        p.zero_point.push_back(one.zero_point[0]);
    }
    return p;
}

float percentile(const float* x, size_t n, double p) {
    if (n == 0) fail("n must be >= 1 for a percentile");
    check_finite(x, n);
    std::vector<float> v(x, x + n);
    return interpolated_rank(v, p);
}

float abs_percentile(const float* x, size_t n, double p) {
    if (n == 0) fail("n must be >= 1 for a percentile");
    check_finite(x, n);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = std::fabs(x[i]);
    return interpolated_rank(v, p);
}

double quantization_mse(const float* x, size_t n, const QuantParams& p) {
    if (n == 0) fail("n must be >= 1 for an MSE");
    validate(p, {static_cast<int64_t>(n)});
    if (p.axis != -1) fail("axis must be -1: quantization_mse takes per-tensor parameters");
    const int32_t lo = qmin(p.is_signed), hi = qmax(p.is_signed);
    const float scale = p.scale[0];
    const int32_t zp = p.zero_point.empty() ? 0 : p.zero_point[0];
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const float r = dequantize_value(quantize_value(x[i], scale, zp, lo, hi), scale, zp);
        const double e = static_cast<double>(x[i]) - static_cast<double>(r);
        sum += e * e;
    }
    return sum / static_cast<double>(n);
}

ClipSearchResult search_mse_clip(const float* x, size_t n, bool is_signed, bool symmetric, int steps) {
    if (steps < 1 || steps > 10000) fail("steps = " + std::to_string(steps) + " must be in [1, 10000]");
    MinMaxState range;
    observe_min_max(range, x, n);  // also rejects non-finite x
    if (range.count == 0) fail("n must be >= 1 for a clipping search");
    const float lo = std::min(range.min, 0.0f), hi = std::max(range.max, 0.0f);
    ClipSearchResult best;
    for (int i = steps; i >= 1; --i) {
        // The fraction i / steps in float, then one multiplication per end: the same on every target.
        const float fraction = static_cast<float>(i) / static_cast<float>(steps);
        const float clip_low = lo * fraction, clip_high = hi * fraction;
        QuantParams p = choose_params(clip_low, clip_high, is_signed, symmetric);
        const double mse = quantization_mse(x, n, p);
        if (i == steps) best.mse_min_max = mse;
        if (i == steps || mse < best.mse) {
            best.params = std::move(p);
            best.clip_low = clip_low;
            best.clip_high = clip_high;
            best.mse = mse;
        }
    }
    return best;
}

}  // namespace stacklab::quant
