// Roofline: the instant, first fidelity of the chip emulator (Williams, Waterman and Patterson,
// "Roofline: an insightful visual performance model", CACM 2009).
//
// An operator that does `ops` operations (a multiply-add counts as 2) and moves `bytes` through
// off-chip memory cannot finish faster than either
//   compute time = ops / peak_ops_per_s     or     memory time = bytes / bandwidth,
// so its roofline time is the larger of the two, and the operator is compute- or memory-bound.
// Its arithmetic intensity is ops / bytes; the chip's ridge point is peak / bandwidth: operators
// whose intensity lies below the ridge are memory-bound.
//
// Peaks come from the chip catalog (dense matrix-unit peaks and off-chip bandwidth). Where public
// claims conflict, `Pick` chooses the catalog's default, the lowest or the highest claim, so a
// student can see how much the answer depends on which brochure one believes.
// One peak rule for every fidelity: the matrix peak is the catalog's figure for the data type, as
// `Pick` selects it. The tile-level machine (tile_sim.hpp machine_of) runs its matrix unit at the
// rate that delivers exactly this figure, so `simulate --gemm` (this roofline), a model's roofline
// rows (graph_sim.hpp) and the tile simulator's floor are the same number for the same GEMM. The
// microarchitecture's own product (cores x M*K*N x 2 x clock, Machine::derived_peak_ops_per_s) is
// shown alongside; for the Ascend 910B it is 353.9 TFLOPS fp16 (24 cores at the 910B2's 1.8 GHz)
// against the catalog's default 320 (see models/chips/ascend-910b.json).
//
// What this level does NOT model (the tile-level simulator will): on-chip buffer levels, tiling,
// overlap limits, vector-unit work, clocks below peak. A roofline time is a lower bound.
#pragma once

#include <string>
#include <vector>

#include "chip/catalog.hpp"

namespace stacklab::chip {

// The data types the catalog has matrix-unit peaks for.
enum class DType { int8, fp16, bf16 };
const char* dtype_name(DType t);            // "int8", "fp16", "bf16"
DType parse_dtype(const std::string& name);  // throws std::invalid_argument naming the value
int dtype_bytes(DType t);

// Which value of a figure with conflicting public claims to use.
enum class Pick { nominal, low, high };
const char* pick_name(Pick p);
Pick parse_pick(const std::string& name);  // "nominal" | "low" | "high"

// The catalog figure that holds the dense matrix peak of a data type: "int8_tops", "fp16_tflops",
// "bf16_tflops".
const char* peak_figure_key(DType t);

// The numbers one roofline needs, for one chip and data type.
struct ChipPeak {
    std::string chip_id;
    DType dtype = DType::int8;
    double ops_per_s = 0;        // dense matrix-unit peak
    double mem_bytes_per_s = 0;  // off-chip bandwidth
    double memory_bytes = 0;     // off-chip capacity (0 when the catalog has no figure)
    double ridge_ops_per_byte() const { return ops_per_s / mem_bytes_per_s; }
};
// Throws std::invalid_argument naming the chip and the figure when the catalog has no value
// for the peak or the bandwidth of this chip.
ChipPeak chip_peak(const ChipSpec& chip, DType dtype, Pick pick = Pick::nominal);

// The work of one operator.
struct OpWork {
    std::string name, op;
    double ops = 0;    // operations, a multiply-add = 2
    double bytes = 0;  // off-chip bytes read + written
};

enum class Bound { compute, memory };
const char* bound_name(Bound b);

struct RooflineRow {
    OpWork work;
    double intensity = 0;  // ops per byte
    double compute_s = 0, memory_s = 0, time_s = 0;
    Bound bound = Bound::compute;
    double attainable_ops_per_s = 0;  // min(peak, intensity * bandwidth)
    double utilization = 0;           // achieved / peak ops: (ops / time_s) / ops_per_s
};
RooflineRow roofline(const ChipPeak& peak, const OpWork& work);

// C[M,N] = A[M,K] B[K,N] with each operand crossing off-chip memory once (perfect on-chip
// reuse: the most optimistic traffic), output in `out_bytes` per element (int32 accumulators: 4;
// requantized int8: 1; fp16: 2). Throws std::invalid_argument for a non-positive dimension.
OpWork gemm_work(double M, double N, double K, DType dtype, int out_bytes);

}  // namespace stacklab::chip
