// `stacklab eval`: a model on a real data set, with the graph executor of core/nn.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "native/cli.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"
#include "nn/idx.hpp"

namespace stacklab::cli {

using nlohmann::json;

namespace {

// Where `--data` points: "fashion-mnist" is the copy the build decompressed (CMakeLists.txt), any
// other value a directory holding the IDX files under their original names.
std::string dataset_dir(const std::string& data) {
    if (data == "fashion-mnist") return std::string(STACKLAB_DATA_DIR) + "/fashion-mnist";
    return data;
}

}  // namespace

// `eval`: an fp32 classifier taking [N,1,H,W] pixels / 255 and giving [N,classes] logits, on the
// test split. The prediction is the first largest logit.
int cmd_eval(const Args& a) {
    if (!a.has("--model") || !a.has("--data")) throw UsageError("eval needs --model FILE.onnx and --data fashion-mnist|DIR");
    const std::string quant = a.get("--quant", "fp32");
    if (quant != "fp32") throw UsageError("--quant " + quant + " is not available yet (fp32 is)");
    const std::string kernels_text = a.get("--kernels", "fast");
    if (kernels_text != "fast" && kernels_text != "reference") throw UsageError("--kernels expects fast or reference");
    const nn::Kernels kernels = kernels_text == "fast" ? nn::Kernels::fast : nn::Kernels::reference;
    const int batch = parse_count("--batch", a.get("--batch", "64"));
    const std::string model_path = a.get("--model", "");
    const std::string dir = dataset_dir(a.get("--data", ""));
    const std::string images_path = dir + "/t10k-images-idx3-ubyte", labels_path = dir + "/t10k-labels-idx1-ubyte";
    // One statement each: the order of the reads (and so the first error) must not depend on the compiler.
    const nn::IdxArray images = nn::parse_idx(read_file(images_path), images_path);
    const nn::IdxArray labels = nn::parse_idx(read_file(labels_path), labels_path);
    const nn::ImageSet set = nn::make_image_set(images, labels, 256, dir);
    const int64_t n = a.has("--limit") ? std::min<int64_t>(set.count, parse_count("--limit", a.get("--limit", ""))) : set.count;
    const nn::Graph g = nn::load_onnx(read_file(model_path), model_path);
    if (g.inputs.size() != 1 || g.outputs.size() != 1)
        throw InputError(model_path + ": eval needs a model with one input and one output, not " +
                         std::to_string(g.inputs.size()) + " and " + std::to_string(g.outputs.size()));
    const nn::Plan plan = nn::prepare(g, kernels);
    std::vector<double> node_ms(g.nodes.size(), 0.0);
    int64_t correct = 0;
    double total_ms = 0.0;
    std::vector<int> predictions;
    for (int64_t first = 0; first < n; first += batch) {
        const int64_t m = std::min<int64_t>(batch, n - first);
        const nn::RunResult r = nn::run(plan, {nn::image_batch(set, first, m)});
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
        if (a.flag("--predictions")) doc["predictions"] = predictions;
        std::cout << doc.dump(2) << "\n";
        return 0;
    }
    std::printf("%s on %s (%lld test images, batch %d, %s kernels, %s)\n", model_path.c_str(), a.get("--data", "").c_str(),
                static_cast<long long>(n), batch, nn::kernels_name(kernels), quant.c_str());
    std::printf("  accuracy      %s (%lld correct)\n", fixed(accuracy, 4).c_str(), static_cast<long long>(correct));
    std::printf("  ms per image  %s\n", fixed(ms_per_image, 4).c_str());
    std::printf("  %-24s %-20s %-22s %s\n", "node", "op", "kernel", "ms/image");
    for (size_t k = 0; k < g.nodes.size(); ++k)
        std::printf("  %-24s %-20s %-22s %s\n", g.nodes[k].label().c_str(), g.nodes[k].proto.op_type.c_str(),
                    plan.node_kernels[k].c_str(), fixed(n ? node_ms[k] / double(n) : 0.0, 5).c_str());
    return 0;
}

}  // namespace stacklab::cli
