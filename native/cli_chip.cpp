// `stacklab chips`, `simulate`, `llm`: the chip catalog, the roofline and LLM serving estimates.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"
#include "chip/graph_sim.hpp"
#include "chip/llm.hpp"
#include "chip/llm_tile.hpp"
#include "chip/roofline.hpp"
#include "chip/systolic.hpp"
#include "chip/tile_sim.hpp"
#include "native/cli.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"

namespace stacklab::cli {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(path + ": cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<chip::CatalogFile> catalog_files(const Args& a) {
    if (a.chips_dir.empty()) return chip::bundled_catalog_files();
    std::error_code ec;
    if (!fs::is_directory(a.chips_dir, ec)) throw InputError(a.chips_dir + ": not a directory");
    std::vector<std::string> paths;
    for (const auto& entry : fs::directory_iterator(a.chips_dir, ec))
        if (entry.path().extension() == ".json") paths.push_back(entry.path().string());
    if (ec) throw InputError(a.chips_dir + ": cannot list directory: " + ec.message());
    if (paths.empty()) throw InputError(a.chips_dir + ": no *.json chip files");
    std::sort(paths.begin(), paths.end());
    std::vector<chip::CatalogFile> files;
    for (const auto& p : paths) files.push_back({p, read_file(p)});
    return files;
}

double parse_number(const std::string& option, const std::string& text) {
    try {
        size_t used = 0;
        const double v = std::stod(text, &used);
        if (used == text.size() && std::isfinite(v)) return v;
    } catch (const std::exception&) {
    }
    throw UsageError(option + " expects a number, got \"" + text + "\"");
}

int parse_count(const std::string& option, const std::string& text) {
    const double v = parse_number(option, text);
    if (v < 1 || v > 1e9 || v != std::floor(v)) throw UsageError(option + " expects a whole number >= 1, got \"" + text + "\"");
    return int(v);
}

const chip::ChipSpec& find_chip(const std::vector<chip::ChipSpec>& chips, const std::string& id) {
    for (const auto& c : chips)
        if (c.id == id) return c;
    throw InputError("no chip with id \"" + id + "\" in the catalog");
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}


namespace {

int cmd_chips_list(const Args& a) {
    auto chips = chip::load_catalog(catalog_files(a));
    if (a.json) {
        std::cout << chip::catalog_json(chips) << "\n";
        return 0;
    }
    std::printf("%-20s %-34.34s %-18s %-18s %-18s %-14s\n", "id", "name", "int8_tops", "fp16_tflops",
                "memory_gbps", "tdp_w");
    for (const auto& c : chips)
        std::printf("%-20s %-34.34s %-18s %-18s %-18s %-14s\n", c.id.c_str(), c.name.c_str(),
                    chip::format_figure(c.figure("int8_tops")).c_str(), chip::format_figure(c.figure("fp16_tflops")).c_str(),
                    chip::format_figure(c.figure("memory_bandwidth_gbps")).c_str(), chip::format_figure(c.figure("tdp_w")).c_str());
    std::printf("\n[a-b]: range of public claims; (a): assumed; (r): reported only in news. 'stacklab chips show ID' lists the sources.\n");
    return 0;
}

int cmd_chips_show(const Args& a, const std::string& id) {
    auto chips = chip::load_catalog(catalog_files(a));
    for (const auto& c : chips) {
        if (c.id != id) continue;
        json doc = json::parse(chip::catalog_json({c}))["chips"][0];
        if (a.json) {
            std::cout << doc.dump(2) << "\n";
            return 0;
        }
        std::printf("%s — %s (%s, %s)\n%s\n\n", c.id.c_str(), c.name.c_str(), c.vendor.c_str(), c.segment.c_str(),
                    c.summary.c_str());
        for (const auto& key : chip::figure_keys()) {
            const chip::Figure& f = c.figure(key.name);
            std::printf("  %-22s %s\n", key.name, chip::format_figure(f).c_str());
            if (f.provenance == chip::Provenance::sourced)
                std::printf("  %-22s   source%s: %s\n", "", f.reported ? " (reported)" : "", f.source.c_str());
            for (const auto& cl : f.claims) {
                std::printf("  %-22s   claim %s%s: %s\n", "", chip::format_value(cl.value).c_str(), cl.reported ? " (reported)" : "",
                            cl.source.c_str());
            }
            if (!f.reason.empty()) std::printf("  %-22s   reason: %s\n", "", f.reason.c_str());
        }
        return 0;
    }
    throw InputError("no chip with id \"" + id + "\" in the catalog");
}

int cmd_chips_validate(const Args& a, const std::vector<std::string>& files) {
    if (files.empty()) throw UsageError("chips validate needs at least one FILE");
    json results = json::array();
    int failed = 0;
    for (const auto& path : files) {
        try {
            chip::ChipSpec c = chip::parse_chip(read_file(path), path);
            results.push_back({{"file", path}, {"ok", true}, {"id", c.id}});
            if (!a.json) std::printf("ok  %s (%s)\n", path.c_str(), c.id.c_str());
        } catch (const std::exception& e) {
            ++failed;
            results.push_back({{"file", path}, {"ok", false}, {"error", e.what()}});
            std::cerr << "stacklab: " << e.what() << "\n";
        }
    }
    if (a.json) std::cout << json{{"files", results}, {"failed", failed}}.dump(2) << "\n";
    return failed ? 1 : 0;
}

// Reads one ONNX backend node test folder: model.onnx and test_data_set_*/{input,output}_N.pb,

}  // namespace

int cmd_chips(const Args& a) {
    const std::string sub = a.positional.size() > 1 ? a.positional[1] : "list";
    if (sub == "list") return cmd_chips_list(a);
    if (sub == "show") {
        if (a.positional.size() != 3) throw UsageError("chips show needs exactly one ID");
        return cmd_chips_show(a, a.positional[2]);
    }
    if (sub == "validate")
        return cmd_chips_validate(a, std::vector<std::string>(a.positional.begin() + 2, a.positional.end()));
    throw UsageError("unknown chips subcommand \"" + sub + "\"");
}

namespace {

// Percentages are printed with one fixed printf format so native and wasm print the same bytes.
std::string pct(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", v);
    return buf;
}

int cmd_simulate_scalesim(const Args& a) {
    if (!a.has("--scalesim-topology") || !a.has("--scalesim-config"))
        throw UsageError("simulate needs --scalesim-topology FILE.csv and --scalesim-config FILE.cfg");
    if (a.positional.size() != 1) throw UsageError("simulate takes no positional arguments");
    const std::string topology_file = a.get("--scalesim-topology", ""), config_file = a.get("--scalesim-config", "");
    const std::string cfg_text = read_file(config_file);
    const std::string topo_text = read_file(topology_file);
    const chip::SystolicConfig cfg = chip::parse_scalesim_config(cfg_text, config_file);
    const auto layers = a.flag("--gemm-topology") ? chip::parse_scalesim_gemm_topology(topo_text, topology_file)
                                        : chip::parse_scalesim_topology(topo_text, topology_file);
    const auto reports = chip::simulate_scalesim(cfg, layers);
    if (a.json) {
        // Written by hand (not json::dump) so that floats use the fixed format above.
        std::string out = "{\n  \"run_name\": " + json(cfg.run_name).dump() + ",\n  \"dataflow\": \"" +
                          chip::dataflow_name(cfg.dataflow) + "\",\n  \"array\": [" + std::to_string(cfg.array_rows) +
                          ", " + std::to_string(cfg.array_cols) + "],\n  \"interface_bandwidth\": \"" +
                          (cfg.user_bandwidth ? "USER" : "CALC") + "\",\n  \"layers\": [";
        for (size_t i = 0; i < reports.size(); ++i) {
            const auto& r = reports[i];
            out += i ? ",\n    {" : "\n    {";
            out += "\"layer_id\": " + std::to_string(r.layer_id) + ", \"layer\": " + json(r.layer).dump() +
                   ", \"total_cycles\": " + std::to_string(r.total_cycles) +
                   ", \"stall_cycles\": " + std::to_string(r.stall_cycles) +
                   ", \"overall_util_pct\": " + pct(r.overall_util_pct) +
                   ", \"mapping_eff_pct\": " + pct(r.mapping_eff_pct) +
                   ", \"compute_util_pct\": " + pct(r.compute_util_pct) +
                   ", \"macs\": " + std::to_string(r.macs) +
                   ", \"sram_reads\": {\"ifmap\": " + std::to_string(r.sram_ifmap_reads) +
                   ", \"filter\": " + std::to_string(r.sram_filter_reads) + "}" +
                   ", \"sram_writes\": {\"ofmap\": " + std::to_string(r.sram_ofmap_writes) + "}" +
                   ", \"dram_reads\": {\"ifmap\": " + std::to_string(r.dram_ifmap_reads) +
                   ", \"filter\": " + std::to_string(r.dram_filter_reads) + "}" +
                   ", \"dram_writes\": {\"ofmap\": " + std::to_string(r.dram_ofmap_writes) + "}}";
        }
        out += reports.empty() ? "]\n}\n" : "\n  ]\n}\n";
        std::cout << out;
        return 0;
    }
    std::printf("run %s: %lldx%lld %s array, %s bandwidth\n", cfg.run_name.c_str(), (long long)cfg.array_rows,
                (long long)cfg.array_cols, chip::dataflow_name(cfg.dataflow), cfg.user_bandwidth ? "USER" : "CALC");
    std::printf("%-3s %-20.20s %12s %10s %10s %10s %10s %12s %12s %12s %12s %12s %12s\n", "id", "layer", "total_cycles",
                "stalls", "util_%", "mapping_%", "compute_%", "sram_rd_if", "sram_rd_fl", "sram_wr_of", "dram_rd_if",
                "dram_rd_fl", "dram_wr_of");
    for (const auto& r : reports)
        std::printf("%-3d %-20.20s %12lld %10lld %10s %10s %10s %12lld %12lld %12lld %12lld %12lld %12lld\n", r.layer_id,
                    r.layer.c_str(), (long long)r.total_cycles, (long long)r.stall_cycles, pct(r.overall_util_pct).c_str(),
                    pct(r.mapping_eff_pct).c_str(), pct(r.compute_util_pct).c_str(), (long long)r.sram_ifmap_reads,
                    (long long)r.sram_filter_reads, (long long)r.sram_ofmap_writes, (long long)r.dram_ifmap_reads,
                    (long long)r.dram_filter_reads, (long long)r.dram_ofmap_writes);
    return 0;
}

// `--tile MxNxK`: the tile (rows of C, columns of C, depth of K) that overrides the search.
chip::Tile parse_tile(const std::string& text) {
    std::vector<int64_t> v;
    std::stringstream ss(text);
    for (std::string part; std::getline(ss, part, 'x');) v.push_back(parse_count("--tile", part));
    if (v.size() != 3) throw UsageError("--tile expects MxNxK, got \"" + text + "\"");
    return {v[0], v[1], v[2]};
}

// One simulated operator as a JSON row and as a table line (fixed formats: same bytes everywhere).
json tile_row_json(const chip::TileResult& r) {
    return {{"name", r.name},
            {"op", r.op},
            {"bound", chip::bound_name(r.bound)},
            {"tile", {{"m", r.tile.m}, {"n", r.tile.n}, {"k", r.tile.k}}},
            {"tiles", r.tiles},
            {"cores_used", r.cores_used},
            {"ops", r.ops},
            {"cycles", std::ceil(r.cycles)},
            {"time_us", r.time_s * 1e6},
            {"roofline_us", r.roofline_s * 1e6},
            {"bytes", {{"offchip", r.bytes.offchip}, {"l2", r.bytes.l2}, {"l1", r.bytes.l1}, {"l0", r.bytes.l0}, {"ub", r.bytes.ub}}},
            {"energy_uj", r.energy_j * 1e6},
            {"energy_parts_uj",
             {{"mac", r.energy.mac * 1e6}, {"vector", r.energy.vector * 1e6}, {"offchip", r.energy.offchip * 1e6},
              {"l2", r.energy.l2 * 1e6}, {"l1", r.energy.l1 * 1e6}, {"l0", r.energy.l0 * 1e6}, {"ub", r.energy.ub * 1e6}}},
            {"utilization",
             {{"matrix", r.util_matrix}, {"vector", r.util_vector}, {"dma", r.util_dma}, {"offchip", r.util_offchip}, {"l2", r.util_l2}}}};
}

int simulate_tile(const Args& a, const chip::ChipSpec& c, const std::vector<double>& mnk, chip::DType dtype, chip::Pick pick) {
    chip::Machine m;
    try {
        m = chip::machine_of(c, pick);
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
    chip::TileOp op = chip::gemm_op("gemm", int64_t(mnk[0]), int64_t(mnk[1]), int64_t(mnk[2]), dtype);
    if (a.has("--tile")) op.tile = parse_tile(a.get("--tile", ""));
    chip::SimOptions opt;
    opt.max_timeline_events = a.flag("--timeline") ? 5000 : 0;
    chip::TileResult r;
    try {
        r = chip::simulate_tiles(m, op, opt);
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
    const chip::MatrixShape& u = m.unit(dtype);
    if (a.json) {
        json row = tile_row_json(r);
        json doc = {{"chip", c.id}, {"dtype", chip::dtype_name(dtype)}, {"fidelity", "tile"}, {"pick", chip::pick_name(pick)},
                    {"matrix_cores", m.matrix_cores}, {"vector_cores", m.vector_cores}, {"clock_mhz", m.clock_hz / 1e6},
                    {"matrix_unit", std::to_string(u.m) + "x" + std::to_string(u.k) + "x" + std::to_string(u.n)},
                    {"matrix_clock_mhz", m.matrix_rate(dtype) / 1e6}, {"peak_tops", m.peak_ops_per_s(dtype) / 1e12},
                    {"derived_peak_tops", m.derived_peak_ops_per_s(dtype) / 1e12},
                    {"bandwidth_gbps", m.offchip_bytes_per_s / 1e9}, {"time_us", r.time_s * 1e6}, {"cycles", std::ceil(r.cycles)}, {"energy_uj", r.energy_j * 1e6},
                    {"ops", {row}}};
        if (a.flag("--timeline")) {
            json events = json::array();
            for (const auto& e : r.timeline)
                events.push_back({{"core", e.core}, {"unit", chip::unit_name(e.unit)}, {"tile", e.tile},
                                  {"start_us", e.start_s * 1e6}, {"end_us", e.end_s * 1e6}, {"bytes", e.bytes}});
            doc["timeline"] = events;
            doc["timeline_dropped"] = r.timeline_dropped;
        }
        std::cout << doc.dump(2) << "\n";
        return 0;
    }
    std::printf("%s, %s, tile-level simulation (%s figures): %d matrix cores x %dx%dx%d @ %s MHz = %s TOPS (the catalog peak; "
                "the %s MHz clock derives %s), %d vector cores, off-chip %s GB/s\n",
                c.id.c_str(), chip::dtype_name(dtype), chip::pick_name(pick), m.matrix_cores, u.m, u.k, u.n,
                fixed(m.matrix_rate(dtype) / 1e6, 1).c_str(), fixed(m.peak_ops_per_s(dtype) / 1e12, 1).c_str(),
                fixed(m.clock_hz / 1e6, 1).c_str(), fixed(m.derived_peak_ops_per_s(dtype) / 1e12, 1).c_str(), m.vector_cores,
                fixed(m.offchip_bytes_per_s / 1e9, 1).c_str());
    std::printf("%-8s %-8s %-7s %-14s %14s %12s %12s %14s %14s %14s %14s %14s %12s %6s %6s %6s\n", "name", "op", "bound",
                "tile(MxNxK)", "cycles", "time_us", "roofline_us", "offchip_B", "l2_B", "l1_B", "l0_B", "ub_B", "energy_uj",
                "u_mat", "u_vec", "u_mem");
    const std::string tile = std::to_string(r.tile.m) + "x" + std::to_string(r.tile.n) + "x" + std::to_string(r.tile.k);
    std::printf("%-8s %-8s %-7s %-14s %14s %12s %12s %14s %14s %14s %14s %14s %12s %6s %6s %6s\n", r.name.c_str(), r.op.c_str(),
                chip::bound_name(r.bound), tile.c_str(), fixed(std::ceil(r.cycles), 0).c_str(), fixed(r.time_s * 1e6, 3).c_str(),
                fixed(r.roofline_s * 1e6, 3).c_str(), fixed(r.bytes.offchip, 0).c_str(), fixed(r.bytes.l2, 0).c_str(),
                fixed(r.bytes.l1, 0).c_str(), fixed(r.bytes.l0, 0).c_str(), fixed(r.bytes.ub, 0).c_str(),
                fixed(r.energy_j * 1e6, 3).c_str(), fixed(r.util_matrix, 3).c_str(), fixed(r.util_vector, 3).c_str(),
                fixed(r.util_offchip, 3).c_str());
    std::printf("%lld tiles on %d cores. Figures marked assumed in the catalog's microarch drive this result: a teaching model, not a measurement.\n",
                (long long)r.tiles, r.cores_used);
    return 0;
}

json bytes_json(const chip::LevelBytes& b, bool roofline) {
    if (roofline) return {{"offchip", b.offchip}};
    return {{"offchip", b.offchip}, {"l2", b.l2}, {"l1", b.l1}, {"l0", b.l0}, {"ub", b.ub}};
}

std::string hex64(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
    return buf;
}

// FNV-1a over the dtype, dims and bytes of every output: a digest the same on every target.
std::string outputs_digest(const std::vector<nn::onnx::Tensor>& outs) {
    uint64_t h = 1469598103934665603ull;
    auto add = [&](const void* p, size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    };
    for (const auto& t : outs) {
        const int32_t dt = int32_t(t.dtype);
        add(&dt, sizeof dt);
        for (int64_t d : t.dims) add(&d, sizeof d);
        add(t.data.data(), t.data.size());
    }
    return hex64(h);
}

// A deterministic input for every graph input: floats on a 2^-24 grid in [0, 1) and 8-bit integers
// from std::mt19937's raw output (seed 1), which is fixed by the C++ standard.
std::vector<nn::onnx::Tensor> synthetic_inputs(const nn::Graph& g, int64_t batch, const std::string& model_path) {
    std::mt19937 rng(1);
    std::vector<nn::onnx::Tensor> ins;
    for (int t : g.inputs) {
        const nn::TensorInfo& info = g.tensors[size_t(t)];
        nn::onnx::Tensor x;
        x.name = info.name;
        x.dtype = info.dtype;
        x.dims = info.shape;
        if (!x.dims.empty()) x.dims[0] = batch;
        for (int64_t d : x.dims)
            if (d < 0) throw InputError(model_path + ": input '" + info.name + "' has a symbolic dimension besides the batch");
        const size_t n = size_t(x.numel());
        if (info.dtype == nn::onnx::DataType::FLOAT) {
            std::vector<float> v(n);
            for (float& f : v) f = float(rng() >> 8) * (1.0f / 16777216.0f);
            x.data.resize(n * 4);
            std::memcpy(x.data.data(), v.data(), n * 4);
        } else if (info.dtype == nn::onnx::DataType::UINT8 || info.dtype == nn::onnx::DataType::INT8) {
            x.data.resize(n);
            for (auto& b : x.data) b = uint8_t(rng() >> 24);
        } else {
            throw InputError(model_path + ": input '" + info.name + "' is " + nn::onnx::dtype_name(info.dtype) +
                             "; a synthetic input can be float, uint8 or int8");
        }
        ins.push_back(std::move(x));
    }
    return ins;
}

// `simulate --chip ID --model FILE.onnx`: every node lowered to the chip and timed, and the graph run.
int simulate_model_cmd(const Args& a) {
    if (a.has("--gemm")) throw UsageError("simulate takes --gemm or --model, not both");
    if (a.has("--tile")) throw UsageError("--tile applies to --gemm only");
    if (a.has("--limit") && !a.has("--data")) throw UsageError("--limit needs --data");
    const chip::Fidelity fidelity = chip::parse_fidelity(a.get("--fidelity", "roofline"));
    if (a.flag("--timeline") && fidelity != chip::Fidelity::tile) throw UsageError("--timeline needs --fidelity tile");
    const chip::Pick pick = chip::parse_pick(a.get("--pick", "nominal"));
    const int64_t batch = parse_count("--batch", a.get("--batch", "1"));
    const std::string numerics_text = a.get("--numerics", "chip");
    if (numerics_text != "chip" && numerics_text != "fp32") throw UsageError("--numerics expects chip or fp32, got \"" + numerics_text + "\"");
    const auto chips = chip::load_catalog(catalog_files(Args{}));
    const chip::ChipSpec& c = find_chip(chips, a.get("--chip", ""));
    const std::string model_path = a.get("--model", "");
    const std::string bytes = read_file(model_path);
    chip::Machine m;
    nn::Graph g;
    chip::ModelSim sim;
    try {
        m = chip::machine_of(c, pick);
        g = nn::load_onnx(bytes, model_path);
        // --timeline: each node's first 5000 events, as --gemm keeps for its one op.
        sim = chip::simulate_model(m, g, model_path, batch, fidelity, !a.flag("--no-fuse"), a.flag("--timeline") ? 5000 : 0);
    } catch (const nn::NodeError& e) {
        throw InputError(model_path + ": " + e.what());
    } catch (const std::invalid_argument& e) {
        throw InputError(model_path + ": " + e.what());
    }
    const bool roof = fidelity == chip::Fidelity::roofline;
    json rows = json::array();
    for (const auto& r : sim.rows) {
        json row = {{"name", r.name}, {"op", r.op}, {"dtype", r.dtype.empty() ? json(nullptr) : json(r.dtype)},
                    {"lowered", chip::lowered_name(r.kind)}, {"fused_with", r.fused_with},
                    {"fused_into", r.fused_into.empty() ? json(nullptr) : json(r.fused_into)},
                    {"fidelity_used", r.fidelity_used}};
        if (r.fidelity_used != "none") {
            row["bound"] = chip::bound_name(r.bound);
            row["ops"] = r.ops;
            row["cycles"] = std::ceil(r.cycles);
            row["time_us"] = r.time_s * 1e6;
            row["start_us"] = r.start_s * 1e6;
            row["roofline_us"] = r.roofline_s * 1e6;
            row["bytes"] = bytes_json(r.bytes, r.fidelity_used == "roofline");
            row["energy_uj"] = r.energy_j * 1e6;
            row["utilization"] = r.utilization;
            if (r.fidelity_used == "tile" && !r.tile.empty()) row["tile"] = {{"m", r.tile.m}, {"n", r.tile.n}, {"k", r.tile.k}};
        }
        if (!r.note.empty()) row["note"] = r.note;
        rows.push_back(row);
    }
    // The functional run: the real kernels on real (or synthetic) inputs.
    const chip::MatrixNumerics numerics = numerics_text == "fp32" ? chip::MatrixNumerics::fp32 : chip::MatrixNumerics::chip;
    json functional;
    try {
        const nn::Plan plan = nn::prepare(g, nn::Kernels::fast);
        if (a.has("--data")) {
            const nn::ImageSet set = load_test_split(a.get("--data", ""));
            const int64_t n = a.has("--limit") ? std::min<int64_t>(set.count, parse_count("--limit", a.get("--limit", ""))) : set.count;
            if (g.inputs.size() != 1 || g.outputs.size() != 1)
                throw InputError(model_path + ": --data needs a model with one input and one output");
            std::vector<int> predictions;
            int64_t correct = 0;
            std::string num;
            for (int64_t first = 0; first < n; first += batch) {
                const int64_t k = std::min<int64_t>(batch, n - first);
                const chip::ChipRun run = chip::run_on_chip(plan, m, {nn::image_batch(set, first, k)}, numerics);
                num = run.numerics;
                const auto& y = run.result.outputs[0];
                if (y.dtype != nn::onnx::DataType::FLOAT || y.dims.size() != 2 || y.dims[0] != k || y.dims[1] < 1)
                    throw InputError(model_path + ": the output is " + nn::onnx::dtype_name(y.dtype) + " " +
                                     nn::shape_text(y.dims) + ", expected float [" + std::to_string(k) + ", classes]");
                for (int64_t i = 0; i < k; ++i) {
                    const float* row = y.as<float>() + i * y.dims[1];
                    const int p = int(std::max_element(row, row + y.dims[1]) - row);
                    predictions.push_back(p);
                    correct += p == set.labels[size_t(first + i)];
                }
            }
            functional = {{"data", a.get("--data", "")}, {"numerics", num}, {"n", n}, {"correct", correct},
                          {"accuracy", n ? double(correct) / double(n) : 0.0}, {"predictions", predictions}};
        } else {
            const chip::ChipRun run = chip::run_on_chip(plan, m, synthetic_inputs(g, batch, model_path), numerics);
            json outs = json::array();
            for (const auto& t : run.result.outputs)
                outs.push_back({{"name", t.name}, {"dtype", nn::onnx::dtype_name(t.dtype)}, {"shape", t.dims}});
            functional = {{"input", "synthetic (mt19937 seed 1, floats in [0, 1))"}, {"numerics", run.numerics},
                          {"half_nodes", run.half_nodes}, {"int8_nodes", run.int8_nodes}, {"fp32_nodes", run.fp32_nodes},
                          {"outputs", outs}, {"digest", outputs_digest(run.result.outputs)}};
        }
    } catch (const nn::NodeError& e) {
        throw InputError(model_path + ": " + e.what());
    } catch (const std::invalid_argument& e) {
        throw InputError(model_path + ": " + e.what());
    }
    if (a.json) {
        json doc = {{"chip", c.id}, {"model", model_path}, {"fidelity", chip::fidelity_name(fidelity)},
                    {"pick", chip::pick_name(pick)}, {"batch", batch}, {"fusion", !a.flag("--no-fuse")},
                    {"totals", {{"cycles", std::ceil(sim.cycles)}, {"time_us", sim.time_s * 1e6},
                                {"roofline_us", sim.roofline_s * 1e6}, {"energy_uj", sim.energy_j * 1e6},
                                {"bytes", bytes_json(sim.bytes, roof)}}},
                    {"ops", rows}, {"functional", functional}};
        if (a.flag("--timeline")) {
            json events = json::array();
            for (size_t i = 0; i < sim.timeline.size(); ++i) {
                const chip::TimelineEvent& e = sim.timeline[i];
                events.push_back({{"op", sim.rows[size_t(sim.timeline_row[i])].name}, {"core", e.core},
                                  {"unit", chip::unit_name(e.unit)}, {"tile", e.tile}, {"start_us", e.start_s * 1e6},
                                  {"end_us", e.end_s * 1e6}, {"bytes", e.bytes}});
            }
            doc["timeline"] = events;
            doc["timeline_dropped"] = sim.timeline_dropped;
        }
        std::cout << doc.dump(2) << "\n";
        return 0;
    }
    std::printf("%s on %s, %s fidelity (%s figures), batch %lld\n", model_path.c_str(), c.id.c_str(),
                chip::fidelity_name(fidelity), chip::pick_name(pick), (long long)batch);
    std::printf("%-14s %-18s %-5s %-8s %-9s %-7s %12s %12s %14s %12s %6s  %s\n", "name", "op", "dtype", "lowered", "fidelity",
                "bound", "cycles", "time_us", "offchip_B", "energy_uj", "util", "fused");
    for (const auto& r : sim.rows) {
        std::string fused;
        for (const auto& f : r.fused_with) fused += (fused.empty() ? "+" : ",") + f;
        if (!r.fused_into.empty()) fused = "-> " + r.fused_into;
        if (r.fidelity_used == "none") {
            std::printf("%-14.14s %-18.18s %-5s %-8s %-9s %-7s %12s %12s %14s %12s %6s  %s\n", r.name.c_str(), r.op.c_str(),
                        r.dtype.c_str(), chip::lowered_name(r.kind), "-", "-", "-", "-", "-", "-", "-", fused.c_str());
            continue;
        }
        std::printf("%-14.14s %-18.18s %-5s %-8s %-9s %-7s %12s %12s %14s %12s %6s  %s\n", r.name.c_str(), r.op.c_str(),
                    r.dtype.c_str(), chip::lowered_name(r.kind), r.fidelity_used.c_str(), chip::bound_name(r.bound),
                    fixed(std::ceil(r.cycles), 0).c_str(), fixed(r.time_s * 1e6, 3).c_str(), fixed(r.bytes.offchip, 0).c_str(),
                    fixed(r.energy_j * 1e6, 4).c_str(), fixed(r.utilization, 3).c_str(), fused.c_str());
    }
    std::printf("total: %s cycles, %s us (roofline %s us), %s uJ, off-chip %s bytes\n", fixed(std::ceil(sim.cycles), 0).c_str(),
                fixed(sim.time_s * 1e6, 3).c_str(), fixed(sim.roofline_s * 1e6, 3).c_str(), fixed(sim.energy_j * 1e6, 4).c_str(),
                fixed(sim.bytes.offchip, 0).c_str());
    std::printf("functional run (%s): %s\n", functional["numerics"].get<std::string>().c_str(),
                functional.contains("accuracy")
                    ? ("accuracy " + fixed(functional["accuracy"].get<double>(), 4) + " on " +
                       std::to_string(functional["n"].get<int64_t>()) + " test images").c_str()
                    : ("output digest " + functional["digest"].get<std::string>()).c_str());
    return 0;
}

}  // namespace

int cmd_simulate(const Args& a) {
    if (a.has("--scalesim-topology") || a.has("--scalesim-config")) return cmd_simulate_scalesim(a);
    if (a.has("--chip") && a.has("--model")) return simulate_model_cmd(a);
    if (!a.has("--chip") || !a.has("--gemm")) throw UsageError("simulate needs --chip ID --gemm M,N,K, --chip ID --model FILE.onnx, or --scalesim-topology FILE.csv --scalesim-config FILE.cfg");
    const std::string fidelity = a.get("--fidelity", "roofline");
    if (fidelity != "roofline" && fidelity != "tile")
        throw UsageError("--fidelity expects roofline or tile, got \"" + fidelity + "\"");
    if (fidelity != "tile" && (a.has("--tile") || a.flag("--timeline")))
        throw UsageError("--tile and --timeline need --fidelity tile");
    std::vector<double> mnk;
    std::stringstream ss(a.get("--gemm", ""));
    for (std::string part; std::getline(ss, part, ',');) mnk.push_back(parse_count("--gemm", part));
    if (mnk.size() != 3) throw UsageError("--gemm expects M,N,K");
    const chip::DType dtype = chip::parse_dtype(a.get("--dtype", "int8"));
    const chip::Pick pick = chip::parse_pick(a.get("--pick", "nominal"));
    const auto chips = chip::load_catalog(catalog_files(Args{}));
    if (fidelity == "tile") return simulate_tile(a, find_chip(chips, a.get("--chip", "")), mnk, dtype, pick);
    const chip::ChipPeak peak = chip::chip_peak(find_chip(chips, a.get("--chip", "")), dtype, pick);
    // int8 GEMMs accumulate in int32; fp16/bf16 ones write their own type.
    chip::OpWork w = chip::gemm_work(mnk[0], mnk[1], mnk[2], dtype, dtype == chip::DType::int8 ? 4 : 2);
    w.name = "gemm";
    const chip::RooflineRow r = chip::roofline(peak, w);
    if (a.json) {
        json row = {{"name", w.name}, {"op", w.op}, {"bound", chip::bound_name(r.bound)}, {"ops", r.work.ops},
                    {"bytes", {{"offchip", r.work.bytes}}}, {"intensity_ops_per_byte", r.intensity},
                    {"compute_us", r.compute_s * 1e6}, {"memory_us", r.memory_s * 1e6}, {"time_us", r.time_s * 1e6},
                    {"utilization", r.utilization}};
        std::cout << json{{"chip", peak.chip_id}, {"dtype", chip::dtype_name(dtype)}, {"fidelity", fidelity},
                          {"pick", chip::pick_name(pick)}, {"peak_tops", peak.ops_per_s / 1e12},
                          {"bandwidth_gbps", peak.mem_bytes_per_s / 1e9}, {"ridge_ops_per_byte", peak.ridge_ops_per_byte()},
                          {"time_us", r.time_s * 1e6}, {"ops", {row}}}
                         .dump(2)
                  << "\n";
        return 0;
    }
    std::printf("%s, %s, roofline (%s figures): peak %s TOPS, %s GB/s, ridge %s ops/byte\n", peak.chip_id.c_str(),
                chip::dtype_name(dtype), chip::pick_name(pick), fixed(peak.ops_per_s / 1e12, 1).c_str(),
                fixed(peak.mem_bytes_per_s / 1e9, 1).c_str(), fixed(peak.ridge_ops_per_byte(), 1).c_str());
    std::printf("gemm %gx%gx%g: %s us (%s-bound; compute %s us, memory %s us), intensity %s ops/byte, utilization %s%%\n",
                mnk[0], mnk[1], mnk[2], fixed(r.time_s * 1e6, 3).c_str(), chip::bound_name(r.bound),
                fixed(r.compute_s * 1e6, 3).c_str(), fixed(r.memory_s * 1e6, 3).c_str(), fixed(r.intensity, 2).c_str(),
                fixed(100 * r.utilization, 1).c_str());
    return 0;
}

json tile_step_json(const chip::TileLlmStep& st) {
    return {{"batch", st.batch},
            {"new_tokens", st.new_tokens},
            {"context", st.context},
            {"time_ms", st.time_s * 1e3},
            {"simulated_ms", st.sim.time_s * 1e3},
            {"comm_ms", st.comm_s * 1e3},
            {"comm_bytes", st.comm_bytes},
            {"memory_floor_ms", st.memory_floor_s * 1e3},
            {"compute_floor_ms", st.compute_floor_s * 1e3},
            {"roofline_ms", st.sim.roofline_s * 1e3},
            {"bound", chip::bound_name(st.bound)},
            {"weight_bytes", st.weight_bytes},
            {"kv_read_bytes", st.kv_bytes},
            {"kv_cache_bytes", st.kv_cache_bytes},
            {"bytes", bytes_json(st.sim.bytes, false)},
            {"energy_mj", st.sim.energy_j * 1e3},
            {"ops", st.sim.ops.size()}};
}

// `llm --fidelity tile`: prefill and decode steps simulated at tile level (chip/llm_tile.hpp);
// memory capacity (fits, max_batch, KV cache size) stays the roofline estimate's, which it shares.
int llm_tile(const Args& a, const chip::LlmShape& shape, const chip::ChipSpec& c, const chip::LlmQuant& q,
             const chip::LlmSystem& sys, const chip::LlmWorkload& w, chip::Pick pick, const chip::LlmEstimate& e) {
    chip::TileLlmOptions o;
    o.kv_onchip = a.flag("--kv-onchip");
    o.chips = sys.chips;
    o.link_bytes_per_s = sys.link_bytes_per_s;
    if (a.has("--link-latency-us")) {
        o.link_latency_s = parse_number("--link-latency-us", a.get("--link-latency-us", "")) * 1e-6;
        if (o.link_latency_s < 0) throw UsageError("--link-latency-us must be >= 0");
    }
    const chip::Machine m = chip::machine_of(c, pick);
    chip::SimOptions opt;
    opt.max_timeline_events = 0;
    const chip::TileLlmEstimate t = chip::estimate_llm_tile(shape, m, q, w, o, opt);
    const double gib = double(1ull << 30);
    // The decode steps simulated for the mean (chip/llm_tile.hpp): step index, context, time.
    json samples = json::array();
    for (size_t i = 0; i < t.decode_steps.size(); ++i)
        samples.push_back({{"step", t.decode_steps[i]}, {"context", w.prompt + t.decode_steps[i] + 1},
                           {"ms", t.decode_step_s[i] * 1e3}});
    if (a.json) {
        std::cout << json{{"llm", e.llm}, {"chip", e.chip}, {"chips", e.chips}, {"quant", e.quant},
                          {"fidelity", "tile"}, {"kv_placement", o.kv_onchip ? "onchip" : "offchip"},
                          {"link_latency_us", o.link_latency_s * 1e6},
                          {"matrix_dtype", chip::dtype_name(e.matrix_dtype)}, {"batch", w.batch}, {"prompt", w.prompt},
                          {"output", w.output}, {"ttft_ms", t.ttft_s * 1e3}, {"decode_ms_per_token", t.decode_s_per_token * 1e3},
                          {"decode_ms_first", t.decode_first.time_s * 1e3}, {"decode_ms_last", t.decode_last.time_s * 1e3},
                          {"decode_samples", samples},
                          {"tokens_per_s", t.tokens_per_s}, {"kv_cache_gib", e.kv_cache_bytes / gib},
                          {"weights_gib", e.weight_bytes / gib}, {"memory_per_chip_gib", e.memory_per_chip_bytes / gib},
                          {"memory_capacity_gib", e.memory_capacity_bytes / gib}, {"fits", e.fits},
                          {"max_batch", e.max_batch}, {"bound", chip::bound_name(t.decode.bound)},
                          {"prefill_bound", chip::bound_name(t.prefill.bound)},
                          {"roofline_ttft_ms", e.ttft_s * 1e3}, {"roofline_decode_ms_per_token", e.decode_s_per_token * 1e3},
                          {"prefill", tile_step_json(t.prefill)}, {"decode", tile_step_json(t.decode)}}
                         .dump(2)
                  << "\n";
        return 0;
    }
    std::printf("%s on %d x %s, %s (matrix unit in %s), batch %d, prompt %d, output %d, tile fidelity, KV cache %s\n",
                e.llm.c_str(), e.chips, e.chip.c_str(), e.quant.c_str(), chip::dtype_name(e.matrix_dtype), w.batch, w.prompt,
                w.output, o.kv_onchip ? "on chip (L2)" : "off chip");
    auto step = [&](const char* what, const chip::TileLlmStep& st, double roofline_s) {
        std::printf("  %-20s %s ms   (%s-bound; memory floor %s ms, compute floor %s ms, all-reduce + logits all-gather %s ms; roofline estimate %s ms)\n",
                    what, fixed(st.time_s * 1e3, 3).c_str(), chip::bound_name(st.bound), fixed(st.memory_floor_s * 1e3, 3).c_str(),
                    fixed(st.compute_floor_s * 1e3, 3).c_str(), fixed(st.comm_s * 1e3, 3).c_str(),
                    fixed(roofline_s * 1e3, 3).c_str());
        std::printf("  %-20s off-chip %s MB, L2 %s MB, L1 %s MB, L0 %s MB, UB %s MB (weights %s MB, KV read %s MB)\n", "",
                    fixed(st.sim.bytes.offchip / 1e6, 1).c_str(), fixed(st.sim.bytes.l2 / 1e6, 1).c_str(),
                    fixed(st.sim.bytes.l1 / 1e6, 1).c_str(), fixed(st.sim.bytes.l0 / 1e6, 1).c_str(),
                    fixed(st.sim.bytes.ub / 1e6, 1).c_str(), fixed(st.weight_bytes / 1e6, 1).c_str(),
                    fixed(st.kv_bytes / 1e6, 1).c_str());
    };
    step("TTFT (prefill)", t.prefill, e.ttft_s);
    const std::string dec = "decode @ ctx " + std::to_string(t.decode.context);
    step(dec.c_str(), t.decode, e.decode_s_per_token);
    std::printf("  decode per token     %s ms mean over %d steps (first %s ms at ctx %d, last %s ms at ctx %d; "
                "trapezoid over %zu simulated steps; roofline mean %s ms)\n",
                fixed(t.decode_s_per_token * 1e3, 3).c_str(), w.output, fixed(t.decode_first.time_s * 1e3, 3).c_str(),
                t.decode_first.context, fixed(t.decode_last.time_s * 1e3, 3).c_str(), t.decode_last.context,
                t.decode_steps.size(), fixed(e.decode_s_per_token * 1e3, 3).c_str());
    std::printf("  tokens/s             %s\n", fixed(t.tokens_per_s, 1).c_str());
    std::printf("  weights              %s GiB, KV cache %s GiB; per chip %s of %s GiB -> %s; largest batch %d\n",
                fixed(e.weight_bytes / gib, 2).c_str(), fixed(e.kv_cache_bytes / gib, 3).c_str(),
                fixed(e.memory_per_chip_bytes / gib, 2).c_str(), fixed(e.memory_capacity_bytes / gib, 1).c_str(),
                e.fits ? "fits" : "does NOT fit", e.max_batch);
    std::printf("Tile-level simulation of one chip's shard (figures marked assumed in the catalog's microarch drive it): a teaching model, not a measurement.\n");
    return 0;
}

int cmd_llm(const Args& a) {
    if (a.positional.size() > 1 && a.positional[1] == "list") {
        const auto llms = chip::bundled_llms();
        json list = json::array();
        for (const auto& s : llms) {
            const chip::LlmParams p = chip::count_params(s);
            list.push_back({{"id", s.id}, {"name", s.name}, {"source", s.source}, {"layers", s.layers},
                            {"hidden_size", s.hidden}, {"moe", s.moe}, {"params_b", p.total() / 1e9},
                            {"active_params_b", p.active(s) / 1e9}});
            if (!a.json)
                std::printf("%-20s %-22s %3d layers  %6.2fB params (%5.2fB active)%s\n", s.id.c_str(), s.name.c_str(),
                            s.layers, p.total() / 1e9, p.active(s) / 1e9, s.moe ? "  MoE" : "");
        }
        if (a.json) std::cout << json{{"llms", list}}.dump(2) << "\n";
        return 0;
    }
    if (!a.has("--chip") || !a.has("--llm")) throw UsageError("llm needs --chip ID and --llm ID (or: llm list)");
    const auto chips = chip::load_catalog(catalog_files(Args{}));
    const chip::ChipSpec& c = find_chip(chips, a.get("--chip", ""));
    chip::LlmShape shape;
    try {
        shape = chip::find_llm(a.get("--llm", ""));
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
    const chip::LlmQuant q = chip::parse_llm_quant(a.get("--quant", "w16a16"), a.flags.count("--kv-int8") > 0);
    chip::LlmSystem sys;
    sys.chips = a.chips_dir.empty() ? 1 : parse_count("--chips", a.chips_dir);
    if (a.has("--link-gbps")) sys.link_bytes_per_s = parse_number("--link-gbps", a.get("--link-gbps", "")) * 1e9;
    chip::LlmWorkload w;
    w.batch = parse_count("--batch", a.get("--batch", "1"));
    w.prompt = parse_count("--prompt", a.get("--prompt", "512"));
    w.output = parse_count("--output", a.get("--output", "128"));
    const chip::Pick pick = chip::parse_pick(a.get("--pick", "nominal"));
    const std::string fidelity = a.get("--fidelity", "roofline");
    if (fidelity != "roofline" && fidelity != "tile")
        throw UsageError("--fidelity expects roofline or tile, got \"" + fidelity + "\"");
    if (fidelity != "tile" && a.has("--link-latency-us")) throw UsageError("--link-latency-us needs --fidelity tile");
    sys.kv_onchip = a.flag("--kv-onchip");
    const chip::LlmEstimate e = chip::estimate_llm(shape, c, q, sys, w, pick);
    if (fidelity == "tile") return llm_tile(a, shape, c, q, sys, w, pick, e);
    const double gib = double(1ull << 30);
    if (a.json) {
        std::cout << json{{"llm", e.llm}, {"chip", e.chip}, {"chips", e.chips}, {"quant", e.quant},
                          {"kv_placement", sys.kv_onchip ? "onchip" : "offchip"},
                          {"matrix_dtype", chip::dtype_name(e.matrix_dtype)}, {"batch", w.batch}, {"prompt", w.prompt},
                          {"output", w.output}, {"ttft_ms", e.ttft_s * 1e3}, {"decode_ms_per_token", e.decode_s_per_token * 1e3},
                          {"decode_ms_first", e.decode_first.time_s * 1e3}, {"decode_ms_last", e.decode_last.time_s * 1e3},
                          {"tokens_per_s", e.tokens_per_s}, {"kv_cache_gib", e.kv_cache_bytes / gib},
                          {"weights_gib", e.weight_bytes / gib}, {"memory_per_chip_gib", e.memory_per_chip_bytes / gib},
                          {"memory_capacity_gib", e.memory_capacity_bytes / gib}, {"fits", e.fits},
                          {"max_batch", e.max_batch}, {"bound", chip::bound_name(e.decode_bound)},
                          {"prefill_bound", chip::bound_name(e.prefill.bound)},
                          {"decode_memory_floor_ms", e.decode_memory_floor_s * 1e3},
                          {"prefill_compute_floor_ms", e.prefill_compute_floor_s * 1e3}}
                         .dump(2)
                  << "\n";
        return 0;
    }
    std::printf("%s on %d x %s, %s (matrix unit in %s), batch %d, prompt %d, output %d%s\n", e.llm.c_str(), e.chips,
                e.chip.c_str(), e.quant.c_str(), chip::dtype_name(e.matrix_dtype), w.batch, w.prompt, w.output,
                sys.kv_onchip ? ", KV cache on chip (L2)" : "");
    std::printf("  TTFT (prefill)       %s ms   (%s-bound)\n", fixed(e.ttft_s * 1e3, 2).c_str(), chip::bound_name(e.prefill.bound));
    std::printf("  decode per token     %s ms   (%s-bound; memory floor %s ms)\n", fixed(e.decode_s_per_token * 1e3, 3).c_str(),
                chip::bound_name(e.decode_bound), fixed(e.decode_memory_floor_s * 1e3, 3).c_str());
    std::printf("  decode first, last   %s ms (ctx %d), %s ms (ctx %d); the line above is the mean over %d steps\n",
                fixed(e.decode_first.time_s * 1e3, 3).c_str(), w.prompt + 1,
                fixed(e.decode_last.time_s * 1e3, 3).c_str(), w.prompt + w.output, w.output);
    std::printf("  tokens/s             %s\n", fixed(e.tokens_per_s, 1).c_str());
    std::printf("  weights              %s GiB, KV cache %s GiB; per chip %s of %s GiB -> %s\n",
                fixed(e.weight_bytes / gib, 2).c_str(), fixed(e.kv_cache_bytes / gib, 3).c_str(),
                fixed(e.memory_per_chip_bytes / gib, 2).c_str(), fixed(e.memory_capacity_bytes / gib, 1).c_str(),
                e.fits ? "fits" : "does NOT fit");
    std::printf("  largest batch        %d\n", e.max_batch);
    std::printf("Roofline estimate from the catalog's peak figures: a lower bound on time, not a measurement.\n");
    return 0;
}


}  // namespace stacklab::cli
