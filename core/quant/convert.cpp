#include "quant/convert.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "quant/formats.hpp"

namespace stacklab::quant {

namespace {

[[noreturn]] void fail(const char* fn, const std::string& what) { throw std::invalid_argument(std::string(fn) + ": " + what); }

void check_scale(const char* fn, float scale, int32_t zero_point, bool is_signed) {
    // Called once per block in the executor's fused tails: no string is built unless something is wrong.
    if (!(scale > 0.0f) || scale == __builtin_inff()) fail(fn, "scale must be finite and > 0, not " + std::to_string(scale));
    if (zero_point < qmin(is_signed) || zero_point > qmax(is_signed))
        fail(fn, "zero_point " + std::to_string(zero_point) + " is outside the storage range " +
                     std::to_string(qmin(is_signed)) + ".." + std::to_string(qmax(is_signed)));
}

void check(const char* fn, const void* in, const void* out, size_t n, float scale, int32_t zero_point, bool is_signed,
           Isa isa) {
    if (n > 0 && (in == nullptr || out == nullptr)) fail(fn, "input and output must not be null");
    check_scale(fn, scale, zero_point, is_signed);
    if (!isa_available(isa)) fail(fn, std::string("isa ") + isa_name(isa) + " is not available in this build or on this machine");
}

template <class T>
void quantize_loop(const float* x, size_t n, float scale, int32_t z, T* y) {
    const float zf = float(z), lof = float(qmin(std::is_signed_v<T>)), hif = float(qmax(std::is_signed_v<T>));
    for (size_t i = 0; i < n; ++i) {
        float v = x[i] / scale;
        v = v < -1024.0f ? -1024.0f : v;
        v = v > 1024.0f ? 1024.0f : v;
        float r = (v + 12582912.0f) - 12582912.0f;  // ties to even, |v| <= 1024
        r = r == r ? r + zf : zf;                   // NaN -> the zero point
        r = r < lof ? lof : r;
        r = r > hif ? hif : r;
        y[i] = static_cast<T>(static_cast<int32_t>(r));
    }
}

// The SIMD loop of `isa` over a prefix of whole blocks (none for the scalar ISA or in a build
// without that loop).
template <class In, class Out>
size_t simd_prefix([[maybe_unused]] Isa isa, [[maybe_unused]] const In* in, [[maybe_unused]] size_t n,
                   [[maybe_unused]] float scale, [[maybe_unused]] int32_t z, [[maybe_unused]] Out* out) {
#if defined(__x86_64__) || defined(_M_X64)
    if (isa != Isa::avx2 && isa != Isa::avx512vnni) return 0;
    if constexpr (std::is_same_v<In, float>) return detail::quantize_array_avx2(in, n, scale, z, out);
    else return detail::dequantize_array_avx2(in, n, scale, z, out);
#elif defined(__wasm_simd128__)
    if (isa != Isa::wasm_simd128) return 0;
    if constexpr (std::is_same_v<In, float>) return detail::quantize_array_wasm(in, n, scale, z, out);
    else return detail::dequantize_array_wasm(in, n, scale, z, out);
#else
    return 0;
#endif
}

// Checks the arguments, runs the SIMD prefix where the ISA has one, and the portable loop on the rest.
template <class Stored, class In, class Out, class Portable>
void convert(const char* fn, const In* in, size_t n, float scale, int32_t z, Out* out, Isa isa, Portable portable) {
    check(fn, in, out, n, scale, z, std::is_signed_v<Stored>, isa);
    const size_t done = simd_prefix(isa, in, n, scale, z, out);
    in += done, out += done, n -= done;
    portable(in, n, out);
}

template <class T>
void quantize_impl(const float* x, size_t n, float scale, int32_t z, T* y, Isa isa) {
    convert<T>("quantize_array", x, n, scale, z, y, isa, [&](const float* a, size_t m, T* b) { quantize_loop(a, m, scale, z, b); });
}

template <class T>
void dequantize_impl(const T* q, size_t n, float scale, int32_t z, float* x, Isa isa) {
    convert<T>("dequantize_array", q, n, scale, z, x, isa, [&](const T* a, size_t m, float* b) {
        for (size_t i = 0; i < m; ++i) b[i] = dequantize_value(a[i], scale, z);
    });
}

// The fused SIMD run of requantize_accumulators for `isa`, or null (the scalar ISA, or a build
// without that ISA's loop).
template <class T>
using FusedRun = size_t (*)(const int32_t*, size_t, const QdqOutput&, bool, bool, T*);

template <class T>
FusedRun<T> fused_run([[maybe_unused]] Isa isa) {
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::avx2 || isa == Isa::avx512vnni) return &detail::requantize_run_avx2;
#elif defined(__wasm_simd128__)
    if (isa == Isa::wasm_simd128) return &detail::requantize_run_wasm;
#endif
    return nullptr;
}

template <class T>
void requantize_impl(const int32_t* acc, size_t rows, size_t cols, size_t acc_stride, const QdqOutput& q, T* y,
                     std::vector<float>& scratch, Isa isa) {
    const char* fn = "requantize_accumulators";
    check_qdq_output(fn, q, std::is_signed_v<T>);
    if (!isa_available(isa)) fail(fn, std::string("isa ") + isa_name(isa) + " is not available in this build or on this machine");
    if (rows == 0 || cols == 0) return;
    if (acc == nullptr || y == nullptr) fail(fn, "input and output must not be null");
    if (acc_stride < cols) fail(fn, "the accumulator row stride " + std::to_string(acc_stride) + " is below the " +
                                        std::to_string(cols) + " columns");
    const auto run = fused_run<T>(isa);
    if (run && ((cols == 1 && acc_stride == 1) || cols >= 16)) {
        // The SIMD ISAs: the whole map in registers, along one contiguous run at a time (a single
        // channel's contiguous run, or each row along its columns). The last partial block of a
        // run goes through the same SIMD loop in a zero-padded block of 16 (lanes are independent,
        // so its values are the same). Strided single channels and short rows take the chunked
        // path below, whose SIMD loops run over whole chunks. Finite multipliers and biases give
        // no NaN, so the SIMD loop can skip its NaN select.
        const size_t used = cols == 1 ? 1 : cols;
        bool finite = true;
        for (size_t j = 0; j < used; ++j) finite = finite && std::isfinite(q.multiplier[j]) && std::isfinite(q.bias[j]);
        auto tail = [&](const int32_t* a, size_t from, size_t n, bool per_column, T* out) {
            if (from == n) return;
            constexpr size_t kBlock = 16;  // a whole number of blocks for every SIMD run
            const size_t left = n - from;  // below kBlock
            int32_t ab[kBlock] = {};
            float mb[kBlock], bb[kBlock];
            T yb[kBlock];
            std::copy(a + from, a + n, ab);
            QdqOutput qt = q;
            if (per_column) {
                std::fill(mb, mb + kBlock, 1.0f);
                std::fill(bb, bb + kBlock, 0.0f);
                std::copy(q.multiplier + from, q.multiplier + n, mb);
                std::copy(q.bias + from, q.bias + n, bb);
                qt.multiplier = mb;
                qt.bias = bb;
            }
            run(ab, kBlock, qt, per_column, finite, yb);
            std::copy(yb, yb + left, out + from);
        };
        if (cols == 1 && acc_stride == 1) {
            tail(acc, run(acc, rows, q, false, finite, y), rows, false, y);
            return;
        }
        for (size_t r = 0; r < rows; ++r) {
            const int32_t* a = acc + r * acc_stride;
            tail(a, run(a, cols, q, true, finite, y + r * cols), cols, true, y + r * cols);
        }
        return;
    }
    // The float map into a scratch chunk, then quantize_array on it.
    // About 4096 values per quantize_array call: short calls (a row of 16 or 32 values) left the
    // division's latency exposed on every call; a chunk this size stays in L1.
    const size_t rows_per_chunk = std::max<size_t>(1, 4096 / cols);
    const size_t chunk = std::min(rows, rows_per_chunk) * cols;
    if (scratch.size() < chunk) scratch.resize(chunk);
    for (size_t r0 = 0; r0 < rows; r0 += rows_per_chunk) {
        const size_t nr = std::min(rows_per_chunk, rows - r0);
        dequantize_accumulators(acc + r0 * acc_stride, nr, cols, acc_stride, q.multiplier, q.bias, q.relu, scratch.data());
        quantize_array(scratch.data(), nr * cols, q.scale, q.zero_point, y + r0 * cols, isa);
    }
}

}  // namespace

