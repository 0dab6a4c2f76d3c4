#include "chip/tile_sim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <queue>
#include <stdexcept>

namespace stacklab::chip {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kAccBytes = 4;  // int32 / fp32 accumulators in L0C

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

double micro_number(const ChipSpec& chip, const char* key, Pick pick) {
    const Figure& f = chip.micro(key);
    if (!f.known())
        throw std::invalid_argument(chip.id + ": the tile simulator needs microarch/" + key + ", which is unknown (" +
                                    f.reason + ")");
    const auto [lo, hi] = f.range();
    return pick == Pick::low ? lo : pick == Pick::high ? hi : f.number();
}

}  // namespace

double Machine::matrix_rate(DType t) const { return matrix_hz[int(t)] > 0 ? matrix_hz[int(t)] : clock_hz; }
double Machine::peak_ops_per_s(DType t) const { return matrix_cores * unit(t).macs() * 2.0 * matrix_rate(t); }
double Machine::derived_peak_ops_per_s(DType t) const { return matrix_cores * unit(t).macs() * 2.0 * clock_hz; }

Machine machine_of(const ChipSpec& chip, Pick pick) {
    if (!chip.has_microarch())
        throw std::invalid_argument(chip.id + ": the catalog has no microarch description, which the tile simulator needs");
    Machine m;
    m.chip_id = chip.id;
    m.matrix_cores = int(micro_number(chip, "matrix_cores", pick));
    m.vector_cores = int(micro_number(chip, "vector_cores", pick));
    m.clock_hz = micro_number(chip, "clock_mhz", pick) * 1e6;
    for (DType t : {DType::int8, DType::fp16, DType::bf16}) {
        const Figure& f = chip.micro(std::string("matrix_shape_") + dtype_name(t));
        if (!f.known()) continue;  // not supported: simulate_tiles says so if asked
        MatrixShape s;
        if (std::sscanf(f.text().c_str(), "%dx%dx%d", &s.m, &s.k, &s.n) != 3)
            throw std::invalid_argument(chip.id + ": microarch/matrix_shape_" + dtype_name(t) + " is not MxKxN");
        m.shape[int(t)] = s;
        // One peak rule for every fidelity (see the header): the matrix unit delivers the catalog's
        // picked peak figure, the same number chip_peak gives the roofline. A chip without a figure
        // for this type keeps the derived rate (the clock).
        const Figure& peak = chip.figure(peak_figure_key(t));
        if (peak.known() && std::holds_alternative<double>(*peak.value)) {
            const auto [lo, hi] = peak.range();
            const double ops = (pick == Pick::low ? lo : pick == Pick::high ? hi : peak.number()) * 1e12;
            m.matrix_hz[int(t)] = ops / (double(m.matrix_cores) * s.macs() * 2.0);
        }
    }
    m.vector_bytes_per_cycle = micro_number(chip, "vector_bytes_per_cycle", pick);
    m.l0a_bytes = micro_number(chip, "l0a_kib", pick) * 1024;
    m.l0b_bytes = micro_number(chip, "l0b_kib", pick) * 1024;
    m.l0c_bytes = micro_number(chip, "l0c_kib", pick) * 1024;
    m.l1_bytes = micro_number(chip, "l1_kib", pick) * 1024;
    m.ub_bytes = micro_number(chip, "ub_kib", pick) * 1024;
    m.l2_bytes = micro_number(chip, "l2_mib", pick) * 1048576;
    m.l2_bytes_per_s = micro_number(chip, "l2_bandwidth_gbps", pick) * 1e9;
    m.core_dma_bytes_per_cycle = micro_number(chip, "core_dma_bytes_per_cycle", pick);
    const Figure& bw = chip.figure("memory_bandwidth_gbps");
    if (!bw.known())
        throw std::invalid_argument(chip.id + ": the tile simulator needs memory_bandwidth_gbps, which is unknown (" +
                                    bw.reason + ")");
    const auto [lo, hi] = bw.range();
    m.offchip_bytes_per_s = (pick == Pick::low ? lo : pick == Pick::high ? hi : bw.number()) * 1e9;
    auto energy = [&](const char* key) {
        const Figure& f = chip.energy_figure(key);
        if (!f.known())
            throw std::invalid_argument(chip.id + ": the tile simulator needs microarch/energy/" + key + ", which is unknown");
        return f.number();
    };
    m.mac_pj[int(DType::int8)] = energy("mac_int8_pj");
    m.mac_pj[int(DType::fp16)] = energy("mac_fp16_pj");
    m.mac_pj[int(DType::bf16)] = energy("mac_bf16_pj");
    m.vector_byte_pj = energy("vector_byte_pj");
    m.l0_byte_pj = energy("l0_byte_pj");
    m.l1_byte_pj = energy("l1_byte_pj");
    m.ub_byte_pj = energy("ub_byte_pj");
    m.l2_byte_pj = energy("l2_byte_pj");
    m.offchip_byte_pj = energy("offchip_byte_pj");
    return m;
}

const char* op_kind_name(OpKind k) {
    switch (k) {
        case OpKind::gemm: return "MatMul";
        case OpKind::conv: return "Conv";
        case OpKind::elementwise: return "Elementwise";
        case OpKind::layernorm: return "LayerNorm";
        case OpKind::softmax: return "Softmax";
        case OpKind::gather: return "Gather";
    }
    return "?";
}

const char* activation_name(Activation a) {
    switch (a) {
        case Activation::none: return "none";
        case Activation::relu: return "relu";
        case Activation::gelu: return "gelu";
        case Activation::silu: return "silu";
    }
    return "?";
}

int activation_passes(Activation a) {
    switch (a) {
        case Activation::none: return 0;
        case Activation::relu: return 1;
        case Activation::gelu: return 4;
        case Activation::silu: return 3;
    }
    return 0;
}

const char* raster_name(Raster r) {
    switch (r) {
        case Raster::row_major: return "row-major";
        case Raster::m_groups: return "m-groups";
        case Raster::n_groups: return "n-groups";
    }
    return "?";
}

const char* unit_name(Unit u) {
    switch (u) {
        case Unit::dma_in: return "dma_in";
        case Unit::matrix: return "matrix";
        case Unit::vector: return "vector";
        case Unit::dma_out: return "dma_out";
    }
    return "?";
}

namespace {

void require_positive(const std::string& name, const char* what, int64_t v) {
    if (v < 1) throw std::invalid_argument(name + ": " + what + " must be >= 1, got " + std::to_string(v));
}

bool is_matrix(OpKind k) { return k == OpKind::gemm || k == OpKind::conv; }

}  // namespace

TileOp gemm_op(const std::string& name, int64_t M, int64_t N, int64_t K, DType dtype, bool bias, Activation act,
               int64_t batch) {
    require_positive(name, "M", M);
    require_positive(name, "N", N);
    require_positive(name, "K", K);
    require_positive(name, "batch", batch);
    TileOp op;
    op.name = name;
    op.kind = OpKind::gemm;
    op.dtype = dtype;
    op.batch = batch;
    op.M = M, op.N = N, op.K = K;
    // int8 GEMMs write int32 accumulators, fp16/bf16 their own type (as the roofline CLI does).
    op.out_bytes = dtype == DType::int8 ? 4 : 2;
    op.bias = bias;
    op.act = act;
    return op;
}

