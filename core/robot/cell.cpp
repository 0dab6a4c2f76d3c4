#include "robot/cell.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <random>
#include <stdexcept>

#include "robot/control.hpp"
#include "robot/kinematics.hpp"
#include "robot/trajectory.hpp"

namespace stacklab::robot {

const char* defect_name(Defect d) {
    switch (d) {
        case Defect::clean: return "clean";
        case Defect::solder_bridge: return "solder-bridge";
        case Defect::missing_component: return "missing-component";
        case Defect::misplaced_component: return "misplaced-component";
    }
    return "?";
}

namespace {

// [0, 1) from the top 53 bits: the same numbers on every standard library.
double uniform01(std::mt19937_64& g) { return static_cast<double>(g() >> 11) * (1.0 / 9007199254740992.0); }

std::string fmt(const char* f, double a = 0, double b = 0, double c = 0, double d = 0) {
    char buf[200];
    std::snprintf(buf, sizeof buf, f, a, b, c, d);
    return buf;
}

}  // namespace

BoardImage render_board(int index, Defect defect, std::uint64_t seed, int size, double board_size_m) {
    if (size < 16) throw std::invalid_argument("render_board: size must be >= 16");
    if (!(board_size_m > 0)) throw std::invalid_argument("render_board: board_size_m must be > 0");
    BoardImage im;
    im.width = im.height = size;
    im.truth = defect;
    im.pixels.assign(static_cast<size_t>(size * size), 40);  // substrate
    auto fill = [&](int x0, int y0, int w, int h, std::uint8_t v) {
        for (int y = std::max(0, y0); y < std::min(size, y0 + h); ++y)
            for (int x = std::max(0, x0); x < std::min(size, x0 + w); ++x) im.pixels[static_cast<size_t>(y * size + x)] = v;
    };
    // A grid of parts: each cell of 8 x 8 px holds two pads (bright) and a component body (mid grey).
    const int cells = size / 8;
    std::mt19937_64 g(seed * 1000003ULL + static_cast<std::uint64_t>(index));
    const int target = static_cast<int>(g() % static_cast<std::uint64_t>(cells * cells));
    for (int c = 0; c < cells * cells; ++c) {
        const int ox = (c % cells) * 8, oy = (c / cells) * 8;
        fill(ox + 1, oy + 3, 2, 2, 220);
        fill(ox + 5, oy + 3, 2, 2, 220);
        const bool hit = c == target;
        if (hit && defect == Defect::missing_component) continue;
        const int shift = hit && defect == Defect::misplaced_component ? 2 : 0;
        fill(ox + 2 + shift, oy + 2 + shift, 4, 4, 120);
        if (hit && defect == Defect::solder_bridge) fill(ox + 1, oy + 5, 6, 1, 255);  // solder across the pads
    }
    // The camera: a per-board illumination gain in [0.80, 1.20] and offset in [-12, 12] grey levels,
    // then per-pixel sensor noise uniform in [-10, 10], clamped to 0..255 (integer arithmetic on a
    // second stream, so the defect position above does not depend on it). Without it every board of
    // one class and defect cell would be the same image (32 x 32: 49 distinct images in all), and a
    // trained classifier could pass by memorizing them.
    std::mt19937_64 cam(seed * 1000003ULL + static_cast<std::uint64_t>(index) + 0x9E3779B97F4A7C15ULL);
    const int gain_pct = 80 + static_cast<int>(cam() % 41), offset = static_cast<int>(cam() % 25) - 12;
    for (std::uint8_t& p : im.pixels) {
        const int noise = static_cast<int>(cam() % 21) - 10;
        p = static_cast<std::uint8_t>(std::clamp(p * gain_pct / 100 + offset + noise, 0, 255));
    }
    if (defect != Defect::clean) {
        const double px = board_size_m / size;
        im.defect_x_m = ((target % cells) * 8 + 4 - size / 2) * px;
        im.defect_y_m = ((target / cells) * 8 + 4 - size / 2) * px;
    }
    return im;
}

double PersonFault::distance_at(double t) const {
    if (t < enter_s) return -1;
    const double walk_in = (start_distance_m - min_distance_m) / speed_m_s;
    if (t < enter_s + walk_in) return start_distance_m - speed_m_s * (t - enter_s);
    const double leave = enter_s + walk_in + stay_s;
    if (t < leave) return min_distance_m;
    const double d = min_distance_m + speed_m_s * (t - leave);
    return d > start_distance_m ? -1 : d;
}

void validate(const CellConfig& c, const ArmModel& arm) {
    auto need = [](bool ok, const char* field, const char* problem) {
        if (!ok) throw std::invalid_argument(std::string(field) + ": " + problem);
    };
    auto pos = [&](double v, const char* field) { need(std::isfinite(v) && v > 0, field, "must be a finite number > 0"); };
    auto nonneg = [&](double v, const char* field) { need(std::isfinite(v) && v >= 0, field, "must be a finite number >= 0"); };
    need(c.boards >= 1 && c.boards <= 1000, "boards", "must lie in 1..1000");
    pos(c.board_interval_s, "board_interval_s");
    need(c.class_probability.size() == static_cast<size_t>(kDefectClasses), "class_probability", "needs 4 values");
    double sum = 0;
    for (double p : c.class_probability) {
        nonneg(p, "class_probability");
        sum += p;
    }
    need(std::abs(sum - 1.0) < 1e-9, "class_probability", "must sum to 1");
    pos(c.camera_period_ms, "camera_period_ms");
    nonneg(c.exposure_ms, "exposure_ms");
    nonneg(c.readout_ms, "readout_ms");
    nonneg(c.network.latency_ms, "network.latency_ms");
    nonneg(c.network.jitter_ms, "network.jitter_ms");
    need(c.network.loss >= 0 && c.network.loss < 1, "network.loss", "must lie in [0, 1)");
    pos(c.network.retransmit_ms, "network.retransmit_ms");
    nonneg(c.planning_ms, "planning_ms");
    need(std::isfinite(c.control_rate_hz) && c.control_rate_hz >= 10 && c.control_rate_hz <= 100000, "control_rate_hz",
         "must lie in 10..100000");
    need(c.zone_clear_confidence >= 0 && c.zone_clear_confidence <= 1, "zone_clear_confidence", "must lie in [0, 1]");
    nonneg(c.zone_wait_s, "zone_wait_s");
    need(c.velocity_scale > 0 && c.velocity_scale <= 1, "velocity_scale", "must lie in (0, 1]");
    pos(c.acceleration_rad_s2, "acceleration_rad_s2");
    pos(c.control_omega_rad_s, "control_omega_rad_s");
    need(c.home_q.size() == static_cast<size_t>(arm.dof()), "home_q", "needs one value per joint");
    need(c.bin_q.size() == static_cast<size_t>(arm.dof()), "bin_q", "needs one value per joint");
    for (int i = 0; i < arm.dof(); ++i) {
        const Link& l = arm.link(i);
        const size_t k = static_cast<size_t>(i);
        need(c.home_q[k] >= l.position_min_rad && c.home_q[k] <= l.position_max_rad, "home_q", "outside the joint limits");
        need(c.bin_q[k] >= l.position_min_rad && c.bin_q[k] <= l.position_max_rad, "bin_q", "outside the joint limits");
    }
    pos(c.approach_height_m, "approach_height_m");
    validate(c.safety);
    for (const auto* w : {&c.network_outages, &c.sensor_dropouts})
        for (const TimeWindow& t : *w) need(t.start_s >= 0 && t.end_s > t.start_s, "faults", "a window needs 0 <= start_s < end_s");
    for (const ObstacleFault& o : c.obstacles) {
        need(o.window.start_s >= 0 && o.window.end_s > o.window.start_s, "faults.low_confidence_obstacle", "needs 0 <= start_s < end_s");
        need(o.confidence >= 0 && o.confidence <= 1, "faults.low_confidence_obstacle.confidence", "must lie in [0, 1]");
    }
    for (const PersonFault& p : c.persons) {
        nonneg(p.enter_s, "faults.person.enter_s");
        pos(p.speed_m_s, "faults.person.speed_m_s");
        nonneg(p.stay_s, "faults.person.stay_s");
        need(p.min_distance_m >= 0 && p.min_distance_m < p.start_distance_m, "faults.person.min_distance_m",
             "must lie in [0, start_distance_m)");
    }
}

bool CellReport::pass() const {
    for (const Verdict& v : verdicts)
        if (!v.pass) return false;
    return true;
}

namespace {

struct Segment {
    bool cartesian = false;
    JointTrajectory joint;
    CartesianPath path;
    bool enters_zone = false;
    bool grasp_at_end = false;
    double duration() const { return cartesian ? path.scaling.duration_s : joint.scaling.duration_s; }
    void at(double t, JointSample& s) const {
        if (cartesian)
            sample(path, t, s);
        else
            sample(joint, t, s);
    }
};

struct Frame {
    double capture_s = 0, ready_s = 0;
    double transfer_ms = 0, inference_ms = 0;
    int board = -1;
    Classification result;
    double zone_confidence = 1;
};

struct PickJob {
    int board = 0;
    double ready_s = 0;  // decision + planning
    double waiting_since_s = -1;
};

// "At rest": every joint slower than this (rad/s). The settle allowance covers the tracking lag of the
// computed-torque loop behind the stopping ramp (its time constant is 1 / omega, 25 ms at 40 rad/s).
constexpr double kRestSpeed = 1e-2;
constexpr double kSettleS = 0.05;

struct StopWatch {
    std::string rule;
    double onset_s = 0, bound_s = 0;
};

// Sends one packet at time t over the link; returns its arrival time, or -1 when it is lost for good:
// after three resends, or when the link is down (real-time frames are not queued: a late frame is
// useless, and the watchdog covers the gap).
double send(const CellConfig& c, std::mt19937_64& g, double t) {
    for (int attempt = 0; attempt < 4; ++attempt) {
        for (const TimeWindow& w : c.network_outages)
            if (w.contains(t)) return -1;
        const double jitter = c.network.jitter_ms * (2.0 * uniform01(g) - 1.0);
        if (uniform01(g) >= c.network.loss) return t + std::max(0.0, c.network.latency_ms + jitter) / 1000.0;
        t += c.network.retransmit_ms / 1000.0;
    }
    return -1;
}

}  // namespace

// One run in progress: the model (arm, config, hooks: copies, so a run can outlive its caller's
// objects and move to another thread) and the data of the run, every local of the former
// single-function run_cell, so that a run split into slices of ticks executes the same statements in
// the same order as a whole run and gives the same report bit for bit.
struct CellSim::State {
    const ArmModel arm;
    const CellConfig c;
    const PerceptionHook hook, swap;
    const CellRunOptions opt;
    const bool has_swap;
    CellReport rep;
    SafetyMonitor mon;
    std::vector<SafetyEvent> cell_log;
    std::mt19937_64 board_rng, net_rng;
    const double first_arrival_s = 0.2;
    std::vector<BoardImage> images;
    std::vector<Classification> decisions;
    const double dt, period_ms, sensor_ms, end_s;
    const long ticks;
    // Frames are generated when the loop passes their capture time; results wait in `pending`.
    std::deque<Frame> pending;
    long next_frame = 0;
    double busy_until = 0;
    bool last_lost = false;
    double last_drop_s = -1e9;
    double last_capture = 0;  // the cell starts with a fresh perception at t = 0
    double zone_conf;
    StageStats st_sensor, st_transfer, st_inf, st_plan, st_ctl, st_rt;
    // Arm.
    ArmData data;
    ArmState state;
    const ControllerConfig ctl;
    ControllerState cstate;
    SimOptions sim;
    const JointLimits limits;
    std::deque<PickJob> jobs;
    std::vector<Segment> segs;
    size_t seg = 0;
    double seg_t = 0;
    int active_board = -1;
    bool holding = false;
    std::vector<double> hold_q;
    double rate = 1.0, rate_prev = 1.0;  // trajectory time rate: 1 full speed, 0 stopped
    const double T_s;
    std::vector<StopWatch> stops_open;
    bool stop_violations = false, saturating = false;
    std::vector<double> host_ticks;
    const long trace_every;
    bool swapped_logged = false;
    Motion last_motion = Motion::run;
    JointSample ref, raw;
    std::vector<double> tau;
    // Tool z straight down, tool x along base y: the flange orientation of the UR home pose, so the
    // wrist does not turn on the way to the board.
    const Mat3 tool_down{0, 1, 0, 1, 0, 0, 0, 0, -1};
    long next_tick = 0;  // ticks 0..ticks run, in order
    bool finished = false;  // finish() moved the report out

