#include "quant/gemm_lowbit.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "quant/gemm_float_kernels.hpp"
#include "quant/half.hpp"

namespace stacklab::quant {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("gemm_lowbit: " + message); }

void check_isa(Isa isa) {
    for (Isa i : available_isas())
        if (i == isa) return;
    fail(std::string("isa ") + isa_name(isa) + " is not available in this build or on this machine");
}

void check_shape(int M, int K, int ldx, int N, int ldy) {
    if (M < 0) fail("M = " + std::to_string(M) + " is negative");
    if (K < 0) fail("K = " + std::to_string(K) + " is negative");
    if (N < 0) fail("N = " + std::to_string(N) + " is negative");
    if (ldx < K) fail("ldx = " + std::to_string(ldx) + " is smaller than K = " + std::to_string(K));
    if (ldy < N) fail("ldy = " + std::to_string(ldy) + " is smaller than N = " + std::to_string(N));
}

void check_blocks_k(int K) {
    if (K % 32 != 0) fail("K = " + std::to_string(K) + " must be a multiple of the Q4_0/Q8_0 block size 32");
}

detail::GroupedView view_of(const GroupedWeights& W) {
    validate(W.format);
    detail::GroupedView v;
    v.bits = W.format.bits;
    v.group_size = W.format.group_size;
    v.rows = W.rows;
    v.cols = W.cols;
    v.row_bytes = packed_row_bytes(W.format.bits, W.cols);
    v.groups = groups_per_row(W.format, W.cols);
    if (W.data.size() != W.rows * v.row_bytes)
        fail("W.data holds " + std::to_string(W.data.size()) + " bytes; rows x packed_row_bytes = " +
             std::to_string(W.rows * v.row_bytes));
    if (W.scales.size() != W.rows * v.groups)
        fail("W.scales holds " + std::to_string(W.scales.size()) + " values; rows x groups = " +
             std::to_string(W.rows * v.groups));
    if (W.format.asymmetric && W.mins.size() != W.scales.size())
        fail("W.mins holds " + std::to_string(W.mins.size()) + " values; an asymmetric format needs " +
             std::to_string(W.scales.size()));
    if (W.rows > size_t(INT32_MAX) || W.cols > size_t(INT32_MAX)) fail("W is too large for int dimensions");
    v.data = W.data.data();
    v.data_bytes = W.data.size();
    v.scales = W.scales.data();
    v.mins = W.format.asymmetric ? W.mins.data() : nullptr;
    return v;
}

// The reference dot: rounded products summed in index order, no fused multiply-add.
float dot_in_order(const float* x, const float* w, size_t K) {
    float s = 0.0f;
    for (size_t k = 0; k < K; ++k) {
        const float p = x[k] * w[k];
        s = s + p;
    }
    return s;
}

template <typename Dequant>
void ref_rows(const float* X, int M, int K, int ldx, int N, float* Y, int ldy, Dequant&& dequant_row) {
    std::vector<float> w(static_cast<size_t>(K));
    for (int n = 0; n < N; ++n) {
        dequant_row(size_t(n), w.data());
        for (int m = 0; m < M; ++m)
            Y[size_t(m) * size_t(ldy) + size_t(n)] = dot_in_order(X + size_t(m) * size_t(ldx), w.data(), size_t(K));
    }
}

std::vector<BlockQ8_0> quantize_rows_q8_0(const float* X, int M, int K, int ldx) {
    std::vector<BlockQ8_0> xq;
    xq.reserve(size_t(M) * size_t(K / 32));
    for (int m = 0; m < M; ++m) {
        const auto row = quantize_q8_0(X + size_t(m) * size_t(ldx), size_t(K));
        xq.insert(xq.end(), row.begin(), row.end());
    }
    return xq;
}

}  // namespace

void gemm_grouped_ref(const float* X, int M, int ldx, const GroupedWeights& W, float* Y, int ldy) {
    const detail::GroupedView v = view_of(W);
    check_shape(M, int(v.cols), ldx, int(v.rows), ldy);
    ref_rows(X, M, int(v.cols), ldx, int(v.rows), Y, ldy,
             [&](size_t n, float* w) { dequantize_grouped_row(W, n, w); });
}

void gemm_grouped(const float* X, int M, int ldx, const GroupedWeights& W, float* Y, int ldy, Isa isa) {
    const detail::GroupedView v = view_of(W);
    check_shape(M, int(v.cols), ldx, int(v.rows), ldy);
    check_isa(isa);
    if (M == 0 || v.rows == 0) return;
    switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
        case Isa::avx2:
        case Isa::avx512vnni: return detail::lowbit_grouped_avx2(X, M, ldx, v, Y, ldy);
#endif
#if defined(__wasm_simd128__)
        case Isa::wasm_simd128: return detail::lowbit_grouped_wasm(X, M, ldx, v, Y, ldy);
#endif
        default: return gemm_grouped_ref(X, M, ldx, W, Y, ldy);
    }
}

void gemm_q4_0_ref(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy) {
    check_shape(M, K, ldx, N, ldy);
    check_blocks_k(K);
    const size_t nb = size_t(K) / 32;
    ref_rows(X, M, K, ldx, N, Y, ldy, [&](size_t n, float* w) { dequantize_q4_0(W + n * nb, size_t(K), w); });
}

