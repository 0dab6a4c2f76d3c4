// Post-training quantization of an fp32 ONNX model into QDQ form, with per-layer error reports.
//
// What it does, in order (quantize_model):
//   1. BatchNormalization folding: a Conv with constant weights whose only reader is an
//      inference-mode BatchNormalization with constant parameters becomes one Conv,
//        W'[o] = W[o] * a[o],  b'[o] = (b[o] - mean[o]) * a[o] + B[o],  a[o] = scale[o] / sqrt(var[o] + eps)
//      (Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-
//      Only Inference", CVPR 2018, section 3.2), so the weights are quantized once, after folding.
//   2. Layers: every Conv, Gemm and MatMul whose weight input (W, B) is a constant is a quantized
//      layer. With fusion on (the default) the layer's fused group extends over a following Relu
//      (Conv+ReLU, Gemm+ReLU: the activation is clipped by the output quantization range), and a
//      LayerNormalization followed by Gelu forms one float group (no quantization between them,
//      and the executor runs the pair as one kernel in the chip model). With fusion off each op is
//      its own group, so the Conv output is quantized before the Relu and the LayerNormalization
//      output before the Gelu: the difference shows in the accuracy and the SQNR.
//   3. Weights: int8 or int4 symmetric (zero point 0, q in [-(2^(b-1)-1), 2^(b-1)-1], scale =
//      amax / (2^(b-1)-1)), per output channel (Conv axis 0, Gemm/MatMul the N axis), per tensor,
//      or in groups of `group` consecutive weights along the reduction axis K of each output
//      channel (the k-bit grouped idea of GPTQ/AWQ/llama.cpp, with float scales). A layer whose K
//      is not a multiple of the group falls back to per-channel (LayerQuant::note says so).
//      Storage (QuantizeOptions::int4_storage):
//        int4 (default)  weights of 4 bits or fewer are INT4 initializers, two per byte, read by a
//          DequantizeLinear-21 without zero point (0): per tensor, per axis, or blocked along K with
//          block_size = group and a scale shaped like the weight with K divided by the group
//          ([K/g, N] for a [K, N] weight, [N, K/g] for [N, K]; a Conv's weight is stored as [N, K]
//          and Reshaped to [N, C, kh, kw], its groups crossing the C axis). The model's opset
//          becomes 21 and its IR version 10 (INT4 and blocked quantization arrived there), and its
//          activations' QDQ pairs are uint8 with the zero point + 128 (the same numbers; ONNX
//          Runtime refuses int8 ones at opset 21, see quantize.cpp). The 4-bit weight tensors take
//          half the bytes of int8 ones; measured whole files: the CNN's w4a8 0.53 and w4g32a8 0.56
//          of the int8-container file, the Mixer's 0.65 and 0.64 (tests/core/nn_int4_test.cpp).
//        int8  every weight an int8 initializer (4-bit values in int8 containers: the numerics of
//          4 bits, not the file size) in the model's own opset, for runtimes older than opset 21;
//          a grouped weight is stored as [channels * K / group, group] with one scale per row
//          (per-axis, axis 0) followed by Reshape (and Transpose for a [K, N] weight).
//      Both storages give the same dequantized weights and the same logits. 8-bit weights are
//      int8 initializers with per-tensor / per-axis DequantizeLinear either way.
//   4. Activations: int8 asymmetric per tensor (QuantizeLinear -> DequantizeLinear pairs) on the
//      data input of every quantized layer and on the output of every fused group (quantized
//      layers and LayerNormalization(+Gelu)) whose readers are not all graph outputs; the graph's
//      outputs (the logits) stay float. Ranges come from calibration on the given inputs:
//        min_max     running min/max (onnxruntime's MinMax calibrator)
//        percentile  the (100-p)-th and p-th percentiles of the values seen (p = 99.99 by default)
//        mse         the clipping range with the least quantize-dequantize MSE (quant::search_mse_clip)
//      (core/quant/calibrate.hpp); parameters by quant::choose_params (range widened to include 0).
//   5. Mixed precision (recipe "mixed"): each layer's sensitivity is the SQNR of the logits when
//      only that layer's weights are 4-bit (the others 8-bit, activations int8), on the
//      calibration inputs, against the all-8-bit model's. Layers move to 4 bits in the order of
//      the least dB lost per weight moved, until the average weight width (weighted by each
//      layer's weight count) is at most `mixed_max_bits` (6 by default): a greedy knapsack of the
//      kind HAQ / HAWQ-style mixed-precision searches solve properly.
//
// Error report (layer_sqnr): SQNR = 10 log10(sum ref^2 / sum (ref - q)^2) in dB of each fused
// group's output (what the next layer reads: after its QDQ pair) against the fp32 model's same
// tensor, summed over the given inputs in double in index order; +inf when identical. log10 is
// quant::ref_log10 and the sums are in a fixed order, so the report is the same natively and in wasm.
// The same pass fills each layer's error histogram: e = (q - ref) / rms, rms the root mean square of
// the fp32 tensor over the first input (a fixed unit per layer, known before the errors are binned),
// in kErrorBins bins of width kErrorBinWidth centred on zero (bin kErrorBins / 2 holds |e| < half a
// bin); the two end bins also take everything beyond them. A layer near 40 dB has nearly all its
// errors in the centre bins; a 4-bit layer near 20 dB spreads over +-0.1, and outliers show in the tails.
//
// The result is an ordinary ONNX model: nn::import_onnx and the executor run it (the fast kernels
// fold the weights' DequantizeLinear at prepare time), ONNX Runtime runs the same file.
//
// Errors: std::invalid_argument naming the recipe, the option or the calibration input.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "nn/graph.hpp"
#include "nn/onnx_proto.hpp"

