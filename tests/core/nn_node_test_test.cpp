// ONNX's own backend node tests (Debian libonnx-testdata, ONNX 1.12) run through the reference
// executor: the conformance oracle for our kernels. Every test of the list in issue 3 must pass,
// natively and in wasm (the wasm binary reads the same files through NODERAWFS). Then the ways a
// test must fail cleanly: a truncated model, an op we do not implement, inputs of the wrong shape.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "nn/node_test.hpp"
#include "nn/reference_ops.hpp"

using namespace stacklab::nn;
using onnx::DataType;
using onnx::Tensor;
namespace fs = std::filesystem;

namespace {

const std::string kNodeTests = "/usr/share/libonnx-testdata/data/node";

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// test_data_set_*/{input,output}_<i>.pb of one test folder, sets and files in numeric order.
std::vector<NodeTestDataSet> read_sets(const fs::path& dir) {
    std::vector<fs::path> set_dirs;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) set_dirs.push_back(e.path());
    std::sort(set_dirs.begin(), set_dirs.end());
    std::vector<NodeTestDataSet> sets;
    for (const fs::path& sd : set_dirs) {
        NodeTestDataSet set;
        set.label = sd.filename().string();
        for (int i = 0; fs::exists(sd / ("input_" + std::to_string(i) + ".pb")); ++i)
            set.input_pbs.push_back(read_file(sd / ("input_" + std::to_string(i) + ".pb")));
        for (int i = 0; fs::exists(sd / ("output_" + std::to_string(i) + ".pb")); ++i)
            set.output_pbs.push_back(read_file(sd / ("output_" + std::to_string(i) + ".pb")));
        sets.push_back(std::move(set));
    }
    return sets;
}

NodeTestResult run_installed(const std::string& name) {
    const fs::path dir = fs::path(kNodeTests) / name;
    return run_node_test(name, read_file(dir / "model.onnx"), read_sets(dir));
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The installed tests named exactly in `names` or starting with one of `prefixes`, without the
// *_expanded variants (the same tests decomposed into primitive ops).
std::vector<std::string> installed(const std::vector<std::string>& names, const std::vector<std::string>& prefixes) {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(kNodeTests)) {
        const std::string n = e.path().filename().string();
        if (ends_with(n, "_expanded")) continue;
        const bool listed = std::find(names.begin(), names.end(), n) != names.end() ||
                            std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return n.rfind(p, 0) == 0; });
        if (listed) found.push_back(n);
    }
    std::sort(found.begin(), found.end());
    return found;
}

// Runs every selected test, expecting at least `min_count` of them, each to pass.
void expect_all_pass(const std::vector<std::string>& names, const std::vector<std::string>& prefixes, size_t min_count) {
    BOOST_REQUIRE_MESSAGE(fs::is_directory(kNodeTests), kNodeTests << " is missing: scripts/install-deps.sh installs libonnx-testdata");
    const std::vector<std::string> tests = installed(names, prefixes);
    BOOST_TEST(tests.size() >= min_count, "found " << tests.size() << " tests, expected at least " << min_count);
    for (const std::string& n : names) BOOST_TEST((std::find(tests.begin(), tests.end(), n) != tests.end()), n << " is not installed");
    for (const std::string& name : tests) {
        const NodeTestResult r = run_installed(name);
        BOOST_TEST_MESSAGE(name << ": " << (r.passed ? "pass" : "FAIL") << ", max_abs_err " << r.max_abs_err << ", "
                                << r.datasets << " data set(s)");
        BOOST_TEST(r.passed, r.error);
        BOOST_TEST(r.datasets >= 1);
    }
}

template <class T>
Tensor make(const std::string& name, DataType dtype, std::vector<int64_t> dims, const std::vector<T>& values) {
    Tensor t;
    t.name = name;
    t.dtype = dtype;
    t.dims = std::move(dims);
    t.data.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
    return t;
}

onnx::ValueInfo value_info(const std::string& name, DataType dtype, std::vector<int64_t> dims) {
    onnx::ValueInfo v;
    v.name = name;
    v.kind = onnx::ValueKind::TENSOR;
    v.elem_type = dtype;
    v.has_shape = true;
    v.dim_params.assign(dims.size(), "");
    v.dims = std::move(dims);
    return v;
}

