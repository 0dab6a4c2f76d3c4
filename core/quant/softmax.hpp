// Softmax over the last axis: fp32 (reference in double and a fast float path) and the integer-only
// int8/uint8 softmax of TensorFlow Lite.
//
// fp32: y = e^(beta (x - max)) / sum e^(beta (x - max)), the max subtracted so no exp overflows.
//   softmax_ref  double accumulation, ref_exp (elementary.hpp), output in double.
//   softmax      float, fast_exp, 8 interleaved partial sums, then one multiplication by 1/sum.
//                Within 1e-6 absolute and 2e-6 relative of the reference (asserted in tests).
//
// Integer softmax: exactly tflite::reference_ops::Softmax<InputT, OutputT> for 8-bit input
// (tensorflow/lite/kernels/internal/reference/softmax.h) with the parameters its Prepare computes
// (kernels/activations.cc: PreprocessSoftmaxScaling and CalculateInputRadius from
// kernels/internal/quantization_util.cc), and gemmlowp's fixed-point exp_on_negative_values and
// one_over_one_plus_x_for_x_in_0_1 (gemmlowp fixedpoint/fixedpoint.h), re-implemented here on raw
// int32 values:
//   diff      = q - max_q of the row (<= 0); elements with diff < diff_min output the minimum
//   scaled    = SaturatingRoundingDoublingHighMul(diff * 2^left_shift, multiplier), Q5.26, where
//               multiplier * 2^(left_shift - 31) = beta * input_scale * 2^26
//   exp       = exp_on_negative_values(scaled), Q0.31
//   sum       = sum of RoundingDivideByPOT(exp, 12), Q12.19
//   recip     = 1 / sum as a Q0.31 mantissa (one_over_one_plus_x of the sum normalised to [1, 2))
//               and num_bits_over_unit, its binary exponent
//   out       = RoundingDivideByPOT(recip * exp, num_bits_over_unit + 31 - 8) + output minimum,
//               saturated
// The output has scale 1/256 and zero point -128 (int8) or 0 (uint8), as TFLite requires. Integer
// arithmetic only (the parameters are computed once in double from the scale), so every target
// gives the same bytes.
//
// Measured accuracy against softmax_ref of the dequantized input (tests): at most 1 output LSB
// (1/256) away from the exact probability. Half an LSB is the final rounding; the fixed-point exp
// and reciprocal add < 1e-6 relative, the Q12.19 sum rounds each term by <= 2^-20, and a
// probability of 1.0 saturates to 255/256 (uint8) or 127 (int8) = 1 LSB.
#pragma once

#include <cstddef>
#include <cstdint>

namespace stacklab::quant {

void softmax_ref(const float* x, size_t rows, size_t cols, float beta, double* y);
void softmax(const float* x, size_t rows, size_t cols, float beta, float* y);

// What TFLite's SoftmaxPrepare computes for an 8-bit input of scale `input_scale`.
struct SoftmaxQuantParams {
    int32_t input_multiplier = 0;  // Q31 mantissa of beta * input_scale * 2^26
    int input_left_shift = 0;      // its exponent, in [1, 30]
    int32_t diff_min = 0;          // -CalculateInputRadius(5, input_left_shift)
};
// Throws std::invalid_argument naming `input_scale` or `beta` unless both are finite and > 0 and
// beta * input_scale is within (2^-26, 16) (TFLite requires the multiplier > 1; above 16 the
// left shift of the difference could overflow int32).
SoftmaxQuantParams prepare_softmax_quantized(float input_scale, float beta = 1.0f);

// Output scale 1/256, zero point -128 (int8 output) or 0 (uint8 output). cols in [1, 4095]: the
// Q12.19 sum of up to cols ones must fit (TFLite's kAccumulationIntegerBits = 12).
void softmax_quantized(const int8_t* x, size_t rows, size_t cols, const SoftmaxQuantParams& p, int8_t* y);
void softmax_quantized(const int8_t* x, size_t rows, size_t cols, const SoftmaxQuantParams& p, uint8_t* y);
void softmax_quantized(const uint8_t* x, size_t rows, size_t cols, const SoftmaxQuantParams& p, int8_t* y);
void softmax_quantized(const uint8_t* x, size_t rows, size_t cols, const SoftmaxQuantParams& p, uint8_t* y);

// The fixed-point pieces, exposed for tests. Raw int32 values; Qm.n means m integer bits.
// exp(a) for a <= 0 given as Q`integer_bits`.(31 - integer_bits), result Q0.31 (gemmlowp
// exp_on_negative_values); integer_bits in [0, 29] (throws otherwise).
int32_t fixed_exp_on_negative_values(int32_t a, int integer_bits);
// 1 / (1 + a) for a in [0, 1) as Q0.31, result Q0.31 (gemmlowp one_over_one_plus_x_for_x_in_0_1).
int32_t fixed_one_over_one_plus_x(int32_t a);

}  // namespace stacklab::quant
