// Policy packs, evaluation semantics and certificates: the shipped packs load, the example
// deployments decide as documented, and verify rejects every single-byte change of a certificate.
#include <boost/test/unit_test.hpp>

#include "policy/certificate.hpp"
#include "policy/jcs.hpp"
#include "policy/pack.hpp"

using namespace stacklab::policy;
using nlohmann::json;

namespace {

Ed25519KeyPair test_key() { return ed25519_from_seed(from_hex_fixed<32>(std::string(64, 'a'), "seed")); }

std::vector<PolicyPack> all_packs() {
    std::vector<PolicyPack> out;
    for (const auto& f : bundled_pack_files()) out.push_back(parse_pack(f.bytes, f.name));
    return out;
}

// A minimal manifest; tests change fields of it.
json manifest(const std::string& chip_a, const std::string& chip_b, double budget_ms) {
    return {{"format", "stacklab-deployment/1"}, {"name", "test"}, {"requested_tier", 2},
            {"policies", {"licensing-tiers", "agent-certification"}},
            {"model", {{"file", "m"}, {"sha256", std::string(64, '1')}}}, {"quant", "w8a8"},
            {"chips", {{{"id", chip_a}, {"firmware", "1"}}, {{"id", chip_b}, {"firmware", "2"}}}},
            {"cell", {{"scenario", "s"}, {"action_latency_budget_ms", budget_ms}}},
            {"workload", {{"llm", "qwen2.5-7b"}, {"batch", 1}, {"prompt", 256}, {"output", 16}}},
            {"data", {{{"name", "d"}, {"sha256", std::string(64, '2')}}}},
            {"evidence", json::object()}};
}

PolicyPack pack(const std::string& rules_json) {
    return parse_pack(R"({"format":"stacklab-policy/1","id":"t","version":"1","title":"t","label":"t","sources":[],"rules":)" +
                          rules_json + "}",
                      "t.json");
}

}  // namespace

namespace stacklab::policy {
std::ostream& operator<<(std::ostream& os, Outcome o) { return os << outcome_name(o); }
}  // namespace stacklab::policy

BOOST_AUTO_TEST_SUITE(policy_certificate)

