// Small fixed-size 3-D math for the robot module: 3-vectors, 3x3 rotations (row-major) and rigid
// poses, all on std::array so that kinematics and dynamics allocate nothing and inline fully.
// Why not Eigen: em++ sees only the header-only libraries we stage, and 3x3 by hand is as fast.
#pragma once

#include <array>
#include <cmath>

namespace stacklab::robot {
constexpr double kPi = 3.14159265358979323846;
}

namespace stacklab::robot {

using Vec3 = std::array<double, 3>;
// Row-major: m[3 * row + col].
using Mat3 = std::array<double, 9>;

inline Vec3 operator+(const Vec3& a, const Vec3& b) { return {a[0] + b[0], a[1] + b[1], a[2] + b[2]}; }
inline Vec3 operator-(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
inline Vec3 operator*(double s, const Vec3& a) { return {s * a[0], s * a[1], s * a[2]}; }
inline double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
inline Vec3 cross(const Vec3& a, const Vec3& b) {
    return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
inline double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }

inline Mat3 identity3() { return {1, 0, 0, 0, 1, 0, 0, 0, 1}; }
inline Vec3 mul(const Mat3& m, const Vec3& v) {
    return {m[0] * v[0] + m[1] * v[1] + m[2] * v[2], m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
            m[6] * v[0] + m[7] * v[1] + m[8] * v[2]};
}
// m^T v without forming the transpose.
inline Vec3 mul_t(const Mat3& m, const Vec3& v) {
    return {m[0] * v[0] + m[3] * v[1] + m[6] * v[2], m[1] * v[0] + m[4] * v[1] + m[7] * v[2],
            m[2] * v[0] + m[5] * v[1] + m[8] * v[2]};
}
inline Mat3 mul(const Mat3& a, const Mat3& b) {
    Mat3 r{};
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            r[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    return r;
}
inline Mat3 transpose(const Mat3& m) { return {m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]}; }
inline Vec3 column(const Mat3& m, int c) { return {m[c], m[3 + c], m[6 + c]}; }

// A rigid transform: x_parent = R x_child + p.
struct Pose {
    Mat3 R = identity3();
    Vec3 p{0, 0, 0};
};

inline Pose operator*(const Pose& a, const Pose& b) { return {mul(a.R, b.R), mul(a.R, b.p) + a.p}; }
inline Pose inverse(const Pose& a) {
    Mat3 rt = transpose(a.R);
    Vec3 p = mul(rt, a.p);
    return {rt, {-p[0], -p[1], -p[2]}};
}

// The standard DH transform Rz(theta) Tz(d) Tx(a) Rx(alpha), given cos/sin of alpha.
inline Pose dh_transform(double theta, double d, double a, double ca, double sa) {
    const double ct = std::cos(theta), st = std::sin(theta);
    Pose t;
    t.R = {ct, -st * ca, st * sa, st, ct * ca, -ct * sa, 0, sa, ca};
    t.p = {a * ct, a * st, d};
    return t;
}

// The rotation vector (axis * angle, angle in [0, pi]) of a rotation matrix: the log map.
// Near pi the axis comes from the symmetric part, where the antisymmetric part vanishes.
Vec3 rotation_vector(const Mat3& R);

// The exponential map, inverse of rotation_vector: the rotation by |w| about w / |w| (Rodrigues).
Mat3 rotation_from_vector(const Vec3& w);

}  // namespace stacklab::robot
