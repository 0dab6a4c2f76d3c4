#include "robot/kinematics.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace stacklab::robot {

void check_joint_vector(const ArmModel& model, const std::vector<double>& v, const char* what) {
    if (v.size() != static_cast<size_t>(model.dof()))
        throw std::invalid_argument(std::string(what) + ": expected " + std::to_string(model.dof()) + " values, got " +
                                    std::to_string(v.size()));
    for (double x : v)
        if (!std::isfinite(x)) throw std::invalid_argument(std::string(what) + ": values must be finite");
}

namespace {

const Pose& fk_unchecked(const ArmModel& model, ArmData& data, const double* q) {
    Pose t;
    for (int i = 0; i < model.dof(); ++i) {
        const Link& l = model.link(i);
        t = t * dh_transform(q[i] + l.theta_offset_rad, l.d_m, l.a_m, model.cos_alpha(i), model.sin_alpha(i));
        data.link_pose[static_cast<size_t>(i)] = t;
    }
    return data.link_pose[static_cast<size_t>(model.dof() - 1)];
}

void jacobian_unchecked(const ArmModel& model, ArmData& data, const double* q) {
    const int n = model.dof();
    const Vec3 pe = fk_unchecked(model, data, q).p;
    for (int i = 0; i < n; ++i) {
        Vec3 z{0, 0, 1}, p{0, 0, 0};
        if (i > 0) {
            z = column(data.link_pose[static_cast<size_t>(i - 1)].R, 2);
            p = data.link_pose[static_cast<size_t>(i - 1)].p;
        }
        const Vec3 v = cross(z, pe - p);
        for (int r = 0; r < 3; ++r) {
            data.J[static_cast<size_t>(r * kMaxJoints + i)] = v[static_cast<size_t>(r)];
            data.J[static_cast<size_t>((r + 3) * kMaxJoints + i)] = z[static_cast<size_t>(r)];
        }
    }
}

// In-place Cholesky of the n x n SPD matrix a (row-major, stride `ld`) into its lower triangle;
// false when a pivot is not positive.
bool cholesky(double* a, int n, int ld) {
    for (int j = 0; j < n; ++j) {
        double d = a[j * ld + j];
        for (int k = 0; k < j; ++k) d -= a[j * ld + k] * a[j * ld + k];
        if (!(d > 0)) return false;
        d = std::sqrt(d);
        a[j * ld + j] = d;
        for (int i = j + 1; i < n; ++i) {
            double s = a[i * ld + j];
            for (int k = 0; k < j; ++k) s -= a[i * ld + k] * a[j * ld + k];
            a[i * ld + j] = s / d;
        }
    }
    return true;
}

void cholesky_solve(const double* l, int n, int ld, double* b) {
    for (int i = 0; i < n; ++i) {
        double s = b[i];
        for (int k = 0; k < i; ++k) s -= l[i * ld + k] * b[k];
        b[i] = s / l[i * ld + i];
    }
    for (int i = n - 1; i >= 0; --i) {
        double s = b[i];
        for (int k = i + 1; k < n; ++k) s -= l[k * ld + i] * b[k];
        b[i] = s / l[i * ld + i];
    }
}

double wrap_pi(double a) { return std::remainder(a, 2.0 * kPi); }

}  // namespace

const Pose& forward_kinematics(const ArmModel& model, ArmData& data, const std::vector<double>& q) {
    check_joint_vector(model, q, "q");
    return fk_unchecked(model, data, q.data());
}

void jacobian(const ArmModel& model, ArmData& data, const std::vector<double>& q) {
    check_joint_vector(model, q, "q");
    jacobian_unchecked(model, data, q.data());
}

