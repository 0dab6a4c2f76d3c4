// Rigid-body dynamics of serial DH arms (revolute joints):
//   tau = M(q) qdd + c(q, qd) + g(q)
// rnea: inverse dynamics (recursive Newton-Euler in link frames, Luh, Walker & Paul 1980, in the
//       form of Siciliano et al., "Robotics: Modelling, Planning and Control", sec. 7.5);
// crba: the joint-space mass matrix by composite rigid bodies (Walker & Orin 1982, method 3),
//       accumulated in the base frame;
// gravity, coriolis: g(q) and c(q, qd) = C(q, qd) qd as RNEA passes with the other terms zeroed;
// forward_dynamics: qdd = M^-1 (tau - c - g) by CRBA and Cholesky.
// Gravity is a parameter (m/s^2 in the base frame), default kStandardGravity along -z.
// Link inertials are those of ArmModel (arm.hpp): mass, centre of mass and inertia about it in
// DH frame i. No joint friction, no motor inertia, no payload (add it to the last link's inertials).
#pragma once

#include <array>
#include <vector>

#include "robot/arm.hpp"

namespace stacklab::robot {

// 9.80665 m/s^2: the standard acceleration of gravity (CGPM 1901), along -z of the base.
constexpr Vec3 kStandardGravity{0.0, 0.0, -9.80665};

// Joint torques for (q, qd, qdd) in data.tau (N m); returns data.tau.
const std::array<double, kMaxJoints>& rnea(const ArmModel& model, ArmData& data, const std::vector<double>& q,
                                           const std::vector<double>& qd, const std::vector<double>& qdd,
                                           const Vec3& gravity = kStandardGravity);

// Joint-space mass matrix in data.M (row-major, stride kMaxJoints; fills link_pose too).
void crba(const ArmModel& model, ArmData& data, const std::vector<double>& q);

// g(q) in data.g; returns data.g.
const std::array<double, kMaxJoints>& gravity_torques(const ArmModel& model, ArmData& data, const std::vector<double>& q,
                                                      const Vec3& gravity = kStandardGravity);

// c(q, qd) = C(q, qd) qd (Coriolis and centrifugal torques) in data.c; returns data.c.
const std::array<double, kMaxJoints>& coriolis(const ArmModel& model, ArmData& data, const std::vector<double>& q,
                                               const std::vector<double>& qd);

// Joint accelerations for applied torques tau in data.qdd; returns data.qdd. Throws
// std::runtime_error if M(q) is not positive definite (a link chain with no mass on some joint).
const std::array<double, kMaxJoints>& forward_dynamics(const ArmModel& model, ArmData& data, const std::vector<double>& q,
                                                       const std::vector<double>& qd, const std::vector<double>& tau,
                                                       const Vec3& gravity = kStandardGravity);

}  // namespace stacklab::robot
