// Systolic-array cycle model compatible with SCALE-Sim v2 (github.com/scalesim-project/scale-sim-v2).
//
// SCALE-Sim users bring their own files: the core parses them from bytes (the CLI reads the files)
// and reproduces SCALE-Sim v2's per-layer COMPUTE_REPORT (total cycles, stall cycles, overall
// utilisation, mapping efficiency, compute utilisation) and the access counts of its
// DETAILED_ACCESS_REPORT (SRAM reads/writes per operand, DRAM reads/writes per operand).
//
// Inputs (the formats SCALE-Sim v2 reads; every row of a CSV ends with a comma, spaces are ignored):
//   convolution topology  `Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width,
//                          Channels, Num Filter, Strides,`  one layer per row after the header; an
//                          optional ninth number is the column stride. A layer whose name contains
//                          "DP" is depth-wise: SCALE-Sim splits it into one single-channel layer per
//                          channel, named "<name>Channel_<i>" (scalesim/topology_utils.py).
//   GEMM topology         `Layer, M, N, K,` mapped as SCALE-Sim does to a convolution with an
//                          M x K ifmap, a 1 x K filter, 1 channel, N filters, stride 1.
//   config (.cfg)         INI file (Python configparser rules: `key = value` or `key: value`, keys
//                          case-insensitive, `#`/`;` comment lines). Read keys:
//     [general]              run_name
//     [architecture_presets] ArrayHeight, ArrayWidth            PEs
//                            IfmapSramSzkB, FilterSramSzkB, OfmapSramSzkB   KiB, 1 byte words
//                            IfmapOffset, FilterOffset, OfmapOffset         address offsets
//                            Dataflow                           os | ws | is
//                            Bandwidth                          words/cycle (USER mode; a comma
//                                                               list with one entry per bank)
//                            MemoryBanks                        optional, must be 1 (default 1)
//     [run_presets]          InterfaceBandwidth                 USER | CALC
//   Other keys (the sparsity, layout and ramulator options of later releases) are ignored, as
//   SCALE-Sim v2 ignores them.
//
// The model, per layer (sources are scale-sim-v2 files; the revision read is named per file):
//   1. Operand address matrices (compute/operand_matrix.py): ifmap (ofmap pixels x window), filter
//      (window x filters), ofmap (ofmap pixels x filters). ofmap size is ceil((H - FH + S) / S), so
//      windows that run past the ifmap edge read the null address -1 (AlexNet conv1: 55 x 55).
//   2. Per dataflow and per fold of the array, demand matrices: one row per cycle, one column per
//      array row/column, with fill/drain gaps and the systolic skew
//      (compute/systolic_compute_{os,ws,is}.py, revisions 0b80b27, 11a8413, 1f53104).
//   3. A double-buffered memory system serves the rows in order (memory/
//      double_buffered_scratchpad_mem.py): the ifmap and filter read buffers (memory/read_buffer.py
//      rev 48f6938 in USER mode, memory/read_buffer_estimate_bw.py in CALC mode) delay a row when
//      the prefetcher has not brought its data yet; the ofmap write buffer (memory/write_buffer.py
//      rev 51074ed) delays a row when it is full and still draining. A row's stall is the largest
//      of the three delays; total cycles is the cycle at which the last ofmap row is served.
//   4. Report (single_layer_sim.py): overall util = ofmap px x window / (total x PEs); mapping
//      efficiency and compute utilisation are the means over folds.
// Known SCALE-Sim quirks reproduced on purpose, so the numbers are SCALE-Sim's: the OS ofmap SRAM
// write count adds (ArrayHeight + ArrayWidth) per fold; a read-buffer prefetch that lands early
// shortens the row's latency below the hit latency; DRAM read counts are whole fetch lines
// (lines x bandwidth); ofmap DRAM writes count the padding of partially filled drain lines
// except in a drain's last line. Not modelled: layout/bank-conflict evaluation, sparsity and
// ramulator traces of later releases (their config keys are ignored); the trace files themselves.
// Everything is integer arithmetic except the three percentages.
// Implementation (systolic.cpp): the demand and prefetch matrices are never stored; per demand row
// each operand's non-null entries are one interval of array columns in closed form, addresses come
// from per-pixel and per-tap tables, the read buffers index flat arrays by address offset, the
// write buffer takes a row's ofmap entries in bulk, and look-ups that provably all hit (a slice
// repeated from the previous fold that hit entirely there) are skipped. Same entries in the same
// order as SCALE-Sim's matrices hold them, so the same reports.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace stacklab::chip {

