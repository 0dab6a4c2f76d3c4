// Policy packs and their evaluation: a small declarative rule format with Cedar-like semantics.
//
// A pack is one JSON file (models/policy/<id>.json). Every field, documented once:
//   format    "stacklab-policy/1"
//   id        string  [a-z0-9-]+, equals the file name stem
//   version   string  the pack's own version ("1.0.0"); certificates record it
//   title     string
//   label     string  what the pack is and is not (e.g. "teaching model, not a legal assessment")
//   sources   [string] where the clauses come from (documents, URLs)
//   rules     [RULE], at least one, ids unique within the pack
// RULE:
//   id        string  stable id, cited in verdicts ("T3.domestic-chips")
//   clause    string  the requirement in words
//   evidence  [string] dotted paths into the evidence document the rule needs; a missing path
//                      fails the rule with "missing evidence" (default deny)
//   when      EXPR    optional: the rule applies only when this is true (e.g. the requested tier)
//   predicate EXPR    must evaluate to true for the rule to pass
//   severity  "mandatory" | "advisory"
// EXPR (JSON; no scripting, no loops beyond all/any over a list, no user functions):
//   number, string, true, false, null       literals
//   [EXPR, ...]                             a list literal
//   {"var": "a.b.c"}                        a value from the evidence document; inside all/any,
//                                           "$" is the current item ("$.origin")
//   {"eq"|"ne"|"lt"|"le"|"gt"|"ge": [A, B]} comparisons; lt/le/gt/ge need two numbers or two
//                                           strings, eq/ne compare any JSON values
//   {"and": [E...]}, {"or": [E...]}, {"not": E}   booleans (operands must be booleans)
//   {"in": [X, LIST]}                       X is an element of LIST
//   {"len": LIST_OR_STRING}                 number of elements / bytes
//   {"all"|"any": [LIST, EXPR]}             EXPR for every / some item of LIST ($ bound to it)
//   {"exists": "a.b.c"}                     the path is present
// Semantics (after Cedar's authorization model):
//   - default deny: a deployment passes only if at least one rule applied and every applicable
//     mandatory rule passed;
//   - a failed mandatory rule cannot be outweighed by any number of passes;
//   - advisory rules are reported (warnings) but do not decide;
//   - every decision lists the rules that decided it: the failed mandatory rules on a fail, the
//     passed mandatory rules on a pass.
// An expression that meets a type error (comparing a string with a number) fails its rule with
// the reason; it never throws out of evaluate().
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stacklab::policy {

enum class Severity { mandatory, advisory };

struct Rule {
    std::string id, clause;
    std::vector<std::string> evidence;
    nlohmann::json when;       // null: always applies
    nlohmann::json predicate;
    Severity severity = Severity::mandatory;
};

struct PolicyPack {
    std::string id, version, title, label;
    std::vector<std::string> sources;
    std::vector<Rule> rules;
    std::string sha256;  // of the file's bytes, recorded in certificates
};

// Parses and validates one pack (every expression is checked for known operators and arities).
// Throws std::invalid_argument naming the file and the field.
PolicyPack parse_pack(const std::string& json_bytes, const std::string& file_name);

struct PackFile {
    std::string name, bytes;
};
// models/policy/*.json, embedded at build time.
const std::vector<PackFile>& bundled_pack_files();
// The bundled pack with this id; throws std::invalid_argument listing the known ids.
PolicyPack find_pack(const std::string& id);

enum class Outcome { pass, fail, not_applicable };
const char* outcome_name(Outcome o);

struct RuleVerdict {
    std::string pack, rule, clause;
    Severity severity = Severity::mandatory;
    Outcome outcome = Outcome::fail;
    std::vector<std::string> reasons;
    std::vector<std::string> evidence;  // the paths it read
};

struct Decision {
    bool pass = false;
    std::vector<RuleVerdict> verdicts;
    std::vector<std::string> deciding_rules;  // "pack/rule"
    std::vector<std::string> warnings;        // failed advisory rules
    std::string summary;                      // one line
};

// Evaluates every rule of every pack against the evidence document.
Decision evaluate(const std::vector<PolicyPack>& packs, const nlohmann::json& evidence);

// Evaluates one expression (for tests and tools); throws std::invalid_argument on type errors
// or missing evidence, with the path or operator named.
nlohmann::json eval_expr(const nlohmann::json& expr, const nlohmann::json& evidence);

}  // namespace stacklab::policy
