// The MLP-Mixer: its layers' backward, forward/backward of the network, and the ONNX export
// (train_mixer.hpp).
#include "nn/train_mixer.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "quant/activations.hpp"
#include "quant/elementary.hpp"
#include "quant/norm.hpp"

namespace stacklab::nn::train {

namespace {

void require(bool ok, const std::string& message) {
    if (!ok) throw std::invalid_argument(message);
}

// What the forward of one block keeps for its backward ([rows, cols] arrays, rows = batch * tokens
// for the channel side and batch * channels for the token side).
struct BlockActs {
    std::vector<float> h;    // block input [B,T,C]
    std::vector<float> at;   // LN1(h) transposed [B,C,T]
    std::vector<float> z1;   // at W1 + b1 [B*C, Dt]
    std::vector<float> g1;   // Gelu(z1)
    std::vector<float> h2;   // h + (g1 W2 + b2)^T [B,T,C]
    std::vector<float> c;    // LN2(h2)
    std::vector<float> y1;   // c U1 + c1 [B*T, Dc]
    std::vector<float> g2;   // Gelu(y1)
};

struct MixerActs {
    quant::Conv2DShape stem;
    std::vector<float> conv;    // [B,C,T]
    std::vector<float> tokens;  // [B,T,C]
    std::vector<float> u0;      // LN(tokens)
    std::vector<BlockActs> blocks;
    std::vector<float> last;    // the last block's output [B,T,C]
    std::vector<float> f;       // LN(last), flattened [B, T*C]
    std::vector<float> logits;
};

quant::Conv2DShape stem_shape(const MixerConfig& c, int batch) {
    quant::Conv2DAttrs a;
    a.stride_h = a.stride_w = c.patch;
    return quant::conv2d_shape(batch, 1, c.height, c.width, c.channels, 1, c.patch, c.patch, a);
}

void add_into(std::vector<float>& y, const std::vector<float>& x) {
    for (size_t i = 0; i < y.size(); ++i) y[i] += x[i];
}

void mixer_forward(const MixerParams& p, int batch, const float* x, MixerActs& t) {
    const MixerConfig& c = p.config;
    check_mixer_config(c);
    require(batch >= 1, "mixer_forward: batch must be >= 1");
    const int64_t T = c.tokens(), C = c.channels, Dt = c.token_hidden, Dc = c.channel_hidden;
    const int64_t R = int64_t(batch) * T, BC = int64_t(batch) * C;
    t.stem = stem_shape(c, batch);
    t.conv.resize(t.stem.y_size());
    conv2d_forward(t.stem, x, p.stem_w.data(), p.stem_b.data(), t.conv.data());
    t.tokens.resize(t.conv.size());
    transpose_last2(batch, C, T, t.conv.data(), t.tokens.data());
    t.u0.resize(t.tokens.size());
    layer_norm_forward(R, C, t.tokens.data(), p.stem_ln_g.data(), p.stem_ln_b.data(), c.epsilon, t.u0.data());
    std::vector<float> h(t.u0.size());
    gelu_forward(h.size(), t.u0.data(), h.data());
    t.blocks.resize(p.blocks.size());
    std::vector<float> a(h.size()), z2(h.size()), z2t(h.size());
    for (size_t k = 0; k < p.blocks.size(); ++k) {
        const MixerBlockParams& q = p.blocks[k];
        BlockActs& s = t.blocks[k];
        s.h = h;
        layer_norm_forward(R, C, s.h.data(), q.ln1_g.data(), q.ln1_b.data(), c.epsilon, a.data());
        s.at.resize(a.size());
        transpose_last2(batch, T, C, a.data(), s.at.data());
        s.z1.resize(static_cast<size_t>(BC * Dt));
        linear_forward(BC, T, Dt, s.at.data(), q.tok_w1.data(), q.tok_b1.data(), s.z1.data());
        s.g1.resize(s.z1.size());
        gelu_forward(s.g1.size(), s.z1.data(), s.g1.data());
        linear_forward(BC, Dt, T, s.g1.data(), q.tok_w2.data(), q.tok_b2.data(), z2.data());
        transpose_last2(batch, C, T, z2.data(), z2t.data());
        s.h2 = s.h;
        add_into(s.h2, z2t);
        s.c.resize(s.h2.size());
        layer_norm_forward(R, C, s.h2.data(), q.ln2_g.data(), q.ln2_b.data(), c.epsilon, s.c.data());
        s.y1.resize(static_cast<size_t>(R * Dc));
        linear_forward(R, C, Dc, s.c.data(), q.ch_w1.data(), q.ch_b1.data(), s.y1.data());
        s.g2.resize(s.y1.size());
        gelu_forward(s.g2.size(), s.y1.data(), s.g2.data());
        std::vector<float> y2(h.size());
        linear_forward(R, Dc, C, s.g2.data(), q.ch_w2.data(), q.ch_b2.data(), y2.data());
        h = s.h2;
        add_into(h, y2);
    }
    t.last = std::move(h);
    t.f.resize(t.last.size());
    layer_norm_forward(R, C, t.last.data(), p.head_ln_g.data(), p.head_ln_b.data(), c.epsilon, t.f.data());
    t.logits.resize(static_cast<size_t>(batch) * c.classes);
    linear_forward(batch, T * C, c.classes, t.f.data(), p.head_w.data(), p.head_b.data(), t.logits.data());
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void layer_norm_forward(int64_t rows, int64_t cols, const float* x, const float* gamma, const float* beta, float epsilon,
                        float* y) {
    quant::layer_norm(x, static_cast<size_t>(rows), static_cast<size_t>(cols), gamma, beta, epsilon, y);
}

void layer_norm_backward(int64_t rows, int64_t cols, const float* x, const float* gamma, float epsilon, const float* dy,
                         float* dx, float* dgamma, float* dbeta) {
    require(rows >= 0 && cols >= 1, "layer_norm_backward: cols must be >= 1");
    if (dgamma) std::fill(dgamma, dgamma + cols, 0.0f);
    if (dbeta) std::fill(dbeta, dbeta + cols, 0.0f);
    std::vector<double> xhat(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * cols;
        const float* dyr = dy + r * cols;
        double mean = 0.0;
        for (int64_t j = 0; j < cols; ++j) mean += xr[j];
        mean /= double(cols);
        double var = 0.0;
        for (int64_t j = 0; j < cols; ++j) var += (xr[j] - mean) * (xr[j] - mean);
        var /= double(cols);
        const double rstd = 1.0 / std::sqrt(var + double(epsilon));
        double sum_d = 0.0, sum_dx = 0.0;  // sums of dxhat and dxhat * xhat
        for (int64_t j = 0; j < cols; ++j) {
            xhat[size_t(j)] = (xr[j] - mean) * rstd;
            const double d = double(dyr[j]) * gamma[j];
            sum_d += d;
            sum_dx += d * xhat[size_t(j)];
            if (dgamma) dgamma[j] += static_cast<float>(dyr[j] * xhat[size_t(j)]);
            if (dbeta) dbeta[j] += dyr[j];
        }
        if (dx) {
            const double md = sum_d / double(cols), mdx = sum_dx / double(cols);
            for (int64_t j = 0; j < cols; ++j)
                dx[r * cols + j] = static_cast<float>(rstd * (double(dyr[j]) * gamma[j] - md - xhat[size_t(j)] * mdx));
        }
    }
}

void gelu_forward(size_t n, const float* x, float* y) { quant::activation(quant::Activation::gelu_erf, x, n, y); }

void gelu_backward(size_t n, const float* x, const float* dy, float* dx) {
    const float inv_sqrt2 = 0.70710678118654752f, inv_sqrt_2pi = 0.39894228040143268f;
    for (size_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float cdf = 0.5f * (1.0f + quant::fast_erf(v * inv_sqrt2));
        const float pdf = std::exp(-0.5f * v * v) * inv_sqrt_2pi;
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

void transpose_last2(int64_t batch, int64_t rows, int64_t cols, const float* x, float* y) {
    for (int64_t b = 0; b < batch; ++b) {
        const float* xb = x + b * rows * cols;
        float* yb = y + b * rows * cols;
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c) yb[c * rows + r] = xb[r * cols + c];
    }
}

// ---------------------------------------------------------------------------------------------

std::vector<std::vector<float>*> MixerParams::arrays() {
    std::vector<std::vector<float>*> v = {&stem_w, &stem_b, &stem_ln_g, &stem_ln_b};
    for (MixerBlockParams& b : blocks)
        for (auto* a : {&b.ln1_g, &b.ln1_b, &b.tok_w1, &b.tok_b1, &b.tok_w2, &b.tok_b2, &b.ln2_g, &b.ln2_b, &b.ch_w1,
                        &b.ch_b1, &b.ch_w2, &b.ch_b2})
            v.push_back(a);
    for (auto* a : {&head_ln_g, &head_ln_b, &head_w, &head_b}) v.push_back(a);
    return v;
}

std::vector<const std::vector<float>*> MixerParams::arrays() const {
    std::vector<const std::vector<float>*> v;
    for (auto* a : const_cast<MixerParams*>(this)->arrays()) v.push_back(a);
    return v;
}

std::vector<std::string> MixerParams::names() const {
    std::vector<std::string> v = {"stem.w", "stem.b", "stem.ln.scale", "stem.ln.bias"};
    for (size_t k = 0; k < blocks.size(); ++k) {
        const std::string b = "block" + std::to_string(k) + ".";
        for (const char* n : {"ln1.scale", "ln1.bias", "tok.w1", "tok.b1", "tok.w2", "tok.b2", "ln2.scale", "ln2.bias",
                              "ch.w1", "ch.b1", "ch.w2", "ch.b2"})
            v.push_back(b + n);
    }
    for (const char* n : {"head.ln.scale", "head.ln.bias", "head.w", "head.b"}) v.push_back(n);
    return v;
}

void check_mixer_config(const MixerConfig& c) {
    require(c.patch >= 1, "MixerConfig: patch must be >= 1, not " + std::to_string(c.patch));
    require(c.height >= 1 && c.width >= 1 && c.height % c.patch == 0 && c.width % c.patch == 0,
            "MixerConfig: patch " + std::to_string(c.patch) + " does not divide the image size " +
                std::to_string(c.height) + "x" + std::to_string(c.width));
    require(c.channels >= 1 && c.token_hidden >= 1 && c.channel_hidden >= 1 && c.blocks >= 0,
            "MixerConfig: channels, token_hidden and channel_hidden must be >= 1 and blocks >= 0");
    require(c.classes >= 2 && c.classes <= 256, "MixerConfig: classes must be in [2, 256] (labels are bytes)");
    require(std::isfinite(c.epsilon) && c.epsilon > 0.0f, "MixerConfig: epsilon must be > 0");
}

MixerParams mixer_zeros(const MixerConfig& c) {
    check_mixer_config(c);
    const size_t T = size_t(c.tokens()), C = size_t(c.channels), Dt = size_t(c.token_hidden),
                 Dc = size_t(c.channel_hidden), P = size_t(c.patch);
    MixerParams p;
    p.config = c;
    p.stem_w.assign(C * P * P, 0.0f);
    p.stem_b.assign(C, 0.0f);
    p.stem_ln_g.assign(C, 0.0f);
    p.stem_ln_b.assign(C, 0.0f);
    p.blocks.resize(size_t(c.blocks));
    for (MixerBlockParams& b : p.blocks) {
        b.ln1_g.assign(C, 0.0f), b.ln1_b.assign(C, 0.0f), b.ln2_g.assign(C, 0.0f), b.ln2_b.assign(C, 0.0f);
        b.tok_w1.assign(T * Dt, 0.0f), b.tok_b1.assign(Dt, 0.0f), b.tok_w2.assign(Dt * T, 0.0f), b.tok_b2.assign(T, 0.0f);
        b.ch_w1.assign(C * Dc, 0.0f), b.ch_b1.assign(Dc, 0.0f), b.ch_w2.assign(Dc * C, 0.0f), b.ch_b2.assign(C, 0.0f);
    }
    p.head_ln_g.assign(C, 0.0f);
    p.head_ln_b.assign(C, 0.0f);
    p.head_w.assign(T * C * size_t(c.classes), 0.0f);
    p.head_b.assign(size_t(c.classes), 0.0f);
    return p;
}

MixerParams mixer_init(const MixerConfig& c, uint32_t seed) {
    MixerParams p = mixer_zeros(c);
    std::mt19937 g(seed);
    auto glorot = [](double fan_in, double fan_out) { return std::sqrt(6.0 / (fan_in + fan_out)); };
    const double T = c.tokens(), C = c.channels, Dt = c.token_hidden, Dc = c.channel_hidden;
    // The stem as a Conv: fan_in = 1 * P * P inputs, fan_out = C * P * P (Glorot's convolutional
    // counts, receptive field times channels).
    p.stem_w = uniform_weights(g, p.stem_w.size(), glorot(double(c.patch) * c.patch, C * c.patch * c.patch));
    std::fill(p.stem_ln_g.begin(), p.stem_ln_g.end(), 1.0f);
    for (MixerBlockParams& b : p.blocks) {
        std::fill(b.ln1_g.begin(), b.ln1_g.end(), 1.0f);
        std::fill(b.ln2_g.begin(), b.ln2_g.end(), 1.0f);
        b.tok_w1 = uniform_weights(g, b.tok_w1.size(), glorot(T, Dt));
        b.tok_w2 = uniform_weights(g, b.tok_w2.size(), glorot(Dt, T));
        b.ch_w1 = uniform_weights(g, b.ch_w1.size(), glorot(C, Dc));
        b.ch_w2 = uniform_weights(g, b.ch_w2.size(), glorot(Dc, C));
    }
    std::fill(p.head_ln_g.begin(), p.head_ln_g.end(), 1.0f);
    p.head_w = uniform_weights(g, p.head_w.size(), glorot(T * C, c.classes));
    return p;
}

size_t mixer_parameter_count(const MixerParams& p) {
    size_t n = 0;
    for (const auto* a : p.arrays()) n += a->size();
    return n;
}

double mixer_loss_and_gradients(const MixerParams& p, int batch, const float* x, const uint8_t* labels, MixerParams* grads) {
    const MixerConfig& c = p.config;
    MixerActs t;
    mixer_forward(p, batch, x, t);
    if (!grads) return softmax_cross_entropy(batch, c.classes, t.logits.data(), labels, nullptr);
    *grads = mixer_zeros(c);
    const int64_t T = c.tokens(), C = c.channels, Dt = c.token_hidden, Dc = c.channel_hidden;
    const int64_t R = int64_t(batch) * T, BC = int64_t(batch) * C;
    std::vector<float> dlogits(t.logits.size());
    const double loss = softmax_cross_entropy(batch, c.classes, t.logits.data(), labels, dlogits.data());
    std::vector<float> df(t.f.size()), dh(t.f.size());
    linear_backward(batch, T * C, c.classes, t.f.data(), p.head_w.data(), dlogits.data(), df.data(), grads->head_w.data(),
                    grads->head_b.data());
    layer_norm_backward(R, C, t.last.data(), p.head_ln_g.data(), c.epsilon, df.data(), dh.data(), grads->head_ln_g.data(),
                        grads->head_ln_b.data());
    std::vector<float> dg2, dy1, dc(dh.size()), dln(dh.size()), dz2(dh.size()), dg1, dz1, dat(dh.size()), da(dh.size());
    for (size_t k = p.blocks.size(); k-- > 0;) {
        const MixerBlockParams& q = p.blocks[k];
        MixerBlockParams& gq = grads->blocks[k];
        const BlockActs& s = t.blocks[k];
        // Channel mixing: h3 = h2 + MLP(LN2(h2)); dh holds dL/dh3.
        dg2.resize(s.g2.size());
        dy1.resize(s.y1.size());
        linear_backward(R, Dc, C, s.g2.data(), q.ch_w2.data(), dh.data(), dg2.data(), gq.ch_w2.data(), gq.ch_b2.data());
        gelu_backward(dy1.size(), s.y1.data(), dg2.data(), dy1.data());
        linear_backward(R, C, Dc, s.c.data(), q.ch_w1.data(), dy1.data(), dc.data(), gq.ch_w1.data(), gq.ch_b1.data());
        layer_norm_backward(R, C, s.h2.data(), q.ln2_g.data(), c.epsilon, dc.data(), dln.data(), gq.ln2_g.data(),
                            gq.ln2_b.data());
        add_into(dh, dln);  // now dL/dh2
        // Token mixing: h2 = h + (MLP(LN1(h)^T))^T.
        transpose_last2(batch, T, C, dh.data(), dz2.data());  // [B,C,T]
        dg1.resize(s.g1.size());
        dz1.resize(s.z1.size());
        linear_backward(BC, Dt, T, s.g1.data(), q.tok_w2.data(), dz2.data(), dg1.data(), gq.tok_w2.data(), gq.tok_b2.data());
        gelu_backward(dz1.size(), s.z1.data(), dg1.data(), dz1.data());
        linear_backward(BC, T, Dt, s.at.data(), q.tok_w1.data(), dz1.data(), dat.data(), gq.tok_w1.data(), gq.tok_b1.data());
        transpose_last2(batch, C, T, dat.data(), da.data());  // [B,T,C]
        layer_norm_backward(R, C, s.h.data(), q.ln1_g.data(), c.epsilon, da.data(), dln.data(), gq.ln1_g.data(),
                            gq.ln1_b.data());
        add_into(dh, dln);  // now dL/dh
    }
    // Stem: h0 = Gelu(LN(transpose(conv(x)))).
    std::vector<float> du0(dh.size()), dtok(dh.size()), dconv(dh.size());
    gelu_backward(du0.size(), t.u0.data(), dh.data(), du0.data());
    layer_norm_backward(R, C, t.tokens.data(), p.stem_ln_g.data(), c.epsilon, du0.data(), dtok.data(),
                        grads->stem_ln_g.data(), grads->stem_ln_b.data());
    transpose_last2(batch, T, C, dtok.data(), dconv.data());
    conv2d_backward(t.stem, x, p.stem_w.data(), dconv.data(), nullptr, grads->stem_w.data(), grads->stem_b.data());
    return loss;
}

std::vector<float> mixer_logits(const MixerParams& p, int batch, const float* x) {
    MixerActs t;
    mixer_forward(p, batch, x, t);
    return t.logits;
}

MixerTrainResult train_mixer(const ImageSet& data, const MixerConfig& config, const TrainOptions& o,
                             const std::function<void(const EpochReport&)>& on_epoch) {
    return train_from_init<MixerTrainResult>(data, config, o, on_epoch, "train_mixer", mixer_init, mixer_loss_and_gradients);
}

// ---------------------------------------------------------------------------------------------

onnx::Model export_mixer_onnx(const MixerParams& p, const std::vector<std::pair<std::string, std::string>>& extra_metadata) {
    const MixerConfig& c = p.config;
    const MixerParams shapes = mixer_zeros(c);
    const auto want = shapes.arrays();
    const auto have = p.arrays();
    require(want.size() == have.size(), "export_mixer_onnx: the number of blocks does not match the config");
    for (size_t i = 0; i < want.size(); ++i)
        require(want[i]->size() == have[i]->size(),
                "export_mixer_onnx: parameter '" + p.names()[i] + "' does not have the config's size");
    const int64_t T = c.tokens(), C = c.channels, Dt = c.token_hidden, Dc = c.channel_hidden, P = c.patch;
    onnx::Graph g;
    g.name = "fashion_mixer";
    g.inputs = {float_value("image", {-1, 1, c.height, c.width})};
    g.outputs = {float_value("logits", {-1, c.classes})};
    const std::vector<std::string> names = p.names();
    const std::vector<std::vector<int64_t>> dims = [&] {
        std::vector<std::vector<int64_t>> d = {{C, 1, P, P}, {C}, {C}, {C}};
        for (int k = 0; k < c.blocks; ++k)
            for (auto v : std::vector<std::vector<int64_t>>{{C}, {C}, {T, Dt}, {Dt}, {Dt, T}, {T}, {C}, {C}, {C, Dc}, {Dc}, {Dc, C}, {C}})
                d.push_back(v);
        for (auto v : std::vector<std::vector<int64_t>>{{C}, {C}, {T * C, c.classes}, {c.classes}}) d.push_back(v);
        return d;
    }();
    for (size_t i = 0; i < names.size(); ++i) g.initializers.push_back(float_tensor(names[i], dims[i], *have[i]));
    g.initializers.push_back(int64_tensor("stem.shape", {3}, {-1, C, T}));

    auto ln = [&](const std::string& name, const std::string& x, const std::string& w, const std::string& y) {
        return make_node("LayerNormalization", name, {x, w + ".scale", w + ".bias"}, {y},
                         {int_attr("axis", -1), float_attr("epsilon", c.epsilon)});
    };
    auto gelu = [](const std::string& name, const std::string& x, const std::string& y) {
        return make_node("Gelu", name, {x}, {y}, {string_attr("approximate", "none")});
    };
    auto swap = [](const std::string& name, const std::string& x, const std::string& y) {
        return make_node("Transpose", name, {x}, {y}, {ints_attr("perm", {0, 2, 1})});
    };
    g.nodes = {make_node("Conv", "stem.conv", {"image", "stem.w", "stem.b"}, {"stem.conv"},
                         {ints_attr("kernel_shape", {P, P}), ints_attr("pads", {0, 0, 0, 0}), ints_attr("strides", {P, P})}),
               make_node("Reshape", "stem.reshape", {"stem.conv", "stem.shape"}, {"stem.ct"}),
               swap("stem.tokens", "stem.ct", "stem.tokens"),
               ln("stem.ln", "stem.tokens", "stem.ln", "stem.ln"),
               gelu("stem.gelu", "stem.ln", "h0")};
    std::string h = "h0";
    for (int k = 0; k < c.blocks; ++k) {
        const std::string b = "block" + std::to_string(k) + ".";
        const std::vector<onnx::Node> nodes = {
            ln(b + "ln1", h, b + "ln1", b + "ln1"),
            swap(b + "tok.in", b + "ln1", b + "tok.in"),
            make_node("MatMul", b + "tok.mm1", {b + "tok.in", b + "tok.w1"}, {b + "tok.mm1"}),
            make_node("Add", b + "tok.fc1", {b + "tok.mm1", b + "tok.b1"}, {b + "tok.fc1"}),
            gelu(b + "tok.gelu", b + "tok.fc1", b + "tok.gelu"),
            make_node("MatMul", b + "tok.mm2", {b + "tok.gelu", b + "tok.w2"}, {b + "tok.mm2"}),
            make_node("Add", b + "tok.fc2", {b + "tok.mm2", b + "tok.b2"}, {b + "tok.fc2"}),
            swap(b + "tok.out", b + "tok.fc2", b + "tok.out"),
            make_node("Add", b + "tok.res", {h, b + "tok.out"}, {b + "h2"}),
            ln(b + "ln2", b + "h2", b + "ln2", b + "ln2"),
            make_node("MatMul", b + "ch.mm1", {b + "ln2", b + "ch.w1"}, {b + "ch.mm1"}),
            make_node("Add", b + "ch.fc1", {b + "ch.mm1", b + "ch.b1"}, {b + "ch.fc1"}),
            gelu(b + "ch.gelu", b + "ch.fc1", b + "ch.gelu"),
            make_node("MatMul", b + "ch.mm2", {b + "ch.gelu", b + "ch.w2"}, {b + "ch.mm2"}),
            make_node("Add", b + "ch.fc2", {b + "ch.mm2", b + "ch.b2"}, {b + "ch.fc2"}),
            make_node("Add", b + "ch.res", {b + "h2", b + "ch.fc2"}, {b + "out"})};
        g.nodes.insert(g.nodes.end(), nodes.begin(), nodes.end());
        h = b + "out";
    }
    g.nodes.push_back(ln("head.ln", h, "head.ln", "head.ln"));
    g.nodes.push_back(make_node("Flatten", "head.flatten", {"head.ln"}, {"head.flat"}, {int_attr("axis", 1)}));
    g.nodes.push_back(make_node("Gemm", "head.fc", {"head.flat", "head.w", "head.b"}, {"logits"}));
    onnx::Model m;
    m.ir_version = 9;  // ONNX 1.15, the release of opset 20
    m.opset_imports = {{"", 20}};
    m.producer_name = "stacklab";
    m.graph = std::move(g);
    m.metadata_props = classifier_metadata(c.height, c.width, c.classes, extra_metadata);
    return m;
}

}  // namespace stacklab::nn::train
