#include "nn/graph.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace stacklab::nn {

using onnx::DataType;

namespace {

struct OpInfo {
    OpType op;
    const char* name;
    int64_t first_opset;  // the op's first version in the default domain (onnx/docs/Operators.md)
};

const OpInfo kOps[] = {
    {OpType::Conv, "Conv", 1},
    {OpType::ConvInteger, "ConvInteger", 10},
    {OpType::QLinearConv, "QLinearConv", 10},
    {OpType::MatMul, "MatMul", 1},
    {OpType::MatMulInteger, "MatMulInteger", 10},
    {OpType::QLinearMatMul, "QLinearMatMul", 10},
    {OpType::Gemm, "Gemm", 1},
    {OpType::Add, "Add", 1},
    {OpType::Mul, "Mul", 1},
    {OpType::Relu, "Relu", 1},
    {OpType::Sigmoid, "Sigmoid", 1},
    {OpType::Tanh, "Tanh", 1},
    {OpType::Erf, "Erf", 9},
    {OpType::Gelu, "Gelu", 20},
    {OpType::HardSwish, "HardSwish", 14},
    {OpType::LayerNormalization, "LayerNormalization", 17},
    {OpType::BatchNormalization, "BatchNormalization", 1},
    {OpType::Softmax, "Softmax", 1},
    {OpType::MaxPool, "MaxPool", 1},
    {OpType::AveragePool, "AveragePool", 1},
    {OpType::GlobalAveragePool, "GlobalAveragePool", 1},
    {OpType::Flatten, "Flatten", 1},
    {OpType::Reshape, "Reshape", 1},
    {OpType::Transpose, "Transpose", 1},
    {OpType::Concat, "Concat", 1},
    {OpType::QuantizeLinear, "QuantizeLinear", 10},
    {OpType::DequantizeLinear, "DequantizeLinear", 10},
    {OpType::Constant, "Constant", 1},
};

[[noreturn]] void fail(const GraphNode& n, const std::string& problem, bool unsupported = false) {
    throw NodeError(n.proto, n.opset, problem, unsupported);
}

bool known(int64_t d) { return d >= 0; }

int64_t attr_int(const GraphNode& n, const char* name, int64_t def) {
    const onnx::Attribute* a = n.proto.attr(name);
    if (!a) return def;
    if (a->type != onnx::Attribute::INT) fail(n, std::string("attribute '") + name + "' must be INT");
    return a->i;
}

std::vector<int64_t> attr_ints(const GraphNode& n, const char* name, std::vector<int64_t> def) {
    const onnx::Attribute* a = n.proto.attr(name);
    if (!a) return def;
    if (a->type != onnx::Attribute::INTS) fail(n, std::string("attribute '") + name + "' must be INTS");
    return a->ints;
}

std::string attr_string(const GraphNode& n, const char* name, const std::string& def) {
    const onnx::Attribute* a = n.proto.attr(name);
    if (!a) return def;
    if (a->type != onnx::Attribute::STRING) fail(n, std::string("attribute '") + name + "' must be STRING");
    return a->s;
}

int64_t normalize_axis(const GraphNode& n, int64_t axis, size_t rank, const char* what) {
    const int64_t r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r)
        fail(n, std::string(what) + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    return axis < 0 ? axis + r : axis;
}

// numpy broadcasting with unknown dimensions: an unknown against 1 stays unknown, against k is k.
std::vector<int64_t> broadcast(const GraphNode& n, const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    const size_t r = std::max(a.size(), b.size());
    std::vector<int64_t> out(r);
    for (size_t i = 0; i < r; ++i) {
        const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
        const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (known(da) && known(db) && da != db && da != 1 && db != 1)
            fail(n, "input shapes " + shape_text(a) + " and " + shape_text(b) + " do not broadcast");
        if (da == 1) out[i] = db;
        else if (db == 1) out[i] = da;
        else out[i] = known(da) ? da : db;
    }
    return out;
}

int64_t product(const std::vector<int64_t>& dims, size_t from, size_t to) {
    int64_t p = 1;
    for (size_t i = from; i < to; ++i) {
        if (!known(dims[i])) return kUnknownDim;
        p *= dims[i];
    }
    return p;
}

// Output size of one spatial axis of Conv / MaxPool / AveragePool (the formulas in reference_ops.cpp).
int64_t window_out(const GraphNode& n, int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_b, int64_t pad_e,
                   const std::string& auto_pad, bool ceil_mode, size_t axis) {
    if (!known(in)) return kUnknownDim;
    if (stride < 1 || dil < 1 || k < 1) fail(n, "kernel, strides and dilations must be >= 1");
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") return (in + stride - 1) / stride;
    if (auto_pad == "VALID") pad_b = pad_e = 0;
    const int64_t eff = (k - 1) * dil + 1;
    const int64_t span = in + pad_b + pad_e - eff;
    if (span < 0)
        fail(n, "along spatial axis " + std::to_string(axis) + " the window (" + std::to_string(eff) +
                    ") is larger than the padded input (" + std::to_string(in + pad_b + pad_e) + ")");
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad_b) --out;
    return out;
}

