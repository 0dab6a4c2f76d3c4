#include "nn/executor.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "nn/reference_ops.hpp"
#include "quant/activations.hpp"
#include "quant/conv.hpp"
#include "quant/convert.hpp"
#include "quant/elementary.hpp"
#include "quant/gemm_f32.hpp"
#include "quant/norm.hpp"
#include "quant/softmax.hpp"
#include "quant/transpose.hpp"

namespace stacklab::nn {

using onnx::DataType;
using onnx::Tensor;

enum class FastKind {
    conv_f32, gemm_f32, matmul_f32, batch_norm, layer_norm, activation, erf, softmax, relu, add, mul,
    max_pool, average_pool, global_average_pool, matmul_integer, conv_integer, quantize, dequantize, conv_qdq, gemm_qdq,
    view, transpose,
};

struct PreparedNode {
    FastKind kind = FastKind::relu;
    // conv_f32 / conv_integer
    quant::Conv2DAttrs conv;
    int out_channels = 0, weight_in_channels = 0, kernel_h = 0, kernel_w = 0;
    quant::PackedConvF32 conv_f32;
    quant::PackedConv conv_int;
    std::vector<float> bias;  // conv_f32, gemm_f32, matmul_f32 (empty: none)
    // gemm_f32 / matmul_f32: B as K x N; matmul_integer: packed int8 B
    std::vector<float> b;
    int64_t K = 0, N = 0;
    quant::PackedB packed_b;
    int32_t x_zero_point = 0;  // matmul_integer (A) / conv_integer (x) / *_qdq
    // conv_qdq / gemm_qdq: the int8/uint8 tensor the X DequantizeLinear reads (run() binds it as
    // input 0 instead of the dequantized floats) and y = float(acc) * multiplier[c] + bias[c].
    int x_source = -1;
    std::vector<float> multiplier;
    // batch_norm: y = x * scale[c] + shift[c]; layer_norm: gamma = scale, beta = shift (may be empty)
    std::vector<float> scale, shift;
    float epsilon = 0.0f;
    quant::Activation act = quant::Activation::sigmoid;
    quant::Pool2DAttrs pool;
    // quantize / dequantize: per-tensor parameters; is_signed says int8 (else uint8)
    quant::QuantParams qparams;
    // view (Flatten, Reshape with a constant shape): the same bytes under new dimensions
    bool view_flatten = false, view_allowzero = false;
    int64_t view_axis = 1;
    std::vector<int64_t> view_shape;
    // transpose: the permutation (output axis d reads input axis perm[d])
    std::vector<int64_t> perm;
    // conv_qdq / gemm_qdq whose float output only feeds [Relu ->] QuantizeLinear (per tensor):
    // without keep_activations the node writes that QuantizeLinear's int8/uint8 output (tensor
    // fused_output) directly, row by row, with the same float operations, and the Relu and
    // QuantizeLinear nodes are skipped (Plan::node_fused). A float conv_f32 whose output only feeds
    // [Relu ->] [MaxPool] writes the last one's output (fused_output; fused_relu, and fused_max_pool
    // with the pool's attributes in `pool`); a float gemm_f32 / matmul_f32 likewise through [Add of
    // a bias row (fused_bias) ->] [Relu].
    int fused_output = -1;
    bool fused_relu = false;
    quant::QuantParams fused_q;
    // dequantize whose float output only feeds [Add of a constant row over the last axis ->]
    // activation -> QuantizeLinear (per tensor): the int8 -> int8 chain between two int8 matrix
    // layers (the Mixer's bias + GELU). Without keep_activations the node writes the
    // QuantizeLinear's output (fused_output) row by row with the four nodes' float operations in
    // their order (dequantize, + bias[j], the activation, quantize), in a row-sized scratch; the
    // Add, activation and QuantizeLinear nodes are skipped (Plan::node_fused).
    std::vector<float> fused_bias;  // empty: no Add
    bool fused_act = false;
    std::vector<uint8_t> fused_table;  // the chain as a table: [column * 256 + input byte] -> output byte
    // dequantize whose float output only feeds MaxPool -> QuantizeLinear (per tensor; the int8 CNN's
    // pools): dequantizing is monotonic and so is quantizing, so the max of the dequantized window,
    // quantized, is the quantized dequantization of the window's max byte. The node runs the
    // integer max pool (with `pool`) and maps the bytes through fused_table (one column): the
    // MaxPool and QuantizeLinear nodes are skipped.
    bool fused_max_pool = false;
    bool fused_table_identity = false;  // fused_table maps every byte to itself
    // A Flatten / Reshape between that MaxPool and the QuantizeLinear (the CNN's last pool): the
    // output takes its dimensions.
    std::shared_ptr<const PreparedNode> fused_view;
};

namespace {

const char* fast_kind_name(FastKind k) {
    switch (k) {
        case FastKind::conv_f32: return "conv2d_f32";
        case FastKind::gemm_f32: return "gemm_f32";
        case FastKind::matmul_f32: return "gemm_f32 (matmul)";
        case FastKind::batch_norm: return "batch_norm_folded";
        case FastKind::layer_norm: return "layer_norm";
        case FastKind::activation: return "activation";
        case FastKind::erf: return "fast_erf";
        case FastKind::softmax: return "softmax";
        case FastKind::relu: return "relu";
        case FastKind::add: return "add_f32";
        case FastKind::mul: return "mul_f32";
        case FastKind::max_pool: return "max_pool2d";
        case FastKind::average_pool: return "average_pool2d";
        case FastKind::global_average_pool: return "global_average_pool2d";
        case FastKind::matmul_integer: return "gemm_int8";
        case FastKind::conv_integer: return "conv2d_int8";
        case FastKind::quantize: return "quantize_per_tensor";
        case FastKind::dequantize: return "dequantize_per_tensor";
        case FastKind::conv_qdq: return "conv2d_int8 (QDQ)";
        case FastKind::view: return "view";
        case FastKind::transpose: return "transpose";
        case FastKind::gemm_qdq: return "gemm_int8 (QDQ)";
    }
    return "?";
}

int64_t iattr(const GraphNode& n, const char* name, int64_t def) {
    const onnx::Attribute* a = n.proto.attr(name);
    return a && a->type == onnx::Attribute::INT ? a->i : def;
}
float fattr(const GraphNode& n, const char* name, float def) {
    const onnx::Attribute* a = n.proto.attr(name);
    return a && a->type == onnx::Attribute::FLOAT ? a->f : def;
}
std::string sattr(const GraphNode& n, const char* name, const std::string& def) {
    const onnx::Attribute* a = n.proto.attr(name);
    return a && a->type == onnx::Attribute::STRING ? a->s : def;
}
std::vector<int64_t> iattrs(const GraphNode& n, const char* name, std::vector<int64_t> def) {
    const onnx::Attribute* a = n.proto.attr(name);
    return a && a->type == onnx::Attribute::INTS ? a->ints : def;
}

bool fits_int(int64_t v) { return v >= 1 && v <= (int64_t{1} << 24); }

// The node's input i as a graph tensor (nullptr when omitted).
const TensorInfo* input_info(const Graph& g, const GraphNode& n, size_t i) {
    return i < n.inputs.size() && n.inputs[i] >= 0 ? &g.tensors[static_cast<size_t>(n.inputs[i])] : nullptr;
}
// The constant value of tensor t: an initializer, or a value folded at prepare time (Plan::folded);
// nullptr when t is computed at run time.
struct Constants {
    const Graph& g;
    const std::vector<std::shared_ptr<const Tensor>>& folded;
    const Tensor* operator()(int t) const {
        if (t < 0) return nullptr;
        if (folded[static_cast<size_t>(t)]) return folded[static_cast<size_t>(t)].get();
        return g.constant(t);
    }
};
const Tensor* input_const(const Constants& c, const GraphNode& n, size_t i) {
    return i < n.inputs.size() ? c(n.inputs[i]) : nullptr;
}
bool is_float(const TensorInfo* t) { return t && t->dtype == DataType::FLOAT; }
bool only_first_output(const GraphNode& n) {
    for (size_t i = 1; i < n.outputs.size(); ++i)
        if (n.outputs[i] >= 0) return false;
    return true;
}
bool explicit_pads(const GraphNode& n) {
    const std::string p = sattr(n, "auto_pad", "NOTSET");
    return p == "NOTSET" || p == "VALID";
}
bool valid_pads(const GraphNode& n) { return sattr(n, "auto_pad", "NOTSET") == "VALID"; }

bool conv2d_attrs(const GraphNode& n, quant::Conv2DAttrs& a) {
    if (!explicit_pads(n)) return false;
    const std::vector<int64_t> s = iattrs(n, "strides", {1, 1}), d = iattrs(n, "dilations", {1, 1}),
                               p = valid_pads(n) ? std::vector<int64_t>{0, 0, 0, 0} : iattrs(n, "pads", {0, 0, 0, 0});
    if (s.size() != 2 || d.size() != 2 || p.size() != 4) return false;
    for (int64_t v : s) if (!fits_int(v)) return false;
    for (int64_t v : d) if (!fits_int(v)) return false;
    for (int64_t v : p) if (v < 0 || v > (int64_t{1} << 24)) return false;
    const int64_t group = iattr(n, "group", 1);
    if (!fits_int(group)) return false;
    a.stride_h = int(s[0]), a.stride_w = int(s[1]);
    a.dilation_h = int(d[0]), a.dilation_w = int(d[1]);
    a.pad_top = int(p[0]), a.pad_left = int(p[1]), a.pad_bottom = int(p[2]), a.pad_right = int(p[3]);
    a.groups = int(group);
    return true;
}

bool pool2d_attrs(const GraphNode& n, quant::Pool2DAttrs& a) {
    if (!explicit_pads(n)) return false;
    const std::vector<int64_t> k = iattrs(n, "kernel_shape", {}), s = iattrs(n, "strides", {1, 1}),
                               d = iattrs(n, "dilations", {1, 1}),
                               p = valid_pads(n) ? std::vector<int64_t>{0, 0, 0, 0} : iattrs(n, "pads", {0, 0, 0, 0});
    if (k.size() != 2 || s.size() != 2 || d.size() != 2 || p.size() != 4) return false;
    for (const auto* v : {&k, &s, &d})
        for (int64_t e : *v) if (!fits_int(e)) return false;
    for (int64_t v : p) if (v < 0 || v > (int64_t{1} << 24)) return false;
    a.kernel_h = int(k[0]), a.kernel_w = int(k[1]);
    a.stride_h = int(s[0]), a.stride_w = int(s[1]);
    a.dilation_h = int(d[0]), a.dilation_w = int(d[1]);
    a.pad_top = int(p[0]), a.pad_left = int(p[1]), a.pad_bottom = int(p[2]), a.pad_right = int(p[3]);
    a.ceil_mode = iattr(n, "ceil_mode", 0) == 1;
    a.count_include_pad = iattr(n, "count_include_pad", 0) == 1;
    return true;
}

// A constant int8/uint8 scalar (or absent: 0) as an int32 zero point; false if it is anything else.
bool scalar_zero_point(const Constants& c, const GraphNode& n, size_t i, int32_t& zp) {
    zp = 0;
    if (i >= n.inputs.size() || n.inputs[i] < 0) return true;
    const Tensor* t = c(n.inputs[i]);
    if (!t || t->numel() != 1) return false;
    if (t->dtype == DataType::UINT8) zp = t->as<uint8_t>()[0];
    else if (t->dtype == DataType::INT8) zp = t->as<int8_t>()[0];
    else return false;
    return true;
}

// Weight zero points: absent (0), one int8 value, or `count` int8 values.
bool weight_zero_points(const Constants& c, const GraphNode& n, size_t i, int64_t count, std::vector<int32_t>& zps) {
    zps = {0};
    if (i >= n.inputs.size() || n.inputs[i] < 0) return true;
    const Tensor* t = c(n.inputs[i]);
    if (!t || t->dtype != DataType::INT8 || (t->numel() != 1 && !(t->dims.size() == 1 && t->numel() == count)))
        return false;
    zps.clear();
    for (int8_t v : t->to_vector<int8_t>()) zps.push_back(v);
    return true;
}

// The QDQ form of an int8 layer (what core/nn/quantize.hpp writes and ONNX Runtime fuses into
// QLinearConv): X = DequantizeLinear(xq, sx, zx) per tensor, W = DequantizeLinear(wq, sw, 0) with wq
// an int8 (or int4, opset 21) initializer, sw per tensor or per output channel along `weight_axis`. Then
//   sum_k X W = sx * sw[c] * sum_k (xq - zx) wq,
// so the layer runs on the int8 kernels with an int32 accumulator and one float multiply per output:
// y = float(acc) * (sx * sw[c]) + bias[c] (acc is exact; float(acc) is exact below 2^24).
struct QdqOperands {
    int x_source = -1;
    int32_t x_zero_point = 0;
    float x_scale = 0.0f;
    const Tensor* wq = nullptr;
    std::vector<float> w_scale;  // 1 or `channels` values
};
bool qdq_operands(const Graph& g, const Constants& consts, const GraphNode& n, int64_t weight_axis, int64_t channels,
                  QdqOperands& q) {
    if (n.inputs.size() < 2 || n.inputs[0] < 0 || n.inputs[1] < 0) return false;
    const int xp = g.tensors[size_t(n.inputs[0])].producer, wp = g.tensors[size_t(n.inputs[1])].producer;
    if (xp < 0 || wp < 0) return false;
    const GraphNode& dx = g.nodes[size_t(xp)];
    const GraphNode& dw = g.nodes[size_t(wp)];
    if (dx.op != OpType::DequantizeLinear || dw.op != OpType::DequantizeLinear) return false;
    if (iattr(dx, "block_size", 0) != 0 || iattr(dw, "block_size", 0) != 0) return false;
    // X: a run-time int8/uint8 tensor with constant scalar parameters.
    const TensorInfo* xq = input_info(g, dx, 0);
    const Tensor* sx = input_const(consts, dx, 1);
    if (!xq || (xq->dtype != DataType::INT8 && xq->dtype != DataType::UINT8) || consts(dx.inputs[0])) return false;
    if (!sx || sx->dtype != DataType::FLOAT || sx->numel() != 1 || sx->dims.size() > 1) return false;
    if (!scalar_zero_point(consts, dx, 2, q.x_zero_point)) return false;
    q.x_source = dx.inputs[0];
    q.x_scale = sx->as<float>()[0];
    // W: an int8 or int4 constant, zero points 0. An int4 initializer is held one value per byte,
    // sign-extended (onnx_proto.hpp), so the int8 kernels read it as it is.
    q.wq = input_const(consts, dw, 0);
    const Tensor* sw = input_const(consts, dw, 1);
    if (!q.wq || (q.wq->dtype != DataType::INT8 && q.wq->dtype != DataType::INT4) || !sw || sw->dtype != DataType::FLOAT)
        return false;
    if (sw->numel() == 1 && sw->dims.size() <= 1) {
        q.w_scale = {sw->as<float>()[0]};
    } else {
        if (sw->dims.size() != 1 || sw->numel() != channels) return false;
        int64_t axis = iattr(dw, "axis", 1);
        if (axis < 0) axis += int64_t(q.wq->dims.size());
        if (axis != weight_axis) return false;
        q.w_scale = sw->to_vector<float>();
    }
    if (dw.inputs.size() > 2 && dw.inputs[2] >= 0) {
        const Tensor* zw = input_const(consts, dw, 2);
        if (!zw || zw->dtype != q.wq->dtype || zw->numel() != int64_t(q.w_scale.size())) return false;
        for (int8_t z : zw->to_vector<int8_t>())
            if (z != 0) return false;
    }
    for (float v : q.w_scale)
        if (!(v > 0.0f) || !std::isfinite(v)) return false;
    return q.x_scale > 0.0f && std::isfinite(q.x_scale);
}

// Upgrades a prepared fp32 Conv / Gemm / MatMul to the int8 QDQ path when its operands have that form.
void try_qdq_integer(const Graph& g, const Constants& consts, const GraphNode& n, PreparedNode& p, quant::Isa isa) {
    QdqOperands q;
    if (p.kind == FastKind::conv_f32) {
        if (!qdq_operands(g, consts, n, 0, p.out_channels, q)) return;
        const quant::Conv2DShape s = quant::conv2d_shape(
            1, p.weight_in_channels * p.conv.groups, (p.kernel_h - 1) * p.conv.dilation_h + 1,
            (p.kernel_w - 1) * p.conv.dilation_w + 1, p.out_channels, p.weight_in_channels, p.kernel_h, p.kernel_w, p.conv);
        if (s.gemm_k() > quant::kMaxGemmK) return;
        p.conv_int = quant::pack_conv2d(s, q.wq->as<int8_t>(), {0}, isa);
        p.kind = FastKind::conv_qdq;
        if (p.bias.empty()) p.bias.assign(size_t(p.out_channels), 0.0f);
        p.multiplier.resize(size_t(p.out_channels));
    } else if (p.kind == FastKind::gemm_f32 || p.kind == FastKind::matmul_f32) {
        const bool tb = n.op == OpType::Gemm && iattr(n, "transB", 0) != 0;
        if (!qdq_operands(g, consts, n, tb ? 0 : 1, p.N, q)) return;
        if (p.K > quant::kMaxGemmK || !fits_int(p.K) || !fits_int(p.N)) return;
        std::vector<int8_t> b(size_t(p.K * p.N));
        const int8_t* src = q.wq->as<int8_t>();
        for (int64_t k = 0; k < p.K; ++k)
            for (int64_t j = 0; j < p.N; ++j) b[size_t(k * p.N + j)] = tb ? src[j * p.K + k] : src[k * p.N + j];
        p.packed_b = quant::pack_b(b.data(), int(p.K), int(p.N), int(p.N), {0}, isa);
        p.kind = FastKind::gemm_qdq;
        p.b.clear();
        if (p.bias.empty()) p.bias.assign(size_t(p.N), 0.0f);
        p.multiplier.resize(size_t(p.N));
    } else {
        return;
    }
    for (size_t c = 0; c < p.multiplier.size(); ++c) p.multiplier[c] = q.x_scale * q.w_scale[q.w_scale.size() == 1 ? 0 : c];
    p.x_source = q.x_source;
    p.x_zero_point = q.x_zero_point;
}

// Returns null when the node runs on the reference.
std::shared_ptr<PreparedNode> prepare_node(const Graph& g, const Constants& consts, const GraphNode& n, quant::Isa isa) {
    auto p = std::make_shared<PreparedNode>();
    const TensorInfo* x = input_info(g, n, 0);
    if (!x || !x->has_shape || !only_first_output(n)) return nullptr;
    const size_t rank = x->shape.size();
    switch (n.op) {
        case OpType::Conv: {
            const Tensor* w = input_const(consts, n, 1);
            const Tensor* b = input_const(consts, n, 2);
            if (!is_float(x) || rank != 4 || !w || w->dtype != DataType::FLOAT || w->dims.size() != 4) return nullptr;
            if (n.inputs.size() > 2 && n.inputs[2] >= 0 && (!b || b->dtype != DataType::FLOAT || b->numel() != w->dims[0]))
                return nullptr;
            if (!conv2d_attrs(n, p->conv)) return nullptr;
            for (int64_t d : w->dims) if (!fits_int(d)) return nullptr;
            p->kind = FastKind::conv_f32;
            p->out_channels = int(w->dims[0]), p->weight_in_channels = int(w->dims[1]);
            p->kernel_h = int(w->dims[2]), p->kernel_w = int(w->dims[3]);
            // A shape that only fixes what the packing reads: channels, kernel, groups.
            const quant::Conv2DShape s = quant::conv2d_shape(
                1, p->weight_in_channels * p->conv.groups, (p->kernel_h - 1) * p->conv.dilation_h + 1,
                (p->kernel_w - 1) * p->conv.dilation_w + 1, p->out_channels, p->weight_in_channels, p->kernel_h,
                p->kernel_w, p->conv);
            p->conv_f32 = quant::pack_conv2d_f32(s, w->as<float>());
            if (b) p->bias = b->to_vector<float>();
            return p;
        }
        case OpType::ConvInteger: {
            const Tensor* w = input_const(consts, n, 1);
            if (rank != 4 || (x->dtype != DataType::UINT8 && x->dtype != DataType::INT8)) return nullptr;
            if (!w || w->dtype != DataType::INT8 || w->dims.size() != 4) return nullptr;
            for (int64_t d : w->dims) if (!fits_int(d)) return nullptr;
            std::vector<int32_t> wzp;
            if (!scalar_zero_point(consts, n, 2, p->x_zero_point) || !weight_zero_points(consts, n, 3, w->dims[0], wzp)) return nullptr;
            if (!conv2d_attrs(n, p->conv)) return nullptr;
            p->kind = FastKind::conv_integer;
            p->out_channels = int(w->dims[0]), p->weight_in_channels = int(w->dims[1]);
            p->kernel_h = int(w->dims[2]), p->kernel_w = int(w->dims[3]);
            const quant::Conv2DShape s = quant::conv2d_shape(
                1, p->weight_in_channels * p->conv.groups, (p->kernel_h - 1) * p->conv.dilation_h + 1,
                (p->kernel_w - 1) * p->conv.dilation_w + 1, p->out_channels, p->weight_in_channels, p->kernel_h,
                p->kernel_w, p->conv);
            if (s.gemm_k() > quant::kMaxGemmK) return nullptr;
            p->conv_int = quant::pack_conv2d(s, w->as<int8_t>(), wzp, isa);
            return p;
        }
        case OpType::Gemm: {
            const Tensor* b = input_const(consts, n, 1);
            const Tensor* c = input_const(consts, n, 2);
            if (!is_float(x) || rank != 2 || iattr(n, "transA", 0) != 0 || fattr(n, "alpha", 1.0f) != 1.0f) return nullptr;
            if (!b || b->dtype != DataType::FLOAT || b->dims.size() != 2) return nullptr;
            const bool tb = iattr(n, "transB", 0) != 0;
            p->K = b->dims[tb ? 1 : 0];
            p->N = b->dims[tb ? 0 : 1];
            if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
                if (!c || c->dtype != DataType::FLOAT || c->numel() != p->N ||
                    !(c->dims == std::vector<int64_t>{p->N} || c->dims == std::vector<int64_t>{1, p->N}))
                    return nullptr;
                const float beta = fattr(n, "beta", 1.0f);
                for (float v : c->to_vector<float>()) p->bias.push_back(beta * v);
            }
            p->kind = FastKind::gemm_f32;
            p->b.resize(static_cast<size_t>(p->K * p->N));
            const float* src = b->as<float>();
            for (int64_t k = 0; k < p->K; ++k)
                for (int64_t j = 0; j < p->N; ++j)
                    p->b[static_cast<size_t>(k * p->N + j)] = tb ? src[j * p->K + k] : src[k * p->N + j];
            return p;
        }
        case OpType::MatMul: {
            const Tensor* b = input_const(consts, n, 1);
            if (!is_float(x) || rank < 2 || !b || b->dtype != DataType::FLOAT || b->dims.size() != 2) return nullptr;
            p->kind = FastKind::matmul_f32;
            p->K = b->dims[0];
            p->N = b->dims[1];
            p->b = b->to_vector<float>();
            return p;
        }
        case OpType::MatMulInteger: {
            const Tensor* b = input_const(consts, n, 1);
            if (rank < 2 || (x->dtype != DataType::UINT8 && x->dtype != DataType::INT8)) return nullptr;
            if (!b || b->dtype != DataType::INT8 || b->dims.size() != 2) return nullptr;
            if (b->dims[0] > quant::kMaxGemmK || !fits_int(b->dims[0]) || !fits_int(b->dims[1])) return nullptr;
            std::vector<int32_t> bzp;
            if (!scalar_zero_point(consts, n, 2, p->x_zero_point) || !weight_zero_points(consts, n, 3, b->dims[1], bzp)) return nullptr;
            p->kind = FastKind::matmul_integer;
            p->K = b->dims[0];
            p->N = b->dims[1];
            p->packed_b = quant::pack_b(b->as<int8_t>(), int(p->K), int(p->N), int(p->N), bzp, isa);
            return p;
        }
        case OpType::BatchNormalization: {
            if (!is_float(x) || rank < 2 || iattr(n, "training_mode", 0) != 0) return nullptr;
            const Tensor* t[4];
            for (size_t i = 0; i < 4; ++i) {
                t[i] = input_const(consts, n, i + 1);
                if (!t[i] || t[i]->dtype != DataType::FLOAT || t[i]->dims.size() != 1 || t[i]->dims[0] != t[0]->dims[0])
                    return nullptr;
            }
            p->kind = FastKind::batch_norm;
            const double eps = fattr(n, "epsilon", 1e-5f);
            for (int64_t c = 0; c < t[0]->dims[0]; ++c) {
                const double a = double(t[0]->as<float>()[c]) / std::sqrt(double(t[3]->as<float>()[c]) + eps);
                p->scale.push_back(float(a));
                p->shift.push_back(float(double(t[1]->as<float>()[c]) - double(t[2]->as<float>()[c]) * a));
            }
            return p;
        }
        case OpType::LayerNormalization: {
            const Tensor* gamma = input_const(consts, n, 1);
            const Tensor* beta = input_const(consts, n, 2);
            if (!is_float(x) || rank < 1 || iattr(n, "stash_type", 1) != 1) return nullptr;
            int64_t axis = iattr(n, "axis", -1);
            if (axis < 0) axis += int64_t(rank);
            const int64_t cols = x->shape.back();
            if (axis != int64_t(rank) - 1 || cols < 1) return nullptr;
            if (!gamma || gamma->dtype != DataType::FLOAT || gamma->numel() != cols || gamma->dims.size() != 1) return nullptr;
            if (n.inputs.size() > 2 && n.inputs[2] >= 0 &&
                (!beta || beta->dtype != DataType::FLOAT || beta->numel() != cols || beta->dims.size() != 1))
                return nullptr;
            p->kind = FastKind::layer_norm;
            p->scale = gamma->to_vector<float>();
            if (beta) p->shift = beta->to_vector<float>();
            p->epsilon = fattr(n, "epsilon", 1e-5f);
            if (!(p->epsilon >= 0.0f)) return nullptr;
            return p;
        }
        case OpType::Gelu:
        case OpType::Sigmoid:
        case OpType::Tanh:
        case OpType::HardSwish: {
            if (!is_float(x)) return nullptr;
            p->kind = FastKind::activation;
            if (n.op == OpType::Sigmoid) p->act = quant::Activation::sigmoid;
            if (n.op == OpType::Tanh) p->act = quant::Activation::tanh;
            if (n.op == OpType::HardSwish) p->act = quant::Activation::hardswish;
            if (n.op == OpType::Gelu) {
                const std::string a = sattr(n, "approximate", "none");
                if (a != "none" && a != "tanh") return nullptr;
                p->act = a == "none" ? quant::Activation::gelu_erf : quant::Activation::gelu_tanh;
            }
            return p;
        }
        case OpType::Erf:
            if (!is_float(x)) return nullptr;
            p->kind = FastKind::erf;
            return p;
        case OpType::Softmax: {
            int64_t axis = iattr(n, "axis", -1);
            if (axis < 0) axis += int64_t(rank);
            if (!is_float(x) || rank < 1 || axis != int64_t(rank) - 1) return nullptr;
            p->kind = FastKind::softmax;
            return p;
        }
        case OpType::Relu:
            if (!is_float(x)) return nullptr;
            p->kind = FastKind::relu;
            return p;
        case OpType::Transpose: {
            // Any permutation of a known rank; the reference checks and reports bad ones.
            std::vector<int64_t> perm(rank);
            for (size_t i = 0; i < rank; ++i) perm[i] = int64_t(rank - 1 - i);
            perm = iattrs(n, "perm", perm);
            std::vector<bool> seen(rank, false);
            if (perm.size() != rank || rank == 0) return nullptr;
            for (int64_t a : perm) {
                if (a < 0 || a >= int64_t(rank) || seen[size_t(a)]) return nullptr;
                seen[size_t(a)] = true;
            }
            p->kind = FastKind::transpose;
            p->perm = std::move(perm);
            return p;
        }
        case OpType::Flatten:
            p->kind = FastKind::view;
            p->view_flatten = true;
            p->view_axis = iattr(n, "axis", 1);
            return p;
        case OpType::Reshape: {
            const Tensor* shape = input_const(consts, n, 1);
            if (!shape || shape->dtype != DataType::INT64 || shape->dims.size() != 1) return nullptr;
            p->kind = FastKind::view;
            p->view_shape = shape->to_vector<int64_t>();
            p->view_allowzero = n.opset >= 14 && iattr(n, "allowzero", 0) != 0;
            return p;
        }
        case OpType::QuantizeLinear:
        case OpType::DequantizeLinear: {
            // Per-tensor int8 / uint8 only (QDQ activations); per-axis, blocked and other types
            // run on the reference. Same formula as the reference: quant::quantize_value /
            // dequantize_value, element by element.
            const bool q = n.op == OpType::QuantizeLinear;
            const Tensor* scale = input_const(consts, n, 1);
            const Tensor* zp = input_const(consts, n, 2);
            if (iattr(n, "block_size", 0) != 0 || iattr(n, "output_dtype", 0) != 0 || iattr(n, "saturate", 1) != 1) return nullptr;
            if (!scale || scale->dtype != DataType::FLOAT || scale->numel() != 1 || scale->dims.size() > 1) return nullptr;
            if (n.inputs.size() > 2 && n.inputs[2] >= 0 && (!zp || zp->numel() != 1 || zp->dims.size() > 1)) return nullptr;
            const DataType qtype = zp ? zp->dtype : (q ? DataType::UINT8 : x->dtype);
            if (qtype != DataType::INT8 && qtype != DataType::UINT8) return nullptr;
            if (q ? !is_float(x) : x->dtype != qtype) return nullptr;
            int32_t z = 0;
            if (!scalar_zero_point(consts, n, 2, z)) return nullptr;
            p->qparams.scale = {scale->as<float>()[0]};
            p->qparams.zero_point = {z};
            p->qparams.is_signed = qtype == DataType::INT8;
            if (!(p->qparams.scale[0] > 0.0f) || !std::isfinite(p->qparams.scale[0])) return nullptr;
            p->kind = q ? FastKind::quantize : FastKind::dequantize;
            return p;
        }
        case OpType::Add:
        case OpType::Mul: {
            const TensorInfo* y = input_info(g, n, 1);
            if (!is_float(x) || !is_float(y)) return nullptr;
            p->kind = n.op == OpType::Add ? FastKind::add : FastKind::mul;
            return p;
        }
        case OpType::MaxPool:
        case OpType::AveragePool:
            if (!is_float(x) || rank != 4 || !pool2d_attrs(n, p->pool)) return nullptr;
            if (n.op == OpType::MaxPool && p->pool.count_include_pad) return nullptr;
            p->kind = n.op == OpType::MaxPool ? FastKind::max_pool : FastKind::average_pool;
            return p;
        case OpType::GlobalAveragePool:
            if (!is_float(x) || rank != 4) return nullptr;
            p->kind = FastKind::global_average_pool;
            return p;
        default:
            return nullptr;
    }
}

// Every fast kernel writes each element of its output, so the buffer's old bytes are not cleared
// (tests/core/nn_quantize_test.cpp runs both shipped models, fp32 and int8, on a workspace filled with
// garbage and gets the same bytes).
Tensor new_output(Workspace& ws, DataType dt, std::vector<int64_t> dims) {
    Tensor t;
    t.dtype = dt;
    t.dims = std::move(dims);
    t.data = ws.take(static_cast<size_t>(t.numel()) * onnx::element_size(dt), false);
    return t;
}

template <class T>
T* data_of(Tensor& t) {
    return reinterpret_cast<T*>(t.data.data());
}

int to_int(const GraphNode& n, int64_t v, const char* what) {
    if (v < 1 || v > (int64_t{1} << 24))
        throw NodeError(n.proto, n.opset, std::string(what) + " " + std::to_string(v) + " is out of range for the fast kernels", true);
    return int(v);
}

// y = a op b for float tensors with numpy broadcasting.
// own: a's tensor when it may be overwritten (see run_fast); used when the output has a's shape.
Tensor binary_f32(Workspace& ws, const GraphNode& n, const Tensor& a, const Tensor& b, bool add, Tensor* own) {
    const size_t r = std::max(a.dims.size(), b.dims.size());
    std::vector<int64_t> out(r), sa(r, 0), sb(r, 0);
    int64_t stride_a = 1, stride_b = 1;
    for (size_t i = r; i-- > 0;) {
        const size_t off_a = r - a.dims.size(), off_b = r - b.dims.size();
        const int64_t da = i < off_a ? 1 : a.dims[i - off_a];
        const int64_t db = i < off_b ? 1 : b.dims[i - off_b];
        if (da != db && da != 1 && db != 1)
            throw NodeError(n.proto, n.opset, "shapes " + shape_text(a.dims) + " and " + shape_text(b.dims) +
                                                  " do not broadcast", false);
        out[i] = da == 1 ? db : da;
        sa[i] = da == 1 ? 0 : stride_a;
        sb[i] = db == 1 ? 0 : stride_b;
        stride_a *= da;
        stride_b *= db;
    }
    // b a row over a's last axis (a bias after MatMul): y[r, j] = a[r, j] op b[j], in a's buffer
    // when it may be overwritten.
    const int64_t cols = a.dims.empty() ? 0 : a.dims.back();
    const bool row_b = out == a.dims && cols > 0 && b.numel() == cols && !b.dims.empty() && b.dims.back() == cols;
    if (row_b) {
        Tensor y = own ? std::move(*own) : new_output(ws, DataType::FLOAT, out);
        const float* pa = own ? y.as<float>() : a.as<float>();  // a's data, wherever it now lives
        const float* pb = b.as<float>();
        float* py = data_of<float>(y);
        const size_t rows = static_cast<size_t>(y.numel() / cols), nc = static_cast<size_t>(cols);
        for (size_t r = 0; r < rows; ++r) {
            if (add)
                for (size_t j = 0; j < nc; ++j) py[r * nc + j] = pa[r * nc + j] + pb[j];
            else
                for (size_t j = 0; j < nc; ++j) py[r * nc + j] = pa[r * nc + j] * pb[j];
        }
        return y;
    }
    if (own && a.dims == b.dims) {  // in place: y[i] = a[i] op b[i] into a's buffer
        Tensor y = std::move(*own);
        float* py = data_of<float>(y);
        const float* pb = b.as<float>();
        const size_t total = static_cast<size_t>(y.numel());
        if (add)
            for (size_t i = 0; i < total; ++i) py[i] = py[i] + pb[i];
        else
            for (size_t i = 0; i < total; ++i) py[i] = py[i] * pb[i];
        return y;
    }
    Tensor y = new_output(ws, DataType::FLOAT, out);
    const float* pa = a.as<float>();
    const float* pb = b.as<float>();
    float* py = data_of<float>(y);
    const size_t total = static_cast<size_t>(y.numel());
    if (a.dims == b.dims) {
        for (size_t i = 0; i < total; ++i) py[i] = add ? pa[i] + pb[i] : pa[i] * pb[i];
        return y;
    }
    std::vector<int64_t> pos(r, 0);
    int64_t ia = 0, ib = 0;
    for (size_t e = 0; e < total; ++e) {
        py[e] = add ? pa[ia] + pb[ib] : pa[ia] * pb[ib];
        for (size_t d = r; d-- > 0;) {
            ia += sa[d];
            ib += sb[d];
            if (++pos[d] < out[d]) break;
            ia -= sa[d] * pos[d];
            ib -= sb[d] * pos[d];
            pos[d] = 0;
        }
    }
    return y;
}

// The output stage of a QDQ layer from the prepared node (PreparedNode::fused_output): its float
// map and the fused QuantizeLinear (quant::QdqOutput).
quant::QdqOutput qdq_output(const PreparedNode& p) {
    return {p.multiplier.data(), p.bias.data(), p.fused_relu, p.fused_q.scale[0], p.fused_q.zero_point[0]};
}

// The fused tail of a QDQ Gemm / MatMul (a Conv's is applied as the convolution emits,
// quant::conv2d_*_quantize): quant::requantize_accumulators over the rows of `columns` values, the
// float operations of the three nodes in their order without a whole float tensor.
Tensor requantize_fused(Workspace& ws, const PreparedNode& p, const Tensor& acc, size_t columns) {
    const quant::QuantParams& q = p.fused_q;
    Tensor out = new_output(ws, q.is_signed ? DataType::INT8 : DataType::UINT8, acc.dims);
    const size_t total = size_t(acc.numel());
    if (total == 0 || columns == 0) return out;
    std::vector<float> scratch;
    const quant::QdqOutput qo = qdq_output(p);
    const size_t rows = total / columns;
    if (q.is_signed) quant::requantize_accumulators(acc.as<int32_t>(), rows, columns, columns, qo, data_of<int8_t>(out), scratch);
    else quant::requantize_accumulators(acc.as<int32_t>(), rows, columns, columns, qo, data_of<uint8_t>(out), scratch);
    return out;
}

// The fused int8 -> int8 chain of PreparedNode::fused_bias / fused_act. Its input is one byte and
// its output one byte per column, so the chain is a table of 256 entries per column, built once at
// prepare time (fused_chain_table) by running the four nodes' array kernels (dequantize, + bias[j],
// the activation, quantize) on every possible input byte: a lookup gives exactly the bytes the
// unfused nodes give, and the activation (GELU's erf: a division and an exp per value) leaves the
// run.
std::vector<uint8_t> fused_chain_table(const PreparedNode& p, size_t cols) {
    const quant::QuantParams& q = p.fused_q;
    const float s = p.qparams.scale[0];
    const int32_t z = p.qparams.zero_point[0];
    std::vector<uint8_t> table(256 * cols);
    std::vector<float> row(cols);
    std::vector<uint8_t> out(cols);
    for (int b = 0; b < 256; ++b) {
        // Every column of the row holds the value whose stored byte is b.
        if (p.qparams.is_signed) {
            const std::vector<int8_t> in(cols, static_cast<int8_t>(b));
            quant::dequantize_array(in.data(), cols, s, z, row.data());
        } else {
            const std::vector<uint8_t> in(cols, static_cast<uint8_t>(b));
            quant::dequantize_array(in.data(), cols, s, z, row.data());
        }
        if (!p.fused_bias.empty())
            for (size_t j = 0; j < cols; ++j) row[j] = row[j] + p.fused_bias[j];
        if (p.fused_act) quant::activation(p.act, row.data(), cols, row.data());
        if (q.is_signed) quant::quantize_array(row.data(), cols, q.scale[0], q.zero_point[0], reinterpret_cast<int8_t*>(out.data()));
        else quant::quantize_array(row.data(), cols, q.scale[0], q.zero_point[0], out.data());
        for (size_t j = 0; j < cols; ++j) table[j * 256 + size_t(b)] = out[j];
    }
    return table;
}

// The dimensions a view node (Flatten, or Reshape with a constant shape) gives `dims`.
std::vector<int64_t> view_dims(const PreparedNode& v, const std::vector<int64_t>& dims, int64_t numel) {
    return v.view_flatten ? flatten_dims(dims, v.view_axis) : reshape_dims(dims, v.view_shape, v.view_allowzero, numel);
}

Tensor dequantize_max_pool_fused(Workspace& ws, const PreparedNode& p, const GraphNode& n, const Tensor& x) {
    if (x.dims.size() != 4) throw NodeError(n.proto, n.opset, "the pooled X must be 4-D, not " + shape_text(x.dims), false);
    quant::Pool2DShape s;
    try {
        s = quant::pool2d_shape(to_int(n, x.dims[0], "batch"), to_int(n, x.dims[1], "channels"),
                                to_int(n, x.dims[2], "height"), to_int(n, x.dims[3], "width"), p.pool);
    } catch (const std::invalid_argument& e) {
        throw NodeError(n.proto, n.opset, e.what(), false);
    }
    const std::vector<int64_t> dims{s.batch, s.channels, s.out_h, s.out_w};
    Tensor pooled = new_output(ws, x.dtype, dims);
    const std::vector<int64_t> out_dims = p.fused_view ? view_dims(*p.fused_view, dims, pooled.numel()) : dims;
    if (p.qparams.is_signed) quant::max_pool2d(s, x.as<int8_t>(), data_of<int8_t>(pooled));
    else quant::max_pool2d(s, x.as<uint8_t>(), data_of<uint8_t>(pooled));
    // The bytes mapped in place; when both nodes have the same scale and zero point the table is the
    // identity and there is nothing to map.
    Tensor out = std::move(pooled);
    out.dtype = p.fused_q.is_signed ? DataType::INT8 : DataType::UINT8;
    out.dims = out_dims;
    if (!p.fused_table_identity) {
        const uint8_t* t = p.fused_table.data();
        for (uint8_t& b : out.data) b = t[b];
    }
    return out;
}

Tensor dequantize_chain_fused(Workspace& ws, const PreparedNode& p, const Tensor& x) {
    const quant::QuantParams& q = p.fused_q;
    Tensor out = new_output(ws, q.is_signed ? DataType::INT8 : DataType::UINT8, x.dims);
    const size_t total = size_t(x.numel());
    const size_t cols = x.dims.empty() ? total : size_t(x.dims.back());
    if (total == 0 || cols == 0) return out;
    if (p.fused_table.size() != 256 * cols)
        throw std::invalid_argument("the fused chain's table was built for " + std::to_string(p.fused_table.size() / 256) +
                                    " columns, X's last axis has " + std::to_string(cols));
    // int8 and uint8 alike: the table is indexed by the stored byte.
    const uint8_t* in = x.data.data();
    uint8_t* o = out.data.data();
    const uint8_t* t = p.fused_table.data();
    for (size_t i = 0; i < total; i += cols)
        for (size_t j = 0; j < cols; ++j) o[i + j] = t[j * 256 + in[i + j]];
    return out;
}

// own: input 0's tensor when this node is its last reader (run() owns it); a node that writes a
// result of the same size and type may take its buffer instead of a new one (in place).
Tensor run_fast(Workspace& ws, const PreparedNode& p, const GraphNode& n, const std::vector<const Tensor*>& in, Tensor* own,
                bool fuse) {
    const Tensor& x = *in[0];
    const size_t count = static_cast<size_t>(x.numel());
    switch (p.kind) {
        case FastKind::conv_f32:
        case FastKind::conv_integer:
        case FastKind::conv_qdq: {
            if (x.dims.size() != 4) throw NodeError(n.proto, n.opset, "X must be 4-D, not " + shape_text(x.dims), false);
            quant::Conv2DShape s;
            try {
                s = quant::conv2d_shape(to_int(n, x.dims[0], "batch"), to_int(n, x.dims[1], "channels"),
                                        to_int(n, x.dims[2], "height"), to_int(n, x.dims[3], "width"), p.out_channels,
                                        p.weight_in_channels, p.kernel_h, p.kernel_w, p.conv);
            } catch (const std::invalid_argument& e) {
                throw NodeError(n.proto, n.opset, e.what(), false);
            }
            if (p.kind == FastKind::conv_f32) {
                const bool fused = p.fused_output >= 0 && fuse;
                const float* bias = p.bias.empty() ? nullptr : p.bias.data();
                if (fused && p.fused_max_pool) {
                    quant::Pool2DShape ps;
                    try {
                        ps = quant::conv2d_f32_max_pool_shape(s, p.pool);
                    } catch (const std::invalid_argument& e) {
                        throw NodeError(n.proto, n.opset, std::string("the fused MaxPool: ") + e.what(), false);
                    }
                    Tensor y = new_output(ws, DataType::FLOAT, {ps.batch, ps.channels, ps.out_h, ps.out_w});
                    quant::conv2d_f32_max_pool(s, x.as<float>(), p.conv_f32, bias, p.fused_relu, p.pool, data_of<float>(y));
                    return y;
                }
                Tensor y = new_output(ws, DataType::FLOAT, {s.batch, s.out_channels, s.out_h, s.out_w});
                quant::conv2d_f32(s, x.as<float>(), p.conv_f32, bias, data_of<float>(y), fused && p.fused_relu);
                return y;
            }
            if (p.kind == FastKind::conv_qdq && p.fused_output >= 0 && fuse) {
                // Quantized as the convolution emits its accumulators (no int32 tensor): the same
                // float operations per value as requantize_fused.
                const quant::QuantParams& fq = p.fused_q;
                const quant::QdqOutput out = qdq_output(p);
                Tensor q = new_output(ws, fq.is_signed ? DataType::INT8 : DataType::UINT8,
                                      {s.batch, s.out_channels, s.out_h, s.out_w});
                if (x.dtype == DataType::UINT8) {
                    if (fq.is_signed) quant::conv2d_u8s8_quantize(s, x.as<uint8_t>(), p.x_zero_point, p.conv_int, out, data_of<int8_t>(q));
                    else quant::conv2d_u8s8_quantize(s, x.as<uint8_t>(), p.x_zero_point, p.conv_int, out, data_of<uint8_t>(q));
                } else {
                    if (fq.is_signed) quant::conv2d_s8s8_quantize(s, x.as<int8_t>(), p.x_zero_point, p.conv_int, out, data_of<int8_t>(q));
                    else quant::conv2d_s8s8_quantize(s, x.as<int8_t>(), p.x_zero_point, p.conv_int, out, data_of<uint8_t>(q));
                }
                return q;
            }
            Tensor y = new_output(ws, DataType::INT32, {s.batch, s.out_channels, s.out_h, s.out_w});
            if (x.dtype == DataType::UINT8)
                quant::conv2d_u8s8_s32(s, x.as<uint8_t>(), p.x_zero_point, p.conv_int, nullptr, data_of<int32_t>(y));
            else
                quant::conv2d_s8s8_s32(s, x.as<int8_t>(), p.x_zero_point, p.conv_int, nullptr, data_of<int32_t>(y));
            if (p.kind == FastKind::conv_integer) return y;
            Tensor f = new_output(ws, DataType::FLOAT, y.dims);
            const int32_t* acc = y.as<int32_t>();
            float* pf = data_of<float>(f);
            const size_t plane = size_t(s.out_h) * size_t(s.out_w);
            for (size_t i = 0, c = 0; i < size_t(y.numel()); i += plane, c = (c + 1) % size_t(s.out_channels))
                quant::dequantize_accumulators(acc + i, plane, 1, 1, &p.multiplier[c], &p.bias[c], false, pf + i);
            ws.give(std::move(y.data));  // the int32 accumulators: a scratch buffer for the next node
            return f;
        }
        case FastKind::gemm_f32:
        case FastKind::matmul_f32:
        case FastKind::matmul_integer:
        case FastKind::gemm_qdq: {
            if (x.dims.size() < 2 || x.dims.back() != p.K)
                throw NodeError(n.proto, n.opset, "A " + shape_text(x.dims) + " does not have " + std::to_string(p.K) +
                                                      " columns", false);
            if (p.kind == FastKind::gemm_f32 && x.dims.size() != 2)
                throw NodeError(n.proto, n.opset, "A must be a matrix, not " + shape_text(x.dims), false);
            std::vector<int64_t> dims = x.dims;
            dims.back() = p.N;
            const int64_t M = p.K ? static_cast<int64_t>(count) / p.K : 0;
            if (p.kind == FastKind::gemm_qdq) {
                Tensor acc = new_output(ws, DataType::INT32, dims);
                if (M > (int64_t{1} << 30)) throw NodeError(n.proto, n.opset, "too many rows", true);
                if (M > 0) {
                    if (x.dtype == DataType::UINT8)
                        quant::gemm_u8s8_s32(x.as<uint8_t>(), int(M), int(p.K), p.x_zero_point, p.packed_b,
                                             data_of<int32_t>(acc), int(p.N));
                    else
                        quant::gemm_s8s8_s32(x.as<int8_t>(), int(M), int(p.K), p.x_zero_point, p.packed_b,
                                             data_of<int32_t>(acc), int(p.N));
                }
                if (p.fused_output >= 0 && fuse) {
                    Tensor q = requantize_fused(ws, p, acc, size_t(p.N));
                    ws.give(std::move(acc.data));
                    return q;
                }
                Tensor y = new_output(ws, DataType::FLOAT, dims);
                quant::dequantize_accumulators(acc.as<int32_t>(), size_t(M), size_t(p.N), size_t(p.N), p.multiplier.data(),
                                               p.bias.data(), false, data_of<float>(y));
                ws.give(std::move(acc.data));
                return y;
            }
            if (p.kind == FastKind::matmul_integer) {
                Tensor y = new_output(ws, DataType::INT32, dims);
                if (M > 0) {
                    if (M > (int64_t{1} << 30)) throw NodeError(n.proto, n.opset, "too many rows", true);
                    if (x.dtype == DataType::UINT8)
                        quant::gemm_u8s8_s32(x.as<uint8_t>(), int(M), int(p.K), p.x_zero_point, p.packed_b,
                                             data_of<int32_t>(y), int(p.N));
                    else
                        quant::gemm_s8s8_s32(x.as<int8_t>(), int(M), int(p.K), p.x_zero_point, p.packed_b,
                                             data_of<int32_t>(y), int(p.N));
                }
                return y;
            }
            Tensor y = new_output(ws, DataType::FLOAT, dims);
            // Fused (PreparedNode::fused_output): MatMul -> Add of a bias row (fused_bias, added after
            // the sum as the Add does) and/or -> Relu; run apart, the plain product (+ Gemm's C).
            const bool fused = p.fused_output >= 0 && fuse;
            const std::vector<float>& bias = fused && !p.fused_bias.empty() ? p.fused_bias : p.bias;
            gemm_f32(x.as<float>(), p.b.data(), bias.empty() ? nullptr : bias.data(), data_of<float>(y), M, p.K, p.N,
                     fused && p.fused_relu);
            return y;
        }
        case FastKind::batch_norm: {
            const int64_t C = static_cast<int64_t>(p.scale.size());
            if (x.dims.size() < 2 || x.dims[1] != C)
                throw NodeError(n.proto, n.opset, "X " + shape_text(x.dims) + " does not have " + std::to_string(C) +
                                                      " channels", false);
            Tensor y = new_output(ws, DataType::FLOAT, x.dims);
            const size_t plane = count / static_cast<size_t>(std::max<int64_t>(1, x.dims[0] * C));
            const float* px = x.as<float>();
            float* py = data_of<float>(y);
            for (size_t i = 0, ch = 0; i < count; i += plane, ch = (ch + 1) % size_t(C))
                for (size_t j = 0; j < plane; ++j) py[i + j] = px[i + j] * p.scale[ch] + p.shift[ch];
            return y;
        }
        case FastKind::layer_norm: {
            const size_t cols = p.scale.size();
            if (x.dims.empty() || x.dims.back() != int64_t(cols))
                throw NodeError(n.proto, n.opset, "X " + shape_text(x.dims) + " does not end in " + std::to_string(cols), false);
            Tensor y = new_output(ws, DataType::FLOAT, x.dims);
            quant::layer_norm(x.as<float>(), count / cols, cols, p.scale.data(), p.shift.empty() ? nullptr : p.shift.data(),
                              p.epsilon, data_of<float>(y));
            return y;
        }
        case FastKind::activation: {
            Tensor y = new_output(ws, DataType::FLOAT, x.dims);
            quant::activation(p.act, x.as<float>(), count, data_of<float>(y));
            return y;
        }
        case FastKind::erf: {
            Tensor y = new_output(ws, DataType::FLOAT, x.dims);
            for (size_t i = 0; i < count; ++i) data_of<float>(y)[i] = quant::fast_erf(x.as<float>()[i]);
            return y;
        }
        case FastKind::softmax: {
            Tensor y = new_output(ws, DataType::FLOAT, x.dims);
            const size_t cols = static_cast<size_t>(x.dims.back());
            if (cols > 0) quant::softmax(x.as<float>(), count / cols, cols, 1.0f, data_of<float>(y));
            return y;
        }
        case FastKind::quantize: {
            const quant::QuantParams& q = p.qparams;
            Tensor y = new_output(ws, q.is_signed ? DataType::INT8 : DataType::UINT8, x.dims);
            const float* px = x.as<float>();
            const float s = q.scale[0];
            const int32_t z = q.zero_point[0];
            if (q.is_signed) quant::quantize_array(px, count, s, z, data_of<int8_t>(y));
            else quant::quantize_array(px, count, s, z, data_of<uint8_t>(y));
            return y;
        }
        case FastKind::dequantize: {
            const float s = p.qparams.scale[0];
            const int32_t z = p.qparams.zero_point[0];
            if (p.fused_output >= 0 && fuse)
                return p.fused_max_pool ? dequantize_max_pool_fused(ws, p, n, x) : dequantize_chain_fused(ws, p, x);
            Tensor y = new_output(ws, DataType::FLOAT, x.dims);
            float* py = data_of<float>(y);
            if (p.qparams.is_signed) {
                const int8_t* px = x.as<int8_t>();
                quant::dequantize_array(px, count, s, z, py);
            } else {
                quant::dequantize_array(x.as<uint8_t>(), count, s, z, py);
            }
            return y;
        }
        case FastKind::view: {
            std::vector<int64_t> dims = view_dims(p, x.dims, x.numel());
            if (own) {  // x is no longer valid after the move
                Tensor y = std::move(*own);
                y.dims = std::move(dims);
                return y;
            }
            Tensor y = new_output(ws, x.dtype, std::move(dims));
            std::copy(x.data.begin(), x.data.end(), y.data.begin());
            return y;
        }
        case FastKind::transpose: {
            // Walk the output in order; the innermost output axis reads the input at a fixed stride.
            const size_t r = x.dims.size();
            if (r != p.perm.size())
                throw NodeError(n.proto, n.opset, "X " + shape_text(x.dims) + " does not have rank " +
                                                      std::to_string(p.perm.size()), false);
            std::vector<int64_t> in_stride(r, 1), out(r), stride(r);
            for (size_t d = r; d-- > 1;) in_stride[d - 1] = in_stride[d] * x.dims[d];
            for (size_t d = 0; d < r; ++d) {
                out[d] = x.dims[size_t(p.perm[d])];
                stride[d] = in_stride[size_t(p.perm[d])];
            }
            Tensor y = new_output(ws, x.dtype, out);
            const size_t es = onnx::element_size(x.dtype);
            if (y.numel() == 0) return y;
            bool swap_last2 = r >= 2 && p.perm[r - 2] == int64_t(r - 1) && p.perm[r - 1] == int64_t(r - 2);
            for (size_t d = 0; d + 2 < r; ++d) swap_last2 = swap_last2 && p.perm[d] == int64_t(d);
            if (swap_last2 && (es == 1 || es == 4)) {
                // [..., rows, cols] -> [..., cols, rows] (the Mixer's token / channel swaps): blocked
                // SIMD transposes of each matrix, bits untouched.
                const size_t rows = size_t(x.dims[r - 2]), cols = size_t(x.dims[r - 1]), mat = rows * cols;
                for (size_t b = 0, n = size_t(y.numel()) / mat; b < n; ++b) {
                    if (es == 4)
                        quant::transpose_words(reinterpret_cast<const uint32_t*>(x.data.data()) + b * mat, rows, cols, cols,
                                               reinterpret_cast<uint32_t*>(y.data.data()) + b * mat, rows);
                    else
                        quant::transpose_bytes(x.data.data() + b * mat, rows, cols, cols, y.data.data() + b * mat, rows);
                }
                return y;
            }
            const int64_t inner = out[r - 1], step = stride[r - 1];
            std::vector<int64_t> pos(r, 0);
            int64_t src = 0;
            uint8_t* dst = y.data.data();
            const uint8_t* base = x.data.data();
            for (int64_t row = 0, rows = y.numel() / inner; row < rows; ++row) {
                if (es == 4) {  // as 32-bit words: any 4-byte type, bits untouched
                    const uint32_t* xs = reinterpret_cast<const uint32_t*>(base) + src;
                    uint32_t* ys = reinterpret_cast<uint32_t*>(dst);
                    for (int64_t j = 0; j < inner; ++j) ys[j] = xs[j * step];
                } else {
                    for (int64_t j = 0; j < inner; ++j) std::memcpy(dst + size_t(j) * es, base + size_t(src + j * step) * es, es);
                }
                dst += size_t(inner) * es;
                for (size_t d = r - 1; d-- > 0;) {  // next row: advance the outer axes like an odometer
                    src += stride[d];
                    if (++pos[d] < out[d]) break;
                    src -= stride[d] * pos[d];
                    pos[d] = 0;
                }
            }
            return y;
        }
        case FastKind::relu: {
            if (own) {
                Tensor y = std::move(*own);
                float* py = data_of<float>(y);
                for (size_t i = 0; i < count; ++i) py[i] = py[i] < 0.0f ? 0.0f : py[i];  // NaN stays NaN
                return y;
            }
            Tensor y = new_output(ws, DataType::FLOAT, x.dims);
            const float* px = x.as<float>();
            float* py = data_of<float>(y);
            for (size_t i = 0; i < count; ++i) py[i] = px[i] < 0.0f ? 0.0f : px[i];  // NaN stays NaN
            return y;
        }
        case FastKind::add:
        case FastKind::mul:
            return binary_f32(ws, n, x, *in[1], p.kind == FastKind::add, own);
        case FastKind::max_pool:
        case FastKind::average_pool:
        case FastKind::global_average_pool: {
            if (x.dims.size() != 4) throw NodeError(n.proto, n.opset, "X must be 4-D, not " + shape_text(x.dims), false);
            const int N = to_int(n, x.dims[0], "batch"), C = to_int(n, x.dims[1], "channels"),
                      H = to_int(n, x.dims[2], "height"), W = to_int(n, x.dims[3], "width");
            if (p.kind == FastKind::global_average_pool) {
                Tensor y = new_output(ws, DataType::FLOAT, {N, C, 1, 1});
                quant::global_average_pool2d(N, C, H, W, x.as<float>(), data_of<float>(y));
                return y;
            }
            quant::Pool2DShape s;
            try {
                s = quant::pool2d_shape(N, C, H, W, p.pool);
            } catch (const std::invalid_argument& e) {
                throw NodeError(n.proto, n.opset, e.what(), false);
            }
            Tensor y = new_output(ws, DataType::FLOAT, {N, C, s.out_h, s.out_w});
            if (p.kind == FastKind::max_pool)
                quant::max_pool2d(s, x.as<float>(), data_of<float>(y));
            else
                quant::average_pool2d(s, x.as<float>(), data_of<float>(y));
            return y;
        }
    }
    throw NodeError(n.proto, n.opset, "no fast kernel", true);
}

void check_binding(const TensorInfo& info, const Tensor& t, size_t i) {
    const std::string what = "input " + std::to_string(i) + " '" + info.name + "'";
    if (info.dtype != DataType::UNDEFINED && t.dtype != info.dtype)
        throw std::invalid_argument(what + " has element type " + onnx::dtype_name(t.dtype) + ", expected " +
                                    onnx::dtype_name(info.dtype));
    if (info.has_shape) {
        bool ok = t.dims.size() == info.shape.size();
        for (size_t d = 0; ok && d < t.dims.size(); ++d) ok = info.shape[d] < 0 || info.shape[d] == t.dims[d];
        if (!ok) throw std::invalid_argument(what + " has shape " + shape_text(t.dims) + ", expected " + shape_text(info.shape));
    }
    for (int64_t d : t.dims)
        if (d < 0) throw std::invalid_argument(what + " has a negative dimension");
    if (t.data.size() != static_cast<size_t>(t.numel()) * onnx::element_size(t.dtype))
        throw std::invalid_argument(what + " holds " + std::to_string(t.data.size()) + " bytes for shape " +
                                    shape_text(t.dims));
}

}  // namespace

