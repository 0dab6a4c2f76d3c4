// Whole arrays through ONNX QuantizeLinear / DequantizeLinear with one (per-tensor) scale and zero
// point: the executor's hot loops between int8 layers. Each value is exactly quantize_value /
// dequantize_value of formats.hpp (x / scale as a float division, ties to even, saturation, NaN to
// the zero point; (q - zero_point) * scale), on every ISA: the AVX2 loop (convert_avx2_x86.cpp) is
// eight lanes of the same float operations, the SIMD128 loop (convert_wasm.cpp) four, and the portable loop is written with selects so the
// compiler vectorizes it (SSE2, WebAssembly SIMD128). Rounding uses the 1.5 * 2^23 trick on a
// quotient clamped to [-1024, 1024] (the zero point and the saturation bounds lie well inside it),
// which rounds ties to even under the default rounding mode — the only mode this code runs in.
// (Multiplying by 1 / scale and redoing the rare blocks near a rounding boundary with the division
// measured slower than the division on this AMD EPYC, 0.28 vs 0.23 ns per value: not used.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "quant/gemm.hpp"  // Isa

namespace stacklab::quant {

// y[i] = quantize_value(x[i], scale, zero_point, lo, hi) with [lo, hi] the storage range.
void quantize_array(const float* x, size_t n, float scale, int32_t zero_point, int8_t* y, Isa isa = best_isa());
void quantize_array(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y, Isa isa = best_isa());
// x[i] = dequantize_value(q[i], scale, zero_point).
void dequantize_array(const int8_t* q, size_t n, float scale, int32_t zero_point, float* x, Isa isa = best_isa());
void dequantize_array(const uint8_t* q, size_t n, float scale, int32_t zero_point, float* x, Isa isa = best_isa());

// The output stage of a QDQ layer run on the int8 kernels (core/nn's executor: DequantizeLinear on X
// and W -> Conv / Gemm / MatMul with a float bias -> [Relu ->] QuantizeLinear), over int32
// accumulators: per output column (channel) j,
//   v = float(acc) * multiplier[j] + bias[j];   v = (v < 0 ? 0 : v) when relu;
//   y = quantize_value(v, scale, zero_point)    (quantize_array: a float division, ties to even)
// where multiplier[j] = x_scale * w_scale[j]. Per value these are the float operations of the
// unfused nodes in their order, so the result is theirs bit for bit.
struct QdqOutput {
    const float* multiplier = nullptr;  // one value per column
    const float* bias = nullptr;        // one value per column
    bool relu = false;
    float scale = 1.0f;                 // the output's QuantizeLinear, per tensor
    int32_t zero_point = 0;
};

// Throws std::invalid_argument starting with fn when q cannot run into the given storage type:
// a null multiplier or bias, a scale that is not finite and > 0, a zero point outside the range.
void check_qdq_output(const char* fn, const QdqOutput& q, bool is_signed);

// The float map alone, over rows x cols accumulators with row r at acc + r * acc_stride:
// out[r * cols + j] = float(acc[r * acc_stride + j]) * multiplier[j] + bias[j] (then the ReLU select
// when relu): the unfused path's DequantizeLinear + Add [+ Relu].
void dequantize_accumulators(const int32_t* acc, size_t rows, size_t cols, size_t acc_stride, const float* multiplier,
                             const float* bias, bool relu, float* out);
// The whole output stage: y[r * cols + j] = the QdqOutput map of acc[r * acc_stride + j]. Works in
// chunks of about 4096 values through `scratch` (resized as needed; pass the same vector again to
// reuse it), so no float tensor of the whole output is made.
void requantize_accumulators(const int32_t* acc, size_t rows, size_t cols, size_t acc_stride, const QdqOutput& q,
                             int8_t* y, std::vector<float>& scratch, Isa isa = best_isa());
void requantize_accumulators(const int32_t* acc, size_t rows, size_t cols, size_t acc_stride, const QdqOutput& q,
                             uint8_t* y, std::vector<float>& scratch, Isa isa = best_isa());

namespace detail {
// Calls f(relu, per_column, maybe_nan) with each flag as a std::bool_constant, so that the ISAs'
// requantize loops take them as template arguments (one loop per combination, no test per value).
template <class F>
size_t with_requantize_flags(bool relu, bool per_column, bool maybe_nan, F f) {
    auto third = [&](auto r, auto c) { return maybe_nan ? f(r, c, std::true_type{}) : f(r, c, std::false_type{}); };
    auto second = [&](auto r) { return per_column ? third(r, std::true_type{}) : third(r, std::false_type{}); };
    return relu ? second(std::true_type{}) : second(std::false_type{});
}

#if defined(__x86_64__) || defined(_M_X64)
// Each handles a prefix of whole 8-value blocks and returns its length; convert.cpp does the rest.
size_t quantize_array_avx2(const float* x, size_t n, float scale, int32_t zero_point, int8_t* y);
size_t quantize_array_avx2(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y);
size_t dequantize_array_avx2(const int8_t* q, size_t n, float scale, int32_t zero_point, float* x);
size_t dequantize_array_avx2(const uint8_t* q, size_t n, float scale, int32_t zero_point, float* x);
// The whole QdqOutput map over one run of n accumulators, in registers (no float scratch): with
// per_column, value i uses q.multiplier[i] and q.bias[i]; otherwise every value uses [0]. `finite`
// promises that every multiplier and bias used is finite (so no value is NaN). Whole 8-value
// blocks; returns the prefix done.
size_t requantize_run_avx2(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, int8_t* y);
size_t requantize_run_avx2(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, uint8_t* y);
#endif
#if defined(__wasm_simd128__)
// The same in SIMD128 (convert_wasm.cpp): quantize in 16-value blocks, dequantize in 8-value blocks.
size_t quantize_array_wasm(const float* x, size_t n, float scale, int32_t zero_point, int8_t* y);
size_t quantize_array_wasm(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y);
size_t dequantize_array_wasm(const int8_t* q, size_t n, float scale, int32_t zero_point, float* x);
size_t dequantize_array_wasm(const uint8_t* q, size_t n, float scale, int32_t zero_point, float* x);
// requantize_run_avx2 in SIMD128, whole 16-value blocks.
size_t requantize_run_wasm(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, int8_t* y);
size_t requantize_run_wasm(const int32_t* acc, size_t n, const QdqOutput& q, bool per_column, bool finite, uint8_t* y);
#endif
}  // namespace detail

}  // namespace stacklab::quant
