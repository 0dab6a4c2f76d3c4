// Grouped low-bit weights and llama.cpp's Q8_0 / Q4_0 blocks (core/quant/blocks).
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include <boost/test/unit_test.hpp>

#include "quant/blocks.hpp"
#include "quant/half.hpp"
#include "test_support.hpp"

using namespace stacklab::quant;

namespace {

using stacklab::test::contains;
using stacklab::test::Digest;
using stacklab::test::error_of;
using stacklab::test::Rng;

// A weight matrix whose groups have very different magnitudes (as real LLM rows do), a few
// all-zero groups and a few constant groups.
std::vector<float> weights(Rng& rng, size_t rows, size_t cols) {
    std::vector<float> w(rows * cols);
    for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) {
            const size_t band = (r * 7 + c / 32) % 6;
            const float mag = band == 0 ? 0.0f : band == 1 ? 1e-3f : band == 2 ? 0.05f : band == 3 ? 1.0f : band == 4 ? 30.0f : 0.0f;
            w[r * cols + c] = band == 5 ? -0.75f : rng.uniform(-mag, mag) + (band == 3 ? 0.4f : 0.0f);
        }
    return w;
}

// The two 32-weight blocks whose ggml bytes are known (see q8_0_and_q4_0_bytes_equal_ggml).
std::vector<float> ggml_input() {
    std::vector<float> x = {0.12f, -0.5f, 1.75f, -2.0f, 0.33f, 0.0f, -0.01f, 0.9f, 1.1f,  -1.3f, 0.05f,
                            0.6f,  -0.75f, 1.9f, -1.95f, 0.25f, -0.4f, 0.8f, -1.6f, 1.2f, 0.45f, -0.05f,
                            0.7f,  -0.9f, 1.5f, -1.25f, 0.15f, 0.3f, -0.2f, 1.0f,  -0.65f, 0.55f};
    for (int i = 0; i < 32; ++i) x.push_back(static_cast<float>(i - 10) * 0.1875f);  // exact in float
    return x;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quant_blocks)

// ---------------------------------------------------------------------------- bit packing

BOOST_AUTO_TEST_CASE(pack_bits_writes_a_little_endian_bit_stream) {
    // 3-bit codes 1,2,3,4,5,6,7,0,5 -> bits 0-2 = 1, 3-5 = 2, 6-8 = 3 (straddling bytes 0 and 1), ...
    const std::vector<uint8_t> codes = {1, 2, 3, 4, 5, 6, 7, 0, 5};
    std::vector<uint8_t> packed(packed_row_bytes(3, codes.size()), 0xff);
    BOOST_TEST(packed.size() == 4u);  // 27 bits
    pack_bits(codes.data(), codes.size(), 3, packed.data());
    BOOST_TEST(packed == (std::vector<uint8_t>{0xd1, 0x58, 0x1f, 0x05}), boost::test_tools::per_element());
    // 4-bit: low nibble first. 2-bit: four codes per byte from the least significant bits up.
    const std::vector<uint8_t> c4 = {0x1, 0x2, 0xf}, c2 = {3, 0, 1, 2, 1};
    std::vector<uint8_t> p4(2), p2(2);
    pack_bits(c4.data(), c4.size(), 4, p4.data());
    pack_bits(c2.data(), c2.size(), 2, p2.data());
    BOOST_TEST(p4 == (std::vector<uint8_t>{0x21, 0x0f}), boost::test_tools::per_element());
    BOOST_TEST(p2 == (std::vector<uint8_t>{0x93, 0x01}), boost::test_tools::per_element());
    const std::vector<uint8_t> too_big = {8};
    std::vector<uint8_t> out(1);
    BOOST_TEST(contains(error_of([&] { pack_bits(too_big.data(), 1, 3, out.data()); }), "codes[0]"));
}

BOOST_AUTO_TEST_CASE(pack_and_unpack_round_trip_for_every_width_and_odd_lengths) {
    Rng rng(5);
    for (int bits = 2; bits <= 8; ++bits)
        for (size_t n : {1u, 2u, 7u, 31u, 33u, 63u, 100u, 129u}) {
            std::vector<uint8_t> codes(n), back(n);
            for (auto& c : codes) c = static_cast<uint8_t>(rng.bits() & ((1u << bits) - 1u));
            std::vector<uint8_t> packed(packed_row_bytes(bits, n));
            BOOST_TEST_REQUIRE(packed.size() == (n * static_cast<size_t>(bits) + 7) / 8);
            pack_bits(codes.data(), n, bits, packed.data());
            unpack_bits(packed.data(), n, bits, back.data());
            BOOST_TEST_REQUIRE(back == codes, "bits " << bits << " n " << n);
            // The unused tail bits of the last byte stay zero.
            const size_t used = n * static_cast<size_t>(bits) % 8;
            if (used) BOOST_TEST_REQUIRE((packed.back() >> used) == 0, "bits " << bits << " n " << n);
        }
}

