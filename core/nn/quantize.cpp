#include "nn/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "nn/executor.hpp"
#include "nn/onnx_build.hpp"
#include "quant/calibrate.hpp"
#include "quant/elementary.hpp"
#include "quant/formats.hpp"

namespace stacklab::nn {

using onnx::DataType;
using onnx::Tensor;

const char* calibration_name(CalibrationMethod m) {
    switch (m) {
        case CalibrationMethod::min_max: return "minmax";
        case CalibrationMethod::percentile: return "percentile";
        case CalibrationMethod::mse: return "mse";
    }
    return "?";
}

CalibrationMethod parse_calibration(const std::string& text) {
    if (text == "minmax") return CalibrationMethod::min_max;
    if (text == "percentile") return CalibrationMethod::percentile;
    if (text == "mse") return CalibrationMethod::mse;
    throw std::invalid_argument("calibration method '" + text + "' is not one of minmax, percentile, mse");
}

const char* int4_storage_name(Int4Storage s) { return s == Int4Storage::int4 ? "int4" : "int8"; }

Int4Storage parse_int4_storage(const std::string& text) {
    if (text == "int4") return Int4Storage::int4;
    if (text == "int8") return Int4Storage::int8;
    throw std::invalid_argument("4-bit weight storage '" + text + "' is not one of int4, int8");
}

std::string weight_format_name(const WeightFormat& w) {
    if (w.bits == 0) return "fp32";
    const std::string b = "int" + std::to_string(w.bits);
    switch (w.granularity) {
        case WeightGranularity::per_channel: return b + " per-channel";
        case WeightGranularity::per_tensor: return b + " per-tensor";
        case WeightGranularity::grouped: return b + " groups of " + std::to_string(w.group);
    }
    return b;
}

QuantRecipe quant_recipe(const std::string& name) {
    using G = WeightGranularity;
    if (name == "fp32") return {name, {0, G::per_channel, 0}, false, false};
    if (name == "int8" || name == "w8a8") return {name, {8, G::per_channel, 0}, true, false};
    if (name == "int8-pertensor" || name == "w8a8-pertensor") return {name, {8, G::per_tensor, 0}, true, false};
    if (name == "w4a8") return {name, {4, G::per_channel, 0}, true, false};
    if (name == "w4g32a8") return {name, {4, G::grouped, 32}, true, false};
    if (name == "w4g32") return {name, {4, G::grouped, 32}, false, false};
    if (name == "w8") return {name, {8, G::per_channel, 0}, false, false};
    if (name == "mixed") return {name, {8, G::per_channel, 0}, true, true};
    std::string all;
    for (const std::string& n : quant_recipe_names()) all += (all.empty() ? "" : ", ") + n;
    throw std::invalid_argument("quantization '" + name + "' is not one of " + all);
}

std::vector<std::string> quant_recipe_names() {
    return {"fp32", "int8", "int8-pertensor", "w8a8-pertensor", "w4a8", "w4g32a8", "w4g32", "w8", "mixed"};
}

namespace {

// 10 log10(signal / noise); +inf without noise, -inf without signal.
double decibels(double signal, double noise) {
    if (noise == 0.0) return std::numeric_limits<double>::infinity();
    if (signal == 0.0) return -std::numeric_limits<double>::infinity();
    return 10.0 * quant::ref_log10(signal / noise);
}

}  // namespace

double sqnr_db(const float* ref, const float* test, size_t n) {
    double signal = 0.0, noise = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double r = ref[i], d = double(ref[i]) - double(test[i]);
        signal += r * r;
        noise += d * d;
    }
    return decibels(signal, noise);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Reading an onnx::Graph by tensor name.

struct Names {
    std::map<std::string, size_t> initializer;     // name -> index in Graph::initializers
    std::map<std::string, std::vector<size_t>> readers;  // tensor -> nodes that read it
    std::set<std::string> outputs;                 // graph outputs
};

Names index_names(const onnx::Graph& g) {
    Names n;
    for (size_t i = 0; i < g.initializers.size(); ++i) n.initializer[g.initializers[i].name] = i;
    for (size_t k = 0; k < g.nodes.size(); ++k)
        for (const std::string& t : g.nodes[k].inputs)
            if (!t.empty()) n.readers[t].push_back(k);
    for (const auto& o : g.outputs) n.outputs.insert(o.name);
    return n;
}

const Tensor* float_initializer(const onnx::Graph& g, const Names& names, const std::string& t) {
    const auto it = names.initializer.find(t);
    if (it == names.initializer.end()) return nullptr;
    const Tensor& v = g.initializers[it->second];
    return v.dtype == DataType::FLOAT ? &v : nullptr;
}

int64_t attr_i(const onnx::Node& n, const char* name, int64_t def) {
    const onnx::Attribute* a = n.attr(name);
    return a ? a->i : def;
}
float attr_f(const onnx::Node& n, const char* name, float def) {
    const onnx::Attribute* a = n.attr(name);
    return a ? a->f : def;
}

std::string label_of(const onnx::Node& n) { return n.name.empty() ? "-> " + n.outputs.at(0) : n.name; }

// The only node that reads tensor t, if exactly one does and t is not a graph output.
const onnx::Node* sole_reader(const onnx::Graph& g, const Names& names, const std::string& t, size_t* index = nullptr) {
    const auto it = names.readers.find(t);
    if (it == names.readers.end() || it->second.size() != 1 || names.outputs.count(t)) return nullptr;
    if (index) *index = it->second[0];
    return &g.nodes[it->second[0]];
}

// ---------------------------------------------------------------------------------------------
// 1. BatchNormalization folding.

void fold_batch_norms(onnx::Model& m, std::vector<std::string>& folded) {
    onnx::Graph& g = m.graph;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const Names names = index_names(g);
        onnx::Node& conv = g.nodes[k];
        if (conv.op_type != "Conv" || conv.outputs.size() != 1 || conv.inputs.size() < 2) continue;
        size_t bn_index = 0;
        const onnx::Node* bn = sole_reader(g, names, conv.outputs[0], &bn_index);
        if (!bn || bn->op_type != "BatchNormalization" || bn->inputs.size() != 5 || attr_i(*bn, "training_mode", 0) != 0 ||
            bn->inputs[0] != conv.outputs[0])
            continue;
        const Tensor* w = float_initializer(g, names, conv.inputs[1]);
        const Tensor* b = conv.inputs.size() > 2 && !conv.inputs[2].empty() ? float_initializer(g, names, conv.inputs[2]) : nullptr;
        if (!w || w->dims.empty() || (conv.inputs.size() > 2 && !conv.inputs[2].empty() && !b)) continue;
        const int64_t channels = w->dims[0];
        const Tensor* p[4];
        bool ok = true;
        for (int i = 0; i < 4; ++i) {
            p[i] = float_initializer(g, names, bn->inputs[size_t(i) + 1]);
            ok = ok && p[i] && p[i]->numel() == channels;
        }
        if (!ok) continue;
        const float eps = attr_f(*bn, "epsilon", 1e-5f);
        const float *scale = p[0]->as<float>(), *shift = p[1]->as<float>(), *mean = p[2]->as<float>(), *var = p[3]->as<float>();
        std::vector<float> wf = w->to_vector<float>(), bf(size_t(channels), 0.0f);
        if (b) bf = b->to_vector<float>();
        const size_t per = wf.size() / size_t(channels);
        for (size_t o = 0; o < size_t(channels); ++o) {
            const float a = scale[o] / std::sqrt(var[o] + eps);
            for (size_t j = 0; j < per; ++j) wf[o * per + j] *= a;
            bf[o] = (bf[o] - mean[o]) * a + shift[o];
        }
        const std::string label = label_of(*bn);
        const std::string wname = conv.inputs[1] + ".bn_folded", bname = (b ? conv.inputs[2] : label) + ".bn_folded_bias";
        g.initializers.push_back(onnx::float_tensor(wname, w->dims, wf));
        g.initializers.push_back(onnx::float_tensor(bname, {channels}, bf));
        conv.inputs.resize(3);
        conv.inputs[1] = wname;
        conv.inputs[2] = bname;
        conv.outputs[0] = bn->outputs.at(0);
        folded.push_back(label);
        g.nodes.erase(g.nodes.begin() + std::ptrdiff_t(bn_index));
    }
    // Drop initializers nobody reads any more (the unfolded weights and the BN parameters).
    const Names names = index_names(g);
    std::vector<Tensor> kept;
    for (Tensor& t : g.initializers)
        if (names.readers.count(t.name) || names.outputs.count(t.name)) kept.push_back(std::move(t));
    g.initializers = std::move(kept);
}

