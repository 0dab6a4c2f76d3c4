// The quantization pipeline (core/nn/quantize.hpp): weights, groups, BN folding, fusion, calibration,
// mixed precision and the per-layer SQNR, on hand-built models and on the shipped CNN with real data.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <fstream>
#include <limits>
#include <sstream>

#include "nn/drift.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"
#include "nn/idx.hpp"
#include "nn/onnx_build.hpp"
#include "nn/quantize.hpp"
#include "quant/calibrate.hpp"
#include "quant/elementary.hpp"
#include "test_support.hpp"

using namespace stacklab::nn;
using stacklab::test::contains;
using stacklab::test::error_of;
using stacklab::test::Rng;

namespace {

std::vector<float> random_floats(Rng& rng, size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (float& x : v) x = rng.uniform(lo, hi);
    return v;
}

onnx::Model model_of(onnx::Graph g) {
    onnx::Model m;
    m.ir_version = 8;
    m.opset_imports = {{"", 13}};
    m.graph = std::move(g);
    return m;
}

// x [N, K] -> Gemm(W [K, N]) -> y
onnx::Model gemm_model(int64_t K, int64_t N, const std::vector<float>& w) {
    onnx::Graph g;
    g.inputs = {onnx::float_value("x", {-1, K})};
    g.outputs = {onnx::float_value("y", {-1, N})};
    g.initializers = {onnx::float_tensor("w", {K, N}, w)};
    g.nodes = {onnx::make_node("Gemm", "fc", {"x", "w"}, {"y"})};
    return model_of(g);
}

std::vector<float> run_model(const onnx::Model& m, const onnx::Tensor& x) {
    const Graph g = import_onnx(m);
    return run(prepare(g, Kernels::fast), {x}).outputs.at(0).to_vector<float>();
}

const onnx::Node* node_named(const onnx::Model& m, const std::string& name) {
    for (const auto& n : m.graph.nodes)
        if (n.name == name) return &n;
    return nullptr;
}
const onnx::Tensor* initializer_named(const onnx::Model& m, const std::string& name) {
    for (const auto& t : m.graph.initializers)
        if (t.name == name) return &t;
    return nullptr;
}
// The node that reads tensor t.
const onnx::Node* reader_of(const onnx::Model& m, const std::string& t) {
    for (const auto& n : m.graph.nodes)
        if (std::find(n.inputs.begin(), n.inputs.end(), t) != n.inputs.end()) return &n;
    return nullptr;
}

QuantizeOptions options_for(const std::string& recipe) {
    QuantizeOptions o;
    o.recipe = quant_recipe(recipe);
    return o;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(nn_quantize)

BOOST_AUTO_TEST_CASE(ref_log10_agrees_with_the_c_library_to_a_few_ulp) {
    Rng rng(3);
    for (int i = 0; i < 2000; ++i) {
        const double x = std::ldexp(1.0 + rng.unit(), rng.integer(-60, 60));
        const double ours = stacklab::quant::ref_log10(x), libm = std::log10(x);
        BOOST_TEST(std::fabs(ours - libm) <= 1e-15 * std::max(1.0, std::fabs(libm)), x);
    }
    BOOST_TEST(stacklab::quant::ref_log10(1000.0) == 3.0, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(std::isinf(stacklab::quant::ref_log10(0.0)));
    BOOST_TEST(std::isnan(stacklab::quant::ref_log10(-1.0)));
}

BOOST_AUTO_TEST_CASE(sqnr_is_ten_log10_of_signal_over_noise_power) {
    const std::vector<float> ref = {3.0f, 4.0f}, test = {3.0f, 4.5f};  // signal 25, noise 0.25: 20 dB
    BOOST_TEST(sqnr_db(ref.data(), test.data(), 2) == 20.0, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(std::isinf(sqnr_db(ref.data(), ref.data(), 2)));
}

BOOST_AUTO_TEST_CASE(per_channel_int8_weights_are_amax_over_127_per_output_column_and_run_as_dequantized_fp32) {
    Rng rng(11);
    const int64_t K = 8, N = 3;
    std::vector<float> w = random_floats(rng, size_t(K * N), -1.0f, 1.0f);
    for (int64_t k = 0; k < K; ++k) w[size_t(k * N + 2)] *= 10.0f;  // column 2 ten times larger
    const QuantizeResult r = quantize_model(gemm_model(K, N, w), {}, options_for("w8"));
    BOOST_REQUIRE_EQUAL(r.layers.size(), 1u);
    BOOST_TEST(r.layers[0].weights == "int8 per-channel");
    const onnx::Tensor* scale = initializer_named(r.model, "w_scale");
    BOOST_REQUIRE(scale);
    BOOST_TEST(scale->numel() == N);
    std::vector<float> expect_dq(w.size());
    for (int64_t n = 0; n < N; ++n) {
        float amax = 0.0f;
        for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(w[size_t(k * N + n)]));
        BOOST_TEST(scale->as<float>()[n] == amax / 127.0f);
        for (int64_t k = 0; k < K; ++k) {
            const float s = amax / 127.0f, v = w[size_t(k * N + n)];
            expect_dq[size_t(k * N + n)] = std::nearbyint(v / s) * s;
            BOOST_TEST(std::fabs(expect_dq[size_t(k * N + n)] - v) <= 0.5f * s * 1.0001f);
        }
    }
    // The QDQ model computes exactly what an fp32 Gemm on the dequantized weights computes.
    const onnx::Tensor x = onnx::float_tensor("x", {2, K}, random_floats(rng, size_t(2 * K), -1.0f, 1.0f));
    BOOST_TEST(run_model(r.model, x) == run_model(gemm_model(K, N, expect_dq), x), boost::test_tools::per_element());
    BOOST_TEST(r.layers[0].weight_sqnr_db > 35.0);
}

BOOST_AUTO_TEST_CASE(grouped_int4_weights_get_one_scale_per_group_of_k_and_fall_back_to_per_channel_when_k_does_not_divide) {
    Rng rng(12);
    const int64_t K = 64, N = 3;
    std::vector<float> w = random_floats(rng, size_t(K * N), -1.0f, 1.0f);
    for (int64_t n = 0; n < N; ++n) w[size_t(40 * N + n)] = 8.0f;  // an outlier in the second group of every column
    const QuantizeResult r = quantize_model(gemm_model(K, N, w), {}, options_for("w4g32"));
    BOOST_TEST(r.layers.at(0).weights == "int4 groups of 32");
    std::vector<float> expect_dq(w.size());
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g0 = 0; g0 < K; g0 += 32) {
            float amax = 0.0f;
            for (int64_t k = g0; k < g0 + 32; ++k) amax = std::max(amax, std::fabs(w[size_t(k * N + n)]));
            const float s = amax / 7.0f;
            for (int64_t k = g0; k < g0 + 32; ++k)
                expect_dq[size_t(k * N + n)] = std::clamp(std::nearbyint(w[size_t(k * N + n)] / s), -7.0f, 7.0f) * s;
        }
    const onnx::Tensor x = onnx::float_tensor("x", {2, K}, random_floats(rng, size_t(2 * K), -1.0f, 1.0f));
    BOOST_TEST(run_model(r.model, x) == run_model(gemm_model(K, N, expect_dq), x), boost::test_tools::per_element());
    // The outlier only coarsens its own group: grouped beats per-channel on these weights.
    const QuantizeResult pc = quantize_model(gemm_model(K, N, w), {}, [] {
        QuantizeOptions o = options_for("w4g32");
        o.recipe.weights.granularity = WeightGranularity::per_channel;
        return o;
    }());
    BOOST_TEST(r.layers[0].weight_sqnr_db > pc.layers[0].weight_sqnr_db + 3.0);

    const QuantizeResult odd = quantize_model(gemm_model(48, N, random_floats(rng, size_t(48 * N), -1.0f, 1.0f)), {},
                                              options_for("w4g32"));
    BOOST_TEST(odd.layers.at(0).weights == "int4 per-channel");
    BOOST_TEST(contains(odd.layers[0].note, "K = 48 is not a multiple of the group size 32"));
}

BOOST_AUTO_TEST_CASE(batch_normalization_after_a_conv_is_folded_into_its_weights_and_bias) {
    Rng rng(13);
    onnx::Graph g;
    g.inputs = {onnx::float_value("x", {-1, 2, 6, 6})};
    g.outputs = {onnx::float_value("y", {-1, 3, 4, 4})};
    g.initializers = {onnx::float_tensor("w", {3, 2, 3, 3}, random_floats(rng, 54, -1.0f, 1.0f)),
                      onnx::float_tensor("b", {3}, {0.1f, -0.2f, 0.3f}),
                      onnx::float_tensor("gamma", {3}, {1.5f, 0.5f, -2.0f}),
                      onnx::float_tensor("beta", {3}, {0.0f, 1.0f, -1.0f}),
                      onnx::float_tensor("mean", {3}, {0.2f, -0.3f, 0.5f}),
                      onnx::float_tensor("var", {3}, {0.5f, 2.0f, 1.0f})};
    g.nodes = {onnx::make_node("Conv", "conv", {"x", "w", "b"}, {"c"}, {onnx::ints_attr("kernel_shape", {3, 3})}),
               onnx::make_node("BatchNormalization", "bn", {"c", "gamma", "beta", "mean", "var"}, {"y"})};
    const onnx::Model m = model_of(g);
    const QuantizeResult r = quantize_model(m, {}, options_for("w8"));
    BOOST_TEST(r.folded_batch_norms == std::vector<std::string>{"bn"}, boost::test_tools::per_element());
    for (const auto& n : r.model.graph.nodes) BOOST_TEST(n.op_type != "BatchNormalization");
    // Folding alone (fp32) gives the unfolded outputs up to float rounding.
    const QuantizeResult f = quantize_model(m, {}, options_for("fp32"));
    const onnx::Tensor x = onnx::float_tensor("x", {1, 2, 6, 6}, random_floats(rng, 72, -1.0f, 1.0f));
    const std::vector<float> a = run_model(m, x), b = run_model(f.model, x);
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) BOOST_TEST(std::fabs(a[i] - b[i]) <= 1e-5f * (1.0f + std::fabs(a[i])));
}

BOOST_AUTO_TEST_CASE(fusion_puts_no_quantization_between_conv_and_relu_and_unfused_does) {
    Rng rng(14);
    onnx::Graph g;
    g.inputs = {onnx::float_value("x", {-1, 1, 6, 6})};
    g.outputs = {onnx::float_value("y", {-1, 2})};
    g.initializers = {onnx::float_tensor("w", {4, 1, 3, 3}, random_floats(rng, 36, -1.0f, 1.0f)),
                      onnx::float_tensor("fc", {64, 2}, random_floats(rng, 128, -0.2f, 0.2f))};
    g.nodes = {onnx::make_node("Conv", "conv", {"x", "w"}, {"c"}, {onnx::ints_attr("kernel_shape", {3, 3})}),
               onnx::make_node("Relu", "relu", {"c"}, {"r"}),
               onnx::make_node("Flatten", "flat", {"r"}, {"f"}),
               onnx::make_node("Gemm", "head", {"f", "fc"}, {"y"})};
    const onnx::Model m = model_of(g);
    const std::vector<onnx::Tensor> calib = {onnx::float_tensor("x", {8, 1, 6, 6}, random_floats(rng, 288, -1.0f, 1.0f))};

    const QuantizeResult fused = quantize_model(m, calib, options_for("int8"));
    BOOST_TEST(fused.fusions == std::vector<std::string>{"Conv 'conv' + Relu 'relu'"}, boost::test_tools::per_element());
    BOOST_TEST(reader_of(fused.model, "c")->op_type == "Relu");
    // The Relu output is quantized over [0, max]: the int8 zero point sits at -128.
    const onnx::Tensor* zp = initializer_named(fused.model, "r_act_zero_point");
    BOOST_REQUIRE(zp);
    BOOST_TEST(int(zp->as<int8_t>()[0]) == -128);
    BOOST_TEST(node_named(fused.model, "x.quantize"));  // the image itself is an int8 input

    QuantizeOptions o = options_for("int8");
    o.fuse = false;
    const QuantizeResult unfused = quantize_model(m, calib, o);
    BOOST_TEST(unfused.fusions.empty());
    BOOST_TEST(reader_of(unfused.model, "c")->op_type == "QuantizeLinear");
    BOOST_TEST(reader_of(unfused.model, "c_act_dequantized")->op_type == "Relu");

    // The executor runs the fused model's int8 Conv -> Relu -> QuantizeLinear as one requantizing
    // node, and gets the bytes the three nodes give one by one (keep_activations runs them apart).
    const Graph qg = import_onnx(fused.model);
    const Plan plan = prepare(qg, Kernels::fast);
    size_t absorbed = 0, requantizing = 0;
    for (size_t k = 0; k < qg.nodes.size(); ++k) {
        absorbed += plan.node_fused[k];
        requantizing += qg.nodes[k].label() == "conv" && plan.node_kernels[k].find("+ relu + quantize") != std::string::npos;
    }
    BOOST_TEST(absorbed == 2u);  // the Relu and its QuantizeLinear
    BOOST_TEST(requantizing == 1u);
    const onnx::Tensor x = onnx::float_tensor("x", {5, 1, 6, 6}, random_floats(rng, 180, -1.0f, 1.0f));
    RunOptions keep;
    keep.keep_activations = true;
    const RunResult together = run(plan, {x}), apart = run(plan, {x}, keep);
    BOOST_TEST((together.outputs.at(0) == apart.outputs.at(0)));
    BOOST_TEST(apart.activations.at(size_t(qg.find("r"))).numel() == 5 * 4 * 4 * 4);
}

namespace {
// The input scale the quantizer picks for x under `method`.
float input_scale(const std::vector<float>& x, CalibrationMethod method) {
    Rng rng(16);
    const onnx::Model m = gemm_model(4, 2, random_floats(rng, 8, -1.0f, 1.0f));
    QuantizeOptions o = options_for("int8");
    o.calibration = method;
    o.percentile = 99.9;
    const QuantizeResult r = quantize_model(m, {onnx::float_tensor("x", {int64_t(x.size() / 4), 4}, x)}, o);
    return initializer_named(r.model, "x_act_scale")->as<float>()[0];
}
}  // namespace

BOOST_AUTO_TEST_CASE(percentile_calibration_clips_a_lone_outlier_that_min_max_keeps) {
    Rng rng(15);
    std::vector<float> x = random_floats(rng, 4000, -1.0f, 1.0f);
    x[17] = 50.0f;
    const float minmax = input_scale(x, CalibrationMethod::min_max);
    BOOST_TEST(minmax == (50.0f - *std::min_element(x.begin(), x.end())) / 255.0f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(input_scale(x, CalibrationMethod::percentile) < minmax / 10.0f);
    // One outlier of 50 among 4000 values: clipping it costs more squared error than the coarser
    // step does, so the MSE search keeps (almost) the whole range.
    BOOST_TEST(input_scale(x, CalibrationMethod::mse) > minmax / 2.0f);
}

BOOST_AUTO_TEST_CASE(mse_calibration_uses_the_clip_search_of_core_quant_on_every_value_seen) {
    Rng rng(17);
    std::vector<float> x(4000);
    for (float& v : x) {
        const float u = rng.uniform(-1.0f, 1.0f);
        v = 10.0f * u * u * u * u * u;  // most values near 0, a thin tail out to +-10
    }
    const float mse = input_scale(x, CalibrationMethod::mse);
    BOOST_TEST(mse == stacklab::quant::search_mse_clip(x.data(), x.size(), true, false).params.scale[0]);
    BOOST_TEST(mse <= input_scale(x, CalibrationMethod::min_max));
}

BOOST_AUTO_TEST_CASE(the_fast_per_tensor_quantize_and_dequantize_kernels_give_the_reference_bits) {
    Rng rng(18);
    for (const auto& [type_name, zp] : std::vector<std::pair<std::string, onnx::Tensor>>{
             {"int8", onnx::int8_tensor("zp", {}, {-7})},
             {"uint8", onnx::make_tensor<uint8_t>("zp", onnx::DataType::UINT8, {}, {131})}}) {
        onnx::Graph g;
        g.inputs = {onnx::float_value("x", {-1, 50})};
        g.outputs = {onnx::float_value("y", {-1, 50})};
        g.initializers = {onnx::float_tensor("s", {}, {0.0371f}), zp};
        g.nodes = {onnx::make_node("QuantizeLinear", "q", {"x", "s", "zp"}, {"q"}),
                   onnx::make_node("DequantizeLinear", "dq", {"q", "s", "zp"}, {"y"})};
        const Graph graph = import_onnx(model_of(g));
        std::vector<float> x = random_floats(rng, 1000, -8.0f, 8.0f);
        const float ties[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 100.5f, -100.5f};
        for (size_t i = 0; i < 8; ++i) x[i] = ties[i] * 0.0371f;  // ties round to even (if the product is exact)
        for (size_t i = 8; i < 200; ++i) x[i] = float(int(i) - 100) * 0.0371f * 0.5f;  // more halves
        x[200] = std::numeric_limits<float>::quiet_NaN();
        x[201] = std::numeric_limits<float>::infinity();
        x[202] = -std::numeric_limits<float>::infinity();
        x[203] = 1e30f;
        x[204] = -1e-30f;
        const onnx::Tensor in = onnx::float_tensor("x", {20, 50}, x);
        const Plan fast = prepare(graph, Kernels::fast), ref = prepare(graph, Kernels::reference);
        BOOST_TEST(fast.node_kernels[0] == "quantize_per_tensor");
        BOOST_TEST(fast.node_kernels[1] == "dequantize_per_tensor");
        RunOptions keep;
        keep.keep_activations = true;
        const RunResult a = run(fast, {in}, keep), b = run(ref, {in}, keep);
        const int q = graph.find("q");
        BOOST_TEST(a.activations[size_t(q)].data == b.activations[size_t(q)].data, type_name);
        // NaN dequantizes to a number, so the outputs compare as bytes too.
        BOOST_TEST(a.outputs[0].data == b.outputs[0].data, type_name);
    }
}

namespace {
// x [N, 16] -> LayerNormalization -> Gelu -> Gemm(16 -> 4), opset 20 (Gelu).
onnx::Model ln_gelu_model(Rng& rng) {
    onnx::Graph g;
    g.inputs = {onnx::float_value("x", {-1, 16})};
    g.outputs = {onnx::float_value("y", {-1, 4})};
    g.initializers = {onnx::float_tensor("gamma", {16}, random_floats(rng, 16, 0.5f, 1.5f)),
                      onnx::float_tensor("beta", {16}, random_floats(rng, 16, -0.25f, 0.25f)),
                      onnx::float_tensor("w", {16, 4}, random_floats(rng, 64, -0.5f, 0.5f))};
    g.nodes = {onnx::make_node("LayerNormalization", "ln", {"x", "gamma", "beta"}, {"n"}, {onnx::float_attr("epsilon", 1e-5f)}),
               onnx::make_node("Gelu", "gelu", {"n"}, {"a"}), onnx::make_node("Gemm", "head", {"a", "w"}, {"y"})};
    onnx::Model m = model_of(g);
    m.opset_imports = {{"", 20}};
    return m;
}
}  // namespace

BOOST_AUTO_TEST_CASE(layer_norm_and_gelu_are_one_fused_group_and_unfused_quantizes_between_them) {
    Rng rng(19);
    const onnx::Model m = ln_gelu_model(rng);
    const std::vector<onnx::Tensor> calib = {onnx::float_tensor("x", {32, 16}, random_floats(rng, 512, -3.0f, 3.0f))};
    const QuantizeResult fused = quantize_model(m, calib, options_for("int8"));
    const bool has_fusion =
        std::find(fused.fusions.begin(), fused.fusions.end(), "LayerNormalization 'ln' + Gelu 'gelu'") != fused.fusions.end();
    BOOST_TEST(has_fusion);
    BOOST_TEST(reader_of(fused.model, "n")->op_type == "Gelu");
    BOOST_TEST(reader_of(fused.model, "a")->op_type == "QuantizeLinear");
    QuantizeOptions o = options_for("int8");
    o.fuse = false;
    const QuantizeResult unfused = quantize_model(m, calib, o);
    BOOST_TEST(reader_of(unfused.model, "n")->op_type == "QuantizeLinear");
}

BOOST_AUTO_TEST_CASE(the_drift_on_a_model_is_the_kernel_drift_of_its_real_layer_norm_inputs) {
    Rng rng(20);
    const onnx::Model m = ln_gelu_model(rng);
    const Graph g = import_onnx(m);
    std::vector<float> x = random_floats(rng, 40 * 16, -2.0f, 2.0f);
    for (size_t i = 0; i < x.size(); i += 16) x[i] += 30.0f;  // an offset channel, as real activations have
    const std::vector<onnx::Tensor> inputs = {onnx::float_tensor("x", {24, 16}, std::vector<float>(x.begin(), x.begin() + 24 * 16)),
                                              onnx::float_tensor("x", {16, 16}, std::vector<float>(x.begin() + 24 * 16, x.end()))};
    stacklab::quant::LnGeluVariant v;
    v.variance = stacklab::quant::VarianceMethod::single_pass;
    const std::vector<ModelDrift> d = layer_norm_gelu_drift_on_model(g, inputs, v);
    BOOST_REQUIRE_EQUAL(d.size(), 1u);
    BOOST_TEST(d[0].layer_norm == "ln");
    BOOST_TEST(d[0].gelu == "gelu");
    BOOST_TEST(d[0].report.rows == 40u);
    BOOST_TEST(d[0].report.cols == 16u);
    std::vector<double> ref(x.size());
    const onnx::Tensor* gamma = initializer_named(m, "gamma");
    const onnx::Tensor* beta = initializer_named(m, "beta");
    stacklab::quant::layer_norm_gelu_ref(x.data(), 40, 16, gamma->as<float>(), beta->as<float>(), 1e-5f, ref.data());
    const auto [lo, hi] = std::minmax_element(ref.begin(), ref.end());
    const auto direct = stacklab::quant::layer_norm_gelu_drift(v, x.data(), 40, 16, gamma->as<float>(), beta->as<float>(), 1e-5f,
                                                               stacklab::quant::choose_params(float(*lo), float(*hi), true, false));
    BOOST_TEST(d[0].report.max_abs_error == direct.max_abs_error);
    BOOST_TEST(d[0].report.differing == direct.differing);
    BOOST_TEST(d[0].report.lsb_histogram == direct.lsb_histogram, boost::test_tools::per_element());
    // A model without the pair has nothing to report.
    BOOST_TEST(layer_norm_gelu_drift_on_model(import_onnx(gemm_model(2, 2, {1, 2, 3, 4})), {}, v).empty());
}

BOOST_AUTO_TEST_CASE(a_weight_read_by_two_layers_is_quantized_for_each_under_its_own_names) {
    Rng rng(21);
    onnx::Graph g;
    g.inputs = {onnx::float_value("x", {-1, 4})};
    g.outputs = {onnx::float_value("y", {-1, 4})};
    g.initializers = {onnx::float_tensor("w", {4, 4}, random_floats(rng, 16, -1.0f, 1.0f))};
    g.nodes = {onnx::make_node("Gemm", "a", {"x", "w"}, {"h"}), onnx::make_node("Gemm", "b", {"h", "w"}, {"y"})};
    const onnx::Model m = model_of(g);
    const QuantizeResult r = quantize_model(m, {}, options_for("w8"));
    BOOST_TEST(r.layers.size() == 2u);
    BOOST_TEST(initializer_named(r.model, "a.w_quantized"));
    BOOST_TEST(initializer_named(r.model, "b.w_quantized"));
    BOOST_TEST(!initializer_named(r.model, "w"));  // the fp32 copy is gone
    const onnx::Tensor x = onnx::float_tensor("x", {3, 4}, random_floats(rng, 12, -1.0f, 1.0f));
    const std::vector<float> ref = run_model(m, x), got = run_model(r.model, x);
    BOOST_REQUIRE_EQUAL(ref.size(), got.size());
    for (size_t i = 0; i < ref.size(); ++i) BOOST_TEST(std::fabs(ref[i] - got[i]) <= 0.05f);
}

BOOST_AUTO_TEST_CASE(unknown_recipes_and_calibration_methods_are_named_in_the_error) {
    BOOST_TEST(contains(error_of([] { quant_recipe("int3"); }), "quantization 'int3' is not one of fp32, int8"));
    BOOST_TEST(contains(error_of([] { parse_calibration("kl"); }), "calibration method 'kl' is not one of minmax"));
    BOOST_TEST(contains(error_of([] { quantize_model(gemm_model(2, 2, {1, 2, 3, 4}), {}, options_for("int8")); }),
                        "no calibration inputs"));
}

// Real model, real data: the shipped CNN calibrated on 256 training images, measured on the first
// 1000 test images.
BOOST_AUTO_TEST_CASE(the_shipped_cnn_keeps_its_accuracy_in_int8_and_loses_sqnr_step_by_step_to_4_bits) {
    const std::string path = std::string(STACKLAB_MODELS_DIR) + "/fashion_cnn.onnx";
    const onnx::Model model = onnx::parse_model(slurp(path), path);
    const std::string dir = std::string(STACKLAB_DATA_DIR) + "/fashion-mnist/";
    auto load = [&](const std::string& split) {
        return make_image_set(parse_idx(slurp(dir + split + "-images-idx3-ubyte"), split),
                              parse_idx(slurp(dir + split + "-labels-idx1-ubyte"), split), 256, dir);
    };
    const ImageSet train = load("train"), test = load("t10k");
    std::vector<onnx::Tensor> calib, eval;
    for (int64_t i = 0; i < 256; i += 64) calib.push_back(image_batch(train, i, 64));
    for (int64_t i = 0; i < 1000; i += 250) eval.push_back(image_batch(test, i, 250));
    auto accuracy = [&](const onnx::Model& m) {
        const Graph g = import_onnx(m);
        const Plan plan = prepare(g, Kernels::fast);
        int64_t correct = 0;
        for (size_t b = 0; b < eval.size(); ++b) {
            const std::vector<float> y = run(plan, {eval[b]}).outputs.at(0).to_vector<float>();
            for (int64_t i = 0; i < 250; ++i)
                correct += (std::max_element(y.begin() + i * 10, y.begin() + i * 10 + 10) - (y.begin() + i * 10)) ==
                           test.labels[size_t(int64_t(b) * 250 + i)];
        }
        return double(correct) / 1000.0;
    };
    const double fp32 = accuracy(model);
    const Graph g32 = import_onnx(model);
    double logits_db[2];
    const char* recipes[2] = {"int8", "w4a8"};
    std::vector<LayerQuant> layers_of[2];
    for (int i = 0; i < 2; ++i) {
        QuantizeResult r = quantize_model(model, calib, options_for(recipes[i]));
        BOOST_TEST(r.calibration_samples == 256);
        BOOST_TEST(r.layers.size() == 4u);
        logits_db[i] = layer_sqnr(g32, import_onnx(r.model), r.layers, {eval[0]});
        layers_of[i] = r.layers;
        const double acc = accuracy(r.model);
        BOOST_TEST_MESSAGE(recipes[i] << ": accuracy " << acc << " (fp32 " << fp32 << "), logits SQNR " << logits_db[i] << " dB");
        if (i == 0) {
            BOOST_TEST(std::fabs(acc - fp32) <= 0.01);
            for (const LayerQuant& l : r.layers) BOOST_TEST(l.sqnr_db > 30.0, l.name << " " << l.sqnr_db);
        } else {
            BOOST_TEST(acc >= fp32 - 0.05);
        }
    }
    BOOST_TEST(logits_db[1] < logits_db[0] - 10.0);
    // The error histograms: every output counted once (the same tensors in both recipes); int8
    // (every layer above 30 dB, error RMS under 0.032 of the signal's) keeps at least 80 % of each
    // layer's errors within +-0.03 (the three centre bins); at 4 bits the layer that loses the most
    // dB leaves more of its errors outside them than it does in int8.
    auto centre = [](const std::vector<int64_t>& h) { return h[kErrorBins / 2 - 1] + h[kErrorBins / 2] + h[kErrorBins / 2 + 1]; };
    auto total = [](const std::vector<int64_t>& h) { return std::accumulate(h.begin(), h.end(), int64_t{0}); };
    size_t weakest = 0;
    for (size_t k = 0; k < layers_of[0].size(); ++k) {
        const auto &h8 = layers_of[0][k].error_histogram, &h4 = layers_of[1][k].error_histogram;
        BOOST_TEST_REQUIRE(h8.size() == size_t(kErrorBins));
        BOOST_TEST_REQUIRE(h4.size() == size_t(kErrorBins));
        BOOST_TEST(total(h8) == total(h4), layers_of[0][k].name);
        BOOST_TEST(total(h8) >= 250 * 10);
        BOOST_TEST(double(centre(h8)) >= 0.8 * double(total(h8)), layers_of[0][k].name);
        if (layers_of[1][k].sqnr_db < layers_of[1][weakest].sqnr_db) weakest = k;
    }
    BOOST_TEST(total(layers_of[1][weakest].error_histogram) - centre(layers_of[1][weakest].error_histogram) >
               total(layers_of[0][weakest].error_histogram) - centre(layers_of[0][weakest].error_histogram),
               layers_of[1][weakest].name);

    // Mixed precision to at most 6 bits per weight: the CNN's fully connected fc1 holds 51 200 of
    // its 56 592 weights and loses the fewest dB per weight at 4 bits, so it alone goes to 4 bits.
    QuantizeResult mixed = quantize_model(model, calib, options_for("mixed"));
    double bits = 0.0, weights = 0.0;
    for (const LayerQuant& l : mixed.layers) {
        BOOST_TEST(!std::isnan(l.sensitivity_db));
        BOOST_TEST((l.weight_bits == 4) == (l.name == "fc1"), l.name << " " << l.weight_bits);
    }
    const Graph gm = import_onnx(mixed.model);
    for (const LayerQuant& l : mixed.layers) {
        const int64_t n = l.name == "conv1" ? 144 : l.name == "conv2" ? 4608 : l.name == "fc1" ? 51200 : 640;
        weights += double(n);
        bits += double(n) * l.weight_bits;
    }
    BOOST_TEST(bits / weights <= 6.0);
    const double mixed_db = layer_sqnr(g32, gm, mixed.layers, {eval[0]});
    BOOST_TEST(mixed_db < logits_db[0]);
    BOOST_TEST(mixed_db > logits_db[1]);
}

namespace {
// One batch of the first n images of a Fashion-MNIST split, as the executor takes them.
onnx::Tensor first_images(const std::string& split, int64_t n) {
    const std::string dir = std::string(STACKLAB_DATA_DIR) + "/fashion-mnist/";
    const ImageSet set = make_image_set(parse_idx(slurp(dir + split + "-images-idx3-ubyte"), split),
                                        parse_idx(slurp(dir + split + "-labels-idx1-ubyte"), split), n, dir);
    return image_batch(set, 0, n);
}
}  // namespace

// Workspace::take(bytes, false) hands kernels that write every element a buffer with old bytes in
// it. Both shipped models, fp32 and int8, on 64 real test images: a workspace whose free buffers are
// full of garbage (every size from 256 bytes to 4 MiB) must give the same output bytes as a run
// with none, on the first run and the next.
BOOST_AUTO_TEST_CASE(shipped_models_give_the_same_bytes_on_a_workspace_full_of_garbage) {
    const onnx::Tensor images = first_images("t10k", 64), calib = first_images("train", 64);
    for (const char* name : {"fashion_cnn", "fashion_mixer"}) {
        const std::string path = std::string(STACKLAB_MODELS_DIR) + "/" + name + ".onnx";
        const onnx::Model fp32 = onnx::parse_model(slurp(path), path);
        const onnx::Model int8 = quantize_model(fp32, {calib}, options_for("int8")).model;
        for (const onnx::Model* m : {&fp32, &int8}) {
            const Graph g = import_onnx(*m);
            const Plan plan = prepare(g, Kernels::fast);
            const onnx::Tensor clean = run(plan, {images}).outputs.at(0);
            Workspace ws;
            for (size_t bytes = 256; bytes <= (size_t(4) << 20); bytes *= 2)
                for (int copy = 0; copy < 2; ++copy) ws.free.push_back(std::vector<uint8_t>(bytes + 24 * size_t(copy), 0xA5));
            RunOptions o;
            o.workspace = &ws;
            for (int i = 0; i < 2; ++i)
                BOOST_TEST((run(plan, {images}, o).outputs.at(0) == clean), name << (m == &fp32 ? " fp32" : " int8") << " run " << i);
        }
    }
}

// Between the int8 Mixer's matrix layers, DequantizeLinear -> Add (bias) -> Gelu -> QuantizeLinear
// runs as one int8 -> int8 node; on 64 real test images it gives the bytes the four nodes give one
// by one (keep_activations runs them apart): the logits, which every int8 activation feeds, are
// the same bytes.
BOOST_AUTO_TEST_CASE(the_int8_mixers_bias_and_gelu_chains_run_fused_with_the_unfused_bytes) {
    const onnx::Tensor images = first_images("t10k", 64), calib = first_images("train", 64);
    const std::string path = std::string(STACKLAB_MODELS_DIR) + "/fashion_mixer.onnx";
    const onnx::Model int8 = quantize_model(onnx::parse_model(slurp(path), path), {calib}, options_for("int8")).model;
    const Graph g = import_onnx(int8);
    const Plan plan = prepare(g, Kernels::fast);
    size_t chains = 0;
    for (size_t k = 0; k < g.nodes.size(); ++k)
        chains += plan.node_kernels[k] == "dequantize_per_tensor + add + activation + quantize";
    BOOST_TEST(chains >= 4u, chains << " fused bias + GELU chains");  // token and channel MLP of each block
    RunOptions keep;
    keep.keep_activations = true;
    const RunResult together = run(plan, {images}), apart = run(plan, {images}, keep);
    BOOST_TEST((together.outputs.at(0) == apart.outputs.at(0)));
}

// The int8 CNN's DequantizeLinear -> MaxPool -> QuantizeLinear runs as an integer max pool and a
// 256-entry table (both maps are monotonic, so the max commutes with them): on 64 real test images
// the logits, which both pooled activations feed, are the bytes of the three nodes run one by one.
BOOST_AUTO_TEST_CASE(the_int8_cnns_pools_run_on_bytes_with_the_unfused_result) {
    const onnx::Tensor images = first_images("t10k", 64), calib = first_images("train", 64);
    const std::string path = std::string(STACKLAB_MODELS_DIR) + "/fashion_cnn.onnx";
    const onnx::Model int8 = quantize_model(onnx::parse_model(slurp(path), path), {calib}, options_for("int8")).model;
    const Graph g = import_onnx(int8);
    const Plan plan = prepare(g, Kernels::fast);
    size_t pools = 0;
    for (size_t k = 0; k < g.nodes.size(); ++k)
        pools += plan.node_kernels[k].rfind("dequantize_per_tensor + max_pool2d (int8) + ", 0) == 0;
    BOOST_TEST(pools == 2u, pools << " fused pools");  // the second through its Flatten
    RunOptions keep;
    keep.keep_activations = true;
    const RunResult together = run(plan, {images}), apart = run(plan, {images}, keep);
    BOOST_TEST((together.outputs.at(0) == apart.outputs.at(0)));
}

BOOST_AUTO_TEST_SUITE_END()
