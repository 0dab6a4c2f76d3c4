// The MLP-Mixer trainer (core/nn/train_mixer.hpp): LayerNorm, Gelu and Transpose backward and
// every parameter of a tiny Mixer against central finite differences, a short deterministic
// training run, the ONNX export against the trainer's forward with both kernel sets, and the
// shipped models/fashion_mixer.onnx on the full test set.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include <boost/test/unit_test.hpp>

#include "nn/executor.hpp"
#include "nn/graph.hpp"
#include "nn/idx.hpp"
#include "nn/train.hpp"
#include "nn/train_mixer.hpp"
#include "nn_train_util.hpp"

using namespace stacklab::nn;
using namespace stacklab::nn::train;
using namespace stacklab::nn::train::test_util;

namespace {

// x [batch,1,H,W] in [0, 1) as an input tensor.
onnx::Tensor image_tensor(const std::vector<float>& x, int batch, int h, int w) {
    onnx::Tensor in;
    in.dtype = onnx::DataType::FLOAT;
    in.dims = {batch, 1, h, w};
    in.data.resize(x.size() * 4);
    std::memcpy(in.data.data(), x.data(), in.data.size());
    return in;
}

std::vector<float> pixels(size_t n, uint32_t seed) {
    std::vector<float> x = randoms(n, seed);
    for (float& v : x) v = (v + 1.0f) / 2.0f;
    return x;
}

MixerConfig tiny_config() {
    MixerConfig c;
    c.height = 8, c.width = 12, c.patch = 4;  // 2 x 3 = 6 tokens
    c.channels = 5, c.token_hidden = 3, c.channel_hidden = 7, c.blocks = 2, c.classes = 4;
    return c;
}

// Number of test images the shipped Mixer classifies correctly, as recorded in models/README.md
// (stacklab eval --model models/fashion_mixer.onnx --data fashion-mnist, native, fast kernels).
constexpr int64_t kShippedMixerCorrect = 8955;

}  // namespace

BOOST_AUTO_TEST_SUITE(nn_train_mixer)

// LayerNorm is not linear in x or gamma, so h is small; the tolerance covers the O(h^2) term and
// the float rounding of quant::layer_norm. A row with a large mean checks the mean subtraction.
BOOST_AUTO_TEST_CASE(layer_norm_backward_matches_finite_differences_for_x_scale_and_bias) {
    const int64_t rows = 4, cols = 9;
    std::vector<float> x = randoms(rows * cols, 40), g = randoms(cols, 41), b = randoms(cols, 42);
    for (int64_t j = 0; j < cols; ++j) x[size_t(3 * cols + j)] += 20.0f;
    const std::vector<float> r = randoms(rows * cols, 43);
    const float eps = 1e-5f;
    auto loss = [&] {
        std::vector<float> y(x.size());
        layer_norm_forward(rows, cols, x.data(), g.data(), b.data(), eps, y.data());
        return dot(y, r);
    };
    std::vector<float> dx(x.size()), dg(cols), db(cols);
    layer_norm_backward(rows, cols, x.data(), g.data(), eps, r.data(), dx.data(), dg.data(), db.data());
    check_gradient("layernorm dX", x, dx, loss, 1e-2f, 2e-3, 1e-2);
    check_gradient("layernorm dScale", g, dg, loss, 1e-2f, 2e-4, 1e-3);
    check_gradient("layernorm dBias", b, db, loss, 1e-2f, 2e-4, 1e-3);
    // The gradient of x sums to 0 over each row: LayerNorm does not see a shift of the row.
    for (int64_t row = 0; row < rows; ++row) {
        double s = 0.0;
        for (int64_t j = 0; j < cols; ++j) s += dx[size_t(row * cols + j)];
        BOOST_TEST(std::fabs(s) < 1e-4, "row " << row << " sums to " << s);
    }
    // Outputs not wanted may be null.
    std::vector<float> dx2(x.size());
    layer_norm_backward(rows, cols, x.data(), g.data(), eps, r.data(), dx2.data(), nullptr, nullptr);
    BOOST_TEST(dx2 == dx);
}

