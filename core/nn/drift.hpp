// The fused LayerNorm+GELU drift (quant/norm.hpp) on a real model's activations: for every
// LayerNormalization whose output only a Gelu reads, the LayerNorm's input rows over the given
// inputs go through quant::layer_norm_gelu_drift with the node's own gamma, beta and epsilon, and
// an int8 asymmetric output range calibrated on the reference result over the same rows
// (quant::choose_params of its min and max), as a quantized deployment of the pair would use.
#pragma once

#include <string>
#include <vector>

#include "nn/graph.hpp"
#include "quant/norm.hpp"

namespace stacklab::nn {

struct ModelDrift {
    std::string layer_norm, gelu;  // node labels
    std::string gelu_approximate;  // the model's Gelu attribute ("none" or "tanh")
    quant::DriftReport report;
};

// Runs g (fast kernels) on `inputs`. An empty result means the model has no LayerNorm -> Gelu pair.
// Throws std::invalid_argument if a pair's LayerNorm is not over the last axis or its gamma/beta
// are not constants.
std::vector<ModelDrift> layer_norm_gelu_drift_on_model(const Graph& g, const std::vector<onnx::Tensor>& inputs,
                                                       const quant::LnGeluVariant& variant);

}  // namespace stacklab::nn