TileOp conv_op(const std::string& name, int64_t batch, int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t kh,
               int64_t kw, int64_t stride, int64_t pad, DType dtype, bool bias, Activation act) {
    for (auto [what, v] : {std::pair<const char*, int64_t>{"batch", batch}, {"cin", cin}, {"h", h}, {"w", w},
                           {"cout", cout}, {"kh", kh}, {"kw", kw}, {"stride", stride}})
        require_positive(name, what, v);
    if (pad < 0) throw std::invalid_argument(name + ": pad must be >= 0");
    const int64_t oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
    if (h + 2 * pad < kh || w + 2 * pad < kw || oh < 1 || ow < 1)
        throw std::invalid_argument(name + ": the kernel is larger than the padded input");
    TileOp op = gemm_op(name, batch * oh * ow, cout, cin * kh * kw, dtype, bias, act);
    op.kind = OpKind::conv;
    // Implicit GEMM: the im2col matrix (M x K) is gathered from an input of batch*cin*h*w.
    op.a_offchip_fraction = std::min(1.0, double(batch * cin * h * w) / (double(op.M) * double(op.K)));
    return op;
}

TileOp elementwise_op(const std::string& name, int64_t rows, int64_t cols, DType dtype, int inputs, int passes) {
    require_positive(name, "rows", rows);
    require_positive(name, "cols", cols);
    require_positive(name, "inputs", inputs);
    require_positive(name, "passes", passes);
    TileOp op;
    op.name = name;
    op.kind = OpKind::elementwise;
    op.dtype = dtype;
    op.rows = rows, op.cols = cols;
    op.inputs = inputs;
    op.passes = passes;
    op.out_bytes = dtype_bytes(dtype);
    return op;
}

TileOp activation_op(const std::string& name, int64_t rows, int64_t cols, DType dtype, Activation act) {
    if (act == Activation::none) throw std::invalid_argument(name + ": an activation op needs an activation");
    return elementwise_op(name, rows, cols, dtype, 1, activation_passes(act));
}

TileOp layernorm_op(const std::string& name, int64_t rows, int64_t cols, DType dtype, Activation fused) {
    TileOp op = elementwise_op(name, rows, cols, dtype, 1, 3);
    op.kind = OpKind::layernorm;
    op.act = fused;
    return op;
}

TileOp softmax_op(const std::string& name, int64_t rows, int64_t cols, DType dtype) {
    TileOp op = elementwise_op(name, rows, cols, dtype, 1, 4);
    op.kind = OpKind::softmax;
    return op;
}

TileOp gather_op(const std::string& name, int64_t rows, int64_t cols, DType dtype, double table_bytes, int passes) {
    if (!(table_bytes >= 0)) throw std::invalid_argument(name + ": table bytes per element must be >= 0");
    if (passes < 0) throw std::invalid_argument(name + ": conversion passes must be >= 0");
    TileOp op = elementwise_op(name, rows, cols, dtype, 1, 1);
    op.kind = OpKind::gather;
    op.passes = passes;
    op.b_stored_bytes = table_bytes;
    return op;
}

namespace {

// Vector cores that serve one matrix core's epilogue (910B: 2).
double vector_ratio(const Machine& m) { return double(m.vector_cores) / double(m.matrix_cores); }

int epilogue_passes(const TileOp& op) { return 1 + (op.bias ? 1 : 0) + activation_passes(op.act); }
int vector_passes(const TileOp& op) { return op.passes + activation_passes(op.act); }
// Bytes per element of a vector op's inputs off-chip: a gather reads its table as stored, every
// other vector op reads what it writes.
double vector_in_bytes(const TileOp& op) {
    return op.kind == OpKind::gather && op.b_stored_bytes > 0 ? op.b_stored_bytes : double(op.out_bytes);
}

const MatrixShape& unit_for(const Machine& m, const TileOp& op) {
    const MatrixShape& u = m.unit(op.dtype);
    if (!u.supported())
        throw std::invalid_argument(m.chip_id + ": the matrix unit has no " + std::string(dtype_name(op.dtype)) +
                                    " mode (microarch/matrix_shape_" + dtype_name(op.dtype) + " is unknown)");
    return u;
}

// Why a GEMM tile does not fit, or "" when it does (the rules in the header comment).
std::string gemm_tile_misfit(const Machine& m, const TileOp& op, const Tile& t) {
    const double in = dtype_bytes(op.dtype);
    const double ub = m.ub_bytes * std::max(1.0, vector_ratio(m));
    if (double(t.m) * t.k * in > m.l0a_bytes / 2) return "the A chunk tm x tk does not fit half of L0A";
    if (double(t.k) * t.n * in > m.l0b_bytes / 2) return "the B chunk tk x tn does not fit half of L0B";
    if (double(t.m) * t.n * kAccBytes > m.l0c_bytes / 2) return "the tm x tn accumulators do not fit half of L0C";
    if (2 * (double(t.m) * t.k + double(t.k) * t.n) * in > m.l1_bytes) return "two A and B chunks do not fit L1";
    if (2 * double(t.m) * t.n * op.out_bytes > ub) return "two tm x tn output tiles do not fit the unified buffer";
    return "";
}

struct GemmGeometry {
    int64_t tiles_m, tiles_n, nk, tiles;
};

GemmGeometry geometry(const TileOp& op, const Tile& t) {
    GemmGeometry g;
    g.tiles_m = ceil_div(op.M, t.m);
    g.tiles_n = ceil_div(op.N, t.n);
    g.nk = ceil_div(op.K, t.k);
    g.tiles = op.batch * g.tiles_m * g.tiles_n;
    return g;
}

bool a_resident(const Machine& m, const TileOp& op) {
    return double(op.batch) * op.M * op.K * dtype_bytes(op.dtype) * op.a_offchip_fraction <= m.l2_bytes / 2;
}
// Bytes of one B element as stored (off-chip, L2, L1): see "Stored B formats" in the header.
double b_stored(const TileOp& op) { return op.b_stored_bytes > 0 ? op.b_stored_bytes : dtype_bytes(op.dtype); }
bool b_resident(const Machine& m, const TileOp& op) {
    return op.b_onchip || double(op.batch) * op.K * op.N * b_stored(op) <= m.l2_bytes / 2;
}
// Vector cycles that convert one kk x cols chunk of a stored B to the matrix type (0: no conversion).
double dequant_cycles(const Machine& m, const TileOp& op, int64_t kk, int64_t cols) {
    if (op.b_dequant_passes <= 0) return 0;
    return std::ceil(double(kk) * cols * dtype_bytes(op.dtype) * op.b_dequant_passes /
                     (m.vector_bytes_per_cycle * vector_ratio(m)));
}

// How many times the held and the swept operand's panels are fetched off-chip under a grouped
// order with groups of G along `along` tile rows (columns), `across` tile columns (rows) each,
// P tiles in flight and an L2 share `capacity` (see "L2 reuse" in the header):
//   the group's working set fits   held once, swept once per group
//   else, G <= P                   the wave's G x P/G block shares its panels: held once per wave
//                                  touching its row, ceil(across x G / P); swept once per group
//   else (G > P)                   held once per tile column (across); swept once per group when
//                                  it survives the P held panels between its waves, else per wave.
struct Fetches {
    int64_t held = 1, swept = 1;
};
Fetches group_fetches(int64_t along, int64_t across, int64_t g, double held, double swept, int64_t p,
                      double capacity, bool edge) {
    // The cores progress together only over equal tiles: a short edge tile row (column) finishes
    // early and its cores run ahead of the rest of their group (the tiles are dealt statically), out
    // of reach of the shared panels. Count the last group's swept panels twice then.
    const int64_t last = along - (ceil_div(along, g) - 1) * g;
    const int64_t groups = ceil_div(along, g) + (edge && last > 1 ? 1 : 0);
    // Groups in flight at once: one (the next one's panels replace the current one's at their last
    // use) unless a group is smaller than a wave (a batch of small GEMMs).
    const int64_t group_tiles = g * across;
    const int64_t live = group_tiles >= p ? 1 : ceil_div(p, group_tiles) + 1;
    if (double(live * g) * held + double(ceil_div(p, g) + 1) * swept <= capacity) return {1, groups};
    // Waves are not aligned to the panels: tiles sharing one may fall in two consecutive waves, out
    // of reach of each other, so count one more fetch where a panel has more than one user.
    if (g <= p) return {ceil_div(across * g, p) + (across > 1 ? 1 : 0), groups};
    return {across, double(p) * held + 2 * swept <= capacity ? groups : groups * ceil_div(g, p)};
}

}  // namespace

