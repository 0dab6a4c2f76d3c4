#include "ui/charts.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <imgui.h>

namespace stacklab::ui {

void bar_chart(const char* id, const char* title, const char* unit, const std::vector<Bar>& bars,
               float width, unsigned int color, const char* legend, double full_scale) {
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
    if (full_scale > 0.0) vmax = full_scale;
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
        if (full_scale > 0.0)  // the frame of the full scale, so a short bar reads as a fraction
            dl->AddRect(ImVec2(bar_x0, y + 2.0f), ImVec2(bar_x0 + bar_w, y + row_h - 4.0f), dim_col);
        const float x1 = bar_x0 + float(std::min(b.value, vmax) / vmax) * bar_w;
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
    ImGui::TextDisabled("%s", legend);
    ImGui::PopID();
}

}  // namespace stacklab::ui

namespace stacklab::ui {

namespace {

// "1 T", "100 G", ... for the y axis; "0.1", "10", ... for x.
std::string si(double v) {
    const char* units[] = {"", "k", "M", "G", "T", "P"};
    int u = 0;
    while (v >= 1000.0 && u < 5) {
        v /= 1000.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, v < 10 && v != std::floor(v) ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

}  // namespace

void roofline_chart(const char* id, const std::vector<Roof>& roofs, const std::vector<RoofPoint>& points,
                    float width, float height) {
    ImGui::PushID(id);
    if (width <= 0.0f) width = ImGui::GetContentRegionAvail().x;
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("roofline", ImVec2(width, height));
    const bool hovered = ImGui::IsItemHovered();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float fs = ImGui::GetFontSize();
    // Plot area, top left: room for the widest y-axis label.
    const ImVec2 p0(origin.x + ImGui::CalcTextSize("100 Gops/s").x + 0.6f * fs, origin.y + 0.5f * fs);
    const ImVec2 p1(origin.x + width - 1.5f * fs, origin.y + height - 2.2f * fs);  // bottom right

    // Axis ranges in decades: x from 0.1 to beyond the highest ridge and point; y two decades
    // under the lowest point up to the highest peak.
    double x_hi = 1e3, y_hi = 1e12, y_lo = 1e15;
    for (const auto& r : roofs) {
        x_hi = std::max(x_hi, 4.0 * r.peak_ops_per_s / r.bytes_per_s);
        y_hi = std::max(y_hi, r.peak_ops_per_s);
        y_lo = std::min(y_lo, 0.1 * r.bytes_per_s);
    }
    for (const auto& p : points) {
        if (p.intensity > 0) x_hi = std::max(x_hi, 2.0 * p.intensity);
        if (p.ops_per_s > 0) y_lo = std::min(y_lo, 0.5 * p.ops_per_s);
    }
    const double lx0 = -1.0, lx1 = std::ceil(std::log10(x_hi));
    double ly1 = std::ceil(std::log10(y_hi * 1.5));
    const double ly0 = std::min(std::floor(std::log10(y_lo)), ly1 - 2);
    // Headroom above the highest roof for the legend (one line per roof) and the points' labels,
    // so neither is drawn over a roof: raise the top by whole decades until they fit.
    const float legend_h = (float(roofs.size()) * 1.2f + 1.6f) * fs;
    for (int i = 0; i < 4; ++i) {
        const float roof_y = float((std::log10(y_hi) - ly0) / (ly1 - ly0)) * (p1.y - p0.y);
        if ((p1.y - p0.y) - roof_y >= legend_h) break;
        ly1 += 1.0;
    }
    auto X = [&](double v) { return p0.x + float((std::log10(v) - lx0) / (lx1 - lx0)) * (p1.x - p0.x); };
    auto Y = [&](double v) { return p1.y - float((std::log10(v) - ly0) / (ly1 - ly0)) * (p1.y - p0.y); };

    const ImU32 grid = ImGui::GetColorU32(ImGuiCol_TextDisabled, 0.35f);
    const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
    const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
    dl->AddRect(p0, p1, grid);
    for (double e = lx0; e <= lx1 + 1e-9; e += 1.0) {
        const float x = X(std::pow(10.0, e));
        dl->AddLine(ImVec2(x, p0.y), ImVec2(x, p1.y), grid);
        const std::string t = e < 0 ? "0.1" : si(std::pow(10.0, e));
        dl->AddText(ImVec2(x - ImGui::CalcTextSize(t.c_str()).x * 0.5f, p1.y + 0.2f * fs), dim, t.c_str());
    }
    for (double e = ly0; e <= ly1 + 1e-9; e += 1.0) {
        const float y = Y(std::pow(10.0, e));
        dl->AddLine(ImVec2(p0.x, y), ImVec2(p1.x, y), grid);
        const std::string t = si(std::pow(10.0, e)) + "ops/s";
        dl->AddText(ImVec2(origin.x, y - fs * 0.5f), dim, t.c_str());
    }
    const char* xlabel = "arithmetic intensity (ops per off-chip byte)";
    dl->AddText(ImVec2((p0.x + p1.x - ImGui::CalcTextSize(xlabel).x) * 0.5f, p1.y + 1.2f * fs), dim, xlabel);

    dl->PushClipRect(p0, p1, true);
    float legend_y = p0.y + 0.3f * fs;
    for (const auto& r : roofs) {
        const double ridge = r.peak_ops_per_s / r.bytes_per_s;
        const double xa = std::pow(10.0, lx0), xb = std::pow(10.0, lx1);
        dl->AddLine(ImVec2(X(xa), Y(xa * r.bytes_per_s)), ImVec2(X(ridge), Y(r.peak_ops_per_s)), r.color, 2.5f);
        dl->AddLine(ImVec2(X(ridge), Y(r.peak_ops_per_s)), ImVec2(X(xb), Y(r.peak_ops_per_s)), r.color, 2.5f);
        dl->AddCircleFilled(ImVec2(X(ridge), Y(r.peak_ops_per_s)), 4.0f, r.color);
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s: %s ops/s, ridge at %.0f ops/byte", r.label.c_str(),
                      si(r.peak_ops_per_s).c_str(), ridge);
        dl->AddText(ImVec2(p0.x + 0.5f * fs, legend_y), r.color, buf);
        legend_y += fs * 1.2f;
    }
    int hovered_point = -1;
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    // Points that land on one another (the same operator class at nearly the same intensity) share
    // one label, "D1,D2,D3", instead of drawing their labels over each other.
    struct LabelGroup {
        ImVec2 at;
        std::string text;
    };
    std::vector<LabelGroup> labels;
    for (size_t i = 0; i < points.size(); ++i) {
        const RoofPoint& p = points[i];
        if (!(p.intensity > 0) || !(p.ops_per_s > 0)) continue;
        const ImVec2 c(X(p.intensity), Y(p.ops_per_s));
        dl->AddCircleFilled(c, 5.0f, p.color);
        dl->AddCircle(c, 5.0f, text);
        if (hovered && std::abs(mouse.x - c.x) < 8 && std::abs(mouse.y - c.y) < 8) hovered_point = int(i);
        if (p.label.empty()) continue;
        auto near = std::find_if(labels.begin(), labels.end(), [&](const LabelGroup& g) {
            return std::abs(g.at.x - c.x) < 1.5f * fs && std::abs(g.at.y - c.y) < 1.0f * fs;
        });
        if (near != labels.end()) near->text += "," + p.label;
        else labels.push_back({c, p.label});
    }
    for (const LabelGroup& g : labels) {
        // Left of the point when the label would run past the right edge of the plot.
        const float tw = ImGui::CalcTextSize(g.text.c_str()).x;
        const float x = g.at.x + 7.0f + tw > p1.x ? g.at.x - 7.0f - tw : g.at.x + 7.0f;
        dl->AddText(ImVec2(x, g.at.y - fs - 2.0f), text, g.text.c_str());
    }
    dl->PopClipRect();
    if (hovered_point >= 0) {
        const RoofPoint& p = points[size_t(hovered_point)];
        ImGui::SetTooltip("%s\nintensity %.2f ops/byte\n%s ops/s", p.label.c_str(), p.intensity, si(p.ops_per_s).c_str());
    }
    ImGui::PopID();
}

}  // namespace stacklab::ui

namespace stacklab::ui {

void column_chart(const char* id, const std::vector<std::string>& labels, const std::vector<double>& values,
                  const std::vector<unsigned int>& colors, float width, float height, bool log_scale) {
    ImGui::PushID(id);
    if (width <= 0.0f) width = ImGui::GetContentRegionAvail().x;
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("columns", ImVec2(width, height));
    const bool hovered = ImGui::IsItemHovered();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float fs = ImGui::GetFontSize();
    const size_t n = std::min(labels.size(), values.size());
    const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
    const ImU32 dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
    const ImU32 grid = ImGui::GetColorU32(ImGuiCol_TextDisabled, 0.35f);
    // Plot area: a line of value text above the columns, a line of labels and one of the axis
    // note below.
    const ImVec2 p0(origin.x, origin.y + 1.4f * fs), p1(origin.x + width, origin.y + height - 2.6f * fs);
    auto scaled = [&](double v) { return log_scale ? std::log10(1.0 + std::max(0.0, v)) : std::max(0.0, v); };
    double vmax = 0.0;
    for (size_t i = 0; i < n; ++i) vmax = std::max(vmax, scaled(values[i]));
    if (vmax <= 0.0) vmax = 1.0;
    dl->AddLine(ImVec2(p0.x, p1.y), ImVec2(p1.x, p1.y), grid);
    const float slot = n ? (p1.x - p0.x) / float(n) : 0.0f;
    int hovered_col = -1;
    for (size_t i = 0; i < n; ++i) {
        const float x0 = p0.x + slot * float(i) + slot * 0.15f, x1 = p0.x + slot * float(i + 1) - slot * 0.15f;
        const float y = p1.y - float(scaled(values[i]) / vmax) * (p1.y - p0.y);
        const unsigned int col = i < colors.size() ? colors[i] : text;
        if (values[i] > 0) dl->AddRectFilled(ImVec2(x0, std::min(y, p1.y - 1.0f)), ImVec2(x1, p1.y), col);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", values[i]);
        const float tw = ImGui::CalcTextSize(buf).x;
        dl->AddText(ImVec2((x0 + x1 - tw) * 0.5f, y - 1.2f * fs), values[i] > 0 ? text : dim, buf);
        const float lw = ImGui::CalcTextSize(labels[i].c_str()).x;
        dl->AddText(ImVec2((x0 + x1 - lw) * 0.5f, p1.y + 0.2f * fs), text, labels[i].c_str());
        const ImVec2 m = ImGui::GetIO().MousePos;
        if (hovered && m.x >= x0 && m.x < x1) hovered_col = int(i);
    }
    const char* note = log_scale ? "column height: log10(1 + count)" : "column height: count";
    dl->AddText(ImVec2(p0.x, p1.y + 1.3f * fs), dim, note);
    if (hovered_col >= 0)
        ImGui::SetTooltip("%s: %.0f", labels[size_t(hovered_col)].c_str(), values[size_t(hovered_col)]);
    ImGui::PopID();
}

}  // namespace stacklab::ui

namespace stacklab::ui {

namespace {

// A tick step of 1, 2 or 5 times a power of ten that puts about `ticks` ticks across `range`.
double nice_step(double range, int ticks) {
    const double raw = range / ticks;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0})
        if (m * p >= raw) return m * p;
    return 10.0 * p;
}

}  // namespace

