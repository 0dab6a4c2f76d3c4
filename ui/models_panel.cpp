// The Models tab: pick a shipped classifier, a quantization recipe, a calibration method and fusion
// on/off, and watch the accuracy on 1000 real Fashion-MNIST test images move against fp32, with the
// per-layer errors that explain it (weight SQNR, output SQNR, which layers went 4-bit), the
// fusions and folded BatchNorms the quantizer applied, the time of each node on one batch, the
// confusion matrix and a grid of test images with their predicted labels. The job behind it is
// update_models (models_eval.cpp), spread over frames with a progress bar.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <imgui.h>

#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {

namespace {

// Fashion-MNIST's classes, label 0..9 (Xiao, Rasul, Vollgraf 2017, github.com/zalandoresearch/
// fashion-mnist, README "Labels").
const char* const kFashionClasses[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
std::string class_name(int c) { return c >= 0 && c < 10 ? kFashionClasses[c] : std::to_string(c); }

// Wall-clock budget of the job per frame: at 60 Hz a frame has 16.7 ms; the job takes about half,
// one step at least (the quantization step itself cannot be split, see the panel's note).
constexpr double kJobBudgetMs = 8.0;

const ImU32 kFp32Col = IM_COL32(90, 150, 230, 255), kQuantCol = IM_COL32(235, 150, 60, 255),
            kInt4Col = IM_COL32(225, 80, 70, 255), kGoodCol = IM_COL32(90, 200, 120, 255);

std::string db_text(double v) {
    if (std::isinf(v)) return v > 0 ? "identical" : "-inf";
    if (std::isnan(v)) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f dB", v);
    return buf;
}

void controls(AppState& state) {
    ModelsChoice& ch = state.models_choice;
    const float fs = ImGui::GetFontSize();
    const auto models = model_ids(state);
    ImGui::SetNextItemWidth(fs * 9.0f);
    if (ImGui::BeginCombo("model", ch.model.c_str())) {
        for (const auto& m : models)
            if (ImGui::Selectable(m.c_str(), m == ch.model)) ch.model = m;
        ImGui::EndCombo();
    }
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 8.0f);
    if (ImGui::BeginCombo("recipe", ch.recipe.c_str())) {
        for (const auto& n : nn::quant_recipe_names())
            if (ImGui::Selectable(n.c_str(), n == ch.recipe)) ch.recipe = n;
        ImGui::EndCombo();
    }
    ImGui::SameLine();
    const char* calibs[] = {nn::calibration_name(nn::CalibrationMethod::min_max),
                            nn::calibration_name(nn::CalibrationMethod::percentile),
                            nn::calibration_name(nn::CalibrationMethod::mse)};
    ImGui::SetNextItemWidth(fs * 7.0f);
    ImGui::Combo("calibration", &ch.calibration, calibs, 3);
    ch.calibration = std::clamp(ch.calibration, 0, 2);
    ImGui::SameLine();
    ImGui::Checkbox("fuse Conv+ReLU / LN+GELU", &ch.fuse);
}

// Loading one's own ONNX file: the shell says how (a file picker in the browser, a path on the
// desktop); both also take a file dropped on the window. Errors are the app's red banner.
void load_row(AppState& state) {
    if (state.open_file_picker) {
        if (ImGui::Button("Open ONNX file...")) state.open_file_picker();
        const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
        state.open_file_rect = {a.x, a.y, b.x - a.x, b.y - a.y};
        ImGui::SameLine();
    }
    if (state.read_file) {
        const float fs = ImGui::GetFontSize();
        ImGui::SetNextItemWidth(fs * 22.0f);
        const bool enter = ImGui::InputTextWithHint("##onnx_path", "path/to/model.onnx", state.model_path, sizeof state.model_path,
                                                    ImGuiInputTextFlags_EnterReturnsTrue);
        ImGui::SameLine();
        if ((ImGui::Button("Load") || enter) && state.model_path[0]) {
            const std::string path = state.model_path;
            try {
                load_user_model(state, path, state.read_file(path));
            } catch (const std::exception& e) {
                state.user_model_error = "Could not load " + path + ": " + e.what();
            }
        }
        ImGui::SameLine();
    }
    ImGui::TextDisabled("or drop a .onnx file on the window");
}

// Evaluation | Graph, as two buttons whose places the report gives (the browser test clicks them).
void view_toggle(AppState& state) {
    auto button = [&](const char* label, bool active, Rect& where) {
        if (active) ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_ButtonActive));
        const bool pressed = ImGui::Button(label);
        if (active) ImGui::PopStyleColor();
        const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
        where = {a.x, a.y, b.x - a.x, b.y - a.y};
        return pressed;
    };
    if (button("Evaluation", !state.graph_view.open, state.evaluation_rect)) state.graph_view.open = false;
    ImGui::SameLine();
    if (button("Graph", state.graph_view.open, state.graph_rect)) state.graph_view.open = true;
}

