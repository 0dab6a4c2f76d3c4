// The Stack view: the pipeline chip -> model -> robot -> policy as a row of four boxes, each with
// the headline figure of its layer for the scenario in the sidebar:
//   chip    LLM decode time per token on the selected chip (chip::estimate_llm, as the LLM panel)
//   model   the fused LayerNorm+GELU kernel's worst int8 error in LSB (the Kernels panel's report)
//   robot   the PCB cell's verdict and worst round trip on the selected chip (the Robot panel's run)
//   policy  the certification decision of the chosen deployment (the Certify panel's result)
// The figures come from the panels' cached reports (computed here on first use), so changing the
// chip in the sidebar reruns only what depends on it, and a box click opens that panel.
#include <algorithm>
#include <cstdio>
#include <string>

#include <imgui.h>

#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {
namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

StackPanelReport::Box chip_box(const AppState& state) {
    StackPanelReport::Box b{"chip", "Chip: " + state.selected_chip, "n/a", "", false, 0};
    if (state.llms.empty()) return b;
    const LlmChoice& ch = state.llm_choice;
    const chip::LlmShape& shape = state.llms[size_t(std::clamp(ch.llm, 0, int(state.llms.size()) - 1))];
    auto it = std::find_if(state.chips.begin(), state.chips.end(), [&](const chip::ChipSpec& c) { return c.id == state.selected_chip; });
    if (it == state.chips.end()) return b;
    try {
        const chip::LlmQuant quant = chip::parse_llm_quant(llm_quant_names()[size_t(ch.quant)], ch.int8_kv);
        const chip::LlmEstimate e = chip::estimate_llm(shape, *it, quant, chip::LlmSystem{ch.chips, double(ch.link_gbps) * 1e9},
                                                       chip::LlmWorkload{ch.batch, ch.prompt, ch.output});
        b.value = e.decode_s_per_token * 1e3;
        b.headline = fmt("%.2f ms/token", b.value);
        b.detail = shape.id + " " + quant.name + " decode, batch " + std::to_string(ch.batch) + (e.fits ? "" : "; does NOT fit");
        b.ok = e.fits;
    } catch (const std::exception& ex) {
        b.detail = ex.what();
    }
    return b;
}

void draw_box(const StackPanelReport::Box& b, ImVec2 o, ImVec2 size, unsigned int accent) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float fs = ImGui::GetFontSize();
    dl->AddRectFilled(o, ImVec2(o.x + size.x, o.y + size.y), ImGui::GetColorU32(ImGuiCol_FrameBg), 8.0f);
    dl->AddRect(o, ImVec2(o.x + size.x, o.y + size.y), accent, 8.0f, 0, 3.0f);
    const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
    const ImU32 state_col = on_theme(b.ok ? IM_COL32(110, 215, 130, 255) : IM_COL32(240, 110, 110, 255));
    const float pad = 0.6f * fs;
    dl->AddText(ImVec2(o.x + pad, o.y + pad), dim, b.layer.c_str());
    dl->PushClipRect(o, ImVec2(o.x + size.x - pad, o.y + size.y), true);
    dl->AddText(ImVec2(o.x + pad, o.y + pad + 1.3f * fs), text, b.title.c_str());
    dl->AddText(ImGui::GetFont(), fs * 1.8f, ImVec2(o.x + pad, o.y + pad + 3.0f * fs), state_col, b.headline.c_str());
    dl->AddText(ImGui::GetFont(), fs, ImVec2(o.x + pad, o.y + pad + 5.6f * fs), dim, b.detail.c_str(), nullptr, size.x - 2 * pad);
    dl->PopClipRect();
}

}  // namespace

