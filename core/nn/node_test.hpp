// ONNX backend node tests against the reference executor (core/nn/reference_ops.hpp).
//
// A node test (onnx/backend/test/data/node/<name>/, Debian: /usr/share/libonnx-testdata) is a
// model.onnx, usually with one node, and test_data_set_*/ folders of input_<i>.pb and
// output_<i>.pb TensorProtos. run_node_test binds input_<i>.pb to the i-th graph input that is not
// an initializer, runs the graph's nodes in order and compares every graph output with
// output_<i>.pb, the way ONNX's backend test runner does:
//   * element type and shape must be equal;
//   * float and double elements within |got - expected| <= atol + rtol * |expected|, with ONNX's
//     defaults rtol = 1e-3, atol = 1e-7 (NaN matches NaN, an infinity only itself);
//   * every other element type bit for bit (quantized outputs must be exact).
// The core takes bytes, not paths: the caller reads the files (native/cli_main.cpp, the tests).
#pragma once

#include <string>
#include <vector>

#include "nn/onnx_proto.hpp"

namespace stacklab::nn {

constexpr double kNodeTestRtol = 1e-3;
constexpr double kNodeTestAtol = 1e-7;

// One test_data_set_N folder: the bytes of input_0.pb, input_1.pb, ... and output_0.pb, ... in
// order. `label` names the set in errors ("test_data_set_0"; empty: "test_data_set_<index>").
struct NodeTestDataSet {
    std::vector<std::string> input_pbs, output_pbs;
    std::string label;
};

struct NodeTestResult {
    std::string name;
    bool passed = false;
    double max_abs_err = 0.0;  // largest |got - expected| over every output element compared
    // Why the test failed, starting with the test's name, e.g.
    //   "test_add: test_data_set_0: output 0 'sum': 2 of 60 elements differ ..."
    //   "test_foo: test_data_set_0: Frobnicate node -> 'y' (opset 17): op type ... not implemented"
    // Empty when passed.
    std::string error;
    int datasets = 0;  // data sets run (including one that failed)
    bool unsupported = false;  // failed because the executor does not implement a node (NodeError::unsupported)
};

// Runs one node test; never throws (every problem, including a malformed model or .pb file,
// becomes passed = false with `error` naming the test, the file and the problem). A test without
// data sets fails.
NodeTestResult run_node_test(const std::string& name, const std::string& model_bytes,
                             const std::vector<NodeTestDataSet>& sets);

// Runs the nodes of model.graph in order with the reference executor. `inputs` bind to the graph
// inputs that are not initializers, in order (their element types and fixed dimensions must match
// the declared ones). Returns the graph outputs in order. Throws NodeError for a node that cannot
// run, std::runtime_error for a binding problem (both name the value or node).
std::vector<onnx::Tensor> run_reference_graph(const onnx::Model& model, const std::vector<onnx::Tensor>& inputs);

}  // namespace stacklab::nn
