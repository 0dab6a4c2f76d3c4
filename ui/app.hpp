// The StackLab playground UI: one Dear ImGui front end shared by the desktop app and the browser.
// The shells (native/gui_main.cpp, wasm/web_main.cpp) own the window and the frame loop; they
// call setup_ui once and draw_app every frame.
#pragma once

#include <string>
#include <vector>

#include "chip/catalog.hpp"

namespace stacklab::ui {

// What the chips panel showed in the last frame, for tests and the browser's JS API.
struct ChipsPanelReport {
    int rows_drawn = 0;
    std::string sorted_by = "id";
    bool ascending = true;
    std::vector<std::string> row_ids;  // in the order drawn
    struct HeaderRect {
        std::string key;  // "name", "vendor" or the figure key
        float x, y, w, h; // window coordinates (CSS pixels in the browser)
    };
    std::vector<HeaderRect> headers;
};

// View state only: the core's results (the chip catalog) are loaded by the shell and handed in.
struct AppState {
    std::vector<chip::ChipSpec> chips;
    std::string load_error;  // shown as a red banner when the catalog did not load
    std::string selected_chip;
    bool dark_theme = true;
    float dpi_scale = 1.0f;
    long frame = 0;
    int chips_sort_column = 0;  // column index in the chips table
    bool chips_sort_ascending = true;
    ChipsPanelReport chips_report;
};

// Loads the bundled catalog into the state (errors go to load_error, never a crash).
AppState make_app_state();

// Fonts, theme and DPI scale. Call after ImGui::CreateContext and before the first frame.
void setup_ui(AppState& state, float dpi_scale);
void apply_theme(const AppState& state);

// Draws the whole window: sidebar (scenario) on the left, panels in tabs on the right.
void draw_app(AppState& state);

// The panels, one function each.
void draw_chips_panel(AppState& state);

// A JSON document describing what the UI showed last frame (used by the browser tests).
std::string ui_report_json(const AppState& state);

}  // namespace stacklab::ui
