// Lessons: guided steps through the playground (models/lessons/*.json, embedded like the cells).
// Each step loads a scenario, asks one question and checks the student's answer against a *fact*:
// a figure or a choice derived here from what the core computed for that scenario (the Models tab's
// per-layer SQNR, the cell's round trip on each chip, the certification's decision, the LLM
// estimates of every chip). A lesson never carries its own answer: the accepted answers are whatever
// the core computes, so a change in a model, a chip figure or a policy pack changes the answer with it.
//
// Why core/lab and not ui/: the format, the parser and the checker read only core results (plain
// structs of core/chip, core/nn, core/robot, core/policy and lab::CellRun), so they belong where the
// four layers meet (ARCHITECTURE.md: lab "wires them"); the UI (ui/lesson_panel.cpp) fills the
// facts from its panels' cached reports and draws the step, and the core tests
// (tests/core/lab_lesson_test.cpp) fill them from the same core calls and solve every shipped lesson.
// Nothing here depends on ImGui, a file system or a clock.
//
// Lesson files: models/lessons/<id>.json. Unknown keys are rejected (a typo is an error).
//   id        string  lowercase [a-z0-9-]+, equal to the file name stem
//   title     string
//   layer     string  "chip" | "model" | "robot" | "policy": the layer of the stack it teaches
//   summary   string  one or two sentences for the lesson picker
//   steps     array (at least one) of
//     title     string
//     text      string  what the student reads (plain text; "\n\n" separates paragraphs)
//     scenario  string  optional: the scenario the step loads, in the URL-hash form the app already
//                       applies ("tab=robot&cell=pcb-cell-ascend-310p&chip=ascend-310p"; keys are
//                       those of ui::apply_scenario, ui/app.hpp). Only the form key=value(&key=value)*
//                       is checked here; the app reports unknown keys as it does for a URL.
//     hide      array of strings, optional: sidebar controls the step hides: "chip", "llm",
//                       "quant" (the LLM quantization), "kv" (int8 KV cache)
//     question  object, optional (a step without one only explains)
//       prompt     string
//       kind       "choice" (pick one of a list) | "number" (type a value)
//       choices    array of strings, optional for "choice": the list offered; without it the
//                  fact's own options are offered (every chip, every layer, every rule, ...)
//       tolerance  number > 0, required for "number": |answer - fact| <= tolerance is correct
//       unit       string, optional for "number" ("ms", "dB")
//     check     object, required with a question
//       fact       string: one of fact_names() (below)
//       explain    string: shown after a wrong answer, with what the core computed for that answer
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "chip/catalog.hpp"
#include "lab/cell_scenario.hpp"
#include "nn/quantize.hpp"
#include "policy/pack.hpp"

