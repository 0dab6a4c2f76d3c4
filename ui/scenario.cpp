// The scenario written back: scenario_query (the browser's URL hash), scenario_json (the file the
// desktop app saves and loads, the browser's download) and apply_scenario_json, the inverses of
// apply_scenario (ui/app.cpp), plus the sidebar's "Share" section. The form of each key and value is
// apply_scenario's, documented once in ui/app.hpp; a JSON value goes through the same parser as the
// URL's, so the two forms cannot drift apart. No file or page access here: the shells hand in
// callbacks (ScenarioShell).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <imgui.h>

#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {

namespace {

// How a key's value is typed in the JSON form (the URL has only text).
enum class Kind { text, whole, number, flag };
struct Key {
    const char* name;
    Kind kind;
};
// The canonical order. lesson and step come first: a lesson step applies its own scenario, which
// the keys after it then override.
constexpr Key kKeys[] = {
    {"lesson", Kind::text},     {"step", Kind::whole},     {"tab", Kind::text},       {"chip", Kind::text},
    {"chip2", Kind::text},      {"dtype", Kind::text},     {"gemm", Kind::text},      {"tilebatch", Kind::whole}, {"llm", Kind::text},
    {"quant", Kind::text},      {"int8kv", Kind::flag},    {"batch", Kind::whole},    {"prompt", Kind::whole},
    {"output", Kind::whole},    {"tp", Kind::whole},       {"link", Kind::number},    {"model", Kind::text},
    {"recipe", Kind::text},     {"calib", Kind::text},     {"fuse", Kind::flag},      {"view", Kind::text},
    {"graph", Kind::text},      {"variance", Kind::text},
    {"gelu", Kind::text},       {"fp16", Kind::flag},      {"offset", Kind::number},  {"rows", Kind::whole},
    {"cols", Kind::whole},      {"seed", Kind::whole},     {"array", Kind::text},     {"dataflow", Kind::text},
    {"cell", Kind::text},       {"t", Kind::number},       {"faults", Kind::text},    {"deployment", Kind::text},
    {"tier", Kind::whole},      {"packs", Kind::text},     {"tamper", Kind::flag},
};

const Key* find_key(const std::string& name) {
    for (const Key& k : kKeys)
        if (name == k.name) return &k;
    return nullptr;
}

// The shortest %g text that parses back to exactly `v` (as a float when `as_float`): a link keeps
// the value the user saw, bit for bit.
std::string shortest(double v, bool as_float) {
    char buf[40];
    for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        const double back = std::strtod(buf, nullptr);
        if (as_float ? float(back) == float(v) : back == v) break;
    }
    return buf;
}

const char* tab_key(const std::string& tab) {
    static const char* const names[][2] = {{"Stack", "stack"},     {"Chips", "chips"},       {"LLM serving", "llm"},
                                           {"Models", "models"},   {"Kernels", "kernels"},   {"Systolic", "systolic"},
                                           {"Robot", "robot"},     {"Certify", "certify"}};
    for (const auto& n : names)
        if (tab == n[0]) return n[1];
    return "stack";
}

std::string flag(bool b) { return b ? "1" : "0"; }

// The problems of one apply_scenario call, without its "Scenario: " prefix.
std::string apply_one(AppState& state, const std::string& key, const std::string& value) {
    const std::string e = apply_scenario(state, key + "=" + value);
    const std::string prefix = "Scenario: ";
    return e.compare(0, prefix.size(), prefix) == 0 ? e.substr(prefix.size()) : e;
}

// Back to what make_app_state started with, before a document that replaces the scenario applies.
void reset_to_defaults(AppState& state) {
    state.lesson.active = -1;
    state.lesson.finished = false;
    state.compare_chip.clear();
    state.open_tile_view = false;
    state.tile_source = 0;
    state.robot_faults = RobotFaults();
    state.tamper_requested = false;
    state.certify_report.tampered = false;  // the tampered copy belongs to the scenario being replaced
    state.certify_packs.clear();  // default "" (the manifest's): not re-applied below
    for (const auto& [key, value] : state.scenario_defaults)
        if (!value.empty() && key != "lesson" && key != "step") apply_one(state, key, value);
}

