// The PCB cell's trained defect classifier: how it is trained, the quantized model the core ships
// (models/pcb/pcb_cnn_int8.onnx, embedded), the perception hook that runs it, and the roofline work
// of an ONNX graph for the chip latency.
//
// Data: boards rendered by robot::render_board exactly as the cell renders them (32 x 32 pixels,
// a 0.1 m board), classes in robot::Defect order (0 clean, 1 solder-bridge, 2 missing-component,
// 3 misplaced-component). A board set is balanced by construction: board i of seed s has class
// i % 4 (render_board's defect position and camera noise depend on seed and index). Training uses
// seeds from kPcbTrainFirstSeed on; seeds below kPcbTrainFirstSeed (every scenario seed in
// models/cells, the held-out tests) never appear in training.
// Input convention: float [N, 1, 32, 32] of pixel / 255 (nn::image_batch's rule), no other
// normalization; the same in training, calibration and in the hook.
//
// The model: nn::train's CNN (Conv 3x3 -> Relu -> MaxPool 2 -> Conv 3x3 -> Relu -> MaxPool 2 ->
// Gemm -> Relu -> Gemm), trained in fp32 by train_cnn (Adam, fixed seed), then post-training
// quantized by nn::quantize_model with the "int8" recipe (per-channel int8 weights, int8
// activations, min-max calibration on training renders): a QDQ ONNX model.
//
// The hook (model_perception) runs the quantized graph with the executor's fast kernels and returns
// the first largest logit as the label, softmax probability of that logit as the confidence. It
// reads the image's pixels only, never BoardImage::truth or the defect position: it does not
// localize the defect, so the arm is sent to the board's centre (x_m = y_m = 0).
//
// Graph latency (graph_work): every Conv / ConvInteger / QLinearConv as its im2col GEMM
// (M = N * out pixels, N = out channels, K = in channels / groups * kernel area) and every Gemm /
// MatMul / MatMulInteger / QLinearMatMul as its GEMM, with shapes from nn::infer_shapes at batch 1;
// chip::gemm_work counts the traffic. Pooling, activations and Quantize/DequantizeLinear are not
// counted (vector work the roofline does not model; see core/lab/cell_scenario.hpp for the same
// approximation on a conv list).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "chip/roofline.hpp"
#include "nn/graph.hpp"
#include "nn/idx.hpp"
#include "nn/onnx_proto.hpp"
#include "nn/train.hpp"
#include "robot/cell.hpp"

namespace stacklab::lab {

constexpr int kPcbImageSize = 32;                       // render_board's default: what the cell renders
constexpr std::uint64_t kPcbTrainFirstSeed = 1000000;  // training seeds start here
constexpr const char* kPcbModelName = "models/pcb/pcb_cnn_int8.onnx";

// "clean,solder-bridge,missing-component,misplaced-component" (the logits' order).
std::string pcb_class_list();

// Boards of seeds first_seed .. first_seed + seeds - 1, boards_per_seed each (index 0..), board i
// of class i % 4, rendered at kPcbImageSize. Labels are the Defect values.
nn::ImageSet render_board_set(std::uint64_t first_seed, int seeds, int boards_per_seed);

struct PcbTrainOptions {
    int seeds = 500, boards_per_seed = 16;  // 8000 training boards
    int epochs = 10;
    std::uint32_t seed = 1;                 // initialization and batch order
    float learning_rate = 2e-3f, lr_decay = 0.85f;  // Adam; epoch e uses learning_rate * lr_decay^e
    int calibration_boards = 512;           // first training boards, for the int8 calibration
    nn::train::CnnConfig config{kPcbImageSize, kPcbImageSize, robot::kDefectClasses, 16, 32, 64};
};

struct PcbTrained {
    nn::train::TrainResult train;
    nn::onnx::Model fp32, int8;   // with metadata (input, output, classes, trained_by, ...)
    double logits_sqnr_db = 0;    // the int8 model's logits against the fp32 model's, on the calibration set
};
// trained_by: the command line recorded in the models' metadata.
PcbTrained train_pcb_model(const PcbTrainOptions& o, const std::string& trained_by,
                           const std::function<void(const nn::train::EpochReport&)>& on_epoch = {});

// Predicted classes (first largest logit) of a float [N,1,H,W] classifier on `set`, fast kernels.
std::vector<int> classify_set(const nn::Graph& g, const nn::ImageSet& set);
// Fraction of `set` classified correctly.
double set_accuracy(const nn::Graph& g, const nn::ImageSet& set);

struct PcbModelFile {
    std::string name, bytes;
};
// models/pcb/*.onnx, embedded at build time (empty when the build found none).
const std::vector<PcbModelFile>& bundled_pcb_model_files();
// The bytes of kPcbModelName; throws std::invalid_argument when it is not embedded.
const std::string& bundled_pcb_model();

// The perception hook of the trained classifier in `onnx_bytes` (one input [N,1,32,32] float, one
// output [N,4] logits), with a constant latency. `model_label` names it in the description.
robot::PerceptionHook model_perception(const std::string& onnx_bytes, const std::string& model_label, double latency_ms,
                                       const std::string& latency_source);

// The roofline work of the graph's GEMM-shaped nodes at batch 1, in `dtype` (see above). Throws
// std::invalid_argument naming the node when a shape is unknown.
std::vector<chip::OpWork> graph_work(const nn::Graph& g, chip::DType dtype);

}  // namespace stacklab::lab
