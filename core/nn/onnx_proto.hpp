// ONNX protobuf wire format: a small reader and writer for the ONNX message types, without
// libprotobuf (it does not build for our em++ target), so `.onnx` models and `.pb` tensors load
// byte for byte the same natively and in WebAssembly.
//
// What is read (field numbers from onnx/onnx.proto and onnx/onnx-data.proto, IR version 8):
//   ModelProto        ir_version=1 producer_name=2 producer_version=3 domain=4 model_version=5
//                     doc_string=6 graph=7 opset_import=8 metadata_props=14
//   OperatorSetIdProto domain=1 version=2        StringStringEntryProto key=1 value=2
//   GraphProto        node=1 name=2 initializer=5 doc_string=10 input=11 output=12 value_info=13
//   NodeProto         input=1 output=2 name=3 op_type=4 attribute=5 doc_string=6 domain=7
//   AttributeProto    name=1 f=2 i=3 s=4 t=5 g=6 floats=7 ints=8 strings=9 tensors=10 graphs=11
//                     doc_string=13 tp=14 type_protos=15 type=20 ref_attr_name=21
//                     sparse_tensor=22 sparse_tensors=23
//   TensorProto       dims=1 data_type=2 segment=3 float_data=4 int32_data=5 string_data=6
//                     int64_data=7 name=8 raw_data=9 double_data=10 uint64_data=11 doc_string=12
//                     external_data=13 data_location=14
//   ValueInfoProto    name=1 type=2 doc_string=3
//   TypeProto         tensor_type=1 sequence_type=4 map_type=5 sparse_tensor_type=8 optional_type=9
//   TypeProto.Tensor  elem_type=1 shape=2;  TensorShapeProto dim=1;  Dimension dim_value=1 dim_param=2
//   SequenceProto     name=1 elem_type=2 tensor_values=3 sequence_values=5 optional_values=7
//   OptionalProto     name=1 elem_type=2 tensor_value=3 sequence_value=5 optional_value=7
// Unknown fields of any wire type are skipped, as protobuf does (groups, wire types 3/4, are an
// error: ONNX never uses them). Repeated scalars are accepted packed and unpacked.
//
// Not decoded, kept as serialized bytes and written back unchanged: sparse-tensor and type-proto
// attributes, and the TypeProto of non-tensor values (sequences, maps, optionals). Skipped (not
// kept): ModelProto.functions/training_info, GraphProto.sparse_initializer/quantization_annotation,
// Dimension.denotation, TypeProto.denotation. Refused with an OnnxError: external data, segmented
// tensors, sparse or map values in `.pb` files.
//
// Every problem in the input throws OnnxError naming the file, the field path and the byte
// offset: "model.onnx: graph.node[2].attribute[0].t.dims: negative dimension -3 at byte 57".
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace stacklab::nn::onnx {

// A malformed or unsupported ONNX input. `path` is the message/field path in the style
// `graph.node[3].attribute[1].t.dims` (empty at the top level); `offset` the byte in the file.
class OnnxError : public std::runtime_error {
public:
    OnnxError(std::string file, std::string path, size_t offset, const std::string& problem);
    const std::string& file() const { return file_; }
    const std::string& path() const { return path_; }
    size_t offset() const { return offset_; }

private:
    std::string file_;
    std::string path_;
    size_t offset_;
};

// TensorProto.DataType codes.
enum class DataType : int32_t {
    UNDEFINED = 0,
    FLOAT = 1,
    UINT8 = 2,
    INT8 = 3,
    UINT16 = 4,
    INT16 = 5,
    INT32 = 6,
    INT64 = 7,
    STRING = 8,
    BOOL = 9,
    FLOAT16 = 10,
    DOUBLE = 11,
    UINT32 = 12,
    UINT64 = 13,
    COMPLEX64 = 14,
    COMPLEX128 = 15,
    BFLOAT16 = 16,
    // 17-20 are the float8 types (not supported: unknown to this reader).
    UINT4 = 21,  // [0, 15]; onnx.proto, opset 21 / IR version 10
    INT4 = 22,   // [-8, 7], two's complement
};

// Bytes per element in Tensor::data: 4 for FLOAT, 2 for FLOAT16 and BFLOAT16 (their bit
// patterns), 1 for BOOL, 8 for COMPLEX64, 1 for INT4 and UINT4 (held unpacked, see Tensor); 0 for
// UNDEFINED and STRING (kept in Tensor::strings).
size_t element_size(DataType t);
// The names of ONNX type strings, as in "tensor(float)": "float", "uint8", ..., "bfloat16";
// "undefined" for UNDEFINED and for codes outside the enum.
const char* dtype_name(DataType t);
// Whether `code` is one of the DataType values above.
bool is_known_dtype(int32_t code);

// The 4-bit types' packing (see Tensor): element i in the low nibble of byte i / 2 when i is even,
// the high nibble when odd. unpack_4bit writes `numel` elements from (numel + 1) / 2 bytes,
// sign-extending INT4; pack_4bit throws std::invalid_argument naming the first element outside the
// type's range ([-8, 7] as int8 for INT4, [0, 15] for UINT4). Both throw for other types.
bool is_4bit(DataType t);
void unpack_4bit(DataType t, const uint8_t* packed, size_t numel, uint8_t* out);
std::vector<uint8_t> pack_4bit(DataType t, const uint8_t* values, size_t numel);

namespace detail {
// Which C++ element type reads which DataType; FLOAT16 and BFLOAT16 read as their uint16_t bits.
template <class T>
constexpr bool reads_as(DataType t) {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, float>) return t == DataType::FLOAT;
    else if constexpr (std::is_same_v<U, double>) return t == DataType::DOUBLE;
    else if constexpr (std::is_same_v<U, bool>) return t == DataType::BOOL;
    else if constexpr (std::is_same_v<U, int8_t>) return t == DataType::INT8 || t == DataType::INT4;
    else if constexpr (std::is_same_v<U, uint8_t>)
        return t == DataType::UINT8 || t == DataType::BOOL || t == DataType::UINT4;
    else if constexpr (std::is_same_v<U, int16_t>) return t == DataType::INT16;
    else if constexpr (std::is_same_v<U, uint16_t>)
        return t == DataType::UINT16 || t == DataType::FLOAT16 || t == DataType::BFLOAT16;
    else if constexpr (std::is_same_v<U, int32_t>) return t == DataType::INT32;
    else if constexpr (std::is_same_v<U, uint32_t>) return t == DataType::UINT32;
    else if constexpr (std::is_same_v<U, int64_t>) return t == DataType::INT64;
    else if constexpr (std::is_same_v<U, uint64_t>) return t == DataType::UINT64;
    else return false;
}
[[noreturn]] void throw_wrong_element_type(DataType t, const char* requested);
}  // namespace detail

