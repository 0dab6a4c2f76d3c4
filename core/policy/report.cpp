#include "policy/report.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace stacklab::policy {
namespace {

using nlohmann::json;

// ---- the data a report shows, pulled out of the certificate once ----------------------------

struct EvidenceItem {
    std::string path, provenance, value;  // value: compact JSON, "(missing)" when absent
};

struct VerdictRow {
    std::string pack, rule, clause, severity, outcome;
    std::vector<std::string> reasons;
    std::vector<EvidenceItem> evidence;
};

struct Bar {
    std::string label;
    double value = 0;
};

// One measured record (policy/measure.hpp): how it was produced, on what, and what it found.
struct MeasuredRow {
    std::string name, function, command, parameters, method, value;
    std::vector<std::string> inputs;  // "name (N bytes) sha256 HEX"
};

struct ReportData {
    std::string name, status, summary, tier, manifest_sha256, model_sha256, not_before, not_after, key_id, issued_by;
    std::vector<std::string> chips, deciding, warnings;
    std::vector<std::vector<std::string>> policies;  // id, version, label, sha256
    std::vector<VerdictRow> verdicts;
    std::vector<MeasuredRow> measured;
    // Plots; `has_*` false when the certificate lacks the data.
    bool has_latency = false, has_accuracy = false;
    std::vector<Bar> latency_ms;
    double budget_ms = 0;
    std::string latency_method;
    std::vector<Bar> accuracy_pct;
    double fp32_pct = 0;
    std::string accuracy_metric;
    bool accuracy_measured = false;  // from measured.model_eval rather than declared.accuracy
};

const json& need(const json& j, const char* key, const char* where) {
    if (!j.is_object() || !j.contains(key))
        throw std::invalid_argument(std::string("certificate") + (*where ? "/" : "") + where + ": missing \"" + key + "\"");
    return j.at(key);
}

// A string field shown as text; non-strings are shown as compact JSON (the report renders what
// it is given).
std::string text(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }
std::string text_at(const json& j, const char* key) {
    return j.is_object() && j.contains(key) ? text(j.at(key)) : std::string("(missing)");
}

std::vector<std::string> texts(const json& j) {
    std::vector<std::string> out;
    if (j.is_array())
        for (const auto& e : j) out.push_back(text(e));
    return out;
}

// The value at a dotted path ("computed.chips.all_domestic"; numeric segments index arrays).
const json* lookup(const json& root, const std::string& path) {
    const json* cur = &root;
    std::size_t start = 0;
    while (start <= path.size()) {
        const std::size_t dot = std::min(path.find('.', start), path.size());
        const std::string seg = path.substr(start, dot - start);
        if (cur->is_object()) {
            auto it = cur->find(seg);
            if (it == cur->end()) return nullptr;
            cur = &*it;
        } else if (cur->is_array() && !seg.empty() && seg.size() < 10 &&
                   std::all_of(seg.begin(), seg.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            const std::size_t i = std::stoul(seg);
            if (i >= cur->size()) return nullptr;
            cur = &(*cur)[i];
        } else {
            return nullptr;
        }
        start = dot + 1;
    }
    return cur;
}

// Long values (a per-chip list) are cut so a checklist row stays readable; the certificate holds
// the whole value.
std::string shorten(std::string s, std::size_t max_bytes = 240) {
    if (s.size() <= max_bytes) return s;
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
    return s.substr(0, cut) + " ...";
}

std::string provenance_of(const std::string& path) {
    const std::string head = path.substr(0, path.find('.'));
    if (head == "computed" || head == "declared" || head == "deployment" || head == "measured") return head;
    return "other";
}

bool finite_number(const json& j) { return j.is_number() && std::isfinite(j.get<double>()); }

ReportData extract(const json& cert) {
    if (!cert.is_object()) throw std::invalid_argument("certificate: expected a JSON object");
    ReportData d;
    const json& subject = need(cert, "subject", "");
    d.name = text_at(subject, "name");
    d.tier = text_at(subject, "requested_tier");
    d.manifest_sha256 = text_at(subject, "manifest_sha256");
    d.model_sha256 = text_at(subject, "model_sha256");
    if (subject.contains("chips") && subject.at("chips").is_array())
        for (const auto& c : subject.at("chips")) d.chips.push_back(text_at(c, "id") + " (firmware " + text_at(c, "firmware") + ")");
    d.status = text_at(cert, "status");
    const json& decision = need(cert, "decision", "");
    d.summary = text_at(decision, "summary");
    if (decision.contains("deciding_rules")) d.deciding = texts(decision.at("deciding_rules"));
    if (decision.contains("warnings")) d.warnings = texts(decision.at("warnings"));
    if (cert.contains("validity")) {
        d.not_before = text_at(cert.at("validity"), "not_before");
        d.not_after = text_at(cert.at("validity"), "not_after");
    }
    if (cert.contains("issuer")) d.key_id = text_at(cert.at("issuer"), "key_id");
    d.issued_by = text_at(cert, "issued_by");
    if (cert.contains("policies") && cert.at("policies").is_array())
        for (const auto& p : cert.at("policies"))
            d.policies.push_back({text_at(p, "id"), text_at(p, "version"), text_at(p, "label"), text_at(p, "sha256")});

    const json& evidence = need(cert, "evidence", "");
    const json& verdicts = need(cert, "verdicts", "");
    if (!verdicts.is_array()) throw std::invalid_argument("certificate/verdicts: expected a list");
    for (const auto& v : verdicts) {
        VerdictRow r;
        r.pack = text_at(v, "pack");
        r.rule = text_at(v, "rule");
        r.clause = text_at(v, "clause");
        r.severity = text_at(v, "severity");
        r.outcome = text_at(v, "outcome");
        if (v.contains("reasons")) r.reasons = texts(v.at("reasons"));
        if (v.contains("evidence"))
            for (const auto& p : texts(v.at("evidence"))) {
                const json* value = lookup(evidence, p);
                r.evidence.push_back({p, provenance_of(p), value ? shorten(value->dump()) : "(missing)"});
            }
        d.verdicts.push_back(std::move(r));
    }

    if (const json* m = lookup(evidence, "measured"); m && m->is_object())
        for (auto it = m->begin(); it != m->end(); ++it) {
            MeasuredRow row;
            row.name = it.key();
            const json& r = it.value();
            row.function = text_at(r, "function");
            row.command = text_at(r, "command");
            row.method = text_at(r, "method");
            row.parameters = r.contains("parameters") ? shorten(r.at("parameters").dump()) : "(missing)";
            row.value = r.contains("value") ? shorten(r.at("value").dump(), 2000) : "(missing)";
            if (r.contains("inputs") && r.at("inputs").is_array())
                for (const auto& in : r.at("inputs"))
                    row.inputs.push_back(text_at(in, "name") + " (" + text_at(in, "bytes") + " bytes) sha256 " + text_at(in, "sha256"));
            d.measured.push_back(std::move(row));
        }

    // Latency per chip against the budget: every chip needs a number, else no plot.
    const json* per_chip = lookup(evidence, "computed.chips.per_chip");
    const json* budget = lookup(evidence, "deployment.cell.action_latency_budget_ms");
    if (per_chip && per_chip->is_array() && !per_chip->empty() && budget && finite_number(*budget)) {
        d.has_latency = true;
        d.budget_ms = budget->get<double>();
        for (const auto& c : *per_chip) {
            if (!c.is_object() || !c.contains("action_latency_ms") || !finite_number(c.at("action_latency_ms"))) {
                d.has_latency = false;
                break;
            }
            d.latency_ms.push_back({text_at(c, "id"), c.at("action_latency_ms").get<double>()});
        }
        if (const json* m = lookup(evidence, "computed.latency.method")) d.latency_method = text(*m);
    }
    const json* acc = lookup(evidence, "declared.accuracy.per_chip");
    const json* fp32 = lookup(evidence, "declared.accuracy.fp32_top1_pct");
    if (acc && acc->is_array() && !acc->empty() && fp32 && finite_number(*fp32)) {
        d.has_accuracy = true;
        d.fp32_pct = fp32->get<double>();
        for (const auto& c : *acc) {
            if (!c.is_object() || !c.contains("top1_pct") || !finite_number(c.at("top1_pct"))) {
                d.has_accuracy = false;
                break;
            }
            d.accuracy_pct.push_back({text_at(c, "chip"), c.at("top1_pct").get<double>()});
        }
        if (const json* m = lookup(evidence, "declared.accuracy.metric")) d.accuracy_metric = text(*m);
    }
    // Measured: the deployed (fast-kernel) path against the fp32 reference kernels, one bar, since
    // the chip models do not change numerics (policy/measure.hpp).
    const json* fast = lookup(evidence, "measured.model_eval.value.accuracy_pct");
    const json* ref = lookup(evidence, "measured.model_eval.value.reference_accuracy_pct");
    const json* n = lookup(evidence, "measured.model_eval.value.n");
    if (!d.has_accuracy && fast && ref && n && finite_number(*fast) && finite_number(*ref)) {
        d.has_accuracy = d.accuracy_measured = true;
        d.fp32_pct = ref->get<double>();
        d.accuracy_pct.push_back({"fast kernels", fast->get<double>()});
        d.accuracy_metric = "top-1 accuracy in percent on the first " + text(*n) +
                            " test images, fast kernels vs fp32 reference kernels (the same on every chip: the chip models are timing models)";
    }
    return d;
}

// Fixed formats: identical text natively and in wasm.
std::string num(double v) {
    char buf[64];
    const double a = std::fabs(v);
    std::snprintf(buf, sizeof buf, a >= 1e6 ? "%.3e" : a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : "%.2f", v);
    return buf;
}

std::string coord(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

std::string outcome_label(const std::string& outcome) {
    if (outcome == "pass") return "PASS";
    if (outcome == "fail") return "FAIL";
    if (outcome == "not_applicable") return "N/A";
    return outcome;
}

// ---- Markdown --------------------------------------------------------------------------------

// Inline text: characters that Markdown or an embedded HTML renderer would interpret are escaped.
std::string md(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\n' || c == '\r') {
            out += ' ';
        } else if (c == '<') {
            out += "&lt;";
        } else if (c == '>') {
            out += "&gt;";
        } else if (c == '&') {
            out += "&amp;";
        } else {
            if (std::strchr("\\`*_[]|#", c)) out += '\\';
            out += c;
        }
    }
    return out;
}

std::string md_code(const std::string& s) {
    // A code span cannot hold its own delimiter unescaped; use a double-backtick span when needed.
    std::string clean;
    for (char c : s) clean += (c == '\n' || c == '\r' || c == '|') ? ' ' : c;
    if (clean.find('`') == std::string::npos) return "`" + clean + "`";
    std::string no_ticks;
    for (char c : clean) no_ticks += c == '`' ? '\'' : c;
    return "`" + no_ticks + "`";
}

std::string render_markdown(const ReportData& d) {
    std::string o;
    o += "# Certification report: " + md(d.name) + "\n\n";
    o += "> Rendered from the certificate's data. This report is not a verification: run `stacklab verify` "
         "on the certificate file to check its signature, canonical form, evidence hashes and validity.\n\n";
    o += "- **Status:** " + md(d.status) + "\n";
    o += "- **Decision:** " + md(d.summary) + "\n";
    o += "- **Requested tier:** " + md(d.tier) + "\n";
    o += "- **Deciding rules:** " + (d.deciding.empty() ? std::string("none") : std::string()) ;
    for (std::size_t i = 0; i < d.deciding.size(); ++i) o += (i ? ", " : "") + md_code(d.deciding[i]);
    o += "\n- **Warnings (failed advisory rules):** " + (d.warnings.empty() ? std::string("none") : std::string());
    for (std::size_t i = 0; i < d.warnings.size(); ++i) o += (i ? ", " : "") + md_code(d.warnings[i]);
    o += "\n- **Chips:** ";
    for (std::size_t i = 0; i < d.chips.size(); ++i) o += (i ? ", " : "") + md(d.chips[i]);
    o += "\n- **Manifest SHA-256:** " + md_code(d.manifest_sha256) + "\n";
    o += "- **Model SHA-256:** " + md_code(d.model_sha256) + "\n";
    o += "- **Valid:** " + md(d.not_before) + " to " + md(d.not_after) + "\n";
    o += "- **Issuer key id:** " + md_code(d.key_id) + " (" + md(d.issued_by) + ")\n\n";

    o += "## Policy packs\n\n| id | version | label | sha256 |\n|---|---|---|---|\n";
    for (const auto& p : d.policies) o += "| " + md(p[0]) + " | " + md(p[1]) + " | " + md(p[2]) + " | " + md_code(p[3]) + " |\n";

    o += "\n## Checklist\n\nEvidence provenance: **measured** = measured by StackLab during certification by running the "
         "model, the cell and the chip models (see Measured evidence); **computed** = computed by StackLab during certification; "
         "**declared** = supplied by the manifest, not measured; **deployment** = the manifest's description.\n";
    std::string pack;
    for (const auto& v : d.verdicts) {
        if (v.pack != pack || &v == &d.verdicts.front()) {
            pack = v.pack;
            o += "\n### Pack " + md(pack) + "\n\n";
        }
        o += "- [" + std::string(v.outcome == "pass" ? "x" : " ") + "] **" + outcome_label(v.outcome) + "** " +
             md_code(v.rule) + " (" + md(v.severity) + "): " + md(v.clause) + "\n";
        for (const auto& r : v.reasons) o += "  - reason: " + md_code(r) + "\n";
        for (const auto& e : v.evidence)
            o += "  - evidence (" + e.provenance + ") " + md_code(e.path) + " = " + md_code(e.value) + "\n";
    }

    o += "\n## Measured evidence\n\n";
    if (d.measured.empty()) o += "None: every result this certificate uses is computed or declared.\n";
    for (const auto& m : d.measured) {
        o += "### " + md(m.name) + "\n\n- **function:** " + md_code(m.function) + "\n- **re-run:** " + md(m.command) +
             "\n- **parameters:** " + md_code(m.parameters) + "\n";
        for (const auto& in : m.inputs) o += "- **input:** " + md_code(in) + "\n";
        o += "- **method:** " + md(m.method) + "\n- **value:** " + md_code(m.value) + "\n\n";
    }

    o += "\n## Plots\n\n### Action latency per chip vs budget\n\n";
    if (d.has_latency) {
        o += "Computed by StackLab: " + md(d.latency_method) + "\n\n| chip | action latency (ms) | budget (ms) | within budget |\n|---|---|---|---|\n";
        for (const auto& b : d.latency_ms)
            o += "| " + md(b.label) + " | " + num(b.value) + " | " + num(d.budget_ms) + " | " + (b.value <= d.budget_ms ? "yes" : "no") + " |\n";
    } else {
        o += "Not shown: the certificate has no computed action latency for every chip, or no budget.\n";
    }
    o += "\n### Accuracy per chip vs fp32\n\n";
    if (d.has_accuracy) {
        o += std::string(d.accuracy_measured ? "Measured by StackLab: " : "Declared by the manifest (not measured by StackLab): ") +
             md(d.accuracy_metric) +
             "\n\n| chip | accuracy | fp32 | difference |\n|---|---|---|---|\n";
        for (const auto& b : d.accuracy_pct)
            o += "| " + md(b.label) + " | " + num(b.value) + " | " + num(d.fp32_pct) + " | " + num(b.value - d.fp32_pct) + " |\n";
    } else {
        o += "Not shown: the certificate has no per-chip accuracy with an fp32 reference, declared or measured.\n";
    }
    return o;
}

// ---- HTML ------------------------------------------------------------------------------------

std::string esc(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

// A horizontal bar chart: one bar per item on a linear axis from 0 to `axis_max`, an optional
// reference line (budget, fp32), bars coloured by `good(value)`.
template <class Good>
std::string svg_bars(const std::string& title, const std::vector<Bar>& bars, double axis_max, const std::string& unit,
                     const std::string& ref_label, double ref, Good good) {
    const double label_w = 170, plot_w = 380, row_h = 26, top = 28, width = label_w + plot_w + 90;
    const double height = top + row_h * double(bars.size()) + 30;
    auto x_of = [&](double v) { return label_w + plot_w * std::clamp(v / axis_max, 0.0, 1.0); };
    std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"" + coord(width) + "\" height=\"" +
                    coord(height) + "\" viewBox=\"0 0 " + coord(width) + " " + coord(height) + "\">";
    s += "<title>" + esc(title) + "</title>";
    s += "<rect x=\"0\" y=\"0\" width=\"" + coord(width) + "\" height=\"" + coord(height) + "\" fill=\"#fafafa\" stroke=\"#ddd\"></rect>";
    s += "<text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">" + esc(title) + "</text>";
    for (std::size_t i = 0; i < bars.size(); ++i) {
        const double y = top + row_h * double(i);
        const bool ok = good(bars[i].value);
        s += "<text x=\"" + coord(label_w - 6) + "\" y=\"" + coord(y + 16) + "\" font-size=\"12\" text-anchor=\"end\">" +
             esc(bars[i].label) + "</text>";
        s += "<rect x=\"" + coord(label_w) + "\" y=\"" + coord(y + 4) + "\" width=\"" + coord(x_of(bars[i].value) - label_w) +
             "\" height=\"" + coord(row_h - 8) + "\" fill=\"" + (ok ? "#2e7d32" : "#c62828") + "\"></rect>";
        s += "<text x=\"" + coord(x_of(bars[i].value) + 4) + "\" y=\"" + coord(y + 16) + "\" font-size=\"11\">" +
             esc(num(bars[i].value) + " " + unit) + "</text>";
    }
    const double rx = x_of(ref), bottom = top + row_h * double(bars.size());
    s += "<line x1=\"" + coord(rx) + "\" y1=\"" + coord(top) + "\" x2=\"" + coord(rx) + "\" y2=\"" + coord(bottom) +
         "\" stroke=\"#1565c0\" stroke-width=\"2\" stroke-dasharray=\"5,3\"></line>";
    s += "<text x=\"" + coord(rx) + "\" y=\"" + coord(bottom + 16) + "\" font-size=\"11\" text-anchor=\"middle\" fill=\"#1565c0\">" +
         esc(ref_label + " " + num(ref) + " " + unit) + "</text>";
    s += "</svg>";
    return s;
}

std::string render_html(const ReportData& d) {
    std::string o;
    o += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>Certification report: " + esc(d.name) +
         "</title><style>"
         "body{font-family:sans-serif;margin:2em;max-width:72em;color:#222;background:#fff}"
         "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
         ".pass{color:#2e7d32;font-weight:bold}.fail{color:#c62828;font-weight:bold}.na{color:#777;font-weight:bold}"
         ".computed{background:#e3f2fd}.declared{background:#fff3e0}.deployment{background:#f1f8e9}.measured{background:#e8f5e9}"
         ".tag{font-size:0.8em;padding:0 4px;border-radius:3px}code{font-size:0.9em;word-break:break-all}"
         "td.rule code{word-break:normal;white-space:nowrap}.status-certified{background:#e8f5e9}.status-refused{background:#ffebee}"
         "</style></head><body>\n";
    o += "<h1>Certification report: " + esc(d.name) + "</h1>\n";
    o += "<p><em>Rendered from the certificate's data. This report is not a verification: run <code>stacklab verify</code> on "
         "the certificate file to check its signature, canonical form, evidence hashes and validity.</em></p>\n";
    o += "<table class=\"status-" + esc(d.status) + "\">";
    auto row = [&](const std::string& k, const std::string& v_html) { o += "<tr><th>" + esc(k) + "</th><td>" + v_html + "</td></tr>"; };
    row("Status", "<strong>" + esc(d.status) + "</strong>");
    row("Decision", esc(d.summary));
    row("Requested tier", esc(d.tier));
    auto codes = [&](const std::vector<std::string>& v) {
        if (v.empty()) return std::string("none");
        std::string s;
        for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::string("<code>") + esc(v[i]) + "</code>";
        return s;
    };
    row("Deciding rules", codes(d.deciding));
    row("Warnings (failed advisory rules)", codes(d.warnings));
    std::string chips;
    for (std::size_t i = 0; i < d.chips.size(); ++i) chips += (i ? ", " : "") + esc(d.chips[i]);
    row("Chips", chips);
    row("Manifest SHA-256", "<code>" + esc(d.manifest_sha256) + "</code>");
    row("Model SHA-256", "<code>" + esc(d.model_sha256) + "</code>");
    row("Valid", esc(d.not_before) + " to " + esc(d.not_after));
    row("Issuer key id", "<code>" + esc(d.key_id) + "</code> (" + esc(d.issued_by) + ")");
    o += "</table>\n";

    o += "<h2>Policy packs</h2>\n<table><tr><th>id</th><th>version</th><th>label</th><th>sha256</th></tr>";
    for (const auto& p : d.policies)
        o += "<tr><td>" + esc(p[0]) + "</td><td>" + esc(p[1]) + "</td><td>" + esc(p[2]) + "</td><td><code>" + esc(p[3]) + "</code></td></tr>";
    o += "</table>\n";

    o += "<h2>Checklist</h2>\n<p>Evidence provenance: <span class=\"tag measured\">measured</span> measured by StackLab during "
         "certification by running the model, the cell and the chip models (see Measured evidence); "
         "<span class=\"tag computed\">computed</span> computed by StackLab during "
         "certification; <span class=\"tag declared\">declared</span> supplied by the manifest, not measured; "
         "<span class=\"tag deployment\">deployment</span> the manifest's description.</p>\n";
    o += "<table><tr><th>outcome</th><th>rule</th><th>severity</th><th>clause</th><th>reasons</th><th>evidence</th></tr>";
    std::string pack;
    for (std::size_t i = 0; i < d.verdicts.size(); ++i) {
        const VerdictRow& v = d.verdicts[i];
        if (i == 0 || v.pack != pack) {
            pack = v.pack;
            o += "<tr><th colspan=\"6\">Pack " + esc(pack) + "</th></tr>";
        }
        const std::string cls = v.outcome == "pass" ? "pass" : v.outcome == "fail" ? "fail" : "na";
        o += "<tr data-rule=\"" + esc(v.rule) + "\" data-outcome=\"" + esc(v.outcome) + "\"><td class=\"" + cls + "\">" +
             esc(outcome_label(v.outcome)) + "</td><td class=\"rule\"><code>" + esc(v.rule) + "</code></td><td>" + esc(v.severity) +
             "</td><td>" + esc(v.clause) + "</td><td><ul>";
        for (const auto& r : v.reasons) o += "<li>" + esc(r) + "</li>";
        o += "</ul></td><td><ul>";
        for (const auto& e : v.evidence)
            o += "<li><span class=\"tag " + esc(e.provenance) + "\">" + esc(e.provenance) + "</span> <code>" + esc(e.path) +
                 "</code> = <code>" + esc(e.value) + "</code></li>";
        o += "</ul></td></tr>";
    }
    o += "</table>\n";

    o += "<h2>Measured evidence</h2>\n";
    if (d.measured.empty()) o += "<p>None: every result this certificate uses is computed or declared.</p>\n";
    for (const auto& m : d.measured) {
        o += "<h3><span class=\"tag measured\">measured</span> " + esc(m.name) + "</h3>\n<table>";
        row("function", "<code>" + esc(m.function) + "</code>");
        row("re-run", esc(m.command));
        row("parameters", "<code>" + esc(m.parameters) + "</code>");
        for (const auto& in : m.inputs) row("input", "<code>" + esc(in) + "</code>");
        row("method", esc(m.method));
        row("value", "<code>" + esc(m.value) + "</code>");
        o += "</table>\n";
    }

    o += "<h2>Plots</h2>\n";
    if (d.has_latency) {
        double mx = d.budget_ms;
        for (const auto& b : d.latency_ms) mx = std::max(mx, b.value);
        const double budget = d.budget_ms;
        o += "<figure>" +
             svg_bars("Action latency per chip vs budget (computed estimate)", d.latency_ms, mx > 0 ? mx * 1.1 : 1, "ms",
                      "budget", budget, [budget](double v) { return v <= budget; }) +
             "<figcaption><span class=\"tag computed\">computed</span> " + esc(d.latency_method) + "</figcaption></figure>\n";
    } else {
        o += "<p>Action latency plot not shown: the certificate has no computed action latency for every chip, or no budget.</p>\n";
    }
    if (d.has_accuracy) {
        const double fp32 = d.fp32_pct;
        double mx = std::max(100.0, fp32);
        for (const auto& b : d.accuracy_pct) mx = std::max(mx, b.value);
        o += "<figure>" +
             svg_bars(d.accuracy_measured ? "Accuracy vs fp32 reference (measured)" : "Accuracy per chip vs fp32 (declared)",
                      d.accuracy_pct, mx, "", "fp32", fp32, [](double) { return true; }) +
             (d.accuracy_measured ? "<figcaption><span class=\"tag measured\">measured</span> by StackLab: "
                                  : "<figcaption><span class=\"tag declared\">declared</span> by the manifest, not measured by StackLab: ") +
             esc(d.accuracy_metric) + "</figcaption></figure>\n";
    } else {
        o += "<p>Accuracy plot not shown: the certificate has no per-chip accuracy with an fp32 reference, declared or measured.</p>\n";
    }
    o += "</body></html>\n";
    return o;
}

}  // namespace

ReportFormat report_format_for(const std::string& file_name) {
    std::string lower;
    for (char c : file_name) lower += char(std::tolower(static_cast<unsigned char>(c)));
    auto ends = [&](const std::string& suffix) {
        return lower.size() >= suffix.size() && lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends(".md") || ends(".markdown")) return ReportFormat::markdown;
    if (ends(".html") || ends(".htm")) return ReportFormat::html;
    throw std::invalid_argument("report file \"" + file_name + "\": the extension must be .md or .html");
}

std::string render_report(const json& certificate, ReportFormat format) {
    const ReportData d = extract(certificate);
    return format == ReportFormat::html ? render_html(d) : render_markdown(d);
}

}  // namespace stacklab::policy
