// A whole ONNX model on a chip: every node of an nn::Graph (nn/graph.hpp) lowered to the chip model
// and timed at the roofline or the tile-level fidelity, and the same graph RUN with the executor
// (nn/executor.hpp), float matrix nodes in the chip's 16-bit format where it has one.
//
// core/chip depends on core/nn and core/quant here, as /work/shared/ARCHITECTURE.md allows.
//
// Data type per node (`node_dtypes`)
//   int8   ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul, and a float Conv / MatMul / Gemm
//          whose activation AND weight inputs both come straight from DequantizeLinear nodes (the QDQ
//          form ONNX Runtime and the lead's quantizer write: the chip runs the int8 operands).
//   float  other float matrix nodes: the chip's matrix float type, fp16 if the microarch has an fp16
//          shape, else bf16. A chip with neither (int8-only NPUs) cannot run them: std::invalid_argument
//          names the chip and the node and says to quantize the model.
//   vector ops take int8 when their input is an 8-bit integer tensor, else the chip float type
//          (fp16 where the chip has no float matrix mode: assumed, vector units handle fp16).
//   Tensors live on the chip in these types: float tensors 2 bytes per element, int8/uint8 1, int32 4.
//
// Lowering (`lower_graph`, on a graph with concrete shapes)
//   matrix    Conv / ConvInteger / QLinearConv as implicit GEMM: per group g (TileOp::batch = groups)
//             M = N x out spatial, N = Cout / g, K = Cin / g x kernel spatial; the input is read once
//             (TileOp::a_offchip_fraction, see tile_sim.hpp). MatMul / MatMulInteger / QLinearMatMul:
//             a 2-D B makes one GEMM with M = all leading rows of A; batched B makes `batch` GEMMs.
//             Gemm: M, N, K from the inferred shapes and transA. Output bytes: QLinear* 1 (requantized
//             int8), ConvInteger / MatMulInteger 4 (int32), QDQ int8 2 (dequantized to the float type
//             in the epilogue), float 2.
//   fusion    A matrix node whose output has exactly one consumer (and is not a graph output) absorbs
//             that consumer into its epilogue when it is Relu (act), BatchNormalization (folded:
//             scale into the weights, shift as the bias, as inference compilers do), Add of a constant
//             with one value per output channel (the bias), or, for an int8 node, QuantizeLinear
//             (requantization in the epilogue, as QLinearConv does: output 1 byte). The chain goes
//             on from the absorbed node (Conv -> BN -> Relu), bias-like post-ops before Relu only.
//             LayerNormalization followed by its only consumer Gelu runs as one vector op.
//             The absorbed node's output never goes off-chip: that is the traffic fusion saves.
//   vector    Add Mul Relu Sigmoid Tanh Erf Gelu HardSwish BatchNormalization LayerNormalization
//             Softmax: tile_sim vector ops over rows x cols (cols = the last axis, or the normalised
//             axes), passes Relu/Add/Mul 1, BN 2, Sigmoid/Tanh/HardSwish 3, Gelu/Erf 4 (assumed
//             evaluation costs, like tile_sim's), LayerNorm 3, Softmax 4; operands smaller than the
//             output (broadcast biases, scalars) are not counted as tensors read.
//             MaxPool / AveragePool (one pass per window element of each output),
//             GlobalAveragePool, QuantizeLinear and DequantizeLinear (2 passes: scale, round/clamp or
//             scale, shift) use the closed-form vector model below at BOTH fidelities (tile_sim has
//             no pooling or type-changing vector op).
//   movement  Transpose, Concat: every byte read and written once by the vector unit (1 pass); our
//             lowering plans no buffers, so a producer cannot write into the concatenation in place.
//   free      Reshape, Flatten (a contiguous row-major tensor keeps its bytes), Constant, and
//             DequantizeLinear of a constant (the weights are stored int8) or whose every consumer is
//             an int8 matrix node (the matrix unit reads the int8 tensor; the scale goes into the
//             requantization).
//
// Fidelities
//   roofline  every node: tile_sim.hpp's op_roofline of its lowering (matrix peak of the node's data
//             type from the microarch, compulsory off-chip bytes); vector-model nodes likewise with
//             bytes x passes / (vector_bytes_per_cycle x vector_cores x clock). Energy: MACs x mac_pj
//             (matrix) or processed bytes x vector_byte_pj (vector) plus off-chip bytes x
//             offchip_byte_pj; only off-chip bytes are reported. A lower bound.
//   tile      matrix and tile_sim vector nodes through simulate_tiles (bytes at every level); the
//             vector-model nodes keep their roofline row (`fidelity_used` says which per row).
//   Nodes run one after another; totals are sums.
//
// Timeline (tile fidelity, max_timeline_events > 0): every tile_sim node's per-core events
// (tile_sim.hpp's TimelineEvent, each node's first max_timeline_events) on the model's clock: a
// node's events are shifted by its OpRow::start_s, the time of the nodes before it. A node that
// repeats an earlier identical one (simulate_graph simulates it once) gets a shifted copy of that
// one's events. Vector-model, free and fused nodes have no events: their row still has its start
// and time, so a chart can mark where they run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chip/roofline.hpp"
#include "chip/tile_sim.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"

