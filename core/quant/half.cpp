#include "quant/half.hpp"

#include <cstring>

namespace stacklab::quant {

uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

float float_from_bits(uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t float_to_half(float f) {
    const uint32_t x = float_bits(f);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
    const uint32_t abs = x & 0x7fffffffu;

    if (abs > 0x7f800000u)  // NaN: keep the top 9 payload bits, set the quiet bit (as vcvtps2ph does)
        return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x03ffu));
    if (abs >= 0x47800000u)  // >= 65536 or inf: beyond the rounding boundary 65520, so infinity
        return static_cast<uint16_t>(sign | 0x7c00u);

    if (abs >= 0x38800000u) {  // normal fp16 (>= 2^-14): rebias the exponent, round 13 mantissa bits away
        uint32_t h = (abs >> 13) - ((127u - 15u) << 10);
        const uint32_t rest = abs & 0x1fffu;
        // Round to nearest, ties to even; a carry out of the mantissa correctly bumps the exponent
        // (and 65520 and above become 0x7c00, infinity).
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
        return static_cast<uint16_t>(sign | h);
    }

    // Subnormal fp16 (or zero): the value in units of 2^-24 is mant * 2^(e - 126).
    if (abs <= 0x33000000u)  // <= 2^-25: half of the smallest subnormal, ties to even give 0
        return sign;
    const uint32_t e = abs >> 23;  // 102..112 here
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - e;  // 14..24
    uint32_t h = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (h & 1u))) ++h;  // may round up into the smallest normal: fine
    return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1fu) {  // inf or NaN: payload moves to the top of the float mantissa
        // A signalling NaN comes out quiet, as vcvtph2ps (F16C) makes it.
        const uint32_t quiet = mant ? 0x00400000u : 0u;
        return float_from_bits(sign | 0x7f800000u | quiet | (mant << 13));
    }
    if (exp != 0) return float_from_bits(sign | ((exp + 127u - 15u) << 23) | (mant << 13));
    if (mant == 0) return float_from_bits(sign);
    // Subnormal: normalise. The value is mant * 2^-24.
    uint32_t e = 127u - 15u + 1u;
    while (!(mant & 0x400u)) {
        mant <<= 1;
        --e;
    }
    return float_from_bits(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

uint16_t float_to_bf16(float f) {
    const uint32_t x = float_bits(f);
    // NaN: truncating could clear every payload bit left and make it infinity; set the quiet bit.
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);
    // Round to nearest even on the 16 bits dropped (the rule of TensorFlow's and PyTorch's
    // round_to_bfloat16): add 0x7fff plus the lowest kept bit, then truncate. Carries reach the
    // exponent, so the largest floats correctly round to infinity.
    const uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
    return static_cast<uint16_t>((x + rounding) >> 16);
}

float bf16_to_float(uint16_t b) { return float_from_bits(static_cast<uint32_t>(b) << 16); }

void float_to_half(const float* x, size_t n, uint16_t* y) {
    for (size_t i = 0; i < n; ++i) y[i] = float_to_half(x[i]);
}
void half_to_float(const uint16_t* x, size_t n, float* y) {
    for (size_t i = 0; i < n; ++i) y[i] = half_to_float(x[i]);
}
void float_to_bf16(const float* x, size_t n, uint16_t* y) {
    for (size_t i = 0; i < n; ++i) y[i] = float_to_bf16(x[i]);
}
void bf16_to_float(const uint16_t* x, size_t n, float* y) {
    for (size_t i = 0; i < n; ++i) y[i] = bf16_to_float(x[i]);
}

std::vector<uint16_t> to_half(const std::vector<float>& x) {
    std::vector<uint16_t> y(x.size());
    float_to_half(x.data(), x.size(), y.data());
    return y;
}
std::vector<float> from_half(const std::vector<uint16_t>& x) {
    std::vector<float> y(x.size());
    half_to_float(x.data(), x.size(), y.data());
    return y;
}
std::vector<uint16_t> to_bf16(const std::vector<float>& x) {
    std::vector<uint16_t> y(x.size());
    float_to_bf16(x.data(), x.size(), y.data());
    return y;
}
std::vector<float> from_bf16(const std::vector<uint16_t>& x) {
    std::vector<float> y(x.size());
    bf16_to_float(x.data(), x.size(), y.data());
    return y;
}

}  // namespace stacklab::quant
