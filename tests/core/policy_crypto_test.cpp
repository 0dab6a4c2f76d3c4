// core/policy crypto and canonical JSON: the published test vectors of RFC 8032 (Ed25519),
// FIPS 180-2 (SHA-256) and RFC 8785 (JCS), identical natively and in wasm.
#include <cstring>
#include <limits>

#include <boost/test/unit_test.hpp>

#include "policy/crypto.hpp"
#include "policy/jcs.hpp"

using namespace stacklab::policy;
using nlohmann::json;

namespace {

struct Rfc8032Vector {
    const char* name;
    const char* secret;
    const char* public_key;
    const char* message;
    const char* signature;
};

// RFC 8032 §7.1, TEST 1, TEST 2, TEST 3 (the secret key is the 32-byte seed).
const Rfc8032Vector kRfc8032[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

std::string bytes_of(const char* hex) {
    const Bytes b = from_hex(hex);
    return std::string(b.begin(), b.end());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_crypto)

BOOST_AUTO_TEST_CASE(sha256_matches_fips_180_2_examples) {
    // FIPS 180-2 Appendix B.1 ("abc") and B.2 (the 448-bit message); the empty string's digest.
    BOOST_TEST(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    BOOST_TEST(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

BOOST_AUTO_TEST_CASE(ed25519_reproduces_rfc_8032_tests_1_to_3) {
    for (const auto& v : kRfc8032) {
        BOOST_TEST_CONTEXT(v.name) {
            const Ed25519KeyPair k = ed25519_from_seed(from_hex_fixed<32>(v.secret, "seed"));
            BOOST_TEST(to_hex(k.public_key) == v.public_key);
            const std::string msg = bytes_of(v.message);
            const Ed25519Signature sig = ed25519_sign(k, msg);
            BOOST_TEST(to_hex(sig) == v.signature);
            BOOST_TEST(ed25519_verify(k.public_key, msg, sig));
        }
    }
}

BOOST_AUTO_TEST_CASE(ed25519_rejects_any_flipped_bit_of_signature_message_or_key) {
    const auto& v = kRfc8032[2];
    const Ed25519PublicKey pk = from_hex_fixed<32>(v.public_key, "public key");
    const Ed25519Signature sig = from_hex_fixed<64>(v.signature, "signature");
    const std::string msg = bytes_of(v.message);
    for (std::size_t i = 0; i < sig.size() * 8; ++i) {
        Ed25519Signature bad = sig;
        bad[i / 8] ^= std::uint8_t(1u << (i % 8));
        BOOST_TEST(!ed25519_verify(pk, msg, bad), "signature bit " << i);
    }
    for (std::size_t i = 0; i < msg.size() * 8; ++i) {
        std::string bad = msg;
        bad[i / 8] = char(bad[i / 8] ^ (1 << (i % 8)));
        BOOST_TEST(!ed25519_verify(pk, bad, sig), "message bit " << i);
    }
    BOOST_TEST(!ed25519_verify(pk, msg + std::string(1, '\0'), sig));
    for (std::size_t i = 0; i < pk.size() * 8; ++i) {
        Ed25519PublicKey bad = pk;
        bad[i / 8] ^= std::uint8_t(1u << (i % 8));
        BOOST_TEST(!ed25519_verify(bad, msg, sig), "public key bit " << i);
    }
}

BOOST_AUTO_TEST_CASE(generated_keys_differ_and_sign_verifiably) {
    const Ed25519KeyPair a = ed25519_generate(), b = ed25519_generate();
    BOOST_TEST(to_hex(a.seed) != to_hex(b.seed));
    const Ed25519Signature s = ed25519_sign(a, "certificate");
    BOOST_TEST(ed25519_verify(a.public_key, "certificate", s));
    BOOST_TEST(!ed25519_verify(b.public_key, "certificate", s));
    BOOST_TEST(key_id(a.public_key).rfind("ed25519:", 0) == 0);
    BOOST_TEST(key_id(a.public_key).size() == 8u + 16u);
}

BOOST_AUTO_TEST_CASE(hex_parsing_names_the_problem) {
    BOOST_TEST(to_hex(from_hex("00FFa0")) == "00ffa0");
    BOOST_CHECK_THROW(from_hex("abc", "x"), std::invalid_argument);
    BOOST_CHECK_THROW(from_hex("zz", "x"), std::invalid_argument);
    try {
        from_hex_fixed<32>("00", "public key");
        BOOST_FAIL("no throw");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("public key: expected 32 bytes") != std::string::npos);
    }
}

// RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript / JCS serialization.
BOOST_AUTO_TEST_CASE(jcs_numbers_match_rfc_8785_appendix_b) {
    const std::pair<const char*, const char*> cases[] = {
        {"0000000000000000", "0"},
        {"8000000000000000", "0"},
        {"0000000000000001", "5e-324"},
        {"8000000000000001", "-5e-324"},
        {"7fefffffffffffff", "1.7976931348623157e+308"},
        {"ffefffffffffffff", "-1.7976931348623157e+308"},
        {"4340000000000000", "9007199254740992"},
        {"c340000000000000", "-9007199254740992"},
        {"4430000000000000", "295147905179352830000"},
        {"44b52d02c7e14af5", "9.999999999999997e+22"},
        {"44b52d02c7e14af6", "1e+23"},
        {"44b52d02c7e14af7", "1.0000000000000001e+23"},
        {"444b1ae4d6e2ef4e", "999999999999999700000"},
        {"444b1ae4d6e2ef4f", "999999999999999900000"},
        {"444b1ae4d6e2ef50", "1e+21"},
        {"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
        {"3eb0c6f7a0b5ed8d", "0.000001"},
        {"41b3de4355555553", "333333333.3333332"},
        {"41b3de4355555554", "333333333.33333325"},
        {"41b3de4355555555", "333333333.3333333"},
        {"41b3de4355555556", "333333333.3333334"},
        {"41b3de4355555557", "333333333.33333343"},
        {"becbf647612f3696", "-0.0000033333333333333333"},
        {"43143ff3c1cb0959", "1424953923781206.2"},
    };
    for (const auto& c : cases) {
        const Bytes b = from_hex(c.first);
        std::uint64_t bits = 0;
        for (std::uint8_t x : b) bits = (bits << 8) | x;
        double v;
        std::memcpy(&v, &bits, sizeof v);
        BOOST_TEST(format_number(v) == c.second, c.first);
    }
    BOOST_CHECK_THROW(format_number(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
    BOOST_CHECK_THROW(format_number(std::numeric_limits<double>::infinity()), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(jcs_reproduces_rfc_8785_section_3_2_2_example) {
    const std::string input = R"({
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
})";
    const std::string expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
                                 "\"string\":\"\xE2\x82\xAC$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    BOOST_TEST(canonicalize(json::parse(input)) == expected);
}

BOOST_AUTO_TEST_CASE(jcs_sorts_names_by_utf16_code_units_as_in_rfc_8785_section_3_2_3) {
    const std::string input = R"({
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
})";
    const json j = json::parse(canonicalize(json::parse(input)));
    // Re-read the canonical text in member order (nlohmann's object would re-sort by bytes).
    const std::string c = canonicalize(json::parse(input));
    const char* order[] = {"Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis", "Euro Sign",
                           "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh"};
    std::size_t pos = 0;
    for (const char* value : order) {
        const std::size_t at = c.find(value);
        BOOST_TEST_REQUIRE(at != std::string::npos, value);
        BOOST_TEST(at > pos, value << " is out of order in " << c);
        pos = at;
    }
    BOOST_TEST(j.size() == 7u);
}

BOOST_AUTO_TEST_CASE(jcs_is_idempotent_and_rejects_what_json_cannot_hold) {
    const json j = {{"b", 1}, {"a", {1.5, "x", nullptr}}, {"c", {{"z", true}, {"y", -0.0}}}};
    const std::string c = canonicalize(j);
    BOOST_TEST(c == "{\"a\":[1.5,\"x\",null],\"b\":1,\"c\":{\"y\":0,\"z\":true}}");
    BOOST_TEST(canonicalize(json::parse(c)) == c);
    BOOST_CHECK_THROW(canonicalize(json(9007199254740993ull)), std::invalid_argument);
    BOOST_CHECK_THROW(canonicalize(json(std::string("\xff"))), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(strict_parse_rejects_duplicate_names_and_malformed_text) {
    BOOST_CHECK_NO_THROW(parse_json_strict(R"({"a":{"a":1},"b":2})", "doc"));
    try {
        parse_json_strict(R"({"a":1,"b":{"c":1,"c":2}})", "cert.json");
        BOOST_FAIL("no throw");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) == "cert.json: duplicate member name \"c\"");
    }
    BOOST_CHECK_THROW(parse_json_strict("{\"a\":", "doc"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
