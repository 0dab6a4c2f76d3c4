// The Models tab's job: quantize a shipped classifier and evaluate it on the embedded Fashion-MNIST
// slice, in steps spread over frames. The arithmetic is that of `stacklab eval --limit 1000`
// (native/cli_nn.cpp): the same calibration batches (the first 256 training images, 64 at a time),
// the same per-layer SQNR images (the first 256 test images, 64 at a time), the same evaluation
// batches of 64 on the fast kernels and the same prediction rule (the first largest logit), so the
// page, the desktop app and both CLIs report the same accuracy and the same predictions.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "nn/graph.hpp"
#include "ui/app.hpp"
#include "ui/models_data.hpp"

namespace stacklab::ui {

struct ModelsWork {
    nn::onnx::Model fp32_model;
    nn::ImageSet calib;
    std::shared_ptr<const nn::ImageSet> test;
    // Graphs live behind unique_ptr: a Plan keeps a pointer to its graph.
    std::unique_ptr<nn::Graph> fp32_graph, quant_graph;
    nn::Plan fp32_plan, quant_plan;
    nn::Workspace workspace;  // recycled between the evaluation's batches (frames)
};

namespace {

std::string stem_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    const size_t dot = name.rfind(".onnx");
    return dot == std::string::npos ? name : name.substr(0, dot);
}

const std::string* slice_file(const std::string& name) {
    for (const auto& f : embedded_fashion_slice())
        if (f.name == name) return &f.bytes;
    return nullptr;
}

nn::ImageSet slice_set(const std::string& split) {
    const std::string* images = slice_file(split + "-images-idx3-ubyte");
    const std::string* labels = slice_file(split + "-labels-idx1-ubyte");
    if (!images || !labels)
        throw std::invalid_argument("this build embedded no Fashion-MNIST " + split +
                                    " slice (scripts/install-deps.sh installs dataset-fashion-mnist; then rebuild)");
    // One statement each, as in the CLI: the first error does not depend on the compiler.
    const nn::IdxArray im = nn::parse_idx(*images, split + "-images-idx3-ubyte");
    const nn::IdxArray lb = nn::parse_idx(*labels, split + "-labels-idx1-ubyte");
    return nn::make_image_set(im, lb, 256, "embedded Fashion-MNIST slice");
}

// Batches of kModelsBatch images from the set's first n (the CLI's batches_of).
std::vector<nn::onnx::Tensor> batches_of(const nn::ImageSet& set, int64_t n) {
    std::vector<nn::onnx::Tensor> out;
    n = std::min(n, set.count);
    for (int64_t first = 0; first < n; first += kModelsBatch)
        out.push_back(nn::image_batch(set, first, std::min(kModelsBatch, n - first)));
    return out;
}

// The predictions (first largest logit) of one batch's [m, classes] output.
void predict(const nn::onnx::Tensor& y, int64_t m, std::vector<int>& out, int64_t& classes) {
    if (y.dtype != nn::onnx::DataType::FLOAT || y.dims.size() != 2 || y.dims[0] != m || y.dims[1] < 1)
        throw std::invalid_argument(std::string("the model's output is ") + nn::onnx::dtype_name(y.dtype) + " " + nn::shape_text(y.dims) +
                                    ", expected float [" + std::to_string(m) + ", classes]");
    classes = y.dims[1];
    for (int64_t i = 0; i < m; ++i) {
        const float* row = y.as<float>() + i * classes;
        out.push_back(int(std::max_element(row, row + classes) - row));
    }
}

void start(const ModelsChoice& ch, ModelsPanelReport& r, const std::vector<UserModel>& user_models) {
    const long computations = r.computations + 1;
    // A job still running for the previous choice is cancelled (nobody will see its result) and
    // joined once it has stopped.
    RetiredJobs retired = std::move(r.retired);
    retired.retire(r.worker);
    r = ModelsPanelReport();
    r.retired = std::move(retired);
    r.computations = computations;
    r.choice = ch;
    auto w = std::make_shared<ModelsWork>();
    const EmbeddedFile* file = nullptr;
    for (const auto& f : embedded_classifiers())
        if (stem_of(f.name) == ch.model) file = &f;
    const UserModel* user = nullptr;
    for (const auto& u : user_models)
        if (u.id == ch.model) user = &u;
    if (file) {
        w->fp32_model = nn::onnx::parse_model(file->bytes, file->name);
    } else if (user) {
        if (!user->fashion_note.empty())
            throw std::invalid_argument(user->file + " cannot be evaluated on Fashion-MNIST: " + user->fashion_note +
                                        " (the graph view still shows it)");
        w->fp32_model = nn::onnx::parse_model(*user->bytes, user->file);
    } else {
        throw std::invalid_argument("no shipped or loaded classifier \"" + ch.model + "\"");
    }
    w->calib = slice_set("train");
    w->test = std::make_shared<const nn::ImageSet>(slice_set("t10k"));
    r.test_images = w->test;
    r.n = std::min(kModelsTestImages, w->test->count);
    r.work = w;
    r.stage = "quantize";
}

// One step of the job; returns when the step is done.
void step(ModelsPanelReport& r) {
    ModelsWork& w = *r.work;
    if (r.stage == "quantize") {
        nn::QuantizeOptions o;
        o.recipe = nn::quant_recipe(r.choice.recipe);
        o.calibration = nn::CalibrationMethod(r.choice.calibration);
        o.fuse = r.choice.fuse;
        const bool quantized = r.choice.recipe != "fp32";  // the CLI's rule: fp32 runs the model as it is
        if (quantized) r.quant = nn::quantize_model(w.fp32_model, batches_of(w.calib, kModelsCalibImages), o);
        w.fp32_graph = std::make_unique<nn::Graph>(nn::import_onnx(w.fp32_model));
        w.quant_graph = std::make_unique<nn::Graph>(nn::import_onnx(quantized ? r.quant.model : w.fp32_model));
        if (w.quant_graph->inputs.size() != 1 || w.quant_graph->outputs.size() != 1)
            throw std::invalid_argument("the Models tab needs a model with one input and one output, not " +
                                        std::to_string(w.quant_graph->inputs.size()) + " and " +
                                        std::to_string(w.quant_graph->outputs.size()));
        w.fp32_plan = nn::prepare(*w.fp32_graph, nn::Kernels::fast);
        w.quant_plan = nn::prepare(*w.quant_graph, nn::Kernels::fast);
        r.stage = "sqnr";
    } else if (r.stage == "sqnr") {
        r.logits_sqnr_db = std::numeric_limits<double>::infinity();
        if (r.choice.recipe != "fp32" && nn::quant_recipe(r.choice.recipe).weights.bits > 0)
            r.logits_sqnr_db = nn::layer_sqnr(*w.fp32_graph, *w.quant_graph, r.quant.layers, batches_of(*w.test, kModelsSqnrImages));
        r.stage = "eval";
    } else if (r.stage == "eval") {
        const int64_t first = r.evaluated, m = std::min(kModelsBatch, r.n - first);
        const nn::onnx::Tensor x = nn::image_batch(*w.test, first, m);
        nn::RunOptions ro;
        ro.workspace = &w.workspace;
        const nn::RunResult fp = nn::run(w.fp32_plan, {x}, ro);
        const nn::RunResult q = nn::run(w.quant_plan, {x}, ro);
        predict(fp.outputs[0], m, r.fp32_predictions, r.classes);
        predict(q.outputs[0], m, r.predictions, r.classes);
        if (first == 0) {
            r.batch_timings = q.timings;
            r.batch_ms = 0;
            for (const auto& t : q.timings) r.batch_ms += t.ms;
            r.confusion.assign(size_t(r.classes * r.classes), 0);
        }
        for (int64_t i = first; i < first + m; ++i) {
            const int label = w.test->labels[size_t(i)];
            r.fp32_correct += r.fp32_predictions[size_t(i)] == label;
            r.quant_correct += r.predictions[size_t(i)] == label;
            if (label < r.classes) ++r.confusion[size_t(label * r.classes + r.predictions[size_t(i)])];
        }
        r.evaluated += m;
        if (r.evaluated >= r.n) {
            r.stage = "done";
            r.work.reset();  // graphs and plans are no longer needed; the report holds the numbers
        }
    }
}

}  // namespace