TileOrder choose_order(const Machine& m, const TileOp& op, const Tile& t) {
    TileOrder best;
    if (!is_matrix(op.kind)) return best;
    const GemmGeometry g = geometry(op, t);
    const double a_unique = double(op.batch) * op.M * op.K * dtype_bytes(op.dtype) * op.a_offchip_fraction;
    const double b_unique = op.b_onchip ? 0.0 : double(op.batch) * op.K * op.N * b_stored(op);
    const bool a_res = a_resident(m, op), b_res = b_resident(m, op);
    // One panel over the whole K, as L2 holds it (stored bytes; conv A as its input share); a
    // resident operand takes none of the streamed operands' share and is fetched once.
    const double a_panel = a_res ? 0.0 : double(std::min(t.m, op.M)) * op.K * dtype_bytes(op.dtype) * op.a_offchip_fraction;
    const double b_panel = b_res ? 0.0 : double(op.K) * std::min(t.n, op.N) * b_stored(op);
    const int64_t p = std::min<int64_t>(g.tiles, int64_t(m.matrix_cores));
    // The LRU's share (half the L2): what the simulation keeps. The working set counts one swept
    // panel beyond the wave's as headroom (see "L2 reuse" in the header).
    const double capacity = m.l2_bytes / 2;
    auto estimate = [&](Raster r, int64_t group) {
        TileOrder o{r, group};
        if (r == Raster::m_groups) {
            const Fetches f = group_fetches(g.tiles_m, g.tiles_n, group, a_panel, b_panel, p, capacity, op.M % t.m != 0);
            o.a_fetches = f.held, o.b_fetches = f.swept;
        } else {
            // Row-major is n-groups of every tile column: rows in turn, the columns within a row.
            const int64_t cols = r == Raster::row_major ? g.tiles_n : group;
            const Fetches f = group_fetches(g.tiles_n, g.tiles_m, cols, b_panel, a_panel, p, capacity, op.N % t.n != 0);
            o.a_fetches = f.swept, o.b_fetches = f.held;
        }
        if (a_res) o.a_fetches = 1;
        if (b_res) o.b_fetches = 1;
        o.a_offchip_bytes = a_unique * double(o.a_fetches);
        o.b_offchip_bytes = b_unique * double(o.b_fetches);
        return o;
    };
    best = estimate(Raster::row_major, 0);
    // Nothing to share: every operand resident, or each streamed chunk has one user (one tile
    // column for A, one tile row for B: a decode step's weights).
    if ((a_res || g.tiles_n == 1) && (b_res || g.tiles_m == 1)) return best;
    // Every group size (ascending); strictly fewer bytes wins, so ties keep row-major, then
    // m-groups, then the smaller group.
    for (Raster r : {Raster::m_groups, Raster::n_groups}) {
        const int64_t n = r == Raster::m_groups ? g.tiles_m : g.tiles_n;
        // Beyond P the working set G x held + 2 x swept grows with G, and a fitting group gets
        // better with size while one that does not fit gets no better: the largest fitting G is the
        // only candidate there.
        const double held = r == Raster::m_groups ? a_panel : b_panel, swept = r == Raster::m_groups ? b_panel : a_panel;
        std::vector<int64_t> sizes;
        for (int64_t group = 1; group <= std::min(n, p); ++group) sizes.push_back(group);
        if (n > p && capacity >= 2 * swept) {
            const int64_t fit = held > 0 ? int64_t(std::min(double(n), std::floor((capacity - 2 * swept) / held))) : n;
            if (fit > p) sizes.push_back(fit);
        }
        for (int64_t group : sizes) {
            const TileOrder o = estimate(r, group);
            if (o.a_offchip_bytes + o.b_offchip_bytes < best.a_offchip_bytes + best.b_offchip_bytes) best = o;
        }
    }
    return best;
}

