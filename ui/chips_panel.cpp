// The Chips panel, two views. Catalog and roofline: the catalog as a sortable table (every cell says
// where its figure comes from on hover), the selected chip's roofline with the selected LLM's layer
// GEMMs on it (and a second chip side by side on the same chart), bar charts of INT8 TOPS and memory
// bandwidth, and the selected chip's sources. Tile simulation: one of those GEMMs through the tile-
// level simulator (chip/tile_sim.hpp) on the selected chip, as a per-core Gantt chart of its DMA,
// matrix and vector jobs, with the utilization of each unit and the energy by part; or the Models
// tab's model, whole (chip/graph_sim.hpp at tile fidelity), as one such chart with each node's span
// marked above the lanes and the per-node table under it.
#include <algorithm>
#include <array>
#include <cstdio>
#include <numeric>
#include <tuple>

#include <imgui.h>

#include "chip/graph_sim.hpp"
#include "chip/roofline.hpp"
#include "chip/tile_sim.hpp"
#include "nn/graph.hpp"
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

const ChipSpec* find_chip(const AppState& state, const std::string& id) {
    for (const auto& c : state.chips)
        if (c.id == id) return &c;
    return nullptr;
}

constexpr unsigned int kRoofColors[2] = {IM_COL32(90, 170, 240, 255), IM_COL32(240, 170, 60, 255)};
constexpr chip::DType kDtypes[3] = {chip::DType::int8, chip::DType::fp16, chip::DType::bf16};

const chip::LlmShape& selected_llm(const AppState& state) {
    return state.llms[size_t(std::clamp(state.llm_choice.llm, 0, int(state.llms.size()) - 1))];
}

// The selected LLM's layer GEMMs at decode (M = batch) and prefill (M = batch x prompt), labelled
// D1.. and P1.. as on the roofline chart. Needs state.llms not empty.
struct LayerGemm {
    std::string label, name;
    chip::LlmGemm g;
};
std::vector<LayerGemm> layer_gemms(const AppState& state) {
    const chip::LlmShape& shape = selected_llm(state);
    const int decode_tokens = state.llm_choice.batch, prefill_tokens = state.llm_choice.batch * state.llm_choice.prompt;
    std::vector<LayerGemm> ops;
    for (const auto& [phase, tokens, tag] : {std::tuple{"decode", decode_tokens, 'D'}, std::tuple{"prefill", prefill_tokens, 'P'}}) {
        int n = 0;
        for (const chip::LlmGemm& g : chip::llm_layer_gemms(shape, tokens))
            ops.push_back({std::string(1, tag) + std::to_string(++n), std::string(phase) + " " + g.name, g});
    }
    return ops;
}

// The figures of the selected and the compared chip in two columns, with the ridge point of the
// chosen data type (the intensity at which an operator stops being memory-bound).
void compare_table(const std::vector<const ChipSpec*>& chips, chip::DType dtype) {
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit;
    if (!ImGui::BeginTable("compare", int(chips.size()) + 1, flags)) return;
    ImGui::TableSetupColumn("");
    for (const ChipSpec* c : chips) ImGui::TableSetupColumn(c->id.c_str());
    ImGui::TableHeadersRow();
    const std::pair<const char*, const char*> rows[] = {
        {"INT8 TOPS", "int8_tops"}, {"FP16 TFLOPS", "fp16_tflops"}, {"BF16 TFLOPS", "bf16_tflops"},
        {"Memory GB", "memory_gb"}, {"Memory GB/s", "memory_bandwidth_gbps"}, {"TDP W", "tdp_w"}};
    for (const auto& [label, key] : rows) {
        ImGui::TableNextRow();
        ImGui::TableSetColumnIndex(0);
        ImGui::TextUnformatted(label);
        for (size_t i = 0; i < chips.size(); ++i) {
            ImGui::TableSetColumnIndex(int(i) + 1);
            const Figure& f = chips[i]->figure(key);
            ImGui::TextUnformatted(chip::format_figure(f).c_str());
            if (ImGui::IsItemHovered()) figure_tooltip(f);
        }
    }
    ImGui::TableNextRow();
    ImGui::TableSetColumnIndex(0);
    ImGui::Text("Ridge (%s)", chip::dtype_name(dtype));
    for (size_t i = 0; i < chips.size(); ++i) {
        ImGui::TableSetColumnIndex(int(i) + 1);
        try {
            ImGui::Text("%.0f ops/B", chip::chip_peak(*chips[i], dtype).ridge_ops_per_byte());
        } catch (const std::exception&) {
            ImGui::TextDisabled("n/a");
        }
    }
    ImGui::EndTable();
}