void gemm_q4_0(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy, Isa isa) {
    check_shape(M, K, ldx, N, ldy);
    check_blocks_k(K);
    check_isa(isa);
    if (M == 0 || N == 0) return;
    switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
        case Isa::avx2:
        case Isa::avx512vnni: return detail::lowbit_q4_0_avx2(X, M, K, ldx, W, N, Y, ldy);
#endif
#if defined(__wasm_simd128__)
        case Isa::wasm_simd128: return detail::lowbit_q4_0_wasm(X, M, K, ldx, W, N, Y, ldy);
#endif
        default: return gemm_q4_0_ref(X, M, K, ldx, W, N, Y, ldy);
    }
}

void gemm_q8_0_ref(const float* X, int M, int K, int ldx, const BlockQ8_0* W, int N, float* Y, int ldy) {
    check_shape(M, K, ldx, N, ldy);
    check_blocks_k(K);
    const size_t nb = size_t(K) / 32;
    ref_rows(X, M, K, ldx, N, Y, ldy, [&](size_t n, float* w) { dequantize_q8_0(W + n * nb, size_t(K), w); });
}

void gemm_q8_0(const float* X, int M, int K, int ldx, const BlockQ8_0* W, int N, float* Y, int ldy, Isa isa) {
    check_shape(M, K, ldx, N, ldy);
    check_blocks_k(K);
    check_isa(isa);
    if (M == 0 || N == 0) return;
    switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
        case Isa::avx2:
        case Isa::avx512vnni: return detail::lowbit_q8_0_avx2(X, M, K, ldx, W, N, Y, ldy);
#endif
#if defined(__wasm_simd128__)
        case Isa::wasm_simd128: return detail::lowbit_q8_0_wasm(X, M, K, ldx, W, N, Y, ldy);
#endif
        default: return gemm_q8_0_ref(X, M, K, ldx, W, N, Y, ldy);
    }
}

float vec_dot_q4_0_q8_0_ref(const BlockQ4_0* w, const BlockQ8_0* x, size_t nb) {
    float p[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t b = 0; b < nb; ++b) {
        int32_t isum = 0;
        for (size_t j = 0; j < 16; ++j) {
            isum += (int32_t(w[b].qs[j] & 0x0f) - 8) * int32_t(x[b].qs[j]);
            isum += (int32_t(w[b].qs[j] >> 4) - 8) * int32_t(x[b].qs[j + 16]);
        }
        const float d = half_to_float(w[b].d) * half_to_float(x[b].d);
        const float v = d * static_cast<float>(isum);
        p[b % 8] = p[b % 8] + v;
    }
    // The 8-lane reduction order every SIMD path uses (gemm_lowbit.hpp).
    const float a = p[0] + p[4], b = p[2] + p[6], c = p[1] + p[5], e = p[3] + p[7];
    const float lo = a + b, hi = c + e;
    return lo + hi;
}

namespace {

using DotFn = float (*)(const BlockQ4_0*, const BlockQ8_0*, size_t);

DotFn dot_fn(Isa isa) {
    check_isa(isa);
    switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
        case Isa::avx2:
        case Isa::avx512vnni: return detail::dot_q4_0_q8_0_avx2;
#endif
#if defined(__wasm_simd128__)
        case Isa::wasm_simd128: return detail::dot_q4_0_q8_0_wasm;
#endif
        default: return vec_dot_q4_0_q8_0_ref;
    }
}

}  // namespace

float vec_dot_q4_0_q8_0(const BlockQ4_0* w, const BlockQ8_0* x, size_t nb, Isa isa) { return dot_fn(isa)(w, x, nb); }

void gemm_q4_0_q8_0_ref(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy) {
    check_shape(M, K, ldx, N, ldy);
    check_blocks_k(K);
    const std::vector<BlockQ8_0> xq = quantize_rows_q8_0(X, M, K, ldx);
    const size_t nb = size_t(K) / 32;
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n)
            Y[size_t(m) * size_t(ldy) + size_t(n)] = vec_dot_q4_0_q8_0_ref(W + size_t(n) * nb, xq.data() + size_t(m) * nb, nb);
}

void gemm_q4_0_q8_0(const float* X, int M, int K, int ldx, const BlockQ4_0* W, int N, float* Y, int ldy, Isa isa) {
    check_shape(M, K, ldx, N, ldy);
    check_blocks_k(K);
    const DotFn dot = dot_fn(isa);
    // Activations are quantized once per call with the reference quantizer (O(M K), small next to
    // the O(M N K) dot products), so every ISA sees the same Q8_0 blocks.
    const std::vector<BlockQ8_0> xq = quantize_rows_q8_0(X, M, K, ldx);
    const size_t nb = size_t(K) / 32;
    for (int n = 0; n < N; ++n)
        for (int m = 0; m < M; ++m)
            Y[size_t(m) * size_t(ldy) + size_t(n)] = dot(W + size_t(n) * nb, xq.data() + size_t(m) * nb, nb);
}

}  // namespace stacklab::quant