BOOST_AUTO_TEST_CASE(gelu_backward_matches_finite_differences_of_the_erf_form) {
    std::vector<float> x = randoms(60, 44);
    for (float& v : x) v *= 4.0f;  // covers the tails and the bend near -0.75
    const std::vector<float> r = randoms(60, 45);
    auto loss = [&] {
        std::vector<float> y(x.size());
        gelu_forward(x.size(), x.data(), y.data());
        return dot(y, r);
    };
    std::vector<float> dx(x.size());
    gelu_backward(x.size(), x.data(), r.data(), dx.data());
    check_gradient("gelu dX", x, dx, loss, 1e-2f, 1e-4, 1e-3);
    // The exact derivative at known points: 0.5 at 0, Phi(1) + phi(1) at 1.
    const float pts[] = {0.0f, 1.0f}, ones[] = {1.0f, 1.0f};
    float d[2];
    gelu_backward(2, pts, ones, d);
    BOOST_TEST(std::fabs(d[0] - 0.5f) < 1e-6f);
    BOOST_TEST(std::fabs(d[1] - (0.8413447460685429 + 0.24197072451914337)) < 1e-6);
}

BOOST_AUTO_TEST_CASE(transpose_backward_is_the_inverse_transpose) {
    const int64_t batch = 2, rows = 3, cols = 5;
    std::vector<float> x = randoms(batch * rows * cols, 46);
    const std::vector<float> r = randoms(x.size(), 47);
    auto loss = [&] {
        std::vector<float> y(x.size());
        transpose_last2(batch, rows, cols, x.data(), y.data());
        return dot(y, r);
    };
    std::vector<float> dx(x.size()), y(x.size()), back(x.size());
    transpose_last2(batch, cols, rows, r.data(), dx.data());
    check_gradient("transpose dX", x, dx, loss, 0.25f, 1e-6, 1e-6);
    transpose_last2(batch, rows, cols, x.data(), y.data());
    BOOST_TEST(y[size_t(1 * rows * cols + 4 * rows + 2)] == x[size_t(1 * rows * cols + 2 * cols + 4)]);
    transpose_last2(batch, cols, rows, y.data(), back.data());
    BOOST_TEST(back == x);
}

// The whole network: every parameter of a tiny Mixer (8x12 images, patch 4, two blocks, so the
// residual adds, both transposes, MatMul biases and all LayerNorms are on the path) against the
// central difference of the batch loss.
BOOST_AUTO_TEST_CASE(mixer_gradients_of_every_parameter_match_finite_differences) {
    const MixerConfig c = tiny_config();
    MixerParams p = mixer_init(c, 48);
    // Non-trivial LayerNorm scales and biases and non-zero biases, so their gradients are tested
    // away from the initialization's special values.
    std::mt19937 gen(49);
    for (auto* a : p.arrays())
        if (a->size() <= size_t(std::max(c.channels, c.channel_hidden)))
            for (float& v : *a) v += 0.3f * (uniform01(gen) - 0.5f);
    const int batch = 3;
    const std::vector<float> x = pixels(size_t(batch) * 8 * 12, 50);
    const std::vector<uint8_t> labels = {1, 3, 0};
    MixerParams grads;
    mixer_loss_and_gradients(p, batch, x.data(), labels.data(), &grads);
    BOOST_REQUIRE_EQUAL(grads.arrays().size(), p.arrays().size());
    BOOST_REQUIRE_EQUAL(p.names().size(), p.arrays().size());
    auto loss = [&] { return mixer_loss_and_gradients(p, batch, x.data(), labels.data(), nullptr); };
    const std::vector<std::string> names = p.names();
    for (size_t a = 0; a < p.arrays().size(); ++a)
        check_gradient(names[a].c_str(), *p.arrays()[a], *grads.arrays()[a], loss, 3e-3f, 3e-4, 3e-2);
}

