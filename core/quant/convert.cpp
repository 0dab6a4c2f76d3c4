#include "quant/convert.hpp"

#include <stdexcept>
#include <string>
#include <type_traits>

#include "quant/formats.hpp"

namespace stacklab::quant {

namespace {

void check(const char* fn, const void* in, const void* out, size_t n, float scale, int32_t zero_point, bool is_signed,
           Isa isa) {
    // Called once per row in the executor's fused tails: no string is built unless something is wrong.
    auto fail = [fn](const std::string& what) { throw std::invalid_argument(std::string(fn) + ": " + what); };
    if (n > 0 && (in == nullptr || out == nullptr)) fail("input and output must not be null");
    if (!(scale > 0.0f) || scale == __builtin_inff()) fail("scale must be finite and > 0, not " + std::to_string(scale));
    if (zero_point < qmin(is_signed) || zero_point > qmax(is_signed))
        fail("zero_point " + std::to_string(zero_point) + " is outside the storage range");
    if (!isa_available(isa)) fail(std::string("isa ") + isa_name(isa) + " is not available in this build or on this machine");
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

}  // namespace

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
