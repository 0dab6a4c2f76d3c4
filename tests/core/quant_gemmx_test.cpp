// The fused int8 output stage, the low-bit-weight GEMM/GEMV and the fp16/bf16 GEMM, each fast
// path against its scalar reference on every ISA this build can run: bit for bit where the result
// is integer-exact (requantized int8, the Q4_0 x Q8_0 integer path), within the documented
// dot-product bound where it is float. Shapes include M = 1, odd N, K not a multiple of 8 or 32
// (grouped formats) and leading dimensions wider than the matrices.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include <boost/test/unit_test.hpp>

#include "quant/blocks.hpp"
#include "quant/gemm_float.hpp"
#include "quant/gemm_lowbit.hpp"
#include "quant/gemm_requant.hpp"
#include "quant/half.hpp"

using namespace stacklab::quant;

namespace {

struct Shape {
    int M, N, K;
};

std::string describe(Isa isa, const Shape& s) {
    return std::string(isa_name(isa)) + " M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) +
           " K=" + std::to_string(s.K);
}

std::vector<float> randn(size_t n, std::mt19937& rng, float sigma = 1.0f) {
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

bool message_has(const std::invalid_argument& e, const std::string& part) {
    return std::string(e.what()).find(part) != std::string::npos;
}

// ------------------------------------------------------------------------------------------------
// Fused requantization.

template <typename AT, typename CT>
void check_requant(const Shape& s, RequantMode mode, bool per_column, bool with_bias, bool relu, std::mt19937& rng) {
    const int lda = s.K + 5, ldb = s.N + 3, ldc = s.N + 7;
    std::uniform_int_distribution<int> a8(std::numeric_limits<AT>::min(), std::numeric_limits<AT>::max());
    std::uniform_int_distribution<int> b8(-128, 127);
    std::vector<AT> A(size_t(s.M) * size_t(lda));
    std::vector<int8_t> B(size_t(s.K) * size_t(ldb));
    for (auto& a : A) a = AT(a8(rng));
    for (auto& b : B) b = int8_t(b8(rng));
    const int32_t a_zp = std::is_same_v<AT, uint8_t> ? 131 : -3;
    const std::vector<int32_t> b_zp = {2};
    std::vector<int32_t> bias(size_t(s.N));
    std::uniform_int_distribution<int> bd(-40000, 40000);
    for (auto& b : bias) b = bd(rng);
    // Output scale chosen so that a typical accumulator (about 128 * 74 * sqrt(K)) maps to about
    // 60 steps: most outputs land inside the range, the tails saturate.
    const bool out_signed = std::is_signed_v<CT>;
    const float sa = 0.02f, y_scale = sa * 0.004f * 128.0f * 74.0f * std::sqrt(float(s.K)) / 60.0f;
    const int32_t y_zp = out_signed ? -5 : 120;
    std::uniform_real_distribution<float> ws(0.002f, 0.006f);
    std::vector<float> w_scales(per_column ? size_t(s.N) : 1u);
    for (auto& w : w_scales) w = ws(rng);
    OutputStage out;
    out.params = make_requant_params(sa, w_scales, y_scale, y_zp, out_signed, mode);
    out.bias = with_bias ? bias.data() : nullptr;
    out.relu = relu;
    std::vector<CT> ref(size_t(s.M) * size_t(ldc), CT(0x5a));
    gemm_requant_ref<AT, CT>(A.data(), s.M, s.K, lda, a_zp, B.data(), s.N, ldb, b_zp, out, ref.data(), ldc);
    for (Isa isa : available_isas()) {
        const PackedB packed = pack_b(B.data(), s.K, s.N, ldb, b_zp, isa);
        std::vector<CT> got(ref.size(), CT(0x5a));
        if constexpr (std::is_same_v<AT, uint8_t>)
            gemm_u8s8_requant(A.data(), s.M, lda, a_zp, packed, out, got.data(), ldc);
        else
            gemm_s8s8_requant(A.data(), s.M, lda, a_zp, packed, out, got.data(), ldc);
        size_t bad = 0;
        for (size_t i = 0; i < got.size(); ++i) bad += got[i] != ref[i];  // padding columns included
        BOOST_TEST(bad == 0u, describe(isa, s) << " " << requant_mode_name(mode) << " per_column=" << per_column
                                               << " bias=" << with_bias << " relu=" << relu << ": " << bad
                                               << " outputs differ");
    }
}

const std::vector<Shape> kRequantShapes = {{1, 1, 1},   {1, 17, 33},  {3, 31, 7},    {4, 64, 64},
                                           {5, 33, 129}, {9, 100, 300}, {37, 1000, 19}, {2, 4099, 40}};

// ------------------------------------------------------------------------------------------------
// Low-bit and 16-bit float paths: the documented bound.

// max over outputs of |got - ref| / bound, where bound = float_dot_error_bound(K, sum |x w|).
double worst_ratio(const std::vector<float>& got, const std::vector<float>& ref, const std::vector<double>& bound) {
    double worst = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double err = std::fabs(double(got[i]) - double(ref[i]));
        if (bound[i] == 0.0) {
            worst = std::max(worst, err == 0.0 ? 0.0 : INFINITY);
        } else {
            worst = std::max(worst, err / bound[i]);
        }
    }
    return worst;
}

// Bounds for Y = X W^T from the dequantized weights Wd (N x K).
std::vector<double> lowbit_bounds(const std::vector<float>& X, int M, int ldx, const std::vector<float>& Wd, int N,
                                  int K, int ldy) {
    std::vector<double> b(size_t(M) * size_t(ldy), 0.0);
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            double s = 0.0;
            for (int k = 0; k < K; ++k)
                s += std::fabs(double(X[size_t(m) * size_t(ldx) + size_t(k)]) * double(Wd[size_t(n) * size_t(K) + size_t(k)]));
            b[size_t(m) * size_t(ldy) + size_t(n)] = float_dot_error_bound(size_t(K), s);
        }
    return b;
}

