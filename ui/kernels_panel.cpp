// The Kernels panel: the fused LayerNorm+GELU kernel against its unfused reference, for the variant
// the user picks (variance method, GELU form, fp16 intermediates) on the deterministic drift input
// (rows, cols, seed, DC offset). Everything comes from quant::layer_norm_gelu_drift on
// quant::make_drift_case, the code behind `stacklab kernels drift`, so the page and the CLI show the
// same numbers. The report is recomputed only when a control changes.
#include <algorithm>
#include <cstdio>
#include <string>

#include <imgui.h>

#include "quant/gemm.hpp"
#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {

// Recomputes the report when the choice differs from the one it was computed for.
void update_drift(const KernelsChoice& ch, KernelsPanelReport& r) {
    if (r.computations > 0 && r.choice == ch) return;
    ++r.computations;
    r.choice = ch;
    r.computed = false;
    r.error.clear();
    r.isas.clear();
    for (quant::Isa isa : quant::available_isas()) r.isas.push_back(quant::isa_name(isa));
    r.best_isa = quant::isa_name(quant::best_isa());
    if (long(ch.rows) * long(ch.cols) > kMaxDriftElements) {
        r.error = "rows x cols = " + std::to_string(long(ch.rows) * long(ch.cols)) + " is more than the page computes (" +
                  std::to_string(kMaxDriftElements) + "); `stacklab kernels drift` takes up to 16777216";
        return;
    }
    try {
        quant::LnGeluVariant v;
        v.variance = quant::VarianceMethod(ch.variance);
        v.gelu = quant::GeluForm(ch.gelu);
        v.fp16 = ch.fp16;
        const quant::DriftCase dc = quant::make_drift_case(size_t(ch.rows), size_t(ch.cols), uint32_t(ch.seed), ch.offset);
        r.drift = quant::layer_norm_gelu_drift(v, dc.x.data(), dc.rows, dc.cols, dc.gamma.data(), dc.beta.data(),
                                               dc.epsilon, dc.out);
        r.computed = true;
    } catch (const std::exception& e) {
        r.error = e.what();
    }
}

namespace {

void variant_controls(KernelsChoice& ch) {
    const float fs = ImGui::GetFontSize();
    const char* variances[] = {quant::variance_method_name(quant::VarianceMethod::two_pass),
                               quant::variance_method_name(quant::VarianceMethod::single_pass),
                               quant::variance_method_name(quant::VarianceMethod::welford)};
    const char* gelus[] = {quant::gelu_form_name(quant::GeluForm::erf), quant::gelu_form_name(quant::GeluForm::tanh)};
    ImGui::SetNextItemWidth(fs * 8.0f);
    ImGui::Combo("variance", &ch.variance, variances, 3);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 5.0f);
    ImGui::Combo("GELU", &ch.gelu, gelus, 2);
    ImGui::SameLine();
    ImGui::Checkbox("fp16 intermediates", &ch.fp16);
    ImGui::SetNextItemWidth(fs * 8.0f);
    ImGui::InputFloat("DC offset", &ch.offset, 10.0f, 1000.0f, "%g");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 7.0f);
    ImGui::InputInt("rows", &ch.rows, 1, 16);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 7.0f);
    ImGui::InputInt("cols", &ch.cols, 64, 768);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 7.0f);
    ImGui::InputInt("seed", &ch.seed, 1, 10);
    ch.variance = std::clamp(ch.variance, 0, 2);
    ch.gelu = std::clamp(ch.gelu, 0, 1);
    ch.offset = std::clamp(ch.offset, float(-kMaxDriftOffset), float(kMaxDriftOffset));
    ch.rows = std::clamp(ch.rows, 1, kMaxDriftRows);
    ch.cols = std::clamp(ch.cols, 1, kMaxDriftCols);
    ch.seed = std::max(ch.seed, 0);
}

}  // namespace