// The roofline of the selected chip (and the compared one) with the selected LLM's layer GEMMs
// at decode (M = batch) and prefill (M = batch x prompt), each computed by chip::roofline as
// `stacklab simulate --gemm` does. Points are numbered; the table beside the chart names them.
void draw_chip_roofline(AppState& state, ChipsPanelReport& report, float height) {
    const float fs = ImGui::GetFontSize();
    ImGui::SetNextItemWidth(fs * 5.0f);
    const char* dtype_names[] = {"int8", "fp16", "bf16"};
    state.roofline_dtype = std::clamp(state.roofline_dtype, 0, 2);
    ImGui::Combo("data type", &state.roofline_dtype, dtype_names, 3);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 16.0f);
    const ChipSpec* other = find_chip(state, state.compare_chip);
    if (ImGui::BeginCombo("compare with", other ? other->name.c_str() : "(none)")) {
        if (ImGui::Selectable("(none)", other == nullptr)) state.compare_chip.clear();
        for (const auto& c : state.chips)
            if (c.id != state.selected_chip && ImGui::Selectable(c.name.c_str(), c.id == state.compare_chip))
                state.compare_chip = c.id;
        ImGui::EndCombo();
    }
    const chip::DType dtype = kDtypes[state.roofline_dtype];
    report.roofline_dtype = chip::dtype_name(dtype);
    std::vector<const ChipSpec*> shown;
    if (const ChipSpec* c = find_chip(state, state.selected_chip)) shown.push_back(c);
    if (other && other->id != state.selected_chip) shown.push_back(other);
    if (shown.empty() || state.llms.empty()) return;
    const chip::LlmShape& shape = selected_llm(state);
    report.roofline_llm = shape.id;
    const int decode_tokens = state.llm_choice.batch, prefill_tokens = state.llm_choice.batch * state.llm_choice.prompt;
    const std::vector<LayerGemm> ops = layer_gemms(state);

    std::vector<Roof> roofs;
    std::vector<RoofPoint> points;
    for (size_t ci = 0; ci < shown.size(); ++ci) {
        const ChipSpec& c = *shown[ci];
        chip::ChipPeak peak;
        try {
            peak = chip::chip_peak(c, dtype);
        } catch (const std::exception& e) {
            report.roofline_errors.push_back(e.what());
            continue;
        }
        report.roofline_chips.push_back(c.id);
        roofs.push_back({c.id + " " + chip::dtype_name(dtype), peak.ops_per_s, peak.mem_bytes_per_s, kRoofColors[ci]});
        for (const LayerGemm& op : ops) {
            // int8 GEMMs write int32 accumulators, fp16/bf16 ones their own type: as the CLI.
            const chip::OpWork w = chip::gemm_work(op.g.m, op.g.n, op.g.k, dtype, dtype == chip::DType::int8 ? 4 : 2);
            const chip::RooflineRow r = chip::roofline(peak, w);
            report.roofline_ops.push_back({c.id, op.name, op.g.m, op.g.n, op.g.k, r.intensity, r.time_s * 1e6,
                                           w.ops / r.time_s, chip::bound_name(r.bound)});
            // The label only once per operator: both chips' points share an intensity.
            points.push_back({ci == 0 ? op.label : "", r.intensity, w.ops / r.time_s, kRoofColors[ci]});
        }
    }
    ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)));
    for (const auto& e : report.roofline_errors) ImGui::TextWrapped("%s", e.c_str());
    ImGui::PopStyleColor();
    if (roofs.empty()) return;

    const float chart_w = ImGui::GetContentRegionAvail().x * 0.5f;
    // As tall as the tables beside it, so the bar charts under it start on the first screen.
    const float chart_h = std::clamp(height, 14.0f * fs, 25.0f * fs);
    ImGui::BeginGroup();
    const ImVec2 at = ImGui::GetCursorScreenPos();
    roofline_chart("chip_roofline", roofs, points, chart_w, chart_h);
    report.roofline_rect = {at.x, at.y, chart_w, chart_h};
    ImGui::EndGroup();
    ImGui::SameLine();
    ImGui::BeginGroup();
    ImGui::Text("%s, one layer: D = decode (M = %d), P = prefill (M = %d); time in us", shape.name.c_str(),
                decode_tokens, prefill_tokens);
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit;
    const int per_chip = int(ops.size());
    if (ImGui::BeginTable("roof_ops", 3 + int(report.roofline_chips.size()), flags)) {
        ImGui::TableSetupColumn("");
        ImGui::TableSetupColumn("GEMM  M x N x K");
        ImGui::TableSetupColumn("ops/B");
        for (const auto& id : report.roofline_chips) ImGui::TableSetupColumn(id.c_str());
        ImGui::TableHeadersRow();
        for (int i = 0; i < per_chip; ++i) {
            const LayerGemm& op = ops[size_t(i)];
            ImGui::TableNextRow();
            ImGui::TableSetColumnIndex(0);
            ImGui::TextUnformatted(op.label.c_str());
            ImGui::TableSetColumnIndex(1);
            ImGui::Text("%s %.0fx%.0fx%.0f", op.g.name.c_str(), op.g.m, op.g.n, op.g.k);
            for (size_t ci = 0; ci < report.roofline_chips.size(); ++ci) {
                const auto& r = report.roofline_ops[ci * size_t(per_chip) + size_t(i)];
                if (ci == 0) {
                    ImGui::TableSetColumnIndex(2);
                    ImGui::Text("%.1f", r.intensity);
                }
                ImGui::TableSetColumnIndex(3 + int(ci));
                ImGui::Text("%.2f %s", r.time_us, r.bound == "memory" ? "M" : "C");
            }
        }
        ImGui::EndTable();
    }
    ImGui::TextDisabled("M/C: memory-/compute-bound. Roofline lower bounds, not measurements.");
    ImGui::Spacing();
    compare_table(shown, dtype);
    ImGui::EndGroup();
}


