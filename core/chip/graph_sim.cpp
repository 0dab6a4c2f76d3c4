#include "chip/graph_sim.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "quant/gemm.hpp"
#include "quant/gemm_float.hpp"
#include "quant/half.hpp"

namespace stacklab::chip {

using nn::GraphNode;
using nn::OpType;
using nn::onnx::DataType;
using nn::onnx::Tensor;

const char* fidelity_name(Fidelity f) { return f == Fidelity::roofline ? "roofline" : "tile"; }

Fidelity parse_fidelity(const std::string& name) {
    if (name == "roofline") return Fidelity::roofline;
    if (name == "tile") return Fidelity::tile;
    throw std::invalid_argument("fidelity \"" + name + "\" is not one of roofline, tile");
}

const char* lowered_name(Lowered k) {
    switch (k) {
        case Lowered::matrix: return "matrix";
        case Lowered::vector: return "vector";
        case Lowered::movement: return "movement";
        case Lowered::free: return "free";
        case Lowered::fused: return "fused";
    }
    return "?";
}

bool chip_float_type(const Machine& m, DType& out) {
    for (DType t : {DType::fp16, DType::bf16})
        if (m.unit(t).supported()) {
            out = t;
            return true;
        }
    return false;
}

namespace {

bool is_matrix_op(OpType op) {
    switch (op) {
        case OpType::Conv: case OpType::ConvInteger: case OpType::QLinearConv: case OpType::MatMul:
        case OpType::MatMulInteger: case OpType::QLinearMatMul: case OpType::Gemm:
            return true;
        default:
            return false;
    }
}
bool is_float_matrix_op(OpType op) { return op == OpType::Conv || op == OpType::MatMul || op == OpType::Gemm; }

// Input positions of the activation and the weight of a matrix node.
std::pair<size_t, size_t> matrix_operands(OpType op) {
    return op == OpType::QLinearConv || op == OpType::QLinearMatMul ? std::pair<size_t, size_t>{0, 3}
                                                                    : std::pair<size_t, size_t>{0, 1};
}

int input_tensor(const GraphNode& n, size_t i) { return i < n.inputs.size() ? n.inputs[i] : -1; }

// The node that produces tensor t, or nullptr.
const GraphNode* producer(const nn::Graph& g, int t) {
    if (t < 0) return nullptr;
    const int p = g.tensors[size_t(t)].producer;
    return p >= 0 ? &g.nodes[size_t(p)] : nullptr;
}

bool from_dequantize(const nn::Graph& g, int t) {
    const GraphNode* p = producer(g, t);
    return p && p->op == OpType::DequantizeLinear;
}

bool is_8bit(DataType t) { return t == DataType::INT8 || t == DataType::UINT8; }

// Bytes per element of a tensor as the chip stores it (see the header).
double chip_bytes(DataType t) {
    switch (t) {
        case DataType::FLOAT: case DataType::DOUBLE: case DataType::FLOAT16: case DataType::BFLOAT16: return 2;
        case DataType::INT8: case DataType::UINT8: case DataType::BOOL: return 1;
        default: return double(nn::onnx::element_size(t));
    }
}

std::string node_name(const GraphNode& n) { return n.proto.op_type + " node '" + n.label() + "'"; }

}  // namespace

std::vector<NodeDType> node_dtypes(const nn::Graph& g, const Machine& m) {
    DType float_type = DType::fp16;
    const bool has_float = chip_float_type(m, float_type);
    std::vector<NodeDType> out(g.nodes.size());
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const GraphNode& n = g.nodes[k];
        NodeDType& d = out[k];
        switch (n.op) {
            case OpType::Reshape: case OpType::Flatten: case OpType::Constant:
                continue;  // no arithmetic, no type of their own
            default: break;
        }
        d.has = true;
        if (is_matrix_op(n.op)) {
            const auto [a, w] = matrix_operands(n.op);
            const bool integer = !is_float_matrix_op(n.op) ||
                                 (from_dequantize(g, input_tensor(n, a)) && from_dequantize(g, input_tensor(n, w)));
            if (integer) {
                if (!m.unit(DType::int8).supported())
                    throw std::invalid_argument(m.chip_id + ": the matrix unit has no int8 mode, which " + node_name(n) +
                                                " needs");
                d.dtype = DType::int8;
                d.integer_matrix = true;
                continue;
            }
            if (!has_float)
                throw std::invalid_argument(m.chip_id + ": the matrix unit has no fp16 or bf16 mode, and " + node_name(n) +
                                            " is a float matrix op: quantize the model (QDQ int8) to run it on this chip");
            d.dtype = float_type;
            continue;
        }
        const int x = input_tensor(n, 0);
        const bool int_in = x >= 0 && is_8bit(g.tensors[size_t(x)].dtype) && n.op != OpType::DequantizeLinear;
        d.dtype = int_in ? DType::int8 : float_type;
    }
    return out;
}

