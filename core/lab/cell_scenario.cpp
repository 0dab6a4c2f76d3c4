#include "lab/cell_scenario.hpp"

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "lab/pcb_model.hpp"
#include "nn/graph.hpp"
#include "robot/arm.hpp"

namespace stacklab::lab {

using nlohmann::json;

ScenarioError::ScenarioError(std::string file, std::string field, const std::string& problem)
    : std::invalid_argument(file + ": " + (field.empty() ? std::string() : field + ": ") + problem),
      file_(std::move(file)),
      field_(std::move(field)) {}

std::vector<chip::OpWork> cnn_work(const CnnModel& m, chip::DType dtype) {
    std::vector<chip::OpWork> out;
    const int out_bytes = chip::dtype_bytes(dtype);  // requantized int8 or fp16/bf16 activations
    long h = m.in_h, w = m.in_w, c = m.in_c;
    for (size_t i = 0; i < m.conv.size(); ++i) {
        const ConvLayer& l = m.conv[i];
        const long oh = (h + l.stride - 1) / l.stride, ow = (w + l.stride - 1) / l.stride;
        chip::OpWork wk = chip::gemm_work(static_cast<double>(oh * ow), l.out_channels,
                                          static_cast<double>(l.kernel) * l.kernel * c, dtype, out_bytes);
        wk.name = "conv" + std::to_string(i + 1);
        wk.op = "Conv (im2col GEMM)";
        out.push_back(wk);
        h = oh;
        w = ow;
        c = l.out_channels;
    }
    chip::OpWork fc = chip::gemm_work(1, m.classes, static_cast<double>(c), dtype, out_bytes);
    fc.name = "classifier";
    fc.op = "Gemm (after global pooling)";
    out.push_back(fc);
    return out;
}

const char* classifier_name(Classifier c) { return c == Classifier::model ? "model" : "standin"; }
const char* latency_source_name(LatencySource l) { return l == LatencySource::model ? "model" : "conv"; }

InferenceEstimate estimate_inference(const chip::ChipSpec& spec, chip::DType dtype, const CnnModel& model) {
    return estimate_inference(spec, dtype, cnn_work(model, dtype));
}

InferenceEstimate estimate_inference(const chip::ChipSpec& spec, chip::DType dtype, const std::vector<chip::OpWork>& work) {
    InferenceEstimate e;
    e.chip_id = spec.id;
    e.peak = chip::chip_peak(spec, dtype);
    for (const chip::OpWork& w : work) {
        e.rows.push_back(chip::roofline(e.peak, w));
        e.total_ms += e.rows.back().time_s * 1000.0;
        e.total_ops += w.ops;
        e.total_bytes += w.bytes;
    }
    return e;
}

robot::PerceptionHook standin_perception(double accuracy, std::uint64_t seed, double latency_ms,
                                         const std::string& latency_source) {
    if (!(accuracy > 0 && accuracy <= 1)) throw std::invalid_argument("standin_accuracy: must lie in (0, 1]");
    if (!(std::isfinite(latency_ms) && latency_ms >= 0)) throw std::invalid_argument("latency_ms: must be finite and >= 0");
    auto rng = std::make_shared<std::mt19937_64>(seed ^ 0xC2B2AE3D27D4EB4FULL);
    robot::PerceptionHook h;
    h.classify = [rng, accuracy](const robot::BoardImage& im) {
        auto u = [&] { return static_cast<double>((*rng)() >> 11) * (1.0 / 9007199254740992.0); };
        robot::Classification c;
        c.confidence = accuracy;
        if (u() < accuracy) {
            c.label = im.truth;
        } else {  // one of the other classes, uniformly
            const int wrong = 1 + static_cast<int>((*rng)() % (robot::kDefectClasses - 1));
            c.label = static_cast<robot::Defect>((static_cast<int>(im.truth) + wrong) % robot::kDefectClasses);
        }
        if (c.label != robot::Defect::clean) {
            c.x_m = im.defect_x_m;  // (0, 0), the board centre, for a false alarm on a clean board
            c.y_m = im.defect_y_m;
        }
        return c;
    };
    h.inference_latency_ms = [latency_ms] { return latency_ms; };
    char buf[96];
    std::snprintf(buf, sizeof buf, "STAND-IN classifier (fixed-accuracy oracle, accuracy %.3f, seed %llu)", accuracy,
                  static_cast<unsigned long long>(seed));
    h.description = std::string(buf) + "; latency " + latency_source;
    return h;
}

namespace {

// A JSON object being read, with its path for errors and the keys it may have.
class Reader {
public:
    Reader(const json& j, std::string path, const std::string& file, std::set<std::string> allowed)
        : j_(j), path_(std::move(path)), file_(file) {
        if (!j.is_object()) throw ScenarioError(file_, path_.empty() ? "/" : path_, "must be an object");
        for (auto it = j.begin(); it != j.end(); ++it)
            if (!allowed.count(it.key())) throw ScenarioError(file_, at(it.key()), "unknown key");
    }
    std::string at(const std::string& k) const { return path_ + "/" + k; }
    bool has(const std::string& k) const { return j_.contains(k); }
    const json& raw(const std::string& k) const { return j_.at(k); }
    [[noreturn]] void fail(const std::string& k, const std::string& problem) const { throw ScenarioError(file_, at(k), problem); }

