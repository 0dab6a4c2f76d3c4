// The Systolic panel (SCALE-Sim v2 mode): a built-in example, SCALE-Sim's own golden run (AlexNet
// conv1 on a 32x32 weight-stationary array), under the array size and dataflow the user picks, with
// the per-layer COMPUTE_REPORT and access counts and the utilisation figures as bars. The numbers
// are chip::simulate_scalesim's, the code behind `stacklab simulate --scalesim-topology`; they are
// recomputed only when a control changes.
#include <algorithm>
#include <cstdio>
#include <string>

#include <imgui.h>

#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {
namespace {

// SCALE-Sim v2's golden test inputs, as tests/data/scalesim has them (see its README):
// topologies/conv_nets/alexnet_part.csv and configs/scale.cfg with Dataflow ws, CALC bandwidth.
// Kept as text and parsed by the core's SCALE-Sim parsers, so the example is what a user's files
// would be.
constexpr const char* kExampleTopology =
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    "Conv1,  224, 224,    11, 11,    3,      96,     4,\n";
constexpr const char* kExampleConfig =
    "[general]\n"
    "run_name = scale_example_run_32x32_ws\n"
    "\n"
    "[architecture_presets]\n"
    "ArrayHeight:    32\n"
    "ArrayWidth:     32\n"
    "IfmapSramSzkB:   64\n"
    "FilterSramSzkB:  64\n"
    "OfmapSramSzkB:   64\n"
    "IfmapOffset:    0\n"
    "FilterOffset:   10000000\n"
    "OfmapOffset:    20000000\n"
    "Bandwidth : 64\n"
    "Dataflow : ws\n"
    "MemoryBanks:   1\n"
    "\n"
    "[run_presets]\n"
    "InterfaceBandwidth: CALC\n";

constexpr chip::Dataflow kDataflows[3] = {chip::Dataflow::os, chip::Dataflow::ws, chip::Dataflow::is};

void update_systolic(const SystolicChoice& ch, SystolicPanelReport& r) {
    if (r.computations > 0 && r.choice == ch) return;
    ++r.computations;
    r.choice = ch;
    r.computed = false;
    r.error.clear();
    r.layers.clear();
    try {
        chip::SystolicConfig cfg = chip::parse_scalesim_config(kExampleConfig, "built-in scale.cfg");
        const auto layers = chip::parse_scalesim_topology(kExampleTopology, "built-in alexnet_part.csv");
        cfg.array_rows = ch.array_rows;
        cfg.array_cols = ch.array_cols;
        cfg.dataflow = kDataflows[std::clamp(ch.dataflow, 0, 2)];
        r.run_name = cfg.run_name;
        r.layers = chip::simulate_scalesim(cfg, layers);
        r.computed = true;
    } catch (const std::exception& e) {
        r.error = e.what();
    }
}

// SCALE-Sim's COMPUTE_REPORT columns, then its access counts, one row per layer each.
void report_tables(const std::vector<chip::LayerReport>& layers) {
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit;
    auto table = [&](const char* id, const std::vector<const char*>& heads, auto&& row) {
        if (!ImGui::BeginTable(id, int(heads.size()), flags)) return;
        for (const char* h : heads) ImGui::TableSetupColumn(h);
        ImGui::TableHeadersRow();
        for (const auto& l : layers) {
            ImGui::TableNextRow();
            int col = 0;
            row(l, [&](const char* fmt, auto v) {
                ImGui::TableSetColumnIndex(col++);
                ImGui::Text(fmt, v);
            });
        }
        ImGui::EndTable();
    };
    ImGui::TextUnformatted("Compute report");
    table("systolic_compute", {"layer", "total cycles", "stall cycles", "overall util %", "mapping eff %", "compute util %",
                               "MACs", "folds"},
          [](const chip::LayerReport& l, auto&& cell) {
              cell("%s", l.layer.c_str());
              cell("%lld", (long long)l.total_cycles);
              cell("%lld", (long long)l.stall_cycles);
              cell("%.6f", l.overall_util_pct);
              cell("%.6f", l.mapping_eff_pct);
              cell("%.6f", l.compute_util_pct);
              cell("%lld", (long long)l.macs);
              cell("%lld", (long long)l.folds);
          });
    ImGui::Spacing();
    ImGui::TextUnformatted("Accesses (words)");
    table("systolic_access", {"layer", "SRAM rd ifmap", "SRAM rd filter", "SRAM wr ofmap", "DRAM rd ifmap",
                              "DRAM rd filter", "DRAM wr ofmap"},
          [](const chip::LayerReport& l, auto&& cell) {
              cell("%s", l.layer.c_str());
              cell("%lld", (long long)l.sram_ifmap_reads);
              cell("%lld", (long long)l.sram_filter_reads);
              cell("%lld", (long long)l.sram_ofmap_writes);
              cell("%lld", (long long)l.dram_ifmap_reads);
              cell("%lld", (long long)l.dram_filter_reads);
              cell("%lld", (long long)l.dram_ofmap_writes);
          });
}

}  // namespace

