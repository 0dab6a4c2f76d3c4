// Lesson mode, in the sidebar: a picker of the bundled lessons (core/lab/lesson.hpp), the active
// step's text, its question with a widget for the answer, Check, Back / Next and the progress. A step
// loads its scenario through apply_scenario (the URL-hash form), so a lesson sees exactly what a
// student sharing that link would. The check compares the answer with the facts of core/lab, filled
// here from what the panels computed (their cached reports): the LLM table, the Models tab's per-layer
// SQNR, the cell run, the certification. Facts are taken from the panels as they are now, so if the
// student changes a choice the lesson did not hide, the answer is checked against what is on screen.
// The two facts no panel holds (the cell on every chip, every bundled deployment certified) are
// computed with core/lab's sweeps while the step is shown (the cell sweep on a worker thread natively,
// one chip per frame in the browser), once per cell.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include <imgui.h>

#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {

namespace {

const lab::Lesson* active_lesson(const AppState& state) {
    const LessonView& v = state.lesson;
    if (v.active < 0 || v.active >= int(v.lessons.size())) return nullptr;
    return &v.lessons[size_t(v.active)];
}

Rect last_item_rect() {
    const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
    return Rect{a.x, a.y, b.x - a.x, b.y - a.y};
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

}  // namespace

std::string start_lesson(AppState& state, const std::string& id) {
    LessonView& v = state.lesson;
    auto it = std::find_if(v.lessons.begin(), v.lessons.end(), [&](const lab::Lesson& l) { return l.id == id; });
    if (it == v.lessons.end()) return "no bundled lesson \"" + id + "\"";
    v.active = int(it - v.lessons.begin());
    v.answers.assign(it->steps.size(), "");
    v.results.assign(it->steps.size(), lab::CheckResult());
    v.solved.assign(it->steps.size(), false);
    v.finished = false;
    go_to_step(state, 0);
    return v.scenario_error;
}

void go_to_step(AppState& state, int step) {
    LessonView& v = state.lesson;
    const lab::Lesson* l = active_lesson(state);
    if (!l) return;
    v.step = std::clamp(step, 0, int(l->steps.size()) - 1);
    v.scenario_error.clear();
    const std::string& scenario = l->steps[size_t(v.step)].scenario;
    if (!scenario.empty()) v.scenario_error = apply_scenario(state, scenario);
}

bool lesson_hides(const AppState& state, const std::string& control) {
    const lab::Lesson* l = active_lesson(state);
    if (!l || state.lesson.finished) return false;
    const auto& hide = l->steps[size_t(state.lesson.step)].hide;
    return std::find(hide.begin(), hide.end(), control) != hide.end();
}

namespace {

// One step of the lesson's cell sweep: natively the worker's rows so far (started on first call),
// in the browser the next chip's run.
void advance_cell_sweep(LessonView& v, const lab::CellScenario& scenario, const std::vector<chip::ChipSpec>& chips) {
#if !defined(__EMSCRIPTEN__)
    v.sweep_retired.prune();
    if (v.cell_sweep.size() >= chips.size()) return;
    if (!v.sweep_worker) {
        // The rows are published as each chip finishes.
        v.sweep_worker = CellSweepWorker::start([scenario, chips](CellSweepWorker& w) {
            for (size_t i = 0; i < chips.size() && !w.cancelled(); ++i) {
                lab::CellSweepRow row;
                try {
                    row = lab::sweep_cell_chip(scenario, chips, i);
                } catch (const std::exception& e) {
                    row.chip = chips[i].id;
                    row.error = e.what();
                }
                w.update([&](std::vector<lab::CellSweepRow>& rows) { rows.push_back(std::move(row)); });
            }
        });
        v.sweep_threaded = true;
    }
    v.sweep_worker->read([&](const std::vector<lab::CellSweepRow>& rows) {
        for (size_t i = v.cell_sweep.size(); i < rows.size(); ++i) v.cell_sweep.push_back(rows[i]);
    });
#else
    if (v.cell_sweep.size() >= chips.size()) return;
    v.cell_sweep.push_back(lab::sweep_cell_chip(scenario, chips, v.cell_sweep.size()));
    ++v.sweep_ui_thread_steps;
#endif
}

}  // namespace

bool lesson_busy(const AppState& state) {
    const lab::Lesson* l = active_lesson(state);
    if (!l || state.lesson.finished || l->steps[size_t(state.lesson.step)].fact != "robot.lowest_power_chip_passing") return false;
    return state.lesson.cell_sweep.size() < state.chips.size();
}

lab::Facts lesson_facts(AppState& state, const lab::LessonStep& step) {
    lab::Facts facts;
    LessonView& v = state.lesson;
    const std::string& f = step.fact;
    if (starts_with(f, "llm.")) {
        // The LLM serving table of the last frame it was drawn in.
        std::vector<lab::LlmRow> rows;
        for (const auto& r : state.llm_report.rows) rows.push_back({r.chip, r.ok, r.fits, r.tokens_per_s, r.bound});
        if (!rows.empty()) lab::add_llm_facts(facts, rows, state.selected_chip);
    } else if (starts_with(f, "models.")) {
        const ModelsPanelReport& mr = state.models_report;
        // What the panel is set to now, once its SQNR stage is done (the accuracy pass may still run).
        const bool sqnr_done = mr.done() || mr.stage == "eval";
        if (sqnr_done && mr.choice == state.models_choice) lab::add_model_facts(facts, mr.quant, mr.logits_sqnr_db);
    } else if (f == "robot.lowest_power_chip_passing") {
        update_robot(state, state.robot_report);  // cached: parses the scenario the sweep runs
        const RobotPanelReport& rr = state.robot_report;
        if (!rr.computed) return facts;
        if (v.sweep_cell != rr.choice.cell) {
            v.sweep_cell = rr.choice.cell;
            v.cell_sweep.clear();
            v.sweep_retired.retire(v.sweep_worker);
        }
        advance_cell_sweep(v, rr.scenario, state.chips);
        if (v.cell_sweep.size() == state.chips.size()) lab::add_cell_sweep_facts(facts, v.cell_sweep);
    } else if (starts_with(f, "robot.")) {
        update_robot(state, state.robot_report);  // cached: reruns only when the cell or the chip changed
        if (state.robot_report.computed) lab::add_cell_facts(facts, state.robot_report.run);
    } else if (f == "policy.passing_deployment") {
        if (!v.deployments_certified) {
            v.deployments = lab::certify_bundled_deployments(policy::format_utc(static_cast<long long>(std::time(nullptr))));
            v.deployments_certified = true;
        }
        lab::add_deployment_sweep_facts(facts, v.deployments);
    } else if (starts_with(f, "policy.")) {
        update_certify(state, state.certify_report);  // cached per deployment
        if (state.certify_report.computed) lab::add_decision_facts(facts, state.certify_report.decision);
    }
    return facts;
}

namespace {

constexpr size_t kMaxRadioChoices = 6;

// The options of a choice question before its fact exists (a sweep not run yet): what it ranges over.
std::vector<std::string> choices_of(const AppState& state, const lab::LessonStep& step, const lab::Facts& facts) {
    std::vector<std::string> c = lab::step_choices(step, facts);
    if (!c.empty()) return c;
    if (step.fact == "robot.lowest_power_chip_passing")
        for (const auto& chip : state.chips) c.push_back(chip.id);
    return c;
}

void draw_question(AppState& state, const lab::LessonStep& step) {
    LessonView& v = state.lesson;
    const size_t k = size_t(v.step);
    const lab::Facts facts = lesson_facts(state, step);
    ImGui::Spacing();
    ImGui::TextWrapped("%s", step.question.prompt.c_str());
    std::string& answer = v.answers[k];
    if (step.fact == "robot.lowest_power_chip_passing" && v.cell_sweep.size() < state.chips.size())
        ImGui::TextDisabled("Running the cell on every chip: %d of %d", int(v.cell_sweep.size()), int(state.chips.size()));
    if (step.question.kind == "choice") {
        const std::vector<std::string> choices = choices_of(state, step, facts);
        if (choices.empty()) ImGui::TextDisabled("(the choices appear once the panel has computed)");
        if (choices.size() <= kMaxRadioChoices) {
            for (const auto& c : choices) {
                if (ImGui::RadioButton(c.c_str(), answer == c)) answer = c;
                v.choices.push_back({c, last_item_rect()});
            }
        } else {
            // A long list (every rule of four packs) as a drop-down: radios would run off the sidebar.
            const ImVec2 at = ImGui::GetCursorScreenPos();
            v.answer_rect = Rect{at.x, at.y, ImGui::GetContentRegionAvail().x, ImGui::GetFrameHeight()};
            ImGui::SetNextItemWidth(-1);
            const bool open = ImGui::BeginCombo("##choice", answer.empty() ? "(pick one)" : answer.c_str(), ImGuiComboFlags_HeightLargest);
            for (const auto& c : choices) {
                if (open && ImGui::Selectable(c.c_str(), answer == c)) answer = c;
                v.choices.push_back({c, open ? last_item_rect() : Rect()});  // w = 0: not on screen (closed)
            }
            if (open) ImGui::EndCombo();
        }
    } else {
        char buf[64] = {};
        std::snprintf(buf, sizeof buf, "%s", answer.c_str());
        ImGui::SetNextItemWidth(ImGui::GetFontSize() * 8.0f);
        if (ImGui::InputText("##answer", buf, sizeof buf, ImGuiInputTextFlags_CharsScientific)) answer = buf;
        v.answer_rect = last_item_rect();
        if (!step.question.unit.empty()) {
            ImGui::SameLine();
            ImGui::TextUnformatted(step.question.unit.c_str());
        }
    }
    if (ImGui::Button("Check")) {
        v.results[k] = lab::check_answer(step, facts, answer);
        if (v.results[k].correct) v.solved[k] = true;
    }
    v.check_rect = last_item_rect();
    const lab::CheckResult& r = v.results[k];
    if (!r.message.empty()) {
        const ImVec4 color = r.correct ? on_theme(ImVec4(0.35f, 0.85f, 0.45f, 1.0f)) : on_theme(ImVec4(1.0f, 0.45f, 0.4f, 1.0f));
        ImGui::PushStyleColor(ImGuiCol_Text, r.ready ? color : ImGui::GetStyle().Colors[ImGuiCol_TextDisabled]);
        ImGui::TextWrapped("%s", r.message.c_str());
        ImGui::PopStyleColor();
    }
}

}  // namespace

void draw_lesson_sidebar(AppState& state) {
    LessonView& v = state.lesson;
    v.choices.clear();
    v.answer_rect = v.check_rect = v.back_rect = v.next_rect = Rect();
    v.widgets_step = v.step;
    ImGui::TextDisabled("LESSON");
    ImGui::Separator();
    if (!v.load_error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.35f, 0.35f, 1.0f)));
        ImGui::TextWrapped("Lessons did not load: %s", v.load_error.c_str());
        ImGui::PopStyleColor();
    }
    const lab::Lesson* l = active_lesson(state);
    ImGui::SetNextItemWidth(-1);
    if (ImGui::BeginCombo("##lesson", l ? l->title.c_str() : "(no lesson: explore freely)")) {
        if (ImGui::Selectable("(no lesson: explore freely)", !l)) v.active = -1;
        for (const auto& lesson : v.lessons) {
            if (ImGui::Selectable(lesson.title.c_str(), l == &lesson)) start_lesson(state, lesson.id);
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", lesson.summary.c_str());
        }
        ImGui::EndCombo();
    }
    v.picker_rect = last_item_rect();
    l = active_lesson(state);
    if (!l) {
        ImGui::Spacing();
        return;
    }
    const int n = int(l->steps.size());
    const int solved = int(std::count(v.solved.begin(), v.solved.end(), true));
    int questions = 0;
    for (const auto& s : l->steps) questions += s.has_question ? 1 : 0;
    char progress[64];
    std::snprintf(progress, sizeof progress, "step %d of %d, %d of %d answered", v.step + 1, n, solved, questions);
    ImGui::ProgressBar(questions ? float(solved) / float(questions) : 1.0f, ImVec2(-1, 0), progress);
    if (v.finished) {
        ImGui::TextWrapped("Lesson done: %d of %d questions answered correctly.", solved, questions);
        if (ImGui::Button("Start again")) start_lesson(state, l->id);
        ImGui::Separator();
        return;
    }
    const lab::LessonStep& step = l->steps[size_t(v.step)];
    ImGui::Spacing();
    ImGui::TextWrapped("%s", step.title.c_str());
    ImGui::Separator();
    ImGui::TextWrapped("%s", step.text.c_str());
    if (!v.scenario_error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.35f, 0.35f, 1.0f)));
        ImGui::TextWrapped("This step's %s", v.scenario_error.c_str());
        ImGui::PopStyleColor();
    }
    if (step.has_question) draw_question(state, step);
    ImGui::Spacing();
    ImGui::BeginDisabled(v.step == 0);
    if (ImGui::Button("Back")) go_to_step(state, v.step - 1);
    ImGui::EndDisabled();
    v.back_rect = last_item_rect();
    ImGui::SameLine();
    if (ImGui::Button(v.step + 1 < n ? "Next" : "Finish")) {
        if (v.step + 1 < n) go_to_step(state, v.step + 1);
        else v.finished = true;
    }
    v.next_rect = last_item_rect();
    ImGui::Spacing();
    ImGui::Spacing();
}