// The unit colours of the Gantt chart, in chip::Unit order.
constexpr unsigned int kUnitColors[4] = {IM_COL32(90, 160, 230, 255), IM_COL32(235, 150, 60, 255), IM_COL32(90, 200, 120, 255),
                                         IM_COL32(190, 120, 230, 255)};
constexpr chip::Unit kUnits[4] = {chip::Unit::dma_in, chip::Unit::matrix, chip::Unit::vector, chip::Unit::dma_out};

// A tile view's cache about to be recomputed for `ch` (false: it already holds ch): counts the run
// and resets the error and the view (whole run in view).
template <class Cache, class Choice>
bool start_rerun(Cache& c, const Choice& ch) {
    if (c.computations > 0 && c.choice == ch) return false;
    ++c.computations;
    c.choice = ch;
    c.error.clear();
    c.zoom = 1.0f;
    c.from_s = 0;
    return true;
}

// The catalog chip `id` as a tile machine with its nominal figures (throws when there is none).
chip::Machine nominal_machine(const AppState& state, const std::string& id) {
    const ChipSpec* spec = find_chip(state, id);
    if (!spec) throw std::invalid_argument("no chip \"" + id + "\"");
    return chip::machine_of(*spec, chip::Pick::nominal);
}

// Reruns the simulation when the GEMM, chip or data type changed: what `stacklab simulate --chip C
// --gemm M,N,K --dtype D --fidelity tile --timeline` runs (nominal figures, the searched tile).
void update_tile_sim(const AppState& state, const TileSimChoice& ch, TileSimCache& c) {
    if (!start_rerun(c, ch)) return;
    c.result = chip::TileResult();
    try {
        const chip::Machine m = nominal_machine(state, ch.chip);
        chip::SimOptions opt;
        opt.max_timeline_events = kGanttEvents;
        c.result = chip::simulate_tiles(m, chip::gemm_op("gemm", int64_t(ch.m), int64_t(ch.n), int64_t(ch.k), kDtypes[ch.dtype]), opt);
    } catch (const std::exception& e) {
        c.error = e.what();
    }
}

// Reruns the whole-model simulation when the chip, model, graph or batch changed: what `stacklab
// simulate --chip C --model M.onnx --fidelity tile --batch B` runs (nominal figures, fusion on),
// keeping each node's first kGanttEvents events. A quantized graph is the Models tab job's
// (state.models_report.quant.model), which the caller checked is ready and is ch.graph's.
void update_model_tile(const AppState& state, const ModelTileChoice& ch, ModelTileCache& c) {
    if (!start_rerun(c, ch)) return;
    c.sim = chip::ModelSim();
    try {
        const chip::Machine m = nominal_machine(state, ch.chip);
        const nn::Graph g = ch.graph == "fp32" ? models_tab_graph(state, ch.model) : nn::import_onnx(state.models_report.quant.model);
        c.sim = chip::simulate_model(m, g, ch.model, ch.batch, chip::Fidelity::tile, true, kGanttEvents);
    } catch (const std::exception& e) {
        c.error = e.what();
    }
}

