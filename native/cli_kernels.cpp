// `stacklab onnx-test` and `kernels`: ONNX's backend node tests and the kernels' precision reports.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "native/cli.hpp"
#include "nn/drift.hpp"
#include "nn/graph.hpp"
#include "nn/node_test.hpp"
#include "quant/norm.hpp"

namespace stacklab::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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

json drift_json(const quant::DriftReport& r) {
    json hist = json::array();
    const auto& labels = quant::drift_histogram_labels();
    for (size_t i = 0; i < labels.size(); ++i) hist.push_back({{"lsb", labels[i]}, {"count", r.lsb_histogram[i]}});
    return {{"rows", r.rows}, {"cols", r.cols},
            {"output", {{"type", r.out_signed ? "int8" : "uint8"}, {"scale", r.out_scale}, {"zero_point", r.out_zero_point}}},
            {"max_abs_error", r.max_abs_error}, {"mean_abs_error", r.mean_abs_error}, {"differing", r.differing},
            {"max_abs_lsb", r.max_abs_lsb}, {"lsb_histogram", hist}};
}

// `kernels drift --model`: the same report on the real input rows of every LayerNorm -> Gelu pair
// of a model, over the first --limit test images.
int cmd_kernels_drift_model(const Args& a, const quant::LnGeluVariant& v) {
    const std::string path = a.get("--model", "");
    const nn::Graph g = nn::load_onnx(read_file(path), path);
    const nn::ImageSet test = load_split(dataset_dir(a.get("--data", "fashion-mnist")), "t10k");
    const int64_t limit = std::min<int64_t>(test.count, parse_count("--limit", a.get("--limit", "256")));
    std::vector<nn::onnx::Tensor> inputs;
    for (int64_t first = 0; first < limit; first += 64) inputs.push_back(nn::image_batch(test, first, std::min<int64_t>(64, limit - first)));
    std::vector<nn::ModelDrift> drifts;
    try {
        drifts = nn::layer_norm_gelu_drift_on_model(g, inputs, v);
    } catch (const std::invalid_argument& e) {
        throw InputError(path + ": " + e.what());
    }
    if (drifts.empty()) throw InputError(path + ": the model has no LayerNormalization whose only reader is a Gelu");
    if (a.json) {
        json pairs = json::array();
        for (const nn::ModelDrift& d : drifts) {
            json j = drift_json(d.report);
            j["layer_norm"] = d.layer_norm;
            j["gelu"] = d.gelu;
            j["model_gelu_approximate"] = d.gelu_approximate;
            pairs.push_back(j);
        }
        std::cout << json{{"kernel", "layer_norm_gelu"}, {"variant", quant::variant_name(v)}, {"model", path},
                          {"images", limit}, {"reference", "layer_norm in double (two-pass), erf GELU in double, quantize"},
                          {"pairs", pairs}}.dump(2)
                  << "\n";
        return 0;
    }
    std::printf("fused LayerNorm+GELU, variant %s, on %s (LayerNorm inputs of the first %lld test images)\n",
                quant::variant_name(v).c_str(), path.c_str(), static_cast<long long>(limit));
    const auto& labels = quant::drift_histogram_labels();
    for (const nn::ModelDrift& d : drifts) {
        const quant::DriftReport& r = d.report;
        std::printf("%s -> %s: %zu rows x %zu cols, int8 scale %s zero point %d\n", d.layer_norm.c_str(), d.gelu.c_str(),
                    r.rows, r.cols, fmt(r.out_scale).c_str(), static_cast<int>(r.out_zero_point));
        std::printf("  max abs error %s, mean %s; %llu of %llu quantized outputs differ, at most %d LSB\n",
                    fmt(r.max_abs_error).c_str(), fmt(r.mean_abs_error).c_str(), static_cast<unsigned long long>(r.differing),
                    static_cast<unsigned long long>(uint64_t{r.rows} * r.cols), static_cast<int>(r.max_abs_lsb));
        std::printf("  LSB histogram:");
        for (size_t i = 0; i < labels.size(); ++i) std::printf(" %s:%llu", labels[i], static_cast<unsigned long long>(r.lsb_histogram[i]));
        std::printf("\n");
    }
    return 0;
}

// `kernels drift`: the fused LayerNorm+GELU kernel of one variant against the unfused reference.
int cmd_kernels_drift(const Args& a) {
    if (a.has("--model")) {
        quant::LnGeluVariant v;
        try {
            if (a.has("--variant")) v.variance = quant::parse_variance_method(a.options.at("--variant"));
            if (a.has("--gelu")) v.gelu = quant::parse_gelu_form(a.options.at("--gelu"));
        } catch (const std::invalid_argument& e) {
            throw UsageError(std::string(e.what()).substr(std::string("quant: ").size()));
        }
        v.fp16 = a.flag("--fp16");
        return cmd_kernels_drift_model(a, v);
    }
    const size_t rows = parse_bounded(a, "rows", 16, 1, 65536);
    const size_t cols = parse_bounded(a, "cols", 768, 1, 65536);
    if (rows * cols > (size_t{1} << 24)) throw UsageError("--rows x --cols must be at most 16777216");
    const uint32_t seed = static_cast<uint32_t>(parse_bounded(a, "seed", 1, 0, 4294967295u));
    const float offset = parse_offset(a);
    quant::LnGeluVariant v;
    try {
        if (a.has("--variant")) v.variance = quant::parse_variance_method(a.options.at("--variant"));
        if (a.has("--gelu")) v.gelu = quant::parse_gelu_form(a.options.at("--gelu"));
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string(e.what()).substr(std::string("quant: ").size()));
    }
    v.fp16 = a.flag("--fp16");
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

}  // namespace

int cmd_onnx_test(const Args& a) {
    const std::vector<std::string> dirs(a.positional.begin() + 1, a.positional.end());
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


int cmd_kernels(const Args& a) {
    const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
    if (sub != "drift") throw UsageError(sub.empty() ? "kernels needs a subcommand (drift)"
                                                      : "unknown kernels subcommand \"" + sub + "\"");
    if (a.positional.size() > 2) throw UsageError("kernels drift takes no arguments besides options");
    return cmd_kernels_drift(a);
}

}  // namespace stacklab::cli