// The reference, spelled out: dequantized weights, float products summed in index order.
std::vector<float> index_order(const std::vector<float>& X, int M, int ldx, const std::vector<float>& Wd, int N, int K,
                               int ldy, float padding = 0.0f) {
    std::vector<float> y(size_t(M) * size_t(ldy), padding);
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            float s = 0.0f;
            for (int k = 0; k < K; ++k) {
                const float p = X[size_t(m) * size_t(ldx) + size_t(k)] * Wd[size_t(n) * size_t(K) + size_t(k)];
                s = s + p;
            }
            y[size_t(m) * size_t(ldy) + size_t(n)] = s;
        }
    return y;
}

const std::vector<Shape> kLowbitShapes = {{1, 1, 1},   {1, 7, 33},  {1, 33, 100}, {2, 5, 257},
                                          {3, 9, 64},  {4, 70, 95}, {5, 3, 129},  {9, 67, 31}};
const std::vector<Shape> kBlockShapes = {{1, 1, 32}, {1, 7, 64}, {1, 67, 320}, {2, 5, 96},
                                         {3, 9, 32}, {4, 70, 256}, {5, 3, 512}, {9, 131, 160}};

}  // namespace

BOOST_AUTO_TEST_SUITE(quant_gemmx)

BOOST_AUTO_TEST_CASE(fused_requant_matches_reference_composition_bit_for_bit) {
    std::mt19937 rng(2024);
    for (const Shape& s : kRequantShapes)
        for (RequantMode mode : {RequantMode::float_scale, RequantMode::fixed_point}) {
            check_requant<uint8_t, int8_t>(s, mode, true, true, false, rng);
            check_requant<uint8_t, uint8_t>(s, mode, false, true, true, rng);
            check_requant<int8_t, int8_t>(s, mode, false, false, true, rng);
            check_requant<int8_t, uint8_t>(s, mode, true, false, false, rng);
            check_requant<uint8_t, uint8_t>(s, mode, true, false, false, rng);
            check_requant<int8_t, int8_t>(s, mode, true, true, true, rng);
        }
}

