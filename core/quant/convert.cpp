#include "quant/convert.hpp"

#include <stdexcept>
#include <string>
#include <type_traits>

#include "quant/formats.hpp"

namespace stacklab::quant {

namespace {

void check(const char* fn, const void* in, const void* out, size_t n, float scale, int32_t zero_point, bool is_signed,
           Isa isa) {
    const std::string f = fn;
    if (n > 0 && (in == nullptr || out == nullptr)) throw std::invalid_argument(f + ": input and output must not be null");
    if (!(scale > 0.0f) || scale == __builtin_inff())
        throw std::invalid_argument(f + ": scale must be finite and > 0, not " + std::to_string(scale));
    if (zero_point < qmin(is_signed) || zero_point > qmax(is_signed))
        throw std::invalid_argument(f + ": zero_point " + std::to_string(zero_point) + " is outside the storage range");
    if (!isa_available(isa)) throw std::invalid_argument(f + ": isa " + isa_name(isa) + " is not available in this build or on this machine");
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

template <class T>
void quantize_impl(const float* x, size_t n, float scale, int32_t z, T* y, Isa isa) {
    check("quantize_array", x, y, n, scale, z, std::is_signed_v<T>, isa);
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::avx2 || isa == Isa::avx512vnni) {
        const size_t done = detail::quantize_array_avx2(x, n, scale, z, y);
        x += done, y += done, n -= done;
    }
#endif
    quantize_loop(x, n, scale, z, y);
}

template <class T>
void dequantize_impl(const T* q, size_t n, float scale, int32_t z, float* x, Isa isa) {
    check("dequantize_array", q, x, n, scale, z, std::is_signed_v<T>, isa);
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::avx2 || isa == Isa::avx512vnni) {
        const size_t done = detail::dequantize_array_avx2(q, n, scale, z, x);
        q += done, x += done, n -= done;
    }
#endif
    for (size_t i = 0; i < n; ++i) x[i] = dequantize_value(q[i], scale, z);
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