// A malformed SCALE-Sim input. what() reads "<input>:<line>: <field>: <problem>" (line 0 when
// the problem is not tied to a line, e.g. a missing key).
class ScalesimInputError : public std::invalid_argument {
public:
    ScalesimInputError(std::string input, int line, std::string field, const std::string& problem);
    const std::string& input() const { return input_; }
    int line() const { return line_; }
    const std::string& field() const { return field_; }

private:
    std::string input_;
    int line_;
    std::string field_;
};

enum class Dataflow { os, ws, is };
// "os", "ws", "is".
const char* dataflow_name(Dataflow d);

struct SystolicConfig {
    std::string run_name = "scale_run";
    int64_t array_rows = 32;  // ArrayHeight
    int64_t array_cols = 32;  // ArrayWidth
    int64_t ifmap_sram_kb = 64;
    int64_t filter_sram_kb = 64;
    int64_t ofmap_sram_kb = 64;
    int64_t ifmap_offset = 0;
    int64_t filter_offset = 10000000;
    int64_t ofmap_offset = 20000000;
    Dataflow dataflow = Dataflow::ws;
    bool user_bandwidth = true;       // InterfaceBandwidth USER (true) or CALC (false)
    std::vector<int64_t> bandwidths;  // words/cycle, USER mode; bandwidths[0] is used
};

// One layer as SCALE-Sim stores it (GEMM layers already mapped to this form).
struct ConvLayer {
    std::string name;
    int64_t ifmap_h = 1, ifmap_w = 1;
    int64_t filter_h = 1, filter_w = 1;
    int64_t channels = 1;
    int64_t num_filters = 1;
    int64_t stride_h = 1, stride_w = 1;
};

// `input_name` (usually the file path) only labels errors.
SystolicConfig parse_scalesim_config(const std::string& text, const std::string& input_name);
std::vector<ConvLayer> parse_scalesim_topology(const std::string& text, const std::string& input_name);
std::vector<ConvLayer> parse_scalesim_gemm_topology(const std::string& text, const std::string& input_name);

// ceil((H - FH + S) / S) x ceil((W - FW + S) / S), SCALE-Sim's ofmap size (topology_utils.py).
int64_t ofmap_rows(const ConvLayer& l);
int64_t ofmap_cols(const ConvLayer& l);

struct LayerReport {
    int layer_id = 0;
    std::string layer;
    // COMPUTE_REPORT
    int64_t total_cycles = 0;
    int64_t stall_cycles = 0;
    double overall_util_pct = 0;
    double mapping_eff_pct = 0;
    double compute_util_pct = 0;
    // DETAILED_ACCESS_REPORT counts (words)
    int64_t sram_ifmap_reads = 0;
    int64_t sram_filter_reads = 0;
    int64_t sram_ofmap_writes = 0;
    int64_t dram_ifmap_reads = 0;
    int64_t dram_filter_reads = 0;
    int64_t dram_ofmap_writes = 0;
    // Derived figures that explain the report.
    int64_t macs = 0;   // ofmap pixels x filters x window
    int64_t folds = 0;  // row folds x column folds
};

// Simulates one layer; throws std::invalid_argument for a config or layer SCALE-Sim cannot run.
LayerReport simulate_scalesim_layer(const SystolicConfig& cfg, const ConvLayer& layer, int layer_id = 0);
std::vector<LayerReport> simulate_scalesim(const SystolicConfig& cfg, const std::vector<ConvLayer>& layers);

}  // namespace stacklab::chip
