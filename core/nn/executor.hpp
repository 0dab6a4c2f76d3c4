// Graph executor: runs a Graph (graph.hpp) node by node, with either kernel set, and reports the
// time of every node and, on request, every intermediate tensor (the UI's activation views and the
// chip emulator read them).
//
// Model vs data: prepare() turns an immutable Graph into an immutable Plan (weights packed once for
// the chosen kernels); run() takes the plan and the inputs and returns everything one run
// produced. Nothing is cached between runs (a Workspace recycles memory, never values), so two
// runs of one plan on the same inputs give the same bytes, and a plan may be shared by threads.
//
// Kernels::reference  every node through run_reference_node (reference_ops.hpp): the semantics.
// Kernels::fast       core/quant's kernels where a node fits them, the reference otherwise:
//   Conv (2-D, float, constant W)         quant::conv2d_f32 (im2col + blocked fp32 GEMM; depthwise direct)
//   Gemm / MatMul (float, constant B)     gemm_f32 below (blocked, vectorizable; k order fixed)
//   BatchNormalization (float)            folded at prepare time into y = x * a[c] + b[c]
//   LayerNormalization (last axis)        quant::layer_norm
//   Gelu Sigmoid Tanh HardSwish Erf       quant::activation / fast_erf
//   Softmax (last axis)                   quant::softmax
//   Relu, Add, Mul (float)                plain float loops (Add/Mul with numpy broadcasting)
//   MaxPool / AveragePool (2-D, no Indices output), GlobalAveragePool   quant pooling
//   MatMulInteger, ConvInteger (2-D)      weights packed once (quant::pack_b / pack_conv2d) and the
//                                         packed int8 kernels, int32 output
// Nodes whose inputs are all constants (DequantizeLinear of int8 weights in a QDQ model, shape ops
// on initializers) are folded: computed once by the reference at prepare time, after which the
// node that reads them sees a constant and can take its fast path (a QDQ Conv packs its
// dequantized weights like any fp32 Conv).
// QDQ int8 layers: a Conv / Gemm / MatMul whose X is DequantizeLinear(int8 or uint8, per tensor) and
// whose W is DequantizeLinear(int8 initializer, zero point 0, per tensor or per output channel)
// runs on the int8 kernels (quant::conv2d_*_s32 / gemm_*_s32, int32 accumulation) and writes
// y = float(acc) * (sx * sw[c]) + bias[c] — the integer arithmetic an int8 deployment does (ONNX
// Runtime fuses the same pattern into QLinearConv / QLinearMatMul). X's DequantizeLinear is
// skipped when nothing else reads it, and a following [Relu ->] QuantizeLinear (per tensor) that
// alone reads the result is fused in: the node then writes the int8 activations itself, with the
// same float operations, so no float tensor is materialized between int8 layers. The float path it replaces rounds each product; agreement
// with the reference is therefore within the Conv/Gemm float bound above.
// Everything else (shape ops, Quantize/DequantizeLinear, QLinearConv, QLinearMatMul, and any node
// outside the conditions above) runs the reference: for QLinear* the reference already computes
// its accumulators with core/quant's packed GEMM/convolution, and its requantization rule (a double
// product, onnx/reference's) is the one the semantics define.
//
// Agreement (asserted by tests/core/nn_executor_test.cpp):
//   integer outputs (int32, int8, uint8, int64 indices): bit-identical to the reference;
//   float outputs of one node, given the same inputs: within the dot-product bound of each fast
//   kernel — |fast - ref| <= (K + 2) * FLT_EPSILON * (sum |x| |w| + |bias|) for Conv/Gemm/MatMul
//   (quant::conv2d_f32_error_bound; Higham 2002 eq. 3.5), the documented bounds of norm.hpp,
//   activations.hpp and softmax.hpp for the others, and 4 * FLT_EPSILON * (|x| |a| + |b|) relative
//   for the folded BatchNormalization;
//   whole models: within kFastModelRtol of the reference on every output value, relative to the
//   output's largest magnitude (the per-node errors above compound through the layers; tests check
//   real models against it).
//
// Timing: a Clock returns milliseconds; only NodeTiming reads it, never a result. The default is
// std::chrono::steady_clock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/graph.hpp"
#include "quant/gemm.hpp"