    double num(const std::string& k, double fallback) const {
        if (!has(k)) return fallback;
        const json& v = j_.at(k);
        if (!v.is_number() || !std::isfinite(v.get<double>())) fail(k, "must be a finite number");
        return v.get<double>();
    }
    double num_in(const std::string& k, double fallback, double lo, double hi) const {
        const double v = num(k, fallback);
        if (v < lo || v > hi) fail(k, "must lie in [" + fmt(lo) + ", " + fmt(hi) + "]");
        return v;
    }
    long integer(const std::string& k, long fallback, long lo, long hi) const {
        if (!has(k)) return fallback;
        const json& v = j_.at(k);
        if (!v.is_number_integer() && !v.is_number_unsigned()) fail(k, "must be an integer");
        const long x = v.get<long>();
        if (x < lo || x > hi) fail(k, "must lie in " + std::to_string(lo) + ".." + std::to_string(hi));
        return x;
    }
    bool boolean(const std::string& k, bool fallback) const {
        if (!has(k)) return fallback;
        if (!j_.at(k).is_boolean()) fail(k, "must be true or false");
        return j_.at(k).get<bool>();
    }
    std::string str(const std::string& k, const std::string& fallback, bool required = false) const {
        if (!has(k)) {
            if (required) fail(k, "is required");
            return fallback;
        }
        if (!j_.at(k).is_string()) fail(k, "must be a string");
        return j_.at(k).get<std::string>();
    }
    std::vector<double> numbers(const std::string& k, std::vector<double> fallback, size_t n) const {
        if (!has(k)) return fallback;
        const json& v = j_.at(k);
        if (!v.is_array() || v.size() != n) fail(k, "must be an array of " + std::to_string(n) + " numbers");
        std::vector<double> out;
        for (const json& x : v) {
            if (!x.is_number() || !std::isfinite(x.get<double>())) fail(k, "must be an array of finite numbers");
            out.push_back(x.get<double>());
        }
        return out;
    }
    Reader object(const std::string& k, std::set<std::string> allowed) const {
        static const json empty = json::object();
        return Reader(has(k) ? j_.at(k) : empty, at(k), file_, std::move(allowed));
    }
    // Each element of array `k` as a Reader.
    std::vector<Reader> array(const std::string& k, const std::set<std::string>& allowed) const {
        std::vector<Reader> out;
        if (!has(k)) return out;
        if (!j_.at(k).is_array()) fail(k, "must be an array");
        for (size_t i = 0; i < j_.at(k).size(); ++i) out.emplace_back(j_.at(k)[i], at(k) + "/" + std::to_string(i), file_, allowed);
        return out;
    }

private:
    static std::string fmt(double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%g", v);
        return b;
    }
    const json& j_;
    std::string path_;
    const std::string& file_;
};

robot::TimeWindow window(const Reader& r) {
    robot::TimeWindow w{r.num("start_s", -1), r.num("end_s", -1)};
    if (!(w.start_s >= 0)) r.fail("start_s", "is required and must be >= 0");
    if (!(w.end_s > w.start_s)) r.fail("end_s", "is required and must be > start_s");
    return w;
}

}  // namespace

CellScenario parse_cell_scenario(const std::string& bytes, const std::string& file) {
    json doc;
    try {
        doc = json::parse(bytes);
    } catch (const json::parse_error& e) {
        throw ScenarioError(file, "", std::string("not valid JSON: ") + e.what());
    }
    const Reader top(doc, "", file,
                     {"id", "description", "arm", "seed", "chip", "dtype", "perception", "conveyor", "camera", "network",
                      "planning_ms", "control", "geometry", "safety", "budgets_ms", "faults"});
    CellScenario s;
    s.file = file;
    s.id = top.str("id", "", true);
    if (!std::regex_match(s.id, std::regex("[a-z0-9-]+"))) top.fail("id", "must match [a-z0-9-]+");
    const std::string stem = file.size() >= 5 && file.compare(file.size() - 5, 5, ".json") == 0
                                 ? file.substr(0, file.size() - 5).substr(file.find_last_of("/\\") + 1)
                                 : std::string();
    if (!stem.empty() && stem != s.id) top.fail("id", "\"" + s.id + "\" must equal the file name stem \"" + stem + "\"");
    s.description = top.str("description", "");
    s.arm = top.str("arm", "ur5e");
    robot::ArmModel arm = [&] {
        try {
            return robot::bundled_arm(s.arm);
        } catch (const std::exception& e) {
            top.fail("arm", e.what());
        }
    }();
    s.chip = top.str("chip", "", true);
    try {
        s.dtype = chip::parse_dtype(top.str("dtype", "int8"));
    } catch (const std::exception& e) {
        top.fail("dtype", e.what());
    }
    robot::CellConfig& c = s.cell;
    c.seed = static_cast<std::uint64_t>(top.integer("seed", 1, 0, 2147483647));

    const Reader p =
        top.object("perception", {"classifier", "latency", "model", "input_hwc", "conv", "classes", "standin_accuracy"});
    const std::string classifier = p.str("classifier", "model");
    if (classifier == "model") s.classifier = Classifier::model;
    else if (classifier == "standin") s.classifier = Classifier::standin;
    else p.fail("classifier", "must be \"model\" or \"standin\", not \"" + classifier + "\"");
    const std::string latency = p.str("latency", "model");
    if (latency == "model") s.latency = LatencySource::model;
    else if (latency == "conv") s.latency = LatencySource::conv;
    else p.fail("latency", "must be \"model\" or \"conv\", not \"" + latency + "\"");
    s.model.name = p.str("model", "cnn");
    const auto hwc = p.numbers("input_hwc", {224, 224, 3}, 3);
    for (double v : hwc)
        if (!(v >= 1 && v <= 16384 && v == std::floor(v))) p.fail("input_hwc", "must hold whole numbers in 1..16384");
    s.model.in_h = static_cast<int>(hwc[0]);
    s.model.in_w = static_cast<int>(hwc[1]);
    s.model.in_c = static_cast<int>(hwc[2]);
    for (const Reader& l : p.array("conv", {"out_channels", "kernel", "stride"})) {
        ConvLayer cl;
        cl.out_channels = static_cast<int>(l.integer("out_channels", 0, 1, 65536));
        cl.kernel = static_cast<int>(l.integer("kernel", 3, 1, 15));
        cl.stride = static_cast<int>(l.integer("stride", 1, 1, 8));
        if (!l.has("out_channels")) l.fail("out_channels", "is required");
        s.model.conv.push_back(cl);
    }
    if (s.latency == LatencySource::conv && s.model.conv.empty()) p.fail("conv", "is required (non-empty) with \"latency\": \"conv\"");
    s.model.classes = static_cast<int>(p.integer("classes", 4, 1, 100000));
    s.standin_accuracy = p.num_in("standin_accuracy", 0.95, 1e-9, 1.0);

    const Reader cv = top.object("conveyor", {"boards", "board_interval_s", "class_probability"});
    c.boards = static_cast<int>(cv.integer("boards", c.boards, 1, 1000));
    c.board_interval_s = cv.num_in("board_interval_s", c.board_interval_s, 0.1, 3600);
    c.class_probability = cv.numbers("class_probability", c.class_probability, 4);
    double sum = 0;
    for (double v : c.class_probability) {
        if (v < 0) cv.fail("class_probability", "must be >= 0");
        sum += v;
    }
    if (std::abs(sum - 1) > 1e-9) cv.fail("class_probability", "must sum to 1");

    const Reader cam = top.object("camera", {"period_ms", "exposure_ms", "readout_ms"});
    c.camera_period_ms = cam.num_in("period_ms", c.camera_period_ms, 0.1, 10000);
    c.exposure_ms = cam.num_in("exposure_ms", c.exposure_ms, 0, 10000);
    c.readout_ms = cam.num_in("readout_ms", c.readout_ms, 0, 10000);

    const Reader net = top.object("network", {"enabled", "latency_ms", "jitter_ms", "loss", "retransmit_ms"});
    c.network.enabled = net.boolean("enabled", false);
    c.network.latency_ms = net.num_in("latency_ms", c.network.latency_ms, 0, 60000);
    c.network.jitter_ms = net.num_in("jitter_ms", c.network.jitter_ms, 0, 60000);
    c.network.loss = net.num_in("loss", c.network.loss, 0, 0.99);
    c.network.retransmit_ms = net.num_in("retransmit_ms", c.network.retransmit_ms, 0.001, 60000);

    c.planning_ms = top.num_in("planning_ms", c.planning_ms, 0, 60000);

    const Reader ctl = top.object("control", {"rate_hz", "omega_rad_s", "velocity_scale", "acceleration_rad_s2"});
    c.control_rate_hz = ctl.num_in("rate_hz", c.control_rate_hz, 10, 100000);
    c.control_omega_rad_s = ctl.num_in("omega_rad_s", c.control_omega_rad_s, 0.1, 1000);
    c.velocity_scale = ctl.num_in("velocity_scale", c.velocity_scale, 0.01, 1);
    c.acceleration_rad_s2 = ctl.num_in("acceleration_rad_s2", c.acceleration_rad_s2, 0.01, 1000);

    const Reader geo = top.object("geometry", {"home_q_rad", "bin_q_rad", "station_m", "approach_height_m"});
    const size_t dof = static_cast<size_t>(arm.dof());
    c.home_q = geo.numbers("home_q_rad", c.home_q, dof);
    c.bin_q = geo.numbers("bin_q_rad", c.bin_q, dof);
    const auto st = geo.numbers("station_m", {c.station_x_m, c.station_y_m, c.station_z_m}, 3);
    c.station_x_m = st[0];
    c.station_y_m = st[1];
    c.station_z_m = st[2];
    c.approach_height_m = geo.num_in("approach_height_m", c.approach_height_m, 0.01, 1);

    const Reader sf = top.object("safety", {"v_h_m_s", "T_r_s", "T_s_s", "v_r_m_s", "S_s_m", "C_m", "Z_d_m", "Z_r_m",
                                            "v_r_reduced_m_s", "S_s_reduced_m", "reduced_speed_scale",
                                            "zone_confidence_threshold", "zone_clear_confidence", "zone_wait_s",
                                            "perception_timeout_ms", "link_timeout_ms"});
    robot::SeparationParams& fs = c.safety.full_speed;
    fs.v_h_m_s = sf.num_in("v_h_m_s", 1.6, 0, 10);
    fs.T_r_s = sf.num_in("T_r_s", 0.1, 0, 10);
    fs.T_s_s = sf.num_in("T_s_s", 0.3, 0, 10);
    fs.v_r_m_s = sf.num_in("v_r_m_s", 1.0, 0, 10);
    fs.S_s_m = sf.num_in("S_s_m", 0.15, 0, 10);
    fs.C_m = sf.num_in("C_m", 0.0, 0, 10);
    fs.Z_d_m = sf.num_in("Z_d_m", 0.1, 0, 10);
    fs.Z_r_m = sf.num_in("Z_r_m", 0.02, 0, 10);
    c.safety.reduced_speed = fs;
    c.safety.reduced_speed.v_r_m_s = sf.num_in("v_r_reduced_m_s", 0.25, 0, 10);
    c.safety.reduced_speed.S_s_m = sf.num_in("S_s_reduced_m", 0.04, 0, 10);
    c.safety.reduced_speed_scale = sf.num_in("reduced_speed_scale", 0.25, 0.01, 1);
    c.safety.zone_confidence_threshold = sf.num_in("zone_confidence_threshold", 0.925, 0, 1);
    c.zone_clear_confidence = sf.num_in("zone_clear_confidence", c.zone_clear_confidence, 0, 1);
    c.zone_wait_s = sf.num_in("zone_wait_s", c.zone_wait_s, 0, 3600);
    c.safety.perception_timeout_s = sf.num_in("perception_timeout_ms", 200, 1, 60000) / 1000.0;
    c.safety.link_timeout_s = sf.num_in("link_timeout_ms", 100, 1, 60000) / 1000.0;

    const Reader b = top.object("budgets_ms", {"sensor", "transfer", "inference", "planning", "control_period", "round_trip"});
    c.budgets.sensor_ms = b.num_in("sensor", c.budgets.sensor_ms, 0, 1e6);
    c.budgets.transfer_ms = b.num_in("transfer", c.budgets.transfer_ms, 0, 1e6);
    c.budgets.inference_ms = b.num_in("inference", c.budgets.inference_ms, 0, 1e6);
    c.budgets.planning_ms = b.num_in("planning", c.budgets.planning_ms, 0, 1e6);
    c.budgets.control_period_ms = b.num_in("control_period", c.budgets.control_period_ms, 0, 1e6);
    c.budgets.round_trip_ms = b.num_in("round_trip", c.budgets.round_trip_ms, 0, 1e6);

    const Reader f = top.object("faults", {"network_outage", "sensor_dropout", "low_confidence_obstacle", "person", "slower_chip"});
    for (const Reader& r : f.array("network_outage", {"start_s", "end_s"})) c.network_outages.push_back(window(r));
    for (const Reader& r : f.array("sensor_dropout", {"start_s", "end_s"})) c.sensor_dropouts.push_back(window(r));
    for (const Reader& r : f.array("low_confidence_obstacle", {"start_s", "end_s", "confidence"}))
        c.obstacles.push_back({window(r), r.num_in("confidence", 0.5, 0, 1)});
    for (const Reader& r : f.array("person", {"enter_s", "start_distance_m", "speed_m_s", "min_distance_m", "stay_s"})) {
        robot::PersonFault pf;
        pf.enter_s = r.num_in("enter_s", 0, 0, 1e6);
        pf.start_distance_m = r.num_in("start_distance_m", pf.start_distance_m, 0.01, 1000);
        pf.speed_m_s = r.num_in("speed_m_s", pf.speed_m_s, 0.01, 10);
        pf.min_distance_m = r.num_in("min_distance_m", pf.min_distance_m, 0, 1000);
        if (pf.min_distance_m >= pf.start_distance_m) r.fail("min_distance_m", "must be below start_distance_m");
        pf.stay_s = r.num_in("stay_s", pf.stay_s, 0, 1e6);
        c.persons.push_back(pf);
    }
    if (f.has("slower_chip")) {
        const Reader sc = f.object("slower_chip", {"at_s", "chip"});
        c.chip_swap.at_s = sc.num_in("at_s", -1, 0, 1e6);
        if (!sc.has("at_s")) sc.fail("at_s", "is required");
        s.swap_chip = sc.str("chip", "", true);
        c.chip_swap.label = s.swap_chip;
    }
    try {
        robot::validate(c, arm);
    } catch (const std::invalid_argument& e) {
        throw ScenarioError(file, "", e.what());
    }
    return s;
}

namespace {

const chip::ChipSpec& find(const std::vector<chip::ChipSpec>& chips, const std::string& id, const std::string& file,
                           const std::string& field) {
    std::string known;
    for (const auto& c : chips) {
        if (c.id == id) return c;
        known += (known.empty() ? "" : ", ") + c.id;
    }
    throw ScenarioError(file, field, "unknown chip \"" + id + "\" (known: " + known + ")");
}

std::string latency_source(const InferenceEstimate& e, const InferenceEstimate& model, const CellScenario& s) {
    char buf[512];
    if (s.latency == LatencySource::model) {
        std::snprintf(buf, sizeof buf,
                      "%.6f ms = roofline lower bound of %s (its graph: %zu Conv/Gemm nodes as GEMMs at batch 1, an "
                      "approximation) on %s %s",
                      e.total_ms, kPcbModelName, e.rows.size(), e.chip_id.c_str(), chip::dtype_name(s.dtype));
    } else {
        std::snprintf(buf, sizeof buf,
                      "%.3f ms = roofline lower bound of the scenario's conv list %s (%zu conv layers as im2col GEMMs + "
                      "classifier, an approximation) on %s %s; NOT the model that decides (%s: %.6f ms on this chip)",
                      e.total_ms, s.model.name.c_str(), s.model.conv.size(), e.chip_id.c_str(), chip::dtype_name(s.dtype),
                      kPcbModelName, model.total_ms);
    }
    return buf;
}

robot::PerceptionHook make_hook(const CellScenario& s, double latency_ms, const std::string& source) {
    if (s.classifier == Classifier::standin) return standin_perception(s.standin_accuracy, s.cell.seed, latency_ms, source);
    return model_perception(bundled_pcb_model(), kPcbModelName, latency_ms, source);
}

}  // namespace

CellScenarioSim start_cell_scenario(const CellScenario& s, const std::vector<chip::ChipSpec>& chips,
                                    const std::string& chip_override, const robot::CellRunOptions& options) {
    CellRun run;
    run.chip_id = chip_override.empty() ? s.chip : chip_override;
    const chip::ChipSpec& spec = find(chips, run.chip_id, chip_override.empty() ? s.file : "--chip",
                                      chip_override.empty() ? "/chip" : "");
    // The trained model's layers, from its graph (embedded; read once per run).
    const nn::Graph graph = nn::load_onnx(bundled_pcb_model(), kPcbModelName);
    const std::vector<chip::OpWork> model_work = graph_work(graph, s.dtype);
    auto estimate = [&](const chip::ChipSpec& c, const std::string& field, InferenceEstimate& model_est) {
        try {
            model_est = estimate_inference(c, s.dtype, model_work);
            return s.latency == LatencySource::model ? model_est : estimate_inference(c, s.dtype, s.model);
        } catch (const std::invalid_argument& e) {
            throw ScenarioError(s.file, field, e.what());
        }
    };
    run.inference = estimate(spec, "/chip", run.model_inference);
    const robot::PerceptionHook hook =
        make_hook(s, run.inference.total_ms, latency_source(run.inference, run.model_inference, s));
    robot::PerceptionHook swap;
    if (!s.swap_chip.empty()) {
        run.swap_chip_id = s.swap_chip;
        const chip::ChipSpec& slow = find(chips, s.swap_chip, s.file, "/faults/slower_chip/chip");
        run.swap_inference = estimate(slow, "/faults/slower_chip/chip", run.swap_model_inference);
        // The same classifier (the same model, or the stand-in's same accuracy and stream), slower chip.
        swap.classify = hook.classify;
        swap.inference_latency_ms = [ms = run.swap_inference.total_ms] { return ms; };
        swap.description = (s.classifier == Classifier::standin ? standin_perception(s.standin_accuracy, s.cell.seed, 0, "").description
                                                                : hook.description);
        swap.description = swap.description.substr(0, swap.description.find("; latency ")) + "; latency " +
                           latency_source(run.swap_inference, run.swap_model_inference, s);
    }
    robot::CellSim sim(robot::bundled_arm(s.arm), s.cell, hook, swap, options);
    return CellScenarioSim{std::move(run), std::move(sim)};
}

CellRun finish_cell_scenario(CellScenarioSim& sim) {
    CellRun run = std::move(sim.run);
    run.report = sim.sim.finish();
    for (const robot::BoardOutcome& b : run.report.boards)
        if (b.decided_s >= 0) {
            ++run.classified;
            run.correct += b.label == b.truth;
        }
    return run;
}

CellRun run_cell_scenario(const CellScenario& s, const std::vector<chip::ChipSpec>& chips, const std::string& chip_override,
                          const robot::CellRunOptions& options) {
    CellScenarioSim sim = start_cell_scenario(s, chips, chip_override, options);
    sim.sim.step(sim.sim.ticks_total());
    return finish_cell_scenario(sim);
}

}  // namespace stacklab::lab
