#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "nn/onnx_proto.hpp"

using namespace stacklab::nn::onnx;
namespace fs = std::filesystem;

namespace {

// Debian's libonnx-testdata (ONNX 1.12 backend node tests), installed by scripts/install-deps.sh.
const std::string kNodeTests = "/usr/share/libonnx-testdata/data/node";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string node_test(const std::string& name, const std::string& file = "model.onnx") {
    return kNodeTests + "/" + name + "/" + file;
}

Model load_model(const std::string& name) {
    const std::string path = node_test(name);
    return parse_model(read_file(path), path);
}

Tensor load_tensor(const std::string& name, const std::string& file) {
    const std::string path = node_test(name, "test_data_set_0/" + file);
    return parse_tensor(read_file(path), path);
}

// The message of the OnnxError that `f` throws; "" when it throws nothing.
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const OnnxError& e) {
        return e.what();
    }
    return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Hand-written protobuf wire bytes, for inputs that no well-behaved writer produces.
namespace pb {
std::string varint(uint64_t v) {
    std::string s;
    while (v >= 0x80) {
        s.push_back(char(uint8_t(v) | 0x80));
        v >>= 7;
    }
    s.push_back(char(v));
    return s;
}
std::string tag(uint32_t field, int wire) { return varint((uint64_t(field) << 3) | uint64_t(wire)); }
std::string vfield(uint32_t field, uint64_t v) { return tag(field, 0) + varint(v); }
std::string lfield(uint32_t field, const std::string& payload) {
    return tag(field, 2) + varint(payload.size()) + payload;
}
std::string f32(float f) { return std::string(reinterpret_cast<const char*>(&f), 4); }
std::string f64(double d) { return std::string(reinterpret_cast<const char*>(&d), 8); }
std::string f32field(uint32_t field, float f) { return tag(field, 5) + f32(f); }
// A model around one graph, opset 17.
std::string model(const std::string& graph) {
    return vfield(1, 8) + lfield(7, graph) + lfield(8, vfield(2, 17));
}
std::string node_with_attribute(const std::string& op, const std::string& attribute) {
    return lfield(4, op) + lfield(5, attribute);
}
}  // namespace pb

const ValueInfo& find_input(const Graph& g, const std::string& name) {
    for (const auto& vi : g.inputs)
        if (vi.name == name) return vi;
    BOOST_FAIL("no graph input " << name);
    throw std::logic_error("unreachable");
}

// Every test case folder with its model and data files, sorted for a stable order.
struct NodeTest {
    std::string name;
    std::string model_path;
    std::vector<std::string> data_files;  // test_data_set_*/{input,output}_*.pb
};

std::vector<NodeTest> all_node_tests() {
    std::vector<NodeTest> tests;
    BOOST_REQUIRE_MESSAGE(fs::is_directory(kNodeTests), kNodeTests << " is missing: install libonnx-testdata");
    for (const auto& entry : fs::directory_iterator(kNodeTests)) {
        const fs::path model = entry.path() / "model.onnx";
        if (!fs::is_regular_file(model)) continue;
        NodeTest t{entry.path().filename().string(), model.string(), {}};
        for (const auto& set : fs::directory_iterator(entry.path())) {
            if (!set.is_directory()) continue;
            for (const auto& f : fs::directory_iterator(set.path()))
                if (f.path().extension() == ".pb") t.data_files.push_back(f.path().string());
        }
        std::sort(t.data_files.begin(), t.data_files.end());
        tests.push_back(std::move(t));
    }
    std::sort(tests.begin(), tests.end(), [](const NodeTest& a, const NodeTest& b) { return a.name < b.name; });
    return tests;
}

// The declared type of `input_3.pb` / `output_0.pb` in the model.
const ValueInfo* declared_type(const Model& m, const std::string& pb_path) {
    const std::string file = fs::path(pb_path).filename().string();
    const bool input = file.rfind("input_", 0) == 0;
    const size_t index = std::stoul(file.substr(input ? 6 : 7));
    const auto& list = input ? m.graph.inputs : m.graph.outputs;
    return index < list.size() ? &list[index] : nullptr;
}

