// A whole ONNX model on a chip (chip/graph_sim.hpp): lowering, data types, fusion, both fidelities,
// and the functional run against the executor and the 16-bit GEMM.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "chip/catalog.hpp"
#include "chip/graph_sim.hpp"
#include "chip_toy_machine.hpp"
#include "nn/executor.hpp"
#include "nn/graph.hpp"
#include "quant/gemm_float.hpp"
#include "quant/half.hpp"
#include "test_support.hpp"

using namespace stacklab;
using namespace stacklab::chip;
using nn::onnx::DataType;
using nn::onnx::Tensor;

namespace {

// The shared toy machine (chip_toy_machine.hpp) grown to what these tests were worked out for:
// 2 matrix cores of 16x16x16 fp16 (16x32x16 int8) at 1 GHz, so the fp16 peak is
// 2 x 4096 x 2 x 1e9 = 16.384 TFLOPS; 4 vector cores of 128 B/cycle, an 8 MiB L2, off-chip 100 GB/s,
// 64 B/cycle of DMA per core; without the fp16 mode or with a bf16 one (same shape, 1 pJ a MAC).
Machine toy(bool fp16 = true, bool bf16 = false) {
    Machine m = test::toy(2);
    m.vector_cores = 4;
    m.vector_bytes_per_cycle = 128;
    m.l2_bytes = 8 << 20;
    m.offchip_bytes_per_s = 100e9;
    m.core_dma_bytes_per_cycle = 64;
    if (!fp16) m.shape[int(DType::fp16)] = MatrixShape();
    if (bf16) m.shape[int(DType::bf16)] = {16, 16, 16};
    m.mac_pj[int(DType::bf16)] = 1;
    return m;
}

Tensor floats(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& v) {
    Tensor t;
    t.name = name;
    t.dtype = DataType::FLOAT;
    t.dims = std::move(dims);
    t.data.resize(v.size() * 4);
    if (!v.empty()) std::memcpy(t.data.data(), v.data(), v.size() * 4);
    return t;
}

template <typename T>
Tensor ints(const std::string& name, DataType dt, std::vector<int64_t> dims, const std::vector<T>& v) {
    Tensor t;
    t.name = name;
    t.dtype = dt;
    t.dims = std::move(dims);
    t.data.resize(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(t.data.data(), v.data(), v.size() * sizeof(T));
    return t;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale) {
    test::Rng rng(seed);
    std::vector<float> v(n);
    for (float& x : v) x = rng.uniform(-scale, scale);
    return v;
}

nn::onnx::Attribute attr_i(const std::string& name, int64_t v) {
    nn::onnx::Attribute a;
    a.name = name;
    a.type = nn::onnx::Attribute::INT;
    a.i = v;
    return a;
}
nn::onnx::Attribute attr_ints(const std::string& name, std::vector<int64_t> v) {
    nn::onnx::Attribute a;
    a.name = name;
    a.type = nn::onnx::Attribute::INTS;
    a.ints = std::move(v);
    return a;
}

nn::onnx::Node node(const std::string& op, const std::string& name, std::vector<std::string> in,
                    std::vector<std::string> out, std::vector<nn::onnx::Attribute> attrs = {}) {
    nn::onnx::Node n;
    n.op_type = op;
    n.name = name;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attributes = std::move(attrs);
    return n;
}

nn::onnx::ValueInfo value(const std::string& name, std::vector<int64_t> dims, DataType t = DataType::FLOAT) {
    nn::onnx::ValueInfo v;
    v.name = name;
    v.kind = nn::onnx::ValueKind::TENSOR;
    v.elem_type = t;
    v.has_shape = true;
    v.dims = dims;
    for (int64_t d : dims) v.dim_params.push_back(d < 0 ? "N" : "");
    return v;
}

nn::Graph graph_of(nn::onnx::Graph g, int64_t opset = 20) {
    nn::onnx::Model m;
    m.ir_version = 9;
    m.opset_imports = {{"", opset}};
    m.producer_name = "stacklab-tests";
    m.graph = std::move(g);
    return nn::import_onnx(m);
}

// Y[N, 32] = X[N, 64] W[64, 32] + b (Gemm), then optionally Relu.
nn::Graph one_gemm(bool relu, int64_t K = 64, int64_t N = 32, bool trans_b = false) {
    nn::onnx::Graph g;
    g.name = "one_gemm";
    g.inputs = {value("x", {-1, K})};
    g.outputs = {value(relu ? "r" : "y", {-1, N})};
    g.initializers = {floats("w", trans_b ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N},
                             random_floats(size_t(K * N), 1, 0.5f)),
                      floats("b", {N}, random_floats(size_t(N), 2, 0.1f))};
    g.nodes = {node("Gemm", "fc", {"x", "w", "b"}, {"y"}, {attr_i("transB", trans_b ? 1 : 0)})};
    if (relu) g.nodes.push_back(node("Relu", "relu", {"y"}, {"r"}));
    return graph_of(std::move(g));
}

nn::Graph layernorm_gelu() {
    nn::onnx::Graph g;
    g.name = "ln_gelu";
    g.inputs = {value("x", {-1, 8, 256})};
    g.outputs = {value("y", {-1, 8, 256})};
    g.initializers = {floats("g", {256}, random_floats(256, 3, 1.0f)), floats("b", {256}, random_floats(256, 4, 0.1f))};
    g.nodes = {node("LayerNormalization", "ln", {"x", "g", "b"}, {"l"}, {attr_i("axis", -1)}),
               node("Gelu", "gelu", {"l"}, {"y"})};
    return graph_of(std::move(g));
}

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

nn::onnx::Model fashion_cnn_model() {
    return nn::onnx::parse_model(read_bytes(std::string(STACKLAB_MODELS_DIR) + "/fashion_cnn.onnx"), "fashion_cnn.onnx");
}

// The model in the QDQ form the lead's quantizer writes: every Conv / Gemm weight an int8
// initializer (symmetric, per output channel) behind a DequantizeLinear, every Conv / Gemm
// activation input behind a QuantizeLinear -> DequantizeLinear pair (int8, asymmetric: zero point 3).
// Output channels lie along axis 0 of a Conv weight and of a Gemm weight with transB = 1, along
// axis 1 of a Gemm weight with transB = 0 (fashion_cnn's); weight_axis0 = true quantizes along
// axis 0 regardless (for a [K, N] weight: one scale per input feature, which no integer GEMM can
// factor out of its sum).
nn::Graph qdq_of(nn::onnx::Model m, bool weight_axis0 = false) {
    std::vector<nn::onnx::Node> nodes;
    auto& g = m.graph;
    for (const auto& n : g.nodes) {
        if (n.op_type == "Conv" || n.op_type == "Gemm") {
            nn::onnx::Node q = n;
            const std::string x = n.inputs[0], w = n.inputs[1];
            auto it = std::find_if(g.initializers.begin(), g.initializers.end(), [&](const Tensor& t) { return t.name == w; });
            if (it == g.initializers.end()) throw std::logic_error("weight is not an initializer");
            const Tensor wf = *it;
            bool trans_b = false;
            for (const auto& a : n.attributes) trans_b = trans_b || (a.name == "transB" && a.i == 1);
            const int64_t axis = n.op_type == "Gemm" && !trans_b && !weight_axis0 ? 1 : 0;
            const int64_t channels = wf.dims[size_t(axis)];
            // Element i of a row-major [d0, rest] tensor lies in channel i / rest (axis 0) or i % d1 (axis 1, 2-D).
            auto channel = [&](int64_t i) { return axis == 0 ? i / (wf.numel() / channels) : i % channels; };
            std::vector<float> scales(static_cast<size_t>(channels), 0.0f);
            for (int64_t i = 0; i < wf.numel(); ++i)
                scales[size_t(channel(i))] = std::max(scales[size_t(channel(i))], std::fabs(wf.as<float>()[i]));
            for (float& sc : scales) sc = sc > 0 ? sc / 127 : 1;
            std::vector<int8_t> wq(size_t(wf.numel()));
            for (int64_t i = 0; i < wf.numel(); ++i)
                wq[size_t(i)] = int8_t(std::lround(wf.as<float>()[i] / scales[size_t(channel(i))]));
            g.initializers.push_back(ints<int8_t>(w + "_q", DataType::INT8, wf.dims, wq));
            g.initializers.push_back(floats(w + "_scale", {channels}, scales));
            g.initializers.push_back(floats(x + "_ascale", {}, {0.02f}));
            g.initializers.push_back(ints<int8_t>(x + "_azp", DataType::INT8, {}, {3}));
            nodes.push_back(node("QuantizeLinear", n.name + "_qx", {x, x + "_ascale", x + "_azp"}, {x + "_q"}));
            nodes.push_back(node("DequantizeLinear", n.name + "_dqx", {x + "_q", x + "_ascale", x + "_azp"}, {x + "_dq"}));
            nodes.push_back(node("DequantizeLinear", n.name + "_dqw", {w + "_q", w + "_scale"}, {w + "_dq"}, {attr_i("axis", axis)}));
            q.inputs[0] = x + "_dq";
            q.inputs[1] = w + "_dq";
            nodes.push_back(q);
        } else {
            nodes.push_back(n);
        }
    }
    g.nodes = nodes;
    return nn::import_onnx(m);
}

const OpRow& row(const ModelSim& s, const std::string& name) {
    for (const auto& r : s.rows)
        if (r.name == name) return r;
    throw std::logic_error("no row " + name);
}

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(chip_graph_sim)

// Gemm 4 x 64 x 32 in fp16 with a bias: ops = 2*4*32*64 = 16384; compulsory off-chip bytes =
// A 4*64*2 + B 64*32*2 + C 4*32*2 + bias 32*2 = 512 + 4096 + 256 + 64 = 4928. Compute 16384 /
// 16.384e12 = 1 ns; memory 4928 / 100e9 = 49.28 ns: memory-bound. Energy = 8192 MACs x 1 pJ +
// 4928 B x 10 pJ.
BOOST_AUTO_TEST_CASE(one_gemm_at_the_roofline_equals_the_hand_derived_formula) {
    const ModelSim s = simulate_model(toy(), one_gemm(false), "one_gemm", 4, Fidelity::roofline);
    BOOST_REQUIRE(s.rows.size() == 1);
    const OpRow& r = s.rows[0];
    BOOST_TEST(r.op == "Gemm");
    BOOST_TEST(r.dtype == "fp16");
    BOOST_TEST(r.fidelity_used == "roofline");
    BOOST_TEST(r.ops == 16384.0);
    BOOST_TEST(r.bytes.offchip == 4928.0);
    BOOST_TEST(r.time_s == 4928.0 / 100e9);
    BOOST_TEST((r.bound == Bound::memory));
    BOOST_TEST(r.cycles == 4928.0 / 100e9 * 1e9);
    BOOST_TEST(std::fabs(r.energy_j - (8192 * 1.0 + 4928 * 10.0) * 1e-12) < 1e-22);
    BOOST_TEST(std::fabs(r.utilization - 1e-9 / (4928.0 / 100e9)) < 1e-12);
    BOOST_TEST(s.time_s == r.time_s);
    BOOST_TEST(s.bytes.offchip == 4928.0);
    // The compute side: 2048 x 1024 x 1024 does 2^32 ops over about 10.5 MB (409 ops per byte,
    // above the ridge 16.384e12 / 100e9 = 164): compute-bound at 2^32 / 16.384e12 s.
    const ModelSim big = simulate_model(toy(), one_gemm(false, 1024, 1024), "big", 2048, Fidelity::roofline);
    BOOST_TEST((big.rows[0].bound == Bound::compute));
    BOOST_TEST(big.rows[0].time_s == 2.0 * 2048 * 1024 * 1024 / 16.384e12);
}

// One peak rule (roofline.hpp, tile_sim.hpp): `simulate --gemm`'s roofline (chip_peak over the
// catalog figures, gemm_work, roofline), a model's roofline row (simulate_model) and the tile
// simulator's floor (op_roofline) are the same numbers for the same GEMM on every chip, data type
// and pick, while the microarch-derived peak stays available alongside.
BOOST_AUTO_TEST_CASE(the_gemm_roofline_and_the_model_roofline_use_the_same_catalog_peak_for_every_chip_and_pick) {
    auto close = [](double a, double b) { return std::fabs(a - b) <= 1e-12 * std::max(std::fabs(a), std::fabs(b)); };
    int compared = 0, through_model = 0;
    const nn::Graph fc = one_gemm(false, 1024, 1024);
    for (const auto& c : load_catalog(bundled_catalog_files())) {
        for (Pick pick : {Pick::nominal, Pick::low, Pick::high}) {
            Machine m;
            try {
                m = machine_of(c, pick);
            } catch (const std::invalid_argument&) {
                continue;  // no usable microarch (Hygon K100, Journey 5)
            }
            for (DType t : {DType::int8, DType::fp16, DType::bf16}) {
                if (!m.unit(t).supported() || !c.figure(peak_figure_key(t)).known()) continue;
                BOOST_TEST_CONTEXT(c.id << " " << dtype_name(t) << " " << pick_name(pick)) {
                    const ChipPeak peak = chip_peak(c, t, pick);
                    BOOST_TEST(close(m.peak_ops_per_s(t), peak.ops_per_s));
                    BOOST_TEST(m.offchip_bytes_per_s == peak.mem_bytes_per_s);
                    BOOST_TEST(m.derived_peak_ops_per_s(t) == m.matrix_cores * m.unit(t).macs() * 2.0 * m.clock_hz);
                    // A compute-bound and a memory-bound GEMM, the CLI's way and the model's way.
                    for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{4096, 4096, 4096}, {1, 4096, 4096}}) {
                        const RooflineRow cli = roofline(peak, gemm_work(double(M), double(N), double(K), t, t == DType::int8 ? 4 : 2));
                        const OpFloor sim = op_roofline(m, gemm_op("g", M, N, K, t));
                        BOOST_TEST(cli.work.bytes == sim.offchip_bytes);
                        BOOST_TEST(close(cli.compute_s, sim.compute_s));
                        BOOST_TEST(close(cli.memory_s, sim.memory_s));
                        BOOST_TEST(close(cli.time_s, sim.time_s));
                        BOOST_TEST((cli.bound == sim.bound));
                    }
                    DType float_type;
                    if (t != DType::int8 && chip_float_type(m, float_type) && float_type == t) {
                        // The Gemm node carries a bias of N values: the roofline CLI's bytes plus those.
                        const ModelSim s = simulate_model(m, fc, "g", 2048, Fidelity::roofline);
                        OpWork w = gemm_work(2048, 1024, 1024, t, 2);
                        w.bytes += 1024 * 2;
                        BOOST_TEST(close(s.rows[0].time_s, roofline(peak, w).time_s));
                        ++through_model;
                    }
                    ++compared;
                }
            }
        }
    }
    BOOST_TEST(compared >= 3 * 15);
    BOOST_TEST(through_model >= 3 * 6);
    // The Ascend 910B: catalog default 320 TFLOPS fp16, while its microarch (24 cube cores at the
    // 910B2's 1.8 GHz) derives 353.9; the cube steps at the rate that gives 320.
    for (const auto& c : load_catalog(bundled_catalog_files()))
        if (c.id == "ascend-910b") {
            const Machine m = machine_of(c);
            BOOST_TEST(close(m.peak_ops_per_s(DType::fp16), 320e12));
            BOOST_TEST(m.derived_peak_ops_per_s(DType::fp16) == 24 * 4096 * 2.0 * 1.8e9);
            BOOST_TEST(close(m.matrix_rate(DType::fp16), 320e12 / (24 * 4096 * 2.0)));
            BOOST_TEST(m.clock_hz == 1.8e9);
        }
}

