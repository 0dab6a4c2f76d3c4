// Lessons (core/lab/lesson.hpp): every shipped lesson parses and is solvable with the answers the core
// computes for each step's scenario, a wrong answer is rejected, and a bad lesson file is an error
// that names the file and the JSON path.
//
// The scenario of each step is resolved here with the same core calls the panels make (ui/llm_panel.cpp,
// ui/models_eval.cpp, ui/robot_panel.cpp, ui/certify_panel.cpp): chip::estimate_llm on every chip for
// the LLM table; nn::quantize_model calibrated on the first 256 Fashion-MNIST training images in batches
// of 64 and nn::layer_sqnr on the first 256 test images for the Models tab; lab::run_cell_scenario for
// the cell; policy::certify for a deployment.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "chip/llm.hpp"
#include "lab/lesson.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"
#include "nn/idx.hpp"
#include "policy/certificate.hpp"
#include "policy/crypto.hpp"
#include "test_support.hpp"

using namespace stacklab;
using stacklab::test::contains;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The scenario keys of a step, folded over the lesson's earlier steps as the app applies them
// (each step's scenario applies on top of the state the previous ones left).
using Scenario = std::map<std::string, std::string>;
void apply(Scenario& s, const std::string& query) {
    size_t start = 0;
    while (start < query.size()) {
        size_t end = query.find('&', start);
        if (end == std::string::npos) end = query.size();
        const std::string part = query.substr(start, end - start);
        const size_t eq = part.find('=');
        s[part.substr(0, eq)] = part.substr(eq + 1);
        start = end + 1;
    }
}
std::string get(const Scenario& s, const std::string& key, const std::string& fallback) {
    auto it = s.find(key);
    return it == s.end() ? fallback : it->second;
}

// The Models tab's numbers for a recipe, computed once per recipe (quantization takes a while).
struct ModelsResult {
    nn::QuantizeResult quant;
    double logits_sqnr_db = 0;
};
const ModelsResult& models_result(const std::string& model_id, const std::string& recipe, const std::string& calib, bool fuse) {
    static std::map<std::string, ModelsResult> cache;  // test-local memo, not library state
    const std::string key = model_id + "/" + recipe + "/" + calib + "/" + (fuse ? "1" : "0");
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    const std::string path = std::string(STACKLAB_MODELS_DIR) + "/" + model_id + ".onnx";
    const nn::onnx::Model model = nn::onnx::parse_model(slurp(path), path);
    const std::string dir = std::string(STACKLAB_DATA_DIR) + "/fashion-mnist/";
    auto load = [&](const std::string& split) {
        return nn::make_image_set(nn::parse_idx(slurp(dir + split + "-images-idx3-ubyte"), split),
                                  nn::parse_idx(slurp(dir + split + "-labels-idx1-ubyte"), split), 256, dir);
    };
    const nn::ImageSet train = load("train"), test = load("t10k");
    std::vector<nn::onnx::Tensor> calib_batches, sqnr_batches;
    for (int64_t i = 0; i < 256; i += 64) calib_batches.push_back(nn::image_batch(train, i, 64));
    for (int64_t i = 0; i < 256; i += 64) sqnr_batches.push_back(nn::image_batch(test, i, 64));
    nn::QuantizeOptions o;
    o.recipe = nn::quant_recipe(recipe);
    o.calibration = nn::parse_calibration(calib);
    o.fuse = fuse;
    ModelsResult r;
    r.quant = nn::quantize_model(model, calib_batches, o);
    r.logits_sqnr_db = nn::layer_sqnr(nn::import_onnx(model), nn::import_onnx(r.quant.model), r.quant.layers, sqnr_batches);
    return cache[key] = r;
}

const std::vector<chip::ChipSpec>& catalog() {
    static const std::vector<chip::ChipSpec> chips = chip::load_catalog(chip::bundled_catalog_files());
    return chips;
}

lab::CellScenario cell_scenario(const std::string& id) {
    for (const auto& f : lab::bundled_cell_files())
        if (f.name == "models/cells/" + id + ".json") return lab::parse_cell_scenario(f.bytes, f.name);
    throw std::invalid_argument("no bundled cell " + id);
}

