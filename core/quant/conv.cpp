#include "quant/conv.hpp"

#include "quant/conv_kernels.hpp"
#include "quant/convert.hpp"
#include "quant/transpose.hpp"

#include "quant/gemm_f32.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <cfloat>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace stacklab::quant {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument(message); }

std::string str(int64_t v) { return std::to_string(v); }

// Dimensions, strides, dilations and pads are at most 2^24, so window arithmetic on int64 cannot
// overflow and out_h / out_w fit an int.
constexpr int kMaxDim = 1 << 24;

void check_range(const char* fn, const char* name, int v, int lo) {
    if (v < lo || v > kMaxDim)
        fail(std::string(fn) + ": " + name + " is " + str(v) + " (expected " + str(lo) + " to " + str(kMaxDim) + ")");
}

// Element counts are addressed with size_t (32 bits in wasm) and byte offsets up to 4 bytes each.
size_t checked_count(const char* fn, const char* what, std::initializer_list<int> dims) {
    const uint64_t limit = uint64_t(std::numeric_limits<ptrdiff_t>::max()) / 4;
    uint64_t n = 1;
    for (int d : dims) {
        if (n > limit / uint64_t(d))
            fail(std::string(fn) + ": " + what + " would have more than " + std::to_string(limit) + " elements");
        n *= uint64_t(d);
    }
    return size_t(n);
}

// Output size along one axis (explicit pads); eff is the dilated kernel size.
struct Axis {
    int64_t eff = 0, padded = 0, out = 0;
};
Axis axis_size(int in, int k, int stride, int dil, int pad_begin, int pad_end, bool ceil_mode) {
    Axis a;
    a.eff = int64_t(k - 1) * dil + 1;
    a.padded = int64_t(in) + pad_begin + pad_end;
    const int64_t span = a.padded - a.eff;
    if (span < 0) return a;  // out = 0 marks "does not fit"; the caller words the error
    a.out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    // ceil_mode must not start a window in the end padding (ONNX MaxPool note, PyTorch).
    if (ceil_mode && (a.out - 1) * stride >= int64_t(in) + pad_begin) --a.out;
    return a;
}

std::string dims2(int64_t h, int64_t w) { return str(h) + "x" + str(w); }

// Convolution and pooling share the rule and the message: the dilated kernel must fit the padded input.
void require_window_fits(const char* op, int kernel_h, int kernel_w, int dilation_h, int dilation_w, const Axis& ah,
                         const Axis& aw) {
    if (ah.out != 0 && aw.out != 0) return;
    const std::string dil = dilation_h == dilation_w ? str(dilation_h) : dims2(dilation_h, dilation_w);
    fail(std::string(op) + ": kernel " + dims2(kernel_h, kernel_w) + " with dilation " + dil + " (spanning " +
         dims2(ah.eff, aw.eff) + ") does not fit padded input " + dims2(ah.padded, aw.padded));
}

int32_t sat_i32(int64_t v) {
    return int32_t(std::min<int64_t>(std::max<int64_t>(v, INT32_MIN), INT32_MAX));
}

template <class T>
constexpr const char* type_name() {
    return std::is_same_v<T, uint8_t> ? "uint8" : "int8";
}

// ---------------------------------------------------------------------------------------------
// Argument checks shared by the int8 reference and fast paths.

void check_pointers(const char* fn, const void* x, const void* w, const void* y) {
    if (!x) fail(std::string(fn) + ": x is null");
    if (!w) fail(std::string(fn) + ": w is null");
    if (!y) fail(std::string(fn) + ": y is null");
}

template <class XT>
void check_x_zp(const char* fn, int32_t x_zp) {
    if (x_zp < int32_t(std::numeric_limits<XT>::min()) || x_zp > int32_t(std::numeric_limits<XT>::max()))
        fail(std::string(fn) + ": x_zp " + str(x_zp) + " is outside the range of " + type_name<XT>() + " x");
}

void check_w_zp(const char* fn, const std::vector<int32_t>& w_zp, int out_channels) {
    if (w_zp.size() != 1 && w_zp.size() != size_t(out_channels))
        fail(std::string(fn) + ": w_zp has " + str(int64_t(w_zp.size())) + " values, expected 1 or out_channels = " +
             str(out_channels));
    for (size_t i = 0; i < w_zp.size(); ++i)
        if (w_zp[i] < -128 || w_zp[i] > 127)
            fail(std::string(fn) + ": w_zp[" + str(int64_t(i)) + "] = " + str(w_zp[i]) + " is outside int8");
}

void check_k(const char* fn, const Conv2DShape& s) {
    if (s.gemm_k() > kMaxGemmK)
        fail(std::string(fn) + ": in_channels / groups * kernel_h * kernel_w = " + str(s.gemm_k()) + " exceeds " +
             str(kMaxGemmK) + " (int32 sums would overflow)");
}

template <class YT>
void check_requant(const char* fn, const std::vector<RequantParams>& rq, int out_channels) {
    if (rq.size() != 1 && rq.size() != size_t(out_channels))
        fail(std::string(fn) + ": requant has " + str(int64_t(rq.size())) + " entries, expected 1 or out_channels = " +
             str(out_channels));
    const bool want_signed = std::is_same_v<YT, int8_t>;
    for (size_t i = 0; i < rq.size(); ++i) {
        if (rq[i].is_signed != want_signed)
            fail(std::string(fn) + ": requant[" + str(int64_t(i)) + "].is_signed is " + (rq[i].is_signed ? "true" : "false") +
                 " but y is " + type_name<YT>());
        if (rq[i].zero_point < qmin(want_signed) || rq[i].zero_point > qmax(want_signed))
            fail(std::string(fn) + ": requant[" + str(int64_t(i)) + "].zero_point " + str(rq[i].zero_point) +
                 " is outside " + type_name<YT>());
    }
}

// The two output stages: ConvInteger's int32 (+ bias, saturated) and QLinearConv's requantization.
struct S32Stage {
    const int32_t* bias;
    int32_t* y;
    void operator()(size_t i, int o, int64_t acc) const { y[i] = sat_i32(acc + (bias ? bias[o] : 0)); }
};

template <class YT>
struct RequantStage {
    const int32_t* bias;
    const std::vector<RequantParams>* rq;
    bool relu;
    YT* y;
    void operator()(size_t i, int o, int64_t acc) const {
        const RequantParams& p = (*rq)[rq->size() > 1 ? size_t(o) : 0];
        y[i] = YT(requantize(int32_t(acc), bias ? bias[o] : 0, p, relu));
    }
};

// ---------------------------------------------------------------------------------------------
// int8 reference: the definition, one output at a time.

template <class XT, class Stage>
void conv_int_ref(const char* fn, const Conv2DShape& s, const XT* x, int32_t x_zp, const int8_t* w,
                  const std::vector<int32_t>& w_zp, const Stage& stage) {
    check_x_zp<XT>(fn, x_zp);
    check_w_zp(fn, w_zp, s.out_channels);
    check_k(fn, s);
    const Conv2DAttrs& a = s.attrs;
    const int Cg = s.in_per_group(), Og = s.out_per_group();
    size_t i = 0;
    for (int n = 0; n < s.batch; ++n)
        for (int o = 0; o < s.out_channels; ++o) {
            const int g = o / Og;
            const int64_t zw = w_zp[w_zp.size() > 1 ? size_t(o) : 0];
            for (int oy = 0; oy < s.out_h; ++oy)
                for (int ox = 0; ox < s.out_w; ++ox) {
                    int64_t acc = 0;
                    for (int c = 0; c < Cg; ++c)
                        for (int kh = 0; kh < s.kernel_h; ++kh)
                            for (int kw = 0; kw < s.kernel_w; ++kw) {
                                const int64_t ih = int64_t(oy) * a.stride_h - a.pad_top + int64_t(kh) * a.dilation_h;
                                const int64_t iw = int64_t(ox) * a.stride_w - a.pad_left + int64_t(kw) * a.dilation_w;
                                const bool inside = ih >= 0 && ih < s.in_h && iw >= 0 && iw < s.in_w;
                                const int64_t xv =
                                    inside ? int64_t(x[((size_t(n) * size_t(s.in_channels) + size_t(g * Cg + c)) *
                                                            size_t(s.in_h) + size_t(ih)) * size_t(s.in_w) + size_t(iw)])
                                           : int64_t(x_zp);  // ONNX: padding reads x_zero_point
                                const int64_t wv =
                                    w[((size_t(o) * size_t(Cg) + size_t(c)) * size_t(s.kernel_h) + size_t(kh)) *
                                          size_t(s.kernel_w) + size_t(kw)];
                                acc += (xv - x_zp) * (wv - zw);
                            }
                    if (acc > INT32_MAX || acc < INT32_MIN) throw std::overflow_error(std::string(fn) + ": int32 overflow");
                    stage(i++, o, acc);
                }
        }
}

// ---------------------------------------------------------------------------------------------
// int8 fast paths. Both hand blocks of int32 accumulators to
// `emit(n, o0, count, p0, rows, acc, stride)`: output channels o0 .. o0 + count - 1 and output
// pixels p0 .. p0 + rows - 1 of image n, the accumulator of pixel p0 + r, channel o0 + j at
// acc[r * stride + j].

void check_packed(const char* fn, const Conv2DShape& s, const PackedConv& pw) {
    if (pw.out_channels != s.out_channels || pw.in_per_group != s.in_per_group() || pw.kernel_h != s.kernel_h ||
        pw.kernel_w != s.kernel_w || pw.groups != s.attrs.groups)
        fail(std::string(fn) + ": the packed weights are for out_channels " + str(pw.out_channels) + ", in_channels / groups " +
             str(pw.in_per_group) + ", kernel " + dims2(pw.kernel_h, pw.kernel_w) + ", groups " + str(pw.groups) +
             "; the shape has " + str(s.out_channels) + ", " + str(s.in_per_group()) + ", " +
             dims2(s.kernel_h, s.kernel_w) + ", " + str(s.attrs.groups));
}

// Row r of the im2col matrix for output pixel (oy, ox), columns (c, kh, kw) in OIHW order, from the
// group's NCHW input xg; padding reads x_zp.
template <class XT>
void im2col_row_chw(const Conv2DShape& s, const XT* xg, int32_t x_zp, int oy, int ox, XT* row) {
    const Conv2DAttrs& a = s.attrs;
    const size_t plane = size_t(s.in_h) * size_t(s.in_w);
    const int iw0 = ox * a.stride_w - a.pad_left;
    // The window's columns all inside the input (most pixels): no test per tap.
    const bool cols_in = iw0 >= 0 && iw0 + (s.kernel_w - 1) * a.dilation_w < s.in_w;
    for (int c = 0; c < s.in_per_group(); ++c) {
        const XT* xc = xg + size_t(c) * plane;
        for (int kh = 0; kh < s.kernel_h; ++kh) {
            const int ih = oy * a.stride_h - a.pad_top + kh * a.dilation_h;
            const bool row_in = ih >= 0 && ih < s.in_h;
            if (row_in && cols_in) {
                const XT* xr = xc + size_t(ih) * size_t(s.in_w) + size_t(iw0);
                if (a.dilation_w == 1 && s.kernel_w == 3) {  // the common kernel: a fixed-size copy
                    std::memcpy(row, xr, 3 * sizeof(XT));
                    row += 3;
                    continue;
                }
                for (int kw = 0; kw < s.kernel_w; ++kw) *row++ = xr[size_t(kw) * size_t(a.dilation_w)];
                continue;
            }
            for (int kw = 0; kw < s.kernel_w; ++kw) {
                const int iw = iw0 + kw * a.dilation_w;
                *row++ = (row_in && iw >= 0 && iw < s.in_w) ? xc[size_t(ih) * size_t(s.in_w) + size_t(iw)] : XT(x_zp);
            }
        }
    }
}