std::vector<uint8_t> Workspace::take(size_t bytes, bool zero_fill) {
    // The smallest buffer whose size already covers `bytes` (shrinking writes nothing); else the
    // smallest whose capacity does (growing within it value-initializes the new bytes: a memset).
    auto smallest = [&](auto fits) {
        size_t best = free.size();
        for (size_t i = 0; i < free.size(); ++i)
            if (fits(free[i]) && (best == free.size() || free[i].capacity() < free[best].capacity())) best = i;
        return best;
    };
    size_t best = smallest([&](const std::vector<uint8_t>& f) { return f.size() >= bytes; });
    if (best == free.size()) best = smallest([&](const std::vector<uint8_t>& f) { return f.capacity() >= bytes; });
    std::vector<uint8_t> b;
    if (best < free.size()) {
        b = std::move(free[best]);
        free[best] = std::move(free.back());
        free.pop_back();
    }
    if (zero_fill) b.assign(bytes, 0);
    else b.resize(bytes);
    return b;
}

void Workspace::give(std::vector<uint8_t>&& buffer) {
    if (buffer.capacity() == 0) return;
    // The size stays what it was: resizing up to the capacity here would fill the difference with
    // zeros on every run (a multi-megabyte memset per run for the fp32 CNN at batch 64).
    if (free.size() >= max_buffers) {  // keep the larger ones
        auto smallest = std::min_element(free.begin(), free.end(), [](const auto& a, const auto& b) {
            return a.capacity() < b.capacity();
        });
        if (smallest->capacity() >= buffer.capacity()) return;
        *smallest = std::move(buffer);
        return;
    }
    free.push_back(std::move(buffer));
}