// What the panel the fact comes from computes for scenario `s` (the app's defaults where it says nothing).
lab::Facts facts_for(const std::string& fact, const Scenario& s) {
    lab::Facts facts;
    const std::string chip_id = get(s, "chip", catalog().front().id);
    if (fact.rfind("llm.", 0) == 0) {
        const std::string llm_id = get(s, "llm", "qwen2.5-7b");
        chip::LlmShape shape;
        for (const auto& l : chip::bundled_llms())
            if (l.id == llm_id) shape = l;
        const chip::LlmQuant q = chip::parse_llm_quant(get(s, "quant", "w16a16"), false);
        const chip::LlmSystem sys{1, 56.0e9};  // the panel's defaults: one chip, 56 GB/s links
        const chip::LlmWorkload work{std::stoi(get(s, "batch", "1")), 512, 128};
        std::vector<lab::LlmRow> rows;
        for (const chip::ChipSpec& c : catalog()) {
            lab::LlmRow row;
            row.chip = c.id;
            try {
                const chip::LlmEstimate e = chip::estimate_llm(shape, c, q, sys, work);
                row.ok = true;
                row.fits = e.fits;
                row.tokens_per_s = e.tokens_per_s;
                row.decode_bound = chip::bound_name(e.decode_bound);
            } catch (const std::exception&) {
            }
            rows.push_back(row);
        }
        lab::add_llm_facts(facts, rows, chip_id);
    } else if (fact.rfind("models.", 0) == 0) {
        const ModelsResult& m = models_result(get(s, "model", "fashion_cnn"), get(s, "quant", "int8"), get(s, "calib", "minmax"),
                                              get(s, "fuse", "1") == "1");
        lab::add_model_facts(facts, m.quant, m.logits_sqnr_db);
    } else if (fact == "robot.lowest_power_chip_passing") {
        lab::add_cell_sweep_facts(facts, lab::sweep_cell_chips(cell_scenario(get(s, "cell", "")), catalog()));
    } else if (fact.rfind("robot.", 0) == 0) {
        lab::add_cell_facts(facts, lab::run_cell_scenario(cell_scenario(get(s, "cell", "")), catalog(), chip_id));
    } else if (fact == "policy.passing_deployment") {
        lab::add_deployment_sweep_facts(facts, lab::certify_bundled_deployments("2026-01-01T00:00:00Z"));
    } else if (fact.rfind("policy.", 0) == 0) {
        const std::string id = get(s, "deployment", "");
        for (const auto& f : policy::bundled_deployment_files()) {
            if (f.name != "models/deployments/" + id + ".json") continue;
            const nlohmann::json manifest = policy::parse_manifest(f.bytes, f.name);
            std::vector<policy::PolicyPack> packs;
            for (const auto& p : manifest.at("policies")) packs.push_back(policy::find_pack(p.get<std::string>()));
            policy::CertifyOptions opt;
            opt.now = "2026-01-01T00:00:00Z";
            const auto key = policy::ed25519_from_seed(policy::sha256(std::string_view("lesson test key")));
            lab::add_decision_facts(facts, policy::certify(f.bytes, f.name, packs, key, opt).decision);
        }
    }
    return facts;
}

std::string bad_lesson_error(const std::string& json_text) {
    try {
        lab::parse_lesson(json_text, "models/lessons/bad.json");
    } catch (const lab::LessonError& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("wrong exception type: ") + e.what();
    }
    return "(no LessonError thrown)";
}

// A valid lesson to break one field at a time.
const char* kGood = R"({"id": "bad", "title": "T", "layer": "policy", "summary": "S", "steps": [
  {"title": "a", "text": "b", "scenario": "tab=certify&deployment=edge-cell-tier2-fail", "hide": ["chip"],
   "question": {"prompt": "p", "kind": "choice"}, "check": {"fact": "policy.pass", "explain": "e"}},
  {"title": "c", "text": "d", "question": {"prompt": "p", "kind": "number", "tolerance": 1, "unit": "ms"},
   "check": {"fact": "robot.round_trip_max_ms", "explain": "e"}}]})";