// ---------------------------------------------------------------------------------------------
// 2. Layers and fused groups.

struct Layer {
    size_t node = 0;            // index in the (folded) model's nodes
    bool weighted = true;       // Conv/Gemm/MatMul; false: a LayerNormalization group
    std::string data_input;     // weighted: input 0
    std::string weight;         // weighted: the initializer
    bool kn = false;            // the weight is [K, N] (Gemm transB = 0, MatMul); else [N, ...]
    int64_t channels = 0, K = 0;
    std::string output;         // the group's output tensor
    std::vector<std::string> fused;
    std::vector<std::string> fused_labels;
};

std::vector<Layer> find_layers(const onnx::Graph& g, bool fuse) {
    const Names names = index_names(g);
    std::vector<Layer> layers;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const onnx::Node& n = g.nodes[k];
        Layer l;
        l.node = k;
        if (n.outputs.empty()) continue;
        l.output = n.outputs[0];
        if (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") {
            if (n.inputs.size() < 2) continue;
            const Tensor* w = float_initializer(g, names, n.inputs[1]);
            if (!w || n.inputs[0].empty()) continue;
            if (n.op_type == "Conv") {
                if (w->dims.size() < 3) continue;
                l.channels = w->dims[0];
                l.K = w->numel() / std::max<int64_t>(1, l.channels);
            } else {
                if (w->dims.size() != 2) continue;
                if (n.op_type == "Gemm" && (attr_i(n, "transA", 0) != 0)) continue;
                l.kn = n.op_type == "MatMul" || attr_i(n, "transB", 0) == 0;
                l.K = w->dims[l.kn ? 0 : 1];
                l.channels = w->dims[l.kn ? 1 : 0];
            }
            l.data_input = n.inputs[0];
            l.weight = n.inputs[1];
            if (fuse) {
                const onnx::Node* r = sole_reader(g, names, l.output);
                if (r && r->op_type == "Relu") {
                    l.fused = {"Relu"};
                    l.fused_labels = {label_of(*r)};
                    l.output = r->outputs.at(0);
                }
            }
            layers.push_back(l);
        } else if (n.op_type == "LayerNormalization") {
            l.weighted = false;
            if (fuse) {
                const onnx::Node* r = sole_reader(g, names, l.output);
                if (r && r->op_type == "Gelu") {
                    l.fused = {"Gelu"};
                    l.fused_labels = {label_of(*r)};
                    l.output = r->outputs.at(0);
                }
            }
            layers.push_back(l);
        }
    }
    return layers;
}

