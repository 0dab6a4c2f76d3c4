// The PCB cell scenario: a JSON file that describes one run of the inspection cell (core/robot/
// cell.hpp) and the chip its perception model runs on. core/lab is where the chip emulator, the
// model runtime and the robot meet: the cell only sees a perception hook, and this file builds that
// hook from
//   - the classifier (perception.classifier):
//       "model"    the trained, int8-quantized CNN the core ships (models/pcb/pcb_cnn_int8.onnx,
//                  core/lab/pcb_model.hpp), run by the nn executor on the board's pixels: its argmax
//                  decides; it never reads the renderer's ground truth (the default)
//       "standin"  a fixed-accuracy oracle with a seeded RNG that READS the ground truth, labelled
//                  STAND-IN in the report (kept for lessons about accuracy vs latency),
//   - the inference latency on the chosen chip from the roofline (core/chip/roofline.hpp) of
//     (perception.latency):
//       "model"    the trained model's own graph: every Conv / Gemm node with its shapes from
//                  nn::infer_shapes (lab::graph_work; the default), or
//       "conv"     the scenario's hand-written conv list: a network the scenario stands for (e.g. the
//                  same classifier at the camera's full resolution), which is NOT the model that
//                  decides; the report says so and also gives the trained model's own latency.
//     For a conv list every convolution is counted as its im2col GEMM, gemm_work(M = out
//     pixels, N = out channels, K = kernel^2 x in channels), the final classifier as a GEMV. This is an
//     APPROXIMATION: the im2col operand overstates the activation traffic of a direct convolution
//     (each input is counted kernel^2 / stride^2 times), and the roofline ignores on-chip buffers,
//     vector work and clocks below peak, so it is a lower bound on compute and a rough figure on
//     traffic. A chip that misses its budget at the roofline misses it in reality.
// Choosing a slower chip therefore really changes the loop: longer inference, frames dropped while
// the accelerator is busy, older perception for the watchdog.
//
// Scenario files: models/cells/<id>.json (embedded) or any path. Every field, with units in the name;
// all sections but "id" and "chip" are optional and default to the values of CellConfig
// (robot/cell.hpp) shown in brackets. Unknown keys are rejected so a typo is an error.
//
//   id            string  lowercase [a-z0-9-]+; must equal the file name stem
//   description   string
//   arm           string  bundled arm id ["ur5e"]
//   seed          integer >= 0, seeds boards, network and the stand-in classifier [1]
//                 (the trained model saw none of the seeds below 1000000: core/lab/pcb_model.hpp)
//   chip          string  chip id in the catalog (the CLI's --chip overrides it)
//   dtype         string  "int8" | "fp16" | "bf16" ["int8"]
//   perception    object
//     classifier         string  "model" | "standin" (see above) ["model"]
//     latency            string  "model" | "conv": where the roofline's layer list comes from ["model"];
//                                "conv" needs a non-empty conv list
//     model              string  a name for the conv-list network in the report
//     input_hwc          [H, W, C] input image, pixels and channels
//     conv               array of {"out_channels": N, "kernel": K, "stride": S} (same padding:
//                        out = ceil(in / S)); applied in order
//     classes            integer, outputs of the final classifier after global pooling [4]
//     standin_accuracy   number in (0, 1], probability the stand-in oracle answers correctly [0.95]
//   conveyor      object  boards [6], board_interval_s [3.0], class_probability [4 numbers summing
//                         to 1: clean, solder-bridge, missing-component, misplaced-component]
//   camera        object  period_ms [33], exposure_ms [5], readout_ms [8]
//   network       object  enabled [false], latency_ms [10], jitter_ms [0], loss [0], retransmit_ms [50]
//   planning_ms   number  assumed IK + trajectory time on the robot controller [5]
//   control       object  rate_hz [1000], omega_rad_s [40], velocity_scale [0.5], acceleration_rad_s2 [4]
//   geometry      object  home_q_rad [6], bin_q_rad [6], station_m [x, y, z], approach_height_m [0.12]
//   safety        object  v_h_m_s [1.6], T_r_s, T_s_s, v_r_m_s, S_s_m, C_m, Z_d_m, Z_r_m (ISO/TS 15066,
//                         see robot/safety.hpp), v_r_reduced_m_s, S_s_reduced_m (the same at reduced
//                         speed), reduced_speed_scale [0.25], zone_confidence_threshold [0.925],
//                         zone_clear_confidence [0.99], zone_wait_s [1.0], perception_timeout_ms [200],
//                         link_timeout_ms [100]
//   budgets_ms    object  sensor [20], transfer [40], inference [30], planning [20], control_period [8],
//                         round_trip [120]
//   faults        object
//     network_outage           [{"start_s", "end_s"}]
//     sensor_dropout           [{"start_s", "end_s"}]
//     low_confidence_obstacle  [{"start_s", "end_s", "confidence"}]
//     person                   [{"enter_s", "start_distance_m", "speed_m_s", "min_distance_m", "stay_s"}]
//     slower_chip              {"at_s", "chip"}: the model moves to another chip mid-run
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "chip/catalog.hpp"
#include "chip/roofline.hpp"
#include "robot/cell.hpp"