Rect group_rect() {
    const ImVec2 lo = ImGui::GetItemRectMin(), hi = ImGui::GetItemRectMax();
    return {lo.x, lo.y, hi.x - lo.x, hi.y - lo.y};
}

// A per-core timeline as a Gantt chart: the unit legend, the zoom slider, then one lane per core and
// unit that has events (core by core, in unit order), filling the height the view leaves above
// `below_h`. `bands` (the ops of a whole model) go in a strip above the lanes. Writes the chart's
// figures into `tr`; the caller shows the tooltip of GanttDrawn::hovered (an index into `events`).
GanttDrawn draw_timeline(const char* id, const std::vector<chip::TimelineEvent>& events, double span_us, double known_until,
                         float& zoom, double& from_s, float below_h, const std::vector<GanttBand>& bands,
                         ChipsPanelReport::TileSim& tr) {
    const float fs = ImGui::GetFontSize();
    std::vector<std::array<int, 4>> lane_of;
    for (const auto& e : events) {
        if (size_t(e.core) >= lane_of.size()) lane_of.resize(size_t(e.core) + 1, {-1, -1, -1, -1});
        lane_of[size_t(e.core)][size_t(e.unit)] = 0;
    }
    std::vector<std::string> lanes;
    std::vector<int> lane_core;
    for (size_t c = 0; c < lane_of.size(); ++c)
        for (int u = 0; u < 4; ++u)
            if (lane_of[c][size_t(u)] == 0) {
                lane_of[c][size_t(u)] = int(lanes.size());
                lanes.push_back("core " + std::to_string(c) + " " + chip::unit_name(kUnits[u]));
                lane_core.push_back(int(c));
            }
    std::vector<GanttBar> bars;
    bars.reserve(events.size());
    for (const auto& e : events)
        bars.push_back({lane_of[size_t(e.core)][size_t(e.unit)], e.start_s * 1e6, e.end_s * 1e6, kUnitColors[int(e.unit)]});

    for (int u = 0; u < 4; ++u) {
        const ImVec2 p = ImGui::GetCursorScreenPos();
        ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(p.x, p.y + 0.2f * fs), ImVec2(p.x + 0.8f * fs, p.y + fs), kUnitColors[u]);
        ImGui::Dummy(ImVec2(fs, fs));
        ImGui::SameLine();
        ImGui::TextUnformatted(chip::unit_name(kUnits[u]));
        ImGui::SameLine();
    }
    ImGui::SetNextItemWidth(fs * 12.0f);
    ImGui::SliderFloat("zoom", &zoom, 1.0f, 1e4f, "%.1fx", ImGuiSliderFlags_Logarithmic);

    // The chart fills what the parts under it leave, so the view needs no scrolling (the mouse
    // wheel then zooms the chart instead of scrolling the panel).
    const float band_h = bands.empty() ? 0.0f : 1.3f * fs;
    const float avail = ImGui::GetContentRegionAvail().y - below_h - band_h - 2.6f * fs - ImGui::GetStyle().ItemSpacing.y;
    const float lane_h = std::clamp(avail / float(std::max<size_t>(1, lanes.size())), 2.0f, 1.4f * fs);
    // Tall lanes carry "core c unit"; short ones only the core, on its first lane.
    if (lane_h < fs)
        for (size_t i = 0; i < lanes.size(); ++i)
            lanes[i] = i == 0 || lane_core[i] != lane_core[i - 1] ? "core " + std::to_string(lane_core[i]) : "";
    GanttView view{zoom, from_s * 1e6};
    const GanttDrawn d = draw_gantt(id, lanes, bars, span_us, "us", view, 0.0f, lane_h, known_until, bands);
    zoom = view.zoom;
    from_s = view.from * 1e-6;
    tr.gantt_rows = d.lanes;
    tr.gantt_bars = d.bars;
    tr.gantt_rect = {d.x, d.y, d.w, d.h};
    tr.gantt_plot_rect = {d.plot_x, d.plot_y, d.plot_w, d.plot_h};
    tr.view_from_us = view.from;
    tr.view_to_us = view.from + span_us / view.zoom;
    return d;
}

void error_text(const std::string& e) {
    ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)));
    ImGui::TextWrapped("No tile simulation: %s", e.c_str());
    ImGui::PopStyleColor();
}