namespace stacklab::chip {

enum class Fidelity { roofline, tile };
const char* fidelity_name(Fidelity f);            // "roofline", "tile"
Fidelity parse_fidelity(const std::string& name);  // throws std::invalid_argument naming the value

enum class Lowered { matrix, vector, movement, free, fused };
const char* lowered_name(Lowered k);  // "matrix", "vector", "movement", "free", "fused"

// The chip's float matrix type (fp16, else bf16); false when it has neither.
bool chip_float_type(const Machine& m, DType& out);

// Per node: whether it has a chip data type (free shape ops and constants do not) and which.
struct NodeDType {
    bool has = false;
    DType dtype = DType::fp16;
    bool integer_matrix = false;  // an int8 matrix node (integer op or QDQ form)
};
// Throws std::invalid_argument naming the chip and the node when a float matrix node meets a chip
// without a float matrix mode.
std::vector<NodeDType> node_dtypes(const nn::Graph& g, const Machine& m);

struct NodeLowering {
    int node = -1;
    Lowered kind = Lowered::free;
    NodeDType type;
    std::string note;          // free / movement / vector-model: why
    int fused_into = -1;       // Lowered::fused: the node whose op absorbed this one
    std::vector<int> fused;    // the nodes this one absorbed, in order
    bool tile_sim = false;     // a TileOp simulate_tiles runs at tile fidelity
    TileOp op;                 // matrix and tile_sim vector nodes
    // Vector-model nodes (not tile_sim): elements processed x passes, and off-chip bytes.
    double vec_elems = 0;
    int vec_passes = 0;
    double vec_bytes_per_elem = 2;
    double in_bytes = 0, out_bytes = 0;
};

// `g` must have concrete shapes for every node (infer_shapes with concrete inputs).
// Throws std::invalid_argument naming the node whose shape is unknown or whose type the chip lacks.
// fuse = false lowers every node on its own (to show what fusion saves).
std::vector<NodeLowering> lower_graph(const nn::Graph& g, const Machine& m, bool fuse = true);

struct OpRow {
    std::string name, op;          // node label, ONNX op type
    std::string dtype;             // "int8", "fp16", "bf16", or "" (free)
    Lowered kind = Lowered::free;
    std::string fused_into;        // the absorbing node (kind == fused), else ""
    std::vector<std::string> fused_with;  // the nodes this one absorbed
    std::string fidelity_used;     // "tile", "roofline", or "none" (free and fused nodes)
    std::string note;
    Bound bound = Bound::compute;
    double ops = 0, cycles = 0, time_s = 0, roofline_s = 0, energy_j = 0;
    double start_s = 0;            // when the node starts: the sum of the times of the nodes before it
    double utilization = 0;        // matrix (matrix nodes) or vector (others) unit busy fraction
    LevelBytes bytes;              // roofline rows: offchip only
    Tile tile;                     // tile rows of tile_sim ops
};

struct ModelSim {
    std::string chip, model;
    Fidelity fidelity = Fidelity::roofline;
    int64_t batch = 1;
    std::vector<OpRow> rows;  // one per graph node, in graph order
    double cycles = 0, time_s = 0, roofline_s = 0, energy_j = 0;
    LevelBytes bytes;
    // Tile fidelity with max_timeline_events > 0 (see "Timeline" above): the events of every node in
    // row order, start_s / end_s on the model's clock, and the row each belongs to.
    std::vector<TimelineEvent> timeline;
    std::vector<int> timeline_row;  // index into rows, one per timeline event
    int64_t timeline_dropped = 0;   // events past each node's first max_timeline_events, summed
};

// The graph with every input's first dimension set to `batch` and shapes inferred. Throws
// std::invalid_argument (or nn::NodeError) naming the input or node that does not fit.
nn::Graph with_batch(const nn::Graph& g, int64_t batch);

// Lowers (a copy of) `g` at batch `batch` and times it. `model` only names it in the result. The
// copy leaves out the bytes of float initializers of rank >= 2 (the weights): timing needs their
// shapes, not their values, and the copy was most of the time for a large model.
// max_timeline_events > 0 at tile fidelity keeps each node's first that many events in
// ModelSim::timeline (0: none, the default; the figures are the same either way).
ModelSim simulate_model(const Machine& m, const nn::Graph& g, const std::string& model, int64_t batch,
                        Fidelity fidelity, bool fuse = true, size_t max_timeline_events = 0);

// Functional execution. MatrixNumerics::chip runs every float Conv (2-D) / Gemm / MatMul node whose
// chip type is fp16 or bf16 with quant::gemm_f16 (quant/gemm_float.hpp): both operands rounded to
// the 16-bit type (round to nearest even), products and sums in fp32 in k order, the fp32 result
// kept (bias, alpha/beta in fp32 after the GEMM). Conv: per image and group, C[Cout_g, OH*OW] =
// W[Cout_g, Cin_g*KH*KW] x im2col[Cin_g*KH*KW, OH*OW] (rows ordered c, kh, kw; padding zeros).
// QDQ-form int8 nodes (a float Conv / Gemm / MatMul on DequantizeLinear outputs) run as the chip
// would: the activation integers are recovered exactly from the dequantized floats (x / s rounds
// back to q - zp: x is one rounding of (q - zp) * s with |q - zp| <= 255), multiplied with the int8
// weight initializer on core/quant's packed integer GEMM (int32 accumulation), and written as
// float(acc) * (s_x * s_w[channel]) + bias in fp32. Handled: per-tensor activation scales, weight
// scales per tensor or per output channel; Conv 2-D with one group and int8 activations, Gemm with
// alpha = beta = 1 and no transA, MatMul with a 2-D weight; anything else stays on its fp32 kernel
// (listed in fp32_nodes).
// Every other node runs the plan's own kernels, so with MatrixNumerics::fp32 (or a graph without
// float matrix nodes, e.g. ConvInteger / QLinear* only) the outputs are nn::run's, bit for bit.
enum class MatrixNumerics { fp32, chip };

struct ChipRun {
    nn::RunResult result;
    std::string numerics;                 // e.g. "fp16 matrix inputs, fp32 accumulation; other ops fp32"
    std::vector<std::string> half_nodes;  // the nodes run with the 16-bit GEMM
    std::vector<std::string> int8_nodes;  // QDQ-form nodes run with the int8 GEMM
    std::vector<std::string> fp32_nodes;  // matrix nodes that kept their fp32 kernel (form not handled)
};
ChipRun run_on_chip(const nn::Plan& plan, const Machine& m, const std::vector<nn::onnx::Tensor>& inputs,
                    MatrixNumerics numerics = MatrixNumerics::chip, const nn::RunOptions& options = {});

}  // namespace stacklab::chip
