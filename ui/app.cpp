#include "ui/app.hpp"
#include "ui/charts.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <imgui.h>
#include <nlohmann/json.hpp>

#include "ui/fonts.hpp"

namespace stacklab::ui {

AppState make_app_state() {
    AppState state;
    try {
        state.chips = chip::load_catalog(chip::bundled_catalog_files());
        if (!state.chips.empty()) state.selected_chip = state.chips.front().id;
        state.llms = chip::bundled_llms();
        for (size_t i = 0; i < state.llms.size(); ++i)
            if (state.llms[i].id == "qwen2.5-7b") state.llm_choice.llm = int(i);
        const auto cells = bundled_cell_ids();
        if (!cells.empty()) state.robot_cell = cells.front();
        const auto deployments = bundled_deployment_ids();
        if (!deployments.empty()) state.deployment = deployments.front();
        const auto classifiers = bundled_classifier_ids();
        if (!classifiers.empty()) state.models_choice.model = classifiers.front();
    } catch (const std::exception& e) {
        state.load_error = e.what();
    }
    try {  // apart from the catalog: a bad lesson costs the lessons, not the app
        state.lesson.lessons = lab::bundled_lessons();
    } catch (const std::exception& e) {
        state.lesson.load_error = e.what();
    }
    state.scenario_defaults = scenario_items(state);
    return state;
}

std::string apply_scenario(AppState& state, const std::string& query) {
    std::string errors;
    auto problem = [&](const std::string& p) { errors += (errors.empty() ? "" : "; ") + p; };
    size_t start = 0;
    std::string q = query;
    if (!q.empty() && q[0] == '#') q.erase(0, 1);
    while (start < q.size()) {
        size_t end = q.find('&', start);
        if (end == std::string::npos) end = q.size();
        const std::string part = q.substr(start, end - start);
        start = end + 1;
        if (part.empty()) continue;
        const size_t eq = part.find('=');
        if (eq == std::string::npos) {
            problem("\"" + part + "\" is not key=value");
            continue;
        }
        const std::string key = part.substr(0, eq), value = part.substr(eq + 1);
        auto whole = [&](long lo, long hi, int& out) {
            char* endp = nullptr;
            const long n = std::strtol(value.c_str(), &endp, 10);
            if (!value.empty() && *endp == '\0' && n >= lo && n <= hi) out = int(n);
            else problem(key + " \"" + value + "\" is not a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        };
        if (key == "lesson") {
            const std::string e = start_lesson(state, value);
            if (!e.empty()) problem(e);
        } else if (key == "step") {  // after lesson=ID: the step to open (0 = the first)
            const int steps = state.lesson.active >= 0 ? int(state.lesson.lessons[size_t(state.lesson.active)].steps.size()) : 0;
            int n = -1;
            if (steps == 0) problem("step needs a lesson=ID before it");
            else whole(0, steps - 1, n);
            if (n >= 0) go_to_step(state, n);
        } else if (key == "tab") {
            if (value == "chips") state.requested_tab = "Chips";
            else if (value == "llm") state.requested_tab = "LLM serving";
            else if (value == "models") state.requested_tab = "Models";
            else if (value == "kernels") state.requested_tab = "Kernels";
            else if (value == "systolic") state.requested_tab = "Systolic";
            else if (value == "robot") state.requested_tab = "Robot";
            else if (value == "certify") state.requested_tab = "Certify";
            else if (value == "stack") state.requested_tab = "Stack";
            else problem("tab \"" + value + "\" is not stack, chips, llm, models, kernels, systolic, robot or certify");
        } else if (key == "recipe") {  // the Models tab's recipe (quant= also takes it)
            const auto recipes = nn::quant_recipe_names();
            if (std::find(recipes.begin(), recipes.end(), value) != recipes.end()) state.models_choice.recipe = value;
            else problem("recipe \"" + value + "\" is not fp32, int8, int8-pertensor, w4a8, w4g32a8, w4g32, w8 or mixed");
        } else if (key == "int8kv") {
            if (value == "0" || value == "1") state.llm_choice.int8_kv = value == "1";
            else problem("int8kv \"" + value + "\" is not 0 or 1");
        } else if (key == "prompt") {  // the LLM panel's bounds (ui/llm_panel.cpp)
            whole(1, 131072, state.llm_choice.prompt);
        } else if (key == "output") {
            whole(1, 16384, state.llm_choice.output);
        } else if (key == "tp") {
            whole(1, 64, state.llm_choice.chips);
        } else if (key == "link") {
            char* endp = nullptr;
            const double d = std::strtod(value.c_str(), &endp);
            if (!value.empty() && *endp == '\0' && d >= 1 && d <= 10000) state.llm_choice.link_gbps = float(d);
            else problem("link \"" + value + "\" is not a link speed in [1, 10000] GB/s");
        } else if (key == "model") {
            const auto ids = model_ids(state);
            if (std::find(ids.begin(), ids.end(), value) != ids.end()) state.models_choice.model = value;
            else problem("no shipped or loaded classifier \"" + value + "\"");
        } else if (key == "view") {
            if (value == "graph" || value == "evaluation") state.graph_view.open = value == "graph";
            else problem("view \"" + value + "\" is not graph or evaluation");
        } else if (key == "graph") {
            if (value == "fp32" || value == "quant") state.graph_view.quantized = value == "quant";
            else problem("graph \"" + value + "\" is not fp32 or quant");
        } else if (key == "calib") {
            try {
                state.models_choice.calibration = int(nn::parse_calibration(value));
            } catch (const std::invalid_argument&) {
                problem("calib \"" + value + "\" is not minmax, percentile or mse");
            }
        } else if (key == "fuse") {
            if (value == "0" || value == "1") state.models_choice.fuse = value == "1";
            else problem("fuse \"" + value + "\" is not 0 or 1");
        } else if (key == "deployment") {
            const auto ids = bundled_deployment_ids();
            if (std::find(ids.begin(), ids.end(), value) != ids.end()) state.deployment = value;
            else problem("no bundled deployment \"" + value + "\"");
        } else if (key == "tamper") {
            if (value == "0" || value == "1") state.tamper_requested = value == "1";
            else problem("tamper \"" + value + "\" is not 0 or 1");
        } else if (key == "tier") {
            if (value == "0" || value == "1" || value == "2" || value == "3") state.certify_tier = value[0] - '0';
            else problem("tier \"" + value + "\" is not 0 (the manifest's), 1, 2 or 3");
        } else if (key == "packs") {
            const std::string e = parse_packs_query(value, state.certify_packs);
            if (!e.empty()) problem(e);
        } else if (key == "cell") {
            const auto cells = bundled_cell_ids();
            if (std::find(cells.begin(), cells.end(), value) != cells.end()) state.robot_cell = value;
            else problem("no bundled cell scenario \"" + value + "\"");
        } else if (key == "faults") {
            const std::string e = parse_faults_query(value, state.robot_faults);
            if (!e.empty()) problem(e);
        } else if (key == "gemm") {
            // D1..D4 (decode), P1..P4 (prefill): the layer GEMMs as the chips panel numbers them;
            // model: the Models tab's model, whole.
            if (value.size() == 2 && (value[0] == 'D' || value[0] == 'P') && value[1] >= '1' && value[1] <= '4') {
                state.tile_gemm = (value[0] == 'P' ? 4 : 0) + (value[1] - '1');
                state.tile_source = 0;
                state.open_tile_view = true;
            } else if (value == "model" || value == "model-quant") {
                state.tile_source = value == "model" ? 1 : 2;
                state.open_tile_view = true;
            } else {
                problem("gemm \"" + value + "\" is not D1..D4, P1..P4, model or model-quant");
            }
        } else if (key == "tilebatch") {  // the tile view's batch for the Models tab's model
            whole(1, 4096, state.tile_batch);
        } else if (key == "t") {
            char* endp = nullptr;
            const double d = std::strtod(value.c_str(), &endp);
            if (!value.empty() && *endp == '\0' && std::isfinite(d) && d >= 0) state.robot_report.view_t_s = d;
            else problem("t \"" + value + "\" is not a time >= 0 in seconds");
        } else if (key == "array") {
            const size_t x = value.find('x');
            int r = 0, c = 0;
            auto dim = [](const std::string& t, int& out) {
                char* endp = nullptr;
                const long n = std::strtol(t.c_str(), &endp, 10);
                if (t.empty() || *endp != '\0' || n < 1 || n > kMaxSystolicDim) return false;
                out = int(n);
                return true;
            };
            if (x != std::string::npos && dim(value.substr(0, x), r) && dim(value.substr(x + 1), c)) {
                state.systolic_choice.array_rows = r;
                state.systolic_choice.array_cols = c;
            } else {
                problem("array \"" + value + "\" is not ROWSxCOLS with each in [1, " + std::to_string(kMaxSystolicDim) + "]");
            }
        } else if (key == "dataflow") {
            if (value == "os") state.systolic_choice.dataflow = 0;
            else if (value == "ws") state.systolic_choice.dataflow = 1;
            else if (value == "is") state.systolic_choice.dataflow = 2;
            else problem("dataflow \"" + value + "\" is not os, ws or is");
        } else if (key == "chip2") {
            const bool known = value.empty() || std::any_of(state.chips.begin(), state.chips.end(), [&](const chip::ChipSpec& c) { return c.id == value; });
            if (known) state.compare_chip = value;
            else problem("no chip \"" + value + "\"");
        } else if (key == "dtype") {
            if (value == "int8") state.roofline_dtype = 0;
            else if (value == "fp16") state.roofline_dtype = 1;
            else if (value == "bf16") state.roofline_dtype = 2;
            else problem("dtype \"" + value + "\" is not int8, fp16 or bf16");
        } else if (key == "variance") {
            try {
                state.kernels_choice.variance = int(quant::parse_variance_method(value));
            } catch (const std::invalid_argument&) {
                problem("variance \"" + value + "\" is not two-pass, single-pass or welford");
            }
        } else if (key == "gelu") {
            try {
                state.kernels_choice.gelu = int(quant::parse_gelu_form(value));
            } catch (const std::invalid_argument&) {
                problem("gelu \"" + value + "\" is not erf or tanh");
            }
        } else if (key == "fp16") {
            if (value == "0" || value == "1") state.kernels_choice.fp16 = value == "1";
            else problem("fp16 \"" + value + "\" is not 0 or 1");
        } else if (key == "offset") {
            char* endp = nullptr;
            const double d = std::strtod(value.c_str(), &endp);
            if (!value.empty() && *endp == '\0' && std::isfinite(d) && std::fabs(d) <= kMaxDriftOffset)
                state.kernels_choice.offset = float(d);
            else problem("offset \"" + value + "\" is not a number with |X| <= 1e6");
        } else if (key == "rows") {
            whole(1, kMaxDriftRows, state.kernels_choice.rows);
        } else if (key == "cols") {
            whole(1, kMaxDriftCols, state.kernels_choice.cols);
        } else if (key == "seed") {
            whole(0, 2147483647L, state.kernels_choice.seed);
        } else if (key == "chip") {
            const bool known = std::any_of(state.chips.begin(), state.chips.end(), [&](const chip::ChipSpec& c) { return c.id == value; });
            if (known) state.selected_chip = value;
            else problem("no chip \"" + value + "\"");
        } else if (key == "llm") {
            auto it = std::find_if(state.llms.begin(), state.llms.end(), [&](const chip::LlmShape& s) { return s.id == value; });
            if (it != state.llms.end()) state.llm_choice.llm = int(it - state.llms.begin());
            else problem("no LLM \"" + value + "\"");
        } else if (key == "quant") {
            const auto& names = llm_quant_names();
            auto it = std::find(names.begin(), names.end(), value);
            const auto recipes = nn::quant_recipe_names();
            if (it != names.end()) state.llm_choice.quant = int(it - names.begin());
            else if (std::find(recipes.begin(), recipes.end(), value) != recipes.end()) state.models_choice.recipe = value;
            else problem("quantization \"" + value + "\" is not one of w16a16, w8a8, w8a16, w6a16, w4a16 (LLM) or " +
                         "fp32, int8, int8-pertensor, w4a8, w4g32a8, w4g32, w8, mixed (Models)");
        } else if (key == "batch") {
            char* endp = nullptr;
            const long b = std::strtol(value.c_str(), &endp, 10);
            if (!value.empty() && *endp == '\0' && b >= 1 && b <= 4096) state.llm_choice.batch = int(b);
            else problem("batch \"" + value + "\" is not a whole number in [1, 4096]");
        } else {
            problem("unknown scenario key \"" + key + "\"");
        }
    }
    state.scenario_error = errors.empty() ? "" : "Scenario: " + errors;
    return state.scenario_error;
}

void apply_theme(const AppState& state) {
    ImGuiStyle& style = ImGui::GetStyle();
    style = ImGuiStyle();
    if (state.dark_theme)
        ImGui::StyleColorsDark(&style);
    else
        ImGui::StyleColorsLight(&style);
    style.WindowRounding = 0.0f;
    style.FrameRounding = 3.0f;
    style.ScaleAllSizes(state.dpi_scale);
}

void setup_ui(AppState& state, float dpi_scale) {
    state.dpi_scale = dpi_scale > 0.5f ? dpi_scale : 1.0f;
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;  // the layout is ours; no imgui.ini next to the binary or in the browser
    const auto& fonts = embedded_fonts();
    if (!fonts.empty()) {
        ImFontConfig cfg;
        cfg.FontDataOwnedByAtlas = false;  // the bytes live in the binary
        void* data = const_cast<char*>(fonts.front().bytes.data());
        io.Fonts->AddFontFromMemoryTTF(data, int(fonts.front().bytes.size()), 16.0f * state.dpi_scale, &cfg);
    }
    apply_theme(state);
}

namespace {

Rect last_item_rect() {
    const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
    return Rect{a.x, a.y, b.x - a.x, b.y - a.y};
}

void draw_sidebar(AppState& state) {
    draw_lesson_sidebar(state);
    ImGui::TextDisabled("SCENARIO");
    ImGui::Separator();
    ImGui::BeginDisabled(lesson_hides(state, "chip"));  // a lesson step greys out what it fixes
    ImGui::Text("Chip");
    ImGui::SetNextItemWidth(-1);
    std::string preview = state.selected_chip;
    for (const auto& c : state.chips)
        if (c.id == state.selected_chip) preview = c.name;
    state.layout.chip_items.clear();
    const bool chip_open = ImGui::BeginCombo("##chip", preview.c_str());
    state.layout.chip_combo = last_item_rect();
    if (chip_open) {
        for (const auto& c : state.chips) {
            bool selected = c.id == state.selected_chip;
            if (ImGui::Selectable(c.name.c_str(), selected)) state.selected_chip = c.id;
            if (ImGui::IsItemVisible()) state.layout.chip_items.emplace_back(c.id, last_item_rect());
            if (selected) ImGui::SetItemDefaultFocus();
        }
        ImGui::EndCombo();
    }
    ImGui::EndDisabled();
    if (!state.llms.empty()) {
        ImGui::Spacing();
        ImGui::Text("LLM");
        ImGui::SetNextItemWidth(-1);
        LlmChoice& ch = state.llm_choice;
        ch.llm = std::clamp(ch.llm, 0, int(state.llms.size()) - 1);
        ImGui::BeginDisabled(lesson_hides(state, "llm"));
        if (ImGui::BeginCombo("##llm", state.llms[size_t(ch.llm)].name.c_str())) {
            for (size_t i = 0; i < state.llms.size(); ++i)
                if (ImGui::Selectable(state.llms[i].name.c_str(), int(i) == ch.llm)) ch.llm = int(i);
            ImGui::EndCombo();
        }
        ImGui::EndDisabled();
        ImGui::BeginDisabled(lesson_hides(state, "quant"));
        ImGui::Text("Quantization");
        ImGui::SetNextItemWidth(-1);
        const auto& qn = llm_quant_names();
        if (ImGui::BeginCombo("##quant", qn[size_t(ch.quant)].c_str())) {
            for (size_t i = 0; i < qn.size(); ++i)
                if (ImGui::Selectable(qn[i].c_str(), int(i) == ch.quant)) ch.quant = int(i);
            ImGui::EndCombo();
        }
        ImGui::EndDisabled();
        ImGui::BeginDisabled(lesson_hides(state, "kv"));
        ImGui::Checkbox("int8 KV cache", &ch.int8_kv);
        ImGui::EndDisabled();
    }
    draw_share_sidebar(state);
    ImGui::Spacing();
    ImGui::Separator();
    if (ImGui::Checkbox("Dark theme", &state.dark_theme)) apply_theme(state);
    state.layout.theme_checkbox = last_item_rect();
    ImGui::Spacing();
    ImGui::TextWrapped("StackLab: chip -> model -> robot -> policy. Pick a chip; every number "
                       "shows where it comes from.");
}

}  // namespace

void draw_app(AppState& state) {
    ++state.frame;
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(vp->WorkPos);
    ImGui::SetNextWindowSize(vp->WorkSize);
    const ImGuiWindowFlags flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                                   ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus;
    ImGui::Begin("StackLab", nullptr, flags);

    if (!state.load_error.empty() || !state.scenario_error.empty() || !state.user_model_error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.35f, 0.35f, 1.0f)));
        if (!state.load_error.empty()) ImGui::TextWrapped("Chip catalog did not load: %s", state.load_error.c_str());
        if (!state.scenario_error.empty()) ImGui::TextWrapped("%s", state.scenario_error.c_str());
        if (!state.user_model_error.empty()) ImGui::TextWrapped("%s", state.user_model_error.c_str());
        ImGui::PopStyleColor();
    }