// One GEMM of the LLM's layer at tile fidelity on the selected chip: a Gantt chart of every core's
// DMA-in, matrix, vector and DMA-out jobs, then the utilization of each unit and the energy by part.
void draw_gemm_tile(AppState& state, ChipsPanelReport::TileSim& tr) {
    const float fs = ImGui::GetFontSize();
    const std::vector<LayerGemm> gemms = layer_gemms(state);
    state.tile_gemm = std::clamp(state.tile_gemm, 0, int(gemms.size()) - 1);
    auto gemm_label = [](const LayerGemm& g) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "%s %s  %.0fx%.0fx%.0f", g.label.c_str(), g.name.c_str(), g.g.m, g.g.n, g.g.k);
        return std::string(buf);
    };
    ImGui::SetNextItemWidth(fs * 20.0f);
    if (ImGui::BeginCombo("GEMM (M x N x K)", gemm_label(gemms[size_t(state.tile_gemm)]).c_str())) {
        for (size_t i = 0; i < gemms.size(); ++i)
            if (ImGui::Selectable(gemm_label(gemms[i]).c_str(), int(i) == state.tile_gemm)) state.tile_gemm = int(i);
        ImGui::EndCombo();
    }
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 5.0f);
    const char* dtype_names[] = {"int8", "fp16", "bf16"};
    state.roofline_dtype = std::clamp(state.roofline_dtype, 0, 2);
    ImGui::Combo("data type", &state.roofline_dtype, dtype_names, 3);
    ImGui::SameLine();
    ImGui::TextDisabled("%s, one layer, on %s", selected_llm(state).name.c_str(), state.selected_chip.c_str());

    const LayerGemm& g = gemms[size_t(state.tile_gemm)];
    TileSimCache& cache = state.tile_sim;
    update_tile_sim(state, {state.selected_chip, state.roofline_dtype, g.g.m, g.g.n, g.g.k}, cache);
    tr.chip = state.selected_chip;
    tr.dtype = dtype_names[state.roofline_dtype];
    tr.gemm = g.label + " " + g.name;
    tr.m = g.g.m, tr.n = g.g.n, tr.k = g.g.k;
    tr.computations = cache.computations;
    tr.error = cache.error;
    if (!cache.error.empty()) return error_text(cache.error);
    const chip::TileResult& r = cache.result;
    tr.time_us = r.time_s * 1e6;
    tr.energy_uj = r.energy_j * 1e6;
    tr.cores_used = r.cores_used;
    tr.events = int64_t(r.timeline.size());
    tr.dropped = r.timeline_dropped;
    ImGui::Text("%lld output tiles of %lldx%lldx%lld on %d cores: %.3f us (roofline %.3f us, %s-bound), %.3f uJ",
                (long long)r.tiles, (long long)r.tile.m, (long long)r.tile.n, (long long)r.tile.k, r.cores_used, tr.time_us,
                r.roofline_s * 1e6, chip::bound_name(r.bound), tr.energy_uj);
    if (r.timeline_dropped > 0)
        ImGui::TextColored(on_theme(ImVec4(0.95f, 0.7f, 0.3f, 1.0f)),
                           "The timeline keeps the first %zu events; %lld more were dropped (time, bytes and energy count them all).",
                           r.timeline.size(), (long long)r.timeline_dropped);
    double known_until = -1;  // a truncated timeline: bars are complete only up to the last start kept
    if (r.timeline_dropped > 0) {
        known_until = 0;
        for (const auto& e : r.timeline) known_until = std::max(known_until, e.start_s * 1e6);
    }
    const float line = ImGui::GetTextLineHeightWithSpacing();
    const float bars_h = 7.0f * (line + 2.0f) + 2.5f * line + 8.0f;  // the energy chart: title, 7 rows, legend
    const GanttDrawn d = draw_timeline("tile_gantt", r.timeline, r.time_s * 1e6, known_until, cache.zoom, cache.from_s, bars_h, {}, tr);
    if (d.hovered >= 0) {
        const chip::TimelineEvent& e = r.timeline[size_t(d.hovered)];
        char buf[320];
        std::snprintf(buf, sizeof buf, "%s (%s, gemm %.0fx%.0fx%.0f %s)\ncore %d, %s, output tile %lld\nstart %.4f us, duration %.4f us\n%.0f bytes",
                      g.name.c_str(), g.label.c_str(), g.g.m, g.g.n, g.g.k, tr.dtype.c_str(), e.core, chip::unit_name(e.unit),
                      (long long)e.tile, e.start_s * 1e6, (e.end_s - e.start_s) * 1e6, e.bytes);
        ImGui::SetTooltip("%s", buf);
        tr.hovered_event = d.hovered;
        tr.tooltip = buf;
    }

    // Utilization (busy time / units x run time) and energy by part, as simulate_tiles reports them.
    tr.utilization = {{"matrix", r.util_matrix}, {"vector", r.util_vector}, {"dma", r.util_dma},
                      {"offchip", r.util_offchip}, {"l2", r.util_l2}};
    tr.energy_parts_uj = {{"mac", r.energy.mac * 1e6},         {"vector", r.energy.vector * 1e6}, {"offchip", r.energy.offchip * 1e6},
                          {"l2", r.energy.l2 * 1e6},           {"l1", r.energy.l1 * 1e6},         {"l0", r.energy.l0 * 1e6},
                          {"ub", r.energy.ub * 1e6}};
    auto to_bars = [](const std::vector<std::pair<std::string, double>>& parts, double scale, const char* fmt) {
        std::vector<Bar> out;
        for (const auto& [name, v] : parts) {
            char buf[48];
            std::snprintf(buf, sizeof buf, fmt, v * scale);
            out.push_back({name, true, v * scale, v * scale, v * scale, false, false, buf});
        }
        return out;
    };
    const float half = (ImGui::GetContentRegionAvail().x - ImGui::GetStyle().ItemSpacing.x) * 0.5f;
    ImGui::BeginGroup();
    bar_chart("tile_util", "Utilization (busy time / units x run time)", "%", to_bars(tr.utilization, 100.0, "%.1f %%"), half,
              IM_COL32(90, 170, 240, 255), "dma: the DMA-in and DMA-out engines; offchip, l2: bandwidth used", 100.0);
    ImGui::EndGroup();
    tr.util_rect = group_rect();
    ImGui::SameLine();
    ImGui::BeginGroup();
    bar_chart("tile_energy", "Energy by part (uJ)", "uJ", to_bars(tr.energy_parts_uj, 1.0, "%.3f uJ"), half,
              IM_COL32(230, 140, 60, 255), "mac: padded MACs; the rest: bytes x pJ per byte at each level (chip microarch)");
    ImGui::EndGroup();
    tr.energy_rect = group_rect();
}

