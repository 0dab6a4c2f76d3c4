// WebAssembly SIMD128 loops of convert.hpp: four lanes of exactly the portable loop's float
// operations (each select a compare + bitselect, or the pmin / pmax that is defined as that select; wasm has no fused multiply-add in SIMD128, and
// IEEE arithmetic rounds each operation the same way), so every byte equals the scalar loop's.
// Sixteen values per step, narrowed with the saturating packs (the lanes are already in range).
#include <wasm_simd128.h>

#include "quant/convert.hpp"

namespace stacklab::quant::detail {

namespace {

inline v128_t select(v128_t c, v128_t a, v128_t b) { return wasm_v128_bitselect(a, b, c); }

// Four quantized values as int32 lanes: the portable loop's value in fewer instructions. It clamps
// x / scale to +-1024 and rounds to nearest even with the magic number; f32x4.nearest rounds every
// value the same way, and a value beyond +-1024 stays beyond the storage range, where the final
// clamp takes it to the same end (|1024 + zero point| > 255 for every zero point). Then the zero
// point (or the zero point alone for NaN: the select only where x may be NaN) and the clamp. pmax(a,
// b) is defined as a < b ? b : a and pmin(a, b) as b < a ? b : a: exactly the clamps' selects.
template <bool MaybeNan = true>
inline v128_t quantize4(v128_t x, v128_t scale, v128_t zf, v128_t lof, v128_t hif) {
    v128_t r = wasm_f32x4_nearest(wasm_f32x4_div(x, scale));
    if constexpr (MaybeNan) r = select(wasm_f32x4_eq(r, r), wasm_f32x4_add(r, zf), zf);
    else r = wasm_f32x4_add(r, zf);
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

// The QdqOutput map on four accumulators: the convert / mul / add / ReLU select of
// dequantize_accumulators, then quantize4 (its NaN select only where v can be NaN: MaybeNan, a
// multiplier or bias that is not finite).
template <bool Relu, bool MaybeNan>
inline v128_t requantize4(v128_t a, v128_t m, v128_t b, v128_t scale, v128_t zf, v128_t lof, v128_t hif) {
    v128_t v = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(a), m), b);
    // pmax(0, v) is (0 < v ? v : 0); the select (v < 0 ? 0 : v) differs from it for -0 and NaN, so
    // it is written out.
    if constexpr (Relu) v = select(wasm_f32x4_lt(v, wasm_f32x4_splat(0.0f)), wasm_f32x4_splat(0.0f), v);
    return quantize4<MaybeNan>(v, scale, zf, lof, hif);
}

template <bool Signed, bool Relu, bool PerColumn, bool MaybeNan, class T>
size_t requantize_blocks(const int32_t* acc, size_t n, const QdqOutput& q, T* y) {
    const v128_t s = wasm_f32x4_splat(q.scale), zf = wasm_f32x4_splat(float(q.zero_point));
    const v128_t lof = wasm_f32x4_splat(Signed ? -128.0f : 0.0f), hif = wasm_f32x4_splat(Signed ? 127.0f : 255.0f);
    const v128_t m1 = wasm_f32x4_splat(q.multiplier[0]), b1 = wasm_f32x4_splat(q.bias[0]);
    auto four = [&](size_t i) {
        const v128_t m = PerColumn ? wasm_v128_load(q.multiplier + i) : m1;
        const v128_t b = PerColumn ? wasm_v128_load(q.bias + i) : b1;
        return requantize4<Relu, MaybeNan>(wasm_v128_load(acc + i), m, b, s, zf, lof, hif);
    };
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const v128_t w0 = wasm_i16x8_narrow_i32x4(four(i), four(i + 4));
        const v128_t w1 = wasm_i16x8_narrow_i32x4(four(i + 8), four(i + 12));
        wasm_v128_store(y + i, Signed ? wasm_i8x16_narrow_i16x8(w0, w1) : wasm_u8x16_narrow_i16x8(w0, w1));
    }
    return i;
}

template <bool Signed, class T>
size_t requantize_run(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, T* y) {
    return with_requantize_flags(q.relu, per_column, !finite, [&](auto relu, auto column, auto nan) {
        return requantize_blocks<Signed, decltype(relu)::value, decltype(column)::value, decltype(nan)::value>(acc, n, q, y);
    });
}

}  // namespace

size_t requantize_run_wasm(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, int8_t* y) {
    return requantize_run<true>(acc, n, q, per_column, finite, y);
}
size_t requantize_run_wasm(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, uint8_t* y) {
    return requantize_run<false>(acc, n, q, per_column, finite, y);
}

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
