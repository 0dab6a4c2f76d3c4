// The Chips panel: the catalog as a sortable table (every cell says where its figure comes from on
// hover), bar charts of INT8 TOPS and memory bandwidth, and the selected chip's sources.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <tuple>

#include <imgui.h>

#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {
namespace {

using chip::ChipSpec;
using chip::Figure;
using chip::Provenance;

struct Column {
    const char* header;
    const char* figure;  // nullptr for the identity columns
    float width;         // initial width in font-size units
};

// Identity columns first, then the figures in catalog order.
const std::vector<Column>& columns() {
    static const std::vector<Column> cols = {
        {"Chip", nullptr, 11.0f},        {"Vendor", nullptr, 6.0f},
        {"INT8 TOPS", "int8_tops", 7.0f}, {"FP16 TFLOPS", "fp16_tflops", 7.5f},
        {"BF16 TFLOPS", "bf16_tflops", 7.5f}, {"Memory", "memory_type", 6.0f},
        {"GB", "memory_gb", 3.5f},        {"GB/s", "memory_bandwidth_gbps", 6.5f},
        {"TDP W", "tdp_w", 4.0f},         {"Cores", "cores", 4.0f},
        {"Process", "process", 8.0f},     {"Year", "release_year", 3.5f},
    };
    return cols;
}

void figure_tooltip(const Figure& f) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 36.0f);
    switch (f.provenance) {
        case Provenance::sourced:
            ImGui::Text("Source%s: %s", f.reported ? " (news/secondary only)" : "", f.source.c_str());
            break;
        case Provenance::claims:
            ImGui::TextUnformatted("Public claims differ:");
            for (const auto& c : f.claims) {
                ImGui::BulletText("%s%s: %s", chip::format_value(c.value).c_str(), c.reported ? " (reported)" : "", c.source.c_str());
            }
            break;
        case Provenance::assumed: ImGui::Text("Assumed: %s", f.reason.c_str()); break;
        case Provenance::unknown: ImGui::Text("Unknown: %s", f.reason.c_str()); break;
    }
    if (!f.note.empty()) {
        ImGui::Separator();
        ImGui::TextUnformatted(f.note.c_str());
    }
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
}

std::string column_key(int column) {
    const Column& col = columns()[size_t(column)];
    return col.figure ? col.figure : (column == 0 ? "name" : "vendor");
}

// Unknown figures sort after every known one, whichever the direction.
bool less_by(const ChipSpec& a, const ChipSpec& b, int column, bool ascending) {
    const Column& col = columns()[size_t(column)];
    if (!col.figure) {
        const std::string& x = column == 0 ? a.name : a.vendor;
        const std::string& y = column == 0 ? b.name : b.vendor;
        if (x != y) return ascending ? x < y : x > y;
        return a.id < b.id;
    }
    const Figure& fa = a.figure(col.figure);
    const Figure& fb = b.figure(col.figure);
    if (fa.known() != fb.known()) return fa.known();
    if (fa.known() && *fa.value != *fb.value) return ascending ? *fa.value < *fb.value : *fa.value > *fb.value;
    return a.id < b.id;
}

std::vector<Bar> bars_for(const AppState& state, const std::vector<size_t>& order, const char* key) {
    std::vector<Bar> bars;
    for (size_t i : order) {
        const ChipSpec& c = state.chips[i];
        const Figure& f = c.figure(key);
        Bar b;
        b.label = c.id;  // ids are short and stable; the table has the full names
        b.highlighted = c.id == state.selected_chip;
        b.known = f.known();
        b.text = chip::format_figure(f);
        if (b.known) {
            b.value = f.number();
            std::tie(b.lo, b.hi) = f.range();
            b.uncertain = f.provenance == Provenance::assumed || (f.provenance == Provenance::sourced && f.reported);
        }
        bars.push_back(b);
    }
    return bars;
}

}  // namespace

