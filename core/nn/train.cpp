// fp32 backpropagation, the CNN, Adam and the ONNX export (train.hpp).
#include "nn/train.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "nn/executor.hpp"

namespace stacklab::nn::train {

namespace {

void require(bool ok, const std::string& message) {
    if (!ok) throw std::invalid_argument(message);
}

// colT [batch * P, K]: row (n, oy, ox), column (c, kh, kw); padding taps read 0.
void im2col_rows(const quant::Conv2DShape& s, const float* x, std::vector<float>& col) {
    const int K = s.gemm_k();
    const int64_t P = int64_t(s.out_h) * s.out_w;
    col.assign(static_cast<size_t>(s.batch * P * K), 0.0f);
    const quant::Conv2DAttrs& a = s.attrs;
    for (int n = 0; n < s.batch; ++n)
        for (int oy = 0; oy < s.out_h; ++oy)
            for (int ox = 0; ox < s.out_w; ++ox) {
                float* row = col.data() + ((n * P) + int64_t(oy) * s.out_w + ox) * K;
                int k = 0;
                for (int c = 0; c < s.in_channels; ++c) {
                    const float* plane = x + (int64_t(n) * s.in_channels + c) * s.in_h * s.in_w;
                    for (int ky = 0; ky < s.kernel_h; ++ky) {
                        const int iy = oy * a.stride_h - a.pad_top + ky * a.dilation_h;
                        for (int kx = 0; kx < s.kernel_w; ++kx, ++k) {
                            const int ix = ox * a.stride_w - a.pad_left + kx * a.dilation_w;
                            if (iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w) row[k] = plane[iy * s.in_w + ix];
                        }
                    }
                }
            }
}

// A [rows, cols] -> A^T [cols, rows].
std::vector<float> transpose(const float* a, int64_t rows, int64_t cols) {
    std::vector<float> t(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) t[static_cast<size_t>(c * rows + r)] = a[r * cols + c];
    return t;
}

// Everything the forward pass of a batch keeps for the backward.
struct Activations {
    CnnShapes s;
    std::vector<float> a1, r1, q1, a2, r2, q2, h, hr, logits;  // conv, relu, pool, ..., hidden, logits
};

void cnn_forward(const CnnParams& p, int batch, const float* x, Activations& t) {
    const CnnConfig& c = p.config;
    t.s = cnn_shapes(c, batch);
    t.a1.resize(t.s.c1.y_size());
    conv2d_forward(t.s.c1, x, p.w1.data(), p.b1.data(), t.a1.data());
    t.r1.resize(t.a1.size());
    relu_forward(t.a1.size(), t.a1.data(), t.r1.data());
    t.q1.resize(t.s.p1.y_size());
    quant::max_pool2d(t.s.p1, t.r1.data(), t.q1.data());
    t.a2.resize(t.s.c2.y_size());
    conv2d_forward(t.s.c2, t.q1.data(), p.w2.data(), p.b2.data(), t.a2.data());
    t.r2.resize(t.a2.size());
    relu_forward(t.a2.size(), t.a2.data(), t.r2.data());
    t.q2.resize(t.s.p2.y_size());
    quant::max_pool2d(t.s.p2, t.r2.data(), t.q2.data());
    t.logits.resize(static_cast<size_t>(batch) * c.classes);
    if (c.hidden > 0) {
        t.h.resize(static_cast<size_t>(batch) * c.hidden);
        linear_forward(batch, t.s.flat, c.hidden, t.q2.data(), p.w3.data(), p.b3.data(), t.h.data());
        t.hr.resize(t.h.size());
        relu_forward(t.h.size(), t.h.data(), t.hr.data());
        linear_forward(batch, c.hidden, c.classes, t.hr.data(), p.w4.data(), p.b4.data(), t.logits.data());
    } else {
        linear_forward(batch, t.s.flat, c.classes, t.q2.data(), p.w3.data(), p.b3.data(), t.logits.data());
    }
}

void check_config(const CnnConfig& c) {
    require(c.conv1 >= 1 && c.conv2 >= 1 && c.classes >= 2 && c.hidden >= 0,
            "CnnConfig: conv1, conv2 must be >= 1, classes >= 2 and hidden >= 0");
    require(c.classes <= 256, "CnnConfig: classes must be <= 256 (labels are bytes)");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Helpers shared with the other models (train.hpp).

std::vector<float> uniform_weights(std::mt19937& g, size_t n, double bound) {
    std::vector<float> w(n);
    const float b = static_cast<float>(bound);
    for (float& v : w) v = (uniform01(g) * 2.0f - 1.0f) * b;
    return w;
}

// ---------------------------------------------------------------------------------------------

void conv2d_forward(const quant::Conv2DShape& s, const float* x, const float* w, const float* b, float* y) {
    require(s.attrs.groups == 1, "conv2d_forward: groups must be 1, not " + std::to_string(s.attrs.groups));
    const quant::PackedConvF32 packed = quant::pack_conv2d_f32(s, w);
    quant::conv2d_f32(s, x, packed, b, y);
}

void conv2d_backward(const quant::Conv2DShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db) {
    require(s.attrs.groups == 1, "conv2d_backward: groups must be 1, not " + std::to_string(s.attrs.groups));
    const int O = s.out_channels, K = s.gemm_k();
    const int64_t P = int64_t(s.out_h) * s.out_w, BP = s.batch * P;
    // dY as [O, batch * P], so that one GEMM sums over the whole batch.
    std::vector<float> dyo(static_cast<size_t>(O * BP));
    for (int n = 0; n < s.batch; ++n)
        for (int o = 0; o < O; ++o)
            std::memcpy(dyo.data() + o * BP + n * P, dy + (int64_t(n) * O + o) * P, static_cast<size_t>(P) * sizeof(float));
    if (db)
        for (int o = 0; o < O; ++o) {
            float sum = 0.0f;
            for (int64_t i = 0; i < BP; ++i) sum += dyo[static_cast<size_t>(o * BP + i)];
            db[o] = sum;
        }
    if (dw) {
        std::vector<float> col;
        im2col_rows(s, x, col);
        gemm_f32(dyo.data(), col.data(), nullptr, dw, O, BP, K);
    }
    if (dx) {
        const std::vector<float> wt = transpose(w, O, K);  // [K, O]
        std::vector<float> dcol(static_cast<size_t>(K * BP));
        gemm_f32(wt.data(), dyo.data(), nullptr, dcol.data(), K, O, BP);
        std::fill(dx, dx + s.x_size(), 0.0f);
        const quant::Conv2DAttrs& a = s.attrs;
        int k = 0;
        for (int c = 0; c < s.in_channels; ++c)
            for (int ky = 0; ky < s.kernel_h; ++ky)
                for (int kx = 0; kx < s.kernel_w; ++kx, ++k) {
                    const float* src = dcol.data() + int64_t(k) * BP;
                    for (int n = 0; n < s.batch; ++n) {
                        float* plane = dx + (int64_t(n) * s.in_channels + c) * s.in_h * s.in_w;
                        for (int oy = 0; oy < s.out_h; ++oy) {
                            const int iy = oy * a.stride_h - a.pad_top + ky * a.dilation_h;
                            if (iy < 0 || iy >= s.in_h) continue;
                            for (int ox = 0; ox < s.out_w; ++ox) {
                                const int ix = ox * a.stride_w - a.pad_left + kx * a.dilation_w;
                                if (ix >= 0 && ix < s.in_w) plane[iy * s.in_w + ix] += src[n * P + int64_t(oy) * s.out_w + ox];
                            }
                        }
                    }
                }
    }
}

void relu_forward(size_t n, const float* x, float* y) {
    for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(size_t n, const float* x, const float* dy, float* dx) {
    for (size_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

void max_pool2d_backward(const quant::Pool2DShape& s, const float* x, const float* dy, float* dx) {
    std::fill(dx, dx + s.x_size(), 0.0f);
    const quant::Pool2DAttrs& a = s.attrs;
    for (int64_t plane = 0; plane < int64_t(s.batch) * s.channels; ++plane) {
        const float* xp = x + plane * s.in_h * s.in_w;
        float* dxp = dx + plane * s.in_h * s.in_w;
        const float* dyp = dy + plane * s.out_h * s.out_w;
        for (int oy = 0; oy < s.out_h; ++oy)
            for (int ox = 0; ox < s.out_w; ++ox) {
                int best = -1;
                for (int ky = 0; ky < a.kernel_h; ++ky) {
                    const int iy = oy * a.stride_h - a.pad_top + ky * a.dilation_h;
                    if (iy < 0 || iy >= s.in_h) continue;
                    for (int kx = 0; kx < a.kernel_w; ++kx) {
                        const int ix = ox * a.stride_w - a.pad_left + kx * a.dilation_w;
                        if (ix < 0 || ix >= s.in_w) continue;
                        const int i = iy * s.in_w + ix;
                        if (best < 0 || xp[i] > xp[best]) best = i;
                    }
                }
                if (best >= 0) dxp[best] += dyp[oy * s.out_w + ox];
            }
    }
}

void linear_forward(int64_t rows, int64_t k, int64_t n, const float* x, const float* w, const float* b, float* y) {
    gemm_f32(x, w, b, y, rows, k, n);
}

void linear_backward(int64_t rows, int64_t k, int64_t n, const float* x, const float* w, const float* dy, float* dx,
                     float* dw, float* db) {
    const std::vector<float> xt = transpose(x, rows, k);  // [k, rows]
    gemm_f32(xt.data(), dy, nullptr, dw, k, rows, n);
    if (db)
        for (int64_t j = 0; j < n; ++j) {
            float sum = 0.0f;
            for (int64_t r = 0; r < rows; ++r) sum += dy[r * n + j];
            db[j] = sum;
        }
    if (dx) {
        const std::vector<float> wt = transpose(w, k, n);  // [n, k]
        gemm_f32(dy, wt.data(), nullptr, dx, rows, n, k);
    }
}

double softmax_cross_entropy(int64_t rows, int64_t classes, const float* logits, const uint8_t* labels, float* dlogits) {
    require(rows >= 1 && classes >= 1, "softmax_cross_entropy: rows and classes must be >= 1");
    double total = 0.0;
    std::vector<double> e(static_cast<size_t>(classes));
    for (int64_t r = 0; r < rows; ++r) {
        const float* z = logits + r * classes;
        require(labels[r] < classes, "softmax_cross_entropy: label " + std::to_string(labels[r]) + " of row " +
                                         std::to_string(r) + " is not below " + std::to_string(classes) + " classes");
        const double m = *std::max_element(z, z + classes);
        double sum = 0.0;
        for (int64_t j = 0; j < classes; ++j) sum += e[static_cast<size_t>(j)] = std::exp(double(z[j]) - m);
        total += std::log(sum) + m - double(z[labels[r]]);
        if (dlogits)
            for (int64_t j = 0; j < classes; ++j)
                dlogits[r * classes + j] =
                    static_cast<float>((e[static_cast<size_t>(j)] / sum - (j == labels[r] ? 1.0 : 0.0)) / double(rows));
    }
    return total / double(rows);
}

// ---------------------------------------------------------------------------------------------

std::vector<std::vector<float>*> CnnParams::arrays() {
    std::vector<std::vector<float>*> v = {&w1, &b1, &w2, &b2, &w3, &b3};
    if (config.hidden > 0) {
        v.push_back(&w4);
        v.push_back(&b4);
    }
    return v;
}

std::vector<const std::vector<float>*> CnnParams::arrays() const {
    std::vector<const std::vector<float>*> v = {&w1, &b1, &w2, &b2, &w3, &b3};
    if (config.hidden > 0) {
        v.push_back(&w4);
        v.push_back(&b4);
    }
    return v;
}

CnnShapes cnn_shapes(const CnnConfig& c, int batch) {
    check_config(c);
    require(batch >= 1, "cnn_shapes: batch must be >= 1");
    require(c.height >= 10 && c.width >= 10,
            "cnn_shapes: images must be at least 10x10 for two 3x3 convolutions and 2x2 pools, not " +
                std::to_string(c.height) + "x" + std::to_string(c.width));
    CnnShapes s;
    quant::Pool2DAttrs pool;
    pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;
    s.c1 = quant::conv2d_shape(batch, 1, c.height, c.width, c.conv1, 1, 3, 3, {});
    s.p1 = quant::pool2d_shape(batch, c.conv1, s.c1.out_h, s.c1.out_w, pool);
    s.c2 = quant::conv2d_shape(batch, c.conv1, s.p1.out_h, s.p1.out_w, c.conv2, c.conv1, 3, 3, {});
    s.p2 = quant::pool2d_shape(batch, c.conv2, s.c2.out_h, s.c2.out_w, pool);
    s.flat = int64_t(c.conv2) * s.p2.out_h * s.p2.out_w;
    return s;
}

CnnParams cnn_zeros(const CnnConfig& c) {
    const CnnShapes s = cnn_shapes(c, 1);
    CnnParams p;
    p.config = c;
    p.w1.assign(s.c1.w_size(), 0.0f);
    p.b1.assign(static_cast<size_t>(c.conv1), 0.0f);
    p.w2.assign(s.c2.w_size(), 0.0f);
    p.b2.assign(static_cast<size_t>(c.conv2), 0.0f);
    const int64_t fc_out = c.hidden > 0 ? c.hidden : c.classes;
    p.w3.assign(static_cast<size_t>(s.flat * fc_out), 0.0f);
    p.b3.assign(static_cast<size_t>(fc_out), 0.0f);
    if (c.hidden > 0) {
        p.w4.assign(static_cast<size_t>(c.hidden) * c.classes, 0.0f);
        p.b4.assign(static_cast<size_t>(c.classes), 0.0f);
    }
    return p;
}

CnnParams cnn_init(const CnnConfig& c, uint32_t seed) {
    CnnParams p = cnn_zeros(c);
    const CnnShapes s = cnn_shapes(c, 1);
    std::mt19937 g(seed);
    auto he = [](double fan_in) { return std::sqrt(6.0 / fan_in); };
    auto glorot = [](double fan_in, double fan_out) { return std::sqrt(6.0 / (fan_in + fan_out)); };
    p.w1 = uniform_weights(g, p.w1.size(), he(s.c1.gemm_k()));
    p.w2 = uniform_weights(g, p.w2.size(), he(s.c2.gemm_k()));
    if (c.hidden > 0) {
        p.w3 = uniform_weights(g, p.w3.size(), he(double(s.flat)));
        p.w4 = uniform_weights(g, p.w4.size(), glorot(c.hidden, c.classes));
    } else {
        p.w3 = uniform_weights(g, p.w3.size(), glorot(double(s.flat), c.classes));
    }
    return p;
}

double cnn_loss_and_gradients(const CnnParams& p, int batch, const float* x, const uint8_t* labels, CnnParams* grads) {
    const CnnConfig& c = p.config;
    Activations t;
    cnn_forward(p, batch, x, t);
    if (!grads) return softmax_cross_entropy(batch, c.classes, t.logits.data(), labels, nullptr);
    *grads = cnn_zeros(c);
    std::vector<float> dlogits(t.logits.size());
    const double loss = softmax_cross_entropy(batch, c.classes, t.logits.data(), labels, dlogits.data());
    std::vector<float> dq2(t.q2.size());
    if (c.hidden > 0) {
        std::vector<float> dhr(t.hr.size()), dh(t.h.size());
        linear_backward(batch, c.hidden, c.classes, t.hr.data(), p.w4.data(), dlogits.data(), dhr.data(), grads->w4.data(),
                        grads->b4.data());
        relu_backward(dh.size(), t.h.data(), dhr.data(), dh.data());
        linear_backward(batch, t.s.flat, c.hidden, t.q2.data(), p.w3.data(), dh.data(), dq2.data(), grads->w3.data(),
                        grads->b3.data());
    } else {
        linear_backward(batch, t.s.flat, c.classes, t.q2.data(), p.w3.data(), dlogits.data(), dq2.data(),
                        grads->w3.data(), grads->b3.data());
    }
    std::vector<float> dr2(t.r2.size()), da2(t.a2.size());
    max_pool2d_backward(t.s.p2, t.r2.data(), dq2.data(), dr2.data());
    relu_backward(da2.size(), t.a2.data(), dr2.data(), da2.data());
    std::vector<float> dq1(t.q1.size());
    conv2d_backward(t.s.c2, t.q1.data(), p.w2.data(), da2.data(), dq1.data(), grads->w2.data(), grads->b2.data());
    std::vector<float> dr1(t.r1.size()), da1(t.a1.size());
    max_pool2d_backward(t.s.p1, t.r1.data(), dq1.data(), dr1.data());
    relu_backward(da1.size(), t.a1.data(), dr1.data(), da1.data());
    conv2d_backward(t.s.c1, x, p.w1.data(), da1.data(), nullptr, grads->w1.data(), grads->b1.data());
    return loss;
}

std::vector<float> cnn_logits(const CnnParams& p, int batch, const float* x) {
    Activations t;
    cnn_forward(p, batch, x, t);
    return t.logits;
}

// ---------------------------------------------------------------------------------------------

float uniform01(std::mt19937& g) { return static_cast<float>(g() >> 8) * (1.0f / 16777216.0f); }

uint32_t uniform_below(std::mt19937& g, uint32_t n) {
    require(n >= 1, "uniform_below: n must be >= 1");
    // Accept draws below the largest multiple of n that fits in 2^32, so every residue is equally likely.
    const uint64_t range = uint64_t(1) << 32, limit = range - range % n;
    for (;;) {
        const uint64_t v = g();
        if (v < limit) return static_cast<uint32_t>(v % n);
    }
}

TrainLog train_adam(const ImageSet& data, int height, int width, const TrainOptions& o,
                    const std::vector<std::vector<float>*>& params, const BatchGradient& gradient,
                    const std::function<void(const EpochReport&)>& on_epoch, const std::string& who) {
    require(o.epochs >= 1, who + ": epochs must be >= 1, not " + std::to_string(o.epochs));
    require(o.batch >= 1, who + ": batch must be >= 1, not " + std::to_string(o.batch));
    require(o.learning_rate > 0.0f && std::isfinite(o.learning_rate), who + ": learning_rate must be > 0");
    require(o.lr_decay > 0.0f && o.lr_decay <= 1.0f, who + ": lr_decay must be in (0, 1]");
    require(o.limit >= 0 && o.max_steps >= 0, who + ": limit and max_steps must be >= 0");
    require(data.rows == height && data.cols == width,
            who + ": images are " + std::to_string(data.rows) + "x" + std::to_string(data.cols) + ", the model takes " +
                std::to_string(height) + "x" + std::to_string(width));
    const int64_t n = o.limit > 0 ? std::min(o.limit, data.count) : data.count;
    require(n >= 1, who + ": no training images");
    require(n <= int64_t(UINT32_MAX), who + ": too many training images");

    TrainLog r;
    std::mt19937 order_rng(o.seed ^ 0x9E3779B9u);  // batch order: a stream apart from the initialization's
    std::vector<uint32_t> order(static_cast<size_t>(n));
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;

    // Adam state, one array per parameter array.
    std::vector<std::vector<float>> m, v;
    for (auto* a : params) {
        m.emplace_back(a->size(), 0.0f);
        v.emplace_back(a->size(), 0.0f);
    }
    const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double beta1_t = 1.0, beta2_t = 1.0;
    double lr_epoch = o.learning_rate;

    const int64_t pixels = data.rows * data.cols;
    std::vector<float> x;
    std::vector<uint8_t> y;
    std::vector<const std::vector<float>*> g;
    int64_t steps = 0;
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        for (uint32_t i = static_cast<uint32_t>(n) - 1; i > 0; --i) std::swap(order[i], order[uniform_below(order_rng, i + 1)]);
        double loss_sum = 0.0;
        int64_t batches = 0;
        for (int64_t first = 0; first < n; first += o.batch) {
            if (o.max_steps > 0 && steps >= o.max_steps) break;
            const int b = static_cast<int>(std::min<int64_t>(o.batch, n - first));
            x.resize(static_cast<size_t>(b * pixels));
            y.resize(static_cast<size_t>(b));
            for (int j = 0; j < b; ++j) {
                const size_t img = order[static_cast<size_t>(first + j)];
                const uint8_t* src = data.pixels.data() + img * static_cast<size_t>(pixels);
                // pixel / 255 exactly as image_batch (idx.hpp) gives it to the evaluated model.
                for (int64_t p = 0; p < pixels; ++p) x[static_cast<size_t>(j * pixels + p)] = static_cast<float>(src[p]) / 255.0f;
                y[static_cast<size_t>(j)] = data.labels[img];
            }
            g.clear();
            const double loss = gradient(b, x.data(), y.data(), g);
            require(g.size() == params.size(), who + ": the gradient has " + std::to_string(g.size()) + " arrays for " +
                                                   std::to_string(params.size()) + " parameter arrays");
            r.step_losses.push_back(loss);
            loss_sum += loss;
            ++batches;
            ++steps;
            beta1_t *= beta1;
            beta2_t *= beta2;
            const float step = static_cast<float>(lr_epoch / (1.0 - beta1_t));
            const float v_corr = static_cast<float>(1.0 / (1.0 - beta2_t));
            for (size_t a = 0; a < params.size(); ++a) {
                require(g[a]->size() == params[a]->size(), who + ": gradient array " + std::to_string(a) + " has the wrong size");
                float* w = params[a]->data();
                const float* gr = g[a]->data();
                float* ma = m[a].data();
                float* va = v[a].data();
                for (size_t i = 0; i < params[a]->size(); ++i) {
                    ma[i] = float(beta1) * ma[i] + float(1.0 - beta1) * gr[i];
                    va[i] = float(beta2) * va[i] + float(1.0 - beta2) * gr[i] * gr[i];
                    w[i] -= step * ma[i] / (std::sqrt(va[i] * v_corr) + float(eps));
                }
            }
        }
        EpochReport e;
        e.epoch = epoch;
        e.steps = steps;
        e.mean_loss = batches ? loss_sum / double(batches) : 0.0;
        r.epochs.push_back(e);
        if (on_epoch) on_epoch(e);
        lr_epoch *= o.lr_decay;
        if (o.max_steps > 0 && steps >= o.max_steps) break;
    }
    return r;
}

TrainResult train_cnn(const ImageSet& data, const CnnConfig& config, const TrainOptions& o,
                      const std::function<void(const EpochReport&)>& on_epoch) {
    return train_from_init<TrainResult>(data, config, o, on_epoch, "train_cnn", cnn_init, cnn_loss_and_gradients);
}

std::vector<std::pair<std::string, std::string>> classifier_metadata(
    int height, int width, int classes, const std::vector<std::pair<std::string, std::string>>& extra) {
    std::vector<std::pair<std::string, std::string>> props = {
        {"input", "float32 [N,1," + std::to_string(height) + "," + std::to_string(width) +
                      "], pixel / 255 in [0, 1], no other normalization"},
        {"output", "float32 [N," + std::to_string(classes) + "] logits (no softmax)"}};
    props.insert(props.end(), extra.begin(), extra.end());
    return props;
}

// ---------------------------------------------------------------------------------------------

onnx::Model export_cnn_onnx(const CnnParams& p, const std::vector<std::pair<std::string, std::string>>& extra_metadata) {
    const CnnConfig& c = p.config;
    const CnnShapes s = cnn_shapes(c, 1);
    const int64_t fc_out = c.hidden > 0 ? c.hidden : c.classes;
    require(p.w1.size() == s.c1.w_size() && p.w2.size() == s.c2.w_size() && p.w3.size() == size_t(s.flat * fc_out) &&
                p.b1.size() == size_t(c.conv1) && p.b2.size() == size_t(c.conv2) && p.b3.size() == size_t(fc_out),
            "export_cnn_onnx: parameter sizes do not match the config");
    onnx::Graph g;
    g.name = "fashion_cnn";
    g.inputs = {float_value("image", {-1, 1, c.height, c.width})};
    g.outputs = {float_value("logits", {-1, c.classes})};
    g.initializers = {float_tensor("conv1.w", {c.conv1, 1, 3, 3}, p.w1), float_tensor("conv1.b", {c.conv1}, p.b1),
                      float_tensor("conv2.w", {c.conv2, c.conv1, 3, 3}, p.w2), float_tensor("conv2.b", {c.conv2}, p.b2),
                      float_tensor("fc1.w", {s.flat, fc_out}, p.w3), float_tensor("fc1.b", {fc_out}, p.b3)};
    const std::vector<onnx::Attribute> conv = {ints_attr("kernel_shape", {3, 3}), ints_attr("pads", {0, 0, 0, 0}),
                                               ints_attr("strides", {1, 1})};
    const std::vector<onnx::Attribute> pool = {ints_attr("kernel_shape", {2, 2}), ints_attr("strides", {2, 2})};
    g.nodes = {make_node("Conv", "conv1", {"image", "conv1.w", "conv1.b"}, {"c1"}, conv),
               make_node("Relu", "relu1", {"c1"}, {"r1"}),
               make_node("MaxPool", "pool1", {"r1"}, {"p1"}, pool),
               make_node("Conv", "conv2", {"p1", "conv2.w", "conv2.b"}, {"c2"}, conv),
               make_node("Relu", "relu2", {"c2"}, {"r2"}),
               make_node("MaxPool", "pool2", {"r2"}, {"p2"}, pool),
               make_node("Flatten", "flatten", {"p2"}, {"flat"}, {int_attr("axis", 1)})};
    if (c.hidden > 0) {
        g.initializers.push_back(float_tensor("fc2.w", {c.hidden, c.classes}, p.w4));
        g.initializers.push_back(float_tensor("fc2.b", {c.classes}, p.b4));
        g.nodes.push_back(make_node("Gemm", "fc1", {"flat", "fc1.w", "fc1.b"}, {"h"}));
        g.nodes.push_back(make_node("Relu", "relu3", {"h"}, {"hr"}));
        g.nodes.push_back(make_node("Gemm", "fc2", {"hr", "fc2.w", "fc2.b"}, {"logits"}));
    } else {
        g.nodes.push_back(make_node("Gemm", "fc1", {"flat", "fc1.w", "fc1.b"}, {"logits"}));
    }
    onnx::Model m;
    m.ir_version = 8;  // ONNX 1.10+; opset 13 needs IR 7 or newer
    m.opset_imports = {{"", 13}};
    m.producer_name = "stacklab";
    m.graph = std::move(g);
    m.metadata_props = classifier_metadata(c.height, c.width, c.classes, extra_metadata);
    return m;
}

}  // namespace stacklab::nn::train
