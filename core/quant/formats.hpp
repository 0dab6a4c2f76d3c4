// Affine 8-bit quantization and requantization: the numeric rules every int8 kernel of StackLab
// shares, written as short scalar references (TFLite keeps reference/ kernels apart the same way).
//
// Affine quantization (ONNX QuantizeLinear / DequantizeLinear, TFLite, gemmlowp):
//   real = (q - zero_point) * scale
//   q    = saturate(round_half_even(x / scale) + zero_point)
// with per-tensor parameters (one scale) or per-channel parameters (one scale per index of one
// axis of an N-d tensor). Rounding is round-half-to-even as ONNX specifies; `round_half_even`
// computes it without reading the floating-point environment, so no fesetround() anywhere (ours
// or a library's) can change a result, and native and wasm agree bit for bit.
//
// Requantization turns the int32 accumulator of an integer GEMM/convolution into int8/uint8 of the
// output's scale, in one of the two ways real runtimes do it (RequantMode):
//   float_scale  onnxruntime's QLinearMatMul/QLinearConv (MLAS MlasRequantizeOutput):
//                y = saturate(round_half_even(float(acc + bias) * m) + zy), m = sa * sb / sy in float
//   fixed_point  TFLite/gemmlowp: m = q31 * 2^(shift - 31), applied with
//                SaturatingRoundingDoublingHighMul + RoundingDivideByPOT (all integer)
// The two may differ by one step where the product lies close to a rounding tie.
//
// Errors: invalid arguments throw std::invalid_argument with a message that names the parameter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace stacklab::quant {

// Quantization parameters of one tensor. Per-tensor: axis = -1, one scale, zero or one zero point.
// Per-channel: axis in [0, rank), scale.size() == shape[axis], zero_point of the same size.
// An empty zero_point means all zero (ONNX: the zero point input is optional, default 0).
struct QuantParams {
    std::vector<float> scale;
    std::vector<int32_t> zero_point;
    int axis = -1;  // -1: per-tensor
    bool is_signed = true;  // int8 [-128, 127] or uint8 [0, 255]
};

// The saturation range of the storage type.
inline int32_t qmin(bool is_signed) { return is_signed ? -128 : 0; }
inline int32_t qmax(bool is_signed) { return is_signed ? 127 : 255; }

// Round to nearest integer, ties to even (IEEE roundTiesToEven, what ONNX requires and what
// std::nearbyint does under the default FE_TONEAREST mode), independent of the current rounding
// mode. Non-finite values are returned unchanged.
float round_half_even(float v);

// Product of the dimensions; throws if one is negative.
size_t element_count(const std::vector<int64_t>& shape);

// Throws std::invalid_argument unless `p` is valid for a tensor of `shape`: every scale finite and
// > 0, zero points within the storage range, axis -1 or within [0, rank), channel counts matching.
void validate(const QuantParams& p, const std::vector<int64_t>& shape);

// One value: saturate(round_half_even(x / scale) + zero_point) into [lo, hi]. x / scale is a float
// division, as ONNX specifies (not a multiplication by 1/scale, which rounds differently). NaN
// quantizes to the zero point (ONNX leaves it undefined; this keeps it finite and deterministic).
int32_t quantize_value(float x, float scale, int32_t zero_point, int32_t lo, int32_t hi);
// (q - zero_point) * scale, the ONNX DequantizeLinear formula.
// ONNX DequantizeLinear: (x - x_zero_point) * x_scale; the difference is exact in int32. Inline so
// that loops over it vectorize.
inline float dequantize_value(int32_t q, float scale, int32_t zero_point) {
    return static_cast<float>(q - zero_point) * scale;
}

// Whole tensors, x and y holding element_count(shape) values in row-major order. The storage type
// must match p.is_signed (int8_t for true, uint8_t for false).
void quantize(const float* x, const std::vector<int64_t>& shape, const QuantParams& p, int8_t* y);
void quantize(const float* x, const std::vector<int64_t>& shape, const QuantParams& p, uint8_t* y);
void dequantize(const int8_t* q, const std::vector<int64_t>& shape, const QuantParams& p, float* x);
void dequantize(const uint8_t* q, const std::vector<int64_t>& shape, const QuantParams& p, float* x);

std::vector<int8_t> quantize_s8(const std::vector<float>& x, const std::vector<int64_t>& shape, const QuantParams& p);
std::vector<uint8_t> quantize_u8(const std::vector<float>& x, const std::vector<int64_t>& shape, const QuantParams& p);
std::vector<float> dequantize(const std::vector<int8_t>& q, const std::vector<int64_t>& shape, const QuantParams& p);
std::vector<float> dequantize(const std::vector<uint8_t>& q, const std::vector<int64_t>& shape, const QuantParams& p);

// Per-tensor parameters for the real range [min, max] (min <= max, both finite). The range is first
// widened to include 0, so that 0 is exactly representable (q = zero_point); zero padding and ReLU
// outputs then quantize without error.
//   asymmetric: scale = (max - min) / (qmax - qmin), zero_point = round_half_even(clamp(qmin -
//               min / scale)), as onnxruntime's GetQuantizationParameter.
//   symmetric:  scale = max(|min|, |max|) / 127, zero_point = 0 (int8, values in [-127, 127]
//               like TFLite's symmetric weights) or 128 (uint8).
// An empty range (min == max == 0) gives scale 1, as onnxruntime does, instead of dividing by 0.
QuantParams choose_params(float min, float max, bool is_signed, bool symmetric);

