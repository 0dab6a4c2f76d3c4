// gemm_f32_acc on every ISA of this build against the plain ordered loop, bit for bit: edge tiles
// (M and N not multiples of the register tile), padded leading dimensions, K = 0, and values
// whose sums lose low bits (so a reordered or fused sum would show).
#include <algorithm>
#include <array>
#include <cstring>
#include <random>

#include <boost/test/unit_test.hpp>

#include "quant/gemm_f32.hpp"

using namespace stacklab::quant;

BOOST_AUTO_TEST_SUITE(quant_gemm_f32)

BOOST_AUTO_TEST_CASE(every_isa_gives_the_bits_of_the_plain_ordered_loop) {
    struct Shape {
        int M, N, K, pad;
    };
    const std::vector<Shape> shapes = {{1, 1, 1, 0},   {1, 16, 9, 0},  {6, 16, 144, 0}, {7, 17, 33, 3},
                                       {13, 40, 64, 1}, {5, 8, 1, 0},   {32, 256, 144, 0}, {3, 5, 0, 2},
                                       {64, 10, 128, 0}, {2, 100, 257, 5}, {9, 48, 20, 0},   {8, 32, 7, 2},
                                       {17, 33, 5, 1}};
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    for (const Shape& sh : shapes) {
        const size_t lda = size_t(sh.K + sh.pad), ldb = size_t(sh.N + sh.pad), ldc = size_t(sh.N + sh.pad);
        std::vector<float> A(size_t(sh.M) * lda), B(size_t(std::max(sh.K, 1)) * ldb), C0(size_t(sh.M) * ldc);
        // Mixed magnitudes: products of 1e3 and 1e-3 terms make each addition round.
        for (size_t i = 0; i < A.size(); ++i) A[i] = d(rng) * (i % 3 == 0 ? 1e3f : 1.0f);
        for (size_t i = 0; i < B.size(); ++i) B[i] = d(rng) * (i % 5 == 0 ? 1e-3f : 1.0f);
        for (auto& v : C0) v = d(rng);
        std::vector<float> plain = C0;
        for (int m = 0; m < sh.M; ++m)
            for (int n = 0; n < sh.N; ++n) {
                float c = plain[size_t(m) * ldc + size_t(n)];
                for (int k = 0; k < sh.K; ++k) c += A[size_t(m) * lda + size_t(k)] * B[size_t(k) * ldb + size_t(n)];
                plain[size_t(m) * ldc + size_t(n)] = c;
            }
        std::vector<float> ref = C0;
        gemm_f32_acc_ref(A.data(), lda, B.data(), ldb, ref.data(), ldc, sh.M, sh.N, sh.K);
        BOOST_TEST(std::memcmp(ref.data(), plain.data(), ref.size() * sizeof(float)) == 0);
        for (Isa isa : available_isas()) {
            std::vector<float> c = C0;
            gemm_f32_acc(A.data(), lda, B.data(), ldb, c.data(), ldc, sh.M, sh.N, sh.K, isa);
            size_t differ = 0;
            for (size_t i = 0; i < c.size(); ++i) differ += std::memcmp(&c[i], &plain[i], sizeof(float)) != 0;
            BOOST_TEST(differ == 0u, isa_name(isa) << " " << sh.M << "x" << sh.N << "x" << sh.K << ": " << differ
                                                   << " values differ (padding included)");
        }
    }
}

