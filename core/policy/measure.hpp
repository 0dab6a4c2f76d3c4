// Measured evidence: certification evidence that StackLab produces by running the other layers
// itself, instead of numbers a manifest declares.
//
// This is the one policy file that calls the model runtime (core/nn), the chip catalog (core/chip)
// and the cell scenario (core/lab); what it returns is plain evidence records (JSON) that
// certify() takes in, so the policy engine still reads only data (ARCHITECTURE.md). It reads no
// files: the caller (the CLI, a test) reads them and hands in the bytes with the name they had.
//
// Every record has the same form, so a verifier can re-run it (remeasure() below does exactly
// that from the record alone plus the input files):
//   source      "measured"
//   function    the StackLab function that produced it ("policy::measure_model_eval")
//   command     the CLI command line that produces it again
//   parameters  every parameter of the run (limit, kernels, chips, seeds, ...)
//   inputs      [{"name", "sha256", "bytes"}]: each input file as named by the caller, SHA-256 of
//               its bytes (libsodium, policy/crypto.hpp) and its size
//   method      what was measured and what it does not show, in words
//   value       the measured results (object; documented per function below)
//
// What is and is not measured here (honest limits):
//   - the model evaluation runs the ONNX model with core/nn's executor on this host; core/chip has
//     timing models only, no functional emulation of a chip's numerics, so the functional result
//     is the same for every chip and "accuracy per chip" is not a separate measurement;
//   - the cell runs use core/lab's STAND-IN classifier (a fixed-accuracy oracle) with each chip's
//     roofline latency for the scenario's CNN; the robot cell, the safety monitor and the latency
//     chain are simulated for real, the classifier is not the evaluated model;
//   - native-versus-wasm agreement cannot be measured inside one process; the records carry the
//     output hashes so the two builds can be compared (tests/cli/cli_test.sh does).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stacklab::policy {

struct InputBytes {
    std::string name;   // as the caller names it (a path); recorded in the evidence
    std::string bytes;  // the file's content
};

// The first `limit` test images (0: all) of an IDX image/label pair through the model, with the
// fast kernels twice (reproducibility) and the reference kernels once. value:
//   n, correct, accuracy, accuracy_pct                  fast kernels (the deployed path)
//   reference_correct, reference_accuracy_pct           reference kernels (the semantics)
//   drop_pct                                            reference_accuracy_pct - accuracy_pct
//   logits_sha256, rerun_logits_sha256, rerun_hash_match  SHA-256 of the fast output logits
//                                                       (float32 little-endian, row-major)
//   reference_logits_sha256                             the same for the reference kernels
//   predictions_sha256                                  SHA-256 of the fast predictions (one byte each)
//   model_sha256, test_set_sha256 [images, labels]
// Throws std::invalid_argument for a model or data set that cannot be evaluated.
nlohmann::json measure_model_eval(const InputBytes& model, const InputBytes& images, const InputBytes& labels,
                                  std::int64_t limit);

// The cell scenario once per (chip, seed): the scenario's seed replaced by each seed, its chip by
// each chip (lab::run_cell_scenario). value:
//   runs, failed_runs, failures ["chip seed N: verdict (detail)", ...]
//   protective_stops, worst_stop_ms, stop_bound_ms (the largest bound of any run),
//   stops_within_bound (every run's worst stop <= its bound), actions, actions_without_rule_id
//   fault_modes        the faults the scenario injects ("network_outage", "sensor_dropout",
//                      "low_confidence_obstacle", "person", "slower_chip")
//   perception         the perception hook's description (says STAND-IN)
//   per_chip [{"chip", "inference_ms", "runs", "failed_runs", "worst_stop_ms"}]
// Throws lab::ScenarioError / std::invalid_argument for a bad scenario or chip.
nlohmann::json measure_cell(const InputBytes& scenario, const std::vector<std::string>& chips,
                            const std::vector<std::uint64_t>& seeds);

// Chip-model convergence from the two records above and the chip catalog (core/chip): a chip is
// validated when it is in the catalog, every measured cell run on it passed and the model was
// evaluated. value: per_chip [{"chip", "origin", "domestic", "cell_runs_passed", "inference_ms",
// "validated"}], validated_chips, validated_domestic_platforms.
nlohmann::json measure_convergence(const nlohmann::json& model_eval, const nlohmann::json& cell);

// Re-runs a measured record from its function and parameters with the given input files (by the
// names the record lists) and returns the fresh record. Throws std::invalid_argument when an input
// is missing or its SHA-256 differs from the record's, naming it.
nlohmann::json remeasure(const nlohmann::json& record, const std::map<std::string, std::string>& files);

}  // namespace stacklab::policy