namespace {

// Why the model cannot run on the Fashion-MNIST slice the way the shipped classifiers do ("" when it
// can): one float input that takes [kModelsBatch,1,28,28] (the evaluation's batches) and one output
// that shape inference makes float [kModelsBatch,10], the ten Fashion-MNIST classes.
std::string fashion_note(const nn::Graph& imported) {
    if (imported.inputs.size() != 1 || imported.outputs.size() != 1)
        return "it has " + std::to_string(imported.inputs.size()) + " inputs and " + std::to_string(imported.outputs.size()) +
               " outputs, not one image input and one logits output";
    const nn::TensorInfo& in = imported.tensors[size_t(imported.inputs[0])];
    const std::string in_text = std::string(nn::onnx::dtype_name(in.dtype)) + " " + (in.has_shape ? nn::shape_text(in.shape) : "[unknown rank]");
    if (in.dtype != nn::onnx::DataType::FLOAT || !in.has_shape || in.shape.size() != 4)
        return "its input '" + in.name + "' is " + in_text + ", not float [N,1,28,28]";
    const int64_t want[3] = {1, 28, 28};
    for (size_t i = 1; i < 4; ++i)
        if (in.shape[i] != nn::kUnknownDim && in.shape[i] != want[i - 1])
            return "its input '" + in.name + "' is " + in_text + ", not float [N,1,28,28]";
    nn::Graph g = imported;
    try {
        nn::infer_shapes(g, {{kModelsBatch, 1, 28, 28}});
    } catch (const std::exception& e) {
        return "a batch of " + std::to_string(kModelsBatch) + " images [" + std::to_string(kModelsBatch) +
               ",1,28,28] does not fit it: " + e.what();
    }
    const nn::TensorInfo& out = g.tensors[size_t(g.outputs[0])];
    const std::vector<int64_t> logits = {kModelsBatch, 10};
    if (out.dtype != nn::onnx::DataType::FLOAT || !out.has_shape || out.shape != logits)
        return "its output '" + out.name + "' is " + nn::onnx::dtype_name(out.dtype) + " " +
               (out.has_shape ? nn::shape_text(out.shape) : "[unknown rank]") + " for a batch of " +
               std::to_string(kModelsBatch) + ", not float [" + std::to_string(kModelsBatch) + ",10] (ten classes)";
    return "";
}

}  // namespace

