// WebAssembly SIMD128 kernels of gemm_lowbit.hpp: the x86 scheme (gemm_lowbit_avx2_x86.cpp) with
// 8-weight chunks held as two f32x4. SIMD128 (as Emscripten 3.1.6 targets it) has no per-lane
// variable shift and no FMA, so
//   * the grouped decoder moves weight j's two bytes into lane j with i8x16.swizzle, multiplies the
//     lane by 2^(8 - bit offset) and shifts all lanes right by 8 (= a right shift by the offset),
//     then masks the code;
//   * products and sums are separate, rounded operations.
// Integer path: per block, nibbles and q8 are sign-extended to int16 and i32x4.dot_i16x8_s sums
// pairs exactly; block sums of 8 blocks fill two f32x4 of partial sums (lanes 0-3, 4-7), reduced in
// the reference order. Wasm has no fp16 conversion instruction: scales are widened with half.hpp.
#include <wasm_simd128.h>

#include <cstring>

#include "quant/gemm_float_kernels.hpp"
#include "quant/half.hpp"

namespace stacklab::quant::detail {
namespace {

struct F8 {
    v128_t lo, hi;
};

float hsum(const F8& v) {
    const v128_t s = wasm_f32x4_add(v.lo, v.hi);
    const float a = wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 2);
    const float b = wasm_f32x4_extract_lane(s, 1) + wasm_f32x4_extract_lane(s, 3);
    return a + b;
}

F8 to_float(v128_t i_lo, v128_t i_hi, float d) {
    const v128_t dv = wasm_f32x4_splat(d);
    return {wasm_f32x4_mul(wasm_f32x4_convert_i32x4(i_lo), dv), wasm_f32x4_mul(wasm_f32x4_convert_i32x4(i_hi), dv)};
}

struct GroupedDec {
    const GroupedView& w;
    v128_t ctrl_lo, ctrl_hi, mul_lo, mul_hi, mask, offset;
    int group_shift = 0;
    explicit GroupedDec(const GroupedView& v) : w(v) {
        while ((1 << group_shift) < v.group_size) ++group_shift;
        uint8_t c[32];
        int32_t m[8];
        for (int j = 0; j < 8; ++j) {
            const int bit = j * v.bits, byte = bit / 8;
            m[j] = 1 << (8 - bit % 8);
            c[4 * j + 0] = uint8_t(byte);
            c[4 * j + 1] = byte + 1 < v.bits ? uint8_t(byte + 1) : uint8_t(0xff);  // >= 16 selects 0
            c[4 * j + 2] = c[4 * j + 3] = 0xff;
        }
        ctrl_lo = wasm_v128_load(c);
        ctrl_hi = wasm_v128_load(c + 16);
        mul_lo = wasm_v128_load(m);
        mul_hi = wasm_v128_load(m + 4);
        mask = wasm_i32x4_splat((1 << v.bits) - 1);
        offset = wasm_i32x4_splat(v.mins ? 0 : 1 << (v.bits - 1));
    }
    v128_t codes(v128_t b, v128_t ctrl, v128_t mul) const {
        const v128_t two = wasm_i8x16_swizzle(b, ctrl);
        return wasm_v128_and(wasm_u32x4_shr(wasm_i32x4_mul(two, mul), 8), mask);
    }
    F8 decode(uint64_t bytes, size_t n, size_t c) const {
        const v128_t b = wasm_i64x2_splat(int64_t(bytes));
        const size_t g = n * w.groups + ((8 * c) >> group_shift);  // group sizes are powers of two
        F8 r = to_float(wasm_i32x4_sub(codes(b, ctrl_lo, mul_lo), offset), wasm_i32x4_sub(codes(b, ctrl_hi, mul_hi), offset),
                        half_to_float(w.scales[g]));
        if (w.mins) {
            const v128_t mn = wasm_f32x4_splat(half_to_float(w.mins[g]));
            r.lo = wasm_f32x4_add(r.lo, mn);
            r.hi = wasm_f32x4_add(r.hi, mn);
        }
        return r;
    }
    F8 load(size_t n, size_t c) const {
        const size_t at = n * w.row_bytes + c * size_t(w.bits);
        uint64_t v = 0;
        // (Two constant-size copies, so the common one compiles to a single load, not a memcpy call.)
        if (at + 8 <= w.data_bytes)
            std::memcpy(&v, w.data + at, 8);
        else
            std::memcpy(&v, w.data + at, size_t(w.bits));
        return decode(v, n, c);
    }
    F8 load_tail(size_t n, size_t c, int rem) const {
        uint64_t v = 0;
        std::memcpy(&v, w.data + n * w.row_bytes + c * size_t(w.bits), (size_t(rem) * size_t(w.bits) + 7) / 8);
        F8 r = decode(v, n, c);
        const v128_t idx_lo = wasm_i32x4_make(0, 1, 2, 3), idx_hi = wasm_i32x4_make(4, 5, 6, 7);
        const v128_t remv = wasm_i32x4_splat(rem);
        r.lo = wasm_v128_and(r.lo, wasm_i32x4_gt(remv, idx_lo));
        r.hi = wasm_v128_and(r.hi, wasm_i32x4_gt(remv, idx_hi));
        return r;
    }
};

struct Q4Dec {
    const BlockQ4_0* w;
    size_t nb;
    F8 load(size_t n, size_t c) const {
        const BlockQ4_0& b = w[n * nb + c / 4];
        const int part = int(c % 4);  // 0, 1: low nibbles of bytes 0-7, 8-15; 2, 3: high nibbles
        v128_t q = wasm_v128_load64_zero(b.qs + 8 * (part & 1));
        if (part >= 2) q = wasm_u8x16_shr(q, 4);
        q = wasm_u16x8_extend_low_u8x16(wasm_v128_and(q, wasm_i8x16_splat(0x0f)));
        const v128_t eight = wasm_i32x4_splat(8);
        return to_float(wasm_i32x4_sub(wasm_u32x4_extend_low_u16x8(q), eight),
                        wasm_i32x4_sub(wasm_u32x4_extend_high_u16x8(q), eight), half_to_float(b.d));
    }
    F8 load_tail(size_t, size_t, int) const { return {wasm_f32x4_splat(0.0f), wasm_f32x4_splat(0.0f)}; }
};

struct Q8Dec {
    const BlockQ8_0* w;
    size_t nb;
    F8 load(size_t n, size_t c) const {
        const BlockQ8_0& b = w[n * nb + c / 4];
        const v128_t q = wasm_i16x8_extend_low_i8x16(wasm_v128_load64_zero(b.qs + 8 * (c % 4)));
        return to_float(wasm_i32x4_extend_low_i16x8(q), wasm_i32x4_extend_high_i16x8(q), half_to_float(b.d));
    }
    F8 load_tail(size_t, size_t, int) const { return {wasm_f32x4_splat(0.0f), wasm_f32x4_splat(0.0f)}; }
};

template <int MR, int NR, class Dec>
void tile(const Dec& dec, const float* X, size_t ldx, size_t n0, size_t K, float* Y, size_t ldy) {
    F8 acc[MR][NR];
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) acc[r][j] = {wasm_f32x4_splat(0.0f), wasm_f32x4_splat(0.0f)};
    const size_t chunks = K / 8;
    auto step = [&](const F8* w, const float* x_of_row0, size_t stride) {
        for (int r = 0; r < MR; ++r) {
            const float* x = x_of_row0 + size_t(r) * stride;
            const v128_t xl = wasm_v128_load(x), xh = wasm_v128_load(x + 4);
            for (int j = 0; j < NR; ++j) {
                acc[r][j].lo = wasm_f32x4_add(acc[r][j].lo, wasm_f32x4_mul(w[j].lo, xl));
                acc[r][j].hi = wasm_f32x4_add(acc[r][j].hi, wasm_f32x4_mul(w[j].hi, xh));
            }
        }
    };
    for (size_t c = 0; c < chunks; ++c) {
        F8 w[NR];
        for (int j = 0; j < NR; ++j) w[j] = dec.load(n0 + size_t(j), c);
        step(w, X + 8 * c, ldx);
    }
    const int rem = int(K % 8);
    if (rem) {
        F8 w[NR];
        for (int j = 0; j < NR; ++j) w[j] = dec.load_tail(n0 + size_t(j), chunks, rem);
        float xt[MR][8] = {};
        for (int r = 0; r < MR; ++r) std::memcpy(xt[r], X + size_t(r) * ldx + 8 * chunks, sizeof(float) * size_t(rem));
        step(w, xt[0], 8);
    }
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) Y[size_t(r) * ldy + n0 + size_t(j)] = hsum(acc[r][j]);
}