// B rows by offset (a convolution's taps read from the input plane): overlapping, out of order
// and repeated rows, N wider than one strip and with a masked end, row groups (even and odd counts,
// narrow N packs two per tile); the plain loop over the gathered rows is the oracle on every ISA.
BOOST_AUTO_TEST_CASE(rows_by_offset_give_the_bits_of_the_plain_loop_on_every_isa) {
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> pool(4096);
    for (size_t i = 0; i < pool.size(); ++i) pool[i] = d(rng) * (i % 7 == 0 ? 1e3f : 1.0f);
    struct Shape {
        int M, N, K, groups;
    };
    for (const Shape& sh : std::vector<Shape>{{16, 26, 9, 1}, {32, 11, 144, 1}, {9, 70, 30, 1}, {3, 1, 5, 1},
                                              {32, 11, 144, 11}, {16, 26, 9, 4}, {10, 16, 12, 3}, {5, 7, 3, 2}}) {
        const int M = sh.M, N = sh.N, K = sh.K, G = sh.groups;
        const size_t b_step = size_t(N) + 3, ldc = size_t(N) + 2, c_step = size_t(M) * ldc + 1;
        std::vector<size_t> off(static_cast<size_t>(K));
        for (auto& o : off) o = size_t(rng() % (pool.size() - size_t(N) - size_t(G) * b_step));
        off[size_t(K) - 1] = off[0];  // a row used twice
        std::vector<float> A(size_t(M) * size_t(K)), C0(size_t(G) * c_step);
        for (auto& v : A) v = d(rng);
        for (auto& v : C0) v = d(rng);
        std::vector<float> plain = C0;
        for (int q = 0; q < G; ++q)
            for (int m = 0; m < M; ++m)
                for (int n = 0; n < N; ++n) {
                    float& out = plain[size_t(q) * c_step + size_t(m) * ldc + size_t(n)];
                    float c = out;
                    for (int k = 0; k < K; ++k)
                        c += A[size_t(m) * size_t(K) + size_t(k)] * pool[size_t(q) * b_step + off[size_t(k)] + size_t(n)];
                    out = c;
                }
        for (Isa isa : available_isas()) {
            std::vector<float> c = C0;
            OffsetsGemm o;
            o.groups = G;
            o.b_group_step = b_step;
            o.c_group_step = c_step;
            gemm_f32_acc_offsets(A.data(), size_t(K), pool.data(), off.data(), c.data(), ldc, M, N, K, o, isa);
            BOOST_TEST(std::memcmp(c.data(), plain.data(), c.size() * sizeof(float)) == 0,
                       isa_name(isa) << " " << G << " x " << M << "x" << N << "x" << K << " (padding included)");
        }
        // Starting from a bias per row (C not read) and ReLU on the way out: the same loop from the
        // bias, then x < 0 ? 0 : x.
        std::vector<float> bias(static_cast<size_t>(M));
        for (auto& v : bias) v = d(rng) * 4.0f;
        std::vector<float> fused = C0;
        for (int q = 0; q < G; ++q)
            for (int m = 0; m < M; ++m)
                for (int n = 0; n < N; ++n) {
                    float c = bias[size_t(m)];
                    for (int k = 0; k < K; ++k)
                        c += A[size_t(m) * size_t(K) + size_t(k)] * pool[size_t(q) * b_step + off[size_t(k)] + size_t(n)];
                    fused[size_t(q) * c_step + size_t(m) * ldc + size_t(n)] = c < 0.0f ? 0.0f : c;
                }
        for (Isa isa : available_isas()) {
            std::vector<float> c = C0;
            OffsetsGemm o;
            o.groups = G;
            o.b_group_step = b_step;
            o.c_group_step = c_step;
            o.row_init = bias.data();
            o.relu = true;
            gemm_f32_acc_offsets(A.data(), size_t(K), pool.data(), off.data(), c.data(), ldc, M, N, K, o, isa);
            BOOST_TEST(std::memcmp(c.data(), fused.data(), c.size() * sizeof(float)) == 0,
                       isa_name(isa) << " " << G << " x " << M << "x" << N << "x" << K << " from the bias, with ReLU");
        }
    }
}

// A gathered from X by row and column offsets (a convolution with pixels as rows), from a bias per
// column, with and without ReLU: the plain loop over the gathered A on every ISA.
BOOST_AUTO_TEST_CASE(gathered_a_gives_the_bits_of_the_plain_loop_on_every_isa) {
    std::mt19937 rng(13);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> X(3000);
    for (size_t i = 0; i < X.size(); ++i) X[i] = d(rng) * (i % 5 == 0 ? 1e3f : 1.0f);
    for (const auto& [M, N, K] : std::vector<std::array<int, 3>>{{121, 32, 144}, {9, 16, 9}, {17, 40, 33}, {3, 5, 2}})
        for (const bool relu : {false, true}) {
            std::vector<size_t> rows(static_cast<size_t>(M)), offs(static_cast<size_t>(K));
            for (auto& r : rows) r = size_t(rng() % 1000);
            for (auto& o : offs) o = size_t(rng() % 2000);
            std::vector<float> B(size_t(K) * size_t(N)), init(static_cast<size_t>(N));
            for (auto& v : B) v = d(rng);
            for (auto& v : init) v = d(rng) * 3.0f;
            const size_t ldc = size_t(N) + 1;
            std::vector<float> plain(size_t(M) * ldc, 7.0f);
            for (int m = 0; m < M; ++m)
                for (int n = 0; n < N; ++n) {
                    float c = init[size_t(n)];
                    for (int k = 0; k < K; ++k)
                        c += X[rows[size_t(m)] + offs[size_t(k)]] * B[size_t(k) * size_t(N) + size_t(n)];
                    plain[size_t(m) * ldc + size_t(n)] = relu && c < 0.0f ? 0.0f : c;
                }
            for (Isa isa : available_isas()) {
                std::vector<float> c(size_t(M) * ldc, 7.0f);
                gemm_f32_gather_a(X.data(), rows.data(), offs.data(), B.data(), size_t(N), c.data(), ldc, M, N, K,
                                  init.data(), relu, isa);
                BOOST_TEST(std::memcmp(c.data(), plain.data(), c.size() * sizeof(float)) == 0,
                           isa_name(isa) << " " << M << "x" << N << "x" << K << (relu ? " relu" : "") << " (padding included)");
            }
        }
}

