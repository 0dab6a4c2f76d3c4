#include "policy/measure.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "chip/catalog.hpp"
#include "lab/cell_scenario.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"
#include "nn/idx.hpp"
#include "policy/crypto.hpp"
#include "quant/gemm.hpp"

namespace stacklab::policy {
namespace {

using nlohmann::json;

json input_record(const InputBytes& in) {
    return {{"name", in.name}, {"sha256", sha256_hex(in.bytes)}, {"bytes", in.bytes.size()}};
}

json record(const char* function, json parameters, json inputs, std::string method, json value) {
    return {{"source", "measured"},
            {"function", function},
            {"command", "stacklab verify CERTIFICATE --remeasure (re-runs this record from its parameters and inputs)"},
            {"parameters", std::move(parameters)},
            {"inputs", std::move(inputs)},
            {"method", std::move(method)},
            {"value", std::move(value)}};
}

struct EvalPass {
    std::int64_t correct = 0;
    std::string logits_sha256, predictions_sha256;
};

// One pass over the first n images; the logits of all batches hashed in order. Batches of 64 as
// `stacklab eval` uses by default (the batch does not change the results: rows are independent).
EvalPass eval_pass(const nn::Graph& g, nn::Kernels kernels, const nn::ImageSet& set, std::int64_t n,
                   const std::string& model_name) {
    const nn::Plan plan = nn::prepare(g, kernels);
    nn::Workspace ws;
    nn::RunOptions ro;
    ro.workspace = &ws;
    std::string logits, predictions;
    EvalPass p;
    for (std::int64_t first = 0; first < n; first += 64) {
        const std::int64_t m = std::min<std::int64_t>(64, n - first);
        const nn::RunResult r = nn::run(plan, {nn::image_batch(set, first, m)}, ro);
        const auto& y = r.outputs.at(0);
        if (y.dtype != nn::onnx::DataType::FLOAT || y.dims.size() != 2 || y.dims[0] != m || y.dims[1] < 1)
            throw std::invalid_argument(model_name + ": the output is " + nn::onnx::dtype_name(y.dtype) + " " +
                                        nn::shape_text(y.dims) + ", expected float [" + std::to_string(m) + ", classes]");
        const std::int64_t classes = y.dims[1];
        const float* all = y.as<float>();
        // The float bits as stored (little-endian on x86 and wasm alike).
        logits.append(reinterpret_cast<const char*>(all), std::size_t(m * classes) * sizeof(float));
        for (std::int64_t i = 0; i < m; ++i) {
            const float* row = all + i * classes;
            const auto predicted = std::max_element(row, row + classes) - row;
            predictions.push_back(char(predicted));
            p.correct += predicted == set.labels[std::size_t(first + i)];
        }
    }
    p.logits_sha256 = sha256_hex(logits);
    p.predictions_sha256 = sha256_hex(predictions);
    return p;
}

const char* kEvalMethod =
    "core/nn executor on this host: fp32 ONNX model, test images scaled to [0, 1], prediction = first largest logit. "
    "Fast kernels run twice (reproducibility), reference kernels once (the semantics); drop_pct is reference minus fast "
    "accuracy in percentage points. core/chip models timing only, so this functional result holds for every chip; it is "
    "not a per-chip quantized accuracy.";

const char* kCellMethod =
    "core/lab cell scenario run once per chip and seed: robot cell, safety monitor and latency chain simulated at the "
    "control rate with each chip's roofline inference latency for the scenario's CNN; perception is the scenario's "
    "STAND-IN classifier (a fixed-accuracy oracle), not the evaluated model. A run fails when any cell verdict fails.";

json measure_model_eval_impl(const InputBytes& model, const InputBytes& images, const InputBytes& labels, std::int64_t limit);

}  // namespace

json measure_model_eval(const InputBytes& model, const InputBytes& images, const InputBytes& labels, std::int64_t limit) {
    try {
        return measure_model_eval_impl(model, images, labels, limit);
    } catch (const std::invalid_argument&) {
        throw;
    } catch (const std::exception& e) {
        // core/nn's typed errors (OnnxError, NodeError) name the input; callers get one exception type.
        throw std::invalid_argument(e.what());
    }
}

namespace {

json measure_model_eval_impl(const InputBytes& model, const InputBytes& images, const InputBytes& labels, std::int64_t limit) {
    if (limit < 0) throw std::invalid_argument("model evaluation: limit must be >= 0 (0: the whole test set)");
    const nn::IdxArray im = nn::parse_idx(images.bytes, images.name);
    const nn::IdxArray lb = nn::parse_idx(labels.bytes, labels.name);
    const nn::ImageSet set = nn::make_image_set(im, lb, 256, images.name);
    const std::int64_t n = limit == 0 ? set.count : std::min<std::int64_t>(limit, set.count);
    if (n < 1) throw std::invalid_argument(images.name + ": no test images to evaluate");
    const nn::Graph g = nn::load_onnx(model.bytes, model.name);
    if (g.inputs.size() != 1 || g.outputs.size() != 1)
        throw std::invalid_argument(model.name + ": evaluation needs a model with one input and one output");
    const EvalPass fast = eval_pass(g, nn::Kernels::fast, set, n, model.name);
    const EvalPass rerun = eval_pass(g, nn::Kernels::fast, set, n, model.name);
    const EvalPass ref = eval_pass(g, nn::Kernels::reference, set, n, model.name);
    const double acc = double(fast.correct) / double(n), ref_acc = double(ref.correct) / double(n);
    json value = {{"n", n},
                  {"correct", fast.correct},
                  {"accuracy", acc},
                  {"accuracy_pct", acc * 100.0},
                  {"reference_correct", ref.correct},
                  {"reference_accuracy_pct", ref_acc * 100.0},
                  {"drop_pct", (ref_acc - acc) * 100.0},
                  {"logits_sha256", fast.logits_sha256},
                  {"rerun_logits_sha256", rerun.logits_sha256},
                  {"rerun_hash_match", fast.logits_sha256 == rerun.logits_sha256},
                  {"reference_logits_sha256", ref.logits_sha256},
                  {"predictions_sha256", fast.predictions_sha256},
                  {"model_sha256", sha256_hex(model.bytes)},
                  {"test_set_sha256", json::array({sha256_hex(images.bytes), sha256_hex(labels.bytes)})}};
    json params = {{"limit", limit}, {"images_evaluated", n}, {"batch", 64},
                   {"fast_isa", quant::isa_name(quant::best_isa())}};
    return record("policy::measure_model_eval", params,
                  json::array({input_record(model), input_record(images), input_record(labels)}), kEvalMethod, value);
}

}  // namespace

json measure_cell(const InputBytes& scenario, const std::vector<std::string>& chips, const std::vector<std::uint64_t>& seeds) {
    if (chips.empty()) throw std::invalid_argument("cell measurement: no chips to run the scenario on");
    if (seeds.empty()) throw std::invalid_argument("cell measurement: no seeds");
    const lab::CellScenario base = lab::parse_cell_scenario(scenario.bytes, scenario.name);
    const auto catalog = chip::load_catalog(chip::bundled_catalog_files());
    json failures = json::array(), per_chip = json::array();
    int runs = 0, failed = 0, stops = 0;
    long long actions = 0, unexplained = 0;
    double worst = 0, bound = 0;
    bool within = true;
    std::string perception;
    for (const std::string& chip_id : chips) {
        int chip_failed = 0;
        double chip_worst = 0, inference_ms = 0;
        for (const std::uint64_t seed : seeds) {
            lab::CellScenario s = base;
            s.cell.seed = seed;
            const lab::CellRun run = lab::run_cell_scenario(s, catalog, chip_id);
            const robot::CellReport& r = run.report;
            ++runs;
            inference_ms = run.inference.total_ms;
            perception = r.perception;
            stops += r.protective_stops;
            worst = std::max(worst, r.worst_stop_ms);
            chip_worst = std::max(chip_worst, r.worst_stop_ms);
            bound = std::max(bound, r.stop_bound_ms);
            if (r.worst_stop_ms > r.stop_bound_ms) within = false;
            actions += (long long)r.log.size();
            for (const auto& e : r.log) unexplained += e.rule.empty();
            if (!r.pass()) {
                ++failed;
                ++chip_failed;
                for (const auto& v : r.verdicts)
                    if (!v.pass)
                        failures.push_back(chip_id + " seed " + std::to_string(seed) + ": " + v.name + " (" + v.detail + ")");
            }
        }
        per_chip.push_back({{"chip", chip_id}, {"inference_ms", inference_ms}, {"runs", int(seeds.size())},
                            {"failed_runs", chip_failed}, {"worst_stop_ms", chip_worst}});
    }
    json modes = json::array();
    const robot::CellConfig& c = base.cell;
    if (!c.network_outages.empty()) modes.push_back("network_outage");
    if (!c.sensor_dropouts.empty()) modes.push_back("sensor_dropout");
    if (!c.obstacles.empty()) modes.push_back("low_confidence_obstacle");
    if (!c.persons.empty()) modes.push_back("person");
    if (!base.swap_chip.empty()) modes.push_back("slower_chip");
    json value = {{"scenario", base.id},
                  {"runs", runs},
                  {"failed_runs", failed},
                  {"failures", failures},
                  {"protective_stops", stops},
                  {"worst_stop_ms", worst},
                  {"stop_bound_ms", bound},
                  {"stops_within_bound", within},
                  {"actions", actions},
                  {"actions_without_rule_id", unexplained},
                  {"fault_modes", modes},
                  {"perception", perception},
                  {"per_chip", per_chip}};
    // json::array explicitly: a one-element braced list is a copy for clang (em++), an array for g++.
    return record("policy::measure_cell", {{"chips", chips}, {"seeds", seeds}}, json::array({input_record(scenario)}),
                  kCellMethod, value);
}

json measure_convergence(const json& model_eval, const json& cell) {
    const auto catalog = chip::load_catalog(chip::bundled_catalog_files());
    const bool evaluated = model_eval.is_object() && model_eval.value("source", "") == "measured";
    json per_chip = json::array(), validated = json::array();
    int domestic = 0;
    for (const auto& c : cell.at("value").at("per_chip")) {
        const std::string id = c.at("chip").get<std::string>();
        const chip::ChipSpec* spec = nullptr;
        for (const auto& s : catalog)
            if (s.id == id) spec = &s;
        const bool passed = c.at("failed_runs").get<int>() == 0;
        const bool ok = spec && passed && evaluated;
        json e = {{"chip", id}, {"in_catalog", spec != nullptr}, {"cell_runs_passed", passed},
                  {"inference_ms", c.at("inference_ms")}, {"validated", ok}};
        if (spec) {
            e["origin"] = spec->origin;
            e["domestic"] = spec->origin == "CN";
        }
        if (ok) {
            validated.push_back(id);
            if (spec->origin == "CN") ++domestic;
        }
        per_chip.push_back(e);
    }
    json inputs = json::array();
    return {{"source", "measured"},
            {"function", "policy::measure_convergence"},
            {"command", "stacklab verify CERTIFICATE --remeasure (derived from the model_eval and cell records)"},
            {"parameters", {{"from", json::array({"model_eval", "cell"})}}},
            {"inputs", inputs},
            {"method", "A chip is validated when it is in the bundled chip catalog, every measured cell run on it passed "
                       "and the model was evaluated; domestic = catalog origin \"CN\"."},
            {"value", {{"per_chip", per_chip}, {"validated_chips", validated}, {"validated_domestic_platforms", domestic}}}};
}

json remeasure(const json& rec, const std::map<std::string, std::string>& files) {
    auto input = [&](std::size_t i) {
        const json& in = rec.at("inputs").at(i);
        const std::string name = in.at("name").get<std::string>();
        const auto it = files.find(name);
        if (it == files.end()) throw std::invalid_argument("remeasure: input \"" + name + "\" was not given");
        if (sha256_hex(it->second) != in.at("sha256").get<std::string>())
            throw std::invalid_argument("remeasure: input \"" + name + "\" has SHA-256 " + sha256_hex(it->second) +
                                        ", the record says " + in.at("sha256").get<std::string>());
        return InputBytes{name, it->second};
    };
    const std::string f = rec.value("function", "");
    try {
        if (f == "policy::measure_model_eval")
            return measure_model_eval(input(0), input(1), input(2), rec.at("parameters").at("limit").get<std::int64_t>());
        if (f == "policy::measure_cell")
            return measure_cell(input(0), rec.at("parameters").at("chips").get<std::vector<std::string>>(),
                                rec.at("parameters").at("seeds").get<std::vector<std::uint64_t>>());
    } catch (const json::exception& e) {
        throw std::invalid_argument(std::string("remeasure: malformed record: ") + e.what());
    }
    throw std::invalid_argument("remeasure: no way to re-run a record of function \"" + f + "\"");
}

}  // namespace stacklab::policy
