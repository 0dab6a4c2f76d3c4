// The robot module against an outside reference: Orocos KDL 1.5 (Debian liborocos-kdl-dev), on
// 1000 random configurations per bundled arm. KDL's chain is built from the same ArmModel:
// one Segment(Joint(RotZ), Frame::DH(a, alpha, d, theta_offset), RigidBodyInertia) per joint. A
// KDL segment applies its joint first and then the DH transform, so the segment's tip frame is our
// DH frame i; KDL's RNE (ChainIdSolver_RNE) uses a segment's inertia in that tip frame, which is
// where ArmModel keeps com_m and inertia_kgm2, so they go in unchanged (checked: RNEA agrees).
// Runs in both builds: natively against Debian's liborocos-kdl-dev, in wasm against the same
// upstream version compiled by em++ from Debian's source package (tests/CMakeLists.txt).
#include <random>

#include <boost/test/unit_test.hpp>
#include <kdl/chain.hpp>
#include <kdl/chaindynparam.hpp>
#include <kdl/chainfksolverpos_recursive.hpp>
#include <kdl/chainidsolver_recursive_newton_euler.hpp>
#include <kdl/chainjnttojacsolver.hpp>

#include "robot/arm.hpp"
#include "robot/dynamics.hpp"
#include "robot/kinematics.hpp"

using namespace stacklab::robot;

namespace {

KDL::Chain kdl_chain(const ArmModel& m) {
    KDL::Chain chain;
    for (const Link& l : m.links()) {
        const Mat3& I = l.inertia_kgm2;
        const KDL::RigidBodyInertia inertia(
            l.mass_kg, KDL::Vector(l.com_m[0], l.com_m[1], l.com_m[2]),
            KDL::RotationalInertia(I[0], I[4], I[8], I[1], I[2], I[5]));
        chain.addSegment(KDL::Segment(l.name, KDL::Joint(KDL::Joint::RotZ),
                                      KDL::Frame::DH(l.a_m, l.alpha_rad, l.d_m, l.theta_offset_rad), inertia));
    }
    return chain;
}

KDL::JntArray to_kdl(const std::vector<double>& v) {
    KDL::JntArray a(static_cast<unsigned>(v.size()));
    for (size_t i = 0; i < v.size(); ++i) a(static_cast<unsigned>(i)) = v[i];
    return a;
}

constexpr int kConfigs = 1000;

}  // namespace

BOOST_AUTO_TEST_SUITE(robot)