std::vector<int64_t> window_shape(const GraphNode& n, const std::vector<int64_t>& x, const std::vector<int64_t>& kernel,
                                  int64_t out_channels, bool pool) {
    if (x.size() < 3) fail(n, "input must be [N, C, D1, ...], not " + shape_text(x));
    const size_t r = x.size() - 2;
    if (kernel.size() != r)
        fail(n, "the kernel has " + std::to_string(kernel.size()) + " dimensions but the input " + shape_text(x) +
                    " has " + std::to_string(r) + " spatial dimensions");
    const std::vector<int64_t> strides = attr_ints(n, "strides", std::vector<int64_t>(r, 1));
    const std::vector<int64_t> dils = attr_ints(n, "dilations", std::vector<int64_t>(r, 1));
    const std::vector<int64_t> pads = attr_ints(n, "pads", std::vector<int64_t>(2 * r, 0));
    if (strides.size() != r || dils.size() != r || pads.size() != 2 * r)
        fail(n, "strides, dilations and pads must have " + std::to_string(r) + ", " + std::to_string(r) + " and " +
                    std::to_string(2 * r) + " values");
    const std::string auto_pad = attr_string(n, "auto_pad", "NOTSET");
    const bool ceil_mode = pool && attr_int(n, "ceil_mode", 0) == 1;
    std::vector<int64_t> out = {x[0], out_channels};
    for (size_t d = 0; d < r; ++d)
        out.push_back(window_out(n, x[2 + d], kernel[d], strides[d], dils[d], pads[d], pads[r + d], auto_pad, ceil_mode, d));
    return out;
}

std::vector<int64_t> matmul_shape(const GraphNode& n, const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    if (a.empty() || b.empty()) fail(n, "matrix product of " + shape_text(a) + " and " + shape_text(b) + ": a scalar operand");
    const std::vector<int64_t> ad = a.size() == 1 ? std::vector<int64_t>{1, a[0]} : a;
    const std::vector<int64_t> bd = b.size() == 1 ? std::vector<int64_t>{b[0], 1} : b;
    const int64_t ka = ad.back(), kb = bd[bd.size() - 2];
    if (known(ka) && known(kb) && ka != kb)
        fail(n, "matrix product of " + shape_text(a) + " and " + shape_text(b) + ": inner dimensions " +
                    std::to_string(ka) + " and " + std::to_string(kb) + " differ");
    std::vector<int64_t> out = broadcast(n, std::vector<int64_t>(ad.begin(), ad.end() - 2),
                                         std::vector<int64_t>(bd.begin(), bd.end() - 2));
    if (a.size() > 1) out.push_back(ad[ad.size() - 2]);
    if (b.size() > 1) out.push_back(bd.back());
    return out;
}

void require_float(const GraphNode& n, const TensorInfo& t, const char* what) {
    if (t.dtype != DataType::FLOAT && t.dtype != DataType::UNDEFINED)
        fail(n, std::string(what) + " '" + t.name + "' has element type " + onnx::dtype_name(t.dtype) +
                    " (supported: float)", true);
}

// Quantization parameters from constant scale / zero-point tensors (indices into n.inputs).
TensorQuant quant_from(const Graph& g, const GraphNode& n, size_t scale_in, size_t zp_in, int64_t axis) {
    TensorQuant q;
    const int s = scale_in < n.inputs.size() ? n.inputs[scale_in] : -1;
    const onnx::Tensor* st = s >= 0 ? g.constant(s) : nullptr;
    if (!st || st->dtype != DataType::FLOAT) return q;
    q.scale = st->to_vector<float>();
    const int z = zp_in < n.inputs.size() ? n.inputs[zp_in] : -1;
    if (const onnx::Tensor* zt = z >= 0 ? g.constant(z) : nullptr) {
        if (zt->dtype == DataType::INT8 || zt->dtype == DataType::INT4)
            for (int8_t v : zt->to_vector<int8_t>()) q.zero_point.push_back(v);
        else if (zt->dtype == DataType::UINT8 || zt->dtype == DataType::UINT4)
            for (uint8_t v : zt->to_vector<uint8_t>()) q.zero_point.push_back(v);
    }
    q.axis = q.scale.size() > 1 ? axis : -1;
    return q;
}

