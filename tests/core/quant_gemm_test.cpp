// Every fast GEMM path against the scalar reference, bit for bit, over shapes chosen to break
// kernels: M = 1, odd N and K, K not a multiple of 2 or 4, zero points at both extremes, and
// inputs that saturate every int8/uint8 lane.
#include <random>

#include <boost/test/unit_test.hpp>

#include "quant/gemm.hpp"

using namespace stacklab::quant;

namespace {

struct Shape {
    int M, N, K;
};

const std::vector<Shape> kShapes = {
    {1, 1, 1},   {1, 7, 3},    {1, 17, 5},    {1, 64, 64},  {1, 33, 129}, {2, 15, 31},  {3, 16, 16},
    {4, 31, 63}, {5, 65, 7},   {7, 1, 1000},  {8, 48, 2},   {9, 100, 97}, {13, 17, 64}, {16, 129, 255},
    {33, 80, 1}, {64, 64, 64}, {1, 300, 4097},
};

enum class Fill { random, max, min, alternating };

template <typename T>
std::vector<T> make(size_t n, Fill fill, std::mt19937& rng) {
    std::vector<T> v(n);
    std::uniform_int_distribution<int> d(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    for (size_t i = 0; i < n; ++i) {
        switch (fill) {
            case Fill::random: v[i] = T(d(rng)); break;
            case Fill::max: v[i] = std::numeric_limits<T>::max(); break;
            case Fill::min: v[i] = std::numeric_limits<T>::min(); break;
            case Fill::alternating: v[i] = i % 2 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min(); break;
        }
    }
    return v;
}

// Runs one case on every available ISA; returns the number of mismatching elements.
template <typename AT>
void check_all_isas(const Shape& s, Fill fa, Fill fb, int32_t a_zp, std::vector<int32_t> b_zp, std::mt19937& rng) {
    const int lda = s.K + 3, ldb = s.N + 1, ldc = s.N + 2;  // strides wider than the matrix
    auto A = make<AT>(size_t(s.M) * size_t(lda), fa, rng);
    auto B = make<int8_t>(size_t(s.K) * size_t(ldb), fb, rng);
    std::vector<int32_t> ref(size_t(s.M) * size_t(ldc), 0x5a5a5a5a);
    if constexpr (std::is_same_v<AT, uint8_t>)
        gemm_u8s8_s32_ref(A.data(), s.M, s.K, lda, a_zp, B.data(), s.N, ldb, b_zp, ref.data(), ldc);
    else
        gemm_s8s8_s32_ref(A.data(), s.M, s.K, lda, a_zp, B.data(), s.N, ldb, b_zp, ref.data(), ldc);
    for (Isa isa : available_isas()) {
        const PackedB packed = pack_b(B.data(), s.K, s.N, ldb, b_zp, isa);
        std::vector<int32_t> out(ref.size(), 0x5a5a5a5a);
        if constexpr (std::is_same_v<AT, uint8_t>)
            gemm_u8s8_s32(A.data(), s.M, lda, a_zp, packed, out.data(), ldc);
        else
            gemm_s8s8_s32(A.data(), s.M, lda, a_zp, packed, out.data(), ldc);
        size_t bad = 0;
        for (size_t i = 0; i < out.size(); ++i) bad += out[i] != ref[i];  // includes the padding columns
        BOOST_TEST(bad == 0u, isa_name(isa) << " M=" << s.M << " N=" << s.N << " K=" << s.K << " a_zp=" << a_zp
                                             << ": " << bad << " elements differ");
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quant_gemm)

BOOST_AUTO_TEST_CASE(this_build_has_a_simd_path) {
    std::string names;
    for (Isa isa : available_isas()) names += std::string(isa_name(isa)) + " ";
    BOOST_TEST_MESSAGE("GEMM paths: " << names);
#if defined(__wasm_simd128__)
    BOOST_TEST((best_isa() == Isa::wasm_simd128));
#elif defined(__x86_64__)
    BOOST_TEST(available_isas().size() >= 2u);  // every x86-64 machine we target has AVX2
#endif
}

BOOST_AUTO_TEST_CASE(reference_matches_a_hand_computed_product) {
    // A = [[1,2],[3,4]] (zp 1), B = [[5,6],[7,8]] (zp per column {0,2}).
    const uint8_t A[] = {1, 2, 3, 4};
    const int8_t B[] = {5, 6, 7, 8};
    int32_t C[4];
    gemm_u8s8_s32_ref(A, 2, 2, 2, 1, B, 2, 2, {0, 2}, C, 2);
    // Row 0: (0,1)·(5,7) = 7, (0,1)·(4,6) = 6. Row 1: (2,3)·(5,7) = 31, (2,3)·(4,6) = 26.
    BOOST_TEST(C[0] == 7);
    BOOST_TEST(C[1] == 6);
    BOOST_TEST(C[2] == 31);
    BOOST_TEST(C[3] == 26);
}

BOOST_AUTO_TEST_CASE(u8s8_fast_paths_match_reference_for_odd_shapes) {
    std::mt19937 rng(1234);
    for (const Shape& s : kShapes) {
        check_all_isas<uint8_t>(s, Fill::random, Fill::random, 128, {0}, rng);
        check_all_isas<uint8_t>(s, Fill::random, Fill::random, 0, {-128}, rng);
        check_all_isas<uint8_t>(s, Fill::random, Fill::random, 255, {127}, rng);
    }
}

BOOST_AUTO_TEST_CASE(s8s8_fast_paths_match_reference_for_odd_shapes) {
    std::mt19937 rng(99);
    for (const Shape& s : kShapes) {
        check_all_isas<int8_t>(s, Fill::random, Fill::random, 0, {0}, rng);
        check_all_isas<int8_t>(s, Fill::random, Fill::random, -128, {127}, rng);
        check_all_isas<int8_t>(s, Fill::random, Fill::random, 127, {-128}, rng);
    }
}

BOOST_AUTO_TEST_CASE(saturating_inputs_stay_exact) {
    // 255 * 127 * 2 > INT16_MAX: an AVX2 kernel built on vpmaddubsw would saturate here.
    std::mt19937 rng(7);
    const std::vector<std::pair<Fill, Fill>> fills = {
        {Fill::max, Fill::max}, {Fill::max, Fill::min}, {Fill::min, Fill::min}, {Fill::alternating, Fill::alternating}};
    for (const auto& [fa, fb] : fills) {
        for (const Shape& s : {Shape{1, 40, 1024}, Shape{5, 19, 777}, Shape{4, 16, 32768}}) {
            check_all_isas<uint8_t>(s, fa, fb, 0, {0}, rng);
            check_all_isas<int8_t>(s, fa, fb, 0, {0}, rng);
        }
    }
}

// Extreme zero points at the largest K: each result is -255 * 255 * 32768 (just inside int32), while
// the zero-point terms the fast path adds (a_zp * column sum, K * a_zp * b_zp) are each near 2^30
// and their partial sums leave int32 — exactness must not depend on how they are grouped.
BOOST_AUTO_TEST_CASE(extreme_zero_points_at_the_largest_k_stay_exact) {
    std::mt19937 rng(11);
    const Shape s{3, 20, kMaxGemmK};
    check_all_isas<uint8_t>(s, Fill::min, Fill::max, 255, {-128}, rng);
    check_all_isas<int8_t>(s, Fill::min, Fill::max, 127, {-128}, rng);
    check_all_isas<uint8_t>(s, Fill::max, Fill::min, 0, {127}, rng);
}

BOOST_AUTO_TEST_CASE(per_column_zero_points_match_reference) {
    std::mt19937 rng(5);
    for (const Shape& s : {Shape{3, 21, 50}, Shape{1, 70, 33}, Shape{17, 40, 9}}) {
        std::vector<int32_t> zps(size_t(s.N));
        std::uniform_int_distribution<int> d(-128, 127);
        for (auto& z : zps) z = d(rng);
        check_all_isas<uint8_t>(s, Fill::random, Fill::random, 77, zps, rng);
        check_all_isas<int8_t>(s, Fill::random, Fill::random, -5, zps, rng);
    }
}

BOOST_AUTO_TEST_CASE(bad_arguments_are_rejected_with_a_reason) {
    const int8_t B[4] = {1, 2, 3, 4};
    BOOST_CHECK_THROW(pack_b(B, 2, 2, 2, {1, 2, 3}, Isa::scalar), std::invalid_argument);
    BOOST_CHECK_THROW(pack_b(B, kMaxGemmK + 1, 1, 1, {0}, Isa::scalar), std::invalid_argument);
    BOOST_CHECK_THROW(pack_b(B, 2, 2, 1, {0}, Isa::scalar), std::invalid_argument);  // ldb < N
}

BOOST_AUTO_TEST_SUITE_END()
