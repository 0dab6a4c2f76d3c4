// The PCB cell (core/robot/cell.hpp) and its scenario wiring (core/lab/cell_scenario.hpp). The cell
// tests hand in test perception hooks (an exact oracle with a chosen latency), so they check the
// cell's own logic: boards picked or passed, latency per stage, verdicts that follow the budgets,
// interlocks that act with their rule ids, watchdog stops within their bound, determinism. The lab
// tests check the chip wiring: a slower chip gives a longer roofline latency and fails the bundled
// scenario that the faster chip passes, and scenario errors name the file and the field.
#include <algorithm>
#include <cmath>
#include <ostream>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"
#include "lab/cell_scenario.hpp"
#include "robot/cell.hpp"

using namespace stacklab;
using namespace stacklab::robot;

namespace stacklab::robot {
std::ostream& operator<<(std::ostream& os, Defect d) { return os << defect_name(d); }
}  // namespace stacklab::robot

namespace {

// An exact oracle (test double, not the product's stand-in) with a fixed latency.
PerceptionHook oracle(double latency_ms) {
    PerceptionHook h;
    h.classify = [](const BoardImage& im) { return Classification{im.truth, 1.0, im.defect_x_m, im.defect_y_m}; };
    h.inference_latency_ms = [latency_ms] { return latency_ms; };
    h.description = "test oracle";
    return h;
}

CellConfig quiet_cell() {
    CellConfig c;
    c.seed = 3;
    c.boards = 4;
    c.class_probability = {0.5, 0.5, 0.0, 0.0};
    c.safety.full_speed = {1.6, 0.1, 0.3, 1.0, 0.15, 0.0, 0.1, 0.02};
    c.safety.reduced_speed = {1.6, 0.1, 0.3, 0.25, 0.04, 0.0, 0.1, 0.02};
    return c;
}

const Verdict& verdict(const CellReport& r, const std::string& name) {
    for (const Verdict& v : r.verdicts)
        if (v.name == name) return v;
    throw std::runtime_error("no verdict " + name);
}

int count_rule(const CellReport& r, const std::string& rule) {
    return static_cast<int>(std::count_if(r.log.begin(), r.log.end(), [&](const SafetyEvent& e) { return e.rule == rule; }));
}

// Every field of two reports equal, doubles compared with == (bit-identical runs).
void require_same_report(const CellReport& a, const CellReport& b) {
    BOOST_TEST(a.perception == b.perception);
    BOOST_TEST_REQUIRE(a.stages.size() == b.stages.size());
    for (size_t i = 0; i < a.stages.size(); ++i) {
        BOOST_TEST(a.stages[i].stage == b.stages[i].stage);
        BOOST_TEST(a.stages[i].max_ms == b.stages[i].max_ms);
        BOOST_TEST(a.stages[i].mean_ms == b.stages[i].mean_ms);
        BOOST_TEST(a.stages[i].samples == b.stages[i].samples);
    }
    BOOST_TEST_REQUIRE(a.boards.size() == b.boards.size());
    for (size_t i = 0; i < a.boards.size(); ++i) {
        const BoardOutcome &x = a.boards[i], &y = b.boards[i];
        BOOST_TEST((x.truth == y.truth && x.label == y.label && x.confidence == y.confidence && x.arrive_s == y.arrive_s &&
                    x.capture_s == y.capture_s && x.decided_s == y.decided_s && x.round_trip_ms == y.round_trip_ms &&
                    x.result == y.result));
    }
    BOOST_TEST_REQUIRE(a.log.size() == b.log.size());
    for (size_t i = 0; i < a.log.size(); ++i)
        BOOST_TEST((a.log[i].t_s == b.log[i].t_s && a.log[i].rule == b.log[i].rule && a.log[i].action == b.log[i].action &&
                    a.log[i].inputs == b.log[i].inputs));
    BOOST_TEST_REQUIRE(a.verdicts.size() == b.verdicts.size());
    for (size_t i = 0; i < a.verdicts.size(); ++i)
        BOOST_TEST((a.verdicts[i].name == b.verdicts[i].name && a.verdicts[i].pass == b.verdicts[i].pass &&
                    a.verdicts[i].detail == b.verdicts[i].detail));
    BOOST_TEST(a.frames == b.frames);
    BOOST_TEST(a.frames_dropped == b.frames_dropped);
    BOOST_TEST(a.frames_lost == b.frames_lost);
    BOOST_TEST(a.protective_stops == b.protective_stops);
    BOOST_TEST(a.worst_stop_ms == b.worst_stop_ms);
    BOOST_TEST(a.stop_bound_ms == b.stop_bound_ms);
    BOOST_TEST(a.max_tracking_error_rad == b.max_tracking_error_rad);
    BOOST_TEST(a.saturated_ticks == b.saturated_ticks);
    BOOST_TEST(a.duration_s == b.duration_s);
    BOOST_TEST_REQUIRE(a.trace.size() == b.trace.size());
    for (size_t i = 0; i < a.trace.size(); ++i)
        BOOST_TEST((a.trace[i].t_s == b.trace[i].t_s && a.trace[i].q == b.trace[i].q && a.trace[i].qd == b.trace[i].qd &&
                    a.trace[i].tau == b.trace[i].tau));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(robot_cell)

BOOST_AUTO_TEST_CASE(boards_render_deterministically_with_the_defect_drawn_where_reported) {
    const BoardImage a = render_board(2, Defect::solder_bridge, 5), b = render_board(2, Defect::solder_bridge, 5);
    BOOST_TEST(a.pixels == b.pixels);
    BOOST_TEST(a.width == 32);
    const BoardImage clean = render_board(2, Defect::clean, 5);
    BOOST_TEST(clean.pixels != a.pixels);
    BOOST_TEST(render_board(2, Defect::missing_component, 5).pixels != clean.pixels);
    BOOST_TEST(render_board(2, Defect::misplaced_component, 5).pixels != clean.pixels);
    BOOST_TEST(std::abs(a.defect_x_m) < 0.05);
    BOOST_TEST(std::abs(a.defect_y_m) < 0.05);
    BOOST_TEST(clean.defect_x_m == 0.0);
    BOOST_CHECK_THROW(render_board(0, Defect::clean, 1, 8), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_quiet_cell_picks_every_defective_board_and_passes_every_clean_one) {
    const ArmModel arm = bundled_arm("ur5e");
    const CellReport r = run_cell(arm, quiet_cell(), oracle(5.0));
    BOOST_TEST(r.pass());
    int defects = 0;
    for (const BoardOutcome& b : r.boards) {
        BOOST_TEST(b.label == b.truth);
        BOOST_TEST(b.result == (b.truth == Defect::clean ? "passed" : "picked"), "board " << b.index << ": " << b.result);
        defects += b.truth != Defect::clean;
    }
    BOOST_TEST(defects > 0);
    BOOST_TEST(count_rule(r, "CELL-PICK") == defects);
    BOOST_TEST(count_rule(r, "CELL-PLACE") == defects);
    BOOST_TEST(r.protective_stops == 0);
    BOOST_TEST(r.saturated_ticks == 0);
    BOOST_TEST(r.max_tracking_error_rad < 1e-3);
    // Round trip = sensor + inference + planning + one control period (no network, no waiting).
    const CellConfig c = quiet_cell();
    for (const BoardOutcome& b : r.boards)
        BOOST_TEST(std::abs(b.round_trip_ms - (c.exposure_ms + c.readout_ms + 5.0 + c.planning_ms + 1.0)) < 1e-6);
}

BOOST_AUTO_TEST_CASE(inference_latency_beyond_the_budget_and_the_camera_period_fails_the_verdicts) {
    const ArmModel arm = bundled_arm("ur5e");
    CellConfig c = quiet_cell();
    c.budgets.inference_ms = 30;
    BOOST_TEST(verdict(run_cell(arm, c, oracle(29.0)), "inference-budget").pass);
    const CellReport slow = run_cell(arm, c, oracle(31.0));
    BOOST_TEST(!verdict(slow, "inference-budget").pass);
    BOOST_TEST(slow.frames_dropped == 0);  // still faster than the 33 ms camera period
    const CellReport slower = run_cell(arm, c, oracle(45.0));
    BOOST_TEST(slower.frames_dropped > 0);
    BOOST_TEST(!verdict(slower, "perception-keeps-up-with-camera").pass);
    BOOST_TEST(count_rule(slower, "CELL-DROP") >= 1);
    // Far too slow: perception goes stale and the watchdog stops the arm.
    c.safety.perception_timeout_s = 0.1;
    const CellReport stale = run_cell(arm, c, oracle(150.0));
    BOOST_TEST(count_rule(stale, "WD-PERC") >= 1);
    BOOST_TEST(!stale.pass());
}

BOOST_AUTO_TEST_CASE(sensor_dropout_triggers_the_perception_watchdog_within_its_bound) {
    const ArmModel arm = bundled_arm("ur5e");
    CellConfig c = quiet_cell();
    c.class_probability = {0.0, 1.0, 0.0, 0.0};  // every board is picked: the arm is moving a lot
    c.sensor_dropouts = {{7.0, 8.0}};
    const CellReport r = run_cell(arm, c, oracle(5.0));
    BOOST_TEST(r.protective_stops >= 1);
    BOOST_TEST(count_rule(r, "WD-PERC") == 1);  // the stop
    BOOST_TEST(count_rule(r, "WD-OK") == 1);    // and the resume when frames come back
    BOOST_TEST(verdict(r, "protective-stops-within-bound").pass);
    bool stop_found = false;
    for (const SafetyEvent& e : r.log) {
        BOOST_TEST(!e.rule.empty());
        if (e.rule == "WD-PERC" && e.action == "protective stop") {
            stop_found = true;
            // Stale = older than 0.2 s after the last frame before 7.0 s (frames every 33 ms).
            BOOST_TEST(e.t_s > 7.0);
            BOOST_TEST(e.t_s < 7.0 + c.safety.perception_timeout_s + 0.05);
        }
    }
    BOOST_TEST(stop_found);
}

BOOST_AUTO_TEST_CASE(low_zone_confidence_aborts_the_pick_with_the_zone_rule) {
    const ArmModel arm = bundled_arm("ur5e");
    CellConfig c = quiet_cell();
    c.class_probability = {0.0, 1.0, 0.0, 0.0};
    c.boards = 2;
    c.obstacles = {{{0.0, 2.0}, 0.9}};  // below 0.925 when the first board is decided
    const CellReport r = run_cell(arm, c, oracle(5.0));
    BOOST_TEST(r.boards[0].result == "aborted");
    BOOST_TEST(r.boards[1].result == "picked");
    bool abort_logged = false;
    for (const SafetyEvent& e : r.log)
        abort_logged = abort_logged || (e.rule == "ZONE-CONF" && e.action.find("abort") != std::string::npos);
    BOOST_TEST(abort_logged);
    BOOST_TEST(verdict(r, "no-missed-picks").pass);  // an interlock abort is not a miss
    // At the threshold itself the pick goes ahead.
    c.obstacles = {{{0.0, 2.0}, 0.925}};
    BOOST_TEST(run_cell(arm, c, oracle(5.0)).boards[0].result == "picked");
}

BOOST_AUTO_TEST_CASE(a_person_inside_the_separation_distance_stops_a_moving_arm_within_the_stopping_time) {
    const ArmModel arm = bundled_arm("ur5e");
    CellConfig c = quiet_cell();
    c.class_probability = {0.0, 1.0, 0.0, 0.0};
    c.boards = 1;
    PersonFault p;
    p.enter_s = 0.5;  // reaches S_p while the arm moves toward the board
    p.start_distance_m = 2.0;
    p.min_distance_m = 0.5;
    p.stay_s = 1.0;
    c.persons = {p};
    const CellReport r = run_cell(arm, c, oracle(5.0));
    BOOST_TEST(count_rule(r, "SSM-SLOW") >= 1);
    BOOST_TEST(count_rule(r, "SSM-STOP") == 1);
    BOOST_TEST(count_rule(r, "SSM-CLEAR") == 1);
    BOOST_TEST(verdict(r, "protective-stops-within-bound").pass);
    BOOST_TEST(r.worst_stop_ms > 0);
    BOOST_TEST(r.worst_stop_ms <= 1000 * c.safety.full_speed.T_s_s + 50);
    BOOST_TEST(r.boards[0].result == "picked");  // it resumes once the person has left
}

BOOST_AUTO_TEST_CASE(cell_runs_are_deterministic_and_timing_does_not_change_them) {
    const ArmModel arm = bundled_arm("ur5e");
    CellConfig c = quiet_cell();
    c.network.enabled = true;
    c.network.jitter_ms = 3;
    c.network.loss = 0.05;
    c.network_outages = {{5.0, 5.5}};
    const CellReport a = run_cell(arm, c, oracle(5.0));
    double now = 0;
    CellRunOptions timed;
    timed.clock_s = [&] { return now += 1e-6; };
    const CellReport b = run_cell(arm, c, oracle(5.0), {}, timed);
    BOOST_TEST_REQUIRE(a.log.size() == b.log.size());
    for (size_t i = 0; i < a.log.size(); ++i) {
        BOOST_TEST(a.log[i].t_s == b.log[i].t_s);
        BOOST_TEST(a.log[i].inputs == b.log[i].inputs);
    }
    BOOST_TEST(a.frames_lost == b.frames_lost);
    BOOST_TEST(a.frames_lost > 0);
    BOOST_TEST(count_rule(a, "WD-LINK") >= 1);
    BOOST_TEST(b.host_tick_us_median > 0);
    BOOST_TEST(a.host_tick_us_median < 0);
}

BOOST_AUTO_TEST_CASE(the_trace_samples_the_arm_at_its_period_and_leaves_the_run_unchanged) {
    const ArmModel arm = bundled_arm("ur5e");
    const CellConfig c = quiet_cell();
    const CellReport a = run_cell(arm, c, oracle(5.0));
    CellRunOptions traced;
    traced.trace_period_s = 0.05;
    const CellReport b = run_cell(arm, c, oracle(5.0), {}, traced);
    BOOST_TEST(a.trace.empty());
    BOOST_TEST_REQUIRE(a.log.size() == b.log.size());
    for (size_t i = 0; i < a.log.size(); ++i) BOOST_TEST(a.log[i].inputs == b.log[i].inputs);
    BOOST_TEST(a.max_tracking_error_rad == b.max_tracking_error_rad);
    // One sample every 50 ticks at 1 kHz over the whole run.
    BOOST_TEST_REQUIRE(b.trace.size() >= 2u);
    BOOST_TEST(std::abs(double(b.trace.size()) - b.duration_s / 0.05) <= 2.0);
    BOOST_TEST(std::abs((b.trace[1].t_s - b.trace[0].t_s) - 0.05) < 1e-9);
    BOOST_TEST(b.trace[0].q.size() == 6u);
    BOOST_TEST(b.trace[0].tau.size() == 6u);
    // The arm starts at home and moves during the run (it picks defective boards).
    for (size_t j = 0; j < 6; ++j) BOOST_TEST(std::abs(b.trace[0].q[j] - c.home_q[j]) < 1e-3);
    double moved = 0;
    for (const auto& s : b.trace) moved = std::max(moved, std::abs(s.q[0] - c.home_q[0]));
    BOOST_TEST(moved > 0.5);
    traced.trace_period_s = -1;
    BOOST_CHECK_THROW(run_cell(arm, c, oracle(5.0), {}, traced), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(bad_cell_configs_are_errors_naming_the_field) {
    const ArmModel arm = bundled_arm("ur5e");
    CellConfig c = quiet_cell();
    c.class_probability = {0.5, 0.2, 0.2, 0.2};
    try {
        run_cell(arm, c, oracle(1));
        BOOST_ERROR("no error");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("class_probability") != std::string::npos);
    }
    BOOST_CHECK_THROW(run_cell(arm, quiet_cell(), PerceptionHook{}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_cell_run_stepped_in_slices_gives_the_whole_run_report_bit_for_bit) {
    const ArmModel arm = bundled_arm("ur5e");
    // Every kind of event: jitter and loss on the link, an outage, a dropout, a low-confidence
    // obstacle, a person, a swap to a slower hook, and a trace.
    CellConfig c = quiet_cell();
    c.network.enabled = true;
    c.network.jitter_ms = 3;
    c.network.loss = 0.05;
    c.network_outages = {{5.0, 5.5}};
    c.sensor_dropouts = {{9.0, 9.4}};
    c.obstacles = {{{12.0, 13.0}, 0.5}};
    PersonFault p;
    p.enter_s = 16.0;
    c.persons = {p};
    c.chip_swap.at_s = 20.0;
    c.chip_swap.label = "slow";
    CellRunOptions opt;
    opt.trace_period_s = 0.02;
    const CellReport whole = run_cell(arm, c, oracle(5.0), oracle(45.0), opt);
    BOOST_TEST(whole.protective_stops > 0);  // the faults did something
    BOOST_TEST(count_rule(whole, "CELL-SWAP") == 1);
    for (long slice : {1L, 7L, 1000L, 12345L}) {
        CellSim sim(arm, c, oracle(5.0), oracle(45.0), opt);
        BOOST_TEST(sim.ticks_done() == 0);
        BOOST_TEST(!sim.done());
        long calls = 0, last = 0;
        while (!sim.step(slice)) {
            ++calls;
            BOOST_TEST_REQUIRE(sim.ticks_done() == last + slice);  // exactly `slice` ticks per call
            last = sim.ticks_done();
        }
        BOOST_TEST(sim.ticks_done() == sim.ticks_total());
        BOOST_TEST(calls + 1 == (sim.ticks_total() + slice - 1) / slice);
        BOOST_TEST_CONTEXT("slice " << slice) require_same_report(whole, sim.finish());
        BOOST_CHECK_THROW(sim.finish(), std::logic_error);  // the report was moved out
    }
    // ticks_total: 0 .. ceil(duration / period), the ticks run_cell runs.
    CellSim sim(arm, c, oracle(5.0), oracle(45.0), opt);
    BOOST_TEST(sim.ticks_total() == std::lround(whole.duration_s * c.control_rate_hz) + 1);
    BOOST_CHECK_THROW(sim.finish(), std::logic_error);  // not done
    BOOST_CHECK_THROW(sim.step(0), std::invalid_argument);
    // A run moved (to another owner, another thread) mid-way carries on where it was.
    sim.step(5000);
    CellSim moved = std::move(sim);
    BOOST_TEST(moved.ticks_done() == 5000);
    moved.step(moved.ticks_total());
    require_same_report(whole, moved.finish());
}

BOOST_AUTO_TEST_CASE(a_cell_sim_validates_like_run_cell_before_simulating) {
    const ArmModel arm = bundled_arm("ur5e");
    CellConfig c = quiet_cell();
    c.class_probability = {0.5, 0.2, 0.2, 0.2};
    BOOST_CHECK_THROW(CellSim(arm, c, oracle(1)), std::invalid_argument);
    BOOST_CHECK_THROW(CellSim(arm, quiet_cell(), PerceptionHook{}), std::invalid_argument);
    CellConfig swap = quiet_cell();
    swap.chip_swap.at_s = 1.0;
    BOOST_CHECK_THROW(CellSim(arm, swap, oracle(1)), std::invalid_argument);  // no hook to swap to
}

// --- core/lab: the chip behind the hook -------------------------------------------------------

BOOST_AUTO_TEST_CASE(conv_layers_are_counted_as_their_im2col_gemms) {
    lab::CnnModel m;
    m.in_h = 64;
    m.in_w = 64;
    m.in_c = 3;
    m.conv = {{16, 3, 2}};
    m.classes = 4;
    const auto w = lab::cnn_work(m, chip::DType::int8);
    BOOST_TEST_REQUIRE(w.size() == 2u);
    // M = 32 * 32 output pixels, N = 16, K = 3 * 3 * 3: ops 2 M N K; bytes M K + K N + M N (int8).
    BOOST_TEST(w[0].ops == 2.0 * 1024 * 16 * 27);
    BOOST_TEST(w[0].bytes == 1024.0 * 27 + 27.0 * 16 + 1024.0 * 16);
    BOOST_TEST(w[1].ops == 2.0 * 4 * 16);
}

BOOST_AUTO_TEST_CASE(bundled_scenarios_pass_on_the_faster_chip_and_fail_on_the_slower_one) {
    const auto chips = chip::load_catalog(chip::bundled_catalog_files());
    std::string pass_bytes, slow_bytes;
    for (const auto& f : lab::bundled_cell_files()) {
        if (f.name == "models/cells/pcb-cell-ascend-310p.json") pass_bytes = f.bytes;
        if (f.name == "models/cells/pcb-cell-slower-chip.json") slow_bytes = f.bytes;
    }
    BOOST_TEST_REQUIRE(!pass_bytes.empty());
    BOOST_TEST_REQUIRE(!slow_bytes.empty());
    const lab::CellScenario ok = lab::parse_cell_scenario(pass_bytes, "models/cells/pcb-cell-ascend-310p.json");
    const lab::CellRun good = lab::run_cell_scenario(ok, chips);
    BOOST_TEST(good.report.pass());
    // The trained model decides; the latency is the scenario's conv list, and the report says both.
    BOOST_TEST(good.report.perception.find("trained int8 CNN") != std::string::npos);
    BOOST_TEST(good.report.perception.find("NOT the model that decides") != std::string::npos);
    // The same scenario on the slower chip: the roofline latency grows and the budget is missed.
    const lab::CellRun slow = lab::run_cell_scenario(ok, chips, "edge-npu-64tops");
    BOOST_TEST(slow.inference.total_ms > good.inference.total_ms * 2);
    BOOST_TEST(!slow.report.pass());
    BOOST_TEST(!verdict(slow.report, "inference-budget").pass);
    // The scenario with the swap fault fails the same way, after the swap.
    const lab::CellRun swapped =
        lab::run_cell_scenario(lab::parse_cell_scenario(slow_bytes, "models/cells/pcb-cell-slower-chip.json"), chips);
    BOOST_TEST(swapped.swap_chip_id == "edge-npu-64tops");
    BOOST_TEST(!swapped.report.pass());
    BOOST_TEST(count_rule(swapped.report, "CELL-SWAP") == 1);
    // The inference stage's worst case is the slower chip's roofline time.
    for (const StageStats& s : swapped.report.stages)
        if (s.stage == "inference") BOOST_TEST(std::abs(s.max_ms - swapped.swap_inference.total_ms) < 1e-9);
}

BOOST_AUTO_TEST_CASE(a_cell_scenario_started_stepped_and_finished_equals_run_cell_scenario) {
    const auto chips = chip::load_catalog(chip::bundled_catalog_files());
    for (const auto& f : lab::bundled_cell_files()) {
        BOOST_TEST_CONTEXT(f.name) {
            const lab::CellScenario s = lab::parse_cell_scenario(f.bytes, f.name);
            robot::CellRunOptions opt;
            opt.trace_period_s = 0.02;
            const lab::CellRun whole = lab::run_cell_scenario(s, chips, "", opt);
            lab::CellScenarioSim sim = lab::start_cell_scenario(s, chips, "", opt);
            BOOST_TEST(sim.run.chip_id == whole.chip_id);
            BOOST_TEST(sim.run.inference.total_ms == whole.inference.total_ms);
            while (!sim.sim.step(997)) {
            }
            const lab::CellRun split = lab::finish_cell_scenario(sim);
            BOOST_TEST(split.classified == whole.classified);
            BOOST_TEST(split.correct == whole.correct);
            BOOST_TEST(split.swap_chip_id == whole.swap_chip_id);
            require_same_report(whole.report, split.report);
        }
    }
    // The same errors as run_cell_scenario, from start_cell_scenario (nothing simulated).
    const lab::CellScenario s = lab::parse_cell_scenario(lab::bundled_cell_files().front().bytes, lab::bundled_cell_files().front().name);
    BOOST_CHECK_THROW(lab::start_cell_scenario(s, chips, "no-such-chip"), lab::ScenarioError);
}

BOOST_AUTO_TEST_CASE(scenario_errors_name_the_file_and_the_field) {
    const auto chips = chip::load_catalog(chip::bundled_catalog_files());
    auto expect = [](const nlohmann::json& doc, const std::string& field) {
        try {
            lab::parse_cell_scenario(doc.dump(), "cells/x.json");
            BOOST_ERROR("no error for " << field);
        } catch (const lab::ScenarioError& e) {
            BOOST_TEST(e.field() == field, e.what());
            BOOST_TEST(std::string(e.what()).find("cells/x.json") != std::string::npos);
        }
    };
    const nlohmann::json base = {{"id", "x"}, {"chip", "ascend-310p"}};
    BOOST_CHECK_NO_THROW(lab::parse_cell_scenario(base.dump(), "cells/x.json"));
    auto with = [&](const std::string& k, const nlohmann::json& v) {
        nlohmann::json d = base;
        d[k] = v;
        return d;
    };
    expect(with("colour", 1), "/colour");
    expect(with("camera", {{"period_ms", -5}}), "/camera/period_ms");
    expect(with("conveyor", {{"class_probability", {0.5, 0.5, 0.5, 0.5}}}), "/conveyor/class_probability");
    expect(with("faults", {{"network_outage", {{{"start_s", 2}, {"end_s", 1}}}}}), "/faults/network_outage/0/end_s");
    expect(with("perception", {{"conv", {{{"kernel", 3}}}}}), "/perception/conv/0/out_channels");
    expect(with("id", "y"), "/id");  // must equal the file name stem
    nlohmann::json no_chip = base;
    no_chip.erase("chip");
    expect(no_chip, "/chip");
    // A chip without a bandwidth figure cannot be put on the roofline: the error names /chip.
    const lab::CellScenario s = lab::parse_cell_scenario(with("chip", "horizon-journey5").dump(), "cells/x.json");
    try {
        lab::run_cell_scenario(s, chips);
        BOOST_ERROR("no error");
    } catch (const lab::ScenarioError& e) {
        BOOST_TEST(e.field() == "/chip", e.what());
    }
    BOOST_CHECK_THROW(lab::run_cell_scenario(s, chips, "no-such-chip"), lab::ScenarioError);
}

BOOST_AUTO_TEST_CASE(the_standin_classifier_is_labelled_and_has_its_stated_accuracy) {
    const PerceptionHook h = lab::standin_perception(0.9, 11, 4.0, "test");
    BOOST_TEST(h.description.find("STAND-IN") != std::string::npos);
    BOOST_TEST(h.inference_latency_ms() == 4.0);
    int right = 0;
    const int n = 4000;
    for (int i = 0; i < n; ++i) {
        const BoardImage im = render_board(i, static_cast<Defect>(i % 4), 1);
        right += h.classify(im).label == im.truth;
    }
    BOOST_TEST(std::abs(right / double(n) - 0.9) < 0.02);
}

BOOST_AUTO_TEST_SUITE_END()