BOOST_AUTO_TEST_CASE(fused_requant_rejects_mismatched_output_stage) {
    const int8_t B[6] = {1, 2, 3, 4, 5, 6};
    const uint8_t A[2] = {1, 2};
    const PackedB p = pack_b(B, 2, 3, 3, {0}, Isa::scalar);
    int8_t C[3];
    uint8_t U[3];
    OutputStage out;
    out.params = make_requant_params(1.0f, {1.0f, 1.0f}, 1.0f, 0, true, RequantMode::fixed_point);  // 2 != N = 3
    BOOST_CHECK_EXCEPTION(gemm_u8s8_requant(A, 1, 2, 0, p, out, C, 3), std::invalid_argument,
                          [](const std::invalid_argument& e) { return message_has(e, "params holds 2"); });
    out.params = {make_requant_params(1.0f, 1.0f, 1.0f, 0, true, RequantMode::fixed_point)};
    BOOST_CHECK_EXCEPTION(gemm_u8s8_requant(A, 1, 2, 0, p, out, U, 3), std::invalid_argument,
                          [](const std::invalid_argument& e) { return message_has(e, "is_signed"); });
    BOOST_CHECK_EXCEPTION(gemm_u8s8_requant(A, 1, 2, 0, p, out, C, 2), std::invalid_argument,
                          [](const std::invalid_argument& e) { return message_has(e, "ldc"); });
}

BOOST_AUTO_TEST_CASE(grouped_reference_is_dequantize_then_index_order_dot) {
    std::mt19937 rng(3);
    const Shape s{3, 5, 77};
    const auto X = randn(size_t(s.M) * size_t(s.K), rng);
    const auto Wf = randn(size_t(s.N) * size_t(s.K), rng, 0.05f);
    const GroupedWeights W = quantize_grouped(Wf.data(), size_t(s.N), size_t(s.K), GroupedFormat{4, 32, true});
    std::vector<float> Wd(Wf.size());
    dequantize_grouped(W, Wd.data());
    std::vector<float> y(size_t(s.M) * size_t(s.N));
    gemm_grouped_ref(X.data(), s.M, s.K, W, y.data(), s.N);
    BOOST_TEST((y == index_order(X, s.M, s.K, Wd, s.N, s.K, s.N)));
}

BOOST_AUTO_TEST_CASE(grouped_gemm_is_within_the_dot_bound_of_reference_on_every_isa) {
    std::mt19937 rng(11);
    const std::vector<GroupedFormat> formats = {{2, 32, false}, {3, 64, true},  {4, 32, false}, {4, 128, true},
                                                {5, 32, false}, {6, 32, false}, {7, 64, true},  {8, 128, false}};
    for (const GroupedFormat& f : formats)
        for (const Shape& s : kLowbitShapes) {
            const int ldx = s.K + 3, ldy = s.N + 2;
            const auto X = randn(size_t(s.M) * size_t(ldx), rng);
            const auto Wf = randn(size_t(s.N) * size_t(s.K), rng, 0.05f);
            const GroupedWeights W = quantize_grouped(Wf.data(), size_t(s.N), size_t(s.K), f);
            std::vector<float> Wd(Wf.size());
            dequantize_grouped(W, Wd.data());
            std::vector<float> ref(size_t(s.M) * size_t(ldy), -7.0f);
            gemm_grouped_ref(X.data(), s.M, ldx, W, ref.data(), ldy);
            const auto bound = lowbit_bounds(X, s.M, ldx, Wd, s.N, s.K, ldy);
            for (Isa isa : available_isas()) {
                std::vector<float> got(ref.size(), -7.0f);  // padding must stay untouched
                gemm_grouped(X.data(), s.M, ldx, W, got.data(), ldy, isa);
                const double worst = worst_ratio(got, ref, bound);
                BOOST_TEST(worst <= 1.0, describe(isa, s) << " bits=" << f.bits << " group=" << f.group_size
                                                          << " asym=" << f.asymmetric << ": error/bound " << worst);
            }
        }
}

