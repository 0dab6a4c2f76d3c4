#include "robot/safety.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace stacklab::robot {

namespace {

void need_nonneg(double v, const char* what) {
    if (!(std::isfinite(v) && v >= 0)) throw std::invalid_argument(std::string(what) + ": must be a finite number >= 0");
}

std::string fmt(const char* format, double a, double b = 0, double c = 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, format, a, b, c);
    return buf;
}

}  // namespace

SeparationTerms protective_separation(const SeparationParams& p) {
    need_nonneg(p.v_h_m_s, "v_h_m_s");
    need_nonneg(p.T_r_s, "T_r_s");
    need_nonneg(p.T_s_s, "T_s_s");
    need_nonneg(p.v_r_m_s, "v_r_m_s");
    need_nonneg(p.S_s_m, "S_s_m");
    need_nonneg(p.C_m, "C_m");
    need_nonneg(p.Z_d_m, "Z_d_m");
    need_nonneg(p.Z_r_m, "Z_r_m");
    SeparationTerms t;
    t.S_h_m = p.v_h_m_s * (p.T_r_s + p.T_s_s);
    t.S_r_m = p.v_r_m_s * p.T_r_s;
    t.S_s_m = p.S_s_m;
    t.C_m = p.C_m;
    t.Z_d_m = p.Z_d_m;
    t.Z_r_m = p.Z_r_m;
    t.S_p_m = t.S_h_m + t.S_r_m + t.S_s_m + t.C_m + t.Z_d_m + t.Z_r_m;
    return t;
}

void validate(const SafetyConfig& c) {
    protective_separation(c.full_speed);
    protective_separation(c.reduced_speed);
    if (!(c.reduced_speed_scale > 0 && c.reduced_speed_scale <= 1))
        throw std::invalid_argument("reduced_speed_scale: must lie in (0, 1]");
    if (!(c.zone_confidence_threshold >= 0 && c.zone_confidence_threshold <= 1))
        throw std::invalid_argument("zone_confidence_threshold: must lie in [0, 1]");
    if (!(std::isfinite(c.perception_timeout_s) && c.perception_timeout_s > 0))
        throw std::invalid_argument("perception_timeout_s: must be a finite number > 0");
    if (!(std::isfinite(c.link_timeout_s) && c.link_timeout_s > 0))
        throw std::invalid_argument("link_timeout_s: must be a finite number > 0");
}

const char* motion_name(Motion m) {
    switch (m) {
        case Motion::run: return "run";
        case Motion::reduced: return "reduced";
        case Motion::stop: return "protective-stop";
    }
    return "?";
}

SafetyMonitor::SafetyMonitor(const SafetyConfig& c) : config(c) {
    validate(c);
    S_p_full_m = protective_separation(c.full_speed).S_p_m;
    S_p_reduced_m = protective_separation(c.reduced_speed).S_p_m;
}

Motion SafetyMonitor::motion() const {
    if (watchdog_stop || limit_stop || ssm == Motion::stop) return Motion::stop;
    return ssm;
}

