#include "lab/lesson.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <nlohmann/json.hpp>

#include "chip/roofline.hpp"
#include "policy/certificate.hpp"
#include "policy/crypto.hpp"

namespace stacklab::lab {

LessonError::LessonError(std::string file, std::string path, const std::string& problem)
    : std::invalid_argument(file + ": " + (path.empty() ? std::string() : path + ": ") + problem),
      file_(std::move(file)),
      path_(std::move(path)) {}

const std::vector<std::string>& lesson_layers() {
    static const std::vector<std::string> v = {"chip", "model", "robot", "policy"};
    return v;
}

const std::vector<std::string>& lesson_hideable() {
    static const std::vector<std::string> v = {"chip", "llm", "quant", "kv"};
    return v;
}

const std::vector<std::string>& fact_names() {
    static const std::vector<std::string> v = {
        "llm.fastest_fitting_chip", "llm.selected_decode_bound", "models.weakest_layer",  "models.logits_sqnr_db",
        "robot.round_trip_ok",      "robot.round_trip_max_ms",   "robot.lowest_power_chip_passing",
        "policy.pass",              "policy.deciding_rule",      "policy.passing_deployment"};
    return v;
}

namespace {

using nlohmann::json;

bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "\"" : ", \"") + s + "\"";
    return out;
}

// The field readers: each names the JSON path of what it reads in its error.
struct Reader {
    const std::string& file;
    [[noreturn]] void fail(const std::string& path, const std::string& problem) const { throw LessonError(file, path, problem); }

    void only_keys(const json& obj, const std::string& path, const std::vector<std::string>& keys) const {
        for (auto it = obj.begin(); it != obj.end(); ++it)
            if (!contains(keys, it.key())) fail(path + "/" + it.key(), "unknown key (expected one of " + joined(keys) + ")");
    }
    const json& object_at(const json& obj, const std::string& key, const std::string& path) const {
        if (!obj.contains(key)) fail(path + "/" + key, "missing");
        const json& v = obj.at(key);
        if (!v.is_object()) fail(path + "/" + key, "must be an object");
        return v;
    }
    std::string string_at(const json& obj, const std::string& key, const std::string& path, bool required = true) const {
        if (!obj.contains(key)) {
            if (required) fail(path + "/" + key, "missing");
            return "";
        }
        const json& v = obj.at(key);
        if (!v.is_string()) fail(path + "/" + key, "must be a string");
        const std::string s = v.get<std::string>();
        if (required && s.empty()) fail(path + "/" + key, "must not be empty");
        return s;
    }
    std::vector<std::string> strings_at(const json& obj, const std::string& key, const std::string& path) const {
        std::vector<std::string> out;
        if (!obj.contains(key)) return out;
        const json& v = obj.at(key);
        if (!v.is_array()) fail(path + "/" + key, "must be an array of strings");
        for (size_t i = 0; i < v.size(); ++i) {
            if (!v[i].is_string() || v[i].get<std::string>().empty())
                fail(path + "/" + key + "/" + std::to_string(i), "must be a non-empty string");
            out.push_back(v[i].get<std::string>());
        }
        return out;
    }
};

// key=value(&key=value)*, with an optional leading '#': the form ui::apply_scenario reads.
void check_scenario_form(const Reader& r, const std::string& scenario, const std::string& path) {
    std::string q = scenario;
    if (!q.empty() && q[0] == '#') q.erase(0, 1);
    size_t start = 0;
    while (start <= q.size()) {
        size_t end = q.find('&', start);
        if (end == std::string::npos) end = q.size();
        const std::string part = q.substr(start, end - start);
        const size_t eq = part.find('=');
        if (part.empty() || eq == std::string::npos || eq == 0 || eq + 1 == part.size())
            r.fail(path, "\"" + part + "\" is not key=value (a scenario reads like \"tab=robot&chip=ascend-310p\")");
        if (part.substr(0, eq) == "lesson") r.fail(path, "a step's scenario cannot start another lesson");
        start = end + 1;
    }
}

