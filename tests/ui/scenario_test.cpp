// The scenario round trip (ui/scenario.cpp): scenario_query is the inverse of apply_scenario, the
// JSON document the inverse of apply_scenario_json, and a bad document is named and kept out. The
// "same view" cases draw both states headlessly with Dear ImGui (no window, no GL: ImGui builds its
// draw lists without a renderer) and compare what ui_report_json says each frame showed.
#define BOOST_TEST_MODULE stacklab_ui
#include <boost/test/included/unit_test.hpp>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <imgui.h>
#include <nlohmann/json.hpp>

#include "ui/app.hpp"

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

// A window-less ImGui context drawing one state, with a mouse that can click where the UI drew a widget.
struct Headless {
    ImGuiContext* ctx;
    AppState& state;
    explicit Headless(AppState& s) : ctx(ImGui::CreateContext()), state(s) {
        ui::setup_ui(state, 1.0f);
        ImGuiIO& io = ImGui::GetIO();
        io.DisplaySize = ImVec2(1440, 900);
        io.DeltaTime = 1.0f / 60.0f;
        unsigned char* pixels = nullptr;
        int w = 0, h = 0;
        io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
    }
    ~Headless() { ImGui::DestroyContext(ctx); }
    void frame(ImVec2 mouse = ImVec2(-1e6f, -1e6f), bool down = false) {
        ImGui::GetIO().MousePos = mouse;
        ImGui::GetIO().MouseDown[0] = down;
        ImGui::NewFrame();
        ui::draw_app(state);
        ImGui::Render();
    }
    // Hover, press, release: a click as ImGui sees one, over three frames.
    void click(const std::string& share_button) {
        frame();  // where the button is now (a banner that appeared last frame moves the sidebar down)
        ui::Rect r;
        for (const auto& [name, rect] : state.layout.share_buttons)
            if (name == share_button) r = rect;
        BOOST_TEST_REQUIRE(r.w > 0, share_button << " was not drawn");
        const ImVec2 at(r.x + r.w / 2, r.y + r.h / 2);
        frame(at, false);
        frame(at, true);
        frame(at, false);
    }
};

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
    h.click("save");
    BOOST_TEST(s.share.status == "Saved stacklab-scenario.json");
    BOOST_TEST(files.at("stacklab-scenario.json") == ui::scenario_json(s).dump(2) + "\n");
    BOOST_TEST(json::parse(files.at("stacklab-scenario.json")).dump() == R"({"batch":4,"stacklab_scenario":1,"tab":"llm"})");
    // Elsewhere, then back through "Load scenario".
    ui::apply_scenario(s, "tab=kernels&rows=5&chip2=nvidia-h100");
    h.frame();
    h.click("load");
    h.frame();
    BOOST_TEST(s.scenario_error == "");
    BOOST_TEST(ui::scenario_query(s) == "tab=llm&batch=4");
    BOOST_TEST(s.active_tab == "LLM serving");
    // A damaged file: the banner names it and where it broke; the view stays.
    files["stacklab-scenario.json"] = "{\"stacklab_scenario\": 1, \"tab\": llm}";
    h.click("load");
    BOOST_TEST(s.scenario_error.rfind("Scenario file stacklab-scenario.json: malformed JSON at line 1, column 33", 0) == 0, s.scenario_error);
    BOOST_TEST(s.share.status_error);
    BOOST_TEST(ui::scenario_query(s) == "tab=llm&batch=4");
    s.share.path = "missing.json";
    h.click("load");
    BOOST_TEST(s.scenario_error == "Scenario file missing.json: cannot open missing.json");
    s.share.path = "";
    h.click("save");
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
            BOOST_TEST(a["robot_panel"].dump() == b["robot_panel"].dump());
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