// The shape rule of one node: fills the element type and shape of its outputs.
void infer_node(Graph& g, const GraphNode& n) {
    auto in = [&](size_t i) -> const TensorInfo& {
        if (i >= n.inputs.size() || n.inputs[i] < 0) fail(n, "input " + std::to_string(i) + " is required");
        const TensorInfo& t = g.tensors[static_cast<size_t>(n.inputs[i])];
        if (!t.has_shape) fail(n, "the shape of input " + std::to_string(i) + " '" + t.name + "' is not known");
        return t;
    };
    auto set = [&](size_t o, DataType dt, std::vector<int64_t> shape) {
        if (o >= n.outputs.size() || n.outputs[o] < 0) return;
        TensorInfo& t = g.tensors[static_cast<size_t>(n.outputs[o])];
        t.dtype = dt;
        t.shape = std::move(shape);
        t.has_shape = true;
    };
    auto dtype_of = [&](size_t i, DataType def) {
        return i < n.inputs.size() && n.inputs[i] >= 0 ? g.tensors[static_cast<size_t>(n.inputs[i])].dtype : def;
    };
    switch (n.op) {
        case OpType::Relu:
        case OpType::Sigmoid:
        case OpType::Tanh:
        case OpType::Erf:
        case OpType::Gelu:
        case OpType::HardSwish:
        case OpType::Softmax: {
            const TensorInfo& x = in(0);
            if (n.op == OpType::Softmax) normalize_axis(n, attr_int(n, "axis", -1), x.shape.size(), "axis");
            set(0, x.dtype, x.shape);
            break;
        }
        case OpType::Add:
        case OpType::Mul: {
            const TensorInfo &a = in(0), &b = in(1);
            if (a.dtype != b.dtype && a.dtype != DataType::UNDEFINED && b.dtype != DataType::UNDEFINED)
                fail(n, std::string("inputs have element types ") + onnx::dtype_name(a.dtype) + " and " +
                            onnx::dtype_name(b.dtype));
            set(0, a.dtype, broadcast(n, a.shape, b.shape));
            break;
        }
        case OpType::MatMul: {
            require_float(n, in(0), "input A");
            set(0, in(0).dtype, matmul_shape(n, in(0).shape, in(1).shape));
            break;
        }
        case OpType::MatMulInteger:
            set(0, DataType::INT32, matmul_shape(n, in(0).shape, in(1).shape));
            break;
        case OpType::QLinearMatMul:
            set(0, dtype_of(7, DataType::UINT8), matmul_shape(n, in(0).shape, in(3).shape));
            break;
        case OpType::Gemm: {
            const TensorInfo &a = in(0), &b = in(1);
            require_float(n, a, "input A");
            if (a.shape.size() != 2 || b.shape.size() != 2)
                fail(n, "A and B must be matrices, not " + shape_text(a.shape) + " and " + shape_text(b.shape));
            const bool ta = attr_int(n, "transA", 0) != 0, tb = attr_int(n, "transB", 0) != 0;
            const int64_t M = a.shape[ta ? 1 : 0], K = a.shape[ta ? 0 : 1];
            const int64_t Kb = b.shape[tb ? 1 : 0], N = b.shape[tb ? 0 : 1];
            if (known(K) && known(Kb) && K != Kb)
                fail(n, "A " + shape_text(a.shape) + (ta ? " (transposed)" : "") + " and B " + shape_text(b.shape) +
                            (tb ? " (transposed)" : "") + " have inner dimensions " + std::to_string(K) + " and " +
                            std::to_string(Kb));
            if (n.inputs.size() > 2 && n.inputs[2] >= 0) {
                const std::vector<int64_t> y = broadcast(n, in(2).shape, {M, N});
                if (y.size() != 2) fail(n, "C " + shape_text(in(2).shape) + " does not broadcast to [M, N]");
            }
            set(0, a.dtype, {M, N});
            break;
        }
        case OpType::Conv:
        case OpType::ConvInteger:
        case OpType::QLinearConv: {
            const size_t wi = n.op == OpType::QLinearConv ? 3 : 1;
            const TensorInfo &x = in(0), &w = in(wi);
            if (n.op == OpType::Conv) require_float(n, x, "input X");
            if (w.shape.size() != x.shape.size())
                fail(n, "X " + shape_text(x.shape) + " and W " + shape_text(w.shape) + " must have the same rank");
            if (x.shape.size() < 3) fail(n, "X must be [N, C, D1, ...], not " + shape_text(x.shape));
            const int64_t group = attr_int(n, "group", 1);
            if (group < 1) fail(n, "group is " + std::to_string(group));
            if (known(x.shape[1]) && known(w.shape[1]) && x.shape[1] != w.shape[1] * group)
                fail(n, "X has " + std::to_string(x.shape[1]) + " channels but W " + shape_text(w.shape) +
                            " with group " + std::to_string(group) + " expects " + std::to_string(w.shape[1] * group));
            const std::vector<int64_t> kernel(w.shape.begin() + 2, w.shape.end());
            const std::vector<int64_t> ks = attr_ints(n, "kernel_shape", kernel);
            if (ks != kernel) fail(n, "kernel_shape " + shape_text(ks) + " does not match W " + shape_text(w.shape));
            const DataType dt = n.op == OpType::Conv ? x.dtype
                                : n.op == OpType::ConvInteger ? DataType::INT32 : dtype_of(7, DataType::UINT8);
            set(0, dt, window_shape(n, x.shape, kernel, w.shape[0], false));
            break;
        }
        case OpType::MaxPool:
        case OpType::AveragePool: {
            const TensorInfo& x = in(0);
            const std::vector<int64_t> kernel = attr_ints(n, "kernel_shape", {});
            if (kernel.empty()) fail(n, "attribute 'kernel_shape' is required");
            if (x.shape.size() < 3) fail(n, "X must be [N, C, D1, ...], not " + shape_text(x.shape));
            const std::vector<int64_t> y = window_shape(n, x.shape, kernel, x.shape[1], true);
            set(0, x.dtype, y);
            set(1, DataType::INT64, y);
            break;
        }
        case OpType::GlobalAveragePool: {
            const TensorInfo& x = in(0);
            if (x.shape.size() < 3) fail(n, "X must be [N, C, D1, ...], not " + shape_text(x.shape));
            std::vector<int64_t> y(x.shape.size(), 1);
            y[0] = x.shape[0];
            y[1] = x.shape[1];
            set(0, x.dtype, y);
            break;
        }
        case OpType::LayerNormalization: {
            const TensorInfo& x = in(0);
            if (x.shape.empty()) fail(n, "X must have rank >= 1");
            const int64_t axis = normalize_axis(n, attr_int(n, "axis", -1), x.shape.size(), "axis");
            set(0, x.dtype, x.shape);
            std::vector<int64_t> stat(x.shape.begin(), x.shape.begin() + axis);
            stat.resize(x.shape.size(), 1);
            set(1, DataType::FLOAT, stat);
            set(2, DataType::FLOAT, stat);
            break;
        }
        case OpType::BatchNormalization: {
            const TensorInfo& x = in(0);
            if (x.shape.size() < 2) fail(n, "X must be [N, C, ...], not " + shape_text(x.shape));
            if (attr_int(n, "training_mode", 0) != 0) fail(n, "training_mode 1 (only inference is supported)", true);
            for (size_t i = 1; i <= 4; ++i) {
                const TensorInfo& p = in(i);
                if (p.shape.size() != 1 || (known(x.shape[1]) && known(p.shape[0]) && p.shape[0] != x.shape[1]))
                    fail(n, "input " + std::to_string(i) + " '" + p.name + "' must be [" + std::to_string(x.shape[1]) +
                                "], not " + shape_text(p.shape));
            }
            set(0, x.dtype, x.shape);
            break;
        }
        case OpType::Flatten: {
            const TensorInfo& x = in(0);
            const int64_t r = static_cast<int64_t>(x.shape.size());
            int64_t axis = attr_int(n, "axis", 1);
            if (axis < -r || axis > r) fail(n, "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
            if (axis < 0) axis += r;
            set(0, x.dtype, {product(x.shape, 0, static_cast<size_t>(axis)), product(x.shape, static_cast<size_t>(axis), x.shape.size())});
            break;
        }
        case OpType::Reshape: {
            const TensorInfo& x = in(0);
            in(1);
            const onnx::Tensor* st = g.constant(n.inputs[1]);
            if (!st) {
                // A shape computed at run time: the rank is its length, every dimension unknown.
                const TensorInfo& s = in(1);
                if (s.shape.size() != 1 || !known(s.shape[0]))
                    fail(n, "the target shape '" + s.name + "' is computed at run time and its length is not known", true);
                set(0, x.dtype, std::vector<int64_t>(static_cast<size_t>(s.shape[0]), kUnknownDim));
                break;
            }
            if (st->dtype != DataType::INT64 || st->dims.size() != 1) fail(n, "shape must be a 1-D int64 tensor");
            const std::vector<int64_t> shape = st->to_vector<int64_t>();
            const bool allowzero = attr_int(n, "allowzero", 0) != 0;
            std::vector<int64_t> out = shape;
            int infer = -1;
            int64_t known_product = 1;
            bool all_known = true;
            for (size_t i = 0; i < out.size(); ++i) {
                if (out[i] == 0 && !allowzero) {
                    if (i >= x.shape.size()) fail(n, "shape " + shape_text(shape) + " copies dimension " + std::to_string(i) +
                                                         " of an input of rank " + std::to_string(x.shape.size()));
                    out[i] = x.shape[i];
                    if (!known(out[i])) { all_known = false; continue; }
                }
                if (shape[i] == -1) {
                    if (infer >= 0) fail(n, "shape " + shape_text(shape) + " has more than one -1");
                    infer = static_cast<int>(i);
                } else if (out[i] < 0 && shape[i] != 0) {
                    fail(n, "shape " + shape_text(shape) + " has a negative dimension");
                } else {
                    known_product *= out[i];
                }
            }
            const int64_t numel = product(x.shape, 0, x.shape.size());
            if (infer >= 0) {
                if (known(numel) && all_known) {
                    if (known_product == 0 || numel % known_product != 0)
                        fail(n, "cannot reshape " + shape_text(x.shape) + " to " + shape_text(shape));
                    out[static_cast<size_t>(infer)] = numel / known_product;
                } else {
                    out[static_cast<size_t>(infer)] = kUnknownDim;
                }
            } else if (known(numel) && all_known && known_product != numel) {
                fail(n, "cannot reshape " + shape_text(x.shape) + " (" + std::to_string(numel) + " elements) to " +
                            shape_text(shape));
            }
            set(0, x.dtype, out);
            break;
        }
        case OpType::Transpose: {
            const TensorInfo& x = in(0);
            const size_t r = x.shape.size();
            std::vector<int64_t> def(r);
            for (size_t i = 0; i < r; ++i) def[i] = static_cast<int64_t>(r - 1 - i);
            const std::vector<int64_t> perm = attr_ints(n, "perm", def);
            std::vector<bool> seen(r, false);
            if (perm.size() != r) fail(n, "perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
            std::vector<int64_t> out(r);
            for (size_t i = 0; i < r; ++i) {
                if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(r) || seen[static_cast<size_t>(perm[i])])
                    fail(n, "perm " + shape_text(perm) + " is not a permutation");
                seen[static_cast<size_t>(perm[i])] = true;
                out[i] = x.shape[static_cast<size_t>(perm[i])];
            }
            set(0, x.dtype, out);
            break;
        }
        case OpType::Concat: {
            const TensorInfo& first = in(0);
            if (!n.proto.attr("axis")) fail(n, "attribute 'axis' is required");
            const size_t axis = static_cast<size_t>(normalize_axis(n, attr_int(n, "axis", 0), first.shape.size(), "axis"));
            std::vector<int64_t> out = first.shape;
            for (size_t i = 1; i < n.inputs.size(); ++i) {
                const TensorInfo& t = in(i);
                bool ok = t.shape.size() == out.size();
                for (size_t d = 0; ok && d < out.size(); ++d)
                    ok = d == axis || !known(t.shape[d]) || !known(out[d]) || t.shape[d] == out[d];
                if (!ok) fail(n, "input " + std::to_string(i) + " " + shape_text(t.shape) + " does not match input 0 " +
                                     shape_text(first.shape) + " outside axis " + std::to_string(axis));
                out[axis] = known(out[axis]) && known(t.shape[axis]) ? out[axis] + t.shape[axis] : kUnknownDim;
            }
            set(0, first.dtype, out);
            break;
        }
        case OpType::QuantizeLinear: {
            const TensorInfo& x = in(0);
            set(0, dtype_of(2, DataType::UINT8), x.shape);
            break;
        }
        case OpType::DequantizeLinear:
            set(0, DataType::FLOAT, in(0).shape);
            break;
        case OpType::Constant: {
            const onnx::Attribute* v = n.proto.attr("value");
            if (!v || v->type != onnx::Attribute::TENSOR)
                fail(n, "only Constant nodes with a 'value' tensor attribute are supported", true);
            set(0, v->t.dtype, v->t.dims);
            break;
        }
    }
}

}  // namespace

