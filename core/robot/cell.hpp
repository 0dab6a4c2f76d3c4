// The PCB inspection cell: boards arrive on a conveyor, a camera takes a frame every period, a
// perception hook classifies the board under the camera, and the arm picks defective boards and
// drops them in a rework bin, while safety interlocks (safety.hpp) watch a person, the shared zone,
// the age of perception and the network link. The run is a fixed-step simulation at the control
// rate (computed-torque control on the forward dynamics, control.hpp) and produces a timeline of
// actions, each with the rule that caused it, a latency budget per stage and verdicts.
//
// The perception hook is all the cell knows about the model and the chip (ARCHITECTURE.md: robot
// depends on nothing of ours): two functions handed in, classify(image) and inference_latency_ms().
// core/lab wires them to a classifier and to the chip emulator's latency.
//
// Latency chain of one frame captured at t_c (all in ms):
//   sensor     exposure + readout
//   transfer   uplink + downlink when the model runs remotely (network.enabled): base latency plus
//              uniform jitter, a lost packet is resent after retransmit_ms (three times at most), a
//              frame sent during an outage is lost (real-time frames are not queued)
//   inference  hook.inference_latency_ms(); a frame that finds the accelerator busy waits (the wait
//              counts in the round trip), and one that would wait longer than a camera period is dropped
//   planning   IK + trajectories for the pick; the ASSUMED compute time on the robot controller
//              (planning_ms in the scenario), since the machine running this simulation is not the
//              controller. The host's own measured time is reported separately when a clock is given.
//   control    one control period: the first torque command of the new motion
// round trip = sensor + transfer + wait + inference + planning + control, from capture to the first
// command of the pick (as if the arm were free; a busy arm shows up as missed boards instead).
//
// Randomness (jitter, loss, the board classes, the stand-in classifier in core/lab) comes from
// std::mt19937_64 streams seeded by the scenario, mapped to [0, 1) by our own 53-bit conversion
// (std::uniform_real_distribution differs between libstdc++ and libc++), so runs are identical
// natively and in wasm.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "robot/arm.hpp"
#include "robot/safety.hpp"