// The same row with columns (kh, kw, c) (PackedConv::channels_last), from the group's input copied
// channels-last (xt[(ih * in_w + iw) * channels + c]): a kernel row inside the input is one copy.
template <class XT>
void im2col_row_hwc(const Conv2DShape& s, const XT* xt, int32_t x_zp, int oy, int ox, XT* row) {
    const Conv2DAttrs& a = s.attrs;
    const size_t Cg = size_t(s.in_per_group());
    const int iw0 = ox * a.stride_w - a.pad_left;
    const bool cols_in = iw0 >= 0 && iw0 + (s.kernel_w - 1) * a.dilation_w < s.in_w;
    for (int kh = 0; kh < s.kernel_h; ++kh) {
        const int ih = oy * a.stride_h - a.pad_top + kh * a.dilation_h;
        const bool row_in = ih >= 0 && ih < s.in_h;
        const XT* xr = xt + size_t(row_in ? ih : 0) * size_t(s.in_w) * Cg;
        if (row_in && cols_in && a.dilation_w == 1) {  // kernel_w adjacent pixels
            std::memcpy(row, xr + size_t(iw0) * Cg, size_t(s.kernel_w) * Cg * sizeof(XT));
            row += size_t(s.kernel_w) * Cg;
            continue;
        }
        for (int kw = 0; kw < s.kernel_w; ++kw, row += Cg) {
            const int iw = iw0 + kw * a.dilation_w;
            if (row_in && iw >= 0 && iw < s.in_w) std::memcpy(row, xr + size_t(iw) * Cg, Cg * sizeof(XT));
            else std::fill_n(row, Cg, XT(x_zp));
        }
    }
}

template <class XT, class Emit>
void conv_int_im2col(const Conv2DShape& s, const XT* x, int32_t x_zp, const PackedConv& pw, Emit emit) {
    const int Cg = s.in_per_group(), Og = s.out_per_group(), K = s.gemm_k();
    const int P = s.out_h * s.out_w;
    const int block = std::min(P, kIm2colRows);
    std::vector<XT> cols(size_t(block) * size_t(K));
    std::vector<int32_t> acc(size_t(block) * size_t(Og));
    const size_t plane = size_t(s.in_h) * size_t(s.in_w);
    std::vector<XT> xt(pw.channels_last ? plane * size_t(Cg) : 0);  // the group's input, channels-last
    for (int n = 0; n < s.batch; ++n)
        for (int g = 0; g < s.attrs.groups; ++g) {
            const XT* xg = x + (size_t(n) * size_t(s.in_channels) + size_t(g) * size_t(Cg)) * plane;
            if (pw.channels_last)  // [Cg, plane] -> [plane, Cg]
                transpose_bytes(reinterpret_cast<const uint8_t*>(xg), size_t(Cg), plane, plane,
                                reinterpret_cast<uint8_t*>(xt.data()), size_t(Cg));
            for (int p0 = 0; p0 < P; p0 += block) {
                const int rows = std::min(block, P - p0);
                for (int r = 0; r < rows; ++r) {
                    const int oy = (p0 + r) / s.out_w, ox = (p0 + r) % s.out_w;
                    XT* row = cols.data() + size_t(r) * size_t(K);
                    if (pw.channels_last) im2col_row_hwc(s, xt.data(), x_zp, oy, ox, row);
                    else im2col_row_chw(s, xg, x_zp, oy, ox, row);
                }
                if constexpr (std::is_same_v<XT, uint8_t>)
                    gemm_u8s8_s32(cols.data(), rows, K, x_zp, pw.per_group[size_t(g)], acc.data(), Og);
                else
                    gemm_s8s8_s32(cols.data(), rows, K, x_zp, pw.per_group[size_t(g)], acc.data(), Og);
                emit(n, g * Og, Og, p0, rows, acc.data(), size_t(Og));
            }
        }
}

// Depthwise: each output channel o reads input channel o / multiplier only. For each kernel tap
// the valid output columns form one interval, so the inner loop adds a contiguous row with no
// bounds tests (taps in the padding contribute (x_zp - x_zp) * w = 0 and are skipped).
template <class XT, class Emit>
void conv_int_depthwise(const Conv2DShape& s, const XT* x, int32_t x_zp, const PackedConv& pw, Emit emit) {
    const Conv2DAttrs& a = s.attrs;
    const int mult = s.out_per_group(), KK = s.kernel_h * s.kernel_w;
    const int P = s.out_h * s.out_w;
    std::vector<int32_t> acc(static_cast<size_t>(P));
    std::vector<int> lo(size_t(s.kernel_w)), hi(size_t(s.kernel_w));
    for (int kw = 0; kw < s.kernel_w; ++kw) {
        // ox valid iff 0 <= ox * stride_w - pad_left + kw * dilation_w < in_w.
        const int64_t off = int64_t(kw) * a.dilation_w - a.pad_left;
        int64_t l = off >= 0 ? 0 : (-off + a.stride_w - 1) / a.stride_w;
        int64_t h = s.in_w - 1 - off < 0 ? 0 : (s.in_w - 1 - off) / a.stride_w + 1;
        l = std::min<int64_t>(l, s.out_w);
        h = std::min<int64_t>(h, s.out_w);
        lo[size_t(kw)] = int(l);
        hi[size_t(kw)] = int(std::max(l, h));
    }
    const size_t plane = size_t(s.in_h) * size_t(s.in_w);
    for (int n = 0; n < s.batch; ++n)
        for (int o = 0; o < s.out_channels; ++o) {
            const XT* xc = x + (size_t(n) * size_t(s.in_channels) + size_t(o / mult)) * plane;
            std::fill(acc.begin(), acc.end(), 0);
            const int16_t* wo = pw.direct.data() + size_t(o) * size_t(KK);
            for (int kh = 0; kh < s.kernel_h; ++kh)
                for (int kw = 0; kw < s.kernel_w; ++kw) {
                    const int32_t wv = wo[kh * s.kernel_w + kw];
                    if (wv == 0) continue;
                    const int l = lo[size_t(kw)], h = hi[size_t(kw)];
                    for (int oy = 0; oy < s.out_h; ++oy) {
                        const int ih = oy * a.stride_h - a.pad_top + kh * a.dilation_h;
                        if (ih < 0 || ih >= s.in_h) continue;
                        const XT* xr = xc + size_t(ih) * size_t(s.in_w);
                        int32_t* ar = acc.data() + size_t(oy) * size_t(s.out_w);
                        const int off = kw * a.dilation_w - a.pad_left;
                        if (a.stride_w == 1) {
                            const XT* xs = xr + (l + off);  // input column of output column l
                            int32_t* as = ar + l;
                            for (int t = 0; t < h - l; ++t) as[t] += wv * (int32_t(xs[t]) - x_zp);
                        } else {
                            for (int ox = l; ox < h; ++ox) ar[ox] += wv * (int32_t(xr[ox * a.stride_w + off]) - x_zp);
                        }
                    }
                }
            emit(n, o, 1, 0, P, acc.data(), size_t(1));
        }
}