// ---------------------------------------------------------------------------------------------
// 3. Weights.

struct QuantizedWeight {
    std::vector<Tensor> initializers;
    std::vector<onnx::Node> nodes;  // DequantizeLinear (+ Reshape, Transpose)
    std::string output;             // the float weight the layer reads
    WeightFormat applied;
    std::string note;
    double sqnr = 0.0;
};

QuantizedWeight quantize_weight(const Layer& l, const Tensor& w, WeightFormat f, const std::string& layer_label,
                                Int4Storage storage) {
    QuantizedWeight r;
    if (f.granularity == WeightGranularity::grouped && (f.group < 1 || l.K % f.group != 0)) {
        r.note = "K = " + std::to_string(l.K) + " is not a multiple of the group size " + std::to_string(f.group) +
                 ": per-channel instead";
        f.granularity = WeightGranularity::per_channel;
    }
    r.applied = f;
    const int qmax = (1 << (f.bits - 1)) - 1;
    const int64_t N = l.channels, K = l.K;
    const float* wv = w.as<float>();
    // Element (n, k) of the weight in its stored layout.
    auto at = [&](int64_t n, int64_t k) -> size_t { return size_t(l.kn ? k * N + n : n * K + k); };
    // Rows of the scale: per tensor 1, per channel N, grouped N * K / group; row_of(n, k).
    const int64_t group = f.granularity == WeightGranularity::grouped ? f.group : K;
    const int64_t rows = f.granularity == WeightGranularity::per_tensor ? 1 : N * (K / group);
    auto row_of = [&](int64_t n, int64_t k) -> int64_t {
        return f.granularity == WeightGranularity::per_tensor ? 0 : n * (K / group) + k / group;
    };
    std::vector<float> amax(size_t(rows), 0.0f);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
            float& a = amax[size_t(row_of(n, k))];
            a = std::max(a, std::fabs(wv[at(n, k)]));
        }
    std::vector<float> scale(static_cast<size_t>(rows));
    for (size_t i = 0; i < scale.size(); ++i) scale[i] = amax[i] > 0.0f ? amax[i] / float(qmax) : 1.0f;
    // q in the layout the DequantizeLinear reads: the weight's own for per-tensor / per-channel,
    // [rows, group] in (n, k) order for grouped.
    const bool grouped = f.granularity == WeightGranularity::grouped;
    std::vector<int8_t> q(size_t(N * K));
    double signal = 0.0, noise = 0.0;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
            const float s = scale[size_t(row_of(n, k))];
            const int32_t v = quant::quantize_value(wv[at(n, k)], s, 0, -qmax, qmax);
            const size_t dst = grouped ? size_t(n * K + k) : at(n, k);
            q[dst] = static_cast<int8_t>(v);
            const float back = quant::dequantize_value(v, s, 0);
            const double d = double(wv[at(n, k)]) - double(back);
            signal += double(wv[at(n, k)]) * double(wv[at(n, k)]);
            noise += d * d;
        }
    r.sqnr = decibels(signal, noise);

    const std::string base = w.name;
    const std::string qn = base + "_quantized", sn = base + "_scale", zn = base + "_zero_point", dn = base + "_dequantized";
    const bool per_tensor = f.granularity == WeightGranularity::per_tensor;
    if (f.bits <= 4 && storage == Int4Storage::int4) {
        // INT4 (opset 21): the weight in its own layout (a Conv's as [N, K]), per tensor / per axis,
        // or blocked along K with block_size = group, so no Reshape / Transpose except a Conv's
        // [N, K] -> [N, C, kh, kw] (its groups of K = C * kh * kw cross the C axis). No zero point:
        // DequantizeLinear-21 takes an absent one as 0 of x's type.
        std::vector<int8_t> qw(q.size());
        for (int64_t n = 0; n < N; ++n)
            for (int64_t k = 0; k < K; ++k) qw[at(n, k)] = q[grouped ? size_t(n * K + k) : at(n, k)];
        const bool conv = w.dims.size() != 2;
        std::vector<int64_t> qdims = grouped && conv ? std::vector<int64_t>{N, K} : w.dims;
        r.initializers.push_back(onnx::make_tensor(qn, DataType::INT4, qdims, qw));
        std::vector<int64_t> sdims;
        std::vector<float> s = scale;
        std::vector<onnx::Attribute> attrs;
        if (grouped) {
            const int64_t blocks = K / group;
            if (l.kn) {  // [K, N], blocks along axis 0: scale [K / group, N]
                sdims = {blocks, N};
                for (int64_t n = 0; n < N; ++n)
                    for (int64_t b = 0; b < blocks; ++b) s[size_t(b * N + n)] = scale[size_t(n * blocks + b)];
            } else {  // [N, K], blocks along axis 1: scale [N, K / group], the rows' order
                sdims = {N, blocks};
            }
            attrs = {onnx::int_attr("axis", l.kn ? 0 : 1), onnx::int_attr("block_size", group)};
        } else if (!per_tensor) {
            sdims = {rows};
            attrs = {onnx::int_attr("axis", l.kn ? 1 : 0)};
        }
        r.initializers.push_back(onnx::float_tensor(sn, sdims, s));
        r.nodes.push_back(onnx::make_node("DequantizeLinear", layer_label + ".weight_dequantize", {qn, sn}, {dn}, attrs));
        r.output = dn;
        if (grouped && conv) {
            const std::string shape_name = base + "_group_shape", reshaped = base + "_ungrouped";
            r.initializers.push_back(onnx::int64_tensor(shape_name, {int64_t(w.dims.size())}, w.dims));
            r.nodes.push_back(onnx::make_node("Reshape", layer_label + ".weight_ungroup", {dn, shape_name}, {reshaped}));
            r.output = reshaped;
        }
        return r;
    }
    std::vector<int64_t> qdims = grouped ? std::vector<int64_t>{rows, group} : w.dims;
    r.initializers.push_back(onnx::int8_tensor(qn, qdims, q));
    r.initializers.push_back(onnx::float_tensor(sn, per_tensor ? std::vector<int64_t>{} : std::vector<int64_t>{rows}, scale));
    r.initializers.push_back(onnx::int8_tensor(zn, per_tensor ? std::vector<int64_t>{} : std::vector<int64_t>{rows},
                                               std::vector<int8_t>(size_t(rows), 0)));
    std::vector<onnx::Attribute> attrs;
    if (!per_tensor) attrs.push_back(onnx::int_attr("axis", grouped ? 0 : (l.kn ? 1 : 0)));
    r.nodes.push_back(onnx::make_node("DequantizeLinear", layer_label + ".weight_dequantize", {qn, sn, zn}, {dn}, attrs));
    r.output = dn;
    if (grouped) {
        // [rows, group] -> [N, K] (row-major (n, k)) -> the weight's shape.
        const std::string shape_name = base + "_group_shape", reshaped = base + "_ungrouped";
        std::vector<int64_t> target = l.kn ? std::vector<int64_t>{N, K} : w.dims;
        r.initializers.push_back(onnx::int64_tensor(shape_name, {int64_t(target.size())}, target));
        r.nodes.push_back(onnx::make_node("Reshape", layer_label + ".weight_ungroup", {dn, shape_name}, {reshaped}));
        r.output = reshaped;
        if (l.kn) {
            const std::string t = base + "_kn";
            r.nodes.push_back(onnx::make_node("Transpose", layer_label + ".weight_transpose", {reshaped}, {t},
                                              {onnx::ints_attr("perm", {1, 0})}));
            r.output = t;
        }
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
// 4. Activations: calibration and the QDQ model.

struct ActParams {
    float scale = 1.0f;
    int8_t zero_point = 0;
};

// The tensors whose activations are quantized, in first-appearance order.
std::vector<std::string> activation_tensors(const onnx::Graph& g, const std::vector<Layer>& layers,
                                            const std::vector<WeightFormat>& formats) {
    const Names names = index_names(g);
    std::vector<std::string> out;
    auto add = [&](const std::string& t) {
        if (names.outputs.count(t) || std::find(out.begin(), out.end(), t) != out.end()) return;
        if (!names.readers.count(t)) return;
        out.push_back(t);
    };
    for (size_t i = 0; i < layers.size(); ++i) {
        const Layer& l = layers[i];
        if (l.weighted && formats[i].bits == 0) continue;
        if (l.weighted) add(l.data_input);
        add(l.output);
    }
    return out;
}

std::map<std::string, ActParams> calibrate(const onnx::Model& model, const std::vector<std::string>& tensors,
                                           const std::vector<Tensor>& calibration, const QuantizeOptions& o) {
    const Graph g = import_onnx(model);
    const Plan plan = prepare(g, Kernels::fast);
    std::vector<int> index;
    for (const std::string& t : tensors) index.push_back(g.find(t));
    std::vector<quant::MinMaxState> ranges(tensors.size());
    std::vector<std::vector<float>> values(tensors.size());
    Workspace ws;
    RunOptions ro;
    ro.keep_activations = true;
    ro.workspace = &ws;
    for (const Tensor& batch : calibration) {
        const RunResult r = run(plan, {batch}, ro);
        for (size_t i = 0; i < tensors.size(); ++i) {
            const Tensor& v = r.activations[size_t(index[i])];
            if (v.dtype != DataType::FLOAT)
                throw std::invalid_argument("quantize: tensor '" + tensors[i] + "' is not float, cannot calibrate it");
            if (o.calibration == CalibrationMethod::min_max) quant::observe_min_max(ranges[i], v.as<float>(), size_t(v.numel()));
            else values[i].insert(values[i].end(), v.as<float>(), v.as<float>() + v.numel());
        }
    }
    std::map<std::string, ActParams> out;
    for (size_t i = 0; i < tensors.size(); ++i) {
        quant::QuantParams p;
        if (o.calibration == CalibrationMethod::min_max) {
            p = quant::params_from_min_max(ranges[i], true, false);
        } else if (o.calibration == CalibrationMethod::percentile) {
            const std::vector<float>& v = values[i];
            p = quant::choose_params(quant::percentile(v.data(), v.size(), 100.0 - o.percentile),
                                     quant::percentile(v.data(), v.size(), o.percentile), true, false);
        } else {
            p = quant::search_mse_clip(values[i].data(), values[i].size(), true, false).params;
        }
        out[tensors[i]] = {p.scale[0], static_cast<int8_t>(p.zero_point[0])};
    }
    return out;
}

onnx::Model build_qdq(const onnx::Model& folded, const std::vector<Layer>& layers, const std::vector<WeightFormat>& formats,
                      const std::map<std::string, ActParams>& acts, Int4Storage storage, std::vector<LayerQuant>* report) {
    const onnx::Graph& g = folded.graph;
    const Names names = index_names(g);
    onnx::Model m = folded;
    onnx::Graph& out = m.graph;
    out.nodes.clear();
    out.value_info.clear();  // shapes are inferred again on import
    std::map<size_t, size_t> layer_of_node;
    for (size_t i = 0; i < layers.size(); ++i) layer_of_node[layers[i].node] = i;

    // An opset-21 file (INT4 weights) carries its activations as uint8 with the zero point + 128:
    // q_u8 = q_s8 + 128 for every x, so (q - zero point) * scale, and every result, is the same
    // (the executor's uint8 and int8 paths agree bit for bit: tests/core/nn_int4_test.cpp). Why:
    // ONNX Runtime (1.30, CPU) refuses int8 activations at opset 21. Its QDQ propagation inserts a
    // QuantizeLinear with output_dtype = int8 after ops such as MaxPool and Transpose, then
    // QDQS8ToU8Transformer turns int8 Q/DQ pairs into uint8 ones without changing that attribute:
    // "[TypeInferenceError] output_dtype INT8 does not match y_zero_point type UINT8"
    // (microsoft/onnxruntime issue 25526). uint8 pairs are left alone, and the file loads.
    bool uint8_activations = false;
    if (storage == Int4Storage::int4)
        for (size_t i = 0; i < layers.size(); ++i)
            uint8_activations = uint8_activations || (layers[i].weighted && formats[i].bits > 0 && formats[i].bits <= 4);
    std::map<std::string, std::string> renamed;  // activation tensor -> its dequantized copy
    auto emit_qdq = [&](const std::string& t) {
        const auto it = acts.find(t);
        if (it == acts.end()) return;
        const std::string sn = t + "_act_scale", zn = t + "_act_zero_point", qn = t + "_act_quantized",
                          dn = t + "_act_dequantized";
        out.initializers.push_back(onnx::float_tensor(sn, {}, {it->second.scale}));
        if (uint8_activations)
            out.initializers.push_back(onnx::make_tensor<uint8_t>(zn, DataType::UINT8, {},
                                                                  {uint8_t(int(it->second.zero_point) + 128)}));
        else
            out.initializers.push_back(onnx::int8_tensor(zn, {}, {it->second.zero_point}));
        out.nodes.push_back(onnx::make_node("QuantizeLinear", t + ".quantize", {t, sn, zn}, {qn}));
        out.nodes.push_back(onnx::make_node("DequantizeLinear", t + ".dequantize", {qn, sn, zn}, {dn}));
        renamed[t] = dn;
    };
    for (const auto& in : g.inputs) emit_qdq(in.name);
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        onnx::Node n = g.nodes[k];
        for (std::string& t : n.inputs) {
            const auto it = renamed.find(t);
            if (it != renamed.end()) t = it->second;
        }
        const auto li = layer_of_node.find(k);
        if (li != layer_of_node.end()) {
            const Layer& l = layers[li->second];
            LayerQuant lq;
            lq.name = label_of(g.nodes[k]);
            lq.op_type = g.nodes[k].op_type;
            lq.fused = l.fused;
            lq.output = l.output;
            lq.weights = "fp32";
            if (l.weighted && formats[li->second].bits > 0) {
                Tensor w = g.initializers[names.initializer.at(l.weight)];
                // A weight that several layers read is quantized once per layer, under names of its own.
                if (names.readers.at(l.weight).size() > 1) w.name = lq.name + "." + w.name;
                QuantizedWeight qw = quantize_weight(l, w, formats[li->second], lq.name, storage);
                for (Tensor& t : qw.initializers) out.initializers.push_back(std::move(t));
                for (onnx::Node& d : qw.nodes) out.nodes.push_back(std::move(d));
                n.inputs[1] = qw.output;
                lq.weights = weight_format_name(qw.applied);
                lq.weight_bits = qw.applied.bits;
                lq.weight_sqnr_db = qw.sqnr;
                lq.note = qw.note;
            }
            if (report) report->push_back(lq);
        }
        out.nodes.push_back(n);
        for (const std::string& t : g.nodes[k].outputs) emit_qdq(t);
    }
    if (report)
        for (LayerQuant& lq : *report) {
            const auto it = renamed.find(lq.output);
            lq.quantized_output = it != renamed.end() ? it->second : lq.output;
        }
    // The fp32 weights now read by nobody (all replaced by their DequantizeLinear) leave the file.
    const Names after = index_names(out);
    std::vector<Tensor> kept;
    for (Tensor& t : out.initializers)
        if (after.readers.count(t.name) || after.outputs.count(t.name)) kept.push_back(std::move(t));
    out.initializers = std::move(kept);
    // INT4 tensors and DequantizeLinear-21 (blocked, 4-bit) need opset 21, which came with IR
    // version 10 (ONNX 1.16, onnx/docs/Versioning.md); a newer model keeps its versions.
    bool int4 = false;
    for (const Tensor& t : out.initializers) int4 = int4 || t.dtype == DataType::INT4;
    if (int4) {
        bool found = false;
        for (auto& [domain, version] : m.opset_imports)
            if (domain.empty() || domain == "ai.onnx") {
                version = std::max<int64_t>(version, 21);
                found = true;
            }
        if (!found) m.opset_imports.push_back({"", 21});
        m.ir_version = std::max<int64_t>(m.ir_version, 10);
    }
    return m;
}