BOOST_AUTO_TEST_CASE(tile_fidelity_of_a_gemm_is_the_tile_simulation_and_never_below_its_roofline) {
    const ModelSim roof = simulate_model(toy(), one_gemm(false, 256, 128), "g", 96, Fidelity::roofline);
    const ModelSim tile = simulate_model(toy(), one_gemm(false, 256, 128), "g", 96, Fidelity::tile);
    const OpRow& t = tile.rows[0];
    BOOST_TEST(t.fidelity_used == "tile");
    const TileResult direct = simulate_tiles(toy(), gemm_op("fc", 96, 128, 256, DType::fp16, true));
    BOOST_TEST(t.time_s == direct.time_s);
    BOOST_TEST(t.bytes.offchip == direct.bytes.offchip);
    BOOST_TEST(t.bytes.l1 == direct.bytes.l1);
    BOOST_TEST(t.energy_j == direct.energy_j);
    BOOST_TEST(t.roofline_s == roof.rows[0].time_s);
    BOOST_TEST(t.time_s >= roof.rows[0].time_s);
}

// Unfused, the Relu reads the Gemm's 4 x 32 fp16 output and writes it again: 2 x 256 more bytes
// off-chip at the roofline. Fused, the Relu runs in the epilogue and its row is empty.
BOOST_AUTO_TEST_CASE(fusing_relu_into_the_gemm_saves_exactly_the_round_trip_of_its_output) {
    const ModelSim fused = simulate_model(toy(), one_gemm(true), "g", 4, Fidelity::roofline, true);
    const ModelSim unfused = simulate_model(toy(), one_gemm(true), "g", 4, Fidelity::roofline, false);
    BOOST_TEST((row(fused, "relu").kind == Lowered::fused));
    BOOST_TEST(row(fused, "relu").fused_into == "fc");
    BOOST_TEST(row(fused, "fc").fused_with == std::vector<std::string>{"relu"});
    BOOST_TEST(row(fused, "relu").bytes.offchip == 0.0);
    BOOST_TEST((row(unfused, "relu").kind == Lowered::vector));
    BOOST_TEST(row(unfused, "relu").bytes.offchip == 2.0 * 4 * 32 * 2);
    BOOST_TEST(unfused.bytes.offchip - fused.bytes.offchip == 2.0 * 4 * 32 * 2);
    // At tile fidelity, too, fusion moves fewer bytes off-chip and takes less time.
    const ModelSim tf = simulate_model(toy(), one_gemm(true, 512, 256), "g", 64, Fidelity::tile, true);
    const ModelSim tu = simulate_model(toy(), one_gemm(true, 512, 256), "g", 64, Fidelity::tile, false);
    BOOST_TEST(tf.bytes.offchip < tu.bytes.offchip);
    BOOST_TEST(tf.time_s < tu.time_s);
}