namespace {

// The closed-form cost of one candidate tile, with the simulator's own rules.
double gemm_tile_cost(const Machine& m, const TileOp& op, const Tile& t) {
    const MatrixShape& u = m.unit(op.dtype);
    const GemmGeometry g = geometry(op, t);
    const double in = dtype_bytes(op.dtype);
    const int64_t rows = std::min(t.m, op.M), cols = std::min(t.n, op.N), kk = std::min(t.k, op.K);
    const double cores = double(std::min<int64_t>(g.tiles, m.matrix_cores));
    const double per_core = double(ceil_div(g.tiles, m.matrix_cores));
    const double step = double(ceil_div(rows, u.m) * ceil_div(kk, u.k) * ceil_div(cols, u.n));
    const double post = std::ceil(double(rows) * cols * op.out_bytes * epilogue_passes(op) /
                                  (m.vector_bytes_per_cycle * vector_ratio(m)));
    const double bin = b_stored(op);
    const double a_loads = double(g.tiles) * g.nk * rows * kk * in, b_loads = double(g.tiles) * g.nk * kk * cols * bin;
    const double a_unique = double(op.batch) * op.M * op.K * in, b_unique = double(op.batch) * op.K * op.N * bin;
    // A streamed operand is fetched once per tile column (row) in row-major order, fewer times in
    // a grouped order (choose_order): the loads of one full pass, padded like a_loads, times that.
    const TileOrder o = choose_order(m, op, t);
    auto streamed = [](double loads, int64_t passes, int64_t fetches) {
        return fetches == passes ? loads : loads / double(passes) * double(fetches);
    };
    const double a_off =
        (a_resident(m, op) ? a_unique : streamed(a_loads, g.tiles_n, o.a_fetches)) * op.a_offchip_fraction;
    const double b_off = op.b_onchip ? 0.0 : b_resident(m, op) ? b_unique : streamed(b_loads, g.tiles_m, o.b_fetches);
    const double c_bytes = double(op.batch) * op.M * op.N * op.out_bytes + (op.bias ? double(op.N) * op.out_bytes : 0);
    const double off_bw = std::min(m.offchip_bytes_per_s, cores * m.core_dma_bytes_per_cycle * m.clock_hz);
    // Uneven tile counts per core stretch the memory phases too (the busiest core sets the pace).
    const double imbalance = per_core * cores / double(g.tiles);
    const double t_off = (a_off + b_off + c_bytes) / off_bw * imbalance;
    // Every load crosses the L2, fetched off-chip or not (the simulator shares its bandwidth so).
    const double t_l2 = (a_loads + b_loads) / m.l2_bytes_per_s * imbalance;
    const double deq = dequant_cycles(m, op, kk, cols);
    // A K step with a B conversion takes the longer of the matrix work and the conversion.
    const double step_s = deq > 0 ? std::max(step / m.matrix_rate(op.dtype), deq / m.clock_hz) : 0.0;
    double t_mat = deq > 0 ? per_core * g.nk * step_s : per_core * g.nk * step / m.matrix_rate(op.dtype);
    // A streamed chunk that the tiles in flight share is fetched off-chip by one of them, through
    // that core's DMA port, while the others read it from L2: the fetching core's step waits for
    // the whole chunk, which double buffering hides only up to one matrix step. That happens on
    // the shared fraction (off-chip / loads) of its steps.
    const double port = m.core_dma_bytes_per_cycle * m.clock_hz;
    const double k_step = deq > 0 ? step_s : step / m.matrix_rate(op.dtype);
    auto stall = [&](bool streamed, double off, double loads, double chunk) {
        if (!streamed || loads <= 0 || off >= loads) return 0.0;
        return off / loads * std::max(0.0, chunk / port - k_step);
    };
    t_mat += per_core * g.nk *
             (stall(!a_resident(m, op), a_off, a_loads * op.a_offchip_fraction, double(rows) * kk * in * op.a_offchip_fraction) +
              stall(!op.b_onchip && !b_resident(m, op), b_off, b_loads, double(kk) * cols * bin));
    const double t_vec = per_core * post / m.clock_hz;
    const double per_core_bw = off_bw / cores;
    const double fill = deq > 0 ? (double(rows) * kk * in + double(kk) * cols * bin) / per_core_bw + step_s +
                                      post / m.clock_hz + double(rows) * cols * op.out_bytes / per_core_bw
                                : (double(rows) * kk + double(kk) * cols) * in / per_core_bw + step / m.matrix_rate(op.dtype) +
                                      post / m.clock_hz + double(rows) * cols * op.out_bytes / per_core_bw;
    return std::max(std::max(t_mat, t_vec), std::max(t_off, t_l2)) + fill;
}

Tile search_gemm_tile(const Machine& m, const TileOp& op) {
    const MatrixShape& u = unit_for(m, op);
    auto sizes = [](int64_t unit, int64_t dim) {
        std::vector<int64_t> v;
        for (int64_t s = unit;; s *= 2) {
            v.push_back(s);
            if (s >= dim || s >= 8192) break;
        }
        return v;
    };
    std::vector<std::pair<Tile, double>> fits;
    double best_cost = kInf;
    for (int64_t tm : sizes(u.m, op.M))
        for (int64_t tn : sizes(u.n, op.N))
            for (int64_t tk : sizes(u.k, op.K)) {
                const Tile t{tm, tn, tk};
                if (!gemm_tile_misfit(m, op, t).empty()) continue;
                fits.push_back({t, gemm_tile_cost(m, op, t)});
                best_cost = std::min(best_cost, fits.back().second);
            }
    // Within 1% of the cheapest, take the largest tile (more reuse, fewer DMA jobs, a faster
    // simulation), then the deepest K chunk: small tiles often win the estimate only by the
    // pipeline fill, which is noise for any real size.
    Tile best;
    for (const auto& [t, c] : fits) {
        if (c > best_cost * 1.01) continue;
        const int64_t vol = t.m * t.n * t.k, best_vol = best.m * best.n * best.k;
        if (best.empty() || t.m * t.n > best.m * best.n || (t.m * t.n == best.m * best.n && vol > best_vol)) best = t;
    }
    if (best.empty())
        throw std::invalid_argument(m.chip_id + ": not even one matrix-unit block fits the buffers for " + op.name);
    return best;
}

double vector_tile_bytes(const TileOp& op, int64_t rows, int64_t cols) {
    // Inputs and the output, double-buffered.
    return 2.0 * double(rows) * cols * (vector_in_bytes(op) * op.inputs + op.out_bytes);
}

Tile search_vector_tile(const Machine& m, const TileOp& op) {
    Tile t;
    t.k = 1;
    const int64_t fit_rows = int64_t(m.ub_bytes / vector_tile_bytes(op, 1, op.cols));
    if (fit_rows >= 1) {
        // As many rows as fit, but not so many that cores sit idle.
        t.m = std::max<int64_t>(1, std::min(fit_rows, ceil_div(op.rows, m.vector_cores)));
        t.n = op.cols;
    } else {
        // A row longer than the buffer is processed in column chunks of a multiple of 32 elements.
        t.m = 1;
        t.n = std::max<int64_t>(1, int64_t(m.ub_bytes / vector_tile_bytes(op, 1, 1)) / 32 * 32);
    }
    return t;
}

}  // namespace

Tile choose_tile(const Machine& m, const TileOp& op) {
    if (is_matrix(op.kind)) {
        const MatrixShape& u = unit_for(m, op);
        if (op.tile.empty()) return search_gemm_tile(m, op);
        const Tile& t = op.tile;
        if (t.m < 1 || t.n < 1 || t.k < 1) throw std::invalid_argument(op.name + ": tile dimensions must be >= 1");
        if (t.m % u.m || t.n % u.n || t.k % u.k)
            throw std::invalid_argument(op.name + ": tile " + std::to_string(t.m) + "x" + std::to_string(t.n) + "x" +
                                        std::to_string(t.k) + " (MxNxK) is not a multiple of the matrix unit " +
                                        std::to_string(u.m) + "x" + std::to_string(u.n) + "x" + std::to_string(u.k));
        const std::string why = gemm_tile_misfit(m, op, t);
        if (!why.empty())
            throw std::invalid_argument(op.name + ": tile " + std::to_string(t.m) + "x" + std::to_string(t.n) + "x" +
                                        std::to_string(t.k) + " does not fit: " + why);
        return t;
    }
    if (op.tile.empty()) return search_vector_tile(m, op);
    Tile t = op.tile;
    if (t.m < 1 || t.n < 1) throw std::invalid_argument(op.name + ": tile dimensions must be >= 1");
    t.n = std::min(t.n, op.cols);
    t.k = 1;
    if (vector_tile_bytes(op, t.m, t.n) > m.ub_bytes)
        throw std::invalid_argument(op.name + ": tile of " + std::to_string(t.m) + " rows x " + std::to_string(t.n) +
                                    " does not fit: inputs and output, double-buffered, exceed the unified buffer");
    return t;
}

namespace {

// What one core does at one pipeline step and per output tile; filled by the lowering.
struct StepWork {
    double offchip_bytes = 0, l2_bytes = 0;  // DMA in, by source
    double matrix_cycles = 0;                // 0 for vector ops
    double padded_macs = 0;
    double l0_bytes = 0;                     // moved L1 -> L0A/L0B (in the matrix type)
    double dequant_bytes = 0;                // bytes the conversion of a stored B chunk processes
    // Loads (ids in issue order) that fetched, off-chip, streamed chunks this load reads from L2:
    // it completes no earlier than they do (-1: none). See "In-flight fetches" in the header.
    int64_t wait_for[2] = {-1, -1};
};
struct TileWork {
    double vector_cycles = 0, vector_bytes = 0;  // bytes the vector passes process
    double store_bytes = 0;
    double acc_bytes = 0;  // accumulators read out of L0C
};

// The lowering of one operator: tiles, steps per tile, and the work of each.
class Lowering {
public:
    Lowering(const Machine& m, const TileOp& op, const Tile& t, const TileOrder& order)
        : m_(m), op_(op), t_(t), order_(order) {
        in_ = dtype_bytes(op.dtype);
        b_in_ = b_stored(op);
        if (is_matrix(op.kind)) {
            u_ = m.unit(op.dtype);
            g_ = geometry(op, t);
            cores_ = m.matrix_cores;
            nk_ = g_.nk;
            tiles_ = g_.tiles;
            a_touched_.assign(size_t(op.batch * g_.tiles_m * g_.nk), 0);
            b_touched_.assign(size_t(op.batch * g_.nk * g_.tiles_n), 0);
            bias_touched_.assign(size_t(g_.tiles_n), 0);
            a_res_ = a_resident(m, op);
            b_res_ = b_resident(m, op);
            a_chunks_ = op.batch * g_.tiles_m * g_.nk;
            lru_on_ = shares_streamed();
            if (lru_on_) {  // the LRU serves streamed chunks, and only one it can share can hit
                const size_t chunks = size_t(a_chunks_ + op.batch * g_.nk * g_.tiles_n);
                lru_prev_.assign(chunks, -1);
                lru_next_.assign(chunks, -1);
                lru_in_.assign(chunks, 0);
                lru_bytes_.assign(chunks, 0);
                lru_fetch_.assign(chunks, -1);
                lru_capacity_ = m.l2_bytes / 2;
            }
            vec_rate_ = m.vector_bytes_per_cycle * vector_ratio(m);
            converts_ = op.b_dequant_passes > 0;
        } else {
            cores_ = m.vector_cores;
            nk_ = 1;
            row_tiles_ = ceil_div(op.rows, t.m);
            col_tiles_ = ceil_div(op.cols, t.n);
            tiles_ = row_tiles_ * col_tiles_;
            vec_rate_ = m.vector_bytes_per_cycle;
        }
    }
    int cores() const { return cores_; }
    int64_t tiles() const { return tiles_; }
    bool converts() const { return converts_; }
    // Seconds the vector cores take to convert the stored B chunk of (tile, K step).
    double dequant_s(int64_t tile, int64_t kc) const {
        const int64_t ni = (tile % (g_.tiles_m * g_.tiles_n)) % g_.tiles_n;
        const int64_t cols = std::min(t_.n, op_.N - ni * t_.n), kk = std::min(t_.k, op_.K - kc * t_.k);
        return dequant_cycles(m_, op_, kk, cols) / m_.clock_hz;
    }
    int64_t steps_per_tile() const { return nk_; }
    bool matrix() const { return is_matrix(op_.kind); }

