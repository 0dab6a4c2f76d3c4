#include "quant/transpose.hpp"

#include <algorithm>
#include <cstddef>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace stacklab::quant {

namespace {

#if defined(__SSE2__) || defined(__wasm_simd128__)
#if defined(__SSE2__)
using V = __m128i;
inline V load(const void* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline void store(void* p, V v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }
inline V lo8(V a, V b) { return _mm_unpacklo_epi8(a, b); }
inline V hi8(V a, V b) { return _mm_unpackhi_epi8(a, b); }
inline V lo16(V a, V b) { return _mm_unpacklo_epi16(a, b); }
inline V hi16(V a, V b) { return _mm_unpackhi_epi16(a, b); }
inline V lo32(V a, V b) { return _mm_unpacklo_epi32(a, b); }
inline V hi32(V a, V b) { return _mm_unpackhi_epi32(a, b); }
inline V lo64(V a, V b) { return _mm_unpacklo_epi64(a, b); }
inline V hi64(V a, V b) { return _mm_unpackhi_epi64(a, b); }
#else
using V = v128_t;
inline V load(const void* p) { return wasm_v128_load(p); }
inline void store(void* p, V v) { wasm_v128_store(p, v); }
inline V lo8(V a, V b) { return wasm_i8x16_shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23); }
inline V hi8(V a, V b) { return wasm_i8x16_shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31); }
inline V lo16(V a, V b) { return wasm_i16x8_shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11); }
inline V hi16(V a, V b) { return wasm_i16x8_shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15); }
inline V lo32(V a, V b) { return wasm_i32x4_shuffle(a, b, 0, 4, 1, 5); }
inline V hi32(V a, V b) { return wasm_i32x4_shuffle(a, b, 2, 6, 3, 7); }
inline V lo64(V a, V b) { return wasm_i64x2_shuffle(a, b, 0, 2); }
inline V hi64(V a, V b) { return wasm_i64x2_shuffle(a, b, 1, 3); }
#endif

// One 16x16 block: rows r0 .. r0 + 15, columns c0 .. c0 + 15. Four rounds of interleaves, each
// doubling the run of one column's rows in a lane: bytes (2 rows), 16-bit (4), 32-bit (8), 64-bit
// (16 rows: one output row).
void block16(const uint8_t* src, size_t src_stride, uint8_t* dst, size_t dst_stride) {
    V r[16], a[16], b[16], c[16];
    for (int i = 0; i < 16; ++i) r[i] = load(src + size_t(i) * src_stride);
    for (int i = 0; i < 8; ++i) {  // a[2i]: columns 0-7 of rows 2i, 2i + 1; a[2i + 1]: columns 8-15
        a[2 * i] = lo8(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = hi8(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; ++g) {  // b[4g + k]: columns 4k .. 4k + 3 of rows 4g .. 4g + 3
        b[4 * g] = lo16(a[4 * g], a[4 * g + 2]);
        b[4 * g + 1] = hi16(a[4 * g], a[4 * g + 2]);
        b[4 * g + 2] = lo16(a[4 * g + 1], a[4 * g + 3]);
        b[4 * g + 3] = hi16(a[4 * g + 1], a[4 * g + 3]);
    }
    for (int h = 0; h < 2; ++h)  // c[8h + p]: columns 2p, 2p + 1 of rows 8h .. 8h + 7
        for (int k = 0; k < 4; ++k) {
            c[8 * h + 2 * k] = lo32(b[8 * h + k], b[8 * h + 4 + k]);
            c[8 * h + 2 * k + 1] = hi32(b[8 * h + k], b[8 * h + 4 + k]);
        }
    for (int p = 0; p < 8; ++p) {  // column 2p and 2p + 1, all 16 rows
        store(dst + size_t(2 * p) * dst_stride, lo64(c[p], c[8 + p]));
        store(dst + size_t(2 * p + 1) * dst_stride, hi64(c[p], c[8 + p]));
    }
}

// One 4x4 block of words: two rounds (32-bit, then 64-bit interleaves).
void block4(const uint32_t* src, size_t src_stride, uint32_t* dst, size_t dst_stride) {
    const V r0 = load(src), r1 = load(src + src_stride), r2 = load(src + 2 * src_stride), r3 = load(src + 3 * src_stride);
    const V t0 = lo32(r0, r1), t1 = lo32(r2, r3), t2 = hi32(r0, r1), t3 = hi32(r2, r3);  // columns 0-1, 0-1, 2-3, 2-3
    store(dst, lo64(t0, t1));
    store(dst + dst_stride, hi64(t0, t1));
    store(dst + 2 * dst_stride, lo64(t2, t3));
    store(dst + 3 * dst_stride, hi64(t2, t3));
}
#else
constexpr std::nullptr_t block16 = nullptr, block4 = nullptr;  // no SIMD: element by element
#endif

// B x B blocks of `block` where both axes have B elements or more, else element by element.
template <size_t B, class T, class Block>
void transpose_blocked(const T* src, size_t rows, size_t cols, size_t src_stride, T* dst, size_t dst_stride,
                       [[maybe_unused]] Block block) {
#if defined(__SSE2__) || defined(__wasm_simd128__)
    if (rows >= B && cols >= B) {
        for (size_t r = 0; r < rows; r += B)
            for (size_t c = 0; c < cols; c += B) {
                // Blocks at 0, B, 2B, ... and one ending at the last row (column): it rewrites some
                // elements with the same values.
                const size_t r0 = std::min(r, rows - B), c0 = std::min(c, cols - B);
                block(src + r0 * src_stride + c0, src_stride, dst + c0 * dst_stride + r0, dst_stride);
            }
        return;
    }
#endif
    for (size_t c = 0; c < cols; ++c)
        for (size_t r = 0; r < rows; ++r) dst[c * dst_stride + r] = src[r * src_stride + c];
}

}  // namespace

void transpose_bytes(const uint8_t* src, size_t rows, size_t cols, size_t src_stride, uint8_t* dst, size_t dst_stride) {
    transpose_blocked<16>(src, rows, cols, src_stride, dst, dst_stride, block16);
}

void transpose_words(const uint32_t* src, size_t rows, size_t cols, size_t src_stride, uint32_t* dst, size_t dst_stride) {
    transpose_blocked<4>(src, rows, cols, src_stride, dst, dst_stride, block4);
}

}  // namespace stacklab::quant