double manipulability(const ArmModel& model, ArmData& data, const std::vector<double>& q) {
    jacobian(model, data, q);
    const int n = model.dof();
    // sqrt(det(J J^T)) = product of |R_ii| of a QR factorisation of J^T (n >= 6), or of J (n < 6):
    // Householder QR on J itself keeps full precision near singularities, where forming J J^T would
    // square the condition number (a true zero would come out as ~1e-8).
    const int rows = n >= 6 ? n : 6, cols = n >= 6 ? 6 : n;
    std::array<double, 6 * kMaxJoints> a{};  // rows x cols, row-major stride cols
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
            a[static_cast<size_t>(r * cols + c)] = n >= 6 ? data.J[static_cast<size_t>(c * kMaxJoints + r)]
                                                          : data.J[static_cast<size_t>(r * kMaxJoints + c)];
    double volume = 1.0;
    for (int k = 0; k < cols; ++k) {
        double nrm = 0;
        for (int r = k; r < rows; ++r) nrm += a[static_cast<size_t>(r * cols + k)] * a[static_cast<size_t>(r * cols + k)];
        nrm = std::sqrt(nrm);
        volume *= nrm;
        if (nrm == 0) return 0.0;
        // Householder vector v = x + sign(x0) |x| e0, applied to the remaining columns.
        const double x0 = a[static_cast<size_t>(k * cols + k)];
        const double alpha = x0 >= 0 ? -nrm : nrm;
        a[static_cast<size_t>(k * cols + k)] = x0 - alpha;
        double vv = 0;
        for (int r = k; r < rows; ++r) vv += a[static_cast<size_t>(r * cols + k)] * a[static_cast<size_t>(r * cols + k)];
        for (int c = k + 1; c < cols; ++c) {
            double s = 0;
            for (int r = k; r < rows; ++r) s += a[static_cast<size_t>(r * cols + k)] * a[static_cast<size_t>(r * cols + c)];
            s = 2.0 * s / vv;
            for (int r = k; r < rows; ++r) a[static_cast<size_t>(r * cols + c)] -= s * a[static_cast<size_t>(r * cols + k)];
        }
    }
    return volume;
}

bool is_ur_type(const ArmModel& model) {
    if (model.dof() != 6) return false;
    const double alpha[6] = {kPi / 2, 0, 0, kPi / 2, -kPi / 2, 0};
    for (int i = 0; i < 6; ++i)
        if (std::abs(model.link(i).alpha_rad - alpha[i]) > 1e-12) return false;
    const auto& L = model.links();
    return L[0].a_m == 0 && L[3].a_m == 0 && L[4].a_m == 0 && L[5].a_m == 0 && L[1].d_m == 0 && L[2].d_m == 0 &&
           L[5].d_m != 0 && L[1].a_m != 0 && L[2].a_m != 0;
}

double position_error(const Pose& a, const Pose& b) { return norm(a.p - b.p); }
double orientation_error(const Pose& a, const Pose& b) { return norm(rotation_vector(mul(a.R, transpose(b.R)))); }

int nearest(const std::vector<std::vector<double>>& candidates, const std::vector<double>& seed) {
    int best = -1;
    double best_d = INFINITY;
    for (size_t i = 0; i < candidates.size(); ++i) {
        double d = 0;
        for (size_t j = 0; j < seed.size() && j < candidates[i].size(); ++j)
            d += (candidates[i][j] - seed[j]) * (candidates[i][j] - seed[j]);
        if (d < best_d) {
            best_d = d;
            best = static_cast<int>(i);
        }
    }
    return best;
}