void check_qdq_output(const char* fn, const QdqOutput& q, bool is_signed) {
    if (!q.multiplier || !q.bias) fail(fn, "the output stage needs a multiplier and a bias per column");
    check_scale(fn, q.scale, q.zero_point, is_signed);
}

void dequantize_accumulators(const int32_t* acc, size_t rows, size_t cols, size_t acc_stride, const float* multiplier,
                             const float* bias, bool relu, float* out) {
    if (cols == 1) {  // one channel's run (NCHW): the loop runs along the rows
        const float m = multiplier[0], b = bias[0];
        auto run = [&](size_t stride) {
            for (size_t r = 0; r < rows; ++r) {
                const float v = float(acc[r * stride]) * m + b;
                out[r] = relu && v < 0.0f ? 0.0f : v;
            }
        };
        // A contiguous run (the direct convolutions' blocks) with the stride a constant, so that the
        // loop vectorizes: with a run-time stride it stayed scalar, a tenth of the int8 CNN.
        if (acc_stride == 1) run(1);
        else run(acc_stride);
        return;
    }
    for (size_t r = 0; r < rows; ++r) {
        const int32_t* ar = acc + r * acc_stride;
        float* o = out + r * cols;
        for (size_t j = 0; j < cols; ++j) {
            const float v = float(ar[j]) * multiplier[j] + bias[j];
            o[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}

void requantize_accumulators(const int32_t* acc, size_t rows, size_t cols, size_t acc_stride, const QdqOutput& q,
                             int8_t* y, std::vector<float>& scratch, Isa isa) {
    requantize_impl(acc, rows, cols, acc_stride, q, y, scratch, isa);
}
void requantize_accumulators(const int32_t* acc, size_t rows, size_t cols, size_t acc_stride, const QdqOutput& q,
                             uint8_t* y, std::vector<float>& scratch, Isa isa) {
    requantize_impl(acc, rows, cols, acc_stride, q, y, scratch, isa);
}

void quantize_array(const float* x, size_t n, float scale, int32_t zero_point, int8_t* y, Isa isa) {
    quantize_impl(x, n, scale, zero_point, y, isa);
}
void quantize_array(const float* x, size_t n, float scale, int32_t zero_point, uint8_t* y, Isa isa) {
    quantize_impl(x, n, scale, zero_point, y, isa);
}
void dequantize_array(const int8_t* q, size_t n, float scale, int32_t zero_point, float* x, Isa isa) {
    dequantize_impl(q, n, scale, zero_point, x, isa);
}
void dequantize_array(const uint8_t* q, size_t n, float scale, int32_t zero_point, float* x, Isa isa) {
    dequantize_impl(q, n, scale, zero_point, x, isa);
}

}  // namespace stacklab::quant
