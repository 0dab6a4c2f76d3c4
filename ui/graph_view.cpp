// The Models tab's graph view, in the manner of Netron (github.com/lutzroeder/netron): the selected
// model's graph top to bottom, one box per node (op type, name, the constant inputs it holds such as
// "W 32x1x3x3 float", and the quantization parameters a Q/DQ or QLinear node carries), edges with the
// shape and element type the core's shape inference (nn::infer_shapes, run by nn::import_onnx) gives
// each tensor, a details panel for the node clicked. The fp32 graph is the file as loaded; the
// quantized one is what the tab's recipe made of it (nn::QuantizeResult::model, QDQ form).
//
// Layout (computed once per graph, at zoom 1, in pixels of the current font): a layered drawing in
// the spirit of Sugiyama et al. 1981, kept simple. Layers by longest path from the graph inputs; a
// node fed by constants only (a weight's DequantizeLinear, a Constant) sits just above its first
// consumer instead of beside the inputs. Within a layer each box goes under the mean x of its
// predecessors (the barycenter heuristic); constant-only nodes go over their consumers, from a first
// placement pass. Overlaps are pushed apart left to right.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include <imgui.h>
#include <nlohmann/json.hpp>

#include "nn/graph.hpp"
#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {

namespace {

using Item = GraphViewState::Item;

std::string dims_text(const std::vector<int64_t>& d) {
    if (d.empty()) return "scalar";
    std::string s;
    for (size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + (d[i] < 0 ? std::string("?") : std::to_string(d[i]));
    return s;
}

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

// "s 0.0123 zp -128" per tensor; "axis 0: 32 scales 0.001..0.004, zp 0" per channel (zp as a range
// when they differ).
std::string quant_text(const nn::TensorQuant& q) {
    if (q.empty()) return "";
    const auto [smin, smax] = std::minmax_element(q.scale.begin(), q.scale.end());
    std::string zp = "0";
    if (!q.zero_point.empty()) {
        const auto [zmin, zmax] = std::minmax_element(q.zero_point.begin(), q.zero_point.end());
        zp = *zmin == *zmax ? std::to_string(*zmin) : std::to_string(*zmin) + ".." + std::to_string(*zmax);
    }
    if (q.scale.size() == 1) return "s " + num(q.scale[0]) + " zp " + zp;
    return "axis " + std::to_string(q.axis) + ": " + std::to_string(q.scale.size()) + " scales " + num(*smin) + ".." + num(*smax) +
           ", zp " + zp;
}

std::string tensor_text(const nn::TensorInfo& t) {
    return std::string(nn::onnx::dtype_name(t.dtype)) + " " + (t.has_shape ? nn::shape_text(t.shape) : "[?]");
}

// The ONNX operator specs' names of each input, for the ops whose inputs people look at (the
// constant inputs in a box read "W 32x1x3x3" rather than "input 1").
const char* input_name(const std::string& op, size_t i) {
    static const std::map<std::string, std::vector<const char*>> names = {
        {"Conv", {"X", "W", "B"}},
        {"ConvInteger", {"x", "w", "x_zero_point", "w_zero_point"}},
        {"QLinearConv", {"x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "B"}},
        {"MatMul", {"A", "B"}},
        {"MatMulInteger", {"A", "B", "a_zero_point", "b_zero_point"}},
        {"QLinearMatMul", {"a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"}},
        {"Gemm", {"A", "B", "C"}},
        {"Add", {"A", "B"}},
        {"Mul", {"A", "B"}},
        {"LayerNormalization", {"X", "Scale", "B"}},
        {"BatchNormalization", {"X", "scale", "B", "input_mean", "input_var"}},
        {"Reshape", {"data", "shape"}},
        {"QuantizeLinear", {"x", "y_scale", "y_zero_point"}},
        {"DequantizeLinear", {"x", "x_scale", "x_zero_point"}},
    };
    const auto it = names.find(op);
    if (it != names.end() && i < it->second.size()) return it->second[i];
    return nullptr;
}
std::string input_label(const std::string& op, size_t i) {
    const char* n = input_name(op, i);
    return n ? n : "in" + std::to_string(i);
}

// The value of a one-element constant, for a box ("y_scale = 0.0123").
std::string scalar_value(const nn::onnx::Tensor& t) {
    using DT = nn::onnx::DataType;
    if (t.numel() != 1) return "";
    switch (t.dtype) {
    case DT::FLOAT: return num(t.as<float>()[0]);
    case DT::INT8: return std::to_string(int(t.as<int8_t>()[0]));
    case DT::UINT8: return std::to_string(int(t.as<uint8_t>()[0]));
    case DT::INT32: return std::to_string(t.as<int32_t>()[0]);
    case DT::INT64: return std::to_string(t.as<int64_t>()[0]);
    default: return "";
    }
}

// The quantization a node's box summarizes: the integer side of a Q/DQ node; the weights' and the
// output's of a QLinear node; else the first quantized tensor among its outputs.
std::string node_quant(const nn::Graph& g, const nn::GraphNode& n) {
    auto q = [&](int t) { return t >= 0 ? quant_text(g.tensors[size_t(t)].quant) : std::string(); };
    auto in = [&](size_t i) { return i < n.inputs.size() ? n.inputs[i] : -1; };
    switch (n.op) {
    case nn::OpType::QuantizeLinear: return q(n.outputs[0]);
    case nn::OpType::DequantizeLinear: return q(in(0));
    case nn::OpType::QLinearConv:
    case nn::OpType::QLinearMatMul: {
        const std::string w = q(in(3)), y = q(n.outputs[0]);
        return (w.empty() ? "" : "w " + w) + (w.empty() || y.empty() ? "" : "; ") + (y.empty() ? "" : "y " + y);
    }
    default:
        for (int t : n.outputs)
            if (!q(t).empty()) return q(t);
        return "";
    }
}

// The lines of a node's box below the op type: name, constant inputs (at most 4, then a count).
std::vector<std::string> box_lines(const nn::Graph& g, const nn::GraphNode& n) {
    std::vector<std::string> lines = {n.label()};
    int consts = 0, more = 0;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
        const nn::onnx::Tensor* c = n.inputs[i] >= 0 ? g.constant(n.inputs[i]) : nullptr;
        if (!c) continue;
        if (consts++ >= 4) {
            ++more;
            continue;
        }
        const std::string v = scalar_value(*c);
        lines.push_back(input_label(n.proto.op_type, i) + " " +
                        (v.empty() ? dims_text(c->dims) + " " + nn::onnx::dtype_name(c->dtype) : "= " + v));
    }
    if (more) lines.push_back("+" + std::to_string(more) + " more constants");
    const std::string q = node_quant(g, n);
    if (!q.empty()) lines.push_back(q);
    return lines;
}

// Netron's colours by kind of op: layers blue, activations red, normalization and pooling green,
// quantization purple, shape and data movement grey.
ImU32 op_color(nn::OpType op) {
    using O = nn::OpType;
    switch (op) {
    case O::Conv: case O::ConvInteger: case O::QLinearConv: case O::MatMul: case O::MatMulInteger: case O::QLinearMatMul:
    case O::Gemm: return IM_COL32(51, 85, 136, 255);
    case O::Relu: case O::Sigmoid: case O::Tanh: case O::Erf: case O::Gelu: case O::HardSwish: case O::Softmax:
        return IM_COL32(112, 41, 33, 255);
    case O::LayerNormalization: case O::BatchNormalization: case O::MaxPool: case O::AveragePool: case O::GlobalAveragePool:
        return IM_COL32(51, 85, 51, 255);
    case O::QuantizeLinear: case O::DequantizeLinear: return IM_COL32(96, 60, 130, 255);
    default: return IM_COL32(70, 70, 70, 255);
    }
}

// The canvas's own colours, per theme (the op header colours above serve both: white header text
// reads on them). Dark: Netron's dark look; light: Netron's default, white boxes with dark text on a
// near-white canvas. Body text against the box fill is at least 4.5:1 in both (WCAG 2.1 AA contrast
// for normal text, asserted in tests/ui/scenario_test.cpp).
struct GraphPalette {
    ImU32 canvas, box, pill, pill_border, box_border, hover_border, header_text, text, dim, quant, hot;
};
GraphPalette graph_palette(bool dark) {
    if (dark)
        return {IM_COL32(22, 22, 26, 255),    IM_COL32(32, 32, 36, 255),    IM_COL32(45, 45, 50, 255),
                IM_COL32(150, 150, 160, 255), IM_COL32(110, 110, 120, 255), IM_COL32(230, 230, 230, 255),
                IM_COL32(235, 235, 235, 255), IM_COL32(235, 235, 235, 255), IM_COL32(180, 180, 190, 255),
                IM_COL32(200, 170, 255, 255), IM_COL32(255, 200, 80, 255)};
    return {IM_COL32(246, 246, 248, 255), IM_COL32(255, 255, 255, 255), IM_COL32(232, 232, 238, 255),
            IM_COL32(120, 120, 130, 255), IM_COL32(150, 150, 160, 255), IM_COL32(40, 40, 40, 255),
            IM_COL32(245, 245, 245, 255), IM_COL32(25, 25, 30, 255),    IM_COL32(85, 85, 95, 255),
            IM_COL32(100, 50, 160, 255),  IM_COL32(215, 120, 0, 255)};
}

struct Edge {
    int from = -1, to = -1;  // item indices
    int tensor = -1;
};

// The items' predecessors and the edges between them; constant inputs are in the boxes, not edges.
std::vector<Edge> edges_of(const nn::Graph& g, const std::vector<Item>& items) {
    std::vector<int> item_of_input(g.tensors.size(), -1);  // tensor -> its graph-input item
    std::vector<int> item_of_node(g.nodes.size(), -1);
    for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].kind == 0) item_of_input[size_t(g.inputs[size_t(items[i].index)])] = int(i);
        if (items[i].kind == 1) item_of_node[size_t(items[i].index)] = int(i);
    }
    auto source = [&](int t) {
        if (t < 0 || g.constant(t)) return -1;
        const int p = g.tensors[size_t(t)].producer;
        return p >= 0 ? item_of_node[size_t(p)] : item_of_input[size_t(t)];
    };
    std::vector<Edge> edges;
    for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].kind == 1) {
            for (int t : g.nodes[size_t(items[i].index)].inputs) {
                const int s = source(t);
                if (s >= 0) edges.push_back({s, int(i), t});
            }
        } else if (items[i].kind == 2) {
            const int t = g.outputs[size_t(items[i].index)], s = source(t);
            if (s >= 0) edges.push_back({s, int(i), t});
        }
    }
    return edges;
}

