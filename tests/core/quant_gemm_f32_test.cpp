// gemm_f32_acc on every ISA of this build against the plain ordered loop, bit for bit: edge tiles
// (M and N not multiples of the register tile), padded leading dimensions, K = 0, and values
// whose sums lose low bits (so a reordered or fused sum would show).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <boost/test/unit_test.hpp>

#include "quant/gemm_f32.hpp"

using namespace stacklab::quant;

BOOST_AUTO_TEST_SUITE(quant_gemm_f32)

namespace {

// Every float the same bits, except that two NaNs match whatever their signs: WebAssembly leaves a
// NaN result's sign open (V8 gave -NaN where x86 keeps the input's +NaN), so for the pooled tests'
// NaN inputs only NaN-ness is portable, and that is what shows a wrong tap order.
bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(std::isnan(a[i]) && std::isnan(b[i]))) return false;
    return true;
}

// A random gathered product over X: M row offsets (below 1000), K column offsets (below 2000), B
// (K x N) and a bias per column.
struct Gathered {
    std::vector<size_t> rows, offs;
    std::vector<float> B, init;
};
Gathered random_gathered(std::mt19937& rng, int M, int N, int K) {
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    Gathered g{std::vector<size_t>(static_cast<size_t>(M)), std::vector<size_t>(static_cast<size_t>(K)),
               std::vector<float>(size_t(K) * size_t(N)), std::vector<float>(static_cast<size_t>(N))};
    for (auto& r : g.rows) r = size_t(rng() % 1000);
    for (auto& o : g.offs) o = size_t(rng() % 2000);
    for (auto& v : g.B) v = d(rng);
    for (auto& v : g.init) v = d(rng) * 3.0f;
    return g;
}

// The plain loop over a gathered A (A[m, k] = X[rows[m] + offs[k]]): M x N, from init[n] (or +0
// when null), summed in k order, then ReLU if asked.
std::vector<float> gathered_plain(const std::vector<float>& X, const std::vector<size_t>& rows,
                                  const std::vector<size_t>& offs, const std::vector<float>& B, const float* init,
                                  bool relu, int M, int N, int K) {
    std::vector<float> out(size_t(M) * size_t(N));
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            float c = init ? init[size_t(n)] : 0.0f;
            for (int k = 0; k < K; ++k) c += X[rows[size_t(m)] + offs[size_t(k)]] * B[size_t(k) * size_t(N) + size_t(n)];
            out[size_t(m) * size_t(N) + size_t(n)] = relu && c < 0.0f ? 0.0f : c;
        }
    return out;
}

}  // namespace

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

