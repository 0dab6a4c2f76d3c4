// WebAssembly SIMD128 loops of convert.hpp: four lanes of exactly the portable loop's float
// operations (each select a compare + bitselect, or the pmin / pmax that is defined as that select; wasm has no fused multiply-add in SIMD128, and
// IEEE arithmetic rounds each operation the same way), so every byte equals the scalar loop's.
// Sixteen values per step, narrowed with the saturating packs (the lanes are already in range).
#include <wasm_simd128.h>

#include "quant/convert.hpp"

namespace stacklab::quant::detail {

namespace {

inline v128_t select(v128_t c, v128_t a, v128_t b) { return wasm_v128_bitselect(a, b, c); }

// Four quantized values as int32 lanes.
inline v128_t quantize4(v128_t x, v128_t scale, v128_t zf, v128_t lof, v128_t hif) {
    const v128_t lim = wasm_f32x4_splat(1024.0f), nlim = wasm_f32x4_splat(-1024.0f), magic = wasm_f32x4_splat(12582912.0f);
    // pmax(a, b) is defined as a < b ? b : a and pmin(a, b) as b < a ? b : a (NaN in a passes
    // through both): exactly the clamps' selects, one instruction each.
    v128_t v = wasm_f32x4_pmax(wasm_f32x4_div(x, scale), nlim);
    v = wasm_f32x4_pmin(v, lim);
    v128_t r = wasm_f32x4_sub(wasm_f32x4_add(v, magic), magic);
    r = select(wasm_f32x4_eq(r, r), wasm_f32x4_add(r, zf), zf);
    r = wasm_f32x4_pmin(wasm_f32x4_pmax(r, lof), hif);
    return wasm_i32x4_trunc_sat_f32x4(r);  // r is a whole number in the storage range
}

template <bool Signed, class T>
size_t quantize_blocks(const float* x, size_t n, float scale, int32_t z, T* y) {
    const v128_t s = wasm_f32x4_splat(scale), zf = wasm_f32x4_splat(float(z));
    const v128_t lof = wasm_f32x4_splat(Signed ? -128.0f : 0.0f), hif = wasm_f32x4_splat(Signed ? 127.0f : 255.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const v128_t q0 = quantize4(wasm_v128_load(x + i), s, zf, lof, hif);
        const v128_t q1 = quantize4(wasm_v128_load(x + i + 4), s, zf, lof, hif);
        const v128_t q2 = quantize4(wasm_v128_load(x + i + 8), s, zf, lof, hif);
        const v128_t q3 = quantize4(wasm_v128_load(x + i + 12), s, zf, lof, hif);
        const v128_t w0 = wasm_i16x8_narrow_i32x4(q0, q1), w1 = wasm_i16x8_narrow_i32x4(q2, q3);
        wasm_v128_store(y + i, Signed ? wasm_i8x16_narrow_i16x8(w0, w1) : wasm_u8x16_narrow_i16x8(w0, w1));
    }
    return i;
}

template <bool Signed, class T>
size_t dequantize_blocks(const T* q, size_t n, float scale, int32_t z, float* x) {
    const v128_t s = wasm_f32x4_splat(scale), zv = wasm_i32x4_splat(z);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const v128_t w = Signed ? wasm_i16x8_load8x8(q + i) : wasm_u16x8_load8x8(q + i);
        // Both extend from signed 16-bit lanes: uint8 values are below 2^15.
        const v128_t lo = wasm_i32x4_extend_low_i16x8(w), hi = wasm_i32x4_extend_high_i16x8(w);
        wasm_v128_store(x + i, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_sub(lo, zv)), s));
        wasm_v128_store(x + i + 4, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_sub(hi, zv)), s));
    }
    return i;
}

}  // namespace

size_t quantize_array_wasm(const float* x, size_t n, float scale, int32_t z, int8_t* y) {
    return quantize_blocks<true>(x, n, scale, z, y);
}
size_t quantize_array_wasm(const float* x, size_t n, float scale, int32_t z, uint8_t* y) {
    return quantize_blocks<false>(x, n, scale, z, y);
}
size_t dequantize_array_wasm(const int8_t* q, size_t n, float scale, int32_t z, float* x) {
    return dequantize_blocks<true>(q, n, scale, z, x);
}
size_t dequantize_array_wasm(const uint8_t* q, size_t n, float scale, int32_t z, float* x) {
    return dequantize_blocks<false>(q, n, scale, z, x);
}

}  // namespace stacklab::quant::detail
