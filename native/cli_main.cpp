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
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"
#include "chip/llm.hpp"
#include "chip/roofline.hpp"
#include "nn/node_test.hpp"
#include "policy/audit_log.hpp"
#include "policy/certificate.hpp"
#include "policy/crypto.hpp"
#include "policy/jcs.hpp"
#include "policy/merkle.hpp"
#include "policy/pack.hpp"

#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
    "  keygen --out DIR                 new Ed25519 key: DIR/secret.key (mode 0600), DIR/public.key\n"
    "  certify --manifest FILE --key DIR/secret.key --out CERT [--policy PACK]... [--log LOG]\n"
    "      [--now YYYY-MM-DDTHH:MM:SSZ] [--validity-days N]\n"
    "                                   certify a deployment; exit 0 only if every mandatory rule holds\n"
    "  verify CERT [--pubkey FILE] [--log LOG] [--now T]\n"
    "                                   check signature, canonical form, evidence hashes, validity, log inclusion\n"
    "  policy list                      the bundled policy packs (models/policy)\n"
    "  audit root (--leaves-hex H,H,... | --log LOG)      Merkle tree size and root\n"
    "  audit append --log LOG --data TEXT [--key FILE] [--now T]   append an entry (+ a signed tree head)\n"
    "  audit prove --log LOG (--index I | --from M) [--size N]     inclusion / consistency proof\n"
    "  audit verify-proof --proof FILE  check a proof printed by 'audit prove --json'\n"
    "  audit check --log LOG [--pubkey FILE]              recovery report, tree heads, signatures\n"
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
    std::map<std::string, std::vector<std::string>> lists;  // for the names in kListOptions

    bool has(const std::string& name) const { return options.count(name) > 0; }
    std::string get(const std::string& name, const std::string& fallback) const {
        auto it = options.find(name);
        return it == options.end() ? fallback : it->second;
    }
};

const std::set<std::string> kValueOptions = {"--chip", "--gemm", "--dtype", "--fidelity", "--pick", "--llm",
                                             "--quant", "--batch", "--prompt", "--output", "--link-gbps",
                                             "--out", "--manifest", "--key", "--log", "--pubkey", "--now",
                                             "--validity-days", "--leaves-hex", "--data", "--index", "--size",
                                             "--from", "--proof"};
// Options that may be given more than once; every value is kept in order.
const std::set<std::string> kListOptions = {"--policy"};
const std::set<std::string> kFlagOptions = {"--kv-int8"};

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
        } else if (kListOptions.count(s)) {
            if (i + 1 >= argc) throw UsageError(s + " needs a value");
            a.lists[s].push_back(argv[++i]);
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

// ---- policy certification: keys, certificates, audit log -------------------------------------

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(path + ": cannot write file");
    out << bytes;
    if (!out.flush()) throw InputError(path + ": write failed");
}

// Appends with one write() and makes it durable before returning: an entry is committed only
// once fsync succeeds, so a crash can leave at most a torn tail that the next open truncates.
void append_durably(const std::string& path, const std::string& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) throw InputError(path + ": cannot open for appending");
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) {
            ::close(fd);
            throw InputError(path + ": write failed");
        }
        done += std::size_t(n);
    }
    if (::fsync(fd) != 0) {
        ::close(fd);
        throw InputError(path + ": fsync failed");
    }
    ::close(fd);
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    return policy::format_utc(static_cast<long long>(t));
}

