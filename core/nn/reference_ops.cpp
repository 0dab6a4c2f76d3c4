#include "nn/reference_ops.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "quant/activations.hpp"
#include "quant/conv.hpp"
#include "quant/formats.hpp"
#include "quant/gemm.hpp"

namespace stacklab::nn {

using onnx::Attribute;
using onnx::DataType;
using onnx::Node;
using onnx::Tensor;

namespace {

// Thrown by the op implementations; run_reference_node turns it into a NodeError that names the node.
struct OpFailure {
    std::string problem;
    bool unsupported;
};
[[noreturn]] void invalid(const std::string& problem) { throw OpFailure{problem, false}; }
[[noreturn]] void unsupported(const std::string& problem) { throw OpFailure{problem, true}; }

// A reference executor has no business allocating more than this for one output (1 GiB of floats).
constexpr int64_t kMaxElements = int64_t{1} << 28;

std::string shape_str(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
    return s + "]";
}

std::string type_str(DataType t) { return onnx::dtype_name(t); }

// Product of dims; invalid() on a negative dimension or a product beyond kMaxElements.
int64_t count(const std::vector<int64_t>& dims, const std::string& what) {
    int64_t n = 1;
    for (int64_t d : dims) {
        if (d < 0) invalid(what + " has a negative dimension: " + shape_str(dims));
        if (d != 0 && n > kMaxElements / d) invalid(what + " of shape " + shape_str(dims) + " is too large");
        n *= d;
    }
    return n;
}

Tensor make_tensor(DataType dtype, std::vector<int64_t> dims) {
    Tensor t;
    t.dtype = dtype;
    const int64_t n = count(dims, "output");
    t.dims = std::move(dims);
    t.data.assign(static_cast<size_t>(n) * onnx::element_size(dtype), 0);
    return t;
}

template <class T>
T* out_data(Tensor& t) {
    return reinterpret_cast<T*>(t.data.data());
}

// Calls f(T{}) with T the C++ type of a numeric dtype; unsupported() for others.
template <class F>
decltype(auto) visit_numeric(DataType t, const std::string& what, F&& f) {
    switch (t) {
        case DataType::FLOAT: return f(float{});
        case DataType::DOUBLE: return f(double{});
        case DataType::UINT8: case DataType::UINT4: return f(uint8_t{});  // 4-bit types: one per byte
        case DataType::INT8: case DataType::INT4: return f(int8_t{});
        case DataType::UINT16: return f(uint16_t{});
        case DataType::INT16: return f(int16_t{});
        case DataType::UINT32: return f(uint32_t{});
        case DataType::INT32: return f(int32_t{});
        case DataType::UINT64: return f(uint64_t{});
        case DataType::INT64: return f(int64_t{});
        default: unsupported(what + " has element type " + type_str(t));
    }
}

// Element i of an integer tensor, widened.
int64_t int_at(const Tensor& t, size_t i, const std::string& what) {
    switch (t.dtype) {
        case DataType::UINT8: case DataType::UINT4: return t.as<uint8_t>()[i];
        case DataType::INT8: case DataType::INT4: return t.as<int8_t>()[i];
        case DataType::UINT16: return t.as<uint16_t>()[i];
        case DataType::INT16: return t.as<int16_t>()[i];
        case DataType::INT32: return t.as<int32_t>()[i];
        case DataType::UINT32: return t.as<uint32_t>()[i];
        case DataType::INT64: return t.as<int64_t>()[i];
        default: unsupported(what + " has element type " + type_str(t.dtype) + ", not an integer type");
    }
}

size_t norm_axis(int64_t axis, size_t rank, const std::string& what) {
    const int64_t r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r)
        invalid(what + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    return static_cast<size_t>(axis < 0 ? axis + r : axis);
}

// numpy broadcasting of two shapes.
std::vector<int64_t> broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                                     const std::string& what) {
    const size_t r = std::max(a.size(), b.size());
    std::vector<int64_t> out(r);
    for (size_t i = 0; i < r; ++i) {
        const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
        const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (da != db && da != 1 && db != 1)
            invalid(what + ": shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

// For every element of `out` (row-major), the flat index of the element of `in` that numpy
// broadcasting reads there. `in` must broadcast to `out`.
std::vector<size_t> broadcast_index(const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
    const size_t r = out.size();
    std::vector<int64_t> stride(r, 0);
    int64_t s = 1;
    for (size_t i = 0; i < in.size(); ++i) {
        const size_t d = in.size() - 1 - i;
        const size_t o = r - 1 - i;
        stride[o] = in[d] == 1 ? 0 : s;
        s *= in[d];
    }
    const int64_t n = count(out, "broadcast result");
    std::vector<size_t> idx(static_cast<size_t>(n));
    std::vector<int64_t> pos(r, 0);
    int64_t flat = 0;
    for (int64_t e = 0; e < n; ++e) {
        idx[static_cast<size_t>(e)] = static_cast<size_t>(flat);
        for (size_t d = r; d-- > 0;) {
            flat += stride[d];
            if (++pos[d] < out[d]) break;
            flat -= stride[d] * pos[d];
            pos[d] = 0;
        }
    }
    return idx;
}

// Round half to even in double (the float version lives in quant/formats); no dependence on the
// floating-point environment.
double round_half_even(double v) {
    if (!(std::fabs(v) < 4503599627370496.0)) return v;  // 2^52: already an integer
    const double f = std::floor(v);
    const double d = v - f;
    if (d > 0.5) return f + 1.0;
    if (d < 0.5) return f;
    return std::fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

// ---------------------------------------------------------------------------------------------
// The node, its inputs and attributes, as one op implementation sees them.

struct Ctx {
    const Node& node;
    const std::vector<const Tensor*>& inputs;
    int64_t opset;

    const Tensor* in(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
    const Tensor& need(size_t i, const char* what) const {
        const Tensor* t = in(i);
        if (!t) invalid("input " + std::to_string(i) + " (" + what + ") is required");
        return *t;
    }
    bool wants(size_t out) const { return out < node.outputs.size() && !node.outputs[out].empty(); }

    const Attribute* attr(const char* name, Attribute::Type type) const {
        const Attribute* a = node.attr(name);
        if (a && a->type != type)
            invalid(std::string("attribute '") + name + "' is " + onnx::attribute_type_name(a->type) + ", expected " +
                    onnx::attribute_type_name(type));
        return a;
    }
    int64_t i(const char* name, int64_t def) const {
        const Attribute* a = attr(name, Attribute::INT);
        return a ? a->i : def;
    }
    float f(const char* name, float def) const {
        const Attribute* a = attr(name, Attribute::FLOAT);
        return a ? a->f : def;
    }
    std::string s(const char* name, const std::string& def) const {
        const Attribute* a = attr(name, Attribute::STRING);
        return a ? a->s : def;
    }
    const std::vector<int64_t>* ints(const char* name) const {
        const Attribute* a = attr(name, Attribute::INTS);
        return a ? &a->ints : nullptr;
    }
    bool flag(const char* name) const {
        const int64_t v = i(name, 0);
        if (v != 0 && v != 1) invalid(std::string("attribute '") + name + "' is " + std::to_string(v) + ", expected 0 or 1");
        return v == 1;
    }
};

void require_dtype(const Tensor& t, DataType want, const std::string& what) {
    if (t.dtype != want)
        unsupported(what + " has element type " + type_str(t.dtype) + " (supported: " + type_str(want) + ")");
}

void require_float_or_double(const Tensor& t, const std::string& what) {
    if (t.dtype != DataType::FLOAT && t.dtype != DataType::DOUBLE)
        unsupported(what + " has element type " + type_str(t.dtype) + " (supported: float, double)");
}

void require_same_dtype(const Tensor& a, const Tensor& b, const std::string& what_a, const std::string& what_b) {
    if (a.dtype != b.dtype)
        invalid(what_b + " has element type " + type_str(b.dtype) + " but " + what_a + " has " + type_str(a.dtype));
}

bool is_u8_or_s8(DataType t) { return t == DataType::UINT8 || t == DataType::INT8; }

void require_u8_or_s8(const Tensor& t, const std::string& what) {
    if (!is_u8_or_s8(t.dtype)) unsupported(what + " has element type " + type_str(t.dtype) + " (supported: uint8, int8)");
}

// Element i of a float or double tensor.
double real_at(const Tensor& t, size_t i) {
    return t.dtype == DataType::DOUBLE ? t.as<double>()[i] : static_cast<double>(t.as<float>()[i]);
}

// ---------------------------------------------------------------------------------------------
// Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.

struct IntRange {
    int64_t lo, hi;
};

IntRange quant_range(DataType t, const std::string& what) {
    switch (t) {
        case DataType::UINT8: return {0, 255};
        case DataType::INT8: return {-128, 127};
        case DataType::UINT4: return {0, 15};
        case DataType::INT4: return {-8, 7};
        case DataType::UINT16: return {0, 65535};
        case DataType::INT16: return {-32768, 32767};
        case DataType::INT32: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
        default: unsupported(what + " has element type " + type_str(t) + " (supported: uint8, int8, uint16, int16, uint4, int4)");
    }
}

// Per-tensor, per-axis or blocked parameters of a QuantizeLinear/DequantizeLinear node over x.
// x is seen as [outer, D, inner] around the axis; the scale as [outer, S, inner] with S = D when
// per axis, or S = ceil(D / block) when blocked (opset 21: a rank-r scale equal to x's shape but
// along the axis, whose index j / block_size gives element j's scale: onnx/docs/Operators.md,
// QuantizeLinear-21 "block_size", accepted range [ceil(D/S), ceil(D/(S-1)) - 1], i.e. ceil(D/B) = S).
struct AxisQuant {
    std::vector<float> scale;
    std::vector<int64_t> zero_point;  // same size as scale
    size_t outer = 1, channels = 1, inner = 1;  // x seen as [outer, channels, inner]
    size_t block = 0;                           // 0: one scale per channel (or per tensor)
    size_t scale_channels = 1;                  // blocked: S
};

AxisQuant axis_quant(const Ctx& c, const Tensor& x, const Tensor& scale, const Tensor* zp) {
    require_dtype(scale, DataType::FLOAT, "the scale");
    AxisQuant q;
    const size_t n = static_cast<size_t>(scale.numel());
    if (zp && static_cast<size_t>(zp->numel()) != n)
        invalid("the zero point has shape " + shape_str(zp->dims) + " but the scale has " + shape_str(scale.dims));
    const int64_t block = c.i("block_size", 0);
    if (block < 0) invalid("block_size must be positive, not " + std::to_string(block));
    if (block > 0) {
        if (c.opset < 21) invalid("block_size needs opset 21 (blocked quantization), the model imports " + std::to_string(c.opset));
        const size_t axis = norm_axis(c.i("axis", 1), x.dims.size(), "axis");
        if (zp && zp->dims != scale.dims)
            invalid("the zero point has shape " + shape_str(zp->dims) + " but the scale has " + shape_str(scale.dims));
        if (scale.dims.size() != x.dims.size())
            invalid("a blocked scale must have x's rank " + std::to_string(x.dims.size()) + ", not shape " +
                    shape_str(scale.dims));
        for (size_t d = 0; d < x.dims.size(); ++d) {
            const int64_t want = d != axis ? x.dims[d] : x.dims[d] == 0 ? 0 : 1 + (x.dims[d] - 1) / block;  // ceil
            if (scale.dims[d] != want)
                invalid("x is " + shape_str(x.dims) + " and block_size " + std::to_string(block) + " along axis " +
                        std::to_string(axis) + ", so the scale must be " + std::to_string(want) + " along axis " +
                        std::to_string(d) + ", not " + shape_str(scale.dims));
        }
        for (size_t d = 0; d < axis; ++d) q.outer *= static_cast<size_t>(x.dims[d]);
        q.channels = static_cast<size_t>(x.dims[axis]);
        for (size_t d = axis + 1; d < x.dims.size(); ++d) q.inner *= static_cast<size_t>(x.dims[d]);
        q.block = static_cast<size_t>(block);
        q.scale_channels = static_cast<size_t>(scale.dims[axis]);
    } else if (n == 1 && scale.dims.size() <= 1) {
        q.inner = static_cast<size_t>(x.numel());
    } else {
        if (c.opset < 13) invalid("a scale of shape " + shape_str(scale.dims) + " needs opset 13 (per-axis quantization)");
        if (scale.dims.size() != 1) invalid("the scale must be a scalar or 1-D, not " + shape_str(scale.dims));
        const size_t axis = norm_axis(c.i("axis", 1), x.dims.size(), "axis");
        if (x.dims[axis] != scale.dims[0])
            invalid("the scale has " + std::to_string(n) + " elements but x is " + shape_str(x.dims) + " along axis " +
                    std::to_string(axis));
        for (size_t d = 0; d < axis; ++d) q.outer *= static_cast<size_t>(x.dims[d]);
        q.channels = n;
        for (size_t d = axis + 1; d < x.dims.size(); ++d) q.inner *= static_cast<size_t>(x.dims[d]);
    }
    q.scale.assign(scale.as<float>(), scale.as<float>() + n);
    q.zero_point.assign(n, 0);
    for (size_t i = 0; zp && i < n; ++i) q.zero_point[i] = int_at(*zp, i, "the zero point");
    return q;
}

// f(element index, scale index) over x in order.
template <class F>
void for_each_channel(const AxisQuant& q, F f) {
    size_t e = 0;
    if (q.block > 0) {
        for (size_t o = 0; o < q.outer; ++o)
            for (size_t ch = 0; ch < q.channels; ++ch) {
                const size_t row = (o * q.scale_channels + ch / q.block) * q.inner;
                for (size_t j = 0; j < q.inner; ++j) f(e++, row + j);
            }
        return;
    }
    for (size_t o = 0; o < q.outer; ++o)
        for (size_t ch = 0; ch < q.channels; ++ch)
            for (size_t j = 0; j < q.inner; ++j) f(e++, ch);
}

// The 4-bit types arrived with opset 21 (QuantizeLinear-21 / DequantizeLinear-21).
void require_4bit_opset(const Ctx& c, DataType t, const std::string& what) {
    if ((t == DataType::INT4 || t == DataType::UINT4) && c.opset < 21)
        invalid(what + " has element type " + type_str(t) + ", which needs opset 21, the model imports " +
                std::to_string(c.opset));
}

std::vector<Tensor> op_quantize_linear(const Ctx& c) {
    const Tensor& x = c.need(0, "x");
    const Tensor& scale = c.need(1, "y_scale");
    const Tensor* zp = c.in(2);
    require_dtype(x, DataType::FLOAT, "x");
    DataType out_type = zp ? zp->dtype : DataType::UINT8;
    if (const int64_t od = c.i("output_dtype", 0); od != 0) {
        if (zp && od != static_cast<int64_t>(zp->dtype))
            invalid("output_dtype " + std::to_string(od) + " differs from the zero point's type " + type_str(zp->dtype));
        out_type = static_cast<DataType>(od);
    }
    const IntRange r = quant_range(out_type, "y");
    require_4bit_opset(c, out_type, "y");
    if (out_type == DataType::INT32) unsupported("y has element type int32 (supported: uint8, int8, uint16, int16)");
    const AxisQuant q = axis_quant(c, x, scale, zp);
    Tensor y = make_tensor(out_type, x.dims);
    const float* xs = x.as<float>();
    for_each_channel(q, [&](size_t e, size_t ch) {
        const int32_t v = quant::quantize_value(xs[e], q.scale[ch], static_cast<int32_t>(q.zero_point[ch]),
                                                static_cast<int32_t>(r.lo), static_cast<int32_t>(r.hi));
        visit_numeric(out_type, "y", [&](auto tag) { out_data<decltype(tag)>(y)[e] = static_cast<decltype(tag)>(v); });
    });
    return {std::move(y)};
}

std::vector<Tensor> op_dequantize_linear(const Ctx& c) {
    const Tensor& x = c.need(0, "x");
    const Tensor& scale = c.need(1, "x_scale");
    const Tensor* zp = c.in(2);
    quant_range(x.dtype, "x");  // u8, s8, u16, s16, s32, u4, s4
    require_4bit_opset(c, x.dtype, "x");
    if (zp) require_same_dtype(x, *zp, "x", "x_zero_point");
    const AxisQuant q = axis_quant(c, x, scale, zp);
    if (x.dtype == DataType::INT32)
        for (int64_t z : q.zero_point)
            if (z != 0) invalid("an int32 x needs a zero point of 0, not " + std::to_string(z));
    Tensor y = make_tensor(DataType::FLOAT, x.dims);
    float* ys = out_data<float>(y);
    for_each_channel(q, [&](size_t e, size_t ch) {
        // (x - x_zero_point) * x_scale in float, as the spec writes it; x - zp is exact in int64.
        ys[e] = static_cast<float>(int_at(x, e, "x") - q.zero_point[ch]) * q.scale[ch];
    });
    return {std::move(y)};
}

std::vector<Tensor> op_dynamic_quantize_linear(const Ctx& c) {
    const Tensor& x = c.need(0, "x");
    require_dtype(x, DataType::FLOAT, "x");
    const quant::DynamicQuantized dq = quant::dynamic_quantize_linear(x.as<float>(), static_cast<size_t>(x.numel()));
    Tensor y = make_tensor(DataType::UINT8, x.dims);
    std::copy(dq.y.begin(), dq.y.end(), out_data<uint8_t>(y));
    Tensor s = make_tensor(DataType::FLOAT, {});
    out_data<float>(s)[0] = dq.scale;
    Tensor z = make_tensor(DataType::UINT8, {});
    out_data<uint8_t>(z)[0] = dq.zero_point;
    return {std::move(y), std::move(s), std::move(z)};
}

// ---------------------------------------------------------------------------------------------
// Matrix products: MatMul, Gemm, MatMulInteger, QLinearMatMul.

// numpy.matmul shapes: 1-D operands are promoted to matrices and the added axis dropped from the
// result; batch dimensions broadcast.
struct MatMulPlan {
    int64_t M = 0, K = 0, N = 0;
    std::vector<int64_t> out_dims;
    std::vector<size_t> a_off, b_off;  // element offsets of each batch's matrices
};

MatMulPlan plan_matmul(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    if (a.empty() || b.empty()) invalid("matrix product of " + shape_str(a) + " and " + shape_str(b) + ": a scalar operand");
    std::vector<int64_t> ad = a.size() == 1 ? std::vector<int64_t>{1, a[0]} : a;
    std::vector<int64_t> bd = b.size() == 1 ? std::vector<int64_t>{b[0], 1} : b;
    MatMulPlan p;
    p.M = ad[ad.size() - 2];
    p.K = ad[ad.size() - 1];
    p.N = bd[bd.size() - 1];
    if (bd[bd.size() - 2] != p.K)
        invalid("matrix product of " + shape_str(a) + " and " + shape_str(b) + ": inner dimensions " +
                std::to_string(p.K) + " and " + std::to_string(bd[bd.size() - 2]) + " differ");
    const std::vector<int64_t> ba(ad.begin(), ad.end() - 2), bb(bd.begin(), bd.end() - 2);
    const std::vector<int64_t> batch = broadcast_shape(ba, bb, "batch dimensions of the matrix product");
    const std::vector<size_t> ia = broadcast_index(ba, batch), ib = broadcast_index(bb, batch);
    for (size_t i = 0; i < ia.size(); ++i) {
        p.a_off.push_back(ia[i] * static_cast<size_t>(p.M * p.K));
        p.b_off.push_back(ib[i] * static_cast<size_t>(p.K * p.N));
    }
    p.out_dims = batch;
    if (a.size() > 1) p.out_dims.push_back(p.M);
    if (b.size() > 1) p.out_dims.push_back(p.N);
    return p;
}

template <class T>
void matmul_real(const MatMulPlan& p, const T* a, const T* b, T* y) {
    const size_t M = static_cast<size_t>(p.M), K = static_cast<size_t>(p.K), N = static_cast<size_t>(p.N);
    for (size_t batch = 0; batch < p.a_off.size(); ++batch) {
        const T* A = a + p.a_off[batch];
        const T* B = b + p.b_off[batch];
        T* C = y + batch * M * N;
        for (size_t m = 0; m < M; ++m)
            for (size_t n = 0; n < N; ++n) {
                double acc = 0.0;
                for (size_t k = 0; k < K; ++k) acc += static_cast<double>(A[m * K + k]) * static_cast<double>(B[k * N + n]);
                C[m * N + n] = static_cast<T>(acc);
            }
    }
}

std::vector<Tensor> op_matmul(const Ctx& c) {
    const Tensor& a = c.need(0, "A");
    const Tensor& b = c.need(1, "B");
    require_float_or_double(a, "A");
    require_same_dtype(a, b, "A", "B");
    const MatMulPlan p = plan_matmul(a.dims, b.dims);
    Tensor y = make_tensor(a.dtype, p.out_dims);
    if (a.dtype == DataType::FLOAT)
        matmul_real(p, a.as<float>(), b.as<float>(), out_data<float>(y));
    else
        matmul_real(p, a.as<double>(), b.as<double>(), out_data<double>(y));
    return {std::move(y)};
}

template <class T>
void gemm_real(const Tensor& a, const Tensor& b, const Tensor* cm, bool ta, bool tb, double alpha, double beta,
               int64_t M, int64_t K, int64_t N, Tensor& y) {
    const T* A = a.as<T>();
    const T* B = b.as<T>();
    T* Y = out_data<T>(y);
    std::vector<size_t> ci;
    if (cm) ci = broadcast_index(cm->dims, {M, N});
    for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; ++k) {
                const T av = ta ? A[k * M + m] : A[m * K + k];
                const T bv = tb ? B[n * K + k] : B[k * N + n];
                acc += static_cast<double>(av) * static_cast<double>(bv);
            }
            double v = alpha * acc;
            if (cm) v += beta * static_cast<double>(cm->as<T>()[ci[static_cast<size_t>(m * N + n)]]);
            Y[m * N + n] = static_cast<T>(v);
        }
}

std::vector<Tensor> op_gemm(const Ctx& c) {
    const Tensor& a = c.need(0, "A");
    const Tensor& b = c.need(1, "B");
    const Tensor* cm = c.in(2);
    require_float_or_double(a, "A");
    require_same_dtype(a, b, "A", "B");
    if (cm) require_same_dtype(a, *cm, "A", "C");
    if (a.dims.size() != 2 || b.dims.size() != 2)
        invalid("A and B must be matrices, not " + shape_str(a.dims) + " and " + shape_str(b.dims));
    const bool ta = c.flag("transA"), tb = c.flag("transB");
    const int64_t M = ta ? a.dims[1] : a.dims[0], K = ta ? a.dims[0] : a.dims[1];
    const int64_t Kb = tb ? b.dims[1] : b.dims[0], N = tb ? b.dims[0] : b.dims[1];
    if (K != Kb)
        invalid("A " + shape_str(a.dims) + (ta ? " (transposed)" : "") + " and B " + shape_str(b.dims) +
                (tb ? " (transposed)" : "") + " have inner dimensions " + std::to_string(K) + " and " + std::to_string(Kb));
    if (cm && broadcast_shape(cm->dims, {M, N}, "C") != std::vector<int64_t>{M, N})
        invalid("C of shape " + shape_str(cm->dims) + " does not broadcast to [" + std::to_string(M) + "," +
                std::to_string(N) + "]");
    const double alpha = c.f("alpha", 1.0f), beta = c.f("beta", 1.0f);
    Tensor y = make_tensor(a.dtype, {M, N});
    if (a.dtype == DataType::FLOAT)
        gemm_real<float>(a, b, cm, ta, tb, alpha, beta, M, K, N, y);
    else
        gemm_real<double>(a, b, cm, ta, tb, alpha, beta, M, K, N, y);
    return {std::move(y)};
}

// Zero points (or scales) of a matrix operand: one for the tensor, or one per row of A / column of B.
template <class V>
std::vector<V> per_tensor_or_vector(const std::vector<V>& values, const std::vector<int64_t>& dims, int64_t n,
                                    const std::string& what, const std::string& per) {
    if (values.size() == 1 || (dims.size() == 1 && static_cast<int64_t>(values.size()) == n)) return values;
    unsupported(what + " has shape " + shape_str(dims) + "; supported: one value, or a 1-D vector of " +
                std::to_string(n) + " (per " + per + ")");
}

std::vector<int32_t> zero_points(const Tensor* zp, const Tensor& of, const std::string& of_name, const std::string& what,
                                 int64_t n, const std::string& per) {
    if (!zp) return {0};
    require_same_dtype(of, *zp, of_name, what);
    std::vector<int32_t> v(static_cast<size_t>(zp->numel()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int32_t>(int_at(*zp, i, what));
    if (v.empty()) invalid(what + " is empty");
    return per_tensor_or_vector(v, zp->dims, n, what, per);
}

std::vector<float> scales(const Tensor& s, const std::string& what, int64_t n, const std::string& per) {
    require_dtype(s, DataType::FLOAT, what);
    if (s.numel() == 0) invalid(what + " is empty");
    return per_tensor_or_vector(s.to_vector<float>(), s.dims, n, what, per);
}

// Y = (A - a_zp) (B - b_zp) in int32 for every batch of the plan. A and B are uint8 or int8;
// a_zp holds 1 or M values (per row), b_zp 1 or N (per column). An int8 B goes through the
// packed quant::gemm kernels (the best ISA of this machine); a uint8 B through a plain loop.
void integer_matmul(const MatMulPlan& p, const Tensor& a, const Tensor& b, const std::vector<int32_t>& a_zp,
                    const std::vector<int32_t>& b_zp, int32_t* y) {
    const int64_t M = p.M, K = p.K, N = p.N;
    const bool fits_gemm = K <= quant::kMaxGemmK && M <= std::numeric_limits<int>::max() &&
                           N <= std::numeric_limits<int>::max() && M > 0 && N > 0 && K > 0;
    for (size_t batch = 0; batch < p.a_off.size(); ++batch) {
        int32_t* C = y + batch * static_cast<size_t>(M * N);
        if (b.dtype == DataType::INT8 && fits_gemm) {
            const quant::PackedB packed =
                quant::pack_b(b.as<int8_t>() + p.b_off[batch], int(K), int(N), int(N), b_zp);
            const bool per_row = a_zp.size() > 1;
            for (int64_t m0 = 0; m0 < M; m0 += per_row ? 1 : M) {
                const int rows = per_row ? 1 : int(M);
                const int32_t za = a_zp[per_row ? static_cast<size_t>(m0) : 0];
                const size_t off = p.a_off[batch] + static_cast<size_t>(m0 * K);
                if (a.dtype == DataType::UINT8)
                    quant::gemm_u8s8_s32(a.as<uint8_t>() + off, rows, int(K), za, packed, C + m0 * N, int(N));
                else
                    quant::gemm_s8s8_s32(a.as<int8_t>() + off, rows, int(K), za, packed, C + m0 * N, int(N));
            }
            continue;
        }
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                const int64_t za = a_zp[a_zp.size() > 1 ? static_cast<size_t>(m) : 0];
                const int64_t zb = b_zp[b_zp.size() > 1 ? static_cast<size_t>(n) : 0];
                int64_t acc = 0;
                for (int64_t k = 0; k < K; ++k)
                    acc += (int_at(a, p.a_off[batch] + static_cast<size_t>(m * K + k), "A") - za) *
                           (int_at(b, p.b_off[batch] + static_cast<size_t>(k * N + n), "B") - zb);
                // ONNX: "accumulation may overflow if and only if in 32 bits": wrap as int32 does.
                C[m * N + n] = static_cast<int32_t>(static_cast<uint32_t>(acc));
            }
    }
}

std::vector<Tensor> op_matmul_integer(const Ctx& c) {
    const Tensor& a = c.need(0, "A");
    const Tensor& b = c.need(1, "B");
    require_u8_or_s8(a, "A");
    require_u8_or_s8(b, "B");
    const MatMulPlan p = plan_matmul(a.dims, b.dims);
    const std::vector<int32_t> za = zero_points(c.in(2), a, "A", "a_zero_point", p.M, "row");
    const std::vector<int32_t> zb = zero_points(c.in(3), b, "B", "b_zero_point", p.N, "column");
    Tensor y = make_tensor(DataType::INT32, p.out_dims);
    integer_matmul(p, a, b, za, zb, out_data<int32_t>(y));
    return {std::move(y)};
}

// y = saturate(round_half_even(acc * multiplier) + zero_point), the multiplier computed in float and
// the product in double, as onnx/reference's QLinearMatMul/QLinearConv (C * (sa * sb / sy)).
int64_t requantize_value(int64_t acc, float multiplier, int64_t zero_point, IntRange r) {
    const double v = round_half_even(static_cast<double>(acc) * static_cast<double>(multiplier)) +
                     static_cast<double>(zero_point);
    if (!(v > static_cast<double>(r.lo))) return std::isnan(v) ? zero_point : r.lo;
    if (v > static_cast<double>(r.hi)) return r.hi;
    return static_cast<int64_t>(v);
}

void store_quantized(Tensor& y, size_t i, int64_t v) {
    if (y.dtype == DataType::UINT8)
        out_data<uint8_t>(y)[i] = static_cast<uint8_t>(v);
    else
        out_data<int8_t>(y)[i] = static_cast<int8_t>(v);
}

std::vector<Tensor> op_qlinear_matmul(const Ctx& c) {
    const Tensor& a = c.need(0, "a");
    const Tensor& b = c.need(3, "b");
    const Tensor& y_scale = c.need(6, "y_scale");
    const Tensor& y_zp = c.need(7, "y_zero_point");
    require_u8_or_s8(a, "a");
    require_u8_or_s8(b, "b");
    require_u8_or_s8(y_zp, "y_zero_point");
    const MatMulPlan p = plan_matmul(a.dims, b.dims);
    const std::vector<float> sa = scales(c.need(1, "a_scale"), "a_scale", p.M, "row");
    const std::vector<int32_t> za = zero_points(c.in(2), a, "a", "a_zero_point", p.M, "row");
    const std::vector<float> sb = scales(c.need(4, "b_scale"), "b_scale", p.N, "column");
    const std::vector<int32_t> zb = zero_points(c.in(5), b, "b", "b_zero_point", p.N, "column");
    const std::vector<float> sy = scales(y_scale, "y_scale", 1, "tensor");
    if (y_zp.numel() != 1) invalid("y_zero_point must hold one value, not " + shape_str(y_zp.dims));
    if (sy.size() != 1) invalid("y_scale must hold one value, not " + shape_str(y_scale.dims));
    const int64_t zy = int_at(y_zp, 0, "y_zero_point");
    const IntRange r = quant_range(y_zp.dtype, "y_zero_point");

    std::vector<int32_t> acc(static_cast<size_t>(count(p.out_dims, "y")));
    integer_matmul(p, a, b, za, zb, acc.data());
    Tensor y = make_tensor(y_zp.dtype, p.out_dims);
    const size_t M = static_cast<size_t>(p.M), N = static_cast<size_t>(p.N);
    for (size_t i = 0; i < acc.size(); ++i) {
        const size_t m = (i / N) % M, n = i % N;
        const float multiplier = sa[sa.size() > 1 ? m : 0] * sb[sb.size() > 1 ? n : 0] / sy[0];
        store_quantized(y, i, requantize_value(acc[i], multiplier, zy, r));
    }
    return {std::move(y)};
}

// ---------------------------------------------------------------------------------------------
// Sliding windows: Conv, ConvInteger, QLinearConv, MaxPool, AveragePool.

// 1 to 3 spatial dimensions; shorter ones are padded to 3 with size-1 dimensions (kernel 1,
// stride 1, no padding), so one loop nest serves Conv1d/2d/3d.
struct Window {
    size_t rank = 0;
    int64_t batch = 0, channels = 0;
    std::array<int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, stride{1, 1, 1}, dil{1, 1, 1}, pad{0, 0, 0}, pad_end{0, 0, 0},
        out{1, 1, 1};
    int64_t in_size() const { return in[0] * in[1] * in[2]; }
    int64_t out_size() const { return out[0] * out[1] * out[2]; }
    int64_t k_size() const { return k[0] * k[1] * k[2]; }
};

// Bounds every kernel size, stride, dilation and pad, so the window arithmetic below cannot
// overflow int64 whatever a model says.
constexpr int64_t kMaxWindowValue = int64_t{1} << 30;

std::vector<int64_t> attr_list(const Ctx& c, const char* name, size_t n, int64_t def, int64_t min) {
    const std::vector<int64_t>* v = c.ints(name);
    if (!v) return std::vector<int64_t>(n, def);
    if (v->size() != n)
        invalid(std::string("attribute '") + name + "' has " + std::to_string(v->size()) + " values, expected " +
                std::to_string(n));
    for (int64_t e : *v)
        if (e < min || e > kMaxWindowValue)
            invalid(std::string("attribute '") + name + "' holds " + std::to_string(e) + " (expected " +
                    std::to_string(min) + " to " + std::to_string(kMaxWindowValue) + ")");
    return *v;
}

// The output size per spatial axis from the ONNX Conv/pool formulas:
//   NOTSET/VALID  out = floor_or_ceil((in + pad_begin + pad_end - ((k - 1) * dilation + 1)) / stride) + 1
//   SAME_*        out = ceil(in / stride), padding (out - 1) * stride + dilated k - in split evenly,
//                 the odd one at the end (SAME_UPPER) or at the beginning (SAME_LOWER).
// With ceil_mode, a window that would start in the end padding is dropped (the note in the
// MaxPool/AveragePool spec, and what PyTorch does).
Window make_window(const Ctx& c, const std::vector<int64_t>& x_dims, const std::vector<int64_t>& kernel, bool pool) {
    if (x_dims.size() < 3) invalid("X must be [N, C, D1, ...], not " + shape_str(x_dims));
    if (x_dims.size() > 5) unsupported("X of rank " + std::to_string(x_dims.size()) + " (at most 3 spatial dimensions)");
    Window w;
    w.rank = x_dims.size() - 2;
    w.batch = x_dims[0];
    w.channels = x_dims[1];
    if (kernel.size() != w.rank)
        invalid("the kernel has " + std::to_string(kernel.size()) + " dimensions but X has " + std::to_string(w.rank) +
                " spatial dimensions");
    const std::vector<int64_t> strides = attr_list(c, "strides", w.rank, 1, 1);
    const std::vector<int64_t> dilations = attr_list(c, "dilations", w.rank, 1, 1);
    const std::vector<int64_t> pads = attr_list(c, "pads", 2 * w.rank, 0, 0);
    const std::string auto_pad = c.s("auto_pad", "NOTSET");
    const bool ceil_mode = pool && c.flag("ceil_mode");
    if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER")
        unsupported("auto_pad '" + auto_pad + "'");
    for (size_t d = 0; d < w.rank; ++d) {
        const size_t i = 3 - w.rank + d;  // right-aligned into the 3 loop dimensions
        w.in[i] = x_dims[2 + d];
        w.k[i] = kernel[d];
        w.stride[i] = strides[d];
        w.dil[i] = dilations[d];
        if (w.k[i] < 1 || w.k[i] > kMaxWindowValue)
            invalid("kernel dimension " + std::to_string(d) + " is " + std::to_string(w.k[i]));
        const int64_t eff = (w.k[i] - 1) * w.dil[i] + 1;
        if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
            w.out[i] = (w.in[i] + w.stride[i] - 1) / w.stride[i];
            const int64_t total = std::max<int64_t>(0, (w.out[i] - 1) * w.stride[i] + eff - w.in[i]);
            w.pad[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
            w.pad_end[i] = total - w.pad[i];
            continue;
        }
        if (auto_pad == "NOTSET") {
            w.pad[i] = pads[d];
            w.pad_end[i] = pads[w.rank + d];
        }
        const int64_t span = w.in[i] + w.pad[i] + w.pad_end[i] - eff;
        if (span < 0)
            invalid("along spatial axis " + std::to_string(d) + " the window (" + std::to_string(eff) +
                    " with dilation) is larger than the padded input (" + std::to_string(span + eff) + ")");
        w.out[i] = (ceil_mode ? (span + w.stride[i] - 1) / w.stride[i] : span / w.stride[i]) + 1;
        if (ceil_mode && (w.out[i] - 1) * w.stride[i] >= w.in[i] + w.pad[i]) --w.out[i];
    }
    return w;
}

std::vector<int64_t> out_dims(const Window& w, int64_t channels) {
    std::vector<int64_t> d = {w.batch, channels};
    for (size_t i = 3 - w.rank; i < 3; ++i) d.push_back(w.out[i]);
    return d;
}

// Calls f(pos) for every input position covered by output position (o0, o1, o2) that lies
// inside the input; pos is the spatial flat index in the input and kidx the kernel flat index.
template <class F>
void for_each_tap(const Window& w, int64_t o0, int64_t o1, int64_t o2, F f) {
    for (int64_t k0 = 0; k0 < w.k[0]; ++k0) {
        const int64_t i0 = o0 * w.stride[0] - w.pad[0] + k0 * w.dil[0];
        if (i0 < 0 || i0 >= w.in[0]) continue;
        for (int64_t k1 = 0; k1 < w.k[1]; ++k1) {
            const int64_t i1 = o1 * w.stride[1] - w.pad[1] + k1 * w.dil[1];
            if (i1 < 0 || i1 >= w.in[1]) continue;
            for (int64_t k2 = 0; k2 < w.k[2]; ++k2) {
                const int64_t i2 = o2 * w.stride[2] - w.pad[2] + k2 * w.dil[2];
                if (i2 < 0 || i2 >= w.in[2]) continue;
                f((i0 * w.in[1] + i1) * w.in[2] + i2, (k0 * w.k[1] + k1) * w.k[2] + k2);
            }
        }
    }
}

struct ConvShape {
    Window w;
    int64_t M = 0, group = 1, cin_per_group = 0;
};

ConvShape conv_shape(const Ctx& c, const Tensor& x, const Tensor& wt) {
    if (wt.dims.size() != x.dims.size() || x.dims.size() < 3)
        invalid("X " + shape_str(x.dims) + " and W " + shape_str(wt.dims) + " must have the same rank, at least 3");
    const std::vector<int64_t> kernel(wt.dims.begin() + 2, wt.dims.end());
    if (const std::vector<int64_t>* ks = c.ints("kernel_shape"); ks && *ks != kernel)
        invalid("kernel_shape " + shape_str(*ks) + " does not match W " + shape_str(wt.dims));
    ConvShape s;
    s.w = make_window(c, x.dims, kernel, false);
    s.M = wt.dims[0];
    s.group = c.i("group", 1);
    if (s.group < 1) invalid("group is " + std::to_string(s.group));
    if (s.w.channels % s.group != 0 || s.M % s.group != 0 || wt.dims[1] != s.w.channels / s.group)
        invalid("X has " + std::to_string(s.w.channels) + " channels, W is " + shape_str(wt.dims) + " and group is " +
                std::to_string(s.group) + ": W must be [M, C / group, ...] with M and C divisible by group");
    s.cin_per_group = wt.dims[1];
    return s;
}

// Convolution sums: acc[n, m, o] = sum over the group's input channels and the kernel taps that
// fall inside X of x_at(x index) * w_at(w index); taps in the padding contribute nothing (for the
// integer convolutions x_at subtracts the zero point, so padding reads as x_zero_point).
template <class Acc, class XAt, class WAt>
std::vector<Acc> conv_sums(const ConvShape& s, XAt x_at, WAt w_at) {
    const Window& w = s.w;
    const int64_t Mg = s.M / s.group, Cg = s.cin_per_group;
    std::vector<Acc> acc(static_cast<size_t>(count(out_dims(w, s.M), "Y")));
    size_t o = 0;
    for (int64_t n = 0; n < w.batch; ++n)
        for (int64_t m = 0; m < s.M; ++m) {
            const int64_t g = m / Mg;
            for (int64_t o0 = 0; o0 < w.out[0]; ++o0)
                for (int64_t o1 = 0; o1 < w.out[1]; ++o1)
                    for (int64_t o2 = 0; o2 < w.out[2]; ++o2) {
                        Acc sum = 0;
                        for (int64_t cg = 0; cg < Cg; ++cg) {
                            const int64_t x_base = (n * w.channels + g * Cg + cg) * w.in_size();
                            const int64_t w_base = (m * Cg + cg) * w.k_size();
                            for_each_tap(w, o0, o1, o2, [&](int64_t pos, int64_t kidx) {
                                sum += x_at(static_cast<size_t>(x_base + pos)) * w_at(static_cast<size_t>(w_base + kidx), m);
                            });
                        }
                        acc[o++] = sum;
                    }
        }
    return acc;
}

std::vector<Tensor> op_conv(const Ctx& c) {
    const Tensor& x = c.need(0, "X");
    const Tensor& wt = c.need(1, "W");
    const Tensor* bias = c.in(2);
    require_float_or_double(x, "X");
    require_same_dtype(x, wt, "X", "W");
    const ConvShape s = conv_shape(c, x, wt);
    if (bias) {
        require_same_dtype(x, *bias, "X", "B");
        if (bias->dims != std::vector<int64_t>{s.M}) invalid("B must be [" + std::to_string(s.M) + "], not " + shape_str(bias->dims));
    }
    // Products of floats are exact in double; the sum is rounded once, at the end.
    std::vector<double> acc = conv_sums<double>(
        s, [&](size_t i) { return real_at(x, i); }, [&](size_t i, int64_t) { return real_at(wt, i); });
    Tensor y = make_tensor(x.dtype, out_dims(s.w, s.M));
    const size_t plane = static_cast<size_t>(s.w.out_size());
    for (size_t i = 0; i < acc.size(); ++i) {
        const double v = acc[i] + (bias ? real_at(*bias, (i / plane) % static_cast<size_t>(s.M)) : 0.0);
        if (x.dtype == DataType::FLOAT)
            out_data<float>(y)[i] = static_cast<float>(v);
        else
            out_data<double>(y)[i] = v;
    }
    return {std::move(y)};
}

// 2-D convolutions go through core/quant's packed convolution (im2col + GEMM or depthwise), which
// equals conv_sums bit for bit (tests/core/quant_conv_test.cpp). A uint8 W becomes int8 with the
// same differences: (w - 128) - (zw - 128) == w - zw. Shapes outside its limits (K > kMaxGemmK,
// dimensions > 2^24) return nothing and take the loops below.
std::optional<std::vector<int64_t>> fast_conv_int_sums(const ConvShape& s, const Tensor& x, int64_t zx, const Tensor& wt,
                                                       const std::vector<int64_t>& zw) {
    const Window& w = s.w;
    if (w.rank != 2) return std::nullopt;
    constexpr int64_t kMax = int64_t{1} << 24;  // quant::conv2d_shape's limit
    for (int64_t v : {w.batch, w.channels, w.in[1], w.in[2], w.k[1], w.k[2], w.stride[1], w.stride[2], w.dil[1], w.dil[2],
                      s.M, s.group, s.cin_per_group})
        if (v < 1 || v > kMax) return std::nullopt;
    for (int64_t v : {w.pad[1], w.pad[2], w.pad_end[1], w.pad_end[2]})
        if (v < 0 || v > kMax) return std::nullopt;
    if (s.cin_per_group * w.k[1] * w.k[2] > quant::kMaxGemmK) return std::nullopt;
    quant::Conv2DAttrs a;
    a.stride_h = int(w.stride[1]);
    a.stride_w = int(w.stride[2]);
    a.pad_top = int(w.pad[1]);
    a.pad_left = int(w.pad[2]);
    a.pad_bottom = int(w.pad_end[1]);
    a.pad_right = int(w.pad_end[2]);
    a.dilation_h = int(w.dil[1]);
    a.dilation_w = int(w.dil[2]);
    a.groups = int(s.group);
    const quant::Conv2DShape cs = quant::conv2d_shape(int(w.batch), int(w.channels), int(w.in[1]), int(w.in[2]), int(s.M),
                                                      int(s.cin_per_group), int(w.k[1]), int(w.k[2]), a);
    const bool w_unsigned = wt.dtype == DataType::UINT8;
    std::vector<int32_t> zw32(zw.size());
    for (size_t i = 0; i < zw.size(); ++i) zw32[i] = int32_t(zw[i] - (w_unsigned ? 128 : 0));
    std::vector<int8_t> w8(cs.w_size());
    for (size_t i = 0; i < w8.size(); ++i)
        w8[i] = w_unsigned ? int8_t(int(wt.as<uint8_t>()[i]) - 128) : wt.as<int8_t>()[i];
    const quant::PackedConv packed = quant::pack_conv2d(cs, w8.data(), zw32);
    std::vector<int32_t> acc(cs.y_size());
    if (x.dtype == DataType::UINT8)
        quant::conv2d_u8s8_s32(cs, x.as<uint8_t>(), int32_t(zx), packed, nullptr, acc.data());
    else
        quant::conv2d_s8s8_s32(cs, x.as<int8_t>(), int32_t(zx), packed, nullptr, acc.data());
    return std::vector<int64_t>(acc.begin(), acc.end());
}

// x_zero_point: one value. w_zero_point: one value or one per output channel.
std::vector<int64_t> conv_int_sums(const ConvShape& s, const Tensor& x, const Tensor* x_zp, const Tensor& wt,
                                   const Tensor* w_zp) {
    require_u8_or_s8(x, "x");
    require_u8_or_s8(wt, "w");
    int64_t zx = 0;
    if (x_zp) {
        require_same_dtype(x, *x_zp, "x", "x_zero_point");
        if (x_zp->numel() != 1) unsupported("x_zero_point of shape " + shape_str(x_zp->dims) + " (one value supported)");
        zx = int_at(*x_zp, 0, "x_zero_point");
    }
    std::vector<int64_t> zw(1, 0);
    if (w_zp) {
        require_same_dtype(wt, *w_zp, "w", "w_zero_point");
        if (w_zp->numel() != 1 && w_zp->numel() != s.M)
            invalid("w_zero_point has shape " + shape_str(w_zp->dims) + "; expected one value or " + std::to_string(s.M) +
                    " (one per output channel)");
        zw.resize(static_cast<size_t>(w_zp->numel()));
        for (size_t i = 0; i < zw.size(); ++i) zw[i] = int_at(*w_zp, i, "w_zero_point");
    }
    if (std::optional<std::vector<int64_t>> fast = fast_conv_int_sums(s, x, zx, wt, zw)) return std::move(*fast);
    return conv_sums<int64_t>(
        s, [&](size_t i) { return int_at(x, i, "x") - zx; },
        [&](size_t i, int64_t m) { return int_at(wt, i, "w") - zw[zw.size() > 1 ? static_cast<size_t>(m) : 0]; });
}

std::vector<Tensor> op_conv_integer(const Ctx& c) {
    const Tensor& x = c.need(0, "x");
    const Tensor& wt = c.need(1, "w");
    const ConvShape s = conv_shape(c, x, wt);
    const std::vector<int64_t> acc = conv_int_sums(s, x, c.in(2), wt, c.in(3));
    Tensor y = make_tensor(DataType::INT32, out_dims(s.w, s.M));
    for (size_t i = 0; i < acc.size(); ++i) out_data<int32_t>(y)[i] = static_cast<int32_t>(static_cast<uint32_t>(acc[i]));
    return {std::move(y)};
}

std::vector<Tensor> op_qlinear_conv(const Ctx& c) {
    const Tensor& x = c.need(0, "x");
    const Tensor& wt = c.need(3, "w");
    const Tensor& y_zp = c.need(7, "y_zero_point");
    const Tensor* bias = c.in(8);
    const ConvShape s = conv_shape(c, x, wt);
    require_u8_or_s8(y_zp, "y_zero_point");
    const std::vector<float> sx = scales(c.need(1, "x_scale"), "x_scale", 1, "tensor");
    const std::vector<float> sw = scales(c.need(4, "w_scale"), "w_scale", s.M, "output channel");
    const std::vector<float> sy = scales(c.need(6, "y_scale"), "y_scale", 1, "tensor");
    if (sx.size() != 1 || sy.size() != 1 || y_zp.numel() != 1) invalid("x_scale, y_scale and y_zero_point must hold one value each");
    if (bias) {
        require_dtype(*bias, DataType::INT32, "B");
        if (bias->dims != std::vector<int64_t>{s.M}) invalid("B must be [" + std::to_string(s.M) + "], not " + shape_str(bias->dims));
    }
    const std::vector<int64_t> acc = conv_int_sums(s, x, c.in(2), wt, c.in(5));
    const int64_t zy = int_at(y_zp, 0, "y_zero_point");
    const IntRange r = quant_range(y_zp.dtype, "y_zero_point");
    Tensor y = make_tensor(y_zp.dtype, out_dims(s.w, s.M));
    const size_t plane = static_cast<size_t>(s.w.out_size());
    for (size_t i = 0; i < acc.size(); ++i) {
        const size_t m = (i / plane) % static_cast<size_t>(s.M);
        const int64_t a = acc[i] + (bias ? bias->as<int32_t>()[m] : 0);
        const float multiplier = sx[0] * sw[sw.size() > 1 ? m : 0] / sy[0];
        store_quantized(y, i, requantize_value(a, multiplier, zy, r));
    }
    return {std::move(y)};
}

std::vector<int64_t> pool_kernel(const Ctx& c) {
    const std::vector<int64_t>* ks = c.ints("kernel_shape");
    if (!ks) invalid("attribute 'kernel_shape' is required");
    return *ks;
}

// MaxPool's Indices are flat indices into X, [0, N * C * D1 * ... * Dn), padding not counted;
// with storage_order 1 the spatial part is column-major (h + w * H in 2-D), as onnxruntime
// computes it. Ties keep the first maximum in window order.
template <class T>
void max_pool(const Window& w, const T* x, T* y, int64_t* indices, bool column_major) {
    size_t o = 0;
    for (int64_t plane = 0; plane < w.batch * w.channels; ++plane) {
        const T* xp = x + plane * w.in_size();
        for (int64_t o0 = 0; o0 < w.out[0]; ++o0)
            for (int64_t o1 = 0; o1 < w.out[1]; ++o1)
                for (int64_t o2 = 0; o2 < w.out[2]; ++o2) {
                    T best = std::numeric_limits<T>::lowest();
                    int64_t best_pos = -1;
                    for_each_tap(w, o0, o1, o2, [&](int64_t pos, int64_t) {
                        if (best_pos < 0 || xp[pos] > best) {
                            best = xp[pos];
                            best_pos = pos;
                        }
                    });
                    if (indices) {
                        int64_t index = best_pos;
                        if (column_major && best_pos >= 0) {
                            const int64_t i2 = best_pos % w.in[2], i1 = best_pos / w.in[2] % w.in[1],
                                          i0 = best_pos / (w.in[2] * w.in[1]);
                            index = i0 + i1 * w.in[0] + i2 * w.in[0] * w.in[1];
                        }
                        indices[o] = best_pos < 0 ? -1 : plane * w.in_size() + index;
                    }
                    y[o++] = best;
                }
    }
}

std::vector<Tensor> op_max_pool(const Ctx& c) {
    const Tensor& x = c.need(0, "X");
    const int64_t storage_order = c.i("storage_order", 0);
    if (storage_order != 0 && storage_order != 1) invalid("storage_order must be 0 or 1");
    const Window w = make_window(c, x.dims, pool_kernel(c), true);
    Tensor y = make_tensor(x.dtype, out_dims(w, w.channels));
    Tensor indices = c.wants(1) ? make_tensor(DataType::INT64, y.dims) : Tensor();
    int64_t* ip = c.wants(1) ? out_data<int64_t>(indices) : nullptr;
    switch (x.dtype) {
        case DataType::FLOAT: max_pool(w, x.as<float>(), out_data<float>(y), ip, storage_order == 1); break;
        case DataType::DOUBLE: max_pool(w, x.as<double>(), out_data<double>(y), ip, storage_order == 1); break;
        case DataType::UINT8: max_pool(w, x.as<uint8_t>(), out_data<uint8_t>(y), ip, storage_order == 1); break;
        case DataType::INT8: max_pool(w, x.as<int8_t>(), out_data<int8_t>(y), ip, storage_order == 1); break;
        default: unsupported("X has element type " + type_str(x.dtype) + " (supported: float, double, uint8, int8)");
    }
    return {std::move(y), std::move(indices)};
}

// AveragePool divides by the taps inside X, or with count_include_pad by the taps inside the
// padded input (pads given or computed by auto_pad; ceil_mode's overhang beyond them not counted).
std::vector<Tensor> op_average_pool(const Ctx& c) {
    const Tensor& x = c.need(0, "X");
    require_float_or_double(x, "X");
    const bool include_pad = c.flag("count_include_pad");
    const Window w = make_window(c, x.dims, pool_kernel(c), true);
    Tensor y = make_tensor(x.dtype, out_dims(w, w.channels));
    size_t o = 0;
    for (int64_t plane = 0; plane < w.batch * w.channels; ++plane) {
        const size_t base = static_cast<size_t>(plane * w.in_size());
        for (int64_t o0 = 0; o0 < w.out[0]; ++o0)
            for (int64_t o1 = 0; o1 < w.out[1]; ++o1)
                for (int64_t o2 = 0; o2 < w.out[2]; ++o2) {
                    double sum = 0.0;
                    int64_t taps = 0;
                    for_each_tap(w, o0, o1, o2, [&](int64_t pos, int64_t) {
                        sum += real_at(x, base + static_cast<size_t>(pos));
                        ++taps;
                    });
                    if (include_pad) {
                        taps = 1;
                        const std::array<int64_t, 3> op = {o0, o1, o2};
                        for (size_t d = 0; d < 3; ++d) {
                            const int64_t start = op[d] * w.stride[d] - w.pad[d];
                            int64_t inside = 0;
                            for (int64_t kk = 0; kk < w.k[d]; ++kk) {
                                const int64_t i = start + kk * w.dil[d];
                                inside += i >= -w.pad[d] && i < w.in[d] + w.pad_end[d];
                            }
                            taps *= inside;
                        }
                    }
                    const double v = sum / static_cast<double>(taps);
                    if (x.dtype == DataType::FLOAT)
                        out_data<float>(y)[o++] = static_cast<float>(v);
                    else
                        out_data<double>(y)[o++] = v;
                }
    }
    return {std::move(y)};
}

std::vector<Tensor> op_global_average_pool(const Ctx& c) {
    const Tensor& x = c.need(0, "X");
    require_float_or_double(x, "X");
    if (x.dims.size() < 3) invalid("X must be [N, C, D1, ...], not " + shape_str(x.dims));
    std::vector<int64_t> dims = {x.dims[0], x.dims[1]};
    dims.resize(x.dims.size(), 1);
    const size_t planes = static_cast<size_t>(x.dims[0] * x.dims[1]);
    const size_t n = planes ? static_cast<size_t>(x.numel()) / planes : 0;
    Tensor y = make_tensor(x.dtype, dims);
    for (size_t p = 0; p < planes; ++p) {
        double sum = 0.0;
        for (size_t i = 0; i < n; ++i) sum += real_at(x, p * n + i);
        const double v = sum / static_cast<double>(n);
        if (x.dtype == DataType::FLOAT)
            out_data<float>(y)[p] = static_cast<float>(v);
        else
            out_data<double>(y)[p] = v;
    }
    return {std::move(y)};
}

// ---------------------------------------------------------------------------------------------
// Normalization and activations.

std::vector<Tensor> op_layer_normalization(const Ctx& c) {
    const Tensor& x = c.need(0, "X");
    const Tensor& scale = c.need(1, "Scale");
    const Tensor* bias = c.in(2);
    require_float_or_double(x, "X");
    require_same_dtype(x, scale, "X", "Scale");
    if (bias) require_same_dtype(x, *bias, "X", "B");
    if (c.i("stash_type", 1) != 1) unsupported("stash_type " + std::to_string(c.i("stash_type", 1)) + " (supported: 1, float)");
    if (x.dims.empty()) invalid("X must have rank >= 1");
    const size_t axis = norm_axis(c.i("axis", -1), x.dims.size(), "axis");
    const double eps = c.f("epsilon", 1e-5f);
    for (const Tensor* t : {&scale, bias})
        if (t && broadcast_shape(t->dims, x.dims, t == &scale ? "Scale" : "B") != x.dims)
            invalid(std::string(t == &scale ? "Scale" : "B") + " of shape " + shape_str(t->dims) +
                    " does not broadcast to X " + shape_str(x.dims));
    const std::vector<size_t> si = broadcast_index(scale.dims, x.dims);
    const std::vector<size_t> bi = bias ? broadcast_index(bias->dims, x.dims) : std::vector<size_t>();
    size_t cols = 1;
    for (size_t d = axis; d < x.dims.size(); ++d) cols *= static_cast<size_t>(x.dims[d]);
    const size_t rows = cols ? static_cast<size_t>(x.numel()) / cols : 0;
    std::vector<int64_t> stat_dims(x.dims.begin(), x.dims.begin() + static_cast<std::ptrdiff_t>(axis));
    stat_dims.resize(x.dims.size(), 1);
    Tensor y = make_tensor(x.dtype, x.dims), mean_t = make_tensor(DataType::FLOAT, stat_dims),
           inv_t = make_tensor(DataType::FLOAT, stat_dims);
    for (size_t r = 0; r < rows; ++r) {
        // stash_type 1: the statistics are float; they accumulate in double and are rounded once.
        double sum = 0.0;
        for (size_t j = 0; j < cols; ++j) sum += real_at(x, r * cols + j);
        const double mean = sum / static_cast<double>(cols);
        double sq = 0.0;
        for (size_t j = 0; j < cols; ++j) {
            const double d = real_at(x, r * cols + j) - mean;
            sq += d * d;
        }
        const double inv = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
        out_data<float>(mean_t)[r] = static_cast<float>(mean);
        out_data<float>(inv_t)[r] = static_cast<float>(inv);
        for (size_t j = 0; j < cols; ++j) {
            const size_t e = r * cols + j;
            double v = (real_at(x, e) - mean) * inv * real_at(scale, si[e]);
            if (bias) v += real_at(*bias, bi[e]);
            if (x.dtype == DataType::FLOAT)
                out_data<float>(y)[e] = static_cast<float>(v);
            else
                out_data<double>(y)[e] = v;
        }
    }
    return {std::move(y), std::move(mean_t), std::move(inv_t)};
}

// Opset 13: softmax along `axis` (default -1). Before: X flattened to 2-D at `axis` (default 1),
// softmax over each row of the flattened tensor.
std::vector<Tensor> op_softmax(const Ctx& c) {
    const Tensor& x = c.need(0, "input");
    require_float_or_double(x, "input");
    if (x.dims.empty()) invalid("input must have rank >= 1");
    const bool v13 = c.opset >= 13;
    const size_t axis = norm_axis(c.i("axis", v13 ? -1 : 1), x.dims.size(), "axis");
    size_t outer = 1, n = 1, inner = 1;
    for (size_t d = 0; d < x.dims.size(); ++d) {
        const size_t v = static_cast<size_t>(x.dims[d]);
        if (d < axis) outer *= v;
        else if (d == axis || !v13) n *= v;
        else inner *= v;
    }
    Tensor y = make_tensor(x.dtype, x.dims);
    std::vector<double> e(n);
    for (size_t o = 0; o < outer; ++o)
        for (size_t in = 0; in < inner; ++in) {
            const size_t base = o * n * inner + in;
            double mx = -std::numeric_limits<double>::infinity();
            for (size_t j = 0; j < n; ++j) mx = std::max(mx, real_at(x, base + j * inner));
            double sum = 0.0;
            for (size_t j = 0; j < n; ++j) sum += e[j] = std::exp(real_at(x, base + j * inner) - mx);
            for (size_t j = 0; j < n; ++j) {
                const size_t i = base + j * inner;
                if (x.dtype == DataType::FLOAT)
                    out_data<float>(y)[i] = static_cast<float>(e[j] / sum);
                else
                    out_data<double>(y)[i] = e[j] / sum;
            }
        }
    return {std::move(y)};
}

template <class F>
Tensor unary_real(const Tensor& x, F f) {
    require_float_or_double(x, "X");
    Tensor y = make_tensor(x.dtype, x.dims);
    for (size_t i = 0; i < static_cast<size_t>(x.numel()); ++i) {
        if (x.dtype == DataType::FLOAT)
            out_data<float>(y)[i] = static_cast<float>(f(static_cast<double>(x.as<float>()[i])));
        else
            out_data<double>(y)[i] = f(x.as<double>()[i]);
    }
    return y;
}

std::vector<Tensor> op_relu(const Ctx& c) {
    const Tensor& x = c.need(0, "X");
    if (x.dtype == DataType::FLOAT || x.dtype == DataType::DOUBLE)
        return {unary_real(x, [](double v) { return v < 0.0 ? 0.0 : v; })};  // NaN stays NaN
    if (x.dtype != DataType::INT8 && x.dtype != DataType::INT16 && x.dtype != DataType::INT32 && x.dtype != DataType::INT64)
        unsupported("X has element type " + type_str(x.dtype) + " (supported: float, double, int8, int16, int32, int64)");
    Tensor y = make_tensor(x.dtype, x.dims);
    visit_numeric(x.dtype, "X", [&](auto tag) {
        using T = decltype(tag);
        for (size_t i = 0; i < static_cast<size_t>(x.numel()); ++i) out_data<T>(y)[i] = std::max(x.as<T>()[i], T(0));
    });
    return {std::move(y)};
}

std::vector<Tensor> op_sigmoid(const Ctx& c) {
    return {unary_real(c.need(0, "X"), [](double v) { return 1.0 / (1.0 + std::exp(-v)); })};
}
std::vector<Tensor> op_tanh(const Ctx& c) {
    return {unary_real(c.need(0, "input"), [](double v) { return std::tanh(v); })};
}
std::vector<Tensor> op_erf(const Ctx& c) {
    return {unary_real(c.need(0, "input"), [](double v) { return std::erf(v); })};
}
// HardSwish(x) = x * max(0, min(1, alpha * x + beta)) with alpha = 1/6, beta = 0.5.
std::vector<Tensor> op_hard_swish(const Ctx& c) {
    return {unary_real(c.need(0, "X"), [](double v) { return v * std::max(0.0, std::min(1.0, v / 6.0 + 0.5)); })};
}

// ---------------------------------------------------------------------------------------------
// Elementwise binary ops with numpy broadcasting.

enum class Binary { add, mul };

template <class T>
T apply(Binary op, T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
        return op == Binary::add ? a + b : a * b;
    } else {
        // Integers wrap like numpy's (and the hardware's): compute modulo 2^64, then truncate.
        const uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
        return static_cast<T>(op == Binary::add ? ua + ub : ua * ub);
    }
}

std::vector<Tensor> op_binary(const Ctx& c, Binary op) {
    const Tensor& a = c.need(0, "A");
    const Tensor& b = c.need(1, "B");
    require_same_dtype(a, b, "A", "B");
    const std::vector<int64_t> dims = broadcast_shape(a.dims, b.dims, "A and B");
    const std::vector<size_t> ia = broadcast_index(a.dims, dims), ib = broadcast_index(b.dims, dims);
    Tensor y = make_tensor(a.dtype, dims);
    visit_numeric(a.dtype, "A", [&](auto tag) {
        using T = decltype(tag);
        const T* pa = a.as<T>();
        const T* pb = b.as<T>();
        T* py = out_data<T>(y);
        for (size_t i = 0; i < ia.size(); ++i) py[i] = apply(op, pa[ia[i]], pb[ib[i]]);
    });
    return {std::move(y)};
}

std::vector<Tensor> op_add(const Ctx& c) { return op_binary(c, Binary::add); }
std::vector<Tensor> op_mul(const Ctx& c) { return op_binary(c, Binary::mul); }


// Gelu (opset 20): approximate "none" is 0.5 x (1 + erf(x / sqrt 2)), "tanh" the tanh form. Both in
// double through quant/activations' references, whose erf/exp are our own (elementary.hpp), so
// the reference gives the same bits natively and in wasm.
std::vector<Tensor> op_gelu(const Ctx& c) {
    const std::string approx = c.s("approximate", "none");
    if (approx == "none") return {unary_real(c.need(0, "X"), [](double v) { return quant::gelu_erf_ref(v); })};
    if (approx == "tanh") return {unary_real(c.need(0, "X"), [](double v) { return quant::gelu_tanh_ref(v); })};
    invalid("attribute 'approximate' is '" + approx + "' (expected 'none' or 'tanh')");
}

// BatchNormalization in inference mode (training_mode 0): per channel (axis 1),
//   y = (x - mean) / sqrt(var + epsilon) * scale + B, in double, rounded once.
std::vector<Tensor> op_batch_normalization(const Ctx& c) {
    const Tensor& x = c.need(0, "X");
    require_float_or_double(x, "X");
    if (c.flag("training_mode")) unsupported("training_mode 1 (only inference is implemented)");
    if (x.dims.size() < 2) invalid("X must be [N, C, ...], not " + shape_str(x.dims));
    const int64_t C = x.dims[1];
    const char* names[4] = {"scale", "B", "input_mean", "input_var"};
    for (size_t i = 1; i <= 4; ++i) {
        const Tensor& t = c.need(i, names[i - 1]);
        require_float_or_double(t, names[i - 1]);
        if (t.dims != std::vector<int64_t>{C})
            invalid(std::string(names[i - 1]) + " must be [" + std::to_string(C) + "], not " + shape_str(t.dims));
    }
    const double eps = c.f("epsilon", 1e-5f);
    const size_t plane = static_cast<size_t>(x.numel() / std::max<int64_t>(1, x.dims[0] * C));
    Tensor y = make_tensor(x.dtype, x.dims);
    for (size_t i = 0; i < static_cast<size_t>(x.numel()); ++i) {
        const size_t ch = plane ? (i / plane) % static_cast<size_t>(C) : 0;
        const double v = (real_at(x, i) - real_at(*c.in(3), ch)) / std::sqrt(real_at(*c.in(4), ch) + eps) *
                             real_at(*c.in(1), ch) + real_at(*c.in(2), ch);
        if (x.dtype == DataType::FLOAT)
            out_data<float>(y)[i] = static_cast<float>(v);
        else
            out_data<double>(y)[i] = v;
    }
    return {std::move(y)};
}

// ---------------------------------------------------------------------------------------------
// Shape ops: the elements move, their bytes never change (any element type but STRING).

Tensor with_dims(const Tensor& x, std::vector<int64_t> dims) {
    Tensor y = x;
    y.name.clear();
    y.doc_string.clear();
    y.dims = std::move(dims);
    return y;
}

std::vector<Tensor> op_flatten(const Ctx& c) {
    const Tensor& x = c.need(0, "input");
    return {with_dims(x, flatten_dims(x.dims, c.i("axis", 1)))};
}

std::vector<Tensor> op_reshape(const Ctx& c) {
    const Tensor& x = c.need(0, "data");
    const Tensor& shape = c.need(1, "shape");
    require_dtype(shape, DataType::INT64, "shape");
    if (shape.dims.size() != 1) invalid("shape must be 1-D, not " + shape_str(shape.dims));
    const bool allowzero = c.opset >= 14 && c.flag("allowzero");
    return {with_dims(x, reshape_dims(x.dims, shape.to_vector<int64_t>(), allowzero, x.numel()))};
}

std::vector<Tensor> op_transpose(const Ctx& c) {
    const Tensor& x = c.need(0, "data");
    const size_t r = x.dims.size();
    std::vector<int64_t> perm(r);
    for (size_t i = 0; i < r; ++i) perm[i] = static_cast<int64_t>(r - 1 - i);
    if (const std::vector<int64_t>* p = c.ints("perm")) perm = *p;
    std::vector<bool> seen(r, false);
    if (perm.size() != r) invalid("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
    for (int64_t p : perm) {
        if (p < 0 || p >= static_cast<int64_t>(r) || seen[static_cast<size_t>(p)])
            invalid("perm " + shape_str(perm) + " is not a permutation of 0.." + std::to_string(r - 1));
        seen[static_cast<size_t>(p)] = true;
    }
    std::vector<int64_t> out(r), in_stride(r, 1);
    for (size_t d = r; d-- > 1;) in_stride[d - 1] = in_stride[d] * x.dims[d];
    for (size_t d = 0; d < r; ++d) out[d] = x.dims[static_cast<size_t>(perm[d])];
    Tensor y = make_tensor(x.dtype, out);
    const size_t es = onnx::element_size(x.dtype);
    std::vector<int64_t> pos(r, 0);
    for (size_t e = 0; e < static_cast<size_t>(x.numel()); ++e) {
        int64_t src = 0;
        for (size_t d = 0; d < r; ++d) src += pos[d] * in_stride[static_cast<size_t>(perm[d])];
        std::memcpy(y.data.data() + e * es, x.data.data() + static_cast<size_t>(src) * es, es);
        for (size_t d = r; d-- > 0;) {
            if (++pos[d] < out[d]) break;
            pos[d] = 0;
        }
    }
    return {std::move(y)};
}

std::vector<Tensor> op_concat(const Ctx& c) {
    const Tensor& first = c.need(0, "inputs[0]");
    const Attribute* axis_attr = c.attr("axis", Attribute::INT);
    if (!axis_attr) invalid("attribute 'axis' is required");
    const size_t r = first.dims.size();
    if (r == 0) invalid("inputs must have rank >= 1");
    const size_t axis = norm_axis(axis_attr->i, r, "axis");
    std::vector<int64_t> out = first.dims;
    out[axis] = 0;
    for (size_t i = 0; i < c.node.inputs.size(); ++i) {
        const Tensor& t = c.need(i, "inputs[i]");
        require_same_dtype(first, t, "inputs[0]", "inputs[" + std::to_string(i) + "]");
        bool ok = t.dims.size() == r;
        for (size_t d = 0; ok && d < r; ++d) ok = d == axis || t.dims[d] == first.dims[d];
        if (!ok) invalid("inputs[" + std::to_string(i) + "] " + shape_str(t.dims) + " does not match inputs[0] " +
                         shape_str(first.dims) + " outside axis " + std::to_string(axis));
        out[axis] += t.dims[axis];
    }
    Tensor y = make_tensor(first.dtype, out);
    const size_t es = onnx::element_size(first.dtype);
    size_t outer = 1, inner = es;
    for (size_t d = 0; d < axis; ++d) outer *= static_cast<size_t>(out[d]);
    for (size_t d = axis + 1; d < r; ++d) inner *= static_cast<size_t>(out[d]);
    size_t at = 0;
    for (size_t i = 0; i < c.node.inputs.size(); ++i) {
        const Tensor& t = *c.in(i);
        const size_t chunk = static_cast<size_t>(t.dims[axis]) * inner;
        for (size_t o = 0; o < outer; ++o)
            if (chunk)
                std::memcpy(y.data.data() + o * static_cast<size_t>(out[axis]) * inner + at, t.data.data() + o * chunk,
                            chunk);
        at += chunk;
    }
    return {std::move(y)};
}

// Constant with a `value` tensor (the other value_* forms are not implemented).
std::vector<Tensor> op_constant(const Ctx& c) {
    const Attribute* v = c.attr("value", Attribute::TENSOR);
    if (!v) unsupported("Constant without a 'value' tensor attribute");
    if (v->t.dtype == DataType::STRING || onnx::element_size(v->t.dtype) == 0)
        unsupported("attribute 'value' has element type " + type_str(v->t.dtype));
    if (v->t.data.size() != static_cast<size_t>(count(v->t.dims, "attribute 'value'")) * onnx::element_size(v->t.dtype))
        invalid("attribute 'value' holds " + std::to_string(v->t.data.size()) + " bytes for shape " + shape_str(v->t.dims));
    return {with_dims(v->t, v->t.dims)};
}

// ---------------------------------------------------------------------------------------------

using OpFn = std::vector<Tensor> (*)(const Ctx&);

struct OpSpec {
    const char* op_type;
    int64_t first_opset;
    size_t min_inputs, max_inputs, max_outputs;
    std::vector<const char*> attributes;  // any other attribute is refused
    OpFn run;
};

constexpr int64_t kLastOpset = 22;

const std::vector<OpSpec>& op_specs() {
    static const std::vector<OpSpec> specs = {
        {"Add", 7, 2, 2, 1, {}, op_add},
        {"AveragePool", 1, 1, 1, 1,
         {"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"}, op_average_pool},
        {"BatchNormalization", 9, 5, 5, 1, {"epsilon", "momentum", "training_mode"}, op_batch_normalization},
        {"Concat", 4, 1, 1 << 20, 1, {"axis"}, op_concat},
        {"Constant", 1, 0, 0, 1, {"value"}, op_constant},
        {"Conv", 1, 2, 3, 1, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}, op_conv},
        {"ConvInteger", 10, 2, 4, 1, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}, op_conv_integer},
        {"DequantizeLinear", 10, 2, 3, 1, {"axis", "block_size"}, op_dequantize_linear},
        {"DynamicQuantizeLinear", 11, 1, 1, 3, {}, op_dynamic_quantize_linear},
        {"Erf", 9, 1, 1, 1, {}, op_erf},
        {"Flatten", 1, 1, 1, 1, {"axis"}, op_flatten},
        {"Gelu", 20, 1, 1, 1, {"approximate"}, op_gelu},
        {"Gemm", 7, 2, 3, 1, {"alpha", "beta", "transA", "transB"}, op_gemm},
        {"GlobalAveragePool", 1, 1, 1, 1, {}, op_global_average_pool},
        {"HardSwish", 14, 1, 1, 1, {}, op_hard_swish},
        {"LayerNormalization", 17, 2, 3, 3, {"axis", "epsilon", "stash_type"}, op_layer_normalization},
        {"MatMul", 1, 2, 2, 1, {}, op_matmul},
        {"MatMulInteger", 10, 2, 4, 1, {}, op_matmul_integer},
        {"MaxPool", 1, 1, 1, 2,
         {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}, op_max_pool},
        {"Mul", 7, 2, 2, 1, {}, op_mul},
        {"QLinearConv", 10, 8, 9, 1, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}, op_qlinear_conv},
        {"QLinearMatMul", 10, 8, 8, 1, {}, op_qlinear_matmul},
        {"QuantizeLinear", 10, 2, 3, 1, {"axis", "block_size", "output_dtype", "saturate"}, op_quantize_linear},
        {"Relu", 6, 1, 1, 1, {}, op_relu},
        {"Reshape", 5, 2, 2, 1, {"allowzero"}, op_reshape},
        {"Sigmoid", 6, 1, 1, 1, {}, op_sigmoid},
        {"Softmax", 1, 1, 1, 1, {"axis"}, op_softmax},
        {"Tanh", 6, 1, 1, 1, {}, op_tanh},
        {"Transpose", 1, 1, 1, 1, {"perm"}, op_transpose},
    };
    return specs;
}

// Every input must hold the bytes its dtype and shape promise, so no op can read past its data.
void check_input(const Tensor& t, size_t i) {
    const std::string what = "input " + std::to_string(i) + (t.name.empty() ? "" : " ('" + t.name + "')");
    if (t.dtype == DataType::STRING || onnx::element_size(t.dtype) == 0)
        unsupported(what + " has element type " + type_str(t.dtype));
    const int64_t n = count(t.dims, what);
    if (t.data.size() != static_cast<size_t>(n) * onnx::element_size(t.dtype))
        invalid(what + " of shape " + shape_str(t.dims) + " and type " + type_str(t.dtype) + " holds " +
                std::to_string(t.data.size()) + " bytes, expected " +
                std::to_string(static_cast<size_t>(n) * onnx::element_size(t.dtype)));
}

std::string node_label(const Node& node, int64_t opset) {
    std::string s = (node.op_type.empty() ? std::string("(no op_type)") : node.op_type) + " node ";
    if (!node.name.empty())
        s += "'" + node.name + "'";
    else if (!node.outputs.empty())
        s += "-> '" + node.outputs[0] + "'";
    else
        s += "(unnamed)";
    if (!node.domain.empty() && node.domain != "ai.onnx") s += " of domain '" + node.domain + "'";
    return s + " (opset " + std::to_string(opset) + ")";
}

}  // namespace

// Reshape's target shape: 0 copies the input dimension (unless allowzero, opset 14), one -1 is
// inferred from the element count.
std::vector<int64_t> reshape_dims(const std::vector<int64_t>& in, const std::vector<int64_t>& shape, bool allowzero,
                                  int64_t numel) {
    std::vector<int64_t> out = shape;
    int64_t known = 1;
    int infer = -1;
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] == 0 && !allowzero) {
            if (i >= in.size()) invalid("shape " + shape_str(shape) + " copies dimension " + std::to_string(i) +
                                        " of an input of rank " + std::to_string(in.size()));
            out[i] = in[i];
        }
        if (out[i] == -1) {
            if (infer >= 0) invalid("shape " + shape_str(shape) + " has more than one -1");
            infer = static_cast<int>(i);
        } else if (out[i] < 0) {
            invalid("shape " + shape_str(shape) + " has a negative dimension");
        } else {
            known *= out[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            invalid("cannot reshape " + shape_str(in) + " to " + shape_str(shape) + ": " + std::to_string(numel) +
                    " elements");
        out[static_cast<size_t>(infer)] = numel / known;
    } else if (known != numel) {
        invalid("cannot reshape " + shape_str(in) + " (" + std::to_string(numel) + " elements) to " + shape_str(shape));
    }
    return out;
}

