// Arm models, kinematics and dynamics (core/robot), checked against identities that hold for any
// correct implementation: FK(IK(T)) = T for every closed-form solution, the numeric IK reaching the
// same poses, the published UR5e flange position at q = 0, a symmetric positive definite mass
// matrix, RNEA(q, 0, qdd) = M(q) qdd + g(q), forward dynamics inverting RNEA, the Jacobian against
// finite differences of FK, and loader errors naming the field. The comparisons against Orocos KDL
// are in robot_kdl_test.cpp (both targets).
#include <cmath>
#include <random>
#include <string>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "robot/arm.hpp"
#include "robot/dynamics.hpp"
#include "robot/kinematics.hpp"

using namespace stacklab::robot;

namespace {

const char* kArms[] = {"ur5e", "ur10e"};

std::vector<double> random_q(const ArmModel& m, std::mt19937& rng, double range = kPi) {
    std::uniform_real_distribution<double> u(-range, range);
    std::vector<double> q(static_cast<size_t>(m.dof()));
    for (auto& v : q) v = u(rng);
    return q;
}

std::string bundled_bytes(const std::string& id) {
    for (const auto& f : bundled_arm_files())
        if (f.name == "models/arms/" + id + ".json") return f.bytes;
    throw std::runtime_error("no bundled " + id);
}

// Expects parse_arm to fail with an ArmError whose field is `field`.
void expect_field_error(const nlohmann::json& doc, const std::string& field) {
    try {
        parse_arm(doc.dump(), "models/arms/ur5e.json");
        BOOST_ERROR("no error for " << field);
    } catch (const ArmError& e) {
        BOOST_TEST(e.field() == field, "field " << e.field() << " (" << e.what() << ") expected " << field);
        BOOST_TEST(std::string(e.what()).find("models/arms/ur5e.json") != std::string::npos);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(robot)

BOOST_AUTO_TEST_CASE(bundled_arms_load_with_the_published_ur_figures) {
    const ArmModel ur5e = bundled_arm("ur5e");
    BOOST_TEST(ur5e.dof() == 6);
    BOOST_TEST(ur5e.link(0).d_m == 0.1625);
    BOOST_TEST(ur5e.link(1).a_m == -0.425);
    BOOST_TEST(ur5e.link(2).a_m == -0.3922);
    BOOST_TEST(ur5e.link(5).d_m == 0.0996);
    BOOST_TEST(ur5e.link(1).mass_kg == 8.058);
    BOOST_TEST(ur5e.link(3).torque_limit_nm == 28.0);
    BOOST_TEST(std::abs(ur5e.link(0).velocity_limit_rad_s - kPi) < 1e-15);
    BOOST_TEST(ur5e.payload_kg() == 5.0);
    const ArmModel ur10e = bundled_arm("ur10e");
    BOOST_TEST(ur10e.link(1).a_m == -0.6127);
    BOOST_TEST(ur10e.link(0).torque_limit_nm == 330.0);
    BOOST_TEST(std::abs(ur10e.link(1).velocity_limit_rad_s - kPi * 120 / 180) < 1e-15);
    BOOST_TEST(is_ur_type(ur5e));
    BOOST_TEST(is_ur_type(ur10e));
    BOOST_CHECK_THROW(bundled_arm("ur99"), std::invalid_argument);
}

// UR's DH article gives the UR5e flange at q = 0 as (-0.8172, -0.2329, 0.0628): x = a2 + a3,
// y = -(d4 + d6), z = d1 - d5. Our standard-DH FK reproduces it with the same signs.
BOOST_AUTO_TEST_CASE(ur5e_flange_at_zero_matches_the_published_position) {
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    const Pose& t = forward_kinematics(m, d, std::vector<double>(6, 0.0));
    BOOST_TEST(std::abs(t.p[0] - -0.8172) < 1e-12);
    BOOST_TEST(std::abs(t.p[1] - -0.2329) < 1e-12);
    BOOST_TEST(std::abs(t.p[2] - 0.0628) < 1e-12);
}

BOOST_AUTO_TEST_CASE(jacobian_matches_finite_differences_of_forward_kinematics) {
    std::mt19937 rng(7);
    for (const char* id : kArms) {
        const ArmModel m = bundled_arm(id);
        ArmData d(m), d2(m);
        for (int trial = 0; trial < 200; ++trial) {
            const auto q = random_q(m, rng);
            jacobian(m, d, q);
            const Pose t0 = d.link_pose[5];
            const double h = 1e-6;
            for (int j = 0; j < 6; ++j) {
                auto qp = q, qm = q;
                qp[static_cast<size_t>(j)] += h;
                qm[static_cast<size_t>(j)] -= h;
                const Pose tp = forward_kinematics(m, d2, qp);
                const Pose tm = forward_kinematics(m, d2, qm);
                const Vec3 dv = (1.0 / (2 * h)) * (tp.p - tm.p);
                const Vec3 dw = (1.0 / (2 * h)) * rotation_vector(mul(tp.R, transpose(tm.R)));
                for (int r = 0; r < 3; ++r) {
                    BOOST_TEST(std::abs(d.J[static_cast<size_t>(r * kMaxJoints + j)] - dv[static_cast<size_t>(r)]) < 1e-8);
                    BOOST_TEST(std::abs(d.J[static_cast<size_t>((r + 3) * kMaxJoints + j)] - dw[static_cast<size_t>(r)]) < 1e-8);
                }
            }
            (void)t0;
        }
    }
}

BOOST_AUTO_TEST_CASE(manipulability_is_zero_at_the_wrist_singularity_and_positive_elsewhere) {
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    BOOST_TEST(manipulability(m, d, {0.1, -1.0, 1.2, -0.5, 0.0, 0.3}) < 1e-12);  // q5 = 0: z4 and z6 align
    BOOST_TEST(manipulability(m, d, {0.1, -1.0, 1.2, -0.5, 1.0, 0.3}) > 1e-3);
    // Independent of q1 and q6 (rotations of the whole arm / of the flange about its own axis).
    const double a = manipulability(m, d, {0.1, -1.0, 1.2, -0.5, 1.0, 0.3});
    const double b = manipulability(m, d, {2.0, -1.0, 1.2, -0.5, 1.0, -1.7});
    BOOST_TEST(std::abs(a - b) < 1e-12 * std::max(1.0, a));
}

BOOST_AUTO_TEST_CASE(closed_form_ik_returns_eight_solutions_that_all_reach_the_target) {
    std::mt19937 rng(11);
    for (const char* id : kArms) {
        const ArmModel m = bundled_arm(id);
        ArmData d(m);
        int eight = 0;
        for (int trial = 0; trial < 1000; ++trial) {
            const auto q = random_q(m, rng);
            const Pose target = forward_kinematics(m, d, q);
            const auto sols = ik_ur(m, target, q);
            BOOST_REQUIRE(!sols.empty());
            if (sols.size() == 8) ++eight;
            // Branches come in elbow-up/down pairs; a shoulder or wrist flip can leave the workspace.
            BOOST_TEST(sols.size() <= 8u);
            BOOST_TEST(sols.size() % 2 == 0u);
            for (const auto& s : sols) {
                const Pose got = forward_kinematics(m, d, s);
                BOOST_TEST(position_error(got, target) < 1e-9);
                BOOST_TEST(orientation_error(got, target) < 1e-9);
                for (int j = 0; j < 6; ++j) {
                    BOOST_TEST(s[static_cast<size_t>(j)] >= m.link(j).position_min_rad);
                    BOOST_TEST(s[static_cast<size_t>(j)] <= m.link(j).position_max_rad);
                }
            }
            // The generating configuration is one of the branches, and the nearest to itself.
            double dist = 0;
            for (int j = 0; j < 6; ++j) dist = std::max(dist, std::abs(sols[0][static_cast<size_t>(j)] - q[static_cast<size_t>(j)]));
            BOOST_TEST(dist < 1e-7, id << " trial " << trial << ": nearest solution is " << dist << " rad from the seed");
        }
        // Most random poses of the arm reach all 8 branches (75% for the UR5e, 81% UR10e, seed 11).
        BOOST_TEST(eight > 700, id << ": only " << eight << " of 1000 targets had 8 solutions");
    }
}

BOOST_AUTO_TEST_CASE(closed_form_ik_handles_the_wrist_singularity_with_the_seed_q6) {
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    const std::vector<double> q = {0.3, -1.2, 1.4, -0.7, 0.0, 0.9};  // sin q5 = 0
    const Pose target = forward_kinematics(m, d, q);
    const auto sols = ik_ur(m, target, q);
    BOOST_REQUIRE(!sols.empty());
    for (const auto& s : sols) {
        const Pose got = forward_kinematics(m, d, s);
        BOOST_TEST(position_error(got, target) < 1e-9);
        BOOST_TEST(orientation_error(got, target) < 1e-9);
    }
    double dist = 0;
    for (int j = 0; j < 6; ++j) dist = std::max(dist, std::abs(sols[0][static_cast<size_t>(j)] - q[static_cast<size_t>(j)]));
    BOOST_TEST(dist < 1e-7);
}

BOOST_AUTO_TEST_CASE(closed_form_ik_respects_joint_limits_and_rejects_unreachable_targets) {
    const ArmModel full = bundled_arm("ur5e");
    ArmData d(full);
    // Limit joint 1 to [-90, 90] degrees: every solution must lie inside.
    auto links = full.links();
    links[0].position_min_rad = -kPi / 2;
    links[0].position_max_rad = kPi / 2;
    const ArmModel limited("ur5e-limited", "limited", links, 5.0);
    std::mt19937 rng(3);
    int fewer = 0;
    for (int trial = 0; trial < 200; ++trial) {
        const auto q = random_q(full, rng);
        const Pose target = forward_kinematics(full, d, q);
        const auto all = ik_ur(full, target);
        const auto sols = ik_ur(limited, target);
        for (const auto& s : sols) BOOST_TEST(std::abs(s[0]) <= kPi / 2 + 1e-12);
        if (sols.size() < all.size()) ++fewer;
    }
    BOOST_TEST(fewer > 0);
    Pose far;
    far.p = {3.0, 0.0, 0.5};
    BOOST_TEST(ik_ur(full, far).empty());
}

BOOST_AUTO_TEST_CASE(damped_least_squares_ik_converges_from_a_nearby_seed) {
    std::mt19937 rng(5);
    std::normal_distribution<double> noise(0.0, 0.2);
    for (const char* id : kArms) {
        const ArmModel m = bundled_arm(id);
        ArmData d(m);
        int converged = 0;
        for (int trial = 0; trial < 200; ++trial) {
            const auto q = random_q(m, rng, 3.0);
            const Pose target = forward_kinematics(m, d, q);
            auto seed = q;
            for (auto& v : seed) v += noise(rng);
            const DlsResult r = ik_dls(m, d, target, seed);
            if (!r.converged) continue;
            ++converged;
            const Pose got = forward_kinematics(m, d, r.q);
            BOOST_TEST(position_error(got, target) < 1e-9);
            BOOST_TEST(orientation_error(got, target) < 1e-9);
        }
        BOOST_TEST(converged > 190, id << ": " << converged << " of 200 converged");
    }
}

BOOST_AUTO_TEST_CASE(mass_matrix_is_symmetric_positive_definite_and_rnea_splits_into_m_qdd_plus_g) {
    std::mt19937 rng(13);
    for (const char* id : kArms) {
        const ArmModel m = bundled_arm(id);
        ArmData d(m);
        for (int trial = 0; trial < 1000; ++trial) {
            const auto q = random_q(m, rng), qdd = random_q(m, rng, 3.0);
            crba(m, d, q);
            for (int i = 0; i < 6; ++i)
                for (int j = 0; j < 6; ++j)
                    BOOST_TEST(d.M[static_cast<size_t>(i * kMaxJoints + j)] == d.M[static_cast<size_t>(j * kMaxJoints + i)]);
            // Positive definite: random quadratic forms positive, and forward_dynamics' Cholesky succeeds.
            const auto x = random_q(m, rng, 1.0);
            double quad = 0;
            for (int i = 0; i < 6; ++i)
                for (int j = 0; j < 6; ++j) quad += x[static_cast<size_t>(i)] * d.M[static_cast<size_t>(i * kMaxJoints + j)] * x[static_cast<size_t>(j)];
            BOOST_TEST(quad > 0);
            const auto g = gravity_torques(m, d, q);
            const auto tau = rnea(m, d, q, std::vector<double>(6, 0.0), qdd);
            for (int i = 0; i < 6; ++i) {
                double mq = 0;
                for (int j = 0; j < 6; ++j) mq += d.M[static_cast<size_t>(i * kMaxJoints + j)] * qdd[static_cast<size_t>(j)];
                BOOST_TEST(std::abs(tau[static_cast<size_t>(i)] - (mq + g[static_cast<size_t>(i)])) < 1e-9);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(forward_dynamics_inverts_rnea) {
    std::mt19937 rng(17);
    for (const char* id : kArms) {
        const ArmModel m = bundled_arm(id);
        ArmData d(m);
        for (int trial = 0; trial < 1000; ++trial) {
            const auto q = random_q(m, rng), qd = random_q(m, rng, 2.0), qdd = random_q(m, rng, 3.0);
            const auto tau_a = rnea(m, d, q, qd, qdd);
            const std::vector<double> tau(tau_a.begin(), tau_a.begin() + 6);
            const auto acc = forward_dynamics(m, d, q, qd, tau);
            for (int i = 0; i < 6; ++i) BOOST_TEST(std::abs(acc[static_cast<size_t>(i)] - qdd[static_cast<size_t>(i)]) < 1e-7);
            // c(q, qd) + g(q) is RNEA with qdd = 0.
            const auto c = coriolis(m, d, q, qd);
            const auto g = gravity_torques(m, d, q);
            const auto b = rnea(m, d, q, qd, std::vector<double>(6, 0.0));
            for (int i = 0; i < 6; ++i)
                BOOST_TEST(std::abs(b[static_cast<size_t>(i)] - c[static_cast<size_t>(i)] - g[static_cast<size_t>(i)]) < 1e-9);
        }
    }
}

// Kinetic energy 1/2 qd^T M qd changes at the rate qd . (tau - g) (the power of the non-
// gravitational torques): checks c(q, qd) against M through the skew-symmetry of Mdot - 2C.
BOOST_AUTO_TEST_CASE(coriolis_terms_do_no_work) {
    std::mt19937 rng(19);
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    for (int trial = 0; trial < 200; ++trial) {
        const auto q = random_q(m, rng), qd = random_q(m, rng, 2.0);
        // qd^T c = 1/2 qd^T Mdot qd; Mdot qd by central differences of M along qd.
        const double h = 1e-6;
        auto qp = q, qm = q;
        for (int i = 0; i < 6; ++i) {
            qp[static_cast<size_t>(i)] += h * qd[static_cast<size_t>(i)];
            qm[static_cast<size_t>(i)] -= h * qd[static_cast<size_t>(i)];
        }
        crba(m, d, qp);
        const auto Mp = d.M;
        crba(m, d, qm);
        const auto Mm = d.M;
        double half_qmdq = 0;
        for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j)
                half_qmdq += 0.5 * qd[static_cast<size_t>(i)] * (Mp[static_cast<size_t>(i * kMaxJoints + j)] - Mm[static_cast<size_t>(i * kMaxJoints + j)]) / (2 * h) * qd[static_cast<size_t>(j)];
        const auto c = coriolis(m, d, q, qd);
        double qc = 0;
        for (int i = 0; i < 6; ++i) qc += qd[static_cast<size_t>(i)] * c[static_cast<size_t>(i)];
        BOOST_TEST(std::abs(qc - half_qmdq) < 1e-6 * std::max(1.0, std::abs(qc)));
    }
}

BOOST_AUTO_TEST_CASE(any_serial_dh_arm_works_not_only_ur) {
    // A planar 2R arm with point masses at the link tips: textbook closed forms.
    Link l1, l2;
    l1.name = "j1";
    l1.a_m = 1.0;
    l1.mass_kg = 2.0;
    l1.com_m = {0, 0, 0};
    l1.position_min_rad = -kPi;
    l1.position_max_rad = kPi;
    l1.velocity_limit_rad_s = 1;
    l1.torque_limit_nm = 100;
    l2 = l1;
    l2.name = "j2";
    l2.a_m = 0.5;
    l2.mass_kg = 1.0;
    const ArmModel arm("planar-2r", "planar 2R", {l1, l2}, 0.0);
    ArmData d(arm);
    const double q1 = 0.4, q2 = -0.9;
    const Pose& t = forward_kinematics(arm, d, {q1, q2});
    BOOST_TEST(std::abs(t.p[0] - (std::cos(q1) + 0.5 * std::cos(q1 + q2))) < 1e-15);
    BOOST_TEST(std::abs(t.p[1] - (std::sin(q1) + 0.5 * std::sin(q1 + q2))) < 1e-15);
    // Gravity along -y of the plane: g1 = (m1 + m2) g l1 c1 + m2 g l2 c12, g2 = m2 g l2 c12.
    const double G = 9.81;
    const auto g = gravity_torques(arm, d, {q1, q2}, Vec3{0, -G, 0});
    BOOST_TEST(std::abs(g[0] - (3.0 * G * std::cos(q1) + 1.0 * G * 0.5 * std::cos(q1 + q2))) < 1e-12);
    BOOST_TEST(std::abs(g[1] - (1.0 * G * 0.5 * std::cos(q1 + q2))) < 1e-12);
    // M11 = m1 l1^2 + m2 (l1^2 + l2^2 + 2 l1 l2 c2), M12 = m2 (l2^2 + l1 l2 c2), M22 = m2 l2^2.
    crba(arm, d, {q1, q2});
    BOOST_TEST(std::abs(d.M[0] - (2.0 + 1.0 * (1.0 + 0.25 + std::cos(q2)))) < 1e-12);
    BOOST_TEST(std::abs(d.M[1] - (0.25 + 0.5 * std::cos(q2))) < 1e-12);
    BOOST_TEST(std::abs(d.M[kMaxJoints + 1] - 0.25) < 1e-12);
    BOOST_CHECK_THROW(ik_ur(arm, t), std::invalid_argument);
    // Position-only 2-DOF arm cannot meet a full 6-D target but DLS still reaches a reachable one.
    const DlsResult r = ik_dls(arm, d, t, {0.0, 0.0});
    BOOST_TEST(position_error(forward_kinematics(arm, d, r.q), t) < 1e-9);
}

BOOST_AUTO_TEST_CASE(wrong_sized_joint_vectors_are_errors_naming_the_argument) {
    const ArmModel m = bundled_arm("ur5e");
    ArmData d(m);
    try {
        rnea(m, d, std::vector<double>(6, 0.0), std::vector<double>(5, 0.0), std::vector<double>(6, 0.0));
        BOOST_ERROR("no error");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("qd: expected 6 values, got 5") != std::string::npos);
    }
    BOOST_CHECK_THROW(forward_kinematics(m, d, {0, 0, 0, 0, 0, NAN}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(bad_arm_files_are_errors_naming_the_field) {
    const nlohmann::json good = nlohmann::json::parse(bundled_bytes("ur5e"));
    BOOST_CHECK_NO_THROW(parse_arm(good.dump(), "models/arms/ur5e.json"));
    {
        auto doc = good;
        doc["joints"][1].erase("d_m");
        expect_field_error(doc, "/joints/1/d_m");
    }
    {
        auto doc = good;
        doc["joints"][2]["mass_kg"]["value"] = -1.0;
        expect_field_error(doc, "/joints/2/mass_kg");
    }
    {
        auto doc = good;
        doc["joints"][0]["d_mm"] = doc["joints"][0]["d_m"];
        expect_field_error(doc, "/joints/0/d_mm");
    }
    {
        auto doc = good;
        doc["joints"][3]["a_m"]["source"] = "nowhere";
        expect_field_error(doc, "/joints/3/a_m/source");
    }
    {
        auto doc = good;
        doc["joints"][4]["inertia_kgm2"]["value"] = {1.0, 0.1, 0.1, 0, 0, 0};  // ixx > iyy + izz
        expect_field_error(doc, "/joints/4/inertia_kgm2");
    }
    {
        auto doc = good;
        doc["joints"][5]["com_m"]["value"] = {0.0, 0.0};
        expect_field_error(doc, "/joints/5/com_m/value");
    }
    {
        auto doc = good;
        doc["joints"][1]["position_limit_deg"]["value"] = {10, -10};
        expect_field_error(doc, "/joints/1/position_limit_deg");
    }
    {
        auto doc = good;
        doc["joints"][0]["inertia_kgm2"].erase("reason");
        expect_field_error(doc, "/joints/0/inertia_kgm2/reason");
    }
    {
        auto doc = good;
        doc["id"] = "ur10e";
        expect_field_error(doc, "/id");
    }
    try {
        parse_arm("{\"id\": ", "models/arms/x.json");
        BOOST_ERROR("no error");
    } catch (const ArmError& e) {
        BOOST_TEST(std::string(e.what()).find("not valid JSON") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
