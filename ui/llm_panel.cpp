// The LLM serving panel: the chosen LLM, quantization and workload on the selected chip (headline
// numbers, memory use, a roofline chart with the prefill and decode steps on it) and the same
// scenario on every chip of the catalog side by side. Everything comes from chip::estimate_llm,
// the code behind `stacklab llm`, so the page and the CLI show the same numbers.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <imgui.h>

#include "chip/roofline.hpp"
#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {

const std::vector<std::string>& llm_quant_names() {
    static const std::vector<std::string> names = {"w16a16", "w8a8", "w8a16", "w6a16", "w4a16"};
    return names;
}

namespace {

constexpr unsigned int kPrefillColor = IM_COL32(90, 200, 120, 255);
constexpr unsigned int kDecodeColor = IM_COL32(235, 120, 70, 255);

void workload_controls(LlmChoice& ch) {
    const float w = ImGui::GetFontSize() * 7.0f;
    ImGui::SetNextItemWidth(w);
    ImGui::InputInt("batch", &ch.batch, 1, 8);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(w);
    ImGui::InputInt("prompt tokens", &ch.prompt, 64, 512);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(w);
    ImGui::InputInt("output tokens", &ch.output, 16, 128);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(w);
    ImGui::InputInt("chips (TP)", &ch.chips, 1, 1);
    if (ch.chips > 1) {
        ImGui::SameLine();
        ImGui::SetNextItemWidth(w);
        ImGui::InputFloat("link GB/s", &ch.link_gbps, 8.0f, 64.0f, "%.0f");
    }
    ch.batch = std::clamp(ch.batch, 1, 4096);
    ch.prompt = std::clamp(ch.prompt, 1, 131072);
    ch.output = std::clamp(ch.output, 1, 16384);
    ch.chips = std::clamp(ch.chips, 1, 64);
    ch.link_gbps = std::clamp(ch.link_gbps, 1.0f, 10000.0f);
}

// A horizontal bar: used / capacity, red when it does not fit.
void memory_bar(double used_gib, double weights_gib, double capacity_gib) {
    const float w = ImGui::GetContentRegionAvail().x * 0.6f, h = ImGui::GetFontSize() * 1.1f;
    const ImVec2 o = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("mem", ImVec2(w, h));
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const double scale = std::max(capacity_gib, used_gib);
    const float xw = o.x + float(std::min(1.0, weights_gib / scale)) * w;
    const float xu = o.x + float(std::min(1.0, used_gib / scale)) * w;
    const bool fits = capacity_gib > 0 && used_gib <= 0.9 * capacity_gib;
    dl->AddRectFilled(o, ImVec2(xw, o.y + h), fits ? IM_COL32(70, 150, 230, 255) : IM_COL32(220, 70, 70, 255));
    dl->AddRectFilled(ImVec2(xw, o.y), ImVec2(xu, o.y + h), IM_COL32(150, 110, 230, 255));
    if (capacity_gib > 0) {
        const float xc = o.x + float(capacity_gib / scale) * w, x90 = o.x + float(0.9 * capacity_gib / scale) * w;
        dl->AddRect(o, ImVec2(xc, o.y + h), ImGui::GetColorU32(ImGuiCol_Text));
        dl->AddLine(ImVec2(x90, o.y), ImVec2(x90, o.y + h), ImGui::GetColorU32(ImGuiCol_Text), 2.0f);
    }
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("blue: weights, purple: KV cache; frame: off-chip memory, line: the 90%% usable");
}

}  // namespace