// The op band's colour by lowering: matrix, vector / movement (light, so the black label reads).
unsigned int band_color(chip::Lowered k) {
    return k == chip::Lowered::matrix ? IM_COL32(245, 200, 150, 255)
           : k == chip::Lowered::vector ? IM_COL32(170, 225, 185, 255) : IM_COL32(200, 200, 210, 255);
}

std::string op_text(const chip::OpRow& r) {
    char buf[400];
    std::snprintf(buf, sizeof buf, "%s (%s, %s%s%s), %s fidelity, %s-bound\nstart %.4f us, time %.4f us, off-chip %.0f bytes, %.4f uJ",
                  r.name.c_str(), r.op.c_str(), chip::lowered_name(r.kind), r.dtype.empty() ? "" : " ", r.dtype.c_str(),
                  r.fidelity_used.c_str(), chip::bound_name(r.bound), r.start_s * 1e6, r.time_s * 1e6, r.bytes.offchip, r.energy_j * 1e6);
    std::string s = buf;
    if (!r.fused_with.empty()) {
        s += "\nfused: ";
        for (size_t i = 0; i < r.fused_with.size(); ++i) s += (i ? ", " : "") + r.fused_with[i];
    }
    if (r.fidelity_used == "roofline") s += "\nclosed-form vector model: no tile events";
    return s;
}

