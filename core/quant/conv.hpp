// 2-D convolution and pooling on NCHW tensors: int8 (ONNX ConvInteger / QLinearConv) and fp32
// (ONNX Conv), MaxPool / AveragePool / GlobalAveragePool.
//
// Layouts: activations X [batch, channels, height, width] (NCHW), weights W [out_channels,
// in_channels / groups, kernel_h, kernel_w] (OIHW), outputs Y [batch, out_channels, out_h, out_w].
// Output channel o belongs to group o / (out_channels / groups) and reads that group's input
// channels; depthwise is groups == in_channels (any channel multiplier out_channels / groups).
//
// Geometry (ONNX Conv/MaxPool/AveragePool, explicit pads only; auto_pad is the caller's to resolve):
//   out = floor((in + pad_begin + pad_end - ((k - 1) * dilation + 1)) / stride) + 1
// Taps that fall in the padding read real zero: 0.0f for fp32, the input zero point for int8
// (ONNX ConvInteger: "padding value is x_zero_point"). Pooling ignores padding taps (see below).
//
// Integer convolution (reference semantics, `*_ref`):
//   acc[n,o,y,x] = sum over c in the group, kh, kw of (X[...] - x_zp) * (W[o,c,kh,kw] - w_zp[o])
// exact in int64 and checked to fit int32; K = (in_channels / groups) * kernel_h * kernel_w is
// limited to kMaxGemmK (32768), which makes every int32 sum exact (|term| <= 255 * 255).
//   int32 output (ConvInteger, plus an optional int32 bias): y = saturate_int32(acc + bias[o]).
//   int8/uint8 output (QLinearConv): y = requantize(acc, bias[o], requant[o], relu) from
//   formats.hpp (RequantMode float_scale or fixed_point, optional fused ReLU).
// The fast path (`conv2d_*` on a PackedConv) must equal the reference bit for bit on every ISA:
//   * im2col per group (rows = output pixels, columns = (c, kh, kw) in OIHW order, padding filled
//     with x_zp) and core/quant's packed int8 GEMM (pack_b / gemm_*_s32), output pixel blocks of
//     kIm2colRows rows so the scratch buffer stays small whatever the image size;
//   * direct_plane (stride 1 with at most kDirectMaxChannels input and kDirectMaxOutChannels output
//     channels per group: a grey or colour image's first layer, a stride-1 depthwise layer): the
//     group's input copied once per image as int16 (x - x_zp) into a zero-bordered plane, where every
//     kernel tap is a fixed offset, so each output channel is a 1-D correlation over a long run of
//     output positions (conv_kernels.hpp, compiled per instruction set); im2col would copy a few
//     bytes per pixel for a GEMM with K = 9 (one channel, 3x3) that is mostly padding;
//   * depthwise (in_channels / groups == 1, groups > 1, strided): a direct loop per (channel, kernel
//     tap) that adds whole output rows; im2col + GEMM would run a GEMM with K = kernel_h * kernel_w
//     and N = channel multiplier, far too small for the GEMM kernels.
//   All are exact integer arithmetic, so equality with the reference is by construction and the
//   property tests check it.
//
// fp32 convolution:
//   reference: products of floats are exact in double, summed in double and rounded to float
//   once (with the bias), like core/nn/reference_ops.cpp's Conv; it is the correctly ordered
//   result up to the double summation error (about K * 2^-53 relative), far below float's.
//   fast path: im2col panels of whole output rows (about kF32PanelCols pixels) and the register-tiled fp32 GEMM of
//   gemm_f32.hpp (AVX2 / SIMD128); on AVX-512 an unpadded convolution reads its taps from X by
//   offset instead (stride 1: output rows as a row group of GEMMs, vectors across pixels; or any
//   stride: a gathered-A GEMM, vectors across output channels, then a transpose into NCHW); with
//   a 2x2 max pool after it (conv2d_f32_max_pool) so does SIMD128. Every path sums in float from
//   the bias, taps in k order, multiply then add, so it is deterministic and bit-identical
//   natively and in wasm. Depthwise (in_channels / groups == 1, groups > 1) runs a direct
//   loop instead (bias, then the taps in (kh, kw) order), as for int8. Error bound asserted by the tests, from the classic dot-product bound
//   |fl(sum) - sum| <= gamma_n * sum |x_i w_i|, gamma_n = n u / (1 - n u), u = 2^-24 (Higham,
//   Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 3.5), with n = K + 1 terms (the
//   bias is one more) and one more rounding of the reference:
//     |y_fast - y_ref| <= (K + 2) * FLT_EPSILON * (sum |x| |w| + |bias|)     (conv2d_f32_error_bound)
//   (FLT_EPSILON = 2u, so this is twice the first-order bound: margin for the 1 / (1 - n u)).
//
// Pooling (reference loops only; they are memory-bound and already one pass):
//   MaxPool: the largest input among the taps inside X (padding never wins), any dilation.
//   AveragePool: the sum of the taps inside X divided by their count, or with count_include_pad by
//   the taps inside the padded input (pads counted as zero; ceil_mode's overhang past pad_end is not
//   counted, as onnxruntime and the ONNX reference do). fp32 sums in double and rounds once.
//   int8/uint8 average pooling (input and output share scale and zero point zp) is what
//   DequantizeLinear -> AveragePool -> QuantizeLinear computes in exact arithmetic:
//     y = saturate(zp + round_half_even(sum(q - zp) / count))
//   ONNX rounds half to even everywhere it quantizes; TFLite's reference rounds half away from
//   zero instead, and the two differ only on exact ties. The division is done in integers.
//   GlobalAveragePool: the same over the whole plane.
//   ceil_mode: out = ceil(...) + 1, and a last window that would start in the end padding is
//   dropped (ONNX MaxPool spec note; PyTorch does the same). A window with no tap inside X is
//   rejected by pool2d_shape (its max / average would be undefined).
//
// Errors: std::invalid_argument naming the parameter ("conv2d: kernel 3x3 with dilation 2 does not
// fit padded input 4x4"); std::overflow_error from the references if an int32 result cannot hold
// the exact sum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "quant/convert.hpp"  // QdqOutput
#include "quant/formats.hpp"
#include "quant/gemm.hpp"