const char* kernels_name(Kernels k) { return k == Kernels::reference ? "reference" : "fast"; }

void gemm_f32(const float* A, const float* B, const float* bias, float* C, int64_t M, int64_t K, int64_t N, bool relu) {
    // quant::gemm_f32_out sums each output's products in k order (multiply, then add) from +0, in
    // register tiles, then adds the bias and applies the ReLU before the one store (AVX-512; a pass
    // after elsewhere). Row blocks keep the int arguments in range.
    if (K > INT32_MAX || N > INT32_MAX) throw std::invalid_argument("gemm_f32: K or N exceeds the int range");
    constexpr int64_t kRowBlock = int64_t(1) << 20;
    for (int64_t m0 = 0; m0 < M; m0 += kRowBlock)
        quant::gemm_f32_out(A + m0 * K, size_t(K), B, size_t(N), C + m0 * N, size_t(N), int(std::min(kRowBlock, M - m0)),
                            int(N), int(K), bias, relu);
}

Plan prepare(const Graph& g, Kernels kernels, quant::Isa isa) {
    Plan p;
    p.graph = &g;
    p.kernels = kernels;
    p.folded.resize(g.tensors.size());
    p.node_folded.assign(g.nodes.size(), false);
    const Constants constants{g, p.folded};
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const GraphNode& n = g.nodes[k];
        std::shared_ptr<PreparedNode> prep;
        if (kernels == Kernels::fast) {
            // Constant folding: a node whose every input is a constant (e.g. DequantizeLinear of
            // int8 weights, a Reshape of an initializer) gives the same outputs on every run, so
            // the reference computes them once here; the nodes that read them see constants.
            bool all_constant = true;
            for (int t : n.inputs)
                if (t >= 0 && !constants(t)) all_constant = false;
            if (all_constant) {
                std::vector<const Tensor*> in;
                for (int t : n.inputs) in.push_back(constants(t));
                std::vector<Tensor> out = run_reference_node(n.proto, in, n.opset);
                for (size_t o = 0; o < n.outputs.size() && o < out.size(); ++o)
                    if (n.outputs[o] >= 0) {
                        out[o].name = g.tensors[static_cast<size_t>(n.outputs[o])].name;
                        p.folded[static_cast<size_t>(n.outputs[o])] = std::make_shared<const Tensor>(std::move(out[o]));
                    }
                p.node_folded[k] = true;
                p.node_kernels.push_back("folded");
                p.nodes.push_back(nullptr);
                continue;
            }
            try {
                prep = prepare_node(g, constants, n, isa);
                if (prep) try_qdq_integer(g, constants, n, *prep, isa);
            } catch (const NodeError&) {
                throw;
            } catch (const std::exception& e) {
                throw NodeError(n.proto, n.opset, e.what(), false);
            }
        }
        p.node_kernels.push_back(prep ? fast_kind_name(prep->kind) : "reference");
        p.nodes.push_back(std::move(prep));
    }
    p.node_elided.assign(g.nodes.size(), false);
    p.node_fused.assign(g.nodes.size(), false);
    // Fuse QDQ Conv / Gemm -> [Relu ->] QuantizeLinear (see PreparedNode::fused_output).
    auto only_reader = [&](int t, size_t& reader) {
        if (t < 0 || std::find(g.outputs.begin(), g.outputs.end(), t) != g.outputs.end()) return false;
        int count = 0;
        for (size_t r = 0; r < g.nodes.size(); ++r)
            for (size_t i = 0; i < g.nodes[r].inputs.size(); ++i)
                if (g.nodes[r].inputs[i] == t) {
                    ++count;
                    reader = r;
                    if (i != 0) return false;
                }
        return count == 1;
    };
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const auto& pk = p.nodes[k];
        if (!pk || (pk->kind != FastKind::conv_qdq && pk->kind != FastKind::gemm_qdq)) continue;
        size_t r1 = 0, r2 = 0;
        if (!only_reader(g.nodes[k].outputs.at(0), r1) || !p.nodes[r1]) continue;
        bool relu = false;
        size_t qn = r1;
        if (p.nodes[r1]->kind == FastKind::relu) {
            if (!only_reader(g.nodes[r1].outputs.at(0), r2) || !p.nodes[r2]) continue;
            relu = true;
            qn = r2;
        }
        if (p.nodes[qn]->kind != FastKind::quantize || g.nodes[qn].outputs.empty() || g.nodes[qn].outputs[0] < 0) continue;
        auto fused = std::make_shared<PreparedNode>(*pk);
        fused->fused_output = g.nodes[qn].outputs[0];
        fused->fused_relu = relu;
        fused->fused_q = p.nodes[qn]->qparams;
        p.nodes[k] = fused;
        p.node_kernels[k] += relu ? " + relu + quantize" : " + quantize";
        for (size_t r : relu ? std::vector<size_t>{r1, r2} : std::vector<size_t>{r1}) {
            p.node_fused[r] = true;
            p.node_kernels[r] = "fused into " + g.nodes[k].label();
        }
    }
    // Fuse a float Conv -> [Relu] -> [MaxPool]: the convolution applies the ReLU before it stores
    // (the same values; one pass over the activation less) and pools each image from a scratch that
    // stays in cache (the full-size activation is never written).
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const auto& pk = p.nodes[k];
        if (!pk || pk->kind != FastKind::conv_f32 || g.nodes[k].outputs.empty() || g.nodes[k].outputs[0] < 0) continue;
        size_t r = 0, at = k;
        std::vector<size_t> chain;
        bool relu = false, pool = false;
        if (only_reader(g.nodes[at].outputs[0], r) && p.nodes[r] && p.nodes[r]->kind == FastKind::relu &&
            !g.nodes[r].outputs.empty() && g.nodes[r].outputs[0] >= 0) {
            relu = true;
            chain.push_back(r);
            at = r;
        }
        if (only_reader(g.nodes[at].outputs[0], r) && p.nodes[r] && p.nodes[r]->kind == FastKind::max_pool &&
            g.nodes[r].outputs.size() == 1 && g.nodes[r].outputs[0] >= 0) {
            pool = true;
            chain.push_back(r);
        }
        if (chain.empty()) continue;
        auto fused = std::make_shared<PreparedNode>(*pk);
        fused->fused_output = g.nodes[chain.back()].outputs[0];
        fused->fused_relu = relu;
        fused->fused_max_pool = pool;
        if (pool) fused->pool = p.nodes[chain.back()]->pool;
        p.nodes[k] = fused;
        p.node_kernels[k] += std::string(relu ? " + relu" : "") + (pool ? " + max_pool2d" : "");
        for (size_t c : chain) {
            p.node_fused[c] = true;
            p.node_kernels[c] = "fused into " + g.nodes[k].label();
        }
    }
    // Fuse a float Gemm / MatMul -> [Add of a constant row over the last axis (MatMul only: Gemm has
    // its own C) ->] [Relu]: the product's tiles add the row after the sum and apply the ReLU before
    // they store (the same float operations as the nodes apart).
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const auto& pk = p.nodes[k];
        if (!pk || (pk->kind != FastKind::gemm_f32 && pk->kind != FastKind::matmul_f32) || g.nodes[k].outputs.empty() ||
            g.nodes[k].outputs[0] < 0)
            continue;
        const TensorInfo& yt = g.tensors[static_cast<size_t>(g.nodes[k].outputs[0])];
        size_t r = 0, at = k;
        std::vector<size_t> chain;
        std::vector<float> bias;
        if (pk->kind == FastKind::matmul_f32 && yt.has_shape && !yt.shape.empty() &&
            only_reader(g.nodes[at].outputs[0], r) && p.nodes[r] && p.nodes[r]->kind == FastKind::add &&
            g.nodes[r].outputs.size() == 1 && g.nodes[r].outputs[0] >= 0) {
            const Tensor* b = input_const(constants, g.nodes[r], 1);
            const TensorInfo& at_t = g.tensors[static_cast<size_t>(g.nodes[r].outputs[0])];
            if (b && b->dtype == DataType::FLOAT && b->numel() == pk->N && !b->dims.empty() && b->dims.back() == pk->N &&
                at_t.has_shape && at_t.shape == yt.shape) {
                bias = b->to_vector<float>();
                chain.push_back(r);
                at = r;
            }
        }
        const bool relu = only_reader(g.nodes[at].outputs[0], r) && p.nodes[r] && p.nodes[r]->kind == FastKind::relu &&
                          !g.nodes[r].outputs.empty() && g.nodes[r].outputs[0] >= 0;
        if (relu) chain.push_back(r);
        if (chain.empty()) continue;
        auto fused = std::make_shared<PreparedNode>(*pk);
        fused->fused_output = g.nodes[chain.back()].outputs[0];
        fused->fused_bias = std::move(bias);
        fused->fused_relu = relu;
        p.nodes[k] = fused;
        p.node_kernels[k] += std::string(fused->fused_bias.empty() ? "" : " + add") + (relu ? " + relu" : "");
        for (size_t c : chain) {
            p.node_fused[c] = true;
            p.node_kernels[c] = "fused into " + g.nodes[k].label();
        }
    }
    // Fuse DequantizeLinear -> [Add of a constant row ->] activation -> QuantizeLinear (see
    // PreparedNode::fused_bias); the chain must end in a QuantizeLinear and do something between.
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const auto& pk = p.nodes[k];
        if (!pk || pk->kind != FastKind::dequantize || p.node_fused[k] || g.nodes[k].outputs.empty()) continue;
        const TensorInfo& xt = g.tensors[static_cast<size_t>(g.nodes[k].outputs[0] < 0 ? 0 : g.nodes[k].outputs[0])];
        if (g.nodes[k].outputs[0] < 0 || !xt.has_shape || xt.shape.empty() || xt.shape.back() <= 0) continue;
        const int64_t cols = xt.shape.back();
        std::vector<size_t> chain;
        size_t r = 0, at = k;
        std::vector<float> bias;
        bool act = false;
        quant::Activation a = quant::Activation::sigmoid;
        if (only_reader(g.nodes[at].outputs[0], r) && p.nodes[r] && p.nodes[r]->kind == FastKind::add &&
            g.nodes[r].outputs.size() == 1) {
            const Tensor* b = input_const(constants, g.nodes[r], 1);
            const TensorInfo& yt = g.tensors[static_cast<size_t>(g.nodes[r].outputs[0] < 0 ? 0 : g.nodes[r].outputs[0])];
            if (!b || b->dtype != DataType::FLOAT || b->numel() != cols || b->dims.empty() || b->dims.back() != cols ||
                !yt.has_shape || yt.shape != xt.shape)
                continue;
            bias = b->to_vector<float>();
            chain.push_back(r);
            at = r;
        }
        if (only_reader(g.nodes[at].outputs[0], r) && p.nodes[r] && p.nodes[r]->kind == FastKind::activation) {
            act = true;
            a = p.nodes[r]->act;
            chain.push_back(r);
            at = r;
        }
        if (chain.empty() || !only_reader(g.nodes[at].outputs[0], r) || !p.nodes[r] || p.nodes[r]->kind != FastKind::quantize ||
            g.nodes[r].outputs.empty() || g.nodes[r].outputs[0] < 0)
            continue;
        chain.push_back(r);
        auto fused = std::make_shared<PreparedNode>(*pk);
        fused->fused_output = g.nodes[r].outputs[0];
        fused->fused_q = p.nodes[r]->qparams;
        fused->fused_bias = std::move(bias);
        fused->fused_act = act;
        fused->act = a;
        fused->fused_table = fused_chain_table(*fused, size_t(cols));
        p.nodes[k] = fused;
        p.node_kernels[k] += std::string(fused->fused_bias.empty() ? "" : " + add") + (act ? " + activation" : "") + " + quantize";
        for (size_t c : chain) {
            p.node_fused[c] = true;
            p.node_kernels[c] = "fused into " + g.nodes[k].label();
        }
    }
    // Fuse DequantizeLinear -> MaxPool -> QuantizeLinear (see PreparedNode::fused_max_pool).
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const auto& pk = p.nodes[k];
        if (!pk || pk->kind != FastKind::dequantize || p.node_fused[k] || g.nodes[k].outputs.empty()) continue;
        size_t mp = 0, v = 0, q = 0;
        if (!only_reader(g.nodes[k].outputs[0], mp) || !p.nodes[mp] || p.nodes[mp]->kind != FastKind::max_pool ||
            g.nodes[mp].outputs.empty() || (g.nodes[mp].outputs.size() > 1 && g.nodes[mp].outputs[1] >= 0))
            continue;
        size_t at = mp;
        const bool view = only_reader(g.nodes[mp].outputs[0], v) && p.nodes[v] && p.nodes[v]->kind == FastKind::view &&
                          !g.nodes[v].outputs.empty();
        if (view) at = v;
        if (!only_reader(g.nodes[at].outputs[0], q) || !p.nodes[q] || p.nodes[q]->kind != FastKind::quantize ||
            g.nodes[q].outputs.empty() || g.nodes[q].outputs[0] < 0)
            continue;
        auto fused = std::make_shared<PreparedNode>(*pk);
        fused->fused_output = g.nodes[q].outputs[0];
        fused->fused_q = p.nodes[q]->qparams;
        fused->fused_max_pool = true;
        fused->pool = p.nodes[mp]->pool;
        if (view) fused->fused_view = p.nodes[v];
        fused->fused_table = fused_chain_table(*fused, 1);
        fused->fused_table_identity = fused->fused_q.is_signed == fused->qparams.is_signed;
        for (int b = 0; b < 256; ++b) fused->fused_table_identity &= fused->fused_table[size_t(b)] == b;
        p.nodes[k] = fused;
        p.node_kernels[k] += std::string(" + max_pool2d (int8)") + (view ? " + view" : "") + " + quantize";
        for (size_t c : view ? std::vector<size_t>{mp, v, q} : std::vector<size_t>{mp, q}) {
            p.node_fused[c] = true;
            p.node_kernels[c] = "fused into " + g.nodes[k].label();
        }
    }
    // A DequantizeLinear whose every reader takes the int8 path reads nothing of its output: skip it.
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const GraphNode& n = g.nodes[k];
        if (n.op != OpType::DequantizeLinear || p.node_folded[k] || n.outputs.empty() || n.outputs[0] < 0) continue;
        const int t = n.outputs[0];
        if (std::find(g.outputs.begin(), g.outputs.end(), t) != g.outputs.end()) continue;
        bool all_integer = true, any = false;
        for (size_t r = 0; r < g.nodes.size(); ++r)
            for (size_t i = 0; i < g.nodes[r].inputs.size(); ++i)
                if (g.nodes[r].inputs[i] == t) {
                    any = true;
                    all_integer = all_integer && i == 0 && p.nodes[r] && p.nodes[r]->x_source == n.inputs[0];
                }
        if (any && all_integer) {
            p.node_elided[k] = true;
            p.node_kernels[k] = "elided (its reader takes the int8 input)";
        }
    }
    return p;
}