void draw_llm_panel(AppState& state) {
    LlmPanelReport& report = state.llm_report;
    report = LlmPanelReport();
    if (state.llms.empty() || state.chips.empty()) {
        ImGui::TextDisabled("No LLM shapes or chips loaded.");
        return;
    }
    LlmChoice& ch = state.llm_choice;
    const chip::LlmShape& shape = state.llms[size_t(std::clamp(ch.llm, 0, int(state.llms.size()) - 1))];
    const chip::LlmParams params = chip::count_params(shape);
    const chip::LlmQuant quant = chip::parse_llm_quant(llm_quant_names()[size_t(ch.quant)], ch.int8_kv);
    const chip::LlmSystem sys{ch.chips, double(ch.link_gbps) * 1e9};
    const chip::LlmWorkload work{ch.batch, ch.prompt, ch.output};
    report.llm = shape.id;
    report.quant = quant.name + (quant.int8_kv ? "+kv8" : "");
    report.chips = ch.chips;

    ImGui::Text("%s: %d layers, %.2fB parameters (%.2fB active per token)%s. Shape from %s", shape.name.c_str(),
                shape.layers, params.total() / 1e9, params.active(shape) / 1e9, shape.moe ? ", mixture of experts" : "",
                shape.source.c_str());
    workload_controls(ch);
    ImGui::Separator();

    // Every chip, so the table and the selected chip's view come from the same numbers.
    std::vector<chip::LlmEstimate> estimates(state.chips.size());
    const chip::LlmEstimate* selected = nullptr;
    std::string selected_error;
    for (size_t i = 0; i < state.chips.size(); ++i) {
        const chip::ChipSpec& c = state.chips[i];
        LlmPanelReport::Row row;
        row.chip = c.id;
        try {
            estimates[i] = chip::estimate_llm(shape, c, quant, sys, work);
            const chip::LlmEstimate& e = estimates[i];
            row.ok = true;
            row.ttft_ms = e.ttft_s * 1e3;
            row.decode_ms_per_token = e.decode_s_per_token * 1e3;
            row.tokens_per_s = e.tokens_per_s;
            row.fits = e.fits;
            row.bound = chip::bound_name(e.decode_bound);
            if (c.id == state.selected_chip) selected = &e;
        } catch (const std::exception& ex) {
            row.error = ex.what();
            if (c.id == state.selected_chip) selected_error = ex.what();
        }
        report.rows.push_back(row);
    }

    const float fs = ImGui::GetFontSize();
    const float left_w = ImGui::GetContentRegionAvail().x * 0.52f;
    ImGui::BeginChild("selected", ImVec2(left_w, 0), false);
    if (selected) {
        const chip::LlmEstimate& e = *selected;
        const double gib = double(1ull << 30);
        ImGui::Text("On %d x %s (matrix unit in %s):", e.chips, e.chip.c_str(), chip::dtype_name(e.matrix_dtype));
        ImGui::Text("  time to first token   %10.2f ms  (%s-bound)", e.ttft_s * 1e3, chip::bound_name(e.prefill.bound));
        ImGui::Text("  decode per token      %10.3f ms  (%s-bound)", e.decode_s_per_token * 1e3,
                    chip::bound_name(e.decode_bound));
        ImGui::Text("  throughput            %10.1f tokens/s", e.tokens_per_s);
        ImGui::Text("  memory per chip       %10.2f of %.1f GiB: %s; largest batch %d", e.memory_per_chip_bytes / gib,
                    e.memory_capacity_bytes / gib, e.fits ? "fits" : "does NOT fit", e.max_batch);
        memory_bar(e.memory_per_chip_bytes / gib, e.weight_bytes / e.chips / gib, e.memory_capacity_bytes / gib);
        const chip::ChipPeak peak = chip::chip_peak(*std::find_if(state.chips.begin(), state.chips.end(),
                                                                  [&](const chip::ChipSpec& c) { return c.id == e.chip; }),
                                                    e.matrix_dtype);
        std::vector<Roof> roofs = {{std::string(chip::dtype_name(e.matrix_dtype)) + " peak", peak.ops_per_s,
                                    peak.mem_bytes_per_s, ImGui::GetColorU32(ImGuiCol_PlotLines)}};
        auto point = [](const char* label, const chip::StepCost& c, unsigned int color) {
            return RoofPoint{label, c.ops / c.bytes, c.ops / std::max(c.compute_s, c.memory_s), color};
        };
        std::vector<RoofPoint> points = {point("prefill", e.prefill, kPrefillColor),
                                         point("decode", e.decode_first, kDecodeColor)};
        // The KV cache grows during decode: show where the last step lands when it moved visibly.
        const RoofPoint last = point("decode, last token", e.decode_last, kDecodeColor);
        if (std::abs(last.intensity / points[1].intensity - 1.0) > 0.25) points.push_back(last);
        ImGui::Spacing();
        roofline_chart("llm_roofline", roofs, points, -1.0f, std::max(16.0f * fs, ImGui::GetContentRegionAvail().y - 3.0f * fs));
        ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
        ImGui::TextWrapped("Roofline estimates from the catalog's peak figures: lower bounds on time, not measurements.");
        ImGui::PopStyleColor();
    } else {
        ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)));
        ImGui::TextWrapped("No estimate for %s: %s", state.selected_chip.c_str(), selected_error.c_str());
        ImGui::PopStyleColor();
    }
    ImGui::EndChild();
    ImGui::SameLine();

    ImGui::BeginChild("all_chips", ImVec2(0, 0), false);
    ImGui::Text("The same scenario on every chip");
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit;
    if (ImGui::BeginTable("llm_all", 5, flags)) {
        ImGui::TableSetupColumn("Chip");
        ImGui::TableSetupColumn("TTFT ms");
        ImGui::TableSetupColumn("ms/token");
        ImGui::TableSetupColumn("tokens/s");
        ImGui::TableSetupColumn("fits");
        ImGui::TableHeadersRow();
        for (const auto& r : report.rows) {
            ImGui::TableNextRow();
            ImGui::TableSetColumnIndex(0);
            if (ImGui::Selectable(r.chip.c_str(), r.chip == state.selected_chip, ImGuiSelectableFlags_SpanAllColumns))
                state.selected_chip = r.chip;
            if (!r.ok) {
                ImGui::TableSetColumnIndex(1);
                ImGui::TextDisabled("n/a");
                if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", r.error.c_str());
                continue;
            }
            ImGui::TableSetColumnIndex(1);
            ImGui::Text("%.1f", r.ttft_ms);
            ImGui::TableSetColumnIndex(2);
            ImGui::Text("%.2f", r.decode_ms_per_token);
            ImGui::TableSetColumnIndex(3);
            ImGui::Text("%.0f", r.tokens_per_s);
            ImGui::TableSetColumnIndex(4);
            if (r.fits)
                ImGui::TextUnformatted("yes");
            else
                ImGui::TextColored(on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)), "no");
        }
        ImGui::EndTable();
    }
    std::vector<Bar> bars;
    for (const auto& r : report.rows) {
        Bar b;
        b.label = r.chip;
        b.known = r.ok;
        b.value = b.lo = b.hi = r.tokens_per_s;
        b.highlighted = r.chip == state.selected_chip;
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", r.tokens_per_s);
        b.text = r.ok ? buf : "n/a";
        bars.push_back(b);
    }
    ImGui::Spacing();
    bar_chart("tps", "Decode throughput (tokens/s)", "tokens/s", bars, -1.0f, IM_COL32(235, 120, 70, 255),
              "n/a: the catalog lacks a figure this estimate needs (hover the table)");
    ImGui::EndChild();
}

}  // namespace stacklab::ui
