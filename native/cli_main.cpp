// `stacklab`: the command-line shell over the core. Built natively and, unchanged, to WebAssembly
// (build/wasm/stacklab-cli.js, run under node with the real file system), so both must print the
// same bytes. File I/O lives here, at the edge; the core only sees bytes.
//
// Every subcommand accepts --json and then prints exactly one JSON document on stdout.
// Errors go to stderr as "stacklab: <problem>" with exit code 1 (bad input) or 2 (bad usage).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"
#include "chip/llm.hpp"
#include "chip/roofline.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"
#include "nn/idx.hpp"
#include "nn/node_test.hpp"
#include "quant/norm.hpp"

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
    "  simulate --chip ID --gemm M,N,K [--dtype int8|fp16|bf16] [--fidelity roofline] [--pick nominal|low|high]\n"
    "                                   one GEMM on a chip: time, bound, intensity, ridge point\n"
    "  llm --chip ID --llm ID [--quant w16a16|w8a8|w8a16|w6a16|w4a16] [--kv-int8] [--batch B]\n"
    "      [--prompt P] [--output O] [--chips N --link-gbps G] [--pick nominal|low|high]\n"
    "                                   LLM serving estimate: TTFT, decode time, tokens/s, KV cache\n"
    "  llm list                         the bundled LLM shapes (models/llm)\n"
    "  kernels drift [--rows R] [--cols C] [--seed S] [--offset X]\n"
    "                [--variant two-pass|single-pass|welford] [--gelu erf|tanh] [--fp16]\n"
    "                                   fused LayerNorm+GELU (int8 output) against the unfused\n"
    "                                   double reference on a deterministic random input\n"
    "                                   (defaults: 16 x 768, seed 1, offset 0, two-pass, erf, fp32)\n"
    "  eval --model FILE.onnx --data fashion-mnist|DIR [--limit N] [--batch B] [--kernels fast|reference]\n"
    "       [--predictions]             (--json --predictions: also every predicted class)\n"
    "                                   accuracy of an fp32 image classifier on the 10000-image test\n"
    "                                   set (DIR: t10k-{images-idx3,labels-idx1}-ubyte), per-node times\n"
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
    std::string chips_dir;  // `llm` reads it as the number of chips (--chips N)
    std::map<std::string, std::string> options;  // --name value, for the names in kValueOptions
    std::set<std::string> flags;                 // --name, for the names in kFlagOptions
    std::vector<std::string> positional;

    bool has(const std::string& name) const { return options.count(name) > 0; }
    std::string get(const std::string& name, const std::string& fallback) const {
        auto it = options.find(name);
        return it == options.end() ? fallback : it->second;
    }
};

const std::set<std::string> kValueOptions = {"--chip", "--gemm", "--dtype", "--fidelity", "--pick", "--llm",
                                             "--quant", "--batch", "--prompt", "--output", "--link-gbps",
                                             // kernels drift
                                             "--rows", "--cols", "--seed", "--offset", "--variant", "--gelu",
                                             // eval
                                             "--model", "--data", "--limit", "--kernels"};