template <class Dec>
using TileFn = void (*)(const Dec&, const float*, size_t, size_t, size_t, float*, size_t);

template <class Dec, int MR>
TileFn<Dec> pick_nr(int nr) {
    if constexpr (MR == 1) {
        if (nr >= 4) return tile<1, 4, Dec>;
    }
    return nr >= 2 ? tile<MR, 2, Dec> : tile<MR, 1, Dec>;
}

template <class Dec>
TileFn<Dec> pick(int mr, int nr) {
    switch (mr) {
        case 1: return pick_nr<Dec, 1>(nr);
        case 2: return pick_nr<Dec, 2>(nr);
        case 3: return pick_nr<Dec, 3>(nr);
        default: return pick_nr<Dec, 4>(nr);
    }
}

template <class Dec>
void drive(const Dec& dec, const float* X, int M, int K, int ldx, int N, float* Y, int ldy) {
    for (int nb = 0; nb < N; nb += kLowbitRowBlock) {
        const int ne = N - nb < kLowbitRowBlock ? N : nb + kLowbitRowBlock;
        for (int m = 0; m < M; m += kLowbitRows) {
            const int mr = M - m < kLowbitRows ? M - m : kLowbitRows;
            const int nr_max = mr == 1 ? 4 : 2;
            for (int n = nb; n < ne;) {
                const int left = ne - n;
                const int nr = left >= nr_max ? nr_max : (left >= 2 ? 2 : 1);
                pick<Dec>(mr, nr)(dec, X + size_t(m) * size_t(ldx), size_t(ldx), size_t(n), size_t(K),
                                  Y + size_t(m) * size_t(ldy), size_t(ldy));
                n += nr;
            }
        }
    }
}