void draw_stack_panel(AppState& state) {
    StackPanelReport& r = state.stack_report;
    r = StackPanelReport();
    update_drift(state.kernels_choice, state.kernels_report);
    update_robot(state, state.robot_report);
    update_certify(state, state.certify_report);

    r.boxes.push_back(chip_box(state));
    {
        const KernelsPanelReport& k = state.kernels_report;
        StackPanelReport::Box b{"model", "Fused LayerNorm+GELU, int8 out", "n/a", k.error, false, 0};
        if (k.computed) {
            b.value = double(k.drift.max_abs_lsb);
            b.headline = fmt("%.0f LSB max drift", b.value);
            b.detail = k.drift.variant + fmt(", %.3f%% of outputs differ", 100.0 * double(k.drift.differing) /
                                                                                 double(std::max<size_t>(1, k.drift.rows * k.drift.cols)));
            b.ok = k.drift.max_abs_lsb <= 1;
        }
        r.boxes.push_back(b);
    }
    {
        const RobotPanelReport& rr = state.robot_report;
        StackPanelReport::Box b{"robot", "PCB cell " + rr.choice.cell, "n/a", rr.error, false, 0};
        if (rr.computed) {
            const robot::CellReport& rep = rr.run.report;
            for (const auto& s : rep.stages)
                if (s.stage == "round-trip") {
                    b.value = s.max_ms;
                    b.detail = fmt("worst round trip %.1f ms", s.max_ms) + fmt(" of %.0f ms; ", s.budget_ms) +
                               fmt("inference %.1f ms", rr.run.inference.total_ms);
                }
            b.ok = rep.pass();
            b.headline = rep.pass() ? "cell PASS" : "cell FAIL";
        } else if (rr.busy()) {
            // The cell runs as a job (a worker thread, or slices over frames): the box waits for it.
            const RobotJobState& js = rr.job;
            b.headline = js.ticks_total > 0 ? fmt("cell running, %.0f%%", 100.0 * double(js.ticks_done) / double(js.ticks_total))
                                            : std::string("cell preparing");
        }
        r.boxes.push_back(b);
    }
    {
        const CertifyPanelReport& c = state.certify_report;
        StackPanelReport::Box b{"policy", "Deployment " + c.deployment, "n/a", c.error, false, 0};
        if (c.computed) {
            b.ok = c.decision.pass;
            b.value = c.tier;
            b.headline = std::string(c.decision.pass ? "CERTIFIED" : "REFUSED") + " tier " + std::to_string(c.tier);
            b.detail = c.decision.summary + " (demo key)";
        }
        r.boxes.push_back(b);
    }

    ImGui::TextWrapped("The stack for the scenario in the sidebar. Change the chip (or the LLM) and watch every layer "
                       "respond; click a box to open its panel.");
    ImGui::Spacing();
    const float fs = ImGui::GetFontSize();
    const float avail = ImGui::GetContentRegionAvail().x, gap = 2.5f * fs;
    const ImVec2 box((avail - 3 * gap) / 4.0f, 9.5f * fs);
    const ImVec2 o = ImGui::GetCursorScreenPos();
    const unsigned int accents[] = {IM_COL32(90, 160, 230, 255), IM_COL32(150, 110, 230, 255), IM_COL32(235, 120, 70, 255),
                                    IM_COL32(90, 200, 120, 255)};
    const char* tabs[] = {"LLM serving", "Kernels", "Robot", "Certify"};
    for (size_t i = 0; i < r.boxes.size(); ++i) {
        const ImVec2 p(o.x + float(i) * (box.x + gap), o.y);
        ImGui::SetCursorScreenPos(p);
        ImGui::PushID(int(i));
        if (ImGui::InvisibleButton("box", box)) state.requested_tab = tabs[i];
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s\n(click: open %s)", r.boxes[i].detail.c_str(), tabs[i]);
        ImGui::PopID();
        draw_box(r.boxes[i], p, box, accents[i]);
        if (i + 1 < r.boxes.size()) {
            ImDrawList* dl = ImGui::GetWindowDrawList();
            const float y = p.y + box.y * 0.5f, x0 = p.x + box.x + 0.3f * fs, x1 = p.x + box.x + gap - 0.3f * fs;
            const ImU32 col = ImGui::GetColorU32(ImGuiCol_Text);
            dl->AddLine(ImVec2(x0, y), ImVec2(x1 - 0.5f * fs, y), col, 3.0f);
            dl->AddTriangleFilled(ImVec2(x1, y), ImVec2(x1 - 0.7f * fs, y - 0.45f * fs), ImVec2(x1 - 0.7f * fs, y + 0.45f * fs), col);
        }
    }
    r.rect = {o.x, o.y, avail, box.y};
    ImGui::SetCursorScreenPos(ImVec2(o.x, o.y + box.y + fs));
    ImGui::Spacing();
    ImGui::TextDisabled("chip: roofline estimate (lower bound on time) for the sidebar's LLM and quantization.");
    ImGui::TextDisabled("model: the drift input of the Kernels panel (its controls set the variant).");
    ImGui::TextDisabled("robot: the bundled cell scenario, the trained int8 classifier, the chip's roofline inference latency.");
    ImGui::TextDisabled("policy: an example deployment signed with the DEMO key; its declared evidence is illustrative.");
}

}  // namespace stacklab::ui
