#include "policy/certificate.hpp"

#include <cstdio>
#include <stdexcept>

#include "chip/catalog.hpp"
#include "chip/llm.hpp"
#include "policy/jcs.hpp"

namespace stacklab::policy {
namespace {

using nlohmann::json;

const json& need(const json& j, const char* key, const std::string& where) {
    if (!j.is_object() || !j.contains(key)) throw std::invalid_argument(where + ": missing \"" + key + "\"");
    return j.at(key);
}

void need_hex64(const json& j, const char* key, const std::string& where) {
    const json& v = need(j, key, where);
    if (!v.is_string()) throw std::invalid_argument(where + "/" + key + ": expected 64 hex digits");
    from_hex_fixed<32>(v.get<std::string>(), where + "/" + key);
}

int need_count(const json& j, const char* key, const std::string& where) {
    const json& v = need(j, key, where);
    if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 1000000)
        throw std::invalid_argument(where + "/" + key + ": expected a whole number >= 1");
    return v.get<int>();
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian), after H. Hinnant's days_from_civil.
long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = unsigned(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

json without_signature(json cert) {
    cert.erase("signature");
    return cert;
}

}  // namespace

long long parse_utc(const std::string& s) {
    int y, mo, d, h, mi, se;
    char tail;
    if (s.size() != 20 || std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%c", &y, &mo, &d, &h, &mi, &se, &tail) != 6 ||
        s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        throw std::invalid_argument("time \"" + s + "\": expected YYYY-MM-DDTHH:MM:SSZ (UTC)");
    static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || h > 23 || mi > 59 || se > 59 ||
        (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
        throw std::invalid_argument("time \"" + s + "\": not a valid date and time");
    return days_from_civil(y, unsigned(mo), unsigned(d)) * 86400 + h * 3600 + mi * 60 + se;
}

std::string format_utc(long long t) {
    long long days = t / 86400, rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        --days;
    }
    // civil_from_days (H. Hinnant)
    const long long z = days + 719468;
    const long long era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = unsigned(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const long long y = (long long)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", y + (m <= 2), m, d, rem / 3600,
                  rem % 3600 / 60, rem % 60);
    return buf;
}

json parse_manifest(const std::string& bytes, const std::string& file) {
    const json m = parse_json_strict(bytes, file);
    if (!m.is_object()) throw std::invalid_argument(file + ": a deployment manifest is a JSON object");
    if (need(m, "format", file) != "stacklab-deployment/1")
        throw std::invalid_argument(file + "/format: expected \"stacklab-deployment/1\"");
    if (!need(m, "name", file).is_string()) throw std::invalid_argument(file + "/name: expected a string");
    const json& tier = need(m, "requested_tier", file);
    if (!tier.is_number_integer() || tier.get<int>() < 1 || tier.get<int>() > 3)
        throw std::invalid_argument(file + "/requested_tier: expected 1, 2 or 3");
    const json& pol = need(m, "policies", file);
    if (!pol.is_array()) throw std::invalid_argument(file + "/policies: expected a list of pack ids");
    for (const auto& p : pol)
        if (!p.is_string()) throw std::invalid_argument(file + "/policies: expected a list of pack ids");
    need_hex64(need(m, "model", file), "sha256", file + "/model");
    if (!need(m, "quant", file).is_string()) throw std::invalid_argument(file + "/quant: expected a string");
    const json& chips = need(m, "chips", file);
    if (!chips.is_array() || chips.empty()) throw std::invalid_argument(file + "/chips: expected a non-empty list");
    for (std::size_t i = 0; i < chips.size(); ++i) {
        const std::string w = file + "/chips/" + std::to_string(i);
        if (!need(chips[i], "id", w).is_string()) throw std::invalid_argument(w + "/id: expected a string");
        if (!need(chips[i], "firmware", w).is_string()) throw std::invalid_argument(w + "/firmware: expected a string");
    }
    const json& cell = need(m, "cell", file);
    if (!need(cell, "action_latency_budget_ms", file + "/cell").is_number())
        throw std::invalid_argument(file + "/cell/action_latency_budget_ms: expected a number");
    const json& w = need(m, "workload", file);
    if (!need(w, "llm", file + "/workload").is_string()) throw std::invalid_argument(file + "/workload/llm: expected an id");
    for (const char* k : {"batch", "prompt", "output"}) need_count(w, k, file + "/workload");
    const json& data = need(m, "data", file);
    if (!data.is_array()) throw std::invalid_argument(file + "/data: expected a list");
    for (std::size_t i = 0; i < data.size(); ++i) need_hex64(data[i], "sha256", file + "/data/" + std::to_string(i));
    if (!need(m, "evidence", file).is_object()) throw std::invalid_argument(file + "/evidence: expected an object");
    return m;
}

json gather_evidence(const json& m, bool audit_log, const json& measured) {
    if (!measured.is_object()) throw std::invalid_argument("measured evidence: expected an object of records");
    for (auto it = measured.begin(); it != measured.end(); ++it)
        if (!it.value().is_object() || it.value().value("source", "") != "measured" || !it.value().contains("value"))
            throw std::invalid_argument("measured evidence \"" + it.key() + "\": expected a record with \"source\": \"measured\" and a \"value\"");
    const auto catalog = chip::load_catalog(chip::bundled_catalog_files());
    const json& w = m.at("workload");
    chip::LlmShape shape;
    std::string llm_error;
    try {
        shape = chip::find_llm(w.at("llm").get<std::string>());
    } catch (const std::exception& e) {
        llm_error = e.what();
    }
    chip::LlmWorkload load;
    load.batch = w.at("batch").get<int>();
    load.prompt = w.at("prompt").get<int>();
    load.output = w.at("output").get<int>();

    json per_chip = json::array();
    int in_catalog = 0, domestic = 0, with_firmware = 0;
    double worst = 0;
    bool all_estimated = llm_error.empty();
    for (const auto& c : m.at("chips")) {
        const std::string id = c.at("id").get<std::string>();
        json e = {{"id", id}, {"firmware", c.at("firmware")}};
        if (!c.at("firmware").get<std::string>().empty()) ++with_firmware;
        const chip::ChipSpec* spec = nullptr;
        for (const auto& s : catalog)
            if (s.id == id) spec = &s;
        e["in_catalog"] = spec != nullptr;
        if (!spec) {
            all_estimated = false;
            per_chip.push_back(e);
            continue;
        }
        ++in_catalog;
        e["origin"] = spec->origin;
        e["domestic"] = spec->origin == "CN";
        if (spec->origin == "CN") ++domestic;
        if (llm_error.empty()) {
            try {
                const chip::LlmEstimate est = chip::estimate_llm(
                    shape, *spec, chip::parse_llm_quant(m.at("quant").get<std::string>(), false), chip::LlmSystem{}, load);
                const double action_ms = est.ttft_s * 1e3 + load.output * est.decode_s_per_token * 1e3;
                e["ttft_ms"] = est.ttft_s * 1e3;
                e["decode_ms_per_token"] = est.decode_s_per_token * 1e3;
                e["action_latency_ms"] = action_ms;
                e["fits_memory"] = est.fits;
                worst = std::max(worst, action_ms);
            } catch (const std::exception& ex) {
                e["estimate_error"] = ex.what();
                all_estimated = false;
            }
        }
        per_chip.push_back(e);
    }
    const int n = int(m.at("chips").size());
    json computed = {
        {"chips",
         {{"count", n}, {"in_catalog_count", in_catalog}, {"all_in_catalog", in_catalog == n},
          {"with_firmware_count", with_firmware}, {"all_have_firmware", with_firmware == n},
          {"domestic_count", domestic}, {"all_domestic", domestic == n}, {"per_chip", per_chip}}},
        {"audit_log", {{"enabled", audit_log}}},
    };
    json latency = {{"method", "roofline estimate from the chip catalog's nominal figures (core/chip/llm.hpp): "
                               "TTFT + output tokens x decode time per token; a lower bound on real time, not a measurement"},
                    {"all_estimated", all_estimated}};
    if (all_estimated) latency["worst_action_latency_ms"] = worst;
    if (!llm_error.empty()) latency["error"] = llm_error;
    computed["latency"] = latency;
    // Platforms the manifest declares it validated on, checked against the catalog's origin.
    const json& declared = m.at("evidence");
    if (declared.contains("convergence") && declared.at("convergence").contains("validated_chips") &&
        declared.at("convergence").at("validated_chips").is_array()) {
        int dom = 0;
        for (const auto& id : declared.at("convergence").at("validated_chips"))
            for (const auto& s : catalog)
                if (id.is_string() && s.id == id.get<std::string>() && s.origin == "CN") ++dom;
        computed["convergence"] = {{"validated_domestic_platforms", dom}};
    }
    // The data manifest's hashes as a list, for rules that check measured inputs against it.
    json data_hashes = json::array();
    for (const auto& d : m.at("data")) data_hashes.push_back(d.at("sha256"));
    computed["data"] = {{"sha256", data_hashes}};
    json deployment = {{"name", m.at("name")}, {"requested_tier", m.at("requested_tier")}, {"model", m.at("model")},
                       {"quant", m.at("quant")}, {"chips", m.at("chips")}, {"cell", m.at("cell")},
                       {"workload", m.at("workload")}, {"data", m.at("data")}};
    json provenance = {{"deployment", "described by the manifest"},
                       {"declared", "supplied by the manifest's evidence section; not measured or checked by StackLab"},
                       {"computed", "computed by StackLab during this certification from the bundled chip catalog and LLM shapes"}};
    json doc = {{"deployment", deployment}, {"declared", declared}, {"computed", computed}};
    if (!measured.empty()) {
        doc["measured"] = measured;
        provenance["measured"] =
            "measured by StackLab during this certification by running the model, the cell scenario and the chip models; "
            "each record names its function, parameters and input SHA-256s so it can be re-run";
    }
    doc["provenance"] = provenance;
    return doc;
}

CertifyResult certify(const std::string& manifest_bytes, const std::string& manifest_name,
                      const std::vector<PolicyPack>& packs, const Ed25519KeyPair& key, const CertifyOptions& opt) {
    const json m = parse_manifest(manifest_bytes, manifest_name);
    if (packs.empty()) throw std::invalid_argument(manifest_name + ": no policy packs to certify against");
    if (opt.validity_days < 1) throw std::invalid_argument("validity_days must be >= 1");
    const long long now = parse_utc(opt.now);
    const json evidence = gather_evidence(m, opt.audit_log, opt.measured);
    CertifyResult r;
    r.decision = evaluate(packs, evidence);
    const Decision& d = r.decision;

    json verdicts = json::array();
    for (const auto& v : d.verdicts)
        verdicts.push_back({{"pack", v.pack}, {"rule", v.rule}, {"clause", v.clause},
                            {"severity", v.severity == Severity::mandatory ? "mandatory" : "advisory"},
                            {"outcome", outcome_name(v.outcome)}, {"reasons", v.reasons}, {"evidence", v.evidence}});
    json policies = json::array();
    for (const auto& p : packs) policies.push_back({{"id", p.id}, {"version", p.version}, {"sha256", p.sha256}, {"label", p.label}});
    json hashes = json::object();
    for (auto it = evidence.begin(); it != evidence.end(); ++it) hashes[it.key()] = sha256_hex(canonicalize(it.value()));
    json cert = {
        {"format", "stacklab-certificate/1"},
        {"status", d.pass ? "certified" : "refused"},
        {"subject",
         {{"name", m.at("name")}, {"manifest_sha256", sha256_hex(manifest_bytes)},
          {"model_sha256", m.at("model").at("sha256")}, {"chips", m.at("chips")},
          {"requested_tier", m.at("requested_tier")}}},
        {"policies", policies},
        {"decision", {{"pass", d.pass}, {"summary", d.summary}, {"deciding_rules", d.deciding_rules}, {"warnings", d.warnings}}},
        {"verdicts", verdicts},
        {"evidence", evidence},
        {"evidence_hashes", hashes},
        {"validity", {{"not_before", format_utc(now)}, {"not_after", format_utc(now + 86400LL * opt.validity_days)}}},
        {"issuer", {{"key_id", key_id(key.public_key)}, {"public_key", to_hex(key.public_key)}}},
        {"issued_by", opt.issued_by},
    };
    const Ed25519Signature sig = ed25519_sign(key, canonicalize(cert));
    cert["signature"] = {{"alg", "Ed25519"}, {"value", to_hex(sig)}};
    r.certificate = canonicalize(cert) + "\n";
    return r;
}

VerifyResult verify_certificate(const std::string& bytes, const std::optional<Ed25519PublicKey>& public_key,
                                const std::string& now_text) {
    VerifyResult r;
    auto fail = [&](std::string why) {
        r.ok = false;
        r.reason = std::move(why);
        return r;
    };
    json cert;
    try {
        cert = parse_json_strict(bytes, "certificate");
    } catch (const std::exception& e) {
        return fail(std::string("parse: ") + e.what());
    }
    r.certificate = cert;
    try {
        if (!cert.is_object()) return fail("format: the certificate is not a JSON object");
        if (canonicalize(cert) + "\n" != bytes)
            return fail("canonical form: the bytes are not the RFC 8785 canonical JSON of the certificate plus one newline");
        r.checks.push_back("canonical form");
        if (cert.value("format", "") != "stacklab-certificate/1") return fail("format: not \"stacklab-certificate/1\"");
        const json& sig = need(cert, "signature", "signature");
        if (sig.value("alg", "") != "Ed25519") return fail("signature: algorithm is not Ed25519");
        const Ed25519Signature s = from_hex_fixed<64>(need(sig, "value", "signature").get<std::string>(), "signature value");
        const json& issuer = need(cert, "issuer", "issuer");
        const Ed25519PublicKey embedded =
            from_hex_fixed<32>(need(issuer, "public_key", "issuer").get<std::string>(), "issuer public_key");
        if (need(issuer, "key_id", "issuer") != key_id(embedded))
            return fail("issuer: key_id does not match the embedded public key");
        if (public_key && *public_key != embedded)
            return fail("issuer: the certificate was issued by " + key_id(embedded) + ", not by the given key " +
                        key_id(*public_key));
        if (!ed25519_verify(embedded, canonicalize(without_signature(cert)), s))
            return fail("signature: Ed25519 signature does not verify with " + key_id(embedded));
        r.checks.push_back(public_key ? "signature (given public key)" : "signature (key embedded in the certificate)");
        const json& ev = need(cert, "evidence", "evidence");
        const json& hashes = need(cert, "evidence_hashes", "evidence_hashes");
        if (!hashes.is_object() || hashes.size() != ev.size()) return fail("evidence hashes: sections do not match the evidence");
        for (auto it = hashes.begin(); it != hashes.end(); ++it) {
            if (!ev.contains(it.key())) return fail("evidence hashes: no evidence section \"" + it.key() + "\"");
            if (sha256_hex(canonicalize(ev.at(it.key()))) != it.value())
                return fail("evidence hashes: section \"" + it.key() + "\" does not match its hash");
        }
        r.checks.push_back("evidence hashes");
        const json& validity = need(cert, "validity", "validity");
        const long long nb = parse_utc(need(validity, "not_before", "validity").get<std::string>());
        const long long na = parse_utc(need(validity, "not_after", "validity").get<std::string>());
        const long long now = parse_utc(now_text);
        if (now < nb) return fail("validity: not valid before " + format_utc(nb) + " (now " + now_text + ")");
        if (now > na) return fail("validity: expired at " + format_utc(na) + " (now " + now_text + ")");
        r.checks.push_back("validity period");
        if (cert.value("status", "") != "certified")
            return fail("status: the certificate records a refusal: " + need(cert, "decision", "decision").value("summary", ""));
        r.checks.push_back("status certified");
    } catch (const std::exception& e) {
        return fail(std::string("structure: ") + e.what());
    }
    r.ok = true;
    return r;
}

std::string certificate_log_entry(const std::string& certificate_bytes) {
    const json cert = parse_json_strict(certificate_bytes, "certificate");
    return canonicalize(json{{"type", "certification"},
                             {"certificate_sha256", sha256_hex(certificate_bytes)},
                             {"subject", cert.at("subject").at("name")},
                             {"status", cert.at("status")}});
}

}  // namespace stacklab::policy