namespace {

int64_t numel(const std::vector<int64_t>& shape) {
    int64_t p = 1;
    for (int64_t d : shape) p *= d;
    return p;
}

const std::vector<int64_t>& shape_of(const nn::Graph& g, const GraphNode& n, int t) {
    if (t < 0) throw std::invalid_argument(node_name(n) + ": a required input is missing");
    const nn::TensorInfo& info = g.tensors[size_t(t)];
    if (!info.has_shape) throw std::invalid_argument(node_name(n) + ": the shape of '" + info.name + "' is unknown");
    for (int64_t d : info.shape)
        if (d < 0)
            throw std::invalid_argument(node_name(n) + ": '" + info.name + "' has shape " + nn::shape_text(info.shape) +
                                        "; give concrete input shapes (batch) first");
    return info.shape;
}

int64_t iattr(const GraphNode& n, const char* name, int64_t def) {
    const auto* a = n.proto.attr(name);
    return a && a->type == nn::onnx::Attribute::INT ? a->i : def;
}
std::vector<int64_t> iattrs(const GraphNode& n, const char* name) {
    const auto* a = n.proto.attr(name);
    return a && a->type == nn::onnx::Attribute::INTS ? a->ints : std::vector<int64_t>{};
}

int64_t clamp_dim(int64_t v) { return std::max<int64_t>(1, v); }

// The lowering of one matrix node before fusion.
TileOp matrix_op(const nn::Graph& g, const GraphNode& n, DType t) {
    const auto [ai, wi] = matrix_operands(n.op);
    const int out_t = n.outputs.empty() ? -1 : n.outputs[0];
    const std::vector<int64_t>& y = shape_of(g, n, out_t);
    const std::vector<int64_t>& a = shape_of(g, n, input_tensor(n, ai));
    const std::vector<int64_t>& w = shape_of(g, n, input_tensor(n, wi));
    TileOp op;
    const std::string name = n.label();
    bool bias = false;
    if (n.op == OpType::Conv || n.op == OpType::ConvInteger || n.op == OpType::QLinearConv) {
        if (a.size() < 3 || w.size() != a.size() || y.size() != a.size())
            throw std::invalid_argument(node_name(n) + ": expected N x C x spatial input, weight and output");
        const int64_t groups = clamp_dim(iattr(n, "group", 1));
        int64_t out_sp = 1, in_sp = 1, k_sp = 1;
        for (size_t d = 2; d < a.size(); ++d) out_sp *= y[d], in_sp *= a[d], k_sp *= w[d];
        const int64_t M = clamp_dim(y[0] * out_sp), N = clamp_dim(w[0] / groups), K = clamp_dim(w[1] * k_sp);
        bias = input_tensor(n, n.op == OpType::QLinearConv ? 8 : 2) >= 0 && n.op != OpType::ConvInteger;
        op = gemm_op(name, M, N, K, t, bias, Activation::none, groups);
        op.kind = OpKind::conv;
        op.a_offchip_fraction = std::min(1.0, double(numel(a)) / (double(groups) * double(M) * double(K)));
    } else if (n.op == OpType::Gemm) {
        if (a.size() != 2 || y.size() != 2) throw std::invalid_argument(node_name(n) + ": expected 2-D A and Y");
        const int64_t K = iattr(n, "transA", 0) ? a[0] : a[1];
        bias = input_tensor(n, 2) >= 0;
        op = gemm_op(name, clamp_dim(y[0]), clamp_dim(y[1]), clamp_dim(K), t, bias);
    } else {  // MatMul, MatMulInteger, QLinearMatMul (numpy matmul semantics)
        const int64_t K = a.back();
        const int64_t M = a.size() >= 2 ? a[a.size() - 2] : 1;
        const int64_t N = w.size() >= 2 ? w.back() : 1;
        if (w.size() <= 2) {
            op = gemm_op(name, clamp_dim(numel(a) / std::max<int64_t>(1, K)), clamp_dim(N), clamp_dim(K), t);
        } else {
            op = gemm_op(name, clamp_dim(M), clamp_dim(N), clamp_dim(K), t, false, Activation::none,
                         clamp_dim(numel(y) / std::max<int64_t>(1, M * N)));
        }
    }
    if (n.op == OpType::QLinearConv || n.op == OpType::QLinearMatMul) op.out_bytes = 1;
    else if (n.op == OpType::ConvInteger || n.op == OpType::MatMulInteger) op.out_bytes = 4;
    else op.out_bytes = 2;  // float, or QDQ int8 dequantized in the epilogue
    return op;
}

// Output channels of a matrix op (the length a fused bias has).
int64_t channels(const TileOp& op) { return op.N * op.batch; }

// rows x cols of a vector op over `shape`, cols the product of shape[axis..].
std::pair<int64_t, int64_t> rows_cols(const std::vector<int64_t>& shape, int64_t axis) {
    const int64_t r = int64_t(shape.size());
    if (r == 0) return {1, 1};
    if (axis < 0) axis += r;
    axis = std::min(std::max<int64_t>(axis, 0), r - 1);
    int64_t cols = 1;
    for (int64_t d = axis; d < r; ++d) cols *= shape[size_t(d)];
    cols = clamp_dim(cols);
    return {clamp_dim(numel(shape) / cols), cols};
}

int vector_passes_of(OpType op) {
    switch (op) {
        case OpType::Relu: case OpType::Add: case OpType::Mul: return 1;
        case OpType::BatchNormalization: return 2;
        case OpType::Sigmoid: case OpType::Tanh: case OpType::HardSwish: return 3;
        case OpType::Gelu: case OpType::Erf: return 4;
        default: return 1;
    }
}

}  // namespace

