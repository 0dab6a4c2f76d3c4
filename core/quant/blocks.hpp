// Low-bit weight formats for LLM-style weight-only quantization.
//
// 1. Grouped k-bit weights (GroupedFormat): k = 2..8 bits per weight, groups of 32/64/128
//    consecutive weights of one row sharing an fp16 scale and, when asymmetric, an fp16 minimum.
//      symmetric   w ~ (code - 2^(k-1)) * scale, code in [1, 2^k - 1]  (q in [-(2^(k-1)-1), 2^(k-1)-1])
//      asymmetric  w ~ code * scale + min,         code in [0, 2^k - 1]  (ggml Q4_1/Q5_1 style)
//    Codes are packed as a little-endian bit stream per row: weight j occupies bits [j*k, j*k + k)
//    where bit b is bit (b % 8) of byte b / 8; every row starts on a byte boundary and the unused
//    tail bits of a row are 0. Rows need not be a multiple of the group size (the last group of a
//    row is shorter).
//    Scale choice: the fp16 scale is rounded UP from amax / (2^(k-1) - 1) (symmetric) or
//    (max - min') / (2^k - 1) with min' the fp16 minimum rounded DOWN from the group minimum. So no
//    weight falls outside the representable range and every weight is within scale/2 of its
//    dequantized value (up to float rounding of the last bit). Codes round half to even.
//    The 6-bit format of StackLab is this one with k = 6 (kSixBitGrouped): a plain grouped format,
//    NOT ggml's Q6_K super-blocks (Q6_K's iterative scale search is not reproduced here).
//
// 2. llama.cpp / ggml blocks, byte-for-byte identical to ggml's reference quantizers
//    (ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref) on little-endian hosts:
//      Q8_0  32 weights: fp16 d, then 32 int8 q;  d = amax / 127, q = roundf(x / d) (half away from 0)
//      Q4_0  32 weights: fp16 d, then 16 bytes;   d = max / -8 where max is the signed value of
//            largest magnitude, q = min(15, trunc(x / d + 8.5)); byte j holds weight j in its low
//            nibble and weight j + 16 in its high nibble; w ~ (q - 8) * d.
//    Both multiply by id = 1 / d computed from the float d, while the block stores fp16(d), exactly
//    as ggml does.
//
// Errors: invalid arguments throw std::invalid_argument with a message naming the parameter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace stacklab::quant {

struct GroupedFormat {
    int bits = 4;         // 2..8
    int group_size = 32;  // 32, 64 or 128
    bool asymmetric = false;
};
// The 6-bit format: grouped, symmetric, 32 weights per fp16 scale.
inline constexpr GroupedFormat kSixBitGrouped{6, 32, false};

// Throws std::invalid_argument naming `bits` or `group_size`.
void validate(const GroupedFormat& f);

struct GroupedWeights {
    GroupedFormat format;
    size_t rows = 0, cols = 0;
    std::vector<uint16_t> scales;  // fp16 bits, rows * groups_per_row(format, cols), row-major
    std::vector<uint16_t> mins;    // fp16 bits, same size as scales when asymmetric, else empty
    std::vector<uint8_t> data;     // rows * packed_row_bytes(format.bits, cols)
};

size_t groups_per_row(const GroupedFormat& f, size_t cols);
size_t packed_row_bytes(int bits, size_t cols);  // ceil(cols * bits / 8)

// The little-endian bit stream: codes[i] < 2^bits, out has packed_row_bytes(bits, n) bytes.
void pack_bits(const uint8_t* codes, size_t n, int bits, uint8_t* out);
void unpack_bits(const uint8_t* packed, size_t n, int bits, uint8_t* codes);

// w is rows x cols, row-major, finite. Throws std::invalid_argument naming `w` for a non-finite
// weight or a group whose scale does not fit fp16.
GroupedWeights quantize_grouped(const float* w, size_t rows, size_t cols, const GroupedFormat& f);
// out: rows * cols (or cols for one row).
void dequantize_grouped(const GroupedWeights& g, float* out);
void dequantize_grouped_row(const GroupedWeights& g, size_t row, float* out);
// sum_j w[row, j] * x[j] over the packed row (x has cols values), for GEMV: per group
// scale * sum(q * x) (+ min * sum(x)), accumulated in float in index order.
float dot_grouped_row(const GroupedWeights& g, size_t row, const float* x);

// ---------------------------------------------------------------------------------------------
// ggml blocks. The structs have ggml's layout (no padding: sizeof 34 and 18).

constexpr size_t kQK8_0 = 32;
constexpr size_t kQK4_0 = 32;

struct BlockQ8_0 {
    uint16_t d;  // fp16
    int8_t qs[kQK8_0];
};
struct BlockQ4_0 {
    uint16_t d;  // fp16
    uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ8_0) == 34, "block_q8_0 is 34 bytes in ggml");
static_assert(sizeof(BlockQ4_0) == 18, "block_q4_0 is 18 bytes in ggml");

// n must be a multiple of 32 (throws naming `n`); x must be finite (throws naming `x`).
std::vector<BlockQ8_0> quantize_q8_0(const float* x, size_t n);
std::vector<BlockQ4_0> quantize_q4_0(const float* x, size_t n);
void dequantize_q8_0(const BlockQ8_0* blocks, size_t n, float* y);
void dequantize_q4_0(const BlockQ4_0* blocks, size_t n, float* y);
// sum_i w[i] * x[i] over n weights: per block d * sum(q * x), accumulated in float.
float dot_q8_0(const BlockQ8_0* blocks, const float* x, size_t n);
float dot_q4_0(const BlockQ4_0* blocks, const float* x, size_t n);

// The bytes ggml would write for these blocks (d little-endian first), independent of host order.
std::vector<uint8_t> to_bytes(const std::vector<BlockQ8_0>& blocks);
std::vector<uint8_t> to_bytes(const std::vector<BlockQ4_0>& blocks);

}  // namespace stacklab::quant