// The row group pooled 2x2 in registers: the plain loop's products (from the bias or +0, ReLU),
// then max_pool2d's rule (first tap, later ones only if greater) over pairs of products and
// columns, on every ISA. NaN and zeros sit in the data (scattered NaN inputs, a NaN weight row),
// Y is padded and must stay untouched outside the pooled block, and odd products / columns drop.
BOOST_AUTO_TEST_CASE(rows_by_offset_pooled_2x2_give_the_bits_of_the_loop_then_the_pool_on_every_isa) {
    std::mt19937 rng(19);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> pool(4096);
    for (size_t i = 0; i < pool.size(); ++i) pool[i] = i % 97 < 8 ? (i % 2 ? -0.0f : 0.0f) : d(rng) * (i % 7 == 0 ? 1e3f : 1.0f);
    // Scattered NaN inputs: some taps of a window are NaN and others not, so the taps' order shows.
    for (size_t i = 100; i < pool.size(); i += 331) pool[i] = std::numeric_limits<float>::quiet_NaN();
    struct Shape {
        int M, N, K, groups;
    };
    for (const Shape& sh : std::vector<Shape>{{16, 26, 9, 26}, {5, 11, 12, 7}, {9, 40, 5, 4}, {3, 3, 1, 2},
                                              {8, 32, 18, 3}, {13, 16, 2, 2}, {2, 1, 3, 4}})
        for (const bool relu : {false, true})
            for (const bool with_bias : {false, true}) {
                const int M = sh.M, N = sh.N, K = sh.K, G = sh.groups, out_w = N / 2, pairs = G / 2;
                const size_t b_step = size_t(N) + 3, y_step = size_t(out_w) + 1, ldy = size_t(pairs) * y_step + 2;
                std::vector<size_t> off(static_cast<size_t>(K));
                for (auto& o : off) o = size_t(rng() % (pool.size() - size_t(N) - size_t(G) * b_step));
                std::vector<float> A(size_t(M) * size_t(K)), bias(static_cast<size_t>(M));
                for (auto& v : A) v = d(rng);
                for (auto& v : bias) v = d(rng);
                if (M > 2) A[size_t(2) * size_t(K)] = std::numeric_limits<float>::quiet_NaN();  // row 2 all NaN
                std::vector<float> prod(size_t(G) * size_t(M) * size_t(N));  // [q][m][n]
                for (int q = 0; q < G; ++q)
                    for (int m = 0; m < M; ++m)
                        for (int n = 0; n < N; ++n) {
                            float c = with_bias ? bias[size_t(m)] : 0.0f;
                            for (int k = 0; k < K; ++k)
                                c += A[size_t(m) * size_t(K) + size_t(k)] * pool[size_t(q) * b_step + off[size_t(k)] + size_t(n)];
                            prod[(size_t(q) * size_t(M) + size_t(m)) * size_t(N) + size_t(n)] = relu && c < 0.0f ? 0.0f : c;
                        }
                std::vector<float> want(size_t(M) * ldy + 5, 9.0f);
                for (int p = 0; p < pairs; ++p)
                    for (int m = 0; m < M; ++m)
                        for (int j = 0; j < out_w; ++j) {
                            auto at = [&](int q, int n) { return prod[(size_t(q) * size_t(M) + size_t(m)) * size_t(N) + size_t(n)]; };
                            float best = at(2 * p, 2 * j);
                            for (const float v : {at(2 * p, 2 * j + 1), at(2 * p + 1, 2 * j), at(2 * p + 1, 2 * j + 1)})
                                if (v > best) best = v;
                            want[size_t(p) * y_step + size_t(m) * ldy + size_t(j)] = best;
                        }
                for (Isa isa : available_isas()) {
                    std::vector<float> y(want.size(), 9.0f);
                    OffsetsGemm o;
                    o.groups = G;
                    o.b_group_step = b_step;
                    o.row_init = with_bias ? bias.data() : nullptr;
                    o.relu = relu;
                    gemm_f32_offsets_max_pool2(A.data(), size_t(K), pool.data(), off.data(), y.data(), ldy, y_step, M, N,
                                               K, o, isa);
                    BOOST_TEST(same_floats(y, want),
                               isa_name(isa) << " " << G << " x " << M << "x" << N << "x" << K << (relu ? " relu" : "")
                                             << (with_bias ? " bias" : "") << " (padding included)");
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
            const auto [rows, offs, B, init] = random_gathered(rng, M, N, K);
            const size_t ldc = size_t(N) + 1;
            const std::vector<float> dense = gathered_plain(X, rows, offs, B, init.data(), relu, M, N, K);
            std::vector<float> plain(size_t(M) * ldc, 7.0f);
            for (int m = 0; m < M; ++m) std::copy_n(dense.data() + size_t(m) * size_t(N), N, plain.data() + size_t(m) * ldc);
            for (Isa isa : available_isas()) {
                std::vector<float> c(size_t(M) * ldc, 7.0f);
                gemm_f32_gather_a(X.data(), rows.data(), offs.data(), B.data(), size_t(N), c.data(), ldc, M, N, K,
                                  init.data(), relu, isa);
                BOOST_TEST(std::memcmp(c.data(), plain.data(), c.size() * sizeof(float)) == 0,
                           isa_name(isa) << " " << M << "x" << N << "x" << K << (relu ? " relu" : "") << " (padding included)");
            }
        }
}

// The gathered product pooled over rows in fours (a convolution's pixels listed window by window):
// the plain loop's rows (from the bias or +0, ReLU), then max_pool2d's rule over each four in
// order, on every ISA. Scattered NaN inputs make the taps' order show; C is padded and must keep
// its other values. M a multiple of 4 but not of the 8-row tile, and M = 4 alone.
BOOST_AUTO_TEST_CASE(gathered_a_pooled_over_rows_in_fours_gives_the_bits_of_the_loop_then_the_pool_on_every_isa) {
    std::mt19937 rng(23);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> X(3000);
    for (size_t i = 0; i < X.size(); ++i) X[i] = d(rng) * (i % 5 == 0 ? 1e3f : 1.0f);
    for (size_t i = 7; i < X.size(); i += 113) X[i] = std::numeric_limits<float>::quiet_NaN();
    for (const auto& [M, N, K] : std::vector<std::array<int, 3>>{{100, 32, 144}, {12, 16, 9}, {4, 40, 33}, {20, 5, 2}})
        for (const bool relu : {false, true})
            for (const bool with_bias : {false, true}) {
                const auto [rows, offs, B, init] = random_gathered(rng, M, N, K);
                const std::vector<float> prod =
                    gathered_plain(X, rows, offs, B, with_bias ? init.data() : nullptr, relu, M, N, K);
                const size_t ldc = size_t(N) + 1;
                std::vector<float> want(size_t(M / 4) * ldc, 7.0f);
                for (int w = 0; w < M / 4; ++w)
                    for (int n = 0; n < N; ++n) {
                        float best = prod[size_t(4 * w) * size_t(N) + size_t(n)];
                        for (int j = 1; j < 4; ++j) {
                            const float v = prod[size_t(4 * w + j) * size_t(N) + size_t(n)];
                            if (v > best) best = v;
                        }
                        want[size_t(w) * ldc + size_t(n)] = best;
                    }
                for (Isa isa : available_isas()) {
                    std::vector<float> c(want.size(), 7.0f);
                    gemm_f32_gather_a_max_pool4(X.data(), rows.data(), offs.data(), B.data(), size_t(N), c.data(), ldc, M,
                                                N, K, with_bias ? init.data() : nullptr, relu, isa);
                    BOOST_TEST(same_floats(c, want),
                               isa_name(isa) << " " << M << "x" << N << "x" << K << (relu ? " relu" : "")
                                             << (with_bias ? " bias" : "") << " (padding included)");
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
    const size_t row = 0;
    BOOST_TEST(message([&] { gemm_f32_gather_a_max_pool4(&a, &row, &row, &b, 1, &c, 1, 3, 1, 1); }).find("multiple of 4") !=
               std::string::npos);
    // The pooled row group names itself, and a negative N is refused even though N / 2 rounds to 0.
    BOOST_TEST(message([&] { gemm_f32_offsets_max_pool2(&a, 1, &b, &row, &c, 1, 1, 1, -1, 1, {}); })
                   .find("gemm_f32_offsets_max_pool2: negative size") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
