#include "policy/pack.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "policy/crypto.hpp"
#include "policy/jcs.hpp"

namespace stacklab::policy {
namespace {

using nlohmann::json;

const std::set<std::string> kBinary = {"eq", "ne", "lt", "le", "gt", "ge", "in", "all", "any"};

// Checks an expression's shape once, at load time, so evaluation only meets data problems.
void check_expr(const json& e, const std::string& where) {
    if (e.is_array()) {
        for (std::size_t i = 0; i < e.size(); ++i) check_expr(e[i], where + "/" + std::to_string(i));
        return;
    }
    if (!e.is_object()) return;  // literal
    if (e.size() != 1) throw std::invalid_argument(where + ": an operator object has exactly one key");
    const std::string op = e.begin().key();
    const json& a = e.begin().value();
    if (op == "var" || op == "exists") {
        if (!a.is_string() || a.get<std::string>().empty())
            throw std::invalid_argument(where + "/" + op + ": expects a path string");
    } else if (kBinary.count(op)) {
        if (!a.is_array() || a.size() != 2) throw std::invalid_argument(where + "/" + op + ": expects [A, B]");
        check_expr(a[0], where + "/" + op + "/0");
        check_expr(a[1], where + "/" + op + "/1");
    } else if (op == "and" || op == "or") {
        if (!a.is_array() || a.empty()) throw std::invalid_argument(where + "/" + op + ": expects a non-empty list");
        for (std::size_t i = 0; i < a.size(); ++i) check_expr(a[i], where + "/" + op + "/" + std::to_string(i));
    } else if (op == "not" || op == "len") {
        check_expr(a, where + "/" + op);
    } else {
        throw std::invalid_argument(where + ": unknown operator \"" + op + "\"");
    }
}

std::string str_field(const json& j, const char* name, const std::string& where) {
    if (!j.contains(name)) throw std::invalid_argument(where + ": missing \"" + name + "\"");
    if (!j.at(name).is_string() || j.at(name).get<std::string>().empty())
        throw std::invalid_argument(where + "/" + name + ": expected a non-empty string");
    return j.at(name).get<std::string>();
}

std::vector<std::string> str_list(const json& j, const char* name, const std::string& where) {
    std::vector<std::string> out;
    if (!j.contains(name)) throw std::invalid_argument(where + ": missing \"" + name + "\"");
    if (!j.at(name).is_array()) throw std::invalid_argument(where + "/" + name + ": expected a list of strings");
    for (const auto& s : j.at(name)) {
        if (!s.is_string()) throw std::invalid_argument(where + "/" + name + ": expected a list of strings");
        out.push_back(s.get<std::string>());
    }
    return out;
}

void only_keys(const json& j, std::initializer_list<const char*> keys, const std::string& where) {
    for (auto it = j.begin(); it != j.end(); ++it)
        if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return it.key() == k; }))
            throw std::invalid_argument(where + ": unknown field \"" + it.key() + "\"");
}

// Evaluation scope: the evidence document and the current all/any item.
struct Scope {
    const json& root;
    const json* item = nullptr;
};