BOOST_AUTO_TEST_CASE(a_short_mixer_training_run_lowers_the_loss_and_repeats_bit_for_bit) {
    const ImageSet train = load_fashion("train");
    TrainOptions o;
    o.epochs = 3;
    o.batch = 25;
    o.limit = 200;
    o.seed = 7;
    o.learning_rate = 2e-3f;
    MixerConfig c;
    c.channels = 8, c.token_hidden = 4, c.channel_hidden = 16, c.blocks = 1;
    int calls = 0;
    const MixerTrainResult a = train_mixer(train, c, o, [&](const EpochReport&) { ++calls; });
    BOOST_TEST(calls == 3);
    BOOST_REQUIRE_EQUAL(a.step_losses.size(), 24u);
    BOOST_TEST_MESSAGE("mixer tiny run: epoch losses " << a.epochs[0].mean_loss << ", " << a.epochs[1].mean_loss << ", "
                                                       << a.epochs[2].mean_loss);
    // Starts near log(10) = 2.30; the bounds leave room for last-bit differences between targets
    // but fail if the loss does not move.
    BOOST_TEST(a.epochs[0].mean_loss < 3.0);
    BOOST_TEST(a.epochs[1].mean_loss < a.epochs[0].mean_loss);
    BOOST_TEST(a.epochs[2].mean_loss < a.epochs[0].mean_loss - 0.15);
    const MixerTrainResult b = train_mixer(train, c, o);
    BOOST_REQUIRE_EQUAL(b.step_losses.size(), a.step_losses.size());
    for (size_t i = 0; i < a.step_losses.size(); ++i)
        BOOST_TEST(std::memcmp(&a.step_losses[i], &b.step_losses[i], sizeof(double)) == 0, "step " << i);
    BOOST_TEST(a.params.head_w == b.params.head_w);
    BOOST_TEST(a.params.blocks[0].tok_w1 == b.params.blocks[0].tok_w1);
    o.seed = 8;
    BOOST_TEST(train_mixer(train, c, o).step_losses[0] != a.step_losses[0]);
    o.max_steps = 3;
    BOOST_TEST(train_mixer(train, c, o).step_losses.size() == 3u);
}

BOOST_AUTO_TEST_CASE(bad_mixer_configs_are_refused_naming_the_parameter) {
    MixerConfig c;
    c.patch = 5;
    try {
        mixer_zeros(c);
        BOOST_ERROR("patch 5 accepted for 28x28");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("patch 5 does not divide") != std::string::npos, e.what());
    }
    c.patch = 7;
    c.channels = 0;
    BOOST_CHECK_THROW(mixer_init(c, 1), std::invalid_argument);
    c.channels = 4;
    c.epsilon = 0.0f;
    BOOST_CHECK_THROW(mixer_zeros(c), std::invalid_argument);
    ImageSet tiny;
    tiny.count = 1, tiny.rows = 28, tiny.cols = 28;
    tiny.pixels.assign(784, 0);
    tiny.labels = {0};
    TrainOptions o;
    o.epochs = 0;
    BOOST_CHECK_THROW(train_mixer(tiny, MixerConfig{}, o), std::invalid_argument);
    o.epochs = 1;
    BOOST_CHECK_THROW(train_mixer(tiny, tiny_config(), o), std::invalid_argument);  // 28x28 images, 8x12 model
    MixerParams p = mixer_zeros(tiny_config());
    p.blocks[1].ch_w2.pop_back();
    BOOST_CHECK_THROW(export_mixer_onnx(p), std::invalid_argument);
}

