#include "policy/audit_log.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "policy/jcs.hpp"

namespace stacklab::policy {
namespace {

constexpr std::size_t kRecordOverhead = 4 + 1 + 32;

std::uint32_t read_u32(std::string_view b, std::size_t at) {
    return std::uint32_t(std::uint8_t(b[at])) | std::uint32_t(std::uint8_t(b[at + 1])) << 8 |
           std::uint32_t(std::uint8_t(b[at + 2])) << 16 | std::uint32_t(std::uint8_t(b[at + 3])) << 24;
}

Hash record_checksum(std::string_view length_kind_payload) { return sha256(length_kind_payload); }

}  // namespace

const char* log_status_name(LogStatus s) {
    switch (s) {
        case LogStatus::clean: return "clean";
        case LogStatus::torn_tail: return "torn_tail";
        case LogStatus::corrupt: return "corrupt";
    }
    return "?";
}

std::string encode_log_header() { return std::string(kLogHeader); }

std::string encode_record(RecordKind kind, std::string_view payload) {
    if (payload.size() > kMaxRecordPayload)
        throw std::invalid_argument("audit log record: payload of " + std::to_string(payload.size()) +
                                    " bytes exceeds the limit of " + std::to_string(kMaxRecordPayload));
    const auto n = std::uint32_t(payload.size());
    std::string r;
    r.reserve(kRecordOverhead + payload.size());
    for (int i = 0; i < 4; ++i) r.push_back(char((n >> (8 * i)) & 0xff));
    r.push_back(char(kind));
    r.append(payload);
    const Hash c = record_checksum(r);
    r.append(reinterpret_cast<const char*>(c.data()), c.size());
    return r;
}

ParsedLog parse_log(std::string_view bytes) {
    ParsedLog out;
    RecoveryReport& rep = out.report;
    rep.total_bytes = bytes.size();
    auto finish = [&](LogStatus s, std::uint64_t valid, std::string msg) {
        rep.status = s;
        rep.valid_bytes = valid;
        rep.dropped_bytes = s == LogStatus::torn_tail ? rep.total_bytes - valid : 0;
        rep.message = std::move(msg);
        return out;
    };
    if (bytes.empty()) return finish(LogStatus::clean, 0, "empty log");
    if (bytes.size() < kLogHeader.size()) {
        if (kLogHeader.substr(0, bytes.size()) == bytes)
            return finish(LogStatus::torn_tail, 0,
                          "torn header: " + std::to_string(bytes.size()) + " of " + std::to_string(kLogHeader.size()) +
                              " header bytes (the log was being created)");
        return finish(LogStatus::corrupt, 0, "not a StackLab audit log (bad header)");
    }
    if (bytes.substr(0, kLogHeader.size()) != kLogHeader)
        return finish(LogStatus::corrupt, 0, "not a StackLab audit log (bad header)");
    std::size_t at = kLogHeader.size();
    while (at < bytes.size()) {
        const std::size_t left = bytes.size() - at;
        const std::string where = "record " + std::to_string(out.records.size()) + " at byte " + std::to_string(at);
        if (left < 4)
            return finish(LogStatus::torn_tail, at,
                          "torn tail: " + where + " has only " + std::to_string(left) + " of its 4 length bytes");
        const std::uint32_t n = read_u32(bytes, at);
        if (n > kMaxRecordPayload)
            return finish(LogStatus::corrupt, at,
                          "corrupt " + where + ": length " + std::to_string(n) + " exceeds the record limit");
        if (left < kRecordOverhead + n)
            return finish(LogStatus::torn_tail, at,
                          "torn tail: " + where + " has " + std::to_string(left) + " of its " +
                              std::to_string(kRecordOverhead + n) + " bytes (an interrupted append)");
        const std::string_view body = bytes.substr(at, 5 + n);
        const std::string_view stored = bytes.substr(at + 5 + n, 32);
        const Hash c = record_checksum(body);
        if (stored != std::string_view(reinterpret_cast<const char*>(c.data()), c.size()))
            return finish(LogStatus::corrupt, at, "corrupt " + where + ": checksum mismatch");
        const char kind = body[4];
        if (kind != char(RecordKind::entry) && kind != char(RecordKind::tree_head))
            return finish(LogStatus::corrupt, at, "corrupt " + where + ": unknown record kind");
        out.records.push_back(LogRecord{RecordKind(kind), std::string(body.substr(5)), at});
        at += kRecordOverhead + n;
    }
    return finish(LogStatus::clean, at, "clean: " + std::to_string(out.records.size()) + " records");
}

std::vector<Hash> entry_leaf_hashes(const ParsedLog& log) {
    std::vector<Hash> out;
    for (const auto& r : log.records)
        if (r.kind == RecordKind::entry) out.push_back(leaf_hash(r.payload));
    return out;
}

std::string tree_head_signed_bytes(const TreeHead& th) {
    return canonicalize(nlohmann::json{{"key_id", th.key_id}, {"log", "stacklab-audit/1"}, {"root", to_hex(th.root)},
                                       {"size", th.size}, {"timestamp", th.timestamp}});
}

TreeHead sign_tree_head(std::uint64_t size, const Hash& root, const std::string& timestamp, const Ed25519KeyPair& key) {
    TreeHead th;
    th.size = size;
    th.root = root;
    th.timestamp = timestamp;
    th.key_id = key_id(key.public_key);
    th.signature = ed25519_sign(key, tree_head_signed_bytes(th));
    return th;
}

std::string tree_head_json(const TreeHead& th) {
    return canonicalize(nlohmann::json{{"key_id", th.key_id}, {"log", "stacklab-audit/1"}, {"root", to_hex(th.root)},
                                       {"signature", to_hex(th.signature)}, {"size", th.size},
                                       {"timestamp", th.timestamp}});
}

TreeHead parse_tree_head(const std::string& json_text) {
    const nlohmann::json j = parse_json_strict(json_text, "tree head");
    auto field = [&](const char* name) -> const nlohmann::json& {
        if (!j.is_object() || !j.contains(name)) throw std::invalid_argument(std::string("tree head: missing \"") + name + "\"");
        return j.at(name);
    };
    auto text = [&](const char* name) {
        const auto& v = field(name);
        if (!v.is_string()) throw std::invalid_argument(std::string("tree head: \"") + name + "\" must be a string");
        return v.get<std::string>();
    };
    if (text("log") != "stacklab-audit/1") throw std::invalid_argument("tree head: \"log\" is not \"stacklab-audit/1\"");
    TreeHead th;
    const auto& size = field("size");
    if (!size.is_number_unsigned() && !(size.is_number_integer() && size.get<std::int64_t>() >= 0))
        throw std::invalid_argument("tree head: \"size\" must be a whole number >= 0");
    th.size = size.get<std::uint64_t>();
    th.root = from_hex_fixed<32>(text("root"), "tree head root");
    th.timestamp = text("timestamp");
    th.key_id = text("key_id");
    th.signature = from_hex_fixed<64>(text("signature"), "tree head signature");
    if (j.size() != 6) throw std::invalid_argument("tree head: unexpected fields");
    return th;
}

bool verify_tree_head_signature(const TreeHead& th, const Ed25519PublicKey& public_key) {
    return th.key_id == key_id(public_key) && ed25519_verify(public_key, tree_head_signed_bytes(th), th.signature);
}

LogCheck check_log(const ParsedLog& log, const std::optional<Ed25519PublicKey>& public_key) {
    LogCheck c;
    // Incremental tree: each tree head's root costs O(log n), so checking a log with a tree head
    // after every entry is O(n log n), not O(n^2).
    MerkleTree tree;
    if (log.report.status != LogStatus::clean) {
        c.reason = log.report.message;
        return c;
    }
    for (std::size_t i = 0; i < log.records.size(); ++i) {
        const LogRecord& r = log.records[i];
        if (r.kind == RecordKind::entry) {
            append_leaf(tree, leaf_hash(r.payload));
            continue;
        }
        const std::string where = "tree head " + std::to_string(c.tree_heads) + " (record " + std::to_string(i) +
                                  " at byte " + std::to_string(r.offset) + ")";
        TreeHead th;
        try {
            th = parse_tree_head(r.payload);
        } catch (const std::exception& e) {
            c.reason = where + ": " + e.what();
            return c;
        }
        if (canonicalize(parse_json_strict(r.payload, "tree head")) != r.payload) {
            c.reason = where + ": not in canonical (JCS) form";
            return c;
        }
        if (th.size != tree_size(tree)) {
            c.reason = where + ": claims " + std::to_string(th.size) + " entries, " + std::to_string(tree_size(tree)) +
                       " precede it";
            return c;
        }
        if (th.root != tree_root(tree, tree_size(tree))) {
            c.reason = where + ": root does not match the entries before it";
            return c;
        }
        if (public_key && !verify_tree_head_signature(th, *public_key)) {
            c.reason = where + ": signature does not verify with key " + key_id(*public_key);
            return c;
        }
        ++c.tree_heads;
        c.latest_tree_head = th;
    }
    c.ok = true;
    c.entries = tree_size(tree);
    c.root = tree_root(tree, tree_size(tree));
    return c;
}

}  // namespace stacklab::policy