    // Whether a streamed operand's chunk has more than one user (tile), i.e. the L2 can share it.
    bool shares_streamed() const {
        return matrix() && ((!a_res_ && g_.tiles_n > 1) || (!b_res_ && g_.tiles_m > 1));
    }
    // The output tile (row-major index over batch, M, N) dealt at position `seq` of the order.
    int64_t tile_at(int64_t seq) const {
        if (!matrix() || order_.raster == Raster::row_major) return seq;
        const int64_t per_batch = g_.tiles_m * g_.tiles_n, b = seq / per_batch, r = seq % per_batch;
        const bool rows = order_.raster == Raster::m_groups;
        // Within a group of G rows (columns), column by column (row by row); the last group may be short.
        const int64_t across = rows ? g_.tiles_n : g_.tiles_m, along = rows ? g_.tiles_m : g_.tiles_n;
        const int64_t grp = r / (order_.group * across);
        const int64_t size = std::min(order_.group, along - grp * order_.group);
        const int64_t within = r - grp * order_.group * across;
        const int64_t outer = within / size, inner = grp * order_.group + within % size;
        const int64_t mi = rows ? inner : outer, ni = rows ? outer : inner;
        return b * per_batch + mi * g_.tiles_n + ni;
    }

    // Called when the step's DMA starts, in simulated order: first touches go off-chip.
    StepWork step(int64_t tile, int64_t kc, int64_t load_id) {
        StepWork w;
        if (!matrix()) {
            const auto [r, c] = vector_dims(tile);
            w.offchip_bytes = double(r) * c * vector_in_bytes(op_) * op_.inputs;
            return w;
        }
        const int64_t b = tile / (g_.tiles_m * g_.tiles_n), rest = tile % (g_.tiles_m * g_.tiles_n);
        const int64_t mi = rest / g_.tiles_n, ni = rest % g_.tiles_n;
        const int64_t rows = std::min(t_.m, op_.M - mi * t_.m), cols = std::min(t_.n, op_.N - ni * t_.n);
        const int64_t kk = std::min(t_.k, op_.K - kc * t_.k);
        // A resident operand's chunk hits once fetched; a streamed one's hits while it is in the
        // L2 share the streamed operands have (LRU, see "L2 reuse" in the header).
        int waits = 0;
        auto load = [&](std::vector<char>& touched, size_t id, double bytes, bool resident, double frac,
                        int64_t lru_key) {
            const bool hit = resident ? touched[id] != 0 : lru_on_ && lru_touch(lru_key, bytes * frac);
            if (!resident && lru_on_) {
                // A streamed chunk: its sharers wait for the fetch that brought it (in flight or done).
                if (!hit) lru_fetch_[size_t(lru_key)] = load_id;
                else if (lru_fetch_[size_t(lru_key)] != load_id) w.wait_for[waits++] = lru_fetch_[size_t(lru_key)];
            }
            touched[id] = 1;
            const double off = hit ? 0.0 : bytes * frac;
            w.offchip_bytes += off;
            w.l2_bytes += bytes - off;
        };
        const int64_t a_id = (b * g_.tiles_m + mi) * g_.nk + kc, b_id = (b * g_.nk + kc) * g_.tiles_n + ni;
        load(a_touched_, size_t(a_id), double(rows) * kk * in_, a_res_, op_.a_offchip_fraction, a_id);
        if (op_.b_onchip) {
            w.l2_bytes += double(kk) * cols * b_in_;  // placed in L2 before the op: never off-chip
        } else {
            load(b_touched_, size_t(b_id), double(kk) * cols * b_in_, b_res_, 1.0, a_chunks_ + b_id);
        }
        if (op_.bias && kc == 0) load(bias_touched_, size_t(ni), double(cols) * op_.out_bytes, true, 1.0, -1);
        // L0 receives B in the matrix type, whatever its stored format.
        w.l0_bytes = w.offchip_bytes + w.l2_bytes;
        if (op_.b_stored_bytes > 0) w.l0_bytes += double(kk) * cols * (in_ - b_in_);
        // Bytes the conversion passes process, counted like a vector op's (read and written in UB).
        if (converts_) w.dequant_bytes = double(kk) * cols * in_ * op_.b_dequant_passes;
        const double blocks = double(ceil_div(rows, u_.m) * ceil_div(kk, u_.k) * ceil_div(cols, u_.n));
        w.matrix_cycles = blocks;
        w.padded_macs = blocks * u_.macs();
        return w;
    }

    TileWork tile_work(int64_t tile) const {
        TileWork w;
        double elems;
        int passes;
        if (matrix()) {
            const int64_t rest = tile % (g_.tiles_m * g_.tiles_n);
            const int64_t mi = rest / g_.tiles_n, ni = rest % g_.tiles_n;
            elems = double(std::min(t_.m, op_.M - mi * t_.m)) * double(std::min(t_.n, op_.N - ni * t_.n));
            passes = epilogue_passes(op_);
            w.acc_bytes = elems * kAccBytes;
        } else {
            const auto [r, c] = vector_dims(tile);
            elems = double(r) * c;
            passes = vector_passes(op_);
        }
        w.vector_bytes = elems * op_.out_bytes * passes;
        w.vector_cycles = std::ceil(w.vector_bytes / vec_rate_);
        w.store_bytes = elems * op_.out_bytes;
        return w;
    }

private:
    // The streamed chunks in L2, most recently used first: true (and moved to the front) when `key`
    // is there; else it is inserted and the least recently used chunks leave until the share holds.
    bool lru_touch(int64_t key, double bytes) {
        const size_t k = size_t(key);
        if (lru_in_[k]) {
            if (lru_head_ != key) {
                lru_next_[size_t(lru_prev_[k])] = lru_next_[k];
                if (lru_next_[k] >= 0) lru_prev_[size_t(lru_next_[k])] = lru_prev_[k];
                else lru_tail_ = lru_prev_[k];
                lru_prev_[k] = -1;
                lru_next_[k] = lru_head_;
                lru_prev_[size_t(lru_head_)] = key;
                lru_head_ = key;
            }
            return true;
        }
        lru_in_[k] = 1;
        lru_prev_[k] = -1;
        lru_next_[k] = lru_head_;
        if (lru_head_ >= 0) lru_prev_[size_t(lru_head_)] = key;
        else lru_tail_ = key;
        lru_head_ = key;
        lru_used_ += bytes;
        lru_bytes_[k] = bytes;
        while (lru_used_ > lru_capacity_ && lru_tail_ != key) {
            const int64_t old = lru_tail_;
            lru_tail_ = lru_prev_[size_t(old)];
            lru_next_[size_t(lru_tail_)] = -1;
            lru_in_[size_t(old)] = 0;
            lru_used_ -= lru_bytes_[size_t(old)];
        }
        return false;
    }

