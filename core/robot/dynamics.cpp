#include "robot/dynamics.hpp"

#include <cmath>
#include <stdexcept>

#include "robot/kinematics.hpp"

namespace stacklab::robot {

namespace {

// RNEA on raw arrays (qd, qdd may be null: zero). All vectors of link i are in DH frame i.
// R_i = Rz(th) Rx(alpha) maps frame-i coordinates to frame i-1; R_i^T z0 = (0, s_alpha, c_alpha);
// r_i = origin i-1 -> origin i in frame i = (a, d s_alpha, d c_alpha).
// Moments about origin i-1: mu_i = (r_i + c_i) x f_i + R_{i+1} mu_{i+1} + (R_{i+1} f_{i+1}) x c_i + I dw + w x I w.
void rnea_raw(const ArmModel& model, ArmData& data, const double* q, const double* qd, const double* qdd, const Vec3& gravity,
              double* tau) {
    const int n = model.dof();
    std::array<Mat3, kMaxJoints> rot;
    std::array<Vec3, kMaxJoints> r;
    Vec3 w{0, 0, 0}, dw{0, 0, 0}, ddp = -1.0 * gravity;  // base acceleration -g carries gravity
    for (int i = 0; i < n; ++i) {
        const Link& l = model.link(i);
        const size_t k = static_cast<size_t>(i);
        const double ca = model.cos_alpha(i), sa = model.sin_alpha(i);
        const double th = q[i] + l.theta_offset_rad;
        const double ct = std::cos(th), st = std::sin(th);
        rot[k] = {ct, -st * ca, st * sa, st, ct * ca, -ct * sa, 0, sa, ca};
        r[k] = {l.a_m, l.d_m * sa, l.d_m * ca};
        const Vec3 z{0, sa, ca};  // joint axis z_{i-1} in frame i
        const double v = qd ? qd[i] : 0.0, a = qdd ? qdd[i] : 0.0;
        const Vec3 w_prev = mul_t(rot[k], w);  // previous link's angular velocity in frame i
        const Vec3 wn = w_prev + v * z;
        dw = mul_t(rot[k], dw) + a * z + v * cross(w_prev, z);
        ddp = mul_t(rot[k], ddp) + cross(dw, r[k]) + cross(wn, cross(wn, r[k]));
        w = wn;
        data.w[k] = w;
        data.dw[k] = dw;
        data.ddp[k] = ddp;
    }
    Vec3 f_next{0, 0, 0}, n_next{0, 0, 0};
    for (int i = n - 1; i >= 0; --i) {
        const Link& l = model.link(i);
        const size_t k = static_cast<size_t>(i);
        const Vec3& c = l.com_m;
        const Vec3& wi = data.w[k];
        const Vec3& dwi = data.dw[k];
        const Vec3 ddpc = data.ddp[k] + cross(dwi, c) + cross(wi, cross(wi, c));
        Vec3 f_child{0, 0, 0}, n_child{0, 0, 0};
        if (i + 1 < n) {
            f_child = mul(rot[k + 1], f_next);
            n_child = mul(rot[k + 1], n_next);
        }
        const Vec3 f = f_child + l.mass_kg * ddpc;
        const Vec3 Iw = mul(l.inertia_kgm2, wi);
        const Vec3 nn = cross(r[k] + c, f) + n_child + cross(f_child, c) + mul(l.inertia_kgm2, dwi) + cross(wi, Iw);
        data.f[k] = f;
        data.n[k] = nn;
        tau[i] = nn[1] * model.sin_alpha(i) + nn[2] * model.cos_alpha(i);
        f_next = f;
        n_next = nn;
    }
}

}  // namespace

const std::array<double, kMaxJoints>& rnea(const ArmModel& model, ArmData& data, const std::vector<double>& q,
                                           const std::vector<double>& qd, const std::vector<double>& qdd,
                                           const Vec3& gravity) {
    check_joint_vector(model, q, "q");
    check_joint_vector(model, qd, "qd");
    check_joint_vector(model, qdd, "qdd");
    rnea_raw(model, data, q.data(), qd.data(), qdd.data(), gravity, data.tau.data());
    return data.tau;
}

const std::array<double, kMaxJoints>& gravity_torques(const ArmModel& model, ArmData& data, const std::vector<double>& q,
                                                      const Vec3& gravity) {
    check_joint_vector(model, q, "q");
    rnea_raw(model, data, q.data(), nullptr, nullptr, gravity, data.g.data());
    return data.g;
}

const std::array<double, kMaxJoints>& coriolis(const ArmModel& model, ArmData& data, const std::vector<double>& q,
                                               const std::vector<double>& qd) {
    check_joint_vector(model, q, "q");
    check_joint_vector(model, qd, "qd");
    rnea_raw(model, data, q.data(), qd.data(), nullptr, Vec3{0, 0, 0}, data.c.data());
    return data.c;
}

// Composite rigid bodies in the base frame. For the bodies k..n-1 accumulate mass m, first moment
// h = sum m_j c_j and the inertia about the base origin I_O. A unit acceleration of joint k (axis
// z_k through p_k, everything else at rest) gives the composite angular acceleration z_k and
// linear accelerations z_k x (x - p_k): force F = z_k x (h - m p_k), moment about the origin
// N_O = I_O z_k - h x (z_k x p_k). Column k of M is then M_jk = z_j . (N_O - p_j x F) for j <= k.
void crba(const ArmModel& model, ArmData& data, const std::vector<double>& q) {
    forward_kinematics(model, data, q);
    const int n = model.dof();
    double m = 0;
    Vec3 h{0, 0, 0};
    Mat3 io{};
    for (int k = n - 1; k >= 0; --k) {
        const Link& l = model.link(k);
        const Pose& T = data.link_pose[static_cast<size_t>(k)];
        const Vec3 c = mul(T.R, l.com_m) + T.p;
        const Mat3 ic = mul(mul(T.R, l.inertia_kgm2), transpose(T.R));
        const double cc = dot(c, c);
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b)
                io[static_cast<size_t>(3 * a + b)] += ic[static_cast<size_t>(3 * a + b)] +
                    l.mass_kg * ((a == b ? cc : 0.0) - c[static_cast<size_t>(a)] * c[static_cast<size_t>(b)]);
        m += l.mass_kg;
        h = h + l.mass_kg * c;
        const Vec3 zk = k == 0 ? Vec3{0, 0, 1} : column(data.link_pose[static_cast<size_t>(k - 1)].R, 2);
        const Vec3 pk = k == 0 ? Vec3{0, 0, 0} : data.link_pose[static_cast<size_t>(k - 1)].p;
        const Vec3 F = cross(zk, h - m * pk);
        const Vec3 NO = mul(io, zk) - cross(h, cross(zk, pk));
        for (int j = 0; j <= k; ++j) {
            const Vec3 zj = j == 0 ? Vec3{0, 0, 1} : column(data.link_pose[static_cast<size_t>(j - 1)].R, 2);
            const Vec3 pj = j == 0 ? Vec3{0, 0, 0} : data.link_pose[static_cast<size_t>(j - 1)].p;
            const double v = dot(zj, NO - cross(pj, F));
            data.M[static_cast<size_t>(j * kMaxJoints + k)] = v;
            data.M[static_cast<size_t>(k * kMaxJoints + j)] = v;
        }
    }
}