// The unfused Gemm -> Relu at tile fidelity: both are tile_sim ops, so the model's timeline holds the
// Gemm's events and then the Relu's, each shifted to its row's start, each the same as its op's own
// simulate_tiles timeline; the figures do not depend on whether the timeline is kept.
BOOST_AUTO_TEST_CASE(model_timeline_is_each_nodes_events_shifted_to_its_start_and_changes_no_figure) {
    const ModelSim plain = simulate_model(toy(), one_gemm(true, 512, 256), "g", 64, Fidelity::tile, false);
    const ModelSim s = simulate_model(toy(), one_gemm(true, 512, 256), "g", 64, Fidelity::tile, false, 100000);
    BOOST_TEST(plain.timeline.empty());
    BOOST_TEST(s.time_s == plain.time_s);
    BOOST_TEST(s.energy_j == plain.energy_j);
    BOOST_REQUIRE(s.rows.size() == 2u);
    BOOST_TEST(s.rows[0].start_s == 0.0);
    BOOST_TEST(s.rows[1].start_s == s.rows[0].time_s);
    BOOST_REQUIRE(s.timeline.size() == s.timeline_row.size());
    BOOST_TEST(s.timeline_dropped == 0);
    size_t per_row[2] = {0, 0};
    for (size_t i = 0; i < s.timeline.size(); ++i) {
        const OpRow& r = s.rows[size_t(s.timeline_row[i])];
        ++per_row[s.timeline_row[i]];
        BOOST_TEST(s.timeline[i].start_s >= r.start_s);
        BOOST_TEST(s.timeline[i].end_s <= r.start_s + r.time_s * (1 + 1e-12));
        if (i > 0) BOOST_TEST(s.timeline_row[i] >= s.timeline_row[i - 1]);  // row order
    }
    const TileResult gemm = simulate_tiles(toy(), gemm_op("fc", 64, 256, 512, DType::fp16, true), SimOptions{100000});
    BOOST_TEST(per_row[0] == gemm.timeline.size());
    BOOST_TEST(per_row[1] > 0u);
    BOOST_TEST(s.timeline.front().start_s == gemm.timeline.front().start_s);
    // A cap keeps each node's first events and counts the rest.
    const ModelSim capped = simulate_model(toy(), one_gemm(true, 512, 256), "g", 64, Fidelity::tile, false, 3);
    BOOST_TEST(capped.timeline.size() == 6u);
    BOOST_TEST(capped.timeline_dropped == int64_t(s.timeline.size()) - 6);
    // The roofline has no timeline.
    BOOST_TEST(simulate_model(toy(), one_gemm(true), "g", 4, Fidelity::roofline, false, 1000).timeline.empty());
}

