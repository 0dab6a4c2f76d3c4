#include "quant/gemm_requant.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace stacklab::quant {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("gemm_requant: " + message); }

template <typename CT>
void check_stage(const OutputStage& out, int N, int ldc) {
    if (out.params.size() != 1 && out.params.size() != size_t(N))
        fail("params holds " + std::to_string(out.params.size()) + " sets; expected 1 or N = " + std::to_string(N));
    for (size_t i = 0; i < out.params.size(); ++i)
        if (out.params[i].is_signed != std::is_signed<CT>::value)
            fail("params[" + std::to_string(i) + "].is_signed disagrees with the output type " +
                 (std::is_signed<CT>::value ? "int8" : "uint8"));
    if (ldc < N) fail("ldc = " + std::to_string(ldc) + " is smaller than N = " + std::to_string(N));
}

template <typename AT, typename CT>
void fused(const AT* A, int M, int lda, int32_t a_zp, const PackedB& B, const OutputStage& out, CT* C, int ldc) {
    if (M < 0) fail("M = " + std::to_string(M) + " is negative");
    check_stage<CT>(out, B.N, ldc);
    if (M == 0 || B.N == 0) return;
    const int N = B.N;
    const int rows = std::max(1, kRequantBlockBytes / int(sizeof(int32_t)) / N);
    std::vector<int32_t> acc(size_t(std::min(rows, M)) * size_t(N));
    for (int m = 0; m < M; m += rows) {
        const int mb = std::min(rows, M - m);
        const AT* a = A + size_t(m) * size_t(lda);
        if constexpr (std::is_same_v<AT, uint8_t>)
            gemm_u8s8_s32(a, mb, lda, a_zp, B, acc.data(), N);
        else
            gemm_s8s8_s32(a, mb, lda, a_zp, B, acc.data(), N);
        // The block was just written by the kernel: requantize it while it is still in cache.
        requantize_matrix(acc.data(), size_t(mb), size_t(N), size_t(N), out.bias, out.params, out.relu,
                          C + size_t(m) * size_t(ldc), size_t(ldc));
    }
}

}  // namespace

void gemm_u8s8_requant(const uint8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, const OutputStage& out,
                       int8_t* C, int ldc) {
    fused(A, M, lda, a_zp, B, out, C, ldc);
}
void gemm_u8s8_requant(const uint8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, const OutputStage& out,
                       uint8_t* C, int ldc) {
    fused(A, M, lda, a_zp, B, out, C, ldc);
}
void gemm_s8s8_requant(const int8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, const OutputStage& out,
                       int8_t* C, int ldc) {
    fused(A, M, lda, a_zp, B, out, C, ldc);
}
void gemm_s8s8_requant(const int8_t* A, int M, int lda, int32_t a_zp, const PackedB& B, const OutputStage& out,
                       uint8_t* C, int ldc) {
    fused(A, M, lda, a_zp, B, out, C, ldc);
}

template <typename AT, typename CT>
void gemm_requant_ref(const AT* A, int M, int K, int lda, int32_t a_zp, const int8_t* B, int N, int ldb,
                      const std::vector<int32_t>& b_zero_points, const OutputStage& out, CT* C, int ldc) {
    if (M < 0 || N < 0) fail("negative dimension");
    check_stage<CT>(out, N, ldc);
    std::vector<int32_t> acc(size_t(M) * size_t(N));
    if constexpr (std::is_same_v<AT, uint8_t>)
        gemm_u8s8_s32_ref(A, M, K, lda, a_zp, B, N, ldb, b_zero_points, acc.data(), N);
    else
        gemm_s8s8_s32_ref(A, M, K, lda, a_zp, B, N, ldb, b_zero_points, acc.data(), N);
    requantize_matrix(acc.data(), size_t(M), size_t(N), size_t(N), out.bias, out.params, out.relu, C, size_t(ldc));
}

template void gemm_requant_ref<uint8_t, int8_t>(const uint8_t*, int, int, int, int32_t, const int8_t*, int, int,
                                                const std::vector<int32_t>&, const OutputStage&, int8_t*, int);
template void gemm_requant_ref<uint8_t, uint8_t>(const uint8_t*, int, int, int, int32_t, const int8_t*, int, int,
                                                 const std::vector<int32_t>&, const OutputStage&, uint8_t*, int);
template void gemm_requant_ref<int8_t, int8_t>(const int8_t*, int, int, int, int32_t, const int8_t*, int, int,
                                               const std::vector<int32_t>&, const OutputStage&, int8_t*, int);
template void gemm_requant_ref<int8_t, uint8_t>(const int8_t*, int, int, int, int32_t, const int8_t*, int, int,
                                                const std::vector<int32_t>&, const OutputStage&, uint8_t*, int);

}  // namespace stacklab::quant