// ONNX DynamicQuantizeLinear (opset 11): uint8, range widened to include 0,
// scale = (max - min) / 255, zero_point = saturate(round_half_even(0 - min / scale)),
// y = saturate(round_half_even(x / scale) + zero_point). For an all-zero (or empty) input the
// scale is 1 and the zero point 0, as onnxruntime computes it (the spec's formula divides by 0).
// Throws std::invalid_argument if x holds a NaN or an infinity (the range would be meaningless).
struct DynamicQuantized {
    std::vector<uint8_t> y;
    float scale = 1.0f;
    uint8_t zero_point = 0;
};
DynamicQuantized dynamic_quantize_linear(const float* x, size_t n);

// ---------------------------------------------------------------------------------------------
// Requantization of int32 accumulators.

// gemmlowp's SaturatingRoundingDoublingHighMul (= ARM NEON VQRDMULH): round(a * b / 2^31) with
// ties toward +infinity, and INT32_MIN * INT32_MIN (the only overflow) saturated to INT32_MAX.
int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b);
// gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero.
// exponent in [0, 31]; throws std::invalid_argument naming `exponent` otherwise.
int32_t rounding_divide_by_pot(int32_t x, int exponent);

// A real multiplier as q31 * 2^(shift - 31) with |q31| in [2^30, 2^31) (or q31 = 0 for 0).
struct QuantizedMultiplier {
    int32_t q31 = 0;
    int shift = 0;  // > 0: left shift before the multiplication, < 0: rounding right shift after
};
// TFLite's QuantizeMultiplier: frexp, round half away from zero (TfLiteRound = std::round), a
// mantissa that rounds up to 2^31 renormalised to 2^30 with shift + 1, and multipliers below about
// 2^-31 (shift < -31) flushed to zero. Negative multipliers are allowed, as in TFLite.
// Throws std::invalid_argument naming `real_multiplier` if it is not finite or >= 2^30 (the left
// shift x * 2^shift would overflow int32 for any |x| > 1).
QuantizedMultiplier quantize_multiplier(double real_multiplier);
// TFLite's MultiplyByQuantizedMultiplier (the default, double-rounding variant):
//   RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^left, q31), right)
// with left = max(shift, 0), right = max(-shift, 0). The left shift wraps modulo 2^32 like the
// two's complement hardware TFLite runs on (in TFLite's C++ the overflow is undefined behaviour);
// callers keep |x| * 2^left < 2^31. shift in [-31, 30]; throws std::invalid_argument otherwise.
int32_t multiply_by_quantized_multiplier(int32_t x, int32_t q31, int shift);

enum class RequantMode { float_scale, fixed_point };
const char* requant_mode_name(RequantMode m);

// One output channel's requantization from an accumulator of scale sa * sb to an output of scale
// sy and zero point zy. Both multipliers are kept; `mode` picks the one that is applied.
struct RequantParams {
    RequantMode mode = RequantMode::fixed_point;
    float multiplier = 0.0f;  // float_scale: sa * sb / sy, computed in float
    QuantizedMultiplier fixed;  // fixed_point: from double(sa) * double(sb) / double(sy)
    int32_t zero_point = 0;
    bool is_signed = true;
};
// Throws std::invalid_argument naming the scale that is not finite and > 0, or `zero_point`.
RequantParams make_requant_params(float input_scale, float weight_scale, float output_scale,
                                  int32_t output_zero_point, bool is_signed, RequantMode mode);
// One RequantParams per weight channel (weight_scales.size() of them).
std::vector<RequantParams> make_requant_params(float input_scale, const std::vector<float>& weight_scales,
                                               float output_scale, int32_t output_zero_point, bool is_signed,
                                               RequantMode mode);

// acc + bias (int32, saturated instead of wrapping), scaled, offset by the zero point, saturated to
// the storage range; with relu the lower bound becomes the zero point (real 0), which is how TFLite
// (CalculateActivationRangeQuantized) and onnxruntime fuse a ReLU into the requantization.
int32_t requantize(int32_t acc, int32_t bias, const RequantParams& p, bool relu);

// n accumulators with one parameter set; bias holds n values or is null. Storage type must match
// p.is_signed.
void requantize(const int32_t* acc, const int32_t* bias, size_t n, const RequantParams& p, bool relu, int8_t* y);
void requantize(const int32_t* acc, const int32_t* bias, size_t n, const RequantParams& p, bool relu, uint8_t* y);

// A rows x cols accumulator matrix (leading dimension ld_acc) whose column c is output channel c:
// bias has cols values or is null; per_column holds 1 (shared) or cols parameter sets.
void requantize_matrix(const int32_t* acc, size_t rows, size_t cols, size_t ld_acc, const int32_t* bias,
                       const std::vector<RequantParams>& per_column, bool relu, int8_t* y, size_t ld_y);
void requantize_matrix(const int32_t* acc, size_t rows, size_t cols, size_t ld_acc, const int32_t* bias,
                       const std::vector<RequantParams>& per_column, bool relu, uint8_t* y, size_t ld_y);

}  // namespace stacklab::quant