namespace stacklab::quant {

struct Conv2DAttrs {
    int stride_h = 1, stride_w = 1;
    int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    int dilation_h = 1, dilation_w = 1;
    int groups = 1;
};

// Everything about one convolution except the data. Build it with conv2d_shape, which validates
// and fills out_h / out_w.
struct Conv2DShape {
    int batch = 0, in_channels = 0, in_h = 0, in_w = 0;  // X
    int out_channels = 0, kernel_h = 0, kernel_w = 0;    // W is [out_channels, in_channels / groups, kh, kw]
    Conv2DAttrs attrs;
    int out_h = 0, out_w = 0;  // Y is [batch, out_channels, out_h, out_w]

    int in_per_group() const { return in_channels / attrs.groups; }
    int out_per_group() const { return out_channels / attrs.groups; }
    int gemm_k() const { return in_per_group() * kernel_h * kernel_w; }  // products per output
    size_t x_size() const;  // elements of X, W, Y
    size_t w_size() const;
    size_t y_size() const;
};

// weight_in_channels is W's second dimension (must be in_channels / groups). Every dimension must
// be >= 1 and at most 2^24, strides and dilations >= 1, pads >= 0, groups dividing both channel
// counts; element counts of X, W and Y must fit in int64.
Conv2DShape conv2d_shape(int batch, int in_channels, int in_h, int in_w, int out_channels, int weight_in_channels,
                         int kernel_h, int kernel_w, const Conv2DAttrs& attrs);

// ---------------------------------------------------------------------------------------------
// int8 convolution. x_zp must lie in the range of X's type; w_zp has 1 (per tensor) or
// out_channels values in [-128, 127]; bias is null or out_channels values; requant has 1 or
// out_channels entries whose is_signed matches the output type.

void conv2d_u8s8_s32_ref(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const int8_t* w,
                         const std::vector<int32_t>& w_zp, const int32_t* bias, int32_t* y);
void conv2d_s8s8_s32_ref(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const int8_t* w,
                         const std::vector<int32_t>& w_zp, const int32_t* bias, int32_t* y);
// QLinearConv: the same accumulators, requantized.
void conv2d_u8s8_requant_ref(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const int8_t* w,
                             const std::vector<int32_t>& w_zp, const int32_t* bias,
                             const std::vector<RequantParams>& requant, bool relu, uint8_t* y);
void conv2d_u8s8_requant_ref(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const int8_t* w,
                             const std::vector<int32_t>& w_zp, const int32_t* bias,
                             const std::vector<RequantParams>& requant, bool relu, int8_t* y);
void conv2d_s8s8_requant_ref(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const int8_t* w,
                             const std::vector<int32_t>& w_zp, const int32_t* bias,
                             const std::vector<RequantParams>& requant, bool relu, uint8_t* y);
void conv2d_s8s8_requant_ref(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const int8_t* w,
                             const std::vector<int32_t>& w_zp, const int32_t* bias,
                             const std::vector<RequantParams>& requant, bool relu, int8_t* y);

// Which fast algorithm a PackedConv runs. automatic: direct_plane for stride 1 with few channels per
// group (kDirectMaxChannels in, kDirectMaxOutChannels out), else depthwise_direct where
// in_channels / groups == 1 and groups > 1, else im2col_gemm (also for a strided single-channel
// convolution with groups == 1, such as a patch embedding). Any algorithm may be forced where it
// applies (tests do): im2col_gemm and direct_plane run every shape (direct_plane computes stride
// times the positions it keeps), depthwise_direct needs in_channels / groups == 1 (else throws).
enum class ConvAlgo { automatic, im2col_gemm, depthwise_direct, direct_plane };
const char* conv_algo_name(ConvAlgo a);

constexpr int kIm2colRows = 256;     // output pixels per im2col block (scratch = rows * K bytes)
constexpr int kChannelsLastMin = 4;  // im2col channels-last from this many input channels per group
// direct_plane (automatic choice): stride 1, at most kDirectMaxChannels input channels and
// kDirectMaxOutChannels output channels per group; accumulators per block of output rows.
// Measured (64 images, 3x3, AVX-512 machine, best of 15, int32 output): 1 -> 16 channels 28x28
// 0.46 ms vs im2col 0.93; 1 -> 128 9.3 vs 13.1; 3 -> 16 32x32 0.97 vs 2.1; but 4 -> 32 28x28 1.97 vs
// 1.78 and 8 -> 32 14x14 0.96 vs 0.38: from 4 input channels im2col + GEMM wins.
constexpr int kDirectMaxChannels = 3;
constexpr int kDirectMaxOutChannels = 64;
constexpr int kDirectBlock = 4096;

// Weights prepared once for the fast path; immutable, reusable across calls, batches and input
// sizes (the call's Conv2DShape must agree on channels, kernel and groups).
struct PackedConv {
    ConvAlgo algo = ConvAlgo::im2col_gemm;  // resolved: never automatic
    Isa isa = Isa::scalar;                  // the kernels it runs (as pack_conv2d was asked)
    int out_channels = 0, in_per_group = 0, kernel_h = 0, kernel_w = 0, groups = 1;
    std::vector<PackedB> per_group;     // im2col_gemm: one K x (out_channels / groups) matrix per group
    // im2col_gemm with in_channels / groups >= kChannelsLastMin: K ordered (kh, kw, c) instead of
    // OIHW's (c, kh, kw), and the input copied channels-last per image and group, so each kernel row
    // of the im2col matrix is one copy of kernel_w * channels bytes instead of channels copies of
    // kernel_w bytes (integer sums do not depend on the order: the result is the same).
    bool channels_last = false;
    std::vector<int32_t> zero_points;   // out_channels values
    std::vector<int16_t> direct;        // depthwise_direct, direct_plane: W - w_zp, OIHW
};

PackedConv pack_conv2d(const Conv2DShape& s, const int8_t* w, const std::vector<int32_t>& w_zp,
                       Isa isa = best_isa(), ConvAlgo algo = ConvAlgo::automatic);

void conv2d_u8s8_s32(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const PackedConv& w, const int32_t* bias,
                     int32_t* y);
void conv2d_s8s8_s32(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const PackedConv& w, const int32_t* bias,
                     int32_t* y);
void conv2d_u8s8_requant(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const PackedConv& w,
                         const int32_t* bias, const std::vector<RequantParams>& requant, bool relu, uint8_t* y);
void conv2d_u8s8_requant(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const PackedConv& w,
                         const int32_t* bias, const std::vector<RequantParams>& requant, bool relu, int8_t* y);
void conv2d_s8s8_requant(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const PackedConv& w,
                         const int32_t* bias, const std::vector<RequantParams>& requant, bool relu, uint8_t* y);
void conv2d_s8s8_requant(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const PackedConv& w,
                         const int32_t* bias, const std::vector<RequantParams>& requant, bool relu, int8_t* y);

// A convolution in QDQ form (DequantizeLinear on X and W -> Conv with a float bias -> [Relu ->]
// QuantizeLinear, what core/nn's executor runs on the int8 kernels), its output quantized as the
// convolution emits, without storing the int32 accumulators: per output channel o the QdqOutput map
// of convert.hpp (requantize_accumulators) with multiplier[o] = x_scale * w_scale[o] and bias[o] the
// float bias, so the result is the int32 output followed by that map, bit for bit
// (tests/core/quant_conv_test.cpp).
void conv2d_u8s8_quantize(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const PackedConv& w,
                          const QdqOutput& out, uint8_t* y);
void conv2d_u8s8_quantize(const Conv2DShape& s, const uint8_t* x, int32_t x_zp, const PackedConv& w,
                          const QdqOutput& out, int8_t* y);
void conv2d_s8s8_quantize(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const PackedConv& w,
                          const QdqOutput& out, uint8_t* y);
void conv2d_s8s8_quantize(const Conv2DShape& s, const int8_t* x, int32_t x_zp, const PackedConv& w,
                          const QdqOutput& out, int8_t* y);

// ---------------------------------------------------------------------------------------------
// fp32 convolution. bias is null or out_channels values.

void conv2d_f32_ref(const Conv2DShape& s, const float* x, const float* w, const float* bias, float* y);

constexpr int kF32PanelCols = 256;  // output pixels per im2col panel (whole output rows; the GEMM's N block)

struct PackedConvF32 {
    int out_channels = 0, in_per_group = 0, kernel_h = 0, kernel_w = 0, groups = 1;
    std::vector<float> weights;  // OIHW as given: row o is output channel o's K weights
};
PackedConvF32 pack_conv2d_f32(const Conv2DShape& s, const float* w);
// relu: y = max(y, 0) as ONNX Relu after it (x < 0 ? 0 : x, NaN kept): the executor's Conv -> Relu
// fused (in registers on the stride-1 AVX-512 path, a pass over Y elsewhere).
void conv2d_f32(const Conv2DShape& s, const float* x, const PackedConvF32& w, const float* bias, float* y,
                bool relu = false);

// The bound above for one output: abs_sum = sum |x| |w| + |bias| over that output's taps.
double conv2d_f32_error_bound(const Conv2DShape& s, double abs_sum);

// ---------------------------------------------------------------------------------------------
// Pooling.

struct Pool2DAttrs {
    int kernel_h = 1, kernel_w = 1;
    int stride_h = 1, stride_w = 1;
    int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    int dilation_h = 1, dilation_w = 1;
    bool ceil_mode = false;
    bool count_include_pad = false;  // AveragePool only
};

struct Pool2DShape {
    int batch = 0, channels = 0, in_h = 0, in_w = 0;
    Pool2DAttrs attrs;
    int out_h = 0, out_w = 0;
    size_t x_size() const;
    size_t y_size() const;
};

Pool2DShape pool2d_shape(int batch, int channels, int in_h, int in_w, const Pool2DAttrs& attrs);

// Conv -> [Relu] -> MaxPool in one pass per image: each image's convolution lands in a scratch
// that stays in cache and is pooled from there, so the full-size activation is never written. A
// 2x2 / stride 2 pool (no padding, every window inside) after an unpadded convolution runs in the
// GEMM's registers instead on AVX-512 and SIMD128 (gemm_f32_offsets_max_pool2 for stride 1,
// gemm_f32_gather_a_max_pool4 when the output channels fill the vectors), and a floor-mode pool's
// dropped last row and column are not computed.
// y is the pooled output, conv2d_f32_max_pool_shape(s, pool) (pool2d_shape's errors for attributes
// that do not fit); the same values as conv2d_f32 then max_pool2d.
Pool2DShape conv2d_f32_max_pool_shape(const Conv2DShape& s, const Pool2DAttrs& pool);
void conv2d_f32_max_pool(const Conv2DShape& s, const float* x, const PackedConvF32& w, const float* bias, bool relu,
                         const Pool2DAttrs& pool, float* y);

void max_pool2d(const Pool2DShape& s, const float* x, float* y);
void max_pool2d(const Pool2DShape& s, const uint8_t* x, uint8_t* y);
void max_pool2d(const Pool2DShape& s, const int8_t* x, int8_t* y);

void average_pool2d(const Pool2DShape& s, const float* x, float* y);
void average_pool2d(const Pool2DShape& s, const uint8_t* x, int32_t zero_point, uint8_t* y);
void average_pool2d(const Pool2DShape& s, const int8_t* x, int32_t zero_point, int8_t* y);

// X [batch, channels, h, w] -> Y [batch, channels, 1, 1].
void global_average_pool2d(int batch, int channels, int h, int w, const float* x, float* y);
void global_average_pool2d(int batch, int channels, int h, int w, const uint8_t* x, int32_t zero_point, uint8_t* y);
void global_average_pool2d(int batch, int channels, int h, int w, const int8_t* x, int32_t zero_point, int8_t* y);

// round_half_even(num / den) for den > 0, exactly, in integers (the quantized averages' rounding).
int64_t divide_round_half_even(int64_t num, int64_t den);

}  // namespace stacklab::quant