// A layer's output from +0 (C not read), + a bias row after the sum, ReLU: the plain loop on a
// zeroed C, then the add, then x < 0 ? 0 : x, on every ISA (products of -0 included: +0 + -0 = +0).
BOOST_AUTO_TEST_CASE(layer_output_gives_the_bits_of_zero_then_sum_then_bias_then_relu_on_every_isa) {
    std::mt19937 rng(17);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    for (const auto& [M, N, K] : std::vector<std::array<int, 3>>{{64, 10, 64}, {17, 128, 33}, {9, 40, 7}, {1, 1, 1}})
        for (const bool relu : {false, true})
            for (const bool with_bias : {false, true}) {
                std::vector<float> A(size_t(M) * size_t(K)), B(size_t(K) * size_t(N)), bias(static_cast<size_t>(N));
                for (size_t i = 0; i < A.size(); ++i) A[i] = i % 11 == 0 ? -0.0f : d(rng) * (i % 3 == 0 ? 1e3f : 1.0f);
                for (auto& v : B) v = d(rng);
                for (auto& v : bias) v = d(rng);
                const size_t ldc = size_t(N) + 3;
                std::vector<float> plain(size_t(M) * ldc, 5.0f);
                for (int m = 0; m < M; ++m)
                    for (int n = 0; n < N; ++n) {
                        float c = 0.0f;
                        for (int k = 0; k < K; ++k) c += A[size_t(m) * size_t(K) + size_t(k)] * B[size_t(k) * size_t(N) + size_t(n)];
                        if (with_bias) c += bias[size_t(n)];
                        plain[size_t(m) * ldc + size_t(n)] = relu && c < 0.0f ? 0.0f : c;
                    }
                for (Isa isa : available_isas()) {
                    std::vector<float> c(size_t(M) * ldc, 5.0f);
                    gemm_f32_out(A.data(), size_t(K), B.data(), size_t(N), c.data(), ldc, M, N, K,
                                 with_bias ? bias.data() : nullptr, relu, isa);
                    BOOST_TEST(std::memcmp(c.data(), plain.data(), c.size() * sizeof(float)) == 0,
                               isa_name(isa) << " " << M << "x" << N << "x" << K << (with_bias ? " bias" : "")
                                             << (relu ? " relu" : ""));
                }
            }
}

BOOST_AUTO_TEST_CASE(bad_sizes_are_refused_with_the_reason) {
    float a = 1, b = 1, c = 0;
    auto message = [&](auto call) {
        try {
            call();
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    BOOST_TEST(message([&] { gemm_f32_acc(&a, 1, &b, 1, &c, 1, -1, 1, 1); }).find("negative size") != std::string::npos);
    BOOST_TEST(message([&] { gemm_f32_acc(&a, 1, &b, 1, &c, 1, 1, 2, 2); }).find("leading dimension") != std::string::npos);
    BOOST_TEST(message([&] { gemm_f32_acc(nullptr, 1, &b, 1, &c, 1, 1, 1, 1); }).find("null") != std::string::npos);
    BOOST_TEST(message([&] { gemm_f32_acc_offsets(&a, 1, &b, nullptr, &c, 1, 1, 1, 1); }).find("null offsets") !=
               std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