void draw_kernels_panel(AppState& state) {
    KernelsChoice& ch = state.kernels_choice;
    KernelsPanelReport& r = state.kernels_report;
    r.histogram_rect = Rect();
    ImGui::TextWrapped("Fused LayerNorm + GELU (one kernel) against the unfused reference: LayerNorm in double "
                       "(two-pass), erf GELU in double, then int8 quantization. The input is the drift case of "
                       "`stacklab kernels drift`: noise around a DC offset, per-row scales, fixed gamma/beta.");
    variant_controls(ch);
    update_drift(ch, r);
    ImGui::Separator();
    if (!r.error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)));
        ImGui::TextWrapped("No drift report: %s", r.error.c_str());
        ImGui::PopStyleColor();
    }
    if (r.computed) {
        const quant::DriftReport& d = r.drift;
        const float fs = ImGui::GetFontSize();
        const float chart_w = std::min(ImGui::GetContentRegionAvail().x * 0.6f, 46.0f * fs);
        ImGui::BeginGroup();
        ImGui::Text("Quantized output, fused - reference, in output LSBs (%zu x %zu = %zu outputs)", d.rows, d.cols,
                    d.rows * d.cols);
        std::vector<std::string> labels;
        std::vector<double> counts;
        std::vector<unsigned int> colors;
        const auto& names = quant::drift_histogram_labels();
        for (size_t i = 0; i < names.size(); ++i) {
            labels.push_back(names[i]);
            counts.push_back(double(d.lsb_histogram[i]));
            // The centre bin (no difference) green; off by one amber; further red.
            const size_t off = i > 4 ? i - 4 : 4 - i;
            colors.push_back(off == 0 ? IM_COL32(90, 200, 120, 255)
                                      : off == 1 ? IM_COL32(235, 180, 60, 255) : IM_COL32(225, 80, 70, 255));
        }
        const ImVec2 at = ImGui::GetCursorScreenPos();
        const float chart_h = std::clamp(ImGui::GetContentRegionAvail().y - 4.0f * fs, 12.0f * fs, 24.0f * fs);
        column_chart("lsb_hist", labels, counts, colors, chart_w, chart_h, true);
        r.histogram_rect = {at.x, at.y, chart_w, chart_h};
        ImGui::EndGroup();
        ImGui::SameLine(0.0f, 2.0f * fs);
        ImGui::BeginGroup();
        const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit;
        if (ImGui::BeginTable("drift_numbers", 2, flags)) {
            auto row = [](const char* key, const std::string& value) {
                ImGui::TableNextRow();
                ImGui::TableSetColumnIndex(0);
                ImGui::TextUnformatted(key);
                ImGui::TableSetColumnIndex(1);
                ImGui::TextUnformatted(value.c_str());
            };
            char buf[128];
            row("variant", d.variant);
            std::snprintf(buf, sizeof buf, "%s, scale %g, zero point %d", d.out_signed ? "int8" : "uint8",
                          double(d.out_scale), int(d.out_zero_point));
            row("output", buf);
            std::snprintf(buf, sizeof buf, "%.4g", d.max_abs_error);
            row("max abs error (fp32)", buf);
            std::snprintf(buf, sizeof buf, "%.4g", d.mean_abs_error);
            row("mean abs error (fp32)", buf);
            std::snprintf(buf, sizeof buf, "%llu of %zu (%.3f%%)", (unsigned long long)d.differing, d.rows * d.cols,
                          100.0 * double(d.differing) / double(d.rows * d.cols));
            row("int8 outputs differing", buf);
            std::snprintf(buf, sizeof buf, "%d LSB", int(d.max_abs_lsb));
            row("max |int8 error|", buf);
            ImGui::EndTable();
        }
        ImGui::TextDisabled("fp32: the fused kernel's float output against the reference,\nin real units; "
                            "int8: against quantize(reference).");
        ImGui::Spacing();
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextDisabled("Try single-pass with a DC offset of 1000: E[x^2] - E[x]^2 in float cancels "
                            "catastrophically when |mean| >> stddev; two-pass and Welford do not.");
        ImGui::PopTextWrapPos();
        ImGui::EndGroup();
    }
    ImGui::Separator();
    std::string isas;
    for (const auto& s : r.isas) isas += (isas.empty() ? "" : ", ") + s;
    ImGui::Text("Instruction sets this build dispatches its GEMM kernels to here: %s (best: %s).", isas.c_str(),
                r.best_isa.c_str());
    ImGui::TextDisabled("The LayerNorm+GELU kernel is portable C++ with a fixed summation order: the same "
                        "result natively and in the browser.");
}

}  // namespace stacklab::ui