BOOST_AUTO_TEST_CASE(q4_0_and_q8_0_gemm_are_within_the_dot_bound_of_reference_on_every_isa) {
    std::mt19937 rng(12);
    for (const Shape& s : kBlockShapes) {
        const int ldx = s.K + 1, ldy = s.N + 3;
        const auto X = randn(size_t(s.M) * size_t(ldx), rng);
        const auto Wf = randn(size_t(s.N) * size_t(s.K), rng, 0.05f);
        std::vector<BlockQ4_0> W4;
        std::vector<BlockQ8_0> W8;
        for (int n = 0; n < s.N; ++n) {
            const auto r4 = quantize_q4_0(Wf.data() + size_t(n) * size_t(s.K), size_t(s.K));
            const auto r8 = quantize_q8_0(Wf.data() + size_t(n) * size_t(s.K), size_t(s.K));
            W4.insert(W4.end(), r4.begin(), r4.end());
            W8.insert(W8.end(), r8.begin(), r8.end());
        }
        std::vector<float> Wd4(Wf.size()), Wd8(Wf.size());
        dequantize_q4_0(W4.data(), Wf.size(), Wd4.data());
        dequantize_q8_0(W8.data(), Wf.size(), Wd8.data());
        std::vector<float> ref4(size_t(s.M) * size_t(ldy), -7.0f), ref8 = ref4;
        gemm_q4_0_ref(X.data(), s.M, s.K, ldx, W4.data(), s.N, ref4.data(), ldy);
        gemm_q8_0_ref(X.data(), s.M, s.K, ldx, W8.data(), s.N, ref8.data(), ldy);
        BOOST_TEST((ref4 == index_order(X, s.M, ldx, Wd4, s.N, s.K, ldy, -7.0f)), describe(Isa::scalar, s));
        const auto b4 = lowbit_bounds(X, s.M, ldx, Wd4, s.N, s.K, ldy);
        const auto b8 = lowbit_bounds(X, s.M, ldx, Wd8, s.N, s.K, ldy);
        for (Isa isa : available_isas()) {
            std::vector<float> g4(ref4.size(), -7.0f), g8(ref8.size(), -7.0f);
            gemm_q4_0(X.data(), s.M, s.K, ldx, W4.data(), s.N, g4.data(), ldy, isa);
            gemm_q8_0(X.data(), s.M, s.K, ldx, W8.data(), s.N, g8.data(), ldy, isa);
            const double w4 = worst_ratio(g4, ref4, b4), w8 = worst_ratio(g8, ref8, b8);
            BOOST_TEST(w4 <= 1.0, describe(isa, s) << " Q4_0: error/bound " << w4);
            BOOST_TEST(w8 <= 1.0, describe(isa, s) << " Q8_0: error/bound " << w8);
        }
    }
}

BOOST_AUTO_TEST_CASE(block_formats_reject_k_not_a_multiple_of_32) {
    std::vector<float> X(33, 1.0f), Y(1);
    std::vector<BlockQ4_0> W4(2);
    std::vector<BlockQ8_0> W8(2);
    auto names_k = [](const std::invalid_argument& e) { return message_has(e, "K = 33") && message_has(e, "32"); };
    for (Isa isa : available_isas()) {
        BOOST_CHECK_EXCEPTION(gemm_q4_0(X.data(), 1, 33, 33, W4.data(), 1, Y.data(), 1, isa), std::invalid_argument, names_k);
        BOOST_CHECK_EXCEPTION(gemm_q8_0(X.data(), 1, 33, 33, W8.data(), 1, Y.data(), 1, isa), std::invalid_argument, names_k);
        BOOST_CHECK_EXCEPTION(gemm_q4_0_q8_0(X.data(), 1, 33, 33, W4.data(), 1, Y.data(), 1, isa), std::invalid_argument,
                              names_k);
    }
    BOOST_CHECK_EXCEPTION(gemm_q4_0_ref(X.data(), 1, 33, 33, W4.data(), 1, Y.data(), 1), std::invalid_argument, names_k);
}

