// Trajectories (core/robot/trajectory.hpp): synchronized joint moves stay within the velocity and
// acceleration limits they were planned for, reach them (the slowest joint saturates: the move is
// time-optimal within its family), start and end exactly at the boundary values; Cartesian lines
// keep the flange on the segment and reject discontinuous IK branches.
#include <cmath>
#include <random>

#include <boost/test/unit_test.hpp>

#include "robot/kinematics.hpp"
#include "robot/trajectory.hpp"

using namespace stacklab::robot;

namespace {

std::vector<double> random_q(std::mt19937& rng, double range) {
    std::uniform_real_distribution<double> u(-range, range);
    std::vector<double> q(6);
    for (auto& v : q) v = u(rng);
    return q;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(robot_trajectory)

BOOST_AUTO_TEST_CASE(joint_moves_respect_velocity_and_acceleration_limits_and_reach_one_of_them) {
    const ArmModel m = bundled_arm("ur5e");
    std::mt19937 rng(7);
    const JointLimits lim = arm_limits(m, 0.5, 3.0);
    for (Profile p : {Profile::trapezoidal, Profile::quintic}) {
        for (int trial = 0; trial < 50; ++trial) {
            const auto q0 = random_q(rng, 3.0), q1 = random_q(rng, 3.0);
            const JointTrajectory tr = plan_joint_move(m, q0, q1, lim, p);
            double peak_v_ratio = 0, peak_a_ratio = 0;
            JointSample s;
            const int N = 4000;
            for (int k = 0; k <= N; ++k) {
                sample(tr, tr.scaling.duration_s * k / N, s);
                for (size_t j = 0; j < 6; ++j) {
                    const double rv = std::abs(s.qd[j]) / lim.velocity_rad_s[j];
                    const double ra = std::abs(s.qdd[j]) / lim.acceleration_rad_s2[j];
                    BOOST_TEST(rv <= 1.0 + 1e-12);
                    BOOST_TEST(ra <= 1.0 + 1e-12);
                    peak_v_ratio = std::max(peak_v_ratio, rv);
                    peak_a_ratio = std::max(peak_a_ratio, ra);
                }
            }
            // Minimum time: some joint hits a limit (within the sampling resolution).
            BOOST_TEST(std::max(peak_v_ratio, peak_a_ratio) > 0.999, profile_name(p) << " trial " << trial);
        }
    }
}

BOOST_AUTO_TEST_CASE(joint_moves_start_and_end_exactly_at_the_boundary_values) {
    const ArmModel m = bundled_arm("ur10e");
    std::mt19937 rng(11);
    const JointLimits lim = arm_limits(m, 1.0, 5.0);
    for (Profile p : {Profile::trapezoidal, Profile::quintic}) {
        const auto q0 = random_q(rng, 2.0), q1 = random_q(rng, 2.0);
        const JointTrajectory tr = plan_joint_move(m, q0, q1, lim, p, 0.5);
        JointSample s;
        sample(tr, 0.0, s);
        BOOST_TEST(s.q == q0);  // bit for bit
        for (size_t j = 0; j < 6; ++j) BOOST_TEST(s.qd[j] == 0.0);
        sample(tr, tr.scaling.duration_s, s);
        BOOST_TEST(s.q == q1);
        for (size_t j = 0; j < 6; ++j) BOOST_TEST(s.qd[j] == 0.0);
        sample(tr, tr.scaling.duration_s + 1.0, s);
        BOOST_TEST(s.q == q1);
        if (p == Profile::quintic) {
            // Zero acceleration at the ends (approached continuously, not just set).
            sample(tr, 1e-9, s);
            for (size_t j = 0; j < 6; ++j) BOOST_TEST(std::abs(s.qdd[j]) < 1e-6);
            sample(tr, tr.scaling.duration_s - 1e-9, s);
            for (size_t j = 0; j < 6; ++j) BOOST_TEST(std::abs(s.qdd[j]) < 1e-6);
        }
    }
}

BOOST_AUTO_TEST_CASE(joints_are_synchronized_and_follow_the_straight_joint_space_segment) {
    const ArmModel m = bundled_arm("ur5e");
    const std::vector<double> q0{0, -1, 1, 0, 0.5, 0}, q1{1, -0.5, 0.2, 2, -0.5, 0.1};
    const JointTrajectory tr = plan_joint_move(m, q0, q1, arm_limits(m, 1.0, 2.0), Profile::trapezoidal);
    JointSample s;
    for (double t = 0; t < tr.scaling.duration_s; t += 0.01) {
        sample(tr, t, s);
        const double f = (s.q[0] - q0[0]) / (q1[0] - q0[0]);
        for (size_t j = 0; j < 6; ++j) BOOST_TEST(std::abs((s.q[j] - q0[j]) - f * (q1[j] - q0[j])) < 1e-12);
    }
}

BOOST_AUTO_TEST_CASE(trapezoid_matches_the_hand_computed_profile) {
    // One unit: D = 1 rad, vmax 1 rad/s, amax 2 rad/s^2 -> ta = 0.5 s, T = 1/1 + 0.5 = 1.5 s.
    TimeScaling ts = fastest_scaling(Profile::trapezoidal, 1.0, 2.0);
    BOOST_TEST(std::abs(ts.duration_s - 1.5) < 1e-15);
    BOOST_TEST(std::abs(ts.accel_time_s - 0.5) < 1e-15);
    BOOST_TEST(std::abs(sample_scaling(ts, 0.5).s - 0.25) < 1e-15);
    BOOST_TEST(std::abs(sample_scaling(ts, 0.75).s - 0.5) < 1e-15);
    // Triangular: vmax 10 cannot be reached with amax 1: ta = 1 s, T = 2 s, peak speed 1.
    ts = fastest_scaling(Profile::trapezoidal, 10.0, 1.0);
    BOOST_TEST(std::abs(ts.duration_s - 2.0) < 1e-15);
    BOOST_TEST(std::abs(sample_scaling(ts, 1.0).sd - 1.0) < 1e-15);
    // Quintic: T = max(15/8 / 1, sqrt(10/sqrt(3) / 2)).
    ts = fastest_scaling(Profile::quintic, 1.0, 2.0);
    BOOST_TEST(std::abs(ts.duration_s - std::max(1.875, std::sqrt(10 / std::sqrt(3.0) / 2))) < 1e-15);
}

BOOST_AUTO_TEST_CASE(bad_trajectory_inputs_are_errors_naming_the_argument) {
    const ArmModel m = bundled_arm("ur5e");
    const std::vector<double> q(6, 0.0);
    BOOST_CHECK_THROW(plan_joint_move(m, q, std::vector<double>(5, 0.0), arm_limits(m, 1, 1), Profile::quintic),
                      std::invalid_argument);
    BOOST_CHECK_THROW(arm_limits(m, 0.0, 1.0), std::invalid_argument);
    BOOST_CHECK_THROW(arm_limits(m, 1.0, -1.0), std::invalid_argument);
    std::vector<double> far(6, 0.0);
    far[0] = 7.0;  // beyond the UR5e's +-360 degrees
    try {
        plan_joint_move(m, q, far, arm_limits(m, 1, 1), Profile::quintic);
        BOOST_ERROR("no error");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("joint 1") != std::string::npos);
    }
    BOOST_CHECK_THROW(parse_profile("cubic"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(cartesian_line_keeps_the_flange_on_the_segment_and_ends_on_the_goal) {
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    const std::vector<double> q0{0.3, -1.2, 1.5, -1.9, -1.57, 0.2};
    const Pose start = forward_kinematics(m, d, q0);
    Pose goal = start;
    goal.p = start.p + Vec3{0.15, -0.1, -0.12};
    goal.R = mul(start.R, rotation_from_vector({0.0, 0.0, 0.4}));
    const CartesianPath path = plan_cartesian_line(m, q0, goal);
    BOOST_TEST_REQUIRE(path.ok, path.reason);
    BOOST_TEST(path.q.front() == q0);
    BOOST_TEST(position_error(forward_kinematics(m, d, path.q.back()), goal) < 1e-9);
    BOOST_TEST(orientation_error(forward_kinematics(m, d, path.q.back()), goal) < 1e-9);
    const Vec3 dir = (1.0 / norm(goal.p - start.p)) * (goal.p - start.p);
    for (size_t k = 0; k < path.q.size(); ++k) {
        const Vec3 p = forward_kinematics(m, d, path.q[k]).p - start.p;
        const Vec3 off = p - dot(p, dir) * dir;  // distance from the line
        BOOST_TEST(norm(off) < 1e-9);
    }
    BOOST_TEST(path.max_joint_step_rad <= CartesianOptions{}.max_joint_step_rad);
    // Sampled for control: at rest at both ends, on the IK samples in between.
    JointSample s;
    sample(path, 0.0, s);
    BOOST_TEST(s.q == q0);
    sample(path, path.t_s.back(), s);
    BOOST_TEST(s.q == path.q.back());
    for (double v : s.qd) BOOST_TEST(v == 0.0);
}

BOOST_AUTO_TEST_CASE(cartesian_line_through_the_wrist_singularity_is_rejected_with_a_reason) {
    // Start with q5 small and move so that the wrist passes through sin q5 = 0: the nearest branch
    // must flip q4/q6 by ~pi, which the continuity check rejects.
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    const std::vector<double> q0{0.0, -1.3, 1.6, -1.8, 0.05, 0.0};
    std::vector<double> q1 = q0;
    q1[4] = -0.05;
    q1[3] = -1.7;
    const Pose goal = forward_kinematics(m, d, q1);
    const CartesianPath path = plan_cartesian_line(m, q0, goal);
    BOOST_TEST(!path.ok);
    BOOST_TEST(!path.reason.empty());
    BOOST_TEST_MESSAGE("wrist singularity: " << path.reason);
    // And a goal outside the workspace is rejected as unreachable.
    Pose far = goal;
    far.p = {2.0, 0.0, 0.5};
    const CartesianPath out = plan_cartesian_line(m, q0, far);
    BOOST_TEST(!out.ok);
    BOOST_TEST(out.reason.find("goal unreachable") != std::string::npos, out.reason);
    BOOST_TEST(out.ik_calls == 1);
}

BOOST_AUTO_TEST_SUITE_END()
