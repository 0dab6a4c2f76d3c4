// Robot routines per call, ours against Orocos KDL 1.5 (Debian liborocos-kdl-dev) in the same run,
// single thread, on the bundled UR5e. Prints one JSON document (or a table with --table).
//   stacklab-robot-bench [--quick] [--table]
// Each routine runs over 256 random configurations (uniform in [-pi, pi]), repeated until one run
// lasts >= 50 ms (>= 5 ms with --quick); the figure is the median over 7 runs (5 with --quick) of
// ns per call. KDL's chain is built from the same ArmModel as in robot_kdl_test.cpp.
// IK is not like for like: KDL has no closed form for UR wrists, so its entry is the numeric
// ChainIkSolverPos_LMA (from the true solution's neighbour seed, as a controller would call it) beside
// our closed form (all 8 branches) and our damped least squares from the same seed.
// Native only: it times the native builds of both (the wasm tests compile KDL only to compare results).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <kdl/chain.hpp>
#include <kdl/chaindynparam.hpp>
#include <kdl/chainfksolverpos_recursive.hpp>
#include <kdl/chainidsolver_recursive_newton_euler.hpp>
#include <kdl/chainiksolverpos_lma.hpp>
#include <kdl/chainjnttojacsolver.hpp>

#include "robot/control.hpp"
#include "robot/dynamics.hpp"
#include "robot/kinematics.hpp"

using namespace stacklab::robot;
using Clock = std::chrono::steady_clock;

