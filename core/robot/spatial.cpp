#include "robot/spatial.hpp"

#include <algorithm>

namespace stacklab::robot {

Vec3 rotation_vector(const Mat3& R) {
    const double c = std::clamp((R[0] + R[4] + R[8] - 1.0) / 2.0, -1.0, 1.0);
    const Vec3 w = {R[7] - R[5], R[2] - R[6], R[3] - R[1]};  // 2 sin(angle) * axis
    const double s = 0.5 * norm(w);
    const double angle = std::atan2(s, c);
    if (angle < 1e-6) return 0.5 * w;  // sin(angle) ~ angle: first order is exact to 1e-18
    if (kPi - angle > 1e-6) return (angle / (2.0 * s)) * w;
    // angle ~ pi: R ~ 2 a a^T - I, take the largest diagonal for a well-conditioned axis.
    int k = 0;
    if (R[4] > R[0]) k = 1;
    if (R[8] > R[3 * k + k]) k = 2;
    Vec3 a{};
    a[k] = std::sqrt(std::max(0.0, (R[3 * k + k] + 1.0) / 2.0));
    for (int j = 0; j < 3; ++j)
        if (j != k) a[j] = (R[3 * k + j] + R[3 * j + k]) / (4.0 * a[k]);
    // Pick the sign that agrees with the (small) antisymmetric part.
    if (dot(a, w) < 0) a = -1.0 * a;
    return (angle / norm(a)) * a;
}

Mat3 rotation_from_vector(const Vec3& w) {
    const double angle = norm(w);
    // Below 1e-8 rad the second-order terms are under 1e-16: the first order is exact in double.
    if (angle < 1e-8) return {1, -w[2], w[1], w[2], 1, -w[0], -w[1], w[0], 1};
    const Vec3 k = (1.0 / angle) * w;
    const double c = std::cos(angle), s = std::sin(angle), v = 1.0 - c;
    return {c + k[0] * k[0] * v,        k[0] * k[1] * v - k[2] * s, k[0] * k[2] * v + k[1] * s,
            k[1] * k[0] * v + k[2] * s, c + k[1] * k[1] * v,        k[1] * k[2] * v - k[0] * s,
            k[2] * k[0] * v - k[1] * s, k[2] * k[1] * v + k[0] * s, c + k[2] * k[2] * v};
}

}  // namespace stacklab::robot