    std::pair<int64_t, int64_t> vector_dims(int64_t tile) const {
        const int64_t ri = tile / col_tiles_, ci = tile % col_tiles_;
        return {std::min(t_.m, op_.rows - ri * t_.m), std::min(t_.n, op_.cols - ci * t_.n)};
    }

    const Machine& m_;
    const TileOp& op_;
    Tile t_;
    MatrixShape u_;
    GemmGeometry g_{};
    TileOrder order_;
    int64_t a_chunks_ = 0;  // LRU keys: A chunks first, then B chunks
    std::vector<int64_t> lru_prev_, lru_next_;
    std::vector<char> lru_in_;
    std::vector<double> lru_bytes_;
    std::vector<int64_t> lru_fetch_;  // the load that last fetched each streamed chunk off-chip
    int64_t lru_head_ = -1, lru_tail_ = -1;
    double lru_used_ = 0, lru_capacity_ = 0;
    bool lru_on_ = false;
    int cores_ = 0;
    int64_t nk_ = 1, tiles_ = 0, row_tiles_ = 0, col_tiles_ = 0;
    double in_ = 1, b_in_ = 1, vec_rate_ = 1;
    bool a_res_ = false, b_res_ = false, converts_ = false;
    std::vector<char> a_touched_, b_touched_, bias_touched_;
};

// One core's pipeline: each unit works through its queue in order, one job at a time.
struct Core {
    int64_t tiles = 0, steps = 0;
    int64_t loads_started = 0, loads_done = 0, comps_started = 0, comps_done = 0;
    int64_t posts_started = 0, posts_done = 0, stores_started = 0, stores_done = 0;
    bool load_busy = false, comp_busy = false, post_busy = false, store_busy = false;
    int load_parts = 0, store_parts = 0;  // transfers still running
    double load_start = 0, store_start = 0;
    double load_bytes = 0, store_bytes = 0;  // of the transfer running (for its timeline event)
    int64_t load_id = -1;                    // of the load running
    int64_t wait_for[2] = {-1, -1};          // loads it must not complete before (StepWork::wait_for)
    std::vector<double> step_cycles;  // matrix cycles of started loads, by step (consumed by compute)
    std::vector<double> step_bytes;   // bytes of started loads, by step (what the matrix step moves to L0)
};

struct Transfer {
    int core;
    bool store;
    bool offchip;
    double remaining;
};

struct Fixed {  // a matrix or vector job with a known end
    double end;
    int64_t seq;
    int core;
    Unit unit;
    bool operator>(const Fixed& o) const { return end != o.end ? end > o.end : seq > o.seq; }
};

}  // namespace

