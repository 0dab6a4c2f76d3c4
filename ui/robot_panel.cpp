// The Robot panel: a bundled PCB cell scenario (core/lab/cell_scenario.hpp) run on the chip chosen
// in the sidebar, the code behind `stacklab robot cell --scenario ID --chip C`, so the page and the
// CLI show the same verdicts, stage latencies and action log. On top of the CLI's report the panel
// asks the cell for a trace of the arm's state (CellRunOptions::trace_period_s, which does not change
// the run) and draws the UR arm at a chosen time of the run with forward kinematics
// (robot/kinematics.hpp) plus the joint angles over time. The run is cached: it is recomputed only
// when the scenario or the chip changes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>

#include <imgui.h>

#include "robot/kinematics.hpp"
#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {

// 50 Hz: smooth enough for the plots and the 3D view, ~2000 samples for a 40 s run.
constexpr double kTracePeriodS = 0.02;

std::vector<std::string> bundled_cell_ids() { return json_file_ids(lab::bundled_cell_files()); }

namespace {

const char* const kFaultNames[] = {"outage", "dropout", "obstacle", "person", "swap"};

// How long an injected outage, dropout or obstacle lasts: a UI choice, longer than the watchdog
// timeouts of the bundled cells (link_timeout_ms 100, perception_timeout_ms 200) so each trips one.
constexpr double kFaultWindowS = 1.0;

// The scenario file's faults, then the injected ones on top (a swap replaces the file's).
void apply_faults(const RobotFaults& f, lab::CellScenario& s) {
    robot::CellConfig& c = s.cell;
    if (!f.file_faults) {
        c.network_outages.clear();
        c.sensor_dropouts.clear();
        c.obstacles.clear();
        c.persons.clear();
        c.chip_swap = robot::ChipSwapFault();
        s.swap_chip.clear();
    }
    for (const InjectedFault& x : f.added) {
        const robot::TimeWindow w{x.at_s, x.at_s + kFaultWindowS};
        switch (x.kind) {
            case FaultKind::outage: c.network_outages.push_back(w); break;
            case FaultKind::dropout: c.sensor_dropouts.push_back(w); break;
            case FaultKind::obstacle: {
                robot::ObstacleFault o;  // the core's default confidence, below every bundled threshold
                o.window = w;
                c.obstacles.push_back(o);
                break;
            }
            case FaultKind::person: {
                robot::PersonFault p;  // the core's default walk: from 3 m at 1.6 m/s to 0.5 m, 1 s there
                p.enter_s = x.at_s;
                c.persons.push_back(p);
                break;
            }
            case FaultKind::swap:
                c.chip_swap.at_s = x.at_s;
                c.chip_swap.label = x.chip;
                s.swap_chip = x.chip;
                break;
        }
    }
}

std::vector<std::string> fault_lines(const robot::CellConfig& c, const std::string& swap_chip) {
    std::vector<std::string> out;
    char buf[160];
    for (const auto& w : c.network_outages) {
        std::snprintf(buf, sizeof buf, "network outage %.2f-%.2f s", w.start_s, w.end_s);
        out.push_back(buf);
    }
    for (const auto& w : c.sensor_dropouts) {
        std::snprintf(buf, sizeof buf, "sensor dropout %.2f-%.2f s", w.start_s, w.end_s);
        out.push_back(buf);
    }
    for (const auto& o : c.obstacles) {
        std::snprintf(buf, sizeof buf, "low-confidence obstacle %.2f-%.2f s (confidence %.2f)", o.window.start_s, o.window.end_s,
                      o.confidence);
        out.push_back(buf);
    }
    for (const auto& p : c.persons) {
        std::snprintf(buf, sizeof buf, "person enters at %.2f s (from %.1f m at %.1f m/s to %.1f m)", p.enter_s, p.start_distance_m,
                      p.speed_m_s, p.min_distance_m);
        out.push_back(buf);
    }
    if (c.chip_swap.at_s >= 0) {
        std::snprintf(buf, sizeof buf, "perception moves to %s at %.2f s", swap_chip.c_str(), c.chip_swap.at_s);
        out.push_back(buf);
    }
    return out;
}

}  // namespace

const char* fault_kind_name(FaultKind k) { return kFaultNames[int(k)]; }

std::string faults_query(const RobotFaults& f) {
    std::string q = f.file_faults ? "" : "nofile";
    for (const InjectedFault& x : f.added) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s@%.2f", kFaultNames[int(x.kind)], x.at_s);
        q += (q.empty() ? "" : ",") + std::string(buf) + (x.kind == FaultKind::swap ? ":" + x.chip : "");
    }
    return q;
}