    State(const ArmModel& arm_, const CellConfig& c_, const PerceptionHook& hook_, const PerceptionHook& swap_,
          const CellRunOptions& opt_)
        : arm(arm_),
          c(c_),
          hook(hook_),
          swap(swap_),
          opt(opt_),
          has_swap(c.chip_swap.at_s >= 0),
          mon(c.safety),
          board_rng(c.seed),
          net_rng(c.seed ^ 0x9E3779B97F4A7C15ULL),
          decisions(static_cast<size_t>(c.boards)),
          dt(1.0 / c.control_rate_hz),
          period_ms(1000.0 / c.control_rate_hz),
          sensor_ms(c.exposure_ms + c.readout_ms),
          end_s(first_arrival_s + c.boards * c.board_interval_s + 2.0),
          ticks(static_cast<long>(std::ceil(end_s / dt))),
          zone_conf(c.zone_clear_confidence),
          st_sensor{"sensor", 0, 0, c.budgets.sensor_ms, 0},
          st_transfer{"transfer", 0, 0, c.budgets.transfer_ms, 0},
          st_inf{"inference", 0, 0, c.budgets.inference_ms, 0},
          st_plan{"planning", 0, 0, c.budgets.planning_ms, 0},
          st_ctl{"control", period_ms, period_ms, c.budgets.control_period_ms, 1},
          st_rt{"round-trip", 0, 0, c.budgets.round_trip_ms, 0},
          data(arm),
          state{c.home_q, std::vector<double>(static_cast<size_t>(arm.dof()), 0.0)},
          ctl(computed_torque_gains(arm, c.control_omega_rad_s)),
          limits(arm_limits(arm, c.velocity_scale, c.acceleration_rad_s2)),
          hold_q(c.home_q),
          T_s(c.safety.full_speed.T_s_s),
          trace_every(opt.trace_period_s > 0 ? std::max(1L, std::lround(opt.trace_period_s / dt)) : 0) {
        rep.perception = hook.description + (has_swap ? "; from " + fmt("%.3f", c.chip_swap.at_s) + " s: " + swap.description : "");
        // Boards: classes drawn from the scenario's distribution.
        for (int i = 0; i < c.boards; ++i) {
            const double u = uniform01(board_rng);
            int k = 0;
            double acc = c.class_probability[0];
            while (k + 1 < kDefectClasses && u >= acc) acc += c.class_probability[static_cast<size_t>(++k)];
            BoardOutcome b;
            b.index = i;
            b.truth = static_cast<Defect>(k);
            b.arrive_s = first_arrival_s + i * c.board_interval_s;
            b.result = "not-seen";
            rep.boards.push_back(b);
            images.push_back(render_board(i, b.truth, c.seed));
        }
        sim.rate_hz = c.control_rate_hz;
        sim.clock_s = opt.clock_s;
    }