std::vector<Tensor> first_outputs(const Graph& g, const std::vector<Tensor>& inputs) {
    const Plan plan = prepare(g, Kernels::fast);
    Workspace ws;
    RunOptions ro;
    ro.workspace = &ws;
    std::vector<Tensor> out;
    for (const Tensor& x : inputs) out.push_back(run(plan, {x}, ro).outputs.at(0));
    return out;
}

double outputs_sqnr(const std::vector<Tensor>& ref, const std::vector<Tensor>& test) {
    std::vector<float> a, b;
    for (size_t i = 0; i < ref.size(); ++i) {
        a.insert(a.end(), ref[i].as<float>(), ref[i].as<float>() + ref[i].numel());
        b.insert(b.end(), test[i].as<float>(), test[i].as<float>() + test[i].numel());
    }
    return sqnr_db(a.data(), b.data(), a.size());
}

}  // namespace

QuantizeResult quantize_model(const onnx::Model& model, const std::vector<Tensor>& calibration, const QuantizeOptions& o) {
    if (model.graph.inputs.size() != 1) throw std::invalid_argument("quantize: the model must have one input");
    if (o.percentile <= 50.0 || o.percentile > 100.0)
        throw std::invalid_argument("quantize: percentile must be in (50, 100], not " + std::to_string(o.percentile));
    QuantizeResult r;
    onnx::Model folded = model;
    if (o.fold_batch_norm) fold_batch_norms(folded, r.folded_batch_norms);
    const std::vector<Layer> layers = find_layers(folded.graph, o.fuse);
    for (const Layer& l : layers)
        if (!l.fused.empty())
            r.fusions.push_back(folded.graph.nodes[l.node].op_type + " '" + label_of(folded.graph.nodes[l.node]) + "' + " +
                                l.fused[0] + " '" + l.fused_labels[0] + "'");
    std::vector<WeightFormat> formats;
    for (const Layer& l : layers) formats.push_back(l.weighted ? o.recipe.weights : WeightFormat{0, WeightGranularity::per_channel, 0});
    if (o.recipe.weights.bits == 0) {  // fp32: the model as it is (after folding)
        r.model = folded;
        return r;
    }
    if (calibration.empty() && o.recipe.activations) throw std::invalid_argument("quantize: no calibration inputs");
    for (const Tensor& t : calibration) r.calibration_samples += t.dims.empty() ? 1 : t.dims[0];

    std::map<std::string, ActParams> acts;
    if (o.recipe.activations) acts = calibrate(folded, activation_tensors(folded.graph, layers, formats), calibration, o);

    std::vector<double> sensitivity(layers.size(), std::numeric_limits<double>::quiet_NaN());
    if (o.recipe.mixed) {
        if (!(o.mixed_max_bits >= 4.0 && o.mixed_max_bits <= 8.0))
            throw std::invalid_argument("quantize: the mixed-precision budget must be 4 to 8 bits per weight, not " +
                                        std::to_string(o.mixed_max_bits));
        const Graph fp32 = import_onnx(folded);
        const std::vector<Tensor> ref = first_outputs(fp32, calibration);
        const double base = outputs_sqnr(ref, first_outputs(import_onnx(build_qdq(folded, layers, formats, acts, o.int4_storage, nullptr)), calibration));
        std::vector<size_t> order;
        std::vector<double> params(layers.size(), 0.0), cost(layers.size(), 0.0);
        double total = 0.0, bits = 0.0;
        for (size_t i = 0; i < layers.size(); ++i) {
            if (!layers[i].weighted) continue;
            std::vector<WeightFormat> trial = formats;
            trial[i].bits = 4;
            const Graph q = import_onnx(build_qdq(folded, layers, trial, acts, o.int4_storage, nullptr));
            sensitivity[i] = outputs_sqnr(ref, first_outputs(q, calibration));
            params[i] = double(layers[i].channels) * double(layers[i].K);
            // dB of logits SQNR lost per weight moved to 4 bits (a loss below 0 counts as 0).
            cost[i] = std::max(0.0, base - sensitivity[i]) / std::max(1.0, params[i]);
            total += params[i];
            bits += params[i] * formats[i].bits;
            order.push_back(i);
        }
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] < cost[b]; });
        for (size_t i : order) {
            if (total == 0.0 || bits / total <= o.mixed_max_bits) break;
            bits -= params[i] * (formats[i].bits - 4);
            formats[i].bits = 4;
        }
    }
    r.model = build_qdq(folded, layers, formats, acts, o.int4_storage, &r.layers);
    for (size_t i = 0; i < layers.size(); ++i) r.layers[i].sensitivity_db = sensitivity[i];
    return r;
}