const char* op_type_name(OpType op) {
    for (const OpInfo& i : kOps)
        if (i.op == op) return i.name;
    return "?";
}

std::vector<std::string> supported_op_types() {
    std::vector<std::string> v;
    for (const OpInfo& i : kOps) v.push_back(i.name);
    return v;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + (known(shape[i]) ? std::to_string(shape[i]) : "?");
    return s + "]";
}

std::string GraphNode::label() const {
    if (!proto.name.empty()) return proto.name;
    return proto.outputs.empty() ? std::string("(unnamed)") : "-> " + proto.outputs[0];
}

int Graph::find(const std::string& tensor_name) const {
    for (size_t i = 0; i < tensors.size(); ++i)
        if (tensors[i].name == tensor_name) return static_cast<int>(i);
    return -1;
}

const onnx::Tensor* Graph::constant(int t) const {
    if (t < 0 || static_cast<size_t>(t) >= tensors.size()) return nullptr;
    const int i = tensors[static_cast<size_t>(t)].initializer;
    return i >= 0 ? &initializers[static_cast<size_t>(i)] : nullptr;
}

Graph import_onnx(const onnx::Model& model) {
    Graph g;
    g.name = model.graph.name;
    g.metadata = model.metadata_props;
    g.opset = model.opset("");
    std::map<std::string, int> by_name;
    auto add_tensor = [&](const std::string& name) {
        TensorInfo t;
        t.name = name;
        g.tensors.push_back(t);
        const int id = static_cast<int>(g.tensors.size() - 1);
        by_name[name] = id;
        return id;
    };

    for (const onnx::Tensor& init : model.graph.initializers) {
        if (init.name.empty()) throw std::invalid_argument("graph: an initializer has no name");
        if (by_name.count(init.name)) throw std::invalid_argument("graph: initializer '" + init.name + "' is defined twice");
        const int id = add_tensor(init.name);
        TensorInfo& t = g.tensors[static_cast<size_t>(id)];
        t.dtype = init.dtype;
        t.shape = init.dims;
        t.has_shape = true;
        t.initializer = static_cast<int>(g.initializers.size());
        g.initializers.push_back(init);
    }
    for (const onnx::ValueInfo& vi : model.graph.inputs) {
        auto it = by_name.find(vi.name);
        if (it != by_name.end()) continue;  // an initializer listed as an input (IR < 4 style): a constant
        if (vi.kind != onnx::ValueKind::TENSOR)
            throw std::invalid_argument("graph input '" + vi.name + "' is a " + onnx::value_kind_name(vi.kind) +
                                        ", not a tensor");
        const int id = add_tensor(vi.name);
        TensorInfo& t = g.tensors[static_cast<size_t>(id)];
        t.dtype = vi.elem_type;
        t.has_shape = vi.has_shape;
        t.shape = vi.dims;
        for (int64_t& d : t.shape)
            if (d < 0) d = kUnknownDim;
        g.inputs.push_back(id);
    }

    for (const onnx::Node& pn : model.graph.nodes) {
        GraphNode n;
        n.proto = pn;
        const bool default_domain = pn.domain.empty() || pn.domain == "ai.onnx";
        n.opset = model.opset(pn.domain);
        if (!default_domain) fail(n, "domain '" + pn.domain + "' is not supported (only the default ONNX domain)", true);
        const OpInfo* info = nullptr;
        for (const OpInfo& i : kOps)
            if (pn.op_type == i.name) info = &i;
        if (!info) fail(n, "op type '" + pn.op_type + "' is not supported by the graph importer", true);
        if (n.opset < kMinOpset || n.opset > kMaxOpset)
            fail(n, "opset " + std::to_string(n.opset) + " is outside the supported range " + std::to_string(kMinOpset) +
                        " to " + std::to_string(kMaxOpset), true);
        if (n.opset < info->first_opset)
            fail(n, std::string(info->name) + " does not exist before opset " + std::to_string(info->first_opset));
        n.op = info->op;
        for (const std::string& name : pn.inputs) {
            if (name.empty()) {
                n.inputs.push_back(-1);
                continue;
            }
            auto it = by_name.find(name);
            if (it == by_name.end())
                fail(n, "input '" + name + "' is not a graph input, an initializer or the output of an earlier node "
                        "(nodes must be in topological order)");
            n.inputs.push_back(it->second);
        }
        const int node_index = static_cast<int>(g.nodes.size());
        for (const std::string& name : pn.outputs) {
            if (name.empty()) {
                n.outputs.push_back(-1);
                continue;
            }
            if (by_name.count(name)) fail(n, "output '" + name + "' is already defined (every value has one producer)");
            const int id = add_tensor(name);
            g.tensors[static_cast<size_t>(id)].producer = node_index;
            n.outputs.push_back(id);
        }
        if (n.outputs.empty() || n.outputs[0] < 0) fail(n, "the node has no output");
        g.nodes.push_back(std::move(n));
    }
    for (const onnx::ValueInfo& vi : model.graph.outputs) {
        auto it = by_name.find(vi.name);
        if (it == by_name.end()) throw std::invalid_argument("graph output '" + vi.name + "' is produced by no node");
        g.outputs.push_back(it->second);
    }
    if (g.outputs.empty()) throw std::invalid_argument("graph: no outputs");

    // Quantization parameters that constant scales give away.
    for (const GraphNode& n : g.nodes) {
        auto annotate = [&](size_t value_in, int tensor, size_t scale_in, size_t zp_in, int64_t axis) {
            (void)value_in;
            if (tensor < 0) return;
            TensorQuant q = quant_from(g, n, scale_in, zp_in, axis);
            if (!q.empty()) g.tensors[static_cast<size_t>(tensor)].quant = std::move(q);
        };
        const auto input = [&](size_t i) { return i < n.inputs.size() ? n.inputs[i] : -1; };
        if (n.op == OpType::QuantizeLinear && attr_int(n, "block_size", 0) == 0)
            annotate(0, n.outputs[0], 1, 2, attr_int(n, "axis", 1));
        // A blocked (block_size) scale is not one per index of an axis: TensorQuant cannot say it.
        if (n.op == OpType::DequantizeLinear && attr_int(n, "block_size", 0) == 0)
            annotate(0, input(0), 1, 2, attr_int(n, "axis", 1));
        if (n.op == OpType::QLinearConv || n.op == OpType::QLinearMatMul) {
            annotate(0, input(0), 1, 2, -1);
            annotate(3, input(3), 4, 5, n.op == OpType::QLinearConv ? 0 : 1);
            annotate(0, n.outputs[0], 6, 7, -1);
        }
    }
    infer_shapes(g);
    return g;
}

