// `stacklab robot`: forward and inverse kinematics and inverse dynamics of the bundled arms, and the
// PCB inspection cell run from a scenario file (core/lab/cell_scenario.hpp).
#include <algorithm>
#include <chrono>
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

#include "lab/cell_scenario.hpp"
#include "lab/pcb_model.hpp"
#include "native/cli.hpp"
#include "robot/arm.hpp"
#include "robot/dynamics.hpp"
#include "robot/kinematics.hpp"

namespace stacklab::cli {

using nlohmann::json;

namespace {

std::string fixed9(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9f", v);
    if (std::string(buf) == "-0.000000000") return "0.000000000";  // no "-0" from rounding noise
    return buf;
}

std::string fixed_list(const double* v, int n) {
    std::string s = "[";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + fixed9(v[i]);
    return s + "]";
}

const std::string& need_value(const Args& a, const std::string& flag, const std::string& cmd) {
    auto it = a.options.find(flag);
    if (it == a.options.end()) throw UsageError(cmd + " needs " + flag);
    return it->second;
}

// "1,2.5,-3" -> numbers; errors name the flag.
std::vector<double> parse_numbers(const std::string& flag, const std::string& text, size_t expected) {
    std::vector<double> out;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        char* end = nullptr;
        const double v = std::strtod(item.c_str(), &end);
        if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(v))
            throw InputError(flag + ": \"" + item + "\" is not a finite number");
        out.push_back(v);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (out.size() != expected)
        throw InputError(flag + ": expected " + std::to_string(expected) + " comma-separated numbers, got " +
                         std::to_string(out.size()));
    return out;
}

robot::ArmModel load_arm(const Args& a, const std::string& cmd) {
    const std::string& arm = need_value(a, "--arm", cmd);
    try {
        if (arm.size() > 5 && arm.compare(arm.size() - 5, 5, ".json") == 0) return robot::parse_arm(read_file(arm), arm);
        return robot::bundled_arm(arm);
    } catch (const InputError&) {
        throw;
    } catch (const std::exception& e) {
        throw InputError(std::string("--arm: ") + e.what());
    }
}

std::string pose_json_rows(const robot::Pose& t) {
    std::string s = "[";
    for (int r = 0; r < 4; ++r) {
        const double row[4] = {r < 3 ? t.R[3 * r] : 0.0, r < 3 ? t.R[3 * r + 1] : 0.0, r < 3 ? t.R[3 * r + 2] : 0.0,
                               r < 3 ? t.p[r] : 1.0};
        s += (r ? ", " : "") + fixed_list(row, 4);
    }
    return s + "]";
}

std::string f3(double v) { return fixed(v, 3); }
std::string jstr(const std::string& s) { return json(s).dump(); }

// `robot cell --scenario FILE|ID [--chip ID]`: the cell's verdicts, latency budget per stage, boards,
// and the action log. Every number goes through one fixed format (3 decimals) so that native and
// wasm print the same bytes.
int cmd_cell(const Args& a) {
    const std::string& scen = need_value(a, "--scenario", "robot cell");
    std::string name = scen, bytes;
    const bool is_path = scen.find('/') != std::string::npos || (scen.size() > 5 && scen.compare(scen.size() - 5, 5, ".json") == 0);
    if (is_path) {
        bytes = read_file(scen);
    } else {
        std::string known;
        for (const auto& f : lab::bundled_cell_files()) {
            if (f.name == "models/cells/" + scen + ".json") {
                name = f.name;
                bytes = f.bytes;
            }
            known += (known.empty() ? "" : ", ") + f.name.substr(13, f.name.size() - 18);
        }
        if (bytes.empty()) throw InputError("--scenario: no bundled scenario \"" + scen + "\" (known: " + known + ")");
    }
    lab::CellScenario s;
    lab::CellRun run;
    try {
        s = lab::parse_cell_scenario(bytes, name);
        const auto chips = chip::load_catalog(catalog_files(a));
        robot::CellRunOptions opt;
        // --measure: time planning and every control tick on this host (then the output varies run
        // to run; without it the report is byte-identical on every target).
        if (a.flag("--measure"))
            opt.clock_s = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
        run = lab::run_cell_scenario(s, chips, a.get("--chip", ""), opt);
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
    const robot::CellReport& r = run.report;
    const lab::InferenceEstimate& inf = run.inference;
    if (a.json) {
        std::printf("{\n  \"scenario\": %s,\n  \"arm\": %s,\n  \"chip\": %s,\n  \"dtype\": %s,\n", jstr(s.id).c_str(),
                    jstr(s.arm).c_str(), jstr(run.chip_id).c_str(), jstr(chip::dtype_name(s.dtype)).c_str());
        std::printf("  \"perception\": %s,\n  \"perception_is_standin\": %s,\n", jstr(r.perception).c_str(),
                    s.classifier == lab::Classifier::standin ? "true" : "false");
        std::printf("  \"classifier\": %s,\n  \"latency_from\": %s,\n", jstr(lab::classifier_name(s.classifier)).c_str(),
                    jstr(lab::latency_source_name(s.latency)).c_str());
        std::printf("  \"classifier_accuracy\": {\"classified\": %d, \"correct\": %d, \"accuracy\": %s},\n", run.classified,
                    run.correct, run.classified ? f3(double(run.correct) / run.classified).c_str() : "null");
        std::printf("  \"model_inference_us\": %s,\n", f3(run.model_inference.total_ms * 1000.0).c_str());
        std::printf("  \"inference_ms\": %s,\n  \"model_gops\": %s,\n  \"model_mbytes\": %s,\n", f3(inf.total_ms).c_str(),
                    f3(inf.total_ops / 1e9).c_str(), f3(inf.total_bytes / 1e6).c_str());
        if (!run.swap_chip_id.empty())
            std::printf("  \"slower_chip\": {\"chip\": %s, \"at_s\": %s, \"inference_ms\": %s},\n", jstr(run.swap_chip_id).c_str(),
                        f3(s.cell.chip_swap.at_s).c_str(), f3(run.swap_inference.total_ms).c_str());
        std::printf("  \"pass\": %s,\n  \"verdicts\": [", r.pass() ? "true" : "false");
        for (size_t i = 0; i < r.verdicts.size(); ++i)
            std::printf("%s\n    {\"name\": %s, \"pass\": %s, \"detail\": %s}", i ? "," : "", jstr(r.verdicts[i].name).c_str(),
                        r.verdicts[i].pass ? "true" : "false", jstr(r.verdicts[i].detail).c_str());
        std::printf("\n  ],\n  \"stages\": [");
        for (size_t i = 0; i < r.stages.size(); ++i) {
            const auto& st = r.stages[i];
            std::printf("%s\n    {\"stage\": %s, \"max_ms\": %s, \"mean_ms\": %s, \"budget_ms\": %s, \"samples\": %d}", i ? "," : "",
                        jstr(st.stage).c_str(), f3(st.max_ms).c_str(), f3(st.mean_ms).c_str(), f3(st.budget_ms).c_str(), st.samples);
        }
        std::printf("\n  ],\n  \"frames\": {\"captured\": %d, \"dropped\": %d, \"lost\": %d},\n", r.frames, r.frames_dropped,
                    r.frames_lost);
        std::printf("  \"boards\": [");
        for (size_t i = 0; i < r.boards.size(); ++i) {
            const auto& b = r.boards[i];
            std::printf("%s\n    {\"index\": %d, \"truth\": %s, \"label\": %s, \"confidence\": %s, \"arrive_s\": %s, "
                        "\"capture_s\": %s, \"round_trip_ms\": %s, \"result\": %s}",
                        i ? "," : "", b.index, jstr(robot::defect_name(b.truth)).c_str(), jstr(robot::defect_name(b.label)).c_str(),
                        f3(b.confidence).c_str(), f3(b.arrive_s).c_str(), f3(b.capture_s).c_str(), f3(b.round_trip_ms).c_str(),
                        jstr(b.result).c_str());
        }
        std::printf("\n  ],\n  \"safety\": {\"protective_stops\": %d, \"worst_stop_ms\": %s, \"stop_bound_ms\": %s},\n",
                    r.protective_stops, f3(r.worst_stop_ms).c_str(), f3(r.stop_bound_ms).c_str());
        std::printf("  \"control\": {\"max_tracking_error_mrad\": %s, \"saturated_ticks\": %d},\n",
                    f3(r.max_tracking_error_rad * 1000.0).c_str(), r.saturated_ticks);
        if (r.host_tick_us_median >= 0)
            std::printf("  \"host\": {\"tick_us_median\": %s, \"tick_us_p999\": %s, \"tick_us_max\": %s, \"planning_ms_max\": %s},\n",
                        f3(r.host_tick_us_median).c_str(), f3(r.host_tick_us_p999).c_str(), f3(r.host_tick_us_max).c_str(),
                        f3(r.host_planning_ms_max).c_str());
        std::printf("  \"log\": [");
        for (size_t i = 0; i < r.log.size(); ++i) {
            const auto& e = r.log[i];
            std::printf("%s\n    {\"t_s\": %s, \"rule\": %s, \"action\": %s, \"inputs\": %s}", i ? "," : "", f3(e.t_s).c_str(),
                        jstr(e.rule).c_str(), jstr(e.action).c_str(), jstr(e.inputs).c_str());
        }
        std::printf("\n  ]\n}\n");
        return 0;
    }
    std::printf("PCB cell %s: %s\n", s.id.c_str(), s.description.c_str());
    std::printf("arm %s, chip %s (%s: %s TOPS, %s GB/s), control %s Hz, %d boards every %s s\n", s.arm.c_str(),
                run.chip_id.c_str(), chip::dtype_name(s.dtype), fixed(inf.peak.ops_per_s / 1e12, 1).c_str(),
                fixed(inf.peak.mem_bytes_per_s / 1e9, 1).c_str(), fixed(s.cell.control_rate_hz, 0).c_str(), s.cell.boards,
                f3(s.cell.board_interval_s).c_str());
    std::printf("perception: %s\n", r.perception.c_str());
    std::printf("latency from %s: %s GOP, %s MB of roofline traffic per frame\n",
                s.latency == lab::LatencySource::model ? lab::kPcbModelName : ("the conv list " + s.model.name).c_str(),
                f3(inf.total_ops / 1e9).c_str(), f3(inf.total_bytes / 1e6).c_str());
    if (run.classified)
        std::printf("classifier (%s): %d of %d boards classified correctly (%s)\n", lab::classifier_name(s.classifier), run.correct,
                    run.classified, f3(double(run.correct) / run.classified).c_str());
    std::printf("\nlatency budget per stage (ms):\n  %-12s %10s %10s %10s  %s\n", "stage", "max", "mean", "budget", "verdict");
    for (const auto& st : r.stages)
        std::printf("  %-12s %10s %10s %10s  %s\n", st.stage.c_str(), f3(st.max_ms).c_str(), f3(st.mean_ms).c_str(),
                    f3(st.budget_ms).c_str(), st.samples == 0 ? "n/a" : st.pass() ? "pass" : "FAIL");
    std::printf("frames: %d captured, %d dropped (accelerator busy), %d lost (network)\n", r.frames, r.frames_dropped, r.frames_lost);
    std::printf("\nboards:\n  %3s %-20s %-20s %6s %9s %9s %13s  %s\n", "#", "truth", "label", "conf", "arrive_s", "capture_s",
                "round_trip_ms", "result");
    for (const auto& b : r.boards)
        std::printf("  %3d %-20s %-20s %6s %9s %9s %13s  %s\n", b.index, robot::defect_name(b.truth), robot::defect_name(b.label),
                    f3(b.confidence).c_str(), f3(b.arrive_s).c_str(), f3(b.capture_s).c_str(), f3(b.round_trip_ms).c_str(),
                    b.result.c_str());
    std::printf("\nsafety: %d protective stops, worst %s ms to rest (bound %s ms); control: max tracking error %s mrad, %d saturated ticks\n",
                r.protective_stops, f3(r.worst_stop_ms).c_str(), f3(r.stop_bound_ms).c_str(),
                f3(r.max_tracking_error_rad * 1000.0).c_str(), r.saturated_ticks);
    if (r.host_tick_us_median >= 0)
        std::printf("host (--measure): control tick median %s us, 99.9th percentile %s us, max %s us; planning max %s ms\n",
                    f3(r.host_tick_us_median).c_str(), f3(r.host_tick_us_p999).c_str(), f3(r.host_tick_us_max).c_str(),
                    f3(r.host_planning_ms_max).c_str());
    std::printf("\naction log (%zu entries, each with the rule that caused it):\n", r.log.size());
    for (const auto& e : r.log)
        std::printf("  %9s  %-11s %s%s%s\n", f3(e.t_s).c_str(), e.rule.c_str(), e.action.c_str(), e.inputs.empty() ? "" : "  [",
                    e.inputs.empty() ? "" : (e.inputs + "]").c_str());
    std::printf("\nverdicts:\n");
    for (const auto& v : r.verdicts) std::printf("  %-32s %s  %s\n", v.name.c_str(), v.pass ? "pass" : "FAIL", v.detail.c_str());
    std::printf("overall: %s\n", r.pass() ? "PASS" : "FAIL");
    return 0;
}

}  // namespace

int cmd_robot(const Args& a) {
    if (a.positional.size() != 2) throw UsageError("robot needs one subcommand: fk, ik, id or cell");
    const std::string& sub = a.positional[1];
    const std::string cmd = "robot " + sub;
    if (sub == "cell") return cmd_cell(a);
    if (sub != "fk" && sub != "ik" && sub != "id") throw UsageError("unknown robot subcommand \"" + sub + "\"");
    const robot::ArmModel arm = load_arm(a, cmd);
    const size_t n = static_cast<size_t>(arm.dof());
    robot::ArmData data(arm);
    if (sub == "fk") {
        const auto q = parse_numbers("--q", need_value(a, "--q", cmd), n);
        const robot::Pose t = robot::forward_kinematics(arm, data, q);
        if (a.json) {
            std::printf("{\n  \"T\": %s,\n  \"position\": %s\n}\n", pose_json_rows(t).c_str(), fixed_list(t.p.data(), 3).c_str());
        } else {
            std::printf("%s flange pose (base frame, m):\n", arm.id().c_str());
            for (int r = 0; r < 3; ++r)
                std::printf("  %13s %13s %13s %13s\n", fixed9(t.R[3 * r]).c_str(), fixed9(t.R[3 * r + 1]).c_str(),
                            fixed9(t.R[3 * r + 2]).c_str(), fixed9(t.p[r]).c_str());
            std::printf("position: %s %s %s\n", fixed9(t.p[0]).c_str(), fixed9(t.p[1]).c_str(), fixed9(t.p[2]).c_str());
        }
        return 0;
    }
    if (sub == "ik") {
        const auto m = parse_numbers("--T", need_value(a, "--T", cmd), 16);
        robot::Pose t;
        for (int r = 0; r < 3; ++r) {
            for (int c = 0; c < 3; ++c) t.R[3 * r + c] = m[4 * r + c];
            t.p[r] = m[4 * r + 3];
        }
        if (std::abs(m[12]) > 1e-9 || std::abs(m[13]) > 1e-9 || std::abs(m[14]) > 1e-9 || std::abs(m[15] - 1) > 1e-9)
            throw InputError("--T: the last row of a rigid transform must be 0,0,0,1");
        const robot::Mat3 rtr = robot::mul(robot::transpose(t.R), t.R);
        double off = 0;
        for (int i = 0; i < 9; ++i) off = std::max(off, std::abs(rtr[i] - (i % 4 == 0 ? 1.0 : 0.0)));
        const double det = t.R[0] * (t.R[4] * t.R[8] - t.R[5] * t.R[7]) - t.R[1] * (t.R[3] * t.R[8] - t.R[5] * t.R[6]) +
                           t.R[2] * (t.R[3] * t.R[7] - t.R[4] * t.R[6]);
        if (off > 1e-6 || det < 0) throw InputError("--T: the upper-left 3x3 block is not a rotation (orthonormal, det +1) within 1e-6");
        std::vector<double> seed;
        if (a.has("--seed")) seed = parse_numbers("--seed", a.options.at("--seed"), n);
        if (!robot::is_ur_type(arm)) throw InputError("--arm: " + arm.id() + " has no UR-type wrist; the closed-form IK needs one");
        const auto sols = robot::ik_ur(arm, t, seed);
        if (a.json) {
            std::printf("{\n  \"solutions\": [");
            for (size_t i = 0; i < sols.size(); ++i)
                std::printf("%s\n    %s", i ? "," : "", fixed_list(sols[i].data(), static_cast<int>(n)).c_str());
            std::printf("%s]\n}\n", sols.empty() ? "" : "\n  ");
        } else {
            std::printf("%zu solution%s (rad), nearest to the seed first:\n", sols.size(), sols.size() == 1 ? "" : "s");
            for (const auto& s : sols) std::printf("  %s\n", fixed_list(s.data(), static_cast<int>(n)).c_str());
        }
        return 0;
    }
    const auto q = parse_numbers("--q", need_value(a, "--q", cmd), n);
    const auto qd = parse_numbers("--qd", need_value(a, "--qd", cmd), n);
    const auto qdd = parse_numbers("--qdd", need_value(a, "--qdd", cmd), n);
    const auto& tau = robot::rnea(arm, data, q, qd, qdd);
    if (a.json)
        std::printf("{\n  \"tau\": %s\n}\n", fixed_list(tau.data(), static_cast<int>(n)).c_str());
    else
        std::printf("tau (N m): %s\n", fixed_list(tau.data(), static_cast<int>(n)).c_str());
    return 0;
}

}  // namespace stacklab::cli
