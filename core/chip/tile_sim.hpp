// Tile-level simulation: the second fidelity of the chip emulator. Each operator is lowered to
// tiles that fit a core's buffers, the tiles are dealt to the cores, and every core runs a
// discrete-event pipeline  DMA in -> matrix unit -> vector unit -> DMA out  with double buffering,
// while all cores share the off-chip and L2 bandwidth.
//
// The machine (`Machine`) is read from a catalog chip's `microarch` object (chip/catalog.hpp)
// plus its off-chip bandwidth figure. The rules, each a modelling choice a student can question:
//
// Peak (one rule with the roofline, roofline.hpp): the matrix unit of each data type steps at
//   matrix_hz = catalog peak figure (as picked) / (matrix_cores x M*K*N x 2), so its peak is the
//   figure `simulate --gemm` and a model's roofline rows use. The vector units, DMA ports and the
//   reported cycles keep the microarch clock. A type without a catalog figure steps at the clock.
//   The two agree within 1.2% for every catalog chip (the 310P's 1080 MHz derives 141.6 int8 TOPS
//   against 140) except the Ascend 910B, whose microarch (24 cores, 1.8 GHz: the 910B2 bin) derives
//   353.9 TFLOPS fp16 against the catalog's default 320: its cube steps at 1627.6 MHz here
//   (Machine::derived_peak_ops_per_s keeps the 353.9).
//
// Lowering
//   * GEMM C[M,N] = A[M,K] B[K,N] (times `batch` independent GEMMs) is cut into output tiles
//     tm x tn and K chunks tk. tm, tn, tk are multiples of the matrix unit's M, N, K (edge tiles
//     are padded up to the unit: padded MACs cost cycles and energy, as on the hardware).
//     A tile fits when, double-buffered, the A chunk fits half of L0A, the B chunk half of L0B,
//     the tm x tn accumulators (4 bytes: int32 / fp32) half of L0C, both chunks twice in L1,
//     and the tm x tn output tile twice in the unified buffer (UB).
//   * Conv is lowered as implicit GEMM: M = batch*OH*OW, N = Cout, K = Cin*KH*KW. The im2col
//     matrix is never stored; the first load of an A panel costs off-chip only its share of the
//     input tensor (input bytes / im2col bytes), the overlapping windows come from L2.
//   * Elementwise, LayerNorm (3 passes: mean, variance, normalise+affine) and softmax (4 passes:
//     max, subtract+exp, sum, scale) are vector ops on row tiles that fit half the UB; GELU
//     costs 4 passes and SiLU 3 (polynomial/exp evaluation; assumed). A vector op's time on a
//     tile is bytes * passes / vector_bytes_per_cycle.
//   * Gather (an embedding lookup) is a vector op over the rows it reads: each row of the table is
//     a contiguous run of cols x table_bytes, so DMA moves it at the rate of any row tile (the
//     row addresses are data-dependent, but a row of >= 1 KiB amortises the scattered start as a
//     GPU's coalesced loads and Ascend's DataCopy of a GM row do). Its off-chip bytes are the rows
//     read as stored plus the rows written in the output type; the vector unit only converts a
//     narrower stored table (b_stored_bytes, `passes` passes over the converted row; 0 passes: a
//     plain copy that never occupies the vector unit). It is not a GEMM: no MACs, no L2 reuse
//     (one token's row is read once per step; repeated tokens are not deduplicated).
//   * A GEMM's epilogue (the move out of L0C through the vector unit, 1 pass, plus fused bias 1,
//     ReLU 1, GELU 4, SiLU 3) runs on the vector cores paired with the matrix core
//     (vector_cores / matrix_cores of them). Fusion therefore changes the lowering: an unfused
//     GEMM + bias + ReLU writes C off-chip and reads it back twice; the fused one writes it once.
// Tiling search: every candidate tile (powers of two times the unit shape) that fits is scored
//   with the same cost model in closed form (max of compute, off-chip, L2 and vector time per
//   core plus one pipeline fill); among the candidates within 1% of the cheapest, the largest
//   output tile (then the deepest K chunk) wins. `TileOp::tile`
//   overrides the search (it must fit, or std::invalid_argument names the buffer).
// Distribution: output tiles go round-robin to the cores in row-major order over the batch, M, N;
//   where an operand that does not fit the L2 is shared, in the grouped order `TileOrder` picks and
//   dynamically (see "L2 reuse" below).
// Stored B formats (GEMM): B may be stored narrower than the matrix type: packed 4/6/8-bit
//   weights with their group scales under A16 (W4A16, W6A16, W8A16), an int8 KV cache read by
//   fp16 attention. DMA moves the stored bytes (off-chip, L2, L1); the vector cores paired with the
//   matrix core convert each loaded B chunk to the matrix type (b_dequant_passes passes over the
//   converted chunk, at the epilogue's vector rate) before the cube reads it, so L0 bytes are in
//   the matrix type. That conversion of chunk s+1 overlaps the matrix work on chunk s (double-
//   buffered), so a K step takes the longer of the two: max(matrix cycles / matrix rate,
//   conversion cycles / clock). Its vector time counts as vector busy time, its bytes (read and
//   written) as UB bytes. This is how Ascend's weight-only quantized matmuls work (the AIV
//   cores dequantize, the AIC cube multiplies fp16); on a GPU the conversion happens in registers
//   in the same overlapped way. Contention between the conversion and the same vector cores'
//   epilogue work is not modelled. The tile fit rules keep the matrix type's bytes for B (an upper
//   bound: the converted chunk is what L0B and L1 hold).
//   b_onchip: the operand was placed in L2 beforehand (an on-chip KV cache): every load of it is
//   an L2 load, none goes off-chip, and it is not part of the op's compulsory off-chip bytes.
// Memory: an operand whose bytes fit in half of L2 is resident: its first load of each panel
//   comes from off-chip and later loads of the same panel from L2. Outputs are written off-chip
//   (they take no L2 capacity here: write-through / streaming stores).
// L2 reuse of an operand that does not fit (streamed). Two parts: an L2 that keeps what was
//   fetched, and a tile order that makes the concurrent tiles share what it keeps.
//   The L2: a streamed operand's chunks (tm x tk of A, tk x tn of B, as stored) pass through an
//     LRU of half the L2 (the half a resident operand does not use). A load whose chunk is there
//     reads it from L2 (and refreshes it), else fetches it off-chip and inserts it, evicting the
//     least recently used chunks. Every chunk is fetched at least once, so off-chip bytes never
//     fall below the compulsory ones; every load not fetched off-chip is counted as L2 bytes.
//   The order: output tiles are traversed in groups, as Triton's matmul tutorial ("L2 Cache
//     Optimizations": GROUP_SIZE_M, program ids grouped so that a group of block rows is swept
//     column by column; triton-lang.org, getting-started/tutorials/03-matrix-multiplication),
//     CUTLASS's threadblock swizzle (include/cutlass/gemm/threadblock/threadblock_swizzle.h) and
//     Ascend C's Matmul L2 cache tiling (CANN best practices, "Matmul High-level API Enabling L2
//     Cache Tiling": the operands split so each part's data fits and hits the L2) do:
//     m-groups of G tile rows: within a group, column by column (ni outer, mi inner). The group's
//       G A row panels (tm x K) stay in L2 for its sweep over N; each B column panel (K x tn) is
//       fetched once per group and shared by the group's G rows, which run at the same time (a
//       wave of P = min(tiles, cores) tiles spans ceil(P/G) columns).
//     n-groups of G tile columns: the same with A and B exchanged (mi outer, ni inner).
//     Row-major (the static order) is n-groups of all the tile columns.
//   Planning, in closed form (the same estimate scores the tiling search's candidates):
//     working set = live groups x G x held panel + (ceil(P/G) + 1) x swept panel, counting only
//       operands that stream; live groups is 1, or ceil(P / group tiles) + 1 when a group is
//       smaller than a wave (a batch of small GEMMs, e.g. MoE experts).
//     it fits the LRU (half the L2; the "+ 1" swept panel is the headroom an LRU swept cyclically
//       needs):   held once, swept once per group;
//     else, G <= P: panels shared only inside a wave's G x P/G block: held ceil(across x G / P)
//       times, plus one (waves are not aligned to the panels) where a panel has several users;
//       swept once per group;
//     else: held once per tile column (row); swept once per group when P held panels and two
//       swept ones fit, else once per wave.
//     A group that holds a short edge tile row (column) fetches its swept panels once more: those
//     tiles finish early and their cores run ahead. For m-groups and n-groups every G from 1 to P
//     and the largest fitting one beyond P are scored; the order with the fewest estimated
//     off-chip bytes wins (ties: row-major, then m-groups, then the smaller G). Row-major stays
//     whenever grouping saves nothing (every operand resident, one tile row, ...).
//   Dispatch: the reuse needs the tiles in flight to be a window of the order. Where a streamed
//     chunk has more than one user, tiles are dispatched dynamically: a core takes the next tile of
//     the order when it starts loading one, as a GPU's block scheduler hands the next block to a
//     free SM. With the static deal (tile i to core i mod P, Ascend's block_idx loop), cores that
//     fall behind drift out of the LRU's window and re-fetch (a 64000-row GEMM on the H100 model
//     read its A panels ~3x). Everywhere else (all operands resident; a weight read by one token
//     row, as in decode) the static round-robin deal and row-major order stay, so those
//     simulations are unchanged.
//   In-flight fetches: a load that finds a streamed chunk in the LRU while the load that fetched
//     it is still in flight completes no earlier than that fetch (an L2 merges requests to a line
//     that is on its way, an MSHR hit on a GPU), and a fetch that other loads merged into is pulled
//     from off-chip at its share of the off-chip bandwidth, not capped by the fetching core's DMA
//     port (the sharers' requests are outstanding too). Resident operands' first touches are not
//     gated so (their panels are shared after the first wave: a small effect).
//   Plan vs simulation: the closed form counts what the simulation fetches. Measured (fp16, the
//     search's tile and order, tests/core/chip_tile_sim_test.cpp asserts 25% over 8 overflowing
//     GEMMs on the H100, A100, 910B, BR100, MLU370): within 0.97-1.18x where both operands
//     overflow. Before the two rules above and the "Bandwidth" rule below, hits completed before
//     the fetch they shared and an off-chip load used no L2 bandwidth, so a miss could be faster
//     than a hit: the fetching core ran ahead, the tiles of a wave drifted apart by more than the
//     LRU holds, and the simulation read 2.4-2.7x the plan (DeepSeek-V2-Lite's 64000 x 2048 x
//     10944 down projection on the H100: 11.8 GB, 6.9x its compulsory 1.71 GB; now 4.52 GB, 2.65x,
//     against 4.44 GB planned), while the plan, fitted to a quarter of the L2, overestimated others
//     1.6-2x (Qwen2.5-7B's 16384-row gate+up on the H100: 7.5 GB planned, 4.35 GB simulated; now
//     3.26 planned and 3.27 simulated, its order reading fewer bytes). Time: that down projection
//     3.58 -> 4.84 ms (the L2 now carries the misses too: the H100 model is L2-bound there),
//     Qwen2.5-7B prefill (2 x 256) on the H100 1.68x -> 1.95x the roofline estimate; a decode step
//     is unchanged (no streamed chunk has two users there).
//   What is left out: L2 set conflicts and replacement other than LRU, the output's L2 footprint.
// Bandwidth: off-chip and L2 are fair-share servers (processor sharing): n concurrent transfers
//   each get bandwidth / n, and an off-chip transfer at most one core's DMA port
//   (core_dma_bytes_per_cycle x clock; see "In-flight fetches" for the exception). An off-chip
//   load also crosses the L2 on its way to L1 (GPUs and Ascend fill L2 lines from DRAM), so it
//   takes an L2 share too, max-min fairly: at most its off-chip rate, the L2 loads splitting the
//   rest. Stores go off-chip only (write-through / streaming). The tiling search's closed form
//   counts every load against the L2 bandwidth likewise. Each core has one DMA-in and one DMA-out
//   engine.
// Energy: padded MACs x mac_pj + bytes x pj at each level + vector bytes x vector_byte_pj.
// Bytes per level: offchip = read + written; l2 = bytes served from L2; l1 = bytes DMA writes
//   into L1; l0 = bytes moved L1 -> L0A/L0B plus accumulators read out of L0C; ub = bytes the
//   vector passes read and write.
//
// A simulated time is never below the roofline of the same machine (compute: ideal ops / the
// machine's peak; memory: compulsory off-chip bytes / off-chip bandwidth): the matrix unit never
// runs faster than its peak and every compulsory byte crosses the shared off-chip server once.
// All arithmetic is +, -, *, /, min, max and ceil on doubles, so results are bit-identical
// natively and in WebAssembly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chip/catalog.hpp"
#include "chip/roofline.hpp"