nlohmann::json lesson_report(const AppState& state) {
    const LessonView& v = state.lesson;
    auto rect = [](const Rect& r) { return nlohmann::json{{"x", r.x}, {"y", r.y}, {"w", r.w}, {"h", r.h}}; };
    nlohmann::json lessons = nlohmann::json::array();
    for (const auto& l : v.lessons)
        lessons.push_back({{"id", l.id}, {"title", l.title}, {"layer", l.layer}, {"steps", l.steps.size()}});
    nlohmann::json j = {{"lessons", lessons}, {"load_error", v.load_error}, {"picker_rect", rect(v.picker_rect)}};
    const lab::Lesson* l = active_lesson(state);
    j["active"] = l ? l->id : "";
    if (!l) return j;
    const lab::LessonStep& step = l->steps[size_t(v.step)];
    // Widgets drawn for another step (Next pressed after they were drawn) are not this step's.
    const bool drawn = v.widgets_step == v.step;
    nlohmann::json choices = nlohmann::json::array();
    if (drawn)
        for (const auto& c : v.choices) choices.push_back({{"label", c.label}, {"rect", rect(c.rect)}});
    nlohmann::json hidden = nlohmann::json::array();
    for (const auto& c : lab::lesson_hideable())
        if (lesson_hides(state, c)) hidden.push_back(c);
    const lab::CheckResult& r = v.results[size_t(v.step)];
    std::vector<int> solved;
    for (bool b : v.solved) solved.push_back(b ? 1 : 0);
    j.update({{"step", v.step}, {"steps", l->steps.size()}, {"finished", v.finished}, {"title", step.title},
              {"scenario", step.scenario}, {"scenario_error", v.scenario_error}, {"hidden", hidden},
              {"question", step.has_question ? step.question.prompt : ""}, {"kind", step.question.kind},
              {"fact", step.fact}, {"answer", v.answers[size_t(v.step)]}, {"choices", choices},
              {"result", {{"ready", r.ready}, {"correct", r.correct}, {"message", r.message}}}, {"solved", solved},
              {"drawn", drawn}, {"answer_rect", rect(drawn ? v.answer_rect : Rect())},
              {"check_rect", rect(drawn ? v.check_rect : Rect())}, {"back_rect", rect(drawn ? v.back_rect : Rect())},
              {"next_rect", rect(drawn ? v.next_rect : Rect())},
              {"cell_sweep", {{"cell", v.sweep_cell}, {"rows", v.cell_sweep.size()}, {"threaded", v.sweep_threaded},
                              {"ui_thread_steps", v.sweep_ui_thread_steps}}}});
    return j;
}

}  // namespace stacklab::ui