TileResult simulate_tiles(const Machine& m, const TileOp& op, const SimOptions& opt) {
    TileResult r;
    r.name = op.name;
    r.op = op_kind_name(op.kind);
    r.dtype = op.dtype;
    r.tile = choose_tile(m, op);
    r.order = choose_order(m, op, r.tile);
    Lowering low(m, op, r.tile, r.order);
    const int ncores = low.cores();
    const int64_t nk = low.steps_per_tile();
    r.tiles = low.tiles();
    r.cores_used = int(std::min<int64_t>(r.tiles, ncores));

    // At most a load and a matrix step per K step, and a vector job and a store per tile.
    r.timeline.reserve(size_t(std::min<double>(double(opt.max_timeline_events), double(r.tiles) * double(2 * nk + 2))));
    std::vector<Core> cores(static_cast<size_t>(ncores));
    // Static round-robin dealing, or (where streamed chunks are shared) dynamic dispatch: a core
    // takes the next tile of the order when it starts loading one, so the tiles in flight stay a
    // window of the order (see "L2 reuse" in the header). A dynamic core's count is an upper
    // bound until the order runs out.
    const bool dynamic = low.shares_streamed();
    std::vector<std::vector<int64_t>> dealt(dynamic ? size_t(ncores) : 0);
    int64_t next_seq = 0;
    for (int c = 0; c < ncores; ++c) {
        cores[size_t(c)].tiles = dynamic ? r.tiles : r.tiles > c ? (r.tiles - c + ncores - 1) / ncores : 0;
        cores[size_t(c)].steps = cores[size_t(c)].tiles * nk;
    }
    auto global_tile = [&](int c, int64_t local) {
        return dynamic ? dealt[size_t(c)][size_t(local)] : low.tile_at(int64_t(c) + local * ncores);
    };

    std::vector<Transfer> active;
    std::vector<char> load_done, merged;  // by load id (issue order): done; another load waits on it
    std::vector<int> waiting, woken;
    std::priority_queue<Fixed, std::vector<Fixed>, std::greater<Fixed>> fixed;
    int64_t seq = 0;
    double now = 0;
    double busy_matrix = 0, busy_vector = 0, busy_dma = 0;
    const double port_bps = m.core_dma_bytes_per_cycle * m.clock_hz;
    const double matrix_hz = m.matrix_rate(op.dtype);  // matrix steps per second

    auto record = [&](int c, Unit u, int64_t tile, double start, double end, double bytes) {
        if (r.timeline.size() < opt.max_timeline_events)
            r.timeline.push_back({c, u, tile, start, end, bytes});
        else
            ++r.timeline_dropped;
    };
    auto add_transfer = [&](int c, bool store, bool offchip, double bytes) {
        if (bytes <= 0) return 0;
        active.push_back({c, store, offchip, bytes});
        return 1;
    };

    auto try_start = [&](int c) {
        Core& k = cores[size_t(c)];
        for (bool progress = true; progress;) {
            progress = false;
            // DMA out of tile t once its vector work is done.
            if (!k.store_busy && k.stores_started < k.tiles && k.posts_done > k.stores_started) {
                const TileWork w = low.tile_work(global_tile(c, k.stores_started));
                k.store_busy = true;
                k.store_start = now;
                k.store_bytes = w.store_bytes;
                r.bytes.offchip += w.store_bytes;
                k.store_parts = add_transfer(c, true, true, w.store_bytes);
                ++k.stores_started;
                if (k.store_parts == 0) fixed.push({now, seq++, c, Unit::dma_out});
                progress = true;
            }
            // Vector work of tile t: its last matrix step is done (or, for vector ops, its load),
            // and one of the two output buffers is free (the store of t-2 is done).
            const int64_t t = k.posts_started;
            const bool inputs_ready = low.matrix() ? k.comps_done >= (t + 1) * nk : k.loads_done > t;
            if (!k.post_busy && t < k.tiles && inputs_ready && (t < 2 || k.stores_done >= t - 1)) {
                const TileWork w = low.tile_work(global_tile(c, t));
                k.post_busy = true;
                ++k.posts_started;
                const double d = w.vector_cycles / m.clock_hz;
                busy_vector += d;
                r.bytes.ub += 2 * w.vector_bytes;
                r.bytes.l0 += w.acc_bytes;
                r.energy_j += w.vector_bytes * m.vector_byte_pj * 1e-12;
                r.energy.vector += w.vector_bytes * m.vector_byte_pj * 1e-12;
                fixed.push({now + d, seq++, c, Unit::vector});
                record(c, Unit::vector, global_tile(c, t), now, now + d, 2 * w.vector_bytes);
                progress = true;
            }
            // Matrix step s: its data is loaded, and a new tile needs a free accumulator buffer
            // (the vector work of tile t-2 is done).
            const int64_t s = k.comps_started;
            if (low.matrix() && !k.comp_busy && s < k.steps && k.loads_done > s) {
                const int64_t st = s / nk;
                if (s % nk != 0 || st < 2 || k.posts_done >= st - 1) {
                    k.comp_busy = true;
                    ++k.comps_started;
                    const double mat = k.step_cycles[size_t(s)] / matrix_hz;
                    double d = mat;
                    if (low.converts()) {
                        // The conversion of this chunk overlapped the previous step (see the header).
                        const double deq = low.dequant_s(global_tile(c, st), s % nk);
                        d = deq > mat ? deq : mat;
                        busy_vector += deq;
                    }
                    busy_matrix += mat;
                    fixed.push({now + d, seq++, c, Unit::matrix});
                    record(c, Unit::matrix, global_tile(c, st), now, now + d, k.step_bytes[size_t(s)]);
                    progress = true;
                }
            }
            // DMA in of step s into one of two input buffers: free once step s-2 is consumed.
            const int64_t l = k.loads_started;
            const int64_t consumed = low.matrix() ? k.comps_done : k.posts_done;
            if (dynamic && !k.load_busy && l < k.steps && (l < 2 || consumed >= l - 1) && l % nk == 0 &&
                int64_t(dealt[size_t(c)].size()) == l / nk) {
                if (next_seq < r.tiles) {
                    dealt[size_t(c)].push_back(low.tile_at(next_seq++));
                } else {
                    k.tiles = l / nk;
                    k.steps = l;
                    progress = true;  // the store and vector conditions read k.tiles
                }
            }
            if (!k.load_busy && l < k.steps && (l < 2 || consumed >= l - 1)) {
                const int64_t id = int64_t(load_done.size());
                load_done.push_back(0);
                merged.push_back(0);
                const StepWork w = low.step(global_tile(c, l / nk), l % nk, id);
                k.load_id = id;
                k.wait_for[0] = w.wait_for[0], k.wait_for[1] = w.wait_for[1];
                for (int64_t dep : w.wait_for)
                    if (dep >= 0) merged[size_t(dep)] = 1;
                k.step_cycles.push_back(w.matrix_cycles);
                if (w.dequant_bytes > 0) {
                    r.bytes.ub += 2 * w.dequant_bytes;
                    r.energy_j += w.dequant_bytes * m.vector_byte_pj * 1e-12;
                    r.energy.vector += w.dequant_bytes * m.vector_byte_pj * 1e-12;
                }
                k.step_bytes.push_back(w.l0_bytes);
                r.padded_macs += w.padded_macs;
                r.bytes.offchip += w.offchip_bytes;
                r.bytes.l2 += w.l2_bytes;
                r.bytes.l1 += w.offchip_bytes + w.l2_bytes;
                if (low.matrix()) r.bytes.l0 += w.l0_bytes;
                k.load_busy = true;
                k.load_start = now;
                k.load_bytes = w.offchip_bytes + w.l2_bytes;
                k.load_parts = add_transfer(c, false, true, w.offchip_bytes) + add_transfer(c, false, false, w.l2_bytes);
                if (k.load_parts == 0) fixed.push({now, seq++, c, Unit::dma_in});
                ++k.loads_started;
                progress = true;
            }
        }
    };

    // A load whose transfers are done completes now, unless a fetch it shares is still in flight:
    // then it waits (in `waiting`) and completes with that fetch (woken cores go to `woken`).
    auto ready = [&](const Core& k) {
        return (k.wait_for[0] < 0 || load_done[size_t(k.wait_for[0])]) &&
               (k.wait_for[1] < 0 || load_done[size_t(k.wait_for[1])]);
    };
    std::function<void(int)> finish_load = [&](int c) {
        Core& k = cores[size_t(c)];
        k.load_busy = false;
        ++k.loads_done;
        busy_dma += now - k.load_start;
        record(c, Unit::dma_in, global_tile(c, (k.loads_done - 1) / nk), k.load_start, now, k.load_bytes);
        load_done[size_t(k.load_id)] = 1;
        for (size_t i = 0; i < waiting.size();) {
            const int w = waiting[i];
            if (ready(cores[size_t(w)])) {
                waiting.erase(waiting.begin() + std::ptrdiff_t(i));
                woken.push_back(w * 2);
                finish_load(w);
                i = 0;  // finish_load may have changed the list
            } else {
                ++i;
            }
        }
    };
    auto arrive = [&](int c) {
        if (ready(cores[size_t(c)])) finish_load(c);
        else waiting.push_back(c);
    };
    auto finish_store = [&](int c) {
        Core& k = cores[size_t(c)];
        k.store_busy = false;
        ++k.stores_done;
        busy_dma += now - k.store_start;
        record(c, Unit::dma_out, global_tile(c, k.stores_done - 1), k.store_start, now, k.store_bytes);
    };

    for (int c = 0; c < ncores; ++c) try_start(c);
    std::vector<int> touched;
    while (!fixed.empty() || !active.empty()) {
        // Fair share: n transfers on a server get bandwidth / n each (off-chip: at most a port).
        // An off-chip load passes through the L2 on its way to L1 (GPUs and Ascend fill L2 lines
        // from DRAM), so it also takes a share of the L2 server: a miss is never faster than a hit.
        // The L2 is shared max-min fairly: an off-chip load takes at most its off-chip rate there,
        // the L2 loads split what it leaves.
        int n_off = 0, n_off_loads = 0, n_l2 = 0;
        for (const auto& x : active) {
            if (x.offchip) ++n_off;
            if (x.offchip && !x.store) ++n_off_loads;
            if (!x.offchip) ++n_l2;
        }
        // A fetch that other cores' loads merged into (see "In-flight fetches") is pulled into the
        // L2 for all of them: its off-chip share is not capped by the fetching core's port.
        int n_merged = 0;
        for (const auto& x : active)
            if (x.offchip && !x.store && merged[size_t(cores[size_t(x.core)].load_id)]) ++n_merged;
        const double share_off = n_off ? m.offchip_bytes_per_s / n_off : 0.0;
        const double rate_off = std::min(port_bps, share_off);
        const double l2_fair = n_l2 + n_off_loads ? m.l2_bytes_per_s / (n_l2 + n_off_loads) : 0.0;
        const double rate_miss = std::min(rate_off, l2_fair), rate_merged = std::min(share_off, l2_fair);
        const double rate_l2 =
            n_l2 ? (m.l2_bytes_per_s - (n_off_loads - n_merged) * rate_miss - n_merged * rate_merged) / n_l2 : 0.0;
        auto rate_of = [&](const Transfer& x) {
            if (!x.offchip) return rate_l2;
            if (x.store) return rate_off;
            return merged[size_t(cores[size_t(x.core)].load_id)] ? rate_merged : rate_miss;
        };
        double dt_dma = kInf;
        for (const auto& x : active) dt_dma = std::min(dt_dma, x.remaining / rate_of(x));
        const double t_fixed = fixed.empty() ? kInf : fixed.top().end;
        touched.clear();
        if (now + dt_dma <= t_fixed) {
            // A transfer finishes first; those that finish exactly now are removed (in place, in
            // order: the survivors keep their relative order, as the event order depends on it).
            size_t kept = 0;
            for (size_t i = 0; i < active.size(); ++i) {
                Transfer& x = active[i];
                const double rate = rate_of(x);
                if (x.remaining / rate <= dt_dma) {
                    Core& k = cores[size_t(x.core)];
                    int& parts = x.store ? k.store_parts : k.load_parts;
                    if (--parts == 0) touched.push_back(x.core * 2 + (x.store ? 1 : 0));
                } else {
                    x.remaining -= rate * dt_dma;
                    active[kept++] = x;
                }
            }
            active.resize(kept);
            now += dt_dma;
            for (int code : touched) (code & 1) ? finish_store(code / 2) : arrive(code / 2);
        } else {
            const double dt = t_fixed - now;
            for (auto& x : active) x.remaining -= rate_of(x) * dt;
            now = t_fixed;
        }
        while (!fixed.empty() && fixed.top().end <= now) {
            const Fixed f = fixed.top();
            fixed.pop();
            Core& k = cores[size_t(f.core)];
            switch (f.unit) {
                case Unit::matrix: k.comp_busy = false; ++k.comps_done; break;
                case Unit::vector: k.post_busy = false; ++k.posts_done; break;
                case Unit::dma_in: arrive(f.core); break;
                case Unit::dma_out: finish_store(f.core); break;
            }
            touched.push_back(f.core * 2);
        }
        touched.insert(touched.end(), woken.begin(), woken.end());
        woken.clear();
        for (int code : touched) try_start(code / 2);
    }
    for (const auto& k : cores)
        if (k.stores_done != k.tiles) throw std::logic_error("tile simulator: a core stalled for " + op.name);

    // Totals, the roofline of the same machine, and utilization.
    r.time_s = now;
    r.cycles = now * m.clock_hz;
    const OpFloor floor = op_roofline(m, op);
    r.ops = floor.ops;
    r.compute_floor_s = floor.compute_s;
    r.memory_floor_s = floor.memory_s;
    r.roofline_s = floor.time_s;
    r.bound = floor.bound;
    if (low.matrix()) r.energy_j += r.padded_macs * m.mac_pj[int(op.dtype)] * 1e-12;
    r.energy_j += (r.bytes.offchip * m.offchip_byte_pj + r.bytes.l2 * m.l2_byte_pj + r.bytes.l1 * m.l1_byte_pj +
                   r.bytes.l0 * m.l0_byte_pj + r.bytes.ub * m.ub_byte_pj) * 1e-12;
    if (low.matrix()) r.energy.mac = r.padded_macs * m.mac_pj[int(op.dtype)] * 1e-12;
    r.energy.offchip = r.bytes.offchip * m.offchip_byte_pj * 1e-12;
    r.energy.l2 = r.bytes.l2 * m.l2_byte_pj * 1e-12;
    r.energy.l1 = r.bytes.l1 * m.l1_byte_pj * 1e-12;
    r.energy.l0 = r.bytes.l0 * m.l0_byte_pj * 1e-12;
    r.energy.ub = r.bytes.ub * m.ub_byte_pj * 1e-12;
    if (r.time_s > 0) {
        r.util_matrix = low.matrix() ? busy_matrix / (m.matrix_cores * r.time_s) : 0.0;
        r.util_vector = busy_vector / (ncores * r.time_s);
        r.util_dma = busy_dma / (2.0 * ncores * r.time_s);
        r.util_offchip = r.bytes.offchip / (m.offchip_bytes_per_s * r.time_s);
        r.util_l2 = r.bytes.l2 / (m.l2_bytes_per_s * r.time_s);
    }
    return r;
}

