// The Certify panel: a bundled example deployment (models/deployments) certified against the policy
// packs it names, with policy::certify, the code behind `stacklab certify`, signed with a DEMO key
// whose secret is derived from a public string (anyone can sign with it: the panel says so), then
// verified with policy::verify_certificate like `stacklab verify`. "Tamper one byte" changes one
// digit inside the signed evidence and verifies again, so students see the signature check fail.
// Cached: certification reruns only when the deployment changes.
#include <algorithm>
#include <cctype>
#include <ctime>
#include <string>

#include <imgui.h>

#include "ui/app.hpp"

namespace stacklab::ui {

// The demo key: its seed is SHA-256 of a public string, so it proves nothing about who signed.
constexpr const char* kDemoKeyPhrase = "stacklab playground demo key: public, proves nothing";

policy::Ed25519KeyPair demo_key() {
    return policy::ed25519_from_seed(policy::sha256(std::string_view(kDemoKeyPhrase)));
}

std::vector<std::string> bundled_deployment_ids() {
    std::vector<std::string> ids;
    for (const auto& f : policy::bundled_deployment_files()) {
        const size_t slash = f.name.rfind('/');
        std::string id = f.name.substr(slash == std::string::npos ? 0 : slash + 1);
        if (id.size() > 5 && id.compare(id.size() - 5, 5, ".json") == 0) id.resize(id.size() - 5);
        ids.push_back(id);
    }
    return ids;
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

void update_certify(const AppState& state, CertifyPanelReport& r) {
    if (r.computations > 0 && r.deployment == state.deployment) return;
    const long computations = r.computations + 1;
    r = CertifyPanelReport();
    r.computations = computations;
    r.deployment = state.deployment;
    try {
        const auto ids = bundled_deployment_ids();
        auto it = std::find(ids.begin(), ids.end(), state.deployment);
        if (it == ids.end()) throw std::invalid_argument("no bundled deployment \"" + state.deployment + "\"");
        const policy::DeploymentFile& f = policy::bundled_deployment_files()[size_t(it - ids.begin())];
        const nlohmann::json manifest = policy::parse_manifest(f.bytes, f.name);
        std::vector<policy::PolicyPack> packs;
        for (const auto& p : manifest.at("policies")) packs.push_back(policy::find_pack(p.get<std::string>()));
        const policy::Ed25519KeyPair key = demo_key();
        policy::CertifyOptions opt;
        r.now = policy::format_utc(static_cast<long long>(std::time(nullptr)));
        opt.now = r.now;
        opt.issued_by = "stacklab playground (demo key)";
        r.tier = manifest.at("requested_tier").get<int>();
        const policy::CertifyResult c = policy::certify(f.bytes, f.name, packs, key, opt);
        r.certificate = c.certificate;
        r.decision = c.decision;
        r.certificate_sha256 = policy::sha256_hex(c.certificate);
        r.key_id = policy::key_id(key.public_key);
        r.verify = policy::verify_certificate(c.certificate, key.public_key, r.now);
        r.computed = true;
    } catch (const std::exception& e) {
        r.error = e.what();
    }
}

namespace {

void checklist(const policy::Decision& d) {
    const ImVec4 red(1.0f, 0.45f, 0.45f, 1.0f), green(0.45f, 0.85f, 0.5f, 1.0f);
    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_Borders | ImGuiTableFlags_SizingStretchProp |
                                  ImGuiTableFlags_ScrollY;
    if (!ImGui::BeginTable("clauses", 4, flags, ImVec2(0, ImGui::GetContentRegionAvail().y))) return;
    ImGui::TableSetupScrollFreeze(0, 1);
    const float fs = ImGui::GetFontSize();
    ImGui::TableSetupColumn("", ImGuiTableColumnFlags_WidthFixed, 2.5f * fs);
    ImGui::TableSetupColumn("pack / rule", ImGuiTableColumnFlags_WidthFixed, 17.0f * fs);
    ImGui::TableSetupColumn("clause", ImGuiTableColumnFlags_WidthStretch, 1.0f);
    ImGui::TableSetupColumn("reasons (evidence read)", ImGuiTableColumnFlags_WidthStretch, 1.3f);
    ImGui::TableHeadersRow();
    for (const auto& v : d.verdicts) {
        ImGui::TableNextRow();
        ImGui::TableSetColumnIndex(0);
        if (v.outcome == policy::Outcome::pass) ImGui::TextColored(green, "pass");
        else if (v.outcome == policy::Outcome::fail)
            ImGui::TextColored(v.severity == policy::Severity::mandatory ? red : ImVec4(0.95f, 0.7f, 0.3f, 1.0f), "FAIL");
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
    const ImVec4 red(1.0f, 0.45f, 0.45f, 1.0f), green(0.45f, 0.85f, 0.5f, 1.0f);
    ImGui::Text("%s:", what);
    ImGui::SameLine();
    if (v.ok) ImGui::TextColored(green, "valid");
    else ImGui::TextColored(red, "NOT valid");
    ImGui::SameLine();
    std::string checks;
    for (const auto& c : v.checks) checks += (checks.empty() ? "" : ", ") + c;
    ImGui::TextWrapped("%s%s%s", v.reason.empty() ? "" : v.reason.c_str(), v.reason.empty() ? "" : "; ",
                       checks.empty() ? "" : ("checks passed: " + checks).c_str());
}

}  // namespace

void draw_certify_panel(AppState& state) {
    CertifyPanelReport& r = state.certify_report;
    const float fs = ImGui::GetFontSize();
    const auto ids = bundled_deployment_ids();
    ImGui::SetNextItemWidth(fs * 18.0f);
    if (ImGui::BeginCombo("deployment", state.deployment.c_str())) {
        for (const auto& id : ids)
            if (ImGui::Selectable(id.c_str(), id == state.deployment)) state.deployment = id;
        ImGui::EndCombo();
    }
    update_certify(state, r);
    ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(0.95f, 0.7f, 0.3f, 1.0f));
    ImGui::TextWrapped("DEMO KEY: signed with a key derived from a public phrase (key id %s). Anyone can make this "
                       "signature; it shows how certificates work, it certifies nothing. Declared evidence in the "
                       "example manifests is illustrative, not measured.",
                       r.key_id.c_str());
    ImGui::PopStyleColor();
    if (!r.error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.45f, 0.45f, 1.0f));
        ImGui::TextWrapped("Certification did not run: %s", r.error.c_str());
        ImGui::PopStyleColor();
        return;
    }
    if (!r.computed) return;
    ImGui::Text("Requested tier %d, issued %s:", r.tier, r.now.c_str());
    ImGui::SameLine();
    ImGui::TextColored(r.decision.pass ? ImVec4(0.45f, 0.85f, 0.5f, 1.0f) : ImVec4(1.0f, 0.45f, 0.45f, 1.0f), "%s",
                       r.decision.pass ? "CERTIFIED" : "REFUSED");
    ImGui::TextWrapped("%s", r.decision.summary.c_str());
    ImGui::Text("Certificate: %zu bytes, SHA-256 %s", r.certificate.size(), r.certificate_sha256.c_str());
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", r.certificate.substr(0, 1500).c_str());
    verify_line("Verify (demo public key)", r.verify);
    if (ImGui::Button("Tamper one byte and verify") || state.tamper_requested) {
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
    ImGui::Separator();
    ImGui::Text("Clause checklist: %zu rules", r.decision.verdicts.size());
    checklist(r.decision);
}

}  // namespace stacklab::ui
