// `stacklab`: the command-line shell over the core. Built natively and, unchanged, to WebAssembly
// (build/wasm/stacklab-cli.js, run under node with the real file system), so both must print the
// same bytes. File I/O lives here, at the edge; the core only sees bytes.
//
// Every subcommand accepts --json and then prints exactly one JSON document on stdout.
// Errors go to stderr as "stacklab: <problem>" with exit code 1 (bad input) or 2 (bad usage).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"
#include "chip/systolic.hpp"
#include "nn/node_test.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace stacklab;

namespace {

constexpr const char* kVersion = "0.1.0";

const char* kUsage =
    "usage: stacklab <command> [options] [--json]\n"
    "\n"
    "commands:\n"
    "  chips [--chips DIR]              list the chip catalog (bundled, or the *.json files in DIR)\n"
    "  chips show ID [--chips DIR]      one chip with every figure and its source\n"
    "  chips validate FILE...           check chip files against the catalog format\n"
    "  onnx-test DIR...                 run ONNX backend node tests (model.onnx + test_data_set_*/)\n"
    "  simulate --scalesim-topology FILE.csv --scalesim-config FILE.cfg [--gemm-topology]\n"
    "                                   SCALE-Sim v2 compatible systolic-array cycles per layer\n"
    "  version                          print the version\n"
    "  help                             this text\n"
    "\n"
    "--json prints one JSON document on stdout; errors always go to stderr with a non-zero exit code.\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Args {
    bool json = false;
    std::string chips_dir;
    std::string scalesim_topology, scalesim_config;
    bool gemm_topology = false;
    std::vector<std::string> positional;
};

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--json") {
            a.json = true;
        } else if (s == "--chips") {
            if (i + 1 >= argc) throw UsageError("--chips needs a directory");
            a.chips_dir = argv[++i];
        } else if (s == "--scalesim-topology" || s == "--scalesim-config") {
            if (i + 1 >= argc) throw UsageError(s + " needs a file");
            (s == "--scalesim-topology" ? a.scalesim_topology : a.scalesim_config) = argv[++i];
        } else if (s == "--gemm-topology") {
            a.gemm_topology = true;
        } else if (s == "-h" || s == "--help") {
            a.positional.insert(a.positional.begin(), "help");
        } else if (s.size() > 1 && s[0] == '-') {
            throw UsageError("unknown option " + s);
        } else {
            a.positional.push_back(s);
        }
    }
    return a;
}

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
// numbered in order. Problems become a failed result naming the folder, never an abort.
nn::NodeTestResult run_onnx_test_dir(const std::string& dir) {
    std::string name = fs::path(dir).lexically_normal().filename().string();
    if (name.empty() || name == ".") name = fs::path(dir).lexically_normal().parent_path().filename().string();
    try {
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) throw InputError(dir + ": not a directory");
        const std::string model = read_file((fs::path(dir) / "model.onnx").string());
        std::vector<std::string> set_dirs;
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
                set_dirs.push_back(e.path().string());
        std::sort(set_dirs.begin(), set_dirs.end());
        if (set_dirs.empty()) throw InputError(dir + ": no test_data_set_* folders");
        std::vector<nn::NodeTestDataSet> sets;
        for (const auto& sd : set_dirs) {
            nn::NodeTestDataSet set;
            set.label = fs::path(sd).filename().string();
            for (const char* kind : {"input", "output"}) {
                auto& list = std::string(kind) == "input" ? set.input_pbs : set.output_pbs;
                for (int i = 0;; ++i) {
                    const fs::path f = fs::path(sd) / (std::string(kind) + "_" + std::to_string(i) + ".pb");
                    if (!fs::exists(f, ec)) break;
                    list.push_back(read_file(f.string()));
                }
            }
            sets.push_back(std::move(set));
        }
        return nn::run_node_test(name, model, sets);
    } catch (const std::exception& e) {
        nn::NodeTestResult r;
        r.name = name;
        r.passed = false;
        r.error = e.what();
        return r;
    }
}

int cmd_onnx_test(const Args& a, const std::vector<std::string>& dirs) {
    if (dirs.empty()) throw UsageError("onnx-test needs at least one test folder");
    json tests = json::array();
    int passed = 0, failed = 0;
    for (const auto& d : dirs) {
        const nn::NodeTestResult r = run_onnx_test_dir(d);
        (r.passed ? passed : failed)++;
        json t = {{"name", r.name}, {"passed", r.passed}, {"max_abs_err", r.max_abs_err}};
        if (!r.error.empty()) t["error"] = r.error;
        tests.push_back(t);
        if (!a.json) {
            if (r.passed)
                std::printf("PASS %-50s max_abs_err %g\n", r.name.c_str(), r.max_abs_err);
            else
                std::printf("FAIL %-50s %s\n", r.name.c_str(), r.error.c_str());
        }
        if (!r.passed) std::cerr << "stacklab: onnx-test " << r.name << " failed: " << r.error << "\n";
    }
    if (a.json)
        std::cout << json{{"tests", tests}, {"passed", passed}, {"failed", failed}}.dump(2) << "\n";
    else
        std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

// Percentages are printed with one fixed printf format so native and wasm print the same bytes.
std::string pct(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", v);
    return buf;
}

int cmd_simulate(const Args& a) {
    if (a.scalesim_topology.empty() || a.scalesim_config.empty())
        throw UsageError("simulate needs --scalesim-topology FILE.csv and --scalesim-config FILE.cfg");
    const std::string cfg_text = read_file(a.scalesim_config);
    const std::string topo_text = read_file(a.scalesim_topology);
    const chip::SystolicConfig cfg = chip::parse_scalesim_config(cfg_text, a.scalesim_config);
    const auto layers = a.gemm_topology ? chip::parse_scalesim_gemm_topology(topo_text, a.scalesim_topology)
                                        : chip::parse_scalesim_topology(topo_text, a.scalesim_topology);
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

int run(int argc, char** argv) {
    Args a = parse_args(argc, argv);
    if (a.positional.empty()) throw UsageError("no command given");
    const std::string& cmd = a.positional[0];
    if (cmd == "help") {
        if (a.json)
            std::cout << json{{"usage", kUsage}}.dump(2) << "\n";
        else
            std::cout << kUsage;
        return 0;
    }
    if (cmd == "version") {
        if (a.json)
            std::cout << json{{"name", "stacklab"}, {"version", kVersion}}.dump(2) << "\n";
        else
            std::cout << "stacklab " << kVersion << "\n";
        return 0;
    }
    if (cmd == "chips") {
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
    if (cmd == "simulate") {
        if (a.positional.size() != 1) throw UsageError("simulate takes no positional arguments");
        return cmd_simulate(a);
    }
    if (cmd == "onnx-test")
        return cmd_onnx_test(a, std::vector<std::string>(a.positional.begin() + 1, a.positional.end()));
    throw UsageError("unknown command \"" + cmd + "\"");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "stacklab: " << e.what() << "\n" << kUsage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "stacklab: " << e.what() << "\n";
        return 1;
    }
}