std::string parse_faults_query(const std::string& text, RobotFaults& out) {
    RobotFaults f;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        const std::string item = text.substr(start, end - start);
        start = end + 1;
        if (item == "nofile") {
            f.file_faults = false;
            continue;
        }
        const size_t at = item.find('@');
        InjectedFault x;
        const std::string kind = item.substr(0, at);
        const auto* k = std::find(std::begin(kFaultNames), std::end(kFaultNames), kind);
        if (at == std::string::npos || k == std::end(kFaultNames))
            return "fault \"" + item + "\" is not nofile or KIND@SECONDS with KIND outage, dropout, obstacle, person or swap";
        x.kind = FaultKind(k - std::begin(kFaultNames));
        std::string time = item.substr(at + 1);
        if (x.kind == FaultKind::swap) {
            const size_t colon = time.find(':');
            if (colon == std::string::npos || colon + 1 == time.size()) return "fault \"" + item + "\" needs swap@SECONDS:CHIP";
            x.chip = time.substr(colon + 1);
            time.resize(colon);
        }
        char* endp = nullptr;
        x.at_s = std::strtod(time.c_str(), &endp);
        if (time.empty() || *endp != '\0' || !std::isfinite(x.at_s) || x.at_s < 0 || x.at_s > 1e6)
            return "fault \"" + item + "\": \"" + time + "\" is not a time in [0, 1e6] s";
        f.added.push_back(x);
    }
    out = f;
    return "";
}

// The job. One run is: prepare (parse the bundled scenario, add the faults, load the arm, and
// lab::start_cell_scenario: the chip's latency estimate, the hooks, the boards), then the control
// ticks of robot::CellSim in slices, then lab::finish_cell_scenario.
struct RobotJob {
    RobotChoice choice;
    std::vector<chip::ChipSpec> chips;  // a copy: a worker thread must not read the UI's state
    lab::CellScenario scenario;
    std::vector<std::string> file_faults;
    std::shared_ptr<const robot::ArmModel> arm;
    std::unique_ptr<lab::CellScenarioSim> sim;
    lab::CellRun run;
    std::string error;
    bool finished = false;
    long slice_ticks = 250;  // ticks per step (the browser adapts it to its speed; see update_robot)
};