std::vector<NodeLowering> lower_graph(const nn::Graph& g, const Machine& m, bool fuse) {
    const std::vector<NodeDType> types = node_dtypes(g, m);
    // Consumers of every tensor, and which tensors are graph outputs.
    std::vector<std::vector<int>> consumers(g.tensors.size());
    for (size_t k = 0; k < g.nodes.size(); ++k)
        for (int t : g.nodes[k].inputs)
            if (t >= 0) consumers[size_t(t)].push_back(int(k));
    std::vector<char> is_output(g.tensors.size(), 0);
    for (int t : g.outputs) is_output[size_t(t)] = 1;
    // The only consumer of node k's first output, or -1.
    auto sole_consumer = [&](int k) {
        const GraphNode& n = g.nodes[size_t(k)];
        if (n.outputs.empty() || n.outputs[0] < 0) return -1;
        for (size_t o = 1; o < n.outputs.size(); ++o)
            if (n.outputs[o] >= 0 && !consumers[size_t(n.outputs[o])].empty()) return -1;
        const int t = n.outputs[0];
        if (is_output[size_t(t)] || consumers[size_t(t)].size() != 1) return -1;
        const int c = consumers[size_t(t)][0];
        // Used once by that node (Add(x, x) reads it twice: not a post-op).
        int uses = 0;
        for (int i : g.nodes[size_t(c)].inputs) uses += i == t;
        return uses == 1 ? c : -1;
    };

    std::vector<NodeLowering> out(g.nodes.size());
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        out[k].node = int(k);
        out[k].type = types[k];
    }
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        NodeLowering& L = out[k];
        const GraphNode& n = g.nodes[k];
        if (L.kind == Lowered::fused) continue;  // absorbed by an earlier node
        const DType t = L.type.dtype;
        if (is_matrix_op(n.op)) {
            L.kind = Lowered::matrix;
            L.tile_sim = true;
            L.op = matrix_op(g, n, t);
            // Fuse the post-op chain into the epilogue.
            for (int cur = int(k); fuse;) {
                const int c = sole_consumer(cur);
                if (c < 0) break;
                const GraphNode& p = g.nodes[size_t(c)];
                bool absorb = false, stop = false;
                if (p.op == OpType::Relu && L.op.act == Activation::none) {
                    L.op.act = Activation::relu;
                    absorb = true;
                } else if (p.op == OpType::BatchNormalization && L.op.act == Activation::none) {
                    L.op.bias = true;  // scale folded into the weights, shift is the bias
                    absorb = true;
                } else if (p.op == OpType::Add && L.op.act == Activation::none) {
                    const int other = p.inputs.size() == 2 ? (p.inputs[0] == g.nodes[size_t(cur)].outputs[0] ? p.inputs[1] : p.inputs[0]) : -1;
                    const Tensor* bias = other >= 0 ? g.constant(other) : nullptr;
                    if (bias && bias->numel() == channels(L.op)) {
                        L.op.bias = true;
                        absorb = true;
                    }
                } else if (p.op == OpType::QuantizeLinear && L.type.integer_matrix) {
                    L.op.out_bytes = 1;  // requantized to int8 in the epilogue
                    absorb = stop = true;
                }
                if (!absorb) break;
                L.fused.push_back(c);
                out[size_t(c)].kind = Lowered::fused;
                out[size_t(c)].fused_into = int(k);
                if (stop) break;
                cur = c;
            }
            continue;
        }
        switch (n.op) {
            case OpType::Reshape: case OpType::Flatten:
                L.kind = Lowered::free;
                L.note = "a contiguous row-major tensor keeps its bytes: only the shape changes";
                continue;
            case OpType::Constant:
                L.kind = Lowered::free;
                L.note = "a constant is stored with the weights";
                continue;
            default: break;
        }
        const std::vector<int64_t>& y = shape_of(g, n, n.outputs.empty() ? -1 : n.outputs[0]);
        const int x_t = input_tensor(n, 0);
        const std::vector<int64_t>& x = shape_of(g, n, x_t);
        const DataType x_type = g.tensors[size_t(x_t)].dtype, y_type = g.tensors[size_t(n.outputs[0])].dtype;
        const double eb = chip_bytes(x_type);
        if (n.op == OpType::DequantizeLinear) {
            bool all_int8_matrix = !consumers[size_t(n.outputs[0])].empty() && !is_output[size_t(n.outputs[0])];
            for (int c : consumers[size_t(n.outputs[0])]) all_int8_matrix = all_int8_matrix && types[size_t(c)].integer_matrix;
            if (g.constant(x_t) || all_int8_matrix) {
                L.kind = Lowered::free;
                L.note = g.constant(x_t) ? "weights are stored int8: the matrix unit reads them directly"
                                         : "the int8 matrix unit reads the int8 tensor; its scale goes into the requantization";
                continue;
            }
        }
        switch (n.op) {
            case OpType::Add: case OpType::Mul: case OpType::Relu: case OpType::Sigmoid: case OpType::Tanh:
            case OpType::Erf: case OpType::Gelu: case OpType::HardSwish: case OpType::BatchNormalization: {
                L.kind = Lowered::vector;
                L.tile_sim = true;
                const auto [r, c] = rows_cols(y, -1);
                int inputs = 0;
                for (int i : n.inputs)
                    if (i >= 0 && g.tensors[size_t(i)].has_shape && numel(g.tensors[size_t(i)].shape) == numel(y) &&
                        (n.op == OpType::Add || n.op == OpType::Mul || i == x_t))
                        ++inputs;
                L.op = elementwise_op(n.label(), r, c, t, std::max(1, inputs), vector_passes_of(n.op));
                continue;
            }
            case OpType::LayerNormalization: {
                L.kind = Lowered::vector;
                L.tile_sim = true;
                const auto [r, c] = rows_cols(y, iattr(n, "axis", -1));
                Activation act = Activation::none;
                const int cons = sole_consumer(int(k));
                if (fuse && cons >= 0 && g.nodes[size_t(cons)].op == OpType::Gelu) {
                    act = Activation::gelu;
                    L.fused.push_back(cons);
                    out[size_t(cons)].kind = Lowered::fused;
                    out[size_t(cons)].fused_into = int(k);
                }
                L.op = layernorm_op(n.label(), r, c, t, act);
                continue;
            }
            case OpType::Softmax: {
                L.kind = Lowered::vector;
                L.tile_sim = true;
                const auto [r, c] = rows_cols(y, iattr(n, "axis", -1));
                L.op = softmax_op(n.label(), r, c, t);
                continue;
            }
            default: break;
        }
        // Closed-form vector model.
        L.vec_bytes_per_elem = eb;
        L.in_bytes = double(numel(x)) * eb;
        L.out_bytes = double(numel(y)) * chip_bytes(y_type);
        switch (n.op) {
            case OpType::MaxPool: case OpType::AveragePool: {
                L.kind = Lowered::vector;
                int64_t window = 1;
                for (int64_t kd : iattrs(n, "kernel_shape")) window *= std::max<int64_t>(1, kd);
                L.vec_elems = double(numel(y)) * double(window);
                L.vec_passes = 1;
                L.note = "vector model: one pass per window element of each output";
                break;
            }
            case OpType::GlobalAveragePool:
                L.kind = Lowered::vector;
                L.vec_elems = double(numel(x));
                L.vec_passes = 1;
                L.note = "vector model: one pass over the input";
                break;
            case OpType::QuantizeLinear: case OpType::DequantizeLinear:
                L.kind = Lowered::vector;
                L.vec_elems = double(numel(x));
                L.vec_passes = 2;
                L.note = "vector model: scale and round/clamp (or scale and shift), 2 passes";
                break;
            case OpType::Transpose: case OpType::Concat: {
                L.kind = Lowered::movement;
                double in = 0;
                for (int i : n.inputs)
                    if (i >= 0 && !g.constant(i)) in += double(numel(shape_of(g, n, i))) * chip_bytes(g.tensors[size_t(i)].dtype);
                L.in_bytes = in;
                L.vec_elems = double(numel(y));
                L.vec_bytes_per_elem = chip_bytes(y_type);
                L.vec_passes = 1;
                L.note = "data movement: every byte read and written once";
                break;
            }
            default:
                throw std::invalid_argument(node_name(n) + ": the chip lowering has no rule for this op");
        }
    }
    return out;
}

nn::Graph with_batch(const nn::Graph& g, int64_t batch) {
    if (batch < 1) throw std::invalid_argument("batch must be >= 1, got " + std::to_string(batch));
    nn::Graph c = g;
    std::vector<std::vector<int64_t>> shapes;
    for (int t : c.inputs) {
        const nn::TensorInfo& info = c.tensors[size_t(t)];
        if (!info.has_shape || info.shape.empty())
            throw std::invalid_argument("input '" + info.name + "' has no declared shape with a batch dimension");
        std::vector<int64_t> s = info.shape;
        s[0] = batch;
        for (size_t d = 1; d < s.size(); ++d)
            if (s[d] < 0)
                throw std::invalid_argument("input '" + info.name + "' has shape " + nn::shape_text(info.shape) +
                                            ": only the first (batch) dimension may be symbolic");
        shapes.push_back(s);
    }
    // A declared fixed batch (e.g. 1) is replaced: infer_shapes checks against the declaration.
    for (size_t i = 0; i < c.inputs.size(); ++i) c.tensors[size_t(c.inputs[i])].shape[0] = nn::kUnknownDim;
    nn::infer_shapes(c, shapes);
    return c;
}