namespace stacklab::nn {

enum class Kernels { reference, fast };
const char* kernels_name(Kernels k);  // "reference", "fast"

// Whole-model agreement of the fast kernels with the reference (see above).
constexpr double kFastModelRtol = 1e-4;

struct PreparedNode;  // the packed weights of one node (executor.cpp)

struct Plan {
    const Graph* graph = nullptr;  // must outlive the plan
    Kernels kernels = Kernels::fast;
    std::vector<std::shared_ptr<const PreparedNode>> nodes;  // one per graph node; null: reference
    // What runs each node: "reference", "conv2d_f32", "gemm_f32", ..., or "folded".
    std::vector<std::string> node_kernels;
    // Constant folding (fast kernels only): a node whose inputs are all constants ran once, on the
    // reference, in prepare(); node_folded marks it (run() skips it, timing 0) and folded holds its
    // outputs, one slot per Graph::tensors index (null: not folded).
    std::vector<bool> node_folded;
    std::vector<std::shared_ptr<const onnx::Tensor>> folded;
    // node_elided: a DequantizeLinear whose readers all take their int8 input directly (the QDQ
    // path below); run() skips it and its output has no value (unless keep_activations asks for
    // every tensor).
    std::vector<bool> node_elided;
    // node_fused: a Relu / QuantizeLinear absorbed by the QDQ Conv / Gemm before it, which then
    // writes the QuantizeLinear's output itself (same float operations, no float tensor in
    // between). run() skips it unless keep_activations or a node_override is given; its kernel
    // reads "fused into <node>".
    std::vector<bool> node_fused;
};

// Throws std::invalid_argument if the graph cannot be prepared (NodeError for a node whose
// constant weights do not fit its op).
Plan prepare(const Graph& g, Kernels kernels, quant::Isa isa = quant::best_isa());

using Clock = std::function<double()>;  // milliseconds since any fixed origin

struct NodeTiming {
    std::string name;     // GraphNode::label()
    std::string op_type;
    std::string kernel;   // Plan::node_kernels
    double ms = 0.0;
};

// Replaces the kernel of chosen nodes: called before each node runs, with the node's inputs (nullptr
// for an omitted optional one). Returning true means `outputs` now holds one tensor per
// GraphNode::outputs entry and the plan's kernel is skipped (its timing says kernel "override").
// The chip emulator (chip/graph_sim.hpp) runs float matrix nodes in fp16/bf16 this way.
using NodeOverride = std::function<bool(const GraphNode& node, const std::vector<const onnx::Tensor*>& inputs,
                                        std::vector<onnx::Tensor>& outputs)>;

// Buffers a run hands back when a tensor's last reader has run, for the next node or the next run
// to reuse. A run without one still recycles within itself; a caller that runs a plan many times
// (an evaluation loop, a benchmark, the UI) keeps one Workspace across runs, so that steady-state
// runs allocate nothing but their outputs: fresh multi-megabyte buffers come from mmap, and a page
// fault per 4 KiB on first touch cost more than the convolution itself (2.8x on the Fashion CNN
// at batch 64, measured). Results never depend on what a buffer held before: take() zero-fills,
// and take(bytes, false) — what the executor uses: every fast kernel writes each element of its
// output (convolutions, GEMMs and their int32 accumulators, pools, transposes, quantize, dequantize,
// activations, norms, softmax, elementwise, requantization) — skips the fill, which was 5-9 % of an
// int8 model's time, and the int32 accumulators' fill another 15 % of the int8 CNN's (a test runs
// both shipped models on a workspace full of garbage). Buffers are
// kept at their full capacity, so a later take(bytes, false) writes nothing. One Workspace serves
// one run at a time (not shared between threads).
struct Workspace {
    std::vector<std::vector<uint8_t>> free;  // recycled buffers (capacity is what counts)
    size_t max_buffers = 64;
    // A buffer of `bytes` (zero-filled unless zero_fill is false), from the smallest free buffer
    // that holds it (else new).
    std::vector<uint8_t> take(size_t bytes, bool zero_fill = true);
    void give(std::vector<uint8_t>&& buffer);
};

struct RunOptions {
    bool keep_activations = false;  // keep every tensor of the run in RunResult::activations
    Clock clock;                    // empty: std::chrono::steady_clock
    NodeOverride node_override;     // empty: every node runs the plan's kernel
    Workspace* workspace = nullptr; // empty: a workspace for this run only
};

struct RunResult {
    std::vector<onnx::Tensor> outputs;      // Graph::outputs, in order, named after them
    std::vector<NodeTiming> timings;        // one per node, in execution order
    // keep_activations: one entry per Graph::tensors index (inputs, every node output; constants
    // and omitted outputs stay empty). Otherwise empty.
    std::vector<onnx::Tensor> activations;
};

// inputs bind to Graph::inputs in order; element types must match and shapes must fit the declared
// ones (unknown dimensions take any size). Throws std::invalid_argument for a binding problem and
// NodeError for a node that cannot run.
RunResult run(const Plan& plan, const std::vector<onnx::Tensor>& inputs, const RunOptions& options = {});

// The fp32 GEMM of the fast path: C (M x N) = A (M x K) * B (K x N) (+ bias[n] when not null), all
// row-major and dense. Each output sums its K products in k order, then adds the bias, in float;
// relu: then x < 0 ? 0 : x (a Gemm / MatMul fused with the Relu after it).
void gemm_f32(const float* A, const float* B, const float* bias, float* C, int64_t M, int64_t K, int64_t N,
              bool relu = false);

}  // namespace stacklab::nn
