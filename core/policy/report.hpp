// Human-readable reports of a certificate (issue 7): Markdown and self-contained HTML, made from
// the certificate JSON alone, so a report can be produced again from any certificate file and
// never says more than the signed record does.
//
// Contents, in order:
//   - the subject (name, tier, manifest and model hashes, chips with firmware), the status and
//     the decision summary, the deciding rules and warnings, validity, issuer key id;
//   - the policy packs (id, version, label, sha256);
//   - the clause-by-clause checklist: for every verdict of every pack, the outcome (PASS, FAIL,
//     N/A), severity, rule id, clause, the reasons, and each evidence path the rule read with its
//     value and its provenance: "computed" (StackLab computed it), "declared" (the manifest
//     supplied it, not measured), "deployment" (the manifest's description);
//   - plots (HTML: inline SVG bar charts; Markdown: the same numbers as tables):
//       action latency per chip against the cell's budget (computed.chips.per_chip[].
//       action_latency_ms, a roofline estimate, vs deployment.cell.action_latency_budget_ms),
//       accuracy per chip against fp32 (declared.accuracy.per_chip[].top1_pct vs
//       declared.accuracy.fp32_top1_pct), each labelled with its provenance.
// A plot whose data the certificate lacks is left out with a sentence saying so.
//
// The report is not a verification: it renders whatever certificate it is given and says at the
// top that `stacklab verify` is the check. Every string from the certificate is escaped (HTML
// entities; Markdown table cells have '|' and newlines escaped), so a hostile certificate cannot
// inject markup. The HTML has no scripts, no external resources and closes every element it opens
// (XHTML-style "/>" for the few void elements), so a strict tag checker accepts it.
// Output is deterministic: numbers go through fixed printf formats, iteration follows the
// certificate's arrays and sorted object keys.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace stacklab::policy {

enum class ReportFormat { markdown, html };

// By file extension: ".md"/".markdown" -> markdown, ".html"/".htm" -> html (case-insensitive);
// throws std::invalid_argument naming the file otherwise.
ReportFormat report_format_for(const std::string& file_name);

// Renders the report of a parsed certificate. Throws std::invalid_argument naming the field when
// the certificate lacks the structure a report needs (subject, decision, verdicts, evidence).
std::string render_report(const nlohmann::json& certificate, ReportFormat format);

}  // namespace stacklab::policy
