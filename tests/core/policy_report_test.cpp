// Certificate reports: every rule appears with its verdict, evidence is marked computed or
// declared, the HTML is well-formed (a strict tag checker below), hostile strings are escaped,
// and the output is deterministic.
#include <boost/test/unit_test.hpp>

#include <cstring>

#include "policy/certificate.hpp"
#include "policy/report.hpp"

using namespace stacklab::policy;
using nlohmann::json;

namespace {

Ed25519KeyPair report_key() { return ed25519_from_seed(from_hex_fixed<32>(std::string(64, 'c'), "seed")); }

// The pass example's shape (models/deployments/warehouse-cell-tier2-pass.json), with a chip list
// and budget the tests vary.
json deployment(const std::string& chip_b, double budget_ms) {
    return {{"format", "stacklab-deployment/1"}, {"name", "report-test"}, {"requested_tier", 2},
            {"policies", {"licensing-tiers", "chip-model-convergence", "agent-certification", "real-world-anchors"}},
            {"model", {{"file", "m"}, {"sha256", std::string(64, '1')}}}, {"quant", "w8a8"},
            {"chips", {{{"id", "ascend-910b"}, {"firmware", "1"}}, {{"id", chip_b}, {"firmware", "2"}}}},
            {"cell", {{"scenario", "s"}, {"action_latency_budget_ms", budget_ms}}},
            {"workload", {{"llm", "qwen2.5-7b"}, {"batch", 1}, {"prompt", 256}, {"output", 16}}},
            {"data", {{{"name", "d"}, {"sha256", std::string(64, '2')}}}},
            {"evidence",
             {{"accuracy",
               {{"metric", "top-1 <b>percent</b> | x"},
                {"fp32_top1_pct", 91.0},
                {"per_chip", {{{"chip", "ascend-910b"}, {"top1_pct", 90.6}, {"drop_pct", 0.4}},
                              {{"chip", chip_b}, {"top1_pct", 90.4}, {"drop_pct", 0.6}}}}}},
              {"convergence", {{"validated_chips", {"ascend-910b", chip_b}}}},
              {"reproducibility", {{"rerun_hash_match", true}, {"native_wasm_hash_match", true}}},
              {"data_processing", {{"on_premises", false}}},
              {"agent",
               {{"randomized_runs", 2000}, {"property_violations", 0}, {"protective_stop_bound_ms", 200},
                {"failure_modes",
                 {{{"mode", "network_outage"}, {"stop_ms", 120}}, {{"mode", "sensor_dropout"}, {"stop_ms", 80}},
                  {{"mode", "stale_frames"}, {"stop_ms", 150}}}},
                {"actions_without_rule_id", 0}, {"stop_function", true}, {"override", true},
                {"speed_separation_monitoring", true}}}}}};
}

json certificate_for(const json& m) {
    std::vector<PolicyPack> packs;
    for (const auto& id : m.at("policies")) packs.push_back(find_pack(id.get<std::string>()));
    CertifyOptions opt;
    opt.now = "2025-06-01T00:00:00Z";
    opt.audit_log = true;  // EU AI Act Art. 12 and Tier 3 read it
    return json::parse(certify(m.dump(), "m.json", packs, report_key(), opt).certificate);
}

// A strict checker for the HTML the report writes: every element closed in order (void elements
// must be written "<x/>"), attribute values quoted, no stray '<' or '>' or bare '&' in text.
// Returns "" when well-formed, else the problem and its offset.
std::string html_problem(const std::string& h) {
    std::vector<std::string> open;
    std::size_t i = 0;
    auto at = [&](const std::string& what) { return what + " at offset " + std::to_string(i); };
    if (h.rfind("<!DOCTYPE html>", 0) != 0) return "no doctype";
    i = std::strlen("<!DOCTYPE html>");
    while (i < h.size()) {
        const char c = h[i];
        if (c == '>') return at("stray '>'");
        if (c == '&') {
            const std::size_t semi = h.find(';', i);
            if (semi == std::string::npos || semi - i > 8) return at("bare '&'");
            const std::string ent = h.substr(i, semi - i + 1);
            if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&#39;") return at("unknown entity " + ent);
            i = semi + 1;
            continue;
        }
        if (c != '<') {
            ++i;
            continue;
        }
        const std::size_t end = h.find('>', i);
        if (end == std::string::npos) return at("unterminated tag");
        std::string tag = h.substr(i + 1, end - i - 1);
        if (tag.find('<') != std::string::npos) return at("'<' inside a tag");
        // Quotes must balance and no '>' may hide inside an attribute value (find stopped at the first).
        if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) return at("unbalanced quotes in <" + tag + ">");
        const bool closing = !tag.empty() && tag[0] == '/';
        const bool self_closing = !tag.empty() && tag.back() == '/';
        std::string name = tag.substr(closing ? 1 : 0);
        name = name.substr(0, name.find_first_of(" /"));
        if (name.empty() || !std::all_of(name.begin(), name.end(), [](char ch) { return std::isalnum((unsigned char)ch); }))
            return at("bad tag name in <" + tag + ">");
        if (closing) {
            if (open.empty() || open.back() != name) return at("</" + name + "> closes <" + (open.empty() ? "" : open.back()) + ">");
            open.pop_back();
        } else if (!self_closing) {
            open.push_back(name);
        }
        i = end + 1;
        // Style sheets are raw text: skip to their end tag.
        if (!closing && name == "style") {
            const std::size_t close = h.find("</style>", i);
            if (close == std::string::npos) return at("unclosed <style>");
            i = close;
        }
    }
    if (!open.empty()) return "unclosed <" + open.back() + ">";
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_report)

