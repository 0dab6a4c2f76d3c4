// Tamper-evident audit log: an append-only file of records whose entries are the leaves of an
// RFC 9162 Merkle tree (policy/merkle.hpp), with signed tree heads between them.
//
// The core only encodes and parses bytes; the CLI opens the file, appends the encoded record with
// one write, fsyncs, and on open truncates a torn tail that parse_log reports.
//
// File format (version 1), all integers little-endian:
//   header  the 16 bytes "STACKLAB-AUDIT1\n"
//   record  u32 payload_length | u8 kind | payload | 32-byte SHA-256(length | kind | payload)
//     kind 'E'  an entry: the payload is the leaf data (for StackLab a JCS JSON object)
//     kind 'H'  a signed tree head: the payload is the JCS JSON of a TreeHead (below), signing
//               the tree of all entries before it
// Recovery on open (parse_log):
//   - a record cut short by the end of the file (length field, payload or checksum incomplete),
//     or a header cut short, is a *torn tail*: an append that did not finish. Everything before
//     it is intact; the report says how many bytes to drop and where.
//   - a complete record whose checksum does not match, an unknown kind, a length above
//     kMaxRecordPayload or a wrong header is *corruption*: never repaired silently.
// A committed entry (its record fully written and fsynced) is therefore never lost to a crash,
// and a single changed byte in a complete record is always detected (checksum), as is a change
// that the writer of a log cannot hide without the signing key (tree heads).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/crypto.hpp"
#include "policy/merkle.hpp"

namespace stacklab::policy {

constexpr std::string_view kLogHeader = "STACKLAB-AUDIT1\n";
constexpr std::uint32_t kMaxRecordPayload = 16u << 20;  // 16 MiB: far above any StackLab entry

enum class RecordKind : char { entry = 'E', tree_head = 'H' };

struct LogRecord {
    RecordKind kind = RecordKind::entry;
    std::string payload;
    std::uint64_t offset = 0;  // byte offset of the record in the file
};

enum class LogStatus { clean, torn_tail, corrupt };
const char* log_status_name(LogStatus s);  // "clean", "torn_tail", "corrupt"

struct RecoveryReport {
    LogStatus status = LogStatus::clean;
    std::uint64_t total_bytes = 0;
    std::uint64_t valid_bytes = 0;    // the intact prefix: header + complete, checked records
    std::uint64_t dropped_bytes = 0;  // torn tail: bytes to truncate (total - valid)
    std::string message;              // one line for humans, names the offset and the problem
};

struct ParsedLog {
    std::vector<LogRecord> records;  // the intact records, in file order
    RecoveryReport report;
};

// The bytes a new log starts with.
std::string encode_log_header();
// One record; throws std::invalid_argument if the payload exceeds kMaxRecordPayload.
std::string encode_record(RecordKind kind, std::string_view payload);
// Parses a whole log file. Never throws on bad bytes: problems are in the report. An empty
// buffer is a clean, empty log (the header is written with the first record).
ParsedLog parse_log(std::string_view bytes);

// The leaf hashes of the entry records, in order.
std::vector<Hash> entry_leaf_hashes(const ParsedLog& log);

// A signed tree head: "the tree of the first `size` entries has root `root`", signed.
struct TreeHead {
    std::uint64_t size = 0;
    Hash root{};
    std::string timestamp;  // ISO 8601 UTC, as given by the caller
    std::string key_id;     // policy::key_id of the signer
    Ed25519Signature signature{};
};

// The bytes a tree head signature covers: JCS of {"key_id","log","root","size","timestamp"}
// with "log": "stacklab-audit/1" (domain separation from certificates).
std::string tree_head_signed_bytes(const TreeHead& th);
TreeHead sign_tree_head(std::uint64_t size, const Hash& root, const std::string& timestamp, const Ed25519KeyPair& key);
// JCS JSON of the tree head including "signature" (the 'H' record payload).
std::string tree_head_json(const TreeHead& th);
// Parses tree_head_json output; throws std::invalid_argument naming the field on bad input.
TreeHead parse_tree_head(const std::string& json_text);
bool verify_tree_head_signature(const TreeHead& th, const Ed25519PublicKey& public_key);

// Full check of a parsed log: the recovery status must be clean, every tree head must parse, sign
// the tree of exactly the entries before it (size and root), and, when a public key is given,
// carry a valid signature from that key. `latest_tree_head` is the last one, if any.
struct LogCheck {
    bool ok = false;
    std::string reason;
    std::uint64_t entries = 0;
    Hash root{};  // root of all entries
    std::size_t tree_heads = 0;
    std::optional<TreeHead> latest_tree_head;
};
LogCheck check_log(const ParsedLog& log, const std::optional<Ed25519PublicKey>& public_key);

}  // namespace stacklab::policy
