// `stacklab eval`: a model on a real data set, with the graph executor of core/nn.
// `stacklab train`: trains a model with core/nn/train.hpp and writes it as ONNX.
// `stacklab quantize`: post-training quantization (core/nn/quantize.hpp) into a QDQ ONNX file.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/pcb_model.hpp"
#include "native/cli.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"
#include "nn/idx.hpp"
#include "nn/quantize.hpp"
#include "nn/train.hpp"
#include "nn/train_mixer.hpp"

namespace stacklab::cli {

using nlohmann::json;

namespace {

// Fraction of the set's images whose first largest logit is the label, with the fast executor.
double accuracy_of(const nn::Graph& g, const nn::ImageSet& set) {
    const nn::Plan plan = nn::prepare(g, nn::Kernels::fast);
    nn::Workspace ws;
    nn::RunOptions ro;
    ro.workspace = &ws;
    int64_t correct = 0;
    for (int64_t first = 0; first < set.count; first += 256) {
        const int64_t m = std::min<int64_t>(256, set.count - first);
        const nn::RunResult r = nn::run(plan, {nn::image_batch(set, first, m)}, ro);
        const auto& y = r.outputs[0];
        const int64_t classes = y.dims[1];
        for (int64_t i = 0; i < m; ++i) {
            const float* row = y.as<float>() + i * classes;
            correct += (std::max_element(row, row + classes) - row) == set.labels[static_cast<size_t>(first + i)];
        }
    }
    return set.count ? double(correct) / double(set.count) : 0.0;
}

// Batches of `batch` images from the set's first n.
std::vector<nn::onnx::Tensor> batches_of(const nn::ImageSet& set, int64_t n, int64_t batch) {
    std::vector<nn::onnx::Tensor> out;
    for (int64_t first = 0; first < std::min(n, set.count); first += batch)
        out.push_back(nn::image_batch(set, first, std::min(batch, std::min(n, set.count) - first)));
    return out;
}

// The images the per-layer SQNR is measured on: the test split's first 256 (not the calibration
// images, whose ranges the quantizer fitted).
constexpr int64_t kSqnrImages = 256;

struct Quantized {
    nn::QuantizeResult result;
    nn::QuantizeOptions options;
    double logits_sqnr_db = 0.0;
};

// Quantizes `model` (read from `path`) with the options of `a`, calibrating on the first --calib
// training images; fills the per-layer SQNR over the test set's first kSqnrImages.
Quantized quantize_with_args(const Args& a, const nn::onnx::Model& model, const std::string& path,
                             const std::string& dir, const nn::ImageSet& test) {
    Quantized q;
    try {
        q.options.recipe = nn::quant_recipe(a.get("--quant", "int8"));
        q.options.calibration = nn::parse_calibration(a.get("--calibration", "minmax"));
        q.options.int4_storage = nn::parse_int4_storage(a.get("--int4-storage", "int4"));
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    if (a.has("--percentile")) q.options.percentile = parse_number("--percentile", a.get("--percentile", ""));
    if (a.has("--mixed-bits")) q.options.mixed_max_bits = parse_number("--mixed-bits", a.get("--mixed-bits", ""));
    q.options.fuse = !a.flag("--no-fuse");
    q.options.fold_batch_norm = !a.flag("--no-fold-bn");
    const int64_t calib = parse_count("--calib", a.get("--calib", "256"));
    const nn::ImageSet train = load_split(dir, "train");
    try {
        q.result = nn::quantize_model(model, batches_of(train, calib, 64), q.options);
        if (q.options.recipe.weights.bits > 0) {
            const nn::Graph fp32 = nn::import_onnx(model), quantized = nn::import_onnx(q.result.model);
            q.logits_sqnr_db = nn::layer_sqnr(fp32, quantized, q.result.layers, batches_of(test, kSqnrImages, 64));
        }
    } catch (const nn::NodeError&) {
        throw;
    } catch (const std::invalid_argument& e) {
        throw InputError(path + ": " + e.what());
    }
    return q;
}

// +inf / -inf (identical / no signal) print as null in JSON.
json db_json(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json quant_report_json(const Quantized& q) {
    json layers = json::array();
    for (const nn::LayerQuant& l : q.result.layers) {
        json j = {{"name", l.name}, {"op_type", l.op_type}, {"fused", l.fused}, {"output", l.output},
                  {"weights", l.weights}, {"weight_bits", l.weight_bits}, {"weight_sqnr_db", db_json(l.weight_sqnr_db)},
                  {"sqnr_db", db_json(l.sqnr_db)}};
        if (!l.error_histogram.empty())  // (q - fp32) / fp32 RMS in nn::kErrorBins bins of nn::kErrorBinWidth
            j["error_histogram"] = {{"bin_width_rms", nn::kErrorBinWidth}, {"counts", l.error_histogram}};
        if (!std::isnan(l.sensitivity_db)) j["sensitivity_db"] = db_json(l.sensitivity_db);
        if (!l.note.empty()) j["note"] = l.note;
        layers.push_back(j);
    }
    return {{"recipe", q.options.recipe.name},
            {"calibration", nn::calibration_name(q.options.calibration)},
            {"calibration_samples", q.result.calibration_samples},
            {"sqnr_images", kSqnrImages},
            {"fused", q.options.fuse},
            {"fusions", q.result.fusions},
            {"folded_batch_norms", q.result.folded_batch_norms},
            {"logits_sqnr_db", db_json(q.logits_sqnr_db)},
            {"per_layer", layers}};
}

void print_quant_report(const Quantized& q) {
    std::printf("  quantization  %s, %s calibration on %lld training images%s\n", q.options.recipe.name.c_str(),
                nn::calibration_name(q.options.calibration), static_cast<long long>(q.result.calibration_samples),
                q.options.fuse ? "" : ", no fusion");
    for (const std::string& f : q.result.fusions) std::printf("  fused         %s\n", f.c_str());
    for (const std::string& f : q.result.folded_batch_norms) std::printf("  folded BN     %s\n", f.c_str());
    std::printf("  SQNR over the first %lld test images (dB): logits %s\n", static_cast<long long>(kSqnrImages),
                fixed(q.logits_sqnr_db, 2).c_str());
    std::printf("  %-24s %-20s %-22s %10s %10s\n", "layer", "op", "weights", "w SQNR", "out SQNR");
    for (const nn::LayerQuant& l : q.result.layers) {
        std::string op = l.op_type;
        for (const std::string& f : l.fused) op += "+" + f;
        std::printf("  %-24s %-20s %-22s %10s %10s%s\n", l.name.c_str(), op.c_str(), l.weights.c_str(),
                    l.weight_bits ? fixed(l.weight_sqnr_db, 2).c_str() : "-", fixed(l.sqnr_db, 2).c_str(),
                    l.note.empty() ? "" : ("  (" + l.note + ")").c_str());
    }
}

}  // namespace

// Where `--data` points: "fashion-mnist" is the copy the build decompressed (CMakeLists.txt), any
// other value a directory holding the IDX files under their original names.
std::string dataset_dir(const std::string& data) {
    if (data == "fashion-mnist") return std::string(STACKLAB_DATA_DIR) + "/fashion-mnist";
    return data;
}

nn::ImageSet load_split(const std::string& dir, const std::string& split) {
    const std::string images_path = dir + "/" + split + "-images-idx3-ubyte", labels_path = dir + "/" + split + "-labels-idx1-ubyte";
    // One statement each: the order of the reads (and so the first error) must not depend on the compiler.
    const nn::IdxArray images = nn::parse_idx(read_file(images_path), images_path);
    const nn::IdxArray labels = nn::parse_idx(read_file(labels_path), labels_path);
    return nn::make_image_set(images, labels, 256, dir);
}

nn::ImageSet load_test_split(const std::string& data) { return load_split(dataset_dir(data), "t10k"); }

namespace {

// `train --model pcb-cnn`: the PCB cell's defect classifier (core/lab/pcb_model.hpp) on boards the
// cell's renderer draws, quantized to int8; --out gets the QDQ model, the fp32 one goes next to it
// (X_int8.onnx -> X_fp32.onnx, else X.onnx -> X_fp32.onnx). Accuracy on held-out boards: seeds
// 1..250 (below the training seeds), 4 boards each, one per class.
int train_pcb_cnn(const Args& a) {
    const std::string out = a.get("--out", "");
    const std::string stem = out.size() > 5 && out.compare(out.size() - 5, 5, ".onnx") == 0 ? out.substr(0, out.size() - 5) : out;
    const std::string fp32_out =
        (stem.size() > 5 && stem.compare(stem.size() - 5, 5, "_int8") == 0 ? stem.substr(0, stem.size() - 5) : stem) + "_fp32.onnx";
    lab::PcbTrainOptions o;
    o.epochs = parse_count("--epochs", a.get("--epochs", std::to_string(o.epochs)));
    o.seed = static_cast<uint32_t>(parse_count("--seed", a.get("--seed", std::to_string(o.seed))));
    const std::string command = "stacklab train --model pcb-cnn --out " + out + " --epochs " + std::to_string(o.epochs) +
                                " --seed " + std::to_string(o.seed);
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    auto seconds = [&] { return std::chrono::duration<double>(clock::now() - t0).count(); };
    json epochs = json::array();
    const lab::PcbTrained r = lab::train_pcb_model(o, command, [&](const nn::train::EpochReport& e) {
        const double s = seconds();
        epochs.push_back({{"epoch", e.epoch + 1}, {"steps", e.steps}, {"mean_loss", e.mean_loss}, {"seconds", s}});
        if (!a.json) std::printf("epoch %d  steps %lld  mean loss %s  %s s\n", e.epoch + 1, static_cast<long long>(e.steps),
                                 fixed(e.mean_loss, 5).c_str(), fixed(s, 1).c_str());
        std::fflush(stdout);
    });
    const double total_seconds = seconds();
    const std::string int8_bytes = nn::onnx::serialize_model(r.int8), fp32_bytes = nn::onnx::serialize_model(r.fp32);
    for (const auto& [path, bytes] : {std::make_pair(out, &int8_bytes), std::make_pair(fp32_out, &fp32_bytes)}) {
        std::ofstream f(path, std::ios::binary);
        if (!(f << *bytes)) throw InputError("cannot write " + path);
    }
    const nn::ImageSet held_out = lab::render_board_set(1, 250, 4);
    const double acc_fp32 = lab::set_accuracy(nn::load_onnx(fp32_bytes, fp32_out), held_out);
    const double acc_int8 = lab::set_accuracy(nn::load_onnx(int8_bytes, out), held_out);
    if (a.json) {
        std::cout << json{{"model", "pcb-cnn"}, {"out", out}, {"fp32_out", fp32_out}, {"command", command}, {"epochs", epochs},
                          {"seed", o.seed}, {"train_boards", o.seeds * o.boards_per_seed}, {"seconds", total_seconds},
                          {"int8_bytes", int8_bytes.size()}, {"fp32_bytes", fp32_bytes.size()},
                          {"logits_sqnr_db", r.logits_sqnr_db}, {"held_out_n", held_out.count},
                          {"held_out_accuracy_fp32", acc_fp32}, {"held_out_accuracy_int8", acc_int8}}
                         .dump(2)
                  << "\n";
        return 0;
    }
    std::printf("wrote %s (int8 QDQ, %zu bytes) and %s (fp32, %zu bytes) after %s s (training + quantization)\n", out.c_str(),
                int8_bytes.size(), fp32_out.c_str(), fp32_bytes.size(), fixed(total_seconds, 1).c_str());
    std::printf("int8 logits SQNR vs fp32 on the calibration boards: %s dB\n", fixed(r.logits_sqnr_db, 2).c_str());
    std::printf("held-out accuracy on %lld boards (seeds 1..250): fp32 %s, int8 %s\n", static_cast<long long>(held_out.count),
                fixed(acc_fp32, 4).c_str(), fixed(acc_int8, 4).c_str());
    return 0;
}

}  // namespace

// `train`: the CNN of core/nn/train.hpp or the MLP-Mixer of core/nn/train_mixer.hpp on the training
// split, written as ONNX, then its accuracy on the test split with the same executor `eval` uses;
// `--model pcb-cnn`: the PCB cell's classifier (above). Wall-clock times are reported, never used.
int cmd_train(const Args& a) {
    if (!a.has("--out")) throw UsageError("train needs --model cnn|mixer|pcb-cnn and --out FILE.onnx");
    const std::string model = a.get("--model", "cnn");
    if (model == "pcb-cnn") return train_pcb_cnn(a);
    if (model != "cnn" && model != "mixer") throw UsageError("--model " + model + " cannot be trained (cnn, mixer and pcb-cnn can)");
    const bool mixer = model == "mixer";
    const std::string out = a.get("--out", "");
    const std::string data = a.get("--data", "fashion-mnist");
    const std::string dir = dataset_dir(data);
    nn::train::TrainOptions o;
    // Defaults per model (models/README.md). The Mixer's were set once, from the time of a
    // 6000-image epoch and the 15-minute training budget, not tuned by a search.
    o.epochs = parse_count("--epochs", a.get("--epochs", mixer ? "10" : "8"));
    o.seed = static_cast<uint32_t>(parse_count("--seed", a.get("--seed", "1")));
    o.batch = parse_count("--batch", a.get("--batch", mixer ? "64" : "32"));
    o.learning_rate = mixer ? 2e-3f : 1e-3f;
    o.lr_decay = mixer ? 0.75f : 0.8f;
    if (a.has("--limit")) o.limit = parse_count("--limit", a.get("--limit", ""));
    const nn::ImageSet train = load_split(dir, "train");
    const nn::ImageSet test = load_split(dir, "t10k");
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    auto seconds = [&] { return std::chrono::duration<double>(clock::now() - t0).count(); };
    json epochs = json::array();
    auto on_epoch = [&](const nn::train::EpochReport& e) {
        const double s = seconds();
        epochs.push_back({{"epoch", e.epoch + 1}, {"steps", e.steps}, {"mean_loss", e.mean_loss}, {"seconds", s}});
        if (!a.json) std::printf("epoch %d  steps %lld  mean loss %s  %s s\n", e.epoch + 1, static_cast<long long>(e.steps),
                                 fixed(e.mean_loss, 5).c_str(), fixed(s, 1).c_str());
        std::fflush(stdout);
    };
    const std::string command = "stacklab train --model " + model + " --out " + out + " --epochs " + std::to_string(o.epochs) +
                                " --seed " + std::to_string(o.seed) + " --batch " + std::to_string(o.batch) +
                                (o.limit ? " --limit " + std::to_string(o.limit) : std::string());
    const std::vector<std::pair<std::string, std::string>> metadata = {
        {"trained_by", command},
        {"dataset", "Fashion-MNIST train split" + (o.limit ? ", first " + std::to_string(o.limit) + " images" : std::string())}};
    nn::onnx::Model exported;
    size_t parameters = 0;
    if (mixer) {
        const nn::train::MixerTrainResult r = nn::train::train_mixer(train, nn::train::MixerConfig{}, o, on_epoch);
        exported = nn::train::export_mixer_onnx(r.params, metadata);
        parameters = nn::train::mixer_parameter_count(r.params);
    } else {
        const nn::train::TrainResult r = nn::train::train_cnn(train, nn::train::CnnConfig{}, o, on_epoch);
        exported = nn::train::export_cnn_onnx(r.params, metadata);
        for (const auto* v : r.params.arrays()) parameters += v->size();
    }
    const double train_seconds = seconds();
    const std::string bytes = nn::onnx::serialize_model(exported);
    {
        std::ofstream f(out, std::ios::binary);
        if (!(f << bytes)) throw InputError("cannot write " + out);
    }
    const nn::Graph g = nn::load_onnx(bytes, out);
    const double accuracy = accuracy_of(g, test);
    if (a.json) {
        std::cout << json{{"model", model}, {"out", out}, {"command", command}, {"epochs", epochs}, {"seed", o.seed},
                          {"train_images", o.limit ? std::min<int64_t>(o.limit, train.count) : train.count},
                          {"train_seconds", train_seconds}, {"parameters", parameters}, {"bytes", bytes.size()},
                          {"test_n", test.count}, {"test_accuracy", accuracy}}
                         .dump(2)
                  << "\n";
        return 0;
    }
    std::printf("wrote %s (%zu parameters, %zu bytes) after %s s of training\n", out.c_str(), parameters, bytes.size(),
                fixed(train_seconds, 1).c_str());
    std::printf("test accuracy %s on %lld images\n", fixed(accuracy, 4).c_str(), static_cast<long long>(test.count));
    return 0;
}

// `eval`: an fp32 classifier taking [N,1,H,W] pixels / 255 and giving [N,classes] logits, on the
// test split. The prediction is the first largest logit.
int cmd_eval(const Args& a) {
    if (!a.has("--model") || !a.has("--data")) throw UsageError("eval needs --model FILE.onnx and --data fashion-mnist|DIR");
    const std::string quant = a.get("--quant", "fp32");
    const std::string kernels_text = a.get("--kernels", "fast");
    if (kernels_text != "fast" && kernels_text != "reference") throw UsageError("--kernels expects fast or reference");
    const nn::Kernels kernels = kernels_text == "fast" ? nn::Kernels::fast : nn::Kernels::reference;
    const int batch = parse_count("--batch", a.get("--batch", "64"));
    const std::string model_path = a.get("--model", "");
    const std::string dir = dataset_dir(a.get("--data", ""));
    const nn::ImageSet set = load_split(dir, "t10k");
    const int64_t n = a.has("--limit") ? std::min<int64_t>(set.count, parse_count("--limit", a.get("--limit", ""))) : set.count;
    const nn::onnx::Model model = nn::onnx::parse_model(read_file(model_path), model_path);
    Quantized q;
    const bool quantized = quant != "fp32";
    if (quantized) q = quantize_with_args(a, model, model_path, dir, set);
    const nn::Graph g = nn::import_onnx(quantized ? q.result.model : model);
    if (g.inputs.size() != 1 || g.outputs.size() != 1)
        throw InputError(model_path + ": eval needs a model with one input and one output, not " +
                         std::to_string(g.inputs.size()) + " and " + std::to_string(g.outputs.size()));
    const nn::Plan plan = nn::prepare(g, kernels);
    nn::Workspace ws;
    nn::RunOptions ro;
    ro.workspace = &ws;
    std::vector<double> node_ms(g.nodes.size(), 0.0);
    int64_t correct = 0;
    double total_ms = 0.0;
    std::vector<int> predictions;
    for (int64_t first = 0; first < n; first += batch) {
        const int64_t m = std::min<int64_t>(batch, n - first);
        const nn::RunResult r = nn::run(plan, {nn::image_batch(set, first, m)}, ro);
        const auto& y = r.outputs[0];
        if (y.dtype != nn::onnx::DataType::FLOAT || y.dims.size() != 2 || y.dims[0] != m || y.dims[1] < 1)
            throw InputError(model_path + ": the output is " + nn::onnx::dtype_name(y.dtype) + " " + nn::shape_text(y.dims) +
                             ", expected float [" + std::to_string(m) + ", classes]");
        for (size_t k = 0; k < r.timings.size(); ++k) {
            node_ms[k] += r.timings[k].ms;
            total_ms += r.timings[k].ms;
        }
        const int64_t classes = y.dims[1];
        for (int64_t i = 0; i < m; ++i) {
            const float* row = y.as<float>() + i * classes;
            const int predicted = static_cast<int>(std::max_element(row, row + classes) - row);
            predictions.push_back(predicted);
            correct += predicted == set.labels[static_cast<size_t>(first + i)];
        }
    }
    const double accuracy = n ? double(correct) / double(n) : 0.0;
    const double ms_per_image = n ? total_ms / double(n) : 0.0;
    if (a.json) {
        json nodes = json::array();
        for (size_t k = 0; k < g.nodes.size(); ++k)
            nodes.push_back({{"name", g.nodes[k].label()}, {"op_type", g.nodes[k].proto.op_type},
                             {"kernel", plan.node_kernels[k]}, {"ms_per_image", n ? node_ms[k] / double(n) : 0.0}});
        json doc = {{"model", model_path}, {"data", a.get("--data", "")}, {"quant", quant},
                    {"kernels", nn::kernels_name(kernels)}, {"n", n}, {"correct", correct},
                    {"accuracy", accuracy}, {"ms_per_image", ms_per_image}, {"batch", batch}, {"per_node", nodes}};
        if (quantized) {
            const json r = quant_report_json(q);
            for (auto it = r.begin(); it != r.end(); ++it)
                if (it.key() != "recipe") doc[it.key()] = it.value();
        } else {
            doc["per_layer"] = json::array();
        }
        if (a.flag("--predictions")) doc["predictions"] = predictions;
        std::cout << doc.dump(2) << "\n";
        return 0;
    }
    std::printf("%s on %s (%lld test images, batch %d, %s kernels, %s)\n", model_path.c_str(), a.get("--data", "").c_str(),
                static_cast<long long>(n), batch, nn::kernels_name(kernels), quant.c_str());
    std::printf("  accuracy      %s (%lld correct)\n", fixed(accuracy, 4).c_str(), static_cast<long long>(correct));
    std::printf("  ms per image  %s\n", fixed(ms_per_image, 4).c_str());
    if (quantized) print_quant_report(q);
    std::printf("  %-24s %-20s %-22s %s\n", "node", "op", "kernel", "ms/image");
    for (size_t k = 0; k < g.nodes.size(); ++k)
        std::printf("  %-24s %-20s %-22s %s\n", g.nodes[k].label().c_str(), g.nodes[k].proto.op_type.c_str(),
                    plan.node_kernels[k].c_str(), fixed(n ? node_ms[k] / double(n) : 0.0, 5).c_str());
    return 0;
}

}  // namespace stacklab::cli

namespace stacklab::cli {

// `quantize`: the model quantized with --quant (calibrated on the training split), written as a
// QDQ ONNX file that ONNX Runtime runs too; prints the per-layer report.
int cmd_quantize(const Args& a) {
    if (!a.has("--model") || !a.has("--out")) throw UsageError("quantize needs --model FILE.onnx and --out FILE.onnx");
    const std::string model_path = a.get("--model", ""), out = a.get("--out", "");
    const std::string dir = dataset_dir(a.get("--data", "fashion-mnist"));
    const nn::ImageSet test = load_split(dir, "t10k");
    nn::onnx::Model model = nn::onnx::parse_model(read_file(model_path), model_path);
    nn::import_onnx(model);  // the importer's errors (unsupported ops, bad shapes) before any work
    Quantized q = quantize_with_args(a, model, model_path, dir, test);
    std::string command = "stacklab quantize --model " + model_path + " --quant " + q.options.recipe.name + " --calib " +
                          a.get("--calib", "256") + " --calibration " + nn::calibration_name(q.options.calibration) +
                          (q.options.fuse ? "" : " --no-fuse") + (q.options.fold_batch_norm ? "" : " --no-fold-bn") +
                          (q.options.int4_storage == nn::Int4Storage::int4 ? "" : " --int4-storage int8");
    q.result.model.metadata_props.push_back({"quantized_by", command});
    const std::string bytes = nn::onnx::serialize_model(q.result.model);
    {
        std::ofstream f(out, std::ios::binary);
        if (!(f << bytes)) throw InputError("cannot write " + out);
    }
    if (a.json) {
        json doc = quant_report_json(q);
        doc["model"] = model_path;
        doc["out"] = out;
        doc["bytes"] = bytes.size();
        doc["int4_storage"] = nn::int4_storage_name(q.options.int4_storage);
        doc["command"] = command;
        std::cout << doc.dump(2) << "\n";
        return 0;
    }
    std::printf("wrote %s (%zu bytes, QDQ form)\n", out.c_str(), bytes.size());
    print_quant_report(q);
    return 0;
}

}  // namespace stacklab::cli