// The exported graph: only importer ops, opset 20, LayerNormalization feeding Gelu directly in the
// stem, and the same logits as the trainer's forward with the fast and the reference kernels.
BOOST_AUTO_TEST_CASE(the_mixer_onnx_export_runs_in_the_executor_like_the_trainer_forward) {
    for (const MixerConfig& c : {tiny_config(), MixerConfig{}}) {
        MixerParams p = mixer_init(c, 51);
        std::mt19937 gen(52);
        for (auto* a : p.arrays())
            if (a->size() <= size_t(std::max(c.channels, c.channel_hidden)))
                for (float& v : *a) v += 0.3f * (uniform01(gen) - 0.5f);
        const onnx::Model m = export_mixer_onnx(p, {{"trained_by", "test"}});
        BOOST_TEST(m.opset() == 20);
        BOOST_TEST(m.metadata_props.size() == 3u);
        BOOST_TEST(m.metadata_props[0].second.find("pixel / 255") != std::string::npos);
        const Graph g = load_onnx(onnx::serialize_model(m), "mixer.onnx");
        const std::set<std::string> allowed = {"Conv", "Reshape", "Transpose", "LayerNormalization", "Gelu",
                                               "MatMul", "Add", "Flatten", "Gemm"};
        int ln_gelu = 0;
        for (size_t k = 0; k < g.nodes.size(); ++k) {
            BOOST_TEST(allowed.count(g.nodes[k].proto.op_type) == 1u, g.nodes[k].proto.op_type);
            if (k + 1 < g.nodes.size() && g.nodes[k].op == OpType::LayerNormalization && g.nodes[k + 1].op == OpType::Gelu &&
                g.nodes[k + 1].inputs[0] == g.nodes[k].outputs[0])
                ++ln_gelu;
        }
        BOOST_TEST(ln_gelu == 1);  // the stem's
        BOOST_TEST(g.nodes.size() == size_t(5 + 16 * c.blocks + 3));
        const int batch = 3;
        const std::vector<float> x = pixels(size_t(batch) * c.height * c.width, 53);
        const std::vector<float> ours = mixer_logits(p, batch, x.data());
        float scale = 0.0f;
        for (float v : ours) scale = std::max(scale, std::fabs(v));
        for (Kernels k : {Kernels::fast, Kernels::reference}) {
            const RunResult out = run(prepare(g, k), {image_tensor(x, batch, c.height, c.width)});
            BOOST_REQUIRE(out.outputs[0].dims == (std::vector<int64_t>{batch, c.classes}));
            const float* y = out.outputs[0].as<float>();
            for (size_t i = 0; i < ours.size(); ++i)
                BOOST_TEST(std::fabs(y[i] - ours[i]) <= kFastModelRtol * scale, kernels_name(k) << " logit " << i);
        }
    }
}

// The committed model (models/README.md: the command that made it, its accuracy). Fast kernels on
// all 10 000 test images give the recorded count (a few images of slack for float differences
// between targets); the reference kernels agree with the fast ones on the first 200 images.
BOOST_AUTO_TEST_CASE(the_shipped_fashion_mixer_classifies_the_test_set_at_its_recorded_accuracy) {
    const std::string path = std::string(STACKLAB_MODELS_DIR) + "/fashion_mixer.onnx";
    const std::string bytes = slurp(path);
    BOOST_TEST(bytes.size() <= 2u * 1024 * 1024);
    const Graph g = load_onnx(bytes, path);
    bool says_input = false, says_command = false;
    for (const auto& kv : g.metadata) {
        says_input |= kv.first == "input" && kv.second.find("pixel / 255") != std::string::npos;
        says_command |= kv.first == "trained_by" && kv.second.find("--model mixer") != std::string::npos;
    }
    BOOST_TEST(says_input);
    BOOST_TEST(says_command);
    const ImageSet test = load_fashion("t10k");
    const Plan fast = prepare(g, Kernels::fast);
    int64_t correct = 0;
    for (int64_t first = 0; first < test.count; first += 250) {
        const int64_t m = std::min<int64_t>(250, test.count - first);
        const RunResult r = run(fast, {image_batch(test, first, m)});
        const float* y = r.outputs[0].as<float>();
        for (int64_t i = 0; i < m; ++i)
            correct += (std::max_element(y + i * 10, y + i * 10 + 10) - (y + i * 10)) == test.labels[size_t(first + i)];
    }
    BOOST_TEST_MESSAGE("fashion_mixer.onnx: " << correct << " of " << test.count << " test images correct");
    BOOST_TEST(test.count == 10000);
    BOOST_TEST(correct >= 8700);
    BOOST_TEST(std::abs(correct - kShippedMixerCorrect) <= 5, correct << " correct, recorded " << kShippedMixerCorrect);
    const onnx::Tensor batch = image_batch(test, 0, 200);
    const RunResult a = run(fast, {batch}), b = run(prepare(g, Kernels::reference), {batch});
    const float* ya = a.outputs[0].as<float>();
    const float* yb = b.outputs[0].as<float>();
    float scale = 0.0f;
    for (int64_t i = 0; i < 2000; ++i) scale = std::max(scale, std::fabs(yb[i]));
    for (int64_t i = 0; i < 2000; ++i) BOOST_TEST(std::fabs(ya[i] - yb[i]) <= kFastModelRtol * scale, "logit " << i);
}

BOOST_AUTO_TEST_SUITE_END()
