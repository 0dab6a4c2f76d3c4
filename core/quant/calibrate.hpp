// Calibration: choosing the real range [low, high] that an 8-bit tensor is quantized over.
//
//   running min/max   the range of every value seen over the calibration batches (TFLite's and
//                     onnxruntime's MinMax calibrator). One outlier stretches the scale for all.
//   percentile        the p-th percentile of |x| (symmetric) or of x (each tail), e.g. 99.99, which
//                     ignores a few outliers (onnxruntime's Percentile calibrator).
//   MSE search        a grid search over clipping thresholds that keeps the one whose quantize +
//                     dequantize round trip has the smallest mean squared error (the approach of
//                     NVIDIA's pytorch-quantization "mse" calibrator and OpenVINO's MSE range
//                     estimation): clipping a few outliers buys a finer step for the bulk.
//
// State lives in plain structs that the caller owns (no global state). Non-finite inputs throw
// std::invalid_argument naming `x`; other invalid arguments name their parameter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "quant/formats.hpp"

namespace stacklab::quant {

// The running range of one tensor over calibration batches.
struct MinMaxState {
    float min = 0.0f;
    float max = 0.0f;
    size_t count = 0;  // values observed; min/max are meaningful once count > 0
};
void observe_min_max(MinMaxState& state, const float* x, size_t n);

// The running range per channel along `axis` of a row-major tensor of `shape` (axis in [0, rank)).
// `states` is resized to shape[axis] on the first batch and must keep that size afterwards.
void observe_min_max_per_channel(std::vector<MinMaxState>& states, const float* x, const std::vector<int64_t>& shape,
                                 int axis);

// Per-tensor parameters for an observed range (choose_params). Throws naming `state` if nothing
// was observed.
QuantParams params_from_min_max(const MinMaxState& state, bool is_signed, bool symmetric);
// Per-channel parameters along `axis` from per-channel states.
QuantParams params_from_min_max(const std::vector<MinMaxState>& states, int axis, bool is_signed, bool symmetric);

// The p-th percentile (p in [0, 100]) of x, with linear interpolation between the two nearest
// ranks as numpy.percentile's default method: rank = p / 100 * (n - 1). n >= 1.
float percentile(const float* x, size_t n, double p);
// The same over |x|: the clipping threshold of a symmetric percentile calibration.
float abs_percentile(const float* x, size_t n, double p);

// Mean squared error of quantizing x with per-tensor parameters p and dequantizing it again
// (accumulated in double in index order).
double quantization_mse(const float* x, size_t n, const QuantParams& p);

struct ClipSearchResult {
    QuantParams params;       // the parameters with the lowest MSE
    float clip_low = 0.0f;    // the real range they were chosen for (choose_params(clip_low, clip_high))
    float clip_high = 0.0f;
    double mse = 0.0;         // their MSE
    double mse_min_max = 0.0; // the MSE of the plain min/max range, for comparison
};
// Tries the ranges [min * i / steps, max * i / steps] for i = steps..1 (min <= 0 <= max: the
// widened data range) and keeps the lowest MSE; on a tie, the wider range. steps in [1, 10000].
ClipSearchResult search_mse_clip(const float* x, size_t n, bool is_signed, bool symmetric, int steps = 100);

}  // namespace stacklab::quant