namespace {

OpRow roofline_row(const Machine& m, const NodeLowering& L) {
    OpRow r;
    r.fidelity_used = "roofline";
    if (L.tile_sim) {
        const OpFloor f = op_roofline(m, L.op);
        r.ops = f.ops;
        r.time_s = f.time_s;
        r.bound = f.bound;
        r.bytes.offchip = f.offchip_bytes;
        if (L.kind == Lowered::matrix) {
            r.energy_j = (f.ops / 2 * m.mac_pj[int(L.op.dtype)] + f.offchip_bytes * m.offchip_byte_pj) * 1e-12;
        } else {
            const double processed = double(L.op.rows) * L.op.cols * L.op.out_bytes *
                                     (L.op.passes + activation_passes(L.op.act));
            r.energy_j = (processed * m.vector_byte_pj + f.offchip_bytes * m.offchip_byte_pj) * 1e-12;
        }
        r.utilization = f.time_s > 0 ? f.compute_s / f.time_s : 0.0;
    } else {
        const double processed = L.vec_elems * L.vec_bytes_per_elem * L.vec_passes;
        const double compute_s = processed / (m.vector_bytes_per_cycle * m.vector_cores * m.clock_hz);
        r.bytes.offchip = L.in_bytes + L.out_bytes;
        const double memory_s = r.bytes.offchip / m.offchip_bytes_per_s;
        r.ops = L.vec_elems * L.vec_passes;
        r.time_s = std::max(compute_s, memory_s);
        r.bound = compute_s >= memory_s ? Bound::compute : Bound::memory;
        r.energy_j = (processed * m.vector_byte_pj + r.bytes.offchip * m.offchip_byte_pj) * 1e-12;
        r.utilization = r.time_s > 0 ? compute_s / r.time_s : 0.0;
    }
    r.roofline_s = r.time_s;
    r.cycles = r.time_s * m.clock_hz;
    return r;
}

// The graph without the bytes of its float weight tensors of rank >= 2 (dims and names stay).
// Lowering and timing read shapes only, and copying the weights was most of simulate_model's time
// (ResNet-50: 392 of 422 ms of CPU for 102 MB, benchmarks/README.md). Float tensors of rank 0-1
// keep their bytes: shape inference reads some (quantization scales, Resize scales), as it reads
// integer ones (Reshape targets).
nn::Graph shapes_only(const nn::Graph& g) {
    nn::Graph c;
    c.name = g.name;
    c.opset = g.opset;
    c.tensors = g.tensors;
    c.nodes = g.nodes;
    c.inputs = g.inputs;
    c.outputs = g.outputs;
    c.metadata = g.metadata;
    c.initializers.reserve(g.initializers.size());
    for (const Tensor& t : g.initializers) {
        const bool weight = (t.dtype == DataType::FLOAT || t.dtype == DataType::FLOAT16 ||
                             t.dtype == DataType::BFLOAT16 || t.dtype == DataType::DOUBLE) &&
                            t.dims.size() >= 2;
        if (!weight) {
            c.initializers.push_back(t);
            continue;
        }
        Tensor e;
        e.name = t.name;
        e.dtype = t.dtype;
        e.dims = t.dims;
        c.initializers.push_back(std::move(e));
    }
    return c;
}

}  // namespace

ModelSim simulate_model(const Machine& m, const nn::Graph& graph, const std::string& model, int64_t batch,
                        Fidelity fidelity, bool fuse, size_t max_timeline_events) {
    const nn::Graph g = with_batch(shapes_only(graph), batch);
    const std::vector<NodeLowering> low = lower_graph(g, m, fuse);
    ModelSim s;
    s.chip = m.chip_id;
    s.model = model;
    s.fidelity = fidelity;
    s.batch = batch;
    // Tile fidelity: every tile_sim op in one simulate_graph call (identical ops are simulated once).
    std::vector<TileOp> ops;
    std::vector<int> op_of(low.size(), -1);
    if (fidelity == Fidelity::tile)
        for (size_t k = 0; k < low.size(); ++k)
            if (low[k].tile_sim && low[k].kind != Lowered::fused) {
                op_of[k] = int(ops.size());
                ops.push_back(low[k].op);
            }
    SimOptions opt;
    opt.max_timeline_events = fidelity == Fidelity::tile ? max_timeline_events : 0;
    const GraphResult tiles = simulate_graph(m, ops, opt);
    for (size_t k = 0; k < low.size(); ++k) {
        const NodeLowering& L = low[k];
        const GraphNode& n = g.nodes[k];
        OpRow r;
        if (L.kind == Lowered::free || L.kind == Lowered::fused) {
            r.fidelity_used = "none";
        } else if (op_of[k] >= 0) {
            const TileResult& t = tiles.ops[size_t(op_of[k])];
            r.fidelity_used = "tile";
            r.ops = t.ops;
            r.time_s = t.time_s;
            r.cycles = t.cycles;
            r.roofline_s = t.roofline_s;
            r.bound = t.bound;
            r.bytes = t.bytes;
            r.energy_j = t.energy_j;
            r.utilization = L.kind == Lowered::matrix ? t.util_matrix : t.util_vector;
            r.tile = t.tile;
            // A repeat keeps no events of its own (tile_sim.hpp): its earlier twin's, shifted.
            const TileResult& src = t.same_as >= 0 ? tiles.ops[size_t(t.same_as)] : t;
            for (TimelineEvent e : src.timeline) {
                e.start_s += s.time_s;
                e.end_s += s.time_s;
                s.timeline.push_back(e);
                s.timeline_row.push_back(int(k));
            }
            s.timeline_dropped += src.timeline_dropped;
        } else {
            r = roofline_row(m, L);
        }
        r.name = n.label();
        r.op = n.proto.op_type;
        r.kind = L.kind;
        r.note = L.note;
        if (L.type.has && L.kind != Lowered::free) r.dtype = dtype_name(L.type.dtype);
        if (L.fused_into >= 0) r.fused_into = g.nodes[size_t(L.fused_into)].label();
        for (int f : L.fused) r.fused_with.push_back(g.nodes[size_t(f)].label());
        r.start_s = s.time_s;
        s.cycles += r.cycles;
        s.time_s += r.time_s;
        s.roofline_s += r.roofline_s;
        s.energy_j += r.energy_j;
        s.bytes.offchip += r.bytes.offchip;
        s.bytes.l2 += r.bytes.l2;
        s.bytes.l1 += r.bytes.l1;
        s.bytes.l0 += r.bytes.l0;
        s.bytes.ub += r.bytes.ub;
        s.rows.push_back(std::move(r));
    }
    return s;
}

// ---- functional execution ----