namespace {

// Natively a slice is 250 ticks: at the 1 kHz control rate of the bundled cells 0.25 s of cell
// time, ~2 ms of compute (a whole ~40 s run takes ~0.25 s), so a cancel waits that long at most.
// In the browser the slice adapts to the speed seen (wasm, the browser, the machine's load) so one
// takes about kTargetSliceMs, between kMinSliceTicks and kMaxSliceTicks.
constexpr long kNativeSliceTicks = 250, kMinSliceTicks = 10, kMaxSliceTicks = 4000;
constexpr double kTargetSliceMs = 2.0;
// The browser's compute budget per frame (the Models tab's job uses the same).
constexpr double kRobotBudgetMs = 8.0;

void prepare(RobotJob& j) {
    const auto& files = lab::bundled_cell_files();
    const auto ids = bundled_cell_ids();
    auto it = std::find(ids.begin(), ids.end(), j.choice.cell);
    if (it == ids.end()) throw std::invalid_argument("no bundled cell scenario \"" + j.choice.cell + "\"");
    const lab::CellFile& f = files[size_t(it - ids.begin())];
    j.scenario = lab::parse_cell_scenario(f.bytes, f.name);
    j.file_faults = fault_lines(j.scenario.cell, j.scenario.swap_chip);
    apply_faults(j.choice.faults, j.scenario);
    j.arm = std::make_shared<robot::ArmModel>(robot::bundled_arm(j.scenario.arm));
    robot::CellRunOptions opt;
    opt.trace_period_s = kTracePeriodS;
    j.sim = std::make_unique<lab::CellScenarioSim>(lab::start_cell_scenario(j.scenario, j.chips, j.choice.chip, opt));
}

// One step of the job: the preparation, or one slice of ticks (and the finish after the last).
void step(RobotJob& j) {
    try {
        if (!j.sim) {
            prepare(j);
        } else if (j.sim->sim.step(j.slice_ticks)) {
            j.run = lab::finish_cell_scenario(*j.sim);
            j.sim.reset();
            j.finished = true;
        }
    } catch (const std::exception& e) {
        j.error = e.what();
        j.sim.reset();
        j.finished = true;
    }
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The job's result into the report (the UI thread).
void take(RobotJob& j, RobotPanelReport& r) {
    RobotJobState& js = r.job;
    if (!j.error.empty()) {
        js.stage = "error";
        r.error = j.error;
        return;
    }
    js.stage = "done";
    r.scenario = std::move(j.scenario);
    r.file_faults = std::move(j.file_faults);
    r.arm = std::move(j.arm);
    r.run = std::move(j.run);
    r.computed = true;
    js.has_result = true;
    js.result_choice = j.choice;
    js.ticks_done = js.ticks_total;
}

}  // namespace

void cancel_robot(RobotPanelReport& r) {
    RobotJobState& js = r.job;
    if (!r.busy()) return;
    js.retired.retire(js.worker);
    js.work.reset();
    js.stage = "cancelled";
}

void restart_robot(RobotPanelReport& r) {
    cancel_robot(r);
    r.job.stage = "restart";
}

void update_robot(const AppState& state, RobotPanelReport& r) {
    RobotJobState& js = r.job;
    // Cancelled workers are joined once they have left their slice (never waited for here).
    js.retired.prune();
    RobotChoice ch{state.robot_cell, state.selected_chip, state.robot_faults};
    if (r.computations == 0 || !(r.choice == ch) || js.stage == "restart") {
        cancel_robot(r);
        ++r.computations;
        r.choice = ch;
        r.computed = false;
        r.error.clear();
        js.stage = "run";
        js.ticks_done = js.ticks_total = 0;
        js.frames = js.ui_thread_steps = 0;
        js.max_step_ms = js.prepare_ms = js.run_ms = 0;
        js.last_frame = state.frame;  // this frame shows the progress bar; the work starts on the next
        js.started = std::chrono::steady_clock::now();
        auto job = std::make_shared<RobotJob>();
        job->choice = ch;
        job->chips = state.chips;
        job->slice_ticks = kNativeSliceTicks;
#if !defined(__EMSCRIPTEN__)
        js.threaded = true;
        // The thread owns the job until it has finished; the UI reads the progress meanwhile and
        // takes the job (published once, at the end) after finished().
        js.worker = RobotWorker::start([j = std::move(*job)](RobotWorker& w) mutable {
            while (!j.finished && !w.cancelled()) {
                step(j);
                if (j.sim) w.set_progress(j.sim->sim.ticks_done(), j.sim->sim.ticks_total());
            }
            w.publish(std::move(j));
        });
#else
        js.threaded = false;
        js.work = std::move(job);
#endif
        return;
    }
    if (!r.busy() || js.last_frame == state.frame) return;
    js.last_frame = state.frame;
    ++js.frames;
#if !defined(__EMSCRIPTEN__)
    RobotWorker& w = *js.worker;
    js.ticks_total = w.progress_total();
    js.ticks_done = w.progress_done();
    if (w.finished()) {
        RobotJob job = w.take();  // joins the thread
        js.run_ms = ms_since(js.started);
        js.worker.reset();
        take(job, r);
    }
#else
    const auto t0 = std::chrono::steady_clock::now();
    RobotJob& j = *js.work;
    do {
        const auto s0 = std::chrono::steady_clock::now();
        const bool preparing = !j.sim;
        step(j);
        ++js.ui_thread_steps;
        const double ms = ms_since(s0);
        if (preparing) js.prepare_ms = ms;
        else js.max_step_ms = std::max(js.max_step_ms, ms);
        // The next slice sized from this one's speed (the report is the same however it is split).
        if (!preparing && ms > 0)
            j.slice_ticks = std::clamp(long(double(j.slice_ticks) * kTargetSliceMs / ms), kMinSliceTicks, kMaxSliceTicks);
        if (j.sim) {
            js.ticks_total = j.sim->sim.ticks_total();
            js.ticks_done = j.sim->sim.ticks_done();
        }
        if (preparing) break;  // the first frame after the start shows the preparation alone
    } while (!j.finished && ms_since(t0) < kRobotBudgetMs);
    if (j.finished) {
        js.run_ms = ms_since(js.started);
        take(j, r);
        js.work.reset();
    }
#endif
}

namespace {

const unsigned int kStageColors[] = {IM_COL32(90, 160, 230, 255), IM_COL32(150, 110, 230, 255), IM_COL32(235, 120, 70, 255),
                                     IM_COL32(90, 200, 120, 255), IM_COL32(230, 200, 80, 255)};
const unsigned int kJointColors[] = {IM_COL32(230, 90, 90, 255),  IM_COL32(235, 160, 60, 255), IM_COL32(220, 210, 80, 255),
                                     IM_COL32(90, 200, 120, 255), IM_COL32(90, 160, 230, 255), IM_COL32(190, 120, 230, 255)};

// One horizontal bar: the worst case of each stage of the chain, stacked, against the round-trip
// budget (a vertical line); the measured worst round trip is a second marker (it can exceed the sum
// of the stages' maxima only through the accelerator wait, which is in the round trip alone).
Rect latency_stack(const robot::CellReport& rep) {
    const robot::StageStats* rt = nullptr;
    std::vector<const robot::StageStats*> parts;
    for (const auto& s : rep.stages) {
        if (s.stage == "round-trip") rt = &s;
        else parts.push_back(&s);
    }
    double sum = 0;
    for (const auto* s : parts) sum += s->max_ms;
    const double budget = rt ? rt->budget_ms : 0, measured = rt ? rt->max_ms : 0;
    const double full = std::max({sum, budget, measured}) * 1.08;
    const float fs = ImGui::GetFontSize();
    const float w = ImGui::GetContentRegionAvail().x, h = 2.0f * fs;
    const ImVec2 o = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("latency_stack", ImVec2(w, h + 1.4f * fs));
    const bool hovered = ImGui::IsItemHovered();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
    float x = o.x;
    const double mouse_ms = (ImGui::GetIO().MousePos.x - o.x) / w * full;
    double acc = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
        const float x1 = o.x + float((acc + parts[i]->max_ms) / full) * w;
        dl->AddRectFilled(ImVec2(x, o.y), ImVec2(std::max(x1, x + 1.0f), o.y + h), kStageColors[i % 5]);
        const float tw = ImGui::CalcTextSize(parts[i]->stage.c_str()).x;
        if (x1 - x > tw + 6.0f) dl->AddText(ImVec2(x + 3.0f, o.y + 0.5f * fs), IM_COL32(20, 20, 20, 255), parts[i]->stage.c_str());
        if (hovered && mouse_ms >= acc && mouse_ms < acc + parts[i]->max_ms)
            ImGui::SetTooltip("%s: worst %.3f ms, mean %.3f ms, budget %.3f ms", parts[i]->stage.c_str(), parts[i]->max_ms,
                              parts[i]->mean_ms, parts[i]->budget_ms);
        acc += parts[i]->max_ms;
        x = x1;
    }
    const bool over = measured > budget;
    const float xb = o.x + float(budget / full) * w, xm = o.x + float(measured / full) * w;
    dl->AddLine(ImVec2(xb, o.y - 3.0f), ImVec2(xb, o.y + h + 3.0f), IM_COL32(230, 60, 60, 255), 3.0f);
    dl->AddTriangleFilled(ImVec2(xm - 6.0f, o.y + h + 0.2f * fs), ImVec2(xm + 6.0f, o.y + h + 0.2f * fs),
                          ImVec2(xm, o.y + h - 0.3f * fs), over ? IM_COL32(230, 60, 60, 255) : text);
    char buf[160];
    std::snprintf(buf, sizeof buf, "red line: round-trip budget %.1f ms;  triangle: measured worst round trip %.1f ms (%s)", budget,
                  measured, over ? "over" : "within");
    dl->AddText(ImVec2(o.x, o.y + h + 0.35f * fs), ImGui::GetColorU32(ImGuiCol_TextDisabled), buf);
    return {o.x, o.y, w, h + 1.4f * fs};  // the bar and its legend
}

// The orbit camera: yaw about the base z axis, pitch above the floor, a fixed distance; a simple
// perspective projection onto the view rectangle.
struct Camera {
    float yaw, pitch, dist;
    ImVec2 centre;
    float scale;
    // World (base frame, z up) -> screen, and the depth (larger = farther).
    ImVec2 project(const robot::Vec3& p, float* depth = nullptr) const {
        const float cy = std::cos(yaw), sy = std::sin(yaw), cp = std::cos(pitch), sp = std::sin(pitch);
        const float x = float(p[0]), y = float(p[1]), z = float(p[2]) - 0.3f;  // look at 0.3 m above the base
        const float xr = cy * x + sy * y, yr = -sy * x + cy * y;  // rotate about z
        const float depth_v = cp * yr + sp * z;                     // toward the back
        const float up = -sp * yr + cp * z;
        const float d = dist + depth_v;
        if (depth) *depth = depth_v;
        const float f = scale * dist / std::max(0.05f, d);
        return ImVec2(centre.x + xr * f, centre.y - up * f);
    }
};

// The arm at configuration q: the base, each DH link as two straight pieces (the offset d along
// the previous z axis, then a along the new x axis), drawn as thick lines with round joints and
// shaded darker the farther they are.
Rect arm_view(RobotPanelReport& r, const std::vector<double>& q, float height) {
    const float w = ImGui::GetContentRegionAvail().x;
    const ImVec2 o = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("arm_view", ImVec2(w, height));
    if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left)) {
        const ImVec2 d = ImGui::GetIO().MouseDelta;
        r.cam_yaw += d.x * 0.01f;
        r.cam_pitch = std::clamp(r.cam_pitch + d.y * 0.01f, -0.2f, 1.5f);
    }
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->PushClipRect(o, ImVec2(o.x + w, o.y + height), true);
    dl->AddRectFilled(o, ImVec2(o.x + w, o.y + height), ImGui::GetColorU32(ImGuiCol_FrameBg));
    const Camera cam{r.cam_yaw, r.cam_pitch, 2.2f, ImVec2(o.x + w * 0.5f, o.y + height * 0.55f), std::min(w, height) * 0.85f};
    // Floor grid, 1.6 m square in 0.2 m steps.
    const ImU32 grid = ImGui::GetColorU32(ImGuiCol_TextDisabled, 0.35f);
    for (int i = -4; i <= 4; ++i) {
        const double v = 0.2 * i;
        dl->AddLine(cam.project({v, -0.8, 0}), cam.project({v, 0.8, 0}), grid);
        dl->AddLine(cam.project({-0.8, v, 0}), cam.project({0.8, v, 0}), grid);
    }
    // The inspection station (board centre, 0.1 m board) and the base.
    const auto& c = r.scenario.cell;
    const double sx = c.station_x_m, sy = c.station_y_m, sz = c.station_z_m, b = 0.05;
    const ImVec2 board[4] = {cam.project({sx - b, sy - b, sz}), cam.project({sx + b, sy - b, sz}), cam.project({sx + b, sy + b, sz}),
                             cam.project({sx - b, sy + b, sz})};
    dl->AddConvexPolyFilled(board, 4, IM_COL32(60, 140, 80, 200));
    dl->AddText(ImVec2(board[2].x + 4, board[2].y), ImGui::GetColorU32(ImGuiCol_TextDisabled), "station");
    dl->AddCircleFilled(cam.project({0, 0, 0}), 14.0f, IM_COL32(110, 110, 120, 255));

    const robot::ArmModel& arm = *r.arm;
    robot::ArmData data(arm);
    robot::forward_kinematics(arm, data, q);
    std::vector<robot::Vec3> pts = {{0, 0, 0}};
    robot::Pose prev;  // base frame
    for (int i = 0; i < arm.dof(); ++i) {
        const double d = arm.link(i).d_m;
        const robot::Vec3 z{prev.R[2], prev.R[5], prev.R[8]};
        pts.push_back({prev.p[0] + d * z[0], prev.p[1] + d * z[1], prev.p[2] + d * z[2]});
        prev = data.link_pose[size_t(i)];
        pts.push_back(prev.p);
    }
    r.view_points = pts;
    // Far pieces first so near ones cover them.
    struct Piece {
        ImVec2 a, b;
        float depth;
        int link;
    };
    std::vector<Piece> pieces;
    for (size_t i = 0; i + 1 < pts.size(); ++i) {
        float da = 0, db = 0;
        const ImVec2 a = cam.project(pts[i], &da), bb = cam.project(pts[i + 1], &db);
        pieces.push_back({a, bb, 0.5f * (da + db), int(i / 2)});
    }
    std::sort(pieces.begin(), pieces.end(), [](const Piece& x, const Piece& y) { return x.depth > y.depth; });
    const float thick = std::max(6.0f, cam.scale * 0.07f);
    for (const Piece& p : pieces) {
        const float shade = std::clamp(1.0f - 0.35f * (p.depth + 0.8f), 0.45f, 1.0f);
        const ImU32 col = IM_COL32(int(90 * shade), int(160 * shade), int(230 * shade), 255);
        dl->AddLine(p.a, p.b, col, thick);
        dl->AddCircleFilled(p.a, thick * 0.5f, col);
        dl->AddCircleFilled(p.b, thick * 0.5f, col);
        dl->AddCircle(p.b, thick * 0.5f, IM_COL32(30, 30, 40, 255), 0, 1.5f);
    }
    const ImVec2 tool = cam.project(pts.back());
    dl->AddCircleFilled(tool, thick * 0.35f, IM_COL32(230, 90, 90, 255));
    dl->AddText(ImVec2(o.x + 6.0f, o.y + 4.0f), ImGui::GetColorU32(ImGuiCol_TextDisabled), "drag to orbit; red: the tool flange");
    dl->PopClipRect();
    return {o.x, o.y, w, height};
}

