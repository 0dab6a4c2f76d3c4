// fp32 training by backpropagation: the backward of each layer StackLab's trained models use, a
// small CNN for 28x28 grey images, Adam, and the export of the trained network as an ONNX model
// that `stacklab eval` (and any ONNX runtime) runs.
//
// Forward passes use the inference kernels: quant::conv2d_f32 (the executor's fast Conv path),
// quant::max_pool2d and nn::gemm_f32 (executor.hpp), so what is trained is what is evaluated.
// Backward (derivations are the chain rule on the forward definitions; notation as in Goodfellow,
// Bengio, Courville, "Deep Learning", 2016, sections 6.5 and 9.5):
//   Conv (groups 1, any stride / pads / dilation):  dW[o,k] = sum_{n,p} dY[n,o,p] col[n,p,k],
//     db[o] = sum_{n,p} dY[n,o,p],  dX = col2im(W^T dY)   (col = im2col of X, k = (c, kh, kw) OIHW order);
//   Relu:     dX = dY where X > 0, else 0;
//   MaxPool:  dY goes to the first largest tap of each window in (kh, kw) order (padding never wins);
//   Linear (ONNX Gemm, Y = X W + b, W [K, N]):  dW = X^T dY, db = sum_rows dY, dX = dY W^T;
//   softmax cross-entropy, mean over the batch: loss = mean(logsumexp(z) - z[label]),
//     dz = (softmax(z) - onehot(label)) / batch.
// The products of the backward run through nn::gemm_f32 too (float sums in a fixed k order).
//
// Optimizer: Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
// Algorithm 1) with their default beta1 0.9, beta2 0.999, eps 1e-8; the bias corrections 1 - beta^t
// are products in double (no pow, whose last bit differs between C libraries).
// Initialization: He uniform, U(-sqrt(6 / fan_in), +sqrt(6 / fan_in)) for layers followed by ReLU
// (He et al., "Delving Deep into Rectifiers", ICCV 2015), Glorot uniform
// U(-sqrt(6 / (fan_in + fan_out)), ...) for the output layer (Glorot & Bengio, AISTATS 2010);
// biases 0.
//
// Determinism: one thread; every random number comes from std::mt19937 (its sequence is fixed by
// the C++ standard, [rand.predef]) mapped to floats and indices by the integer rules below, never by
// the library's distributions (their algorithms are unspecified and differ between libstdc++ and
// libc++); the batch order is a Fisher-Yates shuffle per epoch. The same seed, options and data
// give the same bits on one target. Across native and wasm the losses may differ in the last bits
// (std::exp / std::log of the two C libraries), so cross-target checks compare accuracies.
//
// Errors: std::invalid_argument naming the parameter ("train_cnn: epochs must be >= 1, not 0").
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "nn/idx.hpp"
#include "nn/onnx_build.hpp"
#include "nn/onnx_proto.hpp"
#include "quant/conv.hpp"

