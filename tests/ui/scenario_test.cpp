// The scenario round trip (ui/scenario.cpp): scenario_query is the inverse of apply_scenario, the
// JSON document the inverse of apply_scenario_json, and a bad document is named and kept out. The
// "same view" cases draw both states headlessly with Dear ImGui (no window, no GL: ImGui builds its
// draw lists without a renderer) and compare what ui_report_json says each frame showed.
#define BOOST_TEST_MODULE stacklab_ui
#include <boost/test/included/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <imgui.h>
#include <nlohmann/json.hpp>

#include "ui/app.hpp"
#include "headless.hpp"
#include "ui/charts.hpp"

using stacklab::ui::AppState;
using nlohmann::json;
namespace ui = stacklab::ui;

namespace {

// Every choice a scenario key sets, as one comparable document.
json choices(const AppState& s) {
    const auto& l = s.llm_choice;
    const auto& m = s.models_choice;
    const auto& k = s.kernels_choice;
    json faults = json::array();
    for (const auto& f : s.robot_faults.added) faults.push_back({ui::fault_kind_name(f.kind), f.at_s, f.chip});
    return {{"tab", s.requested_tab.empty() ? s.active_tab : s.requested_tab},
            {"chip", s.selected_chip}, {"chip2", s.compare_chip}, {"dtype", s.roofline_dtype},
            {"tile_gemm", s.tile_gemm}, {"open_tile_view", s.open_tile_view},
            {"llm", {l.llm, l.quant, l.int8_kv, l.batch, l.prompt, l.output, l.chips, l.link_gbps}},
            {"models", {m.model, m.recipe, m.calibration, m.fuse, s.graph_view.open, s.graph_view.quantized}},
            {"kernels", {k.variance, k.gelu, k.fp16, k.offset, k.rows, k.cols, k.seed}},
            {"systolic", {s.systolic_choice.array_rows, s.systolic_choice.array_cols, s.systolic_choice.dataflow}},
            {"cell", s.robot_cell}, {"t", s.robot_report.view_t_s},
            {"faults", {s.robot_faults.file_faults, faults}},
            {"deployment", s.deployment}, {"tamper", s.tamper_requested},
            {"certify", {s.certify_tier, s.certify_packs}},
            {"lesson", {s.lesson.active, s.lesson.step}}};
}

// Varied states: every tab, every group of keys, values set by hand the way the panels' widgets set them.
std::vector<std::pair<std::string, std::string>> varied_queries() {
    return {
        {"stack", "tab=stack&chip=ascend-310p&llm=qwen2.5-7b&quant=w8a8"},
        {"chips roofline", "tab=chips&chip=nvidia-h100&chip2=ascend-910b&llm=llama-3-8b&dtype=fp16"},
        {"chips tile view", "tab=chips&chip=ascend-910b&dtype=int8&gemm=D3"},
        {"chips tile view of the model", "tab=chips&chip=ascend-910b&gemm=model&model=fashion_mixer&tilebatch=2"},
        {"llm", "tab=llm&chip=ascend-910b&llm=qwen2.5-7b&quant=w4a16&batch=4&int8kv=1&prompt=2048&output=64&tp=4&link=112.5"},
        {"models", "tab=models&model=fashion_cnn&recipe=w4g32a8&calib=percentile&fuse=0"},
        {"models via quant", "tab=models&quant=mixed&calib=mse"},
        {"models graph view", "tab=models&model=fashion_mixer&view=graph&graph=quant"},
        {"kernels", "tab=kernels&variance=welford&gelu=tanh&fp16=1&offset=-2.5&rows=8&cols=333&seed=7"},
        {"kernels odd offset", "tab=kernels&offset=0.1&rows=3"},
        {"systolic", "tab=systolic&array=16x64&dataflow=os"},
        {"robot", "tab=robot&chip=ascend-310p&cell=pcb-cell-ascend-310p&t=9.5&faults=nofile,outage@30.00,swap@12.00:edge-npu-64tops"},
        {"certify", "tab=certify&deployment=warehouse-cell-tier2-pass&tamper=1"},
        {"certify tier and packs", "tab=certify&deployment=edge-cell-tier2-fail&tier=3&packs=licensing-tiers,real-world-anchors"},
        {"lesson", "lesson=chip-decode-roofline&step=1&chip=nvidia-h100"},
        {"lesson step back to a default", "lesson=policy-tier2&step=2&deployment=edge-cell-tier2-fail&tab=stack"},
    };
}

using ui::testing::Headless;

// Draws `frames` frames of the whole app without a window (and on while a panel has work under
// way, e.g. the Models tab's job) and returns the last frame's report.
json draw_frames(AppState& state, int frames) {
    Headless h(state);
    for (int i = 0; i < frames || ui::ui_busy(state); ++i) {
        h.frame();
        if (ui::ui_busy(state)) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // leave the worker the core
    }
    return json::parse(ui::ui_report_json(state));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ui_scenario)

BOOST_AUTO_TEST_CASE(the_sidebar_saves_and_loads_through_the_shell_and_a_bad_file_is_named_in_the_banner) {
    AppState s = ui::make_app_state();
    ui::apply_scenario(s, "tab=llm&batch=4");
    std::map<std::string, std::string> files;  // the shell's file system
    s.share.save = [&](const std::string& path, const std::string& text) {
        if (path.empty()) return std::string("cannot save: no file name");
        files[path] = text;
        return std::string();
    };
    s.share.load = [&](const std::string& path, std::string& text) {
        const auto it = files.find(path);
        if (it == files.end()) return "cannot open " + path;
        text = it->second;
        return std::string();
    };
    Headless h(s);
    h.frame();
    h.frame();
    h.click(s.layout.share_buttons, "save");
    BOOST_TEST(s.share.status == "Saved stacklab-scenario.json");
    BOOST_TEST(files.at("stacklab-scenario.json") == ui::scenario_json(s).dump(2) + "\n");
    BOOST_TEST(json::parse(files.at("stacklab-scenario.json")).dump() == R"({"batch":4,"stacklab_scenario":1,"tab":"llm"})");
    // Elsewhere, then back through "Load scenario".
    ui::apply_scenario(s, "tab=kernels&rows=5&chip2=nvidia-h100");
    h.frame();
    h.click(s.layout.share_buttons, "load");
    h.frame();
    BOOST_TEST(s.scenario_error == "");
    BOOST_TEST(ui::scenario_query(s) == "tab=llm&batch=4");
    BOOST_TEST(s.active_tab == "LLM serving");
    // A damaged file: the banner names it and where it broke; the view stays.
    files["stacklab-scenario.json"] = "{\"stacklab_scenario\": 1, \"tab\": llm}";
    h.click(s.layout.share_buttons, "load");
    BOOST_TEST(s.scenario_error.rfind("Scenario file stacklab-scenario.json: malformed JSON at line 1, column 33", 0) == 0, s.scenario_error);
    BOOST_TEST(s.share.status_error);
    BOOST_TEST(ui::scenario_query(s) == "tab=llm&batch=4");
    s.share.path = "missing.json";
    h.click(s.layout.share_buttons, "load");
    BOOST_TEST(s.scenario_error == "Scenario file missing.json: cannot open missing.json");
    s.share.path = "";
    h.click(s.layout.share_buttons, "save");
    BOOST_TEST(s.share.status == "cannot save: no file name");
    BOOST_TEST(s.share.status_error);
}


BOOST_AUTO_TEST_CASE(the_default_view_is_the_empty_query_and_a_json_document_with_only_the_version) {
    const AppState s = ui::make_app_state();
    BOOST_TEST(s.load_error == "");
    BOOST_TEST(ui::scenario_query(s) == "");
    BOOST_TEST(ui::scenario_json(s).dump() == R"({"stacklab_scenario":1})");
}

BOOST_AUTO_TEST_CASE(scenario_query_writes_only_changed_keys_in_one_fixed_order) {
    AppState s = ui::make_app_state();
    BOOST_TEST(ui::apply_scenario(s, "batch=4&chip=nvidia-h100&tab=llm&dataflow=ws&fuse=1") == "");
    // dataflow=ws and fuse=1 are the defaults: left out; the rest in the documented order.
    BOOST_TEST(ui::scenario_query(s) == "tab=llm&chip=nvidia-h100&batch=4");
    s.llm_choice.link_gbps = 112.5f;
    s.llm_choice.chips = 2;
    s.kernels_choice.offset = 0.1f;  // a float: written as the shortest text that reads back the same float
    s.robot_report.view_t_s = 12.3456;  // rounded to 10 ms
    BOOST_TEST(ui::scenario_query(s) == "tab=llm&chip=nvidia-h100&batch=4&tp=2&link=112.5&offset=0.1&t=12.35");
}

BOOST_AUTO_TEST_CASE(scenario_query_round_trips_through_apply_scenario_for_states_on_every_tab) {
    for (const auto& [name, q] : varied_queries()) {
        BOOST_TEST_CONTEXT(name) {
            AppState s = ui::make_app_state();
            BOOST_TEST(ui::apply_scenario(s, q) == "");
            const std::string written = ui::scenario_query(s);
            AppState t = ui::make_app_state();
            BOOST_TEST(ui::apply_scenario(t, written) == "", written);
            BOOST_TEST(choices(t).dump() == choices(s).dump(), written);
            BOOST_TEST(ui::scenario_query(t) == written);  // canonical: a fixed point
        }
    }
}

BOOST_AUTO_TEST_CASE(every_tab_opened_from_the_written_query_shows_what_the_original_showed) {
    for (const auto& [name, q] : varied_queries()) {
        if (name == "models" || name == "models via quant") continue;  // evaluated below once (1000 images)
        BOOST_TEST_CONTEXT(name) {
            AppState s = ui::make_app_state();
            ui::apply_scenario(s, q);
            const json a = draw_frames(s, 3);
            AppState t = ui::make_app_state();
            ui::apply_scenario(t, a["scenario"].get<std::string>());
            const json b = draw_frames(t, 3);
            BOOST_TEST(a["scenario_error"] == "");
            BOOST_TEST(b["scenario_error"] == "");
            for (const char* key : {"active_tab", "selected_chip", "compare_chip", "scenario", "llm_panel", "stack_panel"})
                BOOST_TEST(a[key].dump() == b[key].dump(), key);
            BOOST_TEST(a["chips_panel"]["roofline"].dump() == b["chips_panel"]["roofline"].dump());
            BOOST_TEST(a["chips_panel"].value("tile_sim", json()).dump() == b["chips_panel"].value("tile_sim", json()).dump());
            BOOST_TEST(a["kernels_panel"].dump() == b["kernels_panel"].dump());
            BOOST_TEST(a["systolic_panel"].dump() == b["systolic_panel"].dump());
            json ra = a["robot_panel"], rb = b["robot_panel"];
            ra.erase("job");  // timings and frame counts of the job differ between runs
            rb.erase("job");
            BOOST_TEST(ra.dump() == rb.dump());
            for (const char* key : {"deployment", "computed", "pass", "tampered", "verdicts", "tampered_offset", "tier", "packs"})
                BOOST_TEST(a["certify_panel"].value(key, json()).dump() == b["certify_panel"].value(key, json()).dump(), key);
            for (const char* key : {"active", "step", "hidden", "scenario"})
                BOOST_TEST(a["lesson_panel"].value(key, json()).dump() == b["lesson_panel"].value(key, json()).dump(), key);
        }
    }
    // The views these tabs must show, so the comparison above is not of two empty panels.
    AppState s = ui::make_app_state();
    ui::apply_scenario(s, "tab=chips&chip=ascend-910b&dtype=int8&gemm=D3");
    const json c = draw_frames(s, 3);
    BOOST_TEST(c["active_tab"] == "Chips");
    BOOST_TEST(c["chips_panel"]["tile_sim"]["gemm"].get<std::string>().rfind("D3", 0) == 0);
    BOOST_TEST(c["scenario"] == "tab=chips&chip=ascend-910b&gemm=D3");
    AppState m = ui::make_app_state();
    ui::apply_scenario(m, "tab=chips&chip=ascend-910b&gemm=model&model=fashion_mixer&tilebatch=2");
    const json d = draw_frames(m, 3);
    const json& t = d["chips_panel"]["tile_sim"];
    BOOST_TEST(t["source"] == "model");
    BOOST_TEST(t["model"] == "fashion_mixer");
    BOOST_TEST(t["batch"] == 2);
    BOOST_TEST(t["error"] == "");
    BOOST_TEST(t["computations"] == 1);
    BOOST_TEST(t["ops"].size() > 2u);
    BOOST_TEST(t["events"].get<int64_t>() > 0);
    BOOST_TEST(d["scenario"] == "tab=chips&chip=ascend-910b&gemm=model&tilebatch=2&model=fashion_mixer");
    // Back to a layer GEMM: gemm=D1 leaves the model source.
    ui::apply_scenario(m, "gemm=D1");
    BOOST_TEST(ui::scenario_query(m) == "tab=chips&chip=ascend-910b&gemm=D1&tilebatch=2&model=fashion_mixer");
}

BOOST_AUTO_TEST_CASE(the_models_tab_from_the_written_query_evaluates_the_same_choice_to_the_same_accuracy) {
    AppState s = ui::make_app_state();
    ui::apply_scenario(s, "tab=models&model=fashion_cnn&recipe=w4g32a8&calib=percentile&fuse=0");
    const json a = draw_frames(s, 2);  // draws until the evaluation is done (ui_busy)
    AppState t = ui::make_app_state();
    ui::apply_scenario(t, a["scenario"].get<std::string>());
    const json b = draw_frames(t, 2);
    BOOST_TEST(a["models_panel"]["stage"] == "done");
    for (const char* key : {"model", "quant", "calibration", "fused", "correct", "predictions", "confusion", "logits_sqnr_db"})
        BOOST_TEST(a["models_panel"][key].dump() == b["models_panel"][key].dump(), key);
}

// Natively the Models job runs on a worker thread. Cancel stops it after its current step (the
// report stays "cancelled", the cancelled thread is joined once it has finished, never waited for),
// gemm=model-quant: the tile view waits for the Models tab's job, then simulates the QDQ graph it
// quantized (its int8 matrix nodes), exactly as chip::simulate_model does on that graph.
BOOST_AUTO_TEST_CASE(the_tile_view_simulates_the_models_tabs_quantized_graph_once_its_job_has_quantized_it) {
    AppState s = ui::make_app_state();
    BOOST_TEST(ui::apply_scenario(s, "tab=chips&chip=ascend-910b&gemm=model-quant&model=fashion_cnn") == "");
    const json a = draw_frames(s, 3);
    BOOST_TEST(a["chips_panel"]["tile_sim"]["error"].get<std::string>().rfind("no quantized graph yet", 0) == 0u);
    BOOST_TEST(a["scenario"] == "tab=chips&chip=ascend-910b&gemm=model-quant");
    ui::apply_scenario(s, "tab=models");
    draw_frames(s, 2);  // draws until the job is done
    BOOST_TEST_REQUIRE(s.models_report.stage == "done");
    ui::apply_scenario(s, "tab=chips&gemm=model-quant");
    const json b = draw_frames(s, 3);
    const json& t = b["chips_panel"]["tile_sim"];
    BOOST_TEST(t["error"] == "");
    BOOST_TEST(t["graph"].get<std::string>().rfind("int8/minmax/fused job ", 0) == 0u);
    BOOST_TEST(t["computations"] == 1);
    int int8_matrix = 0;
    for (const auto& o : t["ops"]) int8_matrix += o["lowered"] == "matrix" && o["dtype"] == "int8";
    BOOST_TEST(int8_matrix >= 2);
    const stacklab::chip::ChipSpec* spec = nullptr;
    for (const auto& c : s.chips)
        if (c.id == "ascend-910b") spec = &c;
    BOOST_TEST_REQUIRE(spec);
    const stacklab::chip::ModelSim sim =
        stacklab::chip::simulate_model(stacklab::chip::machine_of(*spec, stacklab::chip::Pick::nominal),
                                       stacklab::nn::import_onnx(s.models_report.quant.model), "q", 1,
                                       stacklab::chip::Fidelity::tile);
    BOOST_TEST(t["time_us"].get<double>() == sim.time_s * 1e6);
    BOOST_TEST(t["ops"].size() == sim.rows.size());
}

// Run again starts the same job afresh, and its numbers equal an uninterrupted run's.
BOOST_AUTO_TEST_CASE(a_cancelled_models_job_stays_cancelled_and_run_again_gives_the_uninterrupted_numbers) {
    const ui::ModelsChoice ch{"fashion_cnn", "int8", 0, true};
    auto finish = [&](ui::ModelsPanelReport& r) {
        for (int i = 0; i < 60000 && (r.busy() || r.stage == "restart" || r.computations == 0); ++i) {
            ui::update_models(ch, r, 8.0);
            if (r.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    };
    ui::ModelsPanelReport plain;
    finish(plain);
    BOOST_TEST_REQUIRE(plain.stage == "done");
    BOOST_TEST(plain.threaded);
    BOOST_TEST(plain.ui_thread_steps == 0);

    ui::ModelsPanelReport r;
    ui::update_models(ch, r, 8.0);  // starts the job
    BOOST_TEST_REQUIRE(r.busy());
    ui::cancel_models(r);
    BOOST_TEST(r.stage == "cancelled");
    BOOST_TEST(!r.busy());
    BOOST_TEST(r.retired.size() == 1u);
    for (int i = 0; i < 60000 && !r.retired.empty(); ++i) {  // the worker finishes its step and is joined
        ui::update_models(ch, r, 8.0);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    BOOST_TEST(r.retired.empty());
    BOOST_TEST(r.stage == "cancelled");  // what the cancelled worker published afterwards is never taken
    BOOST_TEST(r.evaluated < r.n);

    ui::restart_models(r);
    BOOST_TEST(r.stage == "restart");
    finish(r);
    BOOST_TEST_REQUIRE(r.stage == "done");
    BOOST_TEST(r.computations == 2);
    BOOST_TEST(r.evaluated == plain.evaluated);
    BOOST_TEST(r.quant_correct == plain.quant_correct);
    BOOST_TEST(r.fp32_correct == plain.fp32_correct);
    BOOST_TEST(r.predictions == plain.predictions, boost::test_tools::per_element());
    BOOST_TEST(r.confusion == plain.confusion, boost::test_tools::per_element());
}

// Every number of a cell run, doubles at full precision (nlohmann writes the shortest text that
// reads back to the same double), so equal digests mean bit-identical runs.
json cell_digest(const stacklab::lab::CellRun& run) {
    const auto& rep = run.report;
    json j = {{"chip", run.chip_id}, {"inference_ms", run.inference.total_ms}, {"classified", run.classified},
              {"correct", run.correct}, {"pass", rep.pass()}, {"frames", {rep.frames, rep.frames_dropped, rep.frames_lost}},
              {"stops", {rep.protective_stops, rep.worst_stop_ms, rep.stop_bound_ms}},
              {"tracking", rep.max_tracking_error_rad}, {"saturated", rep.saturated_ticks}, {"duration", rep.duration_s}};
    for (const auto& v : rep.verdicts) j["verdicts"].push_back({v.name, v.pass, v.detail});
    for (const auto& st : rep.stages) j["stages"].push_back({st.stage, st.max_ms, st.mean_ms, st.samples});
    for (const auto& e : rep.log) j["log"].push_back({e.t_s, e.rule, e.action, e.inputs});
    for (const auto& b : rep.boards) j["boards"].push_back({b.label, b.confidence, b.decided_s, b.round_trip_ms, b.result});
    for (const auto& t : rep.trace) j["trace"].push_back({t.t_s, t.q, t.qd, t.tau});
    return j;
}

// Advances the Robot job one frame at a time until it has left "run" (and "restart").
void finish_robot(AppState& s, ui::RobotPanelReport& r) {
    for (int i = 0; i < 60000 && (r.busy() || r.job.stage == "restart" || r.computations == 0); ++i) {
        ++s.frame;
        ui::update_robot(s, r);
        if (r.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

// Natively the Robot panel's cell runs on a worker thread (the UI thread runs none of its steps),
// and its result is lab::run_cell_scenario's (the CLI's `robot cell`) bit for bit. Cancel stops it
// after its current slice and leaves the previous result shown; the cancelled thread is joined
// once it has finished; Run again gives the uninterrupted result; a new chip reruns it with the
// previous result kept (greyed) until the new one is in.
BOOST_AUTO_TEST_CASE(the_robot_cell_runs_on_a_worker_thread_and_cancel_then_rerun_equals_the_core_run) {
    namespace lab = stacklab::lab;
    AppState s = ui::make_app_state();
    BOOST_TEST_REQUIRE(ui::apply_scenario(s, "tab=robot&chip=ascend-310p&cell=pcb-cell-ascend-310p") == "");
    // The core run the CLI prints, with the panel's trace (which does not change the run).
    const lab::CellFile* file = nullptr;
    for (const auto& f : lab::bundled_cell_files())
        if (f.name == "models/cells/pcb-cell-ascend-310p.json") file = &f;
    BOOST_TEST_REQUIRE(file);
    stacklab::robot::CellRunOptions opt;
    opt.trace_period_s = 0.02;
    auto core_run = [&](const std::string& chip) {
        return cell_digest(lab::run_cell_scenario(lab::parse_cell_scenario(file->bytes, file->name), s.chips, chip, opt));
    };
    const json core = core_run("ascend-310p");

    ui::RobotPanelReport plain;
    ui::update_robot(s, plain);  // starts the job and returns at once
    BOOST_TEST(plain.busy());
    BOOST_TEST(!plain.computed);
    BOOST_TEST(!plain.job.has_result);
    finish_robot(s, plain);
    BOOST_TEST_REQUIRE(plain.job.stage == "done");
    BOOST_TEST_REQUIRE(plain.computed);
    BOOST_TEST(plain.job.threaded);
    BOOST_TEST(plain.job.ui_thread_steps == 0);
    BOOST_TEST(plain.job.ticks_total > 30000);  // the whole run's control ticks (1 kHz, ~40 s)
    BOOST_TEST(plain.job.ticks_done == plain.job.ticks_total);
    BOOST_TEST(plain.computations == 1);
    BOOST_TEST(cell_digest(plain.run) == core);

    // Cancel mid-run: the report stays "cancelled", nothing of the cancelled run is taken.
    ui::RobotPanelReport r;
    ui::update_robot(s, r);
    for (int i = 0; i < 60000 && r.busy() && r.job.ticks_done == 0; ++i) {  // until the cell is simulating
        ++s.frame;
        ui::update_robot(s, r);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    BOOST_TEST_REQUIRE(r.busy());
    BOOST_TEST(r.job.ticks_done < r.job.ticks_total);
    ui::cancel_robot(r);
    BOOST_TEST(r.job.stage == "cancelled");
    BOOST_TEST(!r.busy());
    BOOST_TEST(r.job.retired.size() == 1u);
    for (int i = 0; i < 60000 && !r.job.retired.empty(); ++i) {
        ++s.frame;
        ui::update_robot(s, r);  // the same choice: no new job
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    BOOST_TEST(r.job.retired.empty());
    BOOST_TEST(r.job.stage == "cancelled");
    BOOST_TEST(!r.computed);
    BOOST_TEST(r.computations == 1);
    ui::restart_robot(r);
    finish_robot(s, r);
    BOOST_TEST_REQUIRE(r.job.stage == "done");
    BOOST_TEST(r.computations == 2);
    BOOST_TEST(cell_digest(r.run) == core);

    // Another chip: while the rerun goes on the previous result stays, marked as the previous chip's.
    s.selected_chip = "edge-npu-64tops";
    ++s.frame;
    ui::update_robot(s, r);
    BOOST_TEST(r.busy());
    BOOST_TEST(!r.computed);
    BOOST_TEST(r.job.has_result);
    BOOST_TEST(r.job.result_choice.chip == "ascend-310p");
    BOOST_TEST(cell_digest(r.run) == core);
    finish_robot(s, r);
    BOOST_TEST_REQUIRE(r.computed);
    BOOST_TEST(r.job.result_choice.chip == "edge-npu-64tops");
    BOOST_TEST(cell_digest(r.run) == core_run("edge-npu-64tops"));
    BOOST_TEST(cell_digest(r.run) != core);
}

// The Stack view and the robot lessons read the cell's result: drawn headlessly, the Stack view's
// robot box waits for the job and then shows the core run's verdict.
BOOST_AUTO_TEST_CASE(the_stack_view_waits_for_the_cell_job_and_shows_its_verdict) {
    AppState s = ui::make_app_state();
    BOOST_TEST_REQUIRE(ui::apply_scenario(s, "tab=stack&chip=edge-npu-64tops") == "");
    const json a = draw_frames(s, 3);  // draws while ui_busy (the cell job)
    BOOST_TEST(a["robot_panel"]["job"]["stage"] == "done");
    BOOST_TEST(a["robot_panel"]["job"]["threaded"] == true);
    const json& box = a["stack_panel"]["boxes"][2];
    BOOST_TEST(box["layer"] == "robot");
    BOOST_TEST(box["headline"] == (s.robot_report.run.report.pass() ? "cell PASS" : "cell FAIL"));
    BOOST_TEST(box["ok"] == s.robot_report.run.report.pass());
}

// The robot lesson's sweep (the cell on every chip, for "the lowest-power chip that passes") runs on
// a worker thread natively: drawn headlessly on that step, the UI thread runs no chip itself, and
// the rows are the core's sweep of the same scenario, chip by chip.
BOOST_AUTO_TEST_CASE(the_robot_lessons_cell_sweep_runs_on_a_worker_and_equals_the_cores_sweep) {
    AppState s = ui::make_app_state();
    size_t lesson = 0, step = 0;
    bool found = false;
    for (size_t i = 0; i < s.lesson.lessons.size() && !found; ++i)
        for (size_t k = 0; k < s.lesson.lessons[i].steps.size() && !found; ++k)
            if (s.lesson.lessons[i].steps[k].fact == "robot.lowest_power_chip_passing") lesson = i, step = k, found = true;
    BOOST_TEST_REQUIRE(found);
    BOOST_TEST_REQUIRE(ui::apply_scenario(s, "lesson=" + s.lesson.lessons[lesson].id + "&step=" + std::to_string(step)) == "");
    const json a = draw_frames(s, 3);  // draws while the robot job and the sweep run
    const json& sweep = a["lesson_panel"]["cell_sweep"];
    BOOST_TEST(sweep["rows"].get<size_t>() == s.chips.size());
    BOOST_TEST(sweep["threaded"] == true);
    BOOST_TEST(sweep["ui_thread_steps"] == 0);
    const std::vector<stacklab::lab::CellSweepRow> core = stacklab::lab::sweep_cell_chips(s.robot_report.scenario, s.chips);
    BOOST_TEST_REQUIRE(core.size() == s.lesson.cell_sweep.size());
    size_t passing = 0;
    for (size_t i = 0; i < core.size(); ++i) {
        const stacklab::lab::CellSweepRow &x = core[i], &y = s.lesson.cell_sweep[i];
        BOOST_TEST(x.chip == y.chip);
        BOOST_TEST(x.ran == y.ran, x.chip);
        BOOST_TEST(x.error == y.error, x.chip);
        BOOST_TEST(x.pass == y.pass, x.chip);
        BOOST_TEST(x.round_trip_max_ms == y.round_trip_max_ms, x.chip);
        BOOST_TEST(x.failed == y.failed, x.chip);
        passing += x.pass;
    }
    BOOST_TEST(passing >= 1u);                  // the question has an answer
    BOOST_TEST(passing < core.size());          // and a wrong one
}

// The browser's hashchange: a link opened over a view replaces it (what it leaves out goes back to
// the defaults, as in a new page); a link with a problem changes nothing and names the problem.
BOOST_AUTO_TEST_CASE(a_link_opened_over_a_view_replaces_it_and_a_bad_link_changes_nothing) {
    AppState s = ui::make_app_state();
    BOOST_TEST_REQUIRE(ui::apply_scenario(s, "tab=llm&chip=ascend-910b&batch=4&faults=outage@3.00") == "");
    BOOST_TEST(ui::apply_scenario_link(s, "tab=kernels&rows=8") == "");
    BOOST_TEST(ui::scenario_query(s) == "tab=kernels&rows=8");
    BOOST_TEST(s.robot_faults.added.empty());
    const std::string before = ui::scenario_query(s);
    const json kept = choices(s);
    const std::string e = ui::apply_scenario_link(s, "tab=robots&chip=nvidia-h100&rows=9");
    BOOST_TEST(e.find("tab \"robots\"") != std::string::npos, e);
    BOOST_TEST(s.scenario_error == e);
    BOOST_TEST(ui::scenario_query(s) == before);  // not even the valid chip= and rows= applied
    BOOST_TEST(choices(s) == kept);
    // A good link shows what a new page opened on it shows, and clears the banner.
    const std::string link = "tab=robot&chip=ascend-310p&cell=pcb-cell-slower-chip&t=9.5&faults=person@8.00";
    AppState fresh = ui::make_app_state();
    BOOST_TEST_REQUIRE(ui::apply_scenario(fresh, link) == "");
    BOOST_TEST(ui::apply_scenario_link(s, link) == "");
    BOOST_TEST(s.scenario_error == "");
    BOOST_TEST(choices(s) == choices(fresh));
    BOOST_TEST(ui::scenario_query(s) == ui::scenario_query(fresh));
}

// WCAG 2.1 relative luminance and contrast ratio of two [r, g, b, a] colours.
double luminance(const json& c) {
    double l[3];
    for (int i = 0; i < 3; ++i) {
        const double v = c[size_t(i)].get<double>() / 255.0;
        l[i] = v <= 0.03928 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
    }
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
}
double contrast(const json& a, const json& b) {
    const double x = luminance(a), y = luminance(b);
    return (std::max(x, y) + 0.05) / (std::min(x, y) + 0.05);
}

// The graph view's canvas follows the theme (it drew Netron's dark palette in both before): in each
// theme its text, secondary text and quantization lines read on its boxes (WCAG AA, 4.5:1), and the
// light theme's canvas is light.
BOOST_AUTO_TEST_CASE(the_graph_view_canvas_follows_the_theme_with_readable_text) {
    json palettes;
    for (const bool dark : {true, false}) {
        AppState s = ui::make_app_state();
        BOOST_TEST_REQUIRE(ui::apply_scenario(s, "tab=models&model=fashion_cnn&view=graph") == "");
        s.dark_theme = dark;
        const json r = draw_frames(s, 3);
        const json& g = r["models_panel"]["graph_view"];
        BOOST_TEST_REQUIRE(g["open"] == true);
        BOOST_TEST(g["boxes_visible"].get<int>() > 0);
        const json& p = g["palette"];
        BOOST_TEST(p["theme"] == (dark ? "dark" : "light"));
        BOOST_TEST(r["dark_theme"] == dark);
        for (const char* fg : {"text", "dim", "quant"}) {
            BOOST_TEST(contrast(p[fg], p["box"]) >= 4.5, fg << " on box, " << p["theme"]);
            BOOST_TEST(contrast(p[fg], p["pill"]) >= 4.5, fg << " on pill, " << p["theme"]);
        }
        palettes[dark ? "dark" : "light"] = p;
    }
    BOOST_TEST(luminance(palettes["light"]["canvas"]) > 0.8);
    BOOST_TEST(luminance(palettes["dark"]["canvas"]) < 0.05);
}

// The panels' status colours (pass, fail, warning, error banners) were chosen for the dark theme;
// in the light one they are darkened to read (4.5:1 against the window), in the dark one unchanged.
BOOST_AUTO_TEST_CASE(status_colours_read_in_the_light_theme_and_stay_as_chosen_in_the_dark_one) {
    AppState s = ui::make_app_state();
    s.dark_theme = false;
    Headless h(s);  // setup_ui applies the theme
    const ImVec4 colours[] = {ImVec4(0.45f, 0.85f, 0.5f, 1.0f), ImVec4(1.0f, 0.45f, 0.45f, 1.0f), ImVec4(0.95f, 0.7f, 0.3f, 1.0f),
                              ImVec4(1.0f, 0.35f, 0.35f, 1.0f)};
    ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
    for (const ImVec4& c : colours) {
        BOOST_TEST(ui::contrast_ratio(c, bg) < 4.5);  // unreadable as they were on the light background
        const ImVec4 t = ui::on_theme(c);
        BOOST_TEST(ui::contrast_ratio(t, bg) >= 4.5);
        BOOST_TEST(t.x <= c.x);  // darker, same hue (one factor on every channel)
        BOOST_TEST(std::abs(t.x * c.y - t.y * c.x) < 1e-5f);
    }
    const unsigned int green = IM_COL32(110, 215, 130, 255);
    BOOST_TEST(ui::contrast_ratio(ImGui::ColorConvertU32ToFloat4(ui::on_theme(green)), bg) >= 4.4);  // 8-bit rounding
    s.dark_theme = true;
    ui::apply_theme(s);
    bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
    for (const ImVec4& c : colours) {
        const ImVec4 t = ui::on_theme(c);
        BOOST_TEST((t.x == c.x && t.y == c.y && t.z == c.z && t.w == c.w));
        BOOST_TEST(ui::contrast_ratio(c, bg) >= 4.5);  // and they read there already
    }
}

BOOST_AUTO_TEST_CASE(the_json_document_round_trips_and_replaces_the_scenario_it_is_loaded_over) {
    for (const auto& [name, q] : varied_queries()) {
        BOOST_TEST_CONTEXT(name) {
            AppState s = ui::make_app_state();
            ui::apply_scenario(s, q);
            const json doc = ui::scenario_json(s);
            BOOST_TEST(doc["stacklab_scenario"] == 1);
            // Over a state showing something else: keys the document leaves out go back to their defaults.
            AppState t = ui::make_app_state();
            ui::apply_scenario(t, "tab=kernels&chip2=nvidia-h100&faults=outage@3.00&rows=5&lesson=robot-cell-chip&tamper=1");
            BOOST_TEST(ui::apply_scenario_json(t, doc.dump(2), "saved.json") == "");
            BOOST_TEST(choices(t).dump() == choices(s).dump());
            BOOST_TEST(ui::scenario_query(t) == ui::scenario_query(s));
        }
    }
    AppState s = ui::make_app_state();
    ui::apply_scenario(s, "tab=llm&batch=4&int8kv=1&link=112.5&fuse=0&t=9.5");
    BOOST_TEST(ui::scenario_json(s).dump() ==
               R"({"batch":4,"fuse":false,"int8kv":true,"link":112.5,"stacklab_scenario":1,"t":9.5,"tab":"llm"})");
}

BOOST_AUTO_TEST_CASE(malformed_json_names_the_file_and_position_and_keeps_the_state) {
    AppState s = ui::make_app_state();
    ui::apply_scenario(s, "tab=robot&chip=ascend-310p");
    const std::string before = ui::scenario_query(s);
    const std::string e = ui::apply_scenario_json(s, "{\n  \"stacklab_scenario\": 1,\n  \"chip\": \n}", "scenes/bad.json");
    BOOST_TEST(e.rfind("Scenario file scenes/bad.json: malformed JSON at line 4, column 1 (byte ", 0) == 0, e);
    BOOST_TEST(s.scenario_error == e);
    BOOST_TEST(ui::scenario_query(s) == before);
    const std::string empty = ui::apply_scenario_json(s, "", "empty.json");
    BOOST_TEST(empty.find("empty.json: malformed JSON at line 1, column 1") != std::string::npos, empty);
    BOOST_TEST(ui::scenario_query(s) == before);
}

BOOST_AUTO_TEST_CASE(a_missing_or_unknown_version_is_refused_as_outdated_and_nothing_applies) {
    AppState s = ui::make_app_state();
    const std::string v2 = ui::apply_scenario_json(s, R"({"stacklab_scenario": 2, "chip": "nvidia-h100"})", "new.json");
    BOOST_TEST(v2 == "Scenario file new.json: scenario version 2 is outdated or unknown (this StackLab reads version 1); nothing applied");
    const std::string v0 = ui::apply_scenario_json(s, R"({"stacklab_scenario": "1", "chip": "nvidia-h100"})", "old.json");
    BOOST_TEST(v0.find("old.json: scenario version \"1\" is outdated or unknown") != std::string::npos, v0);
    const std::string none = ui::apply_scenario_json(s, R"({"chip": "nvidia-h100"})", "other.json");
    BOOST_TEST(none == "Scenario file other.json: not a scenario: no \"stacklab_scenario\" version field");
    const std::string arr = ui::apply_scenario_json(s, "[1, 2]", "list.json");
    BOOST_TEST(arr == "Scenario file list.json: not a scenario: the document is an array, not an object");
    BOOST_TEST(ui::scenario_query(s) == "");
}

BOOST_AUTO_TEST_CASE(wrong_types_unknown_keys_and_bad_values_are_named_and_the_rest_applies) {
    AppState s = ui::make_app_state();
    const std::string e = ui::apply_scenario_json(
        s, R"({"stacklab_scenario": 1, "batch": "4", "fuse": 1, "chip": "nvidia-h100", "colour": "red", "llm": "gpt-9",
              "t": "soon", "tab": "llm", "seed": 2.5})", "mixed.json");
    BOOST_TEST(e.rfind("Scenario file mixed.json: ", 0) == 0, e);
    for (const char* part : {"\"batch\" must be a whole number, not a string", "\"fuse\" must be true or false, not a whole number",
                             "\"t\" must be a number, not a string", "\"seed\" must be a whole number, not a number",
                             "no LLM \"gpt-9\"", "unknown key \"colour\""})
        BOOST_TEST(e.find(part) != std::string::npos, part << " in " << e);
    BOOST_TEST(ui::scenario_query(s) == "tab=llm&chip=nvidia-h100");
}

BOOST_AUTO_TEST_SUITE_END()