LessonStep parse_step(const Reader& r, const json& j, const std::string& path) {
    if (!j.is_object()) r.fail(path, "must be an object");
    r.only_keys(j, path, {"title", "text", "scenario", "hide", "question", "check"});
    LessonStep s;
    s.title = r.string_at(j, "title", path);
    s.text = r.string_at(j, "text", path);
    s.scenario = r.string_at(j, "scenario", path, false);
    if (j.contains("scenario")) check_scenario_form(r, s.scenario, path + "/scenario");
    s.hide = r.strings_at(j, "hide", path);
    for (size_t i = 0; i < s.hide.size(); ++i)
        if (!contains(lesson_hideable(), s.hide[i]))
            r.fail(path + "/hide/" + std::to_string(i), "\"" + s.hide[i] + "\" is not a control a step can hide (" +
                                                            joined(lesson_hideable()) + ")");
    if (j.contains("question") != j.contains("check"))
        r.fail(path + (j.contains("question") ? "/check" : "/question"), "a question needs a check and a check a question");
    if (!j.contains("question")) return s;
    s.has_question = true;
    const std::string qp = path + "/question", cp = path + "/check";
    const json& q = r.object_at(j, "question", path);
    r.only_keys(q, qp, {"prompt", "kind", "choices", "tolerance", "unit"});
    s.question.prompt = r.string_at(q, "prompt", qp);
    s.question.kind = r.string_at(q, "kind", qp);
    if (s.question.kind != "choice" && s.question.kind != "number")
        r.fail(qp + "/kind", "\"" + s.question.kind + "\" is not \"choice\" or \"number\"");
    s.question.choices = r.strings_at(q, "choices", qp);
    s.question.unit = r.string_at(q, "unit", qp, false);
    const json& c = r.object_at(j, "check", path);
    r.only_keys(c, cp, {"fact", "explain"});
    s.fact = r.string_at(c, "fact", cp);
    if (!contains(fact_names(), s.fact)) r.fail(cp + "/fact", "unknown fact \"" + s.fact + "\" (known: " + joined(fact_names()) + ")");
    s.explain = r.string_at(c, "explain", cp);
    // Which facts are numbers: the kind of question must match.
    const bool numeric_fact = s.fact == "models.logits_sqnr_db" || s.fact == "robot.round_trip_max_ms";
    if (s.question.kind == "number") {
        if (!numeric_fact) r.fail(qp + "/kind", "fact \"" + s.fact + "\" is a choice, not a number");
        if (!s.question.choices.empty()) r.fail(qp + "/choices", "a number question has no choices");
        if (!q.contains("tolerance") || !q.at("tolerance").is_number()) r.fail(qp + "/tolerance", "a number question needs a number");
        s.question.tolerance = q.at("tolerance").get<double>();
        if (!std::isfinite(s.question.tolerance) || s.question.tolerance <= 0) r.fail(qp + "/tolerance", "must be > 0");
    } else {
        if (numeric_fact) r.fail(qp + "/kind", "fact \"" + s.fact + "\" is a number: the question must be \"number\"");
        if (q.contains("tolerance")) r.fail(qp + "/tolerance", "a choice question has no tolerance");
        if (q.contains("choices") && s.question.choices.size() < 2) r.fail(qp + "/choices", "offer at least two choices");
    }
    return s;
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

}  // namespace

Lesson parse_lesson(const std::string& json_bytes, const std::string& file_name) {
    const Reader r{file_name};
    json j;
    try {
        j = json::parse(json_bytes);
    } catch (const json::parse_error& e) {
        r.fail("", std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object()) r.fail("", "a lesson is a JSON object");
    r.only_keys(j, "", {"id", "title", "layer", "summary", "steps"});
    Lesson l;
    l.file = file_name;
    l.id = r.string_at(j, "id", "");
    if (!std::all_of(l.id.begin(), l.id.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }))
        r.fail("/id", "\"" + l.id + "\" is not lowercase [a-z0-9-]+");
    const size_t slash = file_name.find_last_of('/');
    const std::string base = file_name.substr(slash == std::string::npos ? 0 : slash + 1);
    if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0 && base.substr(0, base.size() - 5) != l.id)
        r.fail("/id", "\"" + l.id + "\" differs from the file name stem \"" + base.substr(0, base.size() - 5) + "\"");
    l.title = r.string_at(j, "title", "");
    l.layer = r.string_at(j, "layer", "");
    if (!contains(lesson_layers(), l.layer)) r.fail("/layer", "\"" + l.layer + "\" is not " + joined(lesson_layers()));
    l.summary = r.string_at(j, "summary", "");
    if (!j.contains("steps") || !j.at("steps").is_array() || j.at("steps").empty()) r.fail("/steps", "must be a non-empty array");
    const json& steps = j.at("steps");
    for (size_t i = 0; i < steps.size(); ++i) {
        const std::string path = "/steps/" + std::to_string(i);
        try {
            l.steps.push_back(parse_step(r, steps[i], path));
        } catch (const nlohmann::json::exception& e) {  // a safety net: the readers check types first
            r.fail(path, e.what());
        }
    }
    return l;
}

