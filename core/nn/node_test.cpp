#include "nn/node_test.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>

#include "nn/reference_ops.hpp"

namespace stacklab::nn {

using onnx::DataType;
using onnx::Tensor;

namespace {

std::string shape_str(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
    return s + "]";
}

std::string num(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

// The multi-index of flat element i of a tensor of shape dims, as "[1,2,3]".
std::string index_str(size_t i, const std::vector<int64_t>& dims) {
    std::vector<int64_t> idx(dims.size());
    for (size_t d = dims.size(); d-- > 0;) {
        idx[d] = dims[d] ? static_cast<int64_t>(i % static_cast<size_t>(dims[d])) : 0;
        i = dims[d] ? i / static_cast<size_t>(dims[d]) : 0;
    }
    return shape_str(idx);
}

bool is_real(DataType t) { return t == DataType::FLOAT || t == DataType::DOUBLE; }

// Element i of an integer (or bool) tensor as a double, and whether the type is one; values beyond
// 2^53 lose precision only in the reported error, the comparison itself is on the bits.
bool integer_at(const Tensor& t, size_t i, double* v) {
    switch (t.dtype) {
        case DataType::UINT8: *v = t.as<uint8_t>()[i]; return true;
        case DataType::BOOL: *v = t.as<uint8_t>()[i]; return true;
        case DataType::INT8: *v = t.as<int8_t>()[i]; return true;
        case DataType::UINT16: *v = t.as<uint16_t>()[i]; return true;
        case DataType::INT16: *v = t.as<int16_t>()[i]; return true;
        case DataType::UINT32: *v = t.as<uint32_t>()[i]; return true;
        case DataType::INT32: *v = t.as<int32_t>()[i]; return true;
        case DataType::UINT64: *v = static_cast<double>(t.as<uint64_t>()[i]); return true;
        case DataType::INT64: *v = static_cast<double>(t.as<int64_t>()[i]); return true;
        default: return false;
    }
}

// Compares one output; returns "" when it matches, else what differs. Raises *max_abs_err.
std::string compare(const Tensor& got, const Tensor& exp, double* max_abs_err) {
    if (got.dtype != exp.dtype)
        return std::string("element type ") + onnx::dtype_name(got.dtype) + ", expected " + onnx::dtype_name(exp.dtype);
    if (got.dims != exp.dims) return "shape " + shape_str(got.dims) + ", expected " + shape_str(exp.dims);
    if (got.dtype == DataType::STRING) return got.strings == exp.strings ? "" : "strings differ";
    const size_t es = onnx::element_size(got.dtype);
    if (got.data.size() != exp.data.size() || got.data.size() != static_cast<size_t>(got.numel()) * es)
        return "holds " + std::to_string(got.data.size()) + " bytes, expected " + std::to_string(exp.data.size());
    const size_t n = static_cast<size_t>(got.numel());
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0, worst_got = 0.0, worst_exp = 0.0;
    for (size_t i = 0; i < n; ++i) {
        double g = 0.0, e = 0.0;
        bool ok;
        if (is_real(got.dtype)) {
            g = got.dtype == DataType::FLOAT ? got.as<float>()[i] : got.as<double>()[i];
            e = exp.dtype == DataType::FLOAT ? exp.as<float>()[i] : exp.as<double>()[i];
            if (std::isnan(g) || std::isnan(e) || std::isinf(g) || std::isinf(e)) {
                ok = (std::isnan(g) && std::isnan(e)) || g == e;
                if (!ok) *max_abs_err = INFINITY;
            } else {
                const double err = std::fabs(g - e);
                *max_abs_err = std::max(*max_abs_err, err);
                ok = err <= kNodeTestAtol + kNodeTestRtol * std::fabs(e);
            }
        } else if (integer_at(got, i, &g)) {
            integer_at(exp, i, &e);
            ok = std::memcmp(&got.data[i * es], &exp.data[i * es], es) == 0;
            *max_abs_err = std::max(*max_abs_err, std::fabs(g - e));
        } else {
            ok = std::memcmp(&got.data[i * es], &exp.data[i * es], es) == 0;  // float16 and others: bits
            if (!ok) *max_abs_err = INFINITY;
        }
        if (ok) continue;
        ++bad;
        const double excess = std::isnan(g - e) ? INFINITY : std::fabs(g - e);
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
            worst_got = g;
            worst_exp = e;
        }
    }
    if (!bad) return "";
    std::string s = std::to_string(bad) + " of " + std::to_string(n) + " elements differ";
    s += is_real(got.dtype) ? " beyond |err| <= " + num(kNodeTestAtol) + " + " + num(kNodeTestRtol) + " * |expected|"
                            : " (integers must match exactly)";
    if (is_real(got.dtype) || got.dtype != DataType::FLOAT16)
        s += "; worst at " + index_str(worst, got.dims) + ": got " + num(worst_got) + ", expected " + num(worst_exp);
    return s;
}

bool declared(const onnx::ValueInfo& v) { return v.kind == onnx::ValueKind::TENSOR && v.elem_type != DataType::UNDEFINED; }

// The declared type of a graph input or output, checked against an actual tensor.
void check_declared(const onnx::ValueInfo& v, const Tensor& t, const std::string& what) {
    if (!declared(v)) return;
    if (t.dtype != v.elem_type)
        throw std::runtime_error(what + " has element type " + onnx::dtype_name(t.dtype) + " but the model declares " +
                                 onnx::dtype_name(v.elem_type));
    if (!v.has_shape) return;
    bool ok = v.dims.size() == t.dims.size();
    for (size_t d = 0; ok && d < v.dims.size(); ++d) ok = v.dims[d] < 0 || v.dims[d] == t.dims[d];
    if (!ok) {
        std::string decl = "[";
        for (size_t d = 0; d < v.dims.size(); ++d)
            decl += (d ? "," : "") + (v.dims[d] < 0 ? (v.dim_params[d].empty() ? "?" : v.dim_params[d]) : std::to_string(v.dims[d]));
        throw std::runtime_error(what + " has shape " + shape_str(t.dims) + " but the model declares " + decl + "]");
    }
}

}  // namespace

std::vector<Tensor> run_reference_graph(const onnx::Model& model, const std::vector<Tensor>& inputs) {
    const onnx::Graph& g = model.graph;
    std::map<std::string, const Tensor*> env;
    for (const Tensor& t : g.initializers) env[t.name] = &t;
    std::vector<const onnx::ValueInfo*> free_inputs;
    for (const onnx::ValueInfo& v : g.inputs)
        if (!env.count(v.name)) free_inputs.push_back(&v);
    if (inputs.size() > free_inputs.size())
        throw std::runtime_error(std::to_string(inputs.size()) + " inputs given but the graph has " +
                                 std::to_string(free_inputs.size()) + " inputs that are not initializers");
    for (size_t i = 0; i < inputs.size(); ++i) {
        check_declared(*free_inputs[i], inputs[i], "input " + std::to_string(i) + " ('" + free_inputs[i]->name + "')");
        env[free_inputs[i]->name] = &inputs[i];
    }
    // Node outputs live here; std::map keeps addresses stable as it grows.
    std::map<std::string, Tensor> values;
    for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
        const onnx::Node& node = g.nodes[ni];
        std::vector<const Tensor*> args;
        for (const std::string& in : node.inputs) {
            if (in.empty()) {
                args.push_back(nullptr);
                continue;
            }
            auto it = env.find(in);
            if (it == env.end())
                throw std::runtime_error("graph.node[" + std::to_string(ni) + "] (" + node.op_type + ") reads '" + in +
                                         "', which is neither a bound graph input, an initializer nor an earlier "
                                         "node's output");
            args.push_back(it->second);
        }
        const int64_t opset = model.opset(node.domain);
        std::vector<Tensor> outs = run_reference_node(node, args, opset);
        for (size_t o = 0; o < outs.size(); ++o) {
            if (node.outputs[o].empty()) continue;
            Tensor& slot = values[node.outputs[o]];
            slot = std::move(outs[o]);
            env[node.outputs[o]] = &slot;
        }
    }
    std::vector<Tensor> result;
    for (size_t i = 0; i < g.outputs.size(); ++i) {
        auto it = env.find(g.outputs[i].name);
        if (it == env.end())
            throw std::runtime_error("graph output " + std::to_string(i) + " ('" + g.outputs[i].name + "') is not computed");
        result.push_back(*it->second);
    }
    return result;
}