// Tensor::data holds elements as they lie in memory on every StackLab target.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "StackLab targets are little-endian");

// A dense tensor. However the file stored it (raw_data, or the typed repeated fields float_data,
// int32_data, int64_data, double_data, uint64_data), `data` holds numel() elements packed
// little-endian, element_size(dtype) bytes each: a reader never has to look at the encoding.
// INT4 and UINT4 are the exception to "as the file stores them": the file packs two elements per
// byte (raw_data, or int32_data entries of one packed byte each; element 2i in the low nibble,
// 2i+1 in the high one, a zero high nibble after an odd count: onnx/docs/IR.md "4 bit integer
// types", onnx.helper.make_tensor), while `data` holds one element per byte, INT4 sign-extended to
// int8 ([-8, 7]) and UINT4 as uint8 ([0, 15]), so every reader of int8 / uint8 data reads them
// unchanged (as<int8_t>() on INT4, as<uint8_t>() on UINT4). The writer packs them again and
// refuses a value outside the type's range.
struct Tensor {
    std::string name;
    DataType dtype = DataType::UNDEFINED;
    std::vector<int64_t> dims;         // empty: a scalar
    std::vector<uint8_t> data;         // numel() * element_size(dtype) bytes
    std::vector<std::string> strings;  // STRING tensors only: numel() entries
    std::string doc_string;