namespace stacklab::lab {

// A problem in one lesson file: names the file and the JSON path of the field ("/steps/1/check/fact").
class LessonError : public std::invalid_argument {
public:
    LessonError(std::string file, std::string path, const std::string& problem);
    const std::string& file() const { return file_; }
    const std::string& path() const { return path_; }

private:
    std::string file_, path_;
};

struct LessonQuestion {
    std::string prompt;
    std::string kind;  // "choice" or "number"
    std::vector<std::string> choices;  // empty: the fact's options
    double tolerance = 0;
    std::string unit;
};

struct LessonStep {
    std::string title, text, scenario;
    std::vector<std::string> hide;
    bool has_question = false;
    LessonQuestion question;
    std::string fact, explain;  // the check
};

struct Lesson {
    std::string id, title, layer, summary, file;
    std::vector<LessonStep> steps;
};

// Parses one lesson file. Throws LessonError (file + JSON path) for malformed JSON, a missing or
// mistyped field, an unknown key, an unknown fact, or a choice/number mismatch; never crashes.
Lesson parse_lesson(const std::string& json_bytes, const std::string& file_name);

struct LessonFile {
    std::string name, bytes;
};
// models/lessons/*.json, embedded at build time, in sorted order.
const std::vector<LessonFile>& bundled_lesson_files();
// Every bundled lesson, parsed (throws LessonError for the first bad one).
std::vector<Lesson> bundled_lessons();

const std::vector<std::string>& lesson_layers();      // "chip", "model", "robot", "policy"
const std::vector<std::string>& lesson_hideable();    // "chip", "llm", "quant", "kv"

// ---- Facts: what the core computed, in the form a check compares with -------------------------
//
// A fact is either a set of accepted choices (with every option it could have been and a note per
// option saying what the core computed for it) or a number. Facts are named; fact_names() lists
// them with the producer that derives them:
//   llm.fastest_fitting_chip         add_llm_facts: the chip with the most decode tokens/s among those
//                                    the model fits in (ties: all of them)
//   llm.selected_decode_bound        add_llm_facts: "memory" | "compute" | ... for the selected chip
//   models.weakest_layer             add_model_facts: the quantized layer with the lowest SQNR (dB) of
//                                    its output against fp32 (nn::layer_sqnr)
//   models.logits_sqnr_db            add_model_facts: the logits' SQNR, dB
//   robot.round_trip_ok              add_cell_facts: "yes" | "no": worst round trip <= its budget
//   robot.round_trip_max_ms          add_cell_facts: the worst perception-to-command round trip, ms
//   robot.lowest_power_chip_passing  add_cell_sweep_facts: of the chips on which the cell passes every
//                                    check (CellReport::pass: the round trip and every stage within
//                                    budget, no safety verdict failed), the one with the lowest board
//                                    power (catalog figure tdp_w; a chip without one does not count)
//   policy.pass                      add_decision_facts: "yes" | "no"
//   policy.deciding_rule             add_decision_facts: any of the decision's deciding rules ("pack/rule");
//                                    its options are the rules that applied (not_applicable ones left out)
//   policy.passing_deployment        add_deployment_sweep_facts: any bundled deployment that certifies
struct Fact {
    bool numeric = false;
    double value = 0;                   // numeric
    std::vector<std::string> accepted;  // choice: the right answers
    std::vector<std::string> options;   // choice: every answer the fact ranges over
    std::map<std::string, std::string> notes;  // choice: what the core computed for each option
    std::string shown;                  // the value as the student would read it in the panel
};
using Facts = std::map<std::string, Fact>;

const std::vector<std::string>& fact_names();

// Plain inputs for the producers, filled by the UI from its panel reports and by tests from core calls.
struct LlmRow {  // one chip of the LLM serving table (chip::estimate_llm)
    std::string chip;
    bool ok = false;     // the chip has the figures an estimate needs
    bool fits = false;
    double tokens_per_s = 0;
    std::string decode_bound;  // chip::bound_name
};
void add_llm_facts(Facts& facts, const std::vector<LlmRow>& rows, const std::string& selected_chip);

// `quant`: after nn::layer_sqnr has filled sqnr_db.
void add_model_facts(Facts& facts, const nn::QuantizeResult& quant, double logits_sqnr_db);

void add_cell_facts(Facts& facts, const CellRun& run);

struct CellSweepRow {
    std::string chip;
    bool ran = false;
    std::string error;  // why it did not run (no figure for the data type, ...)
    double tdp_w = 0;   // 0 when the catalog has none
    double round_trip_max_ms = 0, round_trip_budget_ms = 0;
    bool pass = false;                   // CellReport::pass()
    std::vector<std::string> failed;     // the verdicts that failed
};
// Runs the scenario on chips[index], as run_cell_scenario does (the UI runs one chip per frame).
CellSweepRow sweep_cell_chip(const CellScenario& s, const std::vector<chip::ChipSpec>& chips, size_t index);
// The same on every chip of `chips`, in catalog order.
std::vector<CellSweepRow> sweep_cell_chips(const CellScenario& s, const std::vector<chip::ChipSpec>& chips);
void add_cell_sweep_facts(Facts& facts, const std::vector<CellSweepRow>& rows);

void add_decision_facts(Facts& facts, const policy::Decision& decision);

struct DeploymentOutcome {
    std::string id;
    bool pass = false;
    std::string summary;
};
// Certifies every bundled deployment (models/deployments) at `now` (ISO 8601 UTC) against the packs
// it names, as the Certify panel and `stacklab certify` do, and keeps each decision's outcome.
std::vector<DeploymentOutcome> certify_bundled_deployments(const std::string& now);
void add_deployment_sweep_facts(Facts& facts, const std::vector<DeploymentOutcome>& outcomes);

// ---- Checking an answer -------------------------------------------------------------------------
struct CheckResult {
    bool ready = false;    // the fact was computed (false: the panel is still working)
    bool correct = false;
    std::string message;   // "Correct: ..." or why not
};
// The choices offered for a choice question: the step's own list, else the fact's options.
std::vector<std::string> step_choices(const LessonStep& step, const Facts& facts);
// Compares `answer` (a choice, or a number as text) with the step's fact. A step without a question
// is always correct.
CheckResult check_answer(const LessonStep& step, const Facts& facts, const std::string& answer);

}  // namespace stacklab::lab