const std::set<std::string> kFlagOptions = {"--kv-int8", "--fp16", "--predictions"};

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--json") {
            a.json = true;
        } else if (s == "--chips") {
            if (i + 1 >= argc) throw UsageError("--chips needs a directory");
            a.chips_dir = argv[++i];
        } else if (kValueOptions.count(s)) {
            if (i + 1 >= argc) throw UsageError(s + " needs a value");
            a.options[s] = argv[++i];
        } else if (kFlagOptions.count(s)) {
            a.flags.insert(s);
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

// Whole numbers and decimals from the command line, with an error naming the option.
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

int cmd_simulate(const Args& a) {
    if (!a.has("--chip") || !a.has("--gemm")) throw UsageError("simulate needs --chip ID and --gemm M,N,K");
    const std::string fidelity = a.get("--fidelity", "roofline");
    if (fidelity != "roofline")
        throw UsageError("--fidelity " + fidelity + " is not available yet (roofline is)");
    std::vector<double> mnk;
    std::stringstream ss(a.get("--gemm", ""));
    for (std::string part; std::getline(ss, part, ',');) mnk.push_back(parse_count("--gemm", part));
    if (mnk.size() != 3) throw UsageError("--gemm expects M,N,K");
    const chip::DType dtype = chip::parse_dtype(a.get("--dtype", "int8"));
    const chip::Pick pick = chip::parse_pick(a.get("--pick", "nominal"));
    const auto chips = chip::load_catalog(catalog_files(Args{}));
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
    const chip::LlmEstimate e = chip::estimate_llm(shape, c, q, sys, w, chip::parse_pick(a.get("--pick", "nominal")));
    const double gib = double(1ull << 30);
    if (a.json) {
        std::cout << json{{"llm", e.llm}, {"chip", e.chip}, {"chips", e.chips}, {"quant", e.quant},
                          {"matrix_dtype", chip::dtype_name(e.matrix_dtype)}, {"batch", w.batch}, {"prompt", w.prompt},
                          {"output", w.output}, {"ttft_ms", e.ttft_s * 1e3}, {"decode_ms_per_token", e.decode_s_per_token * 1e3},
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
    std::printf("%s on %d x %s, %s (matrix unit in %s), batch %d, prompt %d, output %d\n", e.llm.c_str(), e.chips,
                e.chip.c_str(), e.quant.c_str(), chip::dtype_name(e.matrix_dtype), w.batch, w.prompt, w.output);
    std::printf("  TTFT (prefill)       %s ms   (%s-bound)\n", fixed(e.ttft_s * 1e3, 2).c_str(), chip::bound_name(e.prefill.bound));
    std::printf("  decode per token     %s ms   (%s-bound; memory floor %s ms)\n", fixed(e.decode_s_per_token * 1e3, 3).c_str(),
                chip::bound_name(e.decode_bound), fixed(e.decode_memory_floor_s * 1e3, 3).c_str());
    std::printf("  tokens/s             %s\n", fixed(e.tokens_per_s, 1).c_str());
    std::printf("  weights              %s GiB, KV cache %s GiB; per chip %s of %s GiB -> %s\n",
                fixed(e.weight_bytes / gib, 2).c_str(), fixed(e.kv_cache_bytes / gib, 3).c_str(),
                fixed(e.memory_per_chip_bytes / gib, 2).c_str(), fixed(e.memory_capacity_bytes / gib, 1).c_str(),
                e.fits ? "fits" : "does NOT fit");
    std::printf("  largest batch        %d\n", e.max_batch);
    std::printf("Roofline estimate from the catalog's peak figures: a lower bound on time, not a measurement.\n");
    return 0;
}

// A whole decimal integer in [lo, hi]; anything else (sign, junk, overflow) is a usage error.
uint64_t parse_bounded(const Args& a, const std::string& name, uint64_t def, uint64_t lo, uint64_t hi) {
    auto it = a.options.find("--" + name);
    if (it == a.options.end()) return def;
    const std::string& v = it->second;
    uint64_t n = 0;
    bool ok = !v.empty() && v.size() <= 19;
    for (char ch : v) ok = ok && ch >= '0' && ch <= '9';
    if (ok) n = std::stoull(v);
    if (!ok || n < lo || n > hi)
        throw UsageError("--" + name + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                         "] (got \"" + v + "\")");
    return n;
}

float parse_offset(const Args& a) {
    auto it = a.options.find("--offset");
    if (it == a.options.end()) return 0.0f;
    const std::string& v = it->second;
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(d) || std::fabs(d) > 1e30)
        throw UsageError("--offset must be a finite number with |X| <= 1e30 (got \"" + v + "\")");
    return static_cast<float>(d);
}

std::string fmt(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);  // fixed format: the same text natively and in wasm
    return buf;
}

// `kernels drift`: the fused LayerNorm+GELU kernel of one variant against the unfused reference.
int cmd_kernels_drift(const Args& a) {
    const size_t rows = parse_bounded(a, "rows", 16, 1, 65536);
    const size_t cols = parse_bounded(a, "cols", 768, 1, 65536);
    if (rows * cols > (size_t{1} << 24)) throw UsageError("--rows x --cols must be at most 16777216");
    const uint32_t seed = static_cast<uint32_t>(parse_bounded(a, "seed", 1, 0, 4294967295u));
    const float offset = parse_offset(a);
    quant::LnGeluVariant v;
    try {
        if (a.has("--variant")) v.variance = quant::parse_variance_method(a.get("--variant", ""));
        if (a.has("--gelu")) v.gelu = quant::parse_gelu_form(a.get("--gelu", ""));
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string(e.what()).substr(std::string("quant: ").size()));
    }
    v.fp16 = a.flags.count("--fp16") > 0;
    const quant::DriftCase dc = quant::make_drift_case(rows, cols, seed, offset);
    const quant::DriftReport r = quant::layer_norm_gelu_drift(v, dc.x.data(), rows, cols, dc.gamma.data(),
                                                              dc.beta.data(), dc.epsilon, dc.out);
    const auto& labels = quant::drift_histogram_labels();
    const uint64_t elements = uint64_t{rows} * cols;
    if (a.json) {
        json hist = json::array();
        for (size_t i = 0; i < labels.size(); ++i) hist.push_back({{"lsb", labels[i]}, {"count", r.lsb_histogram[i]}});
        json doc = {{"kernel", "layer_norm_gelu"},
                    {"variant", r.variant},
                    {"variance", quant::variance_method_name(v.variance)},
                    {"gelu", quant::gelu_form_name(v.gelu)},
                    {"fp16", v.fp16},
                    {"reference", "layer_norm in double (two-pass), erf GELU in double, quantize"},
                    {"input", {{"rows", rows}, {"cols", cols}, {"seed", seed}, {"offset", offset},
                               {"epsilon", dc.epsilon}}},
                    {"output", {{"type", r.out_signed ? "int8" : "uint8"}, {"scale", r.out_scale},
                                {"zero_point", r.out_zero_point}}},
                    {"elements", elements},
                    {"max_abs_error", r.max_abs_error},
                    {"mean_abs_error", r.mean_abs_error},
                    {"differing", r.differing},
                    {"max_abs_lsb", r.max_abs_lsb},
                    {"lsb_histogram", hist}};
        std::cout << doc.dump(2) << "\n";
        return 0;
    }
    std::printf("fused LayerNorm+GELU, variant %s\n", r.variant.c_str());
    std::printf("reference       LayerNorm in double (two-pass), erf GELU in double, then quantize\n");
    std::printf("input           %zu rows x %zu cols, seed %u, offset %s, epsilon %s\n", rows, cols, seed,
                fmt(offset).c_str(), fmt(dc.epsilon).c_str());
    std::printf("output          %s, scale %s, zero point %d\n", r.out_signed ? "int8" : "uint8", fmt(r.out_scale).c_str(),
                static_cast<int>(r.out_zero_point));
    std::printf("max abs error   %s (fp32 output vs reference, real units)\n", fmt(r.max_abs_error).c_str());
    std::printf("mean abs error  %s\n", fmt(r.mean_abs_error).c_str());
    std::printf("differing       %llu of %llu quantized outputs, at most %d LSB\n",
                static_cast<unsigned long long>(r.differing), static_cast<unsigned long long>(elements),
                static_cast<int>(r.max_abs_lsb));
    std::printf("error in LSB (fused - reference):\n");
    for (size_t i = 0; i < labels.size(); ++i)
        std::printf("  %5s %12llu\n", labels[i], static_cast<unsigned long long>(r.lsb_histogram[i]));
    return 0;
}