std::string with(const std::string& from, const std::string& to) {
    std::string s = kGood;
    const size_t at = s.find(from);
    BOOST_REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lab_lesson)

BOOST_AUTO_TEST_CASE(at_least_four_lessons_ship_and_together_they_cover_chip_model_robot_and_policy) {
    const std::vector<lab::Lesson> lessons = lab::bundled_lessons();
    BOOST_TEST(lessons.size() >= 4u);
    std::set<std::string> layers;
    for (const auto& l : lessons) {
        layers.insert(l.layer);
        BOOST_TEST(l.file == "models/lessons/" + l.id + ".json");
        BOOST_TEST(!l.steps.empty());
    }
    BOOST_TEST((layers == std::set<std::string>{"chip", "model", "robot", "policy"}));
}

// The heart of it: for every step, the answers the core computes are accepted, every other offered
// answer is rejected, and the step's own choice list (when it has one) contains a right answer.
BOOST_AUTO_TEST_CASE(every_shipped_lesson_is_solvable_with_the_core_results_and_rejects_wrong_answers) {
    int checked = 0;
    for (const lab::Lesson& l : lab::bundled_lessons()) {
        Scenario s;
        for (size_t i = 0; i < l.steps.size(); ++i) {
            const lab::LessonStep& step = l.steps[i];
            apply(s, step.scenario);
            if (!step.has_question) continue;
            const std::string where = l.id + " step " + std::to_string(i);
            const lab::Facts facts = facts_for(step.fact, s);
            BOOST_TEST_REQUIRE(facts.count(step.fact) == 1u, where << ": no fact " << step.fact);
            const lab::Fact& f = facts.at(step.fact);
            BOOST_TEST_MESSAGE(where << ": " << step.fact << " = " << f.shown);
            if (step.question.kind == "number") {
                BOOST_TEST_REQUIRE(f.numeric);
                char buf[64];
                std::snprintf(buf, sizeof buf, "%.6f", f.value);
                BOOST_TEST(lab::check_answer(step, facts, buf).correct, where);
                std::snprintf(buf, sizeof buf, "%.6f", f.value + 2 * step.question.tolerance);
                const lab::CheckResult wrong = lab::check_answer(step, facts, buf);
                BOOST_TEST((wrong.ready && !wrong.correct), where);
                BOOST_TEST(contains(wrong.message, "too high"), wrong.message);
            } else {
                const std::vector<std::string> choices = lab::step_choices(step, facts);
                BOOST_TEST_REQUIRE(!f.accepted.empty(), where << ": nothing is right (" << f.shown << ")");
                int right = 0, wrong = 0;
                for (const std::string& c : choices) {
                    const lab::CheckResult r = lab::check_answer(step, facts, c);
                    BOOST_TEST(r.ready);
                    const bool accepted = std::find(f.accepted.begin(), f.accepted.end(), c) != f.accepted.end();
                    BOOST_TEST(r.correct == accepted, where << " answer " << c << ": " << r.message);
                    (accepted ? right : wrong) += 1;
                    if (!accepted) BOOST_TEST(contains(r.message, step.explain), r.message);
                }
                BOOST_TEST(right >= 1, where << ": no offered choice is right");
                BOOST_TEST(wrong >= 1, where << ": every offered choice is right");
            }
            ++checked;
        }
    }
    BOOST_TEST(checked >= 8);
}