void layout(const nn::Graph& g, GraphViewState& v, float fs) {
    std::vector<Item>& items = v.items;
    items.clear();
    const float line = fs * 1.15f, pad = fs * 0.4f;
    auto text_w = [&](const std::string& s) { return ImGui::CalcTextSize(s.c_str()).x; };
    for (size_t i = 0; i < g.inputs.size(); ++i) {
        const nn::TensorInfo& t = g.tensors[size_t(g.inputs[i])];
        items.push_back({0, int(i), 0, 0, 0, std::max(text_w(t.name), text_w(tensor_text(t))) + 2 * pad, 2 * line + 2 * pad});
    }
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const auto lines = box_lines(g, g.nodes[k]);
        float w = text_w(g.nodes[k].proto.op_type);
        for (const auto& l : lines) w = std::max(w, text_w(l));
        items.push_back({1, int(k), 0, 0, 0, std::clamp(w + 2 * pad, 7.0f * fs, 20.0f * fs), float(lines.size() + 1) * line + 2 * pad});
    }
    for (size_t i = 0; i < g.outputs.size(); ++i) {
        const nn::TensorInfo& t = g.tensors[size_t(g.outputs[i])];
        items.push_back({2, int(i), 0, 0, 0, std::max(text_w(t.name), text_w(tensor_text(t))) + 2 * pad, 2 * line + 2 * pad});
    }
    const std::vector<Edge> edges = edges_of(g, items);
    const size_t n = items.size();
    std::vector<std::vector<int>> preds(n), succs(n);
    for (const Edge& e : edges) {
        preds[size_t(e.to)].push_back(e.from);
        succs[size_t(e.from)].push_back(e.to);
    }
    // Layers: items are in topological order (inputs, nodes as stored, outputs).
    std::vector<bool> const_only(n, false);
    for (size_t i = 0; i < n; ++i) {
        if (items[i].kind != 1) continue;
        const_only[i] = std::all_of(preds[i].begin(), preds[i].end(), [&](int p) { return const_only[size_t(p)]; });
        int layer = 0;
        for (int p : preds[i])
            if (!const_only[size_t(p)]) layer = std::max(layer, items[size_t(p)].layer + 1);
        items[i].layer = const_only[i] ? 0 : std::max(layer, 1);
    }
    for (size_t i = 0; i < n; ++i)
        if (items[i].kind == 2)
            for (int p : preds[i]) items[i].layer = std::max(items[i].layer, items[size_t(p)].layer + 1);
    for (size_t i = n; i-- > 0;)  // constant-only nodes: just above their first consumer
        if (const_only[i] && !succs[i].empty()) {
            int layer = 1 << 30;
            for (int s : succs[i]) layer = std::min(layer, items[size_t(s)].layer - 1);
            items[i].layer = layer;
        }
    int lo = 0, hi = 0;
    for (const Item& it : items) lo = std::min(lo, it.layer), hi = std::max(hi, it.layer);
    for (Item& it : items) it.layer -= lo;
    const int layers = hi - lo + 1;
    std::vector<std::vector<int>> by_layer(static_cast<size_t>(layers));
    for (size_t i = 0; i < n; ++i) by_layer[size_t(items[i].layer)].push_back(int(i));
    // y: each layer as tall as its tallest box, a gap for the edges' labels between layers.
    float y = 0;
    for (const auto& L : by_layer) {
        float h = 0;
        for (int i : L) h = std::max(h, items[size_t(i)].h);
        for (int i : L) items[size_t(i)].y = y;
        y += h + 2.6f * fs;
    }
    // x: two barycenter passes (see the header comment).
    const float gap = 1.5f * fs;
    std::vector<float> center(n, 0.0f);
    for (int pass = 0; pass < 2; ++pass) {
        std::vector<float> placed(n, 0.0f);
        for (const auto& L : by_layer) {
            std::vector<std::pair<float, int>> want;
            float next = 0;
            for (int i : L) {
                float c = next;
                const auto& from = pass == 1 && const_only[size_t(i)] ? succs[size_t(i)] : preds[size_t(i)];
                const auto& where = pass == 1 && const_only[size_t(i)] ? center : placed;
                if (!from.empty()) {
                    c = 0;
                    for (int p : from) c += where[size_t(p)];
                    c /= float(from.size());
                } else if (pass == 1) {
                    c = center[size_t(i)];
                }
                want.push_back({c, i});
                next = c + items[size_t(i)].w + gap;
            }
            std::stable_sort(want.begin(), want.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
            float right = -1e30f, drift = 0;
            for (const auto& [c, i] : want) {
                Item& it = items[size_t(i)];
                it.x = std::max(c - it.w / 2, right + gap);
                right = it.x + it.w;
                drift += it.x + it.w / 2 - c;
            }
            drift /= float(std::max<size_t>(1, want.size()));  // pushing apart moves a layer right: recentre it
            for (const auto& [c, i] : want) {
                items[size_t(i)].x -= drift;
                placed[size_t(i)] = items[size_t(i)].x + items[size_t(i)].w / 2;
            }
        }
        center = placed;
    }
    float min_x = 0, max_x = 0, max_y = 0;
    if (n) min_x = items[0].x;
    for (const Item& it : items) min_x = std::min(min_x, it.x);
    for (Item& it : items) {
        it.x -= min_x - fs;
        it.y += fs;
        max_x = std::max(max_x, it.x + it.w);
        max_y = std::max(max_y, it.y + it.h);
    }
    v.width = max_x + 5.0f * fs;  // room for the residual edges bowing out on the right
    v.height = max_y + fs;
}