    void log(double t, const char* rule, const std::string& action, const std::string& inputs) {
        cell_log.push_back({t, rule, action, inputs});
    }
    static void add(StageStats& s, double v) {
        s.max_ms = std::max(s.max_ms, v);
        s.mean_ms += v;  // divided at the end
        ++s.samples;
    }
    double depart(int i) const { return rep.boards[static_cast<size_t>(i)].arrive_s + c.board_interval_s; }

    void tick(long k);
    CellReport finish();
};

// One control tick at t = k dt: frames, results, safety, the pick cycle, control, stop bounds.
void CellSim::State::tick(long k) {
    const double t = k * dt;
    // 1. Camera frames captured up to now.
    while (next_frame * c.camera_period_ms / 1000.0 <= t) {
        Frame f;
        f.capture_s = next_frame * c.camera_period_ms / 1000.0;
        ++next_frame;
        bool dropout = false;
        for (const TimeWindow& w : c.sensor_dropouts) dropout = dropout || w.contains(f.capture_s);
        if (dropout) continue;
        ++rep.frames;
        const PerceptionHook& h = has_swap && f.capture_s >= c.chip_swap.at_s ? swap : hook;
        double at = f.capture_s + sensor_ms / 1000.0;
        add(st_sensor, sensor_ms);
        const double sent = at;
        if (c.network.enabled) {
            at = send(c, net_rng, at);
            if (at < 0) {
                ++rep.frames_lost;
                if (!last_lost) log(sent, "CELL-LOST", "frame lost on the link", fmt("capture_s=%.3f", f.capture_s));
                last_lost = true;
                continue;
            }
        }
        const double up_ms = (at - sent) * 1000.0;
        const double inf_ms = h.inference_latency_ms();
        const double start = std::max(at, busy_until);
        if (start - at > c.camera_period_ms / 1000.0) {
            ++rep.frames_dropped;
            // One entry per episode (no drop in the second before), not one per frame.
            if (at - last_drop_s > 1.0)
                log(at, "CELL-DROP", "drop frames while the accelerator is busy",
                    fmt("capture_s=%.3f busy_for_ms=%.3f camera_period_ms=%.3f inference_ms=%.3f", f.capture_s,
                        (busy_until - at) * 1000.0, c.camera_period_ms, inf_ms));
            last_drop_s = at;
            continue;
        }
        busy_until = start + inf_ms / 1000.0;
        double ready = busy_until;
        if (c.network.enabled) {
            ready = send(c, net_rng, busy_until);
            if (ready < 0) {
                ++rep.frames_lost;
                if (!last_lost) log(busy_until, "CELL-LOST", "result lost on the link", fmt("capture_s=%.3f", f.capture_s));
                last_lost = true;
                continue;
            }
        }
        last_lost = false;
        f.transfer_ms = up_ms + (ready - busy_until) * 1000.0;
        f.inference_ms = inf_ms;  // the wait for a busy accelerator counts in the round trip only
        f.ready_s = ready;
        add(st_transfer, f.transfer_ms);
        add(st_inf, f.inference_ms);
        f.zone_confidence = c.zone_clear_confidence;
        for (const ObstacleFault& o : c.obstacles)
            if (o.window.contains(f.capture_s)) f.zone_confidence = std::min(f.zone_confidence, o.confidence);
        for (int i = 0; i < c.boards; ++i) {
            BoardOutcome& b = rep.boards[static_cast<size_t>(i)];
            if (b.capture_s < 0 && f.capture_s >= b.arrive_s && f.capture_s < depart(i)) {
                f.board = i;
                f.result = h.classify(images[static_cast<size_t>(i)]);
                b.capture_s = f.capture_s;
            }
        }
        pending.push_back(f);
    }
    // 2. Results that have arrived.
    while (!pending.empty()) {
        auto it = std::min_element(pending.begin(), pending.end(),
                                   [](const Frame& a, const Frame& b) { return a.ready_s < b.ready_s; });
        if (it->ready_s > t) break;
        const Frame f = *it;
        pending.erase(it);
        if (f.capture_s >= last_capture) {
            last_capture = f.capture_s;
            zone_conf = f.zone_confidence;
        }
        if (f.board >= 0) {
            BoardOutcome& b = rep.boards[static_cast<size_t>(f.board)];
            b.label = f.result.label;
            b.confidence = f.result.confidence;
            b.decided_s = t;
            decisions[static_cast<size_t>(f.board)] = f.result;
            b.round_trip_ms = (f.ready_s - f.capture_s) * 1000.0 + c.planning_ms + period_ms;
            add(st_rt, b.round_trip_ms);
            log(t, "CELL-DETECT", std::string("board ") + std::to_string(f.board) + " classified " + defect_name(f.result.label),
                fmt("confidence=%.3f capture_s=%.3f latency_ms=%.3f", f.result.confidence, f.capture_s,
                    (f.ready_s - f.capture_s) * 1000.0));
            if (f.result.label == Defect::clean) {
                b.result = "passed";
            } else {
                b.result = "missed";  // until picked or aborted
                jobs.push_back({f.board, t + c.planning_ms / 1000.0, -1});
                add(st_plan, c.planning_ms);
            }
        }
    }
    if (has_swap && !swapped_logged && t >= c.chip_swap.at_s) {
        log(t, "CELL-SWAP", "perception swapped to " + c.chip_swap.label, "fault=slower_chip");
        swapped_logged = true;
    }
    // 3. Safety.
    SafetyInputs in;
    in.t_s = t;
    for (const PersonFault& p : c.persons) {
        const double d = p.distance_at(t);
        if (d >= 0 && (in.person_distance_m < 0 || d < in.person_distance_m)) in.person_distance_m = d;
    }
    in.zone_confidence = zone_conf;
    in.perception_time_s = last_capture;
    if (c.network.enabled)
        for (const TimeWindow& w : c.network_outages)
            if (w.contains(t)) {
                in.link_up = false;
                in.link_down_since_s = w.start_s;
            }
    Motion motion = mon.update(in);
    mon.check_joint_state(arm, t, state.q, state.qd);
    motion = mon.motion();
    if (motion == Motion::stop && last_motion != Motion::stop) {
        ++rep.protective_stops;
        const SafetyEvent& e = mon.log.back();
        StopWatch w{e.rule, t, 0};
        // Bound: the rule's own detection delay, then the stopping time T_s, plus kSettleS for the
        // controller to bring the last of the speed below kRestSpeed.
        if (e.rule == "WD-LINK") {
            w.onset_s = in.link_down_since_s;
            w.bound_s = c.safety.link_timeout_s + T_s + kSettleS;
        } else if (e.rule == "WD-PERC") {
            w.onset_s = last_capture;
            w.bound_s = c.safety.perception_timeout_s + T_s + kSettleS;
        } else {
            w.bound_s = T_s + kSettleS;
        }
        stops_open.push_back(w);
    }
    last_motion = motion;
    const double target = motion == Motion::stop ? 0.0 : motion == Motion::reduced ? c.safety.reduced_speed_scale : 1.0;
    // Ramp the trajectory's time rate: full speed to rest in T_s (a category 2 stop on the path).
    const double max_change = T_s > 0 ? dt / T_s : 1.0;
    rate_prev = rate;
    rate = rate < target ? std::min(target, rate + max_change) : std::max(target, rate - max_change);

    // 4. The pick-and-place cycle.
    if (segs.empty() && !jobs.empty()) {
        PickJob& j = jobs.front();
        BoardOutcome& b = rep.boards[static_cast<size_t>(j.board)];
        if (t >= j.ready_s) {
            if (t >= depart(j.board)) {
                log(t, "CELL-MISS", "board " + std::to_string(j.board) + " left before the pick started",
                    fmt("decided_s=%.3f depart_s=%.3f", b.decided_s, depart(j.board)));
                jobs.pop_front();
            } else if (!mon.may_enter_shared_zone()) {
                if (j.waiting_since_s < 0) {
                    j.waiting_since_s = t;
                    log(t, mon.zone_allowed ? "CELL-WAIT" : "ZONE-CONF", "wait before board " + std::to_string(j.board),
                        fmt("zone_confidence=%.3f threshold=%.3f", zone_conf, c.safety.zone_confidence_threshold));
                }
                if (t - j.waiting_since_s >= c.zone_wait_s) {
                    b.result = "aborted";
                    log(t, mon.zone_allowed ? "CELL-ABORT" : "ZONE-CONF", "abort pick of board " + std::to_string(j.board),
                        fmt("waited_s=%.3f zone_confidence=%.3f threshold=%.3f", t - j.waiting_since_s, zone_conf,
                            c.safety.zone_confidence_threshold));
                    jobs.pop_front();
                }
            } else {
                // Plan: home -> approach (joint), down and up (Cartesian lines), -> bin, -> home.
                const double h0 = opt.clock_s ? opt.clock_s() : 0.0;
                Pose pick;
                pick.R = tool_down;
                // Go to where perception located the defect (board centre + offset on the board).
                const Classification& found = decisions[static_cast<size_t>(j.board)];
                pick.p = {c.station_x_m + found.x_m, c.station_y_m + found.y_m, c.station_z_m};
                Pose above = pick;
                above.p[2] += c.approach_height_m;
                const auto sols = ik_ur(arm, above, c.home_q);
                std::string why;
                std::vector<Segment> plan;
                if (sols.empty()) {
                    why = "no IK solution above the board";
                } else {
                    Segment s1;
                    s1.joint = plan_joint_move(arm, c.home_q, sols.front(), limits, Profile::quintic);
                    Segment s2;
                    s2.cartesian = true;
                    s2.path = plan_cartesian_line(arm, sols.front(), pick);
                    s2.grasp_at_end = true;
                    if (!s2.path.ok) why = "down: " + s2.path.reason;
                    Segment s3;
                    s3.cartesian = true;
                    if (why.empty()) {
                        s3.path = plan_cartesian_line(arm, s2.path.q.back(), above);
                        if (!s3.path.ok) why = "up: " + s3.path.reason;
                    }
                    if (why.empty()) {
                        Segment s4;
                        s4.joint = plan_joint_move(arm, s3.path.q.back(), c.bin_q, limits, Profile::quintic);
                        s4.enters_zone = true;
                        Segment s5;
                        s5.joint = plan_joint_move(arm, c.bin_q, c.home_q, limits, Profile::quintic);
                        plan = {s1, s2, s3, s4, s5};
                    }
                }
                if (opt.clock_s) rep.host_planning_ms_max = std::max(rep.host_planning_ms_max, (opt.clock_s() - h0) * 1000.0);
                if (!why.empty()) {
                    b.result = "aborted";
                    log(t, "CELL-PLAN", "abort pick of board " + std::to_string(j.board), why);
                } else {
                    double total = 0;
                    for (const Segment& s : plan) total += s.duration();
                    log(t, "CELL-PICK", "start pick of board " + std::to_string(j.board),
                        std::string("label=") + defect_name(b.label) +
                            fmt(" confidence=%.3f x_m=%.4f y_m=%.4f motion_s=%.3f", b.confidence, pick.p[0], pick.p[1], total));
                    segs = std::move(plan);
                    seg = 0;
                    seg_t = 0;
                    active_board = j.board;
                }
                jobs.pop_front();
            }
        }
    }
    // Reference for this tick.
    if (!segs.empty()) {
        Segment& s = segs[seg];
        const bool blocked = s.enters_zone && seg_t == 0 && !mon.may_enter_shared_zone();
        if (blocked && !holding) {
            log(t, "CELL-HOLD", "hold before the shared zone (board " + std::to_string(active_board) + ")",
                fmt("zone_confidence=%.3f motion=", zone_conf) + motion_name(motion));
            holding = true;
        }
        if (!blocked) {
            holding = false;
            seg_t = std::min(s.duration(), seg_t + dt * rate);
        }
        s.at(seg_t, raw);
        ref.q = raw.q;
        ref.qd.resize(raw.qd.size());
        ref.qdd.resize(raw.qd.size());
        const double rdot = (rate - rate_prev) / dt;
        for (size_t i = 0; i < raw.qd.size(); ++i) {
            ref.qd[i] = blocked ? 0.0 : raw.qd[i] * rate;
            ref.qdd[i] = blocked ? 0.0 : raw.qdd[i] * rate * rate + raw.qd[i] * rdot;
        }
        if (seg_t >= s.duration()) {
            BoardOutcome& b = rep.boards[static_cast<size_t>(active_board)];
            if (s.grasp_at_end) {
                if (t < depart(active_board)) {
                    b.result = "grasped";
                    log(t, "CELL-GRASP", "grasp board " + std::to_string(active_board), fmt("depart_s=%.3f", depart(active_board)));
                } else {
                    b.result = "missed";
                    log(t, "CELL-MISS", "board " + std::to_string(active_board) + " left before the grasp",
                        fmt("depart_s=%.3f", depart(active_board)));
                    // Skip the drop in the bin: go straight home from above the station.
                    segs.erase(segs.begin() + static_cast<long>(seg) + 2, segs.begin() + static_cast<long>(seg) + 4);
                    Segment home;
                    home.joint = plan_joint_move(arm, segs[seg + 1].path.q.back(), c.home_q, limits, Profile::quintic);
                    segs.push_back(home);
                }
            }
            if (s.enters_zone && b.result == "grasped") {
                b.result = "picked";
                log(t, "CELL-PLACE", "board " + std::to_string(active_board) + " dropped in the rework bin", "");
            }
            hold_q = raw.q;
            ++seg;
            seg_t = 0;
            if (seg == segs.size()) {
                segs.clear();
                active_board = -1;
            }
        }
    } else {
        ref.q = hold_q;
        ref.qd.assign(hold_q.size(), 0.0);
        ref.qdd.assign(hold_q.size(), 0.0);
    }
    // 5. Control tick.
    const TickResult tr = control_tick(arm, data, ctl, cstate, state, ref, sim, tau);
    rep.max_tracking_error_rad = std::max(rep.max_tracking_error_rad, tr.tracking_error_rad);
    if (tr.saturated_joints) ++rep.saturated_ticks;
    // LIM-TAU: control_tick has clamped the torque to the arm's limits; log each onset.
    if (tr.saturated_joints && !saturating)
        log(t, "LIM-TAU", "clamp torque to the joint limits", fmt("joints=%.0f", tr.saturated_joints));
    saturating = tr.saturated_joints > 0;
    if (opt.clock_s) host_ticks.push_back(tr.compute_s);
    if (trace_every > 0 && k % trace_every == 0) rep.trace.push_back({t + dt, state.q, state.qd, tau});
    // 6. Protective stops: the arm must be at rest within the bound while the stop holds. A stop
    //    lifted before the bound (the hazard went away) is closed without a verdict on it.
    double speed = 0;
    for (double v : state.qd) speed = std::max(speed, std::abs(v));
    for (auto it = stops_open.begin(); it != stops_open.end();) {
        const double took = t + dt - it->onset_s;
        bool close = true;
        if (speed < kRestSpeed) {
            rep.worst_stop_ms = std::max(rep.worst_stop_ms, took * 1000.0);
            rep.stop_bound_ms = std::max(rep.stop_bound_ms, it->bound_s * 1000.0);
        } else if (took > it->bound_s) {
            stop_violations = true;
            rep.worst_stop_ms = std::max(rep.worst_stop_ms, took * 1000.0);
            log(t, it->rule.c_str(), "protective stop exceeded its bound",
                fmt("took_ms=%.3f bound_ms=%.3f speed_rad_s=%.4f", took * 1000.0, it->bound_s * 1000.0, speed));
        } else if (motion != Motion::stop) {
            log(t, it->rule.c_str(), "stop lifted before the arm came to rest", fmt("after_ms=%.3f", took * 1000.0));
        } else {
            close = false;
        }
        it = close ? stops_open.erase(it) : it + 1;
    }
}

CellReport CellSim::State::finish() {
    rep.duration_s = ticks * dt;

    for (StageStats* s : {&st_sensor, &st_transfer, &st_inf, &st_plan, &st_rt})
        if (s->samples) s->mean_ms /= s->samples;
    rep.stages = {st_sensor, st_transfer, st_inf, st_plan, st_ctl, st_rt};
    if (!host_ticks.empty()) {
        std::vector<double> h = host_ticks;
        std::sort(h.begin(), h.end());
        rep.host_tick_us_median = h[h.size() / 2] * 1e6;
        rep.host_tick_us_p999 = h[std::min(h.size() - 1, h.size() * 999 / 1000)] * 1e6;
        rep.host_tick_us_max = h.back() * 1e6;
    }

    // The log: safety events and cell actions in time order (stable: same-time events keep order).
    rep.log = mon.log;
    rep.log.insert(rep.log.end(), cell_log.begin(), cell_log.end());
    std::stable_sort(rep.log.begin(), rep.log.end(), [](const SafetyEvent& a, const SafetyEvent& b) { return a.t_s < b.t_s; });

    // Verdicts.
    for (const StageStats& s : rep.stages) {
        const bool pass = s.samples == 0 || s.pass();
        rep.verdicts.push_back({s.stage + "-budget", pass, fmt("max %.3f ms, budget %.3f ms", s.max_ms, s.budget_ms)});
    }
    int not_seen = 0, missed = 0, picked = 0, aborted = 0;
    for (const BoardOutcome& b : rep.boards) {
        not_seen += b.result == "not-seen";
        missed += b.result == "missed";
        picked += b.result == "picked";
        aborted += b.result == "aborted";
    }
    rep.verdicts.push_back({"perception-keeps-up-with-camera", rep.frames_dropped == 0,
                            fmt("%.0f of %.0f frames dropped because the accelerator was still busy", rep.frames_dropped,
                                rep.frames)});
    rep.verdicts.push_back({"every-board-inspected", not_seen == 0, fmt("%.0f of %.0f boards never classified", not_seen, c.boards)});
    rep.verdicts.push_back({"no-missed-picks", missed == 0,
                            fmt("%.0f picked, %.0f aborted by an interlock, %.0f missed", picked, aborted, missed)});
    const bool stops_ok = stops_open.empty() && !stop_violations;
    rep.verdicts.push_back({"protective-stops-within-bound", stops_ok,
                            fmt("%.0f stops, worst %.3f ms to rest (bound %.3f ms)", rep.protective_stops, rep.worst_stop_ms,
                                rep.stop_bound_ms)});
    if (!host_ticks.empty())
        rep.verdicts.push_back({"control-compute-within-period", rep.host_tick_us_p999 <= period_ms * 1000.0,
                                fmt("host tick median %.3f us, 99.9th percentile %.3f us, max %.3f us, period %.3f us",
                                    rep.host_tick_us_median, rep.host_tick_us_p999, rep.host_tick_us_max, period_ms * 1000.0)});
    return std::move(rep);
}

CellSim::CellSim(const ArmModel& arm, const CellConfig& c, const PerceptionHook& hook, const PerceptionHook& swap,
                 const CellRunOptions& opt) {
    validate(c, arm);
    if (!hook.classify || !hook.inference_latency_ms)
        throw std::invalid_argument("perception: the hook needs classify and inference_latency_ms");
    if (c.chip_swap.at_s >= 0 && (!swap.classify || !swap.inference_latency_ms))
        throw std::invalid_argument("faults.slower_chip: the swapped-in hook needs classify and inference_latency_ms");
    if (!(opt.trace_period_s >= 0) || !std::isfinite(opt.trace_period_s))
        throw std::invalid_argument("trace_period_s: must be a finite number >= 0");
    state_ = std::make_unique<State>(arm, c, hook, swap, opt);
}

CellSim::~CellSim() = default;
CellSim::CellSim(CellSim&&) noexcept = default;
CellSim& CellSim::operator=(CellSim&&) noexcept = default;

long CellSim::ticks_total() const { return state_->ticks + 1; }
long CellSim::ticks_done() const { return state_->next_tick; }
bool CellSim::done() const { return state_->next_tick > state_->ticks; }

bool CellSim::step(long max_ticks) {
    if (max_ticks < 1) throw std::invalid_argument("CellSim::step: max_ticks must be >= 1");
    State& s = *state_;
    for (long n = 0; n < max_ticks && s.next_tick <= s.ticks; ++n) s.tick(s.next_tick++);
    return done();
}

CellReport CellSim::finish() {
    if (!done()) throw std::logic_error("CellSim::finish: " + std::to_string(ticks_total() - ticks_done()) + " ticks still to run");
    if (state_->finished) throw std::logic_error("CellSim::finish: the report was already taken");
    state_->finished = true;
    return state_->finish();
}

CellReport run_cell(const ArmModel& arm, const CellConfig& c, const PerceptionHook& hook, const PerceptionHook& swap,
                    const CellRunOptions& opt) {
    CellSim sim(arm, c, hook, swap, opt);
    sim.step(sim.ticks_total());
    return sim.finish();
}

}  // namespace stacklab::robot
