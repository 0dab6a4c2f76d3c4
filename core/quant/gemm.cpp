#include "quant/gemm.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "quant/gemm_kernels.hpp"

namespace stacklab::quant {

using detail::kPairPanel;
using detail::kQuadPanel;

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::scalar: return "scalar";
        case Isa::avx2: return "avx2";
        case Isa::avx512vnni: return "avx512vnni";
        case Isa::wasm_simd128: return "wasm_simd128";
    }
    return "?";
}

std::vector<Isa> available_isas() {
    std::vector<Isa> isas = {Isa::scalar};
#if defined(__x86_64__) || defined(_M_X64)
    // libgcc's CPU model checks CPUID and that the OS saves the wide registers (XGETBV).
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) isas.push_back(Isa::avx2);
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        isas.push_back(Isa::avx512vnni);
#endif
#if defined(__wasm_simd128__)
    isas.push_back(Isa::wasm_simd128);
#endif
    return isas;
}

Isa best_isa() {
    static const Isa best = available_isas().back();
    return best;
}

bool isa_available(Isa isa) {
    // Asked on every kernel call (a row of a few dozen values, too): the list is computed once.
    static const std::vector<Isa> isas = available_isas();
    for (Isa i : isas)
        if (i == isa) return true;
    return false;
}

namespace {

void check_shape(int M, int K, int N, int lda, int ldb, int ldc) {
    if (M < 0 || N < 0 || K < 0) throw std::invalid_argument("gemm: negative dimension");
    if (K > kMaxGemmK) throw std::invalid_argument("gemm: K = " + std::to_string(K) + " exceeds " +
                                                   std::to_string(kMaxGemmK) + " (int32 sums would overflow)");
    if (lda < K) throw std::invalid_argument("gemm: lda < K");
    if (ldb < N) throw std::invalid_argument("gemm: ldb < N");
    if (ldc < N) throw std::invalid_argument("gemm: ldc < N");
}

std::vector<int32_t> expand_zero_points(const std::vector<int32_t>& zp, int N) {
    if (zp.size() == 1) return std::vector<int32_t>(size_t(N), zp[0]);
    if (zp.size() != size_t(N))
        throw std::invalid_argument("gemm: b_zero_points must have 1 or N = " + std::to_string(N) + " entries, has " +
                                    std::to_string(zp.size()));
    return zp;
}

void raw_gemm(const uint8_t* A, int M, int lda, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc) {
    switch (B.isa) {
        case Isa::scalar: return detail::raw_gemm_scalar(A, M, lda, a_xor, B, C, ldc);
#if defined(__x86_64__) || defined(_M_X64)
        case Isa::avx2: return detail::raw_gemm_avx2(A, M, lda, a_xor, B, C, ldc);
        case Isa::avx512vnni: return detail::raw_gemm_avx512vnni(A, M, lda, a_xor, B, C, ldc);
#endif
#if defined(__wasm_simd128__)
        case Isa::wasm_simd128: return detail::raw_gemm_wasm_simd128(A, M, lda, a_xor, B, C, ldc);
#endif
        default: break;
    }
    throw std::invalid_argument(std::string("gemm: B was packed for ") + isa_name(B.isa) +
                                ", which this build or machine cannot run");
}

// Adds the zero-point terms to the raw sums (see gemm.hpp); a_zp is already in the u8 domain.
template <typename AT>
void gemm_impl(const AT* A, int M, int lda, int32_t a_zp, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc) {
    check_shape(M, B.K, B.N, lda, B.N, ldc);
    const auto* A8 = reinterpret_cast<const uint8_t*>(A);
    raw_gemm(A8, M, lda, a_xor, B, C, ldc);
    const int K = B.K, N = B.N;
    // C += -zb[n] * row_sum[m] - a_zp * col_sum[n] + K * a_zp * zb[n]. The terms can leave int32 on
    // their own even where the final sum fits (K <= kMaxGemmK), so they are added modulo 2^32: the
    // true result fits in int32, and arithmetic modulo 2^32 gives it exactly (what int64 terms gave,
    // in 32-bit lanes the compiler vectorizes). The column part is computed once per call.
    std::vector<uint32_t> col_fix(static_cast<size_t>(N)), zb(static_cast<size_t>(N));
    const uint32_t azp = uint32_t(a_zp), kk = uint32_t(K);
    for (int n = 0; n < N; ++n) {
        zb[size_t(n)] = uint32_t(B.zero_points[size_t(n)]);
        col_fix[size_t(n)] = kk * azp * zb[size_t(n)] - azp * uint32_t(B.col_sums[size_t(n)]);
    }
    // Symmetric weights (every zb[n] = 0, what per-channel int8 quantization gives) need no row sums
    // of A; with a_zp = 0 as well there is nothing to add.
    const bool zb_zero = std::all_of(zb.begin(), zb.end(), [](uint32_t v) { return v == 0; });
    if (zb_zero && std::all_of(col_fix.begin(), col_fix.end(), [](uint32_t v) { return v == 0; })) return;
    for (int m = 0; m < M; ++m) {
        int32_t* c = C + size_t(m) * size_t(ldc);
        if (zb_zero) {
            for (int n = 0; n < N; ++n) c[n] = int32_t(uint32_t(c[n]) + col_fix[size_t(n)]);
            continue;
        }
        uint32_t row_sum = 0;
        const uint8_t* a = A8 + size_t(m) * size_t(lda);
        for (int k = 0; k < K; ++k) row_sum += uint8_t(a[k] ^ a_xor);
        for (int n = 0; n < N; ++n)
            c[n] = int32_t(uint32_t(c[n]) + col_fix[size_t(n)] - zb[size_t(n)] * row_sum);
    }
}

template <typename AT>
void gemm_ref_impl(const AT* A, int M, int K, int lda, int32_t a_zp, const int8_t* B, int N, int ldb,
                   const std::vector<int32_t>& b_zero_points, int32_t* C, int ldc) {
    check_shape(M, K, N, lda, ldb, ldc);
    const std::vector<int32_t> zb = expand_zero_points(b_zero_points, N);
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            int64_t acc = 0;
            for (int k = 0; k < K; ++k)
                acc += (int64_t(A[size_t(m) * size_t(lda) + size_t(k)]) - a_zp) *
                       (int64_t(B[size_t(k) * size_t(ldb) + size_t(n)]) - zb[size_t(n)]);
            if (acc > INT32_MAX || acc < INT32_MIN) throw std::overflow_error("gemm reference: int32 overflow");
            C[size_t(m) * size_t(ldc) + size_t(n)] = int32_t(acc);
        }
}

}  // namespace

