// The Certify panel: a bundled example deployment (models/deployments) certified with the code behind
// `stacklab certify` against the policy packs the student picks (default: the manifest's), at the
// manifest's tier or an override, signed with a DEMO key whose secret is derived from a public string
// (anyone can sign with it: the panel says so), verified like `stacklab verify`, and recorded in an
// in-memory audit log in the core's format with signed tree heads and Merkle inclusion proofs.
// "Tamper one byte" changes one digit inside the signed evidence and verifies again, so students see
// the signature check fail; "tamper entry" does the same to a copy of the log.
//
// The certification is a job of stages, each one core call: parse the manifest, load the packs,
// gather the evidence, evaluate each pack alone, certify and sign (policy::certify, which gathers and
// evaluates again and records the decision), verify, append to the log. Measured on the build machine
// (native Release) the whole job takes a few milliseconds (`stacklab certify` runs in about 10 ms
// including process start), so no stage comes near a frame: the panel runs one stage per frame in
// both builds, which shows each stage as it happens and lets Cancel stop between stages, and no worker
// thread is needed. The report keeps each stage's wall time (max_stage_ms) so tests can hold that
// claim. The panel does not measure evidence (no model run, no cell run: `stacklab certify --measure`
// does), so the measured example deployments are refused here for missing evidence.
//
// Verify a certificate: pasted text, a file the shell reads (desktop path field or a file dropped on
// the window; browser file picker or drop), with the demo key, a pasted public key or the key inside
// the certificate. Export: the certificate, its Markdown and HTML reports (policy::render_report) and
// the audit log's bytes, through the shell's callbacks (CertifyTools).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <string>

#include <imgui.h>

#include "policy/report.hpp"
#include "ui/app.hpp"
#include "ui/charts.hpp"

