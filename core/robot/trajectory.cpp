#include "robot/trajectory.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "robot/kinematics.hpp"

namespace stacklab::robot {

const char* profile_name(Profile p) { return p == Profile::trapezoidal ? "trapezoidal" : "quintic"; }

Profile parse_profile(const std::string& name) {
    if (name == "trapezoidal") return Profile::trapezoidal;
    if (name == "quintic") return Profile::quintic;
    throw std::invalid_argument("profile: \"" + name + "\" is not one of trapezoidal, quintic");
}

namespace {

// Peak |s''| of the quintic 10 t^3 - 15 t^4 + 6 t^5 over unit time, at t = 1/2 -+ sqrt(3)/6.
const double kQuinticPeakSdd = 10.0 / std::sqrt(3.0);
constexpr double kQuinticPeakSd = 15.0 / 8.0;

void need_positive(double v, const char* what) {
    if (!(std::isfinite(v) && v > 0)) throw std::invalid_argument(std::string(what) + ": must be a finite number > 0");
}

}  // namespace

TimeScaling fastest_scaling(Profile profile, double max_sd, double max_sdd, double min_duration_s) {
    need_positive(max_sd, "max_sd");
    need_positive(max_sdd, "max_sdd");
    if (!(std::isfinite(min_duration_s) && min_duration_s >= 0))
        throw std::invalid_argument("min_duration_s: must be a finite number >= 0");
    TimeScaling ts;
    ts.profile = profile;
    if (profile == Profile::quintic) {
        ts.duration_s = std::max({kQuinticPeakSd / max_sd, std::sqrt(kQuinticPeakSdd / max_sdd), min_duration_s});
        return ts;
    }
    double v = max_sd, a = max_sdd;
    double ta = v / a;
    if (v * v / a >= 1.0) {  // triangular: the ramps alone cover the path
        ta = std::sqrt(1.0 / a);
        v = a * ta;
    }
    double T = 1.0 / v + ta;
    if (min_duration_s > T) {
        // Stretch in time by k: speeds / k, accelerations / k^2, same shape.
        const double k = min_duration_s / T;
        v /= k;
        a /= k * k;
        ta *= k;
        T = min_duration_s;
    }
    ts.duration_s = T;
    ts.accel_time_s = ta;
    ts.peak_sd = v;
    ts.accel_sdd = a;
    return ts;
}

ScalingSample sample_scaling(const TimeScaling& ts, double t) {
    ScalingSample r;
    if (!(t > 0)) return r;
    if (t >= ts.duration_s) {
        r.s = 1.0;
        return r;
    }
    if (ts.profile == Profile::quintic) {
        const double T = ts.duration_s, x = t / T;
        const double x2 = x * x, x3 = x2 * x;
        r.s = x3 * (10.0 + x * (-15.0 + 6.0 * x));
        r.sd = x2 * (30.0 + x * (-60.0 + 30.0 * x)) / T;
        r.sdd = x * (60.0 + x * (-180.0 + 120.0 * x)) / (T * T);
        return r;
    }
    const double T = ts.duration_s, ta = ts.accel_time_s, a = ts.accel_sdd, v = ts.peak_sd;
    if (t < ta) {
        r.s = 0.5 * a * t * t;
        r.sd = a * t;
        r.sdd = a;
    } else if (t <= T - ta) {
        r.s = 0.5 * a * ta * ta + v * (t - ta);
        r.sd = v;
    } else {
        const double u = T - t;
        r.s = 1.0 - 0.5 * a * u * u;
        r.sd = a * u;
        r.sdd = -a;
    }
    return r;
}

JointLimits arm_limits(const ArmModel& model, double velocity_scale, double acceleration_rad_s2) {
    if (!(std::isfinite(velocity_scale) && velocity_scale > 0 && velocity_scale <= 1))
        throw std::invalid_argument("velocity_scale: must lie in (0, 1]");
    need_positive(acceleration_rad_s2, "acceleration_rad_s2");
    JointLimits l;
    for (const Link& k : model.links()) {
        l.velocity_rad_s.push_back(k.velocity_limit_rad_s * velocity_scale);
        l.acceleration_rad_s2.push_back(acceleration_rad_s2);
    }
    return l;
}

JointTrajectory plan_joint_move(const ArmModel& model, const std::vector<double>& q0, const std::vector<double>& q1,
                                const JointLimits& limits, Profile profile, double min_duration_s) {
    check_joint_vector(model, q0, "q0");
    check_joint_vector(model, q1, "q1");
    check_joint_vector(model, limits.velocity_rad_s, "limits.velocity_rad_s");
    check_joint_vector(model, limits.acceleration_rad_s2, "limits.acceleration_rad_s2");
    double max_sd = INFINITY, max_sdd = INFINITY;
    for (int i = 0; i < model.dof(); ++i) {
        const size_t k = static_cast<size_t>(i);
        need_positive(limits.velocity_rad_s[k], "limits.velocity_rad_s");
        need_positive(limits.acceleration_rad_s2[k], "limits.acceleration_rad_s2");
        const Link& l = model.link(i);
        for (double q : {q0[k], q1[k]})
            if (q < l.position_min_rad || q > l.position_max_rad)
                throw std::invalid_argument("plan_joint_move: joint " + std::to_string(i + 1) + " (" + l.name +
                                            ") position " + std::to_string(q) + " rad is outside its limits");
        const double D = std::abs(q1[k] - q0[k]);
        if (D > 0) {
            max_sd = std::min(max_sd, limits.velocity_rad_s[k] / D);
            max_sdd = std::min(max_sdd, limits.acceleration_rad_s2[k] / D);
        }
    }
    JointTrajectory tr{q0, q1, {}};
    if (std::isinf(max_sd)) {  // no motion: a zero-length move that lasts min_duration_s
        tr.scaling.profile = profile;
        tr.scaling.duration_s = min_duration_s;
        tr.scaling.peak_sd = tr.scaling.accel_sdd = 0;
        tr.scaling.accel_time_s = 0;
        return tr;
    }
    tr.scaling = fastest_scaling(profile, max_sd, max_sdd, min_duration_s);
    return tr;
}

void sample(const JointTrajectory& traj, double t, JointSample& out) {
    const size_t n = traj.q0.size();
    out.q.resize(n);
    out.qd.resize(n);
    out.qdd.resize(n);
    const ScalingSample s = sample_scaling(traj.scaling, t);
    for (size_t i = 0; i < n; ++i) {
        const double D = traj.q1[i] - traj.q0[i];
        out.q[i] = (1.0 - s.s) * traj.q0[i] + s.s * traj.q1[i];
        out.qd[i] = s.sd * D;
        out.qdd[i] = s.sdd * D;
    }
}

Pose interpolate_pose(const Pose& a, const Pose& b, double s) {
    if (s <= 0) return a;
    if (s >= 1) return b;
    Pose p;
    for (int i = 0; i < 3; ++i) p.p[static_cast<size_t>(i)] = (1.0 - s) * a.p[static_cast<size_t>(i)] + s * b.p[static_cast<size_t>(i)];
    const Vec3 w = rotation_vector(mul(transpose(a.R), b.R));
    p.R = mul(a.R, rotation_from_vector(s * w));
    return p;
}

CartesianPath plan_cartesian_line(const ArmModel& model, const std::vector<double>& q_start, const Pose& goal,
                                  const CartesianOptions& o) {
    check_joint_vector(model, q_start, "q_start");
    need_positive(o.max_linear_m_s, "max_linear_m_s");
    need_positive(o.max_linear_m_s2, "max_linear_m_s2");
    need_positive(o.max_angular_rad_s, "max_angular_rad_s");
    need_positive(o.max_angular_rad_s2, "max_angular_rad_s2");
    need_positive(o.sample_period_s, "sample_period_s");
    need_positive(o.max_joint_step_rad, "max_joint_step_rad");
    for (double v : goal.R)
        if (!std::isfinite(v)) throw std::invalid_argument("goal: rotation must be finite");
    for (double v : goal.p)
        if (!std::isfinite(v)) throw std::invalid_argument("goal: position must be finite");

    ArmData data(model);
    const Pose start = forward_kinematics(model, data, q_start);
    const double L = norm(goal.p - start.p);
    const double ang = norm(rotation_vector(mul(transpose(start.R), goal.R)));
    double max_sd = INFINITY, max_sdd = INFINITY;
    if (L > 0) {
        max_sd = std::min(max_sd, o.max_linear_m_s / L);
        max_sdd = std::min(max_sdd, o.max_linear_m_s2 / L);
    }
    if (ang > 0) {
        max_sd = std::min(max_sd, o.max_angular_rad_s / ang);
        max_sdd = std::min(max_sdd, o.max_angular_rad_s2 / ang);
    }
    CartesianPath path;
    if (std::isinf(max_sd)) {  // already there
        path.ok = true;
        path.scaling.profile = o.profile;
        path.t_s = {0.0};
        path.q = {q_start};
        return path;
    }
    path.scaling = fastest_scaling(o.profile, max_sd, max_sdd);
    const double T = path.scaling.duration_s;
    const bool closed_form = is_ur_type(model);
    // The end point first: an unreachable goal is rejected before any path is sampled.
    ++path.ik_calls;
    if (closed_form ? ik_ur(model, goal, q_start).empty() : !ik_dls(model, data, goal, q_start).converged) {
        path.reason = "goal unreachable: no IK solution within the joint limits";
        return path;
    }
    const int steps = std::max(1, static_cast<int>(std::ceil(T / o.sample_period_s - 1e-9)));
    std::vector<double> prev = q_start;
    path.t_s.push_back(0.0);
    path.q.push_back(q_start);
    for (int k = 1; k <= steps; ++k) {
        const double t = k == steps ? T : k * o.sample_period_s;
        const double dt = t - path.t_s.back();
        const Pose target = interpolate_pose(start, goal, sample_scaling(path.scaling, t).s);
        std::vector<double> q;
        ++path.ik_calls;
        if (closed_form) {
            const auto sols = ik_ur(model, target, prev);
            if (!sols.empty()) q = sols.front();  // sorted nearest-first by ik_ur
        } else {
            DlsResult r = ik_dls(model, data, target, prev);
            if (r.converged) q = std::move(r.q);
        }
        char buf[160];
        if (q.empty()) {
            std::snprintf(buf, sizeof buf, "no IK solution within the joint limits at t = %.4f s", t);
            path.reason = buf;
            return path;
        }
        for (int i = 0; i < model.dof(); ++i) {
            const size_t j = static_cast<size_t>(i);
            const double step = std::abs(q[j] - prev[j]);
            path.max_joint_step_rad = std::max(path.max_joint_step_rad, step);
            if (step > o.max_joint_step_rad) {
                std::snprintf(buf, sizeof buf, "joint %d jumps %.4f rad at t = %.4f s (limit %.4f): branch discontinuity",
                              i + 1, step, t, o.max_joint_step_rad);
                path.reason = buf;
                return path;
            }
            // The mean speed over the interval bounds the peak from below: above the limit is infeasible.
            if (step > model.link(i).velocity_limit_rad_s * dt) {
                std::snprintf(buf, sizeof buf, "joint %d needs %.4f rad/s at t = %.4f s (limit %.4f)", i + 1, step / dt, t,
                              model.link(i).velocity_limit_rad_s);
                path.reason = buf;
                return path;
            }
        }
        path.t_s.push_back(t);
        path.q.push_back(q);
        prev = std::move(q);
    }
    path.ok = true;
    return path;
}

void sample(const CartesianPath& path, double t, JointSample& out) {
    const size_t n = path.q.empty() ? 0 : path.q.front().size();
    out.q.assign(n, 0.0);
    out.qd.assign(n, 0.0);
    out.qdd.assign(n, 0.0);
    if (path.q.empty()) return;
    const size_t m = path.t_s.size();
    if (m == 1 || t <= 0) {
        out.q = path.q.front();
        return;
    }
    if (t >= path.t_s.back()) {
        out.q = path.q.back();
        return;
    }
    const size_t k = static_cast<size_t>(std::upper_bound(path.t_s.begin(), path.t_s.end(), t) - path.t_s.begin()) - 1;
    const double t0 = path.t_s[k], t1 = path.t_s[k + 1], h = t1 - t0, u = (t - t0) / h;
    // Node velocities: central differences inside, zero at both ends (the scaling starts and stops at rest).
    auto node_v = [&](size_t idx, size_t j) {
        if (idx == 0 || idx + 1 >= m) return 0.0;
        return (path.q[idx + 1][j] - path.q[idx - 1][j]) / (path.t_s[idx + 1] - path.t_s[idx - 1]);
    };
    for (size_t j = 0; j < n; ++j) {
        out.q[j] = (1.0 - u) * path.q[k][j] + u * path.q[k + 1][j];
        const double v0 = node_v(k, j), v1 = node_v(k + 1, j);
        out.qd[j] = (1.0 - u) * v0 + u * v1;
        out.qdd[j] = (v1 - v0) / h;
    }
}

}  // namespace stacklab::robot