PackedB pack_b(const int8_t* B, int K, int N, int ldb, const std::vector<int32_t>& b_zero_points, Isa isa) {
    check_shape(0, K, N, K, ldb, N);
    if (!isa_available(isa))
        throw std::invalid_argument(std::string("pack_b: ") + isa_name(isa) + " is not available here");
    PackedB p;
    p.isa = isa;
    p.K = K;
    p.N = N;
    p.zero_points = expand_zero_points(b_zero_points, N);
    p.col_sums.assign(size_t(N), 0);
    auto at = [&](int k, int n) -> int8_t {
        return (k < K && n < N) ? B[size_t(k) * size_t(ldb) + size_t(n)] : int8_t(0);
    };
    for (int k = 0; k < K; ++k)
        for (int n = 0; n < N; ++n) p.col_sums[size_t(n)] += at(k, n);
    switch (isa) {
        case Isa::scalar:  // column-major: each column's K values contiguous
            p.data.resize(size_t(K) * size_t(N));
            for (int n = 0; n < N; ++n)
                for (int k = 0; k < K; ++k) p.data[size_t(n) * size_t(K) + size_t(k)] = at(k, n);
            break;
        case Isa::avx512vnni: {  // panels of 16 columns; per 4 k: 16 x 4 bytes (column j's 4 k together)
            const int panels = (N + kQuadPanel - 1) / kQuadPanel, k4 = (K + 3) / 4;
            p.data.resize(size_t(panels) * size_t(k4) * kQuadPanel * 4);
            size_t i = 0;
            for (int pn = 0; pn < panels; ++pn)
                for (int kq = 0; kq < k4; ++kq)
                    for (int j = 0; j < kQuadPanel; ++j)
                        for (int t = 0; t < 4; ++t) p.data[i++] = at(4 * kq + t, pn * kQuadPanel + j);
            break;
        }
        case Isa::avx2:
        case Isa::wasm_simd128: {  // panels of 8 columns; per 2 k: 8 x 2 bytes
            const int panels = (N + kPairPanel - 1) / kPairPanel, k2 = (K + 1) / 2;
            p.data.resize(size_t(panels) * size_t(k2) * kPairPanel * 2);
            size_t i = 0;
            for (int pn = 0; pn < panels; ++pn)
                for (int kp = 0; kp < k2; ++kp)
                    for (int j = 0; j < kPairPanel; ++j)
                        for (int t = 0; t < 2; ++t) p.data[i++] = at(2 * kp + t, pn * kPairPanel + j);
            break;
        }
    }
    return p;
}

void gemm_u8s8_s32(const uint8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, int32_t* C, int ldc) {
    gemm_impl(A, M, lda, a_zp, 0x00, B, C, ldc);
}

void gemm_s8s8_s32(const int8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, int32_t* C, int ldc) {
    // a + 128 == (uint8)(a ^ 0x80) for int8 a; the zero point moves with it.
    gemm_impl(A, M, lda, a_zp + 128, 0x80, B, C, ldc);
}

void gemm_u8s8_s32_ref(const uint8_t* A, int M, int K, int lda, int32_t a_zp, const int8_t* B, int N, int ldb,
                       const std::vector<int32_t>& b_zero_points, int32_t* C, int ldc) {
    gemm_ref_impl(A, M, K, lda, a_zp, B, N, ldb, b_zero_points, C, ldc);
}

void gemm_s8s8_s32_ref(const int8_t* A, int M, int K, int lda, int32_t a_zp, const int8_t* B, int N, int ldb,
                       const std::vector<int32_t>& b_zero_points, int32_t* C, int ldc) {
    gemm_ref_impl(A, M, K, lda, a_zp, B, N, ldb, b_zero_points, C, ldc);
}

namespace detail {

void raw_gemm_scalar(const uint8_t* A, int M, int lda, uint8_t a_xor, const PackedB& B, int32_t* C, int ldc) {
    const int K = B.K;
    for (int m = 0; m < M; ++m) {
        const uint8_t* a = A + size_t(m) * size_t(lda);
        for (int n = 0; n < B.N; ++n) {
            const int8_t* b = B.data.data() + size_t(n) * size_t(K);
            int32_t acc = 0;
            for (int k = 0; k < K; ++k) acc += int32_t(uint8_t(a[k] ^ a_xor)) * int32_t(b[k]);
            C[size_t(m) * size_t(ldc) + size_t(n)] = acc;
        }
    }
}

}  // namespace detail
}  // namespace stacklab::quant