std::vector<Lesson> bundled_lessons() {
    std::vector<Lesson> out;
    for (const auto& f : bundled_lesson_files()) out.push_back(parse_lesson(f.bytes, f.name));
    return out;
}

// ---- Facts ---------------------------------------------------------------------------------------

void add_llm_facts(Facts& facts, const std::vector<LlmRow>& rows, const std::string& selected_chip) {
    Fact fastest;
    double best = -1;
    for (const LlmRow& r : rows) {
        fastest.options.push_back(r.chip);
        if (!r.ok) fastest.notes[r.chip] = r.chip + " has no estimate (the catalog lacks a figure it needs)";
        else if (!r.fits) fastest.notes[r.chip] = r.chip + ": the model does not fit in its memory";
        else fastest.notes[r.chip] = r.chip + ": " + fmt("%.1f", r.tokens_per_s) + " tokens/s";
        if (r.ok && r.fits) best = std::max(best, r.tokens_per_s);
    }
    for (const LlmRow& r : rows)
        if (r.ok && r.fits && r.tokens_per_s == best) fastest.accepted.push_back(r.chip);
    fastest.shown = fastest.accepted.empty() ? "no chip fits the model" : fastest.accepted.front();
    facts["llm.fastest_fitting_chip"] = fastest;
    for (const LlmRow& r : rows) {
        if (r.chip != selected_chip || !r.ok) continue;
        Fact bound;
        bound.options = {chip::bound_name(chip::Bound::memory), chip::bound_name(chip::Bound::compute)};
        bound.accepted = {r.decode_bound};
        bound.shown = r.decode_bound;
        facts["llm.selected_decode_bound"] = bound;
    }
}

void add_model_facts(Facts& facts, const nn::QuantizeResult& quant, double logits_sqnr_db) {
    Fact weakest;
    double lowest = std::numeric_limits<double>::infinity();
    for (const nn::LayerQuant& l : quant.layers) {
        if (std::isnan(l.sqnr_db)) continue;  // not compared (layer_sqnr not run for it)
        weakest.options.push_back(l.name);
        weakest.notes[l.name] = l.name + ": " + (std::isfinite(l.sqnr_db) ? fmt("%.2f", l.sqnr_db) + " dB" : "identical to fp32");
        lowest = std::min(lowest, l.sqnr_db);
    }
    for (const nn::LayerQuant& l : quant.layers)
        if (!std::isnan(l.sqnr_db) && l.sqnr_db == lowest && std::isfinite(lowest)) weakest.accepted.push_back(l.name);
    if (!weakest.options.empty()) {
        weakest.shown = weakest.accepted.empty() ? "no layer differs from fp32" : weakest.accepted.front();
        facts["models.weakest_layer"] = weakest;
    }
    if (std::isfinite(logits_sqnr_db)) {
        Fact logits;
        logits.numeric = true;
        logits.value = logits_sqnr_db;
        logits.shown = fmt("%.2f", logits_sqnr_db) + " dB";
        facts["models.logits_sqnr_db"] = logits;
    }
}

namespace {
const robot::StageStats* round_trip_of(const robot::CellReport& rep) {
    for (const auto& s : rep.stages)
        if (s.stage == "round-trip") return &s;
    return nullptr;
}
}  // namespace