    // Wider during a lesson: the sidebar carries the step's text.
    const float sidebar_w = (state.lesson.active >= 0 ? 330.0f : 240.0f) * state.dpi_scale;
    ImGui::BeginChild("sidebar", ImVec2(sidebar_w, 0), true);
    draw_sidebar(state);
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginChild("panels", ImVec2(0, 0), false);
    state.layout.tabs.clear();
    if (ImGui::BeginTabBar("tabs")) {
        struct Tab {
            const char* name;
            void (*draw)(AppState&);
        };
        for (const Tab& tab : {Tab{"Stack", draw_stack_panel}, Tab{"Chips", draw_chips_panel}, Tab{"LLM serving", draw_llm_panel},
                               Tab{"Models", draw_models_panel},
                               Tab{"Kernels", draw_kernels_panel}, Tab{"Systolic", draw_systolic_panel}, Tab{"Robot", draw_robot_panel},
                               Tab{"Certify", draw_certify_panel}}) {
            const ImGuiTabItemFlags f = state.requested_tab == tab.name ? ImGuiTabItemFlags_SetSelected : 0;
            const bool open = ImGui::BeginTabItem(tab.name, nullptr, f);
            state.layout.tabs.emplace_back(tab.name, last_item_rect());  // the tab itself: its content comes after
            if (open) {
                state.active_tab = tab.name;
                tab.draw(state);
                ImGui::EndTabItem();
            }
        }
        state.requested_tab.clear();
        ImGui::EndTabBar();
    }
    // An evaluation started in the Models tab goes on while another tab is open.
    if (state.active_tab != "Models" && state.models_report.busy())
        update_models(state.models_choice, state.models_report, 8.0, state.user_models);
    // So does a cell run started in the Robot or Stack tab.
    if (state.robot_report.busy()) update_robot(state, state.robot_report);
    if (state.active_tab != "Certify" && state.certify_report.busy()) advance_certify(state, state.certify_report);
    ImGui::EndChild();
    ImGui::End();
}