BOOST_AUTO_TEST_CASE(the_html_checker_itself_rejects_malformed_markup) {
    BOOST_TEST(html_problem("<!DOCTYPE html>\n<html><body><p>a</p></body></html>") == "");
    BOOST_TEST(html_problem("<!DOCTYPE html>\n<html><body><p>a</body></html>") != "");
    BOOST_TEST(html_problem("<!DOCTYPE html>\n<html><body>a < b</body></html>") != "");
    BOOST_TEST(html_problem("<!DOCTYPE html>\n<html><body>a & b</body></html>") != "");
    BOOST_TEST(html_problem("<!DOCTYPE html>\n<html><body><br></body></html>") != "");
    BOOST_TEST(html_problem("<!DOCTYPE html>\n<html><body><div class=\"a></div></body></html>") != "");
    BOOST_TEST(html_problem("<!DOCTYPE html>\n<html><body><br/></body></html>") == "");
}

BOOST_AUTO_TEST_CASE(reports_list_every_rule_with_its_verdict_in_both_formats) {
    const json cert = certificate_for(deployment("kunlun-k200", 500));
    BOOST_TEST_REQUIRE(cert["verdicts"].size() > 10u);
    const std::string md = render_report(cert, ReportFormat::markdown);
    const std::string html = render_report(cert, ReportFormat::html);
    for (const auto& v : cert["verdicts"]) {
        const std::string rule = v["rule"], outcome = v["outcome"];
        const std::string label = outcome == "pass" ? "PASS" : outcome == "fail" ? "FAIL" : "N/A";
        // Markdown: "**PASS** `rule`" on the rule's line.
        BOOST_TEST(md.find("**" + label + "** `" + rule + "`") != std::string::npos, rule);
        // HTML: the row carries the rule and outcome as data, and the outcome cell the label.
        const std::size_t row = html.find("<tr data-rule=\"" + rule + "\" data-outcome=\"" + outcome + "\">");
        BOOST_TEST_REQUIRE(row != std::string::npos, rule);
        BOOST_TEST(html.compare(html.find('>', html.find("<td", row)) + 1, label.size(), label) == 0, rule);
    }
    BOOST_TEST(md.find("Status:** certified") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_refused_certificate_reports_the_failing_rule_and_its_reason) {
    // A 1 ms budget no chip can meet: the action-latency rule fails with a reason.
    const json cert = certificate_for(deployment("kunlun-k200", 1));
    BOOST_TEST(cert["status"] == "refused");
    const std::string html = render_report(cert, ReportFormat::html);
    BOOST_TEST(html_problem(html) == "");
    BOOST_TEST(html.find("data-rule=\"AG.action-latency-budget\" data-outcome=\"fail\"") != std::string::npos);
    for (const auto& v : cert["verdicts"])
        for (const auto& r : v["reasons"]) {
            std::string esc;
            for (char c : r.get<std::string>()) esc += c == '"' ? std::string("&quot;") : c == '\'' ? std::string("&#39;") : c == '<' ? std::string("&lt;") : c == '>' ? std::string("&gt;") : c == '&' ? std::string("&amp;") : std::string(1, c);
            BOOST_TEST(html.find(esc) != std::string::npos, esc);
        }
    // Over-budget bars are red in the latency plot.
    BOOST_TEST(html.find("fill=\"#c62828\"") != std::string::npos);
    BOOST_TEST(render_report(cert, ReportFormat::markdown).find("| no |") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(html_is_well_formed_escapes_hostile_strings_and_plots_latency_and_accuracy) {
    json m = deployment("kunlun-k200", 500);
    m["name"] = "<script>alert('x')</script> & \"co\"";
    const json cert = certificate_for(m);
    const std::string html = render_report(cert, ReportFormat::html);
    BOOST_TEST(html_problem(html) == "");
    BOOST_TEST(html.find("<script>") == std::string::npos);
    BOOST_TEST(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;") != std::string::npos);
    // Two charts, each with one bar per chip and a reference line.
    BOOST_TEST(html.find("Action latency per chip vs budget") != std::string::npos);
    BOOST_TEST(html.find("Accuracy per chip vs fp32 (declared)") != std::string::npos);
    std::size_t svgs = 0, lines = 0;
    for (std::size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
    for (std::size_t p = html.find("<line"); p != std::string::npos; p = html.find("<line", p + 1)) ++lines;
    BOOST_TEST(svgs == 2u);
    BOOST_TEST(lines == 2u);
    // Evidence is marked with its provenance.
    BOOST_TEST(html.find("<span class=\"tag computed\">computed</span> <code>computed.chips.all_in_catalog</code>") != std::string::npos);
    BOOST_TEST(html.find("<span class=\"tag declared\">declared</span> <code>declared.accuracy.per_chip</code>") != std::string::npos);
    const std::string md = render_report(cert, ReportFormat::markdown);
    BOOST_TEST(md.find("<script>") == std::string::npos);
    BOOST_TEST(md.find("evidence (declared) `declared.agent.randomized_runs` = `2000`") != std::string::npos);
    // The metric text holds '|' and markup: escaped in the Markdown table caption.
    BOOST_TEST(md.find("top-1 &lt;b&gt;percent&lt;/b&gt; \\| x") != std::string::npos);
    BOOST_TEST(md.find("| kunlun-k200 | 90.4 | 91.0 | -0.60 |") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(reports_are_deterministic_and_missing_plot_data_is_said_not_invented) {
    json m = deployment("kunlun-k200", 500);
    m["evidence"].erase("accuracy");
    m["workload"]["llm"] = "no-such-llm";  // no latency estimate can be made
    const json cert = certificate_for(m);
    const std::string html = render_report(cert, ReportFormat::html);
    BOOST_TEST(html == render_report(cert, ReportFormat::html));
    BOOST_TEST(html_problem(html) == "");
    BOOST_TEST(html.find("<svg") == std::string::npos);
    BOOST_TEST(html.find("Action latency plot not shown") != std::string::npos);
    BOOST_TEST(html.find("Accuracy plot not shown") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(format_follows_the_extension_and_bad_input_is_rejected_by_name) {
    BOOST_TEST((report_format_for("out/report.md") == ReportFormat::markdown));
    BOOST_TEST((report_format_for("R.HTML") == ReportFormat::html));
    BOOST_TEST((report_format_for("r.htm") == ReportFormat::html));
    BOOST_CHECK_THROW(report_format_for("report.pdf"), std::invalid_argument);
    BOOST_CHECK_THROW(render_report(json::array(), ReportFormat::html), std::invalid_argument);
    try {
        render_report(json{{"subject", json::object()}, {"decision", json::object()}, {"verdicts", json::array()}},
                      ReportFormat::markdown);
        BOOST_ERROR("no exception");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) == "certificate: missing \"evidence\"");
    }
}

BOOST_AUTO_TEST_SUITE_END()