namespace {

std::vector<uint16_t> to_16(quant::Half16 type, const float* x, size_t n) {
    std::vector<uint16_t> v(n);
    if (type == quant::Half16::fp16) quant::float_to_half(x, n, v.data());
    else quant::float_to_bf16(x, n, v.data());
    return v;
}

Tensor float_tensor(std::vector<int64_t> dims) {
    Tensor t;
    t.dtype = DataType::FLOAT;
    t.dims = std::move(dims);
    t.data.resize(size_t(t.numel()) * 4);
    return t;
}

// A 2-D Conv's strides, dilations and pads (defaults 1, 1, 0; auto_pad NOTSET or VALID only).
// False for anything else, which the node's own kernel then runs.
bool conv2d_geometry(const GraphNode& n, std::vector<int64_t>& s, std::vector<int64_t>& d, std::vector<int64_t>& p) {
    const auto* ap = n.proto.attr("auto_pad");
    if (ap && ap->type == nn::onnx::Attribute::STRING && ap->s != "NOTSET" && ap->s != "VALID") return false;
    const bool valid = ap && ap->type == nn::onnx::Attribute::STRING && ap->s == "VALID";
    s = iattrs(n, "strides");
    d = iattrs(n, "dilations");
    p = iattrs(n, "pads");
    if (s.empty()) s = {1, 1};
    if (d.empty()) d = {1, 1};
    if (p.empty() || valid) p = {0, 0, 0, 0};
    return s.size() == 2 && d.size() == 2 && p.size() == 4;
}

bool fits_int(int64_t v) { return v >= 0 && v <= (int64_t{1} << 30); }

// Gemm in 16-bit: Y = alpha * A' B' + beta * C (C broadcast), false when not handled.
bool half_gemm(quant::Half16 type, const GraphNode& n, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    if (in.size() < 2 || !in[0] || !in[1]) return false;
    const Tensor &A = *in[0], &B = *in[1];
    if (A.dtype != DataType::FLOAT || B.dtype != DataType::FLOAT || A.dims.size() != 2 || B.dims.size() != 2) return false;
    const bool ta = iattr(n, "transA", 0) != 0, tb = iattr(n, "transB", 0) != 0;
    const int64_t M = ta ? A.dims[1] : A.dims[0], K = ta ? A.dims[0] : A.dims[1];
    const int64_t N = tb ? B.dims[0] : B.dims[1], Kb = tb ? B.dims[1] : B.dims[0];
    if (K != Kb || !fits_int(M) || !fits_int(N) || !fits_int(K) || M == 0 || N == 0 || K == 0) return false;
    const auto* fa = n.proto.attr("alpha");
    const auto* fb = n.proto.attr("beta");
    const float alpha = fa && fa->type == nn::onnx::Attribute::FLOAT ? fa->f : 1.0f;
    const float beta = fb && fb->type == nn::onnx::Attribute::FLOAT ? fb->f : 1.0f;
    const Tensor* C = in.size() > 2 ? in[2] : nullptr;
    // C broadcast to [M, N]: scalar, [N], [1, N], [M, 1] or [M, N].
    int64_t cm = 0, cn = 0;  // strides
    if (C) {
        if (C->dtype != DataType::FLOAT) return false;
        const auto& d = C->dims;
        const int64_t r0 = d.size() == 2 ? d[0] : 1, r1 = d.empty() ? 1 : d.back();
        if (d.size() > 2 || (r0 != 1 && r0 != M) || (r1 != 1 && r1 != N)) return false;
        cm = r0 == 1 ? 0 : r1;
        cn = r1 == 1 ? 0 : 1;
    }
    // Operands as row-major M x K and K x N 16-bit matrices.
    std::vector<float> a(size_t(M * K)), b(size_t(K * N));
    const float* pa = A.as<float>();
    const float* pb = B.as<float>();
    for (int64_t i = 0; i < M; ++i)
        for (int64_t k = 0; k < K; ++k) a[size_t(i * K + k)] = ta ? pa[k * M + i] : pa[i * K + k];
    for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < N; ++j) b[size_t(k * N + j)] = tb ? pb[j * K + k] : pb[k * N + j];
    const std::vector<uint16_t> a16 = to_16(type, a.data(), a.size()), b16 = to_16(type, b.data(), b.size());
    Tensor y = float_tensor({M, N});
    float* py = reinterpret_cast<float*>(y.data.data());
    quant::gemm_f16(type, a16.data(), int(M), int(K), int(K), b16.data(), int(N), int(N), py, int(N));
    if (alpha != 1.0f || C)
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
                float v = py[i * N + j];
                if (alpha != 1.0f) v = alpha * v;
                if (C) v = v + beta * C->as<float>()[i * cm + j * cn];
                py[i * N + j] = v;
            }
    out.push_back(std::move(y));
    return true;
}

// MatMul in 16-bit: A [..., M, K] x B [K, N] (B 2-D), or equal batch dimensions; 1-D operands are
// promoted as numpy does. False when not handled (broadcast batch dimensions).
bool half_matmul(quant::Half16 type, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    if (in.size() < 2 || !in[0] || !in[1]) return false;
    const Tensor &A = *in[0], &B = *in[1];
    if (A.dtype != DataType::FLOAT || B.dtype != DataType::FLOAT || A.dims.empty() || B.dims.empty()) return false;
    std::vector<int64_t> ad = A.dims, bd = B.dims;
    const bool a1 = ad.size() == 1, b1 = bd.size() == 1;
    if (a1) ad.insert(ad.begin(), 1);
    if (b1) bd.push_back(1);
    const int64_t K = ad.back(), M = ad[ad.size() - 2], N = bd.back();
    if (bd[bd.size() - 2] != K) return false;
    int64_t batches = 1, a_stride = M * K, b_stride = 0;
    std::vector<int64_t> ydims;
    if (bd.size() == 2) {
        // Every leading row of A against one B.
        ydims.assign(ad.begin(), ad.end() - 1);
        ydims.push_back(N);
        const int64_t rows = M * [&] { int64_t p = 1; for (size_t d = 0; d + 2 < ad.size(); ++d) p *= ad[d]; return p; }();
        if (!fits_int(rows) || !fits_int(N) || !fits_int(K) || rows == 0 || N == 0 || K == 0) return false;
        const std::vector<uint16_t> a16 = to_16(type, A.as<float>(), size_t(rows * K));
        const std::vector<uint16_t> b16 = to_16(type, B.as<float>(), size_t(K * N));
        Tensor y = float_tensor(ydims);
        quant::gemm_f16(type, a16.data(), int(rows), int(K), int(K), b16.data(), int(N), int(N),
                        reinterpret_cast<float*>(y.data.data()), int(N));
        if (a1) y.dims.erase(y.dims.end() - 2);
        if (b1) y.dims.pop_back();
        out.push_back(std::move(y));
        return true;
    }
    if (ad.size() != bd.size() || !std::equal(ad.begin(), ad.end() - 2, bd.begin())) return false;
    for (size_t d = 0; d + 2 < ad.size(); ++d) batches *= ad[d];
    b_stride = K * N;
    if (!fits_int(M) || !fits_int(N) || !fits_int(K) || M == 0 || N == 0 || K == 0) return false;
    ydims.assign(ad.begin(), ad.end() - 1);
    ydims.push_back(N);
    Tensor y = float_tensor(ydims);
    const std::vector<uint16_t> a16 = to_16(type, A.as<float>(), size_t(A.numel()));
    const std::vector<uint16_t> b16 = to_16(type, B.as<float>(), size_t(B.numel()));
    float* py = reinterpret_cast<float*>(y.data.data());
    for (int64_t bi = 0; bi < batches; ++bi)
        quant::gemm_f16(type, a16.data() + bi * a_stride, int(M), int(K), int(K), b16.data() + bi * b_stride, int(N),
                        int(N), py + bi * M * N, int(N));
    if (a1) y.dims.erase(y.dims.end() - 2);
    if (b1) y.dims.pop_back();
    out.push_back(std::move(y));
    return true;
}