// The progress bar with Cancel while the job runs (Run again once cancelled), and afterwards where
// the time went: natively the steps ran on a worker thread, in the browser over frames.
void progress(ModelsPanelReport& r) {
    const float fs = ImGui::GetFontSize();
    float f = 0.0f;
    std::string text;
    if (r.stage == "quantize") text = "quantizing (calibration on 256 training images)";
    else if (r.stage == "sqnr") f = 0.05f, text = "per-layer SQNR on 256 test images";
    else if (r.stage == "eval" || r.stage == "done" || r.stage == "cancelled") {
        f = 0.1f + 0.9f * float(r.evaluated) / float(std::max<int64_t>(1, r.n));
        text = (r.stage == "cancelled" ? "cancelled after " : "evaluated ") + std::to_string(r.evaluated) + " / " +
               std::to_string(r.n) + " test images";
    }
    ImGui::ProgressBar(f, ImVec2(fs * 24.0f, 0), text.c_str());
    r.cancel_rect = Rect();
    if (r.busy() || r.stage == "cancelled") {
        ImGui::SameLine();
        const bool busy = r.busy();
        if (ImGui::Button(busy ? "Cancel" : "Run again")) {
            if (busy) cancel_models(r);
            else restart_models(r);
        }
        const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
        r.cancel_rect = {a.x, a.y, b.x - a.x, b.y - a.y};
    }
    if (r.done()) {
        ImGui::SameLine();
        if (r.threaded)
            ImGui::TextDisabled("on a worker thread; quantize %.0f ms, SQNR %.0f ms, evaluation %.0f ms", r.quantize_ms, r.sqnr_ms,
                                r.eval_ms);
        else
            ImGui::TextDisabled("%ld frames; quantize %.0f ms, SQNR %.0f ms, evaluation %.0f ms (longest step %.0f ms)", r.frames,
                                r.quantize_ms, r.sqnr_ms, r.eval_ms, r.max_step_ms);
    }
}