Graph load_onnx(const std::string& bytes, const std::string& file_name) {
    return import_onnx(onnx::parse_model(bytes, file_name));
}

void infer_shapes(Graph& g, const std::vector<std::vector<int64_t>>& input_shapes) {
    if (!input_shapes.empty()) {
        if (input_shapes.size() != g.inputs.size())
            throw std::invalid_argument("infer_shapes: " + std::to_string(input_shapes.size()) + " input shapes for " +
                                        std::to_string(g.inputs.size()) + " graph inputs");
        for (size_t i = 0; i < g.inputs.size(); ++i) {
            TensorInfo& t = g.tensors[static_cast<size_t>(g.inputs[i])];
            const std::vector<int64_t>& s = input_shapes[i];
            if (t.has_shape) {
                bool ok = s.size() == t.shape.size();
                for (size_t d = 0; ok && d < s.size(); ++d) ok = !known(t.shape[d]) || t.shape[d] == s[d];
                if (!ok)
                    throw std::invalid_argument("input '" + t.name + "': shape " + shape_text(s) +
                                                " does not match the declared " + shape_text(t.shape));
            }
            t.shape = s;
            t.has_shape = true;
        }
    }
    for (const GraphNode& n : g.nodes) {
        try {
            infer_node(g, n);
        } catch (const NodeError&) {
            throw;
        } catch (const std::exception& e) {
            fail(n, e.what());
        }
    }
}

}  // namespace stacklab::nn