// 2-D Conv in 16-bit (explicit pads, any stride, dilation, group); false when not handled.
bool half_conv(quant::Half16 type, const GraphNode& n, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    if (in.size() < 2 || !in[0] || !in[1]) return false;
    const Tensor &X = *in[0], &W = *in[1];
    const Tensor* Bias = in.size() > 2 ? in[2] : nullptr;
    if (X.dtype != DataType::FLOAT || W.dtype != DataType::FLOAT || X.dims.size() != 4 || W.dims.size() != 4) return false;
    std::vector<int64_t> s, d, p;
    if (!conv2d_geometry(n, s, d, p)) return false;
    const int64_t G = iattr(n, "group", 1);
    const int64_t Nb = X.dims[0], C = X.dims[1], H = X.dims[2], Wd = X.dims[3];
    const int64_t Co = W.dims[0], Cg = W.dims[1], KH = W.dims[2], KW = W.dims[3];
    if (G < 1 || C != Cg * G || Co % G != 0) return false;
    if (Bias && (Bias->dtype != DataType::FLOAT || Bias->numel() != Co)) return false;
    const int64_t OH = (H + p[0] + p[2] - ((KH - 1) * d[0] + 1)) / s[0] + 1;
    const int64_t OW = (Wd + p[1] + p[3] - ((KW - 1) * d[1] + 1)) / s[1] + 1;
    if (OH < 1 || OW < 1) return false;
    const int64_t Kd = Cg * KH * KW, P = OH * OW, Cog = Co / G;
    if (!fits_int(Kd) || !fits_int(P) || !fits_int(Cog) || Kd == 0 || Cog == 0) return false;
    // Weights per group as Cout_g x K, rounded once.
    const std::vector<uint16_t> w16 = to_16(type, W.as<float>(), size_t(W.numel()));
    Tensor y = float_tensor({Nb, Co, OH, OW});
    float* py = reinterpret_cast<float*>(y.data.data());
    std::vector<float> col(size_t(Kd * P));
    const float* px = X.as<float>();
    for (int64_t b = 0; b < Nb; ++b)
        for (int64_t grp = 0; grp < G; ++grp) {
            for (int64_t c = 0; c < Cg; ++c)
                for (int64_t kh = 0; kh < KH; ++kh)
                    for (int64_t kw = 0; kw < KW; ++kw) {
                        float* row = col.data() + ((c * KH + kh) * KW + kw) * P;
                        const float* plane = px + ((b * C) + grp * Cg + c) * H * Wd;
                        for (int64_t oh = 0; oh < OH; ++oh) {
                            const int64_t ih = oh * s[0] - p[0] + kh * d[0];
                            for (int64_t ow = 0; ow < OW; ++ow) {
                                const int64_t iw = ow * s[1] - p[1] + kw * d[1];
                                row[oh * OW + ow] = ih >= 0 && ih < H && iw >= 0 && iw < Wd ? plane[ih * Wd + iw] : 0.0f;
                            }
                        }
                    }
            const std::vector<uint16_t> c16 = to_16(type, col.data(), col.size());
            float* yg = py + (b * Co + grp * Cog) * P;
            quant::gemm_f16(type, w16.data() + grp * Cog * Kd, int(Cog), int(Kd), int(Kd), c16.data(), int(P), int(P), yg,
                            int(P));
            if (Bias)
                for (int64_t o = 0; o < Cog; ++o) {
                    const float bv = Bias->as<float>()[grp * Cog + o];
                    for (int64_t i = 0; i < P; ++i) yg[o * P + i] += bv;
                }
        }
    out.push_back(std::move(y));
    return true;
}

}  // namespace

// ---- QDQ int8 nodes: int8 x int8 -> int32 on the integer kernels, then scaled in fp32 ----