namespace stacklab::chip {

struct MatrixShape {
    int m = 0, k = 0, n = 0;  // 0: the data type is not supported
    bool supported() const { return m > 0; }
    double macs() const { return double(m) * k * n; }
};

// The numbers the simulator runs on, read from one chip. Plain data: tests build their own.
struct Machine {
    std::string chip_id;
    int matrix_cores = 0, vector_cores = 0;
    double clock_hz = 0;
    MatrixShape shape[3];  // indexed by DType
    double vector_bytes_per_cycle = 0;
    double l0a_bytes = 0, l0b_bytes = 0, l0c_bytes = 0, l1_bytes = 0, ub_bytes = 0, l2_bytes = 0;
    double offchip_bytes_per_s = 0, l2_bytes_per_s = 0, core_dma_bytes_per_cycle = 0;
    double mac_pj[3] = {0, 0, 0};  // by DType
    double vector_byte_pj = 0, l0_byte_pj = 0, l1_byte_pj = 0, ub_byte_pj = 0, l2_byte_pj = 0,
           offchip_byte_pj = 0;

    // Matrix-unit steps (one M x K x N block product) per second, by DType; 0 means clock_hz.
    // machine_of sets it so that the matrix peak equals the catalog's figure (see the header).
    double matrix_hz[3] = {0, 0, 0};