GanttDrawn draw_gantt(const char* id, const std::vector<std::string>& lanes, const std::vector<GanttBar>& bars,
                      double span, const char* unit, GanttView& view, float width, float lane_height,
                      double known_until, const std::vector<GanttBand>& bands) {
    GanttDrawn out;
    ImGui::PushID(id);
    if (width <= 0.0f) width = ImGui::GetContentRegionAvail().x;
    const float fs = ImGui::GetFontSize();
    float label_w = 0.0f;
    for (const auto& l : lanes) label_w = std::max(label_w, ImGui::CalcTextSize(l.c_str()).x);
    const float band_h = bands.empty() ? 0.0f : 1.3f * fs;
    const float height = band_h + lane_height * float(lanes.size()) + 2.6f * fs;
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("gantt", ImVec2(width, height));
    const bool hovered = ImGui::IsItemHovered();
    const ImVec2 p0(origin.x + label_w + 0.6f * fs, origin.y + band_h),
        p1(origin.x + width - 0.5f * fs, origin.y + band_h + lane_height * float(lanes.size()));
    if (!(span > 0) || p1.x <= p0.x + 10.0f) {
        ImGui::PopID();
        return out;
    }

    // The view: zoom about the mouse with the wheel, pan by dragging; always inside [0, span].
    ImGuiIO& io = ImGui::GetIO();
    view.zoom = std::clamp(view.zoom, 1.0f, 1e5f);
    double visible = span / view.zoom;
    if (hovered && io.MouseWheel != 0.0f) {
        const double at = view.from + double((io.MousePos.x - p0.x) / (p1.x - p0.x)) * visible;
        view.zoom = std::clamp(view.zoom * std::pow(1.25f, std::clamp(io.MouseWheel, -4.0f, 4.0f)), 1.0f, 1e5f);
        visible = span / view.zoom;
        view.from = at - double((io.MousePos.x - p0.x) / (p1.x - p0.x)) * visible;
    }
    if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left))
        view.from -= double(io.MouseDelta.x / (p1.x - p0.x)) * visible;
    view.from = std::clamp(view.from, 0.0, span - visible);
    const double t0 = view.from, t1 = view.from + visible;
    auto X = [&](double t) { return p0.x + float((t - t0) / visible) * (p1.x - p0.x); };

    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImU32 grid = ImGui::GetColorU32(ImGuiCol_TextDisabled, 0.35f), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
    const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text), band = ImGui::GetColorU32(ImGuiCol_FrameBg);
    // Lanes: every other one shaded; labels where they do not overlap the one drawn above.
    float free_y = p0.y - fs;
    for (size_t i = 0; i < lanes.size(); ++i) {
        const float y = p0.y + lane_height * float(i);
        if (i % 2 == 0) dl->AddRectFilled(ImVec2(p0.x, y), ImVec2(p1.x, y + lane_height), band);
        const float ty = std::max(y + 0.5f * (lane_height - fs), y - 0.5f * fs + 0.5f * lane_height);
        if (!lanes[i].empty() && ty >= free_y) {
            dl->AddText(ImVec2(origin.x, ty), dim, lanes[i].c_str());
            free_y = ty + fs;
        }
    }
    out.lanes = int(lanes.size());
    // Time axis.
    const double step = nice_step(visible, 8);
    for (double t = std::ceil(t0 / step) * step; t <= t1 + step * 1e-9; t += step) {
        const float x = X(t);
        dl->AddLine(ImVec2(x, p0.y), ImVec2(x, p1.y + 0.2f * fs), grid);
        char buf[32];
        std::snprintf(buf, sizeof buf, step < 0.01 ? "%.4f" : step < 1 ? "%.2f" : "%.0f", t);
        dl->AddText(ImVec2(x - 0.5f * ImGui::CalcTextSize(buf).x, p1.y + 0.25f * fs), dim, buf);
    }
    char axis[96];
    std::snprintf(axis, sizeof axis, "time (%s); wheel: zoom, drag: pan", unit);
    dl->AddText(ImVec2(p0.x, p1.y + 1.35f * fs), dim, axis);

    dl->PushClipRect(p0, p1, true);
    const ImVec2 mouse = io.MousePos;
    const int mouse_lane = int(std::floor((mouse.y - p0.y) / lane_height));
    for (size_t i = 0; i < bars.size(); ++i) {
        const GanttBar& b = bars[i];
        if (b.end < t0 || b.start > t1 || b.lane < 0 || b.lane >= int(lanes.size())) continue;
        ++out.bars;
        const float y = p0.y + lane_height * float(b.lane);
        const float x0 = X(b.start), x1 = std::max(X(b.end), x0 + 1.0f);
        const float inset = lane_height > 4.0f ? 1.0f : 0.0f;
        dl->AddRectFilled(ImVec2(x0, y + inset), ImVec2(x1, y + lane_height - inset), b.color);
        if (hovered && b.lane == mouse_lane && mouse.x >= x0 - 1.0f && mouse.x <= x1 + 1.0f) out.hovered = int(i);
    }
    if (known_until >= 0 && known_until < t1) {
        const float xk = std::max(p0.x, X(known_until));
        const ImU32 hatch = ImGui::GetColorU32(ImGuiCol_TextDisabled, 0.5f);
        dl->PushClipRect(ImVec2(xk, p0.y), p1, true);
        for (float hx = xk - (p1.y - p0.y); hx < p1.x; hx += 10.0f)
            dl->AddLine(ImVec2(hx, p1.y), ImVec2(hx + (p1.y - p0.y), p0.y), hatch);
        dl->PopClipRect();
        dl->AddLine(ImVec2(xk, p0.y), ImVec2(xk, p1.y), dim, 2.0f);
        const char* note = "not recorded";
        const ImVec2 ts = ImGui::CalcTextSize(note);
        if (p1.x - xk > ts.x + fs) {
            const ImVec2 at(xk + 0.5f * fs, p0.y + 0.5f * fs);
            dl->AddRectFilled(at, ImVec2(at.x + ts.x + 8.0f, at.y + ts.y + 4.0f), ImGui::GetColorU32(ImGuiCol_WindowBg));
            dl->AddText(ImVec2(at.x + 4.0f, at.y + 2.0f), text, note);
        }
    }
    if (out.hovered >= 0) {
        const GanttBar& b = bars[size_t(out.hovered)];
        const float y = p0.y + lane_height * float(b.lane);
        dl->AddRect(ImVec2(X(b.start) - 1.0f, y), ImVec2(std::max(X(b.end), X(b.start) + 1.0f) + 1.0f, y + lane_height), text, 0.0f, 0, 2.0f);
    }
    dl->PopClipRect();
    dl->AddRect(p0, p1, grid);
    if (!bands.empty()) {
        // The strip above the lanes: each band a box, its label where it fits, its start marked down the lanes.
        const ImVec2 b0(p0.x, origin.y), b1(p1.x, origin.y + band_h - 1.0f);
        dl->PushClipRect(b0, ImVec2(p1.x, p1.y), true);
        for (size_t i = 0; i < bands.size(); ++i) {
            const GanttBand& b = bands[i];
            if (b.end < t0 || b.start > t1) continue;
            ++out.bands;
            const float x0 = X(b.start), x1 = std::max(X(b.end), x0 + 1.0f);
            dl->AddRectFilled(ImVec2(x0, b0.y), ImVec2(x1, b1.y), b.color);
            dl->AddLine(ImVec2(x0, b0.y), ImVec2(x0, p1.y), grid);
            const ImVec2 ts = ImGui::CalcTextSize(b.label.c_str());
            const float lx = std::max(x0, b0.x) + 2.0f;
            if (std::min(x1, b1.x) - lx > ts.x + 2.0f)
                dl->AddText(ImVec2(lx, b0.y + 0.5f * (band_h - 1.0f - ts.y)), IM_COL32(20, 20, 20, 255), b.label.c_str());
            if (hovered && mouse.y >= b0.y && mouse.y < b1.y + 1.0f && mouse.x >= x0 && mouse.x <= x1) out.hovered_band = int(i);
        }
        dl->PopClipRect();
        out.band_y = origin.y;
        out.band_h = band_h;
    }
    out.x = origin.x;
    out.y = origin.y;
    out.w = width;
    out.h = height;
    out.plot_x = p0.x;
    out.plot_y = p0.y;
    out.plot_w = p1.x - p0.x;
    out.plot_h = p1.y - p0.y;
    ImGui::PopID();
    return out;
}

namespace {

double relative_luminance(const ImVec4& c) {
    auto lin = [](float v) { return v <= 0.03928f ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * lin(c.x) + 0.7152 * lin(c.y) + 0.0722 * lin(c.z);
}

}  // namespace

double contrast_ratio(const ImVec4& a, const ImVec4& b) {
    const double x = relative_luminance(a), y = relative_luminance(b);
    return (std::max(x, y) + 0.05) / (std::min(x, y) + 0.05);
}

ImVec4 on_theme(const ImVec4& color) {
    const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
    ImVec4 c = color;
    if (relative_luminance(bg) < 0.5) return c;
    for (int i = 0; i < 40 && contrast_ratio(c, bg) < 4.5; ++i) {
        c.x *= 0.9f;
        c.y *= 0.9f;
        c.z *= 0.9f;
    }
    return c;
}

unsigned int on_theme(unsigned int packed) { return ImGui::ColorConvertFloat4ToU32(on_theme(ImGui::ColorConvertU32ToFloat4(packed))); }

}  // namespace stacklab::ui
