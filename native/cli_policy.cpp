// `stacklab keygen`, `certify`, `verify`, `policy`, `audit`: policy certification with signed
// certificates and a tamper-evident audit log. Durable appends (write + fsync) happen here, at the
// edge; the core only encodes and checks bytes.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "native/cli.hpp"
#include "policy/audit_log.hpp"
#include "policy/certificate.hpp"
#include "policy/crypto.hpp"
#include "policy/jcs.hpp"
#include "policy/merkle.hpp"
#include "policy/pack.hpp"
#include "policy/report.hpp"

namespace stacklab::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(path + ": cannot write file");
    out << bytes;
    if (!out.flush()) throw InputError(path + ": write failed");
}

// Appends with one write() and makes it durable before returning: an entry is committed only
// once fsync succeeds, so a crash can leave at most a torn tail that the next open truncates.
void append_durably(const std::string& path, const std::string& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) throw InputError(path + ": cannot open for appending");
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) {
            ::close(fd);
            throw InputError(path + ": write failed");
        }
        done += std::size_t(n);
    }
    if (::fsync(fd) != 0) {
        ::close(fd);
        throw InputError(path + ": fsync failed");
    }
    ::close(fd);
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    return policy::format_utc(static_cast<long long>(t));
}

std::string now_option(const Args& a) {
    const std::string now = a.get("--now", "");
    if (now.empty()) return utc_now();
    try {
        policy::parse_utc(now);
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--now: ") + e.what());
    }
    return now;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

policy::Ed25519KeyPair read_secret_key(const std::string& path) {
    try {
        return policy::ed25519_from_seed(policy::from_hex_fixed<32>(trim(read_file(path)), path));
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
}

policy::Ed25519PublicKey read_public_key(const std::string& path) {
    try {
        return policy::from_hex_fixed<32>(trim(read_file(path)), path);
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
}

}  // namespace

int cmd_keygen(const Args& a) {
    if (!a.has("--out")) throw UsageError("keygen needs --out DIR");
    const std::string dir = a.get("--out", "");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir, ec)) throw InputError(dir + ": cannot create directory");
    const std::string secret_path = (fs::path(dir) / "secret.key").string();
    const std::string public_path = (fs::path(dir) / "public.key").string();
    if (fs::exists(secret_path, ec)) throw InputError(secret_path + ": exists already (not overwriting a key)");
    const policy::Ed25519KeyPair k = policy::ed25519_generate();
    // Created 0600 from the start (never world-readable, not even for a moment).
    const int fd = ::open(secret_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) throw InputError(secret_path + ": cannot create");
    const std::string secret = policy::to_hex(k.seed) + "\n";
    const bool ok = ::write(fd, secret.data(), secret.size()) == ssize_t(secret.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) throw InputError(secret_path + ": write failed");
    ::chmod(secret_path.c_str(), 0600);
    write_file(public_path, policy::to_hex(k.public_key) + "\n");
    const std::string id = policy::key_id(k.public_key);
    if (a.json)
        std::cout << json{{"secret_key", secret_path}, {"public_key", public_path}, {"key_id", id}}.dump(2) << "\n";
    else
        std::printf("wrote %s (mode 0600) and %s; key id %s\n", secret_path.c_str(), public_path.c_str(), id.c_str());
    return 0;
}

