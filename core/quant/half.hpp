// 16-bit floating-point formats, stored as their bit patterns in uint16_t (like ggml's ggml_fp16_t):
//
//   fp16  IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Max 65504, smallest
//         normal 2^-14 (6.1035e-5), smallest subnormal 2^-24.
//   bf16  bfloat16: the upper half of a binary32 (1 sign, 8 exponent, 7 mantissa bits).
//
// Conversions from float round to nearest, ties to even (IEEE's default, what F16C's vcvtps2ph with
// imm 0 and ggml's reference converter compute), handle subnormals, overflow to infinity, and keep
// NaNs NaN: the sign and the top payload bits are kept and the quiet bit is set (the canonicalisation
// vcvtps2ph also applies). Conversions to float are exact (a signalling NaN comes out quiet, as
// vcvtph2ps makes it). Both directions were checked once against F16C (_cvtss_sh, _cvtsh_ss) on all
// 2^32 floats and all 65536 halves: identical. Everything is integer bit manipulation, so results
// are the same on every target and independent of the floating-point environment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace stacklab::quant {

uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t b);

// Bulk converters over n values.
void float_to_half(const float* x, size_t n, uint16_t* y);
void half_to_float(const uint16_t* x, size_t n, float* y);
void float_to_bf16(const float* x, size_t n, uint16_t* y);
void bf16_to_float(const uint16_t* x, size_t n, float* y);

std::vector<uint16_t> to_half(const std::vector<float>& x);
std::vector<float> from_half(const std::vector<uint16_t>& x);
std::vector<uint16_t> to_bf16(const std::vector<float>& x);
std::vector<float> from_bf16(const std::vector<uint16_t>& x);

// The bit patterns of a float and back (memcpy, no aliasing tricks).
uint32_t float_bits(float f);
float float_from_bits(uint32_t bits);

}  // namespace stacklab::quant