void draw_systolic_panel(AppState& state) {
    SystolicChoice& ch = state.systolic_choice;
    SystolicPanelReport& r = state.systolic_report;
    r.util_rect = Rect();
    const float fs = ImGui::GetFontSize();
    ImGui::TextWrapped("SCALE-Sim v2 mode: a cycle model of a systolic array that reproduces SCALE-Sim's reports. "
                       "Built-in example: AlexNet conv1 (224x224x3 input, 96 filters of 11x11, stride 4) with 64 KiB "
                       "SRAMs per operand; \"golden run\" restores SCALE-Sim's golden configuration, a 32x32 "
                       "weight-stationary array. Your own topology and config run with `stacklab simulate "
                       "--scalesim-topology`.");
    ImGui::SetNextItemWidth(fs * 7.0f);
    ImGui::InputInt("array rows", &ch.array_rows, 8, 32);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 7.0f);
    ImGui::InputInt("array cols", &ch.array_cols, 8, 32);
    ImGui::SameLine();
    const char* flows[] = {"os (output stationary)", "ws (weight stationary)", "is (input stationary)"};
    ImGui::SetNextItemWidth(fs * 12.0f);
    ImGui::Combo("dataflow", &ch.dataflow, flows, 3);
    ImGui::SameLine();
    if (ImGui::Button("golden run")) ch = SystolicChoice();
    ch.array_rows = std::clamp(ch.array_rows, 1, kMaxSystolicDim);
    ch.array_cols = std::clamp(ch.array_cols, 1, kMaxSystolicDim);
    ch.dataflow = std::clamp(ch.dataflow, 0, 2);
    update_systolic(ch, r);
    ImGui::Separator();
    if (!r.error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)));
        ImGui::TextWrapped("No report: %s", r.error.c_str());
        ImGui::PopStyleColor();
        return;
    }
    if (!r.computed) return;
    ImGui::Text("%dx%d PEs, %s dataflow, CALC interface bandwidth", ch.array_rows, ch.array_cols,
                chip::dataflow_name(kDataflows[ch.dataflow]));
    report_tables(r.layers);
    ImGui::Spacing();
    for (const auto& l : r.layers) {
        std::vector<Bar> bars;
        auto bar = [&](const char* label, double pct) {
            Bar b;
            b.label = label;
            b.known = true;
            b.value = b.lo = b.hi = pct;
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.2f %%", pct);
            b.text = buf;
            bars.push_back(b);
        };
        bar("overall utilisation", l.overall_util_pct);
        bar("mapping efficiency", l.mapping_eff_pct);
        bar("compute utilisation", l.compute_util_pct);
        const float w = std::min(ImGui::GetContentRegionAvail().x, 50.0f * fs);
        const ImVec2 at = ImGui::GetCursorScreenPos();
        const std::string title = l.layer + ": where the PEs' cycles go (full bar = 100 %)";
        bar_chart(l.layer.c_str(), title.c_str(), "%", bars, w, IM_COL32(90, 200, 120, 255),
                  "overall: MACs / (cycles x PEs); mapping: PEs a fold uses; compute: busy PEs while computing", 100.0);
        const ImVec2 end = ImGui::GetItemRectMax();
        if (r.util_rect.w == 0) r.util_rect = {at.x, at.y, w, end.y - at.y};
        ImGui::Text("%lld cycles, %lld of them stalls waiting on the memory system; %lld MACs in %lld folds", (long long)l.total_cycles,
                    (long long)l.stall_cycles, (long long)l.macs, (long long)l.folds);
    }
}

}  // namespace stacklab::ui