std::string ui_report_json(const AppState& state) {
    nlohmann::json j;
    j["frame"] = state.frame;
    j["load_error"] = state.load_error;
    j["selected_chip"] = state.selected_chip;
    nlohmann::json headers = nlohmann::json::array();
    for (const auto& h : state.chips_report.headers)
        headers.push_back({{"key", h.key}, {"x", h.x}, {"y", h.y}, {"w", h.w}, {"h", h.h}});
    j["active_tab"] = state.active_tab;
    j["scenario_error"] = state.scenario_error;
    j["scenario"] = scenario_query(state);
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : state.llm_report.rows) {
        nlohmann::json row = {{"chip", r.chip}, {"ok", r.ok}};
        if (r.ok)
            row.update({{"ttft_ms", r.ttft_ms}, {"decode_ms_per_token", r.decode_ms_per_token},
                        {"tokens_per_s", r.tokens_per_s}, {"fits", r.fits}, {"bound", r.bound}});
        else
            row["error"] = r.error;
        rows.push_back(row);
    }
    j["llm_panel"] = {{"llm", state.llm_report.llm}, {"quant", state.llm_report.quant},
                      {"chips", state.llm_report.chips}, {"rows", rows}};
    auto rect = [](const Rect& r) { return nlohmann::json{{"x", r.x}, {"y", r.y}, {"w", r.w}, {"h", r.h}}; };
    const ChipsPanelReport& cr = state.chips_report;
    nlohmann::json roof_ops = nlohmann::json::array();
    for (const auto& o : cr.roofline_ops)
        roof_ops.push_back({{"chip", o.chip}, {"name", o.name}, {"m", o.m}, {"n", o.n}, {"k", o.k},
                            {"intensity", o.intensity}, {"time_us", o.time_us}, {"ops_per_s", o.ops_per_s},
                            {"bound", o.bound}});
    j["compare_chip"] = state.compare_chip;
    j["chips_panel"] = {{"rows_drawn", cr.rows_drawn},
                        {"headers", headers},
                        {"sorted_by", cr.sorted_by},
                        {"ascending", cr.ascending},
                        {"row_ids", cr.row_ids},
                        {"roofline", {{"dtype", cr.roofline_dtype}, {"llm", cr.roofline_llm},
                                      {"chips", cr.roofline_chips}, {"errors", cr.roofline_errors},
                                      {"ops", roof_ops}, {"rect", rect(cr.roofline_rect)}}}};
    const auto& ts = cr.tile_sim;
    if (ts.shown) {
        nlohmann::json util = nlohmann::json::object(), energy = nlohmann::json::object();
        for (const auto& [k, v] : ts.utilization) util[k] = v;
        for (const auto& [k, v] : ts.energy_parts_uj) energy[k] = v;
        j["chips_panel"]["tile_sim"] = {{"chip", ts.chip}, {"dtype", ts.dtype}, {"gemm", ts.gemm}, {"m", ts.m}, {"n", ts.n},
                                        {"k", ts.k}, {"error", ts.error}, {"computations", ts.computations},
                                        {"time_us", ts.time_us}, {"energy_uj", ts.energy_uj}, {"cores_used", ts.cores_used},
                                        {"events", ts.events}, {"dropped", ts.dropped}, {"gantt_rows", ts.gantt_rows},
                                        {"gantt_bars", ts.gantt_bars}, {"view_us", {ts.view_from_us, ts.view_to_us}},
                                        {"utilization", util}, {"energy_parts_uj", energy},
                                        {"hovered_event", ts.hovered_event}, {"tooltip", ts.tooltip},
                                        {"gantt_rect", rect(ts.gantt_rect)}, {"gantt_plot_rect", rect(ts.gantt_plot_rect)},
                                        {"util_rect", rect(ts.util_rect)},
                                        {"energy_rect", rect(ts.energy_rect)}, {"source", ts.source}};
        if (ts.source == "model") {
            nlohmann::json ops = nlohmann::json::array();
            for (const auto& o : ts.ops)
                ops.push_back({{"name", o.name}, {"op", o.op}, {"dtype", o.dtype.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.dtype)},
                               {"lowered", o.lowered}, {"fidelity_used", o.fidelity_used},
                               {"bound", o.bound.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.bound)},
                               {"start_us", o.start_us}, {"time_us", o.time_us}, {"offchip_bytes", o.offchip_bytes},
                               {"energy_uj", o.energy_uj}, {"events", o.events}});
            auto& t = j["chips_panel"]["tile_sim"];
            t["model"] = ts.model;
            t["graph"] = ts.graph;
            t["batch"] = ts.batch;
            t["offchip_bytes"] = ts.offchip_bytes;
            t["ops"] = ops;
            t["op_bands"] = ts.op_bands;
            t["hovered_op"] = ts.hovered_op;
            t["op_band_rect"] = rect(ts.op_band_rect);
            t["ops_table_rect"] = rect(ts.ops_table_rect);
        }
    }
    const KernelsPanelReport& kr = state.kernels_report;
    nlohmann::json kernels = {{"computed", kr.computed}, {"error", kr.error}, {"computations", kr.computations},
                              {"isas", kr.isas}, {"best_isa", kr.best_isa}, {"histogram_rect", rect(kr.histogram_rect)}};
    if (kr.computed) {
        const auto& d = kr.drift;
        const auto& labels = quant::drift_histogram_labels();
        nlohmann::json hist = nlohmann::json::array();
        for (size_t i = 0; i < labels.size(); ++i) hist.push_back({{"lsb", labels[i]}, {"count", d.lsb_histogram[i]}});
        kernels.update({{"variant", d.variant},
                        {"input", {{"rows", kr.choice.rows}, {"cols", kr.choice.cols}, {"seed", kr.choice.seed},
                                   {"offset", kr.choice.offset}}},
                        {"max_abs_error", d.max_abs_error},
                        {"mean_abs_error", d.mean_abs_error},
                        {"differing", d.differing},
                        {"max_abs_lsb", d.max_abs_lsb},
                        {"lsb_histogram", hist}});
    }
    j["kernels_panel"] = kernels;
    const SystolicPanelReport& sr = state.systolic_report;
    nlohmann::json sys_layers = nlohmann::json::array();
    for (const auto& l : sr.layers)
        sys_layers.push_back({{"layer_id", l.layer_id}, {"layer", l.layer}, {"total_cycles", l.total_cycles},
                              {"stall_cycles", l.stall_cycles}, {"overall_util_pct", l.overall_util_pct},
                              {"mapping_eff_pct", l.mapping_eff_pct}, {"compute_util_pct", l.compute_util_pct},
                              {"macs", l.macs}, {"folds", l.folds},
                              {"sram_reads", {{"ifmap", l.sram_ifmap_reads}, {"filter", l.sram_filter_reads}}},
                              {"sram_writes", {{"ofmap", l.sram_ofmap_writes}}},
                              {"dram_reads", {{"ifmap", l.dram_ifmap_reads}, {"filter", l.dram_filter_reads}}},
                              {"dram_writes", {{"ofmap", l.dram_ofmap_writes}}}});
    j["systolic_panel"] = {{"computed", sr.computed}, {"error", sr.error}, {"computations", sr.computations},
                           {"run_name", sr.run_name},
                           {"array", {sr.choice.array_rows, sr.choice.array_cols}},
                           {"dataflow", chip::dataflow_name(chip::Dataflow(std::clamp(sr.choice.dataflow, 0, 2)))},
                           {"layers", sys_layers}, {"util_rect", rect(sr.util_rect)}};
    const RobotPanelReport& rr = state.robot_report;
    nlohmann::json robot = {{"computed", rr.computed}, {"error", rr.error}, {"computations", rr.computations},
                            {"cell", rr.choice.cell}, {"chip", rr.choice.chip}, {"view_t_s", rr.view_t_s},
                            {"budget_rect", rect(rr.budget_rect)}, {"arm_rect", rect(rr.arm_rect)},
                            {"joints_rect", rect(rr.joints_rect)}};
    const RobotJobState& rj = rr.job;
    robot["job"] = {{"stage", rj.stage}, {"ticks_done", rj.ticks_done}, {"ticks_total", rj.ticks_total},
                    {"frames", rj.frames}, {"threaded", rj.threaded}, {"ui_thread_steps", rj.ui_thread_steps},
                    {"max_step_ms", rj.max_step_ms}, {"prepare_ms", rj.prepare_ms}, {"run_ms", rj.run_ms}, {"has_result", rj.has_result},
                    {"result_cell", rj.result_choice.cell}, {"result_chip", rj.result_choice.chip},
                    {"progress_rect", rect(rj.progress_rect)}, {"cancel_rect", rect(rj.cancel_rect)}};
    if (rr.computed) {
        const robot::CellReport& rep = rr.run.report;
        nlohmann::json verdicts = nlohmann::json::array(), stages = nlohmann::json::array(), log = nlohmann::json::array();
        for (const auto& v : rep.verdicts) verdicts.push_back({{"name", v.name}, {"pass", v.pass}, {"detail", v.detail}});
        for (const auto& st : rep.stages)
            stages.push_back({{"stage", st.stage}, {"max_ms", st.max_ms}, {"mean_ms", st.mean_ms}, {"budget_ms", st.budget_ms},
                              {"samples", st.samples}});
        for (const auto& e : rep.log) log.push_back({{"t_s", e.t_s}, {"rule", e.rule}, {"action", e.action}, {"inputs", e.inputs}});
        nlohmann::json pts = nlohmann::json::array();
        for (const auto& p : rr.view_points) pts.push_back({p[0], p[1], p[2]});
        robot.update({{"pass", rep.pass()}, {"inference_ms", rr.run.inference.total_ms}, {"verdicts", verdicts},
                      {"stages", stages}, {"log", log}, {"protective_stops", rep.protective_stops},
                      {"frames", {{"captured", rep.frames}, {"dropped", rep.frames_dropped}, {"lost", rep.frames_lost}}},
                      {"trace_samples", rep.trace.size()}, {"arm_points_m", pts}});
    }
    nlohmann::json faults = nlohmann::json::array(), buttons = nlohmann::json::array();
    for (const auto& f : rr.choice.faults.added)
        faults.push_back({{"kind", fault_kind_name(f.kind)}, {"at_s", f.at_s}, {"chip", f.chip}});
    for (const auto& b : rr.fault_buttons) buttons.push_back({{"kind", b.kind}, {"rect", rect(b.rect)}});
    robot.update({{"faults", faults}, {"file_faults", rr.choice.faults.file_faults}, {"faults_query", faults_query(rr.choice.faults)},
                  {"file_fault_lines", rr.file_faults}, {"fault_buttons", buttons}});
    j["robot_panel"] = robot;
    const CertifyPanelReport& cp = state.certify_report;
    nlohmann::json cert = {{"computed", cp.computed}, {"error", cp.error}, {"computations", cp.computations},
                           {"deployment", cp.deployment}, {"demo_key", true}, {"key_id", cp.key_id}};
    auto verify_json = [](const policy::VerifyResult& v) {
        return nlohmann::json{{"ok", v.ok}, {"reason", v.reason}, {"checks", v.checks}};
    };
    if (cp.computed) {
        nlohmann::json verdicts = nlohmann::json::array();
        for (const auto& v : cp.decision.verdicts)
            verdicts.push_back({{"pack", v.pack}, {"rule", v.rule}, {"clause", v.clause}, {"outcome", policy::outcome_name(v.outcome)},
                                {"severity", v.severity == policy::Severity::mandatory ? "mandatory" : "advisory"},
                                {"reasons", v.reasons}});
        cert.update({{"tier", cp.tier}, {"now", cp.now}, {"pass", cp.decision.pass}, {"summary", cp.decision.summary},
                     {"deciding_rules", cp.decision.deciding_rules}, {"warnings", cp.decision.warnings},
                     {"verdicts", verdicts}, {"certificate_sha256", cp.certificate_sha256},
                     {"certificate_bytes", cp.certificate.size()}, {"verify", verify_json(cp.verify)},
                     {"tampered", cp.tampered}});
        if (cp.tampered) cert.update({{"tampered_offset", cp.tampered_offset}, {"tampered_verify", verify_json(cp.tampered_verify)}});
    }
    cert.update(certify_report_extra(state));
    j["certify_panel"] = cert;
    nlohmann::json boxes = nlohmann::json::array();
    for (const auto& b : state.stack_report.boxes)
        boxes.push_back({{"layer", b.layer}, {"title", b.title}, {"headline", b.headline}, {"detail", b.detail}, {"ok", b.ok},
                         {"value", b.value}});
    const ModelsPanelReport& mr = state.models_report;
    auto db = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    nlohmann::json models = {{"model", mr.choice.model}, {"quant", mr.choice.recipe},
                             {"calibration", nn::calibration_name(nn::CalibrationMethod(std::clamp(mr.choice.calibration, 0, 2)))},
                             {"fused", mr.choice.fuse}, {"stage", mr.stage}, {"error", mr.error},
                             {"computations", mr.computations}, {"evaluated", mr.evaluated}, {"n", mr.n},
                             {"frames", mr.frames}, {"max_step_ms", mr.max_step_ms}, {"threaded", mr.threaded},
                             {"ui_thread_steps", mr.ui_thread_steps}, {"cancel_rect", rect(mr.cancel_rect)},
                             {"stage_ms", {{"quantize", mr.quantize_ms}, {"sqnr", mr.sqnr_ms}, {"eval", mr.eval_ms}}},
                             {"accuracy_rect", rect(mr.accuracy_rect)}, {"layers_rect", rect(mr.layers_rect)},
                             {"confusion_rect", rect(mr.confusion_rect)}, {"images_rect", rect(mr.images_rect)},
                             {"histogram_rect", rect(mr.histogram_rect)}, {"histogram_layer", mr.histogram_layer}};
    if (mr.done()) {
        // The fields and units of `stacklab eval --json` (native/cli_nn.cpp), so tests compare them as they are.
        nlohmann::json layers = nlohmann::json::array();
        for (const nn::LayerQuant& l : mr.quant.layers) {
            nlohmann::json lj = {{"name", l.name}, {"op_type", l.op_type}, {"fused", l.fused}, {"output", l.output},
                                 {"weights", l.weights}, {"weight_bits", l.weight_bits},
                                 {"weight_sqnr_db", db(l.weight_sqnr_db)}, {"sqnr_db", db(l.sqnr_db)}};
            if (!l.error_histogram.empty())
                lj["error_histogram"] = {{"bin_width_rms", nn::kErrorBinWidth}, {"counts", l.error_histogram}};
            if (!std::isnan(l.sensitivity_db)) lj["sensitivity_db"] = db(l.sensitivity_db);
            if (!l.note.empty()) lj["note"] = l.note;
            layers.push_back(lj);
        }
        nlohmann::json nodes = nlohmann::json::array();
        for (const auto& t : mr.batch_timings)
            nodes.push_back({{"name", t.name}, {"op_type", t.op_type}, {"kernel", t.kernel}, {"ms", t.ms}});
        const double n = double(std::max<int64_t>(1, mr.n));
        models.update({{"fp32", {{"correct", mr.fp32_correct}, {"accuracy", double(mr.fp32_correct) / n},
                                 {"predictions", mr.fp32_predictions}}},
                       {"correct", mr.quant_correct}, {"accuracy", double(mr.quant_correct) / n},
                       {"predictions", mr.predictions}, {"classes", mr.classes}, {"confusion", mr.confusion},
                       {"calibration_samples", mr.quant.calibration_samples}, {"fusions", mr.quant.fusions},
                       {"folded_batch_norms", mr.quant.folded_batch_norms}, {"logits_sqnr_db", db(mr.logits_sqnr_db)},
                       {"per_layer", layers}, {"batch", kModelsBatch}, {"batch_ms", mr.batch_ms}, {"per_node", nodes}});
    }
    nlohmann::json user_models = nlohmann::json::array();
    for (const auto& u : state.user_models)
        user_models.push_back({{"id", u.id}, {"file", u.file}, {"bytes", u.bytes ? u.bytes->size() : 0}, {"nodes", u.nodes},
                               {"fashion_note", u.fashion_note}});
    models.update({{"user_models", user_models}, {"user_model_error", state.user_model_error}, {"ids", model_ids(state)},
                   {"evaluation_rect", rect(state.evaluation_rect)}, {"graph_rect", rect(state.graph_rect)},
                   {"open_file_rect", rect(state.open_file_rect)},
                   {"graph_view", graph_view_report(state)}});
    j["models_panel"] = models;
    j["stack_panel"] = {{"boxes", boxes}, {"rect", rect(state.stack_report.rect)}};
    j["lesson_panel"] = lesson_report(state);
    nlohmann::json chip_items = nlohmann::json::array(), tabs = nlohmann::json::array();
    for (const auto& [id, r] : state.layout.chip_items) chip_items.push_back({{"chip", id}, {"rect", rect(r)}});
    for (const auto& [name, r] : state.layout.tabs) tabs.push_back({{"tab", name}, {"rect", rect(r)}});
    nlohmann::json share = nlohmann::json::array();
    for (const auto& [name, r] : state.layout.share_buttons) share.push_back({{"button", name}, {"rect", rect(r)}});
    j["layout"] = {{"chip_combo", rect(state.layout.chip_combo)}, {"chip_items", chip_items}, {"tabs", tabs},
                   {"share_buttons", share}, {"theme_checkbox", rect(state.layout.theme_checkbox)}};
    j["dark_theme"] = state.dark_theme;
    j["share_status"] = state.share.status;
    return j.dump();
}

}  // namespace stacklab::ui