// The graph to show, (re)built when the model, the toggle or the evaluation job changed.
void refresh(AppState& state, float fs) {
    GraphViewState& v = state.graph_view;
    const ModelsPanelReport& r = state.models_report;
    const std::string& id = state.models_choice.model;
    const bool job_is_this = r.choice == state.models_choice;
    const bool quant_ready = job_is_this && !r.quant.model.graph.nodes.empty();
    const std::string key = id + "|" + (v.quantized ? "q" + std::to_string(r.computations) + (quant_ready ? "r" : "-") : "f") + "|" +
                            state.models_choice.recipe + "|" + std::to_string(fs);
    if (key == v.key) return;
    v.key = key;
    v.graph.reset();
    v.items.clear();
    v.error.clear();
    v.note.clear();
    v.selected = -1;
    try {
        if (v.quantized) {
            if (state.models_choice.recipe == "fp32") {
                v.note = "recipe fp32: nothing is quantized; this is the model as loaded";
            } else if (!quant_ready) {
                v.error = r.stage == "error" ? "no quantized graph: " + r.error : "quantizing: the graph appears when the recipe has run";
                if (r.stage != "error") v.key.clear();  // look again next frame
                return;
            } else {
                v.graph = std::make_shared<const nn::Graph>(nn::import_onnx(r.quant.model));
                v.note = "after " + state.models_choice.recipe + " (" +
                         nn::calibration_name(nn::CalibrationMethod(std::clamp(state.models_choice.calibration, 0, 2))) +
                         " calibration" + (state.models_choice.fuse ? ", fused" : "") + "), QDQ form";
            }
        }
        if (!v.graph) v.graph = std::make_shared<const nn::Graph>(models_tab_graph(state, id));
        layout(*v.graph, v, fs);
    } catch (const std::exception& e) {
        v.graph.reset();
        v.error = e.what();
    }
}

