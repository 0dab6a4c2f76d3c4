// Safety interlocks (core/robot/safety.hpp): the ISO/TS 15066 protective separation distance of the
// issue's example, speed-and-separation decisions around S_p, the shared-zone confidence threshold,
// watchdogs that stop within their bound, joint limits, and a log entry with the rule id for every
// decision.
#include <cmath>
#include <ostream>

#include <boost/test/unit_test.hpp>

#include "robot/safety.hpp"

using namespace stacklab::robot;

namespace stacklab::robot {
std::ostream& operator<<(std::ostream& os, Motion m) { return os << motion_name(m); }
}  // namespace stacklab::robot

namespace {

SafetyConfig example_config() {
    SafetyConfig c;
    // The example case at full speed.
    c.full_speed = {1.6, 0.1, 0.3, 1.0, 0.150, 0.0, 0.100, 0.020};
    // Reduced speed 0.25 m/s with a 40 mm stopping distance (illustrative).
    c.reduced_speed = {1.6, 0.1, 0.3, 0.25, 0.040, 0.0, 0.100, 0.020};
    return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(robot_safety)

// T_r 0.1 s, T_s 0.3 s, v_r 1 m/s, S_s 150 mm, C 0, Z_d 100 mm, Z_r 20 mm, v_h 1.6 m/s => 1010 mm.
BOOST_AUTO_TEST_CASE(iso_ts_15066_example_case_gives_1010_mm) {
    const SeparationTerms t = protective_separation(example_config().full_speed);
    BOOST_TEST(std::abs(t.S_h_m - 0.640) < 1e-12);
    BOOST_TEST(std::abs(t.S_r_m - 0.100) < 1e-12);
    BOOST_TEST(std::abs(t.S_s_m - 0.150) < 1e-12);
    BOOST_TEST(std::abs(t.S_p_m - 1.010) < 1e-12);
    SeparationParams bad = example_config().full_speed;
    bad.T_r_s = -0.1;
    BOOST_CHECK_THROW(protective_separation(bad), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_person_inside_s_p_slows_then_stops_the_arm_and_leaving_resumes_it) {
    SafetyMonitor mon(example_config());
    const double sp_reduced = mon.S_p_reduced_m;  // 0.64 + 0.025 + 0.04 + 0.12 = 0.825 m
    BOOST_TEST(std::abs(sp_reduced - 0.825) < 1e-12);
    SafetyInputs in;
    auto at = [&](double t, double d) {
        in.t_s = t;
        in.perception_time_s = t;
        in.person_distance_m = d;
        return mon.update(in);
    };
    BOOST_TEST(at(0.0, -1) == Motion::run);
    BOOST_TEST(at(0.1, 1.5) == Motion::run);
    BOOST_TEST(at(0.2, 1.0) == Motion::reduced);   // < 1.010
    BOOST_TEST(at(0.3, 0.8) == Motion::stop);      // < 0.825
    BOOST_TEST(at(0.4, 0.9) == Motion::reduced);
    BOOST_TEST(at(0.5, 2.0) == Motion::run);
    BOOST_TEST_REQUIRE(mon.log.size() == 4u);
    BOOST_TEST(mon.log[0].rule == "SSM-SLOW");
    BOOST_TEST(mon.log[0].t_s == 0.2);
    BOOST_TEST(mon.log[0].inputs.find("distance_m=1.000") != std::string::npos, mon.log[0].inputs);
    BOOST_TEST(mon.log[1].rule == "SSM-STOP");
    BOOST_TEST(mon.log[2].rule == "SSM-SLOW");
    BOOST_TEST(mon.log[3].rule == "SSM-CLEAR");
}

BOOST_AUTO_TEST_CASE(shared_zone_is_forbidden_below_the_confidence_threshold) {
    SafetyMonitor mon(example_config());
    BOOST_TEST(mon.config.zone_confidence_threshold == 0.925);
    SafetyInputs in;
    in.zone_confidence = 0.93;
    mon.update(in);
    BOOST_TEST(mon.may_enter_shared_zone());
    in.zone_confidence = 0.92;
    mon.update(in);
    BOOST_TEST(!mon.may_enter_shared_zone());
    BOOST_TEST(mon.log.back().rule == "ZONE-CONF");
    in.zone_confidence = 0.925;  // the threshold itself is enough
    mon.update(in);
    BOOST_TEST(mon.may_enter_shared_zone());
    in.zone_obstacle = true;
    in.zone_confidence = 0.99;
    mon.update(in);
    BOOST_TEST(!mon.may_enter_shared_zone());
    BOOST_TEST(mon.log.back().rule == "ZONE-OCC");
}

BOOST_AUTO_TEST_CASE(watchdogs_stop_within_their_bound_after_stale_perception_or_a_lost_link) {
    SafetyConfig c = example_config();
    c.perception_timeout_s = 0.2;
    c.link_timeout_s = 0.1;
    const double tick = 1e-3;
    // Perception stops updating at t = 1 s: the stop comes at the first tick after 1.2 s.
    {
        SafetyMonitor mon(c);
        SafetyInputs in;
        double stop_at = -1;
        for (int k = 0; k < 2000; ++k) {
            in.t_s = k * tick;
            if (in.t_s <= 1.0) in.perception_time_s = in.t_s;
            if (mon.update(in) == Motion::stop) {
                stop_at = in.t_s;
                break;
            }
        }
        BOOST_TEST(stop_at > 1.2);
        BOOST_TEST(stop_at <= 1.2 + tick + 1e-9);
        BOOST_TEST(mon.log.back().rule == "WD-PERC");
    }
    // The link drops at 0.5 s: stop within link_timeout + one tick; resume when it is back.
    {
        SafetyMonitor mon(c);
        SafetyInputs in;
        double stop_at = -1;
        for (int k = 0; k < 1000; ++k) {
            in.t_s = k * tick;
            in.perception_time_s = in.t_s;
            if (in.t_s >= 0.5 && in.link_up) {
                in.link_up = false;
                in.link_down_since_s = in.t_s;
            }
            if (mon.update(in) == Motion::stop && stop_at < 0) stop_at = in.t_s;
        }
        BOOST_TEST(stop_at > 0.6);
        BOOST_TEST(stop_at <= 0.6 + tick + 1e-9);
        BOOST_TEST(mon.log.back().rule == "WD-LINK");
        in.link_up = true;
        in.t_s += tick;
        BOOST_TEST(mon.update(in) == Motion::run);
        BOOST_TEST(mon.log.back().rule == "WD-OK");
    }
}

BOOST_AUTO_TEST_CASE(joint_limits_stop_the_arm_and_torques_are_clamped_with_a_logged_rule) {
    const ArmModel m = bundled_arm("ur5e");
    SafetyMonitor mon(example_config());
    std::vector<double> q(6, 0.0), qd(6, 0.0);
    BOOST_TEST(mon.check_joint_state(m, 0.0, q, qd));
    qd[3] = 4.0;  // UR5e wrist: 180 deg/s = 3.14 rad/s
    BOOST_TEST(!mon.check_joint_state(m, 0.1, q, qd));
    BOOST_TEST(mon.motion() == Motion::stop);
    BOOST_TEST(mon.log.back().rule == "LIM-VEL");
    BOOST_TEST(mon.log.back().inputs.find("joint=4") != std::string::npos);
    SafetyMonitor mon2(example_config());
    q[0] = 7.0;
    qd[3] = 0.0;
    BOOST_TEST(!mon2.check_joint_state(m, 0.2, q, qd));
    BOOST_TEST(mon2.log.back().rule == "LIM-POS");
    std::vector<double> tau{10, -400, 0, 30, 0, 0};
    BOOST_TEST(mon2.enforce_torque_limits(m, 0.3, tau) == 2);
    BOOST_TEST(tau[1] == -150.0);
    BOOST_TEST(tau[3] == 28.0);
    BOOST_TEST(mon2.log.back().rule == "LIM-TAU");
    BOOST_TEST(mon2.log.back().t_s == 0.3);
}

BOOST_AUTO_TEST_SUITE_END()