std::string now_option(const Args& a) {
    const std::string now = a.get("--now", "");
    if (now.empty()) return utc_now();
    try {
        policy::parse_utc(now);
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--now: ") + e.what());
    }
    return now;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

policy::Ed25519KeyPair read_secret_key(const std::string& path) {
    try {
        return policy::ed25519_from_seed(policy::from_hex_fixed<32>(trim(read_file(path)), path));
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
}

policy::Ed25519PublicKey read_public_key(const std::string& path) {
    try {
        return policy::from_hex_fixed<32>(trim(read_file(path)), path);
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
}

int cmd_keygen(const Args& a) {
    if (!a.has("--out")) throw UsageError("keygen needs --out DIR");
    const std::string dir = a.get("--out", "");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir, ec)) throw InputError(dir + ": cannot create directory");
    const std::string secret_path = (fs::path(dir) / "secret.key").string();
    const std::string public_path = (fs::path(dir) / "public.key").string();
    if (fs::exists(secret_path, ec)) throw InputError(secret_path + ": exists already (not overwriting a key)");
    const policy::Ed25519KeyPair k = policy::ed25519_generate();
    // Created 0600 from the start (never world-readable, not even for a moment).
    const int fd = ::open(secret_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) throw InputError(secret_path + ": cannot create");
    const std::string secret = policy::to_hex(k.seed) + "\n";
    const bool ok = ::write(fd, secret.data(), secret.size()) == ssize_t(secret.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) throw InputError(secret_path + ": write failed");
    ::chmod(secret_path.c_str(), 0600);
    write_file(public_path, policy::to_hex(k.public_key) + "\n");
    const std::string id = policy::key_id(k.public_key);
    if (a.json)
        std::cout << json{{"secret_key", secret_path}, {"public_key", public_path}, {"key_id", id}}.dump(2) << "\n";
    else
        std::printf("wrote %s (mode 0600) and %s; key id %s\n", secret_path.c_str(), public_path.c_str(), id.c_str());
    return 0;
}

std::vector<policy::PolicyPack> packs_for(const Args& a, const json& manifest) {
    std::vector<std::string> ids;
    if (a.lists.count("--policy"))
        ids = a.lists.at("--policy");
    else
        for (const auto& p : manifest.at("policies")) ids.push_back(p.get<std::string>());
    std::vector<policy::PolicyPack> packs;
    for (const auto& id : ids) {
        // A pack is a bundled id or a path to a pack file.
        if (id.size() > 5 && id.substr(id.size() - 5) == ".json")
            packs.push_back(policy::parse_pack(read_file(id), id));
        else
            packs.push_back(policy::find_pack(id));
    }
    return packs;
}

struct OpenedLog {
    policy::ParsedLog parsed;
    json recovery;
};

// Opens (or starts) a log for appending: a torn tail is truncated and reported; corruption stops.
OpenedLog open_log_for_append(const std::string& path) {
    std::error_code ec;
    const std::string bytes = fs::exists(path, ec) ? read_file(path) : std::string();
    OpenedLog o;
    o.parsed = policy::parse_log(bytes);
    const auto& rep = o.parsed.report;
    o.recovery = {{"status", policy::log_status_name(rep.status)}, {"message", rep.message},
                  {"dropped_bytes", rep.dropped_bytes}};
    if (rep.status == policy::LogStatus::corrupt) throw InputError(path + ": " + rep.message + " (not appending)");
    if (rep.status == policy::LogStatus::torn_tail) {
        if (::truncate(path.c_str(), off_t(rep.valid_bytes)) != 0) throw InputError(path + ": cannot truncate the torn tail");
        std::cerr << "stacklab: " << path << ": recovered: " << rep.message << "; truncated " << rep.dropped_bytes
                  << " bytes\n";
    }
    return o;
}

// Appends one entry and, with a key, a signed tree head over all entries. Returns the result.
json append_entry(const std::string& path, const std::string& data, const policy::Ed25519KeyPair* key,
                  const std::string& now) {
    OpenedLog o = open_log_for_append(path);
    std::vector<policy::Hash> leaves = policy::entry_leaf_hashes(o.parsed);
    std::string bytes;
    if (o.parsed.report.valid_bytes == 0) bytes += policy::encode_log_header();
    bytes += policy::encode_record(policy::RecordKind::entry, data);
    leaves.push_back(policy::leaf_hash(data));
    const policy::Hash root = policy::tree_root(leaves);
    if (key)
        bytes += policy::encode_record(policy::RecordKind::tree_head,
                                       policy::tree_head_json(policy::sign_tree_head(leaves.size(), root, now, *key)));
    append_durably(path, bytes);
    return {{"index", leaves.size() - 1}, {"size", leaves.size()}, {"root", policy::to_hex(root)},
            {"tree_head_signed", key != nullptr}, {"recovery", o.recovery}};
}

int cmd_certify(const Args& a) {
    if (!a.has("--manifest") || !a.has("--key") || !a.has("--out"))
        throw UsageError("certify needs --manifest FILE --key SECRET_KEY --out CERT");
    const std::string manifest_path = a.get("--manifest", "");
    const std::string manifest = read_file(manifest_path);
    const policy::Ed25519KeyPair key = read_secret_key(a.get("--key", ""));
    policy::CertifyOptions opt;
    opt.now = now_option(a);
    if (a.has("--validity-days")) opt.validity_days = parse_count("--validity-days", a.get("--validity-days", ""));
    opt.audit_log = a.has("--log");
    opt.issued_by = std::string("stacklab ") + kVersion;
    std::vector<policy::PolicyPack> packs;
    policy::CertifyResult r;
    try {
        packs = packs_for(a, policy::parse_manifest(manifest, manifest_path));
        r = policy::certify(manifest, manifest_path, packs, key, opt);
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
    const std::string out = a.get("--out", "");
    write_file(out, r.certificate);
    json result = {{"certificate", out}, {"certificate_sha256", policy::sha256_hex(r.certificate)},
                   {"status", r.decision.pass ? "certified" : "refused"}, {"pass", r.decision.pass},
                   {"summary", r.decision.summary}, {"deciding_rules", r.decision.deciding_rules},
                   {"warnings", r.decision.warnings}};
    if (a.has("--log"))
        result["log"] = append_entry(a.get("--log", ""), policy::certificate_log_entry(r.certificate), &key, opt.now);
    if (a.json) {
        std::cout << result.dump(2) << "\n";
    } else {
        std::printf("%s: %s\n", manifest_path.c_str(), r.decision.summary.c_str());
        for (const auto& v : r.decision.verdicts)
            std::printf("  %-4s %-9s %s/%s: %s\n", v.outcome == policy::Outcome::pass ? "ok" : (v.outcome == policy::Outcome::fail ? "FAIL" : "n/a"),
                        v.severity == policy::Severity::mandatory ? "mandatory" : "advisory", v.pack.c_str(), v.rule.c_str(),
                        v.reasons.empty() ? "" : v.reasons.front().c_str());
        std::printf("wrote %s\n", out.c_str());
    }
    if (!r.decision.pass) {
        std::cerr << "stacklab: certification refused: " << r.decision.summary << "\n";
        return 1;
    }
    return 0;
}

// Finds the certificate's entry in the log and proves its inclusion under the latest signed
// tree head. Returns "" when included, else the reason.
std::string check_log_inclusion(const std::string& log_path, const std::string& cert_bytes,
                                const std::optional<policy::Ed25519PublicKey>& key, json& info) {
    const policy::ParsedLog log = policy::parse_log(read_file(log_path));
    const policy::LogCheck c = policy::check_log(log, key);
    if (!c.ok) return "log: " + c.reason;
    if (!c.latest_tree_head) return "log: no signed tree head";
    std::string entry;
    try {
        entry = policy::certificate_log_entry(cert_bytes);
    } catch (const std::exception& e) {
        return std::string("log: ") + e.what();
    }
    const auto leaves = policy::entry_leaf_hashes(log);
    const policy::Hash want = policy::leaf_hash(entry);
    const policy::TreeHead& th = *c.latest_tree_head;
    for (std::uint64_t i = 0; i < th.size; ++i) {
        if (leaves[i] != want) continue;
        const auto proof = policy::inclusion_proof(leaves, i, th.size);
        const policy::ProofCheck pc = policy::verify_inclusion(i, th.size, want, proof, th.root);
        if (!pc.ok) return "log: inclusion proof: " + pc.reason;
        info = {{"index", i}, {"tree_size", th.size}, {"root", policy::to_hex(th.root)}, {"tree_head_time", th.timestamp},
                {"proof_hashes", proof.size()}};
        return "";
    }
    return "log: the certificate is not among the " + std::to_string(th.size) + " entries under the latest signed tree head";
}

int cmd_verify(const Args& a) {
    if (a.positional.size() != 2) throw UsageError("verify needs exactly one CERT file");
    const std::string path = a.positional[1];
    const std::string bytes = read_file(path);
    std::optional<policy::Ed25519PublicKey> key;
    if (a.has("--pubkey")) key = read_public_key(a.get("--pubkey", ""));
    const std::string now = now_option(a);
    policy::VerifyResult r = policy::verify_certificate(bytes, key, now);
    json log_info;
    if (r.ok && a.has("--log")) {
        const std::string why = check_log_inclusion(a.get("--log", ""), bytes, key, log_info);
        if (!why.empty()) {
            r.ok = false;
            r.reason = why;
        } else {
            r.checks.push_back("audit log inclusion");
        }
    }
    json out = {{"certificate", path}, {"valid", r.ok}, {"checks", r.checks}, {"now", now}};
    if (!r.ok) out["reason"] = r.reason;
    if (!log_info.is_null()) out["log"] = log_info;
    if (r.certificate.is_object() && r.certificate.contains("subject")) out["subject"] = r.certificate["subject"].value("name", "");
    if (a.json)
        std::cout << out.dump(2) << "\n";
    else if (r.ok)
        std::printf("%s: valid (%zu checks)\n", path.c_str(), r.checks.size());
    if (!r.ok) {
        std::cerr << "stacklab: " << path << ": " << r.reason << "\n";
        return 1;
    }
    return 0;
}

int cmd_policy(const Args& a) {
    const std::string sub = a.positional.size() > 1 ? a.positional[1] : "list";
    if (sub != "list") throw UsageError("unknown policy subcommand \"" + sub + "\"");
    json list = json::array();
    for (const auto& f : policy::bundled_pack_files()) {
        const policy::PolicyPack p = policy::parse_pack(f.bytes, f.name);
        list.push_back({{"id", p.id}, {"version", p.version}, {"title", p.title}, {"rules", p.rules.size()}, {"sha256", p.sha256}});
        if (!a.json) std::printf("%-24s %-7s %2zu rules  %s\n", p.id.c_str(), p.version.c_str(), p.rules.size(), p.title.c_str());
    }
    if (a.json) std::cout << json{{"packs", list}}.dump(2) << "\n";
    return 0;
}

std::vector<policy::Hash> parse_hash_list(const json& j, const std::string& what) {
    std::vector<policy::Hash> out;
    if (!j.is_array()) throw InputError(what + ": expected a list of hex hashes");
    for (const auto& h : j) {
        if (!h.is_string()) throw InputError(what + ": expected a list of hex hashes");
        out.push_back(policy::from_hex_fixed<32>(h.get<std::string>(), what));
    }
    return out;
}

std::uint64_t parse_size(const std::string& option, const std::string& text) {
    const double v = parse_number(option, text);
    if (v < 0 || v > 1e15 || v != std::floor(v)) throw UsageError(option + " expects a whole number >= 0, got \"" + text + "\"");
    return std::uint64_t(v);
}

int cmd_audit(const Args& a) {
    const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
    auto print = [&](const json& j, const std::string& text) {
        if (a.json)
            std::cout << j.dump(2) << "\n";
        else
            std::cout << text << "\n";
    };
    if (sub == "root") {
        std::vector<policy::Hash> leaves;
        if (a.has("--leaves-hex")) {
            // "" is the empty leaf: split on commas keeping empty fields.
            const std::string list = a.get("--leaves-hex", "");
            std::size_t start = 0;
            while (true) {
                const std::size_t comma = list.find(',', start);
                std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (item == "\"\"") item.clear();
                try {
                    const policy::Bytes b = policy::from_hex(item, "--leaves-hex");
                    leaves.push_back(policy::leaf_hash(std::string(b.begin(), b.end())));
                } catch (const std::invalid_argument& e) {
                    throw UsageError(e.what());
                }
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        } else if (a.has("--log")) {
            const policy::ParsedLog log = policy::parse_log(read_file(a.get("--log", "")));
            if (log.report.status != policy::LogStatus::clean) throw InputError(a.get("--log", "") + ": " + log.report.message);
            leaves = policy::entry_leaf_hashes(log);
        } else {
            throw UsageError("audit root needs --leaves-hex H,H,... or --log FILE");
        }
        const std::string root = policy::to_hex(policy::tree_root(leaves));
        print(json{{"size", leaves.size()}, {"root", root}}, std::to_string(leaves.size()) + " leaves, root " + root);
        return 0;
    }
    if (sub == "append") {
        if (!a.has("--log") || !a.has("--data")) throw UsageError("audit append needs --log FILE --data TEXT");
        std::optional<policy::Ed25519KeyPair> key;
        if (a.has("--key")) key = read_secret_key(a.get("--key", ""));
        const json r = append_entry(a.get("--log", ""), a.get("--data", ""), key ? &*key : nullptr, now_option(a));
        print(r, "appended entry " + r["index"].dump() + "; size " + r["size"].dump() + ", root " + r["root"].get<std::string>());
        return 0;
    }
    if (sub == "prove") {
        if (!a.has("--log")) throw UsageError("audit prove needs --log FILE");
        const policy::ParsedLog log = policy::parse_log(read_file(a.get("--log", "")));
        if (log.report.status != policy::LogStatus::clean) throw InputError(a.get("--log", "") + ": " + log.report.message);
        const auto leaves = policy::entry_leaf_hashes(log);
        const std::uint64_t size = a.has("--size") ? parse_size("--size", a.get("--size", "")) : leaves.size();
        json out;
        try {
            if (a.has("--index")) {
                const std::uint64_t i = parse_size("--index", a.get("--index", ""));
                json proof = json::array();
                for (const auto& h : policy::inclusion_proof(leaves, i, size)) proof.push_back(policy::to_hex(h));
                out = {{"type", "inclusion"}, {"index", i}, {"size", size}, {"leaf_hash", policy::to_hex(leaves[i])},
                       {"root", policy::to_hex(policy::tree_root(leaves, size))}, {"proof", proof}};
            } else if (a.has("--from")) {
                const std::uint64_t m = parse_size("--from", a.get("--from", ""));
                json proof = json::array();
                for (const auto& h : policy::consistency_proof(leaves, m, size)) proof.push_back(policy::to_hex(h));
                out = {{"type", "consistency"}, {"old_size", m}, {"new_size", size},
                       {"old_root", policy::to_hex(policy::tree_root(leaves, m))},
                       {"new_root", policy::to_hex(policy::tree_root(leaves, size))}, {"proof", proof}};
            } else {
                throw UsageError("audit prove needs --index I or --from M");
            }
        } catch (const std::invalid_argument& e) {
            throw InputError(e.what());
        }
        print(out, out.dump(2));
        return 0;
    }
    if (sub == "verify-proof") {
        if (!a.has("--proof")) throw UsageError("audit verify-proof needs --proof FILE");
        const std::string path = a.get("--proof", "");
        policy::ProofCheck c;
        try {
            const json p = policy::parse_json_strict(read_file(path), path);
            const std::string type = p.value("type", "");
            auto hash = [&](const char* k) { return policy::from_hex_fixed<32>(p.at(k).get<std::string>(), path + "/" + k); };
            if (type == "inclusion")
                c = policy::verify_inclusion(p.at("index").get<std::uint64_t>(), p.at("size").get<std::uint64_t>(),
                                             hash("leaf_hash"), parse_hash_list(p.at("proof"), path + "/proof"), hash("root"));
            else if (type == "consistency")
                c = policy::verify_consistency(p.at("old_size").get<std::uint64_t>(), p.at("new_size").get<std::uint64_t>(),
                                               hash("old_root"), hash("new_root"), parse_hash_list(p.at("proof"), path + "/proof"));
            else
                throw InputError(path + ": \"type\" must be \"inclusion\" or \"consistency\"");
        } catch (const json::exception& e) {
            throw InputError(path + ": " + e.what());
        } catch (const std::invalid_argument& e) {
            throw InputError(e.what());
        }
        json out = {{"valid", c.ok}};
        if (!c.ok) out["reason"] = c.reason;
        print(out, c.ok ? "proof valid" : "proof INVALID: " + c.reason);
        if (!c.ok) {
            std::cerr << "stacklab: " << path << ": " << c.reason << "\n";
            return 1;
        }
        return 0;
    }
    if (sub == "check") {
        if (!a.has("--log")) throw UsageError("audit check needs --log FILE");
        const std::string path = a.get("--log", "");
        std::optional<policy::Ed25519PublicKey> key;
        if (a.has("--pubkey")) key = read_public_key(a.get("--pubkey", ""));
        const policy::ParsedLog log = policy::parse_log(read_file(path));
        const policy::LogCheck c = policy::check_log(log, key);
        const auto& rep = log.report;
        json out = {{"log", path}, {"valid", c.ok},
                    {"recovery", {{"status", policy::log_status_name(rep.status)}, {"message", rep.message},
                                  {"total_bytes", rep.total_bytes}, {"valid_bytes", rep.valid_bytes},
                                  {"dropped_bytes", rep.dropped_bytes}}}};
        if (c.ok) {
            out["entries"] = c.entries;
            out["root"] = policy::to_hex(c.root);
            out["tree_heads"] = c.tree_heads;
            out["signatures_checked"] = key.has_value();
        } else {
            out["reason"] = c.reason;
        }
        print(out, c.ok ? path + ": valid, " + std::to_string(c.entries) + " entries, " + std::to_string(c.tree_heads) +
                              " signed tree heads, root " + policy::to_hex(c.root)
                        : path + ": INVALID: " + c.reason);
        if (!c.ok) {
            std::cerr << "stacklab: " << path << ": " << c.reason << "\n";
            return 1;
        }
        return 0;
    }
    throw UsageError("unknown audit subcommand \"" + sub + "\" (append, root, prove, verify-proof, check)");
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
    if (cmd == "llm") return cmd_llm(a);
    if (cmd == "keygen") return cmd_keygen(a);
    if (cmd == "certify") return cmd_certify(a);
    if (cmd == "verify") return cmd_verify(a);
    if (cmd == "policy") return cmd_policy(a);
    if (cmd == "audit") return cmd_audit(a);
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