std::vector<std::string> model_ids(const AppState& state) {
    std::vector<std::string> ids = bundled_classifier_ids();
    for (const auto& u : state.user_models) ids.push_back(u.id);
    return ids;
}

std::string load_user_model(AppState& state, const std::string& file_name, std::string bytes) {
    UserModel u;
    u.file = file_name;
    try {
        const nn::Graph g = nn::import_onnx(nn::onnx::parse_model(bytes, file_name));
        u.nodes = int64_t(g.nodes.size());
        u.fashion_note = fashion_note(g);
    } catch (const std::exception& e) {
        // The importer's messages name the node, op and opset (or the field and byte offset), not
        // always the file: the banner does.
        const std::string what = e.what();
        state.user_model_error = "Could not load " + file_name + ": " + what;
        return state.user_model_error;
    }
    const auto taken = model_ids(state);
    const std::string stem = stem_of(file_name).empty() ? "model" : stem_of(file_name);
    u.id = stem;
    for (int k = 2; std::find(taken.begin(), taken.end(), u.id) != taken.end(); ++k) u.id = stem + "-" + std::to_string(k);
    u.bytes = std::make_shared<const std::string>(std::move(bytes));
    state.user_models.push_back(u);
    state.user_model_error.clear();
    state.models_choice.model = u.id;  // as Netron does: a model opened is the one shown
    state.graph_view.selected = -1;
    return "";
}