BOOST_AUTO_TEST_CASE(layernorm_followed_by_gelu_runs_as_one_vector_op_with_less_traffic) {
    for (Fidelity f : {Fidelity::roofline, Fidelity::tile}) {
        const ModelSim fused = simulate_model(toy(), layernorm_gelu(), "ln", 4, f, true);
        const ModelSim unfused = simulate_model(toy(), layernorm_gelu(), "ln", 4, f, false);
        BOOST_TEST(row(fused, "gelu").fused_into == "ln");
        BOOST_TEST(row(fused, "ln").fidelity_used == fidelity_name(f));
        // Unfused: Gelu reads and writes the 4*8*256 fp16 tensor once more.
        BOOST_TEST(unfused.bytes.offchip - fused.bytes.offchip == 2.0 * 4 * 8 * 256 * 2);
    }
}

BOOST_AUTO_TEST_CASE(conv_bn_relu_of_a_graph_fuses_into_the_conv_and_shape_ops_are_free) {
    nn::onnx::Graph g;
    g.name = "cbr";
    g.inputs = {value("x", {-1, 3, 16, 16})};
    g.outputs = {value("y", {-1, 512})};
    g.initializers = {floats("w", {8, 3, 3, 3}, random_floats(216, 5, 0.3f)), floats("s", {8}, random_floats(8, 6, 1.0f)),
                      floats("bb", {8}, random_floats(8, 7, 0.1f)), floats("mu", {8}, random_floats(8, 8, 0.1f)),
                      floats("var", {8}, std::vector<float>(8, 1.5f))};
    g.nodes = {node("Conv", "conv", {"x", "w"}, {"c"}, {attr_ints("pads", {1, 1, 1, 1})}),
               node("BatchNormalization", "bn", {"c", "s", "bb", "mu", "var"}, {"n"}),
               node("Relu", "relu", {"n"}, {"r"}), node("MaxPool", "pool", {"r"}, {"p"}, {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}),
               node("Flatten", "flat", {"p"}, {"y"})};
    const nn::Graph graph = graph_of(std::move(g));
    const ModelSim s = simulate_model(toy(), graph, "cbr", 2, Fidelity::roofline);
    BOOST_TEST(row(s, "conv").fused_with == (std::vector<std::string>{"bn", "relu"}));
    BOOST_TEST((row(s, "flat").kind == Lowered::free));
    BOOST_TEST(row(s, "flat").bytes.offchip == 0.0);
    BOOST_TEST(row(s, "pool").fidelity_used == "roofline");
    // Implicit GEMM: M = 2*16*16, N = 8, K = 27; off-chip = the input once (2*3*16*16*2), the
    // weights (8*27*2), the output (2*8*16*16*2) and the folded bias (8*2).
    BOOST_TEST(row(s, "conv").bytes.offchip == 2.0 * 3 * 256 * 2 + 8 * 27 * 2 + 2.0 * 8 * 256 * 2 + 8 * 2);
    BOOST_TEST(row(s, "conv").ops == 2.0 * 512 * 8 * 27);
    // MaxPool 2x2: reads the 2*8*16*16 and writes the 2*8*8*8 fp16 tensor.
    BOOST_TEST(row(s, "pool").bytes.offchip == (2.0 * 8 * 256 + 2.0 * 8 * 64) * 2);
}

