// Measured evidence (policy/measure.hpp): the records hold exactly what the model runtime, the cell
// scenario and the chip catalog return when called directly; a certificate built on them carries
// them verbatim, its rules read them, and changing a measured value breaks verification.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "chip/catalog.hpp"
#include "lab/cell_scenario.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"
#include "nn/idx.hpp"
#include "policy/certificate.hpp"
#include "policy/jcs.hpp"
#include "policy/measure.hpp"
#include "policy/pack.hpp"
#include "policy/report.hpp"

using namespace stacklab;
using namespace stacklab::policy;
using nlohmann::json;

namespace {

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

InputBytes model_input() { return {"models/fashion_cnn.onnx", read_bytes(std::string(STACKLAB_MODELS_DIR) + "/fashion_cnn.onnx")}; }
InputBytes data_input(const char* file) {
    return {std::string("fashion-mnist/") + file, read_bytes(std::string(STACKLAB_DATA_DIR) + "/fashion-mnist/" + file)};
}
InputBytes cell_input() {
    for (const auto& f : lab::bundled_cell_files())
        if (f.name.find("pcb-cell-ascend-310p") != std::string::npos) return {"models/cells/pcb-cell-ascend-310p.json", f.bytes};
    throw std::runtime_error("bundled cell pcb-cell-ascend-310p missing");
}

std::string deployment_bytes(const std::string& stem) {
    for (const auto& f : bundled_deployment_files())
        if (f.name.find(stem) != std::string::npos) return f.bytes;
    throw std::runtime_error("bundled deployment " + stem + " missing");
}

Ed25519KeyPair test_key() { return ed25519_from_seed(from_hex_fixed<32>(std::string(64, 'c'), "seed")); }

std::vector<PolicyPack> all_packs() {
    std::vector<PolicyPack> out;
    for (const auto& f : bundled_pack_files()) out.push_back(parse_pack(f.bytes, f.name));
    return out;
}

const RuleVerdict& verdict(const Decision& d, const std::string& rule) {
    for (const auto& v : d.verdicts)
        if (v.rule == rule) return v;
    throw std::runtime_error("no verdict for " + rule);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_measure)

BOOST_AUTO_TEST_CASE(a_measured_model_evaluation_equals_the_executor_run_directly) {
    const InputBytes model = model_input(), images = data_input("t10k-images-idx3-ubyte"),
                     labels = data_input("t10k-labels-idx1-ubyte");
    const std::int64_t n = 200;
    const json rec = measure_model_eval(model, images, labels, n);
    BOOST_TEST(rec.at("source") == "measured");
    BOOST_TEST(rec.at("function") == "policy::measure_model_eval");
    BOOST_TEST(rec.at("parameters").at("limit") == n);
    BOOST_TEST(rec.at("inputs").size() == 3u);
    BOOST_TEST(rec.at("inputs")[0].at("sha256") == sha256_hex(model.bytes));
    BOOST_TEST(rec.at("inputs")[1].at("sha256") == sha256_hex(images.bytes));
    BOOST_TEST(rec.at("inputs")[2].at("sha256") == sha256_hex(labels.bytes));

    // The same evaluation written out here against core/nn's public functions.
    const nn::ImageSet set = nn::make_image_set(nn::parse_idx(images.bytes, "i"), nn::parse_idx(labels.bytes, "l"), 256, "t");
    const nn::Graph g = nn::load_onnx(model.bytes, "m");
    for (const nn::Kernels k : {nn::Kernels::fast, nn::Kernels::reference}) {
        const nn::Plan plan = nn::prepare(g, k);
        std::int64_t correct = 0;
        std::string logits;
        for (std::int64_t first = 0; first < n; first += 64) {
            const std::int64_t m = std::min<std::int64_t>(64, n - first);
            const nn::RunResult r = nn::run(plan, {nn::image_batch(set, first, m)});
            const float* y = r.outputs[0].as<float>();
            const std::int64_t classes = r.outputs[0].dims[1];
            logits.append(reinterpret_cast<const char*>(y), std::size_t(m * classes) * sizeof(float));
            for (std::int64_t i = 0; i < m; ++i)
                correct += (std::max_element(y + i * classes, y + (i + 1) * classes) - (y + i * classes)) ==
                           set.labels[std::size_t(first + i)];
        }
        const json& v = rec.at("value");
        if (k == nn::Kernels::fast) {
            BOOST_TEST(v.at("correct") == correct);
            BOOST_TEST(v.at("accuracy_pct").get<double>() == double(correct) / double(n) * 100.0);
            BOOST_TEST(v.at("logits_sha256") == sha256_hex(logits));
            BOOST_TEST(v.at("rerun_logits_sha256") == sha256_hex(logits));
        } else {
            BOOST_TEST(v.at("reference_correct") == correct);
            BOOST_TEST(v.at("reference_logits_sha256") == sha256_hex(logits));
        }
    }
    BOOST_TEST(rec.at("value").at("n") == n);
    BOOST_TEST(rec.at("value").at("rerun_hash_match") == true);
    BOOST_TEST(rec.at("value").at("model_sha256") == sha256_hex(model.bytes));
    // A second measurement is the same record: nothing in it depends on time or chance.
    BOOST_TEST(measure_model_eval(model, images, labels, n) == rec);
    BOOST_CHECK_THROW(measure_model_eval(model, images, labels, -1), std::invalid_argument);
    BOOST_CHECK_THROW(measure_model_eval({"bad.onnx", "not a model"}, images, labels, 10), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(measured_cell_runs_equal_run_cell_scenario_for_every_chip_and_seed) {
    const InputBytes scenario = cell_input();
    const std::vector<std::string> chips = {"ascend-910b", "edge-npu-64tops"};
    const std::vector<std::uint64_t> seeds = {1, 5};
    const json rec = measure_cell(scenario, chips, seeds);
    BOOST_TEST(rec.at("inputs")[0].at("sha256") == sha256_hex(scenario.bytes));

    const lab::CellScenario base = lab::parse_cell_scenario(scenario.bytes, scenario.name);
    const auto catalog = chip::load_catalog(chip::bundled_catalog_files());
    int failed = 0, stops = 0;
    long long actions = 0;
    double worst = 0;
    for (std::size_t c = 0; c < chips.size(); ++c) {
        int chip_failed = 0;
        for (const auto seed : seeds) {
            lab::CellScenario s = base;
            s.cell.seed = seed;
            const lab::CellRun run = lab::run_cell_scenario(s, catalog, chips[c]);
            failed += !run.report.pass();
            chip_failed += !run.report.pass();
            stops += run.report.protective_stops;
            actions += (long long)run.report.log.size();
            worst = std::max(worst, run.report.worst_stop_ms);
            BOOST_TEST(rec.at("value").at("per_chip")[c].at("inference_ms").get<double>() == run.inference.total_ms);
        }
        BOOST_TEST(rec.at("value").at("per_chip")[c].at("failed_runs") == chip_failed);
    }
    const json& v = rec.at("value");
    BOOST_TEST(v.at("runs") == 4);
    BOOST_TEST(v.at("failed_runs") == failed);
    BOOST_TEST(v.at("protective_stops") == stops);
    BOOST_TEST(v.at("actions") == actions);
    BOOST_TEST(v.at("worst_stop_ms").get<double>() == worst);
    // The edge NPU misses the scenario's inference budget (robot cell --chip edge-npu-64tops fails
    // the same way); the failures name chip, seed and verdict.
    BOOST_TEST(v.at("per_chip")[0].at("failed_runs") == 0);
    BOOST_TEST(v.at("per_chip")[1].at("failed_runs") == 2);
    BOOST_TEST(v.at("failures")[0].get<std::string>().rfind("edge-npu-64tops seed 1: inference-budget", 0) == 0);

    const json conv = measure_convergence(json(), rec);
    BOOST_TEST(conv.at("value").at("validated_domestic_platforms") == 0);  // no model evaluation: nothing validated
    BOOST_CHECK_THROW(measure_cell(scenario, {"no-such-chip"}, seeds), std::invalid_argument);
    BOOST_CHECK_THROW(measure_cell(scenario, chips, {}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_measured_certificate_carries_the_records_its_rules_read_and_rejects_tampering) {
    const InputBytes model = model_input(), images = data_input("t10k-images-idx3-ubyte"),
                     labels = data_input("t10k-labels-idx1-ubyte"), scenario = cell_input();
    const std::string mbytes = deployment_bytes("pcb-cell-tier2-measured-pass");
    const json manifest = parse_manifest(mbytes, "pass.json");
    std::vector<std::string> chips;
    for (const auto& c : manifest.at("chips")) chips.push_back(c.at("id").get<std::string>());
    json measured = json::object();
    measured["model_eval"] = measure_model_eval(model, images, labels, 100);
    measured["cell"] = measure_cell(scenario, chips, {1, 2, 3, 4});
    measured["convergence"] = measure_convergence(measured["model_eval"], measured["cell"]);

    CertifyOptions opt;
    opt.now = "2026-01-01T00:00:00Z";
    opt.measured = measured;
    const CertifyResult r = certify(mbytes, "pass.json", all_packs(), test_key(), opt);
    BOOST_TEST_REQUIRE(r.decision.pass, r.decision.summary);
    const json cert = json::parse(r.certificate);
    BOOST_TEST(cert.at("evidence").at("measured") == measured);
    BOOST_TEST(cert.at("evidence").at("provenance").contains("measured"));
    // The measured rules decided; their declared twins did not apply.
    BOOST_TEST(std::string(outcome_name(verdict(r.decision, "CMC.accuracy-within-tolerance.measured").outcome)) == "pass");
    BOOST_TEST(std::string(outcome_name(verdict(r.decision, "CMC.accuracy-within-tolerance").outcome)) == "not_applicable");
    BOOST_TEST(std::string(outcome_name(verdict(r.decision, "AG.functional-properties.measured").outcome)) == "pass");
    BOOST_TEST(std::string(outcome_name(verdict(r.decision, "AG.functional-properties").outcome)) == "not_applicable");
    BOOST_TEST(std::string(outcome_name(verdict(r.decision, "CMC.measured-inputs-match-manifest").outcome)) == "pass");
    BOOST_TEST(cert.at("evidence").at("measured").at("convergence").at("value").at("validated_domestic_platforms") == 2);
    const std::string later = "2026-02-01T00:00:00Z";
    BOOST_TEST_REQUIRE(verify_certificate(r.certificate, test_key().public_key, later).ok);

    // The reports show the measured records and mark measured evidence as such.
    const std::string md = render_report(cert, ReportFormat::markdown);
    BOOST_TEST(md.find("## Measured evidence") != std::string::npos);
    BOOST_TEST(md.find("`policy::measure_cell`") != std::string::npos);
    BOOST_TEST(md.find("evidence (measured) `measured.cell.value.failed_runs` = `0`") != std::string::npos);
    BOOST_TEST(md.find("Measured by StackLab: top-1 accuracy") != std::string::npos);
    const std::string html = render_report(cert, ReportFormat::html);
    BOOST_TEST(html.find("<span class=\"tag measured\">measured</span> model_eval") != std::string::npos);

    // Without measurements the same manifest declares no accuracy or cell runs: default deny.
    CertifyOptions plain = opt;
    plain.measured = json::object();
    const CertifyResult unmeasured = certify(mbytes, "pass.json", all_packs(), test_key(), plain);
    BOOST_TEST(!unmeasured.decision.pass);
    BOOST_TEST(std::string(outcome_name(verdict(unmeasured.decision, "CMC.accuracy-within-tolerance").outcome)) == "fail");

    // A measured value changed in the signed bytes: the signature fails.
    json t = cert;
    t["evidence"]["measured"]["model_eval"]["value"]["accuracy_pct"] = 99.9;
    BOOST_TEST(verify_certificate(canonicalize(t) + "\n", test_key().public_key, later).reason.rfind("signature:", 0) == 0);
    // Changed and re-signed by someone with the key but without fixing the hashes: the evidence hash fails.
    t.erase("signature");
    t["signature"] = {{"alg", "Ed25519"}, {"value", to_hex(ed25519_sign(test_key(), canonicalize(t)))}};
    BOOST_TEST(verify_certificate(canonicalize(t) + "\n", test_key().public_key, later).reason ==
               "evidence hashes: section \"measured\" does not match its hash");
    // A record relabelled as declared: also caught by the signature.
    json u = cert;
    u["evidence"]["measured"]["cell"]["source"] = "declared";
    BOOST_TEST(!verify_certificate(canonicalize(u) + "\n", test_key().public_key, later).ok);
    // A flipped byte anywhere in the measured section is detected (every 5th byte: each verify
    // parses the whole certificate, and the all-bytes sweep is policy_certificate's).
    const std::string& bytes = r.certificate;
    const std::size_t begin = bytes.find("\"measured\":{\"cell\"");
    BOOST_TEST_REQUIRE(begin != std::string::npos);
    const std::size_t end = bytes.find("\"provenance\"", begin);
    std::size_t accepted = 0;
    for (std::size_t i = begin; i < end; i += 5) {
        std::string bad = bytes;
        bad[i] = char(bad[i] ^ 0x01);
        accepted += verify_certificate(bad, test_key().public_key, later).ok;
    }
    BOOST_TEST(accepted == 0u);

    // A record must say it was measured.
    json declared_as_measured = measured;
    declared_as_measured["cell"]["source"] = "declared";
    BOOST_CHECK_THROW(gather_evidence(manifest, false, declared_as_measured), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(remeasure_reproduces_a_record_from_its_inputs_and_rejects_other_bytes) {
    const InputBytes scenario = cell_input();
    const json rec = measure_cell(scenario, {"kunlun-k200"}, {3});
    BOOST_TEST(remeasure(rec, {{scenario.name, scenario.bytes}}) == rec);
    // A record whose value was written by hand (say, by an issuer who holds the signing key) does
    // not survive a re-run from its own parameters and inputs.
    json forged = rec;
    forged["value"]["worst_stop_ms"] = rec.at("value").at("worst_stop_ms").get<double>() / 2;
    BOOST_TEST(remeasure(forged, {{scenario.name, scenario.bytes}}).at("value") != forged.at("value"));
    std::string changed = scenario.bytes;
    changed[changed.find("\"seed\": 7")] = ' ';
    BOOST_CHECK_EXCEPTION(remeasure(rec, {{scenario.name, changed}}), std::invalid_argument, [](const std::invalid_argument& e) {
        return std::string(e.what()).find("has SHA-256") != std::string::npos;
    });
    BOOST_CHECK_THROW(remeasure(rec, {}), std::invalid_argument);
    json unknown = rec;
    unknown["function"] = "policy::measure_nothing";
    BOOST_CHECK_THROW(remeasure(unknown, {{scenario.name, scenario.bytes}}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
