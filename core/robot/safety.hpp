// Safety interlocks of the cell controller: speed and separation monitoring (ISO/TS 15066), the
// shared-zone obstacle-confidence interlock, watchdogs on perception age and the network link, and
// joint limits. Every decision that changes what the arm may do is logged with the id of the rule
// that caused it, its inputs and the time, for certification (issue 7).
//
// Rules (ids are stable; the log and the tests use them):
//   SSM-STOP   person closer than S_p at the reduced speed      -> protective stop
//   SSM-SLOW   person closer than S_p at full speed             -> reduced speed
//   SSM-CLEAR  person (again) farther than S_p at full speed    -> full speed
//   ZONE-CONF  the shared zone is reported clear with a confidence below the threshold (default
//              0.925, the 92.5 %)                        -> do not enter the shared zone
//   ZONE-OCC   an obstacle is reported in the shared zone        -> do not enter the shared zone
//   WD-PERC    the newest perception result is older than perception_timeout_s -> protective stop
//   WD-LINK    the network link has been down longer than link_timeout_s       -> protective stop
//   WD-OK      all watchdogs satisfied again                     -> resume
//   LIM-POS    a joint position outside its limits               -> protective stop
//   LIM-VEL    a joint speed above its limit                     -> protective stop
//   LIM-TAU    a commanded torque above its limit                -> clamp (saturate)
//
// ISO/TS 15066:2016, clause 5.5.4.2.3, equation (1): the protective separation distance
//   S_p(t0) = S_h + S_r + S_s + C + Z_d + Z_r
// with, in the constant-speed form of its equation (2)-(4):
//   S_h = v_h (T_r + T_s)   the person's travel while the robot reacts and stops (v_h: 1.6 m/s by
//                           default, the walking speed of ISO 13855),
//   S_r = v_r T_r           the robot's travel during its reaction time,
//   S_s                     the robot's stopping distance from speed v_r (from the robot's stopping
//                           data, ISO 10218-1 Annex B; an input here, not derived),
//   C                       intrusion distance (ISO 13855), Z_d position uncertainty of the person
//                           (sensor), Z_r position uncertainty of the robot.
// The example (T_r 0.1 s, T_s 0.3 s, v_r 1 m/s, S_s 150 mm, C 0, Z_d 100 mm, Z_r 20 mm)
// gives S_h = 1.6 * 0.4 = 640 mm, S_r = 1 * 0.1 = 100 mm and S_p = 640 + 100 + 150 + 0 + 100 + 20
// = 1010 mm: so S_r = v_r T_r and S_s is taken as given (the 150 mm stopping distance), which is
// what the numbers imply (S_s = v_r T_s would give 300 mm and 1160 mm).
#pragma once

#include <string>
#include <vector>

#include "robot/arm.hpp"

namespace stacklab::robot {

struct SeparationParams {
    double v_h_m_s = 1.6;  // human approach speed
    double T_r_s = 0;      // robot reaction time
    double T_s_s = 0;      // robot stopping time
    double v_r_m_s = 0;    // robot speed toward the person
    double S_s_m = 0;      // robot stopping distance from v_r
    double C_m = 0;        // intrusion distance
    double Z_d_m = 0;      // sensor (person) position uncertainty
    double Z_r_m = 0;      // robot position uncertainty
};

struct SeparationTerms {
    double S_h_m = 0, S_r_m = 0, S_s_m = 0, C_m = 0, Z_d_m = 0, Z_r_m = 0, S_p_m = 0;
};

// S_p and its terms; throws std::invalid_argument naming a negative or non-finite parameter.
SeparationTerms protective_separation(const SeparationParams& p);

struct SafetyConfig {
    SeparationParams full_speed;     // v_r and S_s at the arm's normal speed
    SeparationParams reduced_speed;  // v_r and S_s at the reduced speed (SSM-SLOW)
    double reduced_speed_scale = 0.25;  // fraction of normal speed while SSM-SLOW holds
    double zone_confidence_threshold = 0.925;
    double perception_timeout_s = 0.2;
    double link_timeout_s = 0.1;
};
// Validates ranges; throws std::invalid_argument naming the field.
void validate(const SafetyConfig& c);

enum class Motion { run, reduced, stop };
const char* motion_name(Motion m);  // "run", "reduced", "protective-stop"

struct SafetyEvent {
    double t_s = 0;
    std::string rule;    // rule id, see the header
    std::string action;  // what the controller did
    std::string inputs;  // the inputs that triggered it, "name=value" pairs
};

// What the monitor is told at one instant. Absent sensors use the defaults.
struct SafetyInputs {
    double t_s = 0;
    double person_distance_m = -1;    // < 0: no person detected
    bool zone_obstacle = false;       // perception saw an obstacle in the shared zone
    double zone_confidence = 1.0;     // confidence of the perception's zone verdict
    double perception_time_s = 0;     // time stamp of the newest perception result
    bool link_up = true;
    double link_down_since_s = 0;     // when the link went down (meaningful while !link_up)
};

struct SafetyMonitor {
    SafetyConfig config;
    double S_p_full_m = 0, S_p_reduced_m = 0;
    Motion ssm = Motion::run;
    bool watchdog_stop = false;
    bool limit_stop = false;
    bool zone_allowed = true;
    std::vector<SafetyEvent> log;

    explicit SafetyMonitor(const SafetyConfig& c);
    // Evaluates every rule, logs each change of decision, and returns the motion now allowed
    // (the most restrictive of SSM, the watchdogs and the joint-limit stop).
    Motion update(const SafetyInputs& in);
    // Joint-limit rules on the measured state; returns false (and latches a protective stop) when a
    // position or speed is out of limits. `q`, `qd` must have model.dof() entries.
    bool check_joint_state(const ArmModel& model, double t_s, const std::vector<double>& q, const std::vector<double>& qd);
    // LIM-TAU: clamps `tau` to the limits in place, logging the first clamp of each joint per call
    // sequence (a new event only when the set of clamped joints changes). Returns the number clamped.
    int enforce_torque_limits(const ArmModel& model, double t_s, std::vector<double>& tau);
    Motion motion() const;
    // May the arm enter the shared zone now (ZONE-CONF, ZONE-OCC, and not stopped)?
    bool may_enter_shared_zone() const { return zone_allowed && motion() != Motion::stop; }

private:
    unsigned clamped_mask_ = 0;
};

}  // namespace stacklab::robot
