// Graph IR: the model a StackLab executor, quantizer and chip emulator work on, imported from ONNX.
//
// A Graph is immutable data once built (model vs data: the executor keeps the state of one run
// apart, executor.hpp). Tensors are numbered; nodes refer to them by index and are stored in
// topological order, which import_onnx checks (ONNX requires it too: onnx/docs/IR.md, "Graphs":
// "nodes ... MUST be topologically sorted").
//
// What imports (default domain "" / "ai.onnx" only; the model's default-domain opset must be 13 to
// 22, and each op's own first version applies on top, e.g. LayerNormalization from 17, Gelu 20):
//   Conv ConvInteger QLinearConv MatMul MatMulInteger QLinearMatMul Gemm Add Mul Relu Sigmoid Tanh
//   Erf Gelu HardSwish LayerNormalization BatchNormalization Softmax MaxPool AveragePool
//   GlobalAveragePool Flatten Reshape Transpose Concat QuantizeLinear DequantizeLinear Constant
// 13 is where Softmax, Reshape-by-input and per-axis QuantizeLinear all have today's meaning; 22 is
// the newest opset whose semantics core/nn/reference_ops.cpp was checked against. Attributes and
// element types are checked by the reference executor when a node runs, with the same error type.
//
// Errors: everything about one node (unsupported op, domain or opset, an input that is produced
// later or nowhere, a shape that does not fit) throws NodeError (reference_ops.hpp), whose message
// names the node, its op type and the opset:
//   "Frobnicate node 'f1' (opset 13): op type 'Frobnicate' is not supported by the graph importer"
// Malformed bytes throw onnx::OnnxError (file, field path, byte offset); graph-level problems (no
// inputs, an output nobody produces) std::invalid_argument naming the value.
//
// Shapes: a dimension is a size >= 0 or kUnknownDim (-1) where the file leaves it symbolic ("N").
// infer_shapes propagates shapes from the inputs through every node with the rules of the ONNX
// operator specs; unknown dimensions stay unknown until concrete input shapes are given.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nn/onnx_proto.hpp"
#include "nn/reference_ops.hpp"

namespace stacklab::nn {

constexpr int64_t kUnknownDim = -1;
constexpr int64_t kMinOpset = 13;
constexpr int64_t kMaxOpset = 22;

enum class OpType {
    Conv, ConvInteger, QLinearConv, MatMul, MatMulInteger, QLinearMatMul, Gemm, Add, Mul, Relu, Sigmoid,
    Tanh, Erf, Gelu, HardSwish, LayerNormalization, BatchNormalization, Softmax, MaxPool, AveragePool,
    GlobalAveragePool, Flatten, Reshape, Transpose, Concat, QuantizeLinear, DequantizeLinear, Constant,
};
const char* op_type_name(OpType op);
// The op types import_onnx accepts, in the order of the enum.
std::vector<std::string> supported_op_types();

// Affine quantization parameters of a tensor (real = (q - zero_point) * scale), known where a
// QuantizeLinear / DequantizeLinear / QLinear* node names constant scales for it. Empty scale: not
// quantized (or not known). axis = -1: per tensor, else one scale per index of that axis.
struct TensorQuant {
    std::vector<float> scale;
    std::vector<int32_t> zero_point;
    int64_t axis = -1;
    bool empty() const { return scale.empty(); }
};

struct TensorInfo {
    std::string name;
    onnx::DataType dtype = onnx::DataType::UNDEFINED;
    bool has_shape = false;       // false: not even the rank is known
    std::vector<int64_t> shape;   // kUnknownDim where not known
    int producer = -1;            // index of the node that writes it; -1 for inputs and initializers
    int initializer = -1;         // index into Graph::initializers, or -1
    TensorQuant quant;
};

struct GraphNode {
    OpType op = OpType::Relu;
    onnx::Node proto;           // as in the file: name, op type, attributes (the reference executor reads them)
    int64_t opset = 0;          // the model's import of the node's domain
    std::vector<int> inputs;    // tensor indices; -1 marks an omitted optional input
    std::vector<int> outputs;   // tensor indices; -1 marks an omitted optional output
    std::string label() const;  // the node's name, or "-> <first output>" when it has none
};

struct Graph {
    std::string name;
    int64_t opset = 0;
    std::vector<TensorInfo> tensors;
    std::vector<onnx::Tensor> initializers;  // the weights, as read
    std::vector<GraphNode> nodes;            // topological order
    std::vector<int> inputs;                 // graph inputs that are not initializers
    std::vector<int> outputs;
    std::vector<std::pair<std::string, std::string>> metadata;  // ModelProto.metadata_props

    int find(const std::string& tensor_name) const;  // -1 when absent
    // The initializer bound to tensor t, or nullptr when t is not a constant.
    const onnx::Tensor* constant(int t) const;
};

// Builds the graph and runs infer_shapes with the declared input shapes.
Graph import_onnx(const onnx::Model& model);
// parse_model + import_onnx; `file_name` only names the input in errors.
Graph load_onnx(const std::string& bytes, const std::string& file_name);

// Recomputes the shape and element type of every tensor a node produces. input_shapes, when not
// empty, gives one shape per graph input (same rank as declared; a declared fixed dimension must
// match). Throws NodeError naming the node whose inputs do not fit.
void infer_shapes(Graph& g, const std::vector<std::vector<int64_t>>& input_shapes = {});

// "[N,1,28,28]"-style text with "?" for unknown dimensions.
std::string shape_text(const std::vector<int64_t>& shape);

}  // namespace stacklab::nn
