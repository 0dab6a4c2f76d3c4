#include "quant/blocks.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "quant/errors.hpp"
#include "quant/formats.hpp"
#include "quant/half.hpp"

namespace stacklab::quant {

namespace {

using detail::fail;
using detail::num;

// Smallest fp16 >= v (v >= 0, finite): the scale may only grow, so no weight leaves the grid.
uint16_t half_at_least(float v) {
    uint16_t h = float_to_half(v);
    if (half_to_float(h) < v) ++h;  // positive halves are ordered like their bit patterns
    return h;
}

// Largest fp16 <= v (finite): the minimum may only shrink, so no weight falls below it.
uint16_t half_at_most(float v) {
    uint16_t h = float_to_half(v);
    if (half_to_float(h) > v) {
        if (h == 0x0000u) h = 0x8001u;     // +0 > v: v is a tiny negative, next down is -2^-24
        else if (h & 0x8000u) ++h;         // negative: one step away from zero
        else --h;                          // positive: one step toward zero
    }
    return h;
}

bool is_finite_half(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }

void check_finite(const float* x, size_t n, const char* name) {
    for (size_t i = 0; i < n; ++i)
        if (!std::isfinite(x[i])) fail(std::string(name) + "[" + std::to_string(i) + "] is not finite (" + num(x[i]) + ")");
}

// Code j of a packed row.
uint32_t code_at(const uint8_t* row, size_t j, int bits) {
    const size_t bit = j * static_cast<size_t>(bits);
    const size_t byte = bit / 8;
    const unsigned offset = static_cast<unsigned>(bit % 8);
    uint32_t v = row[byte];
    if (offset + static_cast<unsigned>(bits) > 8) v |= static_cast<uint32_t>(row[byte + 1]) << 8;
    return (v >> offset) & ((1u << bits) - 1u);
}

void check_blocks(size_t n) {
    if (n % 32 != 0) fail("n = " + std::to_string(n) + " must be a multiple of the block size 32");
}

}  // namespace

void validate(const GroupedFormat& f) {
    if (f.bits < 2 || f.bits > 8) fail("bits = " + std::to_string(f.bits) + " must be in 2..8");
    if (f.group_size != 32 && f.group_size != 64 && f.group_size != 128)
        fail("group_size = " + std::to_string(f.group_size) + " must be 32, 64 or 128");
}

size_t groups_per_row(const GroupedFormat& f, size_t cols) {
    validate(f);
    const size_t g = static_cast<size_t>(f.group_size);
    return (cols + g - 1) / g;
}

size_t packed_row_bytes(int bits, size_t cols) {
    if (bits < 2 || bits > 8) fail("bits = " + std::to_string(bits) + " must be in 2..8");
    return (cols * static_cast<size_t>(bits) + 7) / 8;
}

void pack_bits(const uint8_t* codes, size_t n, int bits, uint8_t* out) {
    const size_t bytes = packed_row_bytes(bits, n);
    std::fill(out, out + bytes, uint8_t{0});
    const uint32_t mask = (1u << bits) - 1u;
    for (size_t j = 0; j < n; ++j) {
        if (codes[j] > mask) fail("codes[" + std::to_string(j) + "] = " + std::to_string(codes[j]) + " needs more than " + std::to_string(bits) + " bits");
        const size_t bit = j * static_cast<size_t>(bits);
        const unsigned offset = static_cast<unsigned>(bit % 8);
        const uint32_t v = static_cast<uint32_t>(codes[j]) << offset;
        out[bit / 8] = static_cast<uint8_t>(out[bit / 8] | (v & 0xffu));
        if (offset + static_cast<unsigned>(bits) > 8) out[bit / 8 + 1] = static_cast<uint8_t>(out[bit / 8 + 1] | (v >> 8));
    }
}

void unpack_bits(const uint8_t* packed, size_t n, int bits, uint8_t* codes) {
    packed_row_bytes(bits, n);  // validates bits
    for (size_t j = 0; j < n; ++j) codes[j] = static_cast<uint8_t>(code_at(packed, j, bits));
}

GroupedWeights quantize_grouped(const float* w, size_t rows, size_t cols, const GroupedFormat& f) {
    validate(f);
    check_finite(w, rows * cols, "w");
    GroupedWeights g;
    g.format = f;
    g.rows = rows;
    g.cols = cols;
    const size_t groups = groups_per_row(f, cols);
    const size_t row_bytes = packed_row_bytes(f.bits, cols);
    const size_t gs = static_cast<size_t>(f.group_size);
    g.scales.resize(rows * groups);
    if (f.asymmetric) g.mins.resize(rows * groups);
    g.data.resize(rows * row_bytes);
    const int32_t levels = (1 << f.bits) - 1;          // asymmetric codes 0..levels
    const int32_t offset = 1 << (f.bits - 1);          // symmetric code = q + offset
    const int32_t qlim = offset - 1;                   // symmetric |q| <= qlim
    std::vector<uint8_t> codes(cols);
    for (size_t r = 0; r < rows; ++r) {
        const float* wr = w + r * cols;
        for (size_t gi = 0; gi < groups; ++gi) {
            const size_t begin = gi * gs, end = std::min(cols, begin + gs);
            auto where = [&] { return "w: row " + std::to_string(r) + " group " + std::to_string(gi); };
            if (!f.asymmetric) {
                float amax = 0.0f;
                for (size_t j = begin; j < end; ++j) amax = std::max(amax, std::fabs(wr[j]));
                const uint16_t dh = half_at_least(amax / static_cast<float>(qlim));
                if (!is_finite_half(dh)) fail(where() + ": max |w| = " + num(amax) + " needs a scale beyond fp16");
                const float d = half_to_float(dh);
                g.scales[r * groups + gi] = dh;
                for (size_t j = begin; j < end; ++j) {
                    int32_t q = d > 0.0f ? static_cast<int32_t>(round_half_even(wr[j] / d)) : 0;
                    q = std::min(std::max(q, -qlim), qlim);
                    codes[j] = static_cast<uint8_t>(q + offset);
                }
            } else {
                float mn = wr[begin], mx = wr[begin];
                for (size_t j = begin; j < end; ++j) {
                    mn = std::min(mn, wr[j]);
                    mx = std::max(mx, wr[j]);
                }
                const uint16_t mh = half_at_most(mn);
                if (!is_finite_half(mh)) fail(where() + ": min w = " + num(mn) + " is beyond fp16");
                const float m = half_to_float(mh);
                const uint16_t dh = half_at_least((mx - m) / static_cast<float>(levels));
                if (!is_finite_half(dh)) fail(where() + ": max w - min w needs a scale beyond fp16");
                const float d = half_to_float(dh);
                g.scales[r * groups + gi] = dh;
                g.mins[r * groups + gi] = mh;
                for (size_t j = begin; j < end; ++j) {
                    int32_t q = d > 0.0f ? static_cast<int32_t>(round_half_even((wr[j] - m) / d)) : 0;
                    q = std::min(std::max(q, 0), levels);
                    codes[j] = static_cast<uint8_t>(q);
                }
            }
        }
        pack_bits(codes.data(), cols, f.bits, g.data.data() + r * row_bytes);
    }
    return g;
}

void dequantize_grouped_row(const GroupedWeights& g, size_t row, float* out) {
    validate(g.format);
    if (row >= g.rows) fail("row " + std::to_string(row) + " is out of range (rows = " + std::to_string(g.rows) + ")");
    const size_t groups = groups_per_row(g.format, g.cols);
    const size_t gs = static_cast<size_t>(g.format.group_size);
    const uint8_t* packed = g.data.data() + row * packed_row_bytes(g.format.bits, g.cols);
    const int32_t offset = 1 << (g.format.bits - 1);
    for (size_t j = 0; j < g.cols; ++j) {
        const size_t gi = row * groups + j / gs;
        const float d = half_to_float(g.scales[gi]);
        const int32_t code = static_cast<int32_t>(code_at(packed, j, g.format.bits));
        if (g.format.asymmetric) {
            const float t = static_cast<float>(code) * d;
            out[j] = t + half_to_float(g.mins[gi]);
        } else {
            out[j] = static_cast<float>(code - offset) * d;
        }
    }
}

void dequantize_grouped(const GroupedWeights& g, float* out) {
    for (size_t r = 0; r < g.rows; ++r) dequantize_grouped_row(g, r, out + r * g.cols);
}

float dot_grouped_row(const GroupedWeights& g, size_t row, const float* x) {
    validate(g.format);
    if (row >= g.rows) fail("row " + std::to_string(row) + " is out of range (rows = " + std::to_string(g.rows) + ")");
    const size_t groups = groups_per_row(g.format, g.cols);
    const size_t gs = static_cast<size_t>(g.format.group_size);
    const uint8_t* packed = g.data.data() + row * packed_row_bytes(g.format.bits, g.cols);
    const int32_t offset = g.format.asymmetric ? 0 : 1 << (g.format.bits - 1);
    float total = 0.0f;
    for (size_t gi = 0; gi < groups; ++gi) {
        const size_t begin = gi * gs, end = std::min(g.cols, begin + gs);
        // Separate products and sums (no fused multiply-add) so that every target rounds alike.
        float qx = 0.0f, sx = 0.0f;
        for (size_t j = begin; j < end; ++j) {
            const float q = static_cast<float>(static_cast<int32_t>(code_at(packed, j, g.format.bits)) - offset);
            const float p = q * x[j];
            qx = qx + p;
            sx = sx + x[j];
        }
        const float part = half_to_float(g.scales[row * groups + gi]) * qx;
        total = total + part;
        if (g.format.asymmetric) {
            const float shift = half_to_float(g.mins[row * groups + gi]) * sx;
            total = total + shift;
        }
    }
    return total;
}

// ---------------------------------------------------------------------------------------------

std::vector<BlockQ8_0> quantize_q8_0(const float* x, size_t n) {
    check_blocks(n);
    check_finite(x, n, "x");
    std::vector<BlockQ8_0> out(n / kQK8_0);
    for (size_t b = 0; b < out.size(); ++b) {
        const float* xb = x + b * kQK8_0;
        // ggml quantize_row_q8_0_ref: amax = MAX(amax, fabsf(v)); d = amax / ((1 << 7) - 1).
        float amax = 0.0f;
        for (size_t j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = float_to_half(d);  // GGML_FP32_TO_FP16: round to nearest even
        for (size_t j = 0; j < kQK8_0; ++j) {
            const float x0 = xb[j] * id;
            out[b].qs[j] = static_cast<int8_t>(std::round(x0));  // roundf: half away from zero
        }
    }
    return out;
}

std::vector<BlockQ4_0> quantize_q4_0(const float* x, size_t n) {
    check_blocks(n);
    check_finite(x, n, "x");
    std::vector<BlockQ4_0> out(n / kQK4_0);
    for (size_t b = 0; b < out.size(); ++b) {
        const float* xb = x + b * kQK4_0;
        // ggml quantize_row_q4_0_ref: the first value of strictly largest magnitude, with its sign.
        float amax = 0.0f, max = 0.0f;
        for (size_t j = 0; j < kQK4_0; ++j) {
            if (amax < std::fabs(xb[j])) {
                amax = std::fabs(xb[j]);
                max = xb[j];
            }
        }
        // d = max / -8 maps that value to q = 0 (real -8 d): all 16 levels get used, and the
        // opposite extreme +8 d is clipped to 7 d.
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = float_to_half(d);
        for (size_t j = 0; j < kQK4_0 / 2; ++j) {
            const float x0 = xb[j] * id;
            const float x1 = xb[kQK4_0 / 2 + j] * id;
            // MIN(15, (int8_t)(x + 8.5f)): truncation toward zero of a value >= 0 is a floor, so
            // this rounds half up; x0 + 8.5 lies in [0.5, 16.5] so the int conversion is defined.
            const int xi0 = std::min(15, static_cast<int>(x0 + 8.5f));
            const int xi1 = std::min(15, static_cast<int>(x1 + 8.5f));
            out[b].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));  // low nibble: first half
        }
    }
    return out;
}