// Joint angles over the run, one line per joint, with a cursor at the view time; clicking or
// dragging in the plot moves the view time.
Rect joint_plot(RobotPanelReport& r, float height) {
    const auto& tr = r.run.report.trace;
    const float w = ImGui::GetContentRegionAvail().x, fs = ImGui::GetFontSize();
    const ImVec2 o = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("joint_plot", ImVec2(w, height));
    const ImVec2 p0(o.x + 3.0f * fs, o.y + 0.5f * fs), p1(o.x + w - 0.5f * fs, o.y + height - 1.4f * fs);
    const double t_end = tr.empty() ? 1.0 : tr.back().t_s;
    if (ImGui::IsItemActive())
        r.view_t_s = std::clamp(double((ImGui::GetIO().MousePos.x - p0.x) / (p1.x - p0.x)) * t_end, 0.0, t_end);
    double lo = 1e9, hi = -1e9;
    for (const auto& s : tr)
        for (double v : s.q) lo = std::min(lo, v), hi = std::max(hi, v);
    if (!(hi > lo)) lo = -1, hi = 1;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImU32 grid = ImGui::GetColorU32(ImGuiCol_TextDisabled, 0.35f), dim = ImGui::GetColorU32(ImGuiCol_TextDisabled);
    dl->AddRect(p0, p1, grid);
    auto X = [&](double t) { return p0.x + float(t / t_end) * (p1.x - p0.x); };
    auto Y = [&](double v) { return p1.y - float((v - lo) / (hi - lo)) * (p1.y - p0.y); };
    for (double v = std::ceil(lo); v <= hi; v += 1.0) {
        dl->AddLine(ImVec2(p0.x, Y(v)), ImVec2(p1.x, Y(v)), grid);
        char buf[16];
        std::snprintf(buf, sizeof buf, "%+.0f", v);
        dl->AddText(ImVec2(o.x, Y(v) - 0.5f * fs), dim, buf);
    }
    for (double t = 0; t <= t_end; t += 5.0) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.0f s", t);
        dl->AddText(ImVec2(X(t) - 0.5f * ImGui::CalcTextSize(buf).x, p1.y + 0.2f * fs), dim, buf);
    }
    if (!tr.empty()) {
        const size_t dof = tr.front().q.size();
        std::vector<ImVec2> line(tr.size());
        for (size_t j = 0; j < dof; ++j) {
            for (size_t i = 0; i < tr.size(); ++i) line[i] = ImVec2(X(tr[i].t_s), Y(tr[i].q[j]));
            dl->AddPolyline(line.data(), int(line.size()), kJointColors[j % 6], 0, 1.8f);
        }
    }
    // The faults of the run: windows shaded (outage red, dropout grey, obstacle amber), a person
    // entering or a chip swap as a vertical line.
    const auto& c = r.scenario.cell;
    auto span = [&](const robot::TimeWindow& tw, ImU32 col) {
        dl->AddRectFilled(ImVec2(X(std::min(tw.start_s, t_end)), p0.y), ImVec2(X(std::min(tw.end_s, t_end)), p1.y), col);
    };
    for (const auto& tw : c.network_outages) span(tw, IM_COL32(230, 60, 60, 70));
    for (const auto& tw : c.sensor_dropouts) span(tw, IM_COL32(160, 160, 170, 70));
    for (const auto& ob : c.obstacles) span(ob.window, IM_COL32(235, 180, 60, 60));
    for (const auto& p : c.persons)
        if (p.enter_s <= t_end) dl->AddLine(ImVec2(X(p.enter_s), p0.y), ImVec2(X(p.enter_s), p1.y), IM_COL32(235, 120, 200, 255), 2.0f);
    if (c.chip_swap.at_s >= 0 && c.chip_swap.at_s <= t_end)
        dl->AddLine(ImVec2(X(c.chip_swap.at_s), p0.y), ImVec2(X(c.chip_swap.at_s), p1.y), IM_COL32(150, 110, 230, 255), 2.0f);
    const float xc = X(r.view_t_s);
    dl->AddLine(ImVec2(xc, p0.y), ImVec2(xc, p1.y), ImGui::GetColorU32(ImGuiCol_Text), 1.5f);
    return {o.x, o.y, w, height};
}