std::vector<int64_t> flatten_dims(const std::vector<int64_t>& in, int64_t axis) {
    const int64_t r = static_cast<int64_t>(in.size());
    if (axis < -r || axis > r) invalid("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
    const size_t a = static_cast<size_t>(axis < 0 ? axis + r : axis);
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < in.size(); ++d) (d < a ? outer : inner) *= in[d];
    return {outer, inner};
}


NodeError::NodeError(const onnx::Node& node, int64_t opset, const std::string& problem, bool unsupported)
    : std::runtime_error(node_label(node, opset) + ": " + problem), problem_(problem), unsupported_(unsupported) {}

std::vector<std::string> reference_op_types() {
    std::vector<std::string> names;
    for (const OpSpec& s : op_specs()) names.push_back(s.op_type);
    return names;
}

std::vector<Tensor> run_reference_node(const Node& node, const std::vector<const Tensor*>& inputs, int64_t opset) {
    try {
        if (!node.domain.empty() && node.domain != "ai.onnx") unsupported("only the default ONNX domain is implemented");
        const OpSpec* spec = nullptr;
        for (const OpSpec& s : op_specs())
            if (node.op_type == s.op_type) spec = &s;
        if (!spec) unsupported("op type '" + node.op_type + "' is not implemented by the reference executor");
        if (opset < spec->first_opset || opset > kLastOpset)
            unsupported("opset " + std::to_string(opset) + " is outside the versions implemented (" +
                        std::to_string(spec->first_opset) + " to " + std::to_string(kLastOpset) + ")");
        for (const Attribute& a : node.attributes)
            if (std::none_of(spec->attributes.begin(), spec->attributes.end(),
                             [&](const char* n) { return a.name == n; }))
                unsupported("attribute '" + a.name + "' is not implemented");
        if (node.inputs.size() > spec->max_inputs)
            invalid(std::to_string(node.inputs.size()) + " inputs (at most " + std::to_string(spec->max_inputs) + ")");
        if (inputs.size() > std::max(node.inputs.size(), spec->max_inputs))
            invalid(std::to_string(inputs.size()) + " input tensors given for " + std::to_string(node.inputs.size()) +
                    " inputs");
        if (node.outputs.empty() || node.outputs.size() > spec->max_outputs)
            invalid(std::to_string(node.outputs.size()) + " outputs (1 to " + std::to_string(spec->max_outputs) + ")");
        for (size_t i = 0; i < spec->min_inputs; ++i)
            if (i >= inputs.size() || !inputs[i]) invalid("input " + std::to_string(i) + " is required");
        for (size_t i = 0; i < inputs.size(); ++i)
            if (inputs[i]) check_input(*inputs[i], i);

        std::vector<Tensor> out = spec->run(Ctx{node, inputs, opset});
        out.resize(node.outputs.size());
        for (size_t i = 0; i < out.size(); ++i) {
            if (node.outputs[i].empty())
                out[i] = Tensor();
            else
                out[i].name = node.outputs[i];
        }
        return out;
    } catch (const OpFailure& f) {
        throw NodeError(node, opset, f.problem, f.unsupported);
    } catch (const NodeError&) {
        throw;
    } catch (const std::exception& e) {
        // quant:: argument checks, Tensor::as type checks, allocation failures.
        throw NodeError(node, opset, e.what(), false);
    }
}

}  // namespace stacklab::nn
