// Joint control and simulation: PID (optionally with gravity compensation) and computed-torque
// controllers run at a fixed rate (default 1 kHz), their torques saturated at the arm's limits and
// held constant over the tick (zero-order hold), the arm integrated with a fixed step on the forward
// dynamics (dynamics.hpp) by semi-implicit Euler or classical RK4.
//
//   PID:             tau = Kp e + Ki integral(e) + Kd de/dt [+ g(q)],  e = q_ref - q, de = qd_ref - qd.
//                    The integral is clamped per joint (anti-windup) and frozen while the joint's
//                    torque saturates (conditional integration, Astrom & Hagglund, "Advanced PID
//                    Control", 2006, sec. 3.5).
//   Computed torque: tau = M(q) (qdd_ref + Kp e + Kd de) + c(q, qd) + g(q), evaluated as ONE RNEA
//                    call with qdd = qdd_ref + Kp e + Kd de (Siciliano et al., "Robotics", sec. 8.5.2).
//                    With an exact model and no saturation the error obeys e'' + Kd e' + Kp e = 0.
//   Saturation:      |tau_i| <= torque_limit_nm of joint i (arm.hpp), applied after the control law.
//   Integrators:     semi-implicit (symplectic) Euler: qd += h qdd(q, qd); q += h qd (the NEW qd).
//                    RK4 on the state (q, qd) with tau held over the step.
//
// Per-tick compute time is measured only through a clock callback handed in (seconds, monotonic);
// without one nothing is timed. The clock is read, never used in a computation, so results are the
// same with or without it (and identical natively and in wasm).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "robot/arm.hpp"
#include "robot/dynamics.hpp"
#include "robot/trajectory.hpp"

namespace stacklab::robot {

enum class Integrator { semi_implicit_euler, rk4 };
const char* integrator_name(Integrator i);          // "semi-implicit-euler", "rk4"
Integrator parse_integrator(const std::string& name);  // throws std::invalid_argument naming the value

struct ArmState {
    std::vector<double> q, qd;
};

// 0.5 qd^T M(q) qd (J).
double kinetic_energy(const ArmModel& model, ArmData& data, const std::vector<double>& q, const std::vector<double>& qd);
// -sum_i m_i gravity . p_com_i(q) (J), zero with every centre of mass at the base origin.
double potential_energy(const ArmModel& model, ArmData& data, const std::vector<double>& q,
                        const Vec3& gravity = kStandardGravity);

// One fixed step of length dt with tau held: qdd = FD(q, qd, tau - damping .* qd). `damping` (N m s /
// rad per joint) may be empty for none. Throws std::invalid_argument for wrong sizes or dt <= 0.
void integrate(const ArmModel& model, ArmData& data, ArmState& state, const std::vector<double>& tau, double dt,
               Integrator integrator, const Vec3& gravity = kStandardGravity,
               const std::vector<double>& damping = {});

enum class ControllerKind { pid, computed_torque };
const char* controller_name(ControllerKind k);  // "pid", "computed-torque"

struct ControllerConfig {
    ControllerKind kind = ControllerKind::computed_torque;
    // Per joint. Computed torque: Kp in 1/s^2, Kd in 1/s (Ki unused). PID: N m/rad, N m s/rad, N m/(rad s).
    std::vector<double> kp, ki, kd;
    bool gravity_compensation = true;  // PID only (computed torque always includes g)
    double integral_limit_rad_s = 0.5; // PID anti-windup clamp on integral(e) per joint
};
// Critically damped computed-torque gains for natural frequency omega (rad/s): Kp = omega^2, Kd = 2 omega.
ControllerConfig computed_torque_gains(const ArmModel& model, double omega_rad_s);

struct ControllerState {
    std::vector<double> integral;  // PID: integral of e (rad s)
};

struct SimOptions {
    double rate_hz = 1000.0;  // control rate; the torque is held for 1 / rate_hz
    int substeps = 1;         // integrator steps per control tick
    Integrator integrator = Integrator::rk4;
    Vec3 gravity = kStandardGravity;
    std::vector<double> damping;  // viscous joint friction, N m s / rad; empty = none
    std::function<double()> clock_s;  // optional monotonic clock (s) for the per-tick compute time
};

struct TickResult {
    double tracking_error_rad = 0;  // max_i |q_ref_i - q_i| BEFORE the step
    int saturated_joints = 0;
    double compute_s = -1;          // control-law time from the clock; -1 when no clock was given
};

// One control tick: computes the torque for `ref` from the measured state, saturates it, writes it
// to `tau`, and advances `state` by 1 / rate_hz. Throws std::invalid_argument for wrong sizes.
TickResult control_tick(const ArmModel& model, ArmData& data, const ControllerConfig& controller,
                        ControllerState& cstate, ArmState& state, const JointSample& ref, const SimOptions& options,
                        std::vector<double>& tau);

// A reference trajectory: fills q, qd, qdd at time t.
using Reference = std::function<void(double t, JointSample& out)>;

struct SimResult {
    ArmState final_state;
    int ticks = 0;
    double max_tracking_error_rad = 0, rms_tracking_error_rad = 0, final_tracking_error_rad = 0;
    int saturated_ticks = 0;      // ticks in which at least one joint saturated
    double max_torque_ratio = 0;  // max_i,t |tau_i| / limit_i of the APPLIED torque (<= 1)
    std::vector<double> compute_s;  // per tick, only when options.clock_s is set
};

// Runs `duration_s` of closed-loop control from `initial` (ceil(duration * rate) ticks).
SimResult simulate(const ArmModel& model, const ControllerConfig& controller, const Reference& reference,
                   const ArmState& initial, double duration_s, const SimOptions& options = {});

}  // namespace stacklab::robot
