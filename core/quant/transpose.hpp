#pragma once
// Matrix transposes of bytes and 4-byte words: the layout changes between NCHW and channels-last (pixel-major) that the
// int8 convolution and the executor make. They move bytes only, so every target gives the same
// bytes whatever the path.
#include <cstddef>
#include <cstdint>

namespace stacklab::quant {

// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows and c < cols. src and dst must
// not overlap; strides are in bytes and at least cols (src) and rows (dst). 16x16 blocks in SSE2
// (the x86-64 baseline) or SIMD128, the last block of each axis overlapping the one before it;
// bytes one by one only along an axis shorter than 16.
void transpose_bytes(const uint8_t* src, size_t rows, size_t cols, size_t src_stride, uint8_t* dst, size_t dst_stride);
// The same for 4-byte elements (floats, int32: their bits are moved, not read as numbers), strides
// in elements; 4x4 blocks, one by one only along an axis shorter than 4.
void transpose_words(const uint32_t* src, size_t rows, size_t cols, size_t src_stride, uint32_t* dst, size_t dst_stride);

}  // namespace stacklab::quant
