// `stacklab keygen`, `certify`, `verify`, `policy`, `audit`: policy certification with signed
// certificates and a tamper-evident audit log. Durable appends (write + fsync) happen here, at the
// edge; the core only encodes and checks bytes.
#include <algorithm>
#include <chrono>
#include <cmath>
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
#include "policy/measure.hpp"
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

// Input files of measured evidence are named portably: "fashion-mnist/<file>" is the copy of the
// data set the build decompressed (STACKLAB_DATA_DIR, as `stacklab eval --data fashion-mnist`
// reads it), any other name a path relative to the working directory. The names go into the
// certificate, so a native and a wasm run, or a verifier on another machine, name the same files.
std::string input_path(const std::string& name) {
    const std::string prefix = "fashion-mnist/";
    if (name.compare(0, prefix.size(), prefix) == 0) return std::string(STACKLAB_DATA_DIR) + "/" + name;
    return name;
}

policy::InputBytes read_input(const std::string& name) { return {name, read_file(input_path(name))}; }

const json& measure_field(const json& j, const char* key, const std::string& where) {
    if (!j.is_object() || !j.contains(key)) throw InputError(where + ": missing \"" + key + "\"");
    return j.at(key);
}

// Runs the manifest's "measure" section (documented in policy/certificate.hpp) and returns the
// measured records by name. `limit_override` < 0: the manifest's limit.
json measure_manifest(const json& manifest, const std::string& manifest_path, long long limit_override) {
    const std::string where = manifest_path + "/measure";
    if (!manifest.contains("measure") || !manifest.at("measure").is_object())
        throw InputError(manifest_path + ": --measure needs a \"measure\" section (model_eval and/or cell)");
    const json& ms = manifest.at("measure");
    for (auto it = ms.begin(); it != ms.end(); ++it)
        if (it.key() != "model_eval" && it.key() != "cell")
            throw InputError(where + "/" + it.key() + ": unknown measurement (model_eval, cell)");
    json out = json::object();
    try {
        if (ms.contains("model_eval")) {
            const std::string w = where + "/model_eval";
            const json& e = ms.at("model_eval");
            const json& model = measure_field(e, "model", w);
            const json& data = measure_field(e, "data", w);
            if (!model.is_string() || !data.is_string()) throw InputError(w + ": \"model\" and \"data\" must be strings");
            long long limit = 0;
            if (e.contains("limit")) {
                if (!e.at("limit").is_number_integer() || e.at("limit").get<long long>() < 0)
                    throw InputError(w + "/limit: expected a whole number >= 0 (0: the whole test set)");
                limit = e.at("limit").get<long long>();
            }
            if (limit_override >= 0) limit = limit_override;
            const std::string dir = data.get<std::string>();
            // One statement each: the order of the reads (and so the first error) must not depend on the compiler.
            const policy::InputBytes model_in = read_input(model.get<std::string>());
            const policy::InputBytes images = read_input(dir + "/t10k-images-idx3-ubyte");
            const policy::InputBytes labels = read_input(dir + "/t10k-labels-idx1-ubyte");
            out["model_eval"] = policy::measure_model_eval(model_in, images, labels, limit);
        }
        if (ms.contains("cell")) {
            const std::string w = where + "/cell";
            const json& c = ms.at("cell");
            const json& scenario = measure_field(c, "scenario", w);
            const json& seeds_j = measure_field(c, "seeds", w);
            if (!scenario.is_string()) throw InputError(w + "/scenario: expected a path");
            std::vector<std::uint64_t> seeds;
            if (!seeds_j.is_array() || seeds_j.empty()) throw InputError(w + "/seeds: expected a non-empty list of whole numbers >= 0");
            for (const auto& sd : seeds_j) {
                if (!sd.is_number_integer() || sd.get<long long>() < 0 || sd.get<long long>() > 2147483647)
                    throw InputError(w + "/seeds: expected whole numbers in [0, 2147483647]");
                seeds.push_back(sd.get<std::uint64_t>());
            }
            std::vector<std::string> chips;
            for (const auto& ch : manifest.at("chips")) chips.push_back(ch.at("id").get<std::string>());
            out["cell"] = policy::measure_cell(read_input(scenario.get<std::string>()), chips, seeds);
            out["convergence"] = policy::measure_convergence(out.value("model_eval", json()), out["cell"]);
        }
    } catch (const std::invalid_argument& e) {
        throw InputError(e.what());
    }
    return out;
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

// Appends `count` entries (data, or "data #i" when count > 1) to a log opened once, each with a
// signed tree head when a key is given, each made durable (one write + fsync) before the next.
// `on_commit(index)` runs after each fsync. Returns the result of the last append.
template <class OnCommit>
json append_entries(const std::string& path, const std::string& data, int count, const policy::Ed25519KeyPair* key,
                    const std::string& now, OnCommit on_commit) {
    OpenedLog o = open_log_for_append(path);
    policy::MerkleTree tree = policy::build_tree(policy::entry_leaf_hashes(o.parsed));
    bool has_header = o.parsed.report.valid_bytes > 0;
    policy::Hash root{};
    for (int i = 0; i < count; ++i) {
        const std::string entry = count > 1 ? data + " #" + std::to_string(i) : data;
        std::string bytes;
        if (!has_header) bytes += policy::encode_log_header();
        bytes += policy::encode_record(policy::RecordKind::entry, entry);
        policy::append_leaf(tree, policy::leaf_hash(entry));
        const std::uint64_t size = policy::tree_size(tree);
        root = policy::tree_root(tree, size);
        if (key)
            bytes += policy::encode_record(policy::RecordKind::tree_head,
                                           policy::tree_head_json(policy::sign_tree_head(size, root, now, *key)));
        append_durably(path, bytes);
        has_header = true;
        on_commit(size - 1);
    }
    const std::uint64_t size = policy::tree_size(tree);
    return {{"index", size - 1}, {"size", size}, {"root", policy::to_hex(root)}, {"appended", count},
            {"tree_head_signed", key != nullptr}, {"recovery", o.recovery}};
}

json append_entry(const std::string& path, const std::string& data, const policy::Ed25519KeyPair* key,
                  const std::string& now) {
    return append_entries(path, data, 1, key, now, [](std::uint64_t) {});
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
    if (a.has("--limit") && !a.flag("--measure")) throw UsageError("--limit only applies with --measure");
    double measure_seconds = 0;
    if (a.flag("--measure")) {
        json m;
        try {
            m = policy::parse_manifest(manifest, manifest_path);
        } catch (const std::invalid_argument& e) {
            throw InputError(e.what());
        }
        const long long limit = a.has("--limit") ? parse_count("--limit", a.get("--limit", "")) : -1;
        const auto t0 = std::chrono::steady_clock::now();
        opt.measured = measure_manifest(m, manifest_path, limit);
        measure_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
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
    if (a.flag("--measure")) {
        json names = json::array();
        for (auto it = opt.measured.begin(); it != opt.measured.end(); ++it) names.push_back(it.key());
        // Wall-clock time is reported here, never put in the certificate (it would not re-run equal).
        result["measured"] = {{"records", names}, {"seconds", measure_seconds}};
    }
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
    const policy::MerkleTree tree = policy::build_tree(leaves);
    for (std::uint64_t i = 0; i < th.size; ++i) {
        if (leaves[i] != want) continue;
        const auto proof = policy::inclusion_proof(tree, i, th.size);
        const policy::ProofCheck pc = policy::verify_inclusion(i, th.size, want, proof, th.root);
        if (!pc.ok) return "log: inclusion proof: " + pc.reason;
        info = {{"index", i}, {"tree_size", th.size}, {"root", policy::to_hex(th.root)}, {"tree_head_time", th.timestamp},
                {"proof_hashes", proof.size()}};
        return "";
    }
    return "log: the certificate is not among the " + std::to_string(th.size) + " entries under the latest signed tree head";
}

// Re-runs every measured record of a certificate from its parameters and inputs and compares the
// values field by field. Returns "" when all agree, else the first difference.
std::string remeasure_certificate(const json& cert, json& info) {
    const json* measured = nullptr;
    if (cert.contains("evidence") && cert.at("evidence").contains("measured")) measured = &cert.at("evidence").at("measured");
    if (!measured || !measured->is_object() || measured->empty()) return "remeasure: the certificate has no measured evidence";
    info = json::object();
    json fresh = json::object();
    auto compare = [&](const std::string& name, const json& old_rec, const json& new_rec) -> std::string {
        const json& ov = old_rec.at("value");
        const json& nv = new_rec.at("value");
        for (auto it = nv.begin(); it != nv.end(); ++it)
            if (!ov.contains(it.key()) || ov.at(it.key()) != it.value()) {
                std::string why = "remeasure: " + name + ": value \"" + it.key() + "\" is " + it.value().dump() +
                                  " on this run, the certificate says " + (ov.contains(it.key()) ? ov.at(it.key()).dump() : "nothing");
                if (old_rec.at("parameters").value("fast_isa", "") != new_rec.at("parameters").value("fast_isa", ""))
                    why += " (the fast kernels ran on " + new_rec.at("parameters").value("fast_isa", "") + " here, on " +
                           old_rec.at("parameters").value("fast_isa", "") + " when certified)";
                return why;
            }
        if (ov.size() != nv.size()) return "remeasure: " + name + ": the certificate's value has fields this run does not produce";
        info[name] = "same value";
        return "";
    };
    try {
        for (auto it = measured->begin(); it != measured->end(); ++it) {
            const json& rec = it.value();
            if (rec.value("function", "") == "policy::measure_convergence") continue;  // derived, below
            std::map<std::string, std::string> files;
            for (const auto& in : rec.at("inputs")) {
                const std::string name = in.at("name").get<std::string>();
                files[name] = read_file(input_path(name));
            }
            fresh[it.key()] = policy::remeasure(rec, files);
            const std::string why = compare(it.key(), rec, fresh[it.key()]);
            if (!why.empty()) return why;
        }
        for (auto it = measured->begin(); it != measured->end(); ++it)
            if (it.value().value("function", "") == "policy::measure_convergence") {
                if (!fresh.contains("cell")) return "remeasure: " + it.key() + ": derived from a cell record the certificate lacks";
                const json again = policy::measure_convergence(fresh.value("model_eval", json()), fresh.at("cell"));
                const std::string why = compare(it.key(), it.value(), again);
                if (!why.empty()) return why;
            }
    } catch (const InputError& e) {
        return std::string("remeasure: ") + e.what();
    } catch (const std::exception& e) {
        return std::string("remeasure: ") + e.what();
    }
    return "";
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
    json remeasured;
    if (r.ok && a.flag("--remeasure")) {
        const std::string why = remeasure_certificate(r.certificate, remeasured);
        if (!why.empty()) {
            r.ok = false;
            r.reason = why;
        } else {
            r.checks.push_back("measured evidence re-run");
        }
    }
    json out = {{"certificate", path}, {"valid", r.ok}, {"checks", r.checks}, {"now", now}};
    if (!remeasured.is_null()) out["remeasured"] = remeasured;
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
        if (!a.has("--log") || a.has("--data") == a.has("--data-file"))
            throw UsageError("audit append needs --log FILE and one of --data TEXT, --data-file FILE");
        const std::string data = a.has("--data") ? a.get("--data", "") : read_file(a.get("--data-file", ""));
        std::optional<policy::Ed25519KeyPair> key;
        if (a.has("--key")) key = read_secret_key(a.get("--key", ""));
        const int count = a.has("--count") ? parse_count("--count", a.get("--count", "")) : 1;
        // With --count, "committed I" on stderr after each fsync: what a crash test may rely on.
        const json r = append_entries(a.get("--log", ""), data, count, key ? &*key : nullptr, now_option(a),
                                      [&](std::uint64_t index) {
                                          if (count > 1) std::fprintf(stderr, "committed %llu\n", (unsigned long long)index);
                                      });
        print(r, "appended entry " + r["index"].dump() + "; size " + r["size"].dump() + ", root " + r["root"].get<std::string>());
        return 0;
    }
    if (sub == "prove") {
        if (!a.has("--log")) throw UsageError("audit prove needs --log FILE");
        const policy::ParsedLog log = policy::parse_log(read_file(a.get("--log", "")));
        if (log.report.status != policy::LogStatus::clean) throw InputError(a.get("--log", "") + ": " + log.report.message);
        const auto leaves = policy::entry_leaf_hashes(log);
        const std::uint64_t size = a.has("--size") ? parse_size("--size", a.get("--size", "")) : leaves.size();
        // Built once in O(n); every root and proof below then reads the cached subtrees.
        const policy::MerkleTree tree = policy::build_tree(leaves);
        json out;
        try {
            if (a.has("--index")) {
                const std::uint64_t i = parse_size("--index", a.get("--index", ""));
                json proof = json::array();
                for (const auto& h : policy::inclusion_proof(tree, i, size)) proof.push_back(policy::to_hex(h));
                out = {{"type", "inclusion"}, {"index", i}, {"size", size}, {"leaf_hash", policy::to_hex(leaves[i])},
                       {"root", policy::to_hex(policy::tree_root(tree, size))}, {"proof", proof}};
            } else if (a.has("--from")) {
                const std::uint64_t m = parse_size("--from", a.get("--from", ""));
                json proof = json::array();
                for (const auto& h : policy::consistency_proof(tree, m, size)) proof.push_back(policy::to_hex(h));
                out = {{"type", "consistency"}, {"old_size", m}, {"new_size", size},
                       {"old_root", policy::to_hex(policy::tree_root(tree, m))},
                       {"new_root", policy::to_hex(policy::tree_root(tree, size))}, {"proof", proof}};
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
        policy::ParsedLog log = policy::parse_log(read_file(path));
        json repaired;
        if (a.flag("--repair") && log.report.status == policy::LogStatus::torn_tail) {
            // Durably drop the torn tail (an append that never finished), then check what remains.
            const policy::RecoveryReport before = log.report;
            const int fd = ::open(path.c_str(), O_WRONLY);
            const bool ok = fd >= 0 && ::ftruncate(fd, off_t(before.valid_bytes)) == 0 && ::fsync(fd) == 0;
            if (fd >= 0) ::close(fd);
            if (!ok) throw InputError(path + ": cannot truncate the torn tail");
            repaired = {{"message", before.message}, {"dropped_bytes", before.dropped_bytes}, {"kept_bytes", before.valid_bytes}};
            std::cerr << "stacklab: " << path << ": repaired: " << before.message << "; truncated " << before.dropped_bytes
                      << " bytes\n";
            log = policy::parse_log(read_file(path));
        }
        const policy::LogCheck c = policy::check_log(log, key);
        const auto& rep = log.report;
        json out = {{"log", path}, {"valid", c.ok},
                    {"recovery", {{"status", policy::log_status_name(rep.status)}, {"message", rep.message},
                                  {"total_bytes", rep.total_bytes}, {"valid_bytes", rep.valid_bytes},
                                  {"dropped_bytes", rep.dropped_bytes}}}};
        if (!repaired.is_null()) out["repaired"] = repaired;
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