// The trace sample nearest the view time.
const robot::CellReport::TraceSample* sample_at(const robot::CellReport& rep, double t) {
    if (rep.trace.empty()) return nullptr;
    auto it = std::lower_bound(rep.trace.begin(), rep.trace.end(), t,
                               [](const robot::CellReport::TraceSample& s, double v) { return s.t_s < v; });
    if (it == rep.trace.end()) return &rep.trace.back();
    return &*it;
}

void verdicts_and_log(const robot::CellReport& rep, double view_t) {
    const ImVec4 red = on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)), green = on_theme(ImVec4(0.45f, 0.85f, 0.5f, 1.0f));
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingFixedFit;
    if (ImGui::BeginTable("verdicts", 3, flags)) {
        ImGui::TableSetupColumn("verdict");
        ImGui::TableSetupColumn("");
        ImGui::TableSetupColumn("detail", ImGuiTableColumnFlags_WidthStretch);
        ImGui::TableHeadersRow();
        for (const auto& v : rep.verdicts) {
            ImGui::TableNextRow();
            ImGui::TableSetColumnIndex(0);
            ImGui::TextUnformatted(v.name.c_str());
            ImGui::TableSetColumnIndex(1);
            ImGui::TextColored(v.pass ? green : red, v.pass ? "pass" : "FAIL");
            ImGui::TableSetColumnIndex(2);
            ImGui::TextWrapped("%s", v.detail.c_str());
        }
        ImGui::EndTable();
    }
    ImGui::Spacing();
    ImGui::Text("Action log: %zu entries, each with the rule that caused it (highlighted: up to the view time)", rep.log.size());
    if (ImGui::BeginTable("log", 4, flags | ImGuiTableFlags_ScrollY, ImVec2(0, std::max(8.0f * ImGui::GetFontSize(), ImGui::GetContentRegionAvail().y)))) {
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableSetupColumn("t s");
        ImGui::TableSetupColumn("rule");
        ImGui::TableSetupColumn("action");
        ImGui::TableSetupColumn("inputs", ImGuiTableColumnFlags_WidthStretch);
        ImGui::TableHeadersRow();
        for (const auto& e : rep.log) {
            ImGui::TableNextRow();
            ImGui::TableSetColumnIndex(0);
            ImGui::Text("%.3f", e.t_s);
            ImGui::TableSetColumnIndex(1);
            const bool safety = e.rule.rfind("CELL", 0) != 0;
            if (safety) ImGui::TextColored(on_theme(ImVec4(0.95f, 0.7f, 0.3f, 1.0f)), "%s", e.rule.c_str());
            else ImGui::TextUnformatted(e.rule.c_str());
            ImGui::TableSetColumnIndex(2);
            ImGui::TextUnformatted(e.action.c_str());
            ImGui::TableSetColumnIndex(3);
            ImGui::TextDisabled("%s", e.inputs.c_str());
            if (e.t_s <= view_t) ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg1, ImGui::GetColorU32(ImGuiCol_HeaderHovered, 0.35f));
        }
        ImGui::EndTable();
    }
}

