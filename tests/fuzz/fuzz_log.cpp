// libFuzzer harness: audit log files. parse_log never throws (problems go into its report) and
// the valid prefix never exceeds the input; check_log and the leaf hashes of whatever parsed must
// not throw either; tree head payloads go through parse_tree_head, which may only throw
// std::invalid_argument.
// Random bytes almost never carry a valid SHA-256 record checksum, so half the inputs (first byte
// odd) are read as a list of records instead and encoded with correct checksums: that reaches the
// tree head parser and check_log's size/root/signature checks. Record list format:
// [kind selector u8: even 'E', odd 'H'][length u8][payload]...
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "policy/audit_log.hpp"

namespace {

std::string structured_log(const std::uint8_t* data, std::size_t size) {
    namespace policy = stacklab::policy;
    std::string out = policy::encode_log_header();
    std::size_t at = 1;
    while (at + 2 <= size) {
        const auto kind = data[at] % 2 ? policy::RecordKind::tree_head : policy::RecordKind::entry;
        const std::size_t n = std::min<std::size_t>(data[at + 1], size - at - 2);
        out += policy::encode_record(kind, std::string_view(reinterpret_cast<const char*>(data + at + 2), n));
        at += 2 + n;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace policy = stacklab::policy;
    const std::string structured = size > 0 && data[0] % 2 ? structured_log(data, size) : std::string();
    if (!structured.empty()) {
        data = reinterpret_cast<const std::uint8_t*>(structured.data());
        size = structured.size();
    }
    const policy::ParsedLog log = policy::parse_log(std::string_view(reinterpret_cast<const char*>(data), size));
    const auto& rep = log.report;
    if (rep.total_bytes != size || rep.valid_bytes > size) std::abort();
    if (rep.status == policy::LogStatus::torn_tail && rep.valid_bytes + rep.dropped_bytes != size) std::abort();
    (void)policy::entry_leaf_hashes(log);
    (void)policy::check_log(log, std::nullopt);
    for (const auto& rec : log.records) {
        if (rec.kind != policy::RecordKind::tree_head) continue;
        try {
            (void)policy::parse_tree_head(rec.payload);
        } catch (const std::invalid_argument&) {
        }
    }
    return 0;
}
