// Helpers of the trainer tests (nn_train_test.cpp, nn_train_mixer_test.cpp): the Fashion-MNIST
// splits, seeded random arrays, and the finite-difference gradient check.
#pragma once

#include <cmath>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "nn/idx.hpp"
#include "nn/train.hpp"

namespace stacklab::nn::train::test_util {

inline const std::string kFashion = std::string(STACKLAB_DATA_DIR) + "/fashion-mnist";

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline ImageSet load_fashion(const std::string& split) {
    const std::string prefix = kFashion + "/" + split;
    return make_image_set(parse_idx(slurp(prefix + "-images-idx3-ubyte"), split + "-images-idx3-ubyte"),
                          parse_idx(slurp(prefix + "-labels-idx1-ubyte"), split + "-labels-idx1-ubyte"), 10, split);
}

// Uniform in [-1, 1), from raw engine output (std:: distributions differ between standard libraries).
inline std::vector<float> randoms(size_t n, uint32_t seed) {
    std::mt19937 g(seed);
    std::vector<float> v(n);
    for (float& x : v) x = uniform01(g) * 2.0f - 1.0f;
    return v;
}

inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0.0;
    for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
    return s;
}

// Checks analytic[i] against the central difference (f(v + h) - f(v - h)) / 2h for every i (or
// every `stride`-th), where f reads `v`. Tolerance: abs + rel * |numeric|.
inline void check_gradient(const char* what, std::vector<float>& v, const std::vector<float>& analytic,
                    const std::function<double()>& f, float h, double abs_tol, double rel_tol, size_t stride = 1) {
    BOOST_REQUIRE_EQUAL(v.size(), analytic.size());
    int bad = 0;
    for (size_t i = 0; i < v.size(); i += stride) {
        const float keep = v[i];
        v[i] = keep + h;
        const double up = f();
        v[i] = keep - h;
        const double down = f();
        v[i] = keep;
        const double numeric = (up - down) / (2.0 * double(h));
        if (std::fabs(numeric - analytic[i]) > abs_tol + rel_tol * std::fabs(numeric) && bad++ < 5)
            BOOST_ERROR(what << "[" << i << "]: analytic " << analytic[i] << ", finite difference " << numeric);
    }
    BOOST_TEST(bad == 0, what << ": " << bad << " gradients off");
}

}  // namespace stacklab::nn::train::test_util