std::string attribute_text(const nn::onnx::Attribute& a) {
    using A = nn::onnx::Attribute;
    auto list = [](const auto& xs, auto f) {
        std::string s = "[";
        for (size_t i = 0; i < xs.size() && i < 16; ++i) s += (i ? ", " : "") + f(xs[i]);
        return s + (xs.size() > 16 ? ", ... (" + std::to_string(xs.size()) + ")]" : "]");
    };
    switch (a.type) {
    case A::FLOAT: return num(a.f);
    case A::INT: return std::to_string(a.i);
    case A::STRING: return "\"" + a.s + "\"";
    case A::FLOATS: return list(a.floats, [](float x) { return num(x); });
    case A::INTS: return list(a.ints, [](int64_t x) { return std::to_string(x); });
    case A::STRINGS: return list(a.strings, [](const std::string& x) { return "\"" + x + "\""; });
    case A::TENSOR: return std::string("tensor ") + nn::onnx::dtype_name(a.t.dtype) + " " + dims_text(a.t.dims);
    default: return nn::onnx::attribute_type_name(a.type);
    }
}

void details(GraphViewState& v) {
    const nn::Graph& g = *v.graph;
    auto tensor_rows = [&](const char* title, const std::vector<int>& ts, const std::string& op, bool inputs) {
        ImGui::TextDisabled("%s", title);
        for (size_t i = 0; i < ts.size(); ++i) {
            if (ts[i] < 0) continue;
            const nn::TensorInfo& t = g.tensors[size_t(ts[i])];
            const std::string slot = op.empty() ? std::to_string(i) : inputs ? input_label(op, i) : "out" + std::to_string(i);
            ImGui::BulletText("%s: %s", slot.c_str(), t.name.c_str());
            ImGui::Indent();
            const nn::onnx::Tensor* c = g.constant(ts[i]);
            ImGui::TextUnformatted((tensor_text(t) + (c ? " (constant)" : "")).c_str());
            if (c && !scalar_value(*c).empty()) ImGui::Text("= %s", scalar_value(*c).c_str());
            if (!t.quant.empty()) ImGui::TextColored(on_theme(ImVec4(0.75f, 0.6f, 1.0f, 1.0f)), "%s", quant_text(t.quant).c_str());
            ImGui::Unindent();
        }
    };
    if (v.selected < 0 || v.selected >= int(g.nodes.size())) {
        ImGui::Text("%s", g.name.empty() ? "(graph)" : g.name.c_str());
        ImGui::Text("opset %lld, %zu nodes", (long long)g.opset, g.nodes.size());
        std::map<std::string, int> ops;
        for (const auto& n : g.nodes) ++ops[n.proto.op_type];
        for (const auto& [op, count] : ops) ImGui::BulletText("%s x%d", op.c_str(), count);
        tensor_rows("Inputs", g.inputs, "", false);
        tensor_rows("Outputs", g.outputs, "", false);
        for (const auto& [k, val] : g.metadata) ImGui::TextWrapped("%s: %s", k.c_str(), val.c_str());
        ImGui::TextDisabled("Click a node for its attributes.");
        return;
    }
    const nn::GraphNode& n = g.nodes[size_t(v.selected)];
    ImGui::Text("%s", n.proto.op_type.c_str());
    ImGui::TextWrapped("name: %s", n.label().c_str());
    ImGui::Text("opset %lld%s%s", (long long)n.opset, n.proto.domain.empty() ? "" : ", domain ", n.proto.domain.c_str());
    if (!n.proto.attributes.empty()) ImGui::TextDisabled("Attributes");
    for (const auto& a : n.proto.attributes) ImGui::BulletText("%s = %s", a.name.c_str(), attribute_text(a).c_str());
    tensor_rows("Inputs", n.inputs, n.proto.op_type, true);
    tensor_rows("Outputs", n.outputs, n.proto.op_type, false);
}