// ------------------------------------------------------------------------- grouped formats

BOOST_AUTO_TEST_CASE(grouped_format_rejects_bad_bits_and_group_size) {
    std::vector<float> w(64, 1.0f);
    BOOST_TEST(contains(error_of([&] { quantize_grouped(w.data(), 1, 64, GroupedFormat{1, 32, false}); }), "bits = 1"));
    BOOST_TEST(contains(error_of([&] { quantize_grouped(w.data(), 1, 64, GroupedFormat{9, 32, false}); }), "bits = 9"));
    BOOST_TEST(contains(error_of([&] { quantize_grouped(w.data(), 1, 64, GroupedFormat{4, 16, false}); }), "group_size = 16"));
    BOOST_TEST(contains(error_of([&] { quantize_grouped(w.data(), 1, 64, GroupedFormat{4, 256, true}); }), "group_size = 256"));
    w[40] = NAN;
    BOOST_TEST(contains(error_of([&] { quantize_grouped(w.data(), 1, 64, GroupedFormat{4, 32, false}); }), "w[40]"));
    std::vector<float> huge(32, 1e9f);
    BOOST_TEST(contains(error_of([&] { quantize_grouped(huge.data(), 1, 32, GroupedFormat{4, 32, false}); }), "fp16"));
    for (int bits = 2; bits <= 8; ++bits)
        for (int gs : {32, 64, 128}) BOOST_CHECK_NO_THROW(validate(GroupedFormat{bits, gs, bits % 2 == 0}));
}

BOOST_AUTO_TEST_CASE(grouped_symmetric_4bit_block_has_the_hand_computed_layout) {
    // w[j] = ((j % 15) - 7) / 2: amax 3.5, scale 3.5 / 7 = 0.5 (fp16 0x3800), q = (j % 15) - 7,
    // code = q + 8 = (j % 15) + 1, two codes per byte, the first in the low nibble.
    std::vector<float> w(32);
    for (int j = 0; j < 32; ++j) w[j] = static_cast<float>((j % 15) - 7) * 0.5f;
    const GroupedWeights g = quantize_grouped(w.data(), 1, 32, GroupedFormat{4, 32, false});
    BOOST_TEST(g.scales == (std::vector<uint16_t>{0x3800}), boost::test_tools::per_element());
    BOOST_TEST(g.mins.empty());
    const std::vector<uint8_t> want = {0x21, 0x43, 0x65, 0x87, 0xa9, 0xcb, 0xed, 0x1f,
                                       0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x21};
    BOOST_TEST(g.data == want, boost::test_tools::per_element());
    std::vector<float> back(32);
    dequantize_grouped(g, back.data());
    BOOST_TEST(back == w, boost::test_tools::per_element());  // every value is on the grid
}

