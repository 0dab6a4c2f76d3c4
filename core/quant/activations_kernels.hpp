// Private to core/quant: the per-ISA loops behind activation(Activation, const float*, n, float*, Isa)
// (activations.hpp). Each handles a prefix of the array and returns its length; activations.cpp runs
// the rest with the scalar functions, which every lane equals bit for bit.
#pragma once

#include <cstddef>

#include "quant/activations.hpp"

namespace stacklab::quant::detail {

// activations.cpp's constants rounded to float once, so every path multiplies by the same floats.
struct ActivationConstants {
    float inv_sqrt2, sqrt2_over_pi, gelu_tanh_cubic;
};

#if defined(__x86_64__) || defined(_M_X64)
size_t activation_avx2(Activation a, const float* x, size_t n, float* y, const ActivationConstants& c);
size_t activation_avx512(Activation a, const float* x, size_t n, float* y, const ActivationConstants& c);
#endif
#if defined(__wasm_simd128__)
size_t activation_wasm(Activation a, const float* x, size_t n, float* y, const ActivationConstants& c);
#endif

}  // namespace stacklab::quant::detail
