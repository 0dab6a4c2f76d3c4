// Arm models: serial revolute arms described by standard Denavit-Hartenberg parameters, link
// inertials and joint limits, loaded from JSON bytes and validated. The model is immutable; the
// per-run state lives in ArmData (kinematics.hpp) so algorithms are free functions on (model, data).
//
// One file per arm, `models/arms/<id>.json`. Every field we read is documented here, once.
//
//   id          string  lowercase [a-z0-9-]+; must equal the file name stem
//   name        string  display name
//   convention  string  free text (documentation for the reader; the convention is fixed below)
//   sources     object  source key -> citation text; every FIGURE's "source" must be one of the keys
//   payload_kg  FIGURE  number, rated payload (kg, > 0)
//   joints      array   1..kMaxJoints objects, base to flange, each:
//     name                string
//     a_m                 FIGURE number  DH link length a_i (m)
//     alpha_deg           FIGURE number  DH link twist alpha_i (degrees)
//     d_m                 FIGURE number  DH link offset d_i (m)
//     theta_offset_deg    FIGURE number  added to the joint angle: theta_i = q_i + offset (degrees)
//     mass_kg             FIGURE number  link mass (kg, >= 0)
//     com_m               FIGURE [x,y,z] centre of mass in DH frame i (m)
//     inertia_kgm2        FIGURE [ixx,iyy,izz,ixy,ixz,iyz] about the centre of mass, axes of DH frame i
//                         (kg m^2); must be positive semi-definite and satisfy the triangle inequality
//     position_limit_deg  FIGURE [min,max] (degrees, min < max)
//     velocity_limit_dps  FIGURE number (degrees per second, > 0)
//     torque_limit_nm     FIGURE number (N m, > 0)
//
// A FIGURE is {"value": V, "source": KEY} or {"value": V, "assumed": true, "reason": "why"}; it may
// add "note". Unknown keys are rejected so that a typo is an error, not a silently missing figure.
//
// Convention (standard, "distal" DH as in Universal Robots' published tables): DH frame i is fixed to
// link i; joint i rotates about z of frame i-1; T_{i-1,i} = Rz(theta_i) Tz(d_i) Tx(a_i) Rx(alpha_i).
// Frame 0 is the base; the last frame is the tool flange.
#pragma once

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

#include "robot/spatial.hpp"

namespace stacklab::robot {

// Fixed capacity of the per-run arrays in ArmData; arms with more joints are rejected.
constexpr int kMaxJoints = 12;

// A problem in one arm description: names the file and the field (JSON-pointer style path).
class ArmError : public std::invalid_argument {
public:
    ArmError(std::string file, std::string field, const std::string& problem);
    const std::string& file() const { return file_; }
    const std::string& field() const { return field_; }

private:
    std::string file_;
    std::string field_;
};

// One joint and the link it moves, in SI units (radians internally).
struct Link {
    std::string name;
    double a_m = 0, alpha_rad = 0, d_m = 0, theta_offset_rad = 0;
    double mass_kg = 0;
    Vec3 com_m{0, 0, 0};
    Mat3 inertia_kgm2{};  // about the centre of mass, DH frame i axes, symmetric
    double position_min_rad = -kPi, position_max_rad = kPi;
    double velocity_limit_rad_s = 0;
    double torque_limit_nm = 0;
};

class ArmModel {
public:
    // Validates (throws ArmError naming `file` and the field): 1..kMaxJoints links, finite figures,
    // non-negative masses, physically valid inertias, ordered limits.
    ArmModel(std::string id, std::string name, std::vector<Link> links, double payload_kg,
             const std::string& file = "<arm>");

    const std::string& id() const { return id_; }
    const std::string& name() const { return name_; }
    int dof() const { return static_cast<int>(links_.size()); }
    const Link& link(int i) const { return links_.at(static_cast<size_t>(i)); }
    const std::vector<Link>& links() const { return links_; }
    double payload_kg() const { return payload_kg_; }
    // cos/sin of alpha_i, precomputed because every kinematic and dynamic pass needs them.
    double cos_alpha(int i) const { return ca_[static_cast<size_t>(i)]; }
    double sin_alpha(int i) const { return sa_[static_cast<size_t>(i)]; }

private:
    std::string id_, name_;
    std::vector<Link> links_;
    std::vector<double> ca_, sa_;
    double payload_kg_ = 0;
};

// The mutable state of one run on one arm (MuJoCo's mjData, Pinocchio's Data): what the algorithms
// write. Fixed-size so no algorithm allocates; only the first dof() entries are meaningful.
// Vectors over joints use index i for joint i+1 (0-based). Matrices are row-major.
struct ArmData {
    explicit ArmData(const ArmModel& model) : dof(model.dof()) {}
    int dof;
    // forward_kinematics: pose of DH frame i+1 (link i) in the base frame; link_pose[dof-1] is the flange.
    std::array<Pose, kMaxJoints> link_pose{};
    // jacobian: 6 x dof geometric Jacobian of the flange in the base frame, linear rows 0-2 over
    // angular rows 3-5, element (r, c) at J[r * kMaxJoints + c].
    std::array<double, 6 * kMaxJoints> J{};
    // rnea / gravity / coriolis / forward_dynamics outputs.
    std::array<double, kMaxJoints> tau{}, g{}, c{}, qdd{};
    // crba: joint-space mass matrix, element (r, c) at M[r * kMaxJoints + c].
    std::array<double, kMaxJoints * kMaxJoints> M{};
    // Work arrays of the recursions (link-frame velocities, accelerations, forces, moments).
    std::array<Vec3, kMaxJoints> w{}, dw{}, ddp{}, f{}, n{};
    std::array<double, kMaxJoints * kMaxJoints> L{};  // Cholesky factor of M (forward_dynamics)
};

// Parses and validates one arm file. `file_name` is used in errors and must end in `<id>.json`.
ArmModel parse_arm(const std::string& json_bytes, const std::string& file_name);

struct ArmFile {
    std::string name;   // file name as the user knows it (a path or a bundled name)
    std::string bytes;
};

// The arms shipped with StackLab (models/arms/*.json, embedded at build time).
const std::vector<ArmFile>& bundled_arm_files();
// The bundled arm with this id; throws std::invalid_argument listing the known ids.
ArmModel bundled_arm(const std::string& id);

}  // namespace stacklab::robot