// Closed form for UR-type arms, derived for T_{i-1,i} = Rz(th_i) Tz(d_i) Tx(a_i) Rx(alpha_i) with
// alpha = [90, 0, 0, 90, -90, 0] deg (th_i = q_i + offset_i). R, p: the target flange pose.
//  q1: p5 = p - d6 z6 is the wrist centre. z1 = (s1, -c1, 0), and every link after joint 1 keeps
//      p5 at height d4 along z1: p5x s1 - p5y c1 = d4, so with rho = |p5_xy|, phi = atan2(p5y, p5x):
//      th1 = phi + asin(d4/rho) or phi + pi - asin(d4/rho).
//  q5: likewise p . z1 = d4 + d6 (z5 . z1) = d4 + d6 c5  =>  th5 = +-acos((px s1 - py c1 - d4)/d6).
//  q6: z1 seen from frame 6 is (s5 c6, -s5 s6, c5) and equals R^T (s1, -c1, 0):
//      th6 = atan2((-R01 s1 + R11 c1)/s5, (R00 s1 - R10 c1)/s5); free when s5 = 0 (wrist singularity).
//  q2, q3, q4: T14 = T01^-1 T (T45 T56)^-1 is a planar 2R arm plus joint 4 in frame 1:
//      p14 = (a2 c2 + a3 c23, a2 s2 + a3 s23, d4), x4 = (c234, s234, 0):
//      c3 = (x^2 + y^2 - a2^2 - a3^2) / (2 a2 a3), th2 = atan2(y, x) - atan2(a3 s3, a2 + a3 c3),
//      th4 = atan2(R14_10, R14_00) - th2 - th3.
// Hawkins (2013) obtains the same equations for UR's own frames (his q1 uses acos + pi/2).
std::vector<std::vector<double>> ik_ur(const ArmModel& model, const Pose& target, const std::vector<double>& seed_in,
                                       const UrIkOptions& options) {
    if (!is_ur_type(model))
        throw std::invalid_argument("ik_ur: arm \"" + model.id() + "\" does not have the UR wrist geometry (see is_ur_type)");
    std::vector<double> seed = seed_in.empty() ? std::vector<double>(6, 0.0) : seed_in;
    check_joint_vector(model, seed, "seed");
    for (double v : target.R)
        if (!std::isfinite(v)) throw std::invalid_argument("ik_ur: target rotation must be finite");
    for (double v : target.p)
        if (!std::isfinite(v)) throw std::invalid_argument("ik_ur: target position must be finite");

    const auto& L = model.links();
    const double d1 = L[0].d_m, a2 = L[1].a_m, a3 = L[2].a_m, d4 = L[3].d_m, d5 = L[4].d_m, d6 = L[5].d_m;
    (void)d1;
    (void)d5;
    double off[6];
    for (int i = 0; i < 6; ++i) off[i] = L[static_cast<size_t>(i)].theta_offset_rad;
    const Mat3& R = target.R;
    const Vec3& p = target.p;
    const Vec3 p5 = p - d6 * column(R, 2);
    const double rho = std::hypot(p5[0], p5[1]);
    std::vector<std::array<double, 6>> raw;
    if (rho < std::abs(d4) || rho == 0) return {};  // wrist centre inside the shoulder cylinder: unreachable
    const double phi = std::atan2(p5[1], p5[0]);
    const double as = std::asin(std::clamp(d4 / rho, -1.0, 1.0));
    ArmData data(model);
    for (double th1 : {phi + as, phi + kPi - as}) {
        const double s1 = std::sin(th1), c1 = std::cos(th1);
        const double c5 = (p[0] * s1 - p[1] * c1 - d4) / d6;
        if (std::abs(c5) > 1.0 + 1e-9) continue;
        const double a5 = std::acos(std::clamp(c5, -1.0, 1.0));
        for (double th5 : {a5, -a5}) {
            const double s5 = std::sin(th5);
            double th6;
            if (std::abs(s5) < options.wrist_singularity_eps) {
                th6 = seed[5] + off[5];  // q6 is free: keep the seed's
            } else {
                th6 = std::atan2((-R[1] * s1 + R[4] * c1) / s5, (R[0] * s1 - R[3] * c1) / s5);
            }
            const Pose t01 = dh_transform(th1, L[0].d_m, L[0].a_m, model.cos_alpha(0), model.sin_alpha(0));
            const Pose t45 = dh_transform(th5, L[4].d_m, L[4].a_m, model.cos_alpha(4), model.sin_alpha(4));
            const Pose t56 = dh_transform(th6, L[5].d_m, L[5].a_m, model.cos_alpha(5), model.sin_alpha(5));
            const Pose t14 = inverse(t01) * target * inverse(t45 * t56);
            const double x = t14.p[0], y = t14.p[1];
            const double c3 = (x * x + y * y - a2 * a2 - a3 * a3) / (2.0 * a2 * a3);
            if (std::abs(c3) > 1.0 + 1e-9) continue;
            const double a3c = std::acos(std::clamp(c3, -1.0, 1.0));
            for (double th3 : {a3c, -a3c}) {
                const double th2 = std::atan2(y, x) - std::atan2(a3 * std::sin(th3), a2 + a3 * std::cos(th3));
                const double th4 = std::atan2(t14.R[3], t14.R[0]) - th2 - th3;
                std::array<double, 6> th = {th1, th2, th3, th4, th5, th6};
                for (int i = 0; i < 6; ++i) th[static_cast<size_t>(i)] = wrap_pi(th[static_cast<size_t>(i)] - off[i]);
                raw.push_back(th);
                if (a3c == 0) break;  // th3 = 0 twice: one solution
            }
            if (a5 == 0) break;
        }
    }

    std::vector<std::vector<double>> out;
    for (const auto& th : raw) {
        // Move each joint by 2 pi k to the value nearest the seed that lies within the limits.
        std::vector<double> q(6);
        bool ok = true;
        for (int i = 0; i < 6 && ok; ++i) {
            const Link& l = L[static_cast<size_t>(i)];
            const double base = th[static_cast<size_t>(i)];
            const double k = std::round((seed[static_cast<size_t>(i)] - base) / (2.0 * kPi));
            double best = NAN, best_d = INFINITY;
            for (double dk : {k - 1, k, k + 1}) {
                const double v = base + 2.0 * kPi * dk;
                if (v < l.position_min_rad - 1e-12 || v > l.position_max_rad + 1e-12) continue;
                const double d = std::abs(v - seed[static_cast<size_t>(i)]);
                if (d < best_d) {
                    best_d = d;
                    best = v;
                }
            }
            ok = !std::isnan(best);
            q[static_cast<size_t>(i)] = std::clamp(best, l.position_min_rad, l.position_max_rad);
        }
        if (!ok) continue;
        const Pose& got = fk_unchecked(model, data, q.data());
        if (position_error(got, target) > options.tolerance || orientation_error(got, target) > options.tolerance) continue;
        bool dup = false;
        for (const auto& o : out) {
            double d = 0;
            for (int i = 0; i < 6; ++i) d = std::max(d, std::abs(o[static_cast<size_t>(i)] - q[static_cast<size_t>(i)]));
            if (d < 1e-9) dup = true;
        }
        if (!dup) out.push_back(std::move(q));
    }
    auto dist = [&](const std::vector<double>& q) {
        double d = 0;
        for (int i = 0; i < 6; ++i) d += (q[static_cast<size_t>(i)] - seed[static_cast<size_t>(i)]) * (q[static_cast<size_t>(i)] - seed[static_cast<size_t>(i)]);
        return d;
    };
    std::sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
        const double da = dist(a), db = dist(b);
        return da != db ? da < db : a < b;
    });
    return out;
}