namespace stacklab::ui {

// The demo key: its seed is SHA-256 of a public string, so it proves nothing about who signed.
constexpr const char* kDemoKeyPhrase = "stacklab playground demo key: public, proves nothing";
// The largest certificate the verify box takes: the bundled ones are tens of kB.
constexpr size_t kMaxCertificateBytes = 4u << 20;

policy::Ed25519KeyPair demo_key() {
    return policy::ed25519_from_seed(policy::sha256(std::string_view(kDemoKeyPhrase)));
}

std::vector<std::string> bundled_deployment_ids() { return json_file_ids(policy::bundled_deployment_files()); }

std::vector<std::string> bundled_pack_ids() { return json_file_ids(policy::bundled_pack_files()); }

std::string packs_query(const std::vector<std::string>& packs) {
    std::string q;
    for (const auto& p : packs) q += (q.empty() ? "" : ",") + p;
    return q;
}

std::string parse_packs_query(const std::string& text, std::vector<std::string>& out) {
    const auto known = bundled_pack_ids();
    std::vector<std::string> packs;
    size_t start = 0;
    while (start <= text.size() && !text.empty()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        const std::string id = text.substr(start, end - start);
        start = end + 1;
        if (std::find(known.begin(), known.end(), id) == known.end())
            return "packs: no bundled policy pack \"" + id + "\" (" + packs_query(known) + ")";
        if (std::find(packs.begin(), packs.end(), id) != packs.end()) return "packs: \"" + id + "\" named twice";
        packs.push_back(id);
    }
    out = packs;
    return "";
}

// One digit of the signed evidence changed (+1 mod 10): the JSON still parses, the signature no longer
// matches. Returns the byte offset changed, or -1 when there is no digit to change.
long tamper_one_byte(std::string& cert) {
    size_t at = cert.find("\"evidence\"");
    if (at == std::string::npos) at = 0;
    for (size_t i = at; i < cert.size(); ++i)
        if (std::isdigit(static_cast<unsigned char>(cert[i]))) {
            cert[i] = char('0' + (cert[i] - '0' + 1) % 10);
            return long(i);
        }
    return -1;
}

namespace {

std::string now_utc() { return policy::format_utc(static_cast<long long>(std::time(nullptr))); }

CertifyChoice choice_of(const AppState& state) { return CertifyChoice{state.deployment, state.certify_tier, state.certify_packs}; }

const policy::DeploymentFile& deployment_file(const std::string& id) {
    const auto ids = bundled_deployment_ids();
    auto it = std::find(ids.begin(), ids.end(), id);
    if (it == ids.end()) throw std::invalid_argument("no bundled deployment \"" + id + "\"");
    return policy::bundled_deployment_files()[size_t(it - ids.begin())];
}

void start(const CertifyChoice& choice, CertifyPanelReport& r) {
    const long computations = r.computations + 1;
    CertifyAuditLog log = std::move(r.log);
    r = CertifyPanelReport();
    r.log = std::move(log);
    r.computations = computations;
    r.choice = choice;
    r.deployment = choice.deployment;
    r.now = now_utc();
    r.key_id = policy::key_id(demo_key().public_key);
    r.stage = "running";
    for (const char* s : {"parse manifest", "load packs", "gather evidence"}) r.stages.push_back({s, "", 0, false});
    // "evaluate <pack>" stages go in after "load packs", once the packs are known.
    for (const char* s : {"certify and sign", "verify", "append to audit log"}) r.stages.push_back({s, "", 0, false});
}

void append_to_log(CertifyAuditLog& log, const std::string& entry, const std::string& now) {
    if (log.bytes.empty()) log.bytes = policy::encode_log_header();
    log.bytes += policy::encode_record(policy::RecordKind::entry, entry);
    const std::vector<policy::Hash> leaves = policy::entry_leaf_hashes(policy::parse_log(log.bytes));
    const policy::TreeHead th = policy::sign_tree_head(leaves.size(), policy::tree_root(leaves), now, demo_key());
    log.tree_head = policy::tree_head_json(th);
    log.bytes += policy::encode_record(policy::RecordKind::tree_head, log.tree_head);
    log.entries.push_back(entry);
    log.check = policy::check_log(policy::parse_log(log.bytes), demo_key().public_key);
    log.tampered = false;
    select_log_entry(log, int(log.entries.size()) - 1);
}

// Runs stage `r.next_stage`; an exception ends the job with stage "error" naming the stage.
void step(CertifyPanelReport& r) {
    CertifyStage& st = r.stages[r.next_stage];
    const auto t0 = std::chrono::steady_clock::now();
    try {
        if (st.name == "parse manifest") {
            const policy::DeploymentFile& f = deployment_file(r.choice.deployment);
            r.manifest = policy::parse_manifest(f.bytes, f.name);
            r.manifest_bytes = f.bytes;
            r.manifest_name = f.name;
            r.requested_tier = r.manifest.at("requested_tier").get<int>();
            r.tier = r.requested_tier;
            for (const auto& p : r.manifest.at("policies")) r.manifest_packs.push_back(p.get<std::string>());
            if (r.choice.tier != 0 && r.choice.tier != r.requested_tier) {
                // A copy asking for another tier; the certificate binds this copy's hash, not the file's.
                nlohmann::json copy = nlohmann::json::parse(f.bytes);
                copy["requested_tier"] = r.choice.tier;
                r.manifest_bytes = copy.dump(2) + "\n";
                r.manifest_name = f.name + " (requested_tier " + std::to_string(r.choice.tier) + ")";
                r.manifest = policy::parse_manifest(r.manifest_bytes, r.manifest_name);
                r.tier = r.choice.tier;
            }
            st.detail = r.manifest_name + ", tier " + std::to_string(r.tier) + ", SHA-256 " +
                        policy::sha256_hex(r.manifest_bytes).substr(0, 16) + "...";
        } else if (st.name == "load packs") {
            r.packs = r.choice.packs.empty() ? r.manifest_packs : r.choice.packs;
            std::vector<CertifyStage> evals;
            for (const auto& id : r.packs) {
                r.pack_defs.push_back(policy::find_pack(id));
                evals.push_back({"evaluate " + id, "", 0, false});
            }
            st.detail = packs_query(r.packs) + (r.choice.packs.empty() ? " (the manifest's)" : " (chosen)");
            // After "gather evidence"; `st` is not used past this point (the insert may move the vector).
            r.stages.insert(r.stages.begin() + long(r.next_stage) + 2, evals.begin(), evals.end());
        } else if (st.name == "gather evidence") {
            r.evidence = policy::gather_evidence(r.manifest, false);
            st.detail = std::to_string(r.evidence.size()) + " sections";
        } else if (st.name.rfind("evaluate ", 0) == 0) {
            const size_t i = r.pack_pass.size();
            const policy::Decision d = policy::evaluate({r.pack_defs.at(i)}, r.evidence);
            r.pack_pass.emplace_back(r.pack_defs[i].id, d.pass);
            st.detail = d.summary;
        } else if (st.name == "certify and sign") {
            policy::CertifyOptions opt;
            opt.now = r.now;
            opt.issued_by = "stacklab playground (demo key)";
            const policy::CertifyResult c = policy::certify(r.manifest_bytes, r.manifest_name, r.pack_defs, demo_key(), opt);
            r.work_certificate = c.certificate;
            r.work_decision = c.decision;
            st.detail = std::string(c.decision.pass ? "certified" : "refused") + ", " + std::to_string(c.certificate.size()) +
                        " bytes signed";
        } else if (st.name == "verify") {
            r.work_verify = policy::verify_certificate(r.work_certificate, demo_key().public_key, r.now);
            st.detail = r.work_verify.ok ? "valid" : "not valid: " + r.work_verify.reason;
        } else if (st.name == "append to audit log") {
            append_to_log(r.log, policy::certificate_log_entry(r.work_certificate), r.now);
            // Published here, together with the log entry: a cancelled job shows neither.
            r.certificate = std::move(r.work_certificate);
            r.decision = std::move(r.work_decision);
            r.verify = std::move(r.work_verify);
            r.certificate_sha256 = policy::sha256_hex(r.certificate);
            r.computed = true;
            st.detail = "entry " + std::to_string(r.log.entries.size() - 1) + ", tree head of size " +
                        std::to_string(r.log.entries.size()) + " signed";
        }
    } catch (const std::exception& e) {
        r.error = st.name + ": " + e.what();
        r.stage = "error";
    }
    CertifyStage& done = r.stages[r.next_stage];
    done.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    done.done = r.stage != "error";
    r.max_stage_ms = std::max(r.max_stage_ms, done.ms);
    ++r.next_stage;
    if (r.stage == "running" && r.next_stage == r.stages.size()) r.stage = "done";
}

bool needs_start(const CertifyChoice& c, const CertifyPanelReport& r) {
    return r.computations == 0 || !(c == r.choice) || r.restart;
}

}  // namespace

void update_certify(const AppState& state, CertifyPanelReport& r) {
    const CertifyChoice c = choice_of(state);
    if (needs_start(c, r)) start(c, r);
    if (r.busy()) ++r.frames;
    while (r.busy()) step(r);
}

void advance_certify(const AppState& state, CertifyPanelReport& r) {
    const CertifyChoice c = choice_of(state);
    if (needs_start(c, r)) start(c, r);
    if (!r.busy()) return;
    ++r.frames;
    step(r);
}

void cancel_certify(CertifyPanelReport& r) {
    r.restart = false;
    if (r.stage != "running") return;
    r.stage = "cancelled";
    r.manifest = r.evidence = nlohmann::json();
    r.pack_defs.clear();
    r.work_certificate.clear();
    r.work_decision = policy::Decision();
    r.work_verify = policy::VerifyResult();
}

void select_log_entry(CertifyAuditLog& log, int i) {
    log.selected = i;
    log.proof_index = -1;
    log.proof_hex.clear();
    log.proof = policy::ProofCheck();
    log.tampered = false;
    if (i < 0 || i >= int(log.entries.size()) || !log.check.latest_tree_head) return;
    try {
        const policy::TreeHead& th = *log.check.latest_tree_head;
        const std::vector<policy::Hash> leaves = policy::entry_leaf_hashes(policy::parse_log(log.bytes));
        const std::vector<policy::Hash> proof = policy::inclusion_proof(leaves, uint64_t(i), th.size);
        // The leaf is hashed from the entry text shown, so the proof ties that text to the signed root.
        const policy::Hash leaf = policy::leaf_hash(log.entries[size_t(i)]);
        log.proof = policy::verify_inclusion(uint64_t(i), th.size, leaf, proof, th.root);
        log.proof_index = i;
        log.proof_size = th.size;
        for (const auto& h : proof) log.proof_hex.push_back(policy::to_hex(h));
        log.leaf_hex = policy::to_hex(leaf);
        log.root_hex = policy::to_hex(th.root);
    } catch (const std::exception& e) {
        log.proof.ok = false;
        log.proof.reason = e.what();
    }
}

void tamper_log_entry(CertifyAuditLog& log) {
    if (log.selected < 0 || log.selected >= int(log.entries.size())) return;
    const policy::ParsedLog parsed = policy::parse_log(log.bytes);
    int seen = 0;
    for (const auto& rec : parsed.records) {
        if (rec.kind != policy::RecordKind::entry) continue;
        if (seen++ != log.selected) continue;
        std::string copy = log.bytes;
        // A digit of the entry's certificate hash (past the 5-byte length and kind): still JSON.
        const size_t payload = size_t(rec.offset) + 5;
        size_t at = copy.find("\"certificate_sha256\":\"", payload);
        at = at == std::string::npos ? payload : at + 22;
        copy[at] = copy[at] == '0' ? '1' : '0';
        log.tampered_offset = long(at);
        const policy::ParsedLog bad = policy::parse_log(copy);
        log.tampered_recovery = bad.report;
        log.tampered_check = policy::check_log(bad, demo_key().public_key);
        log.tampered = true;
        return;
    }
}

std::string verify_certificate_input(AppState& state, const std::string& source, const std::string& bytes) {
    CertifyTools& t = state.certify_tools;
    t.source = source;
    t.verified = true;
    t.result = policy::VerifyResult();
    if (&bytes != &t.paste) t.paste = bytes.size() <= kMaxCertificateBytes ? bytes : std::string();
    const char* key_name[] = {"the demo public key", "the pasted public key", "the key inside the certificate"};
    const int mode = std::clamp(t.key_mode, 0, 2);
    try {
        if (bytes.empty()) throw std::invalid_argument("empty: paste a certificate or open a .json file");
        if (bytes.size() > kMaxCertificateBytes)
            throw std::invalid_argument(std::to_string(bytes.size()) + " bytes, more than the " +
                                        std::to_string(kMaxCertificateBytes >> 20) + " MiB a certificate may have here");
        std::optional<policy::Ed25519PublicKey> key;
        if (mode == 0) key = demo_key().public_key;
        std::string hex = t.pubkey_hex;
        hex.erase(std::remove_if(hex.begin(), hex.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
                  hex.end());
        if (mode == 1) key = policy::from_hex_fixed<32>(hex, "public key");
        t.result = policy::verify_certificate(bytes, key, now_utc());
    } catch (const std::exception& e) {
        t.result.ok = false;
        t.result.reason = e.what();
    }
    t.message = source + ": " + (t.result.ok ? "valid" : "NOT valid: " + t.result.reason) + " (checked with " +
                key_name[mode] + (mode == 2 ? ", which shows integrity only, not who signed" : "") + ")";
    return t.message;
}

std::string certify_export_bytes(const AppState& state, const std::string& what, std::string& file_name, std::string& mime) {
    const CertifyPanelReport& r = state.certify_report;
    if (what == "log") {
        if (r.log.bytes.empty()) throw std::invalid_argument("the audit log is empty: nothing certified yet");
        file_name = "stacklab-playground-audit.log";
        mime = "application/octet-stream";
        return r.log.bytes;
    }
    if (!r.computed) throw std::invalid_argument("no certificate yet: the certification has not finished");
    const std::string stem = r.deployment + (r.tier != r.requested_tier ? "-tier" + std::to_string(r.tier) : "");
    if (what == "certificate") {
        file_name = stem + ".certificate.json";
        mime = "application/json";
        return r.certificate;
    }
    if (what == "report-md" || what == "report-html") {
        const bool md = what == "report-md";
        file_name = stem + (md ? ".report.md" : ".report.html");
        mime = md ? "text/markdown" : "text/html";
        return policy::render_report(nlohmann::json::parse(r.certificate),
                                     md ? policy::ReportFormat::markdown : policy::ReportFormat::html);
    }
    throw std::invalid_argument("no export \"" + what + "\" (certificate, report-md, report-html, log)");
}

std::string export_certify(AppState& state, const std::string& what) {
    CertifyTools& t = state.certify_tools;
    std::string problem, name, mime, bytes;
    try {
        if (!t.save && !t.download) throw std::invalid_argument("this shell can neither save nor download");
        bytes = certify_export_bytes(state, what, name, mime);
    } catch (const std::exception& e) {
        problem = e.what();
    }
    if (problem.empty()) {
        if (t.save) {
            std::string folder = t.folder;
            if (!folder.empty() && folder.back() != '/') folder += '/';
            name = folder == "./" ? name : folder + name;
            problem = t.save(name, bytes);
        } else {
            t.download(name, bytes, mime);
        }
    }
    t.export_error = !problem.empty();
    t.export_status = problem.empty() ? (t.save ? "Saved " : "Downloaded ") + name + " (" + std::to_string(bytes.size()) + " bytes)"
                                      : problem;
    if (problem.empty()) t.exported.emplace_back(name, bytes.size());
    return problem;
}

namespace {

// Status colours chosen for the dark theme; on_theme darkens them to read on the light one.
ImVec4 red() { return on_theme(ImVec4(1.0f, 0.45f, 0.45f, 1.0f)); }
ImVec4 green() { return on_theme(ImVec4(0.45f, 0.85f, 0.5f, 1.0f)); }
ImVec4 amber() { return on_theme(ImVec4(0.95f, 0.7f, 0.3f, 1.0f)); }

Rect item_rect() {
    const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
    return Rect{a.x, a.y, b.x - a.x, b.y - a.y};
}

bool button(CertifyPanelReport& r, const char* name, const char* label) {
    const bool pressed = ImGui::Button(label);
    r.buttons.emplace_back(name, item_rect());
    return pressed;
}

// ImGui's multiline input over a std::string (the buffer grows with the text).
int grow_string(ImGuiInputTextCallbackData* d) {
    if (d->EventFlag == ImGuiInputTextFlags_CallbackResize) {
        auto* s = static_cast<std::string*>(d->UserData);
        s->resize(size_t(d->BufTextLen));
        d->Buf = s->data();
    }
    return 0;
}
void text_box(const char* id, std::string& s, ImVec2 size, bool read_only) {
    ImGuiInputTextFlags f = ImGuiInputTextFlags_CallbackResize | (read_only ? ImGuiInputTextFlags_ReadOnly : 0);
    if (s.capacity() < 1) s.reserve(1);
    ImGui::InputTextMultiline(id, s.data(), s.capacity() + 1, size, f, grow_string, &s);
}

// A check mark drawn as two strokes: the UI font has no U+2713.
void check_mark(const ImVec4& color) {
    const float fs = ImGui::GetFontSize();
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const ImVec2 pts[3] = {ImVec2(p.x + 0.15f * fs, p.y + 0.55f * fs), ImVec2(p.x + 0.4f * fs, p.y + 0.8f * fs),
                           ImVec2(p.x + 0.9f * fs, p.y + 0.2f * fs)};
    ImGui::GetWindowDrawList()->AddPolyline(pts, 3, ImGui::GetColorU32(color), 0, 0.12f * fs);
    ImGui::Dummy(ImVec2(fs, fs));
}

void checklist(const policy::Decision& d) {
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingStretchProp |
                                  ImGuiTableFlags_ScrollY;
    const float fs = ImGui::GetFontSize();
    if (!ImGui::BeginTable("clauses", 4, flags, ImVec2(0, fs * 16.0f))) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("", ImGuiTableColumnFlags_WidthFixed, 2.5f * fs);
    ImGui::TableSetupColumn("pack / rule", ImGuiTableColumnFlags_WidthFixed, 17.0f * fs);
    ImGui::TableSetupColumn("clause", ImGuiTableColumnFlags_WidthStretch, 1.0f);
    ImGui::TableSetupColumn("reasons (evidence read)", ImGuiTableColumnFlags_WidthStretch, 1.3f);
    ImGui::TableHeadersRow();
    for (const auto& v : d.verdicts) {
        ImGui::TableNextRow();
        ImGui::TableSetColumnIndex(0);
        if (v.outcome == policy::Outcome::pass) ImGui::TextColored(green(), "pass");
        else if (v.outcome == policy::Outcome::fail)
            ImGui::TextColored(v.severity == policy::Severity::mandatory ? red() : amber(), "FAIL");
        else ImGui::TextDisabled("n/a");
        ImGui::TableSetColumnIndex(1);
        ImGui::TextWrapped("%s/%s", v.pack.c_str(), v.rule.c_str());
        if (v.severity == policy::Severity::advisory) ImGui::TextDisabled("advisory");
        ImGui::TableSetColumnIndex(2);
        ImGui::TextWrapped("%s", v.clause.c_str());
        ImGui::TableSetColumnIndex(3);
        std::string reasons;
        for (const auto& s : v.reasons) reasons += (reasons.empty() ? "" : "\n") + s;
        ImGui::TextWrapped("%s", reasons.c_str());
        std::string ev;
        for (const auto& s : v.evidence) ev += (ev.empty() ? "" : ", ") + s;
        if (!ev.empty()) {
            ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
            ImGui::TextWrapped("%s", ev.c_str());
            ImGui::PopStyleColor();
        }
    }
    ImGui::EndTable();
}

void verify_line(const char* what, const policy::VerifyResult& v) {
    ImGui::Text("%s:", what);
    ImGui::SameLine();
    if (v.ok) ImGui::TextColored(green(), "valid");
    else ImGui::TextColored(red(), "NOT valid");
    ImGui::SameLine();
    std::string checks;
    for (const auto& c : v.checks) checks += (checks.empty() ? "" : ", ") + c;
    ImGui::TextWrapped("%s%s%s", v.reason.empty() ? "" : v.reason.c_str(), v.reason.empty() ? "" : "; ",
                       checks.empty() ? "" : ("checks passed: " + checks).c_str());
}

// Deployment, tier and packs; a change starts a new certification next frame.
void choice_controls(AppState& state) {
    CertifyPanelReport& r = state.certify_report;
    const float fs = ImGui::GetFontSize();
    ImGui::SetNextItemWidth(fs * 16.0f);
    if (ImGui::BeginCombo("deployment", state.deployment.c_str())) {
        for (const auto& id : bundled_deployment_ids())
            if (ImGui::Selectable(id.c_str(), id == state.deployment)) state.deployment = id;
        ImGui::EndCombo();
    }
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 11.0f);
    const std::string manifest_tier = r.requested_tier > 0 ? "manifest's (" + std::to_string(r.requested_tier) + ")" : "manifest's";
    const std::string tier_label = state.certify_tier == 0 ? manifest_tier : "Tier " + std::to_string(state.certify_tier);
    if (ImGui::BeginCombo("tier", tier_label.c_str())) {
        if (ImGui::Selectable(manifest_tier.c_str(), state.certify_tier == 0)) state.certify_tier = 0;
        for (int t = 1; t <= 3; ++t)
            if (ImGui::Selectable(("Tier " + std::to_string(t)).c_str(), state.certify_tier == t)) state.certify_tier = t;
        ImGui::EndCombo();
    }
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("Another tier certifies a copy of the manifest with requested_tier replaced;\n"
                          "the certificate's manifest_sha256 is that copy's hash, not the bundled file's.\n"
                          "Tier 3's T3.audit-log reads computed.audit_log.enabled, false here: the panel's log\n"
                          "is in memory, not the durable log `stacklab certify --log` appends to.");
    // Packs: checked = certified against. Unset means the manifest's list (read here from the file, so
    // the boxes are right before a job has parsed it); the last one stays checked.
    std::vector<std::string> manifest_packs;
    try {
        const nlohmann::json m = nlohmann::json::parse(deployment_file(state.deployment).bytes);
        for (const auto& p : m.at("policies")) manifest_packs.push_back(p.get<std::string>());
    } catch (const std::exception&) {
        manifest_packs = r.manifest_packs;  // the job reports what is wrong with the file
    }
    const std::vector<std::string> shown = state.certify_packs.empty() ? manifest_packs : state.certify_packs;
    ImGui::Text("Policy packs:");
    for (const auto& id : bundled_pack_ids()) {
        ImGui::SameLine();
        bool on = std::find(shown.begin(), shown.end(), id) != shown.end();
        ImGui::BeginDisabled(on && shown.size() == 1);
        if (ImGui::Checkbox(id.c_str(), &on)) {
            std::vector<std::string> next;
            for (const auto& k : bundled_pack_ids())
                if (k == id ? on : std::find(shown.begin(), shown.end(), k) != shown.end()) next.push_back(k);
            std::vector<std::string> a = next, b = manifest_packs;
            std::sort(a.begin(), a.end());
            std::sort(b.begin(), b.end());
            state.certify_packs = a == b ? std::vector<std::string>() : next;  // the manifest's again: unset
        }
        ImGui::EndDisabled();
    }
    if (!state.certify_packs.empty()) {
        ImGui::SameLine();
        if (ImGui::SmallButton("manifest's packs")) state.certify_packs.clear();
    }
}

void job_controls(CertifyPanelReport& r) {
    const float fs = ImGui::GetFontSize();
    const size_t done = size_t(std::count_if(r.stages.begin(), r.stages.end(), [](const CertifyStage& s) { return s.done; }));
    if (r.busy()) {
        if (button(r, "cancel", "Cancel")) cancel_certify(r);
    } else if (button(r, "run", "Run again")) {
        r.restart = true;
    }
    ImGui::SameLine();
    const std::string label = r.stage == "running" ? r.stages[r.next_stage].name + "..."
                              : r.stage == "done"  ? "done: " + std::to_string(done) + " stages"
                                                   : r.stage;
    ImGui::ProgressBar(r.stages.empty() ? 0.0f : float(done) / float(r.stages.size()), ImVec2(fs * 18.0f, 0), label.c_str());
    ImGui::SameLine();
    ImGui::TextDisabled("%ld frames, longest stage %.2f ms", r.frames, r.max_stage_ms);
    if (ImGui::IsItemHovered()) {
        std::string tip;
        for (const auto& s : r.stages)
            tip += (s.done ? "[x] " : "[ ] ") + s.name + (s.done ? "  " + std::to_string(s.ms).substr(0, 5) + " ms  " + s.detail : "") +
                   "\n";
        ImGui::SetTooltip("%s", tip.c_str());
    }
}

void verify_section(AppState& state) {
    CertifyTools& t = state.certify_tools;
    CertifyPanelReport& r = state.certify_report;
    const float fs = ImGui::GetFontSize();
    ImGui::TextWrapped("Paste a certificate (JSON) below%s, then Verify.",
                       t.open_file_picker ? ", open a .json file or drop one on the page"
                       : state.read_file  ? ", name a file, or drop a .json file on the window"
                                          : "");
    text_box("##paste", t.paste, ImVec2(-1, fs * 5.0f), false);
    ImGui::RadioButton("demo key", &t.key_mode, 0);
    ImGui::SameLine();
    ImGui::RadioButton("public key (hex):", &t.key_mode, 1);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(fs * 20.0f);
    ImGui::InputText("##pubkey", t.pubkey_hex, sizeof t.pubkey_hex);
    ImGui::SameLine();
    ImGui::RadioButton("key in the certificate", &t.key_mode, 2);
    if (button(r, "verify_paste", "Verify")) verify_certificate_input(state, "pasted text", t.paste);
    if (t.open_file_picker) {
        ImGui::SameLine();
        if (button(r, "open_certificate", "Open certificate file...")) t.open_file_picker();
    }
    if (state.read_file) {
        ImGui::SameLine();
        ImGui::SetNextItemWidth(fs * 18.0f);
        ImGui::InputTextWithHint("##certpath", "path/to/certificate.json", t.path, sizeof t.path);
        ImGui::SameLine();
        if (button(r, "verify_file", "Verify file")) {
            std::string bytes, problem;
            try {
                bytes = state.read_file(t.path);
            } catch (const std::exception& e) {
                problem = e.what();
            }
            if (problem.empty()) verify_certificate_input(state, t.path, bytes);
            else {
                t.source = t.path;
                t.verified = true;
                t.result = policy::VerifyResult();
                t.result.reason = problem;
                t.message = std::string(t.path) + ": " + problem;
            }
        }
    }
    if (t.verified) {
        ImGui::PushStyleColor(ImGuiCol_Text, t.result.ok ? green() : red());
        ImGui::TextWrapped("%s", t.message.c_str());
        ImGui::PopStyleColor();
    }
}

void log_section(CertifyPanelReport& r) {
    CertifyAuditLog& log = r.log;
    const float fs = ImGui::GetFontSize();
    ImGui::TextWrapped("In memory for this session (the CLI's `certify --log` appends durably to a file): %zu entries, "
                       "%zu bytes; check_log with the demo key:",
                       log.entries.size(), log.bytes.size());
    ImGui::SameLine();
    if (log.entries.empty()) ImGui::TextDisabled("empty");
    else if (log.check.ok) ImGui::TextColored(green(), "ok, %zu signed tree heads", log.check.tree_heads);
    else ImGui::TextColored(red(), "%s", log.check.reason.c_str());
    if (log.entries.empty()) return;
    if (ImGui::BeginTable("log", 2, ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_ScrollY,
                          ImVec2(0, fs * 1.6f * float(std::min<size_t>(log.entries.size() + 1, 5))))) {
        ImGui::TableSetupColumn("#", ImGuiTableColumnFlags_WidthFixed, 2.5f * fs);
        ImGui::TableSetupColumn("entry (policy::certificate_log_entry)");
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableHeadersRow();
        for (size_t i = 0; i < log.entries.size(); ++i) {
            ImGui::TableNextRow();
            ImGui::TableSetColumnIndex(0);
            if (ImGui::Selectable(std::to_string(i).c_str(), log.selected == int(i), ImGuiSelectableFlags_SpanAllColumns))
                select_log_entry(log, int(i));
            ImGui::TableSetColumnIndex(1);
            ImGui::TextUnformatted(log.entries[i].c_str());
        }
        ImGui::EndTable();
    }
    if (log.check.latest_tree_head)
        ImGui::TextWrapped("Signed tree head: size %llu, root %s, key %s",
                           static_cast<unsigned long long>(log.check.latest_tree_head->size), log.root_hex.c_str(),
                           log.check.latest_tree_head->key_id.c_str());
    if (log.proof_index >= 0) {
        ImGui::Text("Inclusion proof of entry %d in the tree of %llu (RFC 9162): %zu sibling hashes;", log.proof_index,
                    static_cast<unsigned long long>(log.proof_size), log.proof_hex.size());
        ImGui::SameLine();
        if (log.proof.ok) {
            ImGui::TextColored(green(), "verify_inclusion");
            ImGui::SameLine();
            check_mark(green());
        }
        else ImGui::TextColored(red(), "verify_inclusion failed: %s", log.proof.reason.c_str());
        ImGui::TextDisabled("leaf %s", log.leaf_hex.c_str());
        for (const auto& h : log.proof_hex) ImGui::TextDisabled("  sibling %s", h.c_str());
    }
    if (button(r, "tamper_log", "Tamper with this entry (a copy) and check the log")) tamper_log_entry(log);
    if (log.tampered) {
        ImGui::SameLine();
        ImGui::TextDisabled("byte %ld changed:", log.tampered_offset);
        ImGui::SameLine();
        ImGui::TextColored(log.tampered_check.ok ? green() : red(), "%s: %s", policy::log_status_name(log.tampered_recovery.status),
                           log.tampered_check.ok ? "still checks (unexpected)" : log.tampered_check.reason.c_str());
    }
}

void export_section(AppState& state) {
    CertifyTools& t = state.certify_tools;
    CertifyPanelReport& r = state.certify_report;
    const bool can = bool(t.save) || bool(t.download);
    if (!can) {
        ImGui::TextDisabled("This shell cannot save or download files.");
        return;
    }
    if (t.save) {
        ImGui::SetNextItemWidth(ImGui::GetFontSize() * 14.0f);
        ImGui::InputText("folder", t.folder, sizeof t.folder);
        ImGui::SameLine();
    }
    const char* verb = t.save ? "Save" : "Download";
    ImGui::BeginDisabled(!r.computed);
    for (const auto& [what, label] : {std::pair<const char*, const char*>{"certificate", "certificate .json"},
                                      {"report-md", "report .md"}, {"report-html", "report .html"}}) {
        if (button(r, (std::string("export_") + what).c_str(), (std::string(verb) + " " + label).c_str())) export_certify(state, what);
        ImGui::SameLine();
    }
    ImGui::EndDisabled();
    ImGui::BeginDisabled(r.log.bytes.empty());
    if (button(r, "export_log", (std::string(verb) + " audit log").c_str())) export_certify(state, "log");
    ImGui::EndDisabled();
    if (!t.export_status.empty()) ImGui::TextColored(t.export_error ? red() : green(), "%s", t.export_status.c_str());
}

}  // namespace

nlohmann::json certify_report_extra(const AppState& state) {
    const CertifyPanelReport& r = state.certify_report;
    const CertifyTools& t = state.certify_tools;
    const CertifyAuditLog& log = r.log;
    using nlohmann::json;
    json stages = json::array(), pack_pass = json::array(), buttons = json::array(), exported = json::array();
    for (const auto& s : r.stages) stages.push_back({{"name", s.name}, {"done", s.done}, {"ms", s.ms}, {"detail", s.detail}});
    for (const auto& [id, pass] : r.pack_pass) pack_pass.push_back({{"pack", id}, {"pass", pass}});
    for (const auto& [name, rc] : r.buttons) buttons.push_back({{"button", name}, {"rect", {{"x", rc.x}, {"y", rc.y}, {"w", rc.w}, {"h", rc.h}}}});
    for (const auto& [name, n] : t.exported) exported.push_back({{"name", name}, {"bytes", n}});
    const size_t done = size_t(std::count_if(r.stages.begin(), r.stages.end(), [](const CertifyStage& s) { return s.done; }));
    json j = {{"choice", {{"deployment", r.choice.deployment}, {"tier", r.choice.tier}, {"packs", r.choice.packs}}},
              {"tier", r.tier}, {"requested_tier", r.requested_tier}, {"packs", r.packs}, {"manifest_packs", r.manifest_packs},
              {"packs_available", bundled_pack_ids()}, {"pack_pass", pack_pass},
              {"stage", r.stage}, {"stages", stages}, {"stages_done", done}, {"stages_total", r.stages.size()},
              {"frames", r.frames}, {"max_stage_ms", r.max_stage_ms}, {"buttons", buttons}};
    json proof = {{"index", log.proof_index}, {"size", log.proof_size}, {"hashes", log.proof_hex}, {"leaf", log.leaf_hex},
                  {"root", log.root_hex}, {"ok", log.proof.ok}, {"reason", log.proof.reason}};
    json lj = {{"entries", log.entries.size()}, {"bytes", log.bytes.size()}, {"check_ok", log.check.ok},
               {"check_reason", log.check.reason}, {"tree_heads", log.check.tree_heads}, {"tree_head", log.tree_head},
               {"selected", log.selected}, {"proof", proof}, {"tampered", log.tampered}};
    if (log.tampered)
        lj.update({{"tampered_offset", log.tampered_offset}, {"tampered_status", policy::log_status_name(log.tampered_recovery.status)},
                   {"tampered_check_ok", log.tampered_check.ok}, {"tampered_reason", log.tampered_check.reason}});
    j["log"] = lj;
    j["verify_input"] = {{"verified", t.verified}, {"source", t.source}, {"ok", t.result.ok}, {"reason", t.result.reason},
                         {"checks", t.result.checks}, {"message", t.message}, {"key_mode", t.key_mode}};
    j["export"] = {{"save", bool(t.save)}, {"download", bool(t.download)}, {"status", t.export_status},
                   {"error", t.export_error}, {"exported", exported}};
    return j;
}

void draw_certify_panel(AppState& state) {
    CertifyPanelReport& r = state.certify_report;
    r.buttons.clear();
    advance_certify(state, r);
    choice_controls(state);
    job_controls(r);
    ImGui::PushStyleColor(ImGuiCol_Text, amber());
    ImGui::TextWrapped("DEMO KEY: signed with a key derived from a public phrase (key id %s). Anyone can make this "
                       "signature; it shows how certificates work, it certifies nothing. Declared evidence in the "
                       "example manifests is illustrative, not measured; the panel measures nothing, so the measured "
                       "examples are refused for missing evidence (`stacklab certify --measure` measures).",
                       r.key_id.c_str());
    ImGui::PopStyleColor();
    if (!r.error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, red());
        ImGui::TextWrapped("Certification did not run: %s", r.error.c_str());
        ImGui::PopStyleColor();
    }
    if (r.computed) {
        ImGui::Text("Tier %d%s, packs %s, issued %s:", r.tier, r.tier != r.requested_tier ? " (override)" : "",
                    packs_query(r.packs).c_str(), r.now.c_str());
        ImGui::SameLine();
        ImGui::TextColored(r.decision.pass ? green() : red(), "%s", r.decision.pass ? "CERTIFIED" : "REFUSED");
        ImGui::TextWrapped("%s", r.decision.summary.c_str());
        ImGui::Text("Certificate: %zu bytes, SHA-256 %s", r.certificate.size(), r.certificate_sha256.c_str());
        verify_line("Verify (demo public key)", r.verify);
        if (button(r, "tamper", "Tamper one byte and verify") || state.tamper_requested) {
            state.tamper_requested = false;
            std::string bad = r.certificate;
            r.tampered_offset = tamper_one_byte(bad);
            r.tampered_verify = policy::verify_certificate(bad, demo_key().public_key, r.now);
            r.tampered = true;
        }
        if (r.tampered) {
            ImGui::SameLine();
            ImGui::TextDisabled("byte %ld changed", r.tampered_offset);
            verify_line("Verify the tampered copy", r.tampered_verify);
        }
        if (ImGui::CollapsingHeader("Clause checklist", ImGuiTreeNodeFlags_DefaultOpen)) {
            ImGui::Text("%zu rules", r.decision.verdicts.size());
            for (const auto& [id, pass] : r.pack_pass) {
                ImGui::SameLine();
                ImGui::TextColored(pass ? green() : red(), "%s alone: %s", id.c_str(), pass ? "passes" : "refused");
                if (ImGui::IsItemHovered())
                    ImGui::SetTooltip("This pack evaluated on its own (the \"evaluate\" stage). A pack none of whose rules\n"
                                      "apply to this deployment is refused by default deny, even where the packs together pass.");
            }
            checklist(r.decision);
        }
        if (ImGui::CollapsingHeader("Certificate (JSON, RFC 8785 canonical form)")) {
            std::string text = r.certificate;
            text_box("##cert", text, ImVec2(-1, ImGui::GetFontSize() * 8.0f), true);
        }
    }
    if (ImGui::CollapsingHeader("Verify a certificate", ImGuiTreeNodeFlags_DefaultOpen)) verify_section(state);
    if (ImGui::CollapsingHeader("Audit log")) log_section(r);
    if (ImGui::CollapsingHeader("Export", ImGuiTreeNodeFlags_DefaultOpen)) export_section(state);
}

}  // namespace stacklab::ui