void dequantize_q8_0(const BlockQ8_0* blocks, size_t n, float* y) {
    check_blocks(n);
    for (size_t b = 0; b < n / kQK8_0; ++b) {
        const float d = half_to_float(blocks[b].d);
        for (size_t j = 0; j < kQK8_0; ++j) y[b * kQK8_0 + j] = static_cast<float>(blocks[b].qs[j]) * d;
    }
}

void dequantize_q4_0(const BlockQ4_0* blocks, size_t n, float* y) {
    check_blocks(n);
    for (size_t b = 0; b < n / kQK4_0; ++b) {
        const float d = half_to_float(blocks[b].d);
        for (size_t j = 0; j < kQK4_0 / 2; ++j) {
            const int x0 = (blocks[b].qs[j] & 0x0f) - 8;
            const int x1 = (blocks[b].qs[j] >> 4) - 8;
            y[b * kQK4_0 + j] = static_cast<float>(x0) * d;
            y[b * kQK4_0 + kQK4_0 / 2 + j] = static_cast<float>(x1) * d;
        }
    }
}

float dot_q8_0(const BlockQ8_0* blocks, const float* x, size_t n) {
    check_blocks(n);
    float total = 0.0f;
    for (size_t b = 0; b < n / kQK8_0; ++b) {
        float s = 0.0f;
        for (size_t j = 0; j < kQK8_0; ++j) {
            const float p = static_cast<float>(blocks[b].qs[j]) * x[b * kQK8_0 + j];
            s = s + p;
        }
        const float part = half_to_float(blocks[b].d) * s;
        total = total + part;
    }
    return total;
}