// The inject buttons (each adds its fault at the view time, which play and the t slider move) and
// the list of active faults, injected ones with a remove button. Changing the list reruns the cell.
void fault_controls(AppState& state, RobotPanelReport& r) {
    const float fs = ImGui::GetFontSize();
    const double at = std::round(r.view_t_s * 100.0) / 100.0;  // 10 ms: the scenario key keeps it exactly
    RobotFaults& f = state.robot_faults;
    ImGui::Text("Inject at t = %.2f s:", at);
    const char* labels[] = {"Network outage", "Sensor dropout", "Low-confidence obstacle", "Person enters", "Slower chip"};
    r.fault_buttons.clear();
    for (int k = 0; k < 5; ++k) {
        ImGui::SameLine();
        if (ImGui::Button(labels[k])) f.added.push_back({FaultKind(k), at, k == int(FaultKind::swap) ? r.swap_to : ""});
        const ImVec2 lo = ImGui::GetItemRectMin(), hi = ImGui::GetItemRectMax();
        r.fault_buttons.push_back({kFaultNames[k], {lo.x, lo.y, hi.x - lo.x, hi.y - lo.y}});
    }
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 10.0f);
    if (ImGui::BeginCombo("##swap_to", r.swap_to.c_str())) {
        for (const auto& c : state.chips)
            if (ImGui::Selectable(c.id.c_str(), c.id == r.swap_to)) r.swap_to = c.id;
        ImGui::EndCombo();
    }
    if (r.computed && !r.scenario.cell.network.enabled)
        ImGui::TextDisabled("This cell has no network link: an outage changes nothing.");
    ImGui::Checkbox("the scenario file's faults:", &f.file_faults);
    ImGui::SameLine();
    std::string file;
    for (const auto& l : r.file_faults) file += (file.empty() ? "" : "; ") + l;
    ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
    ImGui::TextWrapped("%s", file.empty() ? "none" : file.c_str());
    ImGui::PopStyleColor();
    int remove = -1;
    for (size_t i = 0; i < f.added.size(); ++i) {
        const InjectedFault& x = f.added[i];
        ImGui::PushID(int(i));
        if (ImGui::SmallButton("remove")) remove = int(i);
        ImGui::PopID();
        ImGui::SameLine();
        if (x.kind == FaultKind::swap) ImGui::Text("added: perception moves to %s at %.2f s", x.chip.c_str(), x.at_s);
        else if (x.kind == FaultKind::person) ImGui::Text("added: person enters at %.2f s", x.at_s);
        else ImGui::Text("added: %s %.2f-%.2f s", labels[int(x.kind)], x.at_s, x.at_s + kFaultWindowS);
    }
    if (remove >= 0) f.added.erase(f.added.begin() + remove);
    const std::string q = faults_query(f);
    if (!q.empty()) ImGui::TextDisabled("scenario: #tab=robot&cell=%s&chip=%s&faults=%s", state.robot_cell.c_str(),
                                        state.selected_chip.c_str(), q.c_str());
}