int32_t block_isum(const BlockQ4_0& w, const BlockQ8_0& x) {
    const v128_t q = wasm_v128_load(w.qs);
    const v128_t eight = wasm_i8x16_splat(8);
    const v128_t lo = wasm_i8x16_sub(wasm_v128_and(q, wasm_i8x16_splat(0x0f)), eight);  // weights 0-15
    const v128_t hi = wasm_i8x16_sub(wasm_u8x16_shr(q, 4), eight);                       // weights 16-31
    const v128_t x0 = wasm_v128_load(x.qs), x1 = wasm_v128_load(x.qs + 16);
    v128_t s = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(lo), wasm_i16x8_extend_low_i8x16(x0));
    s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(lo), wasm_i16x8_extend_high_i8x16(x0)));
    s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(hi), wasm_i16x8_extend_low_i8x16(x1)));
    s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(hi), wasm_i16x8_extend_high_i8x16(x1)));
    return wasm_i32x4_extract_lane(s, 0) + wasm_i32x4_extract_lane(s, 1) + wasm_i32x4_extract_lane(s, 2) +
           wasm_i32x4_extract_lane(s, 3);
}

}  // namespace

void lowbit_grouped_wasm(const float* X, int M, int ldx, const GroupedView& W, float* Y, int ldy) {
    drive(GroupedDec(W), X, M, int(W.cols), ldx, int(W.rows), Y, ldy);
}

void lowbit_q4_0_wasm(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy) {
    drive(Q4Dec{W, size_t(K) / 32}, X, M, K, ldx, N, Y, ldy);
}

void lowbit_q8_0_wasm(const float* X, int M, int K, int ldx, const BlockQ8_0* W, int N, float* Y, int ldy) {
    drive(Q8Dec{W, size_t(K) / 32}, X, M, K, ldx, N, Y, ldy);
}

float dot_q4_0_q8_0_wasm(const BlockQ4_0* w, const BlockQ8_0* x, size_t nb) {
    v128_t p_lo = wasm_f32x4_splat(0.0f), p_hi = wasm_f32x4_splat(0.0f);
    for (size_t b = 0; b < nb; b += 8) {
        // Missing lanes of the last group add (+0) * 0 = +0, which leaves a partial sum unchanged.
        int32_t isum[8];
        float d[8];
        for (size_t i = 0; i < 8; ++i) {
            const bool in = b + i < nb;
            isum[i] = in ? block_isum(w[b + i], x[b + i]) : 0;
            d[i] = in ? half_to_float(w[b + i].d) * half_to_float(x[b + i].d) : 0.0f;
        }
        p_lo = wasm_f32x4_add(p_lo, wasm_f32x4_mul(wasm_v128_load(d), wasm_f32x4_convert_i32x4(wasm_v128_load(isum))));
        p_hi = wasm_f32x4_add(p_hi, wasm_f32x4_mul(wasm_v128_load(d + 4), wasm_f32x4_convert_i32x4(wasm_v128_load(isum + 4))));
    }
    // ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7)), the reference order.
    const v128_t s = wasm_f32x4_add(p_lo, p_hi);
    const float a = wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 2);
    const float c = wasm_f32x4_extract_lane(s, 1) + wasm_f32x4_extract_lane(s, 3);
    return a + c;
}

}  // namespace stacklab::quant::detail
