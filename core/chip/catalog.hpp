// Chip catalog: the public figures of AI accelerators, loaded from JSON bytes and validated.
//
// One file per chip, `models/chips/<id>.json`. Every field we read is documented here, once.
//
//   id        string   lowercase [a-z0-9-]+, stable; must equal the file name stem
//   name      string   display name
//   vendor    string
//   origin    string   two-letter country code of the designer ("CN" counts as domestic for the
//                      sovereign-tier policies, "US" for the references)
//   segment   string   "datacenter-training" | "datacenter-inference" | "edge"
//   summary   string   one or two sentences for a workshop student
//   figures   object   all of the keys below, each a FIGURE:
//     int8_tops              number  dense peak INT8 tera-operations per second (no sparsity)
//     fp16_tflops            number  dense peak FP16 TFLOPS on the matrix unit
//     bf16_tflops            number  dense peak BF16 TFLOPS
//     memory_type            string  e.g. "HBM2e", "LPDDR5"
//     memory_gb              number  off-chip memory capacity, GB as the vendor states it
//     memory_bandwidth_gbps  number  off-chip memory bandwidth, GB/s
//     tdp_w                  number  board or module power, W
//     cores                  number  compute cores (SMs, AI cores, clusters); `note` says which
//     process                string  e.g. "TSMC N7"
//     release_year           number  integer year
//
//   microarch object  OPTIONAL: the microarchitecture the tile-level simulator (chip/tile_sim.hpp)
//                     runs on; every key below is required when the object is present, each a FIGURE.
//                     "Core" means one matrix (cube / Tensor Core group / BPU) core.
//     matrix_cores             number  matrix cores that run tiles in parallel
//     vector_cores             number  vector cores (post-ops, norms, softmax, elementwise)
//     clock_mhz                number  clock of the matrix and vector cores, MHz
//     matrix_shape_int8        string  "MxKxN": the matrix unit multiplies an MxK by a KxN block
//     matrix_shape_fp16        string    per core per cycle (M*K*N MACs); unknown = not supported
//     matrix_shape_bf16        string    (e.g. Ascend DaVinci cube: int8 16x32x16, fp16 16x16x16)
//     vector_bytes_per_cycle   number  bytes of operands one vector core processes per cycle
//     l0a_kib, l0b_kib         number  per core: matrix-unit input buffers for A and B, KiB
//     l0c_kib                  number  per core: matrix-unit accumulator buffer, KiB
//     l1_kib                   number  per core: staging buffer that DMA fills from L2/off-chip, KiB
//     ub_kib                   number  per vector core: unified (vector) buffer, KiB
//     l2_mib                   number  shared on-chip L2, MiB
//     l2_bandwidth_gbps        number  L2 bandwidth shared by all cores, GB/s
//     core_dma_bytes_per_cycle number  bytes per cycle one core's DMA port moves to/from off-chip
//                                     memory (caps its share of off-chip bandwidth; L2 hits are not capped)
//     energy                   object  each key a FIGURE, picojoules:
//       mac_int8_pj, mac_fp16_pj, mac_bf16_pj   per multiply-accumulate on the matrix unit
//       vector_byte_pj                          per byte the vector unit processes
//       l0_byte_pj, l1_byte_pj, ub_byte_pj, l2_byte_pj, offchip_byte_pj   per byte moved at
//                                               that level (read or written)
//                     Off-chip bandwidth and capacity are the figures above. Most energies are
//                     `assumed` (Horowitz, ISSCC 2014, 45 nm, scaled by a stated process factor).
//
// A FIGURE is exactly one of four forms; any form may add "note" (string):
//   sourced  {"value": V, "source": "URL or document", "reported": true?}
//   claims   {"value": V, "claims": [{"value": V1, "source": S1, "reported": true?}, ...]}
//            at least two claims; V is the default and must lie within the claims' range.
//            Public figures conflict for several chips: we keep every claim with its source
//            instead of silently picking one.
//   assumed  {"value": V, "assumed": true, "reason": "why"}
//   unknown  {"value": null, "unknown": true, "reason": "why"}
// "reported": true marks a figure that only news or secondary sources give.
// Unknown keys are rejected so that a typo ("int8_top") is an error, not a silently missing figure.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace stacklab::chip {