BOOST_AUTO_TEST_CASE(grouped_gemm_rejects_inconsistent_weights) {
    std::mt19937 rng(1);
    const auto Wf = randn(4 * 40, rng);
    GroupedWeights W = quantize_grouped(Wf.data(), 4, 40, GroupedFormat{4, 32, false});
    W.scales.pop_back();
    std::vector<float> X(40, 1.0f), Y(4);
    BOOST_CHECK_EXCEPTION(gemm_grouped(X.data(), 1, 40, W, Y.data(), 4), std::invalid_argument,
                          [](const std::invalid_argument& e) { return message_has(e, "W.scales"); });
    W = quantize_grouped(Wf.data(), 4, 40, GroupedFormat{4, 32, false});
    BOOST_CHECK_EXCEPTION(gemm_grouped(X.data(), 1, 39, W, Y.data(), 4), std::invalid_argument,
                          [](const std::invalid_argument& e) { return message_has(e, "ldx"); });
}

BOOST_AUTO_TEST_CASE(q4_0_q8_0_integer_dot_matches_a_hand_computed_block) {
    // Every weight nibble 9 (q = 1), every activation 2, both scales 1 (fp16 0x3c00): 32 * 2 = 64;
    // a second block with nibble 0 (q = -8), activation -128 and scales 0.5, 2: 32 * 1024 * 1 = 32768.
    BlockQ4_0 w[2];
    BlockQ8_0 x[2];
    w[0].d = 0x3c00;
    x[0].d = 0x3c00;
    for (auto& q : w[0].qs) q = 0x99;
    for (auto& q : x[0].qs) q = 2;
    w[1].d = 0x3800;  // 0.5
    x[1].d = 0x4000;  // 2
    for (auto& q : w[1].qs) q = 0x00;
    for (auto& q : x[1].qs) q = -128;
    BOOST_TEST(vec_dot_q4_0_q8_0_ref(w, x, 2) == 64.0f + 32768.0f);
    for (Isa isa : available_isas()) BOOST_TEST(vec_dot_q4_0_q8_0(w, x, 2, isa) == 64.0f + 32768.0f, isa_name(isa));
}