// Two horizontal bars on one 0-100% scale, fp32 and the recipe, each in its own colour, with the
// accuracy and the correct count printed after it.
void accuracy_section(ModelsPanelReport& r) {
    const float fs = ImGui::GetFontSize();
    const double n = double(std::max<int64_t>(1, r.evaluated));
    const std::string quant_label =
        r.choice.recipe == "fp32" ? "fp32 (again)"
                                  : r.choice.recipe + ", " + nn::calibration_name(nn::CalibrationMethod(r.choice.calibration));
    const struct {
        std::string label;
        int64_t correct;
        ImU32 color;
    } bars[2] = {{"fp32", r.fp32_correct, kFp32Col}, {quant_label, r.quant_correct, kQuantCol}};
    ImGui::Text("Accuracy on the first %lld test images", (long long)r.evaluated);
    const float w = std::min(ImGui::GetContentRegionAvail().x, 30.0f * fs), row_h = 1.6f * fs;
    const float label_w = std::max(ImGui::CalcTextSize(bars[0].label.c_str()).x, ImGui::CalcTextSize(bars[1].label.c_str()).x) + fs * 0.6f;
    const float value_w = ImGui::CalcTextSize("100.0% (1000)").x + fs * 0.6f, bar_w = std::max(fs, w - label_w - value_w);
    const ImVec2 o = ImGui::GetCursorScreenPos();
    ImGui::Dummy(ImVec2(w, 2.0f * row_h));
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), frame = ImGui::GetColorU32(ImGuiCol_TextDisabled);
    for (int i = 0; i < 2; ++i) {
        const float y = o.y + row_h * float(i);
        const double pct = r.evaluated ? 100.0 * double(bars[i].correct) / n : 0.0;
        dl->AddText(ImVec2(o.x, y + (row_h - fs) * 0.5f), text, bars[i].label.c_str());
        const ImVec2 p0(o.x + label_w, y + 0.2f * fs), p1(o.x + label_w + bar_w, y + row_h - 0.2f * fs);
        dl->AddRect(p0, p1, frame);  // the 100% frame, so a bar reads as a fraction
        dl->AddRectFilled(p0, ImVec2(p0.x + float(pct / 100.0) * bar_w, p1.y), bars[i].color);
        char buf[48];
        std::snprintf(buf, sizeof buf, "%.1f%% (%lld)", pct, (long long)bars[i].correct);
        dl->AddText(ImVec2(p1.x + fs * 0.4f, y + (row_h - fs) * 0.5f), text, buf);
    }
    r.accuracy_rect = {o.x, o.y, w, 2.0f * row_h};
    if (r.evaluated > 0) {
        const double delta = 100.0 * (double(r.quant_correct) - double(r.fp32_correct)) / n;
        ImGui::Text("change %+.1f points; logits SQNR %s (first 256 test images)", delta, db_text(r.logits_sqnr_db).c_str());
    }
    for (const auto& f : r.quant.fusions) ImGui::TextDisabled("fused      %s", f.c_str());
    for (const auto& f : r.quant.folded_batch_norms) ImGui::TextDisabled("folded BN  %s", f.c_str());
    if (r.choice.recipe != "fp32" && r.quant.fusions.empty()) ImGui::TextDisabled("no fusions (fusion off or none applies)");
}

// The error histogram of one layer's output (nn::layer_sqnr's, the numbers `stacklab eval --json`
// prints): (quantized - fp32) in units of the fp32 output's RMS, log-scaled counts, the layer picked
// in a combo (at first the one with the lowest output SQNR: where quantization hurts most).
void error_histogram_section(ModelsPanelReport& r) {
    const auto& layers = r.quant.layers;
    if (layers.empty() || layers[0].error_histogram.size() != size_t(nn::kErrorBins)) return;
    if (r.histogram_layer < 0 || r.histogram_layer >= int(layers.size())) {
        r.histogram_layer = 0;
        for (size_t k = 1; k < layers.size(); ++k)
            if (layers[k].sqnr_db < layers[size_t(r.histogram_layer)].sqnr_db) r.histogram_layer = int(k);
    }
    const float fs = ImGui::GetFontSize();
    ImGui::Spacing();
    ImGui::TextUnformatted("Output error of");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(10.0f * fs);
    if (ImGui::BeginCombo("##histogram_layer", layers[size_t(r.histogram_layer)].name.c_str())) {
        for (size_t k = 0; k < layers.size(); ++k)
            if (ImGui::Selectable(layers[k].name.c_str(), int(k) == r.histogram_layer)) r.histogram_layer = int(k);
        ImGui::EndCombo();
    }
    ImGui::SameLine();
    ImGui::TextDisabled("(quantized - fp32) / RMS of the fp32 output; end bins include beyond");
    const nn::LayerQuant& l = layers[size_t(r.histogram_layer)];
    std::vector<std::string> labels;
    std::vector<double> counts;
    std::vector<unsigned int> colors;
    const int half = nn::kErrorBins / 2;
    for (int b = 0; b < nn::kErrorBins; ++b) {
        const int off = b > half ? b - half : half - b;
        char text[16] = "";
        if (off % 5 == 0) std::snprintf(text, sizeof text, "%+.2f", double(b - half) * nn::kErrorBinWidth);
        labels.push_back(off == 0 ? "0" : text);
        counts.push_back(double(l.error_histogram[size_t(b)]));
        colors.push_back(off <= 1 ? IM_COL32(90, 200, 120, 255) : off <= 5 ? IM_COL32(235, 180, 60, 255) : IM_COL32(225, 80, 70, 255));
    }
    const ImVec2 at = ImGui::GetCursorScreenPos();
    const float w = std::max(30.0f * fs, r.layers_rect.w), h = 9.0f * fs;
    column_chart("error_hist", labels, counts, colors, w, h, true);
    r.histogram_rect = {at.x, at.y, w, h};
}