nn::Graph models_tab_graph(const AppState& state, const std::string& id) {
    for (const auto& f : embedded_classifiers())
        if (stem_of(f.name) == id) return nn::load_onnx(f.bytes, f.name);
    for (const auto& u : state.user_models)
        if (u.id == id) return nn::load_onnx(*u.bytes, u.file);
    throw std::invalid_argument("no model \"" + id + "\" in the Models tab");
}

std::vector<std::string> bundled_classifier_ids() {
    std::vector<std::string> ids;
    for (const auto& f : embedded_classifiers()) ids.push_back(stem_of(f.name));
    return ids;
}

namespace {

// One step, timed, with its error turned into the report's (the job ends there).
void timed_step(ModelsPanelReport& r) {
    using clock = std::chrono::steady_clock;
    const auto s0 = clock::now();
    const std::string stage = r.stage;
    try {
        step(r);
    } catch (const std::exception& e) {
        r.stage = "error";
        r.error = e.what();
        r.work.reset();
    }
    const double ms = std::chrono::duration<double, std::milli>(clock::now() - s0).count();
    r.max_step_ms = std::max(r.max_step_ms, ms);
    (stage == "quantize" ? r.quantize_ms : stage == "sqnr" ? r.sqnr_ms : r.eval_ms) += ms;
}

#if !defined(__EMSCRIPTEN__)
// Takes the worker's last published report, keeping what belongs to the UI side.
void adopt(ModelsPanelReport& r) {
    std::optional<ModelsPanelReport> latest = r.worker->take_newer();
    if (!latest) return;
    ModelsPanelReport next = std::move(*latest);
    next.worker = std::move(r.worker);
    next.retired = std::move(r.retired);
    next.frames = r.frames;
    next.threaded = true;
    r = std::move(next);
}
#endif

}  // namespace

void cancel_models(ModelsPanelReport& r) {
    if (!r.busy()) return;
    r.retired.retire(r.worker);
    r.work.reset();
    r.stage = "cancelled";
}

void restart_models(ModelsPanelReport& r) {
    cancel_models(r);
    r.stage = "restart";  // update_models starts the job again
}

void update_models(const ModelsChoice& ch, ModelsPanelReport& r, double budget_ms, const std::vector<UserModel>& user_models) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    // Cancelled jobs are joined once their thread has left its last step (never waited for here).
    r.retired.prune();
    try {
        if (r.computations == 0 || !(r.choice == ch) || r.stage == "restart") {
            start(ch, r, user_models);
#if !defined(__EMSCRIPTEN__)
            r.threaded = true;
            ModelsPanelReport job = r;  // the thread's copy holds the work
            job.retired = {};
            // The job's steps in order, the report (less the work) published after each.
            r.worker = ModelsWorker::start([job = std::move(job)](ModelsWorker& w) mutable {
                while (job.busy() && !w.cancelled()) {
                    timed_step(job);
                    ModelsPanelReport published = job;
                    published.work.reset();
                    w.publish(std::move(published));
                }
            });
            r.work.reset();
#endif
            return;  // this frame shows "quantizing" before the step that takes longest
        }
        if (!r.busy()) return;
        ++r.frames;
#if !defined(__EMSCRIPTEN__)
        adopt(r);
        (void)budget_ms, (void)t0;
#else
        do {
            const std::string stage = r.stage;
            timed_step(r);
            ++r.ui_thread_steps;
            // quantize_model and layer_sqnr are one core call each (they cannot be split here): end
            // the frame after either, so the progress bar shows the next stage before it runs.
            if (stage != "eval") break;
        } while (r.busy() && std::chrono::duration<double, std::milli>(clock::now() - t0).count() < budget_ms);
#endif
    } catch (const std::exception& e) {
        r.stage = "error";
        r.error = e.what();
        r.work.reset();
    }
}

}  // namespace stacklab::ui
