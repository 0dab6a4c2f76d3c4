#include "robot/control.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "robot/kinematics.hpp"

namespace stacklab::robot {

const char* integrator_name(Integrator i) { return i == Integrator::rk4 ? "rk4" : "semi-implicit-euler"; }

Integrator parse_integrator(const std::string& name) {
    if (name == "rk4") return Integrator::rk4;
    if (name == "semi-implicit-euler") return Integrator::semi_implicit_euler;
    throw std::invalid_argument("integrator: \"" + name + "\" is not one of rk4, semi-implicit-euler");
}

const char* controller_name(ControllerKind k) { return k == ControllerKind::pid ? "pid" : "computed-torque"; }

double kinetic_energy(const ArmModel& model, ArmData& data, const std::vector<double>& q, const std::vector<double>& qd) {
    check_joint_vector(model, qd, "qd");
    check_joint_vector(model, q, "q");
    crba(model, data, q);
    const int n = model.dof();
    double e = 0;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
            e += qd[static_cast<size_t>(i)] * data.M[static_cast<size_t>(i * kMaxJoints + j)] * qd[static_cast<size_t>(j)];
    return 0.5 * e;
}

double potential_energy(const ArmModel& model, ArmData& data, const std::vector<double>& q, const Vec3& gravity) {
    forward_kinematics(model, data, q);
    double e = 0;
    for (int i = 0; i < model.dof(); ++i) {
        const Pose& T = data.link_pose[static_cast<size_t>(i)];
        e -= model.link(i).mass_kg * dot(gravity, mul(T.R, model.link(i).com_m) + T.p);
    }
    return e;
}

namespace {

// qdd for state (q, qd) under tau minus viscous damping, into out.
void accel(const ArmModel& model, ArmData& data, const std::vector<double>& q, const std::vector<double>& qd,
           const std::vector<double>& tau, const std::vector<double>& damping, const Vec3& gravity,
           std::vector<double>& tau_eff, std::vector<double>& out) {
    const size_t n = q.size();
    for (size_t i = 0; i < n; ++i) tau_eff[i] = tau[i] - (damping.empty() ? 0.0 : damping[i] * qd[i]);
    const auto& a = forward_dynamics(model, data, q, qd, tau_eff, gravity);
    for (size_t i = 0; i < n; ++i) out[i] = a[i];
}

}  // namespace

void integrate(const ArmModel& model, ArmData& data, ArmState& s, const std::vector<double>& tau, double dt,
               Integrator integrator, const Vec3& gravity, const std::vector<double>& damping) {
    check_joint_vector(model, s.q, "state.q");
    check_joint_vector(model, s.qd, "state.qd");
    check_joint_vector(model, tau, "tau");
    if (!damping.empty()) check_joint_vector(model, damping, "damping");
    if (!(std::isfinite(dt) && dt > 0)) throw std::invalid_argument("dt: must be a finite number > 0");
    const size_t n = s.q.size();
    std::vector<double> te(n), a(n);
    if (integrator == Integrator::semi_implicit_euler) {
        accel(model, data, s.q, s.qd, tau, damping, gravity, te, a);
        for (size_t i = 0; i < n; ++i) {
            s.qd[i] += dt * a[i];
            s.q[i] += dt * s.qd[i];
        }
        return;
    }
    // Classical RK4 on x = (q, qd), x' = (qd, qdd(q, qd)).
    std::vector<double> k1q = s.qd, k1v(n), q2(n), v2(n), k2v(n), q3(n), v3(n), k3v(n), q4(n), v4(n), k4v(n);
    accel(model, data, s.q, s.qd, tau, damping, gravity, te, k1v);
    for (size_t i = 0; i < n; ++i) {
        q2[i] = s.q[i] + 0.5 * dt * k1q[i];
        v2[i] = s.qd[i] + 0.5 * dt * k1v[i];
    }
    accel(model, data, q2, v2, tau, damping, gravity, te, k2v);
    for (size_t i = 0; i < n; ++i) {
        q3[i] = s.q[i] + 0.5 * dt * v2[i];
        v3[i] = s.qd[i] + 0.5 * dt * k2v[i];
    }
    accel(model, data, q3, v3, tau, damping, gravity, te, k3v);
    for (size_t i = 0; i < n; ++i) {
        q4[i] = s.q[i] + dt * v3[i];
        v4[i] = s.qd[i] + dt * k3v[i];
    }
    accel(model, data, q4, v4, tau, damping, gravity, te, k4v);
    for (size_t i = 0; i < n; ++i) {
        s.q[i] += dt / 6.0 * (k1q[i] + 2.0 * v2[i] + 2.0 * v3[i] + v4[i]);
        s.qd[i] += dt / 6.0 * (k1v[i] + 2.0 * k2v[i] + 2.0 * k3v[i] + k4v[i]);
    }
}

ControllerConfig computed_torque_gains(const ArmModel& model, double omega) {
    if (!(std::isfinite(omega) && omega > 0)) throw std::invalid_argument("omega_rad_s: must be a finite number > 0");
    ControllerConfig c;
    c.kind = ControllerKind::computed_torque;
    const size_t n = static_cast<size_t>(model.dof());
    c.kp.assign(n, omega * omega);
    c.kd.assign(n, 2.0 * omega);
    c.ki.assign(n, 0.0);
    return c;
}

TickResult control_tick(const ArmModel& model, ArmData& data, const ControllerConfig& ctl, ControllerState& cs,
                        ArmState& state, const JointSample& ref, const SimOptions& o, std::vector<double>& tau) {
    const int n = model.dof();
    const size_t un = static_cast<size_t>(n);
    check_joint_vector(model, ctl.kp, "controller.kp");
    check_joint_vector(model, ctl.kd, "controller.kd");
    check_joint_vector(model, ref.q, "reference.q");
    check_joint_vector(model, ref.qd, "reference.qd");
    check_joint_vector(model, ref.qdd, "reference.qdd");
    if (!(std::isfinite(o.rate_hz) && o.rate_hz > 0)) throw std::invalid_argument("rate_hz: must be a finite number > 0");
    if (o.substeps < 1) throw std::invalid_argument("substeps: must be >= 1");
    const double dt = 1.0 / o.rate_hz;
    TickResult r;
    const double t0 = o.clock_s ? o.clock_s() : 0.0;

    tau.resize(un);
    std::vector<double> e(un), ed(un);
    for (size_t i = 0; i < un; ++i) {
        e[i] = ref.q[i] - state.q[i];
        ed[i] = ref.qd[i] - state.qd[i];
        r.tracking_error_rad = std::max(r.tracking_error_rad, std::abs(e[i]));
    }
    if (ctl.kind == ControllerKind::computed_torque) {
        std::vector<double> a(un);
        for (size_t i = 0; i < un; ++i) a[i] = ref.qdd[i] + ctl.kp[i] * e[i] + ctl.kd[i] * ed[i];
        const auto& t = rnea(model, data, state.q, state.qd, a, o.gravity);
        for (size_t i = 0; i < un; ++i) tau[i] = t[i];
    } else {
        check_joint_vector(model, ctl.ki, "controller.ki");
        if (cs.integral.size() != un) cs.integral.assign(un, 0.0);
        if (ctl.gravity_compensation) gravity_torques(model, data, state.q, o.gravity);
        for (size_t i = 0; i < un; ++i) {
            const double g = ctl.gravity_compensation ? data.g[i] : 0.0;
            const double lim = model.link(static_cast<int>(i)).torque_limit_nm;
            // Integrate only while the torque would not saturate (conditional integration).
            const double trial = ctl.kp[i] * e[i] + ctl.ki[i] * (cs.integral[i] + e[i] * dt) + ctl.kd[i] * ed[i] + g;
            if (std::abs(trial) < lim)
                cs.integral[i] = std::clamp(cs.integral[i] + e[i] * dt, -ctl.integral_limit_rad_s, ctl.integral_limit_rad_s);
            tau[i] = ctl.kp[i] * e[i] + ctl.ki[i] * cs.integral[i] + ctl.kd[i] * ed[i] + g;
        }
    }
    for (int i = 0; i < n; ++i) {
        const double lim = model.link(i).torque_limit_nm;
        double& t = tau[static_cast<size_t>(i)];
        if (t > lim || t < -lim) {
            t = std::clamp(t, -lim, lim);
            ++r.saturated_joints;
        }
    }
    if (o.clock_s) r.compute_s = o.clock_s() - t0;
    const double h = dt / o.substeps;
    for (int k = 0; k < o.substeps; ++k) integrate(model, data, state, tau, h, o.integrator, o.gravity, o.damping);
    return r;
}

SimResult simulate(const ArmModel& model, const ControllerConfig& controller, const Reference& reference,
                   const ArmState& initial, double duration_s, const SimOptions& options) {
    if (!(std::isfinite(duration_s) && duration_s >= 0)) throw std::invalid_argument("duration_s: must be a finite number >= 0");
    if (!reference) throw std::invalid_argument("reference: must be callable");
    if (!(std::isfinite(options.rate_hz) && options.rate_hz > 0))
        throw std::invalid_argument("rate_hz: must be a finite number > 0");
    ArmData data(model);
    SimResult res;
    res.final_state = initial;
    ControllerState cs;
    JointSample ref;
    std::vector<double> tau;
    const int ticks = static_cast<int>(std::ceil(duration_s * options.rate_hz - 1e-9));
    double sum_sq = 0;
    for (int k = 0; k < ticks; ++k) {
        reference(k / options.rate_hz, ref);
        const TickResult tr = control_tick(model, data, controller, cs, res.final_state, ref, options, tau);
        res.max_tracking_error_rad = std::max(res.max_tracking_error_rad, tr.tracking_error_rad);
        sum_sq += tr.tracking_error_rad * tr.tracking_error_rad;
        if (tr.saturated_joints) ++res.saturated_ticks;
        for (int i = 0; i < model.dof(); ++i)
            res.max_torque_ratio =
                std::max(res.max_torque_ratio, std::abs(tau[static_cast<size_t>(i)]) / model.link(i).torque_limit_nm);
        if (options.clock_s) res.compute_s.push_back(tr.compute_s);
    }
    res.ticks = ticks;
    res.rms_tracking_error_rad = ticks ? std::sqrt(sum_sq / ticks) : 0.0;
    reference(ticks / options.rate_hz, ref);
    for (size_t i = 0; i < ref.q.size() && i < res.final_state.q.size(); ++i)
        res.final_tracking_error_rad = std::max(res.final_tracking_error_rad, std::abs(ref.q[i] - res.final_state.q[i]));
    return res;
}

}  // namespace stacklab::robot
