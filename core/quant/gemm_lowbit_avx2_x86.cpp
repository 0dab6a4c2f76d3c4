// AVX2 + FMA + F16C kernels of gemm_lowbit.hpp.
//
// Float path: a tile of MR rows of X x NR weight rows keeps MR*NR 8-lane accumulators. Each chunk
// of 8 weights of a weight row is decoded once to the reference's float values and used by all MR
// rows of X. Decoders:
//   grouped  the chunk's k bytes (8 weights x k bits) are broadcast, vpshufb moves the 2 bytes that
//            hold weight j into lane j, vpsrlvd/vpand cut out its code; (code - 2^(k-1)) * d, or
//            code * d + min (separate multiply and add, as dequantize_grouped_row).
//   Q4_0     8 nibbles -> vpmovzxbd -> (q - 8) * d.       Q8_0   8 bytes -> vpmovsxbd -> q * d.
// Integer path: per block, vpmaddubsw forms nibble * q8 pair sums (nibble <= 15, so |pair| <= 3840:
// no int16 saturation) and 8 * sum(q8) is subtracted, giving sum (nibble - 8) q8 exactly even for
// q8 = -128; 8 blocks' int32 vectors are reduced to one vector of 8 block sums (vphaddd), which
// lines up with the 8 partial float sums of the reference order.
#include <immintrin.h>

#include <cstring>

#include "quant/gemm_float_kernels.hpp"

namespace stacklab::quant::detail {
namespace {

float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__m256 lanes_below(int rem) {  // all-ones in lanes < rem
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(rem), idx));
}

struct GroupedDec {
    const GroupedView& w;
    __m256i ctrl, shifts, mask, offset;
    int group_shift = 0;
    explicit GroupedDec(const GroupedView& v) : w(v) {
        while ((1 << group_shift) < v.group_size) ++group_shift;
        alignas(32) int8_t c[32];
        alignas(32) int32_t s[8];
        for (int j = 0; j < 8; ++j) {
            const int bit = j * v.bits, byte = bit / 8;
            s[j] = bit % 8;
            // vpshufb indexes within each 128-bit half; both halves hold the same 8 bytes.
            c[4 * j + 0] = int8_t(byte);
            c[4 * j + 1] = byte + 1 < v.bits ? int8_t(byte + 1) : int8_t(-128);
            c[4 * j + 2] = c[4 * j + 3] = int8_t(-128);
        }
        ctrl = _mm256_load_si256(reinterpret_cast<const __m256i*>(c));
        shifts = _mm256_load_si256(reinterpret_cast<const __m256i*>(s));
        mask = _mm256_set1_epi32((1 << v.bits) - 1);
        offset = _mm256_set1_epi32(v.mins ? 0 : 1 << (v.bits - 1));
    }
    __m256 decode(uint64_t bytes, size_t n, size_t c) const {
        const __m256i b = _mm256_set1_epi64x(int64_t(bytes));
        const __m256i code = _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(b, ctrl), shifts), mask);
        const size_t g = n * w.groups + ((8 * c) >> group_shift);  // group sizes are powers of two
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(w.scales[g]));
        const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(code, offset)), d);
        return w.mins ? _mm256_add_ps(t, _mm256_set1_ps(_cvtsh_ss(w.mins[g]))) : t;
    }
    __m256 load(size_t n, size_t c) const {
        const size_t at = n * w.row_bytes + c * size_t(w.bits);
        uint64_t v = 0;
        // Chunks start on byte boundaries (8 weights = k bytes); near the end of the data only the
        // chunk's own k bytes may be read.
        // (Two constant-size copies, so the common one compiles to a single load, not a memcpy call.)
        if (at + 8 <= w.data_bytes)
            std::memcpy(&v, w.data + at, 8);
        else
            std::memcpy(&v, w.data + at, size_t(w.bits));
        return decode(v, n, c);
    }
    __m256 load_tail(size_t n, size_t c, int rem) const {
        uint64_t v = 0;
        std::memcpy(&v, w.data + n * w.row_bytes + c * size_t(w.bits), (size_t(rem) * size_t(w.bits) + 7) / 8);
        return _mm256_and_ps(decode(v, n, c), lanes_below(rem));
    }
};

struct Q4Dec {
    const BlockQ4_0* w;
    size_t nb;
    __m256 load(size_t n, size_t c) const {
        const BlockQ4_0& b = w[n * nb + c / 4];
        const int part = int(c % 4);  // 0, 1: low nibbles of bytes 0-7, 8-15; 2, 3: high nibbles
        __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + 8 * (part & 1)));
        if (part >= 2) q = _mm_srli_epi16(q, 4);
        q = _mm_and_si128(q, _mm_set1_epi8(0x0f));
        const __m256i v = _mm256_sub_epi32(_mm256_cvtepu8_epi32(q), _mm256_set1_epi32(8));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(_cvtsh_ss(b.d)));
    }
    __m256 load_tail(size_t, size_t, int) const { return _mm256_setzero_ps(); }  // K % 32 == 0
};

struct Q8Dec {
    const BlockQ8_0* w;
    size_t nb;
    __m256 load(size_t n, size_t c) const {
        const BlockQ8_0& b = w[n * nb + c / 4];
        const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + 8 * (c % 4)));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(_cvtsh_ss(b.d)));
    }
    __m256 load_tail(size_t, size_t, int) const { return _mm256_setzero_ps(); }
};