namespace {

// The quantization a DequantizeLinear node applies: per tensor or per index of `axis`.
struct Dq {
    std::vector<float> scale;
    std::vector<int32_t> zp;   // same length as scale, or {0}
    int64_t axis = 1;
    DataType qtype = DataType::INT8;
    const Tensor* constant_q = nullptr;  // the quantized tensor when it is an initializer
    float scale_at(int64_t i) const { return scale.size() == 1 ? scale[0] : scale[size_t(i)]; }
    int32_t zp_at(int64_t i) const { return zp.size() == 1 ? zp[0] : zp[size_t(i)]; }
};

bool dq_of(const nn::Graph& g, int t, Dq& d) {
    const GraphNode* p = producer(g, t);
    if (!p || p->op != OpType::DequantizeLinear || p->inputs.size() < 2) return false;
    const Tensor* s = g.constant(p->inputs[1]);
    if (!s || s->dtype != DataType::FLOAT || s->dims.size() > 1 || s->numel() < 1) return false;
    d.scale = s->to_vector<float>();
    d.zp = {0};
    if (p->inputs.size() > 2 && p->inputs[2] >= 0) {
        const Tensor* z = g.constant(p->inputs[2]);
        if (!z || z->numel() != s->numel()) return false;
        d.zp.clear();
        if (z->dtype == DataType::INT8) for (int8_t v : z->to_vector<int8_t>()) d.zp.push_back(v);
        else if (z->dtype == DataType::UINT8) for (uint8_t v : z->to_vector<uint8_t>()) d.zp.push_back(v);
        else return false;
    }
    d.axis = iattr(*p, "axis", 1);
    d.qtype = g.tensors[size_t(p->inputs[0])].dtype;
    d.constant_q = g.constant(p->inputs[0]);
    return d.qtype == DataType::INT8 || d.qtype == DataType::UINT8;
}

// A dequantized activation back to its integers: x = (q - zp) * s was rounded once from an exact
// product of |q - zp| <= 255 and s, so x / s lies within 255 * 2^-23 of q - zp and rounds to it
// exactly: the recovery is lossless for every tensor a per-tensor DequantizeLinear wrote.
std::vector<int32_t> requantize(const Tensor& x, const Dq& d) {
    std::vector<int32_t> q(size_t(x.numel()));
    const float* p = x.as<float>();
    for (size_t i = 0; i < q.size(); ++i) q[i] = int32_t(std::nearbyint(p[i] / d.scale[0])) + d.zp[0];
    return q;
}

// The int8 weights of a QDQ node as K x N (column n = output channel n) with per-column scale and
// zero point, from W (rows x cols) whose output channels run along `out_axis`; false when the
// scales are not per tensor or per output channel.
bool weight_matrix(const Dq& w, int64_t rows, int64_t cols, int64_t out_axis, bool transpose, std::vector<int8_t>& B,
                   std::vector<float>& scales, std::vector<int32_t>& zps) {
    if (!w.constant_q || w.qtype != DataType::INT8) return false;
    const int64_t N = transpose ? rows : cols, K = transpose ? cols : rows;
    if (w.scale.size() != 1 && !(int64_t(w.scale.size()) == N && w.axis == out_axis)) return false;
    const int8_t* q = w.constant_q->as<int8_t>();
    B.resize(size_t(K * N));
    for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n) B[size_t(k * N + n)] = transpose ? q[n * cols + k] : q[k * cols + n];
    scales.resize(size_t(N));
    zps.resize(size_t(N));
    for (int64_t n = 0; n < N; ++n) scales[size_t(n)] = w.scale_at(w.scale.size() == 1 ? 0 : n), zps[size_t(n)] = w.zp_at(w.zp.size() == 1 ? 0 : n);
    return true;
}

// acc (M x N) = (A - a_zp) (B - b_zp[n]) on the packed integer kernels; A holds the activation
// integers (int8 or uint8 as `a_type`).
std::vector<int32_t> int_gemm(const std::vector<int32_t>& A, DataType a_type, int32_t a_zp, int64_t M, int64_t K,
                              const std::vector<int8_t>& B, int64_t N, const std::vector<int32_t>& b_zp) {
    const quant::PackedB pb = quant::pack_b(B.data(), int(K), int(N), int(N), b_zp);
    std::vector<int32_t> C(size_t(M * N));
    if (a_type == DataType::UINT8) {
        std::vector<uint8_t> a(A.begin(), A.end());
        quant::gemm_u8s8_s32(a.data(), int(M), int(K), a_zp, pb, C.data(), int(N));
    } else {
        std::vector<int8_t> a(A.begin(), A.end());
        quant::gemm_s8s8_s32(a.data(), int(M), int(K), a_zp, pb, C.data(), int(N));
    }
    return C;
}

bool fits_gemm(int64_t M, int64_t K, int64_t N) {
    return M >= 1 && N >= 1 && K >= 1 && K <= quant::kMaxGemmK && M <= (int64_t{1} << 30) && N <= (int64_t{1} << 30);
}

// Y = float(acc) * (s_x * s_w[n]) + bias[n], all in float.
bool int8_gemm_node(const nn::Graph& g, const GraphNode& n, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    Dq x, w;
    if (in.size() < 2 || !in[0] || !in[1] || !dq_of(g, n.inputs[0], x) || !dq_of(g, n.inputs[1], w)) return false;
    if (x.scale.size() != 1 || in[0]->dtype != DataType::FLOAT || in[1]->dims.size() != 2) return false;
    const Tensor& A = *in[0];
    std::vector<int8_t> B;
    std::vector<float> ws;
    std::vector<int32_t> wz;
    int64_t M = 0, K = 0, N = 0;
    std::vector<int64_t> ydims;
    const Tensor* bias = nullptr;
    if (n.op == OpType::Gemm) {
        const auto* fa = n.proto.attr("alpha");
        const auto* fb = n.proto.attr("beta");
        if ((fa && fa->f != 1.0f) || (fb && fb->f != 1.0f) || iattr(n, "transA", 0) || A.dims.size() != 2) return false;
        const bool tb = iattr(n, "transB", 0) != 0;
        M = A.dims[0], K = A.dims[1];
        if (!weight_matrix(w, in[1]->dims[0], in[1]->dims[1], tb ? 0 : 1, tb, B, ws, wz)) return false;
        N = int64_t(ws.size());
        if (int64_t(B.size()) != K * N) return false;
        bias = in.size() > 2 ? in[2] : nullptr;
        if (bias && (bias->dtype != DataType::FLOAT || bias->numel() != N)) return false;
        ydims = {M, N};
    } else {  // MatMul with a 2-D constant B
        if (A.dims.empty()) return false;
        K = A.dims.back();
        M = A.numel() / std::max<int64_t>(1, K);
        if (!weight_matrix(w, in[1]->dims[0], in[1]->dims[1], 1, false, B, ws, wz)) return false;
        N = int64_t(ws.size());
        if (in[1]->dims[0] != K) return false;
        ydims = A.dims;
        ydims.back() = N;
    }
    if (!fits_gemm(M, K, N)) return false;
    const std::vector<int32_t> acc = int_gemm(requantize(A, x), x.qtype, x.zp[0], M, K, B, N, wz);
    Tensor y = float_tensor(ydims);
    float* py = reinterpret_cast<float*>(y.data.data());
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            float v = float(acc[size_t(i * N + j)]) * (x.scale[0] * ws[size_t(j)]);
            if (bias) v = v + bias->as<float>()[j];
            py[i * N + j] = v;
        }
    out.push_back(std::move(y));
    return true;
}

