// Small chart helpers drawn straight onto ImGui's draw list (no plotting library needed).
#pragma once

#include <string>
#include <vector>

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

// Horizontal bar chart: one row per bar, a whisker for the claimed range, `text` at the end,
// and a one-line legend under it.
// `width` <= 0 takes the available width.
void bar_chart(const char* id, const char* title, const char* unit, const std::vector<Bar>& bars,
               float width, unsigned int color);

}  // namespace stacklab::ui