// The per-node table: the rows `stacklab simulate --model M --fidelity tile --json` prints.
void model_ops_table(const chip::ModelSim& sim, float height, int hovered_op) {
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit |
                                  ImGuiTableFlags_ScrollY;
    if (!ImGui::BeginTable("model_ops", 8, flags, ImVec2(0, height))) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    for (const char* h : {"node", "op", "lowered", "bound", "start us", "time us", "off-chip B", "energy uJ"}) ImGui::TableSetupColumn(h);
    ImGui::TableHeadersRow();
    for (size_t i = 0; i < sim.rows.size(); ++i) {
        const chip::OpRow& r = sim.rows[i];
        ImGui::TableNextRow();
        if (int(i) == hovered_op) ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg1, ImGui::GetColorU32(ImGuiCol_HeaderHovered));
        ImGui::TableSetColumnIndex(0);
        ImGui::TextUnformatted(r.name.c_str());
        ImGui::TableSetColumnIndex(1);
        ImGui::TextUnformatted(r.op.c_str());
        ImGui::TableSetColumnIndex(2);
        ImGui::Text("%s%s", chip::lowered_name(r.kind), r.kind == chip::Lowered::fused ? (" -> " + r.fused_into).c_str() : "");
        if (r.fidelity_used == "none") continue;
        ImGui::TableSetColumnIndex(3);
        ImGui::TextUnformatted(chip::bound_name(r.bound));
        ImGui::TableSetColumnIndex(4);
        ImGui::Text("%.3f", r.start_s * 1e6);
        ImGui::TableSetColumnIndex(5);
        ImGui::Text("%.3f%s", r.time_s * 1e6, r.fidelity_used == "roofline" ? " (r)" : "");
        ImGui::TableSetColumnIndex(6);
        ImGui::Text("%.0f", r.bytes.offchip);
        ImGui::TableSetColumnIndex(7);
        ImGui::Text("%.4f", r.energy_j * 1e6);
    }
    ImGui::EndTable();
}

// The Models tab's model, whole, at tile fidelity on the selected chip: one Gantt chart over the
// model's run with each node's span in a strip on top, then the per-node table.
void draw_model_tile(AppState& state, ChipsPanelReport::TileSim& tr) {
    const float fs = ImGui::GetFontSize();
    const std::string& model = state.models_choice.model;
    ImGui::SetNextItemWidth(fs * 6.0f);
    if (ImGui::InputInt("batch", &state.tile_batch)) state.tile_batch = std::clamp(state.tile_batch, 1, 4096);
    ImGui::SameLine();
    tr.source = "model";
    tr.chip = state.selected_chip;
    tr.model = model;
    tr.batch = state.tile_batch;
    // The quantized graph is the Models tab job's, once that job (for this model and recipe) has quantized.
    std::string graph = "fp32";
    const ModelsChoice& mc = state.models_choice;
    if (state.tile_source == 2 && mc.recipe != "fp32") {
        const ModelsPanelReport& mr = state.models_report;
        if (!(mr.choice == mc) || mr.quant.model.graph.nodes.empty()) {
            tr.error = mr.choice == mc && mr.stage == "error"
                           ? "the Models tab's job failed: " + mr.error
                           : "no quantized graph yet: the Models tab's job quantizes " + model + " with " + mc.recipe +
                                 " (open the Models tab to run it)";
            ImGui::NewLine();
            return error_text(tr.error);
        }
        graph = mc.recipe + "/" + nn::calibration_name(nn::CalibrationMethod(std::clamp(mc.calibration, 0, 2))) +
                (mc.fuse ? "/fused" : "") + " job " + std::to_string(mr.computations);
    }
    tr.graph = graph;
    ImGui::TextDisabled("%s (the Models tab's model, %s; fused), on %s", model.c_str(),
                        graph == "fp32" ? "fp32 as loaded" : ("quantized " + graph).c_str(), state.selected_chip.c_str());
    ModelTileCache& cache = state.model_tile;
    update_model_tile(state, {state.selected_chip, model, state.tile_batch, graph}, cache);
    tr.computations = cache.computations;
    tr.error = cache.error;
    if (!cache.error.empty()) return error_text(cache.error);
    const chip::ModelSim& sim = cache.sim;
    tr.time_us = sim.time_s * 1e6;
    tr.energy_uj = sim.energy_j * 1e6;
    tr.offchip_bytes = sim.bytes.offchip;
    tr.events = int64_t(sim.timeline.size());
    tr.dropped = sim.timeline_dropped;
    std::vector<int64_t> events_of(sim.rows.size(), 0);
    for (int r : sim.timeline_row) ++events_of[size_t(r)];
    std::vector<GanttBand> bands;
    std::vector<int> band_row;
    for (size_t i = 0; i < sim.rows.size(); ++i) {
        const chip::OpRow& r = sim.rows[i];
        tr.ops.push_back({r.name, r.op, r.dtype, chip::lowered_name(r.kind), r.fidelity_used,
                          r.fidelity_used == "none" ? "" : chip::bound_name(r.bound), r.start_s * 1e6, r.time_s * 1e6,
                          r.bytes.offchip, r.energy_j * 1e6, events_of[i]});
        if (r.fidelity_used == "none" || !(r.time_s > 0)) continue;  // free and fused nodes take no time
        bands.push_back({r.start_s * 1e6, (r.start_s + r.time_s) * 1e6, r.name, band_color(r.kind)});
        band_row.push_back(int(i));
    }
    ImGui::Text("%zu nodes at batch %lld: %.3f us (roofline %.3f us), %.3f uJ, %.0f bytes off-chip; nodes run one after "
                "another; (r): a closed-form vector node, no tile events",
                sim.rows.size(), (long long)sim.batch, tr.time_us, sim.roofline_s * 1e6, tr.energy_uj, sim.bytes.offchip);
    if (sim.timeline_dropped > 0)
        ImGui::TextColored(on_theme(ImVec4(0.95f, 0.7f, 0.3f, 1.0f)),
                           "Each node's timeline keeps its first %zu events; %lld more were dropped (time, bytes and energy count them all).",
                           kGanttEvents, (long long)sim.timeline_dropped);
    const float table_h = std::min(ImGui::GetTextLineHeightWithSpacing() * (float(sim.rows.size()) + 1.5f), 12.0f * fs);
    const GanttDrawn d = draw_timeline("model_gantt", sim.timeline, sim.time_s * 1e6, -1, cache.zoom, cache.from_s,
                                       table_h + ImGui::GetStyle().ItemSpacing.y, bands, tr);
    tr.op_bands = d.bands;
    tr.op_band_rect = {d.plot_x, d.band_y, d.plot_w, d.band_h};
    if (d.hovered >= 0) {
        const chip::TimelineEvent& e = sim.timeline[size_t(d.hovered)];
        tr.hovered_op = sim.timeline_row[size_t(d.hovered)];
        const chip::OpRow& r = sim.rows[size_t(tr.hovered_op)];
        char buf[400];
        std::snprintf(buf, sizeof buf, "%s (%s, %s %s)\ncore %d, %s, output tile %lld\nstart %.4f us, duration %.4f us\n%.0f bytes",
                      r.name.c_str(), r.op.c_str(), chip::lowered_name(r.kind), r.dtype.c_str(), e.core, chip::unit_name(e.unit),
                      (long long)e.tile, e.start_s * 1e6, (e.end_s - e.start_s) * 1e6, e.bytes);
        tr.hovered_event = d.hovered;
        tr.tooltip = buf;
    } else if (d.hovered_band >= 0) {
        tr.hovered_op = band_row[size_t(d.hovered_band)];
        tr.tooltip = op_text(sim.rows[size_t(tr.hovered_op)]);
    }
    if (!tr.tooltip.empty()) ImGui::SetTooltip("%s", tr.tooltip.c_str());
    ImGui::BeginGroup();
    model_ops_table(sim, table_h, tr.hovered_op);
    ImGui::EndGroup();
    tr.ops_table_rect = group_rect();
}

