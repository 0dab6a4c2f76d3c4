#include "nn/drift.hpp"

#include <algorithm>
#include <stdexcept>

#include "nn/executor.hpp"

namespace stacklab::nn {

std::vector<ModelDrift> layer_norm_gelu_drift_on_model(const Graph& g, const std::vector<onnx::Tensor>& inputs,
                                                       const quant::LnGeluVariant& variant) {
    struct Pair {
        const GraphNode* ln;
        const GraphNode* gelu;
    };
    std::vector<Pair> pairs;
    for (const GraphNode& n : g.nodes) {
        if (n.op != OpType::LayerNormalization || n.outputs.empty() || n.outputs[0] < 0) continue;
        const int y = n.outputs[0];
        const GraphNode* reader = nullptr;
        int readers = 0;
        for (const GraphNode& m : g.nodes)
            for (int t : m.inputs)
                if (t == y) {
                    reader = &m;
                    ++readers;
                }
        const bool is_output = std::find(g.outputs.begin(), g.outputs.end(), y) != g.outputs.end();
        if (readers == 1 && !is_output && reader->op == OpType::Gelu) pairs.push_back({&n, reader});
    }
    std::vector<ModelDrift> out;
    if (pairs.empty()) return out;

    const Plan plan = prepare(g, Kernels::fast);
    RunOptions keep;
    keep.keep_activations = true;
    std::vector<std::vector<float>> rows_of(pairs.size());
    std::vector<size_t> cols_of(pairs.size(), 0);
    for (const onnx::Tensor& x : inputs) {
        const RunResult r = run(plan, {x}, keep);
        for (size_t p = 0; p < pairs.size(); ++p) {
            const onnx::Tensor& v = r.activations.at(size_t(pairs[p].ln->inputs.at(0)));
            if (v.dtype != onnx::DataType::FLOAT || v.dims.empty())
                throw std::invalid_argument("drift: the input of '" + pairs[p].ln->label() + "' is not a float tensor");
            cols_of[p] = size_t(v.dims.back());
            rows_of[p].insert(rows_of[p].end(), v.as<float>(), v.as<float>() + v.numel());
        }
    }
    for (size_t p = 0; p < pairs.size(); ++p) {
        const GraphNode& ln = *pairs[p].ln;
        const onnx::Attribute* axis = ln.proto.attr("axis");
        const int64_t rank = int64_t(g.tensors[size_t(ln.inputs[0])].shape.size());
        if (axis && axis->i != -1 && axis->i != rank - 1)
            throw std::invalid_argument("drift: '" + ln.label() + "' normalizes from axis " + std::to_string(axis->i) +
                                        ", the fused kernel only over the last axis");
        const onnx::Tensor* gamma = ln.inputs.size() > 1 ? g.constant(ln.inputs[1]) : nullptr;
        const onnx::Tensor* beta = ln.inputs.size() > 2 && ln.inputs[2] >= 0 ? g.constant(ln.inputs[2]) : nullptr;
        if (!gamma || (ln.inputs.size() > 2 && ln.inputs[2] >= 0 && !beta))
            throw std::invalid_argument("drift: the scale and bias of '" + ln.label() + "' must be constants");
        const onnx::Attribute* eps = ln.proto.attr("epsilon");
        const float epsilon = eps ? eps->f : 1e-5f;
        const size_t cols = cols_of[p], rows = cols ? rows_of[p].size() / cols : 0;
        std::vector<double> ref(rows * cols);
        quant::layer_norm_gelu_ref(rows_of[p].data(), rows, cols, gamma->as<float>(), beta ? beta->as<float>() : nullptr,
                                   epsilon, ref.data());
        const auto [lo, hi] = std::minmax_element(ref.begin(), ref.end());
        const quant::QuantParams q = quant::choose_params(float(*lo), float(*hi), true, false);
        ModelDrift d;
        d.layer_norm = ln.label();
        d.gelu = pairs[p].gelu->label();
        const onnx::Attribute* approx = pairs[p].gelu->proto.attr("approximate");
        d.gelu_approximate = approx ? approx->s : "none";
        d.report = quant::layer_norm_gelu_drift(variant, rows_of[p].data(), rows, cols, gamma->as<float>(),
                                                beta ? beta->as<float>() : nullptr, epsilon, q);
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace stacklab::nn
