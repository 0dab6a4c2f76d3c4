// Reference executor for single ONNX nodes: short, obviously-correct loops that follow the ONNX
// operator documentation (onnx/docs/Operators.md) and onnx/reference/ops/*.py, so that ONNX's own
// backend node tests can check our kernels (`stacklab onnx-test`). Speed is not a goal; the
// integer matrix products do go through core/quant's GEMM where the types fit (u8/s8 A, s8 B), and
// 2-D ConvInteger / QLinearConv accumulators through core/quant's packed convolution (conv.hpp;
// the requantization stays the double-product rule below), so the suite exercises those kernels too.
//
// What runs (default domain only; opsets 1-22 unless a higher first version is given):
//   op                    opsets  element types                  notes
//   QuantizeLinear        10-22   float -> u8, s8, u16, s16       per tensor; per axis from 13
//   DequantizeLinear      10-22   u8, s8, u16, s16, s32 -> float  per tensor; per axis from 13
//   DynamicQuantizeLinear 11-22   float -> u8
//   QLinearMatMul         10-22   u8/s8 x u8/s8 -> u8/s8          scales per tensor, a per row,
//                                                                 b per column (2-D)
//   MatMulInteger         10-22   u8/s8 x u8/s8 -> s32            a_zero_point per tensor or
//                                                                 per row, b per column
//   QLinearConv           10-22   u8/s8 x u8/s8 -> u8/s8          w per output channel, s32 bias
//   ConvInteger           10-22   u8/s8 x u8/s8 -> s32
//   MatMul                1-22    float, double                  N-d, batch dims broadcast
//   Gemm                  7-22    float, double                  C broadcast to [M, N]
//   Conv                  1-22    float, double                  1-3 spatial dims
//   LayerNormalization    17-22   float, double                  stash_type 1 only
//   Softmax               1-22    float, double                  opset < 13: flattened to 2-D
//   Relu                  6-22    float, double, s8, s16, s32, s64
//   Sigmoid, Tanh         6-22    float, double
//   Erf                   9-22    float, double
//   HardSwish             14-22   float, double
//   MaxPool               1-22    float, double, u8, s8          1-3 spatial dims, Indices
//   AveragePool           1-22    float, double                  1-3 spatial dims
//   GlobalAveragePool     1-22    float, double
//   Add, Mul              7-22    u8..u64, s8..s64, float, double numpy broadcasting; integers
//                                                                 wrap as numpy's do
// Opset 22 is the newest whose semantics were checked against the spec for these ops; a model
// importing a newer opset is refused rather than silently run with older semantics.
//
// Arithmetic: float inputs are multiplied exactly in double and summed in double, then rounded
// once to the output type; transcendental functions run in double. This keeps results within the
// backend tests' tolerance of numpy's float32 results and the same on every target (no
// -ffast-math, no FMA contraction of our own). Quantized outputs round half to even, as ONNX
// requires, with the requantization multiplier computed in float and applied in double as
// onnx/reference does (C * (a_scale * b_scale / y_scale)).
//
// Errors: every problem throws NodeError naming the node, its op type and the opset.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/onnx_proto.hpp"

namespace stacklab::nn {

// A node the reference executor cannot run. what() reads
//   "QLinearConv node 'conv1' (opset 10): w_scale has 3 elements but w has 4 output channels"
// (a node without a name is named by its first output: "Relu node -> 'y' (opset 14): ...").
// unsupported(): the op, an attribute value, an element type or the opset is outside what this
// executor implements (the node may be valid ONNX); otherwise the inputs are invalid for the op.
class NodeError : public std::runtime_error {
public:
    NodeError(const onnx::Node& node, int64_t opset, const std::string& problem, bool unsupported);
    bool unsupported() const { return unsupported_; }
    const std::string& problem() const { return problem_; }

private:
    std::string problem_;
    bool unsupported_;
};

// The op types run_reference_node implements, sorted.
std::vector<std::string> reference_op_types();

// The output shapes of the shape-only ops (the fast executor uses them too). Throw
// std::invalid_argument naming the problem.
// Reshape: 0 copies the input dimension (unless allowzero), one -1 is inferred from numel.
std::vector<int64_t> reshape_dims(const std::vector<int64_t>& in, const std::vector<int64_t>& shape, bool allowzero,
                                  int64_t numel);
// Flatten: [prod(in[:axis]), prod(in[axis:])], axis in [-rank, rank].
std::vector<int64_t> flatten_dims(const std::vector<int64_t>& in, int64_t axis);

// Runs one node. inputs[i] is the tensor bound to node.inputs[i]; nullptr (or a missing trailing
// entry) marks an omitted optional input. `opset` is the model's import of node.domain.
// Returns one tensor per node.outputs entry, named after it; an entry whose output name is ""
// (an optional output that is not wanted) comes back as an empty Tensor.
std::vector<onnx::Tensor> run_reference_node(const onnx::Node& node, const std::vector<const onnx::Tensor*>& inputs,
                                             int64_t opset);

}  // namespace stacklab::nn