// While the job runs: a progress bar (control ticks simulated) and Cancel; once cancelled: Run again.
void job_controls(RobotPanelReport& r) {
    RobotJobState& js = r.job;
    js.progress_rect = js.cancel_rect = Rect();
    auto rect_of_item = [] {
        const ImVec2 lo = ImGui::GetItemRectMin(), hi = ImGui::GetItemRectMax();
        return Rect{lo.x, lo.y, hi.x - lo.x, hi.y - lo.y};
    };
    if (r.busy()) {
        char buf[128];
        if (js.ticks_total > 0)
            std::snprintf(buf, sizeof buf, "simulating the cell: %ld of %ld control ticks", js.ticks_done, js.ticks_total);
        else
            std::snprintf(buf, sizeof buf, "preparing the cell (scenario, chip latency, perception)");
        const float fs = ImGui::GetFontSize();
        ImGui::ProgressBar(js.ticks_total > 0 ? float(double(js.ticks_done) / double(js.ticks_total)) : 0.0f,
                           ImVec2(fs * 24.0f, 0), buf);
        js.progress_rect = rect_of_item();
        ImGui::SameLine();
        if (ImGui::Button("Cancel")) cancel_robot(r);
        js.cancel_rect = rect_of_item();
        ImGui::SameLine();
        ImGui::TextDisabled(js.threaded ? "(on a worker thread)" : "(in slices over frames)");
    } else if (js.stage == "cancelled") {
        ImGui::TextDisabled("The run was cancelled.");
        ImGui::SameLine();
        if (ImGui::Button("Run again")) restart_robot(r);
        js.cancel_rect = rect_of_item();
    }
    if (!r.computed && js.has_result)
        ImGui::TextDisabled("Shown greyed: the previous result (cell %s on %s).", js.result_choice.cell.c_str(),
                            js.result_choice.chip.c_str());
}

}  // namespace