// A one-node model: inputs and output declared with the given types and shapes.
onnx::Model one_node_model(const std::string& op_type, const std::vector<onnx::ValueInfo>& inputs,
                           const onnx::ValueInfo& output, int64_t opset) {
    onnx::Model m;
    m.ir_version = 8;
    m.opset_imports = {{"", opset}};
    onnx::Node node;
    node.op_type = op_type;
    for (const auto& v : inputs) node.inputs.push_back(v.name);
    node.outputs = {output.name};
    m.graph.name = "g";
    m.graph.nodes = {node};
    m.graph.inputs = inputs;
    m.graph.outputs = {output};
    return m;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(nn_node_tests)

BOOST_AUTO_TEST_CASE(quantization_node_tests_pass_bit_exactly) {
    expect_all_pass({"test_quantizelinear", "test_quantizelinear_axis", "test_dequantizelinear", "test_dequantizelinear_axis",
                     "test_dynamicquantizelinear", "test_dynamicquantizelinear_max_adjusted",
                     "test_dynamicquantizelinear_min_adjusted", "test_qlinearmatmul_2D", "test_qlinearmatmul_3D",
                     "test_matmulinteger", "test_qlinearconv", "test_basic_convinteger", "test_convinteger_with_padding",
                     "test_convinteger_without_padding"},
                    {}, 14);
}

BOOST_AUTO_TEST_CASE(matmul_and_gemm_node_tests_pass) {
    expect_all_pass({"test_matmul_2d", "test_matmul_3d", "test_matmul_4d"}, {"test_gemm_"}, 14);
}

BOOST_AUTO_TEST_CASE(conv_node_tests_pass) {
    expect_all_pass({"test_basic_conv_with_padding", "test_basic_conv_without_padding", "test_conv_with_autopad_same"},
                    {"test_conv_with_strides_"}, 6);
}

BOOST_AUTO_TEST_CASE(normalization_and_activation_node_tests_pass) {
    expect_all_pass({"test_relu", "test_sigmoid", "test_tanh", "test_erf", "test_hardswish"},
                    {"test_layer_normalization_", "test_softmax_"}, 5 + 17 + 7);
}

BOOST_AUTO_TEST_CASE(pooling_node_tests_pass) {
    expect_all_pass({}, {"test_maxpool_2d_", "test_averagepool_2d_", "test_globalaveragepool"}, 11 + 11 + 2);
}

BOOST_AUTO_TEST_CASE(elementwise_node_tests_pass) { expect_all_pass({}, {"test_add", "test_mul"}, 7); }

BOOST_AUTO_TEST_CASE(a_truncated_model_fails_with_the_test_and_file_named) {
    const fs::path dir = fs::path(kNodeTests) / "test_add";
    const std::string model = read_file(dir / "model.onnx");
    const NodeTestResult r = run_node_test("test_add", model.substr(0, model.size() / 2), read_sets(dir));
    BOOST_TEST(!r.passed);
    BOOST_TEST(contains(r.error, "test_add: model.onnx"), r.error);
    BOOST_TEST_MESSAGE(r.error);
}

BOOST_AUTO_TEST_CASE(a_truncated_input_file_fails_with_the_file_named) {
    const fs::path dir = fs::path(kNodeTests) / "test_add";
    std::vector<NodeTestDataSet> sets = read_sets(dir);
    sets.at(0).input_pbs.at(1).resize(sets[0].input_pbs[1].size() - 7);
    const NodeTestResult r = run_node_test("test_add", read_file(dir / "model.onnx"), sets);
    BOOST_TEST(!r.passed);
    BOOST_TEST(contains(r.error, "test_data_set_0/input_1.pb"), r.error);
}

BOOST_AUTO_TEST_CASE(an_unsupported_op_fails_naming_the_op_and_opset) {
    const onnx::Model m = one_node_model("Frobnicate", {value_info("x", DataType::FLOAT, {2})},
                                         value_info("y", DataType::FLOAT, {2}), 17);
    NodeTestDataSet set;
    set.input_pbs = {onnx::serialize_tensor(make<float>("x", DataType::FLOAT, {2}, {1, 2}))};
    set.output_pbs = {onnx::serialize_tensor(make<float>("y", DataType::FLOAT, {2}, {1, 2}))};
    const NodeTestResult r = run_node_test("test_frobnicate", onnx::serialize_model(m), {set});
    BOOST_TEST(!r.passed);
    BOOST_TEST(r.unsupported);
    BOOST_TEST(contains(r.error, "test_frobnicate"), r.error);
    BOOST_TEST(contains(r.error, "Frobnicate node -> 'y' (opset 17)"), r.error);
    BOOST_TEST_MESSAGE(r.error);
}

BOOST_AUTO_TEST_CASE(an_unsupported_attribute_value_throws_a_node_error) {
    onnx::Node node;
    node.name = "pool1";
    node.op_type = "MaxPool";
    node.inputs = {"x"};
    node.outputs = {"y"};
    onnx::Attribute ks;
    ks.name = "kernel_shape";
    ks.type = onnx::Attribute::INTS;
    ks.ints = {2, 2};
    onnx::Attribute pad;
    pad.name = "auto_pad";
    pad.type = onnx::Attribute::STRING;
    pad.s = "SAME_SIDEWAYS";
    node.attributes = {ks, pad};
    const Tensor x = make<float>("x", DataType::FLOAT, {1, 1, 2, 2}, {1, 2, 3, 4});
    try {
        run_reference_node(node, {&x}, 12);
        BOOST_FAIL("expected a NodeError");
    } catch (const NodeError& e) {
        BOOST_TEST(e.unsupported());
        BOOST_TEST(contains(e.what(), "MaxPool node 'pool1' (opset 12): auto_pad 'SAME_SIDEWAYS'"), e.what());
    }
}

BOOST_AUTO_TEST_CASE(an_input_of_the_wrong_shape_fails_against_the_declared_shape) {
    const fs::path dir = fs::path(kNodeTests) / "test_matmul_2d";
    std::vector<NodeTestDataSet> sets = read_sets(dir);
    sets.at(0).input_pbs.at(0) = onnx::serialize_tensor(make<float>("a", DataType::FLOAT, {3, 5}, std::vector<float>(15, 1.0f)));
    const NodeTestResult r = run_node_test("test_matmul_2d", read_file(dir / "model.onnx"), sets);
    BOOST_TEST(!r.passed);
    BOOST_TEST(contains(r.error, "input 0 ('a') has shape [3,5] but the model declares [3,4]"), r.error);
}

BOOST_AUTO_TEST_CASE(mismatched_shapes_without_declared_shapes_fail_inside_the_op) {
    onnx::ValueInfo a = value_info("a", DataType::FLOAT, {}), b = value_info("b", DataType::FLOAT, {}),
                    y = value_info("y", DataType::FLOAT, {});
    a.has_shape = b.has_shape = y.has_shape = false;
    const onnx::Model m = one_node_model("MatMul", {a, b}, y, 13);
    NodeTestDataSet set;
    set.input_pbs = {onnx::serialize_tensor(make<float>("a", DataType::FLOAT, {3, 4}, std::vector<float>(12, 1.0f))),
                     onnx::serialize_tensor(make<float>("b", DataType::FLOAT, {5, 3}, std::vector<float>(15, 1.0f)))};
    set.output_pbs = {onnx::serialize_tensor(make<float>("y", DataType::FLOAT, {3, 3}, std::vector<float>(9, 4.0f)))};
    const NodeTestResult r = run_node_test("test_bad_matmul", onnx::serialize_model(m), {set});
    BOOST_TEST(!r.passed);
    BOOST_TEST(!r.unsupported);
    BOOST_TEST(contains(r.error, "MatMul node -> 'y' (opset 13): matrix product of [3,4] and [5,3]: inner dimensions 4 and 5 differ"),
               r.error);
}

BOOST_AUTO_TEST_CASE(a_wrong_expected_output_fails_naming_the_worst_element) {
    const fs::path dir = fs::path(kNodeTests) / "test_matmulinteger";
    std::vector<NodeTestDataSet> sets = read_sets(dir);
    Tensor expected = onnx::parse_tensor(sets.at(0).output_pbs.at(0), "output_0.pb");
    reinterpret_cast<int32_t*>(expected.data.data())[3] += 1;  // one step off: integers must be exact
    sets[0].output_pbs[0] = onnx::serialize_tensor(expected);
    const NodeTestResult r = run_node_test("test_matmulinteger", read_file(dir / "model.onnx"), sets);
    BOOST_TEST(!r.passed);
    BOOST_TEST(contains(r.error, "test_matmulinteger: test_data_set_0: output 0 'Y': 1 of 8 elements differ"), r.error);
    BOOST_TEST(contains(r.error, "worst at [1,1]"), r.error);
    BOOST_TEST(r.max_abs_err == 1.0);
}

// MatMulInteger with an int8 B runs on quant::gemm's packed kernels, with a uint8 B on a plain
// loop: shifting B by 128 (and its zero points with it) must give the same int32 products.
BOOST_AUTO_TEST_CASE(matmul_integer_gemm_path_matches_the_plain_loop) {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> byte(0, 255);
    const int64_t M = 5, K = 37, N = 11;
    for (DataType a_type : {DataType::UINT8, DataType::INT8}) {
        std::vector<uint8_t> a(M * K), b_u8(K * N), zb_u8(N), za(M);
        for (auto& v : a) v = static_cast<uint8_t>(byte(rng));
        for (auto& v : b_u8) v = static_cast<uint8_t>(byte(rng));
        for (auto& v : zb_u8) v = static_cast<uint8_t>(byte(rng));
        for (auto& v : za) v = static_cast<uint8_t>(byte(rng));
        std::vector<int8_t> b_s8(b_u8.size()), zb_s8(zb_u8.size());
        for (size_t i = 0; i < b_u8.size(); ++i) b_s8[i] = static_cast<int8_t>(b_u8[i] - 128);
        for (size_t i = 0; i < zb_u8.size(); ++i) zb_s8[i] = static_cast<int8_t>(zb_u8[i] - 128);
        onnx::Node node;
        node.op_type = "MatMulInteger";
        node.inputs = {"A", "B", "a_zero_point", "b_zero_point"};
        node.outputs = {"Y"};
        const Tensor ta = make<uint8_t>("A", a_type, {M, K}, a);
        for (bool per_row : {false, true}) {
            const Tensor tza = per_row ? make<uint8_t>("a_zero_point", a_type, {M}, za)
                                       : make<uint8_t>("a_zero_point", a_type, {}, {za[0]});
            const Tensor tbu = make<uint8_t>("B", DataType::UINT8, {K, N}, b_u8);
            const Tensor tzbu = make<uint8_t>("b_zero_point", DataType::UINT8, {N}, zb_u8);
            const Tensor tbs = make<int8_t>("B", DataType::INT8, {K, N}, b_s8);
            const Tensor tzbs = make<int8_t>("b_zero_point", DataType::INT8, {N}, zb_s8);
            const Tensor loop = run_reference_node(node, {&ta, &tbu, &tza, &tzbu}, 10).at(0);
            const Tensor gemm = run_reference_node(node, {&ta, &tbs, &tza, &tzbs}, 10).at(0);
            BOOST_TEST(loop.dims == (std::vector<int64_t>{M, N}));
            BOOST_TEST(loop.to_vector<int32_t>() == gemm.to_vector<int32_t>(),
                       "A " << onnx::dtype_name(a_type) << (per_row ? ", per-row a_zero_point" : ""));
        }
    }
}

BOOST_AUTO_TEST_CASE(quantize_linear_rounds_ties_to_even_and_saturates) {
    onnx::Node node;
    node.op_type = "QuantizeLinear";
    node.inputs = {"x", "s", "z"};
    node.outputs = {"y"};
    const Tensor x = make<float>("x", DataType::FLOAT, {6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000.0f});
    const Tensor s = make<float>("s", DataType::FLOAT, {}, {1.0f});
    const Tensor z = make<int8_t>("z", DataType::INT8, {}, {0});
    const Tensor y = run_reference_node(node, {&x, &s, &z}, 13).at(0);
    BOOST_TEST((y.dtype == DataType::INT8));
    BOOST_TEST(y.to_vector<int8_t>() == (std::vector<int8_t>{0, 2, 2, 0, -2, 127}));
}

// Softmax before opset 13 flattens the input to 2-D at `axis` and normalizes each row; from 13 on
// it normalizes along `axis` alone.
BOOST_AUTO_TEST_CASE(softmax_axis_semantics_follow_the_opset) {
    onnx::Node node;
    node.op_type = "Softmax";
    node.inputs = {"x"};
    node.outputs = {"y"};
    onnx::Attribute axis;
    axis.name = "axis";
    axis.type = onnx::Attribute::INT;
    axis.i = 0;
    node.attributes = {axis};
    const Tensor x = make<float>("x", DataType::FLOAT, {2, 2}, {0.0f, 0.0f, 0.0f, 0.0f});
    BOOST_TEST(run_reference_node(node, {&x}, 11).at(0).to_vector<float>() == (std::vector<float>(4, 0.25f)));
    BOOST_TEST(run_reference_node(node, {&x}, 13).at(0).to_vector<float>() == (std::vector<float>(4, 0.5f)));
}

BOOST_AUTO_TEST_CASE(unrequested_optional_outputs_come_back_empty) {
    const fs::path dir = fs::path(kNodeTests) / "test_layer_normalization_2d_axis1";
    onnx::Model m = onnx::parse_model(read_file(dir / "model.onnx"), "model.onnx");
    onnx::Node node = m.graph.nodes.at(0);
    node.outputs = {"Y", "", ""};
    const std::vector<NodeTestDataSet> sets = read_sets(dir);
    std::vector<Tensor> in;
    for (const auto& pb : sets.at(0).input_pbs) in.push_back(onnx::parse_tensor(pb, "input.pb"));
    const std::vector<Tensor> out = run_reference_node(node, {&in[0], &in[1], &in[2]}, 17);
    BOOST_TEST(out.size() == 3u);
    BOOST_TEST(out[0].dims == in[0].dims);
    BOOST_TEST(out[1].data.empty());
    BOOST_TEST(out[2].data.empty());
}

BOOST_AUTO_TEST_SUITE_END()
