// The StackLab playground UI: one Dear ImGui front end shared by the desktop app and the browser.
// The shells (native/gui_main.cpp, wasm/web_main.cpp) own the window and the frame loop; they
// call setup_ui once and draw_app every frame.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"
#include "chip/graph_sim.hpp"
#include "chip/llm.hpp"
#include "chip/systolic.hpp"
#include "chip/tile_sim.hpp"
#include "lab/cell_scenario.hpp"
#include "lab/lesson.hpp"
#include "nn/executor.hpp"
#include "nn/idx.hpp"
#include "nn/quantize.hpp"
#include "policy/audit_log.hpp"
#include "policy/certificate.hpp"
#include "quant/norm.hpp"
#include "ui/job_thread.hpp"

namespace stacklab::ui {

// A rectangle in window coordinates (CSS pixels in the browser); w = 0 when nothing was drawn.
struct Rect {
    float x = 0, y = 0, w = 0, h = 0;
};

// What the chips panel showed in the last frame, for tests and the browser's JS API.
struct ChipsPanelReport {
    int rows_drawn = 0;
    std::string sorted_by = "id";
    bool ascending = true;
    std::vector<std::string> row_ids;  // in the order drawn
    struct HeaderRect {
        std::string key;  // "name", "vendor" or the figure key
        float x, y, w, h; // window coordinates (CSS pixels in the browser)
    };
    std::vector<HeaderRect> headers;
    // The roofline section: the selected chip (and the compared one) with the selected LLM's
    // layer GEMMs on it, each the row `stacklab simulate --chip C --gemm M,N,K --dtype D` prints.
    struct RoofOp {
        std::string chip, name;  // name: "decode qkv", "prefill ffn down", ...
        double m = 0, n = 0, k = 0;
        double intensity = 0, time_us = 0, ops_per_s = 0;
        std::string bound;
    };
    std::string roofline_dtype, roofline_llm;
    std::vector<std::string> roofline_chips;   // the chips whose roofs were drawn
    std::vector<std::string> roofline_errors;  // a chip without the figures a roof needs
    std::vector<RoofOp> roofline_ops;
    Rect roofline_rect;  // where the chart was drawn (window coordinates)
    // The tile-simulation view: one of those GEMMs on the selected chip, what `stacklab simulate
    // --chip C --gemm M,N,K --dtype D --fidelity tile --timeline --json` prints, as a Gantt chart.
    struct TileSim {
        bool shown = false;  // the view was open this frame
        std::string chip, dtype, gemm, error;
        double m = 0, n = 0, k = 0;
        long computations = 0;
        double time_us = 0, energy_uj = 0;
        int cores_used = 0;
        int64_t events = 0, dropped = 0;      // timeline events kept, and dropped past kGanttEvents
        int gantt_rows = 0;                   // core x unit lanes drawn
        int64_t gantt_bars = 0;               // events drawn in the visible window
        double view_from_us = 0, view_to_us = 0;
        std::vector<std::pair<std::string, double>> utilization, energy_parts_uj;
        int64_t hovered_event = -1;           // index into the timeline of the bar under the mouse
        std::string tooltip;                  // what its tooltip said
        Rect gantt_rect, gantt_plot_rect, util_rect, energy_rect;
        // source "model" (scenario gemm=model): the Models tab's model as loaded (fp32), whole, what
        // `stacklab simulate --chip C --model M.onnx --fidelity tile --batch B --json` prints: its
        // totals (time_us, energy_uj above; offchip_bytes here) and one row per node, graph order.
        std::string source = "gemm";  // "gemm" (an LLM layer GEMM) or "model"
        std::string model, graph;  // graph: ModelTileChoice::graph
        int64_t batch = 0;
        double offchip_bytes = 0;
        struct OpRow {
            std::string name, op, dtype, lowered, fidelity_used, bound;  // bound "" where fidelity_used is "none"
            double start_us = 0, time_us = 0, offchip_bytes = 0, energy_uj = 0;
            int64_t events = 0;  // timeline events of this node kept
        };
        std::vector<OpRow> ops;
        long op_bands = 0;        // op bands at least partly visible above the lanes
        int hovered_op = -1;      // index into ops of the band or event under the mouse
        Rect op_band_rect, ops_table_rect;
    } tile_sim;
};

// The chips panel's tile simulation, cached (a prefill GEMM is tens of thousands of tile jobs): the
// GEMM (index into the selected LLM's layer GEMMs, decode then prefill, as the roofline numbers
// them D1..D4, P1..P4), chip and data type it was run for, and the Gantt chart's view window.
constexpr size_t kGanttEvents = 5000;  // the timeline `stacklab simulate --timeline` keeps
struct TileSimChoice {
    std::string chip;
    int dtype = 0;
    double m = 0, n = 0, k = 0;
    bool operator==(const TileSimChoice& o) const {
        return chip == o.chip && dtype == o.dtype && m == o.m && n == o.n && k == o.k;
    }
};
struct TileSimCache {
    TileSimChoice choice;
    long computations = 0;
    std::string error;
    chip::TileResult result;
    float zoom = 1.0f;     // 1: the whole run
    double from_s = 0;     // left edge of the visible window
};

// The tile view's other source: the Models tab's model (ModelsChoice::model, fp32 as loaded, or the
// QDQ graph the tab's job quantized it to, ModelsPanelReport::quant.model, once it has) simulated
// whole at tile fidelity on the selected chip (chip::simulate_model with each node's first
// kGanttEvents events), cached: recomputed only when the chip, the model or the batch changes.
struct ModelTileChoice {
    std::string chip, model;
    int64_t batch = 1;
    // "fp32" (as loaded), or the Models tab job whose quantized graph it is: "RECIPE/CALIBRATION[/fused] job N".
    std::string graph = "fp32";
    bool operator==(const ModelTileChoice& o) const {
        return chip == o.chip && model == o.model && batch == o.batch && graph == o.graph;
    }
};
struct ModelTileCache {
    ModelTileChoice choice;
    long computations = 0;
    std::string error;
    chip::ModelSim sim;
    float zoom = 1.0f;
    double from_s = 0;
};

// The LLM-serving scenario the user picked (indices into the bundled lists) and what the panel
// computed from it in the last frame, for tests and the browser's JS API.
struct LlmChoice {
    int llm = 0;
    int quant = 0;  // into llm_quant_names()
    bool int8_kv = false;
    int batch = 1, prompt = 512, output = 128;
    int chips = 1;
    float link_gbps = 56.0f;
};
struct LlmPanelReport {
    std::string llm, quant;
    int chips = 1;
    struct Row {
        std::string chip;
        bool ok = false;
        std::string error;
        double ttft_ms = 0, decode_ms_per_token = 0, tokens_per_s = 0;
        bool fits = false;
        std::string bound;
    };
    std::vector<Row> rows;  // one per chip, catalog order
};
const std::vector<std::string>& llm_quant_names();

// The UI's bounds on the drift input (the CLI allows more): an input the page recomputes within
// a frame or two when a control changes.
constexpr int kMaxDriftRows = 1024, kMaxDriftCols = 8192, kMaxDriftElements = 1 << 20;
constexpr double kMaxDriftOffset = 1e6;
// The fused LayerNorm+GELU drift view: the variant and input the user picked (the options of
// `stacklab kernels drift`) and the report computed for them. The report is cached: it is
// recomputed only when the choice changes, not every frame.
struct KernelsChoice {
    int variance = 0;  // quant::VarianceMethod
    int gelu = 0;      // quant::GeluForm
    bool fp16 = false;
    float offset = 0.0f;
    int rows = 16, cols = 768;
    int seed = 1;
    bool operator==(const KernelsChoice& o) const {
        return variance == o.variance && gelu == o.gelu && fp16 == o.fp16 && offset == o.offset && rows == o.rows &&
               cols == o.cols && seed == o.seed;
    }
};
struct KernelsPanelReport {
    bool computed = false;
    std::string error;
    KernelsChoice choice;     // what `drift` was computed for
    quant::DriftReport drift;
    std::vector<std::string> isas;  // quant::available_isas(), best last
    std::string best_isa;
    Rect histogram_rect;
    long computations = 0;  // how many times the report was recomputed (cache check)
};

// The systolic-array view (SCALE-Sim v2 mode): the built-in example (SCALE-Sim's golden AlexNet
// conv1 run) under the array size and dataflow the user picks, and the per-layer reports of
// chip::simulate_scalesim, cached like the drift report.
struct SystolicChoice {
    int array_rows = 32, array_cols = 32;
    int dataflow = 1;  // chip::Dataflow: os, ws, is; the golden run is ws
    bool operator==(const SystolicChoice& o) const {
        return array_rows == o.array_rows && array_cols == o.array_cols && dataflow == o.dataflow;
    }
};
constexpr int kMaxSystolicDim = 512;
struct SystolicPanelReport {
    bool computed = false;
    std::string error;
    SystolicChoice choice;
    std::string run_name;
    std::vector<chip::LayerReport> layers;
    Rect util_rect;
    long computations = 0;
};

// The Robot panel: a bundled PCB cell scenario (models/cells) run on the sidebar's chip, what
// `stacklab robot cell --scenario ID --chip C` prints, plus a trace of the arm for the 3D view and
// the joint plots. Cached: rerun only when the scenario or the chip changes.
// Faults the user injects from the Robot panel on top of the scenario file's own (core/lab/
// cell_scenario.hpp "faults"); each starts at the play time it was added at (rounded to 10 ms).
enum class FaultKind { outage, dropout, obstacle, person, swap };
const char* fault_kind_name(FaultKind k);  // "outage", "dropout", "obstacle", "person", "swap"
struct InjectedFault {
    FaultKind kind = FaultKind::outage;
    double at_s = 0;
    std::string chip;  // swap: the chip perception moves to
    bool operator==(const InjectedFault& o) const { return kind == o.kind && at_s == o.at_s && chip == o.chip; }
};
struct RobotFaults {
    bool file_faults = true;  // keep the scenario file's faults
    std::vector<InjectedFault> added;
    bool operator==(const RobotFaults& o) const { return file_faults == o.file_faults && added == o.added; }
};
// The scenario-key form, e.g. "outage@19.50,person@8.00,swap@12.00:edge-npu-64tops" ("nofile"
// first drops the file's faults; "" is the file's faults alone), and its parser (errors name the item).
std::string faults_query(const RobotFaults& f);
std::string parse_faults_query(const std::string& text, RobotFaults& out);

struct RobotChoice {
    std::string cell, chip;
    RobotFaults faults;
    bool operator==(const RobotChoice& o) const { return cell == o.cell && chip == o.chip && faults == o.faults; }
};
// The cell run as a job (ui/robot_panel.cpp), like the Models tab's: natively on a worker thread
// that publishes its progress after each slice of control ticks; in the browser (one thread) slices
// of ticks run on the UI thread within a time budget per frame (robot::CellSim). While it runs, the
// panel keeps the previous result (`computed` false, `has_result` true: drawn greyed) with a progress
// bar and Cancel. Either way the run is lab::run_cell_scenario's, bit for bit.
struct RobotJob;  // the run in progress (robot_panel.cpp)
using RobotWorker = JobThread<RobotJob>;  // natively: the thread running the job, its progress, the job once finished
struct RobotJobState {
    std::string stage = "idle";  // idle, run, done, error, cancelled, restart
    long ticks_done = 0, ticks_total = 0;  // control ticks of the cell run (0 total: still preparing)
    long frames = 0;             // frames (update_robot calls on distinct frames) the job took
    long last_frame = -1;        // the frame it last advanced in (once per frame, however many callers)
    bool threaded = false;       // natively: a worker thread ran it
    long ui_thread_steps = 0;    // steps (the preparation, then each slice) run on the UI thread
    double max_step_ms = 0;      // the longest slice of those (what one frame stalled at most, after the preparation)
    double prepare_ms = 0;       // the preparation step on the UI thread (one core call: the model, the hooks)
    double run_ms = 0;           // wall clock from start to result
    std::chrono::steady_clock::time_point started;
    bool has_result = false;     // `run` (and scenario, arm) hold a result, maybe a previous choice's
    RobotChoice result_choice;   // what that result was computed for
    std::shared_ptr<RobotJob> work;  // browser: the job run over frames
    std::shared_ptr<RobotWorker> worker;
    RetiredJobs retired;  // cancelled workers finishing their slice
    Rect progress_rect, cancel_rect;
};
struct RobotPanelReport {
    bool computed = false;  // `run` is the result for `choice`
    std::string error;
    RobotChoice choice;
    lab::CellScenario scenario;
    std::shared_ptr<const robot::ArmModel> arm;  // ArmModel has no default constructor
    lab::CellRun run;
    long computations = 0;
    // View state: the time of the run shown in 3D, playback, the orbit camera.
    double view_t_s = 0;
    bool playing = false;
    float play_speed = 1.0f;
    float cam_yaw = 0.6f, cam_pitch = 0.45f;
    std::vector<robot::Vec3> view_points;  // the arm's polyline (base frame, m) drawn last frame
    Rect budget_rect, arm_rect, joints_rect;
    struct FaultButton {
        std::string kind;  // "outage", "dropout", "obstacle", "person", "swap"
        Rect rect;
    };
    std::vector<FaultButton> fault_buttons;  // where the inject buttons were drawn last frame
    std::vector<std::string> file_faults;    // the scenario file's own faults, one line each
    std::string swap_to = "edge-npu-64tops";  // the chip the "slower chip" button moves perception to
    RobotJobState job;
    bool busy() const { return job.stage == "run"; }
};
// The ids of embedded JSON files ("models/cells/<id>.json" -> "<id>"), in their order: `files` is
// a vector of structs with a `name` (lab::CellFile, policy::PackFile, policy::DeploymentFile).
template <class Files>
std::vector<std::string> json_file_ids(const Files& files) {
    std::vector<std::string> ids;
    for (const auto& f : files) {
        const size_t slash = f.name.rfind('/');
        std::string id = f.name.substr(slash == std::string::npos ? 0 : slash + 1);
        if (id.size() > 5 && id.compare(id.size() - 5, 5, ".json") == 0) id.resize(id.size() - 5);
        ids.push_back(std::move(id));
    }
    return ids;
}
std::vector<std::string> bundled_cell_ids();  // "pcb-cell-ascend-310p", ... (models/cells)
// Stops the running cell job after its current slice (stage "cancelled", the previous result stays);
// restart_robot runs it again (update_robot starts it on its next call).
void cancel_robot(RobotPanelReport& r);
void restart_robot(RobotPanelReport& r);

// The Certify panel (ui/certify_panel.cpp): a bundled example deployment certified with the demo
// key against the policy packs chosen, verified, and recorded in an in-memory audit log.
// The choice: a deployment, a tier (0: the manifest's requested_tier; 1..3: certify a copy of the
// manifest with requested_tier replaced, which the certificate's manifest_sha256 then names) and the
// packs (bundled ids; empty: the manifest's "policies").
struct CertifyChoice {
    std::string deployment;
    int tier = 0;
    std::vector<std::string> packs;
    bool operator==(const CertifyChoice& o) const { return deployment == o.deployment && tier == o.tier && packs == o.packs; }
};
std::vector<std::string> bundled_pack_ids();  // models/policy, bundled order
// Scenario key packs=ID,ID: the form written ("" for none) and its parser (errors name the bad id;
// an empty text is the manifest's packs).
std::string packs_query(const std::vector<std::string>& packs);
std::string parse_packs_query(const std::string& text, std::vector<std::string>& out);
// One stage of a certification job: what ran (a core call), its wall time and what it found.
struct CertifyStage {
    std::string name, detail;
    double ms = 0;
    bool done = false;
};
// The panel's audit log, kept in memory for the session (lost on reload, unlike the durable, fsynced
// file `stacklab certify --log` appends to): bytes in the core's file format (policy/audit_log.hpp),
// one entry (policy::certificate_log_entry) and one tree head signed with the demo key per
// certification, and the selected entry's RFC 9162 inclusion proof against the latest tree head.
struct CertifyAuditLog {
    std::string bytes;
    std::vector<std::string> entries;  // the entry payloads, in order
    policy::LogCheck check;            // check_log (demo public key) after the last append
    std::string tree_head;             // tree_head_json of the latest
    int selected = -1;                 // the entry whose proof is shown
    int proof_index = -1;              // the entry the proof below is for
    uint64_t proof_size = 0;
    std::vector<std::string> proof_hex;
    std::string leaf_hex, root_hex;
    policy::ProofCheck proof;
    bool tampered = false;             // a copy with one byte of the selected entry changed
    long tampered_offset = -1;
    policy::RecoveryReport tampered_recovery;
    policy::LogCheck tampered_check;
};
struct CertifyPanelReport {
    long computations = 0;
    bool computed = false;   // a whole certification finished (never half of one: see the job below)
    std::string error;
    std::string deployment;  // what it was computed for
    CertifyChoice choice;
    int tier = 0;            // the tier certified (the manifest's, or the override)
    int requested_tier = 0;  // the manifest's
    std::vector<std::string> packs, manifest_packs;  // the packs certified against; the manifest's
    std::string now;         // issue time (UTC, the clock of the machine running the UI)
    std::string certificate, certificate_sha256, key_id;
    policy::Decision decision;
    std::vector<std::pair<std::string, bool>> pack_pass;  // each pack evaluated alone: passes?
    policy::VerifyResult verify;
    bool tampered = false;
    long tampered_offset = -1;
    policy::VerifyResult tampered_verify;
    // The job: its stages run one per frame in the panel (each is a few milliseconds natively; see
    // certify_panel.cpp), all at once in update_certify. Results are published only by the last
    // stage, with the log append, so a cancelled job leaves no certificate and no log entry.
    std::string stage = "idle";  // idle, running, done, cancelled, error
    std::vector<CertifyStage> stages;
    size_t next_stage = 0;
    long frames = 0;            // frames (calls) the job took
    double max_stage_ms = 0;
    bool restart = false;       // "Run again": a new certification of the same choice
    // The job's work in progress.
    std::string manifest_bytes, manifest_name;
    nlohmann::json manifest, evidence;
    std::vector<policy::PolicyPack> pack_defs;
    std::string work_certificate;
    policy::Decision work_decision;
    policy::VerifyResult work_verify;
    CertifyAuditLog log;  // outlives each job (start keeps it)
    std::vector<std::pair<std::string, Rect>> buttons;  // name, where drawn last frame (for tests)
    bool busy() const { return stage == "running" || restart; }  // restart: starts next frame
};
// The Certify panel's tools that outlive a certification: verifying a certificate the user pasted or
// opened, and exporting. ui/ never touches files: the shell sets the callbacks, and a control shows
// only when its callback is set. Each returns "" or the problem, naming the file.
struct CertifyTools {
    std::function<std::string(const std::string& path, const std::string& bytes)> save;  // desktop: write atomically
    std::function<void(const std::string& file_name, const std::string& bytes, const std::string& mime)> download;  // browser
    std::function<void()> open_file_picker;  // browser: the page's certificate file input
    char folder[512] = ".";                  // desktop: where Save writes
    char path[1024] = {};                    // desktop: a certificate file to verify
    std::string paste;                       // the certificate text to verify
    char pubkey_hex[80] = {};
    int key_mode = 0;                        // 0 demo key, 1 the hex key above, 2 the key inside the certificate
    std::string source;                      // what was verified: a file name or "pasted text"
    bool verified = false;
    policy::VerifyResult result;
    std::string message;                     // one line naming the source and the outcome
    std::string export_status;
    bool export_error = false;
    std::vector<std::pair<std::string, size_t>> exported;  // file name, bytes: every export so far
};
std::vector<std::string> bundled_deployment_ids();  // models/deployments, without ".json"
// The demo signing key of the playground: derived from a public phrase, so it certifies nothing.
policy::Ed25519KeyPair demo_key();
// Changes one digit inside the certificate's evidence; returns its offset (-1: none found).
long tamper_one_byte(std::string& certificate);

// The Models tab: a shipped classifier (models/fashion_*.onnx, embedded: ui/models_data.hpp)
// quantized by nn::quantize_model, calibrated on the embedded first 256 Fashion-MNIST training images
// in batches of 64, then run on the embedded first 1000 test images in batches of 64 with the fast
// kernels, fp32 and quantized: the numbers `stacklab eval --model models/M.onnx --data fashion-mnist
// --quant Q --calibration C [--no-fuse] --limit 1000 --json` prints (per-layer and logits SQNR on the
// test images' first 256, as the CLI does). The work is a job of small steps (prepare, quantize,
// SQNR, one batch of 64 images). Natively the steps run on a worker thread that publishes the report
// after each step, so the desktop window never stalls, not even for quantize_model; in the browser
// (single-threaded wasm) they run over frames within a time budget. Either way the steps and their
// order are the same, so the results are too. Cancel stops the job after its current step.
struct ModelsChoice {
    std::string model;            // the classifier's file stem ("fashion_cnn"); make_app_state picks the first
    std::string recipe = "int8";  // one of nn::quant_recipe_names()
    int calibration = 0;          // nn::CalibrationMethod
    bool fuse = true;
    bool operator==(const ModelsChoice& o) const {
        return model == o.model && recipe == o.recipe && calibration == o.calibration && fuse == o.fuse;
    }
};
constexpr int64_t kModelsCalibImages = 256, kModelsTestImages = 1000, kModelsSqnrImages = 256, kModelsBatch = 64;
struct ModelsWork;    // the job's graphs, plans and data (models_eval.cpp)
struct ModelsPanelReport;
using ModelsWorker = JobThread<ModelsPanelReport>;  // natively: the thread running the job and its last published report
struct ModelsPanelReport {
    ModelsChoice choice;        // what the job is (was) computing
    std::string stage = "idle"; // idle, quantize, sqnr, eval, done, error, cancelled
    std::string error;
    long computations = 0;      // jobs started (cache check)
    int64_t evaluated = 0, n = 0;  // test images run so far, of n
    long frames = 0;            // frames the job took
    bool threaded = false;      // the steps run on a worker thread (native builds)
    long ui_thread_steps = 0;   // steps run on the thread that calls update_models (0 when threaded)
    double max_step_ms = 0;     // the longest single step (wall clock; frame-split: what one frame stalled at most)
    double quantize_ms = 0, sqnr_ms = 0, eval_ms = 0;  // wall clock per stage (display only)
    int64_t classes = 0;
    nn::QuantizeResult quant;   // empty layers for fp32
    double logits_sqnr_db = 0;  // +inf when identical (fp32)
    int64_t fp32_correct = 0, quant_correct = 0;
    std::vector<int> fp32_predictions, predictions;  // per test image
    std::vector<int64_t> confusion;                   // classes x classes, [true][predicted], quantized model
    std::vector<nn::NodeTiming> batch_timings;        // the quantized model's nodes on the first batch of 64
    double batch_ms = 0;
    std::shared_ptr<const nn::ImageSet> test_images;   // the embedded test slice, for the image grid
    std::shared_ptr<ModelsWork> work;
    std::shared_ptr<ModelsWorker> worker;                // the running job's thread (native)
    RetiredJobs retired;  // cancelled (or superseded) jobs finishing their last step
    Rect accuracy_rect, layers_rect, confusion_rect, images_rect, cancel_rect, histogram_rect;
    int histogram_layer = -1;   // the layer whose error histogram is shown (-1: the lowest SQNR, picked on draw)
    bool done() const { return stage == "done"; }
    bool busy() const { return stage == "quantize" || stage == "sqnr" || stage == "eval"; }
};
std::vector<std::string> bundled_classifier_ids();  // file stems of models/fashion_*.onnx
// Stops the running job after its current step (stage "cancelled"); update_models starts it again
// when the choice changes or after restart_models.
void cancel_models(ModelsPanelReport& r);
void restart_models(ModelsPanelReport& r);

// A model the user loaded into the Models tab (browser: file picker or drag-and-drop; desktop: a
// dropped file or the path field). The shell reads the file; the UI keeps its bytes.
struct UserModel {
    std::string id;    // the combo entry and scenario model=ID: the file's stem, "-2", "-3" added when taken
    std::string file;  // the file name as given (named in errors)
    std::shared_ptr<const std::string> bytes;
    int64_t nodes = 0;
    // "" when the model takes one float [N,1,28,28] input and gives float [N,10] logits (it is
    // evaluated on the Fashion-MNIST slice like the shipped ones); otherwise why it cannot be.
    std::string fashion_note;
};

// Starts a job when `choice` differs from the report's. Natively it starts the job's worker thread
// and afterwards copies the report the worker last published (never waiting for a step); in the
// browser it runs the job's steps until `budget_ms` of wall-clock time has gone (at least one step
// per call). choice.model names a shipped classifier or one of `user_models`.
void update_models(const ModelsChoice& choice, ModelsPanelReport& r, double budget_ms,
                   const std::vector<UserModel>& user_models = {});

// The Models tab's graph view (ui/graph_view.cpp), Netron-like: the selected model's graph (fp32 as
// loaded, or after the tab's quantization) in layers, one box per node with its op, name, constant
// inputs and quantization parameters, edges carrying the inferred shape and element type.
struct AppState;
struct GraphViewState {
    bool open = false;       // the tab shows the graph instead of the evaluation (scenario view=graph)
    bool quantized = false;  // the graph after the tab's recipe instead of fp32 (scenario graph=quant)
    float zoom = 1.0f;
    int selected = -1;       // node index shown in the details panel; -1: none
    // The graph and its layout, cached: rebuilt when `key` (model, toggle, job, font size) changes.
    std::string key;
    std::shared_ptr<const nn::Graph> graph;
    std::string error;  // why no graph is shown
    std::string note;   // shown above the graph (e.g. "fp32 recipe: the quantized graph is the fp32 one")
    struct Item {
        int kind = 1;   // 0 graph input, 1 node, 2 graph output
        int index = 0;  // into Graph::inputs, Graph::nodes or Graph::outputs
        int layer = 0;
        float x = 0, y = 0, w = 0, h = 0;  // at zoom 1, from the canvas origin
    };
    std::vector<Item> items;
    float width = 0, height = 0;  // of the whole layout at zoom 1
    // What the last frame drew, for tests: every node's box (window coordinates; visible = inside the canvas).
    struct NodeBox {
        std::string name, op;
        Rect rect;
        bool visible = false;
        std::string quant;  // the quantization line of the box ("" when none)
    };
    std::vector<NodeBox> boxes;
    int edges_drawn = 0;
    std::string hovered;  // the tooltip of the node or edge under the mouse
    Rect canvas_rect, details_rect, fp32_rect, quant_rect;
};
void draw_graph_view(AppState& state);
nlohmann::json graph_view_report(const AppState& state);  // the "graph_view" part of ui_report_json

// The Stack view: chip -> model -> robot -> policy, one box per layer with its headline figure,
// taken from the other panels' cached results (computed here when that panel was not opened yet).
struct StackPanelReport {
    struct Box {
        std::string layer, title, headline, detail;
        bool ok = true;   // false: the layer fails (cell verdict, certification) or has no figure
        double value = 0; // the headline number
    };
    std::vector<Box> boxes;
    Rect rect;
};

// Lesson mode (ui/lesson_panel.cpp): the bundled lessons (core/lab/lesson.hpp), where the student is
// and what the last check said. The facts a check compares with come from the panels' reports; the
// two sweeps a lesson can ask about (the cell on every chip, every bundled deployment) are computed
// here on demand and cached.
// Natively: the thread running a lesson's cell sweep (lesson_panel.cpp) and its rows so far.
using CellSweepWorker = JobThread<std::vector<lab::CellSweepRow>>;
struct LessonView {
    std::vector<lab::Lesson> lessons;
    std::string load_error;       // a bundled lesson that did not parse (file and JSON path)
    int active = -1;              // index into lessons; -1: no lesson
    int step = 0;
    std::vector<std::string> answers;          // per step of the active lesson
    std::vector<lab::CheckResult> results;     // per step: the last check (ready = false: not checked)
    std::vector<bool> solved;                  // per step: answered correctly at least once
    bool finished = false;                     // "Finish" pressed on the last step
    std::string scenario_error;                // what the step's scenario could not apply
    std::string sweep_cell;                    // the cell the sweep runs (cached per cell)
    std::vector<lab::CellSweepRow> cell_sweep; // catalog order; complete at one row per chip
    // Natively the sweep runs on a worker thread (the UI thread only copies its rows); in the
    // browser one chip's cell per frame. A sweep left behind by a cell change finishes its chip
    // among the retired ones, joined once it has.
    std::shared_ptr<CellSweepWorker> sweep_worker;
    RetiredJobs sweep_retired;
    bool sweep_threaded = false;
    long sweep_ui_thread_steps = 0;  // chips run on the UI thread (0 natively)
    bool deployments_certified = false;
    std::vector<lab::DeploymentOutcome> deployments;
    // Where the widgets were drawn last frame (for the browser test, which clicks like a person).
    struct Choice {
        std::string label;
        Rect rect;
    };
    std::vector<Choice> choices;  // a long list is a drop-down: rect w = 0 while it is closed
    int widgets_step = -1;        // the step the widgets above were drawn for (Next moves on mid-frame)
    Rect answer_rect /* the number field, or the drop-down */, check_rect, back_rect, next_rect, picker_rect;
};

// Saving and sharing the scenario (ui/scenario.cpp draws the sidebar's "Share" section). ui/ never
// opens files or touches the page: the shell hands in what it can do, and a button shows only when
// its callback is set. Each callback returns "" or the problem (naming the file where there is one).
struct ScenarioShell {
    std::function<std::string(const std::string& path, const std::string& text)> save;  // desktop: write atomically
    std::function<std::string(const std::string& path, std::string& text)> load;        // desktop: read the bytes
    std::function<void(const std::string& query)> copy_link;       // browser: the page URL with this hash
    std::function<void(const std::string& json_text)> download;    // browser: a .json download
    std::string path = "stacklab-scenario.json";  // the sidebar's file field (relative: the working directory)
    std::string status;                           // what the last save / load / copy did
    bool status_error = false;
};

// Where the sidebar's chip picker and the panel tabs were drawn last frame (for the browser test,
// which clicks like a person); chip_items only while the picker is open, only the visible ones.
struct LayoutReport {
    Rect chip_combo;
    std::vector<std::pair<std::string, Rect>> chip_items;  // chip id, where its entry is
    std::vector<std::pair<std::string, Rect>> tabs;        // tab name, where its tab is
    std::vector<std::pair<std::string, Rect>> share_buttons;  // "save", "load", "copy_link", "download"
    Rect theme_checkbox;  // the sidebar's "Dark theme"
};

// View state only: the core's results (the chip catalog) are loaded by the shell and handed in.
struct AppState {
    std::vector<chip::ChipSpec> chips;
    std::string load_error;  // shown as a red banner when the catalog did not load
    std::string selected_chip;
    bool dark_theme = true;
    float dpi_scale = 1.0f;
    long frame = 0;
    int chips_sort_column = 0;  // column index in the chips table
    bool chips_sort_ascending = true;
    ChipsPanelReport chips_report;
    std::vector<chip::LlmShape> llms;  // models/llm, bundled
    LlmChoice llm_choice;
    LlmPanelReport llm_report;
    std::string compare_chip;  // "" = none: the chip shown beside the selected one
    int roofline_dtype = 0;    // chip::DType of the chips panel's roofline
    KernelsChoice kernels_choice;
    KernelsPanelReport kernels_report;
    SystolicChoice systolic_choice;
    SystolicPanelReport systolic_report;
    std::string robot_cell;  // a bundled cell scenario id; make_app_state picks the first
    RobotFaults robot_faults;  // injected in the Robot panel, or scenario faults=...
    TileSimCache tile_sim;
    int tile_gemm = 4;         // the GEMM of the tile view: P1 (prefill qkv)
    // The tile view shows 0: an LLM layer GEMM, 1: the Models tab's model as loaded (gemm=model),
    // 2: that model as the Models tab's job quantized it (gemm=model-quant).
    int tile_source = 0;
    int tile_batch = 1;        // the batch the Models tab's model is simulated at (scenario tilebatch=N)
    ModelTileCache model_tile;
    bool open_tile_view = false;  // scenario gemm=...: open the Chips panel on the tile view
    RobotPanelReport robot_report;
    std::string deployment;  // a bundled deployment id; make_app_state picks the first
    bool tamper_requested = false;  // scenario tamper=1: press "tamper one byte" once certified
    int certify_tier = 0;                    // scenario tier=N: CertifyChoice::tier
    std::vector<std::string> certify_packs;  // scenario packs=A,B: CertifyChoice::packs
    CertifyPanelReport certify_report;
    CertifyTools certify_tools;
    ModelsChoice models_choice;
    ModelsPanelReport models_report;
    std::vector<UserModel> user_models;  // in the order loaded
    std::string user_model_error;        // the last load that failed, naming the file (a red banner)
    Rect evaluation_rect, graph_rect, open_file_rect;  // the Models tab's buttons, drawn last frame
    char model_path[1024] = {};          // desktop: the Models tab's path field
    // Set by the shell: reads the file the path field names (desktop; throws naming the path), and
    // opens the browser's file picker. Unset: the control is not shown.
    std::function<std::string(const std::string& path)> read_file;
    std::function<void()> open_file_picker;
    GraphViewState graph_view;
    StackPanelReport stack_report;
    std::string active_tab = "Stack";  // the tab drawn last frame
    std::string requested_tab;         // a tab to open on the next frame (URL hash, --scenario)
    std::string scenario_error;        // what apply_scenario could not use, shown as a banner
    LessonView lesson;
    // scenario_items of the state make_app_state built: what scenario_query leaves out.
    std::vector<std::pair<std::string, std::string>> scenario_defaults;
    ScenarioShell share;
    LayoutReport layout;
};

// Loads the bundled catalog into the state (errors go to load_error, never a crash).
AppState make_app_state();

// Applies a scenario given as "key=value&key=value" (the browser's URL hash, the desktop app's
// --scenario): tab=stack|chips|llm|models|kernels|systolic|robot|certify, chip=ID, chip2=ID (compared chip),
// dtype=int8|fp16|bf16, llm=ID, quant=w8a8|..., batch=N, int8kv=0|1, prompt=N, output=N (tokens),
// tp=N (chips, tensor-parallel) and link=GBPS (between them), chip2= (empty: no compared chip); for the models tab model=ID (the file stem of
// models/fashion_*.onnx, e.g. fashion_cnn, or a loaded model's id), quant=fp32|int8|int8-pertensor|w4a8|w4g32a8|w4g32|w8|mixed
// (the LLM's w16a16..w4a16 and these recipes share the key: the two sets of names are disjoint;
// recipe=... sets only the Models tab's),
// calib=minmax|percentile|mse, fuse=0|1, view=graph|evaluation (the graph view, or the evaluation),
// graph=fp32|quant (the graph view shows the model as loaded or after the recipe); for the kernels tab variance=two-pass|single-pass|welford,
// gelu=erf|tanh, fp16=0|1, offset=X, rows=R, cols=C, seed=S; for the systolic tab
// array=RxC, dataflow=os|ws|is; for the robot tab cell=ID (models/cells), t=S (the time shown in
// 3D) and faults=LIST (injected faults, see faults_query); for the chips tab gemm=D1..D4|P1..P4 (the
// layer GEMM of the tile-simulation view, which it opens) or gemm=model|model-quant (that view on the
// Models tab's model, whole, fp32 or as the tab's job quantized it) and tilebatch=N (the batch of that model, 1..4096); for the certify tab deployment=ID
// (models/deployments), tier=0|1|2|3 (0: the manifest's requested_tier; else certify a copy asking for
// that tier), packs=ID,ID (bundled policy packs, models/policy; empty: the manifest's "policies")
// and tamper=1 (verify a copy with one byte changed); lesson=ID starts a bundled
// lesson (models/lessons) at its first step, applying that step's scenario, and step=N after it opens
// its step N (0-based) the same way. Unknown keys or values are
// reported in state.load_error-style banner text (returned, and kept in state.scenario_error);
// the valid parts still apply.
std::string apply_scenario(AppState& state, const std::string& query);

// A link opened over the view shown (the browser page's hashchange: a hash edited by hand, a link
// to another view of the same page, Back): the link names the whole view, so the state becomes the
// defaults plus `query`, what the same link shows opened in a new page. A link with a problem
// (an unknown key or value) applies nothing: the banner (state.scenario_error, returned) names the
// problems and the view stays as it was, where a new page would show the rest over the defaults.
std::string apply_scenario_link(AppState& state, const std::string& query);

// The inverse of apply_scenario (ui/scenario.cpp): the scenario the state shows, as "key=value&...".
// Canonical form: the keys in one fixed order (lesson, step, tab, chip, chip2, dtype, gemm, tilebatch, llm, quant,
// int8kv, batch, prompt, output, tp, link, model, recipe, calib, fuse, variance, gelu, fp16, offset,
// rows, cols, seed, array, dataflow, cell, t, faults, deployment, tier, packs, tamper), each only where it differs
// from what make_app_state starts with (state.scenario_defaults), so the default view is "" and a link
// names only what the user changed. During a lesson every key is written after lesson=ID&step=N, since
// the step's own scenario would otherwise replace a value the user set back to its default. Numbers are
// the shortest text that parses back to the same value; t is rounded to 10 ms (faults are kept to 10 ms
// too). apply_scenario(make_app_state(), scenario_query(s)) shows what s shows: the same tab, chips,
// choices of every panel, the tile view's GEMM (gemm= is written while the Chips tab shows that view),
// the Robot tab's time and faults, the tampered copy. Not part of a scenario: the theme, the sort order
// of the chips table, the camera, playback and zoom, a lesson's answers.
std::string scenario_query(const AppState& state);
// Every key with its value in query form, canonical order, defaults included ("" for lesson, chip2,
// gemm and faults when unset).
std::vector<std::pair<std::string, std::string>> scenario_items(const AppState& state);
// The same scenario as a JSON document: {"stacklab_scenario": 1, "tab": "chips", "batch": 4, "fuse": false, ...}:
// the keys of scenario_query with typed values (strings; whole numbers for step, tilebatch, batch, prompt, output,
// tp, rows, cols, seed, tier; numbers for link, offset, t; true/false for int8kv, fuse, fp16, tamper). A key
// left out takes its default. This is the file the desktop app saves and loads (--save, --load, the
// sidebar) and the browser downloads.
constexpr int kScenarioVersion = 1;
nlohmann::json scenario_json(const AppState& state);
// Applies a scenario document read from `source_name` (a file name, for the messages). Malformed JSON
// (with line, column and byte), a document that is not an object, a missing "stacklab_scenario" or a
// version other than kScenarioVersion ("outdated or unknown") apply nothing: the state is kept. Otherwise
// the document replaces the current scenario: every key first goes back to its default, then each key
// present applies as apply_scenario would; a key of the wrong type, an unknown key or a bad value is
// named and skipped, the rest applies. Returns "" or the banner text, also kept in state.scenario_error
// ("Scenario file NAME: ..."). Never throws.
std::string apply_scenario_json(AppState& state, const std::string& text, const std::string& source_name);
// The sidebar's "Share" section (path field, Save / Load, Copy link, Download), from state.share.
void draw_share_sidebar(AppState& state);

// Fonts, theme and DPI scale. Call after ImGui::CreateContext and before the first frame.
void setup_ui(AppState& state, float dpi_scale);
void apply_theme(const AppState& state);

// Draws the whole window: sidebar (scenario) on the left, panels in tabs on the right.
void draw_app(AppState& state);

// The panels, one function each.
void draw_chips_panel(AppState& state);
void draw_llm_panel(AppState& state);
void draw_kernels_panel(AppState& state);
void draw_systolic_panel(AppState& state);
void draw_robot_panel(AppState& state);
void draw_certify_panel(AppState& state);
void draw_stack_panel(AppState& state);
void draw_models_panel(AppState& state);
// Recomputes the drift report when `choice` differs from what `r` holds.
void update_drift(const KernelsChoice& choice, KernelsPanelReport& r);
// The certification of the state's choice, whole (the Stack view and lessons need the decision now):
// starts one when the choice differs from the report's (or after "Run again") and runs all its stages.
void update_certify(const AppState& state, CertifyPanelReport& r);
// The panel's pace: starts one the same way, then runs one stage per call.
void advance_certify(const AppState& state, CertifyPanelReport& r);
// Stops the job; its partial work is dropped (stage "cancelled"); a new choice or restart starts one.
void cancel_certify(CertifyPanelReport& r);
// Verifies certificate bytes from `source` (a file name, or "pasted text") with the tools' key choice;
// the outcome goes to state.certify_tools (result, message) and the message is returned. Never throws.
std::string verify_certificate_input(AppState& state, const std::string& source, const std::string& bytes);
// Selects audit log entry i and computes its inclusion proof against the latest signed tree head.
void select_log_entry(CertifyAuditLog& log, int i);
// Checks a copy of the log with one byte of the selected entry changed (check_log must say corrupt).
void tamper_log_entry(CertifyAuditLog& log);
// What an export writes: "certificate" (.json), "report-md", "report-html" (policy::render_report),
// "log" (the audit log's bytes); sets `file_name` and `mime`. Throws naming what is missing.
std::string certify_export_bytes(const AppState& state, const std::string& what, std::string& file_name, std::string& mime);
// Saves (desktop, into the tools' folder) or downloads (browser) an export; "" or the problem.
std::string export_certify(AppState& state, const std::string& what);
// The Certify panel's part of ui_report_json beyond the decision: choice, job, log, verify, exports.
nlohmann::json certify_report_extra(const AppState& state);
// Runs the cell when state.robot_cell or the selected chip differ from what `r` holds.
void update_robot(const AppState& state, RobotPanelReport& r);

// Lesson mode (ui/lesson_panel.cpp). start_lesson opens lesson `id` at its first step and returns
// what its scenario could not apply ("" when all applied); go_to_step moves within the active lesson.
std::string start_lesson(AppState& state, const std::string& id);
void go_to_step(AppState& state, int step);
bool lesson_hides(const AppState& state, const std::string& control);  // a lesson step hides this sidebar control
void draw_lesson_sidebar(AppState& state);  // the picker, the step, the question, Back / Next
// The facts of a step's check, from the panels' reports and the lesson's sweeps. The cell sweep (the
// cell on every chip, most of a second each natively) advances by one chip per call, so the frame
// never stalls for the whole catalog; the fact appears when the last chip has run.
lab::Facts lesson_facts(AppState& state, const lab::LessonStep& step);
nlohmann::json lesson_report(const AppState& state);  // the "lesson_panel" part of ui_report_json

// Adds a model the user loaded (`file_name` as given, its bytes) to the Models tab and selects it.
// It must parse and import (nn::onnx::parse_model, nn::import_onnx); otherwise the error, naming
// the file, goes to state.user_model_error and nothing already loaded changes. Returns "" or that error.
std::string load_user_model(AppState& state, const std::string& file_name, std::string bytes);
// The Models tab's combo entries: the shipped classifiers, then the user's models.
std::vector<std::string> model_ids(const AppState& state);
// The Models tab's model `id` as loaded (fp32): a shipped classifier (embedded) or a user's model,
// imported; throws naming the id when there is none (the graph view and the Chips tab's tile view).
nn::Graph models_tab_graph(const AppState& state, const std::string& id);

// True while a panel still has work spread over frames (the Models tab's evaluation, the Robot
// panel's cell run, the Certify job, a lesson's cell sweep on the step that shows it): the desktop
// shell's --frames keeps drawing until it is done.
bool ui_busy(const AppState& state);
bool lesson_busy(const AppState& state);  // the lesson's cell sweep is running for the step shown

// A JSON document describing what the UI showed last frame (used by the browser tests).
std::string ui_report_json(const AppState& state);

}  // namespace stacklab::ui
