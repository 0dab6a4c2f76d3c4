#include "ui/app.hpp"

#include <imgui.h>
#include <nlohmann/json.hpp>

#include "ui/fonts.hpp"

namespace stacklab::ui {

AppState make_app_state() {
    AppState state;
    try {
        state.chips = chip::load_catalog(chip::bundled_catalog_files());
        if (!state.chips.empty()) state.selected_chip = state.chips.front().id;
    } catch (const std::exception& e) {
        state.load_error = e.what();
    }
    return state;
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

void draw_sidebar(AppState& state) {
    ImGui::TextDisabled("SCENARIO");
    ImGui::Separator();
    ImGui::Text("Chip");
    ImGui::SetNextItemWidth(-1);
    std::string preview = state.selected_chip;
    for (const auto& c : state.chips)
        if (c.id == state.selected_chip) preview = c.name;
    if (ImGui::BeginCombo("##chip", preview.c_str())) {
        for (const auto& c : state.chips) {
            bool selected = c.id == state.selected_chip;
            if (ImGui::Selectable(c.name.c_str(), selected)) state.selected_chip = c.id;
            if (selected) ImGui::SetItemDefaultFocus();
        }
        ImGui::EndCombo();
    }
    ImGui::Spacing();
    ImGui::Separator();
    if (ImGui::Checkbox("Dark theme", &state.dark_theme)) apply_theme(state);
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

    if (!state.load_error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.35f, 0.35f, 1.0f));
        ImGui::TextWrapped("Chip catalog did not load: %s", state.load_error.c_str());
        ImGui::PopStyleColor();
    }

    const float sidebar_w = 240.0f * state.dpi_scale;
    ImGui::BeginChild("sidebar", ImVec2(sidebar_w, 0), true);
    draw_sidebar(state);
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginChild("panels", ImVec2(0, 0), false);
    if (ImGui::BeginTabBar("tabs")) {
        if (ImGui::BeginTabItem("Chips")) {
            draw_chips_panel(state);
            ImGui::EndTabItem();
        }
        ImGui::EndTabBar();
    }
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
    j["chips_panel"] = {{"rows_drawn", state.chips_report.rows_drawn},
                        {"headers", headers},
                        {"sorted_by", state.chips_report.sorted_by},
                        {"ascending", state.chips_report.ascending},
                        {"row_ids", state.chips_report.row_ids}};
    return j.dump();
}

}  // namespace stacklab::ui