    int64_t numel() const;  // product of dims (1 for a scalar)

    // The elements as T; T must read dtype (float for FLOAT, uint16_t for FLOAT16, uint8_t or
    // bool for BOOL, ...), else std::logic_error. Valid while the tensor is alive and unchanged.
    template <class T>
    const T* as() const {
        if (!detail::reads_as<T>(dtype)) detail::throw_wrong_element_type(dtype, element_type_name<T>());
        return reinterpret_cast<const T*>(data.data());
    }
    template <class T>
    std::vector<T> to_vector() const {
        if (!detail::reads_as<T>(dtype)) detail::throw_wrong_element_type(dtype, element_type_name<T>());
        std::vector<T> out(data.size() / sizeof(T));
        if (!out.empty()) std::memcpy(out.data(), data.data(), out.size() * sizeof(T));
        return out;
    }

private:
    template <class T>
    static const char* element_type_name() {
        using U = std::remove_cv_t<T>;
        if constexpr (std::is_same_v<U, float>) return "float";
        else if constexpr (std::is_same_v<U, double>) return "double";
        else if constexpr (std::is_same_v<U, bool>) return "bool";
        else if constexpr (std::is_integral_v<U>) return std::is_signed_v<U> ? "a signed integer" : "an unsigned integer";
        else return "an unsupported element type";
    }
};

struct Graph;

// One node attribute. `type` says which value field is meaningful.
struct Attribute {
    // AttributeProto.AttributeType codes.
    enum Type : int32_t {
        UNDEFINED = 0,
        FLOAT = 1,
        INT = 2,
        STRING = 3,
        TENSOR = 4,
        GRAPH = 5,
        FLOATS = 6,
        INTS = 7,
        STRINGS = 8,
        TENSORS = 9,
        GRAPHS = 10,
        SPARSE_TENSOR = 11,
        SPARSE_TENSORS = 12,
        TYPE_PROTO = 13,
        TYPE_PROTOS = 14,
    };
    std::string name;
    Type type = UNDEFINED;
    float f = 0.0f;                    // FLOAT
    int64_t i = 0;                     // INT
    std::string s;                     // STRING (bytes, usually UTF-8)
    Tensor t;                          // TENSOR
    std::vector<float> floats;         // FLOATS
    std::vector<int64_t> ints;         // INTS
    std::vector<std::string> strings;  // STRINGS
    std::vector<Tensor> tensors;       // TENSORS
    std::vector<Graph> graphs;         // GRAPH: exactly one (see graph()); GRAPHS: any number
    // SPARSE_TENSOR(S), TYPE_PROTO(S): the serialized messages, not decoded (one entry for the
    // singular types). Written back unchanged.
    std::vector<std::string> opaque;
    std::string ref_attr_name;  // in function bodies: refers to the caller's attribute
    std::string doc_string;

    const Graph& graph() const;  // the GRAPH value; std::logic_error for other types
};

const char* attribute_type_name(Attribute::Type t);  // "FLOAT", "INTS", ...; "UNDEFINED" otherwise

struct Node {
    std::string name, op_type, domain, doc_string;
    std::vector<std::string> inputs, outputs;  // "" marks an omitted optional input
    std::vector<Attribute> attributes;

    const Attribute* attr(const std::string& name) const;  // nullptr when absent
};

// What kind of value a ValueInfo or a Value describes (SequenceProto.DataType codes).
enum class ValueKind : int32_t { UNDEFINED = 0, TENSOR = 1, SPARSE_TENSOR = 2, SEQUENCE = 3, MAP = 4, OPTIONAL = 5 };
const char* value_kind_name(ValueKind k);  // "tensor", "sequence", ...