RunResult run(const Plan& plan, const std::vector<Tensor>& inputs, const RunOptions& options) {
    if (!plan.graph) throw std::invalid_argument("run: the plan has no graph");
    const Graph& g = *plan.graph;
    if (inputs.size() != g.inputs.size())
        throw std::invalid_argument("run: " + std::to_string(inputs.size()) + " inputs given, the graph has " +
                                    std::to_string(g.inputs.size()));
    const Clock clock = options.clock ? options.clock : Clock([] {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
    });

    Workspace local;
    Workspace& ws = options.workspace ? *options.workspace : local;
    // Fused QDQ tails run fused unless every tensor is wanted or a node override may replace the
    // producer (the chip emulator's functional run): then every node runs on its own.
    const bool fusion = !options.keep_activations && !options.node_override;
    std::vector<Tensor> values(g.tensors.size());
    std::vector<const Tensor*> bound(g.tensors.size(), nullptr);
    for (size_t t = 0; t < g.tensors.size(); ++t)
        bound[t] = plan.folded.size() == g.tensors.size() && plan.folded[t] ? plan.folded[t].get() : g.constant(int(t));
    for (size_t i = 0; i < inputs.size(); ++i) {
        const size_t t = static_cast<size_t>(g.inputs[i]);
        check_binding(g.tensors[t], inputs[i], i);
        if (options.keep_activations) {  // the activations hold a copy; otherwise read the caller's
            values[t] = inputs[i];
            values[t].name = g.tensors[t].name;
            bound[t] = &values[t];
        } else {
            bound[t] = &inputs[i];
        }
    }
    // The last node that reads each tensor, so intermediates are freed as soon as possible.
    std::vector<int> last_use(g.tensors.size(), -1);
    for (size_t k = 0; k < g.nodes.size(); ++k)
        for (int t : g.nodes[k].inputs)
            if (t >= 0) last_use[static_cast<size_t>(t)] = int(k);
    for (size_t k = 0; k < g.nodes.size(); ++k)
        if (k < plan.nodes.size() && plan.nodes[k] && plan.nodes[k]->x_source >= 0)
            last_use[static_cast<size_t>(plan.nodes[k]->x_source)] =
                std::max(last_use[static_cast<size_t>(plan.nodes[k]->x_source)], int(k));
    for (int t : g.outputs) last_use[static_cast<size_t>(t)] = int(g.nodes.size());

    RunResult result;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const GraphNode& n = g.nodes[k];
        const bool elided = (k < plan.node_elided.size() && plan.node_elided[k] && !options.keep_activations) ||
                            (k < plan.node_fused.size() && plan.node_fused[k] && fusion);
        if ((k < plan.node_folded.size() && plan.node_folded[k]) || elided) {
            result.timings.push_back({n.label(), n.proto.op_type, plan.node_kernels[k], 0.0});
            continue;
        }
        std::vector<const Tensor*> in;
        const int x_source = plan.nodes[k] ? plan.nodes[k]->x_source : -1;
        for (int t : n.inputs) {
            if (x_source >= 0 && in.empty()) t = x_source;  // the QDQ path reads X's int8 source
            if (t >= 0 && !bound[static_cast<size_t>(t)])
                throw NodeError(n.proto, n.opset, "input '" + g.tensors[static_cast<size_t>(t)].name + "' has no value", false);
            in.push_back(t >= 0 ? bound[static_cast<size_t>(t)] : nullptr);
        }

        // Input 0 is owned here and read for the last time: the kernel may reuse its buffer.
        Tensor* own = nullptr;
        if (!options.keep_activations && x_source < 0 && !n.inputs.empty() && n.inputs[0] >= 0) {
            const size_t t = static_cast<size_t>(n.inputs[0]);
            if (last_use[t] == int(k) && bound[t] == &values[t] &&
                std::count(n.inputs.begin(), n.inputs.end(), n.inputs[0]) == 1)
                own = &values[t];
        }
        const double t0 = clock();
        std::vector<Tensor> out;
        const bool overridden = options.node_override && options.node_override(n, in, out);
        if (overridden) {
            if (out.size() != n.outputs.size())
                throw NodeError(n.proto, n.opset, "the node override returned " + std::to_string(out.size()) +
                                " outputs for " + std::to_string(n.outputs.size()), false);
        } else if (plan.nodes[k]) {
            try {
                out.push_back(run_fast(ws, *plan.nodes[k], n, in, own, fusion));
            } catch (const NodeError&) {
                throw;
            } catch (const std::exception& e) {
                throw NodeError(n.proto, n.opset, e.what(), false);
            }
        } else {
            out = run_reference_node(n.proto, in, n.opset);
        }
        const double t1 = clock();
        result.timings.push_back({n.label(), n.proto.op_type, overridden ? "override" : plan.node_kernels[k], t1 - t0});
        const int fused_to = !overridden && fusion && plan.nodes[k] ? plan.nodes[k]->fused_output : -1;
        for (size_t o = 0; o < n.outputs.size() && o < out.size(); ++o) {
            const int t = o == 0 && fused_to >= 0 ? fused_to : n.outputs[o];
            if (t < 0) continue;
            values[static_cast<size_t>(t)] = std::move(out[o]);
            values[static_cast<size_t>(t)].name = g.tensors[static_cast<size_t>(t)].name;
            bound[static_cast<size_t>(t)] = &values[static_cast<size_t>(t)];
        }
        // Free what this node read for the last time (its inputs, and the int8 tensor a QDQ node
        // reads in place of its X), without building a list per node.
        auto release = [&](int t) {
            if (t >= 0 && last_use[static_cast<size_t>(t)] == int(k) && g.tensors[static_cast<size_t>(t)].initializer < 0 &&
                bound[static_cast<size_t>(t)] == &values[static_cast<size_t>(t)]) {
                ws.give(std::move(values[static_cast<size_t>(t)].data));
                values[static_cast<size_t>(t)] = Tensor();
                bound[static_cast<size_t>(t)] = nullptr;
            }
        };
        if (!options.keep_activations) {
            for (int t : n.inputs) release(t);
            release(x_source);
        }
    }
    for (int t : g.outputs) {
        const Tensor* v = bound[static_cast<size_t>(t)];
        if (!v) throw std::invalid_argument("run: graph output '" + g.tensors[static_cast<size_t>(t)].name + "' has no value");
        // The last use of an output computed here moves it (an output listed twice, or kept among
        // the activations, is copied).
        const bool movable = !options.keep_activations && v == &values[static_cast<size_t>(t)] &&
                             std::count(g.outputs.begin(), g.outputs.end(), t) == 1;
        if (movable && options.workspace) {
            // A caller's workspace keeps the buffer: the output leaves as an exact-size copy. (Moved
            // out, a small output could carry away a multi-megabyte buffer it was handed as the
            // smallest free one, and the next run would allocate and fill a new one: 15 % of the
            // int8 CNN at batch 64.)
            Tensor& src = values[static_cast<size_t>(t)];
            Tensor out;
            out.dtype = src.dtype;
            out.dims = src.dims;
            out.data.assign(src.data.begin(), src.data.end());
            ws.give(std::move(src.data));
            src = Tensor();
            result.outputs.push_back(std::move(out));
        } else {
            result.outputs.push_back(movable ? std::move(values[static_cast<size_t>(t)]) : *v);
        }
        result.outputs.back().name = g.tensors[static_cast<size_t>(t)].name;
    }
    if (options.keep_activations) result.activations = std::move(values);
    return result;
}

}  // namespace stacklab::nn