BOOST_AUTO_TEST_CASE(every_node_of_fashion_cnn_on_every_catalog_chip_is_never_below_its_roofline) {
    const nn::Graph fp = nn::import_onnx(fashion_cnn_model());
    const nn::Graph q = qdq_of(fashion_cnn_model());
    int chips_float = 0, chips_int8 = 0;
    int no_machine = 0;
    for (const auto& c : load_catalog(bundled_catalog_files())) {
        // A chip whose microarch leaves a figure the model needs unknown (Hygon K100, Journey 5)
        // cannot be simulated at all: machine_of names the figure.
        const std::string why = test::error_of([&] { machine_of(c); });
        if (!test::contains(why, "no std::invalid_argument")) {
            BOOST_TEST(test::contains(why, c.id + ": the tile simulator needs microarch/"), why);
            ++no_machine;
            continue;
        }
        const Machine m = machine_of(c);
        DType ft;
        const bool has_float = chip_float_type(m, ft);
        for (const nn::Graph* g : {&fp, &q}) {
            const bool quantized = g == &q;
            if (!quantized && !has_float) {
                BOOST_TEST(test::contains(test::error_of([&] { simulate_model(m, *g, "cnn", 1, Fidelity::roofline); }),
                                          "quantize the model"), c.id);
                continue;
            }
            if (quantized && !m.unit(DType::int8).supported()) {
                BOOST_TEST(test::contains(test::error_of([&] { simulate_model(m, *g, "cnn", 1, Fidelity::roofline); }),
                                          "no int8 mode"), c.id);
                continue;
            }
            (quantized ? chips_int8 : chips_float)++;
            for (int64_t batch : {1, 16}) {
                const ModelSim roof = simulate_model(m, *g, "cnn", batch, Fidelity::roofline);
                const ModelSim tile = simulate_model(m, *g, "cnn", batch, Fidelity::tile);
                BOOST_REQUIRE(roof.rows.size() == g->nodes.size());
                for (size_t k = 0; k < roof.rows.size(); ++k) {
                    const OpRow &r = roof.rows[k], &t = tile.rows[k];
                    if (r.fidelity_used == "none") continue;
                    BOOST_TEST(r.time_s > 0, c.id << " " << r.name);
                    // The tile row's own roofline is the roofline row (one formula), and the
                    // simulated time never beats it.
                    BOOST_TEST(std::fabs(t.roofline_s - r.time_s) <= 1e-12 * r.time_s, c.id << " " << r.name);
                    BOOST_TEST(t.time_s >= r.time_s * (1 - 1e-12), c.id << " " << r.name << " batch " << batch);
                    if (r.kind == Lowered::matrix) {
                        BOOST_TEST(t.fidelity_used == "tile");
                        BOOST_TEST(r.dtype == (quantized ? "int8" : dtype_name(ft)), c.id << " " << r.name);
                    }
                }
                BOOST_TEST(tile.time_s >= roof.time_s * (1 - 1e-12));
            }
        }
    }
    BOOST_TEST(chips_float >= 7);
    BOOST_TEST(chips_int8 >= 8);
    BOOST_TEST(no_machine <= 2);
}

BOOST_AUTO_TEST_CASE(the_qdq_form_makes_matrix_nodes_int8_with_free_weight_dequantization) {
    const nn::Graph q = qdq_of(fashion_cnn_model());
    const ModelSim s = simulate_model(toy(), q, "cnn", 1, Fidelity::roofline);
    BOOST_TEST(row(s, "conv1").dtype == "int8");
    BOOST_TEST(row(s, "fc2").dtype == "int8");
    BOOST_TEST((row(s, "conv1_dqw").kind == Lowered::free));  // int8 weights read directly
    BOOST_TEST((row(s, "conv1_dqx").kind == Lowered::free));  // feeds only the int8 conv
    BOOST_TEST((row(s, "conv1_qx").kind == Lowered::vector));
    BOOST_TEST(row(s, "conv1_qx").dtype == "fp16");
    // Relu after the int8 conv stays fused; the int8 conv reads 1-byte operands.
    BOOST_TEST(row(s, "relu1").fused_into == "conv1");
    const ModelSim f = simulate_model(toy(), nn::import_onnx(fashion_cnn_model()), "cnn", 1, Fidelity::roofline);
    BOOST_TEST(row(s, "fc1").bytes.offchip < row(f, "fc1").bytes.offchip);
}

BOOST_AUTO_TEST_CASE(a_graph_without_concrete_shapes_or_with_a_bad_batch_is_refused_by_name) {
    BOOST_TEST(test::contains(test::error_of([] { simulate_model(toy(), one_gemm(false), "g", 0, Fidelity::roofline); }),
                              "batch must be >= 1"));
    BOOST_TEST(test::contains(test::error_of([] { lower_graph(one_gemm(false), toy()); }), "give concrete input shapes"));
    BOOST_TEST(test::contains(test::error_of([] { simulate_model(toy(false), one_gemm(false), "g", 1, Fidelity::roofline); }),
                              "toy: the matrix unit has no fp16 or bf16 mode, and Gemm node 'fc'"));
    BOOST_TEST(test::contains(test::error_of([] { parse_fidelity("cycle"); }), "fidelity \"cycle\""));
}