// The per-layer table: weights format (4-bit layers in red), weight SQNR and output SQNR as bars
// on a 0..60 dB scale (int8 sits near 40 dB, int4 near 20 dB: the scale keeps both readable).
void layers_section(ModelsPanelReport& r) {
    const float fs = ImGui::GetFontSize();
    if (r.quant.layers.empty()) {
        ImGui::TextDisabled("fp32: no layer is quantized.");
        return;
    }
    const ImVec2 at = ImGui::GetCursorScreenPos();
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit;
    const float bar_w = 9.0f * fs;
    if (ImGui::BeginTable("layers", 5, flags)) {
        ImGui::TableSetupColumn("layer");
        ImGui::TableSetupColumn("op");
        ImGui::TableSetupColumn("weights");
        ImGui::TableSetupColumn("weight SQNR", ImGuiTableColumnFlags_WidthFixed, bar_w);
        ImGui::TableSetupColumn("output SQNR", ImGuiTableColumnFlags_WidthFixed, bar_w);
        ImGui::TableHeadersRow();
        auto bar = [&](double db, ImU32 col) {
            const ImVec2 p = ImGui::GetCursorScreenPos();
            const float h = ImGui::GetTextLineHeight();
            ImDrawList* dl = ImGui::GetWindowDrawList();
            const double v = std::isinf(db) && db > 0 ? 60.0 : std::isnan(db) ? 0.0 : std::clamp(db, 0.0, 60.0);
            dl->AddRectFilled(p, ImVec2(p.x + float(v / 60.0) * bar_w, p.y + h), col);
            ImGui::TextUnformatted(db_text(db).c_str());
        };
        for (const auto& l : r.quant.layers) {
            ImGui::TableNextRow();
            ImGui::TableSetColumnIndex(0);
            ImGui::TextUnformatted(l.name.c_str());
            ImGui::TableSetColumnIndex(1);
            std::string op = l.op_type;
            for (const auto& f : l.fused) op += "+" + f;
            ImGui::TextUnformatted(op.c_str());
            ImGui::TableSetColumnIndex(2);
            if (l.weight_bits > 0 && l.weight_bits <= 4) ImGui::TextColored(ImColor(kInt4Col), "%s", l.weights.c_str());
            else ImGui::TextUnformatted(l.weights.c_str());
            if (!l.note.empty() && ImGui::IsItemHovered()) ImGui::SetTooltip("%s", l.note.c_str());
            ImGui::TableSetColumnIndex(3);
            if (l.weight_bits > 0) bar(l.weight_sqnr_db, ImGui::GetColorU32(ImGuiCol_PlotHistogram, 0.55f));
            else ImGui::TextDisabled("-");
            ImGui::TableSetColumnIndex(4);
            bar(l.sqnr_db, ImGui::GetColorU32(ImGuiCol_PlotLines, 0.55f));
        }
        ImGui::EndTable();
    }
    r.layers_rect = {at.x, at.y, ImGui::GetItemRectSize().x, ImGui::GetItemRectSize().y};
    ImGui::TextDisabled("bars: 0-60 dB; red weights: 4-bit. Output SQNR: the layer's output against fp32.");
    error_histogram_section(r);
}