namespace stacklab::robot {

enum class Defect { clean = 0, solder_bridge = 1, missing_component = 2, misplaced_component = 3 };
constexpr int kDefectClasses = 4;
const char* defect_name(Defect d);  // "clean", "solder-bridge", "missing-component", "misplaced-component"

// A procedurally rendered grey-scale board image. `truth` and the defect position are what the
// renderer drew: a real classifier must not read them; the stand-in oracle does, and says so.
struct BoardImage {
    int width = 0, height = 0;
    std::vector<std::uint8_t> pixels;  // row-major, 0..255
    Defect truth = Defect::clean;
    double defect_x_m = 0, defect_y_m = 0;  // position of the defect on the board, from its centre
};
// Board `index` of a run with class `defect`: a grid of pads and components on a dark substrate,
// with the defect drawn at a position chosen by `seed` and `index` (integer arithmetic only), seen
// through a camera with a per-board illumination gain and offset and per-pixel sensor noise (from
// the same seed and index: the same board always gives the same image). The board is board_size_m wide; the image is size x size pixels (size >= 16).
BoardImage render_board(int index, Defect defect, std::uint64_t seed, int size = 32, double board_size_m = 0.1);

struct Classification {
    Defect label = Defect::clean;
    double confidence = 0;        // in [0, 1]
    double x_m = 0, y_m = 0;      // located defect (board frame), meaningful when label != clean
};

struct PerceptionHook {
    std::function<Classification(const BoardImage&)> classify;
    std::function<double()> inference_latency_ms;
    std::string description;  // printed in the report: what classifies and where the latency comes from
};

struct TimeWindow {
    double start_s = 0, end_s = 0;
    bool contains(double t) const { return t >= start_s && t < end_s; }
};

struct ObstacleFault {
    TimeWindow window;
    double confidence = 0.5;  // the zone-clear confidence perception reports during the window
};

// A person walks toward the cell from `start_distance_m` at `speed_m_s` starting at `enter_s`,
// stops at `min_distance_m`, stays `stay_s`, then walks away at the same speed.
struct PersonFault {
    double enter_s = 0, start_distance_m = 3.0, speed_m_s = 1.6, min_distance_m = 0.5, stay_s = 1.0;
    double distance_at(double t) const;  // < 0 before entering and after leaving beyond the start
};

struct ChipSwapFault {
    double at_s = -1;  // < 0: no swap
    std::string label; // what the hook is swapped for (for the log)
};

struct NetworkConfig {
    bool enabled = false;  // inference runs across a network link (edge <-> cloud)
    double latency_ms = 10, jitter_ms = 0, loss = 0, retransmit_ms = 50;
};

struct StageBudgets {
    double sensor_ms = 20, transfer_ms = 40, inference_ms = 30, planning_ms = 20, control_period_ms = 8,
           round_trip_ms = 120;
};

struct CellConfig {
    std::uint64_t seed = 1;
    int boards = 6;
    double board_interval_s = 6.0;   // a new board reaches the camera every interval
    std::vector<double> class_probability{0.5, 0.2, 0.15, 0.15};  // clean, bridge, missing, misplaced
    double camera_period_ms = 33.0;
    double exposure_ms = 5, readout_ms = 8;
    NetworkConfig network;
    double planning_ms = 5;          // assumed controller compute for IK + trajectories
    double control_rate_hz = 1000;
    double zone_clear_confidence = 0.99;  // perception's normal zone-clear confidence
    double zone_wait_s = 1.0;        // how long a pick waits for the zone before it is aborted
    double velocity_scale = 0.8;     // of the arm's joint speed limits
    double acceleration_rad_s2 = 6.0;
    double control_omega_rad_s = 40; // computed-torque natural frequency
    std::vector<double> home_q{0.0, -1.5708, 1.5708, -1.5708, -1.5708, 0.0};
    std::vector<double> bin_q{-1.2, -1.5708, 1.5708, -1.5708, -1.5708, 0.0};
    double station_x_m = -0.45, station_y_m = -0.20, station_z_m = 0.05;  // board centre, base frame
    double approach_height_m = 0.12;
    SafetyConfig safety;
    StageBudgets budgets;
    std::vector<TimeWindow> network_outages, sensor_dropouts;
    std::vector<ObstacleFault> obstacles;
    std::vector<PersonFault> persons;
    ChipSwapFault chip_swap;
};
// Throws std::invalid_argument naming the field for out-of-range values.
void validate(const CellConfig& c, const ArmModel& arm);

struct StageStats {
    std::string stage;
    double max_ms = 0, mean_ms = 0, budget_ms = 0;
    int samples = 0;
    bool pass() const { return max_ms <= budget_ms; }
};

struct BoardOutcome {
    int index = 0;
    Defect truth = Defect::clean, label = Defect::clean;
    double confidence = 0;
    double arrive_s = 0, capture_s = -1, decided_s = -1, round_trip_ms = -1;
    std::string result;  // "passed", "picked", "missed", "aborted", "not-seen" ("grasped" while in the gripper)
};

struct Verdict {
    std::string name;
    bool pass = false;
    std::string detail;
};

struct CellReport {
    std::string perception;  // hook description(s)
    std::vector<StageStats> stages;  // sensor, transfer, inference, planning, control, round-trip
    std::vector<BoardOutcome> boards;
    std::vector<SafetyEvent> log;    // every action, with the rule that caused it, in time order
    std::vector<Verdict> verdicts;
    int frames = 0, frames_dropped = 0, frames_lost = 0;
    int protective_stops = 0;
    double worst_stop_ms = 0;        // hazard onset -> arm at rest, worst case
    double stop_bound_ms = 0;
    double max_tracking_error_rad = 0;
    int saturated_ticks = 0;
    double duration_s = 0;
    // With a clock only. The host is not a real-time controller: scheduler preemption shows up in
    // the max, so the compute verdict uses the 99.9th percentile.
    double host_planning_ms_max = -1, host_tick_us_median = -1, host_tick_us_p999 = -1, host_tick_us_max = -1;
    // With CellRunOptions::trace_period_s > 0 only: the arm's state sampled through the run, for
    // plots and the 3D view (a 1 kHz run of ~40 s would be 40000 samples; the caller picks the rate).
    struct TraceSample {
        double t_s = 0;                  // time the state was reached (after the control tick)
        std::vector<double> q, qd, tau;  // rad, rad/s, N m (the torque applied, after saturation)
    };
    std::vector<TraceSample> trace;
    bool pass() const;
};

struct CellRunOptions {
    std::function<double()> clock_s;  // optional: host timing of planning and control ticks
    // > 0: record CellReport::trace every trace_period_s (rounded to whole control ticks, at least
    // one). Recording does not change the run: the same report otherwise, bit for bit.
    double trace_period_s = 0;
};

// Runs the cell. `swap` is used from config.chip_swap.at_s on (may be empty when there is no swap).
// Throws std::invalid_argument for an invalid config or a hook missing a function.
// The same as a CellSim stepped to the end and finished.
CellReport run_cell(const ArmModel& arm, const CellConfig& config, const PerceptionHook& perception,
                    const PerceptionHook& swap = {}, const CellRunOptions& options = {});

// A run of the cell in progress, advanced a slice of control ticks at a time, so a caller that must
// not stall (the browser's single thread: the UI draws between slices) or that wants progress and
// cancel can run it in pieces. Slices change nothing: any split gives the report run_cell gives,
// bit for bit (the run is the same statements in the same order; tests/core/robot_cell_test.cpp).
// The constructor validates as run_cell does (same exceptions, nothing simulated yet) and copies
// the arm, config, hooks and options, so the run does not refer to the caller's objects (the hooks'
// closures are copied as std::function copies them: state they share by pointer stays shared).
// Movable, not copyable.
class CellSim {
public:
    CellSim(const ArmModel& arm, const CellConfig& config, const PerceptionHook& perception,
            const PerceptionHook& swap = {}, const CellRunOptions& options = {});
    ~CellSim();
    CellSim(CellSim&&) noexcept;
    CellSim& operator=(CellSim&&) noexcept;

    long ticks_total() const;  // control ticks of the whole run (its duration / period, plus tick 0)
    long ticks_done() const;
    bool done() const;
    // Runs up to `max_ticks` (>= 1, else std::invalid_argument) more ticks; returns done().
    bool step(long max_ticks);
    // The report, once done() (std::logic_error before; and after a first finish, which moves it out).
    CellReport finish();

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace stacklab::robot