// simulate_graph simulates a repeated op once: the repeat has every number of the first, refers to
// it by same_as, and keeps no copy of its timeline.
BOOST_AUTO_TEST_CASE(simulate_graph_repeats_an_identical_op_without_copying_its_timeline) {
    const std::vector<TileOp> ops = {gemm_op("a", 64, 64, 64, DType::fp16), softmax_op("s", 8, 64, DType::fp16),
                                     gemm_op("b", 64, 64, 64, DType::fp16)};
    const GraphResult g = simulate_graph(toy(), ops);
    BOOST_REQUIRE(g.ops.size() == 3u);
    BOOST_TEST(g.ops[0].same_as == -1);
    BOOST_TEST(g.ops[1].same_as == -1);
    BOOST_TEST(g.ops[2].same_as == 0);
    BOOST_TEST(g.ops[2].name == "b");
    BOOST_TEST(!g.ops[0].timeline.empty());
    BOOST_TEST(g.ops[2].timeline.empty());
    BOOST_TEST(g.ops[2].timeline_dropped == 0);
    const TileResult alone = simulate_tiles(toy(), ops[2]);
    BOOST_TEST(g.ops[2].time_s == alone.time_s);
    BOOST_TEST(g.ops[2].energy_j == alone.energy_j);
    BOOST_TEST(g.ops[2].bytes.offchip == alone.bytes.offchip);
    BOOST_TEST(g.ops[0].timeline.size() == alone.timeline.size());
    BOOST_TEST(g.time_s == g.ops[0].time_s + g.ops[1].time_s + alone.time_s);
}

// ---- functional execution ----

BOOST_AUTO_TEST_CASE(fp32_numerics_give_the_executor_outputs_bit_for_bit) {
    const nn::Graph g = nn::import_onnx(fashion_cnn_model());
    const Tensor x = floats("image", {3, 1, 28, 28}, random_floats(3 * 784, 9, 1.0f));
    for (nn::Kernels k : {nn::Kernels::fast, nn::Kernels::reference}) {
        const nn::Plan plan = nn::prepare(g, k);
        const nn::RunResult want = nn::run(plan, {x});
        const ChipRun got = run_on_chip(plan, toy(), {x}, MatrixNumerics::fp32);
        BOOST_REQUIRE(got.result.outputs.size() == want.outputs.size());
        BOOST_TEST((got.result.outputs[0] == want.outputs[0]));
        BOOST_TEST(got.numerics == "fp32 (chip would use fp16)");
        BOOST_TEST(got.half_nodes.empty());
    }
    // The QDQ model with fp32 numerics: the graph's own kernels on the dequantized values.
    const nn::Graph q = qdq_of(fashion_cnn_model());
    const nn::Plan plan = nn::prepare(q, nn::Kernels::fast);
    const ChipRun got = run_on_chip(plan, toy(false), {x}, MatrixNumerics::fp32);
    BOOST_TEST((got.result.outputs[0] == nn::run(plan, {x}).outputs[0]));
    BOOST_TEST(got.half_nodes.empty());
    BOOST_TEST(got.int8_nodes.empty());
    BOOST_TEST(got.numerics == "fp32; QDQ int8 matrix nodes in fp32 on the dequantized values");
}

BOOST_AUTO_TEST_CASE(integer_matrix_nodes_run_the_integer_kernels_bit_for_bit) {
    nn::onnx::Graph g;
    g.name = "mmi";
    g.inputs = {value("a", {-1, 48}, DataType::UINT8)};
    g.outputs = {value("y", {-1, 20}, DataType::INT32)};
    std::vector<int8_t> w(48 * 20);
    test::Rng rng(11);
    for (auto& v : w) v = int8_t(rng.integer(-128, 127));
    g.initializers = {ints<int8_t>("w", DataType::INT8, {48, 20}, w), ints<uint8_t>("azp", DataType::UINT8, {}, {7})};
    g.nodes = {node("MatMulInteger", "mm", {"a", "w", "azp"}, {"y"})};
    const nn::Graph graph = graph_of(std::move(g));
    std::vector<uint8_t> a(5 * 48);
    for (auto& v : a) v = uint8_t(rng.integer(0, 255));
    const Tensor x = ints<uint8_t>("a", DataType::UINT8, {5, 48}, a);
    const nn::Plan plan = nn::prepare(graph, nn::Kernels::fast);
    const ChipRun got = run_on_chip(plan, toy(), {x});
    BOOST_TEST((got.result.outputs[0] == nn::run(plan, {x}).outputs[0]));
    BOOST_TEST(got.half_nodes.empty());
    const ModelSim s = simulate_model(toy(), graph, "mmi", 5, Fidelity::roofline);
    BOOST_TEST(s.rows[0].dtype == "int8");
    // int8 operands, int32 output: 5*48 + 48*20 + 5*20*4 bytes.
    BOOST_TEST(s.rows[0].bytes.offchip == 5.0 * 48 + 48 * 20 + 5 * 20 * 4);
}

BOOST_AUTO_TEST_CASE(fp16_and_bf16_gemm_nodes_equal_the_quant_16_bit_gemm_on_the_same_operands) {
    const int64_t M = 5, K = 37, N = 19;
    const nn::Graph g = one_gemm(false, K, N, true);  // W stored N x K (transB = 1)
    const Tensor x = floats("x", {M, K}, random_floats(size_t(M * K), 12, 2.0f));
    const nn::Plan plan = nn::prepare(g, nn::Kernels::fast);
    const std::vector<float> w = g.constant(g.find("w"))->to_vector<float>(), b = g.constant(g.find("b"))->to_vector<float>();
    std::vector<float> wt(size_t(K * N));  // K x N
    for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n) wt[size_t(k * N + n)] = w[size_t(n * K + k)];
    for (quant::Half16 type : {quant::Half16::fp16, quant::Half16::bf16}) {
        const bool fp16 = type == quant::Half16::fp16;
        const ChipRun got = run_on_chip(plan, toy(fp16, !fp16), {x});
        const std::vector<float> xv = values(x);
        const std::vector<uint16_t> a16 = fp16 ? quant::to_half(xv) : quant::to_bf16(xv);
        const std::vector<uint16_t> b16 = fp16 ? quant::to_half(wt) : quant::to_bf16(wt);
        std::vector<float> want(size_t(M * N));
        quant::gemm_f16(type, a16.data(), int(M), int(K), int(K), b16.data(), int(N), int(N), want.data(), int(N));
        for (int64_t i = 0; i < M; ++i)
            for (int64_t n = 0; n < N; ++n) want[size_t(i * N + n)] = want[size_t(i * N + n)] + b[size_t(n)];
        BOOST_TEST(values(got.result.outputs[0]) == want, boost::test_tools::per_element());
        BOOST_TEST(got.half_nodes == std::vector<std::string>{"fc"});
        BOOST_TEST(got.numerics == std::string(fp16 ? "fp16" : "bf16") + " matrix inputs, fp32 accumulation; other ops fp32");
        // And it is not the fp32 result (the rounding is real).
        BOOST_TEST((got.result.outputs[0] != nn::run(plan, {x}).outputs[0]));
    }
}