OpFloor op_roofline(const Machine& m, const TileOp& op) {
    OpFloor f;
    const double in = dtype_bytes(op.dtype);
    if (is_matrix(op.kind)) {
        unit_for(m, op);
        f.ops = 2.0 * op.batch * op.M * op.N * op.K;
        f.compute_s = f.ops / m.peak_ops_per_s(op.dtype);
        const double b = op.b_onchip ? 0.0 : double(op.batch) * op.K * op.N * b_stored(op);
        f.offchip_bytes = double(op.batch) * op.M * op.K * in * op.a_offchip_fraction + b +
                          double(op.batch) * op.M * op.N * op.out_bytes + (op.bias ? double(op.N) * op.out_bytes : 0);
    } else {
        const double elems = double(op.rows) * op.cols;
        f.ops = elems * vector_passes(op);
        f.compute_s = elems * op.out_bytes * vector_passes(op) / (m.vector_bytes_per_cycle * m.vector_cores * m.clock_hz);
        f.offchip_bytes = elems * (vector_in_bytes(op) * op.inputs + op.out_bytes);
    }
    f.memory_s = f.offchip_bytes / m.offchip_bytes_per_s;
    f.time_s = std::max(f.compute_s, f.memory_s);
    f.bound = f.compute_s >= f.memory_s ? Bound::compute : Bound::memory;
    return f;
}

namespace {

// Everything that determines a simulation except the name.
std::string op_key(const TileOp& op) {
    char buf[600];
    std::snprintf(buf, sizeof buf, "%d|%d|%lld|%lld|%lld|%lld|%d|%d|%d|%.17g|%lld|%lld|%d|%d|%lld|%lld|%lld|%.17g|%d|%d",
                  int(op.kind), int(op.dtype), (long long)op.batch, (long long)op.M, (long long)op.N, (long long)op.K,
                  op.out_bytes, int(op.bias), int(op.act), op.a_offchip_fraction, (long long)op.rows,
                  (long long)op.cols, op.inputs, op.passes, (long long)op.tile.m, (long long)op.tile.n,
                  (long long)op.tile.k, op.b_stored_bytes, op.b_dequant_passes, int(op.b_onchip));
    return buf;
}

}  // namespace

GraphResult simulate_graph(const Machine& m, const std::vector<TileOp>& ops, const SimOptions& opt) {
    GraphResult g;
    g.ops.reserve(ops.size());
    std::map<std::string, size_t> seen;  // op key -> index of its first result
    for (const auto& op : ops) {
        const std::string key = op_key(op);
        auto it = seen.find(key);
        TileResult r;
        if (it == seen.end()) {
            r = simulate_tiles(m, op, opt);
            seen.emplace(key, g.ops.size());
        } else {
            // Everything but the timeline (see TileResult::same_as).
            TileResult& first = g.ops[it->second];
            std::vector<TimelineEvent> timeline;
            timeline.swap(first.timeline);
            r = first;
            first.timeline.swap(timeline);
            r.timeline_dropped = 0;
            r.same_as = int64_t(it->second);
            r.name = op.name;
        }
        g.time_s += r.time_s;
        g.cycles += r.cycles;
        g.energy_j += r.energy_j;
        g.roofline_s += r.roofline_s;
        g.bytes.offchip += r.bytes.offchip;
        g.bytes.l2 += r.bytes.l2;
        g.bytes.l1 += r.bytes.l1;
        g.bytes.l0 += r.bytes.l0;
        g.bytes.ub += r.bytes.ub;
        g.ops.push_back(std::move(r));
    }
    return g;
}

std::vector<TileOp> gemm_bias_act(int64_t M, int64_t N, int64_t K, DType dtype, Activation act, bool fused) {
    if (fused) return {gemm_op("gemm_bias_" + std::string(activation_name(act)), M, N, K, dtype, true, act)};
    TileOp g = gemm_op("gemm", M, N, K, dtype);
    // The unfused bias-add reads C and writes it back (its N-element bias row is left out).
    TileOp b = elementwise_op("bias_add", M, N, dtype, 1, 1);
    b.out_bytes = g.out_bytes;
    std::vector<TileOp> ops = {g, b};
    if (act != Activation::none) {
        TileOp a = activation_op(activation_name(act), M, N, dtype, act);
        a.out_bytes = g.out_bytes;
        ops.push_back(a);
    }
    return ops;
}

std::vector<TileOp> layernorm_act(int64_t rows, int64_t cols, DType dtype, Activation act, bool fused) {
    if (fused) return {layernorm_op("layernorm_" + std::string(activation_name(act)), rows, cols, dtype, act)};
    std::vector<TileOp> ops = {layernorm_op("layernorm", rows, cols, dtype)};
    if (act != Activation::none) ops.push_back(activation_op(activation_name(act), rows, cols, dtype, act));
    return ops;
}

}  // namespace stacklab::chip