Motion SafetyMonitor::update(const SafetyInputs& in) {
    // Speed and separation monitoring.
    Motion want = Motion::run;
    if (in.person_distance_m >= 0 && in.person_distance_m < S_p_reduced_m)
        want = Motion::stop;
    else if (in.person_distance_m >= 0 && in.person_distance_m < S_p_full_m)
        want = Motion::reduced;
    if (want != ssm) {
        const char* rule = want == Motion::stop ? "SSM-STOP" : want == Motion::reduced ? "SSM-SLOW" : "SSM-CLEAR";
        const char* action = want == Motion::stop ? "protective stop" : want == Motion::reduced ? "reduce speed" : "resume full speed";
        log.push_back({in.t_s, rule, action,
                       in.person_distance_m < 0
                           ? fmt("person=none S_p_full_m=%.3f S_p_reduced_m=%.3f", S_p_full_m, S_p_reduced_m)
                           : fmt("distance_m=%.3f S_p_full_m=%.3f S_p_reduced_m=%.3f", in.person_distance_m, S_p_full_m,
                                 S_p_reduced_m)});
        ssm = want;
    }
    // Shared zone: enter only on a confident "clear".
    const bool allowed = !in.zone_obstacle && in.zone_confidence >= config.zone_confidence_threshold;
    if (allowed != zone_allowed) {
        if (allowed)
            log.push_back({in.t_s, "ZONE-CONF", "allow shared zone",
                           fmt("confidence=%.3f threshold=%.3f", in.zone_confidence, config.zone_confidence_threshold)});
        else if (in.zone_obstacle)
            log.push_back({in.t_s, "ZONE-OCC", "forbid shared zone", fmt("obstacle=1 confidence=%.3f", in.zone_confidence)});
        else
            log.push_back({in.t_s, "ZONE-CONF", "forbid shared zone",
                           fmt("confidence=%.3f threshold=%.3f", in.zone_confidence, config.zone_confidence_threshold)});
        zone_allowed = allowed;
    }
    // Watchdogs.
    const double age = in.t_s - in.perception_time_s;
    const bool stale = age > config.perception_timeout_s;
    const bool link_lost = !in.link_up && in.t_s - in.link_down_since_s > config.link_timeout_s;
    const bool wd = stale || link_lost;
    if (wd != watchdog_stop) {
        if (link_lost)
            log.push_back({in.t_s, "WD-LINK", "protective stop",
                           fmt("link_down_for_s=%.3f timeout_s=%.3f", in.t_s - in.link_down_since_s, config.link_timeout_s)});
        else if (stale)
            log.push_back({in.t_s, "WD-PERC", "protective stop",
                           fmt("perception_age_s=%.3f timeout_s=%.3f", age, config.perception_timeout_s)});
        else
            log.push_back({in.t_s, "WD-OK", "resume", fmt("perception_age_s=%.3f link_up=%.0f", age, in.link_up ? 1.0 : 0.0)});
        watchdog_stop = wd;
    }
    return motion();
}

bool SafetyMonitor::check_joint_state(const ArmModel& model, double t_s, const std::vector<double>& q,
                                      const std::vector<double>& qd) {
    if (q.size() != static_cast<size_t>(model.dof()) || qd.size() != static_cast<size_t>(model.dof()))
        throw std::invalid_argument("check_joint_state: q and qd need one entry per joint");
    for (int i = 0; i < model.dof(); ++i) {
        const Link& l = model.link(i);
        const size_t k = static_cast<size_t>(i);
        const bool pos_bad = q[k] < l.position_min_rad || q[k] > l.position_max_rad;
        const bool vel_bad = std::abs(qd[k]) > l.velocity_limit_rad_s;
        if (!pos_bad && !vel_bad) continue;
        if (!limit_stop) {
            char in[160];
            if (pos_bad)
                std::snprintf(in, sizeof in, "joint=%d q_rad=%.4f min_rad=%.4f max_rad=%.4f", i + 1, q[k], l.position_min_rad,
                              l.position_max_rad);
            else
                std::snprintf(in, sizeof in, "joint=%d qd_rad_s=%.4f limit_rad_s=%.4f", i + 1, qd[k], l.velocity_limit_rad_s);
            log.push_back({t_s, pos_bad ? "LIM-POS" : "LIM-VEL", "protective stop", in});
        }
        limit_stop = true;  // latched: a limit violation needs an operator reset
        return false;
    }
    return true;
}

int SafetyMonitor::enforce_torque_limits(const ArmModel& model, double t_s, std::vector<double>& tau) {
    if (tau.size() != static_cast<size_t>(model.dof()))
        throw std::invalid_argument("enforce_torque_limits: tau needs one entry per joint");
    unsigned mask = 0;
    int count = 0;
    std::string in;
    for (int i = 0; i < model.dof(); ++i) {
        const double lim = model.link(i).torque_limit_nm;
        double& t = tau[static_cast<size_t>(i)];
        if (t > lim || t < -lim) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "%sjoint=%d tau_nm=%.3f limit_nm=%.3f", in.empty() ? "" : " ", i + 1, t, lim);
            in += buf;
            t = std::clamp(t, -lim, lim);
            mask |= 1u << i;
            ++count;
        }
    }
    if (mask != clamped_mask_ && mask != 0) log.push_back({t_s, "LIM-TAU", "clamp torque", in});
    clamped_mask_ = mask;
    return count;
}

}  // namespace stacklab::robot
