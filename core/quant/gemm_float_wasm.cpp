// WebAssembly SIMD128 kernel of gemm_float.hpp. SIMD128 has no fp16 conversion, so B is widened one
// panel of 8 columns at a time into a K x 8 float buffer with half.hpp's exact integer converters
// (bf16 is a shift) and A once into float rows; a 4 x 8 tile then runs over k in order with separate
// multiply and add (no FMA in SIMD128), so it computes exactly the reference's operations.
#include <wasm_simd128.h>

#include <cstring>
#include <vector>

#include "quant/gemm_float_kernels.hpp"
#include "quant/half.hpp"

namespace stacklab::quant::detail {
namespace {

constexpr int kPanel = 8;
constexpr int kRows = 4;

float widen1(Half16 type, uint16_t h) { return type == Half16::fp16 ? half_to_float(h) : bf16_to_float(h); }

template <int MR>
void tile(const float* A, size_t lda, const float* Bp, size_t K, float* C, size_t ldc, int n_valid) {
    v128_t lo[MR], hi[MR];
    for (int r = 0; r < MR; ++r) lo[r] = hi[r] = wasm_f32x4_splat(0.0f);
    for (size_t k = 0; k < K; ++k) {
        const v128_t b0 = wasm_v128_load(Bp + k * kPanel), b1 = wasm_v128_load(Bp + k * kPanel + 4);
        for (int r = 0; r < MR; ++r) {
            const v128_t a = wasm_f32x4_splat(A[size_t(r) * lda + k]);
            lo[r] = wasm_f32x4_add(lo[r], wasm_f32x4_mul(a, b0));
            hi[r] = wasm_f32x4_add(hi[r], wasm_f32x4_mul(a, b1));
        }
    }
    for (int r = 0; r < MR; ++r) {
        float* c = C + size_t(r) * ldc;
        if (n_valid >= kPanel) {
            wasm_v128_store(c, lo[r]);
            wasm_v128_store(c + 4, hi[r]);
        } else {
            float t[kPanel];
            wasm_v128_store(t, lo[r]);
            wasm_v128_store(t + 4, hi[r]);
            std::memcpy(c, t, sizeof(float) * size_t(n_valid));
        }
    }
}

using TileFn = void (*)(const float*, size_t, const float*, size_t, float*, size_t, int);
constexpr TileFn kTiles[kRows + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>};

}  // namespace

void gemm_f16_wasm(Half16 type, const uint16_t* A, int M, int K, int lda, const uint16_t* B, int N, int ldb, float* C,
                   int ldc) {
    const size_t k = size_t(K);
    std::vector<float> a(size_t(M) * k);
    for (int m = 0; m < M; ++m)
        for (size_t i = 0; i < k; ++i) a[size_t(m) * k + i] = widen1(type, A[size_t(m) * size_t(lda) + i]);
    std::vector<float> panel(k * kPanel + 1);
    for (int n0 = 0; n0 < N; n0 += kPanel) {
        const int nv = N - n0 < kPanel ? N - n0 : kPanel;
        for (size_t kk = 0; kk < k; ++kk) {
            const uint16_t* row = B + kk * size_t(ldb) + size_t(n0);
            for (int j = 0; j < kPanel; ++j) panel[kk * kPanel + size_t(j)] = j < nv ? widen1(type, row[j]) : 0.0f;
        }
        for (int m = 0; m < M; m += kRows) {
            const int mr = M - m < kRows ? M - m : kRows;
            kTiles[mr](a.data() + size_t(m) * k, k, panel.data(), k, C + size_t(m) * size_t(ldc) + size_t(n0),
                       size_t(ldc), nv);
        }
    }
}

}  // namespace stacklab::quant::detail
