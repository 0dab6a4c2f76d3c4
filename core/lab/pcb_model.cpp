#include "lab/pcb_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "nn/executor.hpp"
#include "nn/quantize.hpp"

namespace stacklab::lab {

std::string pcb_class_list() {
    std::string s;
    for (int k = 0; k < robot::kDefectClasses; ++k)
        s += (k ? "," : "") + std::string(robot::defect_name(static_cast<robot::Defect>(k)));
    return s;
}

nn::ImageSet render_board_set(std::uint64_t first_seed, int seeds, int boards_per_seed) {
    if (seeds < 1) throw std::invalid_argument("render_board_set: seeds must be >= 1, not " + std::to_string(seeds));
    if (boards_per_seed < 1)
        throw std::invalid_argument("render_board_set: boards_per_seed must be >= 1, not " + std::to_string(boards_per_seed));
    nn::ImageSet set;
    set.rows = set.cols = kPcbImageSize;
    set.count = static_cast<int64_t>(seeds) * boards_per_seed;
    set.pixels.reserve(static_cast<size_t>(set.count * set.rows * set.cols));
    set.labels.reserve(static_cast<size_t>(set.count));
    for (int s = 0; s < seeds; ++s)
        for (int i = 0; i < boards_per_seed; ++i) {
            const auto d = static_cast<robot::Defect>(i % robot::kDefectClasses);
            const robot::BoardImage im = robot::render_board(i, d, first_seed + static_cast<std::uint64_t>(s), kPcbImageSize);
            set.pixels.insert(set.pixels.end(), im.pixels.begin(), im.pixels.end());
            set.labels.push_back(static_cast<std::uint8_t>(d));
        }
    return set;
}

namespace {

nn::onnx::Tensor image_tensor(const std::vector<std::uint8_t>& pixels, int64_t h, int64_t w) {
    nn::ImageSet one;
    one.count = 1;
    one.rows = h;
    one.cols = w;
    one.pixels = pixels;
    one.labels = {0};
    return nn::image_batch(one, 0, 1);  // pixel / 255: the training convention
}

// Predicted class (first largest logit) of each row of a [m, classes] float output.
void argmax_rows(const nn::onnx::Tensor& y, int64_t m, std::vector<int>& out) {
    if (y.dtype != nn::onnx::DataType::FLOAT || y.dims.size() != 2 || y.dims[0] != m || y.dims[1] < 1)
        throw std::invalid_argument("classifier output: expected float [" + std::to_string(m) + ", classes], got " +
                                    nn::shape_text(y.dims));
    const int64_t classes = y.dims[1];
    for (int64_t i = 0; i < m; ++i) {
        const float* row = y.as<float>() + i * classes;
        out.push_back(static_cast<int>(std::max_element(row, row + classes) - row));
    }
}

}  // namespace

std::vector<int> classify_set(const nn::Graph& g, const nn::ImageSet& set) {
    const nn::Plan plan = nn::prepare(g, nn::Kernels::fast);
    nn::Workspace ws;
    nn::RunOptions ro;
    ro.workspace = &ws;
    std::vector<int> out;
    const int64_t batch = 64;
    for (int64_t first = 0; first < set.count; first += batch) {
        const int64_t m = std::min(batch, set.count - first);
        argmax_rows(nn::run(plan, {nn::image_batch(set, first, m)}, ro).outputs.at(0), m, out);
    }
    return out;
}

double set_accuracy(const nn::Graph& g, const nn::ImageSet& set) {
    if (set.count == 0) throw std::invalid_argument("set_accuracy: the set is empty");
    const std::vector<int> p = classify_set(g, set);
    int64_t right = 0;
    for (int64_t i = 0; i < set.count; ++i) right += p[static_cast<size_t>(i)] == set.labels[static_cast<size_t>(i)];
    return static_cast<double>(right) / static_cast<double>(set.count);
}

PcbTrained train_pcb_model(const PcbTrainOptions& o, const std::string& trained_by,
                           const std::function<void(const nn::train::EpochReport&)>& on_epoch) {
    if (o.config.height != kPcbImageSize || o.config.width != kPcbImageSize || o.config.classes != robot::kDefectClasses)
        throw std::invalid_argument("train_pcb_model: config must be " + std::to_string(kPcbImageSize) + "x" +
                                    std::to_string(kPcbImageSize) + " with " + std::to_string(robot::kDefectClasses) +
                                    " classes (the cell's boards)");
    if (o.calibration_boards < 1)
        throw std::invalid_argument("train_pcb_model: calibration_boards must be >= 1, not " + std::to_string(o.calibration_boards));
    const nn::ImageSet data = render_board_set(kPcbTrainFirstSeed, o.seeds, o.boards_per_seed);
    nn::train::TrainOptions t;
    t.epochs = o.epochs;
    t.seed = o.seed;
    t.batch = 32;
    t.learning_rate = o.learning_rate;
    t.lr_decay = o.lr_decay;
    PcbTrained r;
    r.train = nn::train::train_cnn(data, o.config, t, on_epoch);

    char seeds[160];
    std::snprintf(seeds, sizeof seeds, "%d x %d boards from robot::render_board, seeds %llu..%llu, board i of class i %% 4",
                  o.seeds, o.boards_per_seed, static_cast<unsigned long long>(kPcbTrainFirstSeed),
                  static_cast<unsigned long long>(kPcbTrainFirstSeed + static_cast<std::uint64_t>(o.seeds) - 1));
    const std::vector<std::pair<std::string, std::string>> meta = {
        {"pixels", "grey-scale PCB camera frame rendered by robot::render_board (32x32, 0.1 m board): substrate, "
                   "pads, component bodies, solder, with illumination gain/offset and sensor noise"},
        {"classes", pcb_class_list()},
        {"trained_by", trained_by},
        {"dataset", seeds},
    };
    r.fp32 = nn::train::export_cnn_onnx(r.train.params, meta);

    const int64_t calib_n = std::min<int64_t>(o.calibration_boards, data.count);
    std::vector<nn::onnx::Tensor> calibration;
    for (int64_t first = 0; first < calib_n; first += 64) calibration.push_back(nn::image_batch(data, first, std::min<int64_t>(64, calib_n - first)));
    nn::QuantizeOptions q;
    q.recipe = nn::quant_recipe("int8");
    nn::QuantizeResult qr = nn::quantize_model(r.fp32, calibration, q);
    r.int8 = std::move(qr.model);
    r.int8.metadata_props = r.fp32.metadata_props;
    r.int8.metadata_props.push_back(
        {"quantization", "nn::quantize_model recipe int8 (per-channel int8 weights, int8 activations), min-max calibration on the first " +
                             std::to_string(calib_n) + " training boards"});
    const nn::Graph gf = nn::import_onnx(r.fp32), gq = nn::import_onnx(r.int8);
    r.logits_sqnr_db = nn::layer_sqnr(gf, gq, qr.layers, calibration);
    return r;
}

const std::string& bundled_pcb_model() {
    for (const PcbModelFile& f : bundled_pcb_model_files())
        if (f.name == kPcbModelName) return f.bytes;
    throw std::invalid_argument(std::string(kPcbModelName) + ": not embedded in this build (train it with `stacklab train --model pcb-cnn`)");
}

robot::PerceptionHook model_perception(const std::string& onnx_bytes, const std::string& model_label, double latency_ms,
                                       const std::string& latency_source) {
    if (!(std::isfinite(latency_ms) && latency_ms >= 0)) throw std::invalid_argument("latency_ms: must be finite and >= 0");
    auto graph = std::make_shared<nn::Graph>(nn::load_onnx(onnx_bytes, model_label));
    if (graph->inputs.size() != 1 || graph->outputs.size() != 1)
        throw std::invalid_argument(model_label + ": the classifier needs one input and one output");
    const auto& in = graph->tensors[static_cast<size_t>(graph->inputs[0])];
    if (!in.has_shape || in.shape.size() != 4 || in.shape[1] != 1 || in.shape[2] != kPcbImageSize || in.shape[3] != kPcbImageSize)
        throw std::invalid_argument(model_label + ": the classifier's input must be [N,1," + std::to_string(kPcbImageSize) + "," +
                                    std::to_string(kPcbImageSize) + "], not " + nn::shape_text(in.shape));
    auto plan = std::make_shared<nn::Plan>(nn::prepare(*graph, nn::Kernels::fast));
    robot::PerceptionHook h;
    // The graph is captured so that it outlives the plan that points to it.
    h.classify = [graph, plan, model_label](const robot::BoardImage& im) {
        if (im.width != kPcbImageSize || im.height != kPcbImageSize)
            throw std::invalid_argument(model_label + ": takes " + std::to_string(kPcbImageSize) + "x" +
                                        std::to_string(kPcbImageSize) + " boards, not " + std::to_string(im.width) + "x" +
                                        std::to_string(im.height));
        const nn::onnx::Tensor y = nn::run(*plan, {image_tensor(im.pixels, im.height, im.width)}).outputs.at(0);
        std::vector<int> label;
        argmax_rows(y, 1, label);
        if (y.dims[1] != robot::kDefectClasses)
            throw std::invalid_argument(model_label + ": gives " + std::to_string(y.dims[1]) + " classes, the cell has " +
                                        std::to_string(robot::kDefectClasses));
        const float* z = y.as<float>();
        // Softmax probability of the chosen class, in double: 1 / sum_k exp(z_k - z_max).
        double sum = 0;
        for (int k = 0; k < robot::kDefectClasses; ++k) sum += std::exp(static_cast<double>(z[k]) - z[label[0]]);
        robot::Classification c;
        c.label = static_cast<robot::Defect>(label[0]);
        c.confidence = 1.0 / sum;
        c.x_m = c.y_m = 0;  // the model does not localize: the board's centre
        return c;
    };
    h.inference_latency_ms = [latency_ms] { return latency_ms; };
    h.description = "trained int8 CNN " + model_label + " (QDQ, executor fast kernels, argmax of its logits); latency " + latency_source;
    return h;
}

std::vector<chip::OpWork> graph_work(const nn::Graph& g0, chip::DType dtype) {
    nn::Graph g = g0;
    std::vector<std::vector<int64_t>> shapes;
    for (int t : g.inputs) {
        std::vector<int64_t> s = g.tensors[static_cast<size_t>(t)].shape;
        for (int64_t& d : s)
            if (d == nn::kUnknownDim) d = 1;  // batch 1
        shapes.push_back(s);
    }
    nn::infer_shapes(g, shapes);
    const int out_bytes = chip::dtype_bytes(dtype);
    auto shape = [&](const nn::GraphNode& n, int t, const char* what) -> const std::vector<int64_t>& {
        const nn::TensorInfo& ti = g.tensors.at(static_cast<size_t>(t));
        if (!ti.has_shape || std::any_of(ti.shape.begin(), ti.shape.end(), [](int64_t d) { return d < 0; }))
            throw std::invalid_argument("graph_work: " + n.label() + ": the shape of its " + what + " is unknown");
        return ti.shape;
    };
    std::vector<chip::OpWork> out;
    for (const nn::GraphNode& n : g.nodes) {
        using nn::OpType;
        double M = 0, N = 0, K = 0;
        if (n.op == OpType::Conv || n.op == OpType::ConvInteger || n.op == OpType::QLinearConv) {
            const int w_in = n.op == OpType::QLinearConv ? 3 : 1;
            const auto& w = shape(n, n.inputs.at(static_cast<size_t>(w_in)), "weight");
            const auto& y = shape(n, n.outputs.at(0), "output");
            if (w.size() < 3 || y.size() != w.size()) throw std::invalid_argument("graph_work: " + n.label() + ": not a 2-D convolution");
            M = static_cast<double>(y[0]);
            for (size_t k = 2; k < y.size(); ++k) M *= static_cast<double>(y[k]);
            N = static_cast<double>(w[0]);
            K = static_cast<double>(w[1]);  // in channels / groups
            for (size_t k = 2; k < w.size(); ++k) K *= static_cast<double>(w[k]);
        } else if (n.op == OpType::Gemm || n.op == OpType::MatMul || n.op == OpType::MatMulInteger ||
                   n.op == OpType::QLinearMatMul) {
            const int a_in = 0, b_in = n.op == OpType::QLinearMatMul ? 3 : 1;
            const auto& a = shape(n, n.inputs.at(a_in), "A input");
            const auto& b = shape(n, n.inputs.at(static_cast<size_t>(b_in)), "B input");
            if (a.size() < 2 || b.size() < 2) throw std::invalid_argument("graph_work: " + n.label() + ": A and B must be matrices");
            const nn::onnx::Attribute* ta = n.proto.attr("transA");
            const nn::onnx::Attribute* tb = n.proto.attr("transB");
            const bool trans_a = n.op == OpType::Gemm && ta && ta->i != 0, trans_b = n.op == OpType::Gemm && tb && tb->i != 0;
            K = static_cast<double>(trans_a ? a[a.size() - 2] : a.back());
            M = 1;
            for (size_t k = 0; k + 1 < a.size(); ++k) M *= static_cast<double>(a[k]);
            if (trans_a) M = static_cast<double>(a.back());
            N = static_cast<double>(trans_b ? b[b.size() - 2] : b.back());
        } else {
            continue;
        }
        chip::OpWork wk = chip::gemm_work(M, N, K, dtype, out_bytes);
        wk.name = n.label();
        wk.op = n.proto.op_type + (n.op == nn::OpType::Conv || n.op == nn::OpType::ConvInteger || n.op == nn::OpType::QLinearConv
                                       ? " (im2col GEMM)" : " (GEMM)");
        out.push_back(wk);
    }
    if (out.empty()) throw std::invalid_argument("graph_work: the graph has no Conv, Gemm or MatMul node");
    return out;
}

}  // namespace stacklab::lab