// A problem in one catalog file: names the file and the field (JSON pointer style path).
class CatalogError : public std::runtime_error {
public:
    CatalogError(std::string file, std::string field, const std::string& problem);
    const std::string& file() const { return file_; }
    const std::string& field() const { return field_; }

private:
    std::string file_;
    std::string field_;
};

enum class Provenance { sourced, claims, assumed, unknown };
// "sourced", "claims", "assumed", "unknown": the names used in catalog_json.
const char* provenance_name(Provenance p);

struct Claim {
    std::variant<double, std::string> value;
    std::string source;
    bool reported = false;
};

// One public figure with where it comes from. `value` is empty only for Provenance::unknown.
struct Figure {
    std::optional<std::variant<double, std::string>> value;
    Provenance provenance = Provenance::unknown;
    std::string source;   // sourced
    bool reported = false;  // sourced: only news/secondary sources give it
    std::vector<Claim> claims;  // claims
    std::string reason;   // assumed, unknown
    std::string note;

    bool known() const { return value.has_value(); }
    // The numeric value; throws std::logic_error when the figure is unknown or textual.
    double number() const;
    // The textual value ("" when unknown); throws std::logic_error when numeric.
    std::string text() const;
    // [min, max] over the claims for Provenance::claims, [value, value] otherwise (numbers only).
    std::pair<double, double> range() const;
};

// "312", "HBM2e"; numbers as the shortest %g form.
std::string format_value(const std::variant<double, std::string>& v);
// A figure as one table cell: "320 [256-376]" for conflicting claims, "64 (a)" assumed,
// "128 (r)" reported only in news, "n/a" unknown. Shared by the CLI and the UI.
std::string format_figure(const Figure& f);

// The names of the figure keys in catalog order, with whether each one holds text.
struct FigureKey {
    const char* name;
    bool textual;
};
const std::vector<FigureKey>& figure_keys();
// The keys of the optional `microarch` object (without `energy`) and of `microarch/energy`.
const std::vector<FigureKey>& microarch_keys();
const std::vector<FigureKey>& energy_keys();

struct ChipSpec {
    std::string id, name, vendor, origin, segment, summary;
    // Indexed like figure_keys().
    std::vector<Figure> figures;

    const Figure& figure(const std::string& key) const;  // throws std::out_of_range

    // Empty when the file has no `microarch` object; else indexed like microarch_keys() and
    // energy_keys().
    std::vector<Figure> microarch, energy;
    bool has_microarch() const { return !microarch.empty(); }
    // Throw std::out_of_range for an unknown key or when the chip has no microarch.
    const Figure& micro(const std::string& key) const;
    const Figure& energy_figure(const std::string& key) const;
};

// Parses and validates one chip file. `file_name` is used in errors and must end in `<id>.json`.
ChipSpec parse_chip(const std::string& json_bytes, const std::string& file_name);

struct CatalogFile {
    std::string name;   // file name as the user knows it (a path or a bundled name)
    std::string bytes;
};

// Parses every file, rejects duplicate ids, and returns the chips sorted by id.
std::vector<ChipSpec> load_catalog(const std::vector<CatalogFile>& files);

// The catalog shipped with StackLab (models/chips/*.json, embedded at build time).
const std::vector<CatalogFile>& bundled_catalog_files();

// `{"chips": [...]}`, the document printed by `stacklab chips --json` and returned by the
// browser's `window.stacklab.chips()`. Deterministic: same bytes on every target.
std::string catalog_json(const std::vector<ChipSpec>& chips, int indent = 2);

}  // namespace stacklab::chip