// Confusion matrix of the quantized model: rows the true class, columns the predicted one; each
// cell's shade is its share of the row, the diagonal green and errors red.
void confusion_section(ModelsPanelReport& r) {
    const float fs = ImGui::GetFontSize();
    const int k = int(r.classes);
    if (k <= 0 || r.confusion.size() != size_t(k) * size_t(k)) return;
    ImGui::Text("Confusion (%s): rows true, columns predicted", r.choice.recipe.c_str());
    const float cell = std::floor(1.8f * fs), label_w = 6.0f * fs;
    const ImVec2 o = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("confusion", ImVec2(label_w + cell * float(k), cell * float(k) + fs));
    const bool hovered = ImGui::IsItemHovered();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), grid = ImGui::GetColorU32(ImGuiCol_Border);
    for (int t = 0; t < k; ++t) {
        int64_t row_total = 0;
        for (int p = 0; p < k; ++p) row_total += r.confusion[size_t(t * k + p)];
        dl->AddText(ImVec2(o.x, o.y + cell * float(t) + (cell - fs) * 0.5f), text, class_name(t).c_str());
        for (int p = 0; p < k; ++p) {
            const int64_t c = r.confusion[size_t(t * k + p)];
            const float share = row_total ? float(c) / float(row_total) : 0.0f;
            const ImVec2 a(o.x + label_w + cell * float(p), o.y + cell * float(t)), b(a.x + cell, a.y + cell);
            if (c > 0) {
                const ImU32 base = t == p ? kGoodCol : kInt4Col;
                const float alpha = t == p ? 0.25f + 0.75f * share : std::min(1.0f, 0.25f + 3.0f * share);
                dl->AddRectFilled(a, b, (base & 0x00FFFFFFu) | (ImU32(alpha * 255.0f) << 24));
                const std::string s = std::to_string(c);
                const ImVec2 ts = ImGui::CalcTextSize(s.c_str());
                if (ts.x < cell) dl->AddText(ImVec2(a.x + (cell - ts.x) * 0.5f, a.y + (cell - ts.y) * 0.5f), text, s.c_str());
            }
            dl->AddRect(a, b, grid);
        }
    }
    for (int p = 0; p < k; ++p) {
        const std::string s = std::to_string(p);
        dl->AddText(ImVec2(o.x + label_w + cell * (float(p) + 0.35f), o.y + cell * float(k)), text, s.c_str());
    }
    if (hovered) {
        const ImVec2 m = ImGui::GetIO().MousePos;
        const int p = int((m.x - o.x - label_w) / cell), t = int((m.y - o.y) / cell);
        if (p >= 0 && p < k && t >= 0 && t < k && m.x >= o.x + label_w)
            ImGui::SetTooltip("true %s, predicted %s: %lld images", class_name(t).c_str(), class_name(p).c_str(),
                              (long long)r.confusion[size_t(t * k + p)]);
    }
    r.confusion_rect = {o.x, o.y, label_w + cell * float(k), cell * float(k) + fs};
}

// The first test images with the quantized model's prediction: green frame when right, red when
// wrong, and the fp32 prediction too where the two differ (where quantization changed the answer).
void images_section(ModelsPanelReport& r, const nn::ImageSet* test) {
    const float fs = ImGui::GetFontSize();
    if (!test) return;
    const int cols = 6, rows = 3, shown = std::min<int>(cols * rows, int(r.predictions.size()));
    const float px = std::max(1.0f, std::floor(fs / 8.0f)), side = 28.0f * px, cell_w = side + fs * 4.6f;
    ImGui::Text("First %d test images: quantized prediction (true label)", shown);
    const ImVec2 o = ImGui::GetCursorScreenPos();
    const float cell_h = side + 2.3f * fs;
    ImGui::Dummy(ImVec2(cell_w * float(cols), cell_h * float(rows)));
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
    for (int i = 0; i < shown; ++i) {
        const ImVec2 a(o.x + cell_w * float(i % cols), o.y + cell_h * float(i / cols));
        const uint8_t* img = test->pixels.data() + size_t(i) * size_t(test->rows * test->cols);
        for (int y = 0; y < int(test->rows); ++y)
            for (int x = 0; x < int(test->cols); ++x) {
                const int v = img[y * test->cols + x];
                if (v == 0) continue;  // the background is the frame's black
                dl->AddRectFilled(ImVec2(a.x + float(x) * px, a.y + float(y) * px),
                                  ImVec2(a.x + float(x + 1) * px, a.y + float(y + 1) * px), IM_COL32(v, v, v, 255));
            }
        const int label = test->labels[size_t(i)], pred = r.predictions[size_t(i)], fp = r.fp32_predictions[size_t(i)];
        dl->AddRect(ImVec2(a.x - 2, a.y - 2), ImVec2(a.x + side + 2, a.y + side + 2), pred == label ? kGoodCol : kInt4Col, 0, 0, 2.0f);
        dl->AddText(ImVec2(a.x, a.y + side + 3), pred == label ? text : kInt4Col, class_name(pred).c_str());
        if (pred != label) dl->AddText(ImVec2(a.x, a.y + side + 3 + fs), dim, ("(" + class_name(label) + ")").c_str());
        if (fp != pred) dl->AddText(ImVec2(a.x + side + 4, a.y), kFp32Col, ("fp32: " + class_name(fp)).c_str());
    }
    r.images_rect = {o.x, o.y, cell_w * float(cols), cell_h * float(rows)};
}

