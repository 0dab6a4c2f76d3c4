// Helpers shared by the core's test files.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace stacklab::test {

// Test data from std::mt19937's raw output only (its sequence is fixed by the C++ standard), mapped
// to floats with exact operations, so native and wasm see the very same inputs. The
// std::*_distribution classes are not used: libstdc++ and libc++ implement them differently.
struct Rng {
    std::mt19937 gen;
    explicit Rng(uint32_t seed) : gen(seed) {}
    uint32_t bits() { return static_cast<uint32_t>(gen()); }
    // Uniform in [0, 1) on a 2^-24 grid.
    float unit() { return static_cast<float>(bits() >> 8) * (1.0f / 16777216.0f); }
    float uniform(float lo, float hi) { return lo + (hi - lo) * unit(); }
    int32_t integer(int32_t lo, int32_t hi) {  // inclusive, hi - lo < 2^32
        const uint64_t span = static_cast<uint64_t>(static_cast<int64_t>(hi) - lo) + 1;
        return static_cast<int32_t>(lo + static_cast<int64_t>(bits() % span));
    }
};

// FNV-1a over the bytes of whatever the library produced.
struct Digest {
    uint64_t h = 1469598103934665603ull;
    void bytes(const void* p, size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (size_t i = 0; i < n; ++i) {
            h ^= b[i];
            h *= 1099511628211ull;
        }
    }
    template <typename T>
    void add(const T& v) { bytes(&v, sizeof v); }
    template <typename T>
    void add(const std::vector<T>& v) { bytes(v.data(), v.size() * sizeof(T)); }
};

// The message of the std::invalid_argument that `f` throws.
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(no std::invalid_argument thrown)";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace stacklab::test
