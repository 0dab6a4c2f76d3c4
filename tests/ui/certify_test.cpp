// The Certify panel (ui/certify_panel.cpp) against the core it drives: the verdict for a chosen tier
// and set of packs is policy::certify's, the job runs stage by stage and a cancelled one leaves
// nothing behind, a pasted certificate is verified like `stacklab verify`, the audit log proves
// every entry, and exports hand the shell exactly the bytes the core makes. Drawn headlessly like
// scenario_test.cpp (ImGui without a window or renderer).
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <map>
#include <string>

#include <imgui.h>
#include <nlohmann/json.hpp>

#include "policy/audit_log.hpp"
#include "policy/report.hpp"
#include "ui/app.hpp"
#include "headless.hpp"

using nlohmann::json;
using stacklab::ui::AppState;
namespace ui = stacklab::ui;
namespace policy = stacklab::policy;

namespace {

using ui::testing::Headless;

const policy::DeploymentFile& deployment(const std::string& id) {
    for (const auto& f : policy::bundled_deployment_files())
        if (f.name.find("/" + id + ".json") != std::string::npos) return f;
    throw std::invalid_argument("no deployment " + id);
}

// What `stacklab certify` decides for the manifest (with requested_tier replaced when tier > 0) and packs.
policy::Decision core_decision(const std::string& id, int tier, const std::vector<std::string>& pack_ids, const std::string& now) {
    const policy::DeploymentFile& f = deployment(id);
    std::string bytes = f.bytes;
    if (tier > 0) {
        json m = json::parse(bytes);
        m["requested_tier"] = tier;
        bytes = m.dump(2) + "\n";
    }
    std::vector<policy::PolicyPack> packs;
    for (const auto& p : pack_ids) packs.push_back(policy::find_pack(p));
    policy::CertifyOptions opt;
    opt.now = now;
    return policy::certify(bytes, f.name, packs, ui::demo_key(), opt).decision;
}

json verdicts(const policy::Decision& d) {
    json v = json::array();
    for (const auto& r : d.verdicts) v.push_back({r.pack, r.rule, policy::outcome_name(r.outcome), r.reasons});
    return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ui_certify)

BOOST_AUTO_TEST_CASE(choosing_packs_and_tier_changes_the_verdict_as_the_core_decides) {
    AppState s = ui::make_app_state();
    BOOST_TEST(ui::apply_scenario(s, "tab=certify&deployment=warehouse-cell-tier2-pass") == "");
    ui::update_certify(s, s.certify_report);
    const ui::CertifyPanelReport& r = s.certify_report;
    BOOST_TEST_REQUIRE(r.computed, r.error);
    BOOST_TEST(r.decision.pass);  // the manifest's four packs at its tier 2
    BOOST_TEST(r.packs == r.manifest_packs);
    BOOST_TEST(verdicts(r.decision).dump() == verdicts(core_decision("warehouse-cell-tier2-pass", 0, r.manifest_packs, r.now)).dump());
    // real-world-anchors alone: no mandatory rule applies, so default deny refuses.
    BOOST_TEST(ui::apply_scenario(s, "packs=real-world-anchors") == "");
    ui::update_certify(s, s.certify_report);
    BOOST_TEST_REQUIRE(r.computed, r.error);
    BOOST_TEST(!r.decision.pass);
    BOOST_TEST(r.packs == std::vector<std::string>{"real-world-anchors"});
    BOOST_TEST(r.decision.summary == core_decision("warehouse-cell-tier2-pass", 0, {"real-world-anchors"}, r.now).summary);
    // Tier 3 on licensing-tiers: the T3 rules apply to the copy of the manifest and fail.
    BOOST_TEST(ui::apply_scenario(s, "tier=3&packs=licensing-tiers") == "");
    ui::update_certify(s, s.certify_report);
    BOOST_TEST_REQUIRE(r.computed, r.error);
    BOOST_TEST(r.tier == 3);
    BOOST_TEST(r.requested_tier == 2);
    BOOST_TEST(!r.decision.pass);
    const policy::Decision core = core_decision("warehouse-cell-tier2-pass", 3, {"licensing-tiers"}, r.now);
    BOOST_TEST(verdicts(r.decision).dump() == verdicts(core).dump());
    BOOST_TEST(r.decision.summary.find("T3.audit-log") != std::string::npos, r.decision.summary);
    // The certificate binds the copy's hash, not the bundled file's, and records tier 3.
    const json cert = json::parse(r.certificate);
    BOOST_TEST(cert["subject"]["requested_tier"] == 3);
    BOOST_TEST(cert["subject"]["manifest_sha256"] != policy::sha256_hex(deployment("warehouse-cell-tier2-pass").bytes));
    // Back to the manifest's tier and packs: the scenario forgets both.
    BOOST_TEST(ui::apply_scenario(s, "tier=0&packs=") == "");
    BOOST_TEST(ui::scenario_query(s) == "tab=certify&deployment=warehouse-cell-tier2-pass");
    // Bad values are named; the rest applies.
    BOOST_TEST(ui::apply_scenario(s, "packs=licensing-tiers,nope&tier=4&deployment=edge-cell-tier2-fail") ==
               "Scenario: packs: no bundled policy pack \"nope\" (agent-certification,chip-model-convergence,licensing-tiers,"
               "real-world-anchors); tier \"4\" is not 0 (the manifest's), 1, 2 or 3");
    BOOST_TEST(s.deployment == "edge-cell-tier2-fail");
    BOOST_TEST(s.certify_packs.empty());
}

BOOST_AUTO_TEST_CASE(packs_and_tier_round_trip_through_the_query_and_the_json_document) {
    AppState s = ui::make_app_state();
    BOOST_TEST(ui::apply_scenario(s, "tab=certify&tier=3&packs=real-world-anchors,licensing-tiers") == "");
    const std::string q = ui::scenario_query(s);
    BOOST_TEST(q == "tab=certify&tier=3&packs=real-world-anchors,licensing-tiers");
    const json doc = ui::scenario_json(s);
    BOOST_TEST(doc["tier"] == 3);
    BOOST_TEST(doc["packs"] == "real-world-anchors,licensing-tiers");
    AppState t = ui::make_app_state();
    BOOST_TEST(ui::apply_scenario_json(t, doc.dump(), "x.json") == "");
    BOOST_TEST(t.certify_tier == 3);
    BOOST_TEST(t.certify_packs == s.certify_packs);
    BOOST_TEST(ui::scenario_query(t) == q);
    // A document without them goes back to the manifest's.
    BOOST_TEST(ui::apply_scenario_json(t, R"({"stacklab_scenario": 1, "tab": "certify"})", "y.json") == "");
    BOOST_TEST(t.certify_tier == 0);
    BOOST_TEST(t.certify_packs.empty());
    const std::string e = ui::apply_scenario_json(t, R"({"stacklab_scenario": 1, "packs": "x"})", "z.json");
    BOOST_TEST(e.find("no bundled policy pack \"x\"") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(the_job_runs_one_stage_per_frame_and_cancel_leaves_no_half_result) {
    AppState s = ui::make_app_state();
    ui::apply_scenario(s, "tab=certify&deployment=warehouse-cell-tier2-pass");
    Headless h(s);
    h.frame();
    h.frame();
    while (ui::ui_busy(s)) h.frame();
    ui::CertifyPanelReport& r = s.certify_report;
    BOOST_TEST_REQUIRE(r.computed, r.error);
    const size_t entries = r.log.entries.size();
    const std::string log_bytes = r.log.bytes;
    // A new choice starts a job on the Certify tab: one stage per frame.
    ui::apply_scenario(s, "deployment=edge-cell-tier2-fail");
    h.frame();
    BOOST_TEST(r.stage == "running");
    BOOST_TEST(r.frames == 1);
    BOOST_TEST(r.next_stage == 1u);
    BOOST_TEST(!r.computed);
    h.frame();
    h.frame();
    h.frame();
    BOOST_TEST(r.next_stage == 4u);
    BOOST_TEST(ui::ui_busy(s));
    ui::cancel_certify(r);
    BOOST_TEST(r.stage == "cancelled");
    BOOST_TEST(!ui::ui_busy(s));
    for (int i = 0; i < 5; ++i) h.frame();
    // Nothing published, nothing appended, no restart on its own.
    BOOST_TEST(r.stage == "cancelled");
    BOOST_TEST(!r.computed);
    BOOST_TEST(r.certificate.empty());
    BOOST_TEST(r.work_certificate.empty());
    BOOST_TEST(r.log.entries.size() == entries);
    BOOST_TEST(r.log.bytes == log_bytes);
    const json rep = json::parse(ui::ui_report_json(s))["certify_panel"];
    BOOST_TEST(rep["stage"] == "cancelled");
    BOOST_TEST(rep["computed"] == false);
    BOOST_TEST(rep.contains("pass") == false);
    // "Run again" (clicked) certifies it whole.
    h.click(s.certify_report.buttons, "run");
    while (ui::ui_busy(s)) h.frame();
    BOOST_TEST(r.stage == "done");
    BOOST_TEST_REQUIRE(r.computed, r.error);
    BOOST_TEST(r.deployment == "edge-cell-tier2-fail");
    BOOST_TEST(r.log.entries.size() == entries + 1);
    BOOST_TEST(r.frames == long(r.stages.size()));
    // parse, packs, evidence, one evaluation per pack, certify, verify, log.
    BOOST_TEST(r.stages.size() == 6 + r.packs.size());
    for (const auto& st : r.stages) BOOST_TEST(st.done, st.name);
    // The claim the panel makes for running on the UI thread: no stage near a 50 ms stall.
    BOOST_TEST(r.max_stage_ms < 50.0);
    BOOST_TEST(r.decision.summary == core_decision("edge-cell-tier2-fail", 0, r.manifest_packs, r.now).summary);
}

BOOST_AUTO_TEST_CASE(a_pasted_certificate_verifies_and_a_tampered_malformed_or_expired_one_fails_naming_the_source) {
    AppState s = ui::make_app_state();
    ui::apply_scenario(s, "deployment=warehouse-cell-tier2-pass");
    ui::update_certify(s, s.certify_report);
    const std::string cert = s.certify_report.certificate;
    ui::CertifyTools& t = s.certify_tools;
    // Pasted, then the Verify button (clicked).
    t.paste = cert;
    {
        Headless h(s);
        ui::apply_scenario(s, "tab=certify");
        h.frame();
        h.click(s.certify_report.buttons, "verify_paste");
    }
    BOOST_TEST(t.result.ok, t.message);
    BOOST_TEST(t.message.rfind("pasted text: valid", 0) == 0, t.message);
    std::string bad = cert;
    ui::tamper_one_byte(bad);
    BOOST_TEST(ui::verify_certificate_input(s, "cert.json", bad).rfind("cert.json: NOT valid: signature:", 0) == 0, t.message);
    BOOST_TEST(!t.result.ok);
    BOOST_TEST(ui::verify_certificate_input(s, "notes.json", "hello").rfind("notes.json: NOT valid: parse:", 0) == 0, t.message);
    BOOST_TEST(ui::verify_certificate_input(s, "scenario.json", "{\"stacklab_scenario\":1}\n").find("NOT valid: format:") !=
                   std::string::npos, t.message);
    BOOST_TEST(ui::verify_certificate_input(s, "empty.json", "").find("empty") != std::string::npos, t.message);
    // Another key than the issuer's.
    t.key_mode = 1;
    std::snprintf(t.pubkey_hex, sizeof t.pubkey_hex, "%s", policy::to_hex(policy::ed25519_from_seed(policy::Ed25519Seed{}).public_key).c_str());
    BOOST_TEST(ui::verify_certificate_input(s, "cert.json", cert).find("NOT valid: issuer:") != std::string::npos, t.message);
    std::snprintf(t.pubkey_hex, sizeof t.pubkey_hex, "%s", "abc");
    BOOST_TEST(ui::verify_certificate_input(s, "cert.json", cert).find("NOT valid: public key:") != std::string::npos, t.message);
    std::snprintf(t.pubkey_hex, sizeof t.pubkey_hex, "%s", policy::to_hex(ui::demo_key().public_key).c_str());
    BOOST_TEST(ui::verify_certificate_input(s, "cert.json", cert).rfind("cert.json: valid", 0) == 0, t.message);
    // The key inside the certificate: valid, and the message says what that does not show.
    t.key_mode = 2;
    BOOST_TEST(ui::verify_certificate_input(s, "cert.json", cert).find("integrity only") != std::string::npos, t.message);
    BOOST_TEST(t.result.ok);
    // Expired: issued in 2020 for a year.
    t.key_mode = 0;
    const policy::DeploymentFile& f = deployment("warehouse-cell-tier2-pass");
    policy::CertifyOptions opt;
    opt.now = "2020-01-01T00:00:00Z";
    std::vector<policy::PolicyPack> packs;
    const json manifest = json::parse(f.bytes);
    for (const auto& p : manifest.at("policies")) packs.push_back(policy::find_pack(p.get<std::string>()));
    const std::string old = policy::certify(f.bytes, f.name, packs, ui::demo_key(), opt).certificate;
    BOOST_TEST(ui::verify_certificate_input(s, "old.json", old).find("NOT valid: validity: expired at 2020-12-31") !=
                   std::string::npos, t.message);
    const json rep = json::parse(ui::ui_report_json(s))["certify_panel"]["verify_input"];
    BOOST_TEST(rep["source"] == "old.json");
    BOOST_TEST(rep["ok"] == false);
}

BOOST_AUTO_TEST_CASE(the_audit_log_proves_every_entry_and_a_tampered_copy_is_corrupt) {
    AppState s = ui::make_app_state();
    ui::CertifyPanelReport& r = s.certify_report;
    for (const char* d : {"warehouse-cell-tier2-pass", "edge-cell-tier2-fail", "warehouse-cell-tier2-pass"}) {
        s.deployment = d;
        r.restart = true;
        ui::update_certify(s, r);
        BOOST_TEST_REQUIRE(r.computed, r.error);
    }
    BOOST_TEST_REQUIRE(r.log.entries.size() == 3u);
    // The log's bytes stand on their own: the core's parser and checker accept them.
    const policy::ParsedLog parsed = policy::parse_log(r.log.bytes);
    BOOST_TEST(std::string(policy::log_status_name(parsed.report.status)) == "clean");
    const policy::LogCheck check = policy::check_log(parsed, ui::demo_key().public_key);
    BOOST_TEST(check.ok, check.reason);
    BOOST_TEST(check.entries == 3u);
    BOOST_TEST(check.tree_heads == 3u);
    BOOST_TEST(r.log.entries.back() == policy::certificate_log_entry(r.certificate));
    for (int i = 0; i < 3; ++i) {
        ui::select_log_entry(r.log, i);
        BOOST_TEST(r.log.proof.ok, r.log.proof.reason);
        BOOST_TEST(r.log.proof_size == 3u);
        BOOST_TEST(r.log.proof_hex.size() == (i == 2 ? 1u : 2u));  // RFC 9162 path lengths in a tree of 3
        BOOST_TEST(r.log.root_hex == policy::to_hex(check.root));
    }
    // A changed entry text does not verify against the signed root.
    std::vector<policy::Hash> proof;
    for (const auto& h : r.log.proof_hex) proof.push_back(policy::from_hex_fixed<32>(h, "proof"));
    BOOST_TEST(!policy::verify_inclusion(2, 3, policy::leaf_hash(r.log.entries[1]), proof, check.root).ok);
    ui::select_log_entry(r.log, 1);
    ui::tamper_log_entry(r.log);
    BOOST_TEST(r.log.tampered);
    BOOST_TEST(std::string(policy::log_status_name(r.log.tampered_recovery.status)) == "corrupt");
    BOOST_TEST(!r.log.tampered_check.ok);
    BOOST_TEST(!r.log.tampered_check.reason.empty());
    BOOST_TEST(policy::check_log(policy::parse_log(r.log.bytes), ui::demo_key().public_key).ok);  // the real log is untouched
    const json rep = json::parse(ui::ui_report_json(s))["certify_panel"]["log"];
    BOOST_TEST(rep["entries"] == 3);
    BOOST_TEST(rep["check_ok"] == true);
    BOOST_TEST(rep["proof"]["ok"] == true);
    BOOST_TEST(rep["tampered_status"] == "corrupt");
}

BOOST_AUTO_TEST_CASE(exports_hand_the_shell_the_bytes_the_core_makes) {
    AppState s = ui::make_app_state();
    ui::apply_scenario(s, "tab=certify&deployment=warehouse-cell-tier2-pass");
    ui::CertifyTools& t = s.certify_tools;
    BOOST_TEST(ui::export_certify(s, "certificate") == "this shell can neither save nor download");
    std::map<std::string, std::string> files;
    t.save = [&](const std::string& path, const std::string& bytes) {
        files[path] = bytes;
        return std::string();
    };
    Headless h(s);
    h.frame();
    while (ui::ui_busy(s)) h.frame();
    const ui::CertifyPanelReport& r = s.certify_report;
    BOOST_TEST_REQUIRE(r.computed, r.error);
    h.click(s.certify_report.buttons, "export_certificate");
    BOOST_TEST(files.at("warehouse-cell-tier2-pass.certificate.json") == r.certificate);
    BOOST_TEST(t.export_status == "Saved warehouse-cell-tier2-pass.certificate.json (" + std::to_string(r.certificate.size()) + " bytes)");
    const json cert = json::parse(r.certificate);
    BOOST_TEST(ui::export_certify(s, "report-md") == "");
    BOOST_TEST(files.at("warehouse-cell-tier2-pass.report.md") == policy::render_report(cert, policy::ReportFormat::markdown));
    std::snprintf(t.folder, sizeof t.folder, "%s", "out");
    BOOST_TEST(ui::export_certify(s, "report-html") == "");
    BOOST_TEST(files.at("out/warehouse-cell-tier2-pass.report.html") == policy::render_report(cert, policy::ReportFormat::html));
    BOOST_TEST(ui::export_certify(s, "log") == "");
    BOOST_TEST(files.at("out/stacklab-playground-audit.log") == r.log.bytes);
    BOOST_TEST(ui::export_certify(s, "pdf") == "no export \"pdf\" (certificate, report-md, report-html, log)");
    BOOST_TEST(t.export_error);
    // A failing save is reported, naming the file.
    t.save = [](const std::string& path, const std::string&) { return "cannot save " + path + ": disk full"; };
    BOOST_TEST(ui::export_certify(s, "certificate") == "cannot save out/warehouse-cell-tier2-pass.certificate.json: disk full");
    // The browser's download gets the same bytes, name and type.
    t.save = nullptr;
    std::string name, bytes, mime;
    t.download = [&](const std::string& n, const std::string& b, const std::string& m) { name = n, bytes = b, mime = m; };
    BOOST_TEST(ui::export_certify(s, "certificate") == "");
    BOOST_TEST(name == "warehouse-cell-tier2-pass.certificate.json");
    BOOST_TEST(bytes == r.certificate);
    BOOST_TEST(mime == "application/json");
    const json rep = json::parse(ui::ui_report_json(s))["certify_panel"]["export"];
    BOOST_TEST(rep["download"] == true);
    BOOST_TEST(rep["exported"].size() == 5u);
}

BOOST_AUTO_TEST_SUITE_END()