// The point at parameter u of the cubic Bezier the edges are drawn with.
ImVec2 bezier(ImVec2 a, ImVec2 b, ImVec2 c, ImVec2 d, float u) {
    const float s = 1 - u;
    const float k0 = s * s * s, k1 = 3 * s * s * u, k2 = 3 * s * u * u, k3 = u * u * u;
    return ImVec2(k0 * a.x + k1 * b.x + k2 * c.x + k3 * d.x, k0 * a.y + k1 * b.y + k2 * c.y + k3 * d.y);
}

void canvas(GraphViewState& v, float fs, const GraphPalette& pal) {
    const nn::Graph& g = *v.graph;
    ImGuiIO& io = ImGui::GetIO();
    const float z = v.zoom;
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImGui::Dummy(ImVec2(v.width * z, v.height * z));
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 clip0 = ImGui::GetWindowPos(), clip1(clip0.x + ImGui::GetWindowSize().x, clip0.y + ImGui::GetWindowSize().y);
    ImFont* font = ImGui::GetFont();
    const float line = fs * 1.15f * z, pad = fs * 0.4f * z, fsz = fs * z;
    const ImU32 text = pal.text, dim = pal.dim, qcol = pal.quant, edge_col = ImGui::GetColorU32(ImGuiCol_TextDisabled), hot = pal.hot;
    auto rect_of = [&](const Item& it) {
        return std::make_pair(ImVec2(origin.x + it.x * z, origin.y + it.y * z), ImVec2(origin.x + (it.x + it.w) * z, origin.y + (it.y + it.h) * z));
    };
    const bool hovered_canvas = ImGui::IsWindowHovered();
    const ImVec2 m = io.MousePos;
    v.hovered.clear();
    int hovered_item = -1;
    for (size_t i = 0; i < v.items.size(); ++i) {
        const auto [a, b] = rect_of(v.items[i]);
        if (hovered_canvas && m.x >= a.x && m.x < b.x && m.y >= a.y && m.y < b.y) hovered_item = int(i);
    }
    // Edges first, under the boxes.
    v.edges_drawn = 0;
    const std::vector<Edge> edges = edges_of(g, v.items);
    std::vector<bool> labelled(g.tensors.size(), false);
    for (const Edge& e : edges) {
        const auto [sa, sb] = rect_of(v.items[size_t(e.from)]);
        const auto [da, db] = rect_of(v.items[size_t(e.to)]);
        // An edge that skips layers (a residual) leaves its box on the right and comes back to the
        // consumer's right side, bowing out past the boxes it would otherwise run under.
        const bool skip = v.items[size_t(e.to)].layer - v.items[size_t(e.from)].layer > 1;
        const ImVec2 p0 = skip ? ImVec2(sb.x, (sa.y + sb.y) / 2) : ImVec2((sa.x + sb.x) / 2, sb.y);
        const ImVec2 p3 = skip ? ImVec2(db.x, (da.y + db.y) / 2) : ImVec2((da.x + db.x) / 2, da.y);
        if (std::max(p0.y, p3.y) < clip0.y || std::min(p0.y, p3.y) > clip1.y || std::max(p0.x, p3.x) < clip0.x - 200 ||
            std::min(p0.x, p3.x) > clip1.x + 200)
            continue;
        const float dy = skip ? 0.0f : std::max(fsz, (p3.y - p0.y) * 0.5f), side = skip ? 4.0f * fsz : 0.0f;
        const ImVec2 p1(std::max(p0.x, p3.x) + side, p0.y + dy), p2(std::max(p0.x, p3.x) + side, p3.y - dy);
        bool near = false;
        if (hovered_canvas && hovered_item < 0)
            for (int s = 0; s <= 16 && !near; ++s) {
                const ImVec2 q = bezier(p0, p1, p2, p3, float(s) / 16.0f);
                near = std::hypot(q.x - m.x, q.y - m.y) < 5.0f;
            }
        const nn::TensorInfo& t = g.tensors[size_t(e.tensor)];
        if (near && v.hovered.empty())
            v.hovered = t.name + "\n" + tensor_text(t) + (t.quant.empty() ? "" : "\n" + quant_text(t.quant));
        dl->AddBezierCubic(p0, p1, p2, p3, near ? hot : edge_col, near ? 2.5f : 1.2f);
        if (skip) dl->AddTriangleFilled(ImVec2(p3.x + 7 * z, p3.y - 4 * z), ImVec2(p3.x + 7 * z, p3.y + 4 * z), p3, near ? hot : edge_col);
        else dl->AddTriangleFilled(ImVec2(p3.x - 4 * z, p3.y - 7 * z), ImVec2(p3.x + 4 * z, p3.y - 7 * z), p3, near ? hot : edge_col);
        // The shape once per tensor, under its producer (Netron prints it on the edge).
        if (!labelled[size_t(e.tensor)] && !skip && z >= 0.6f) {
            labelled[size_t(e.tensor)] = true;
            const std::string s = t.has_shape ? nn::shape_text(t.shape) : "[?]";
            dl->AddText(font, fsz * 0.8f, ImVec2(p0.x + 4 * z, p0.y + 2 * z), dim, s.c_str());
        }
        ++v.edges_drawn;
    }
    // Boxes.
    v.boxes.clear();
    for (size_t i = 0; i < v.items.size(); ++i) {
        const Item& it = v.items[i];
        const auto [a, b] = rect_of(it);
        const bool visible = b.x >= clip0.x && a.x <= clip1.x && b.y >= clip0.y && a.y <= clip1.y;
        if (it.kind == 1) {
            const nn::GraphNode& n = g.nodes[size_t(it.index)];
            GraphViewState::NodeBox box{n.label(), n.proto.op_type, {a.x, a.y, b.x - a.x, b.y - a.y}, visible, node_quant(g, n)};
            v.boxes.push_back(box);
        }
        if (!visible) continue;
        const ImVec4 fine(a.x, a.y, b.x, b.y);
        if (it.kind != 1) {  // graph inputs and outputs: rounded pills with the tensor's type
            const nn::TensorInfo& t = g.tensors[size_t(it.kind == 0 ? g.inputs[size_t(it.index)] : g.outputs[size_t(it.index)])];
            dl->AddRectFilled(a, b, pal.pill, fs * 0.8f * z);
            dl->AddRect(a, b, int(i) == hovered_item ? hot : pal.pill_border, fs * 0.8f * z);
            dl->AddText(font, fsz, ImVec2(a.x + pad, a.y + pad), text, t.name.c_str(), nullptr, 0, &fine);
            dl->AddText(font, fsz, ImVec2(a.x + pad, a.y + pad + line), dim, tensor_text(t).c_str(), nullptr, 0, &fine);
            if (int(i) == hovered_item) v.hovered = std::string(it.kind == 0 ? "graph input " : "graph output ") + t.name + "\n" + tensor_text(t);
            continue;
        }
        const nn::GraphNode& n = g.nodes[size_t(it.index)];
        const bool sel = it.index == v.selected;
        dl->AddRectFilled(a, b, pal.box, 3 * z);
        dl->AddRectFilled(a, ImVec2(b.x, a.y + line + pad), op_color(n.op), 3 * z, ImDrawFlags_RoundCornersTop);
        dl->AddRect(a, b, sel ? hot : int(i) == hovered_item ? pal.hover_border : pal.box_border, 3 * z, 0, sel ? 2.5f : 1.0f);
        dl->AddText(font, fsz, ImVec2(a.x + pad, a.y + pad * 0.5f), pal.header_text, n.proto.op_type.c_str(), nullptr, 0, &fine);
        const auto lines = box_lines(g, n);
        const std::string q = node_quant(g, n);
        for (size_t l = 0; l < lines.size(); ++l) {
            const ImU32 col = l == 0 ? dim : (!q.empty() && l + 1 == lines.size()) ? qcol : text;
            dl->AddText(font, fsz, ImVec2(a.x + pad, a.y + pad + line * float(l + 1)), col, lines[l].c_str(), nullptr, 0, &fine);
        }
        if (int(i) == hovered_item) {
            v.hovered = n.proto.op_type + " " + n.label();
            for (int t : n.outputs)
                if (t >= 0) v.hovered += "\n-> " + g.tensors[size_t(t)].name + ": " + tensor_text(g.tensors[size_t(t)]);
        }
    }
    if (!v.hovered.empty()) ImGui::SetTooltip("%s", v.hovered.c_str());
    // Click a node to select it (and empty space to clear); drag empty space to pan; Ctrl+wheel zooms
    // about the mouse.
    if (hovered_canvas && ImGui::IsMouseReleased(ImGuiMouseButton_Left) && ImGui::GetMouseDragDelta(ImGuiMouseButton_Left).x == 0 &&
        ImGui::GetMouseDragDelta(ImGuiMouseButton_Left).y == 0)
        v.selected = hovered_item >= 0 && v.items[size_t(hovered_item)].kind == 1 ? v.items[size_t(hovered_item)].index : -1;
    if (ImGui::IsWindowFocused() && !ImGui::IsAnyItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left)) {
        ImGui::SetScrollX(ImGui::GetScrollX() - io.MouseDelta.x);
        ImGui::SetScrollY(ImGui::GetScrollY() - io.MouseDelta.y);
    }
    if (hovered_canvas && io.KeyCtrl && io.MouseWheel != 0.0f) {
        const float old = v.zoom;
        v.zoom = std::clamp(v.zoom * std::pow(1.15f, io.MouseWheel), 0.2f, 3.0f);
        const float k = v.zoom / old;  // keep the point under the mouse where it is
        ImGui::SetScrollX((ImGui::GetScrollX() + m.x - clip0.x) * k - (m.x - clip0.x));
        ImGui::SetScrollY((ImGui::GetScrollY() + m.y - clip0.y) * k - (m.y - clip0.y));
    }
}

}  // namespace

