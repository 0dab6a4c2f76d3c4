// Audit log file format: round trips, recovery from a torn tail cut at every byte, detection of
// every single flipped byte, and signed tree heads that bind size and root.
#include <boost/test/unit_test.hpp>

#include "policy/audit_log.hpp"

using namespace stacklab::policy;

namespace {

Ed25519KeyPair test_key() { return ed25519_from_seed(from_hex_fixed<32>(std::string(64, '7'), "seed")); }

// A log of three entries with a signed tree head after the second and after the third.
std::string sample_log(std::vector<std::size_t>* boundaries = nullptr) {
    const Ed25519KeyPair key = test_key();
    std::string log = encode_log_header();
    std::vector<Hash> leaves;
    auto mark = [&] { if (boundaries) boundaries->push_back(log.size()); };
    mark();
    for (const char* e : {"{\"decision\":\"pass\"}", "{\"decision\":\"fail\"}"}) {
        log += encode_record(RecordKind::entry, e);
        leaves.push_back(leaf_hash(e));
        mark();
    }
    log += encode_record(RecordKind::tree_head, tree_head_json(sign_tree_head(2, tree_root(leaves), "2025-01-01T00:00:00Z", key)));
    mark();
    log += encode_record(RecordKind::entry, "third");
    leaves.push_back(leaf_hash("third"));
    mark();
    log += encode_record(RecordKind::tree_head, tree_head_json(sign_tree_head(3, tree_root(leaves), "2025-01-02T00:00:00Z", key)));
    mark();
    return log;
}

}  // namespace

namespace stacklab::policy {
std::ostream& operator<<(std::ostream& os, LogStatus s) { return os << log_status_name(s); }
}  // namespace stacklab::policy

BOOST_AUTO_TEST_SUITE(policy_audit_log)

BOOST_AUTO_TEST_CASE(a_written_log_parses_back_and_checks_clean) {
    const ParsedLog p = parse_log(sample_log());
    BOOST_TEST(p.report.status == LogStatus::clean);
    BOOST_TEST_REQUIRE(p.records.size() == 5u);
    BOOST_TEST(p.records[0].payload == "{\"decision\":\"pass\"}");
    BOOST_TEST(int(p.records[2].kind) == int(RecordKind::tree_head));
    const LogCheck c = check_log(p, test_key().public_key);
    BOOST_TEST(c.ok, c.reason);
    BOOST_TEST(c.entries == 3u);
    BOOST_TEST(c.tree_heads == 2u);
    BOOST_TEST(to_hex(c.root) == to_hex(tree_root(entry_leaf_hashes(p))));
    BOOST_TEST(parse_log("").report.status == LogStatus::clean);
}

BOOST_AUTO_TEST_CASE(a_log_cut_at_any_byte_recovers_every_complete_record_and_reports_the_tail) {
    std::vector<std::size_t> bounds;
    const std::string log = sample_log(&bounds);
    for (std::size_t len = 0; len <= log.size(); ++len) {
        const ParsedLog p = parse_log(std::string_view(log).substr(0, len));
        // The intact prefix ends at the last record boundary at or before the cut.
        std::size_t valid = 0, complete = 0;
        for (std::size_t i = 0; i < bounds.size(); ++i)
            if (bounds[i] <= len) {
                valid = bounds[i];
                complete = i;
            }
        const bool at_boundary = len == 0 || valid == len;
        BOOST_TEST_CONTEXT("cut at " << len) {
            BOOST_TEST(p.records.size() == complete);
            BOOST_TEST(p.report.valid_bytes == (len == 0 ? 0 : valid));
            BOOST_TEST(int(p.report.status) == int(at_boundary ? LogStatus::clean : LogStatus::torn_tail));
            if (!at_boundary) {
                BOOST_TEST(p.report.dropped_bytes == len - valid);
                BOOST_TEST(p.report.message.find("torn") != std::string::npos);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(every_single_flipped_byte_is_detected) {
    const std::string log = sample_log();
    const auto pk = test_key().public_key;
    for (std::size_t i = 0; i < log.size(); ++i) {
        std::string bad = log;
        bad[i] = char(bad[i] ^ 0x01);
        const ParsedLog p = parse_log(bad);
        const LogCheck c = check_log(p, pk);
        BOOST_TEST(!c.ok, "byte " << i);
        BOOST_TEST(p.report.status != LogStatus::clean, "byte " << i);
    }
}

BOOST_AUTO_TEST_CASE(tree_heads_must_match_the_entries_before_them_and_the_key) {
    const Ed25519KeyPair key = test_key();
    std::string log = encode_log_header() + encode_record(RecordKind::entry, "a") + encode_record(RecordKind::entry, "b");
    const std::vector<Hash> two = {leaf_hash("a"), leaf_hash("b")};
    // right root, wrong size
    std::string bad_size = log + encode_record(RecordKind::tree_head, tree_head_json(sign_tree_head(1, tree_root(two), "t", key)));
    BOOST_TEST(check_log(parse_log(bad_size), key.public_key).reason.find("claims 1 entries, 2 precede it") != std::string::npos);
    // right size, root of other entries
    std::string bad_root = log + encode_record(RecordKind::tree_head,
                                               tree_head_json(sign_tree_head(2, tree_root({leaf_hash("a"), leaf_hash("c")}), "t", key)));
    BOOST_TEST(check_log(parse_log(bad_root), key.public_key).reason.find("root does not match") != std::string::npos);
    // correct head, other key
    const Ed25519KeyPair other = ed25519_from_seed(from_hex_fixed<32>(std::string(64, '1'), "seed"));
    std::string good = log + encode_record(RecordKind::tree_head, tree_head_json(sign_tree_head(2, tree_root(two), "t", key)));
    BOOST_TEST(check_log(parse_log(good), key.public_key).ok);
    BOOST_TEST(check_log(parse_log(good), other.public_key).reason.find("signature does not verify") != std::string::npos);
    // without a key the structure is still checked
    BOOST_TEST(check_log(parse_log(good), std::nullopt).ok);
}

BOOST_AUTO_TEST_CASE(bad_headers_and_oversized_lengths_are_corruption_not_torn_tails) {
    BOOST_TEST(int(parse_log("NOT-A-LOG-FILE-AT-ALL").report.status) == int(LogStatus::corrupt));
    BOOST_TEST(int(parse_log("STACK").report.status) == int(LogStatus::torn_tail));
    std::string log = encode_log_header() + std::string("\xff\xff\xff\xff", 4) + "E";
    BOOST_TEST(int(parse_log(log).report.status) == int(LogStatus::corrupt));
    BOOST_CHECK_THROW(encode_record(RecordKind::entry, std::string(kMaxRecordPayload + 1, 'x')), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(tree_head_json_round_trips_and_rejects_bad_fields) {
    const TreeHead th = sign_tree_head(8, leaf_hash("x"), "2025-01-01T00:00:00Z", test_key());
    const TreeHead back = parse_tree_head(tree_head_json(th));
    BOOST_TEST(back.size == 8u);
    BOOST_TEST(to_hex(back.root) == to_hex(th.root));
    BOOST_TEST(verify_tree_head_signature(back, test_key().public_key));
    BOOST_CHECK_THROW(parse_tree_head("{}"), std::invalid_argument);
    BOOST_CHECK_THROW(parse_tree_head("[1]"), std::invalid_argument);
    BOOST_CHECK_THROW(parse_tree_head("{\"size\": 7e9639226225}"), std::invalid_argument);  // found by fuzz_log
}

BOOST_AUTO_TEST_SUITE_END()