BOOST_AUTO_TEST_CASE(q4_0_q8_0_integer_path_is_bit_identical_on_every_isa) {
    std::mt19937 rng(77);
    std::uniform_int_distribution<int> byte(0, 255), half_bits(0x2000, 0x4c00), sign(0, 1);
    // Random blocks, including q8 = -128 and negative scales, for every block count 0..41 (tails of
    // the 8-block groups).
    for (size_t nb = 0; nb <= 41; ++nb) {
        std::vector<BlockQ4_0> w(nb);
        std::vector<BlockQ8_0> x(nb);
        for (size_t b = 0; b < nb; ++b) {
            w[b].d = uint16_t(half_bits(rng) | (sign(rng) << 15));
            x[b].d = uint16_t(half_bits(rng));
            for (auto& q : w[b].qs) q = uint8_t(byte(rng));
            for (auto& q : x[b].qs) q = int8_t(byte(rng) - 128);
        }
        const float ref = vec_dot_q4_0_q8_0_ref(w.data(), x.data(), nb);
        for (Isa isa : available_isas()) {
            const float got = vec_dot_q4_0_q8_0(w.data(), x.data(), nb, isa);
            BOOST_TEST(float_bits(got) == float_bits(ref), isa_name(isa) << " nb=" << nb << ": " << got << " vs " << ref);
        }
    }
    for (const Shape& s : kBlockShapes) {
        const int ldx = s.K + 2, ldy = s.N + 1;
        const auto X = randn(size_t(s.M) * size_t(ldx), rng);
        const auto Wf = randn(size_t(s.N) * size_t(s.K), rng, 0.05f);
        std::vector<BlockQ4_0> W;
        for (int n = 0; n < s.N; ++n) {
            const auto r = quantize_q4_0(Wf.data() + size_t(n) * size_t(s.K), size_t(s.K));
            W.insert(W.end(), r.begin(), r.end());
        }
        std::vector<float> ref(size_t(s.M) * size_t(ldy), -7.0f), fl(ref.size(), -7.0f);
        gemm_q4_0_q8_0_ref(X.data(), s.M, s.K, ldx, W.data(), s.N, ref.data(), ldy);
        for (Isa isa : available_isas()) {
            std::vector<float> got(ref.size(), -7.0f);
            gemm_q4_0_q8_0(X.data(), s.M, s.K, ldx, W.data(), s.N, got.data(), ldy, isa);
            size_t bad = 0;
            for (size_t i = 0; i < got.size(); ++i) bad += float_bits(got[i]) != float_bits(ref[i]);
            BOOST_TEST(bad == 0u, describe(isa, s) << ": " << bad << " outputs differ in bits");
        }
        // Sanity of the semantics: Q8_0 activations differ from X by at most d_x / 2 per element,
        // so the integer path stays within sum_k |w_k| * amax_block / 254 (+ float rounding) of the
        // float path with the same weights.
        gemm_q4_0_ref(X.data(), s.M, s.K, ldx, W.data(), s.N, fl.data(), ldy);
        std::vector<float> Wd(Wf.size());
        dequantize_q4_0(W.data(), Wf.size(), Wd.data());
        for (int m = 0; m < s.M; ++m)
            for (int n = 0; n < s.N; ++n) {
                double slack = 0.0;
                for (int b = 0; b < s.K / 32; ++b) {
                    double amax = 0.0, wsum = 0.0;
                    for (int j = 0; j < 32; ++j) {
                        amax = std::max(amax, std::fabs(double(X[size_t(m) * size_t(ldx) + size_t(32 * b + j)])));
                        wsum += std::fabs(double(Wd[size_t(n) * size_t(s.K) + size_t(32 * b + j)]));
                    }
                    slack += wsum * amax / 254.0 * 1.01 + 1e-6 * wsum * amax;
                }
                const size_t i = size_t(m) * size_t(ldy) + size_t(n);
                BOOST_TEST(std::fabs(double(ref[i]) - double(fl[i])) <= slack, describe(Isa::scalar, s));
            }
    }
}