NodeTestResult run_node_test(const std::string& name, const std::string& model_bytes,
                             const std::vector<NodeTestDataSet>& sets) {
    NodeTestResult r;
    r.name = name;
    const std::string prefix = name + ": ";
    try {
        const onnx::Model model = onnx::parse_model(model_bytes, "model.onnx");
        // Sequence, map and optional values (test_sequence_*, test_optional_*) are outside a tensor
        // executor; say so instead of failing to read their .pb files as tensors.
        for (const auto* values : {&model.graph.inputs, &model.graph.outputs})
            for (const onnx::ValueInfo& v : *values)
                if (v.kind != onnx::ValueKind::TENSOR && (v.kind != onnx::ValueKind::UNDEFINED || !v.type_proto.empty())) {
                    r.unsupported = true;
                    r.error = prefix + "graph " + (values == &model.graph.inputs ? "input" : "output") + " '" + v.name +
                              "' is a " + (v.kind == onnx::ValueKind::UNDEFINED ? "non-tensor" : onnx::value_kind_name(v.kind)) +
                              " value; the reference executor runs tensors only";
                    return r;
                }
        if (sets.empty()) throw std::runtime_error("no test data sets");
        std::string first_error;
        for (size_t si = 0; si < sets.size(); ++si) {
            const NodeTestDataSet& set = sets[si];
            const std::string label = set.label.empty() ? "test_data_set_" + std::to_string(si) : set.label;
            ++r.datasets;
            try {
                std::vector<Tensor> inputs;
                for (size_t i = 0; i < set.input_pbs.size(); ++i)
                    inputs.push_back(onnx::parse_tensor(set.input_pbs[i], label + "/input_" + std::to_string(i) + ".pb"));
                std::vector<Tensor> expected;
                for (size_t i = 0; i < set.output_pbs.size(); ++i)
                    expected.push_back(onnx::parse_tensor(set.output_pbs[i], label + "/output_" + std::to_string(i) + ".pb"));
                if (expected.size() != model.graph.outputs.size())
                    throw std::runtime_error(std::to_string(expected.size()) + " output files for a graph with " +
                                             std::to_string(model.graph.outputs.size()) + " outputs");
                const std::vector<Tensor> got = run_reference_graph(model, inputs);
                for (size_t i = 0; i < got.size(); ++i) {
                    const std::string diff = compare(got[i], expected[i], &r.max_abs_err);
                    if (!diff.empty() && first_error.empty())
                        first_error = label + ": output " + std::to_string(i) + " '" + model.graph.outputs[i].name +
                                      "': " + diff;
                }
            } catch (const NodeError& e) {
                r.unsupported = r.unsupported || (first_error.empty() && e.unsupported());
                if (first_error.empty()) first_error = label + ": " + e.what();
            } catch (const onnx::OnnxError& e) {
                if (first_error.empty()) first_error = e.what();  // names the file already
            } catch (const std::exception& e) {
                if (first_error.empty()) first_error = label + ": " + e.what();
            }
        }
        r.passed = first_error.empty();
        if (!r.passed) r.error = prefix + first_error;
    } catch (const std::exception& e) {
        r.passed = false;
        r.error = prefix + e.what();
    } catch (...) {
        r.passed = false;
        r.error = prefix + "unknown exception";
    }
    return r;
}

}  // namespace stacklab::nn