void add_cell_facts(Facts& facts, const CellRun& run) {
    const robot::StageStats* rt = round_trip_of(run.report);
    if (!rt || rt->samples == 0) return;  // no perception completed: no round trip to ask about
    Fact ok;
    ok.options = {"yes", "no"};
    ok.accepted = {rt->pass() ? "yes" : "no"};
    const std::string figures = "worst round trip " + fmt("%.1f", rt->max_ms) + " ms against a " + fmt("%.0f", rt->budget_ms) +
                                " ms budget on " + run.chip_id;
    ok.notes["yes"] = ok.notes["no"] = figures;
    ok.shown = ok.accepted.front() + " (" + figures + ")";
    facts["robot.round_trip_ok"] = ok;
    Fact ms;
    ms.numeric = true;
    ms.value = rt->max_ms;
    ms.shown = fmt("%.2f", rt->max_ms) + " ms";
    facts["robot.round_trip_max_ms"] = ms;
}

CellSweepRow sweep_cell_chip(const CellScenario& s, const std::vector<chip::ChipSpec>& chips, size_t index) {
    const chip::ChipSpec& c = chips.at(index);
    CellSweepRow row;
    row.chip = c.id;
    try {
        const chip::Figure& tdp = c.figure("tdp_w");
        if (tdp.known()) row.tdp_w = tdp.number();
    } catch (const std::exception&) {
        row.tdp_w = 0;  // a textual or missing figure: no power to compare
    }
    try {
        const CellRun run = run_cell_scenario(s, chips, c.id);
        const robot::StageStats* rt = round_trip_of(run.report);
        if (rt) {
            row.round_trip_max_ms = rt->max_ms;
            row.round_trip_budget_ms = rt->budget_ms;
        }
        row.pass = run.report.pass();
        for (const auto& v : run.report.verdicts)
            if (!v.pass) row.failed.push_back(v.name);
        row.ran = true;
    } catch (const std::exception& e) {
        row.error = e.what();
    }
    return row;
}

std::vector<CellSweepRow> sweep_cell_chips(const CellScenario& s, const std::vector<chip::ChipSpec>& chips) {
    std::vector<CellSweepRow> rows;
    for (size_t i = 0; i < chips.size(); ++i) rows.push_back(sweep_cell_chip(s, chips, i));
    return rows;
}

void add_cell_sweep_facts(Facts& facts, const std::vector<CellSweepRow>& rows) {
    Fact f;
    double best = std::numeric_limits<double>::infinity();
    for (const CellSweepRow& r : rows) {
        f.options.push_back(r.chip);
        const std::string power = r.tdp_w > 0 ? fmt("%.0f", r.tdp_w) + " W" : "power unknown";
        std::string failed;
        for (const auto& v : r.failed) failed += (failed.empty() ? "" : ", ") + v;
        if (!r.ran) f.notes[r.chip] = r.chip + ": the cell cannot run on it (" + r.error + ")";
        else
            f.notes[r.chip] = r.chip + ", " + power + ": worst round trip " + fmt("%.1f", r.round_trip_max_ms) + " ms of " +
                              fmt("%.0f", r.round_trip_budget_ms) + " ms, " + (r.pass ? "the cell passes" : "fails " + failed);
        if (r.ran && r.pass && r.tdp_w > 0) best = std::min(best, r.tdp_w);
    }
    for (const CellSweepRow& r : rows)
        if (r.ran && r.pass && r.tdp_w == best) f.accepted.push_back(r.chip);
    f.shown = f.accepted.empty() ? "the cell passes on no chip with a known power" : f.accepted.front();
    facts["robot.lowest_power_chip_passing"] = f;
}

void add_decision_facts(Facts& facts, const policy::Decision& d) {
    Fact pass;
    pass.options = {"yes", "no"};
    pass.accepted = {d.pass ? "yes" : "no"};
    pass.notes["yes"] = pass.notes["no"] = d.summary;
    pass.shown = d.summary;
    facts["policy.pass"] = pass;
    Fact rule;
    for (const auto& v : d.verdicts) {
        const std::string id = v.pack + "/" + v.rule;
        // A rule that does not apply to this deployment cannot decide it: not offered.
        if (v.outcome == policy::Outcome::not_applicable || contains(rule.options, id)) continue;
        rule.options.push_back(id);
        rule.notes[id] = id + ": " + policy::outcome_name(v.outcome) + (v.reasons.empty() ? "" : " (" + v.reasons.front() + ")");
    }
    rule.accepted = d.deciding_rules;
    rule.shown = d.deciding_rules.empty() ? "no rule decided" : d.deciding_rules.front();
    facts["policy.deciding_rule"] = rule;
}

