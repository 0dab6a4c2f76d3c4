// conv_kernels.hpp's direct_plane loop compiled for AVX-512 (this file gets -mavx512f/bw/vl...).
#include "quant/conv_kernels.hpp"

namespace stacklab::quant::detail {

void direct_taps4_avx512(int32_t* acc, const int16_t* const* x, const int16_t* w, size_t n) {
    direct_taps4_body(acc, x, w, n);
}

}  // namespace stacklab::quant::detail