// Where `--data` points: "fashion-mnist" is the copy the build decompressed (CMakeLists.txt), any
// other value a directory holding the IDX files under their original names.
std::string dataset_dir(const std::string& data) {
    if (data == "fashion-mnist") return std::string(STACKLAB_DATA_DIR) + "/fashion-mnist";
    return data;
}

// `eval`: an fp32 classifier taking [N,1,H,W] pixels / 255 and giving [N,classes] logits, on the
// test split. The prediction is the first largest logit.
int cmd_eval(const Args& a) {
    if (!a.has("--model") || !a.has("--data")) throw UsageError("eval needs --model FILE.onnx and --data fashion-mnist|DIR");
    const std::string quant = a.get("--quant", "fp32");
    if (quant != "fp32") throw UsageError("--quant " + quant + " is not available yet (fp32 is)");
    const std::string kernels_text = a.get("--kernels", "fast");
    if (kernels_text != "fast" && kernels_text != "reference") throw UsageError("--kernels expects fast or reference");
    const nn::Kernels kernels = kernels_text == "fast" ? nn::Kernels::fast : nn::Kernels::reference;
    const int batch = parse_count("--batch", a.get("--batch", "64"));
    const std::string model_path = a.get("--model", "");
    const std::string dir = dataset_dir(a.get("--data", ""));
    const std::string images_path = dir + "/t10k-images-idx3-ubyte", labels_path = dir + "/t10k-labels-idx1-ubyte";
    // One statement each: the order of the reads (and so the first error) must not depend on the compiler.
    const nn::IdxArray images = nn::parse_idx(read_file(images_path), images_path);
    const nn::IdxArray labels = nn::parse_idx(read_file(labels_path), labels_path);
    const nn::ImageSet set = nn::make_image_set(images, labels, 256, dir);
    const int64_t n = a.has("--limit") ? std::min<int64_t>(set.count, parse_count("--limit", a.get("--limit", ""))) : set.count;
    const nn::Graph g = nn::load_onnx(read_file(model_path), model_path);
    if (g.inputs.size() != 1 || g.outputs.size() != 1)
        throw InputError(model_path + ": eval needs a model with one input and one output, not " +
                         std::to_string(g.inputs.size()) + " and " + std::to_string(g.outputs.size()));
    const nn::Plan plan = nn::prepare(g, kernels);
    std::vector<double> node_ms(g.nodes.size(), 0.0);
    int64_t correct = 0;
    double total_ms = 0.0;
    std::vector<int> predictions;
    for (int64_t first = 0; first < n; first += batch) {
        const int64_t m = std::min<int64_t>(batch, n - first);
        const nn::RunResult r = nn::run(plan, {nn::image_batch(set, first, m)});
        const auto& y = r.outputs[0];
        if (y.dtype != nn::onnx::DataType::FLOAT || y.dims.size() != 2 || y.dims[0] != m || y.dims[1] < 1)
            throw InputError(model_path + ": the output is " + nn::onnx::dtype_name(y.dtype) + " " + nn::shape_text(y.dims) +
                             ", expected float [" + std::to_string(m) + ", classes]");
        for (size_t k = 0; k < r.timings.size(); ++k) {
            node_ms[k] += r.timings[k].ms;
            total_ms += r.timings[k].ms;
        }
        const int64_t classes = y.dims[1];
        for (int64_t i = 0; i < m; ++i) {
            const float* row = y.as<float>() + i * classes;
            const int predicted = static_cast<int>(std::max_element(row, row + classes) - row);
            predictions.push_back(predicted);
            correct += predicted == set.labels[static_cast<size_t>(first + i)];
        }
    }
    const double accuracy = n ? double(correct) / double(n) : 0.0;
    const double ms_per_image = n ? total_ms / double(n) : 0.0;
    if (a.json) {
        json nodes = json::array();
        for (size_t k = 0; k < g.nodes.size(); ++k)
            nodes.push_back({{"name", g.nodes[k].label()}, {"op_type", g.nodes[k].proto.op_type},
                             {"kernel", plan.node_kernels[k]}, {"ms_per_image", n ? node_ms[k] / double(n) : 0.0}});
        json doc = {{"model", model_path}, {"data", a.get("--data", "")}, {"quant", quant},
                    {"kernels", nn::kernels_name(kernels)}, {"n", n}, {"correct", correct},
                    {"accuracy", accuracy}, {"ms_per_image", ms_per_image}, {"batch", batch}, {"per_node", nodes}};
        if (a.flags.count("--predictions")) doc["predictions"] = predictions;
        std::cout << doc.dump(2) << "\n";
        return 0;
    }
    std::printf("%s on %s (%lld test images, batch %d, %s kernels, %s)\n", model_path.c_str(), a.get("--data", "").c_str(),
                static_cast<long long>(n), batch, nn::kernels_name(kernels), quant.c_str());
    std::printf("  accuracy      %s (%lld correct)\n", fixed(accuracy, 4).c_str(), static_cast<long long>(correct));
    std::printf("  ms per image  %s\n", fixed(ms_per_image, 4).c_str());
    std::printf("  %-24s %-20s %-22s %s\n", "node", "op", "kernel", "ms/image");
    for (size_t k = 0; k < g.nodes.size(); ++k)
        std::printf("  %-24s %-20s %-22s %s\n", g.nodes[k].label().c_str(), g.nodes[k].proto.op_type.c_str(),
                    plan.node_kernels[k].c_str(), fixed(n ? node_ms[k] / double(n) : 0.0, 5).c_str());
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
    if (cmd == "simulate") return cmd_simulate(a);
    if (cmd == "eval") return cmd_eval(a);
    if (cmd == "llm") return cmd_llm(a);
    if (cmd == "kernels") {
        const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
        if (sub != "drift") throw UsageError(sub.empty() ? "kernels needs a subcommand (drift)"
                                                          : "unknown kernels subcommand \"" + sub + "\"");
        if (a.positional.size() > 2) throw UsageError("kernels drift takes no arguments besides options");
        return cmd_kernels_drift(a);
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