double layer_sqnr(const Graph& fp32, const Graph& quantized, std::vector<LayerQuant>& layers, const std::vector<Tensor>& inputs) {
    const Plan pa = prepare(fp32, Kernels::fast), pb = prepare(quantized, Kernels::fast);
    RunOptions ro;
    ro.keep_activations = true;
    std::vector<double> signal(layers.size() + 1, 0.0), noise(layers.size() + 1, 0.0);
    std::vector<std::pair<int, int>> index;
    for (const LayerQuant& l : layers) {
        const int a = fp32.find(l.output), b = quantized.find(l.quantized_output.empty() ? l.output : l.quantized_output);
        if (a < 0 || b < 0) throw std::invalid_argument("layer_sqnr: tensor '" + l.output + "' is missing from a model");
        index.emplace_back(a, b);
    }
    index.emplace_back(fp32.outputs.at(0), quantized.outputs.at(0));
    std::vector<double> unit(index.size(), 0.0);  // the error histograms' unit: the fp32 RMS over the first input
    std::vector<std::vector<int64_t>> hist(index.size(), std::vector<int64_t>(kErrorBins, 0));
    for (size_t b = 0; b < inputs.size(); ++b) {
        const RunResult ra = run(pa, {inputs[b]}, ro), rb = run(pb, {inputs[b]}, ro);
        for (size_t i = 0; i < index.size(); ++i) {
            const Tensor& u = ra.activations[size_t(index[i].first)];
            const Tensor& v = rb.activations[size_t(index[i].second)];
            if (u.dtype != DataType::FLOAT || v.dtype != DataType::FLOAT || u.numel() != v.numel())
                throw std::invalid_argument("layer_sqnr: the two models disagree on the shape of a compared tensor");
            const float *p = u.as<float>(), *q = v.as<float>();
            for (int64_t e = 0; e < u.numel(); ++e) {
                const double d = double(p[e]) - double(q[e]);
                signal[i] += double(p[e]) * double(p[e]);
                noise[i] += d * d;
            }
            if (b == 0) unit[i] = u.numel() > 0 ? std::sqrt(signal[i] / double(u.numel())) : 0.0;
            // Error in bins of kErrorBinWidth units, bin kErrorBins / 2 centred on zero; a zero unit
            // (an all-zero tensor) counts every error as exact or beyond the ends by its sign.
            const double half = double(kErrorBins / 2);
            for (int64_t e = 0; e < u.numel(); ++e) {
                const double d = double(q[e]) - double(p[e]);
                double k = unit[i] > 0 ? std::floor(d / (unit[i] * kErrorBinWidth) + 0.5) : (d > 0 ? half : d < 0 ? -half : 0.0);
                k = k < -half ? -half : k > half ? half : k == k ? k : half;  // a NaN error: beyond the end
                ++hist[i][size_t(k + half)];
            }
        }
    }
    for (size_t i = 0; i < layers.size(); ++i) {
        layers[i].sqnr_db = decibels(signal[i], noise[i]);
        layers[i].error_histogram = hist[i];
    }
    return decibels(signal.back(), noise.back());
}

}  // namespace stacklab::nn
