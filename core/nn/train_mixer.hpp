// fp32 training of an MLP-Mixer for 28x28 grey images (Tolstikhin et al., "MLP-Mixer: An all-MLP
// Architecture for Vision", NeurIPS 2021), the backward of its layers, and its ONNX export. The
// training loop, Adam and the determinism rules are train.hpp's (train_adam).
//
// The network, for x [N,1,H,W] (pixel / 255), patch P, T = (H/P)(W/P) tokens, C channels:
//   stem:   Conv(1->C, kernel = stride = P) -> [N,C,T] -> Transpose -> [N,T,C] -> LayerNorm -> Gelu
//           (LayerNorm immediately followed by Gelu: the pattern the quantizer fuses, on real data);
//   block:  h += (Gelu(LN(h)^T W1 + b1) W2 + b2)^T      token mixing, W1 [T,Dt], W2 [Dt,T]
//           h += Gelu(LN(h) U1 + c1) U2 + c2             channel mixing, U1 [C,Dc], U2 [Dc,C]
//           (the paper's eq. 1, with biases; LN over the channels of each token in both);
//   head:   LN -> Flatten [N,T*C] -> Gemm(->classes).
// The paper's head is global average pooling over tokens; Flatten keeps each token's position, which
// at 16 tokens costs T*C*classes weights (10 240) and is exact in every runtime.
//
// Forward passes run the executor's fast kernels: quant::conv2d_f32 (train.hpp conv2d_forward),
// nn::gemm_f32 (MatMul, bias added after the k-ordered sum as MatMul -> Add does), quant::layer_norm
// and quant::activation(gelu_erf) (fast_erf), so the trained network is the evaluated one.
// Backward (chain rule on the forward definitions):
//   LayerNorm over the last axis, xhat = (x - mean) * r, r = 1 / sqrt(var + eps), y = xhat g + b:
//     dg = sum_rows dy xhat,  db = sum_rows dy,
//     dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dxhat = dy g
//     (Ba, Kiros, Hinton, "Layer Normalization", 2016; the per-row statistics recomputed in double);
//   Gelu (exact erf form, ONNX approximate="none"), y = x Phi(x):
//     dx = dy (Phi(x) + x phi(x)),  Phi(x) = (1 + erf(x / sqrt 2)) / 2,  phi(x) = e^(-x^2/2) / sqrt(2 pi)
//     (Hendrycks & Gimpel, "Gaussian Error Linear Units", 2016), Phi with fast_erf as the forward;
//   Transpose: the inverse transpose of dy;  residual Add: dy to both operands;
//   MatMul with bias: train.hpp linear_backward.
// Initialization: Glorot uniform for every weight (Glorot & Bengio, AISTATS 2010; the Flax
// reference implementation of the paper uses xavier_uniform for its Dense layers), biases 0,
// LayerNorm scales 1 and biases 0.
//
// Errors: std::invalid_argument naming the parameter ("MixerConfig: patch 5 does not divide 28").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "nn/idx.hpp"
#include "nn/onnx_proto.hpp"
#include "nn/train.hpp"

namespace stacklab::nn::train {

// ---------------------------------------------------------------------------------------------
// Layers (rows of `cols` values; gradient outputs are overwritten).

// quant::layer_norm over each row; beta may be null (0).
void layer_norm_forward(int64_t rows, int64_t cols, const float* x, const float* gamma, const float* beta, float epsilon,
                        float* y);
// dx, dgamma, dbeta may each be null (not wanted).
void layer_norm_backward(int64_t rows, int64_t cols, const float* x, const float* gamma, float epsilon, const float* dy,
                         float* dx, float* dgamma, float* dbeta);

// quant::activation(gelu_erf), ONNX Gelu approximate="none".
void gelu_forward(size_t n, const float* x, float* y);
void gelu_backward(size_t n, const float* x, const float* dy, float* dx);

// y [batch, cols, rows] = the transpose of each [rows, cols] matrix of x [batch, rows, cols] (ONNX
// Transpose perm [0, 2, 1]); its backward is transpose_last2(batch, cols, rows, dy, dx).
void transpose_last2(int64_t batch, int64_t rows, int64_t cols, const float* x, float* y);

// ---------------------------------------------------------------------------------------------
// The Mixer.

struct MixerConfig {
    int height = 28, width = 28, classes = 10;
    int patch = 7;             // kernel = stride of the stem; must divide height and width
    int channels = 64;         // C
    int token_hidden = 32;     // Dt, the token-mixing MLP's width
    int channel_hidden = 128;  // Dc, the channel-mixing MLP's width
    int blocks = 2;
    float epsilon = 1e-5f;     // every LayerNormalization (written into the ONNX attribute)
    int tokens() const { return (height / patch) * (width / patch); }
};

struct MixerBlockParams {
    std::vector<float> ln1_g, ln1_b, tok_w1, tok_b1, tok_w2, tok_b2;  // tok_w1 [T,Dt], tok_w2 [Dt,T]
    std::vector<float> ln2_g, ln2_b, ch_w1, ch_b1, ch_w2, ch_b2;      // ch_w1 [C,Dc], ch_w2 [Dc,C]
};

struct MixerParams {
    MixerConfig config;
    std::vector<float> stem_w, stem_b;        // Conv OIHW [C,1,P,P], [C]
    std::vector<float> stem_ln_g, stem_ln_b;  // [C]
    std::vector<MixerBlockParams> blocks;
    std::vector<float> head_ln_g, head_ln_b;  // [C]
    std::vector<float> head_w, head_b;        // [T*C, classes] (Gemm's B), [classes]
    // Every parameter array in a fixed order (stem, blocks in order, head), for optimizers and tests.
    std::vector<std::vector<float>*> arrays();
    std::vector<const std::vector<float>*> arrays() const;
    // Names in the order of arrays() ("stem.w", "block0.tok.w1", ...); the ONNX initializers' names.
    std::vector<std::string> names() const;
};

// Throws std::invalid_argument for a config the network cannot have.
void check_mixer_config(const MixerConfig& c);
MixerParams mixer_zeros(const MixerConfig& c);
MixerParams mixer_init(const MixerConfig& c, uint32_t seed);
size_t mixer_parameter_count(const MixerParams& p);

// Mean loss of a batch x [batch,1,H,W] with labels; grads (may be null) receives every gradient.
double mixer_loss_and_gradients(const MixerParams& p, int batch, const float* x, const uint8_t* labels, MixerParams* grads);
// Logits [batch, classes].
std::vector<float> mixer_logits(const MixerParams& p, int batch, const float* x);

struct MixerTrainResult {
    MixerParams params;
    std::vector<double> step_losses;  // the loss of every batch, before its update
    std::vector<EpochReport> epochs;
};

// Trains from mixer_init(config, seed) with train_adam.
MixerTrainResult train_mixer(const ImageSet& data, const MixerConfig& config, const TrainOptions& options,
                             const std::function<void(const EpochReport&)>& on_epoch = {});

// The Mixer as an ONNX model (opset 20, the first with Gelu; IR version 9): input "image" float
// [N,1,H,W], output "logits" float [N,classes], nodes Conv Reshape Transpose LayerNormalization
// Gelu MatMul Add Flatten Gemm only; metadata_props "input", "output", then `extra_metadata`.
onnx::Model export_mixer_onnx(const MixerParams& p,
                              const std::vector<std::pair<std::string, std::string>>& extra_metadata = {});

}  // namespace stacklab::nn::train