// Parses bytes as the given kind of file; OnnxError is the only acceptable failure.
enum class FileKind { model, tensor };
bool parses(const std::string& bytes, FileKind kind) {
    try {
        if (kind == FileKind::model) {
            Model m = parse_model(bytes, "mutated.onnx");
            // Whatever the reader accepts, the writer writes back to the same model.
            BOOST_TEST((parse_model(serialize_model(m), "rewritten.onnx") == m));
        } else {
            Tensor t = parse_tensor(bytes, "mutated.pb");
            BOOST_TEST((parse_tensor(serialize_tensor(t), "rewritten.pb") == t));
        }
        return true;
    } catch (const OnnxError&) {
        return false;
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(onnx_proto)

BOOST_AUTO_TEST_CASE(element_sizes_and_names_follow_onnx) {
    struct Row {
        DataType t;
        int32_t code;
        size_t size;
        const char* name;
    };
    const Row rows[] = {
        {DataType::FLOAT, 1, 4, "float"},      {DataType::UINT8, 2, 1, "uint8"},     {DataType::INT8, 3, 1, "int8"},
        {DataType::UINT16, 4, 2, "uint16"},    {DataType::INT16, 5, 2, "int16"},     {DataType::INT32, 6, 4, "int32"},
        {DataType::INT64, 7, 8, "int64"},      {DataType::STRING, 8, 0, "string"},   {DataType::BOOL, 9, 1, "bool"},
        {DataType::FLOAT16, 10, 2, "float16"}, {DataType::DOUBLE, 11, 8, "double"},  {DataType::UINT32, 12, 4, "uint32"},
        {DataType::UINT64, 13, 8, "uint64"},   {DataType::COMPLEX64, 14, 8, "complex64"},
        {DataType::COMPLEX128, 15, 16, "complex128"}, {DataType::BFLOAT16, 16, 2, "bfloat16"},
    };
    for (const auto& r : rows) {
        BOOST_TEST(int32_t(r.t) == r.code);
        BOOST_TEST(element_size(r.t) == r.size, r.name);
        BOOST_TEST(std::string(dtype_name(r.t)) == r.name);
        BOOST_TEST(is_known_dtype(r.code));
    }
    BOOST_TEST(!is_known_dtype(17));
    BOOST_TEST(!is_known_dtype(-1));
    BOOST_TEST(std::string(dtype_name(DataType(99))) == "undefined");
}

BOOST_AUTO_TEST_CASE(conv_model_attributes_match_the_onnx_test_suite) {
    const Model m = load_model("test_conv_with_strides_padding");
    BOOST_TEST(m.ir_version == 6);
    BOOST_TEST(m.producer_name == "backend-test");
    BOOST_TEST(m.opset() == 11);
    BOOST_TEST(m.opset("ai.onnx") == 11);
    BOOST_TEST(m.graph.name == "test_conv_with_strides_padding");
    BOOST_REQUIRE(m.graph.nodes.size() == 1u);
    const Node& conv = m.graph.nodes[0];
    BOOST_TEST(conv.op_type == "Conv");
    BOOST_TEST(conv.domain == "");
    BOOST_TEST(conv.inputs == (std::vector<std::string>{"x", "W"}), boost::test_tools::per_element());
    BOOST_TEST(conv.outputs == (std::vector<std::string>{"y"}), boost::test_tools::per_element());
    BOOST_REQUIRE(conv.attr("strides") && conv.attr("pads") && conv.attr("kernel_shape"));
    BOOST_TEST(conv.attr("strides")->type == Attribute::INTS);
    BOOST_TEST(conv.attr("strides")->ints == (std::vector<int64_t>{2, 2}), boost::test_tools::per_element());
    BOOST_TEST(conv.attr("pads")->ints == (std::vector<int64_t>{1, 1, 1, 1}), boost::test_tools::per_element());
    BOOST_TEST(conv.attr("kernel_shape")->ints == (std::vector<int64_t>{3, 3}), boost::test_tools::per_element());
    BOOST_TEST(conv.attr("dilations") == nullptr);

    const ValueInfo& x = find_input(m.graph, "x");
    BOOST_TEST((x.kind == ValueKind::TENSOR));
    BOOST_TEST((x.elem_type == DataType::FLOAT));
    BOOST_TEST(x.has_shape);
    BOOST_TEST(x.dims == (std::vector<int64_t>{1, 1, 7, 5}), boost::test_tools::per_element());
    BOOST_TEST(find_input(m.graph, "W").dims == (std::vector<int64_t>{1, 1, 3, 3}), boost::test_tools::per_element());
    BOOST_REQUIRE(m.graph.outputs.size() == 1u);
    BOOST_TEST(m.graph.outputs[0].name == "y");
    // (7 + 2 - 3) / 2 + 1 = 4 rows, (5 + 2 - 3) / 2 + 1 = 3 columns
    BOOST_TEST(m.graph.outputs[0].dims == (std::vector<int64_t>{1, 1, 4, 3}), boost::test_tools::per_element());

    const Tensor w = load_tensor("test_conv_with_strides_padding", "input_1.pb");
    BOOST_TEST(w.name == "W");
    BOOST_TEST(w.dims == (std::vector<int64_t>{1, 1, 3, 3}), boost::test_tools::per_element());
    BOOST_TEST(w.to_vector<float>() == std::vector<float>(9, 1.0f), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(layer_normalization_model_reads_int_and_float_attributes_and_three_outputs) {
    const Model m = load_model("test_layer_normalization_3d_axis_negative_1_epsilon");
    BOOST_TEST(m.ir_version == 8);
    BOOST_TEST(m.opset() == 17);
    const Node& ln = m.graph.nodes.at(0);
    BOOST_TEST(ln.op_type == "LayerNormalization");
    BOOST_REQUIRE(ln.attr("axis") && ln.attr("epsilon"));
    BOOST_TEST(ln.attr("axis")->type == Attribute::INT);
    BOOST_TEST(ln.attr("axis")->i == -1);
    BOOST_TEST(ln.attr("epsilon")->type == Attribute::FLOAT);
    BOOST_TEST(ln.attr("epsilon")->f == 0.1f);
    BOOST_TEST(ln.outputs == (std::vector<std::string>{"Y", "Mean", "InvStdDev"}), boost::test_tools::per_element());
    BOOST_TEST(find_input(m.graph, "X").dims == (std::vector<int64_t>{2, 3, 5}), boost::test_tools::per_element());
    BOOST_TEST(m.graph.outputs.at(1).dims == (std::vector<int64_t>{2, 3, 1}), boost::test_tools::per_element());

    // The expanded variant is the same computation as a graph of primitive ops.
    const Model expanded = load_model("test_layer_normalization_3d_axis_negative_1_epsilon_expanded");
    BOOST_TEST(expanded.graph.nodes.size() > 10u);
    BOOST_TEST(expanded.graph.outputs.size() == 3u);
}

BOOST_AUTO_TEST_CASE(qlinearmatmul_model_declares_uint8_and_float_inputs) {
    const Model m = load_model("test_qlinearmatmul_2D");
    BOOST_TEST(m.opset() == 10);
    const Node& n = m.graph.nodes.at(0);
    BOOST_TEST(n.op_type == "QLinearMatMul");
    BOOST_TEST(n.inputs.size() == 8u);
    BOOST_TEST(n.attributes.empty());
    const std::vector<std::pair<std::string, DataType>> expected = {
        {"a", DataType::UINT8},       {"a_scale", DataType::FLOAT}, {"a_zero_point", DataType::UINT8},
        {"b", DataType::UINT8},       {"b_scale", DataType::FLOAT}, {"b_zero_point", DataType::UINT8},
        {"y_scale", DataType::FLOAT}, {"y_zero_point", DataType::UINT8}};
    BOOST_REQUIRE(m.graph.inputs.size() == expected.size());
    for (size_t k = 0; k < expected.size(); ++k) {
        BOOST_TEST(m.graph.inputs[k].name == expected[k].first);
        BOOST_TEST(int(m.graph.inputs[k].elem_type) == int(expected[k].second), expected[k].first);
    }
    BOOST_TEST(find_input(m.graph, "a").dims == (std::vector<int64_t>{2, 4}), boost::test_tools::per_element());
    BOOST_TEST(find_input(m.graph, "b").dims == (std::vector<int64_t>{4, 3}), boost::test_tools::per_element());
    BOOST_TEST((m.graph.outputs.at(0).elem_type == DataType::UINT8));

    const Tensor a = load_tensor("test_qlinearmatmul_2D", "input_0.pb");
    BOOST_TEST((a.dtype == DataType::UINT8));
    BOOST_TEST(a.numel() == 8);
    BOOST_TEST(a.data.size() == 8u);
}

BOOST_AUTO_TEST_CASE(quantizelinear_test_data_decodes_to_the_documented_values) {
    // onnx/backend/test/case/node/quantizelinear.py: x = [0, 2, 3, 1000, -254, -1000],
    // y_scale = 2, y_zero_point = 128 -> y = [128, 129, 130, 255, 1, 0].
    const Tensor x = load_tensor("test_quantizelinear", "input_0.pb");
    BOOST_TEST(x.name == "x");
    BOOST_TEST((x.dtype == DataType::FLOAT));
    BOOST_TEST(x.dims == (std::vector<int64_t>{6}), boost::test_tools::per_element());
    BOOST_TEST(x.to_vector<float>() == (std::vector<float>{0, 2, 3, 1000, -254, -1000}), boost::test_tools::per_element());
    BOOST_TEST(x.as<float>()[3] == 1000.0f);

    const Tensor scale = load_tensor("test_quantizelinear", "input_1.pb");
    BOOST_TEST(scale.dims.empty());  // a scalar
    BOOST_TEST(scale.numel() == 1);
    BOOST_TEST(scale.as<float>()[0] == 2.0f);

    const Tensor zero_point = load_tensor("test_quantizelinear", "input_2.pb");
    BOOST_TEST((zero_point.dtype == DataType::UINT8));
    BOOST_TEST(zero_point.to_vector<uint8_t>() == (std::vector<uint8_t>{128}), boost::test_tools::per_element());

    const Tensor y = load_tensor("test_quantizelinear", "output_0.pb");
    BOOST_TEST(y.to_vector<uint8_t>() == (std::vector<uint8_t>{128, 129, 130, 255, 1, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(typed_float_data_and_raw_data_decode_to_the_same_bytes) {
    // test_constant stores its value as float_data in the model and as raw_data in output_0.pb.
    const Model m = load_model("test_constant");
    const Attribute* value = m.graph.nodes.at(0).attr("value");
    BOOST_REQUIRE(value);
    BOOST_TEST(value->type == Attribute::TENSOR);
    BOOST_TEST(value->t.name == "const_tensor");
    const Tensor expected = load_tensor("test_constant", "output_0.pb");
    BOOST_TEST(value->t.dims == (std::vector<int64_t>{5, 5}), boost::test_tools::per_element());
    BOOST_TEST((value->t.dtype == expected.dtype));
    BOOST_TEST(value->t.dims == expected.dims, boost::test_tools::per_element());
    BOOST_TEST(value->t.data == expected.data, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(if_node_branches_parse_as_subgraphs) {
    const Model m = load_model("test_if");
    const Node& node = m.graph.nodes.at(0);
    BOOST_TEST(node.op_type == "If");
    BOOST_TEST((find_input(m.graph, "cond").elem_type == DataType::BOOL));
    BOOST_TEST(find_input(m.graph, "cond").has_shape);
    BOOST_TEST(find_input(m.graph, "cond").dims.empty());  // a scalar
    const Attribute* then_branch = node.attr("then_branch");
    const Attribute* else_branch = node.attr("else_branch");
    BOOST_REQUIRE(then_branch && else_branch);
    BOOST_TEST(then_branch->type == Attribute::GRAPH);
    BOOST_TEST(then_branch->graph().name == "then_body");
    BOOST_TEST(else_branch->graph().name == "else_body");
    const Node& constant = then_branch->graph().nodes.at(0);
    BOOST_TEST(constant.op_type == "Constant");
    BOOST_TEST(constant.attr("value")->t.to_vector<float>() == (std::vector<float>{1, 2, 3, 4, 5}),
               boost::test_tools::per_element());
    BOOST_TEST(else_branch->graph().nodes.at(0).attr("value")->t.to_vector<float>() ==
                   (std::vector<float>{5, 4, 3, 2, 1}),
               boost::test_tools::per_element());
    BOOST_CHECK_THROW(constant.attr("value")->graph(), std::logic_error);
}

BOOST_AUTO_TEST_CASE(string_tensors_decode_from_string_data) {
    const Tensor t = load_tensor("test_cast_FLOAT_to_STRING", "output_0.pb");
    BOOST_TEST((t.dtype == DataType::STRING));
    BOOST_TEST(int64_t(t.strings.size()) == t.numel());
    BOOST_TEST(t.data.empty());
    BOOST_TEST(!t.strings.at(0).empty());
    const Tensor in = load_tensor("test_cast_FLOAT_to_STRING", "input_0.pb");
    BOOST_TEST(in.dims == t.dims, boost::test_tools::per_element());
    BOOST_TEST(std::stof(t.strings[0]) == in.as<float>()[0], boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(sequence_and_optional_test_data_load_as_values) {
    const Model m = load_model("test_identity_sequence");
    BOOST_TEST((m.graph.inputs.at(0).kind == ValueKind::SEQUENCE));
    BOOST_TEST(!m.graph.inputs.at(0).type_proto.empty());
    const std::string path = node_test("test_identity_sequence", "test_data_set_0/input_0.pb");
    const Value seq = parse_value(read_file(path), path, ValueKind::SEQUENCE);
    BOOST_TEST(seq.name == "x");
    BOOST_TEST((seq.elem_kind == ValueKind::TENSOR));
    BOOST_REQUIRE(seq.elements.size() == 2u);
    BOOST_TEST(seq.elements[0].tensor.dims == (std::vector<int64_t>{1, 1, 2, 2}), boost::test_tools::per_element());
    BOOST_TEST(seq.elements[0].tensor.to_vector<float>() == (std::vector<float>{1, 2, 3, 4}),
               boost::test_tools::per_element());
    BOOST_TEST(seq.elements[1].tensor.to_vector<float>() == (std::vector<float>{2, 3, 1, 5}),
               boost::test_tools::per_element());

    const std::string opt_path = node_test("test_identity_opt", "test_data_set_0/input_0.pb");
    const Value opt = parse_value(read_file(opt_path), opt_path, ValueKind::OPTIONAL);
    BOOST_TEST((opt.elem_kind == ValueKind::SEQUENCE));
    BOOST_REQUIRE(opt.elements.size() == 1u);
    BOOST_TEST(opt.elements[0].elements.at(0).tensor.to_vector<float>() == (std::vector<float>{1, 2, 3, 4, 5}),
               boost::test_tools::per_element());

    const std::string empty_path = node_test("test_optional_has_element_empty", "test_data_set_0/input_0.pb");
    const Value empty = parse_value(read_file(empty_path), empty_path, ValueKind::OPTIONAL);
    BOOST_TEST(empty.elements.empty());

    BOOST_TEST(contains(error_of([&] { parse_value(read_file(path), path, ValueKind::MAP); }),
                        "map values are not supported"));
}

BOOST_AUTO_TEST_CASE(every_node_test_model_and_data_file_loads) {
    size_t models = 0, tensors = 0, values = 0, bfloat16_as_uint16 = 0;
    for (const NodeTest& t : all_node_tests()) {
        BOOST_TEST_CONTEXT(t.name) {
            Model m;
            try {
                m = parse_model(read_file(t.model_path), t.model_path);
                ++models;
            } catch (const OnnxError& e) {
                BOOST_ERROR(e.what());
                continue;
            }
            BOOST_TEST(!m.graph.nodes.empty());
            BOOST_TEST(!m.opset_imports.empty());
            for (const std::string& file : t.data_files) {
                const ValueInfo* vi = declared_type(m, file);
                if (!vi) {
                    BOOST_ERROR(file << " has no declared graph input or output");
                    continue;
                }
                try {
                    if (vi->kind == ValueKind::TENSOR) {
                        const Tensor x = parse_tensor(read_file(file), file);
                        ++tensors;
                        // ONNX 1.12 wrote its bfloat16 test data as uint16 (numpy has no
                        // bfloat16): a quirk of the data, not of the reader.
                        if (vi->elem_type == DataType::BFLOAT16 && x.dtype == DataType::UINT16) {
                            ++bfloat16_as_uint16;
                            continue;
                        }
                        // The data agrees with the type the model declares for it. Only the
                        // type of CastLike's `like` input matters: its data has shape [1].
                        BOOST_TEST(int(x.dtype) == int(vi->elem_type), file);
                        const bool castlike_like = t.name.rfind("test_castlike_", 0) == 0 && vi->name == "like";
                        if (vi->has_shape && !castlike_like) {
                            BOOST_TEST(x.dims.size() == vi->dims.size(), file);
                            for (size_t k = 0; k < std::min(x.dims.size(), vi->dims.size()); ++k)
                                if (vi->dims[k] >= 0) BOOST_TEST(x.dims[k] == vi->dims[k], file << " dim " << k);
                        }
                    } else {
                        parse_value(read_file(file), file, vi->kind);
                        ++values;
                    }
                } catch (const OnnxError& e) {
                    BOOST_ERROR(e.what());
                }
            }
        }
    }
    BOOST_TEST_MESSAGE("loaded " << models << " models, " << tensors << " tensors, " << values
                                 << " sequence/optional values");
    BOOST_TEST(models > 900u);
    BOOST_TEST(tensors > 2700u);
    BOOST_TEST(values > 40u);
    BOOST_TEST(bfloat16_as_uint16 == 8u);  // test_cast(like)_*BFLOAT16*: see above
}

BOOST_AUTO_TEST_CASE(writer_round_trips_every_node_test_model_and_data_file) {
    size_t checked = 0;
    for (const NodeTest& t : all_node_tests()) {
        BOOST_TEST_CONTEXT(t.name) {
            const Model m = parse_model(read_file(t.model_path), t.model_path);
            const std::string bytes = serialize_model(m);
            const Model again = parse_model(bytes, "rewritten.onnx");
            BOOST_TEST((again == m));
            BOOST_TEST((serialize_model(again) == bytes));  // the writer is deterministic
            for (const std::string& file : t.data_files) {
                const ValueInfo* vi = declared_type(m, file);
                BOOST_REQUIRE(vi);
                const Value v = parse_value(read_file(file), file, vi->kind);
                BOOST_TEST((parse_value(serialize_value(v), "rewritten.pb", vi->kind) == v), file);
            }
            ++checked;
        }
    }
    BOOST_TEST(checked > 900u);
}

BOOST_AUTO_TEST_CASE(a_hand_built_model_with_every_field_round_trips) {
    Model m;
    m.ir_version = 8;
    m.opset_imports = {{"", 17}, {"com.microsoft", 1}};
    m.producer_name = "stacklab";
    m.producer_version = "0.1";
    m.domain = "lab.stack";
    m.model_version = 3;
    m.doc_string = "round trip";
    m.metadata_props = {{"quant", "int8"}, {"calibration", ""}};

    Tensor w;
    w.name = "w";
    w.dtype = DataType::INT8;
    w.dims = {2, 3};
    w.data = {0x80, 0xff, 0, 1, 2, 0x7f};
    Tensor s;
    s.name = "labels";
    s.dtype = DataType::STRING;
    s.dims = {2};
    s.strings = {"cat", std::string("n\0ul", 4)};
    Tensor half;
    half.dtype = DataType::FLOAT16;
    half.dims = {0, 4};  // zero elements
    m.graph.name = "g";
    m.graph.doc_string = "graph doc";
    m.graph.initializers = {w, s, half};

    Graph body;
    body.name = "body";
    Node id;
    id.op_type = "Identity";
    id.inputs = {"x"};
    id.outputs = {"y"};
    body.nodes = {id};

    Node n;
    n.name = "n0";
    n.op_type = "Custom";
    n.domain = "com.microsoft";
    n.doc_string = "node doc";
    n.inputs = {"x", "", "w"};  // an omitted optional input in the middle
    n.outputs = {"y"};
    auto attr = [](const char* name, Attribute::Type type) {
        Attribute a;
        a.name = name;
        a.type = type;
        return a;
    };
    Attribute f = attr("alpha", Attribute::FLOAT);
    f.f = -0.0f;
    Attribute nan = attr("nan", Attribute::FLOAT);
    nan.f = std::nanf("");
    Attribute i = attr("axis", Attribute::INT);
    i.i = -9000000000LL;
    Attribute str = attr("mode", Attribute::STRING);
    str.s = "constant";
    Attribute t = attr("value", Attribute::TENSOR);
    t.t = w;
    Attribute g = attr("body", Attribute::GRAPH);
    g.graphs = {body};
    Attribute fs_ = attr("scales", Attribute::FLOATS);
    fs_.floats = {0.5f, -1.25f, 1e-30f};
    Attribute is = attr("pads", Attribute::INTS);
    is.ints = {0, -1, INT64_MAX, INT64_MIN};
    Attribute ss = attr("names", Attribute::STRINGS);
    ss.strings = {"a", "", "c"};
    Attribute ts = attr("tensors", Attribute::TENSORS);
    ts.tensors = {w, s};
    Attribute gs = attr("branches", Attribute::GRAPHS);
    gs.graphs = {body, body};
    Attribute tp = attr("type", Attribute::TYPE_PROTO);
    tp.opaque = {pb::lfield(1, pb::vfield(1, 1))};  // tensor(float)
    Attribute ref = attr("ref", Attribute::INT);
    ref.ref_attr_name = "outer";
    ref.doc_string = "attribute doc";
    n.attributes = {f, nan, i, str, t, g, fs_, is, ss, ts, gs, tp, ref};
    m.graph.nodes = {n};

    ValueInfo x;
    x.name = "x";
    x.kind = ValueKind::TENSOR;
    x.elem_type = DataType::FLOAT;
    x.has_shape = true;
    x.dims = {-1, 3, -1, 0};
    x.dim_params = {"N", "", "", ""};
    ValueInfo unranked;
    unranked.name = "u";
    unranked.kind = ValueKind::TENSOR;
    unranked.elem_type = DataType::BFLOAT16;
    ValueInfo seq;
    seq.name = "seq";
    seq.kind = ValueKind::SEQUENCE;
    seq.type_proto = pb::lfield(4, pb::lfield(1, pb::lfield(1, pb::vfield(1, 1))));  // seq(tensor(float))
    seq.doc_string = "value doc";
    ValueInfo untyped;
    untyped.name = "untyped";
    m.graph.inputs = {x, unranked, seq};
    m.graph.outputs = {untyped};
    m.graph.value_info = {x};

    const Model again = parse_model(serialize_model(m), "built.onnx");
    BOOST_TEST((again == m));
    BOOST_TEST(std::isnan(again.graph.nodes[0].attr("nan")->f));
    BOOST_TEST(std::signbit(again.graph.nodes[0].attr("alpha")->f));
    BOOST_TEST(again.graph.initializers[0].to_vector<int8_t>() == (std::vector<int8_t>{-128, -1, 0, 1, 2, 127}),
               boost::test_tools::per_element());
    BOOST_TEST((again.graph.inputs[2].kind == ValueKind::SEQUENCE));
    BOOST_TEST(again.opset("com.microsoft") == 1);
    BOOST_TEST(again.opset("ai.onnx.ml") == 0);

    // Any difference is seen by operator== (it is what the round trips above rely on).
    Model changed = again;
    changed.graph.nodes[0].attributes[6].floats[2] = 2e-30f;
    BOOST_TEST((changed != again));
    changed = again;
    changed.graph.inputs[0].dim_params[0] = "M";
    BOOST_TEST((changed != again));
}

BOOST_AUTO_TEST_CASE(packed_and_unpacked_repeated_fields_decode_alike) {
    using namespace pb;
    // dims [2, 3] of int64 [-1, 300, 7, 0, 1, -70000]: unpacked (as onnx's Python writes dims)
    // and packed (as [packed = true] int64_data is written).
    std::string packed_data;
    for (int64_t v : {-1LL, 300LL, 7LL, 0LL, 1LL, -70000LL}) packed_data += varint(uint64_t(v));
    std::string unpacked_data;
    for (int64_t v : {-1LL, 300LL, 7LL, 0LL, 1LL, -70000LL}) unpacked_data += vfield(7, uint64_t(v));
    const std::string a = vfield(1, 2) + vfield(1, 3) + vfield(2, 7) + lfield(7, packed_data);
    const std::string b = lfield(1, varint(2) + varint(3)) + vfield(2, 7) + unpacked_data;
    const Tensor ta = parse_tensor(a, "a.pb"), tb = parse_tensor(b, "b.pb");
    BOOST_TEST((ta == tb));
    BOOST_TEST(ta.to_vector<int64_t>() == (std::vector<int64_t>{-1, 300, 7, 0, 1, -70000}),
               boost::test_tools::per_element());

    // float_data packed, unpacked, and a mix of both (protobuf concatenates).
    const std::string fa = vfield(1, 3) + vfield(2, 1) + lfield(4, f32(1.5f) + f32(-2.f) + f32(0.25f));
    const std::string fb = vfield(1, 3) + vfield(2, 1) + f32field(4, 1.5f) + f32field(4, -2.f) + f32field(4, 0.25f);
    const std::string fc = vfield(1, 3) + vfield(2, 1) + f32field(4, 1.5f) + lfield(4, f32(-2.f) + f32(0.25f));
    BOOST_TEST((parse_tensor(fa, "fa.pb") == parse_tensor(fb, "fb.pb")));
    BOOST_TEST((parse_tensor(fa, "fa.pb") == parse_tensor(fc, "fc.pb")));

    // Attribute ints and floats, packed and unpacked.
    const std::string packed_attr = lfield(1, "pads") + lfield(8, varint(1) + varint(2)) + vfield(20, 7);
    const std::string unpacked_attr = lfield(1, "pads") + vfield(8, 1) + vfield(8, 2) + vfield(20, 7);
    const std::string packed_floats = lfield(1, "s") + lfield(7, f32(0.5f) + f32(2.f)) + vfield(20, 6);
    const std::string unpacked_floats = lfield(1, "s") + f32field(7, 0.5f) + f32field(7, 2.f) + vfield(20, 6);
    auto node_of = [](const std::string& attr) {
        return parse_model(pb::model(lfield(1, node_with_attribute("Pad", attr))), "m.onnx").graph.nodes.at(0);
    };
    BOOST_TEST((node_of(packed_attr) == node_of(unpacked_attr)));
    BOOST_TEST(node_of(packed_attr).attributes.at(0).ints == (std::vector<int64_t>{1, 2}), boost::test_tools::per_element());
    BOOST_TEST((node_of(packed_floats) == node_of(unpacked_floats)));
    BOOST_TEST(node_of(packed_floats).attributes.at(0).floats == (std::vector<float>{0.5f, 2.f}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(int32_data_carries_narrow_integers_bool_and_float16_bits) {
    using namespace pb;
    auto tensor = [](DataType t, const std::string& data_fields, uint64_t n) {
        return parse_tensor(vfield(1, n) + vfield(2, uint64_t(t)) + data_fields, "t.pb");
    };
    auto int32_packed = [](std::initializer_list<int64_t> vs) {
        std::string s;
        for (int64_t v : vs) s += varint(uint64_t(v));  // negative int32 values are sign-extended
        return lfield(5, s);
    };
    BOOST_TEST(tensor(DataType::UINT8, int32_packed({0, 200, 255}), 3).to_vector<uint8_t>() ==
                   (std::vector<uint8_t>{0, 200, 255}),
               boost::test_tools::per_element());
    BOOST_TEST(tensor(DataType::INT8, int32_packed({-128, 127, -1}), 3).to_vector<int8_t>() ==
                   (std::vector<int8_t>{-128, 127, -1}),
               boost::test_tools::per_element());
    BOOST_TEST(tensor(DataType::INT16, int32_packed({-32768, 12345}), 2).to_vector<int16_t>() ==
                   (std::vector<int16_t>{-32768, 12345}),
               boost::test_tools::per_element());
    BOOST_TEST(tensor(DataType::INT32, int32_packed({-2147483648LL, 7}), 2).to_vector<int32_t>() ==
                   (std::vector<int32_t>{INT32_MIN, 7}),
               boost::test_tools::per_element());
    // float16 1.0 = 0x3C00, -2.0 = 0xC000; bfloat16 1.0 = 0x3F80.
    BOOST_TEST(tensor(DataType::FLOAT16, int32_packed({0x3C00, 0xC000}), 2).to_vector<uint16_t>() ==
                   (std::vector<uint16_t>{0x3C00, 0xC000}),
               boost::test_tools::per_element());
    BOOST_TEST(tensor(DataType::BFLOAT16, int32_packed({0x3F80}), 1).to_vector<uint16_t>() ==
                   (std::vector<uint16_t>{0x3F80}),
               boost::test_tools::per_element());
    // bool: one byte per element, 0 or 1.
    const Tensor flags = tensor(DataType::BOOL, int32_packed({1, 0, 5}), 3);
    BOOST_TEST(flags.data == (std::vector<uint8_t>{1, 0, 1}), boost::test_tools::per_element());
    BOOST_TEST(flags.as<bool>()[0]);
    // uint64_data carries UINT32 and UINT64; double_data DOUBLE and COMPLEX128.
    BOOST_TEST(tensor(DataType::UINT32, lfield(11, varint(4000000000u)), 1).to_vector<uint32_t>() ==
                   (std::vector<uint32_t>{4000000000u}),
               boost::test_tools::per_element());
    BOOST_TEST(tensor(DataType::UINT64, lfield(11, varint(UINT64_MAX)), 1).to_vector<uint64_t>() ==
                   (std::vector<uint64_t>{UINT64_MAX}),
               boost::test_tools::per_element());
    BOOST_TEST(tensor(DataType::DOUBLE, lfield(10, f64(0.1) + f64(-3)), 2).to_vector<double>() ==
                   (std::vector<double>{0.1, -3}),
               boost::test_tools::per_element());
    const Tensor c = tensor(DataType::COMPLEX64, lfield(4, f32(1) + f32(2) + f32(3) + f32(4)), 2);
    BOOST_TEST(c.data.size() == 16u);
    // Every typed encoding becomes raw_data on the way out and reads back identically.
    const Tensor back = parse_tensor(serialize_tensor(flags), "flags.pb");
    BOOST_TEST((back == flags));
}

BOOST_AUTO_TEST_CASE(tensor_accessors_refuse_the_wrong_element_type) {
    const Tensor y = load_tensor("test_quantizelinear", "output_0.pb");  // uint8
    BOOST_CHECK_THROW(y.as<int8_t>(), std::logic_error);
    BOOST_CHECK_THROW(y.to_vector<float>(), std::logic_error);
    BOOST_CHECK_NO_THROW(y.as<uint8_t>());
    const Tensor x = load_tensor("test_quantizelinear", "input_0.pb");  // float
    BOOST_CHECK_THROW(x.to_vector<int32_t>(), std::logic_error);
    BOOST_CHECK_THROW(x.as<double>(), std::logic_error);
}

BOOST_AUTO_TEST_CASE(unknown_fields_of_every_wire_type_are_skipped) {
    using namespace pb;
    const std::string base = vfield(1, 2) + vfield(2, 1) + lfield(8, "t") + lfield(9, f32(1) + f32(2));
    const std::string unknown = vfield(99, 12345) + tag(100, 1) + f64(1.0) + lfield(101, "opaque") +
                                tag(102, 5) + f32(3.f) + vfield(536870911, 1);  // the largest field number
    const Tensor plain = parse_tensor(base, "plain.pb");
    BOOST_TEST((parse_tensor(unknown + base + unknown, "unknown.pb") == plain));
    // Unknown fields deep inside a model too.
    const std::string node = lfield(4, "Relu") + lfield(1, "x") + lfield(2, "y") + unknown;
    const Model m = parse_model(model(lfield(1, node) + unknown) + unknown, "m.onnx");
    BOOST_TEST(m.graph.nodes.at(0).op_type == "Relu");
    BOOST_TEST(m.opset() == 17);
    // Groups (wire types 3 and 4) are never used by ONNX: refused by name.
    const std::string e = error_of([&] { parse_tensor(base + tag(77, 3) + tag(77, 4), "group.pb"); });
    BOOST_TEST(contains(e, "group.pb: field 77 uses wire type 3 (group), which is unsupported"), e);
}

BOOST_AUTO_TEST_CASE(errors_name_the_file_the_field_path_and_the_byte_offset) {
    using namespace pb;
    struct Case {
        std::string what;
        std::function<void()> parse;
        std::string message;  // expected substring
    };
    auto model_case = [](std::string bytes) { return [bytes] { parse_model(bytes, "model.onnx"); }; };
    auto tensor_case = [](std::string bytes) { return [bytes] { parse_tensor(bytes, "t.pb"); }; };

    // A graph whose second node declares 50 bytes but holds 3: the error points at that node's
    // tag, counted from the start of the file.
    const std::string node0 = lfield(4, "Relu");
    const std::string graph = lfield(1, node0) + tag(1, 2) + varint(50) + "abc";
    const std::string truncated = vfield(1, 8) + tag(7, 2) + varint(graph.size()) + graph;
    const size_t node1_at = 2 + 1 + varint(graph.size()).size() + lfield(1, node0).size();

    const std::string bad_dims_tensor = vfield(1, 2) + vfield(1, uint64_t(-3)) + vfield(2, 1);
    const std::string bad_dims_model = model(lfield(
        1, lfield(4, "Relu") + lfield(5, lfield(1, "keep") + vfield(20, 2)) +
               lfield(5, lfield(1, "value") + lfield(5, bad_dims_tensor) + vfield(20, 4))));

    const std::vector<Case> cases = {
        {"truncated node", model_case(truncated),
         "model.onnx: graph.node[1]: truncated length-delimited field (50 bytes declared, 3 left) at byte " +
             std::to_string(node1_at)},
        {"negative dims", model_case(bad_dims_model),
         "model.onnx: graph.node[0].attribute[1].t.dims: negative dimension -3"},
        {"11-byte varint", tensor_case(tag(2, 0) + std::string(10, '\xff') + "\x01"),
         "t.pb: data_type: varint longer than 10 bytes at byte 1"},
        {"truncated varint", tensor_case(tag(2, 0) + "\xff\xff"), "t.pb: data_type: truncated varint at byte 1"},
        {"dims overflow", tensor_case(vfield(1, 1ull << 40) + vfield(1, 1ull << 40) + vfield(2, 1)),
         "t.pb: dims: the product of dims [1099511627776, 1099511627776] overflows"},
        {"data size", tensor_case(vfield(1, 2) + vfield(1, 3) + vfield(2, 1) + lfield(9, std::string(20, '\0'))),
         "t.pb: raw_data: dims [2, 3] need 24 bytes of float data, found 20 at byte 6"},
        {"missing data", tensor_case(vfield(1, 5) + vfield(2, 7)), "t.pb: dims [5] need 40 bytes of int64 data, found 0"},
        {"external location", tensor_case(vfield(2, 1) + lfield(9, "") + vfield(14, 1)),
         "t.pb: data_location: external data not supported"},
        {"external entries", tensor_case(vfield(2, 1) + lfield(13, lfield(1, "location") + lfield(2, "w.bin"))),
         "t.pb: external_data: external data not supported"},
        {"segment", tensor_case(vfield(2, 1) + lfield(3, vfield(1, 0))), "t.pb: segment: segmented tensors are not supported"},
        {"wire type", tensor_case(vfield(8, 1)), "t.pb: name: wire type 0 (varint), expected 2 (length-delimited) at byte 0"},
        {"unknown dtype", tensor_case(vfield(2, 99)), "t.pb: data_type: unknown data type 99 at byte 0"},
        {"typed field for another type", tensor_case(vfield(1, 1) + vfield(2, 1) + lfield(7, varint(5))),
         "t.pb: int64_data: int64_data cannot hold a float tensor"},
        {"two data fields", tensor_case(vfield(1, 1) + vfield(2, 1) + lfield(9, f32(1)) + lfield(4, f32(1))),
         "t.pb: float_data: both raw_data and float_data hold data"},
        {"string count", tensor_case(vfield(1, 2) + vfield(2, 8) + lfield(6, "a")),
         "t.pb: string_data: dims [2] hold 2 strings, found 1"},
        {"packed float cut", tensor_case(vfield(1, 2) + vfield(2, 1) + lfield(4, f32(1) + std::string(2, '\0'))),
         "t.pb: float_data: truncated 32-bit value at byte 10"},
        {"field number 0", tensor_case(std::string(1, '\0')), "t.pb: invalid field number 0 at byte 0"},
        {"attribute value of another type",
         model_case(model(lfield(1, node_with_attribute("Elu", lfield(1, "alpha") + f32field(2, 1.f) + vfield(20, 2))))),
         "model.onnx: graph.node[0].attribute[0].f: attribute 'alpha' of type INT also sets f"},
        {"unknown attribute type",
         model_case(model(lfield(1, node_with_attribute("Elu", lfield(1, "alpha") + vfield(20, 42))))),
         "graph.node[0].attribute[0].type: attribute 'alpha' has unknown type 42"},
        {"unknown elem_type",
         model_case(model(lfield(11, lfield(1, "x") + lfield(2, lfield(1, vfield(1, 77)))))),
         "model.onnx: graph.input[0].type.tensor_type.elem_type: unknown data type 77"},
        {"a tensor is not a model", model_case(vfield(1, 2) + lfield(9, std::string(8, '\0'))),
         "model.onnx: no graph (ModelProto field 7): not an ONNX model"},
        {"empty file", model_case(""), "model.onnx: empty file, not an ONNX model at byte 0"},
        {"sequence of the wrong kind",
         [] { parse_value(lfield(1, "s") + vfield(2, 3) + lfield(3, vfield(1, 0) + vfield(2, 1)), "s.pb", ValueKind::SEQUENCE); },
         "s.pb: a sequence of sequence holds a tensor"},
    };
    for (const auto& c : cases) {
        const std::string e = error_of(c.parse);
        BOOST_TEST(contains(e, c.message), c.what << ": got \"" << e << "\"");
    }

    // OnnxError's accessors carry the parts of the message.
    try {
        parse_model(bad_dims_model, "model.onnx");
        BOOST_FAIL("no error");
    } catch (const OnnxError& e) {
        BOOST_TEST(e.file() == "model.onnx");
        BOOST_TEST(e.path() == "graph.node[0].attribute[1].t.dims");
        BOOST_TEST(e.offset() > 0u);
        BOOST_TEST(e.offset() < bad_dims_model.size());
    }
}

BOOST_AUTO_TEST_CASE(deeply_nested_graphs_are_refused_instead_of_overflowing_the_stack) {
    using namespace pb;
    auto nest = [](int levels) {
        std::string graph = lfield(2, "leaf");
        for (int k = 0; k < levels; ++k)
            graph = lfield(1, node_with_attribute("If", lfield(1, "then_branch") + lfield(6, graph) + vfield(20, 5)));
        return model(graph);
    };
    BOOST_CHECK_NO_THROW(parse_model(nest(30), "ok.onnx"));
    const std::string e = error_of([&] { parse_model(nest(1000), "deep.onnx"); });
    BOOST_TEST(contains(e, "nested deeper than 64 levels"), e);
}

BOOST_AUTO_TEST_CASE(every_prefix_of_real_files_parses_or_throws_onnx_error) {
    const auto start = std::chrono::steady_clock::now();
    size_t prefixes = 0, parsed = 0;
    for (const char* name : {"test_conv_with_strides_padding", "test_if", "test_constant", "test_qlinearmatmul_2D",
                             "test_layer_normalization_4d_axis_negative_4_expanded",
                             "test_sequence_map_add_2_sequences_expanded"}) {
        const std::string bytes = read_file(node_test(name));
        BOOST_TEST_CONTEXT(name) {
            for (size_t n = 0; n < bytes.size(); ++n, ++prefixes) parsed += parses(bytes.substr(0, n), FileKind::model);
            BOOST_TEST(parses(bytes, FileKind::model));
        }
    }
    const std::string pb = read_file(node_test("test_constant", "test_data_set_0/output_0.pb"));
    for (size_t n = 0; n < pb.size(); ++n, ++prefixes) parsed += parses(pb.substr(0, n), FileKind::tensor);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    BOOST_TEST_MESSAGE(prefixes << " prefixes, " << parsed << " parsed, in " << seconds << " s");
    BOOST_TEST(prefixes > 10000u);
    BOOST_TEST(parsed < prefixes / 10);  // nearly every cut is detected
    BOOST_TEST(seconds < 2.0);
}

BOOST_AUTO_TEST_CASE(corrupted_bytes_never_crash) {
    // std::mt19937's sequence is fixed by the standard; the distributions are not, so the
    // positions come from its raw output and both targets test the same corruptions.
    std::mt19937 rng(20240611u);
    size_t trials = 0, parsed = 0;
    const std::vector<std::pair<std::string, FileKind>> files = {
        {node_test("test_conv_with_strides_padding"), FileKind::model},
        {node_test("test_if"), FileKind::model},
        {node_test("test_constant"), FileKind::model},
        {node_test("test_layer_normalization_3d_axis_negative_1_epsilon"), FileKind::model},
        {node_test("test_cast_FLOAT_to_STRING", "test_data_set_0/output_0.pb"), FileKind::tensor},
        {node_test("test_quantizelinear", "test_data_set_0/input_0.pb"), FileKind::tensor},
    };
    for (const auto& [path, kind] : files) {
        const std::string original = read_file(path);
        BOOST_TEST_CONTEXT(path) {
            for (int k = 0; k < 1500; ++k, ++trials) {
                std::string bytes = original;
                const int flips = 1 + int(rng() % 3);
                for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] ^= char(1 + rng() % 255);
                parsed += parses(bytes, kind);
            }
        }
    }
    BOOST_TEST_MESSAGE(trials << " corrupted files, " << parsed << " still parsed");
    BOOST_TEST(parsed > 0u);
    BOOST_TEST(parsed < trials);
}

BOOST_AUTO_TEST_CASE(writer_refuses_what_it_cannot_write_back) {
    Tensor t;
    t.dtype = DataType::FLOAT;
    t.dims = {2};
    t.data.resize(4);
    BOOST_CHECK_THROW(serialize_tensor(t), std::invalid_argument);
    t.dims = {-1};
    BOOST_CHECK_THROW(serialize_tensor(t), std::invalid_argument);
    t.dims = {1};
    BOOST_CHECK_NO_THROW(serialize_tensor(t));
    t.strings = {"x"};
    BOOST_CHECK_THROW(serialize_tensor(t), std::invalid_argument);

    Model m;
    Node n;
    n.op_type = "Elu";
    Attribute a;
    a.name = "alpha";
    a.type = Attribute::INT;
    a.f = 1.0f;  // a FLOAT value on an INT attribute would be lost
    n.attributes = {a};
    m.graph.nodes = {n};
    try {
        serialize_model(m);
        BOOST_FAIL("no error");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(contains(e.what(), "graph.node[0].attribute[0]: attribute 'alpha' of type INT also sets f"), e.what());
    }
    m.graph.nodes[0].attributes[0].type = Attribute::UNDEFINED;
    BOOST_CHECK_THROW(serialize_model(m), std::invalid_argument);

    Model s;
    ValueInfo seq;
    seq.kind = ValueKind::SEQUENCE;  // without its type_proto bytes
    s.graph.inputs = {seq};
    BOOST_CHECK_THROW(serialize_model(s), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