void draw_robot_panel(AppState& state) {
    RobotPanelReport& r = state.robot_report;
    r.budget_rect = r.arm_rect = r.joints_rect = Rect();
    const auto ids = bundled_cell_ids();
    const float fs = ImGui::GetFontSize();
    ImGui::SetNextItemWidth(fs * 16.0f);
    if (ImGui::BeginCombo("cell scenario", state.robot_cell.c_str())) {
        for (const auto& id : ids)
            if (ImGui::Selectable(id.c_str(), id == state.robot_cell)) state.robot_cell = id;
        ImGui::EndCombo();
    }
    ImGui::SameLine();
    ImGui::TextDisabled("on the sidebar's chip: %s", state.selected_chip.c_str());
    fault_controls(state, r);
    update_robot(state, r);
    job_controls(r);
    if (!r.error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)));
        ImGui::TextWrapped("The cell did not run: %s", r.error.c_str());
        ImGui::PopStyleColor();
        return;
    }
    if (!r.job.has_result) return;
    const bool stale = !r.computed;  // a rerun (or a cancelled one) is under way: the previous result, greyed
    const ImVec2 stale_from = ImGui::GetCursorScreenPos();
    if (stale) ImGui::BeginDisabled();
    const robot::CellReport& rep = r.run.report;
    ImGui::TextWrapped("%s", r.scenario.description.c_str());
    ImGui::Text("Inference on %s: %.3f ms per frame (roofline estimate of %s). Overall:", r.run.chip_id.c_str(),
                r.run.inference.total_ms,
                r.scenario.latency == lab::LatencySource::model ? "the trained model's graph" : r.scenario.model.name.c_str());
    ImGui::SameLine();
    ImGui::TextColored(rep.pass() ? on_theme(ImVec4(0.45f, 0.85f, 0.5f, 1.0f)) : on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)), rep.pass() ? "PASS" : "FAIL");
    ImGui::TextDisabled("Perception: %s", rep.perception.c_str());
    ImGui::Text("Latency per stage, worst case (ms), stacked against the round-trip budget:");
    r.budget_rect = latency_stack(rep);

    const float left_w = ImGui::GetContentRegionAvail().x * 0.5f;
    ImGui::BeginChild("arm", ImVec2(left_w, 0), false);
    const double t_end = rep.trace.empty() ? 0.0 : rep.trace.back().t_s;
    if (r.playing) {
        r.view_t_s += ImGui::GetIO().DeltaTime * r.play_speed;
        if (r.view_t_s > t_end) r.view_t_s = 0;
    }
    r.view_t_s = std::clamp(r.view_t_s, 0.0, t_end);
    if (ImGui::Button(r.playing ? "Pause" : "Play")) r.playing = !r.playing;
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 5.0f);
    ImGui::SliderFloat("speed", &r.play_speed, 0.25f, 8.0f, "%.2fx");
    ImGui::SameLine();
    float t = float(r.view_t_s);
    ImGui::SetNextItemWidth(-fs * 3.0f);
    if (ImGui::SliderFloat("t (s)", &t, 0.0f, float(t_end), "%.2f s")) r.view_t_s = t;
    const robot::CellReport::TraceSample* s = sample_at(rep, r.view_t_s);
    if (s && r.arm) {
        r.arm_rect = arm_view(r, s->q, std::max(12.0f * fs, ImGui::GetContentRegionAvail().y * 0.55f));
        std::string qs;
        for (size_t j = 0; j < s->q.size(); ++j) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%sq%zu %.2f", j ? "  " : "", j + 1, s->q[j]);
            qs += buf;
        }
        ImGui::Text("t = %.2f s: %s rad", s->t_s, qs.c_str());
        ImGui::Text("Joint angles (rad):");
        for (size_t j = 0; j < s->q.size(); ++j) {
            ImGui::SameLine();
            ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(kJointColors[j % 6]), "q%zu", j + 1);
        }
        r.joints_rect = joint_plot(r, std::max(8.0f * fs, ImGui::GetContentRegionAvail().y));
    }
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginChild("verdicts", ImVec2(0, 0), false);
    ImGui::Text("Safety: %d protective stops, worst %.1f ms to rest (bound %.1f ms); frames %d captured, %d dropped, %d lost",
                rep.protective_stops, rep.worst_stop_ms, rep.stop_bound_ms, rep.frames, rep.frames_dropped, rep.frames_lost);
    verdicts_and_log(rep, r.view_t_s);
    ImGui::EndChild();
    if (stale) {
        ImGui::EndDisabled();
        // BeginDisabled dims ImGui's own widgets; a veil of the window colour dims the drawn charts
        // and the arm too (over the child windows, hence the foreground list, clipped to the panel).
        const ImVec2 wp = ImGui::GetWindowPos(), ws = ImGui::GetWindowSize();
        ImDrawList* fg = ImGui::GetForegroundDrawList();
        fg->PushClipRect(stale_from, ImVec2(wp.x + ws.x, wp.y + ws.y), true);
        fg->AddRectFilled(stale_from, ImVec2(wp.x + ws.x, wp.y + ws.y), ImGui::GetColorU32(ImGuiCol_WindowBg, 0.45f));
        fg->PopClipRect();
    }
}

}  // namespace stacklab::ui
