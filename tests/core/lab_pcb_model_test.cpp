// The PCB cell's trained classifier (core/lab/pcb_model.hpp) and its wiring into the cell
// (core/lab/cell_scenario.hpp): the embedded int8 model's accuracy on boards it never saw, a hook
// that cannot read the ground truth, a cell whose picks are exactly the model's decisions, the
// roofline layer list taken from the model's graph, the scenario fields that choose classifier and
// latency source, and a small deterministic run of the training path itself.
#include <algorithm>
#include <cmath>
#include <set>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"
#include "lab/cell_scenario.hpp"
#include "lab/pcb_model.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"

using namespace stacklab;

namespace {

std::string bundled_cell(const std::string& id) {
    for (const auto& f : lab::bundled_cell_files())
        if (f.name == "models/cells/" + id + ".json") return f.bytes;
    throw std::runtime_error("no bundled cell " + id);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lab_pcb_model)

BOOST_AUTO_TEST_CASE(board_sets_are_balanced_and_rendered_as_the_cell_renders) {
    const nn::ImageSet set = lab::render_board_set(5, 3, 8);
    BOOST_TEST(set.count == 24);
    BOOST_TEST(set.rows == lab::kPcbImageSize);
    int per_class[4] = {0, 0, 0, 0};
    for (auto l : set.labels) ++per_class[l];
    for (int k = 0; k < 4; ++k) BOOST_TEST(per_class[k] == 6);
    // Board 6 of seed 6: class 6 % 4 = 2, the same pixels as the cell's render_board(6, missing, 6).
    const robot::BoardImage im = robot::render_board(6, robot::Defect::missing_component, 6);
    const size_t px = static_cast<size_t>(lab::kPcbImageSize * lab::kPcbImageSize);
    BOOST_TEST(std::equal(im.pixels.begin(), im.pixels.end(), set.pixels.begin() + static_cast<long>((8 + 6) * px)));
    BOOST_TEST(set.labels[8 + 6] == 2);
    BOOST_CHECK_THROW(lab::render_board_set(1, 0, 4), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_embedded_int8_model_classifies_held_out_boards_at_least_90_percent_right) {
    const nn::Graph g = nn::load_onnx(lab::bundled_pcb_model(), lab::kPcbModelName);
    // It is a QDQ model: quantized weights read through DequantizeLinear.
    const bool qdq = std::any_of(g.nodes.begin(), g.nodes.end(), [](const nn::GraphNode& n) { return n.op == nn::OpType::QuantizeLinear; });
    BOOST_TEST(qdq);
    bool classes_listed = false;
    for (const auto& kv : g.metadata) classes_listed |= kv.first == "classes" && kv.second == lab::pcb_class_list();
    BOOST_TEST(classes_listed);
    // 200 boards, 50 per class, seeds 300..349: below the training seeds (kPcbTrainFirstSeed).
    const nn::ImageSet held_out = lab::render_board_set(300, 50, 4);
    BOOST_TEST_REQUIRE(300 + 50 < lab::kPcbTrainFirstSeed);
    const std::vector<int> p = lab::classify_set(g, held_out);
    int right = 0, per_class_right[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < p.size(); ++i)
        if (p[i] == held_out.labels[i]) {
            ++right;
            ++per_class_right[held_out.labels[i]];
        }
    BOOST_TEST_MESSAGE("held-out accuracy " << right << " / 200; per class " << per_class_right[0] << " " << per_class_right[1]
                                            << " " << per_class_right[2] << " " << per_class_right[3] << " of 50");
    BOOST_TEST(right >= 180);
    // No class is given up on.
    for (int k = 0; k < 4; ++k) BOOST_TEST(per_class_right[k] >= 35);
}

BOOST_AUTO_TEST_CASE(the_model_hook_reads_the_pixels_only_never_the_ground_truth) {
    const robot::PerceptionHook h = lab::model_perception(lab::bundled_pcb_model(), lab::kPcbModelName, 0.5, "test");
    BOOST_TEST(h.description.find("STAND-IN") == std::string::npos);
    BOOST_TEST(h.description.find("trained int8 CNN") != std::string::npos);
    BOOST_TEST(h.inference_latency_ms() == 0.5);
    for (int i = 0; i < 8; ++i) {
        robot::BoardImage im = robot::render_board(i, static_cast<robot::Defect>(i % 4), 17);
        const robot::Classification a = h.classify(im);
        // Lie about the truth and the defect position: the answer must not move.
        im.truth = static_cast<robot::Defect>((i + 1) % 4);
        im.defect_x_m = 0.03;
        im.defect_y_m = -0.02;
        const robot::Classification b = h.classify(im);
        BOOST_TEST(static_cast<int>(a.label) == static_cast<int>(b.label));
        BOOST_TEST(a.confidence == b.confidence);
        BOOST_TEST(a.confidence > 0.25);
        BOOST_TEST(a.confidence <= 1.0);
        BOOST_TEST(a.x_m == 0.0);
    }
    robot::BoardImage wrong = robot::render_board(0, robot::Defect::clean, 1, 16);
    BOOST_CHECK_THROW(h.classify(wrong), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_cell_with_the_model_picks_exactly_the_boards_the_model_flags) {
    const auto chips = chip::load_catalog(chip::bundled_catalog_files());
    lab::CellScenario s = lab::parse_cell_scenario(bundled_cell("pcb-cell-ascend-310p"), "models/cells/pcb-cell-ascend-310p.json");
    BOOST_TEST(std::string(lab::classifier_name(s.classifier)) == "model");
    s.cell.boards = 12;
    s.cell.class_probability = {0.25, 0.25, 0.25, 0.25};
    s.cell.obstacles.clear();  // no interlock aborts: every flagged board must be picked
    s.cell.persons.clear();
    s.cell.network_outages.clear();
    const lab::CellRun run = lab::run_cell_scenario(s, chips);
    BOOST_TEST(run.report.perception.find("trained int8 CNN") != std::string::npos);
    BOOST_TEST(run.report.perception.find("STAND-IN") == std::string::npos);
    const nn::Graph g = nn::load_onnx(lab::bundled_pcb_model(), lab::kPcbModelName);
    const nn::Plan plan = nn::prepare(g, nn::Kernels::fast);
    int flagged = 0, classified = 0, correct = 0;
    for (const robot::BoardOutcome& b : run.report.boards) {
        BOOST_TEST_REQUIRE(b.decided_s >= 0);
        // The model's own answer on the board the cell rendered.
        const robot::BoardImage im = robot::render_board(b.index, b.truth, s.cell.seed);
        nn::ImageSet one;
        one.count = 1;
        one.rows = one.cols = lab::kPcbImageSize;
        one.pixels = im.pixels;
        one.labels = {0};
        const std::vector<int> p = lab::classify_set(g, one);
        BOOST_TEST(static_cast<int>(b.label) == p[0]);
        if (b.label == robot::Defect::clean) {
            BOOST_TEST(b.result == "passed");
        } else {
            BOOST_TEST(b.result == "picked");
            ++flagged;
        }
        ++classified;
        correct += b.label == b.truth;
    }
    BOOST_TEST(flagged > 0);
    BOOST_TEST(run.classified == classified);
    BOOST_TEST(run.correct == correct);
    // Determinism: the same scenario gives the same decisions, confidences and action log.
    const lab::CellRun again = lab::run_cell_scenario(s, chips);
    BOOST_TEST_REQUIRE(again.report.boards.size() == run.report.boards.size());
    for (size_t i = 0; i < run.report.boards.size(); ++i) {
        BOOST_TEST(static_cast<int>(again.report.boards[i].label) == static_cast<int>(run.report.boards[i].label));
        BOOST_TEST(again.report.boards[i].confidence == run.report.boards[i].confidence);
    }
    BOOST_TEST_REQUIRE(again.report.log.size() == run.report.log.size());
    for (size_t i = 0; i < run.report.log.size(); ++i) {
        BOOST_TEST(again.report.log[i].t_s == run.report.log[i].t_s);
        BOOST_TEST(again.report.log[i].inputs == run.report.log[i].inputs);
    }
}

BOOST_AUTO_TEST_CASE(the_standin_stays_selectable_and_labelled) {
    const auto chips = chip::load_catalog(chip::bundled_catalog_files());
    nlohmann::json doc = nlohmann::json::parse(bundled_cell("pcb-cell-ascend-310p"));
    doc["perception"]["classifier"] = "standin";
    const lab::CellScenario s = lab::parse_cell_scenario(doc.dump(), "models/cells/pcb-cell-ascend-310p.json");
    BOOST_TEST(std::string(lab::classifier_name(s.classifier)) == "standin");
    const lab::CellRun run = lab::run_cell_scenario(s, chips);
    BOOST_TEST(run.report.perception.find("STAND-IN") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_roofline_layers_come_from_the_models_graph) {
    const nn::Graph g = nn::load_onnx(lab::bundled_pcb_model(), lab::kPcbModelName);
    const std::vector<chip::OpWork> w = lab::graph_work(g, chip::DType::int8);
    // Conv 1->16 3x3 on 32x32 (valid: 30x30), pool, Conv 16->32 3x3 on 15x15 (13x13), pool (6x6),
    // Gemm 1152->64, Gemm 64->4 (the shipped model's shapes; any retraining keeps nn::train's CNN).
    BOOST_TEST_REQUIRE(w.size() == 4u);
    const double ops[] = {2.0 * 30 * 30 * 16 * 9, 2.0 * 13 * 13 * 32 * 144, 2.0 * 1152 * 64, 2.0 * 64 * 4};
    for (size_t i = 0; i < 4; ++i) BOOST_TEST(w[i].ops == ops[i]);
    BOOST_TEST(w[0].op == "Conv (im2col GEMM)");
    // The scenario with latency "model" uses exactly this list on the chip.
    const auto chips = chip::load_catalog(chip::bundled_catalog_files());
    nlohmann::json doc = nlohmann::json::parse(bundled_cell("pcb-cell-ascend-310p"));
    doc["perception"]["latency"] = "model";
    const lab::CellScenario s = lab::parse_cell_scenario(doc.dump(), "models/cells/pcb-cell-ascend-310p.json");
    lab::CellScenario short_run = s;
    short_run.cell.boards = 1;
    const lab::CellRun run = lab::run_cell_scenario(short_run, chips);
    BOOST_TEST(run.inference.rows.size() == 4u);
    BOOST_TEST(run.inference.total_ms == run.model_inference.total_ms);
    BOOST_TEST(run.inference.total_ms > 0.0);
    BOOST_TEST(run.report.perception.find("its graph") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(with_the_models_own_latency_the_slower_chip_swap_breaks_no_budget) {
    const auto chips = chip::load_catalog(chip::bundled_catalog_files());
    const lab::CellRun run = lab::run_cell_scenario(
        lab::parse_cell_scenario(bundled_cell("pcb-cell-model-latency"), "models/cells/pcb-cell-model-latency.json"), chips);
    BOOST_TEST(run.swap_chip_id == "edge-npu-64tops");
    BOOST_TEST(run.swap_inference.total_ms > run.inference.total_ms);
    BOOST_TEST(run.swap_inference.total_ms < 0.01);  // microseconds: a ~2 MOP model
    BOOST_TEST(run.report.pass());
    for (const robot::StageStats& st : run.report.stages)
        if (st.stage == "inference") BOOST_TEST(std::abs(st.max_ms - run.swap_inference.total_ms) < 1e-12);
}

BOOST_AUTO_TEST_CASE(classifier_and_latency_fields_are_checked) {
    auto field_of = [](const nlohmann::json& doc) -> std::string {
        try {
            lab::parse_cell_scenario(doc.dump(), "cells/x.json");
        } catch (const lab::ScenarioError& e) {
            return e.field();
        }
        return "";
    };
    const nlohmann::json base = {{"id", "x"}, {"chip", "ascend-310p"}};
    const lab::CellScenario plain = lab::parse_cell_scenario(base.dump(), "cells/x.json");
    BOOST_TEST(std::string(lab::classifier_name(plain.classifier)) == "model");
    BOOST_TEST(std::string(lab::latency_source_name(plain.latency)) == "model");
    nlohmann::json d = base;
    d["perception"] = {{"classifier", "oracle"}};
    BOOST_TEST(field_of(d) == "/perception/classifier");
    d["perception"] = {{"latency", "fast"}};
    BOOST_TEST(field_of(d) == "/perception/latency");
    d["perception"] = {{"latency", "conv"}};  // no conv list to take the latency from
    BOOST_TEST(field_of(d) == "/perception/conv");
}

BOOST_AUTO_TEST_CASE(the_training_path_is_deterministic_and_writes_a_documented_qdq_model) {
    lab::PcbTrainOptions o;
    o.seeds = 4;
    o.boards_per_seed = 8;
    o.epochs = 1;
    o.calibration_boards = 16;
    const lab::PcbTrained a = lab::train_pcb_model(o, "test"), b = lab::train_pcb_model(o, "test");
    BOOST_TEST(nn::onnx::serialize_model(a.int8) == nn::onnx::serialize_model(b.int8));
    std::set<std::string> keys;
    for (const auto& kv : a.int8.metadata_props) keys.insert(kv.first);
    for (const char* k : {"input", "output", "pixels", "classes", "trained_by", "dataset", "quantization"}) BOOST_TEST(keys.count(k) == 1u);
    BOOST_TEST(std::isfinite(a.logits_sqnr_db));
    const nn::Graph g = nn::import_onnx(a.int8);
    BOOST_TEST(std::any_of(g.nodes.begin(), g.nodes.end(), [](const nn::GraphNode& n) { return n.op == nn::OpType::DequantizeLinear; }));
    lab::PcbTrainOptions bad = o;
    bad.config.height = 28;
    BOOST_CHECK_THROW(lab::train_pcb_model(bad, "test"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