float dot_q4_0(const BlockQ4_0* blocks, const float* x, size_t n) {
    check_blocks(n);
    float total = 0.0f;
    for (size_t b = 0; b < n / kQK4_0; ++b) {
        float s = 0.0f;
        for (size_t j = 0; j < kQK4_0; ++j) {
            const uint8_t byte = blocks[b].qs[j % (kQK4_0 / 2)];
            const int q = (j < kQK4_0 / 2 ? (byte & 0x0f) : (byte >> 4)) - 8;
            const float p = static_cast<float>(q) * x[b * kQK4_0 + j];
            s = s + p;
        }
        const float part = half_to_float(blocks[b].d) * s;
        total = total + part;
    }
    return total;
}

std::vector<uint8_t> to_bytes(const std::vector<BlockQ8_0>& blocks) {
    std::vector<uint8_t> out;
    out.reserve(blocks.size() * sizeof(BlockQ8_0));
    for (const auto& b : blocks) {
        out.push_back(static_cast<uint8_t>(b.d & 0xffu));
        out.push_back(static_cast<uint8_t>(b.d >> 8));
        for (int8_t q : b.qs) out.push_back(static_cast<uint8_t>(q));
    }
    return out;
}

std::vector<uint8_t> to_bytes(const std::vector<BlockQ4_0>& blocks) {
    std::vector<uint8_t> out;
    out.reserve(blocks.size() * sizeof(BlockQ4_0));
    for (const auto& b : blocks) {
        out.push_back(static_cast<uint8_t>(b.d & 0xffu));
        out.push_back(static_cast<uint8_t>(b.d >> 8));
        for (uint8_t q : b.qs) out.push_back(q);
    }
    return out;
}

}  // namespace stacklab::quant
