// Small builders for ONNX protos (onnx_proto.hpp), for code that writes models: the trainer's
// export and the quantizer's QDQ rewrite. Tensors are packed little-endian as Tensor::data holds them.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "nn/onnx_proto.hpp"

namespace stacklab::nn::onnx {

template <class T>
Tensor make_tensor(const std::string& name, DataType dtype, std::vector<int64_t> dims, const std::vector<T>& v) {
    Tensor t;
    t.name = name;
    t.dtype = dtype;
    t.dims = std::move(dims);
    t.data.resize(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(t.data.data(), v.data(), t.data.size());
    return t;
}
inline Tensor float_tensor(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& v) {
    return make_tensor(name, DataType::FLOAT, std::move(dims), v);
}
inline Tensor int8_tensor(const std::string& name, std::vector<int64_t> dims, const std::vector<int8_t>& v) {
    return make_tensor(name, DataType::INT8, std::move(dims), v);
}
inline Tensor int64_tensor(const std::string& name, std::vector<int64_t> dims, const std::vector<int64_t>& v) {
    return make_tensor(name, DataType::INT64, std::move(dims), v);
}

inline Attribute int_attr(const std::string& name, int64_t v) {
    Attribute a;
    a.name = name;
    a.type = Attribute::INT;
    a.i = v;
    return a;
}
inline Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
    Attribute a;
    a.name = name;
    a.type = Attribute::INTS;
    a.ints = std::move(v);
    return a;
}
inline Attribute float_attr(const std::string& name, float v) {
    Attribute a;
    a.name = name;
    a.type = Attribute::FLOAT;
    a.f = v;
    return a;
}
inline Attribute string_attr(const std::string& name, std::string v) {
    Attribute a;
    a.name = name;
    a.type = Attribute::STRING;
    a.s = std::move(v);
    return a;
}

inline Node make_node(const std::string& op, const std::string& name, std::vector<std::string> in,
                      std::vector<std::string> out, std::vector<Attribute> attrs = {}) {
    Node n;
    n.op_type = op;
    n.name = name;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attributes = std::move(attrs);
    return n;
}

// A float tensor value with a fixed shape; -1 dimensions become the symbol "N".
inline ValueInfo float_value(const std::string& name, std::vector<int64_t> dims) {
    ValueInfo v;
    v.name = name;
    v.kind = ValueKind::TENSOR;
    v.elem_type = DataType::FLOAT;
    v.has_shape = true;
    for (int64_t d : dims) v.dim_params.push_back(d < 0 ? "N" : "");
    v.dims = std::move(dims);
    return v;
}

}  // namespace stacklab::nn::onnx