BOOST_AUTO_TEST_CASE(half_gemm_is_within_the_dot_bound_of_reference_on_every_isa) {
    std::mt19937 rng(5);
    const std::vector<Shape> shapes = {{1, 1, 1},   {1, 17, 33},  {2, 31, 7},  {6, 16, 64},
                                       {7, 33, 100}, {9, 65, 129}, {13, 40, 5}, {1, 257, 300}};
    for (Half16 type : {Half16::fp16, Half16::bf16})
        for (const Shape& s : shapes) {
            const int lda = s.K + 3, ldb = s.N + 5, ldc = s.N + 2;
            const auto af = randn(size_t(s.M) * size_t(lda), rng), bf = randn(size_t(s.K) * size_t(ldb), rng);
            const auto A = type == Half16::fp16 ? to_half(af) : to_bf16(af);
            const auto B = type == Half16::fp16 ? to_half(bf) : to_bf16(bf);
            std::vector<float> ref(size_t(s.M) * size_t(ldc), -7.0f);
            gemm_f16_ref(type, A.data(), s.M, s.K, lda, B.data(), s.N, ldb, ref.data(), ldc);
            std::vector<double> bound(ref.size(), 0.0);
            auto widen = [type](uint16_t h) { return double(type == Half16::fp16 ? half_to_float(h) : bf16_to_float(h)); };
            for (int m = 0; m < s.M; ++m)
                for (int n = 0; n < s.N; ++n) {
                    double sum = 0.0;
                    for (int k = 0; k < s.K; ++k)
                        sum += std::fabs(widen(A[size_t(m) * size_t(lda) + size_t(k)]) * widen(B[size_t(k) * size_t(ldb) + size_t(n)]));
                    bound[size_t(m) * size_t(ldc) + size_t(n)] = float_dot_error_bound(size_t(s.K), sum);
                }
            for (Isa isa : available_isas()) {
                std::vector<float> got(ref.size(), -7.0f);
                gemm_f16(type, A.data(), s.M, s.K, lda, B.data(), s.N, ldb, got.data(), ldc, isa);
                const double worst = worst_ratio(got, ref, bound);
                BOOST_TEST(worst <= 1.0, describe(isa, s) << (type == Half16::fp16 ? " fp16" : " bf16")
                                                          << ": error/bound " << worst);
                // Products of two 16-bit floats are exact in float (<= 22 significant bits) and the
                // kernels keep the k order, so for these inputs they reproduce the reference exactly.
                size_t bad = 0;
                for (size_t i = 0; i < got.size(); ++i) bad += float_bits(got[i]) != float_bits(ref[i]);
                BOOST_TEST(bad == 0u, describe(isa, s) << ": " << bad << " outputs differ in bits");
            }
        }
}

BOOST_AUTO_TEST_CASE(half_gemm_reference_widens_exactly_and_sums_in_k_order) {
    // fp16 1.5 (0x3e00) * 2 (0x4000) + 65504 (0x7bff) * 1 (0x3c00) = 65507, exactly representable.
    const uint16_t A[2] = {0x3e00, 0x7bff}, B[2] = {0x4000, 0x3c00};
    float C = 0.0f;
    gemm_f16_ref(Half16::fp16, A, 1, 2, 2, B, 1, 1, &C, 1);
    BOOST_TEST(C == 65507.0f);
    // bf16 is the upper half of a float: 3 * -2 = -6.
    const uint16_t a = uint16_t(float_bits(3.0f) >> 16), b = uint16_t(float_bits(-2.0f) >> 16);
    gemm_f16_ref(Half16::bf16, &a, 1, 1, 1, &b, 1, 1, &C, 1);
    BOOST_TEST(C == -6.0f);
}

BOOST_AUTO_TEST_CASE(half_gemm_rejects_bad_shapes_and_unavailable_isas) {
    const uint16_t A[4] = {}, B[4] = {};
    float C[4];
    BOOST_CHECK_EXCEPTION(gemm_f16(Half16::fp16, A, 2, 2, 2, B, 2, 1, C, 2), std::invalid_argument,
                          [](const std::invalid_argument& e) { return message_has(e, "ldb"); });
    BOOST_CHECK_EXCEPTION(gemm_f16(Half16::fp16, A, -1, 2, 2, B, 2, 2, C, 2), std::invalid_argument,
                          [](const std::invalid_argument& e) { return message_has(e, "M = -1"); });
    const auto isas = available_isas();
    for (Isa isa : {Isa::avx2, Isa::avx512vnni, Isa::wasm_simd128})
        if (std::find(isas.begin(), isas.end(), isa) == isas.end()) {
            BOOST_CHECK_THROW(gemm_f16(Half16::fp16, A, 2, 2, 2, B, 2, 2, C, 2, isa), std::invalid_argument);
            BOOST_CHECK_THROW(vec_dot_q4_0_q8_0(nullptr, nullptr, 0, isa), std::invalid_argument);
        }
}

BOOST_AUTO_TEST_SUITE_END()