BOOST_AUTO_TEST_CASE(kdl_agrees_on_fk_of_every_link_jacobian_rnea_mass_gravity_and_coriolis) {
    std::mt19937 rng(2024);
    for (const char* id : {"ur5e", "ur10e"}) {
        const ArmModel m = bundled_arm(id);
        ArmData d(m);
        const KDL::Chain chain = kdl_chain(m);
        KDL::ChainFkSolverPos_recursive fk(chain);
        KDL::ChainJntToJacSolver jac(chain);
        const KDL::Vector g(kStandardGravity[0], kStandardGravity[1], kStandardGravity[2]);
        KDL::ChainIdSolver_RNE id_solver(chain, g);
        KDL::ChainDynParam dyn(chain, g);
        const int n = m.dof();
        std::uniform_real_distribution<double> uq(-2 * kPi, 2 * kPi), uv(-3.0, 3.0), ua(-10.0, 10.0);
        double worst_p = 0, worst_R = 0, worst_J = 0, worst_tau = 0, worst_M = 0, worst_g = 0, worst_c = 0;
        for (int trial = 0; trial < kConfigs; ++trial) {
            std::vector<double> q(static_cast<size_t>(n)), qd(q), qdd(q);
            for (int i = 0; i < n; ++i) {
                q[static_cast<size_t>(i)] = uq(rng);
                qd[static_cast<size_t>(i)] = uv(rng);
                qdd[static_cast<size_t>(i)] = ua(rng);
            }
            const KDL::JntArray kq = to_kdl(q), kqd = to_kdl(qd), kqdd = to_kdl(qdd);
            forward_kinematics(m, d, q);
            for (int s = 0; s < n; ++s) {
                KDL::Frame f;
                BOOST_REQUIRE(fk.JntToCart(kq, f, s + 1) >= 0);
                const Pose& p = d.link_pose[static_cast<size_t>(s)];
                for (int r = 0; r < 3; ++r) {
                    worst_p = std::max(worst_p, std::abs(p.p[static_cast<size_t>(r)] - f.p(r)));
                    for (int c = 0; c < 3; ++c) worst_R = std::max(worst_R, std::abs(p.R[static_cast<size_t>(3 * r + c)] - f.M(r, c)));
                }
            }
            KDL::Jacobian kj(static_cast<unsigned>(n));
            BOOST_REQUIRE(jac.JntToJac(kq, kj) >= 0);
            jacobian(m, d, q);
            for (int r = 0; r < 6; ++r)
                for (int c = 0; c < n; ++c)
                    worst_J = std::max(worst_J, std::abs(d.J[static_cast<size_t>(r * kMaxJoints + c)] - kj(static_cast<unsigned>(r), static_cast<unsigned>(c))));
            KDL::JntArray ktau(static_cast<unsigned>(n));
            KDL::Wrenches none(static_cast<size_t>(n), KDL::Wrench::Zero());
            BOOST_REQUIRE(id_solver.CartToJnt(kq, kqd, kqdd, none, ktau) >= 0);
            const auto& tau = rnea(m, d, q, qd, qdd);
            for (int i = 0; i < n; ++i) worst_tau = std::max(worst_tau, std::abs(tau[static_cast<size_t>(i)] - ktau(static_cast<unsigned>(i))));
            KDL::JntSpaceInertiaMatrix kM(static_cast<unsigned>(n));
            BOOST_REQUIRE(dyn.JntToMass(kq, kM) >= 0);
            crba(m, d, q);
            for (int r = 0; r < n; ++r)
                for (int c = 0; c < n; ++c)
                    worst_M = std::max(worst_M, std::abs(d.M[static_cast<size_t>(r * kMaxJoints + c)] - kM(static_cast<unsigned>(r), static_cast<unsigned>(c))));
            KDL::JntArray kg(static_cast<unsigned>(n)), kc(static_cast<unsigned>(n));
            BOOST_REQUIRE(dyn.JntToGravity(kq, kg) >= 0);
            BOOST_REQUIRE(dyn.JntToCoriolis(kq, kqd, kc) >= 0);
            const auto& gq = gravity_torques(m, d, q);
            const auto& cq = coriolis(m, d, q, qd);
            for (int i = 0; i < n; ++i) {
                worst_g = std::max(worst_g, std::abs(gq[static_cast<size_t>(i)] - kg(static_cast<unsigned>(i))));
                worst_c = std::max(worst_c, std::abs(cq[static_cast<size_t>(i)] - kc(static_cast<unsigned>(i))));
            }
        }
        BOOST_TEST_MESSAGE(id << " vs KDL, worst over " << kConfigs << " configurations: position " << worst_p << " m, rotation "
                              << worst_R << ", Jacobian " << worst_J << ", RNEA " << worst_tau << " N m, M " << worst_M
                              << ", g " << worst_g << ", c " << worst_c);
        BOOST_TEST(worst_p < 1e-9, id << ": link position differs from KDL by " << worst_p << " m");
        BOOST_TEST(worst_R < 1e-9, id << ": link rotation differs from KDL by " << worst_R);
        BOOST_TEST(worst_J < 1e-9, id << ": Jacobian differs from KDL by " << worst_J);
        BOOST_TEST(worst_tau < 1e-6, id << ": RNEA differs from KDL by " << worst_tau << " N m");
        BOOST_TEST(worst_M < 1e-9, id << ": mass matrix differs from KDL by " << worst_M);
        BOOST_TEST(worst_g < 1e-6, id << ": gravity torques differ from KDL by " << worst_g << " N m");
        BOOST_TEST(worst_c < 1e-6, id << ": Coriolis torques differ from KDL by " << worst_c << " N m");
    }
}

BOOST_AUTO_TEST_SUITE_END()