BOOST_AUTO_TEST_CASE(every_shipped_pack_loads_and_names_its_rules) {
    const auto packs = all_packs();
    std::vector<std::string> ids;
    for (const auto& p : packs) ids.push_back(p.id);
    for (const char* id : {"licensing-tiers", "chip-model-convergence", "agent-certification", "real-world-anchors"})
        BOOST_TEST((std::find(ids.begin(), ids.end(), id) != ids.end()), id);
    BOOST_TEST(find_pack("licensing-tiers").label.find("TEACHING MODEL") != std::string::npos);
    BOOST_CHECK_THROW(find_pack("nope"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(pack_parser_rejects_unknown_operators_fields_and_severities) {
    BOOST_CHECK_THROW(pack(R"([{"id":"a","clause":"c","evidence":[],"predicate":{"exec":"rm"},"severity":"mandatory"}])"),
                      std::invalid_argument);
    BOOST_CHECK_THROW(pack(R"([{"id":"a","clause":"c","evidence":[],"predicate":true,"severity":"sometimes"}])"),
                      std::invalid_argument);
    BOOST_CHECK_THROW(pack(R"([{"id":"a","clause":"c","evidence":[],"predicate":true,"severity":"mandatory","x":1}])"),
                      std::invalid_argument);
    BOOST_CHECK_THROW(pack(R"([{"id":"a","clause":"c","evidence":[],"predicate":{"lt":[1]},"severity":"mandatory"}])"),
                      std::invalid_argument);
    BOOST_CHECK_THROW(pack(R"([])"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(expressions_compare_combine_and_quantify) {
    const json ev = {{"x", 3}, {"s", "b"}, {"l", {{{"v", 1}}, {{"v", 2}}}}};
    BOOST_TEST(eval_expr(json::parse(R"({"ge":[{"var":"x"},3]})"), ev) == true);
    BOOST_TEST(eval_expr(json::parse(R"({"lt":[{"var":"s"},"a"]})"), ev) == false);
    BOOST_TEST(eval_expr(json::parse(R"({"and":[true,{"not":false}]})"), ev) == true);
    BOOST_TEST(eval_expr(json::parse(R"({"all":[{"var":"l"},{"le":[{"var":"$.v"},{"var":"x"}]}]})"), ev) == true);
    BOOST_TEST(eval_expr(json::parse(R"({"any":[{"var":"l"},{"eq":[{"var":"$.v"},5]}]})"), ev) == false);
    BOOST_TEST(eval_expr(json::parse(R"({"in":["b",["a","b"]]})"), ev) == true);
    BOOST_TEST(eval_expr(json::parse(R"({"len":{"var":"l"}})"), ev) == 2);
    BOOST_TEST(eval_expr(json::parse(R"({"exists":"l.1.v"})"), ev) == true);
    BOOST_CHECK_THROW(eval_expr(json::parse(R"({"lt":[{"var":"s"},1]})"), ev), std::invalid_argument);
    BOOST_CHECK_THROW(eval_expr(json::parse(R"({"var":"nope"})"), ev), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_failed_mandatory_rule_cannot_be_outweighed_and_nothing_applicable_denies) {
    const PolicyPack p = pack(R"([
      {"id":"m1","clause":"c","evidence":[],"predicate":true,"severity":"mandatory"},
      {"id":"m2","clause":"c","evidence":["x"],"predicate":{"gt":[{"var":"x"},5]},"severity":"mandatory"},
      {"id":"a1","clause":"c","evidence":[],"predicate":false,"severity":"advisory"},
      {"id":"m3","clause":"c","evidence":[],"when":false,"predicate":false,"severity":"mandatory"}])");
    Decision d = evaluate({p}, json{{"x", 1}});
    BOOST_TEST(!d.pass);
    BOOST_TEST(d.deciding_rules == std::vector<std::string>{"t/m2"});
    BOOST_TEST(d.warnings == std::vector<std::string>{"t/a1"});
    BOOST_TEST(d.verdicts[1].reasons[0] == "does not hold: gt(x = 1, 5)");
    BOOST_TEST(d.verdicts[3].outcome == Outcome::not_applicable);
    d = evaluate({p}, json{{"x", 9}});
    BOOST_TEST(d.pass);
    BOOST_TEST(d.deciding_rules.size() == 2u);
    // missing evidence fails the rule (default deny), it does not skip it
    d = evaluate({p}, json::object());
    BOOST_TEST(!d.pass);
    BOOST_TEST(d.verdicts[1].reasons[0] == "missing evidence \"x\"");
    // only advisory rules: nothing can permit
    d = evaluate({pack(R"([{"id":"a","clause":"c","evidence":[],"predicate":true,"severity":"advisory"}])")}, json::object());
    BOOST_TEST(!d.pass);
}

BOOST_AUTO_TEST_CASE(chip_facts_and_latency_are_computed_and_a_slow_chip_fails_the_budget) {
    const json ok = gather_evidence(manifest("ascend-910b", "kunlun-k200", 500), false);
    BOOST_TEST(ok["computed"]["chips"]["domestic_count"] == 2);
    BOOST_TEST(ok["computed"]["latency"]["all_estimated"] == true);
    BOOST_TEST(ok["provenance"]["declared"].get<std::string>().find("not measured") != std::string::npos);
    const std::vector<PolicyPack> packs = {find_pack("licensing-tiers"), find_pack("agent-certification")};
    const json us = gather_evidence(manifest("nvidia-h100", "edge-npu-64tops", 500), false);
    BOOST_TEST(us["computed"]["chips"]["all_domestic"] == false);
    const Decision d = evaluate({find_pack("agent-certification")}, us);
    BOOST_TEST(!d.pass);
    BOOST_TEST((std::find(d.deciding_rules.begin(), d.deciding_rules.end(), "agent-certification/AG.action-latency-budget") !=
                d.deciding_rules.end()));
    // Tier 3 with a US chip fails on domestic chips.
    json m = manifest("nvidia-h100", "ascend-910b", 500);
    m["requested_tier"] = 3;
    const Decision t3 = evaluate({find_pack("licensing-tiers")}, gather_evidence(m, true));
    BOOST_TEST((std::find(t3.deciding_rules.begin(), t3.deciding_rules.end(), "licensing-tiers/T3.domestic-chips") !=
                t3.deciding_rules.end()));
}

// Found by tests/fuzz (fuzz_pack, fuzz_log): nlohmann reports a number beyond a double as
// out_of_range, not parse_error, and it escaped the parsers as a non-invalid_argument exception.
BOOST_AUTO_TEST_CASE(numbers_beyond_a_double_are_malformed_input_in_every_parser) {
    for (const char* text : {"1e999", "[-7e9639226225]", "{\"a\": 55555555E555555555555}"}) {
        try {
            parse_json_strict(text, "in.json");
            BOOST_ERROR("accepted " << text);
        } catch (const std::invalid_argument& e) {
            BOOST_TEST(std::string(e.what()).rfind("in.json: malformed JSON:", 0) == 0, e.what());
        }
    }
    json m = manifest("ascend-910b", "kunlun-k200", 500);
    std::string text = m.dump();
    text.replace(text.find("500"), 3, "5e999");
    BOOST_CHECK_THROW(parse_manifest(text, "m.json"), std::invalid_argument);
    BOOST_CHECK_THROW(pack(R"([{"id":"a","clause":"c","evidence":[],"predicate":{"lt":[1,1e400]},"severity":"mandatory"}])"),
                      std::invalid_argument);
    BOOST_TEST(!verify_certificate("{\"format\":1e999}\n", std::nullopt, "2025-07-01T00:00:00Z").ok);
}

BOOST_AUTO_TEST_CASE(utc_times_round_trip) {
    BOOST_TEST(parse_utc("1970-01-01T00:00:00Z") == 0);
    BOOST_TEST(parse_utc("2000-03-01T00:00:00Z") == 951868800);
    BOOST_TEST(format_utc(parse_utc("2024-02-29T23:59:59Z")) == "2024-02-29T23:59:59Z");
    BOOST_CHECK_THROW(parse_utc("2023-02-29T00:00:00Z"), std::invalid_argument);
    BOOST_CHECK_THROW(parse_utc("2023-01-01 00:00:00"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(certificates_are_deterministic_verify_and_reject_every_changed_byte) {
    CertifyOptions opt;
    opt.now = "2025-06-01T00:00:00Z";
    const std::string mbytes = manifest("ascend-910b", "kunlun-k200", 500).dump();
    const auto packs = std::vector<PolicyPack>{find_pack("licensing-tiers"), find_pack("agent-certification")};
    const CertifyResult a = certify(mbytes, "m.json", packs, test_key(), opt);
    const CertifyResult b = certify(mbytes, "m.json", packs, test_key(), opt);
    BOOST_TEST(a.certificate == b.certificate);
    // The declared agent evidence is empty in this manifest, so agent rules fail: a refusal.
    BOOST_TEST(!a.decision.pass);
    const std::vector<PolicyPack> tiers = {find_pack("licensing-tiers")};
    const std::string cert = certify(mbytes, "m.json", tiers, test_key(), opt).certificate;
    const VerifyResult good = verify_certificate(cert, test_key().public_key, "2025-07-01T00:00:00Z");
    BOOST_TEST_REQUIRE(good.ok, good.reason);
    BOOST_TEST(json::parse(cert)["subject"]["manifest_sha256"] == sha256_hex(mbytes));
    BOOST_TEST(verify_certificate(cert, std::nullopt, "2025-07-01T00:00:00Z").ok);
    BOOST_TEST(verify_certificate(cert, test_key().public_key, "2026-06-02T00:00:00Z").reason.rfind("validity:", 0) == 0);
    BOOST_TEST(verify_certificate(cert, test_key().public_key, "2025-05-31T00:00:00Z").reason.rfind("validity:", 0) == 0);
    const Ed25519KeyPair other = ed25519_from_seed(from_hex_fixed<32>(std::string(64, 'b'), "seed"));
    BOOST_TEST(verify_certificate(cert, other.public_key, "2025-07-01T00:00:00Z").reason.rfind("issuer:", 0) == 0);
    BOOST_TEST(verify_certificate(a.certificate, test_key().public_key, "2025-07-01T00:00:00Z").reason.rfind("status:", 0) == 0);
    std::size_t rejected = 0;
    for (std::size_t i = 0; i < cert.size(); ++i) {
        std::string bad = cert;
        bad[i] = char(bad[i] ^ 0x01);
        const VerifyResult r = verify_certificate(bad, test_key().public_key, "2025-07-01T00:00:00Z");
        if (!r.ok && !r.reason.empty()) ++rejected;
        else BOOST_ERROR("byte " << i << " changed and still verified");
    }
    BOOST_TEST(rejected == cert.size());
    // A re-signed certificate with tampered evidence fails on the evidence hashes, not the signature.
    json t = json::parse(cert);
    t["evidence"]["computed"]["chips"]["domestic_count"] = 0;
    t.erase("signature");
    t["signature"] = {{"alg", "Ed25519"}, {"value", to_hex(ed25519_sign(test_key(), canonicalize(t)))}};
    const VerifyResult forged = verify_certificate(canonicalize(t) + "\n", test_key().public_key, "2025-07-01T00:00:00Z");
    BOOST_TEST(forged.reason == "evidence hashes: section \"computed\" does not match its hash");
}

BOOST_AUTO_TEST_SUITE_END()