template <class Dec, int MR, int NR>
void tile(const Dec& dec, const float* X, size_t ldx, size_t n0, size_t K, float* Y, size_t ldy) {
    __m256 acc[MR][NR];
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) acc[r][j] = _mm256_setzero_ps();
    const size_t chunks = K / 8;
    for (size_t c = 0; c < chunks; ++c) {
        __m256 w[NR];
        for (int j = 0; j < NR; ++j) w[j] = dec.load(n0 + size_t(j), c);
        for (int r = 0; r < MR; ++r) {
            const __m256 x = _mm256_loadu_ps(X + size_t(r) * ldx + 8 * c);
            for (int j = 0; j < NR; ++j) acc[r][j] = _mm256_fmadd_ps(w[j], x, acc[r][j]);
        }
    }
    const int rem = int(K % 8);
    if (rem) {
        __m256 w[NR];
        for (int j = 0; j < NR; ++j) w[j] = dec.load_tail(n0 + size_t(j), chunks, rem);
        for (int r = 0; r < MR; ++r) {
            alignas(32) float xt[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            std::memcpy(xt, X + size_t(r) * ldx + 8 * chunks, sizeof(float) * size_t(rem));
            const __m256 x = _mm256_load_ps(xt);
            for (int j = 0; j < NR; ++j) acc[r][j] = _mm256_fmadd_ps(w[j], x, acc[r][j]);
        }
    }
    for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) Y[size_t(r) * ldy + n0 + size_t(j)] = hsum(acc[r][j]);
}

template <class Dec>
using TileFn = void (*)(const Dec&, const float*, size_t, size_t, size_t, float*, size_t);

template <class Dec, int MR>
TileFn<Dec> pick_nr(int nr) {
    if constexpr (MR == 1) {
        if (nr >= 4) return tile<Dec, 1, 4>;
    }
    return nr >= 2 ? tile<Dec, MR, 2> : tile<Dec, MR, 1>;
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

// Blocks of kLowbitRowBlock weight rows (kept in cache) x groups of kLowbitRows rows of X. A single
// row of X takes 4 weight rows per tile so that 4 independent FMA chains hide the FMA latency.
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

// 8 vectors of 8 int32 -> one vector whose lane i is the sum of the lanes of v[i] (exact).
__m256i reduce8(const __m256i v[8]) {
    const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i a = _mm256_hadd_epi32(h01, h23), b = _mm256_hadd_epi32(h45, h67);
    // a = [s0l s1l s2l s3l | s0h s1h s2h s3h], b likewise for blocks 4-7.
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

// sum_j (nibble_j - 8) * q8_j of one block as 8 int32 partial sums.
__m256i block_isum(const BlockQ4_0& w, const BlockQ8_0& x) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs));
    const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
    const __m256i d16 = _mm256_sub_epi16(_mm256_maddubs_epi16(nib, y), _mm256_maddubs_epi16(_mm256_set1_epi8(8), y));
    return _mm256_madd_epi16(d16, _mm256_set1_epi16(1));
}

}  // namespace

void lowbit_grouped_avx2(const float* X, int M, int ldx, const GroupedView& W, float* Y, int ldy) {
    drive(GroupedDec(W), X, M, int(W.cols), ldx, int(W.rows), Y, ldy);
}

void lowbit_q4_0_avx2(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy) {
    drive(Q4Dec{W, size_t(K) / 32}, X, M, K, ldx, N, Y, ldy);
}

void lowbit_q8_0_avx2(const float* X, int M, int K, int ldx, const BlockQ8_0* W, int N, float* Y, int ldy) {
    drive(Q8Dec{W, size_t(K) / 32}, X, M, K, ldx, N, Y, ldy);
}

float dot_q4_0_q8_0_avx2(const BlockQ4_0* w, const BlockQ8_0* x, size_t nb) {
    __m256 p = _mm256_setzero_ps();
    size_t b = 0;
    alignas(16) uint16_t dw[8], dx[8];
    for (; b + 8 <= nb; b += 8) {
        __m256i v[8];
        for (int i = 0; i < 8; ++i) {
            v[i] = block_isum(w[b + size_t(i)], x[b + size_t(i)]);
            dw[i] = w[b + size_t(i)].d;
            dx[i] = x[b + size_t(i)].d;
        }
        const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dw))),
                                       _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dx))));
        // (d_w * d_x) * isum, then + : two roundings, as the reference (no FMA).
        p = _mm256_add_ps(p, _mm256_mul_ps(d, _mm256_cvtepi32_ps(reduce8(v))));
    }
    if (b < nb) {
        // Missing lanes add (+0) * 0 = +0, which leaves a partial sum unchanged (it is never -0).
        __m256i v[8];
        for (int i = 0; i < 8; ++i) {
            const bool in = b + size_t(i) < nb;
            v[i] = in ? block_isum(w[b + size_t(i)], x[b + size_t(i)]) : _mm256_setzero_si256();
            dw[i] = in ? w[b + size_t(i)].d : uint16_t(0);
            dx[i] = in ? x[b + size_t(i)].d : uint16_t(0);
        }
        const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dw))),
                                       _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dx))));
        p = _mm256_add_ps(p, _mm256_mul_ps(d, _mm256_cvtepi32_ps(reduce8(v))));
    }
    // ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7)), the reference order.
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(p), _mm256_extractf128_ps(p, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

}  // namespace stacklab::quant::detail