namespace {

std::vector<policy::PolicyPack> packs_for(const Args& a, const json& manifest) {
    std::vector<std::string> ids;
    if (a.lists.count("--policy"))
        ids = a.lists.at("--policy");
    else
        for (const auto& p : manifest.at("policies")) ids.push_back(p.get<std::string>());
    std::vector<policy::PolicyPack> packs;
    for (const auto& id : ids) {
        // A pack is a bundled id or a path to a pack file.
        if (id.size() > 5 && id.substr(id.size() - 5) == ".json")
            packs.push_back(policy::parse_pack(read_file(id), id));
        else
            packs.push_back(policy::find_pack(id));
    }
    return packs;
}

struct OpenedLog {
    policy::ParsedLog parsed;
    json recovery;
};

// Opens (or starts) a log for appending: a torn tail is truncated and reported; corruption stops.
OpenedLog open_log_for_append(const std::string& path) {
    std::error_code ec;
    const std::string bytes = fs::exists(path, ec) ? read_file(path) : std::string();
    OpenedLog o;
    o.parsed = policy::parse_log(bytes);
    const auto& rep = o.parsed.report;
    o.recovery = {{"status", policy::log_status_name(rep.status)}, {"message", rep.message},
                  {"dropped_bytes", rep.dropped_bytes}};
    if (rep.status == policy::LogStatus::corrupt) throw InputError(path + ": " + rep.message + " (not appending)");
    if (rep.status == policy::LogStatus::torn_tail) {
        if (::truncate(path.c_str(), off_t(rep.valid_bytes)) != 0) throw InputError(path + ": cannot truncate the torn tail");
        std::cerr << "stacklab: " << path << ": recovered: " << rep.message << "; truncated " << rep.dropped_bytes
                  << " bytes\n";
    }
    return o;
}

// Appends one entry and, with a key, a signed tree head over all entries. Returns the result.
json append_entry(const std::string& path, const std::string& data, const policy::Ed25519KeyPair* key,
                  const std::string& now) {
    OpenedLog o = open_log_for_append(path);
    std::vector<policy::Hash> leaves = policy::entry_leaf_hashes(o.parsed);
    std::string bytes;
    if (o.parsed.report.valid_bytes == 0) bytes += policy::encode_log_header();
    bytes += policy::encode_record(policy::RecordKind::entry, data);
    leaves.push_back(policy::leaf_hash(data));
    const policy::Hash root = policy::tree_root(leaves);
    if (key)
        bytes += policy::encode_record(policy::RecordKind::tree_head,
                                       policy::tree_head_json(policy::sign_tree_head(leaves.size(), root, now, *key)));
    append_durably(path, bytes);
    return {{"index", leaves.size() - 1}, {"size", leaves.size()}, {"root", policy::to_hex(root)},
            {"tree_head_signed", key != nullptr}, {"recovery", o.recovery}};
}

}  // namespace