namespace {

KDL::Chain kdl_chain(const ArmModel& m) {
    KDL::Chain chain;
    for (const Link& l : m.links()) {
        const Mat3& I = l.inertia_kgm2;
        chain.addSegment(KDL::Segment(l.name, KDL::Joint(KDL::Joint::RotZ),
                                      KDL::Frame::DH(l.a_m, l.alpha_rad, l.d_m, l.theta_offset_rad),
                                      KDL::RigidBodyInertia(l.mass_kg, KDL::Vector(l.com_m[0], l.com_m[1], l.com_m[2]),
                                                            KDL::RotationalInertia(I[0], I[4], I[8], I[1], I[2], I[5]))));
    }
    return chain;
}

KDL::JntArray to_kdl(const std::vector<double>& v) {
    KDL::JntArray a(static_cast<unsigned>(v.size()));
    for (size_t i = 0; i < v.size(); ++i) a(static_cast<unsigned>(i)) = v[i];
    return a;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

volatile double g_sink = 0;  // keeps results alive (benchmark-local, written only)

// ns per call of fn(i) for i over `n` inputs.
template <typename F>
double ns_per_call(F&& fn, int n, int runs, double min_s) {
    for (int i = 0; i < n; ++i) fn(i);  // warm up
    long reps = 1;
    for (;;) {
        const auto t0 = Clock::now();
        for (long r = 0; r < reps; ++r)
            for (int i = 0; i < n; ++i) fn(i);
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        if (s >= min_s) break;
        reps = s <= 0 ? reps * 10 : std::max(reps + 1, long(double(reps) * min_s / s * 1.2));
    }
    std::vector<double> ns;
    for (int k = 0; k < runs; ++k) {
        const auto t0 = Clock::now();
        for (long r = 0; r < reps; ++r)
            for (int i = 0; i < n; ++i) fn(i);
        ns.push_back(std::chrono::duration<double>(Clock::now() - t0).count() * 1e9 / double(reps * n));
    }
    return median(ns);
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false, table = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--quick")) quick = true;
        else if (!std::strcmp(argv[i], "--table")) table = true;
        else {
            std::fprintf(stderr, "usage: stacklab-robot-bench [--quick] [--table]\n");
            return 2;
        }
    }
    const int runs = quick ? 5 : 7;
    const double min_s = quick ? 0.005 : 0.05;
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    const int n = 256;
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> u(-kPi, kPi);
    std::vector<std::vector<double>> q(n), qd(n), qdd(n);
    std::vector<KDL::JntArray> kq, kqd, kqdd;
    std::vector<Pose> target(n);
    std::vector<KDL::Frame> ktarget(n);
    std::vector<std::vector<double>> seed(n);
    std::vector<KDL::JntArray> kseed;
    for (int i = 0; i < n; ++i) {
        for (auto* v : {&q[i], &qd[i], &qdd[i]}) {
            v->resize(6);
            for (double& x : *v) x = u(rng);
        }
        kq.push_back(to_kdl(q[i]));
        kqd.push_back(to_kdl(qd[i]));
        kqdd.push_back(to_kdl(qdd[i]));
        target[i] = forward_kinematics(m, d, q[i]);
        const Pose& t = target[i];
        ktarget[i] = KDL::Frame(KDL::Rotation(t.R[0], t.R[1], t.R[2], t.R[3], t.R[4], t.R[5], t.R[6], t.R[7], t.R[8]),
                                KDL::Vector(t.p[0], t.p[1], t.p[2]));
        seed[i] = q[i];
        for (double& x : seed[i]) x += 0.05;  // a nearby seed, as a controller tracking a path would have
        kseed.push_back(to_kdl(seed[i]));
    }
    const KDL::Chain chain = kdl_chain(m);
    KDL::ChainFkSolverPos_recursive kfk(chain);
    KDL::ChainJntToJacSolver kjac(chain);
    const KDL::Vector g(kStandardGravity[0], kStandardGravity[1], kStandardGravity[2]);
    KDL::ChainIdSolver_RNE kid(chain, g);
    KDL::ChainDynParam kdyn(chain, g);
    KDL::ChainIkSolverPos_LMA klma(chain);
    KDL::Frame kf;
    KDL::Jacobian kJ(6);
    KDL::JntArray ktau(6), kout(6);
    KDL::Wrenches wrenches(6, KDL::Wrench::Zero());
    KDL::JntSpaceInertiaMatrix kM(6);

    struct Row {
        const char* routine;
        double ours_ns, kdl_ns;
        const char* note;
    };
    std::vector<Row> rows;
    rows.push_back({"fk", ns_per_call([&](int i) { g_sink = g_sink + forward_kinematics(m, d, q[i]).p[0]; }, n, runs, min_s),
                    ns_per_call([&](int i) { kfk.JntToCart(kq[i], kf); g_sink = g_sink + kf.p[0]; }, n, runs, min_s),
                    "flange pose (ours also keeps every link frame)"});
    rows.push_back({"jacobian", ns_per_call([&](int i) { jacobian(m, d, q[i]); g_sink = g_sink + d.J[0]; }, n, runs, min_s),
                    ns_per_call([&](int i) { kjac.JntToJac(kq[i], kJ); g_sink = g_sink + kJ(0, 0); }, n, runs, min_s),
                    "6x6 geometric Jacobian, base frame"});
    rows.push_back({"rnea", ns_per_call([&](int i) { g_sink = g_sink + rnea(m, d, q[i], qd[i], qdd[i])[0]; }, n, runs, min_s),
                    ns_per_call([&](int i) { kid.CartToJnt(kq[i], kqd[i], kqdd[i], wrenches, ktau); g_sink = g_sink + ktau(0); }, n,
                                runs, min_s),
                    "inverse dynamics with gravity"});
    rows.push_back({"crba", ns_per_call([&](int i) { crba(m, d, q[i]); g_sink = g_sink + d.M[0]; }, n, runs, min_s),
                    ns_per_call([&](int i) { kdyn.JntToMass(kq[i], kM); g_sink = g_sink + kM(0, 0); }, n, runs, min_s),
                    "joint-space mass matrix"});
    rows.push_back({"ik", ns_per_call([&](int i) { g_sink = g_sink + double(ik_ur(m, target[i], seed[i]).size()); }, n, runs, min_s),
                    ns_per_call([&](int i) { klma.CartToJnt(kseed[i], ktarget[i], kout); g_sink = g_sink + kout(0); }, n, runs, min_s),
                    "ours: closed form, all branches, sorted; KDL: numeric LMA from a seed 0.05 rad away"});
    rows.push_back({"ik_dls", ns_per_call([&](int i) { g_sink = g_sink + ik_dls(m, d, target[i], seed[i]).q[0]; }, n, runs, min_s),
                    ns_per_call([&](int i) { klma.CartToJnt(kseed[i], ktarget[i], kout); g_sink = g_sink + kout(0); }, n, runs, min_s),
                    "numeric IK from the same seed (ours: DLS to 1e-10; KDL: LMA, its default tolerance 1e-5)"});
    // One 1 kHz control tick: computed torque (one RNEA) + saturation + one RK4 step (4 forward dynamics).
    const ControllerConfig ctl = computed_torque_gains(m, 40.0);
    ControllerState cs;
    SimOptions so;
    JointSample ref;
    std::vector<double> tau;
    ArmState st{q[0], std::vector<double>(6, 0.0)};
    const double tick_ns = ns_per_call(
        [&](int i) {
            ref.q = q[i];
            ref.qd = qd[i];
            ref.qdd = qdd[i];
            st.q = q[(i + 1) % n];
            st.qd.assign(6, 0.0);
            control_tick(m, d, ctl, cs, st, ref, so, tau);
            g_sink = g_sink + tau[0];
        },
        n, runs, min_s);
    if (table) {
        std::printf("%-10s %12s %12s %8s  %s\n", "routine", "ours ns", "KDL ns", "KDL/ours", "note");
        for (const Row& r : rows)
            std::printf("%-10s %12.1f %12.1f %8.2f  %s\n", r.routine, r.ours_ns, r.kdl_ns, r.kdl_ns / r.ours_ns, r.note);
        std::printf("%-10s %12.1f %12s %8s  %s\n", "tick", tick_ns, "-", "-",
                    "control tick: computed torque + saturation + one RK4 step");
        return 0;
    }
    std::printf("{\n  \"arm\": \"ur5e\",\n  \"configs\": %d,\n  \"runs\": %d,\n  \"routines\": [", n, runs);
    for (size_t i = 0; i < rows.size(); ++i)
        std::printf("%s\n    {\"routine\": \"%s\", \"ours_ns\": %.1f, \"kdl_ns\": %.1f, \"note\": \"%s\"}", i ? "," : "", rows[i].routine,
                    rows[i].ours_ns, rows[i].kdl_ns, rows[i].note);
    std::printf("\n  ],\n  \"control_tick_ns\": %.1f\n}\n", tick_ns);
    return 0;
}
