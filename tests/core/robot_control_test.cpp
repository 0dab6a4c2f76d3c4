// Control and simulation (core/robot/control.hpp): the integrator conserves energy of the free arm
// (no torque, no damping), computed torque tracks a quintic move, PID with gravity compensation
// settles on a set point, torques never exceed the arm's limits, and timing through the clock
// callback changes nothing in the results.
#include <algorithm>
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "robot/control.hpp"
#include "robot/kinematics.hpp"

using namespace stacklab::robot;

namespace {

// Runs the unactuated arm for `seconds` and returns max |E(t) - E(0)| / max KE(t): the energy error
// relative to the energy exchanged between potential and kinetic form (independent of where the
// potential's zero lies). Also returns the peak kinetic energy so the test can check it is not tiny.
std::pair<double, double> free_swing_drift(const ArmModel& m, Integrator integ, double seconds, double dt) {
    ArmData d(m);
    ArmState s{{0.3, -0.4, 1.1, -0.6, 0.9, 0.2}, {0.5, 0.0, -0.3, 0.8, 0.0, 1.0}};
    const std::vector<double> zero(6, 0.0);
    const double e0 = kinetic_energy(m, d, s.q, s.qd) + potential_energy(m, d, s.q);
    double max_dev = 0, max_ke = 0;
    const int steps = static_cast<int>(std::lround(seconds / dt));
    for (int k = 0; k < steps; ++k) {
        integrate(m, d, s, zero, dt, integ);
        const double ke = kinetic_energy(m, d, s.q, s.qd);
        max_ke = std::max(max_ke, ke);
        max_dev = std::max(max_dev, std::abs(ke + potential_energy(m, d, s.q) - e0));
    }
    return {max_dev / max_ke, max_ke};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(robot_control)

// The check: RK4, 10 s at 1 kHz, energy drift < 0.1 %.
BOOST_AUTO_TEST_CASE(rk4_conserves_energy_of_the_free_arm_within_a_tenth_of_a_percent_over_10_s) {
    for (const char* id : {"ur5e", "ur10e"}) {
        const ArmModel m = bundled_arm(id);
        const auto [drift, max_ke] = free_swing_drift(m, Integrator::rk4, 10.0, 1e-3);
        BOOST_TEST_MESSAGE(id << " RK4 energy drift " << drift << " of peak kinetic energy " << max_ke << " J");
        BOOST_TEST(max_ke > 5.0, id << ": the arm must actually swing");
        BOOST_TEST(drift < 1e-3, id << ": drift " << drift);
    }
}

BOOST_AUTO_TEST_CASE(potential_energy_is_consistent_with_the_gravity_torques) {
    // g(q) = dV/dq: central differences of the potential energy match RNEA's gravity term.
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    std::vector<double> q{0.2, -0.9, 0.7, -1.1, 0.5, 0.3};
    const auto g = gravity_torques(m, d, q);
    for (size_t i = 0; i < 6; ++i) {
        auto qp = q, qm = q;
        qp[i] += 1e-6;
        qm[i] -= 1e-6;
        const double num = (potential_energy(m, d, qp) - potential_energy(m, d, qm)) / 2e-6;
        BOOST_TEST(std::abs(num - g[i]) < 1e-6, "joint " << i << ": " << num << " vs " << g[i]);
    }
}

BOOST_AUTO_TEST_CASE(semi_implicit_euler_converges_to_the_rk4_trajectory_at_first_order) {
    // Semi-implicit Euler in (q, qd) is not symplectic for a configuration-dependent mass matrix,
    // so no energy claim is made for it; what must hold is first-order convergence: halving the
    // step halves the distance to a fine RK4 solution.
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    const std::vector<double> zero(6, 0.0);
    const ArmState s0{{0.3, -0.4, 1.1, -0.6, 0.9, 0.2}, {0.5, 0.0, -0.3, 0.8, 0.0, 1.0}};
    auto run = [&](Integrator integ, double dt) {
        ArmState s = s0;
        const int steps = static_cast<int>(std::lround(0.5 / dt));
        for (int k = 0; k < steps; ++k) integrate(m, d, s, zero, dt, integ);
        return s.q;
    };
    const auto ref = run(Integrator::rk4, 1e-4);
    auto dist = [&](const std::vector<double>& q) {
        double e = 0;
        for (size_t i = 0; i < 6; ++i) e = std::max(e, std::abs(q[i] - ref[i]));
        return e;
    };
    const double e1 = dist(run(Integrator::semi_implicit_euler, 1e-3));
    const double e2 = dist(run(Integrator::semi_implicit_euler, 5e-4));
    BOOST_TEST_MESSAGE("semi-implicit Euler error " << e1 << " at 1 ms, " << e2 << " at 0.5 ms");
    BOOST_TEST(e1 < 0.05);
    BOOST_TEST(e1 / e2 > 1.7);
    BOOST_TEST(e1 / e2 < 2.3);
    BOOST_TEST(dist(run(Integrator::rk4, 1e-3)) < 1e-7);  // RK4 at 1 ms is already converged (fourth order)
}

BOOST_AUTO_TEST_CASE(computed_torque_tracks_a_quintic_move_with_small_error) {
    const ArmModel m = bundled_arm("ur5e");
    const std::vector<double> q0{0.0, -1.2, 1.0, -1.4, -1.5, 0.0}, q1{0.8, -0.9, 1.5, -1.0, -1.2, 0.6};
    const JointTrajectory tr = plan_joint_move(m, q0, q1, arm_limits(m, 0.5, 2.0), Profile::quintic);
    const ControllerConfig ctl = computed_torque_gains(m, 30.0);
    const Reference ref = [&](double t, JointSample& s) { sample(tr, t, s); };
    // From rest on the trajectory: only the zero-order hold of the 1 kHz loop causes error.
    const SimResult r = simulate(m, ctl, ref, {q0, std::vector<double>(6, 0.0)}, tr.scaling.duration_s + 0.5);
    BOOST_TEST_MESSAGE("computed torque: max " << r.max_tracking_error_rad << " rms " << r.rms_tracking_error_rad
                                               << " final " << r.final_tracking_error_rad);
    BOOST_TEST(r.max_tracking_error_rad < 1e-4);
    BOOST_TEST(r.final_tracking_error_rad < 1e-6);
    BOOST_TEST(r.saturated_ticks == 0);
    // With an initial error of 0.01 rad the loop removes it and never makes it worse.
    ArmState off{q0, std::vector<double>(6, 0.0)};
    off.q[1] += 0.01;
    const SimResult r2 = simulate(m, ctl, ref, off, tr.scaling.duration_s + 0.5);
    BOOST_TEST(r2.max_tracking_error_rad <= 0.01 + 1e-12);
    BOOST_TEST(r2.final_tracking_error_rad < 1e-6);
}

BOOST_AUTO_TEST_CASE(pid_with_gravity_compensation_converges_to_a_set_point) {
    const ArmModel m = bundled_arm("ur5e");
    const std::vector<double> target{0.4, -1.0, 1.2, -1.6, -1.4, 0.3};
    ControllerConfig ctl;
    ctl.kind = ControllerKind::pid;
    // Per joint about I_ii omega^2 and 2 I_ii omega with omega ~ 20 rad/s, I_ii the diagonal of M
    // near the target (2.4, 3.0, 0.85, 0.026, 0.0068, 0.00026 kg m^2); Ki = 2 Kp.
    ctl.kp = {1000, 1200, 350, 10, 3, 0.1};
    ctl.kd = {100, 120, 35, 1, 0.3, 0.01};
    ctl.ki = {2000, 2400, 700, 20, 6, 0.2};
    const Reference ref = [&](double, JointSample& s) {
        s.q = target;
        s.qd.assign(6, 0.0);
        s.qdd.assign(6, 0.0);
    };
    ArmState start{{0.3, -1.1, 1.1, -1.5, -1.5, 0.2}, std::vector<double>(6, 0.0)};
    const SimResult r = simulate(m, ctl, ref, start, 4.0);
    BOOST_TEST_MESSAGE("PID final error " << r.final_tracking_error_rad);
    BOOST_TEST(r.final_tracking_error_rad < 1e-3);
    for (double v : r.final_state.qd) BOOST_TEST(std::abs(v) < 1e-2);
    // Without gravity compensation the same proportional-derivative gains leave a sag (no Ki).
    ctl.gravity_compensation = false;
    ctl.ki.assign(6, 0.0);
    const SimResult sag = simulate(m, ctl, ref, start, 4.0);
    BOOST_TEST(sag.final_tracking_error_rad > 10 * r.final_tracking_error_rad);
}

BOOST_AUTO_TEST_CASE(applied_torques_never_exceed_the_arm_limits) {
    const ArmModel m = bundled_arm("ur5e");
    // Very stiff gains on a fast move: the law asks for far more than the motors have.
    const std::vector<double> q0(6, 0.0), q1{1.5, -1.0, 1.0, 1.0, 1.0, 1.0};
    const JointTrajectory tr = plan_joint_move(m, q0, q1, arm_limits(m, 1.0, 20.0), Profile::trapezoidal);
    const Reference ref = [&](double t, JointSample& s) { sample(tr, t, s); };
    for (ControllerKind kind : {ControllerKind::computed_torque, ControllerKind::pid}) {
        ControllerConfig ctl = computed_torque_gains(m, 200.0);
        if (kind == ControllerKind::pid) {
            ctl.kind = kind;
            ctl.kp.assign(6, 5000.0);
            ctl.kd.assign(6, 50.0);
        }
        // Start 0.5 rad off on every joint: the first ticks ask for far more torque than exists.
        ArmState start{q0, std::vector<double>(6, 0.0)};
        for (auto& v : start.q) v -= 0.5;
        const SimResult r = simulate(m, ctl, ref, start, 1.0);
        BOOST_TEST(r.saturated_ticks > 0, controller_name(kind));
        BOOST_TEST(r.max_torque_ratio <= 1.0, controller_name(kind));
        BOOST_TEST(r.max_torque_ratio == 1.0, controller_name(kind));  // it does reach the limit
    }
}

BOOST_AUTO_TEST_CASE(timing_through_the_clock_callback_does_not_change_the_results) {
    const ArmModel m = bundled_arm("ur10e");
    const std::vector<double> q0{0.0, -1.2, 1.0, -1.4, -1.5, 0.0}, q1{0.3, -1.0, 1.2, -1.2, -1.3, 0.4};
    const JointTrajectory tr = plan_joint_move(m, q0, q1, arm_limits(m, 0.5, 2.0), Profile::quintic);
    const Reference ref = [&](double t, JointSample& s) { sample(tr, t, s); };
    const ArmState start{q0, std::vector<double>(6, 0.0)};
    SimOptions plain;
    const SimResult a = simulate(m, computed_torque_gains(m, 25.0), ref, start, 0.5, plain);
    SimOptions timed;
    double fake_now = 0;
    timed.clock_s = [&] { return fake_now += 1e-6; };  // a clock that advances 1 us per reading
    const SimResult b = simulate(m, computed_torque_gains(m, 25.0), ref, start, 0.5, timed);
    BOOST_TEST(a.final_state.q == b.final_state.q);
    BOOST_TEST(a.final_state.qd == b.final_state.qd);
    BOOST_TEST(a.compute_s.empty());
    BOOST_TEST(b.compute_s.size() == 500u);
    for (double c : b.compute_s) BOOST_TEST(std::abs(c - 1e-6) < 1e-12);
}

BOOST_AUTO_TEST_CASE(bad_control_inputs_are_errors_naming_the_argument) {
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    ArmState s{std::vector<double>(6, 0.0), std::vector<double>(6, 0.0)};
    BOOST_CHECK_THROW(integrate(m, d, s, std::vector<double>(6, 0.0), 0.0, Integrator::rk4), std::invalid_argument);
    BOOST_CHECK_THROW(integrate(m, d, s, std::vector<double>(5, 0.0), 1e-3, Integrator::rk4), std::invalid_argument);
    BOOST_CHECK_THROW(computed_torque_gains(m, -1.0), std::invalid_argument);
    BOOST_CHECK_THROW(parse_integrator("euler"), std::invalid_argument);
    SimOptions o;
    o.rate_hz = 0;
    BOOST_CHECK_THROW(simulate(m, computed_torque_gains(m, 10), [](double, JointSample&) {}, s, 1.0, o),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