BOOST_AUTO_TEST_CASE(grouped_asymmetric_2bit_block_has_the_hand_computed_layout) {
    // w cycles 1.0, 1.5, 2.0, 2.5: min 1 (fp16 0x3c00), scale (2.5 - 1) / 3 = 0.5 (0x3800),
    // codes 0,1,2,3 -> one byte 0b11'10'01'00 = 0xe4 per four weights.
    std::vector<float> w(32);
    for (int j = 0; j < 32; ++j) w[j] = 1.0f + 0.5f * static_cast<float>(j % 4);
    const GroupedWeights g = quantize_grouped(w.data(), 1, 32, GroupedFormat{2, 32, true});
    BOOST_TEST(g.scales == (std::vector<uint16_t>{0x3800}), boost::test_tools::per_element());
    BOOST_TEST(g.mins == (std::vector<uint16_t>{0x3c00}), boost::test_tools::per_element());
    BOOST_TEST(g.data == std::vector<uint8_t>(8, 0xe4), boost::test_tools::per_element());
    std::vector<float> back(32);
    dequantize_grouped(g, back.data());
    BOOST_TEST(back == w, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(grouped_round_trip_error_is_at_most_half_a_scale) {
    Rng rng(17);
    for (int bits = 2; bits <= 8; ++bits)
        for (int gs : {32, 64, 128})
            for (bool asymmetric : {false, true})
                for (size_t cols : {size_t(gs), size_t(131), size_t(300)}) {  // whole and partial last groups
                    BOOST_TEST_CONTEXT("bits " << bits << " group " << gs << " asym " << asymmetric << " cols " << cols) {
                        const size_t rows = 5;
                        const GroupedFormat f{bits, gs, asymmetric};
                        const std::vector<float> w = weights(rng, rows, cols);
                        const GroupedWeights g = quantize_grouped(w.data(), rows, cols, f);
                        const size_t groups = (cols + static_cast<size_t>(gs) - 1) / static_cast<size_t>(gs);
                        BOOST_TEST_REQUIRE(g.scales.size() == rows * groups);
                        BOOST_TEST_REQUIRE(g.mins.size() == (asymmetric ? rows * groups : 0u));
                        BOOST_TEST_REQUIRE(g.data.size() == rows * ((cols * static_cast<size_t>(bits) + 7) / 8));
                        std::vector<float> back(rows * cols);
                        dequantize_grouped(g, back.data());
                        for (size_t r = 0; r < rows; ++r)
                            for (size_t c = 0; c < cols; ++c) {
                                const float scale = half_to_float(g.scales[r * groups + c / static_cast<size_t>(gs)]);
                                const float err = std::fabs(w[r * cols + c] - back[r * cols + c]);
                                // Half a step, plus a few float ulps: the division w / scale and, when
                                // asymmetric, the final add of the minimum round once each.
                                const float slack = std::ldexp(std::fabs(w[r * cols + c]) + std::fabs(back[r * cols + c]), -22);
                                BOOST_TEST_REQUIRE(err <= 0.5f * scale + slack,
                                                   "w[" << r << "][" << c << "] = " << w[r * cols + c] << " -> " << back[r * cols + c]
                                                        << ", scale " << scale);
                            }
                    }
                }
}

BOOST_AUTO_TEST_CASE(dot_of_a_packed_row_matches_the_dequantized_dot) {
    Rng rng(23);
    const size_t rows = 4, cols = 200;
    const std::vector<float> w = weights(rng, rows, cols);
    std::vector<float> x(cols);
    for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
    for (int bits : {2, 3, 4, 5, 6, 8})
        for (bool asymmetric : {false, true}) {
            const GroupedWeights g = quantize_grouped(w.data(), rows, cols, GroupedFormat{bits, 64, asymmetric});
            std::vector<float> row(cols);
            for (size_t r = 0; r < rows; ++r) {
                dequantize_grouped_row(g, r, row.data());
                double want = 0.0, magnitude = 0.0;
                for (size_t c = 0; c < cols; ++c) {
                    want += static_cast<double>(row[c]) * x[c];
                    magnitude += std::fabs(static_cast<double>(row[c]) * x[c]);
                }
                const double got = dot_grouped_row(g, r, x.data());
                BOOST_TEST_REQUIRE(std::fabs(got - want) <= 1e-5 * magnitude + 1e-30,
                                   "bits " << bits << " asym " << asymmetric << " row " << r << ": " << got << " vs " << want);
            }
        }
    const GroupedWeights g = quantize_grouped(w.data(), rows, cols, GroupedFormat{4, 32, false});
    BOOST_TEST(contains(error_of([&] { dot_grouped_row(g, 4, x.data()); }), "row 4"));
}

BOOST_AUTO_TEST_CASE(six_bit_format_is_grouped_k6) {
    BOOST_TEST(kSixBitGrouped.bits == 6);
    BOOST_TEST(kSixBitGrouped.group_size == 32);
    Rng rng(31);
    std::vector<float> w(96);
    for (auto& v : w) v = rng.uniform(-0.2f, 0.2f);
    const GroupedWeights g = quantize_grouped(w.data(), 1, 96, kSixBitGrouped);
    BOOST_TEST(g.data.size() == 72u);  // 96 * 6 / 8
    BOOST_TEST(g.scales.size() == 3u);
    std::vector<float> back(96);
    dequantize_grouped(g, back.data());
    for (size_t i = 0; i < 96; ++i)
        BOOST_TEST_REQUIRE(std::fabs(w[i] - back[i]) <= 0.5f * half_to_float(g.scales[i / 32]));
}

// ------------------------------------------------------------------------------ ggml blocks

BOOST_AUTO_TEST_CASE(q8_0_and_q4_0_bytes_equal_ggml_reference) {
    // Expected bytes computed by a python3 transcription of ggml-quants.c quantize_row_q8_0_ref and
    // quantize_row_q4_0_ref (float32 arithmetic emulated exactly with struct, fp16 via struct 'e'),
    // run on this input; the first bytes were also checked by hand: Q8_0 block 0 has d = 2 / 127
    // (fp16 0x2408), 0.12 * 63.5 = 7.62 -> 8, -0.5 * 63.5 = -31.75 -> -32 (0xe0); Q4_0 block 0 has
    // d = -2 / -8 = 0.25 (0x3400), byte 0 = (trunc(0.48 + 8.5) = 8) | (trunc(-1.6 + 8.5) = 6) << 4,
    // and x[13] = 1.9 gives trunc(16.1) = 16, clamped to 15.
    const std::vector<float> x = ggml_input();
    const std::vector<uint8_t> q8 = {
        0x08, 0x24, 0x08, 0xe0, 0x6f, 0x81, 0x15, 0x00, 0xff, 0x39, 0x46, 0xad, 0x03, 0x26, 0xd0, 0x79, 0x84,
        0x10, 0xe7, 0x33, 0x9a, 0x4c, 0x1d, 0xfd, 0x2c, 0xc7, 0x5f, 0xb1, 0x0a, 0x13, 0xf3, 0x40, 0xd7, 0x23,
        0xf0, 0x27, 0xc4, 0xca, 0xd0, 0xd6, 0xdc, 0xe2, 0xe8, 0xee, 0xf4, 0xfa, 0x00, 0x06, 0x0c, 0x12, 0x18,
        0x1e, 0x24, 0x2a, 0x30, 0x36, 0x3c, 0x43, 0x49, 0x4f, 0x55, 0x5b, 0x61, 0x67, 0x6d, 0x73, 0x79, 0x7f};
    const std::vector<uint8_t> q4 = {0x00, 0x34, 0x68, 0xb6, 0x2f, 0xd0, 0xa9, 0x88, 0xb8, 0x4c, 0xec, 0x33,
                                     0x98, 0x9a, 0x75, 0xcf, 0x50, 0xa9, 0xe0, 0xb7, 0x6c, 0x5b, 0x5b, 0x5b,
                                     0x4a, 0x4a, 0x3a, 0x39, 0x39, 0x28, 0x28, 0x28, 0x17, 0x17, 0x06, 0x06};
    const auto b8 = quantize_q8_0(x.data(), x.size());
    const auto b4 = quantize_q4_0(x.data(), x.size());
    BOOST_TEST(to_bytes(b8) == q8, boost::test_tools::per_element());
    BOOST_TEST(to_bytes(b4) == q4, boost::test_tools::per_element());
    // The structs have ggml's in-memory layout too (little-endian host).
    std::vector<uint8_t> raw8(b8.size() * sizeof(BlockQ8_0)), raw4(b4.size() * sizeof(BlockQ4_0));
    std::memcpy(raw8.data(), b8.data(), raw8.size());
    std::memcpy(raw4.data(), b4.data(), raw4.size());
    BOOST_TEST(raw8 == q8, boost::test_tools::per_element());
    BOOST_TEST(raw4 == q4, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(q4_0_keeps_the_first_16_weights_in_low_nibbles) {
    // Weight j = j - 8 for j < 16 and (j - 16) - 8 for j >= 16, with one weight of -8: d = 1, q = w + 8.
    std::vector<float> x(32);
    for (int j = 0; j < 32; ++j) x[j] = static_cast<float>((j % 16) - 8);
    const auto b = quantize_q4_0(x.data(), 32);
    BOOST_TEST(b[0].d == 0x3c00);  // -8 / -8 = 1
    for (int j = 0; j < 16; ++j) BOOST_TEST(b[0].qs[j] == static_cast<uint8_t>(j | (j << 4)), j);
    std::vector<float> back(32);
    dequantize_q4_0(b.data(), 32, back.data());
    BOOST_TEST(back == x, boost::test_tools::per_element());
    // An all-zero block: max stays 0.0f, so d = 0.0f / -8 = -0.0f, stored as fp16 0x8000 just as
    // ggml writes it; id = 0 and every q = trunc(8.5) = 8 (real 0).
    const std::vector<float> zeros(32, 0.0f);
    const auto z = quantize_q4_0(zeros.data(), 32);
    BOOST_TEST(z[0].d == 0x8000);
    for (uint8_t q : z[0].qs) BOOST_TEST(q == 0x88);
    const auto z8 = quantize_q8_0(zeros.data(), 32);
    for (int8_t q : z8[0].qs) BOOST_TEST(q == 0);
}

BOOST_AUTO_TEST_CASE(ggml_blocks_round_trip_and_dot_within_their_step) {
    Rng rng(3);
    std::vector<float> x(256), v(256);
    for (auto& e : x) e = rng.uniform(-4.0f, 4.0f);
    for (auto& e : v) e = rng.uniform(-1.0f, 1.0f);
    const auto b8 = quantize_q8_0(x.data(), x.size());
    const auto b4 = quantize_q4_0(x.data(), x.size());
    std::vector<float> d8(256), d4(256);
    dequantize_q8_0(b8.data(), 256, d8.data());
    dequantize_q4_0(b4.data(), 256, d4.data());
    for (size_t i = 0; i < 256; ++i) {
        const float s8 = half_to_float(b8[i / 32].d), s4 = std::fabs(half_to_float(b4[i / 32].d));
        // ggml rounds with id = 1 / d but dequantizes with fp16(d): |q| * |d - fp16(d)| adds up to
        // 127 * 2^-11 of a step (Q8_0) or 8 * 2^-11 (Q4_0) to the rounding error.
        BOOST_TEST_REQUIRE(std::fabs(x[i] - d8[i]) <= (0.5f + 127.0f / 2048.0f) * s8 * 1.01f, i);
        // Q4_0 clips the side opposite the extreme to 7 d: up to one step there, half a step elsewhere.
        BOOST_TEST_REQUIRE(std::fabs(x[i] - d4[i]) <= 1.0f * s4 * 1.01f, i);
    }
    double w8 = 0, w4 = 0, m8 = 0, m4 = 0;
    for (size_t i = 0; i < 256; ++i) {
        w8 += static_cast<double>(d8[i]) * v[i];
        w4 += static_cast<double>(d4[i]) * v[i];
        m8 += std::fabs(static_cast<double>(d8[i]) * v[i]);
        m4 += std::fabs(static_cast<double>(d4[i]) * v[i]);
    }
    BOOST_TEST(std::fabs(dot_q8_0(b8.data(), v.data(), 256) - w8) <= 1e-5 * m8);
    BOOST_TEST(std::fabs(dot_q4_0(b4.data(), v.data(), 256) - w4) <= 1e-5 * m4);
}

BOOST_AUTO_TEST_CASE(ggml_blocks_reject_partial_blocks_and_non_finite_input) {
    std::vector<float> x(48, 1.0f);
    BOOST_TEST(contains(error_of([&] { quantize_q8_0(x.data(), 48); }), "n = 48"));
    BOOST_TEST(contains(error_of([&] { quantize_q4_0(x.data(), 33); }), "n = 33"));
    x[5] = INFINITY;
    BOOST_TEST(contains(error_of([&] { quantize_q8_0(x.data(), 32); }), "x[5]"));
}

// ------------------------------------------------------------------------------ determinism

BOOST_AUTO_TEST_CASE(results_are_bit_identical_on_every_target) {
    // The constant is what the native build computes; the wasm build must produce the same bytes.
    Digest d;
    Rng rng(77);
    const size_t rows = 6, cols = 300;
    const std::vector<float> w = weights(rng, rows, cols);
    std::vector<float> x(cols);
    for (auto& v : x) v = rng.uniform(-2.0f, 2.0f);
    for (int bits = 2; bits <= 8; ++bits)
        for (int gs : {32, 64, 128})
            for (bool asymmetric : {false, true}) {
                const GroupedWeights g = quantize_grouped(w.data(), rows, cols, GroupedFormat{bits, gs, asymmetric});
                d.add(g.scales);
                d.add(g.mins);
                d.add(g.data);
                for (size_t r = 0; r < rows; ++r) d.add(dot_grouped_row(g, r, x.data()));
                std::vector<float> back(rows * cols);
                dequantize_grouped(g, back.data());
                d.add(back);
            }
    std::vector<float> big(1024);
    for (auto& v : big) v = rng.uniform(-3.0f, 3.0f);
    const auto b8 = quantize_q8_0(big.data(), big.size());
    const auto b4 = quantize_q4_0(big.data(), big.size());
    d.add(to_bytes(b8));
    d.add(to_bytes(b4));
    d.add(dot_q8_0(b8.data(), big.data(), big.size()));
    d.add(dot_q4_0(b4.data(), big.data(), big.size()));
    BOOST_TEST_MESSAGE("quant_blocks digest 0x" << std::hex << d.h);
    BOOST_TEST(d.h == 0xa90601701d33e50cull, "digest 0x" << std::hex << d.h);
}

BOOST_AUTO_TEST_SUITE_END()