std::vector<DeploymentOutcome> certify_bundled_deployments(const std::string& now) {
    // The signature is thrown away: only the decision matters here, so any key does.
    const policy::Ed25519KeyPair key = policy::ed25519_from_seed(policy::sha256(std::string_view("stacklab lesson sweep: throwaway key")));
    std::vector<DeploymentOutcome> out;
    for (const policy::DeploymentFile& f : policy::bundled_deployment_files()) {
        DeploymentOutcome o;
        const size_t slash = f.name.find_last_of('/');
        o.id = f.name.substr(slash == std::string::npos ? 0 : slash + 1);
        if (o.id.size() > 5 && o.id.compare(o.id.size() - 5, 5, ".json") == 0) o.id.resize(o.id.size() - 5);
        try {
            const json manifest = policy::parse_manifest(f.bytes, f.name);
            std::vector<policy::PolicyPack> packs;
            for (const auto& p : manifest.at("policies")) packs.push_back(policy::find_pack(p.get<std::string>()));
            policy::CertifyOptions opt;
            opt.now = now;
            const policy::CertifyResult c = policy::certify(f.bytes, f.name, packs, key, opt);
            o.pass = c.decision.pass;
            o.summary = c.decision.summary;
        } catch (const std::exception& e) {
            o.summary = std::string("cannot certify: ") + e.what();
        }
        out.push_back(o);
    }
    return out;
}

void add_deployment_sweep_facts(Facts& facts, const std::vector<DeploymentOutcome>& outcomes) {
    Fact f;
    for (const auto& o : outcomes) {
        f.options.push_back(o.id);
        f.notes[o.id] = o.id + ": " + o.summary;
        if (o.pass) f.accepted.push_back(o.id);
    }
    f.shown = f.accepted.empty() ? "no bundled deployment certifies" : f.accepted.front();
    facts["policy.passing_deployment"] = f;
}

// ---- Checking ------------------------------------------------------------------------------------

std::vector<std::string> step_choices(const LessonStep& step, const Facts& facts) {
    if (!step.question.choices.empty()) return step.question.choices;
    auto it = facts.find(step.fact);
    return it == facts.end() ? std::vector<std::string>{} : it->second.options;
}

CheckResult check_answer(const LessonStep& step, const Facts& facts, const std::string& answer) {
    CheckResult r;
    if (!step.has_question) {
        r.ready = r.correct = true;
        return r;
    }
    auto it = facts.find(step.fact);
    if (it == facts.end()) {
        r.message = "Not computed yet: wait for the panel this step opened to finish.";
        return r;
    }
    r.ready = true;
    const Fact& f = it->second;
    if (answer.empty()) {
        r.message = "Give an answer first.";
        return r;
    }
    if (step.question.kind == "number") {
        char* end = nullptr;
        const double v = std::strtod(answer.c_str(), &end);
        if (end == answer.c_str() || *end != '\0' || !std::isfinite(v)) {
            r.message = "\"" + answer + "\" is not a number.";
            return r;
        }
        r.correct = std::fabs(v - f.value) <= step.question.tolerance;
        const std::string unit = step.question.unit.empty() ? "" : " " + step.question.unit;
        if (r.correct)
            r.message = "Correct: the core computed " + f.shown + ".";
        else
            r.message = "Not quite: " + fmt("%g", v) + unit + " is " + (v < f.value ? "too low" : "too high") +
                        " (tolerance " + fmt("%g", step.question.tolerance) + unit + "). " + step.explain;
        return r;
    }
    r.correct = contains(f.accepted, answer);
    auto note = f.notes.find(answer);
    const std::string why = note == f.notes.end() ? "" : " (" + note->second + ")";
    if (r.correct) r.message = "Correct" + why + ".";
    else if (f.accepted.empty()) r.message = "No answer is right for this scenario: " + f.shown + ". " + step.explain;
    else r.message = "Not " + answer + why + ". " + step.explain;
    return r;
}

}  // namespace stacklab::lab