BOOST_AUTO_TEST_CASE(fp16_matmul_and_conv_nodes_equal_the_quant_16_bit_gemm_on_the_same_operands) {
    // MatMul [2, 3, 24] x [24, 10].
    {
        nn::onnx::Graph g;
        g.name = "mm";
        g.inputs = {value("a", {-1, 3, 24})};
        g.outputs = {value("y", {-1, 3, 10})};
        g.initializers = {floats("w", {24, 10}, random_floats(240, 13, 1.0f))};
        g.nodes = {node("MatMul", "mm", {"a", "w"}, {"y"})};
        const nn::Graph graph = graph_of(std::move(g));
        const Tensor x = floats("a", {2, 3, 24}, random_floats(144, 14, 1.0f));
        const ChipRun got = run_on_chip(nn::prepare(graph, nn::Kernels::fast), toy(), {x});
        const std::vector<uint16_t> a16 = quant::to_half(values(x));
        const std::vector<uint16_t> b16 = quant::to_half(graph.constant(graph.find("w"))->to_vector<float>());
        std::vector<float> want(60);
        quant::gemm_f16(quant::Half16::fp16, a16.data(), 6, 24, 24, b16.data(), 10, 10, want.data(), 10);
        BOOST_TEST(values(got.result.outputs[0]) == want, boost::test_tools::per_element());
        BOOST_TEST(got.result.outputs[0].dims == (std::vector<int64_t>{2, 3, 10}));
    }
    // Conv 3x3, pad 1, stride 2, 2 groups, with bias: per image and group W[Cout_g, Cin_g*9] x
    // im2col[Cin_g*9, OH*OW] (rows c, kh, kw), the bias added after in fp32.
    {
        const int64_t Nb = 2, C = 4, H = 9, W = 7, Co = 6, G = 2, Cg = C / G, Cog = Co / G, OH = 5, OW = 4;
        nn::onnx::Graph g;
        g.name = "conv";
        g.inputs = {value("x", {-1, C, H, W})};
        g.outputs = {value("y", {-1, Co, OH, OW})};
        g.initializers = {floats("w", {Co, Cg, 3, 3}, random_floats(size_t(Co * Cg * 9), 15, 0.5f)),
                          floats("b", {Co}, random_floats(size_t(Co), 16, 0.5f))};
        g.nodes = {node("Conv", "conv", {"x", "w", "b"}, {"y"},
                        {attr_ints("pads", {1, 1, 1, 1}), attr_ints("strides", {2, 2}), attr_i("group", G)})};
        const nn::Graph graph = graph_of(std::move(g));
        const Tensor x = floats("x", {Nb, C, H, W}, random_floats(size_t(Nb * C * H * W), 17, 1.0f));
        const ChipRun got = run_on_chip(nn::prepare(graph, nn::Kernels::fast), toy(), {x});
        const std::vector<float> xv = values(x), wv = graph.constant(graph.find("w"))->to_vector<float>(),
                                 bv = graph.constant(graph.find("b"))->to_vector<float>();
        const std::vector<uint16_t> w16 = quant::to_half(wv);
        std::vector<float> want(size_t(Nb * Co * OH * OW));
        for (int64_t n = 0; n < Nb; ++n)
            for (int64_t gr = 0; gr < G; ++gr) {
                std::vector<float> col(size_t(Cg * 9 * OH * OW), 0.0f);
                for (int64_t c = 0; c < Cg; ++c)
                    for (int64_t kh = 0; kh < 3; ++kh)
                        for (int64_t kw = 0; kw < 3; ++kw)
                            for (int64_t oh = 0; oh < OH; ++oh)
                                for (int64_t ow = 0; ow < OW; ++ow) {
                                    const int64_t ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
                                    if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                        col[size_t(((c * 3 + kh) * 3 + kw) * OH * OW + oh * OW + ow)] =
                                            xv[size_t(((n * C + gr * Cg + c) * H + ih) * W + iw)];
                                }
                const std::vector<uint16_t> c16 = quant::to_half(col);
                float* y = want.data() + (n * Co + gr * Cog) * OH * OW;
                quant::gemm_f16(quant::Half16::fp16, w16.data() + gr * Cog * Cg * 9, int(Cog), int(Cg * 9), int(Cg * 9),
                                c16.data(), int(OH * OW), int(OH * OW), y, int(OH * OW));
                for (int64_t o = 0; o < Cog; ++o)
                    for (int64_t i = 0; i < OH * OW; ++i) y[o * OH * OW + i] += bv[size_t(gr * Cog + o)];
            }
        BOOST_TEST(values(got.result.outputs[0]) == want, boost::test_tools::per_element());
    }
}