DlsResult ik_dls(const ArmModel& model, ArmData& data, const Pose& target, const std::vector<double>& seed,
                 const DlsOptions& options) {
    check_joint_vector(model, seed, "seed");
    const int n = model.dof();
    DlsResult res;
    res.q = seed;
    for (int i = 0; i < n; ++i) {
        const Link& l = model.link(i);
        res.q[static_cast<size_t>(i)] = std::clamp(res.q[static_cast<size_t>(i)], l.position_min_rad, l.position_max_rad);
    }
    const double lambda2 = options.damping * options.damping;
    for (int it = 0;; ++it) {
        jacobian_unchecked(model, data, res.q.data());
        const Pose& cur = data.link_pose[static_cast<size_t>(n - 1)];
        const Vec3 ep = target.p - cur.p;
        const Vec3 eo = rotation_vector(mul(target.R, transpose(cur.R)));
        res.position_error_m = norm(ep);
        res.orientation_error_rad = norm(eo);
        res.iterations = it;
        if (res.position_error_m <= options.position_tolerance_m && res.orientation_error_rad <= options.orientation_tolerance_rad) {
            res.converged = true;
            break;
        }
        if (it >= options.max_iterations) break;
        const double e[6] = {ep[0], ep[1], ep[2], eo[0], eo[1], eo[2]};
        std::array<double, 36> a{};
        for (int i = 0; i < 6; ++i)
            for (int j = 0; j <= i; ++j) {
                double s = 0;
                for (int k = 0; k < n; ++k) s += data.J[static_cast<size_t>(i * kMaxJoints + k)] * data.J[static_cast<size_t>(j * kMaxJoints + k)];
                a[static_cast<size_t>(i * 6 + j)] = a[static_cast<size_t>(j * 6 + i)] = s + (i == j ? lambda2 : 0.0);
            }
        double y[6] = {e[0], e[1], e[2], e[3], e[4], e[5]};
        if (!cholesky(a.data(), 6, 6)) break;  // cannot happen with lambda > 0; stop rather than diverge
        cholesky_solve(a.data(), 6, 6, y);
        double step = 0;
        std::array<double, kMaxJoints> dq{};
        for (int k = 0; k < n; ++k) {
            double s = 0;
            for (int i = 0; i < 6; ++i) s += data.J[static_cast<size_t>(i * kMaxJoints + k)] * y[i];
            dq[static_cast<size_t>(k)] = s;
            step = std::max(step, std::abs(s));
        }
        const double scale = step > options.max_step_rad ? options.max_step_rad / step : 1.0;
        for (int k = 0; k < n; ++k) {
            const Link& l = model.link(k);
            res.q[static_cast<size_t>(k)] =
                std::clamp(res.q[static_cast<size_t>(k)] + scale * dq[static_cast<size_t>(k)], l.position_min_rad, l.position_max_rad);
        }
    }
    return res;
}

}  // namespace stacklab::robot