namespace stacklab::nn::train {

// ---------------------------------------------------------------------------------------------
// Layers. Tensors are dense row-major float arrays; gradient outputs are overwritten (not added to).

// Y = conv(X, W) + b with quant::conv2d_f32. s.attrs.groups must be 1; b may be null.
void conv2d_forward(const quant::Conv2DShape& s, const float* x, const float* w, const float* b, float* y);
// dx (may be null: not wanted), dw (s.w_size()), db (out_channels; may be null).
void conv2d_backward(const quant::Conv2DShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db);

void relu_forward(size_t n, const float* x, float* y);
void relu_backward(size_t n, const float* x, const float* dy, float* dx);

// Forward is quant::max_pool2d.
void max_pool2d_backward(const quant::Pool2DShape& s, const float* x, const float* dy, float* dx);

// Y [rows, n] = X [rows, k] W [k, n] + b.
void linear_forward(int64_t rows, int64_t k, int64_t n, const float* x, const float* w, const float* b, float* y);
// dx may be null.
void linear_backward(int64_t rows, int64_t k, int64_t n, const float* x, const float* w, const float* dy, float* dx,
                     float* dw, float* db);

// Mean softmax cross-entropy of `rows` logit rows against labels (< classes; else
// std::invalid_argument), computed in double; dlogits (may be null) gets its gradient.
double softmax_cross_entropy(int64_t rows, int64_t classes, const float* logits, const uint8_t* labels, float* dlogits);

// ---------------------------------------------------------------------------------------------
// The CNN: [N,1,H,W] -> Conv(1->conv1, 3x3) -> Relu -> MaxPool(2x2, stride 2) -> Conv(conv1->conv2, 3x3)
// -> Relu -> MaxPool(2x2, stride 2) -> Flatten -> [Gemm(->hidden) -> Relu ->] Gemm(->classes).
// No padding ("valid" convolutions); hidden 0 leaves the hidden layer out.

struct CnnConfig {
    int height = 28, width = 28, classes = 10;
    int conv1 = 16, conv2 = 32, hidden = 64;
};

struct CnnParams {
    CnnConfig config;
    // Conv weights OIHW, linear weights [in, out] (ONNX Gemm's B without transB).
    std::vector<float> w1, b1, w2, b2, w3, b3, w4, b4;  // w4/b4 empty when hidden == 0
    // Every parameter array in a fixed order (w1, b1, w2, ...), for optimizers and tests.
    std::vector<std::vector<float>*> arrays();
    std::vector<const std::vector<float>*> arrays() const;
};

// The shapes the CNN's layers have for a batch; throws std::invalid_argument if the image is too
// small for the two convolutions and pools.
struct CnnShapes {
    quant::Conv2DShape c1, c2;
    quant::Pool2DShape p1, p2;
    int64_t flat = 0;  // conv2 * pooled h * pooled w
};
CnnShapes cnn_shapes(const CnnConfig& c, int batch);

// Zero-initialized parameters of the right sizes (for gradients), and the random initialization.
CnnParams cnn_zeros(const CnnConfig& c);
CnnParams cnn_init(const CnnConfig& c, uint32_t seed);

// Mean loss of a batch x [batch,1,H,W] with labels; grads (may be null) receives every gradient
// (it is resized to the model's shapes).
double cnn_loss_and_gradients(const CnnParams& p, int batch, const float* x, const uint8_t* labels, CnnParams* grads);
// Logits [batch, classes].
std::vector<float> cnn_logits(const CnnParams& p, int batch, const float* x);

// ---------------------------------------------------------------------------------------------
// Training.

struct TrainOptions {
    int epochs = 1;
    int batch = 32;
    float learning_rate = 1e-3f;
    float lr_decay = 1.0f;   // the learning rate of epoch e is learning_rate * lr_decay^e
    uint32_t seed = 1;       // initialization and batch order
    int64_t limit = 0;       // use the first `limit` training images; 0: all
    int64_t max_steps = 0;   // stop after this many steps; 0: no limit (tests)
};

struct EpochReport {
    int epoch = 0;           // from 0
    int64_t steps = 0;       // optimizer steps so far
    double mean_loss = 0.0;  // over the epoch's batches
};

struct TrainResult {
    CnnParams params;
    std::vector<double> step_losses;  // the loss of every batch, before its update
    std::vector<EpochReport> epochs;
};

struct TrainLog {
    std::vector<double> step_losses;  // the loss of every batch, before its update
    std::vector<EpochReport> epochs;
};

// One batch's work for train_adam: the mean loss of x [batch,1,H,W] (pixel / 255) with labels, and
// in `grads` (cleared before the call) one gradient array per parameter array, in the order and
// sizes of train_adam's `params`, valid until the next call.
using BatchGradient =
    std::function<double(int batch, const float* x, const uint8_t* labels, std::vector<const std::vector<float>*>& grads)>;

// The training loop of every model here: per epoch a Fisher-Yates shuffle (mt19937 seeded with
// options.seed ^ 0x9E3779B9), batches in that order, one Adam step per batch on `params` (already
// initialized), the learning rate multiplied by lr_decay after each epoch. `who` prefixes the
// messages of std::invalid_argument ("train_cnn: epochs must be >= 1, not 0").
TrainLog train_adam(const ImageSet& data, int height, int width, const TrainOptions& options,
                    const std::vector<std::vector<float>*>& params, const BatchGradient& gradient,
                    const std::function<void(const EpochReport&)>& on_epoch, const std::string& who);

// What train_cnn and train_mixer share around train_adam: `Result` (params, step_losses, epochs)
// with params = init(config, options.seed), trained with the gradients of
// loss_and_gradients(params, batch, x, labels, &grads), whose Params::arrays() lists the
// parameters and their gradients in one order.
template <class Result, class Config, class Init, class LossAndGradients>
Result train_from_init(const ImageSet& data, const Config& config, const TrainOptions& options,
                       const std::function<void(const EpochReport&)>& on_epoch, const std::string& who, Init init,
                       LossAndGradients loss_and_gradients) {
    if (options.epochs < 1) throw std::invalid_argument(who + ": epochs must be >= 1, not " + std::to_string(options.epochs));
    Result r;
    r.params = init(config, options.seed);
    decltype(r.params) grads;
    TrainLog log = train_adam(
        data, config.height, config.width, options, r.params.arrays(),
        [&](int b, const float* x, const uint8_t* y, std::vector<const std::vector<float>*>& g) {
            const double loss = loss_and_gradients(r.params, b, x, y, &grads);
            for (const auto* a : std::as_const(grads).arrays()) g.push_back(a);
            return loss;
        },
        on_epoch, who);
    r.step_losses = std::move(log.step_losses);
    r.epochs = std::move(log.epochs);
    return r;
}

// Trains from cnn_init(config, seed). on_epoch (may be empty) is called after every epoch.
TrainResult train_cnn(const ImageSet& data, const CnnConfig& config, const TrainOptions& options,
                      const std::function<void(const EpochReport&)>& on_epoch = {});

// Random numbers of the trainer: uniform float in [0, 1) from the top 24 bits of one draw, and an
// unbiased index below n (rejection sampling on 32-bit draws).
float uniform01(std::mt19937& g);
uint32_t uniform_below(std::mt19937& g, uint32_t n);

// Weights U(-bound, bound) drawn with uniform01. The ONNX exports build their protos with
// nn/onnx_build.hpp (initializers, attributes, nodes, typed values).
std::vector<float> uniform_weights(std::mt19937& g, size_t n, double bound);
using onnx::float_attr;
using onnx::float_tensor;
using onnx::float_value;
using onnx::int64_tensor;
using onnx::int_attr;
using onnx::ints_attr;
using onnx::make_node;
using onnx::string_attr;

// The metadata_props of an exported classifier of [N,1,height,width] images: "input" and "output"
// (what the model takes and gives), then `extra`.
std::vector<std::pair<std::string, std::string>> classifier_metadata(
    int height, int width, int classes, const std::vector<std::pair<std::string, std::string>>& extra);

// The trained CNN as an ONNX model (opset 13): input "image" float [N,1,H,W], output "logits"
// float [N,classes]; metadata_props: "input", "output", and `extra_metadata` after them.
onnx::Model export_cnn_onnx(const CnnParams& p, const std::vector<std::pair<std::string, std::string>>& extra_metadata = {});

}  // namespace stacklab::nn::train
