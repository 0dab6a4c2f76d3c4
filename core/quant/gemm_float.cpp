#include "quant/gemm_float.hpp"

#include <stdexcept>
#include <string>

#include "quant/gemm_float_kernels.hpp"
#include "quant/half.hpp"

namespace stacklab::quant {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("gemm_f16: " + message); }

void check(int M, int K, int N, int lda, int ldb, int ldc) {
    if (M < 0) fail("M = " + std::to_string(M) + " is negative");
    if (K < 0) fail("K = " + std::to_string(K) + " is negative");
    if (N < 0) fail("N = " + std::to_string(N) + " is negative");
    if (lda < K) fail("lda = " + std::to_string(lda) + " is smaller than K = " + std::to_string(K));
    if (ldb < N) fail("ldb = " + std::to_string(ldb) + " is smaller than N = " + std::to_string(N));
    if (ldc < N) fail("ldc = " + std::to_string(ldc) + " is smaller than N = " + std::to_string(N));
}

}  // namespace

double float_dot_error_bound(size_t K, double sum_abs_products) {
    const double u = 1.0 / 16777216.0;  // 2^-24, unit roundoff of binary32 round-to-nearest
    const double ku = static_cast<double>(K) * u;
    return 2.0 * ku / (1.0 - ku) * sum_abs_products;
}

void gemm_f16_ref(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb,
                  float* C, int ldc) {
    check(M, K, N, lda, ldb, ldc);
    auto widen = [type](uint16_t h) { return type == Half16::fp16 ? half_to_float(h) : bf16_to_float(h); };
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            float s = 0.0f;
            for (int k = 0; k < K; ++k) {
                const float p = widen(A[size_t(m) * size_t(lda) + size_t(k)]) * widen(B[size_t(k) * size_t(ldb) + size_t(n)]);
                s = s + p;
            }
            C[size_t(m) * size_t(ldc) + size_t(n)] = s;
        }
}

void gemm_f16(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb, float* C,
              int ldc, Isa isa) {
    check(M, K, N, lda, ldb, ldc);
    if (!isa_available(isa)) fail(std::string("isa ") + isa_name(isa) + " is not available in this build or on this machine");
    if (M == 0 || N == 0) return;
    switch (isa) {
        case Isa::scalar: return gemm_f16_ref(type, A, M, K, lda, B, N, ldb, C, ldc);
#if defined(__x86_64__) || defined(_M_X64)
        case Isa::avx2: return detail::gemm_f16_avx2(type, A, M, K, lda, B, N, ldb, C, ldc);
        case Isa::avx512vnni: return detail::gemm_f16_avx512(type, A, M, K, lda, B, N, ldb, C, ldc);
#endif
#if defined(__wasm_simd128__)
        case Isa::wasm_simd128: return detail::gemm_f16_wasm(type, A, M, K, lda, B, N, ldb, C, ldc);
#endif
        default: break;
    }
    fail(std::string("isa ") + isa_name(isa) + " has no kernel in this build");
}

}  // namespace stacklab::quant