void draw_graph_view(AppState& state) {
    GraphViewState& v = state.graph_view;
    const float fs = ImGui::GetFontSize();
    refresh(state, fs);
    auto toggle = [&](const char* label, bool quantized, Rect& where) {
        if (ImGui::RadioButton(label, v.quantized == quantized)) v.quantized = quantized;
        const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
        where = {a.x, a.y, b.x - a.x, b.y - a.y};
    };
    toggle("fp32 graph", false, v.fp32_rect);
    ImGui::SameLine();
    toggle(("quantized (" + state.models_choice.recipe + ")").c_str(), true, v.quant_rect);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 8.0f);
    ImGui::SliderFloat("zoom", &v.zoom, 0.2f, 3.0f, "%.2f");
    ImGui::SameLine();
    if (ImGui::Button("Fit") && v.width > 0) {
        const ImVec2 avail = ImGui::GetContentRegionAvail();
        v.zoom = std::clamp(std::min((avail.x - 24.0f * fs) / v.width, avail.y / v.height), 0.2f, 3.0f);
    }
    ImGui::SameLine();
    ImGui::TextDisabled("Ctrl+wheel zooms, drag pans, click a node for details");
    if (!v.note.empty()) ImGui::TextDisabled("%s", v.note.c_str());
    v.boxes.clear();
    v.edges_drawn = 0;
    v.canvas_rect = v.details_rect = Rect();
    if (!v.graph) {
        ImGui::TextWrapped("%s", v.error.c_str());
        return;
    }
    const float details_w = 24.0f * fs;
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const ImVec2 at = ImGui::GetCursorScreenPos();
    const GraphPalette pal = graph_palette(state.dark_theme);
    ImGui::PushStyleColor(ImGuiCol_ChildBg, pal.canvas);
    const ImGuiWindowFlags flags = ImGuiWindowFlags_HorizontalScrollbar | (ImGui::GetIO().KeyCtrl ? ImGuiWindowFlags_NoScrollWithMouse : 0);
    ImGui::BeginChild("graph_canvas", ImVec2(std::max(10.0f * fs, avail.x - details_w - fs * 0.5f), avail.y), true, flags);
    canvas(v, fs, pal);
    ImGui::EndChild();
    ImGui::PopStyleColor();
    v.canvas_rect = {at.x, at.y, std::max(10.0f * fs, avail.x - details_w - fs * 0.5f), avail.y};
    ImGui::SameLine();
    const ImVec2 dat = ImGui::GetCursorScreenPos();
    ImGui::BeginChild("graph_details", ImVec2(0, avail.y), true);
    details(v);
    ImGui::EndChild();
    v.details_rect = {dat.x, dat.y, ImGui::GetItemRectSize().x, avail.y};
}