const char* json_type(const nlohmann::json& v) {
    if (v.is_boolean()) return "true/false";
    if (v.is_number_integer() || v.is_number_unsigned()) return "a whole number";
    if (v.is_number()) return "a number";
    if (v.is_string()) return "a string";
    if (v.is_null()) return "null";
    return v.is_array() ? "an array" : "an object";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> scenario_items(const AppState& state) {
    std::vector<std::pair<std::string, std::string>> items;
    const LessonView& lv = state.lesson;
    const bool lesson = lv.active >= 0 && lv.active < int(lv.lessons.size());
    items.emplace_back("lesson", lesson ? lv.lessons[size_t(lv.active)].id : "");
    items.emplace_back("step", lesson ? std::to_string(lv.step) : "");
    items.emplace_back("tab", tab_key(state.requested_tab.empty() ? state.active_tab : state.requested_tab));
    items.emplace_back("chip", state.selected_chip);
    items.emplace_back("chip2", state.compare_chip);
    static const char* const dtypes[] = {"int8", "fp16", "bf16"};
    items.emplace_back("dtype", dtypes[std::clamp(state.roofline_dtype, 0, 2)]);
    // The tile view's GEMM while the Chips tab shows (or is about to show) that view.
    std::string gemm;
    if (state.open_tile_view || state.chips_report.tile_sim.shown) {
        const int g = std::clamp(state.tile_gemm, 0, 7);
        gemm = state.tile_source == 1   ? "model"
               : state.tile_source == 2 ? "model-quant"
                                        : std::string(g >= 4 ? "P" : "D") + char('1' + g % 4);
    }
    items.emplace_back("gemm", gemm);
    items.emplace_back("tilebatch", std::to_string(state.tile_batch));
    const LlmChoice& l = state.llm_choice;
    items.emplace_back("llm", l.llm >= 0 && l.llm < int(state.llms.size()) ? state.llms[size_t(l.llm)].id : "");
    const auto& qn = llm_quant_names();
    items.emplace_back("quant", qn[size_t(std::clamp(l.quant, 0, int(qn.size()) - 1))]);
    items.emplace_back("int8kv", flag(l.int8_kv));
    items.emplace_back("batch", std::to_string(l.batch));
    items.emplace_back("prompt", std::to_string(l.prompt));
    items.emplace_back("output", std::to_string(l.output));
    items.emplace_back("tp", std::to_string(l.chips));
    items.emplace_back("link", shortest(l.link_gbps, true));
    const ModelsChoice& m = state.models_choice;
    items.emplace_back("model", m.model);
    items.emplace_back("recipe", m.recipe);
    items.emplace_back("calib", nn::calibration_name(nn::CalibrationMethod(std::clamp(m.calibration, 0, 2))));
    items.emplace_back("fuse", flag(m.fuse));
    items.emplace_back("view", state.graph_view.open ? "graph" : "evaluation");
    items.emplace_back("graph", state.graph_view.quantized ? "quant" : "fp32");
    const KernelsChoice& k = state.kernels_choice;
    items.emplace_back("variance", quant::variance_method_name(quant::VarianceMethod(std::clamp(k.variance, 0, 2))));
    items.emplace_back("gelu", quant::gelu_form_name(quant::GeluForm(std::clamp(k.gelu, 0, 1))));
    items.emplace_back("fp16", flag(k.fp16));
    items.emplace_back("offset", shortest(k.offset, true));
    items.emplace_back("rows", std::to_string(k.rows));
    items.emplace_back("cols", std::to_string(k.cols));
    items.emplace_back("seed", std::to_string(k.seed));
    const SystolicChoice& s = state.systolic_choice;
    items.emplace_back("array", std::to_string(s.array_rows) + "x" + std::to_string(s.array_cols));
    static const char* const flows[] = {"os", "ws", "is"};
    items.emplace_back("dataflow", flows[std::clamp(s.dataflow, 0, 2)]);
    items.emplace_back("cell", state.robot_cell);
    // 10 ms: the resolution faults are kept at; playback would otherwise change the link every frame.
    const double t = std::round(state.robot_report.view_t_s * 100.0) / 100.0;
    items.emplace_back("t", shortest(t == 0 ? 0.0 : t, false));
    items.emplace_back("faults", faults_query(state.robot_faults));
    items.emplace_back("deployment", state.deployment);
    items.emplace_back("tier", std::to_string(state.certify_tier));
    items.emplace_back("packs", packs_query(state.certify_packs));
    const CertifyPanelReport& c = state.certify_report;
    items.emplace_back("tamper", flag(state.tamper_requested || (c.tampered && c.deployment == state.deployment)));
    return items;
}

std::string scenario_query(const AppState& state) {
    const auto items = scenario_items(state);
    const bool lesson = !items.front().second.empty();
    std::string q;
    for (const auto& item : items) {
        const std::string& key = item.first;
        const std::string& value = item.second;
        const auto d = std::find_if(state.scenario_defaults.begin(), state.scenario_defaults.end(),
                                    [&](const auto& kv) { return kv.first == key; });
        const bool is_default = d != state.scenario_defaults.end() && d->second == value;
        // An empty value means "unset" (no lesson, no tile view, the file's faults alone); only chip2=
        // (no compared chip) says something a lesson step could otherwise change.
        if (value.empty() && !(lesson && key == "chip2")) continue;
        if (is_default && !lesson) continue;
        q += (q.empty() ? "" : "&") + key + "=" + value;
    }
    return q;
}

nlohmann::json scenario_json(const AppState& state) {
    nlohmann::json j = nlohmann::json::object();
    j["stacklab_scenario"] = kScenarioVersion;
    const std::string q = scenario_query(state);
    size_t start = 0;
    while (start < q.size()) {
        size_t end = q.find('&', start);
        if (end == std::string::npos) end = q.size();
        const std::string part = q.substr(start, end - start);
        start = end + 1;
        const size_t eq = part.find('=');
        const std::string key = part.substr(0, eq), value = part.substr(eq + 1);
        const Key* k = find_key(key);
        switch (k ? k->kind : Kind::text) {
            case Kind::text: j[key] = value; break;
            case Kind::whole: j[key] = std::strtoll(value.c_str(), nullptr, 10); break;
            case Kind::number: j[key] = std::strtod(value.c_str(), nullptr); break;
            case Kind::flag: j[key] = value == "1"; break;
        }
    }
    return j;
}

std::string apply_scenario_json(AppState& state, const std::string& text, const std::string& source_name) {
    const std::string head = "Scenario file " + source_name + ": ";
    auto refuse = [&](const std::string& why) {
        state.scenario_error = head + why;
        return state.scenario_error;
    };
    try {
        nlohmann::json doc;
        try {
            doc = nlohmann::json::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
            // nlohmann's byte is 1-based, the position of the character it stopped at.
            const size_t byte = std::min<size_t>(e.byte, text.size());
            size_t line = 1, col = 1;
            for (size_t i = 0; i + 1 < byte; ++i) {
                if (text[i] == '\n') ++line, col = 1;
                else ++col;
            }
            std::string what = e.what();
            const size_t colon = what.find(": ");  // "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
            if (colon != std::string::npos) what = what.substr(colon + 2);
            return refuse("malformed JSON at line " + std::to_string(line) + ", column " + std::to_string(col) + " (byte " +
                          std::to_string(byte) + "): " + what);
        }
        if (!doc.is_object()) return refuse(std::string("not a scenario: the document is ") + json_type(doc) + ", not an object");
        const auto version = doc.find("stacklab_scenario");
        if (version == doc.end()) return refuse("not a scenario: no \"stacklab_scenario\" version field");
        if (!version->is_number_integer() || version->get<long long>() != kScenarioVersion)
            return refuse("scenario version " + version->dump() + " is outdated or unknown (this StackLab reads version " +
                          std::to_string(kScenarioVersion) + "); nothing applied");
        std::string errors;
        auto problem = [&](const std::string& p) { errors += (errors.empty() ? "" : "; ") + p; };
        reset_to_defaults(state);
        for (const Key& k : kKeys) {
            const auto it = doc.find(k.name);
            if (it == doc.end()) continue;
            const nlohmann::json& v = *it;
            std::string value;
            bool typed = false;
            switch (k.kind) {
                case Kind::text:
                    typed = v.is_string();
                    if (typed) value = v.get<std::string>();
                    break;
                case Kind::whole:
                    typed = v.is_number_integer();
                    if (typed) value = std::to_string(v.get<long long>());
                    break;
                case Kind::number:
                    typed = v.is_number();
                    if (typed) value = shortest(v.get<double>(), false);
                    break;
                case Kind::flag:
                    typed = v.is_boolean();
                    if (typed) value = flag(v.get<bool>());
                    break;
            }
            static const char* const wanted[] = {"a string", "a whole number", "a number", "true or false"};
            if (!typed) {
                problem("\"" + std::string(k.name) + "\" must be " + wanted[int(k.kind)] + ", not " + json_type(v));
                continue;
            }
            // '&' would split the value in apply_scenario's parser; no id or value of ours has one.
            if (value.find('&') != std::string::npos) {
                problem("\"" + std::string(k.name) + "\" \"" + value + "\" contains '&'");
                continue;
            }
            const std::string e = apply_one(state, k.name, value);
            if (!e.empty()) problem(e);
        }
        for (const auto& [key, v] : doc.items())
            if (key != "stacklab_scenario" && !find_key(key)) problem("unknown key \"" + key + "\"");
        state.scenario_error = errors.empty() ? "" : head + errors;
        return state.scenario_error;
    } catch (const std::exception& e) {  // nothing above should throw; the UI never does
        return refuse(e.what());
    }
}

void draw_share_sidebar(AppState& state) {
    ScenarioShell& sh = state.share;
    auto& rects = state.layout.share_buttons;
    rects.clear();
    auto button = [&](const char* label, const char* name) {
        const bool pressed = ImGui::Button(label);
        const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
        rects.emplace_back(name, Rect{a.x, a.y, b.x - a.x, b.y - a.y});
        return pressed;
    };
    if (!sh.save && !sh.load && !sh.copy_link && !sh.download) return;
    ImGui::Spacing();
    ImGui::TextDisabled("SHARE");
    ImGui::Separator();
    if (sh.save || sh.load) {
        char buf[1024];
        std::snprintf(buf, sizeof buf, "%s", sh.path.c_str());
        ImGui::SetNextItemWidth(-1);
        if (ImGui::InputText("##scenario_path", buf, sizeof buf)) sh.path = buf;
        if (sh.save && button("Save scenario", "save")) {
            const std::string e = sh.save(sh.path, scenario_json(state).dump(2) + "\n");
            sh.status_error = !e.empty();
            sh.status = e.empty() ? "Saved " + sh.path : e;
        }
        if (sh.save && sh.load) ImGui::SameLine();
        if (sh.load && button("Load scenario", "load")) {
            std::string text;
            const std::string e = sh.load(sh.path, text);
            if (!e.empty()) state.scenario_error = "Scenario file " + sh.path + ": " + e;
            else apply_scenario_json(state, text, sh.path);
            sh.status_error = !state.scenario_error.empty();
            sh.status = sh.status_error ? "Load failed (see the banner)" : "Loaded " + sh.path;
        }
    }
    if (sh.copy_link && button("Copy link", "copy_link")) {
        sh.copy_link(scenario_query(state));
        sh.status_error = false;
        sh.status = "Link copied";
    }
    if (sh.copy_link && sh.download) ImGui::SameLine();
    if (sh.download && button("Download JSON", "download")) {
        sh.download(scenario_json(state).dump(2) + "\n");
        sh.status_error = false;
        sh.status = "Downloaded stacklab-scenario.json";
    }
    if (!sh.status.empty()) {
        if (sh.status_error) ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.35f, 0.35f, 1.0f)));
        ImGui::TextWrapped("%s", sh.status.c_str());
        if (sh.status_error) ImGui::PopStyleColor();
    }
}

std::string apply_scenario_link(AppState& state, const std::string& query) {
    // Tried first on a copy: a link with a problem must leave the view as it is (the copy shares
    // the running jobs' threads through shared_ptr and is dropped without touching them).
    {
        AppState trial = state;
        reset_to_defaults(trial);
        const std::string errors = apply_scenario(trial, query);
        if (!errors.empty()) {
            state.scenario_error = errors;
            return errors;
        }
    }
    reset_to_defaults(state);
    return apply_scenario(state, query);
}

}  // namespace stacklab::ui