    const MatrixShape& unit(DType t) const { return shape[int(t)]; }
    double matrix_rate(DType t) const;  // matrix_hz[t], or clock_hz where that is 0
    // matrix_cores x M*K*N x 2 x matrix_rate(t): the peak every fidelity uses; 0 when the type is
    // not supported.
    double peak_ops_per_s(DType t) const;
    // matrix_cores x M*K*N x 2 x clock_hz: what the microarch figures alone give (shown alongside).
    double derived_peak_ops_per_s(DType t) const;
};

// Throws std::invalid_argument naming the chip and the figure when a figure the simulator needs
// is unknown (or the chip has no microarch). `pick` chooses among conflicting claims, for the
// microarch figures and for the catalog peaks the matrix rate is calibrated to (matrix_hz).
Machine machine_of(const ChipSpec& chip, Pick pick = Pick::nominal);

enum class OpKind { gemm, conv, elementwise, layernorm, softmax, gather };
// "MatMul", "Conv", "Elementwise", "LayerNorm", "Softmax", "Gather"
const char* op_kind_name(OpKind k);

// Vector work fused after a GEMM/Conv, or the work of a vector op, in passes over the data.
enum class Activation { none, relu, gelu, silu };
const char* activation_name(Activation a);
int activation_passes(Activation a);  // 0, 1, 4, 3

struct Tile {
    int64_t m = 0, n = 0, k = 0;  // GEMM: tm, tn, tk; vector ops: rows per tile in m, row length in n
    bool empty() const { return m == 0; }
};

// The order output tiles are dealt in (see "L2 reuse" above). Vector ops: always row-major.
enum class Raster { row_major, m_groups, n_groups };
const char* raster_name(Raster r);  // "row-major", "m-groups", "n-groups"
struct TileOrder {
    Raster raster = Raster::row_major;
    int64_t group = 0;              // tile rows (m-groups) or columns (n-groups) per group; 0: row-major
    // The closed-form estimate the order was chosen by: how many times each A / B panel is fetched
    // off-chip, and the bytes that makes. The simulation counts its own loads through the LRU; the
    // two agree within a few % whether the planned working set fits or not ("Plan vs simulation"
    // above; tests/core/chip_tile_sim_test.cpp).
    int64_t a_fetches = 1, b_fetches = 1;
    double a_offchip_bytes = 0, b_offchip_bytes = 0;
};

struct TileOp {
    std::string name;
    OpKind kind = OpKind::gemm;
    DType dtype = DType::fp16;
    // GEMM and Conv (after lowering): `batch` independent C[M,N] = A[M,K] B[K,N].
    int64_t batch = 1, M = 0, N = 0, K = 0;
    int out_bytes = 2;          // bytes per output element (vector ops: per element of every operand)
    bool bias = false;          // epilogue adds a bias vector of N
    Activation act = Activation::none;  // epilogue activation (GEMM/Conv), or fused into a vector op
    double a_offchip_fraction = 1;  // Conv: input bytes / im2col bytes (see the header comment)
    // GEMM: how the B operand (weights, or a KV cache) is stored. See "Stored B formats" above.
    // Gather: bytes per element of the table rows it reads (0: out_bytes).
    double b_stored_bytes = 0;  // bytes per B element off-chip and in L2 (0: dtype's own bytes)
    int b_dequant_passes = 0;   // vector passes that convert a loaded B chunk to `dtype` (0: none)
    bool b_onchip = false;      // B lives in L2 (placed there before the op): every load from L2
    // Vector ops: rows x cols elements of `dtype`; `inputs` tensors of that shape are read.
    int64_t rows = 0, cols = 0;
    int inputs = 1;
    int passes = 1;             // vector passes (activation passes are added to these)
    Tile tile;                  // empty: search; else use exactly this tile
};

// Builders that fill the fields above; all throw std::invalid_argument for a dimension < 1.
TileOp gemm_op(const std::string& name, int64_t M, int64_t N, int64_t K, DType dtype, bool bias = false,
               Activation act = Activation::none, int64_t batch = 1);
// NCHW input batch x cin x h x w, cout filters kh x kw, stride, symmetric zero padding `pad`.
TileOp conv_op(const std::string& name, int64_t batch, int64_t cin, int64_t h, int64_t w, int64_t cout,
               int64_t kh, int64_t kw, int64_t stride, int64_t pad, DType dtype, bool bias = true,
               Activation act = Activation::none);
// Elementwise over rows x cols with `inputs` operands (add: 2, relu: 1) and `passes` passes.
TileOp elementwise_op(const std::string& name, int64_t rows, int64_t cols, DType dtype, int inputs, int passes);
TileOp activation_op(const std::string& name, int64_t rows, int64_t cols, DType dtype, Activation act);
TileOp layernorm_op(const std::string& name, int64_t rows, int64_t cols, DType dtype,
                    Activation fused = Activation::none);
TileOp softmax_op(const std::string& name, int64_t rows, int64_t cols, DType dtype);
// A row gather (an embedding lookup): `rows` rows of `cols` elements read from a table stored at
// `table_bytes` per element (0: dtype's bytes) and written as rows x cols of `dtype`, with `passes`
// vector passes that convert a stored row to `dtype` (0: a plain copy). See "Gather" above.
TileOp gather_op(const std::string& name, int64_t rows, int64_t cols, DType dtype, double table_bytes = 0,
                 int passes = 0);

// The tile the search picks (or the override, checked); throws std::invalid_argument naming the
// buffer an override overflows, or the data type the machine lacks.
Tile choose_tile(const Machine& m, const TileOp& op);
// The tile order of a GEMM/Conv with tile `t` (see "L2 reuse" above); row-major for vector ops.
TileOrder choose_order(const Machine& m, const TileOp& op, const Tile& t);

enum class Unit { dma_in, matrix, vector, dma_out };
const char* unit_name(Unit u);  // "dma_in", "matrix", "vector", "dma_out"

struct TimelineEvent {
    int core = 0;
    Unit unit = Unit::dma_in;
    int64_t tile = 0;  // index of the output tile
    double start_s = 0, end_s = 0;
    // What the job moved, the amounts TileResult::bytes sums: dma_in the bytes written into L1 (from
    // off-chip and L2), matrix the bytes moved L1 -> L0A/L0B for its K step, vector the UB bytes its
    // passes read and write, dma_out the bytes written off-chip.
    double bytes = 0;
};

struct LevelBytes {
    double offchip = 0, l2 = 0, l1 = 0, l0 = 0, ub = 0;
};

// TileResult::energy_j by where it is spent (J): padded MACs, vector passes, and the bytes at each
// level times that level's pJ per byte. The parts add up to energy_j up to rounding.
struct TileEnergy {
    double mac = 0, vector = 0, offchip = 0, l2 = 0, l1 = 0, l0 = 0, ub = 0;
    double sum() const { return mac + vector + offchip + l2 + l1 + l0 + ub; }
};

struct SimOptions {
    size_t max_timeline_events = 20000;  // the timeline keeps the first N events (the rest are counted)
};

struct TileResult {
    std::string name, op;
    DType dtype = DType::fp16;
    Tile tile;
    TileOrder order;            // the order the tiles were dealt in (GEMM/Conv)
    int64_t tiles = 0;          // output tiles
    int cores_used = 0;
    double ops = 0;             // ideal operations (a MAC = 2), without padding
    double padded_macs = 0;
    double time_s = 0, cycles = 0;
    // Roofline of the same machine: ops / peak and compulsory off-chip bytes / bandwidth.
    double compute_floor_s = 0, memory_floor_s = 0, roofline_s = 0;
    Bound bound = Bound::compute;  // the roofline's bound
    LevelBytes bytes;
    double energy_j = 0;
    TileEnergy energy;
    // Busy time / (units x time): matrix and vector units, DMA engines, off-chip and L2 bandwidth.
    double util_matrix = 0, util_vector = 0, util_dma = 0, util_offchip = 0, util_l2 = 0;
    std::vector<TimelineEvent> timeline;
    int64_t timeline_dropped = 0;
    // simulate_graph only: the index of the earlier, identical op whose simulation this row repeats
    // (-1: simulated here). Its timeline is kept there alone: copying it to every repeat (an LLM's
    // layers repeat ~30-80 times, 20000 events each) cost more than the simulation itself. A
    // repeat's own timeline is empty and its timeline_dropped 0; read ops[same_as].timeline.
    int64_t same_as = -1;
};

TileResult simulate_tiles(const Machine& m, const TileOp& op, const SimOptions& opt = {});

// The roofline of `op` on the same machine, in closed form: the floors simulate_tiles reports
// (TileResult::ops, compute_floor_s, memory_floor_s, roofline_s, bound). Matrix ops: ideal ops /
// matrix peak and compulsory bytes (A x a_offchip_fraction + B as stored, unless b_onchip, + C +
// bias) / off-chip bandwidth;
// vector ops: bytes x passes / (vector_bytes_per_cycle x vector_cores x clock) and
// (inputs + 1) x elements x out_bytes / off-chip bandwidth. Throws like simulate_tiles for a
// matrix data type the machine lacks.
struct OpFloor {
    double ops = 0;             // ideal operations (a MAC = 2), or vector element-passes
    double offchip_bytes = 0;   // compulsory off-chip bytes
    double compute_s = 0, memory_s = 0, time_s = 0;
    Bound bound = Bound::compute;
};
OpFloor op_roofline(const Machine& m, const TileOp& op);

// Operators run one after another (each starts when the previous has finished on every core).
// Identical operators are simulated once (the simulation is deterministic) and reused.
struct GraphResult {
    std::vector<TileResult> ops;
    double time_s = 0, cycles = 0, energy_j = 0, roofline_s = 0;
    LevelBytes bytes;
};
GraphResult simulate_graph(const Machine& m, const std::vector<TileOp>& ops, const SimOptions& opt = {});

// Fusion examples: the unfused sequence (GEMM, then bias-add, then activation, each through
// off-chip memory) or one GEMM with the fused epilogue; LayerNorm then an activation likewise.
std::vector<TileOp> gemm_bias_act(int64_t M, int64_t N, int64_t K, DType dtype, Activation act, bool fused);
std::vector<TileOp> layernorm_act(int64_t rows, int64_t cols, DType dtype, Activation act, bool fused);

}  // namespace stacklab::chip