nlohmann::json graph_view_report(const AppState& state) {
    const GraphViewState& v = state.graph_view;
    auto rect = [](const Rect& r) { return nlohmann::json{{"x", r.x}, {"y", r.y}, {"w", r.w}, {"h", r.h}}; };
    nlohmann::json j = {{"open", v.open}, {"quantized", v.quantized}, {"zoom", v.zoom}, {"error", v.error}, {"note", v.note},
                        {"canvas_rect", rect(v.canvas_rect)}, {"details_rect", rect(v.details_rect)},
                        {"fp32_rect", rect(v.fp32_rect)}, {"quant_rect", rect(v.quant_rect)}, {"hovered", v.hovered}};
    // The canvas colours of the theme shown (RGBA), for the tests' contrast check.
    const GraphPalette pal = graph_palette(state.dark_theme);
    auto rgba = [](ImU32 c) {
        return nlohmann::json::array({(c >> IM_COL32_R_SHIFT) & 255, (c >> IM_COL32_G_SHIFT) & 255, (c >> IM_COL32_B_SHIFT) & 255,
                                      (c >> IM_COL32_A_SHIFT) & 255});
    };
    j["palette"] = {{"theme", state.dark_theme ? "dark" : "light"}, {"canvas", rgba(pal.canvas)}, {"box", rgba(pal.box)},
                    {"pill", rgba(pal.pill)}, {"text", rgba(pal.text)}, {"dim", rgba(pal.dim)}, {"quant", rgba(pal.quant)},
                    {"header_text", rgba(pal.header_text)}};
    if (!v.graph) return j;
    const nn::Graph& g = *v.graph;
    std::map<std::string, int> ops;
    for (const auto& n : g.nodes) ++ops[n.proto.op_type];
    int visible = 0, quantized = 0;
    for (const auto& b : v.boxes) visible += b.visible, quantized += !b.quant.empty();
    // Every box up to kReportedBoxes (a model of thousands of nodes would make the report megabytes).
    constexpr size_t kReportedBoxes = 400;
    nlohmann::json boxes = nlohmann::json::array();
    for (size_t i = 0; i < v.boxes.size() && i < kReportedBoxes; ++i) {
        const auto& b = v.boxes[i];
        boxes.push_back({{"name", b.name}, {"op", b.op}, {"rect", rect(b.rect)}, {"visible", b.visible}, {"quant", b.quant}});
    }
    j.update({{"nodes", g.nodes.size()}, {"inputs", g.inputs.size()}, {"outputs", g.outputs.size()}, {"opset", g.opset},
              {"ops", ops}, {"layers", v.items.empty() ? 0 : 1 + std::max_element(v.items.begin(), v.items.end(), [](const auto& a, const auto& b) {
                                                           return a.layer < b.layer;
                                                       })->layer},
              {"boxes_drawn", v.boxes.size()}, {"boxes_visible", visible}, {"quantized_boxes", quantized},
              {"edges_drawn", v.edges_drawn}, {"size", {v.width * v.zoom, v.height * v.zoom}},
              {"selected", v.selected >= 0 && v.selected < int(g.nodes.size()) ? g.nodes[size_t(v.selected)].label() : ""},
              {"boxes", boxes}});
    return j;
}

}  // namespace stacklab::ui