void draw_chips_panel(AppState& state) {
    ChipsPanelReport& report = state.chips_report;
    report = ChipsPanelReport();
    int& sort_column = state.chips_sort_column;
    bool& sort_ascending = state.chips_sort_ascending;

    ImGui::Text("%d accelerators. Hover a figure for its source; [a-b] is the range of public "
                "claims, (a) assumed, (r) reported only in news.", int(state.chips.size()));

    const ImGuiTableFlags flags = ImGuiTableFlags_Sortable | ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders |
                                  ImGuiTableFlags_Resizable | ImGuiTableFlags_ScrollX | ImGuiTableFlags_ScrollY |
                                  ImGuiTableFlags_SizingFixedFit;
    const float fs = ImGui::GetFontSize();
    const float table_h = std::min(ImGui::GetContentRegionAvail().y * 0.45f,
                                   ImGui::GetTextLineHeightWithSpacing() * (float(state.chips.size()) + 2.5f));
    std::vector<size_t> order(state.chips.size());
    std::iota(order.begin(), order.end(), size_t(0));
    if (ImGui::BeginTable("chip_catalog", int(columns().size()), flags, ImVec2(0, table_h))) {
        ImGui::TableSetupScrollFreeze(1, 1);
        for (size_t i = 0; i < columns().size(); ++i) {
            ImGuiTableColumnFlags cf = i == 0 ? ImGuiTableColumnFlags_DefaultSort : ImGuiTableColumnFlags_None;
            ImGui::TableSetupColumn(columns()[i].header, cf, columns()[i].width * fs);
        }
        // Headers drawn one by one (what TableHeadersRow does) so the report can say where each is.
        ImGui::TableNextRow(ImGuiTableRowFlags_Headers);
        for (size_t i = 0; i < columns().size(); ++i) {
            ImGui::TableSetColumnIndex(int(i));
            ImGui::TableHeader(columns()[i].header);
            const ImVec2 lo = ImGui::GetItemRectMin(), hi = ImGui::GetItemRectMax();
            report.headers.push_back({column_key(int(i)), lo.x, lo.y, hi.x - lo.x, hi.y - lo.y});
        }
        if (ImGuiTableSortSpecs* specs = ImGui::TableGetSortSpecs()) {
            if (specs->SpecsCount > 0) {
                sort_column = specs->Specs[0].ColumnIndex;
                sort_ascending = specs->Specs[0].SortDirection != ImGuiSortDirection_Descending;
            }
            specs->SpecsDirty = false;
        }
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return less_by(state.chips[a], state.chips[b], sort_column, sort_ascending);
        });
        for (size_t i : order) {
            const ChipSpec& c = state.chips[i];
            ImGui::TableNextRow();
            ImGui::TableSetColumnIndex(0);
            const bool selected = c.id == state.selected_chip;
            if (ImGui::Selectable(c.name.c_str(), selected, ImGuiSelectableFlags_SpanAllColumns))
                state.selected_chip = c.id;
            ImGui::TableSetColumnIndex(1);
            ImGui::TextUnformatted(c.vendor.c_str());
            for (size_t col = 2; col < columns().size(); ++col) {
                ImGui::TableSetColumnIndex(int(col));
                const Figure& f = c.figure(columns()[col].figure);
                if (!f.known()) ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
                ImGui::TextUnformatted(chip::format_figure(f).c_str());
                if (!f.known()) ImGui::PopStyleColor();
                if (ImGui::IsItemHovered()) figure_tooltip(f);
            }
            ++report.rows_drawn;
            report.row_ids.push_back(c.id);
        }
        ImGui::EndTable();
    }
    report.sorted_by = column_key(sort_column);
    report.ascending = sort_ascending;

    ImGui::Spacing();
    const float half = (ImGui::GetContentRegionAvail().x - ImGui::GetStyle().ItemSpacing.x) * 0.5f;
    ImGui::BeginGroup();
    bar_chart("int8", "Peak INT8 (TOPS, dense)", "TOPS", bars_for(state, order, "int8_tops"), half,
              IM_COL32(70, 150, 230, 255));
    ImGui::EndGroup();
    ImGui::SameLine();
    ImGui::BeginGroup();
    bar_chart("bw", "Memory bandwidth (GB/s)", "GB/s", bars_for(state, order, "memory_bandwidth_gbps"), half,
              IM_COL32(230, 140, 60, 255));
    ImGui::EndGroup();

    for (const auto& c : state.chips) {
        if (c.id != state.selected_chip) continue;
        ImGui::Spacing();
        ImGui::Separator();
        ImGui::Text("%s  (%s, %s, %s)", c.name.c_str(), c.vendor.c_str(), c.origin.c_str(), c.segment.c_str());
        ImGui::TextWrapped("%s", c.summary.c_str());
    }
}

}  // namespace stacklab::ui