const json* lookup(const std::string& path, const Scope& s) {
    const json* cur = &s.root;
    std::size_t start = 0;
    if (path == "$" || path.rfind("$.", 0) == 0) {
        if (!s.item) return nullptr;
        cur = s.item;
        if (path == "$") return cur;
        start = 2;
    }
    while (start <= path.size()) {
        const std::size_t dot = path.find('.', start);
        const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (cur->is_object()) {
            auto it = cur->find(part);
            if (it == cur->end()) return nullptr;
            cur = &*it;
        } else if (cur->is_array() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
            const std::size_t i = std::stoul(part);
            if (i >= cur->size()) return nullptr;
            cur = &(*cur)[i];
        } else {
            return nullptr;
        }
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return cur;
}

std::string show(const json& v) {
    const std::string s = v.dump();
    return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

json eval(const json& e, const Scope& s);

bool eval_bool(const json& e, const Scope& s, const std::string& op) {
    const json v = eval(e, s);
    if (!v.is_boolean()) throw std::invalid_argument(op + ": expected a boolean, got " + show(v));
    return v.get<bool>();
}

json eval(const json& e, const Scope& s) {
    if (e.is_array()) {
        json out = json::array();
        for (const auto& x : e) out.push_back(eval(x, s));
        return out;
    }
    if (!e.is_object()) return e;
    const std::string op = e.begin().key();
    const json& a = e.begin().value();
    if (op == "var") {
        const json* v = lookup(a.get<std::string>(), s);
        if (!v) throw std::invalid_argument("missing evidence \"" + a.get<std::string>() + "\"");
        return *v;
    }
    if (op == "exists") return lookup(a.get<std::string>(), s) != nullptr;
    if (op == "and") {
        for (const auto& x : a)
            if (!eval_bool(x, s, "and")) return false;
        return true;
    }
    if (op == "or") {
        for (const auto& x : a)
            if (eval_bool(x, s, "or")) return true;
        return false;
    }
    if (op == "not") return !eval_bool(a, s, "not");
    if (op == "len") {
        const json v = eval(a, s);
        if (v.is_array()) return v.size();
        if (v.is_string()) return v.get<std::string>().size();
        throw std::invalid_argument("len: expected a list or string, got " + show(v));
    }
    if (op == "all" || op == "any") {
        const json list = eval(a[0], s);
        if (!list.is_array()) throw std::invalid_argument(op + ": expected a list, got " + show(list));
        for (const auto& item : list) {
            const bool r = eval_bool(a[1], Scope{s.root, &item}, op);
            if (op == "all" && !r) return false;
            if (op == "any" && r) return true;
        }
        return op == "all";
    }
    const json x = eval(a[0], s), y = eval(a[1], s);
    if (op == "eq") return x == y;
    if (op == "ne") return x != y;
    if (op == "in") {
        if (!y.is_array()) throw std::invalid_argument("in: expected a list, got " + show(y));
        return std::find(y.begin(), y.end(), x) != y.end();
    }
    const bool nums = x.is_number() && y.is_number(), strs = x.is_string() && y.is_string();
    if (!nums && !strs) throw std::invalid_argument(op + ": cannot compare " + show(x) + " with " + show(y));
    int c;
    if (nums) {
        const double dx = x.get<double>(), dy = y.get<double>();
        c = dx < dy ? -1 : (dx > dy ? 1 : 0);
    } else {
        c = x.get<std::string>().compare(y.get<std::string>());
    }
    if (op == "lt") return c < 0;
    if (op == "le") return c <= 0;
    if (op == "gt") return c > 0;
    return c >= 0;  // ge
}

// "ge(computed.chips.domestic_count = 1, 2)": the expression with the values it read, for reasons.
std::string explain(const json& e, const Scope& s) {
    if (e.is_array()) {
        std::string out = "[";
        for (std::size_t i = 0; i < e.size(); ++i) out += (i ? ", " : "") + explain(e[i], s);
        return out + "]";
    }
    if (!e.is_object()) return show(e);
    const std::string op = e.begin().key();
    const json& a = e.begin().value();
    if (op == "var") {
        const json* v = lookup(a.get<std::string>(), s);
        return a.get<std::string>() + " = " + (v ? show(*v) : std::string("<missing>"));
    }
    if (op == "exists") return "exists(" + a.get<std::string>() + ") = " + (lookup(a.get<std::string>(), s) ? "true" : "false");
    if (op == "all" || op == "any") {
        std::string out = op + "(" + explain(a[0], s) + ", " + a[1].dump() + ")";
        // Name the first item that breaks "all" (or the first that satisfies "any"): that item is
        // the reason, e.g. the one chip that misses the budget.
        const json* list = nullptr;
        json holder;
        try {
            holder = eval(a[0], s);
            list = &holder;
        } catch (const std::invalid_argument&) {
        }
        if (list && list->is_array())
            for (std::size_t i = 0; i < list->size(); ++i) {
                const json& item = (*list)[i];
                bool r = false;
                try {
                    r = eval_bool(a[1], Scope{s.root, &item}, op);
                } catch (const std::invalid_argument&) {
                }
                if ((op == "all" && !r) || (op == "any" && r)) {
                    std::string label;
                    for (const char* k : {"id", "chip", "mode", "name"})
                        if (label.empty() && item.is_object() && item.contains(k) && item.at(k).is_string())
                            label = " (" + item.at(k).get<std::string>() + ")";
                    out += std::string(op == "all" ? " fails for item " : " holds for item ") + std::to_string(i) + label +
                           ": " + explain(a[1], Scope{s.root, &item});
                    break;
                }
            }
        return out;
    }
    if (a.is_array()) {
        std::string out = op + "(";
        for (std::size_t i = 0; i < a.size(); ++i) out += (i ? ", " : "") + explain(a[i], s);
        return out + ")";
    }
    return op + "(" + explain(a, s) + ")";
}

}  // namespace

const char* outcome_name(Outcome o) {
    switch (o) {
        case Outcome::pass: return "pass";
        case Outcome::fail: return "fail";
        case Outcome::not_applicable: return "not_applicable";
    }
    return "?";
}

PolicyPack parse_pack(const std::string& json_bytes, const std::string& file_name) {
    const json j = parse_json_strict(json_bytes, file_name);
    if (!j.is_object()) throw std::invalid_argument(file_name + ": a policy pack is a JSON object");
    only_keys(j, {"format", "id", "version", "title", "label", "sources", "rules"}, file_name);
    if (str_field(j, "format", file_name) != "stacklab-policy/1")
        throw std::invalid_argument(file_name + "/format: expected \"stacklab-policy/1\"");
    PolicyPack p;
    p.id = str_field(j, "id", file_name);
    const std::string stem = file_name.substr(file_name.find_last_of('/') + 1);
    if (stem != p.id + ".json") throw std::invalid_argument(file_name + "/id: \"" + p.id + "\" must equal the file name stem");
    p.version = str_field(j, "version", file_name);
    p.title = str_field(j, "title", file_name);
    p.label = str_field(j, "label", file_name);
    p.sources = str_list(j, "sources", file_name);
    if (!j.contains("rules") || !j.at("rules").is_array() || j.at("rules").empty())
        throw std::invalid_argument(file_name + "/rules: expected a non-empty list");
    std::set<std::string> ids;
    for (std::size_t i = 0; i < j.at("rules").size(); ++i) {
        const json& r = j.at("rules")[i];
        const std::string where = file_name + "/rules/" + std::to_string(i);
        if (!r.is_object()) throw std::invalid_argument(where + ": expected an object");
        only_keys(r, {"id", "clause", "evidence", "when", "predicate", "severity"}, where);
        Rule rule;
        rule.id = str_field(r, "id", where);
        if (!ids.insert(rule.id).second) throw std::invalid_argument(where + "/id: duplicate rule id \"" + rule.id + "\"");
        rule.clause = str_field(r, "clause", where);
        rule.evidence = str_list(r, "evidence", where);
        if (r.contains("when")) {
            rule.when = r.at("when");
            check_expr(rule.when, where + "/when");
        }
        if (!r.contains("predicate")) throw std::invalid_argument(where + ": missing \"predicate\"");
        rule.predicate = r.at("predicate");
        check_expr(rule.predicate, where + "/predicate");
        const std::string sev = str_field(r, "severity", where);
        if (sev == "mandatory") rule.severity = Severity::mandatory;
        else if (sev == "advisory") rule.severity = Severity::advisory;
        else throw std::invalid_argument(where + "/severity: expected \"mandatory\" or \"advisory\", got \"" + sev + "\"");
        p.rules.push_back(std::move(rule));
    }
    p.sha256 = sha256_hex(json_bytes);
    return p;
}

PolicyPack find_pack(const std::string& id) {
    std::string known;
    for (const auto& f : bundled_pack_files()) {
        const PolicyPack p = parse_pack(f.bytes, f.name);
        if (p.id == id) return p;
        known += (known.empty() ? "" : ", ") + p.id;
    }
    throw std::invalid_argument("no policy pack with id \"" + id + "\" (known: " + known + ")");
}

json eval_expr(const json& expr, const json& evidence) {
    check_expr(expr, "expression");
    return eval(expr, Scope{evidence});
}

Decision evaluate(const std::vector<PolicyPack>& packs, const json& evidence) {
    Decision d;
    int applicable = 0;
    std::vector<std::string> passed_mandatory, failed_mandatory;
    for (const auto& p : packs) {
        for (const auto& r : p.rules) {
            RuleVerdict v;
            v.pack = p.id;
            v.rule = r.id;
            v.clause = r.clause;
            v.severity = r.severity;
            v.evidence = r.evidence;
            const Scope s{evidence};
            try {
                if (!r.when.is_null() && !eval_bool(r.when, s, "when")) {
                    v.outcome = Outcome::not_applicable;
                    v.reasons.push_back("does not apply: " + explain(r.when, s));
                    d.verdicts.push_back(std::move(v));
                    continue;
                }
                ++applicable;
                std::vector<std::string> missing;
                for (const auto& path : r.evidence)
                    if (!lookup(path, s)) missing.push_back(path);
                if (!missing.empty()) {
                    v.outcome = Outcome::fail;
                    for (const auto& m : missing) v.reasons.push_back("missing evidence \"" + m + "\"");
                } else {
                    const bool ok = eval_bool(r.predicate, s, "predicate");
                    v.outcome = ok ? Outcome::pass : Outcome::fail;
                    v.reasons.push_back(std::string(ok ? "holds: " : "does not hold: ") + explain(r.predicate, s));
                }
            } catch (const std::invalid_argument& e) {
                v.outcome = Outcome::fail;
                v.reasons.push_back(std::string("cannot evaluate: ") + e.what());
            }
            const std::string name = p.id + "/" + r.id;
            if (r.severity == Severity::mandatory)
                (v.outcome == Outcome::pass ? passed_mandatory : failed_mandatory).push_back(name);
            else if (v.outcome == Outcome::fail)
                d.warnings.push_back(name);
            d.verdicts.push_back(std::move(v));
        }
    }
    if (!failed_mandatory.empty()) {
        d.pass = false;
        d.deciding_rules = failed_mandatory;
        d.summary = "fail: mandatory rule(s) failed: ";
        for (std::size_t i = 0; i < failed_mandatory.size(); ++i) d.summary += (i ? ", " : "") + failed_mandatory[i];
    } else if (passed_mandatory.empty()) {
        d.pass = false;
        d.summary = applicable == 0 ? "fail: no rule applies (default deny)" : "fail: no mandatory rule applies (default deny)";
    } else {
        d.pass = true;
        d.deciding_rules = passed_mandatory;
        d.summary = "pass: all " + std::to_string(passed_mandatory.size()) + " applicable mandatory rules hold";
    }
    return d;
}

}  // namespace stacklab::policy