// The tile-simulation view: an LLM layer GEMM or the Models tab's model, chosen at the top.
void draw_tile_view(AppState& state, ChipsPanelReport::TileSim& tr) {
    tr.shown = true;
    const float fs = ImGui::GetFontSize();
    const char* sources[] = {"LLM layer GEMM", "Models tab model (fp32)", "Models tab model (quantized)"};
    state.tile_source = std::clamp(state.tile_source, 0, 2);
    ImGui::SetNextItemWidth(fs * 14.0f);
    ImGui::Combo("simulate", &state.tile_source, sources, 3);
    ImGui::SameLine();
    if (state.tile_source >= 1) return draw_model_tile(state, tr);
    if (state.llms.empty()) return;
    draw_gemm_tile(state, tr);
}

void draw_catalog_view(AppState& state, ChipsPanelReport& report);

}  // namespace

void draw_chips_panel(AppState& state) {
    ChipsPanelReport& report = state.chips_report;
    report = ChipsPanelReport();
    if (!ImGui::BeginTabBar("chips_views")) return;
    if (ImGui::BeginTabItem("Catalog and roofline")) {
        draw_catalog_view(state, report);
        ImGui::EndTabItem();
    }
    if (ImGui::BeginTabItem("Tile simulation", nullptr, state.open_tile_view ? ImGuiTabItemFlags_SetSelected : 0)) {
        state.open_tile_view = false;
        draw_tile_view(state, report.tile_sim);
        ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
}

namespace {

void draw_catalog_view(AppState& state, ChipsPanelReport& report) {
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
    draw_chip_roofline(state, report, ImGui::GetContentRegionAvail().y - 2.5f * fs);
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

}  // namespace

}  // namespace stacklab::ui
