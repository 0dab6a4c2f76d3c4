// Trajectories: point-to-point joint-space moves (trapezoidal velocity or quintic polynomial time
// scaling) under per-joint velocity and acceleration limits, and Cartesian straight-line moves whose
// joint path comes from inverse kinematics at every sample.
//
// Joint moves are SYNCHRONIZED: every joint follows the same time scaling s(t) in [0, 1],
//   q(t) = (1 - s(t)) q0 + s(t) q1,
// so the path is the straight segment in joint space and all joints start and stop together. The
// joint with the largest displacement relative to its limits sets the duration (the minimum time
// of this family of profiles; see Lynch & Park, "Modern Robotics", sec. 9.2, and Biagiotti &
// Melchiorri, "Trajectory Planning for Automatic Machines and Robots", sec. 3.2 and 2.1.5).
//   trapezoidal: s'' = +A, 0, -A with s' <= V. Peak |qd_i| = V |D_i|, peak |qdd_i| = A |D_i|, so
//                V = min_i vmax_i / |D_i| and A = min_i amax_i / |D_i| (D_i = q1_i - q0_i). When
//                V^2 / A >= 1 the cruise phase vanishes (triangular profile, peak speed sqrt(A)).
//                Velocity is continuous, acceleration jumps (infinite jerk) at the phase switches.
//   quintic:     s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5, tau = t / T: zero velocity AND acceleration
//                at both ends. Peak s' = 15 / (8 T), peak |s''| = 10 / (sqrt(3) T^2), so
//                T = max_i max(15 |D_i| / (8 vmax_i), sqrt(10 |D_i| / (sqrt(3) amax_i))).
// The lerp form makes the boundary values exact: s = 0 gives q0 and s = 1 gives q1 bit for bit.
//
// Cartesian line: position moves on the segment p0 -> p1 and orientation rotates about one fixed
// axis (R(s) = R0 exp(s log(R0^T R1)), the geodesic), both with the same quintic or trapezoidal s(t)
// whose limits are a linear speed (m/s) and an angular speed (rad/s). At each sample time the joint
// configuration is the IK solution nearest the previous one (closed form for UR-type arms, all
// branches; damped least squares otherwise). A step larger than `max_joint_step_rad` between two
// samples, or one that needs more than the joint's velocity limit, means the nearest branch is not
// continuous (a singularity or a branch flip): the move is rejected with a reason, never executed.
#pragma once

#include <string>
#include <vector>

#include "robot/arm.hpp"

namespace stacklab::robot {

enum class Profile { trapezoidal, quintic };
const char* profile_name(Profile p);  // "trapezoidal", "quintic"
Profile parse_profile(const std::string& name);  // throws std::invalid_argument naming the value

// The normalized time scaling s(t) in [0, 1] shared by all joints of a synchronized move.
struct TimeScaling {
    Profile profile = Profile::quintic;
    double duration_s = 0;
    double accel_time_s = 0;  // trapezoidal: length of the acceleration (= deceleration) phase
    double peak_sd = 0;       // trapezoidal: cruise speed of s (1/s)
    double accel_sdd = 0;     // trapezoidal: |s''| during the ramps (1/s^2)
};

// s, s', s'' at time t (clamped to [0, duration]: s = 0 before, 1 after, derivatives 0 outside).
struct ScalingSample {
    double s = 0, sd = 0, sdd = 0;
};
ScalingSample sample_scaling(const TimeScaling& ts, double t);

// The fastest scaling of `profile` for which a unit path traversed at speed s' and acceleration s''
// stays within speed limit `max_sd` (1/s) and acceleration limit `max_sdd` (1/s^2); when
// `min_duration_s` is larger, the profile is stretched to it (same shape, lower peaks).
TimeScaling fastest_scaling(Profile profile, double max_sd, double max_sdd, double min_duration_s = 0);

struct JointLimits {
    std::vector<double> velocity_rad_s;      // per joint, > 0
    std::vector<double> acceleration_rad_s2; // per joint, > 0
};
// The arm's velocity limits times `velocity_scale` (0 < scale <= 1) and a common acceleration limit.
JointLimits arm_limits(const ArmModel& model, double velocity_scale, double acceleration_rad_s2);

struct JointTrajectory {
    std::vector<double> q0, q1;
    TimeScaling scaling;
};

// A synchronized point-to-point move q0 -> q1 (see the header). Throws std::invalid_argument for
// wrong sizes, non-finite values, non-positive limits, or targets outside the joint position limits.
JointTrajectory plan_joint_move(const ArmModel& model, const std::vector<double>& q0, const std::vector<double>& q1,
                                const JointLimits& limits, Profile profile, double min_duration_s = 0);

struct JointSample {
    std::vector<double> q, qd, qdd;
};
// Position, velocity and acceleration at time t (held at q1 after the end, at q0 before 0).
void sample(const JointTrajectory& traj, double t, JointSample& out);

struct CartesianOptions {
    Profile profile = Profile::quintic;
    double max_linear_m_s = 0.25;
    double max_linear_m_s2 = 1.0;
    double max_angular_rad_s = 1.0;
    double max_angular_rad_s2 = 4.0;
    double sample_period_s = 0.004;     // IK is solved at this spacing (and at the end point)
    double max_joint_step_rad = 0.05;   // a larger jump between consecutive samples rejects the move
};

struct CartesianPath {
    bool ok = false;
    std::string reason;                 // why the move was rejected (empty when ok)
    TimeScaling scaling;
    std::vector<double> t_s;            // sample times, 0 .. duration
    std::vector<std::vector<double>> q; // IK solution at each sample (only up to the failure if !ok)
    double max_joint_step_rad = 0;      // largest |dq| between consecutive samples
    int ik_calls = 0;
};

// The pose on the straight line at path parameter s in [0, 1].
Pose interpolate_pose(const Pose& a, const Pose& b, double s);

// A straight-line move of the flange from FK(q_start) to `goal`. Throws std::invalid_argument for
// bad arguments (sizes, non-finite values, non-positive limits); an unreachable or discontinuous
// path is a result with ok = false and the reason.
CartesianPath plan_cartesian_line(const ArmModel& model, const std::vector<double>& q_start, const Pose& goal,
                                  const CartesianOptions& options = {});

// Joint sample of a Cartesian path at time t: q by linear interpolation between IK samples, qd and
// qdd by central differences of that interpolation (zero at and beyond the ends).
void sample(const CartesianPath& path, double t, JointSample& out);

}  // namespace stacklab::robot
