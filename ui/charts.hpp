// Small chart helpers drawn straight onto ImGui's draw list (no plotting library needed).
#pragma once

#include <string>
#include <vector>

struct ImVec4;

namespace stacklab::ui {

struct Bar {
    std::string label;
    bool known = false;    // false: drawn as "n/a", no bar
    double value = 0.0;    // the default figure
    double lo = 0.0, hi = 0.0;  // range of public claims; lo == hi when there is one figure
    bool uncertain = false;     // assumed or only reported: drawn hatched
    bool highlighted = false;   // the chip selected in the scenario
    std::string text;           // the value as printed at the end of the bar
};

// A status colour (pass green, fail red, warning orange, ...) chosen for the dark theme, made to
// read in the light one: when the current style's window background is light, the colour is
// darkened (hue kept) until its contrast against that background is at least 4.5:1 (WCAG 2.1 AA
// for normal text). In the dark theme it is returned unchanged.
ImVec4 on_theme(const ImVec4& c);
unsigned int on_theme(unsigned int packed);            // the same for an IM_COL32 colour
double contrast_ratio(const ImVec4& a, const ImVec4& b);  // WCAG 2.1: (L1 + 0.05) / (L2 + 0.05)

// Horizontal bar chart: one row per bar, a whisker for the claimed range, `text` at the end,
// and a one-line legend under it (`legend`). The full bar width is `full_scale`, or the largest
// value when `full_scale` <= 0. `width` <= 0 takes the available width.
void bar_chart(const char* id, const char* title, const char* unit, const std::vector<Bar>& bars,
               float width, unsigned int color,
               const char* legend = "whisker: range of public claims; hatched: assumed or only reported",
               double full_scale = 0.0);

}  // namespace stacklab::ui

namespace stacklab::ui {

// One roof of a roofline chart: min(peak, intensity * bandwidth).
struct Roof {
    std::string label;      // e.g. "int8 peak"
    double peak_ops_per_s = 0;
    double bytes_per_s = 0;
    unsigned int color = 0;
};
// One operator (or step) on the chart: its arithmetic intensity and the rate it reaches.
struct RoofPoint {
    std::string label;
    double intensity = 0;   // ops per byte
    double ops_per_s = 0;
    unsigned int color = 0;
};
// Log-log roofline chart: decades of ops/byte on x and ops/s on y, each roof with its ridge point
// marked, each point labelled; hovering a point shows its numbers. `size.x` <= 0 takes the width.
void roofline_chart(const char* id, const std::vector<Roof>& roofs, const std::vector<RoofPoint>& points,
                    float width, float height);

}  // namespace stacklab::ui

namespace stacklab::ui {

// Vertical columns (a histogram): one column per label, in `colors[i]`, its value printed above it
// and the label under it. With `log_scale` the heights are log10(1 + value), so that a bin of 3
// next to a bin of 12000 is still visible (the axis says so). `width` <= 0 takes the width.
void column_chart(const char* id, const std::vector<std::string>& labels, const std::vector<double>& values,
                  const std::vector<unsigned int>& colors, float width, float height, bool log_scale);

}  // namespace stacklab::ui

namespace stacklab::ui {

// One bar of a Gantt chart: the interval [start, end) on one lane, in the chart's time unit.
struct GanttBar {
    int lane = 0;
    double start = 0, end = 0;
    unsigned int color = 0;
};
// The visible window, kept by the caller between frames: zoom >= 1 (1: the whole span) and the
// time at the left edge.
struct GanttView {
    float zoom = 1.0f;
    double from = 0;
};
// A labelled interval drawn in a strip above the lanes (e.g. the op a whole model runs at that time).
struct GanttBand {
    double start = 0, end = 0;
    std::string label;
    unsigned int color = 0;
};
struct GanttDrawn {
    int lanes = 0;      // lanes drawn
    long bars = 0;      // bars at least partly inside the visible window
    int hovered = -1;   // index into the bars of the bar under the mouse, -1: none
    int hovered_band = -1;  // index into the bands of the band under the mouse, -1: none
    long bands = 0;     // bands at least partly inside the visible window
    float band_y = 0, band_h = 0;  // the bands' strip (window coordinates); h = 0: no strip
    float x = 0, y = 0, w = 0, h = 0;  // where the chart was drawn (window coordinates)
    float plot_x = 0, plot_y = 0, plot_w = 0, plot_h = 0;  // the lanes' area: time axis and lanes
};
// Gantt chart: one lane per label, `lane_height` pixels each (a label that would overlap the one
// above is left out; empty labels are allowed), time from 0 to `span` on x with a tick axis in
// `unit`. A bar narrower than a pixel is drawn one pixel wide so short jobs stay visible. When the
// bars are only known up to `known_until` (>= 0; e.g. a truncated timeline) the rest is hatched.
// The mouse wheel over the chart zooms about the cursor and dragging pans, both written to `view`;
// the caller shows the tooltip of the hovered bar. `width` <= 0 takes the available width. Non-empty
// `bands` add a strip above the lanes, one box per band named where its label fits (hover: the
// caller's tooltip, GanttDrawn::hovered_band); a thin line continues each band's start down the lanes.
GanttDrawn draw_gantt(const char* id, const std::vector<std::string>& lanes, const std::vector<GanttBar>& bars,
                      double span, const char* unit, GanttView& view, float width, float lane_height,
                      double known_until = -1, const std::vector<GanttBand>& bands = {});

}  // namespace stacklab::ui