// A QDQ Gemm on an int8 chip: the activation integers (recovered from the dequantized floats) times
// the int8 weights on the integer GEMM reference, then acc * (s_x * s_w[n]) + bias in float. The
// same numbers, within fp32 rounding, as the fp32 kernel on the dequantized values.
BOOST_AUTO_TEST_CASE(qdq_int8_gemm_nodes_equal_the_int8_gemm_on_the_same_integers) {
    const int64_t M = 6, K = 40, N = 12;
    test::Rng rng(21);
    std::vector<int8_t> wq(size_t(N * K));  // W as N x K (transB = 1), per output channel scales
    for (auto& v : wq) v = int8_t(rng.integer(-127, 127));
    std::vector<float> ws(static_cast<size_t>(N)), bias(static_cast<size_t>(N));
    for (auto& v : ws) v = rng.uniform(0.001f, 0.01f);
    for (auto& v : bias) v = rng.uniform(-0.5f, 0.5f);
    const float sx = 0.037f;
    const int8_t zx = -5;
    nn::onnx::Graph g;
    g.name = "qdq_gemm";
    g.inputs = {value("x", {-1, K})};
    g.outputs = {value("y", {-1, N})};
    g.initializers = {ints<int8_t>("wq", DataType::INT8, {N, K}, wq), floats("ws", {N}, ws), floats("b", {N}, bias),
                      floats("sx", {}, {sx}), ints<int8_t>("zx", DataType::INT8, {}, {zx})};
    g.nodes = {node("QuantizeLinear", "qx", {"x", "sx", "zx"}, {"xq"}),
               node("DequantizeLinear", "dqx", {"xq", "sx", "zx"}, {"xd"}),
               node("DequantizeLinear", "dqw", {"wq", "ws"}, {"wd"}, {attr_i("axis", 0)}),
               node("Gemm", "fc", {"xd", "wd", "b"}, {"y"}, {attr_i("transB", 1)})};
    const nn::Graph graph = graph_of(std::move(g));
    const Tensor x = floats("x", {M, K}, random_floats(size_t(M * K), 22, 4.0f));
    const nn::Plan plan = nn::prepare(graph, nn::Kernels::fast);
    const ChipRun got = run_on_chip(plan, toy(false), {x});
    BOOST_TEST(got.int8_nodes == std::vector<std::string>{"fc"});
    BOOST_TEST(got.fp32_nodes.empty());
    // The expected integers, computed the way QuantizeLinear defines them (round half to even, saturate).
    std::vector<int8_t> a(size_t(M * K));
    for (size_t i = 0; i < a.size(); ++i)
        a[i] = int8_t(std::min(127.0, std::max(-128.0, std::nearbyint(double(values(x)[i]) / sx) + zx)));
    std::vector<int8_t> b(size_t(K * N));
    for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n) b[size_t(k * N + n)] = wq[size_t(n * K + k)];
    std::vector<int32_t> acc(size_t(M * N));
    quant::gemm_s8s8_s32_ref(a.data(), int(M), int(K), int(K), zx, b.data(), int(N), int(N), {0}, acc.data(), int(N));
    std::vector<float> want(size_t(M * N));
    for (int64_t i = 0; i < M; ++i)
        for (int64_t n = 0; n < N; ++n)
            want[size_t(i * N + n)] = float(acc[size_t(i * N + n)]) * (sx * ws[size_t(n)]) + bias[size_t(n)];
    BOOST_TEST(values(got.result.outputs[0]) == want, boost::test_tools::per_element());
    const std::vector<float> f = values(nn::run(plan, {x}).outputs[0]);
    for (size_t i = 0; i < f.size(); ++i) BOOST_TEST(std::fabs(f[i] - want[i]) <= 1e-5f * (1 + std::fabs(want[i])));
}

BOOST_AUTO_TEST_CASE(the_qdq_fashion_cnn_runs_every_matrix_node_in_int8_and_agrees_with_its_fp32_run) {
    const nn::Graph q = qdq_of(fashion_cnn_model());
    const nn::Plan plan = nn::prepare(q, nn::Kernels::fast);
    const Tensor x = floats("image", {3, 1, 28, 28}, random_floats(3 * 784, 23, 1.0f));
    for (bool fp16 : {false, true}) {  // an int8-only chip, and one with fp16 as well
        const ChipRun got = run_on_chip(plan, toy(fp16), {x});
        BOOST_TEST(got.int8_nodes == (std::vector<std::string>{"conv1", "conv2", "fc1", "fc2"}));
        BOOST_TEST(got.half_nodes.empty());
        BOOST_TEST(got.fp32_nodes.empty());
        const std::vector<float> h = values(got.result.outputs[0]), f = values(nn::run(plan, {x}).outputs[0]);
        float mx = 0, diff = 0;
        for (size_t i = 0; i < f.size(); ++i) mx = std::max(mx, std::fabs(f[i])), diff = std::max(diff, std::fabs(f[i] - h[i]));
        BOOST_TEST(diff <= 1e-4f * mx);
    }
    // Gemm weights [K, N] with one scale per input feature (axis 0) are no integer GEMM: those
    // nodes keep their fp32 kernel, and the run says so.
    const nn::Graph q0 = qdq_of(fashion_cnn_model(), true);
    const ChipRun got = run_on_chip(nn::prepare(q0, nn::Kernels::fast), toy(false), {x});
    BOOST_TEST(got.int8_nodes == (std::vector<std::string>{"conv1", "conv2"}));
    BOOST_TEST(got.fp32_nodes == (std::vector<std::string>{"fc1", "fc2"}));
    BOOST_TEST(test::contains(got.numerics, "left in fp32"));
}

// The whole CNN with fp16 matrix nodes stays close to its fp32 run (fp16 keeps 11 significant bits
// of each operand), and every float matrix node took the 16-bit path.
BOOST_AUTO_TEST_CASE(fashion_cnn_in_fp16_runs_every_matrix_node_in_16_bit_and_stays_near_fp32) {
    const nn::Graph g = nn::import_onnx(fashion_cnn_model());
    const nn::Plan plan = nn::prepare(g, nn::Kernels::fast);
    const Tensor x = floats("image", {4, 1, 28, 28}, random_floats(4 * 784, 18, 1.0f));
    const ChipRun half = run_on_chip(plan, toy(), {x});
    BOOST_TEST(half.half_nodes == (std::vector<std::string>{"conv1", "conv2", "fc1", "fc2"}));
    BOOST_TEST(half.fp32_nodes.empty());
    const std::vector<float> h = values(half.result.outputs[0]), f = values(nn::run(plan, {x}).outputs[0]);
    float mx = 0, diff = 0;
    for (size_t i = 0; i < f.size(); ++i) mx = std::max(mx, std::fabs(f[i])), diff = std::max(diff, std::fabs(f[i] - h[i]));
    BOOST_TEST(diff > 0.0f);
    BOOST_TEST(diff <= 1e-2f * mx);
    for (const auto& t : half.result.timings)
        if (t.op_type == "Conv" || t.op_type == "Gemm") BOOST_TEST(t.kernel == "override");
}

BOOST_AUTO_TEST_SUITE_END()
