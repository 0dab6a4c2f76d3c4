// LayerNorm over the last axis, and LayerNorm fused with GELU with a drift report against the
// unfused reference: the precision choices real ports make, and what each one costs.
//
// LayerNorm (ONNX LayerNormalization with axis = -1, stash_type float): for each row of `cols`
// values, y = (x - mean) / sqrt(var + epsilon) * gamma + beta, var the population variance
// (divided by cols). gamma has cols values; beta has cols values or is null (0).
//   layer_norm_ref  the reference: double accumulation, two passes (mean, then the sum of squared
//                   deviations, sequential order), output in double.
//   layer_norm      the fast fp32 path: two passes in float with 8 interleaved partial sums (so the
//                   compiler can keep them in one SIMD register; the order is fixed, so results
//                   are the same on every target). Within 2e-5 * max(1, |gamma|) + |beta| * 1e-6
//                   of the reference for rows with |mean| / stddev <= 100 (asserted in tests).
//
// Fused LayerNorm + GELU (one kernel: row statistics, then one pass writing GELU(LN(x))), with the
// variant knobs that make real ports drift from the model they were validated on:
//   variance    two_pass     mean, then sum (x - mean)^2, float, 8 partial sums (as layer_norm)
//               single_pass  sum x and sum x^2 in one pass, var = E[x^2] - E[x]^2 in float, clamped
//                            at 0: the textbook one-pass formula, which cancels catastrophically
//                            when |mean| >> stddev (x = 1000 + noise)
//               welford      Welford's running mean/M2 in float, element by element (PyTorch CPU)
//   gelu        erf (exact form, fast_erf) or tanh (the approximation, fast_tanh)
//   fp16        the normalized value and the GELU result are each stored as IEEE fp16 (half.hpp)
//               before the next step, as a kernel with fp16 intermediate buffers does
// The unfused reference is layer_norm_ref, then gelu_erf_ref (double), then quantize.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "quant/formats.hpp"

namespace stacklab::quant {

// Every function here throws std::invalid_argument (naming the argument) for null pointers with
// rows * cols > 0, cols == 0 with rows > 0, a non-finite or negative epsilon, or per-channel /
// invalid output parameters.
void layer_norm_ref(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                    double* y);
void layer_norm(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                float* y);

enum class VarianceMethod { two_pass, single_pass, welford };
enum class GeluForm { erf, tanh };
const char* variance_method_name(VarianceMethod v);  // "two-pass", "single-pass", "welford"
const char* gelu_form_name(GeluForm g);               // "erf", "tanh"
// The inverse of the names above; throws std::invalid_argument naming the unknown value.
VarianceMethod parse_variance_method(const std::string& name);
GeluForm parse_gelu_form(const std::string& name);

struct LnGeluVariant {
    VarianceMethod variance = VarianceMethod::two_pass;
    GeluForm gelu = GeluForm::erf;
    bool fp16 = false;  // fp16 storage of the normalized value and of the GELU result
};
std::string variant_name(const LnGeluVariant& v);  // e.g. "two-pass/erf/fp32"

// The fused kernel, fp32 output, and int8/uint8 output (quantize_value of the same fp32 value
// with the per-tensor parameters `out`, whose is_signed must match the storage type).
void layer_norm_gelu(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                     const LnGeluVariant& v, float* y);
void layer_norm_gelu(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                     const LnGeluVariant& v, const QuantParams& out, int8_t* y);
void layer_norm_gelu(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                     const LnGeluVariant& v, const QuantParams& out, uint8_t* y);
// The unfused reference: layer_norm_ref, then gelu_erf_ref, all in double.
void layer_norm_gelu_ref(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta,
                         float epsilon, double* y);

// How far the fused kernel lands from the reference on one input. Plain data (JSON-able).
struct DriftReport {
    std::string variant;  // variant_name
    size_t rows = 0, cols = 0;
    float out_scale = 0.0f;
    int32_t out_zero_point = 0;
    bool out_signed = true;
    // The fused fp32 output against the reference's real values (before any quantization).
    double max_abs_error = 0.0;
    double mean_abs_error = 0.0;
    // The fused quantized output against quantize(reference), in output steps (LSBs):
    // histogram bins of q_fused - q_ref: [<= -4, -3, -2, -1, 0, +1, +2, +3, >= +4].
    std::array<uint64_t, 9> lsb_histogram{};
    uint64_t differing = 0;  // elements whose quantized value differs from the reference's
    int32_t max_abs_lsb = 0;
};
// Labels of the histogram bins, in order: "<=-4", "-3", ..., "+3", ">=+4".
const std::array<const char*, 9>& drift_histogram_labels();

DriftReport layer_norm_gelu_drift(const LnGeluVariant& v, const float* x, size_t rows, size_t cols,
                                  const float* gamma, const float* beta, float epsilon, const QuantParams& out);

// A deterministic test input for the drift report, the same on every standard library: values
// come from std::mt19937's raw 32-bit output (the engine is fully specified by the C++ standard;
// the std:: distributions are not, and libstdc++ and libc++ differ), mapped with integer and exact
// float arithmetic only:
//   u        = (r >> 8) * 2^-24, uniform in [0, 1) with 24 bits
//   x[r][c]  = offset + s_r * sqrt(3) * (u1 + u2 + u3 + u4 - 2)   (mean 0, stddev s_r noise)
//   s_r      = 0.25 + 2 u per row; gamma[c] = 0.5 + u; beta[c] = 0.5 u - 0.25
// epsilon = 1e-5, output int8 with scale 1/32 and zero point -122 (real range [-0.1875, 7.78],
// which holds GELU of any LayerNorm output with |gamma| < 1.5 and |z| < 5).
struct DriftCase {
    size_t rows = 0, cols = 0;
    std::vector<float> x, gamma, beta;
    float epsilon = 1e-5f;
    QuantParams out;
};
DriftCase make_drift_case(size_t rows, size_t cols, uint32_t seed, float offset);

}  // namespace stacklab::quant