// The declared type of a graph input, output or intermediate value.
struct ValueInfo {
    std::string name;
    std::string doc_string;
    // TENSOR / SPARSE_TENSOR: elem_type and the shape below are decoded. SEQUENCE, MAP, OPTIONAL
    // (and UNDEFINED with a non-empty type_proto, for types this reader does not know):
    // type_proto holds the serialized TypeProto. UNDEFINED with an empty type_proto: no type.
    ValueKind kind = ValueKind::UNDEFINED;
    DataType elem_type = DataType::UNDEFINED;
    bool has_shape = false;               // false: the rank is unknown, dims is empty
    std::vector<int64_t> dims;            // -1 where the dimension has no fixed size
    std::vector<std::string> dim_params;  // same length as dims: the symbol ("N") or ""
    std::string type_proto;
};

struct Graph {
    std::string name, doc_string;
    std::vector<Node> nodes;
    std::vector<Tensor> initializers;
    std::vector<ValueInfo> inputs, outputs, value_info;
};

struct Model {
    int64_t ir_version = 0;
    std::vector<std::pair<std::string, int64_t>> opset_imports;  // (domain, version)
    std::string producer_name, producer_version, domain, doc_string;
    int64_t model_version = 0;
    Graph graph;
    std::vector<std::pair<std::string, std::string>> metadata_props;

    // The imported version of `domain` ("" and "ai.onnx" name the default domain); 0 if absent.
    int64_t opset(const std::string& domain = "") const;
};

// A value of ONNX test data (`test_data_set_*/input_0.pb`): a TensorProto, SequenceProto or
// OptionalProto, which the model's ValueInfo::kind tells apart (the bytes do not).
struct Value {
    std::string name;
    ValueKind kind = ValueKind::UNDEFINED;
    Tensor tensor;                // TENSOR
    ValueKind elem_kind = ValueKind::UNDEFINED;  // SEQUENCE, OPTIONAL: the kind of the elements
    std::vector<Value> elements;  // SEQUENCE: the elements; OPTIONAL: none (empty) or one
};

// Parsers. `file_name` only names the input in errors. parse_model requires a graph.
Model parse_model(const std::string& bytes, const std::string& file_name);
Tensor parse_tensor(const std::string& bytes, const std::string& file_name);
// kind: TENSOR, SEQUENCE or OPTIONAL (the others throw OnnxError).
Value parse_value(const std::string& bytes, const std::string& file_name, ValueKind kind);

// Writers for the same subset: parse(serialize(x)) == x. Tensors are written as raw_data
// (string_data for STRING). Inconsistent input (data size not matching dims, a GRAPH attribute
// without exactly one graph, ...) throws std::invalid_argument naming the field path.
std::string serialize_model(const Model& m);
std::string serialize_tensor(const Tensor& t);
std::string serialize_value(const Value& v);

// Field-by-field equality. Floats (Attribute::f, floats) compare by bit pattern, so NaN equals
// NaN and 0.0 differs from -0.0: equal values serialize to equal bytes.
bool operator==(const Tensor& a, const Tensor& b);
bool operator==(const Attribute& a, const Attribute& b);
bool operator==(const Node& a, const Node& b);
bool operator==(const ValueInfo& a, const ValueInfo& b);
bool operator==(const Graph& a, const Graph& b);
bool operator==(const Model& a, const Model& b);
bool operator==(const Value& a, const Value& b);
inline bool operator!=(const Tensor& a, const Tensor& b) { return !(a == b); }
inline bool operator!=(const Attribute& a, const Attribute& b) { return !(a == b); }
inline bool operator!=(const Node& a, const Node& b) { return !(a == b); }
inline bool operator!=(const ValueInfo& a, const ValueInfo& b) { return !(a == b); }
inline bool operator!=(const Graph& a, const Graph& b) { return !(a == b); }
inline bool operator!=(const Model& a, const Model& b) { return !(a == b); }
inline bool operator!=(const Value& a, const Value& b) { return !(a == b); }

}  // namespace stacklab::nn::onnx