namespace stacklab::nn {

enum class CalibrationMethod { min_max, percentile, mse };
const char* calibration_name(CalibrationMethod m);  // "minmax", "percentile", "mse"
// Throws std::invalid_argument naming `text` and the valid names.
CalibrationMethod parse_calibration(const std::string& text);

enum class WeightGranularity { per_channel, per_tensor, grouped };

struct WeightFormat {
    int bits = 8;  // 0: the weights stay fp32; else 2..8
    WeightGranularity granularity = WeightGranularity::per_channel;
    int group = 32;  // grouped only
};
std::string weight_format_name(const WeightFormat& w);  // "int8 per-channel", "int4 groups of 32", "fp32"

struct QuantRecipe {
    std::string name;
    WeightFormat weights;
    bool activations = true;  // int8 asymmetric activations
    bool mixed = false;       // per-layer 4 / 8 bits by sensitivity (weights.granularity applies to both)
};
// Presets (the values of `--quant`):
//   fp32            nothing quantized (the model as it is)
//   int8            int8 per-channel weights, int8 activations
//   int8-pertensor  int8 per-tensor weights, int8 activations (also spelled w8a8-pertensor)
//   w4a8            int4 per-channel weights, int8 activations
//   w4g32a8         int4 weights in groups of 32, int8 activations
//   w4g32           int4 weights in groups of 32, fp32 activations (weight-only)
//   w8              int8 per-channel weights, fp32 activations (weight-only)
//   mixed           int4 or int8 per-channel weights per layer by sensitivity, int8 activations
QuantRecipe quant_recipe(const std::string& name);
std::vector<std::string> quant_recipe_names();

// How 4-bit (2- to 4-bit) weights are stored in the file (item 3 above):
//   int4  INT4 initializers, two weights per byte, in an opset-21 / IR-10 model (the default)
//   int8  int8 containers in the model's own opset, for runtimes older than opset 21
enum class Int4Storage { int4, int8 };
const char* int4_storage_name(Int4Storage s);  // "int4", "int8"
// Throws std::invalid_argument naming `text` and the valid names.
Int4Storage parse_int4_storage(const std::string& text);

struct QuantizeOptions {
    QuantRecipe recipe = quant_recipe("int8");
    Int4Storage int4_storage = Int4Storage::int4;
    CalibrationMethod calibration = CalibrationMethod::min_max;
    double percentile = 99.99;  // percentile calibration, in (50, 100]
    bool fold_batch_norm = true;
    bool fuse = true;
    double mixed_max_bits = 6.0;  // mixed: the average weight width to reach, 4 to 8
};

constexpr int kErrorBins = 21;
constexpr double kErrorBinWidth = 0.02;  // in units of the fp32 tensor's RMS: the bins span +-0.21

struct LayerQuant {
    std::string name;            // the quantized layer's node (GraphNode::label) or the LN group's first node
    std::string op_type;         // "Conv", "Gemm", "MatMul", "LayerNormalization"
    std::vector<std::string> fused;  // op types fused after it: "Relu", "Gelu"
    std::string output;          // the fp32 model's tensor the group writes
    std::string weights;         // weight_format_name of what was applied ("fp32" for LN groups)
    int weight_bits = 0;
    double weight_sqnr_db = std::numeric_limits<double>::infinity();
    double sensitivity_db = std::numeric_limits<double>::quiet_NaN();  // mixed only: logits SQNR with only this layer at 4 bits
    double sqnr_db = std::numeric_limits<double>::quiet_NaN();         // set by layer_sqnr
    std::vector<int64_t> error_histogram;  // set by layer_sqnr: kErrorBins counts (see above)
    std::string note;            // e.g. the grouped fallback
    std::string quantized_output;  // the quantized model's tensor to compare (the output's DQ, or the output)
};

struct QuantizeResult {
    onnx::Model model;                            // the QDQ model
    std::vector<LayerQuant> layers;               // in node order
    std::vector<std::string> folded_batch_norms;  // node labels
    std::vector<std::string> fusions;             // "Conv 'conv1' + Relu 'relu1'", ...
    int64_t calibration_samples = 0;
};

// `calibration` holds batches for the model's single input (e.g. [n,1,28,28] float images). The
// model must have one input. Throws std::invalid_argument for an unknown recipe, an empty
// calibration set or a model the quantizer cannot read (NodeError from the importer).
QuantizeResult quantize_model(const onnx::Model& model, const std::vector<onnx::Tensor>& calibration,
                              const QuantizeOptions& options);

// SQNR of `test` against `ref` in dB (see above); both of n values.
double sqnr_db(const float* ref, const float* test, size_t n);

// Fills LayerQuant::sqnr_db and error_histogram of every layer by running both models (fast
// kernels) on `inputs`, and returns the SQNR of the first graph output (the logits).
double layer_sqnr(const Graph& fp32, const Graph& quantized, std::vector<LayerQuant>& layers,
                  const std::vector<onnx::Tensor>& inputs);

}  // namespace stacklab::nn