const std::array<double, kMaxJoints>& forward_dynamics(const ArmModel& model, ArmData& data, const std::vector<double>& q,
                                                       const std::vector<double>& qd, const std::vector<double>& tau,
                                                       const Vec3& gravity) {
    check_joint_vector(model, q, "q");
    check_joint_vector(model, qd, "qd");
    check_joint_vector(model, tau, "tau");
    const int n = model.dof();
    // Bias torques c + g: RNEA with qdd = 0.
    std::array<double, kMaxJoints> bias{};
    rnea_raw(model, data, q.data(), qd.data(), nullptr, gravity, bias.data());
    crba(model, data, q);
    auto& L = data.L;
    L = data.M;
    for (int j = 0; j < n; ++j) {
        double d = L[static_cast<size_t>(j * kMaxJoints + j)];
        for (int k = 0; k < j; ++k) d -= L[static_cast<size_t>(j * kMaxJoints + k)] * L[static_cast<size_t>(j * kMaxJoints + k)];
        if (!(d > 0)) throw std::runtime_error("forward_dynamics: mass matrix of arm \"" + model.id() + "\" is not positive definite");
        d = std::sqrt(d);
        L[static_cast<size_t>(j * kMaxJoints + j)] = d;
        for (int i = j + 1; i < n; ++i) {
            double s = L[static_cast<size_t>(i * kMaxJoints + j)];
            for (int k = 0; k < j; ++k) s -= L[static_cast<size_t>(i * kMaxJoints + k)] * L[static_cast<size_t>(j * kMaxJoints + k)];
            L[static_cast<size_t>(i * kMaxJoints + j)] = s / d;
        }
    }
    auto& x = data.qdd;
    for (int i = 0; i < n; ++i) {
        double s = tau[static_cast<size_t>(i)] - bias[static_cast<size_t>(i)];
        for (int k = 0; k < i; ++k) s -= L[static_cast<size_t>(i * kMaxJoints + k)] * x[static_cast<size_t>(k)];
        x[static_cast<size_t>(i)] = s / L[static_cast<size_t>(i * kMaxJoints + i)];
    }
    for (int i = n - 1; i >= 0; --i) {
        double s = x[static_cast<size_t>(i)];
        for (int k = i + 1; k < n; ++k) s -= L[static_cast<size_t>(k * kMaxJoints + i)] * x[static_cast<size_t>(k)];
        x[static_cast<size_t>(i)] = s / L[static_cast<size_t>(i * kMaxJoints + i)];
    }
    return x;
}

}  // namespace stacklab::robot
