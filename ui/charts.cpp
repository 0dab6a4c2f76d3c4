#include "ui/charts.hpp"

#include <algorithm>

#include <imgui.h>

namespace stacklab::ui {

void bar_chart(const char* id, const char* title, const char* unit, const std::vector<Bar>& bars,
               float width, unsigned int color) {
    ImGui::PushID(id);
    ImGui::TextUnformatted(title);
    const float row_h = ImGui::GetTextLineHeightWithSpacing() + 2.0f;
    if (width <= 0.0f) width = ImGui::GetContentRegionAvail().x;
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const float height = row_h * float(bars.size()) + 4.0f;
    ImGui::InvisibleButton("chart", ImVec2(width, height));
    const bool hovered = ImGui::IsItemHovered();
    ImDrawList* dl = ImGui::GetWindowDrawList();

    float label_w = 0.0f;
    for (const auto& b : bars) label_w = std::max(label_w, ImGui::CalcTextSize(b.label.c_str()).x);
    label_w += 8.0f;
    float value_w = 0.0f;
    for (const auto& b : bars) value_w = std::max(value_w, ImGui::CalcTextSize(b.text.c_str()).x);
    value_w += 10.0f;
    const float bar_x0 = origin.x + label_w;
    const float bar_w = std::max(10.0f, width - label_w - value_w);
    double vmax = 0.0;
    for (const auto& b : bars)
        if (b.known) vmax = std::max(vmax, std::max(b.value, b.hi));
    if (vmax <= 0.0) vmax = 1.0;

    const ImU32 text_col = ImGui::GetColorU32(ImGuiCol_Text);
    const ImU32 dim_col = ImGui::GetColorU32(ImGuiCol_TextDisabled);
    const ImU32 hl_col = ImGui::GetColorU32(ImGuiCol_HeaderHovered);
    const ImU32 whisker_col = ImGui::GetColorU32(ImGuiCol_Text, 0.8f);
    for (size_t i = 0; i < bars.size(); ++i) {
        const Bar& b = bars[i];
        const float y = origin.y + 2.0f + row_h * float(i);
        if (b.highlighted)
            dl->AddRectFilled(ImVec2(origin.x, y), ImVec2(origin.x + width, y + row_h - 2.0f), hl_col);
        dl->AddText(ImVec2(origin.x, y), text_col, b.label.c_str());
        if (!b.known) {
            dl->AddText(ImVec2(bar_x0 + 2.0f, y), dim_col, "n/a");
            continue;
        }
        const float x1 = bar_x0 + float(b.value / vmax) * bar_w;
        const ImVec2 p0(bar_x0, y + 2.0f), p1(std::max(x1, bar_x0 + 1.0f), y + row_h - 4.0f);
        if (b.uncertain) {
            // Hatched outline: a figure that is assumed or only reported should not look as solid
            // as a datasheet figure.
            dl->AddRect(p0, p1, color);
            dl->PushClipRect(p0, p1, true);
            for (float hx = p0.x - (p1.y - p0.y); hx < p1.x; hx += 6.0f)
                dl->AddLine(ImVec2(hx, p1.y), ImVec2(hx + (p1.y - p0.y), p0.y), color);
            dl->PopClipRect();
        } else {
            dl->AddRectFilled(p0, p1, color);
        }
        if (b.hi > b.lo) {
            const float wl = bar_x0 + float(b.lo / vmax) * bar_w, wh = bar_x0 + float(b.hi / vmax) * bar_w;
            const float wy = (p0.y + p1.y) * 0.5f;
            dl->AddLine(ImVec2(wl, wy), ImVec2(wh, wy), whisker_col, 2.0f);
            dl->AddLine(ImVec2(wl, p0.y), ImVec2(wl, p1.y), whisker_col, 2.0f);
            dl->AddLine(ImVec2(wh, p0.y), ImVec2(wh, p1.y), whisker_col, 2.0f);
        }
        dl->AddText(ImVec2(bar_x0 + bar_w + 6.0f, y), text_col, b.text.c_str());
    }
    if (hovered) {
        const int row = int((ImGui::GetIO().MousePos.y - origin.y - 2.0f) / row_h);
        if (row >= 0 && row < int(bars.size())) {
            const Bar& b = bars[size_t(row)];
            if (b.known)
                ImGui::SetTooltip("%s: %.1f %s%s", b.label.c_str(), b.value, unit,
                                  b.hi > b.lo ? " (public claims differ; whisker = range)" : "");
            else
                ImGui::SetTooltip("%s: no public figure", b.label.c_str());
        }
    }
    ImGui::TextDisabled("whisker: range of public claims; hatched: assumed or only reported");
    ImGui::PopID();
}

}  // namespace stacklab::ui
