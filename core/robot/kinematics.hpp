// Kinematics of serial DH arms: forward kinematics (every link frame), the geometric Jacobian,
// Yoshikawa's manipulability, closed-form inverse kinematics for UR-type arms (all up to 8
// solutions) and damped-least-squares numeric inverse kinematics for any chain.
//
// Joint vectors are std::vector<double> of size model.dof() (radians, rad/s); a wrong size throws
// std::invalid_argument naming the argument. Results are written into ArmData (arm.hpp).
//
// Sources: standard DH as in Spong, Hutchinson & Vidyasagar, "Robot Modeling and Control", ch. 3;
// Jacobian columns [z_{i-1} x (p_e - p_{i-1}); z_{i-1}] for revolute joints (ibid. ch. 4);
// manipulability sqrt(det(J J^T)) (Yoshikawa 1985); UR closed form after K. P. Hawkins, "Analytic
// inverse kinematics for the Universal Robots UR-5/UR-10 arms" (2013), re-derived in the header of
// kinematics.cpp for the DH convention of arm.hpp; damped least squares after Wampler (1986) /
// Nakamura & Hanafusa (1986), see Buss, "Introduction to inverse kinematics with Jacobian
// transpose, pseudoinverse and damped least squares methods" (2004).
#pragma once

#include <vector>

#include "robot/arm.hpp"

namespace stacklab::robot {

// Fills data.link_pose[0..dof-1]; returns the flange pose (data.link_pose[dof-1]).
const Pose& forward_kinematics(const ArmModel& model, ArmData& data, const std::vector<double>& q);

// Fills data.link_pose and data.J (see ArmData) for configuration q.
void jacobian(const ArmModel& model, ArmData& data, const std::vector<double>& q);

// sqrt(det(J J^T)) of the 6 x dof Jacobian (for dof < 6, of J^T J): zero at singularities.
double manipulability(const ArmModel& model, ArmData& data, const std::vector<double>& q);

// True when the arm has the UR wrist geometry the closed form needs: 6 joints, alpha =
// [90, 0, 0, 90, -90, 0] degrees, a1 = a4 = a5 = a6 = 0, d2 = d3 = 0, d6 != 0, a2 a3 != 0.
bool is_ur_type(const ArmModel& model);

struct UrIkOptions {
    // |sin q5| below this is the wrist singularity: q6 is free and set to the seed's q6.
    double wrist_singularity_eps = 1e-9;
    // Solutions whose FK misses the target by more than this (m, rad) are dropped (guards the
    // clamped acos of targets at the edge of the workspace).
    double tolerance = 1e-7;
};

// All closed-form solutions (up to 8) for flange pose `target`, each joint moved by multiples of
// 2 pi to the value nearest `seed` inside the joint limits (solutions with no such value are
// dropped), sorted by Euclidean distance to the seed (ties: lexicographic). An empty seed means
// all zeros. Throws std::invalid_argument when !is_ur_type(model) or the seed has the wrong size.
std::vector<std::vector<double>> ik_ur(const ArmModel& model, const Pose& target, const std::vector<double>& seed = {},
                                       const UrIkOptions& options = {});

struct DlsOptions {
    int max_iterations = 200;
    double damping = 1e-3;             // lambda in (J J^T + lambda^2 I)
    double position_tolerance_m = 1e-10;
    double orientation_tolerance_rad = 1e-10;
    double max_step_rad = 0.5;         // per-iteration joint step cap (keeps far seeds stable)
};

struct DlsResult {
    std::vector<double> q;
    bool converged = false;
    int iterations = 0;
    double position_error_m = 0;
    double orientation_error_rad = 0;
};

// Damped-least-squares IK from `seed` (any chain): dq = J^T (J J^T + lambda^2 I)^-1 e, e = [p* - p;
// log(R* R^T)], joints clamped to their limits after each step.
DlsResult ik_dls(const ArmModel& model, ArmData& data, const Pose& target, const std::vector<double>& seed,
                 const DlsOptions& options = {});

// Position and orientation error (m, rad) between two poses.
double position_error(const Pose& a, const Pose& b);
double orientation_error(const Pose& a, const Pose& b);

// Index of the configuration nearest `seed` (Euclidean in joint space); -1 when `candidates` is empty.
int nearest(const std::vector<std::vector<double>>& candidates, const std::vector<double>& seed);

// Throws std::invalid_argument("<what>: expected N values, got M") unless v.size() == model.dof().
void check_joint_vector(const ArmModel& model, const std::vector<double>& v, const char* what);

}  // namespace stacklab::robot