int cmd_certify(const Args& a) {
    if (!a.has("--manifest") || !a.has("--key") || !a.has("--out"))
        throw UsageError("certify needs --manifest FILE --key SECRET_KEY --out CERT");
    const std::string manifest_path = a.get("--manifest", "");
    const std::string manifest = read_file(manifest_path);
    const policy::Ed25519KeyPair key = read_secret_key(a.get("--key", ""));
    policy::CertifyOptions opt;
    opt.now = now_option(a);
    if (a.has("--validity-days")) opt.validity_days = parse_count("--validity-days", a.get("--validity-days", ""));
    opt.audit_log = a.has("--log");
    opt.issued_by = std::string("stacklab ") + kVersion;
    std::vector<policy::PolicyPack> packs;
    policy::CertifyResult r;
    // Checked before certifying so a bad report name costs nothing and writes nothing.
    std::optional<policy::ReportFormat> report_format;
    try {
        if (a.has("--report")) report_format = policy::report_format_for(a.get("--report", ""));
        packs = packs_for(a, policy::parse_manifest(manifest, manifest_path));
        r = policy::certify(manifest, manifest_path, packs, key, opt);
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
    const std::string out = a.get("--out", "");
    write_file(out, r.certificate);
    json result = {{"certificate", out}, {"certificate_sha256", policy::sha256_hex(r.certificate)},
                   {"status", r.decision.pass ? "certified" : "refused"}, {"pass", r.decision.pass},
                   {"summary", r.decision.summary}, {"deciding_rules", r.decision.deciding_rules},
                   {"warnings", r.decision.warnings}};
    if (report_format) {
        // Rendered from the certificate bytes just written, so the report shows what was signed.
        write_file(a.get("--report", ""), policy::render_report(json::parse(r.certificate), *report_format));
        result["report"] = a.get("--report", "");
    }
    if (a.has("--log"))
        result["log"] = append_entry(a.get("--log", ""), policy::certificate_log_entry(r.certificate), &key, opt.now);
    if (a.json) {
        std::cout << result.dump(2) << "\n";
    } else {
        std::printf("%s: %s\n", manifest_path.c_str(), r.decision.summary.c_str());
        for (const auto& v : r.decision.verdicts)
            std::printf("  %-4s %-9s %s/%s: %s\n", v.outcome == policy::Outcome::pass ? "ok" : (v.outcome == policy::Outcome::fail ? "FAIL" : "n/a"),
                        v.severity == policy::Severity::mandatory ? "mandatory" : "advisory", v.pack.c_str(), v.rule.c_str(),
                        v.reasons.empty() ? "" : v.reasons.front().c_str());
        std::printf("wrote %s\n", out.c_str());
        if (report_format) std::printf("wrote %s\n", a.get("--report", "").c_str());
    }
    if (!r.decision.pass) {
        std::cerr << "stacklab: certification refused: " << r.decision.summary << "\n";
        return 1;
    }
    return 0;
}

namespace {

// Finds the certificate's entry in the log and proves its inclusion under the latest signed
// tree head. Returns "" when included, else the reason.
std::string check_log_inclusion(const std::string& log_path, const std::string& cert_bytes,
                                const std::optional<policy::Ed25519PublicKey>& key, json& info) {
    const policy::ParsedLog log = policy::parse_log(read_file(log_path));
    const policy::LogCheck c = policy::check_log(log, key);
    if (!c.ok) return "log: " + c.reason;
    if (!c.latest_tree_head) return "log: no signed tree head";
    std::string entry;
    try {
        entry = policy::certificate_log_entry(cert_bytes);
    } catch (const std::exception& e) {
        return std::string("log: ") + e.what();
    }
    const auto leaves = policy::entry_leaf_hashes(log);
    const policy::Hash want = policy::leaf_hash(entry);
    const policy::TreeHead& th = *c.latest_tree_head;
    for (std::uint64_t i = 0; i < th.size; ++i) {
        if (leaves[i] != want) continue;
        const auto proof = policy::inclusion_proof(leaves, i, th.size);
        const policy::ProofCheck pc = policy::verify_inclusion(i, th.size, want, proof, th.root);
        if (!pc.ok) return "log: inclusion proof: " + pc.reason;
        info = {{"index", i}, {"tree_size", th.size}, {"root", policy::to_hex(th.root)}, {"tree_head_time", th.timestamp},
                {"proof_hashes", proof.size()}};
        return "";
    }
    return "log: the certificate is not among the " + std::to_string(th.size) + " entries under the latest signed tree head";
}

}  // namespace

int cmd_verify(const Args& a) {
    if (a.positional.size() != 2) throw UsageError("verify needs exactly one CERT file");
    const std::string path = a.positional[1];
    const std::string bytes = read_file(path);
    std::optional<policy::Ed25519PublicKey> key;
    if (a.has("--pubkey")) key = read_public_key(a.get("--pubkey", ""));
    const std::string now = now_option(a);
    policy::VerifyResult r = policy::verify_certificate(bytes, key, now);
    json log_info;
    if (r.ok && a.has("--log")) {
        const std::string why = check_log_inclusion(a.get("--log", ""), bytes, key, log_info);
        if (!why.empty()) {
            r.ok = false;
            r.reason = why;
        } else {
            r.checks.push_back("audit log inclusion");
        }
    }
    json out = {{"certificate", path}, {"valid", r.ok}, {"checks", r.checks}, {"now", now}};
    if (!r.ok) out["reason"] = r.reason;
    if (!log_info.is_null()) out["log"] = log_info;
    if (r.certificate.is_object() && r.certificate.contains("subject")) out["subject"] = r.certificate["subject"].value("name", "");
    if (a.json)
        std::cout << out.dump(2) << "\n";
    else if (r.ok)
        std::printf("%s: valid (%zu checks)\n", path.c_str(), r.checks.size());
    if (!r.ok) {
        std::cerr << "stacklab: " << path << ": " << r.reason << "\n";
        return 1;
    }
    return 0;
}

int cmd_policy(const Args& a) {
    const std::string sub = a.positional.size() > 1 ? a.positional[1] : "list";
    if (sub != "list") throw UsageError("unknown policy subcommand \"" + sub + "\"");
    json list = json::array();
    for (const auto& f : policy::bundled_pack_files()) {
        const policy::PolicyPack p = policy::parse_pack(f.bytes, f.name);
        list.push_back({{"id", p.id}, {"version", p.version}, {"title", p.title}, {"rules", p.rules.size()}, {"sha256", p.sha256}});
        if (!a.json) std::printf("%-24s %-7s %2zu rules  %s\n", p.id.c_str(), p.version.c_str(), p.rules.size(), p.title.c_str());
    }
    if (a.json) std::cout << json{{"packs", list}}.dump(2) << "\n";
    return 0;
}

namespace {

std::vector<policy::Hash> parse_hash_list(const json& j, const std::string& what) {
    std::vector<policy::Hash> out;
    if (!j.is_array()) throw InputError(what + ": expected a list of hex hashes");
    for (const auto& h : j) {
        if (!h.is_string()) throw InputError(what + ": expected a list of hex hashes");
        out.push_back(policy::from_hex_fixed<32>(h.get<std::string>(), what));
    }
    return out;
}

std::uint64_t parse_size(const std::string& option, const std::string& text) {
    const double v = parse_number(option, text);
    if (v < 0 || v > 1e15 || v != std::floor(v)) throw UsageError(option + " expects a whole number >= 0, got \"" + text + "\"");
    return std::uint64_t(v);
}

}  // namespace

int cmd_audit(const Args& a) {
    const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
    auto print = [&](const json& j, const std::string& text) {
        if (a.json)
            std::cout << j.dump(2) << "\n";
        else
            std::cout << text << "\n";
    };
    if (sub == "root") {
        std::vector<policy::Hash> leaves;
        if (a.has("--leaves-hex")) {
            // "" is the empty leaf: split on commas keeping empty fields.
            const std::string list = a.get("--leaves-hex", "");
            std::size_t start = 0;
            while (true) {
                const std::size_t comma = list.find(',', start);
                std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (item == "\"\"") item.clear();
                try {
                    const policy::Bytes b = policy::from_hex(item, "--leaves-hex");
                    leaves.push_back(policy::leaf_hash(std::string(b.begin(), b.end())));
                } catch (const std::invalid_argument& e) {
                    throw UsageError(e.what());
                }
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        } else if (a.has("--log")) {
            const policy::ParsedLog log = policy::parse_log(read_file(a.get("--log", "")));
            if (log.report.status != policy::LogStatus::clean) throw InputError(a.get("--log", "") + ": " + log.report.message);
            leaves = policy::entry_leaf_hashes(log);
        } else {
            throw UsageError("audit root needs --leaves-hex H,H,... or --log FILE");
        }
        const std::string root = policy::to_hex(policy::tree_root(leaves));
        print(json{{"size", leaves.size()}, {"root", root}}, std::to_string(leaves.size()) + " leaves, root " + root);
        return 0;
    }
    if (sub == "append") {
        if (!a.has("--log") || !a.has("--data")) throw UsageError("audit append needs --log FILE --data TEXT");
        std::optional<policy::Ed25519KeyPair> key;
        if (a.has("--key")) key = read_secret_key(a.get("--key", ""));
        const json r = append_entry(a.get("--log", ""), a.get("--data", ""), key ? &*key : nullptr, now_option(a));
        print(r, "appended entry " + r["index"].dump() + "; size " + r["size"].dump() + ", root " + r["root"].get<std::string>());
        return 0;
    }
    if (sub == "prove") {
        if (!a.has("--log")) throw UsageError("audit prove needs --log FILE");
        const policy::ParsedLog log = policy::parse_log(read_file(a.get("--log", "")));
        if (log.report.status != policy::LogStatus::clean) throw InputError(a.get("--log", "") + ": " + log.report.message);
        const auto leaves = policy::entry_leaf_hashes(log);
        const std::uint64_t size = a.has("--size") ? parse_size("--size", a.get("--size", "")) : leaves.size();
        json out;
        try {
            if (a.has("--index")) {
                const std::uint64_t i = parse_size("--index", a.get("--index", ""));
                json proof = json::array();
                for (const auto& h : policy::inclusion_proof(leaves, i, size)) proof.push_back(policy::to_hex(h));
                out = {{"type", "inclusion"}, {"index", i}, {"size", size}, {"leaf_hash", policy::to_hex(leaves[i])},
                       {"root", policy::to_hex(policy::tree_root(leaves, size))}, {"proof", proof}};
            } else if (a.has("--from")) {
                const std::uint64_t m = parse_size("--from", a.get("--from", ""));
                json proof = json::array();
                for (const auto& h : policy::consistency_proof(leaves, m, size)) proof.push_back(policy::to_hex(h));
                out = {{"type", "consistency"}, {"old_size", m}, {"new_size", size},
                       {"old_root", policy::to_hex(policy::tree_root(leaves, m))},
                       {"new_root", policy::to_hex(policy::tree_root(leaves, size))}, {"proof", proof}};
            } else {
                throw UsageError("audit prove needs --index I or --from M");
            }
        } catch (const std::invalid_argument& e) {
            throw InputError(e.what());
        }
        print(out, out.dump(2));
        return 0;
    }
    if (sub == "verify-proof") {
        if (!a.has("--proof")) throw UsageError("audit verify-proof needs --proof FILE");
        const std::string path = a.get("--proof", "");
        policy::ProofCheck c;
        try {
            const json p = policy::parse_json_strict(read_file(path), path);
            const std::string type = p.value("type", "");
            auto hash = [&](const char* k) { return policy::from_hex_fixed<32>(p.at(k).get<std::string>(), path + "/" + k); };
            if (type == "inclusion")
                c = policy::verify_inclusion(p.at("index").get<std::uint64_t>(), p.at("size").get<std::uint64_t>(),
                                             hash("leaf_hash"), parse_hash_list(p.at("proof"), path + "/proof"), hash("root"));
            else if (type == "consistency")
                c = policy::verify_consistency(p.at("old_size").get<std::uint64_t>(), p.at("new_size").get<std::uint64_t>(),
                                               hash("old_root"), hash("new_root"), parse_hash_list(p.at("proof"), path + "/proof"));
            else
                throw InputError(path + ": \"type\" must be \"inclusion\" or \"consistency\"");
        } catch (const json::exception& e) {
            throw InputError(path + ": " + e.what());
        } catch (const std::invalid_argument& e) {
            throw InputError(e.what());
        }
        json out = {{"valid", c.ok}};
        if (!c.ok) out["reason"] = c.reason;
        print(out, c.ok ? "proof valid" : "proof INVALID: " + c.reason);
        if (!c.ok) {
            std::cerr << "stacklab: " << path << ": " << c.reason << "\n";
            return 1;
        }
        return 0;
    }
    if (sub == "check") {
        if (!a.has("--log")) throw UsageError("audit check needs --log FILE");
        const std::string path = a.get("--log", "");
        std::optional<policy::Ed25519PublicKey> key;
        if (a.has("--pubkey")) key = read_public_key(a.get("--pubkey", ""));
        const policy::ParsedLog log = policy::parse_log(read_file(path));
        const policy::LogCheck c = policy::check_log(log, key);
        const auto& rep = log.report;
        json out = {{"log", path}, {"valid", c.ok},
                    {"recovery", {{"status", policy::log_status_name(rep.status)}, {"message", rep.message},
                                  {"total_bytes", rep.total_bytes}, {"valid_bytes", rep.valid_bytes},
                                  {"dropped_bytes", rep.dropped_bytes}}}};
        if (c.ok) {
            out["entries"] = c.entries;
            out["root"] = policy::to_hex(c.root);
            out["tree_heads"] = c.tree_heads;
            out["signatures_checked"] = key.has_value();
        } else {
            out["reason"] = c.reason;
        }
        print(out, c.ok ? path + ": valid, " + std::to_string(c.entries) + " entries, " + std::to_string(c.tree_heads) +
                              " signed tree heads, root " + policy::to_hex(c.root)
                        : path + ": INVALID: " + c.reason);
        if (!c.ok) {
            std::cerr << "stacklab: " << path << ": " << c.reason << "\n";
            return 1;
        }
        return 0;
    }
    throw UsageError("unknown audit subcommand \"" + sub + "\" (append, root, prove, verify-proof, check)");
}

}  // namespace stacklab::cli