// 2-D, one group: acc[c, p] = (W_c - zw_c) . (col_p - zx), the weights as the A operand (symmetric:
// one zero point), the im2col of the int8 activations as B (padding = the zero point, real 0).
bool int8_conv_node(const nn::Graph& g, const GraphNode& n, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    Dq x, w;
    if (in.size() < 2 || !in[0] || !in[1] || !dq_of(g, n.inputs[0], x) || !dq_of(g, n.inputs[1], w)) return false;
    const Tensor &X = *in[0], &W = *in[1];
    const Tensor* Bias = in.size() > 2 ? in[2] : nullptr;
    if (x.scale.size() != 1 || x.qtype != DataType::INT8 || !w.constant_q || w.qtype != DataType::INT8) return false;
    if (X.dims.size() != 4 || W.dims.size() != 4 || iattr(n, "group", 1) != 1) return false;
    for (int32_t z : w.zp) if (z != w.zp[0]) return false;
    const int64_t Co = W.dims[0];
    if (w.scale.size() != 1 && !(int64_t(w.scale.size()) == Co && w.axis == 0)) return false;
    std::vector<int64_t> s, d, p;
    if (!conv2d_geometry(n, s, d, p)) return false;
    const int64_t Nb = X.dims[0], C = X.dims[1], H = X.dims[2], Wd = X.dims[3], KH = W.dims[2], KW = W.dims[3];
    if (W.dims[1] != C || (Bias && (Bias->dtype != DataType::FLOAT || Bias->numel() != Co))) return false;
    const int64_t OH = (H + p[0] + p[2] - ((KH - 1) * d[0] + 1)) / s[0] + 1;
    const int64_t OW = (Wd + p[1] + p[3] - ((KW - 1) * d[1] + 1)) / s[1] + 1;
    const int64_t Kd = C * KH * KW, P = OH * OW;
    if (OH < 1 || OW < 1 || !fits_gemm(Co, Kd, P)) return false;
    const std::vector<int32_t> q = requantize(X, x);
    std::vector<int32_t> A(w.constant_q->as<int8_t>(), w.constant_q->as<int8_t>() + Co * Kd);
    Tensor y = float_tensor({Nb, Co, OH, OW});
    float* py = reinterpret_cast<float*>(y.data.data());
    std::vector<int8_t> col(size_t(Kd * P));
    for (int64_t b = 0; b < Nb; ++b) {
        for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
                for (int64_t kw = 0; kw < KW; ++kw) {
                    int8_t* row = col.data() + ((c * KH + kh) * KW + kw) * P;
                    const int32_t* plane = q.data() + (b * C + c) * H * Wd;
                    for (int64_t oh = 0; oh < OH; ++oh) {
                        const int64_t ih = oh * s[0] - p[0] + kh * d[0];
                        for (int64_t ow = 0; ow < OW; ++ow) {
                            const int64_t iw = ow * s[1] - p[1] + kw * d[1];
                            row[oh * OW + ow] = int8_t(ih >= 0 && ih < H && iw >= 0 && iw < Wd ? plane[ih * Wd + iw] : x.zp[0]);
                        }
                    }
                }
        const std::vector<int32_t> acc = int_gemm(A, DataType::INT8, w.zp[0], Co, Kd, col, P, {x.zp[0]});
        for (int64_t o = 0; o < Co; ++o) {
            const float sc = x.scale[0] * w.scale_at(w.scale.size() == 1 ? 0 : o);
            for (int64_t i = 0; i < P; ++i) {
                float v = float(acc[size_t(o * P + i)]) * sc;
                if (Bias) v = v + Bias->as<float>()[o];
                py[(b * Co + o) * P + i] = v;
            }
        }
    }
    out.push_back(std::move(y));
    return true;
}

}  // namespace

ChipRun run_on_chip(const nn::Plan& plan, const Machine& m, const std::vector<Tensor>& inputs, MatrixNumerics numerics,
                    const nn::RunOptions& options) {
    if (!plan.graph) throw std::invalid_argument("run_on_chip: the plan has no graph");
    const nn::Graph& g = *plan.graph;
    const std::vector<NodeDType> types = node_dtypes(g, m);
    ChipRun run;
    DType ft = DType::fp16;
    const bool chip_numerics = numerics == MatrixNumerics::chip;
    const bool half = chip_numerics && chip_float_type(m, ft);
    // 1: 16-bit float GEMM, 2: int8 GEMM (QDQ form)
    std::vector<char> want(g.nodes.size(), 0);
    bool any = false, qdq = false;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
        const bool float_op = is_float_matrix_op(g.nodes[k].op) && types[k].has;
        if (float_op && types[k].integer_matrix) qdq = true;
        want[k] = !float_op ? 0 : types[k].integer_matrix ? (chip_numerics ? 2 : 0) : (half ? 1 : 0);
        any = any || want[k];
    }
    const quant::Half16 type = ft == DType::bf16 ? quant::Half16::bf16 : quant::Half16::fp16;
    nn::RunOptions o = options;
    if (any) {
        std::vector<char> done(g.nodes.size(), 0);
        o.node_override = [&](const GraphNode& n, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
            const size_t k = size_t(&n - g.nodes.data());
            if (!want[k]) return false;
            // The fast plan already runs a QDQ layer on the int8 kernels (executor.hpp) with the
            // same arithmetic: int32 accumulation, float(acc) * (sx * sw[c]) + bias[c].
            if (want[k] == 2 && plan.node_kernels[k].find("int8 (QDQ)") != std::string::npos) {
                done[k] = 1;
                return false;
            }
            bool ok = false;
            if (want[k] == 2) ok = n.op == OpType::Conv ? int8_conv_node(g, n, in, out) : int8_gemm_node(g, n, in, out);
            else if (n.op == OpType::Gemm) ok = half_gemm(type, n, in, out);
            else if (n.op == OpType::MatMul) ok = half_matmul(type, in, out);
            else ok = half_conv(type, n, in, out);
            if (!ok) out.clear();
            done[k] = ok ? 1 : 2;
            return ok;
        };
        run.result = nn::run(plan, inputs, o);
        for (size_t k = 0; k < g.nodes.size(); ++k) {
            const std::string label = g.nodes[k].label();
            if (done[k] == 1) (want[k] == 2 ? run.int8_nodes : run.half_nodes).push_back(label);
            if (done[k] == 2) run.fp32_nodes.push_back(label);
        }
    } else {
        run.result = nn::run(plan, inputs, o);
    }
    const std::string name = dtype_name(ft);
    if (!half) {
        DType chip_t;
        run.numerics = !chip_numerics && chip_float_type(m, chip_t) ? std::string("fp32 (chip would use ") + dtype_name(chip_t) + ")"
                                                                     : "fp32";
    } else if (run.half_nodes.empty()) {
        run.numerics = "fp32 (no float matrix node in " + name + ")";
    } else {
        run.numerics = name + " matrix inputs, fp32 accumulation; other ops fp32";
    }
    if (qdq)
        run.numerics += chip_numerics ? "; QDQ int8 matrix nodes: int8 x int8 -> int32, scaled in fp32"
                                      : "; QDQ int8 matrix nodes in fp32 on the dequantized values";
    if (!run.fp32_nodes.empty()) run.numerics += " (some matrix nodes left in fp32: form not handled)";
    return run;
}

}  // namespace stacklab::chip