BOOST_AUTO_TEST_CASE(a_bad_lesson_file_is_an_error_naming_the_file_and_the_json_path) {
    BOOST_TEST(lab::parse_lesson(kGood, "models/lessons/bad.json").steps.size() == 2u);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{\"id\": ", "models/lessons/bad.json: not valid JSON"},
        {"[1, 2]", "models/lessons/bad.json: a lesson is a JSON object"},
        {with("\"layer\": \"policy\"", "\"layer\": \"kernel\""), "bad.json: /layer: \"kernel\" is not"},
        {with("\"id\": \"bad\"", "\"id\": \"other\""), "/id: \"other\" differs from the file name stem"},
        {with("\"title\": \"T\"", "\"title\": 3"), "/title: must be a string"},
        {with("\"summary\": \"S\", ", ""), "/summary: missing"},
        {with("\"summary\": \"S\"", "\"summary\": \"S\", \"colour\": 1"), "/colour: unknown key"},
        {with("\"title\": \"a\"", "\"titel\": \"a\""), "/steps/0/titel: unknown key"},
        {with("\"fact\": \"policy.pass\"", "\"fact\": \"policy.fun\""), "/steps/0/check/fact: unknown fact \"policy.fun\""},
        {with("\"kind\": \"choice\"", "\"kind\": \"slider\""), "/steps/0/question/kind: \"slider\" is not"},
        {with("\"kind\": \"choice\"", "\"kind\": \"number\", \"tolerance\": 1"), "/steps/0/question/kind: fact \"policy.pass\" is a choice"},
        {with("\"tolerance\": 1", "\"tolerance\": 0"), "/steps/1/question/tolerance: must be > 0"},
        {with("\"tolerance\": 1, ", ""), "/steps/1/question/tolerance: a number question needs a number"},
        {with("\"hide\": [\"chip\"]", "\"hide\": [\"chip\", \"camera\"]"), "/steps/0/hide/1: \"camera\" is not a control"},
        {with("deployment=edge-cell-tier2-fail", "deployment"), "/steps/0/scenario: \"deployment\" is not key=value"},
        {with("tab=certify&", "lesson=policy-tier2&"), "/steps/0/scenario: a step's scenario cannot start another lesson"},
        {with(", \"check\": {\"fact\": \"policy.pass\", \"explain\": \"e\"}", ""), "/steps/0/check: a question needs a check"},
        {with("\"kind\": \"choice\"}", "\"kind\": \"choice\", \"choices\": [\"yes\"]}"), "/steps/0/question/choices: offer at least two"},
        {with("\"steps\": [", "\"steps\": [] , \"x\": ["), "/x: unknown key"},
    };
    for (const auto& [text, expected] : cases) {
        const std::string e = bad_lesson_error(text);
        BOOST_TEST(contains(e, expected), "expected \"" << expected << "\" in \"" << e << "\"");
    }
    BOOST_TEST(contains(bad_lesson_error(R"({"id": "bad", "title": "T", "layer": "chip", "summary": "S", "steps": []})"),
                        "/steps: must be a non-empty array"));
    // Any bytes: an error, never a crash.
    for (const std::string& junk : {std::string(), std::string("\0\xff\xfe", 3), std::string("{\"steps\": [null]}")})
        BOOST_TEST(contains(bad_lesson_error(junk), "models/lessons/bad.json: "));
}

BOOST_AUTO_TEST_CASE(a_check_says_when_its_fact_is_not_computed_yet_and_rejects_an_answer_that_is_not_a_number) {
    const lab::Lesson l = lab::parse_lesson(kGood, "models/lessons/bad.json");
    const lab::CheckResult pending = lab::check_answer(l.steps[0], lab::Facts{}, "yes");
    BOOST_TEST((!pending.ready && !pending.correct));
    lab::Facts facts;
    lab::Fact ms;
    ms.numeric = true;
    ms.value = 104.5;
    facts["robot.round_trip_max_ms"] = ms;
    BOOST_TEST(lab::check_answer(l.steps[1], facts, "105").correct);
    BOOST_TEST(lab::check_answer(l.steps[1], facts, "103.5").correct);   // tolerance 1 ms, inclusive
    BOOST_TEST(!lab::check_answer(l.steps[1], facts, "103.4").correct);
    BOOST_TEST(contains(lab::check_answer(l.steps[1], facts, "103.4").message, "too low"));
    BOOST_TEST(contains(lab::check_answer(l.steps[1], facts, "fast").message, "\"fast\" is not a number"));
    BOOST_TEST(!lab::check_answer(l.steps[1], facts, "").correct);
}

BOOST_AUTO_TEST_SUITE_END()
