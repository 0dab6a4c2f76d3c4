// Pointwise activations: GELU (erf and tanh forms), HardSwish, Sigmoid, Tanh, in fp32 and as
// 256-entry lookup tables for int8/uint8 tensors.
//
//   gelu (erf)   0.5 x (1 + erf(x / sqrt 2))                  ONNX Gelu approximate="none"
//   gelu (tanh)  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   ONNX Gelu approximate="tanh",
//                Hendrycks & Gimpel, "Gaussian Error Linear Units" (2016), eq. for the tanh form
//   hardswish    x * min(max(x + 3, 0), 6) / 6                 ONNX HardSwish (MobileNetV3)
//   sigmoid      1 / (1 + e^-x)
//   tanh
// `*_ref` (double, built on ref_exp/ref_erf/ref_tanh of elementary.hpp) define the semantics; the
// float functions are the fast fp32 paths (fast_erf/fast_tanh), within 1e-6 * max(1, |x|) of the
// reference (asserted in tests/core/quant_normact_test.cpp).
//
// Lookup tables: an 8-bit input has only 256 values, so any pointwise function of a quantized
// tensor is one table. The table is built from the definition
//     q_out = quantize(fn(dequantize(q_in)))      (formats.hpp: quantize_value/dequantize_value,
//                                                  fn evaluated in double, rounded to float once)
// so applying it is exact against that definition by construction, on every target (TFLite and
// XNNPACK evaluate int8 Tanh/Logistic/HardSwish/GELU the same way, through a 256-entry LUT).
// Quantization parameters must be per-tensor; errors throw std::invalid_argument naming the field.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "quant/formats.hpp"
#include "quant/gemm.hpp"  // Isa

namespace stacklab::quant {

enum class Activation { gelu_erf, gelu_tanh, hardswish, sigmoid, tanh };
const char* activation_name(Activation a);

double gelu_erf_ref(double x);
double gelu_tanh_ref(double x);
double hardswish_ref(double x);
double sigmoid_ref(double x);
double tanh_ref(double x);
double activation_ref(Activation a, double x);

float gelu_erf(float x);
float gelu_tanh(float x);
float hardswish(float x);
float sigmoid(float x);
float activation(Activation a, float x);
// y[i] = activation(a, x[i]) for n values (x == y allowed), on the best ISA here or the one named:
// every ISA gives the scalar function's float bit for bit (avx2: activations_avx2_x86.cpp).
void activation(Activation a, const float* x, size_t n, float* y);
void activation(Activation a, const float* x, size_t n, float* y, Isa isa);

// A table indexed by the input byte (uint8_t(q_in), so int8 -128 is index 128) holding the output
// byte (uint8_t(q_out)).
struct Lut8 {
    std::array<uint8_t, 256> table{};
    bool input_signed = true;
    bool output_signed = true;
};

// quantize(fn(dequantize(q))) for one input value q of `in`, into `out`: the definition the table
// reproduces. Both parameter sets must be per-tensor.
int32_t lut_reference(const std::function<double(double)>& fn, int32_t q, const QuantParams& in,
                      const QuantParams& out);
Lut8 build_lut(const std::function<double(double)>& fn, const QuantParams& in, const QuantParams& out);
Lut8 build_lut(Activation a, const QuantParams& in, const QuantParams& out);

// y[i] = table[x[i]]; the storage types must match the table's signedness (throws otherwise).
void apply_lut(const Lut8& lut, const int8_t* x, size_t n, int8_t* y);
void apply_lut(const Lut8& lut, const int8_t* x, size_t n, uint8_t* y);
void apply_lut(const Lut8& lut, const uint8_t* x, size_t n, int8_t* y);
void apply_lut(const Lut8& lut, const uint8_t* x, size_t n, uint8_t* y);

}  // namespace stacklab::quant