void timings_section(const ModelsPanelReport& r) {
    if (r.batch_timings.empty()) return;
    char title[96];
    std::snprintf(title, sizeof title, "Per-node time of one batch of %lld (%.2f ms)###timings", (long long)kModelsBatch, r.batch_ms);
    if (!ImGui::CollapsingHeader(title, ImGuiTreeNodeFlags_DefaultOpen)) return;
    double max_ms = 0;
    for (const auto& t : r.batch_timings) max_ms = std::max(max_ms, t.ms);
    const float bar_w = 8.0f * ImGui::GetFontSize();
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit;
    if (ImGui::BeginTable("timings", 4, flags)) {
        ImGui::TableSetupColumn("node");
        ImGui::TableSetupColumn("op");
        ImGui::TableSetupColumn("kernel");
        ImGui::TableSetupColumn("ms", ImGuiTableColumnFlags_WidthFixed, bar_w);
        ImGui::TableHeadersRow();
        for (const auto& t : r.batch_timings) {
            ImGui::TableNextRow();
            ImGui::TableSetColumnIndex(0);
            ImGui::TextUnformatted(t.name.c_str());
            ImGui::TableSetColumnIndex(1);
            ImGui::TextUnformatted(t.op_type.c_str());
            ImGui::TableSetColumnIndex(2);
            ImGui::TextUnformatted(t.kernel.c_str());
            ImGui::TableSetColumnIndex(3);
            const ImVec2 p = ImGui::GetCursorScreenPos();
            if (max_ms > 0)  // a bar per node: where one batch's time goes
                ImGui::GetWindowDrawList()->AddRectFilled(
                    p, ImVec2(p.x + float(t.ms / max_ms) * bar_w, p.y + ImGui::GetTextLineHeight()),
                    ImGui::GetColorU32(ImGuiCol_PlotHistogram, 0.45f));
            ImGui::Text("%.3f", t.ms);
        }
        ImGui::EndTable();
    }
}

}  // namespace

void draw_models_panel(AppState& state) {
    ModelsPanelReport& r = state.models_report;
    r.accuracy_rect = r.layers_rect = r.confusion_rect = r.images_rect = r.histogram_rect = Rect();
    ImGui::TextWrapped("Quantize a trained classifier with the embedded calibration images (the first 256 Fashion-MNIST "
                       "training images) and evaluate it on the first 1000 test images, against fp32. The same numbers "
                       "as `stacklab eval --limit 1000 --quant ...`.");
    controls(state);
    load_row(state);
    update_models(state.models_choice, r, kJobBudgetMs, state.user_models);
    view_toggle(state);
    if (r.error.empty()) {
        ImGui::SameLine();
        progress(r);
    }
    if (!r.error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)));
        ImGui::TextWrapped("No evaluation: %s", r.error.c_str());
        ImGui::PopStyleColor();
    }
    if (state.graph_view.open) {
        draw_graph_view(state);
        return;
    }
    state.graph_view.boxes.clear();
    if (!r.error.empty()) return;
    if (r.stage == "quantize" || r.stage == "sqnr" || r.stage == "restart") return;
    if (r.stage == "cancelled" && r.evaluated == 0) return;
    const float fs = ImGui::GetFontSize();
    ImGui::Separator();
    ImGui::BeginGroup();
    accuracy_section(r);
    ImGui::EndGroup();
    ImGui::SameLine(0.0f, 2.0f * fs);
    ImGui::BeginGroup();
    layers_section(r);
    ImGui::EndGroup();
    ImGui::Separator();
    ImGui::BeginGroup();
    confusion_section(r);
    ImGui::EndGroup();
    ImGui::SameLine(0.0f, 2.0f * fs);
    ImGui::BeginGroup();
    images_section(r, r.test_images.get());
    ImGui::EndGroup();
    timings_section(r);
}

bool ui_busy(const AppState& state) {
    return state.models_report.busy() || state.robot_report.busy() || state.certify_report.busy() || lesson_busy(state);
}

}  // namespace stacklab::ui