// Few input channels per group (a grey or colour image's first layer, a depthwise layer): the GEMM's
// K is tiny (9 for one channel and a 3x3 kernel), so im2col spends its time on copies of a few bytes
// per output pixel and the GEMM on padding K. Instead each group's input is copied once per image
// as (x - x_zp) in int16 into a zero-bordered plane of width Wp = in_w + pads (a padding tap then
// adds (x_zp - x_zp) * w = 0, as the reference's), where tap (c, kh, kw) of the output pixel whose
// window starts at flat position q reads q + c * plane + kh * dilation_h * Wp + kw * dilation_w: a
// fixed offset. So one output channel's accumulators are a 1-D correlation over one long run: with
// stride 1 a block of output rows at once (the Wp - out_w positions between rows are computed and
// dropped), else one output row at a time over (out_w - 1) * stride_w + 1 positions of which every
// stride_w-th is kept. The run (conv_kernels.hpp, one loop per instruction set) takes horizontally
// neighbouring taps in pairs, as the 16-bit pairs of a multiply-add instruction, and keeps each block
// of positions' sums in registers over all taps, writing them once. Exact integer arithmetic: equal
// to the reference by construction (and the property tests check it on every instruction set).
template <class XT, class Emit>
void conv_int_direct_plane(const Conv2DShape& s, const XT* x, int32_t x_zp, const PackedConv& pw, Emit emit) {
    const Conv2DAttrs& a = s.attrs;
    const int Cg = s.in_per_group(), Og = s.out_per_group(), K = s.gemm_k();
    const size_t Wp = size_t(s.in_w) + size_t(a.pad_left) + size_t(a.pad_right);
    const size_t Hp = size_t(s.in_h) + size_t(a.pad_top) + size_t(a.pad_bottom);
    const size_t pplane = Hp * Wp, plane = size_t(s.in_h) * size_t(s.in_w);
    const size_t out_w = size_t(s.out_w), sw = size_t(a.stride_w);
    // The borders stay 0; so does the tail the SIMD blocks read past the last tap (kDirectPad).
    std::vector<int16_t> xs(size_t(Cg) * pplane + detail::kDirectPad, 0);
    // Output rows per block: about kDirectBlock accumulators (so they stay in L1) with stride 1.
    const int rows_per_block = a.stride_h == 1 ? std::max(1, int(size_t(kDirectBlock) / Wp)) : 1;
    std::vector<int32_t> acc(size_t(std::min(rows_per_block, s.out_h)) * Wp + detail::kDirectPad);
    // The taps in pairs of horizontal neighbours (kw, kw + 1) where dilation_w is 1, a lone tap
    // with a second weight of 0 otherwise; each output channel's weights packed per pair.
    std::vector<size_t> off;
    std::vector<std::array<int, 2>> taps;  // the taps (index into the channel's K weights, or -1) of each pair
    for (int c = 0; c < Cg; ++c)
        for (int kh = 0; kh < s.kernel_h; ++kh)
            for (int kw = 0; kw < s.kernel_w;) {
                const int k = (c * s.kernel_h + kh) * s.kernel_w + kw;
                const bool pair = a.dilation_w == 1 && kw + 1 < s.kernel_w;
                off.push_back(size_t(c) * pplane + size_t(kh) * size_t(a.dilation_h) * Wp + size_t(kw) * size_t(a.dilation_w));
                taps.push_back({k, pair ? k + 1 : -1});
                kw += pair ? 2 : 1;
            }
    const size_t pairs = off.size();
    std::vector<int32_t> wpair(size_t(s.out_channels) * pairs);
    for (int o = 0; o < s.out_channels; ++o)
        for (size_t t = 0; t < pairs; ++t) {
            const int16_t* wo = pw.direct.data() + size_t(o) * size_t(K);
            const uint32_t w0 = uint16_t(wo[taps[t][0]]), w1 = taps[t][1] >= 0 ? uint16_t(wo[taps[t][1]]) : 0u;
            wpair[size_t(o) * pairs + t] = int32_t(w0 | (w1 << 16));
        }
    auto run = detail::direct_pairs_body;
#if defined(__x86_64__) || defined(_M_X64)
    if (pw.isa == Isa::avx512vnni) run = detail::direct_pairs_avx512;
    else if (pw.isa == Isa::avx2) run = detail::direct_pairs_avx2;
#elif defined(__wasm_simd128__)
    if (pw.isa == Isa::wasm_simd128) run = detail::direct_pairs_wasm;
#endif
    for (int n = 0; n < s.batch; ++n)
        for (int g = 0; g < a.groups; ++g) {
            const XT* xg = x + (size_t(n) * size_t(s.in_channels) + size_t(g) * size_t(Cg)) * plane;
            for (int c = 0; c < Cg; ++c)
                for (int ih = 0; ih < s.in_h; ++ih) {
                    const XT* src = xg + size_t(c) * plane + size_t(ih) * size_t(s.in_w);
                    int16_t* dst = xs.data() + size_t(c) * pplane + (size_t(ih) + size_t(a.pad_top)) * Wp + size_t(a.pad_left);
                    for (int iw = 0; iw < s.in_w; ++iw) dst[iw] = int16_t(int32_t(src[iw]) - x_zp);
                }
            for (int oy0 = 0; oy0 < s.out_h; oy0 += rows_per_block) {
                const int rows = std::min(rows_per_block, s.out_h - oy0);
                const size_t len = size_t(rows - 1) * Wp + (out_w - 1) * sw + 1;
                const size_t base = size_t(oy0) * size_t(a.stride_h) * Wp;
                for (int j = 0; j < Og; ++j) {
                    const int o = g * Og + j;
                    int32_t* ac = acc.data();
                    run(ac, xs.data() + base, off.data(), wpair.data() + size_t(o) * pairs, pairs, len);
                    // The kept positions made contiguous, in place (each moves to a lower or the same
                    // index), and emitted as one block of rows * out_w pixels.
                    if (sw == 1) {
                        for (int r = 1; r < rows; ++r)
                            std::memmove(ac + size_t(r) * out_w, ac + size_t(r) * Wp, out_w * sizeof(int32_t));
                    } else {
                        for (size_t r = 0; r < size_t(rows); ++r)
                            for (size_t ox = 0; ox < out_w; ++ox) ac[r * out_w + ox] = ac[r * Wp + ox * sw];
                    }
                    emit(n, o, 1, oy0 * s.out_w, rows * s.out_w, ac, size_t(1));
                }
            }
        }
}

// The checks and the algorithm, with `emit(n, o0, count, p0, rows, acc, stride)` receiving blocks of
// accumulators: channels o0 .. o0 + count - 1 of image n's output pixels p0 .. p0 + rows - 1,
// acc[r * stride + j] for channel o0 + j.
template <class XT, class Emit>
void conv_int_blocks(const char* fn, const Conv2DShape& s, const XT* x, int32_t x_zp, const PackedConv& pw, Emit emit) {
    check_x_zp<XT>(fn, x_zp);
    check_k(fn, s);
    check_packed(fn, s, pw);
    if (pw.algo == ConvAlgo::depthwise_direct)
        conv_int_depthwise(s, x, x_zp, pw, emit);
    else if (pw.algo == ConvAlgo::direct_plane)
        conv_int_direct_plane(s, x, x_zp, pw, emit);
    else
        conv_int_im2col(s, x, x_zp, pw, emit);
}

template <class XT, class Stage>
void conv_int_fast(const char* fn, const Conv2DShape& s, const XT* x, int32_t x_zp, const PackedConv& pw,
                   const Stage& stage) {
    const size_t P = size_t(s.out_h) * size_t(s.out_w);
    // The block into NCHW, one stage call per value: a transpose, done 16 pixels at a time so that
    // the accumulator rows being read stay in L1 while each channel gets a contiguous run of 16
    // writes. (One channel over all the block's pixels read a 64 KiB block at a 256-byte stride
    // per channel: a quarter of the int8 CNN's convolution time; a version that wrote 16 channels
    // per accumulator row measured slower still.)
    auto emit = [&](int n, int o0, int count, int p0, int rows, const int32_t* acc, size_t stride) {
        const size_t base = (size_t(n) * size_t(s.out_channels) + size_t(o0)) * P + size_t(p0);
        constexpr int kRun = 16;
        for (int r0 = 0; r0 < rows; r0 += kRun) {
            const int r1 = std::min(rows, r0 + kRun);
            for (int j = 0; j < count; ++j)
                for (int r = r0; r < r1; ++r)
                    stage(base + size_t(j) * P + size_t(r), o0 + j, acc[size_t(r) * stride + size_t(j)]);
        }
    };
    conv_int_blocks(fn, s, x, x_zp, pw, emit);
}