namespace stacklab::lab {

// A problem in one scenario file: names the file and the field (JSON-pointer style path).
class ScenarioError : public std::invalid_argument {
public:
    ScenarioError(std::string file, std::string field, const std::string& problem);
    const std::string& file() const { return file_; }
    const std::string& field() const { return field_; }

private:
    std::string file_, field_;
};

struct ConvLayer {
    int out_channels = 0, kernel = 3, stride = 1;
};

struct CnnModel {
    std::string name = "cnn";
    int in_h = 224, in_w = 224, in_c = 3;
    std::vector<ConvLayer> conv;
    int classes = 4;
};

// The roofline work of each layer (im2col GEMMs, then the classifier GEMV; see the header).
std::vector<chip::OpWork> cnn_work(const CnnModel& model, chip::DType dtype);

enum class Classifier { model, standin };
enum class LatencySource { model, conv };
const char* classifier_name(Classifier c);       // "model", "standin"
const char* latency_source_name(LatencySource l);  // "model", "conv"

struct InferenceEstimate {
    std::string chip_id;
    chip::ChipPeak peak;
    std::vector<chip::RooflineRow> rows;
    double total_ms = 0;
    double total_ops = 0, total_bytes = 0;
};
// Sum of the layers' roofline times on `chip`. Throws std::invalid_argument when the catalog lacks
// the peak or the bandwidth for this data type.
InferenceEstimate estimate_inference(const chip::ChipSpec& chip, chip::DType dtype, const CnnModel& model);
// The same for any list of layers (e.g. lab::graph_work of a model's graph).
InferenceEstimate estimate_inference(const chip::ChipSpec& chip, chip::DType dtype, const std::vector<chip::OpWork>& work);

// The stand-in perception hook: a fixed-accuracy oracle (seeded) plus a constant latency.
robot::PerceptionHook standin_perception(double accuracy, std::uint64_t seed, double latency_ms, const std::string& latency_source);

struct CellScenario {
    std::string id, description, file;
    std::string arm = "ur5e";
    std::string chip;
    chip::DType dtype = chip::DType::int8;
    Classifier classifier = Classifier::model;
    LatencySource latency = LatencySource::model;
    CnnModel model;  // the conv list (perception.latency "conv")
    double standin_accuracy = 0.95;
    std::string swap_chip;  // faults.slower_chip.chip ("" when none)
    robot::CellConfig cell;
};
CellScenario parse_cell_scenario(const std::string& json_bytes, const std::string& file_name);

struct CellFile {
    std::string name, bytes;
};
// models/cells/*.json, embedded at build time.
const std::vector<CellFile>& bundled_cell_files();

struct CellRun {
    std::string chip_id, swap_chip_id;
    InferenceEstimate inference, swap_inference;  // what the cell's latency uses (model graph or conv list)
    // The trained model's own graph on the chip (and on the swap chip), whatever the latency source.
    InferenceEstimate model_inference, swap_model_inference;
    robot::CellReport report;
    // The classifier's decisions over the run: boards it classified and how many matched the truth.
    int classified = 0, correct = 0;
};
// Runs the scenario on `chip_override` (when not empty) or the scenario's chip, from `chips`.
CellRun run_cell_scenario(const CellScenario& s, const std::vector<chip::ChipSpec>& chips,
                          const std::string& chip_override = "", const robot::CellRunOptions& options = {});

// run_cell_scenario in pieces, for callers that must not stall (the UI: a worker thread natively,
// slices over frames in the browser): start_cell_scenario does everything up to the cell's run (the
// chip lookup, the latency estimates, the hooks; the same errors) and returns the run as a
// robot::CellSim; the caller steps `sim` until done, then finish_cell_scenario adds the report and the
// classifier's counts. The result equals run_cell_scenario's whatever the slices.
struct CellScenarioSim {
    CellRun run;  // without report, classified and correct until finish_cell_scenario
    robot::CellSim sim;
};
CellScenarioSim start_cell_scenario(const CellScenario& s, const std::vector<chip::ChipSpec>& chips,
                                    const std::string& chip_override = "", const robot::CellRunOptions& options = {});
CellRun finish_cell_scenario(CellScenarioSim& sim);  // sim.sim must be done (std::logic_error otherwise)

}  // namespace stacklab::lab