// conv2d_quantize's output stage on whole blocks: requantize_accumulators in the block's own order
// (pixel-major, channels contiguous: the float map vectorizes along the channels), then the bytes
// into NCHW. A single channel's run is contiguous in NCHW already and is quantized in place.
template <class XT, class YT>
void conv_quantize_impl(const char* fn, const Conv2DShape& s, const XT* x, int32_t x_zp, const PackedConv& pw,
                        const QdqOutput& q, YT* y) {
    check_qdq_output(fn, q, std::is_signed_v<YT>);  // before any work
    const size_t P = size_t(s.out_h) * size_t(s.out_w);
    std::vector<float> scratch;
    std::vector<YT> qb;
    auto emit = [&](int n, int o0, int count, int p0, int rows, const int32_t* acc, size_t stride) {
        YT* out = y + (size_t(n) * size_t(s.out_channels) + size_t(o0)) * P + size_t(p0);
        QdqOutput qo = q;
        qo.multiplier += o0;
        qo.bias += o0;
        if (count == 1) {
            requantize_accumulators(acc, size_t(rows), 1, stride, qo, out, scratch);
            return;
        }
        const size_t total = size_t(rows) * size_t(count);
        if (qb.size() < total) qb.resize(total);
        requantize_accumulators(acc, size_t(rows), size_t(count), stride, qo, qb.data(), scratch);
        // [rows, count] -> channel j's run of rows at out + j * P.
        transpose_bytes(reinterpret_cast<const uint8_t*>(qb.data()), size_t(rows), size_t(count), size_t(count),
                        reinterpret_cast<uint8_t*>(out), P);
    };
    conv_int_blocks(fn, s, x, x_zp, pw, emit);
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// Shapes.

size_t Conv2DShape::x_size() const { return size_t(batch) * size_t(in_channels) * size_t(in_h) * size_t(in_w); }
size_t Conv2DShape::w_size() const { return size_t(out_channels) * size_t(gemm_k()); }
size_t Conv2DShape::y_size() const { return size_t(batch) * size_t(out_channels) * size_t(out_h) * size_t(out_w); }

Conv2DShape conv2d_shape(int batch, int in_channels, int in_h, int in_w, int out_channels, int weight_in_channels,
                         int kernel_h, int kernel_w, const Conv2DAttrs& at) {
    const char* fn = "conv2d";
    check_range(fn, "batch", batch, 1);
    check_range(fn, "in_channels", in_channels, 1);
    check_range(fn, "in_h", in_h, 1);
    check_range(fn, "in_w", in_w, 1);
    check_range(fn, "out_channels", out_channels, 1);
    check_range(fn, "weight_in_channels", weight_in_channels, 1);
    check_range(fn, "kernel_h", kernel_h, 1);
    check_range(fn, "kernel_w", kernel_w, 1);
    check_range(fn, "stride_h", at.stride_h, 1);
    check_range(fn, "stride_w", at.stride_w, 1);
    check_range(fn, "dilation_h", at.dilation_h, 1);
    check_range(fn, "dilation_w", at.dilation_w, 1);
    check_range(fn, "pad_top", at.pad_top, 0);
    check_range(fn, "pad_left", at.pad_left, 0);
    check_range(fn, "pad_bottom", at.pad_bottom, 0);
    check_range(fn, "pad_right", at.pad_right, 0);
    check_range(fn, "groups", at.groups, 1);
    if (in_channels % at.groups != 0)
        fail("conv2d: in_channels " + str(in_channels) + " is not divisible by groups " + str(at.groups));
    if (out_channels % at.groups != 0)
        fail("conv2d: out_channels " + str(out_channels) + " is not divisible by groups " + str(at.groups));
    if (weight_in_channels != in_channels / at.groups)
        fail("conv2d: W has " + str(weight_in_channels) + " input channels per group, expected in_channels / groups = " +
             str(in_channels) + " / " + str(at.groups) + " = " + str(in_channels / at.groups));
    const Axis ah = axis_size(in_h, kernel_h, at.stride_h, at.dilation_h, at.pad_top, at.pad_bottom, false);
    const Axis aw = axis_size(in_w, kernel_w, at.stride_w, at.dilation_w, at.pad_left, at.pad_right, false);
    require_window_fits("conv2d", kernel_h, kernel_w, at.dilation_h, at.dilation_w, ah, aw);
    Conv2DShape s;
    s.batch = batch;
    s.in_channels = in_channels;
    s.in_h = in_h;
    s.in_w = in_w;
    s.out_channels = out_channels;
    s.kernel_h = kernel_h;
    s.kernel_w = kernel_w;
    s.attrs = at;
    s.out_h = int(ah.out);
    s.out_w = int(aw.out);
    checked_count(fn, "X", {batch, in_channels, in_h, in_w});
    checked_count(fn, "W", {out_channels, weight_in_channels, kernel_h, kernel_w});
    checked_count(fn, "Y", {batch, out_channels, s.out_h, s.out_w});
    return s;
}

// -------------------------------------------------------------------------------------------------
// int8 reference.

void conv2d_u8s8_s32_ref(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const int8_t* w,
                         const std::vector<int32_t>& w_zp, const int32_t* bias, int32_t* y) {
    check_pointers("conv2d_u8s8_s32_ref", x, w, y);
    conv_int_ref("conv2d_u8s8_s32_ref", s, x, x_zp, w, w_zp, S32Stage{bias, y});
}
void conv2d_s8s8_s32_ref(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const int8_t* w,
                         const std::vector<int32_t>& w_zp, const int32_t* bias, int32_t* y) {
    check_pointers("conv2d_s8s8_s32_ref", x, w, y);
    conv_int_ref("conv2d_s8s8_s32_ref", s, x, x_zp, w, w_zp, S32Stage{bias, y});
}

#define STACKLAB_REQUANT_REF(NAME, XT, YT)                                                                    \
    void NAME(const Conv2DShape& s, const XT* x, int32_t x_zp, const int8_t* w, const std::vector<int32_t>& w_zp, \
              const int32_t* bias, const std::vector<RequantParams>& requant, bool relu, YT* y) {             \
        check_pointers(#NAME, x, w, y);                                                                       \
        check_requant<YT>(#NAME, requant, s.out_channels);                                                    \
        conv_int_ref(#NAME, s, x, x_zp, w, w_zp, RequantStage<YT>{bias, &requant, relu, y});                  \
    }
STACKLAB_REQUANT_REF(conv2d_u8s8_requant_ref, uint8_t, uint8_t)
STACKLAB_REQUANT_REF(conv2d_u8s8_requant_ref, uint8_t, int8_t)
STACKLAB_REQUANT_REF(conv2d_s8s8_requant_ref, int8_t, uint8_t)
STACKLAB_REQUANT_REF(conv2d_s8s8_requant_ref, int8_t, int8_t)
#undef STACKLAB_REQUANT_REF

// -------------------------------------------------------------------------------------------------
// int8 fast path.

const char* conv_algo_name(ConvAlgo a) {
    switch (a) {
        case ConvAlgo::automatic: return "automatic";
        case ConvAlgo::im2col_gemm: return "im2col_gemm";
        case ConvAlgo::depthwise_direct: return "depthwise_direct";
        case ConvAlgo::direct_plane: return "direct_plane";
    }
    return "?";
}

PackedConv pack_conv2d(const Conv2DShape& s, const int8_t* w, const std::vector<int32_t>& w_zp, Isa isa,
                       ConvAlgo algo) {
    const char* fn = "pack_conv2d";
    if (!w) fail("pack_conv2d: w is null");
    check_w_zp(fn, w_zp, s.out_channels);
    check_k(fn, s);
    const bool depthwise = s.in_per_group() == 1;
    const bool unit_stride = s.attrs.stride_h == 1 && s.attrs.stride_w == 1;
    // Stride 1 with few input channels per group: the direct plane loop (see conv_int_direct_plane;
    // it runs any stride, since packed weights are reused across shapes, but a stride s computes s
    // times the positions it keeps). Strided depthwise: the direct row loop. Else im2col + GEMM (also for a strided single-channel
    // convolution with groups == 1, e.g. a patch embedding: N = out_channels for the GEMM, and the
    // direct row loop would only vectorize over stride-1 rows).
    if (algo == ConvAlgo::automatic)
        algo = unit_stride && s.in_per_group() <= kDirectMaxChannels && s.out_per_group() <= kDirectMaxOutChannels
                   ? ConvAlgo::direct_plane
               : depthwise && s.attrs.groups > 1 ? ConvAlgo::depthwise_direct
                                                 : ConvAlgo::im2col_gemm;
    if (algo == ConvAlgo::depthwise_direct && !depthwise)
        fail("pack_conv2d: depthwise_direct needs in_channels / groups == 1, this convolution has " + str(s.in_per_group()));
    const std::vector<Isa> isas = available_isas();
    if (std::find(isas.begin(), isas.end(), isa) == isas.end())
        fail(std::string("pack_conv2d: ") + isa_name(isa) + " is not available here");
    PackedConv p;
    p.algo = algo;
    p.isa = isa;
    p.out_channels = s.out_channels;
    p.in_per_group = s.in_per_group();
    p.kernel_h = s.kernel_h;
    p.kernel_w = s.kernel_w;
    p.groups = s.attrs.groups;
    p.zero_points.resize(size_t(s.out_channels));
    for (int o = 0; o < s.out_channels; ++o) p.zero_points[size_t(o)] = w_zp[w_zp.size() > 1 ? size_t(o) : 0];
    const int K = s.gemm_k(), Og = s.out_per_group();
    if (algo == ConvAlgo::depthwise_direct || algo == ConvAlgo::direct_plane) {
        p.direct.resize(size_t(s.out_channels) * size_t(K));
        for (int o = 0; o < s.out_channels; ++o)
            for (int k = 0; k < K; ++k) {
                const size_t i = size_t(o) * size_t(K) + size_t(k);
                p.direct[i] = int16_t(int32_t(w[i]) - p.zero_points[size_t(o)]);
            }
        return p;
    }
    // The GEMM's B is K x Og: the group's weight rows (OIHW, K contiguous per output channel)
    // transposed, and with channels_last the rows taken in (kh, kw, c) order.
    p.channels_last = s.in_per_group() >= kChannelsLastMin;
    const int Cg = s.in_per_group(), KK = s.kernel_h * s.kernel_w;
    std::vector<int8_t> B(size_t(K) * size_t(Og));
    for (int g = 0; g < s.attrs.groups; ++g) {
        for (int j = 0; j < Og; ++j)
            for (int k = 0; k < K; ++k) {
                // k = (c, kh, kw) in OIHW; its row in B is (kh, kw, c) when channels_last.
                const int row = p.channels_last ? (k % KK) * Cg + k / KK : k;
                B[size_t(row) * size_t(Og) + size_t(j)] = w[size_t(g * Og + j) * size_t(K) + size_t(k)];
            }
        const std::vector<int32_t> zps(p.zero_points.begin() + g * Og, p.zero_points.begin() + (g + 1) * Og);
        p.per_group.push_back(pack_b(B.data(), K, Og, Og, zps, isa));
    }
    return p;
}

void conv2d_u8s8_s32(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const PackedConv& w, const int32_t* bias,
                     int32_t* y) {
    check_pointers("conv2d_u8s8_s32", x, &w, y);
    conv_int_fast("conv2d_u8s8_s32", s, x, x_zp, w, S32Stage{bias, y});
}
void conv2d_s8s8_s32(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const PackedConv& w, const int32_t* bias,
                     int32_t* y) {
    check_pointers("conv2d_s8s8_s32", x, &w, y);
    conv_int_fast("conv2d_s8s8_s32", s, x, x_zp, w, S32Stage{bias, y});
}

#define STACKLAB_REQUANT_FAST(NAME, XT, YT)                                                                     \
    void NAME(const Conv2DShape& s, const XT* x, int32_t x_zp, const PackedConv& w, const int32_t* bias,       \
              const std::vector<RequantParams>& requant, bool relu, YT* y) {                                  \
        check_pointers(#NAME, x, &w, y);                                                                      \
        check_requant<YT>(#NAME, requant, s.out_channels);                                                    \
        conv_int_fast(#NAME, s, x, x_zp, w, RequantStage<YT>{bias, &requant, relu, y});                       \
    }
STACKLAB_REQUANT_FAST(conv2d_u8s8_requant, uint8_t, uint8_t)
STACKLAB_REQUANT_FAST(conv2d_u8s8_requant, uint8_t, int8_t)
STACKLAB_REQUANT_FAST(conv2d_s8s8_requant, int8_t, uint8_t)
STACKLAB_REQUANT_FAST(conv2d_s8s8_requant, int8_t, int8_t)
#undef STACKLAB_REQUANT_FAST

#define STACKLAB_QUANTIZE(NAME, XT, YT)                                                                         \
    void NAME(const Conv2DShape& s, const XT* x, int32_t x_zp, const PackedConv& w, const QdqOutput& out, YT* y) { \
        check_pointers(#NAME, x, &w, y);                                                                      \
        conv_quantize_impl(#NAME, s, x, x_zp, w, out, y);                                                    \
    }
STACKLAB_QUANTIZE(conv2d_u8s8_quantize, uint8_t, uint8_t)
STACKLAB_QUANTIZE(conv2d_u8s8_quantize, uint8_t, int8_t)
STACKLAB_QUANTIZE(conv2d_s8s8_quantize, int8_t, uint8_t)
STACKLAB_QUANTIZE(conv2d_s8s8_quantize, int8_t, int8_t)
#undef STACKLAB_QUANTIZE

// -------------------------------------------------------------------------------------------------
// fp32.

void conv2d_f32_ref(const Conv2DShape& s, const float* x, const float* w, const float* bias, float* y) {
    check_pointers("conv2d_f32_ref", x, w, y);
    const Conv2DAttrs& a = s.attrs;
    const int Cg = s.in_per_group(), Og = s.out_per_group();
    size_t i = 0;
    for (int n = 0; n < s.batch; ++n)
        for (int o = 0; o < s.out_channels; ++o) {
            const int g = o / Og;
            for (int oy = 0; oy < s.out_h; ++oy)
                for (int ox = 0; ox < s.out_w; ++ox) {
                    // Products of floats are exact in double; the sum is rounded to float once.
                    double acc = bias ? double(bias[o]) : 0.0;
                    for (int c = 0; c < Cg; ++c)
                        for (int kh = 0; kh < s.kernel_h; ++kh)
                            for (int kw = 0; kw < s.kernel_w; ++kw) {
                                const int64_t ih = int64_t(oy) * a.stride_h - a.pad_top + int64_t(kh) * a.dilation_h;
                                const int64_t iw = int64_t(ox) * a.stride_w - a.pad_left + int64_t(kw) * a.dilation_w;
                                if (ih < 0 || ih >= s.in_h || iw < 0 || iw >= s.in_w) continue;
                                const double xv = x[((size_t(n) * size_t(s.in_channels) + size_t(g * Cg + c)) *
                                                         size_t(s.in_h) + size_t(ih)) * size_t(s.in_w) + size_t(iw)];
                                const double wv = w[((size_t(o) * size_t(Cg) + size_t(c)) * size_t(s.kernel_h) +
                                                     size_t(kh)) * size_t(s.kernel_w) + size_t(kw)];
                                acc += xv * wv;
                            }
                    y[i++] = float(acc);
                }
        }
}

PackedConvF32 pack_conv2d_f32(const Conv2DShape& s, const float* w) {
    if (!w) fail("pack_conv2d_f32: w is null");
    PackedConvF32 p;
    p.out_channels = s.out_channels;
    p.in_per_group = s.in_per_group();
    p.kernel_h = s.kernel_h;
    p.kernel_w = s.kernel_w;
    p.groups = s.attrs.groups;
    p.weights.assign(w, w + s.w_size());
    return p;
}

namespace {

// fp32 depthwise (in_channels / groups == 1): the int8 depthwise loop in float; each output is
// bias + its taps in (kh, kw) order, K + 1 terms like the GEMM path, so the same bound holds.
void conv_f32_depthwise(const Conv2DShape& s, const float* x, const PackedConvF32& pw, const float* bias, float* y) {
    const Conv2DAttrs& a = s.attrs;
    const int mult = s.out_per_group(), KK = s.kernel_h * s.kernel_w;
    const size_t P = size_t(s.out_h) * size_t(s.out_w), plane = size_t(s.in_h) * size_t(s.in_w);
    for (int n = 0; n < s.batch; ++n)
        for (int o = 0; o < s.out_channels; ++o) {
            const float* xc = x + (size_t(n) * size_t(s.in_channels) + size_t(o / mult)) * plane;
            float* acc = y + (size_t(n) * size_t(s.out_channels) + size_t(o)) * P;
            std::fill_n(acc, P, bias ? bias[o] : 0.0f);
            const float* wo = pw.weights.data() + size_t(o) * size_t(KK);
            for (int kh = 0; kh < s.kernel_h; ++kh)
                for (int kw = 0; kw < s.kernel_w; ++kw) {
                    const float wv = wo[kh * s.kernel_w + kw];
                    const int64_t off = int64_t(kw) * a.dilation_w - a.pad_left;
                    const int64_t l = std::min<int64_t>(off >= 0 ? 0 : (-off + a.stride_w - 1) / a.stride_w, s.out_w);
                    const int64_t h = std::max(l, std::min<int64_t>(s.in_w - 1 - off < 0 ? 0 : (s.in_w - 1 - off) / a.stride_w + 1,
                                                                    s.out_w));
                    for (int oy = 0; oy < s.out_h; ++oy) {
                        const int ih = oy * a.stride_h - a.pad_top + kh * a.dilation_h;
                        if (ih < 0 || ih >= s.in_h) continue;
                        const float* xr = xc + size_t(ih) * size_t(s.in_w);
                        float* ar = acc + size_t(oy) * size_t(s.out_w);
                        if (a.stride_w == 1) {  // contiguous taps: the loop vectorizes
                            for (int64_t ox = l; ox < h; ++ox) ar[ox] += wv * xr[ox + off];
                        } else {
                            for (int64_t ox = l; ox < h; ++ox) ar[ox] += wv * xr[ox * a.stride_w + off];
                        }
                    }
                }
        }
}

}  // namespace

namespace {

// One im2col row: tap (kh, kw) of one input channel xc for the output rows oh0 .. oh0 + rows - 1
// (rows * out_w pixels), zero in the padding and from there to width. Within one output row the
// input row is fixed, and with stride 1 the taps inside the input are one contiguous run.
void im2col_row(const Conv2DShape& s, const float* xc, int kh, int kw, int oh0, int rows, float* row, int width) {
    const Conv2DAttrs& a = s.attrs;
    const int ow_n = s.out_w;
    const int iw0 = -a.pad_left + kw * a.dilation_w;  // input column of output column 0
    // Output columns whose tap is inside the input: [lo, hi).
    int lo = 0, hi = ow_n;
    if (a.stride_w == 1) {
        lo = std::min(ow_n, std::max(0, -iw0));
        hi = std::max(lo, std::min(ow_n, s.in_w - iw0));
    }
    for (int r = 0; r < rows; ++r) {
        float* out = row + size_t(r) * size_t(ow_n);
        const int ih = (oh0 + r) * a.stride_h - a.pad_top + kh * a.dilation_h;
        if (ih < 0 || ih >= s.in_h) {
            std::fill_n(out, ow_n, 0.0f);
            continue;
        }
        const float* xr = xc + size_t(ih) * size_t(s.in_w);
        if (a.stride_w == 1) {
            for (int t = 0; t < lo; ++t) out[t] = 0.0f;
            for (int t = lo; t < hi; ++t) out[t] = xr[t + iw0];
            for (int t = hi; t < ow_n; ++t) out[t] = 0.0f;
        } else {
            for (int t = 0; t < ow_n; ++t) {
                const int iw = iw0 + t * a.stride_w;
                out[t] = iw >= 0 && iw < s.in_w ? xr[iw] : 0.0f;
            }
        }
    }
    std::fill(row + size_t(rows) * size_t(ow_n), row + width, 0.0f);
}

}  // namespace

namespace {

// ONNX Relu over Y (x < 0 ? 0 : x: NaN kept), for the paths that do not fuse it.
void relu_pass(float* y, size_t n) {
    for (size_t i = 0; i < n; ++i) y[i] = y[i] < 0.0f ? 0.0f : y[i];
}

// conv2d_f32 and conv2d_f32_max_pool: the path is chosen and set up once per call, then
// sink(image, pooled) runs; image(n, yn) writes image n's output planes (all channels, ReLU
// applied) to yn. With pool2 (a 2x2 / stride 2 floor-mode max pool follows) a path that can pool in
// registers writes the pooled planes instead, and says so by pooled = true.
template <class Sink>
void conv2d_f32_images(const Conv2DShape& s, const float* x, const PackedConvF32& pw, const float* bias, bool relu,
                       bool pool2, Sink sink) {
    const Conv2DAttrs& a = s.attrs;
    const int Cg = s.in_per_group(), Og = s.out_per_group(), K = s.gemm_k();
    const int P = s.out_h * s.out_w;
    const size_t plane = size_t(s.in_h) * size_t(s.in_w), x_image = size_t(s.in_channels) * plane;
    auto x_group = [&](int n, int g) { return x + size_t(n) * x_image + size_t(g) * size_t(Cg) * plane; };
    auto w_group = [&](int g) { return pw.weights.data() + size_t(g) * size_t(Og) * size_t(K); };
    // One input channel per group and several groups (depthwise): the direct loop. A single group
    // with one input channel (a first layer on grey images) is a GEMM with K = kernel taps and sums
    // in the same order (bias, then (kh, kw)), so it takes the register-tiled paths below.
    if (s.in_per_group() == 1 && s.attrs.groups > 1) {
        Conv2DShape one = s;
        one.batch = 1;
        return sink(
            [&](int n, float* yn) {
                conv_f32_depthwise(one, x + size_t(n) * x_image, pw, bias, yn);
                if (relu) relu_pass(yn, one.y_size());
            },
            false);
    }
    // Stride 1 and no padding, where the GEMM runs any width at full speed (AVX-512): no im2col.
    // Output row oy of every channel reads, for tap (c, kh, kw), the out_w input floats from
    // x[c][oy + kh * dilation_h][kw * dilation_w] on: B's row k is a fixed offset from the row's
    // start, so the output rows are a row group of GEMMs over the input plane itself (B rows by
    // offset), summed in registers from the bias in the same k order (the same bits as the panel
    // path), with the ReLU applied before the one store.
    // (Across channels, below, any stride works: only the pixels' start offsets change. The Mixer's
    // 7x7 / stride 7 patch embedding runs that way.)
    const bool unpadded = a.pad_top == 0 && a.pad_left == 0 && a.pad_bottom == 0 && a.pad_right == 0;
    const bool stride1 = a.stride_h == 1 && a.stride_w == 1;
    // With a 2x2 pool after it, the pooled GEMMs below also run where they alone are register-tiled
    // (SIMD128: there the convolutions without such a pool take the panels).
    const bool pooled = pool2 && unpadded && gemm_f32_pooled_tiled(best_isa());
    if ((gemm_f32_any_width(best_isa()) && unpadded && (stride1 || (Og >= 16 && K >= 32))) ||
        (pooled && (stride1 || (Og >= 16 && K >= 32)))) {
        std::vector<size_t> offsets(static_cast<size_t>(K));
        for (int c = 0, k = 0; c < Cg; ++c)
            for (int kh = 0; kh < s.kernel_h; ++kh)
                for (int kw = 0; kw < s.kernel_w; ++kw, ++k)
                    offsets[size_t(k)] = size_t(c) * plane + size_t(kh) * size_t(a.dilation_h) * size_t(s.in_w) +
                                         size_t(kw) * size_t(a.dilation_w);
        std::vector<float> init(size_t(s.out_channels), 0.0f);
        if (bias) std::copy_n(bias, s.out_channels, init.data());
        // Which way round: vectors across output pixels (the row group above: a row of out_w pixels
        // fills out_w of each 16 lanes, two narrow rows per tile) or across output channels (the
        // gathered-A GEMM: rows are pixels, A's elements read from X by offset, B the weights
        // transposed, Og of each 16 lanes busy), whose pixel-major result is then transposed into
        // Y's planes. The second wins when the rows are narrow and Og fills its vectors (the
        // Fashion CNN's second layer: 11-pixel rows, 32 channels) and K is long enough to pay for the
        // transpose (not its first layer: K = 9, 26-pixel rows); the sums are the same either way.
        auto busy = [](int n) { return double(n) / double((n + 15) / 16 * 16); };
        const bool by_channel = Og >= 16 && K >= 32 && (!stride1 || busy(Og) > busy(s.out_w) + 0.1);
        const int pooled_h = s.out_h / 2, pooled_w = s.out_w / 2;  // with pool2
        if (by_channel) {
            std::vector<float> wt(size_t(a.groups) * size_t(K) * size_t(Og));
            for (int g = 0; g < a.groups; ++g)
                for (int j = 0; j < Og; ++j)
                    for (int k = 0; k < K; ++k)
                        wt[(size_t(g) * size_t(K) + size_t(k)) * size_t(Og) + size_t(j)] = w_group(g)[size_t(j) * size_t(K) + size_t(k)];
            // The product's rows: the output pixels in order, or with a 2x2 pool after it, window by
            // window in the pool's tap order ((0, 0), (0, 1), (1, 0), (1, 1)), pooled in registers
            // (gemm_f32_gather_a_max_pool4). A floor-mode pool's last odd row and column are then
            // never computed.
            const int rows = pool2 ? 4 * pooled_h * pooled_w : P, out_pixels = pool2 ? pooled_h * pooled_w : P;
            auto pixel_at = [&](int oy, int ox) {
                return size_t(oy) * size_t(a.stride_h) * size_t(s.in_w) + size_t(ox) * size_t(a.stride_w);
            };
            std::vector<size_t> pixel;
            pixel.reserve(static_cast<size_t>(rows));
            if (pool2) {
                for (int py = 0; py < pooled_h; ++py)
                    for (int px = 0; px < pooled_w; ++px)
                        for (int tap = 0; tap < 4; ++tap) pixel.push_back(pixel_at(2 * py + tap / 2, 2 * px + tap % 2));
            } else {
                for (int oy = 0; oy < s.out_h; ++oy)
                    for (int ox = 0; ox < s.out_w; ++ox) pixel.push_back(pixel_at(oy, ox));
            }
            std::vector<float> scratch(size_t(out_pixels) * size_t(Og));
            return sink(
                [&](int n, float* yn) {
                    for (int g = 0; g < a.groups; ++g) {
                        const float* wg = wt.data() + size_t(g) * size_t(K) * size_t(Og);
                        const float* ig = init.data() + size_t(g) * size_t(Og);
                        if (pool2)
                            gemm_f32_gather_a_max_pool4(x_group(n, g), pixel.data(), offsets.data(), wg, size_t(Og),
                                                        scratch.data(), size_t(Og), rows, Og, K, ig, relu);
                        else
                            gemm_f32_gather_a(x_group(n, g), pixel.data(), offsets.data(), wg, size_t(Og), scratch.data(),
                                              size_t(Og), rows, Og, K, ig, relu);
                        transpose_words(reinterpret_cast<const uint32_t*>(scratch.data()), size_t(out_pixels), size_t(Og),
                                        size_t(Og), reinterpret_cast<uint32_t*>(yn + size_t(g) * size_t(Og) * size_t(out_pixels)),
                                        size_t(out_pixels));
                    }
                },
                pool2);
        }
        // With a 2x2 pool after it, each pair of output rows is pooled in registers as it is summed
        // (gemm_f32_offsets_max_pool2): the full-size output never reaches memory.
        return sink(
            [&](int n, float* yn) {
                for (int g = 0; g < a.groups; ++g) {
                    OffsetsGemm o;
                    o.groups = s.out_h;
                    o.b_group_step = size_t(s.in_w);
                    o.c_group_step = size_t(s.out_w);
                    o.row_init = init.data() + size_t(g) * size_t(Og);
                    o.relu = relu;
                    if (pool2) {
                        const size_t pooled = size_t(pooled_h) * size_t(pooled_w);
                        gemm_f32_offsets_max_pool2(w_group(g), size_t(K), x_group(n, g), offsets.data(),
                                                   yn + size_t(g) * size_t(Og) * pooled, pooled, size_t(pooled_w), Og,
                                                   s.out_w, K, o);
                    } else {
                        gemm_f32_acc_offsets(w_group(g), size_t(K), x_group(n, g), offsets.data(),
                                             yn + size_t(g) * size_t(Og) * size_t(P), size_t(P), Og, s.out_w, K, o);
                    }
                }
            },
            pool2);
    }
    // im2col panels of whole output rows (about kF32PanelCols pixels). Where the GEMM runs any width
    // at full speed (AVX-512: masked last strip), the panel is exactly the panel's pixels and the GEMM
    // accumulates straight into Y's channel planes (ldc = P); elsewhere its width is rounded up to
    // the register tile's 16 columns (the extra columns are zero and dropped) and each output row
    // leaves a scratch block with one contiguous copy.
    const bool direct = gemm_f32_any_width(best_isa());
    const int rows_per_panel = std::max(1, std::min(s.out_h, kF32PanelCols / std::max(1, s.out_w)));
    const int NB = direct ? rows_per_panel * s.out_w : (rows_per_panel * s.out_w + 15) / 16 * 16;
    // panel[k][j]: input tap k of the panel's output pixel j.
    std::vector<float> panel(size_t(K) * size_t(NB));
    std::vector<float> cblock(direct ? 0 : size_t(Og) * size_t(NB));
    sink([&](int n, float* yn) {
        for (int g = 0; g < a.groups; ++g) {
            const float* xg = x_group(n, g);
            const float* wg = w_group(g);
            for (int oh0 = 0; oh0 < s.out_h; oh0 += rows_per_panel) {
                const int rows = std::min(rows_per_panel, s.out_h - oh0);
                const int cols = rows * s.out_w;
                for (int c = 0, k = 0; c < Cg; ++c)
                    for (int kh = 0; kh < s.kernel_h; ++kh)
                        for (int kw = 0; kw < s.kernel_w; ++kw, ++k)
                            im2col_row(s, xg + size_t(c) * plane, kh, kw, oh0, rows, panel.data() + size_t(k) * size_t(NB), NB);
                float* yg = yn + size_t(g) * size_t(Og) * size_t(P) + size_t(oh0) * size_t(s.out_w);
                if (direct) {
                    for (int j = 0; j < Og; ++j) std::fill_n(yg + size_t(j) * size_t(P), cols, bias ? bias[g * Og + j] : 0.0f);
                    gemm_f32_acc(wg, size_t(K), panel.data(), size_t(NB), yg, size_t(P), Og, cols, K);
                    continue;
                }
                for (int j = 0; j < Og; ++j)
                    std::fill_n(cblock.data() + size_t(j) * size_t(NB), NB, bias ? bias[g * Og + j] : 0.0f);
                // cblock (Og x NB) += weights (Og x K) * panel (K x NB): each output sums its taps in
                // k order from the bias, as the reference does; gemm_f32_acc tiles it in registers.
                gemm_f32_acc(wg, size_t(K), panel.data(), size_t(NB), cblock.data(), size_t(NB), Og, NB, K);
                for (int j = 0; j < Og; ++j)
                    std::copy_n(cblock.data() + size_t(j) * size_t(NB), cols, yg + size_t(j) * size_t(P));
            }
        }
        if (relu) relu_pass(yn, size_t(s.out_channels) * size_t(P));
    }, false);
}

void check_packed(const char* fn, const Conv2DShape& s, const float* x, const PackedConvF32& pw, const float* y) {
    check_pointers(fn, x, &pw, y);
    if (pw.out_channels != s.out_channels || pw.in_per_group != s.in_per_group() || pw.kernel_h != s.kernel_h ||
        pw.kernel_w != s.kernel_w || pw.groups != s.attrs.groups)
        fail(std::string(fn) + ": the packed weights are for out_channels " + str(pw.out_channels) +
             ", in_channels / groups " + str(pw.in_per_group) + ", kernel " + dims2(pw.kernel_h, pw.kernel_w) + ", groups " +
             str(pw.groups) + ", not for this shape");
}

}  // namespace

void conv2d_f32(const Conv2DShape& s, const float* x, const PackedConvF32& pw, const float* bias, float* y, bool relu) {
    check_packed("conv2d_f32", s, x, pw, y);
    const size_t y_image = size_t(s.out_channels) * size_t(s.out_h) * size_t(s.out_w);
    conv2d_f32_images(s, x, pw, bias, relu, false, [&](auto image, bool) {
        for (int n = 0; n < s.batch; ++n) image(n, y + size_t(n) * y_image);
    });
}

Pool2DShape conv2d_f32_max_pool_shape(const Conv2DShape& s, const Pool2DAttrs& pool) {
    return pool2d_shape(s.batch, s.out_channels, s.out_h, s.out_w, pool);
}

void conv2d_f32_max_pool(const Conv2DShape& s, const float* x, const PackedConvF32& pw, const float* bias, bool relu,
                         const Pool2DAttrs& pool, float* y) {
    check_packed("conv2d_f32_max_pool", s, x, pw, y);
    const Pool2DShape one = pool2d_shape(1, s.out_channels, s.out_h, s.out_w, pool);
    // The 2x2 / stride 2 pool without padding whose windows all lie inside (floor mode, or ceil mode
    // on even sizes): the convolution may pool in registers.
    const bool pool2 = pool.kernel_h == 2 && pool.kernel_w == 2 && pool.stride_h == 2 && pool.stride_w == 2 &&
                       pool.dilation_h == 1 && pool.dilation_w == 1 && pool.pad_top == 0 && pool.pad_left == 0 &&
                       pool.pad_bottom == 0 && pool.pad_right == 0 && one.out_h == s.out_h / 2 && one.out_w == s.out_w / 2;
    std::vector<float> image_out;
    conv2d_f32_images(s, x, pw, bias, relu, pool2, [&](auto image, bool pooled) {
        if (pooled) {
            for (int n = 0; n < s.batch; ++n) image(n, y + size_t(n) * one.y_size());
            return;
        }
        image_out.resize(size_t(s.out_channels) * size_t(s.out_h) * size_t(s.out_w));
        for (int n = 0; n < s.batch; ++n) {
            image(n, image_out.data());
            max_pool2d(one, image_out.data(), y + size_t(n) * one.y_size());
        }
    });
}

double conv2d_f32_error_bound(const Conv2DShape& s, double abs_sum) {
    return double(s.gemm_k() + 2) * double(FLT_EPSILON) * abs_sum;
}

// -------------------------------------------------------------------------------------------------
// Pooling.

size_t Pool2DShape::x_size() const { return size_t(batch) * size_t(channels) * size_t(in_h) * size_t(in_w); }
size_t Pool2DShape::y_size() const { return size_t(batch) * size_t(channels) * size_t(out_h) * size_t(out_w); }

namespace {

// Whether every output position along one axis has a tap inside the input.
int64_t first_empty_window(int in, int out, int k, int stride, int dil, int pad_begin) {
    for (int64_t o = 0; o < out; ++o) {
        const int64_t start = o * stride - pad_begin;
        const int64_t t0 = start >= 0 ? 0 : (-start + dil - 1) / dil;  // first tap at or after 0
        if (!(t0 < k && start + t0 * dil < in)) return o;
    }
    return -1;
}

// Per axis and output position: taps inside X, and taps inside the padded input.
struct AxisCounts {
    std::vector<int64_t> inside, padded;
};
AxisCounts axis_counts(int in, int out, int k, int stride, int dil, int pad_begin, int pad_end) {
    AxisCounts c;
    for (int64_t o = 0; o < out; ++o) {
        const int64_t start = o * stride - pad_begin;
        int64_t inside = 0, padded = 0;
        for (int64_t t = 0; t < k; ++t) {
            const int64_t i = start + t * dil;
            inside += i >= 0 && i < in;
            padded += i >= -int64_t(pad_begin) && i < int64_t(in) + pad_end;
        }
        c.inside.push_back(inside);
        c.padded.push_back(padded);
    }
    return c;
}

template <class T>
void check_pool_io(const char* fn, const T* x, const void* y) {
    if (!x) fail(std::string(fn) + ": x is null");
    if (!y) fail(std::string(fn) + ": y is null");
}

template <class T>
void check_zero_point(const char* fn, int32_t zp) {
    if (zp < int32_t(std::numeric_limits<T>::min()) || zp > int32_t(std::numeric_limits<T>::max()))
        fail(std::string(fn) + ": zero_point " + str(zp) + " is outside the range of " + type_name<T>());
}

// Calls f(value) for each tap of output (oy, ox) inside X of plane xp.
template <class T, class F>
void for_each_pool_tap(const Pool2DShape& s, const T* xp, int oy, int ox, F f) {
    const Pool2DAttrs& a = s.attrs;
    for (int kh = 0; kh < a.kernel_h; ++kh) {
        const int64_t ih = int64_t(oy) * a.stride_h - a.pad_top + int64_t(kh) * a.dilation_h;
        if (ih < 0 || ih >= s.in_h) continue;
        for (int kw = 0; kw < a.kernel_w; ++kw) {
            const int64_t iw = int64_t(ox) * a.stride_w - a.pad_left + int64_t(kw) * a.dilation_w;
            if (iw < 0 || iw >= s.in_w) continue;
            f(xp[size_t(ih) * size_t(s.in_w) + size_t(iw)]);
        }
    }
}

// One output row of the 2x2 / stride 2 pool on bytes: out[ox] = the largest of r0[2ox], r0[2ox + 1],
// r1[2ox], r1[2ox + 1], the bytes compared as unsigned after an xor with `flip` (0x80 turns int8's
// order into uint8's) and flipped back. SSE2 (the x86-64 baseline) or SIMD128: a vertical byte max
// of the two rows, then each pair of neighbours as one 16-bit lane, max(low byte, high byte), packed
// back to bytes; 16, 8 or 4 outputs per step and a last step overlapping the one before it (it
// writes the same values again), so short rows (the CNN's 13 and 5 outputs) have no per-byte tail.
#if defined(__SSE2__) || defined(__wasm_simd128__)
#if defined(__SSE2__)
using Bytes = __m128i;
inline Bytes load_bytes16(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline Bytes load_bytes8(const uint8_t* p) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)); }
inline void store_bytes16(uint8_t* p, Bytes v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }
inline void store_bytes8(uint8_t* p, Bytes v) { _mm_storel_epi64(reinterpret_cast<__m128i*>(p), v); }
inline void store_bytes4(uint8_t* p, Bytes v) {
    const int32_t w = _mm_cvtsi128_si32(v);
    std::memcpy(p, &w, 4);
}
inline Bytes splat_byte(uint8_t b) { return _mm_set1_epi8(char(b)); }
inline Bytes xor_bytes(Bytes a, Bytes b) { return _mm_xor_si128(a, b); }
inline Bytes max_u8(Bytes a, Bytes b) { return _mm_max_epu8(a, b); }
// Lane k (16-bit) = max(byte 2k, byte 2k + 1), in 0..255.
inline Bytes pair_max(Bytes v) { return _mm_max_epi16(_mm_and_si128(v, _mm_set1_epi16(0xff)), _mm_srli_epi16(v, 8)); }
inline Bytes pack_u16(Bytes a, Bytes b) { return _mm_packus_epi16(a, b); }
#else
using Bytes = v128_t;
inline Bytes load_bytes16(const uint8_t* p) { return wasm_v128_load(p); }
inline Bytes load_bytes8(const uint8_t* p) {
    int64_t w;
    std::memcpy(&w, p, 8);
    return wasm_i64x2_make(w, 0);
}
inline void store_bytes16(uint8_t* p, Bytes v) { wasm_v128_store(p, v); }
inline void store_bytes8(uint8_t* p, Bytes v) {
    const int64_t w = wasm_i64x2_extract_lane(v, 0);
    std::memcpy(p, &w, 8);
}
inline void store_bytes4(uint8_t* p, Bytes v) {
    const int32_t w = wasm_i32x4_extract_lane(v, 0);
    std::memcpy(p, &w, 4);
}
inline Bytes splat_byte(uint8_t b) { return wasm_i8x16_splat(int8_t(b)); }
inline Bytes xor_bytes(Bytes a, Bytes b) { return wasm_v128_xor(a, b); }
inline Bytes max_u8(Bytes a, Bytes b) { return wasm_u8x16_max(a, b); }
inline Bytes pair_max(Bytes v) { return wasm_i16x8_max(wasm_v128_and(v, wasm_i16x8_splat(0xff)), wasm_u16x8_shr(v, 8)); }
inline Bytes pack_u16(Bytes a, Bytes b) { return wasm_u8x16_narrow_i16x8(a, b); }
#endif

template <uint8_t Flip>
void pool_row_2x2(const uint8_t* r0, const uint8_t* r1, size_t out_w, uint8_t* out) {
    const Bytes f = splat_byte(Flip);
    auto vmax = [&](size_t at, bool half) {  // the vertical max of 16 (or 8) input bytes from 2 * ox
        return half ? max_u8(xor_bytes(load_bytes8(r0 + at), f), xor_bytes(load_bytes8(r1 + at), f))
                    : max_u8(xor_bytes(load_bytes16(r0 + at), f), xor_bytes(load_bytes16(r1 + at), f));
    };
    auto steps = [&](size_t width, auto step) {  // step(ox) for ox = 0, width, ..., then out_w - width
        size_t ox = 0;
        for (; ox + width <= out_w; ox += width) step(ox);
        if (ox < out_w) step(out_w - width);
    };
    if (out_w >= 16) {
        steps(16, [&](size_t ox) {
            const Bytes m = pack_u16(pair_max(vmax(2 * ox, false)), pair_max(vmax(2 * ox + 16, false)));
            store_bytes16(out + ox, xor_bytes(m, f));
        });
    } else if (out_w >= 8) {
        steps(8, [&](size_t ox) {
            const Bytes m = pair_max(vmax(2 * ox, false));
            store_bytes8(out + ox, xor_bytes(pack_u16(m, m), f));
        });
    } else if (out_w >= 4) {
        steps(4, [&](size_t ox) {
            const Bytes m = pair_max(vmax(2 * ox, true));
            store_bytes4(out + ox, xor_bytes(pack_u16(m, m), f));
        });
    } else {
        for (size_t ox = 0; ox < out_w; ++ox)
            out[ox] = uint8_t(std::max(std::max(uint8_t(r0[2 * ox] ^ Flip), uint8_t(r0[2 * ox + 1] ^ Flip)),
                                       std::max(uint8_t(r1[2 * ox] ^ Flip), uint8_t(r1[2 * ox + 1] ^ Flip))) ^
                              Flip);
    }
}
#define STACKLAB_POOL_ROW_2X2 1

// The float 2x2 / stride 2 pool row: four outputs per step, each the scalar rule in the scalar
// order (best = v0, then v1, v2, v3 each replacing it only if greater), so NaN and -0 / +0 come out
// as in the loop: SSE2's maxps(a, b) is a > b ? a : b and SIMD128's pmax(a, b) is a < b ? b : a.
// The taps come from two 8-float loads per row split into even and odd columns. A last partial step
// is recomputed overlapping the one before (out_w >= 4).
#if defined(__SSE2__)
inline __m128 later_if_greater(__m128 best, __m128 v) { return _mm_max_ps(v, best); }
inline __m128 evens(const float* p) { return _mm_shuffle_ps(_mm_loadu_ps(p), _mm_loadu_ps(p + 4), _MM_SHUFFLE(2, 0, 2, 0)); }
inline __m128 odds(const float* p) { return _mm_shuffle_ps(_mm_loadu_ps(p), _mm_loadu_ps(p + 4), _MM_SHUFFLE(3, 1, 3, 1)); }
inline void store4(float* p, __m128 v) { _mm_storeu_ps(p, v); }
#else
inline v128_t later_if_greater(v128_t best, v128_t v) { return wasm_f32x4_pmax(best, v); }
inline v128_t evens(const float* p) { return wasm_i32x4_shuffle(wasm_v128_load(p), wasm_v128_load(p + 4), 0, 2, 4, 6); }
inline v128_t odds(const float* p) { return wasm_i32x4_shuffle(wasm_v128_load(p), wasm_v128_load(p + 4), 1, 3, 5, 7); }
inline void store4(float* p, v128_t v) { wasm_v128_store(p, v); }
#endif

void pool_row_2x2_f32(const float* r0, const float* r1, size_t out_w, float* out) {
    auto step = [&](size_t ox) {
        auto best = evens(r0 + 2 * ox);
        best = later_if_greater(best, odds(r0 + 2 * ox));
        best = later_if_greater(best, evens(r1 + 2 * ox));
        best = later_if_greater(best, odds(r1 + 2 * ox));
        store4(out + ox, best);
    };
    size_t ox = 0;
    for (; ox + 4 <= out_w; ox += 4) step(ox);
    if (ox < out_w) step(out_w - 4);
}
#endif

template <class T>
void max_pool_impl(const Pool2DShape& s, const T* x, T* y) {
    check_pool_io("max_pool2d", x, y);
    const size_t plane = size_t(s.in_h) * size_t(s.in_w);
    size_t i = 0;
    const Pool2DAttrs& a = s.attrs;
    // Every window inside the input (no padding reached, the usual 2x2 / stride 2 pool): the taps
    // in the same (kh, kw) order with the same comparison, without a bounds check per tap.
    const bool inside = s.out_h > 0 && s.out_w > 0 &&
                        (s.out_h - 1) * a.stride_h - a.pad_top >= 0 && a.pad_top <= 0 && a.pad_left <= 0 &&
                        (s.out_h - 1) * a.stride_h - a.pad_top + (a.kernel_h - 1) * a.dilation_h < s.in_h &&
                        (s.out_w - 1) * a.stride_w - a.pad_left + (a.kernel_w - 1) * a.dilation_w < s.in_w;
    const bool two_by_two = inside && a.kernel_h == 2 && a.kernel_w == 2 && a.stride_w == 2 && a.dilation_h == 1 &&
                            a.dilation_w == 1;
    if constexpr (!std::is_same_v<T, float>) {
        if (two_by_two) {
            // Bytes: the max of integers does not depend on the order, so the pool is a vertical max
            // of the two rows (contiguous) and then a max of neighbouring pairs, on bytes taken as
            // unsigned (int8 flipped by 0x80, which keeps the order) so that SSE2's pmaxub and
            // SIMD128's i8x16.max_u serve both types.
            // (Sizes in locals: stores through uint8_t* may alias `s`, which kept them in memory.)
            constexpr uint8_t flip = std::is_signed_v<T> ? 0x80 : 0x00;
            const size_t out_w = size_t(s.out_w), in_w = size_t(s.in_w), row_step = size_t(a.stride_h) * in_w;
            const size_t planes = size_t(s.batch) * size_t(s.channels), out_h = size_t(s.out_h);
#if defined(STACKLAB_POOL_ROW_2X2)
            for (size_t p = 0; p < planes; ++p)
                for (size_t oy = 0; oy < out_h; ++oy) {
                    const auto* r0 = reinterpret_cast<const uint8_t*>(x + p * plane + oy * row_step);
                    pool_row_2x2<flip>(r0, r0 + in_w, out_w, reinterpret_cast<uint8_t*>(y + i));
                    i += out_w;
                }
            return;
#endif
            std::vector<uint8_t> m(2 * out_w);
            uint8_t* mm = m.data();
            for (size_t p = 0; p < planes; ++p)
                for (size_t oy = 0; oy < out_h; ++oy) {
                    // `inside` means no padding: row oy starts at oy * stride_h.
                    const auto* r0 = reinterpret_cast<const uint8_t*>(x + p * plane + oy * row_step);
                    const uint8_t* r1 = r0 + in_w;
                    for (size_t j = 0; j < 2 * out_w; ++j) mm[j] = std::max(uint8_t(r0[j] ^ flip), uint8_t(r1[j] ^ flip));
                    auto* out = reinterpret_cast<uint8_t*>(y + i);
                    for (size_t ox = 0; ox < out_w; ++ox) out[ox] = uint8_t(std::max(mm[2 * ox], mm[2 * ox + 1]) ^ flip);
                    i += out_w;
                }
            return;
        }
    }
#if defined(STACKLAB_POOL_ROW_2X2)
    if constexpr (std::is_same_v<T, float>) {
        if (two_by_two && s.out_w >= 4) {
            const size_t in_w = size_t(s.in_w), out_w = size_t(s.out_w), row_step = size_t(a.stride_h) * in_w;
            for (size_t p = 0; p < size_t(s.batch) * size_t(s.channels); ++p)
                for (size_t oy = 0; oy < size_t(s.out_h); ++oy) {
                    const float* r0 = x + p * plane + oy * row_step;  // `inside`: no padding
                    pool_row_2x2_f32(r0, r0 + in_w, out_w, y + i);
                    i += out_w;
                }
            return;
        }
    }
#endif
    if (two_by_two) {
        // The 2x2 / stride 2 pool: the same four taps and comparisons as below (a select, which
        // the compiler turns into compare-and-blend across ox).
        for (size_t p = 0; p < size_t(s.batch) * size_t(s.channels); ++p)
            for (int oy = 0; oy < s.out_h; ++oy) {
                const T* r0 = x + p * plane + size_t(oy * a.stride_h - a.pad_top) * size_t(s.in_w) - a.pad_left;
                const T* r1 = r0 + s.in_w;
                T* out = y + i;
                for (int ox = 0; ox < s.out_w; ++ox) {
                    T best = r0[2 * ox];
                    const T v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
                    best = v1 > best ? v1 : best;
                    best = v2 > best ? v2 : best;
                    best = v3 > best ? v3 : best;
                    out[ox] = best;
                }
                i += size_t(s.out_w);
            }
        return;
    }
    if (inside) {
        for (size_t p = 0; p < size_t(s.batch) * size_t(s.channels); ++p)
            for (int oy = 0; oy < s.out_h; ++oy)
                for (int ox = 0; ox < s.out_w; ++ox) {
                    const T* w = x + p * plane + size_t(oy * a.stride_h - a.pad_top) * size_t(s.in_w) +
                                 size_t(ox * a.stride_w - a.pad_left);
                    T best = w[0];
                    for (int kh = 0; kh < a.kernel_h; ++kh)
                        for (int kw = 0; kw < a.kernel_w; ++kw) {
                            const T v = w[size_t(kh * a.dilation_h) * size_t(s.in_w) + size_t(kw * a.dilation_w)];
                            if (v > best) best = v;
                        }
                    y[i++] = best;
                }
        return;
    }
    for (size_t p = 0; p < size_t(s.batch) * size_t(s.channels); ++p)
        for (int oy = 0; oy < s.out_h; ++oy)
            for (int ox = 0; ox < s.out_w; ++ox) {
                T best = std::numeric_limits<T>::lowest();
                bool any = false;
                // NaN handling: a NaN never compares greater, so the first non-NaN maximum wins
                // unless the first tap is NaN (as the ONNX reference's `max` over a window).
                for_each_pool_tap(s, x + p * plane, oy, ox, [&](T v) {
                    if (!any || v > best) best = v;
                    any = true;
                });
                y[i++] = best;
            }
}

// Average of the taps: fp32 in double, int8/uint8 as zp + round_half_even(sum(q - zp) / count).
template <class T>
void average_pool_impl(const Pool2DShape& s, const T* x, int32_t zp, T* y) {
    const Pool2DAttrs& a = s.attrs;
    const AxisCounts ch = axis_counts(s.in_h, s.out_h, a.kernel_h, a.stride_h, a.dilation_h, a.pad_top, a.pad_bottom);
    const AxisCounts cw = axis_counts(s.in_w, s.out_w, a.kernel_w, a.stride_w, a.dilation_w, a.pad_left, a.pad_right);
    const size_t plane = size_t(s.in_h) * size_t(s.in_w);
    size_t i = 0;
    for (size_t p = 0; p < size_t(s.batch) * size_t(s.channels); ++p)
        for (int oy = 0; oy < s.out_h; ++oy)
            for (int ox = 0; ox < s.out_w; ++ox) {
                const int64_t count = a.count_include_pad ? ch.padded[size_t(oy)] * cw.padded[size_t(ox)]
                                                          : ch.inside[size_t(oy)] * cw.inside[size_t(ox)];
                if constexpr (std::is_same_v<T, float>) {
                    double sum = 0.0;
                    for_each_pool_tap(s, x + p * plane, oy, ox, [&](float v) { sum += v; });
                    y[i++] = float(sum / double(count));
                } else {
                    int64_t sum = 0;
                    for_each_pool_tap(s, x + p * plane, oy, ox, [&](T v) { sum += int64_t(v) - zp; });
                    const int64_t q = int64_t(zp) + divide_round_half_even(sum, count);
                    y[i++] = T(std::min<int64_t>(std::max<int64_t>(q, std::numeric_limits<T>::min()),
                                                 std::numeric_limits<T>::max()));
                }
            }
}

template <class T>
void global_average_impl(int batch, int channels, int h, int w, const T* x, int32_t zp, T* y) {
    const char* fn = "global_average_pool2d";
    check_range(fn, "batch", batch, 1);
    check_range(fn, "channels", channels, 1);
    check_range(fn, "h", h, 1);
    check_range(fn, "w", w, 1);
    checked_count(fn, "X", {batch, channels, h, w});
    check_pool_io(fn, x, y);
    const size_t plane = size_t(h) * size_t(w);
    for (size_t p = 0; p < size_t(batch) * size_t(channels); ++p) {
        const T* xp = x + p * plane;
        if constexpr (std::is_same_v<T, float>) {
            double sum = 0.0;
            for (size_t i = 0; i < plane; ++i) sum += xp[i];
            y[p] = float(sum / double(plane));
        } else {
            int64_t sum = 0;
            for (size_t i = 0; i < plane; ++i) sum += int64_t(xp[i]) - zp;
            const int64_t q = int64_t(zp) + divide_round_half_even(sum, int64_t(plane));
            y[p] = T(std::min<int64_t>(std::max<int64_t>(q, std::numeric_limits<T>::min()), std::numeric_limits<T>::max()));
        }
    }
}

}  // namespace

int64_t divide_round_half_even(int64_t num, int64_t den) {
    if (den <= 0) fail("divide_round_half_even: den must be > 0, is " + str(den));
    // |num| may be INT64_MIN only in theory (sums of at most 2^48 bytes); use unsigned magnitude.
    const uint64_t mag = num < 0 ? uint64_t(0) - uint64_t(num) : uint64_t(num);
    uint64_t q = mag / uint64_t(den);
    const uint64_t r = mag % uint64_t(den);
    const uint64_t twice = 2 * r;  // r < den <= 2^62 in every use here
    if (twice > uint64_t(den) || (twice == uint64_t(den) && (q & 1))) ++q;
    return num < 0 ? -int64_t(q) : int64_t(q);
}

Pool2DShape pool2d_shape(int batch, int channels, int in_h, int in_w, const Pool2DAttrs& at) {
    const char* fn = "pool2d";
    check_range(fn, "batch", batch, 1);
    check_range(fn, "channels", channels, 1);
    check_range(fn, "in_h", in_h, 1);
    check_range(fn, "in_w", in_w, 1);
    check_range(fn, "kernel_h", at.kernel_h, 1);
    check_range(fn, "kernel_w", at.kernel_w, 1);
    check_range(fn, "stride_h", at.stride_h, 1);
    check_range(fn, "stride_w", at.stride_w, 1);
    check_range(fn, "dilation_h", at.dilation_h, 1);
    check_range(fn, "dilation_w", at.dilation_w, 1);
    check_range(fn, "pad_top", at.pad_top, 0);
    check_range(fn, "pad_left", at.pad_left, 0);
    check_range(fn, "pad_bottom", at.pad_bottom, 0);
    check_range(fn, "pad_right", at.pad_right, 0);
    const Axis ah = axis_size(in_h, at.kernel_h, at.stride_h, at.dilation_h, at.pad_top, at.pad_bottom, at.ceil_mode);
    const Axis aw = axis_size(in_w, at.kernel_w, at.stride_w, at.dilation_w, at.pad_left, at.pad_right, at.ceil_mode);
    require_window_fits("pool2d", at.kernel_h, at.kernel_w, at.dilation_h, at.dilation_w, ah, aw);
    Pool2DShape s;
    s.batch = batch;
    s.channels = channels;
    s.in_h = in_h;
    s.in_w = in_w;
    s.attrs = at;
    s.out_h = int(ah.out);
    s.out_w = int(aw.out);
    if (const int64_t r = first_empty_window(in_h, s.out_h, at.kernel_h, at.stride_h, at.dilation_h, at.pad_top); r >= 0)
        fail("pool2d: the window of output row " + str(r) + " has no tap inside the input (pad_top " + str(at.pad_top) +
             ", kernel_h " + str(at.kernel_h) + ", dilation_h " + str(at.dilation_h) + ", stride_h " + str(at.stride_h) + ")");
    if (const int64_t c = first_empty_window(in_w, s.out_w, at.kernel_w, at.stride_w, at.dilation_w, at.pad_left); c >= 0)
        fail("pool2d: the window of output column " + str(c) + " has no tap inside the input (pad_left " +
             str(at.pad_left) + ", kernel_w " + str(at.kernel_w) + ", dilation_w " + str(at.dilation_w) + ", stride_w " +
             str(at.stride_w) + ")");
    checked_count(fn, "X", {batch, channels, in_h, in_w});
    checked_count(fn, "Y", {batch, channels, s.out_h, s.out_w});
    return s;
}

void max_pool2d(const Pool2DShape& s, const float* x, float* y) { max_pool_impl(s, x, y); }
void max_pool2d(const Pool2DShape& s, const uint8_t* x, uint8_t* y) { max_pool_impl(s, x, y); }
void max_pool2d(const Pool2DShape& s, const int8_t* x, int8_t* y) { max_pool_impl(s, x, y); }

void average_pool2d(const Pool2DShape& s, const float* x, float* y) {
    check_pool_io("average_pool2d", x, y);
    average_pool_impl(s, x, 0, y);
}
void average_pool2d(const Pool2DShape& s, const uint8_t* x, int32_t zero_point, uint8_t* y) {
    check_pool_io("average_pool2d", x, y);
    check_zero_point<uint8_t>("average_pool2d", zero_point);
    average_pool_impl(s, x, zero_point, y);
}
void average_pool2d(const Pool2DShape& s, const int8_t* x, int32_t zero_point, int8_t* y) {
    check_pool_io("average_pool2d", x, y);
    check_zero_point<int8_t>("average_pool2d", zero_point);
    average_pool_impl(s, x, zero_point, y);
}

void global_average_pool2d(int batch, int channels, int h, int w, const float* x, float* y) {
    global_average_impl(batch, channels, h, w, x, 0, y);
}
void global_average_pool2d(int batch, int channels, int h, int w, const uint8_t* x, int32_t zero_point, uint8_t* y) {
    check_zero_point<uint8_t>("global_average_pool2d", zero_point);
    global_average_impl(batch, channels, h, w, x, zero_point, y);
}
void global_average_pool2d(int batch, int channels, int h, int w, const int8_t* x, int32_t zero_point, int8_t* y) {
    check_zero_point<int8_t>("global_average_pool2d", zero_point);
    global_average_impl(batch, channels, h, w, x, zero_point, y);
}

}  // namespace stacklab::quant
