// Convolution and pooling (core/quant/conv.hpp): the shape rules and their errors, hand-computed
// cases for each reference, every fast int8 path (each ISA, im2col + GEMM and depthwise) against
// the reference bit for bit over shapes chosen to break them, the fp32 fast path within its
// documented error bound, and ONNX's own backend test data (Conv, ConvInteger, QLinearConv,
// MaxPool, AveragePool, GlobalAveragePool) through the same functions.
#include <cfloat>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <tuple>

#include <boost/test/unit_test.hpp>

#include "nn/onnx_proto.hpp"
#include "quant/conv.hpp"
#include "quant/transpose.hpp"

using namespace stacklab::quant;
namespace onnx = stacklab::nn::onnx;
namespace fs = std::filesystem;

namespace {

Conv2DAttrs attrs(int stride_h, int stride_w, int pt, int pl, int pb, int pr, int dil_h, int dil_w, int groups) {
    Conv2DAttrs a;
    a.stride_h = stride_h;
    a.stride_w = stride_w;
    a.pad_top = pt;
    a.pad_left = pl;
    a.pad_bottom = pb;
    a.pad_right = pr;
    a.dilation_h = dil_h;
    a.dilation_w = dil_w;
    a.groups = groups;
    return a;
}

struct Case {
    int N, C, H, W, O, KH, KW;
    Conv2DAttrs a;
};

std::string describe(const Conv2DShape& s) {
    std::ostringstream o;
    o << "X " << s.batch << "x" << s.in_channels << "x" << s.in_h << "x" << s.in_w << " W " << s.out_channels << "x"
      << s.in_per_group() << "x" << s.kernel_h << "x" << s.kernel_w << " stride " << s.attrs.stride_h << "," << s.attrs.stride_w
      << " pads " << s.attrs.pad_top << "," << s.attrs.pad_left << "," << s.attrs.pad_bottom << "," << s.attrs.pad_right
      << " dil " << s.attrs.dilation_h << "," << s.attrs.dilation_w << " groups " << s.attrs.groups;
    return o.str();
}

Conv2DShape shape_of(const Case& c) {
    return conv2d_shape(c.N, c.C, c.H, c.W, c.O, c.C / c.a.groups, c.KH, c.KW, c.a);
}

// Odd sizes, 1x1 / 3x3 / 5x5 kernels, stride 2, dilation 2, asymmetric pads, groups 1 / 2 /
// depthwise (multiplier 1 and 2), batch 2, more output pixels than one im2col block.
const std::vector<Case> kCases = {
    {1, 1, 1, 1, 1, 1, 1, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1)},
    {2, 3, 7, 5, 4, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 1)},
    {1, 4, 9, 11, 6, 5, 5, attrs(2, 2, 2, 1, 0, 3, 1, 1, 1)},
    {2, 6, 8, 7, 4, 3, 3, attrs(1, 1, 2, 2, 2, 2, 2, 2, 2)},
    {1, 8, 10, 9, 8, 3, 3, attrs(2, 2, 1, 1, 1, 1, 1, 1, 8)},
    {2, 5, 7, 6, 10, 3, 3, attrs(1, 1, 0, 1, 2, 1, 2, 2, 5)},
    {1, 3, 13, 1, 2, 5, 1, attrs(1, 1, 2, 0, 2, 0, 1, 1, 1)},
    {1, 16, 5, 5, 7, 1, 1, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1)},
    {2, 7, 17, 19, 5, 1, 1, attrs(2, 2, 0, 0, 1, 0, 1, 1, 1)},
    {1, 3, 20, 20, 5, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 1)},
    {1, 4, 23, 21, 4, 5, 5, attrs(1, 2, 2, 2, 2, 2, 1, 1, 4)},
    {2, 6, 11, 13, 12, 5, 3, attrs(2, 1, 3, 0, 1, 2, 2, 1, 6)},
    {1, 4, 6, 6, 6, 3, 3, attrs(2, 2, 0, 0, 0, 0, 2, 2, 2)},
    {1, 33, 3, 4, 17, 3, 3, attrs(1, 1, 1, 0, 0, 1, 1, 1, 1)},
};

// Random cases on top of the table: seeded, so a failure names a reproducible shape.
// Uniform [-1, 1) input, weights and bias for an fp32 convolution, drawn in that order.
std::tuple<std::vector<float>, std::vector<float>, std::vector<float>> random_f32_inputs(const Conv2DShape& s,
                                                                                           std::mt19937& rng) {
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> x(s.x_size()), w(s.w_size()), bias(size_t(s.out_channels));
    for (auto& v : x) v = d(rng);
    for (auto& v : w) v = d(rng);
    for (auto& v : bias) v = d(rng);
    return {x, w, bias};
}

std::vector<Case> random_cases(std::mt19937& rng, int count) {
    std::vector<Case> out;
    auto u = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    while (int(out.size()) < count) {
        Case c{};
        const int kind = u(0, 2);  // 0: groups 1, 1: groups 2, 2: depthwise
        const int groups = kind == 0 ? 1 : kind == 1 ? 2 : u(1, 6);
        const int cg = kind == 2 ? 1 : u(1, 5);
        c.N = u(1, 2);
        c.C = groups * cg;
        c.O = groups * u(1, 4);
        const int ks[] = {1, 3, 5};
        c.KH = ks[u(0, 2)];
        c.KW = ks[u(0, 2)];
        c.H = u(1, 14);
        c.W = u(1, 14);
        c.a = attrs(u(1, 2), u(1, 2), u(0, 2), u(0, 2), u(0, 2), u(0, 2), u(1, 2), u(1, 2), groups);
        const int eff_h = (c.KH - 1) * c.a.dilation_h + 1, eff_w = (c.KW - 1) * c.a.dilation_w + 1;
        if (eff_h > c.H + c.a.pad_top + c.a.pad_bottom || eff_w > c.W + c.a.pad_left + c.a.pad_right) continue;
        out.push_back(c);
    }
    return out;
}

enum class Fill { random, max, min, alternating };

template <class T>
std::vector<T> fill(size_t n, Fill f, std::mt19937& rng) {
    std::vector<T> v(n);
    std::uniform_int_distribution<int> d(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    for (size_t i = 0; i < n; ++i) switch (f) {
            case Fill::random: v[i] = T(d(rng)); break;
            case Fill::max: v[i] = std::numeric_limits<T>::max(); break;
            case Fill::min: v[i] = std::numeric_limits<T>::min(); break;
            case Fill::alternating: v[i] = i % 2 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min(); break;
        }
    return v;
}

void ref_s32(const Conv2DShape& s, const uint8_t* x, int32_t zx, const int8_t* w, const std::vector<int32_t>& zw,
             const int32_t* b, int32_t* y) {
    conv2d_u8s8_s32_ref(s, x, zx, w, zw, b, y);
}
void ref_s32(const Conv2DShape& s, const int8_t* x, int32_t zx, const int8_t* w, const std::vector<int32_t>& zw,
             const int32_t* b, int32_t* y) {
    conv2d_s8s8_s32_ref(s, x, zx, w, zw, b, y);
}
void fast_s32(const Conv2DShape& s, const uint8_t* x, int32_t zx, const PackedConv& w, const int32_t* b, int32_t* y) {
    conv2d_u8s8_s32(s, x, zx, w, b, y);
}
void fast_s32(const Conv2DShape& s, const int8_t* x, int32_t zx, const PackedConv& w, const int32_t* b, int32_t* y) {
    conv2d_s8s8_s32(s, x, zx, w, b, y);
}
template <class YT>
void ref_q(const Conv2DShape& s, const uint8_t* x, int32_t zx, const int8_t* w, const std::vector<int32_t>& zw,
           const int32_t* b, const std::vector<RequantParams>& rq, bool relu, YT* y) {
    conv2d_u8s8_requant_ref(s, x, zx, w, zw, b, rq, relu, y);
}
template <class YT>
void ref_q(const Conv2DShape& s, const int8_t* x, int32_t zx, const int8_t* w, const std::vector<int32_t>& zw,
           const int32_t* b, const std::vector<RequantParams>& rq, bool relu, YT* y) {
    conv2d_s8s8_requant_ref(s, x, zx, w, zw, b, rq, relu, y);
}
template <class YT>
void fast_q(const Conv2DShape& s, const uint8_t* x, int32_t zx, const PackedConv& w, const int32_t* b,
            const std::vector<RequantParams>& rq, bool relu, YT* y) {
    conv2d_u8s8_requant(s, x, zx, w, b, rq, relu, y);
}
template <class YT>
void fast_q(const Conv2DShape& s, const int8_t* x, int32_t zx, const PackedConv& w, const int32_t* b,
            const std::vector<RequantParams>& rq, bool relu, YT* y) {
    conv2d_s8s8_requant(s, x, zx, w, b, rq, relu, y);
}

// The algorithms a shape can run: im2col always, depthwise_direct where in_channels / groups == 1,
// direct_plane always (forced beyond its automatic range: more channels, strides).
std::vector<ConvAlgo> algos_for(const Conv2DShape& s) {
    std::vector<ConvAlgo> a = {ConvAlgo::im2col_gemm};
    if (s.in_per_group() == 1) a.push_back(ConvAlgo::depthwise_direct);
    a.push_back(ConvAlgo::direct_plane);
    return a;
}

// conv2d_*_quantize's definition: the int32 accumulators (no bias), then per value the float map
// float(acc) * multiplier[o] + bias[o], the ReLU select and quantize_value, as core/nn's executor
// did with a whole int32 tensor.
template <class YT>
std::vector<YT> qdq_expected(const Conv2DShape& s, const std::vector<int32_t>& acc, const QdqOutput& q) {
    constexpr bool is_signed = std::is_same_v<YT, int8_t>;
    std::vector<YT> y(acc.size());
    const size_t P = size_t(s.out_h) * size_t(s.out_w);
    for (size_t i = 0; i < acc.size(); ++i) {
        const size_t o = (i / P) % size_t(s.out_channels);
        float v = float(acc[i]) * q.multiplier[o] + q.bias[o];
        if (q.relu && v < 0.0f) v = 0.0f;
        y[i] = YT(quantize_value(v, q.scale, q.zero_point, qmin(is_signed), qmax(is_signed)));
    }
    return y;
}
template <class YT>
void fast_qdq(const Conv2DShape& s, const uint8_t* x, int32_t zx, const PackedConv& w, const QdqOutput& q, YT* y) {
    conv2d_u8s8_quantize(s, x, zx, w, q, y);
}
template <class YT>
void fast_qdq(const Conv2DShape& s, const int8_t* x, int32_t zx, const PackedConv& w, const QdqOutput& q, YT* y) {
    conv2d_s8s8_quantize(s, x, zx, w, q, y);
}

// Requantization to a scale that keeps most outputs unsaturated: the accumulators are about
// sqrt(K) * 128 * 128 / 2 in magnitude.
template <class YT>
std::vector<RequantParams> requant_for(const Conv2DShape& s, RequantMode mode, bool per_channel, std::mt19937& rng) {
    constexpr bool is_signed = std::is_same_v<YT, int8_t>;
    std::uniform_real_distribution<float> d(0.5f, 2.0f);
    const float sx = 0.05f, sy = sx * 0.01f * float(std::sqrt(double(s.gemm_k()))) * 128.0f * 64.0f / 100.0f;
    std::vector<float> sw(per_channel ? size_t(s.out_channels) : 1u);
    for (float& v : sw) v = 0.01f * d(rng);
    const int32_t zy = is_signed ? std::uniform_int_distribution<int>(-20, 20)(rng) : std::uniform_int_distribution<int>(100, 150)(rng);
    return make_requant_params(sx, sw, sy, zy, is_signed, mode);
}

// One shape, one input type: int32 and every requantized output, every ISA and algorithm.
// Returns the number of fast runs compared.
template <class XT>
int check_fast_matches_reference(const Conv2DShape& s, Fill fx, Fill fw, int32_t x_zp, const std::vector<int32_t>& w_zp,
                                 bool with_bias, std::mt19937& rng) {
    const auto x = fill<XT>(s.x_size(), fx, rng);
    const auto w = fill<int8_t>(s.w_size(), fw, rng);
    std::vector<int32_t> bias(size_t(s.out_channels));
    std::uniform_int_distribution<int32_t> db(-(1 << 20), 1 << 20);
    for (auto& b : bias) b = db(rng);
    const int32_t* bp = with_bias ? bias.data() : nullptr;

    std::vector<int32_t> ref(s.y_size());
    ref_s32(s, x.data(), x_zp, w.data(), w_zp, bp, ref.data());
    struct Q {
        RequantMode mode;
        bool relu, per_channel;
    };
    const Q qs[] = {{RequantMode::float_scale, false, true}, {RequantMode::fixed_point, true, true},
                    {RequantMode::fixed_point, false, false}, {RequantMode::float_scale, true, false}};
    std::vector<std::vector<RequantParams>> rq_u8, rq_s8;
    std::vector<std::vector<uint8_t>> ref_u8;
    std::vector<std::vector<int8_t>> ref_s8;
    for (const Q& q : qs) {
        rq_u8.push_back(requant_for<uint8_t>(s, q.mode, q.per_channel, rng));
        rq_s8.push_back(requant_for<int8_t>(s, q.mode, q.per_channel, rng));
        ref_u8.emplace_back(s.y_size());
        ref_s8.emplace_back(s.y_size());
        ref_q(s, x.data(), x_zp, w.data(), w_zp, bp, rq_u8.back(), q.relu, ref_u8.back().data());
        ref_q(s, x.data(), x_zp, w.data(), w_zp, bp, rq_s8.back(), q.relu, ref_s8.back().data());
    }
    // The QDQ output stage: per-channel multipliers around the accumulators' spread, a bias that
    // moves some outputs below zero (the ReLU matters), a scale that saturates some.
    std::vector<int32_t> acc(s.y_size());
    ref_s32(s, x.data(), x_zp, w.data(), w_zp, nullptr, acc.data());
    std::vector<float> qm(size_t(s.out_channels)), qb(size_t(s.out_channels));
    std::uniform_real_distribution<float> dm(0.5f, 2.0f), dbias(-3.0f, 3.0f);
    for (size_t o = 0; o < qm.size(); ++o) {
        qm[o] = dm(rng) * 1e-4f;
        qb[o] = dbias(rng);
    }
    const float qscale = float(std::sqrt(double(s.gemm_k()))) * 128.0f * 128.0f * 1e-4f / 100.0f;
    const QdqOutput qdq_u8{qm.data(), qb.data(), true, qscale, 3}, qdq_s8{qm.data(), qb.data(), false, qscale, -5};
    const std::vector<uint8_t> want_u8 = qdq_expected<uint8_t>(s, acc, qdq_u8);
    const std::vector<int8_t> want_s8 = qdq_expected<int8_t>(s, acc, qdq_s8);
    int runs = 0;
    for (Isa isa : available_isas())
        for (ConvAlgo algo : algos_for(s)) {
            const PackedConv pw = pack_conv2d(s, w.data(), w_zp, isa, algo);
            const std::string what = std::string(isa_name(isa)) + " " + conv_algo_name(algo) + " x " +
                                     (std::is_same_v<XT, uint8_t> ? "u8" : "s8") + " x_zp " + std::to_string(x_zp) +
                                     " w_zp[0] " + std::to_string(w_zp[0]) + " " + describe(s);
            std::vector<int32_t> y(s.y_size(), 0x5a5a5a5a);
            fast_s32(s, x.data(), x_zp, pw, bp, y.data());
            size_t bad = 0;
            for (size_t i = 0; i < y.size(); ++i) bad += y[i] != ref[i];
            BOOST_TEST(bad == 0u, what << ": " << bad << " int32 outputs differ");
            for (size_t k = 0; k < std::size(qs); ++k) {
                std::vector<uint8_t> yu(s.y_size(), 0x5a);
                std::vector<int8_t> ys(s.y_size(), 0x5a);
                fast_q(s, x.data(), x_zp, pw, bp, rq_u8[k], qs[k].relu, yu.data());
                fast_q(s, x.data(), x_zp, pw, bp, rq_s8[k], qs[k].relu, ys.data());
                size_t bad_u = 0, bad_s = 0;
                for (size_t i = 0; i < yu.size(); ++i) {
                    bad_u += yu[i] != ref_u8[k][i];
                    bad_s += ys[i] != ref_s8[k][i];
                }
                BOOST_TEST(bad_u + bad_s == 0u, what << " " << requant_mode_name(qs[k].mode) << (qs[k].relu ? " relu" : "")
                                                     << ": " << bad_u << " u8 and " << bad_s << " s8 outputs differ");
            }
            std::vector<uint8_t> qu(s.y_size(), 0x5a);
            std::vector<int8_t> qs8(s.y_size(), 0x5a);
            fast_qdq(s, x.data(), x_zp, pw, qdq_u8, qu.data());
            fast_qdq(s, x.data(), x_zp, pw, qdq_s8, qs8.data());
            size_t bad_qu = 0, bad_qs = 0;
            for (size_t i = 0; i < qu.size(); ++i) {
                bad_qu += qu[i] != want_u8[i];
                bad_qs += qs8[i] != want_s8[i];
            }
            BOOST_TEST(bad_qu + bad_qs == 0u, what << " QDQ output: " << bad_qu << " u8 and " << bad_qs << " s8 differ");
            ++runs;
        }
    return runs;
}

std::vector<int32_t> random_zps(size_t n, std::mt19937& rng) {
    std::vector<int32_t> z(n);
    std::uniform_int_distribution<int> d(-128, 127);
    for (auto& v : z) v = d(rng);
    if (n > 1) {
        z[0] = -128;  // extremes
        z[n - 1] = 127;
    }
    return z;
}

// ---------------------------------------------------------------------------------------------
// ONNX backend test data.

const std::string kNodeTests = "/usr/share/libonnx-testdata/data/node";

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + p.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct NodeData {
    onnx::Node node;
    std::vector<onnx::Tensor> inputs, outputs;  // test_data_set_0
};

NodeData load_node_test(const std::string& name) {
    const fs::path dir = fs::path(kNodeTests) / name;
    NodeData d;
    const onnx::Model m = onnx::parse_model(read_bytes(dir / "model.onnx"), name + "/model.onnx");
    d.node = m.graph.nodes.at(0);
    const fs::path set = dir / "test_data_set_0";
    for (int i = 0; fs::exists(set / ("input_" + std::to_string(i) + ".pb")); ++i)
        d.inputs.push_back(onnx::parse_tensor(read_bytes(set / ("input_" + std::to_string(i) + ".pb")), "input"));
    for (int i = 0; fs::exists(set / ("output_" + std::to_string(i) + ".pb")); ++i)
        d.outputs.push_back(onnx::parse_tensor(read_bytes(set / ("output_" + std::to_string(i) + ".pb")), "output"));
    return d;
}

std::vector<int64_t> ints_attr(const onnx::Node& n, const char* name, std::vector<int64_t> def) {
    const onnx::Attribute* a = n.attr(name);
    return a ? a->ints : def;
}
int64_t int_attr(const onnx::Node& n, const char* name, int64_t def) {
    const onnx::Attribute* a = n.attr(name);
    return a ? a->i : def;
}

// Explicit pads {top, left, bottom, right} from pads / auto_pad (the ONNX SAME_* rule).
std::array<int, 4> resolve_pads(const onnx::Node& n, int in_h, int in_w, int kh, int kw, const std::vector<int64_t>& st,
                                const std::vector<int64_t>& dil) {
    const onnx::Attribute* ap = n.attr("auto_pad");
    const std::string mode = ap ? ap->s : "NOTSET";
    if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
        std::array<int, 4> p{};
        const int in[2] = {in_h, in_w}, k[2] = {kh, kw};
        for (int d = 0; d < 2; ++d) {
            const int64_t out = (in[d] + st[size_t(d)] - 1) / st[size_t(d)];
            const int64_t eff = (k[d] - 1) * dil[size_t(d)] + 1;
            const int64_t total = std::max<int64_t>(0, (out - 1) * st[size_t(d)] + eff - in[d]);
            const int64_t begin = mode == "SAME_UPPER" ? total / 2 : total - total / 2;
            p[size_t(d)] = int(begin);
            p[size_t(d) + 2] = int(total - begin);
        }
        return p;
    }
    const std::vector<int64_t> pads = ints_attr(n, "pads", {0, 0, 0, 0});
    return {int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])};
}

Conv2DShape conv_shape_of(const NodeData& d, size_t x_index, size_t w_index) {
    const onnx::Tensor &x = d.inputs.at(x_index), &w = d.inputs.at(w_index);
    const std::vector<int64_t> st = ints_attr(d.node, "strides", {1, 1}), dil = ints_attr(d.node, "dilations", {1, 1});
    const auto p = resolve_pads(d.node, int(x.dims[2]), int(x.dims[3]), int(w.dims[2]), int(w.dims[3]), st, dil);
    const Conv2DAttrs a = attrs(int(st[0]), int(st[1]), p[0], p[1], p[2], p[3], int(dil[0]), int(dil[1]),
                                int(int_attr(d.node, "group", 1)));
    return conv2d_shape(int(x.dims[0]), int(x.dims[1]), int(x.dims[2]), int(x.dims[3]), int(w.dims[0]), int(w.dims[1]),
                        int(w.dims[2]), int(w.dims[3]), a);
}

Pool2DShape pool_shape_of(const NodeData& d) {
    const onnx::Tensor& x = d.inputs.at(0);
    const std::vector<int64_t> k = ints_attr(d.node, "kernel_shape", {});
    const std::vector<int64_t> st = ints_attr(d.node, "strides", {1, 1}), dil = ints_attr(d.node, "dilations", {1, 1});
    const auto p = resolve_pads(d.node, int(x.dims[2]), int(x.dims[3]), int(k.at(0)), int(k.at(1)), st, dil);
    Pool2DAttrs a;
    a.kernel_h = int(k[0]);
    a.kernel_w = int(k[1]);
    a.stride_h = int(st[0]);
    a.stride_w = int(st[1]);
    a.pad_top = p[0];
    a.pad_left = p[1];
    a.pad_bottom = p[2];
    a.pad_right = p[3];
    a.dilation_h = int(dil[0]);
    a.dilation_w = int(dil[1]);
    a.ceil_mode = int_attr(d.node, "ceil_mode", 0) != 0;
    a.count_include_pad = int_attr(d.node, "count_include_pad", 0) != 0;
    return pool2d_shape(int(x.dims[0]), int(x.dims[1]), int(x.dims[2]), int(x.dims[3]), a);
}

// ONNX's uint8 weights as int8 with the same differences: (w - 128) - (zw - 128) == w - zw.
std::vector<int8_t> weights_as_s8(const onnx::Tensor& w, std::vector<int32_t>& zps) {
    std::vector<int8_t> out(size_t(w.numel()));
    if (w.dtype == onnx::DataType::INT8) {
        std::copy_n(w.as<int8_t>(), out.size(), out.begin());
        return out;
    }
    for (size_t i = 0; i < out.size(); ++i) out[i] = int8_t(int(w.as<uint8_t>()[i]) - 128);
    for (auto& z : zps) z -= 128;
    return out;
}

std::vector<int32_t> zero_points_of(const NodeData& d, size_t index) {
    if (index >= d.inputs.size()) return {0};
    const onnx::Tensor& t = d.inputs[index];
    std::vector<int32_t> z(size_t(t.numel()));
    for (size_t i = 0; i < z.size(); ++i)
        z[i] = t.dtype == onnx::DataType::UINT8 ? int32_t(t.as<uint8_t>()[i]) : int32_t(t.as<int8_t>()[i]);
    return z;
}

void require_node_tests() {
    BOOST_REQUIRE_MESSAGE(fs::is_directory(kNodeTests), kNodeTests << " is missing: scripts/install-deps.sh installs libonnx-testdata");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quant_conv)

BOOST_AUTO_TEST_CASE(shape_helper_follows_the_onnx_output_size_formula) {
    // out = floor((in + pads - ((k - 1) * dilation + 1)) / stride) + 1
    struct Row {
        int in_h, in_w, kh, kw;
        Conv2DAttrs a;
        int out_h, out_w;
    };
    const Row rows[] = {
        {5, 5, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 1), 5, 5},   // test_basic_conv_with_padding
        {5, 5, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1), 3, 3},   // test_basic_conv_without_padding
        {7, 5, 3, 3, attrs(2, 2, 1, 0, 1, 0, 1, 1, 1), 4, 2},   // test_conv_with_strides_and_asymmetric_padding
        {7, 7, 3, 3, attrs(1, 1, 0, 0, 0, 0, 2, 2, 1), 3, 3},   // dilated kernel spans 5
        {4, 4, 3, 3, attrs(1, 1, 0, 0, 0, 0, 2, 2, 1), 0, 0},   // does not fit: checked below
        {9, 11, 5, 1, attrs(3, 2, 2, 0, 1, 0, 1, 1, 1), 3, 6},
    };
    for (const Row& r : rows) {
        if (r.out_h == 0) continue;
        const Conv2DShape s = conv2d_shape(2, 4, r.in_h, r.in_w, 6, 4, r.kh, r.kw, r.a);
        BOOST_TEST(s.out_h == r.out_h);
        BOOST_TEST(s.out_w == r.out_w);
    }
    const Conv2DShape g = conv2d_shape(1, 6, 8, 8, 9, 2, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 3));
    BOOST_TEST(g.in_per_group() == 2);
    BOOST_TEST(g.out_per_group() == 3);
    BOOST_TEST(g.gemm_k() == 18);
    BOOST_TEST(g.y_size() == size_t(9 * 8 * 8));
}

BOOST_AUTO_TEST_CASE(shape_errors_name_the_parameter) {
    auto message = [](auto f) -> std::string {
        try {
            f();
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "(no exception)";
    };
    auto contains = [](const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; };
    const std::string fit = message([] { conv2d_shape(1, 1, 4, 4, 1, 1, 3, 3, attrs(1, 1, 0, 0, 0, 0, 2, 2, 1)); });
    BOOST_TEST(contains(fit, "kernel 3x3 with dilation 2"), fit);
    BOOST_TEST(contains(fit, "does not fit padded input 4x4"), fit);
    const std::string groups = message([] { conv2d_shape(1, 6, 4, 4, 4, 2, 1, 1, attrs(1, 1, 0, 0, 0, 0, 1, 1, 4)); });
    BOOST_TEST(contains(groups, "in_channels 6 is not divisible by groups 4"), groups);
    const std::string wic = message([] { conv2d_shape(1, 6, 4, 4, 4, 6, 1, 1, attrs(1, 1, 0, 0, 0, 0, 1, 1, 2)); });
    BOOST_TEST(contains(wic, "W has 6 input channels per group"), wic);
    const std::string stride = message([] { conv2d_shape(1, 1, 4, 4, 1, 1, 1, 1, attrs(0, 1, 0, 0, 0, 0, 1, 1, 1)); });
    BOOST_TEST(contains(stride, "stride_h is 0"), stride);
    const std::string pad = message([] { conv2d_shape(1, 1, 4, 4, 1, 1, 1, 1, attrs(1, 1, 0, -1, 0, 0, 1, 1, 1)); });
    BOOST_TEST(contains(pad, "pad_left is -1"), pad);
    const std::string big = message([] { conv2d_shape(1 << 24, 1 << 24, 1 << 24, 1, 1, 1 << 24, 1, 1, Conv2DAttrs{}); });
    BOOST_TEST(contains(big, "X would have more than"), big);

    // int8 argument errors.
    const Conv2DShape s = conv2d_shape(1, 2, 3, 3, 2, 2, 1, 1, Conv2DAttrs{});
    const std::vector<uint8_t> x(s.x_size());
    const std::vector<int8_t> w(s.w_size());
    std::vector<int32_t> y(s.y_size());
    const std::string zx = message([&] { conv2d_u8s8_s32_ref(s, x.data(), 256, w.data(), {0}, nullptr, y.data()); });
    BOOST_TEST(contains(zx, "x_zp 256"), zx);
    const std::string zw = message([&] { conv2d_u8s8_s32_ref(s, x.data(), 0, w.data(), {0, 0, 0}, nullptr, y.data()); });
    BOOST_TEST(contains(zw, "w_zp has 3 values"), zw);
    const std::string nul = message([&] { conv2d_u8s8_s32_ref(s, nullptr, 0, w.data(), {0}, nullptr, y.data()); });
    BOOST_TEST(contains(nul, "x is null"), nul);
    const std::string kk = message([] {
        const Conv2DShape big_k = conv2d_shape(1, 4096, 3, 3, 1, 4096, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 1));
        std::vector<int8_t> wb(big_k.w_size());
        pack_conv2d(big_k, wb.data(), {0});
    });
    BOOST_TEST(contains(kk, "36864 exceeds 32768"), kk);
    const std::string dw = message([&] { pack_conv2d(s, w.data(), {0}, Isa::scalar, ConvAlgo::depthwise_direct); });
    BOOST_TEST(contains(dw, "depthwise_direct needs in_channels / groups == 1"), dw);
    const PackedConv pw = pack_conv2d(s, w.data(), {0}, Isa::scalar);
    const Conv2DShape other = conv2d_shape(1, 2, 3, 3, 2, 2, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 1));
    const std::vector<uint8_t> xo(other.x_size());
    std::vector<int32_t> yo(other.y_size());
    const std::string mism = message([&] { conv2d_u8s8_s32(other, xo.data(), 0, pw, nullptr, yo.data()); });
    BOOST_TEST(contains(mism, "packed weights are for"), mism);
    const auto rq = make_requant_params(1.0f, std::vector<float>{1.0f}, 1.0f, 0, true, RequantMode::fixed_point);
    std::vector<uint8_t> yu(s.y_size());
    const std::string sign = message([&] { conv2d_u8s8_requant(s, x.data(), 0, pw, nullptr, rq, false, yu.data()); });
    BOOST_TEST(contains(sign, "is_signed is true but y is uint8"), sign);

    const std::string pool = message([] {
        Pool2DAttrs a;
        a.kernel_h = a.kernel_w = 2;
        a.pad_top = 2;
        pool2d_shape(1, 1, 4, 4, a);
    });
    BOOST_TEST(contains(pool, "output row 0 has no tap inside the input"), pool);
}

BOOST_AUTO_TEST_CASE(int8_reference_matches_a_hand_computed_convolution) {
    // X 1x1x2x2 uint8 = [[3, 5], [7, 9]], x_zp 4, one 2x2 kernel [[1, -1], [2, 0]] with w_zp 1 ->
    // (w - zw) = [[0, -2], [1, -1]], pads 1 on the left only, bias 10.
    //   output (0,0): taps x(0,-1)=pad, x(0,0)=3, x(1,-1)=pad, x(1,0)=7
    //                 -> (pad-4)*0 + (3-4)*(-2) + 0*1 + (7-4)*(-1) = 2 - 3 = -1, + 10 = 9
    //   output (0,1): taps 3, 5, 7, 9 -> (-1)*0 + 1*(-2) + 3*1 + 5*(-1) = -4, + 10 = 6
    const Conv2DShape s = conv2d_shape(1, 1, 2, 2, 1, 1, 2, 2, attrs(1, 1, 0, 1, 0, 0, 1, 1, 1));
    BOOST_REQUIRE(s.out_h == 1);
    BOOST_REQUIRE(s.out_w == 2);
    const uint8_t x[] = {3, 5, 7, 9};
    const int8_t w[] = {1, -1, 2, 0};
    const int32_t bias[] = {10};
    int32_t y[2] = {0, 0};
    conv2d_u8s8_s32_ref(s, x, 4, w, {1}, bias, y);
    BOOST_TEST(y[0] == 9);
    BOOST_TEST(y[1] == 6);
    for (Isa isa : available_isas()) {
        int32_t yf[2] = {0, 0};
        conv2d_u8s8_s32(s, x, 4, pack_conv2d(s, w, {1}, isa), bias, yf);
        BOOST_TEST(yf[0] == 9, isa_name(isa));
        BOOST_TEST(yf[1] == 6, isa_name(isa));
    }
    // Requantized with multiplier 0.5 (float_scale): 9 * 0.5 = 4.5 -> 4 (half to even), 6 * 0.5 = 3; zp 100.
    const auto rq = make_requant_params(1.0f, std::vector<float>{0.5f}, 1.0f, 100, false, RequantMode::float_scale);
    uint8_t yq[2];
    conv2d_u8s8_requant_ref(s, x, 4, w, {1}, bias, rq, false, yq);
    BOOST_TEST(int(yq[0]) == 104);
    BOOST_TEST(int(yq[1]) == 103);
}

BOOST_AUTO_TEST_CASE(int32_bias_saturates_instead_of_wrapping) {
    const Conv2DShape s = conv2d_shape(1, 1, 1, 1, 2, 1, 1, 1, Conv2DAttrs{});
    const uint8_t x[] = {255};
    const int8_t w[] = {127, -128};
    const int32_t bias[] = {INT32_MAX, INT32_MIN};
    int32_t y[2];
    conv2d_u8s8_s32_ref(s, x, 0, w, {0}, bias, y);
    BOOST_TEST(y[0] == INT32_MAX);
    BOOST_TEST(y[1] == INT32_MIN);
    for (Isa isa : available_isas())
        for (ConvAlgo algo : {ConvAlgo::im2col_gemm, ConvAlgo::depthwise_direct}) {
            int32_t yf[2] = {0, 0};
            conv2d_u8s8_s32(s, x, 0, pack_conv2d(s, w, {0}, isa, algo), bias, yf);
            BOOST_TEST(yf[0] == INT32_MAX);
            BOOST_TEST(yf[1] == INT32_MIN);
        }
}

BOOST_AUTO_TEST_CASE(few_channel_stride_one_convolutions_run_the_direct_plane_loop_and_match_the_reference) {
    // A grey image's first layer (the shipped CNN's: 1 -> 16, 3x3) takes direct_plane; so do an
    // RGB layer and a stride-1 depthwise one; strided and many-channel ones do not.
    const Conv2DShape grey = conv2d_shape(2, 1, 28, 28, 16, 1, 3, 3, Conv2DAttrs{});
    const std::vector<int8_t> w1(grey.w_size(), 3);
    BOOST_TEST((pack_conv2d(grey, w1.data(), {0}).algo == ConvAlgo::direct_plane));
    const Conv2DShape rgb = conv2d_shape(1, 3, 9, 9, 8, 3, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 1));
    const std::vector<int8_t> w3(rgb.w_size(), 1);
    BOOST_TEST((pack_conv2d(rgb, w3.data(), {0}).algo == ConvAlgo::direct_plane));
    const Conv2DShape dw = conv2d_shape(1, 8, 9, 9, 8, 1, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 8));
    const std::vector<int8_t> wd(dw.w_size(), 1);
    BOOST_TEST((pack_conv2d(dw, wd.data(), {0}).algo == ConvAlgo::direct_plane));
    const Conv2DShape dw2 = conv2d_shape(1, 8, 9, 9, 8, 1, 3, 3, attrs(2, 2, 1, 1, 1, 1, 1, 1, 8));
    BOOST_TEST((pack_conv2d(dw2, wd.data(), {0}).algo == ConvAlgo::depthwise_direct));
    const Conv2DShape patch = conv2d_shape(1, 1, 28, 28, 64, 1, 7, 7, attrs(7, 7, 0, 0, 0, 0, 1, 1, 1));
    const std::vector<int8_t> wp(patch.w_size(), 1);
    BOOST_TEST((pack_conv2d(patch, wp.data(), {0}).algo == ConvAlgo::im2col_gemm));
    const Conv2DShape wide = conv2d_shape(1, 16, 9, 9, 8, 16, 3, 3, Conv2DAttrs{});
    const std::vector<int8_t> ww(wide.w_size(), 1);
    BOOST_TEST((pack_conv2d(wide, ww.data(), {0}).algo == ConvAlgo::im2col_gemm));
    // Images large enough that the accumulators are split into blocks of output rows (kDirectBlock),
    // with padding and dilation: every ISA, both input types, equal to the reference.
    std::mt19937 rng(77);
    const Conv2DShape big = conv2d_shape(2, 2, 90, 75, 5, 2, 3, 3, attrs(1, 1, 1, 2, 0, 1, 1, 1, 1));
    const Conv2DShape dil = conv2d_shape(1, 1, 70, 66, 3, 1, 5, 3, attrs(1, 1, 2, 1, 2, 1, 2, 3, 1));
    for (const Conv2DShape& s : {big, dil}) {
        BOOST_TEST(size_t(s.out_h) * size_t(s.in_w) > size_t(kDirectBlock));
        check_fast_matches_reference<uint8_t>(s, Fill::random, Fill::random, 17, random_zps(size_t(s.out_channels), rng), true, rng);
        check_fast_matches_reference<int8_t>(s, Fill::random, Fill::random, -9, {4}, false, rng);
    }
}

BOOST_AUTO_TEST_CASE(int8_fast_paths_match_reference_on_every_isa_for_tabled_shapes) {
    std::mt19937 rng(2024);
    int runs = 0;
    for (const Case& c : kCases) {
        const Conv2DShape s = shape_of(c);
        const std::vector<int32_t> zw = random_zps(size_t(s.out_channels), rng);
        runs += check_fast_matches_reference<uint8_t>(s, Fill::random, Fill::random, 0, zw, true, rng);
        runs += check_fast_matches_reference<uint8_t>(s, Fill::random, Fill::random, 255, {-128}, false, rng);
        runs += check_fast_matches_reference<int8_t>(s, Fill::random, Fill::random, -128, {127}, true, rng);
        runs += check_fast_matches_reference<int8_t>(s, Fill::random, Fill::random, 127, zw, false, rng);
    }
    BOOST_TEST_MESSAGE("tabled shapes: " << runs << " packed runs compared");
    BOOST_TEST(runs >= int(kCases.size()) * 4 * 2);
}

BOOST_AUTO_TEST_CASE(int8_fast_paths_match_reference_on_every_isa_for_random_shapes) {
    std::mt19937 rng(77);
    int runs = 0;
    for (const Case& c : random_cases(rng, 40)) {
        const Conv2DShape s = shape_of(c);
        std::uniform_int_distribution<int> zu(0, 255), zs(-128, 127);
        const std::vector<int32_t> zw = random_zps(size_t(s.out_channels), rng);
        runs += check_fast_matches_reference<uint8_t>(s, Fill::random, Fill::random, zu(rng), zw, true, rng);
        runs += check_fast_matches_reference<int8_t>(s, Fill::random, Fill::random, zs(rng), {zs(rng)}, true, rng);
    }
    BOOST_TEST_MESSAGE("random shapes: " << runs << " packed runs compared");
}

// From four input channels per group the im2col GEMM takes its columns in (kh, kw, c) order from a
// channels-last copy of the input (PackedConv::channels_last); below that, OIHW's (c, kh, kw). The
// two tests above compare both against the reference: this one checks they see enough of each
// (strides, padding, dilation, groups and 1x1 kernels among the channels-last shapes).
BOOST_AUTO_TEST_CASE(channels_last_im2col_is_taken_from_four_channels_per_group_and_both_orders_are_compared) {
    std::mt19937 rng(77);
    std::vector<Case> cases = kCases;
    for (const Case& c : random_cases(rng, 40)) cases.push_back(c);
    int last = 0, oihw = 0, last_dilated = 0, last_grouped = 0, last_padded = 0;
    for (const Case& c : cases) {
        const Conv2DShape s = shape_of(c);
        const std::vector<int8_t> w(s.w_size(), 1);
        const PackedConv pw = pack_conv2d(s, w.data(), {0}, Isa::scalar, ConvAlgo::im2col_gemm);
        BOOST_TEST(pw.channels_last == (s.in_per_group() >= kChannelsLastMin), describe(s));
        if (!pw.channels_last) {
            ++oihw;
            continue;
        }
        ++last;
        last_dilated += c.a.dilation_w > 1;
        last_grouped += c.a.groups > 1;
        last_padded += c.a.pad_left + c.a.pad_right + c.a.pad_top + c.a.pad_bottom > 0;
    }
    BOOST_TEST(last >= 10);
    BOOST_TEST(oihw >= 10);
    BOOST_TEST(last_dilated >= 2);
    BOOST_TEST(last_grouped >= 2);
    BOOST_TEST(last_padded >= 4);
}

BOOST_AUTO_TEST_CASE(saturating_inputs_stay_exact) {
    // Every product at +-255 * 255 with K up to 5 * 5 * 33: the largest sums the limits allow in
    // these shapes, for every ISA (an AVX2 kernel on vpmaddubsw would saturate here).
    std::mt19937 rng(3);
    const std::vector<std::pair<Fill, Fill>> fills = {
        {Fill::max, Fill::max}, {Fill::max, Fill::min}, {Fill::min, Fill::min}, {Fill::alternating, Fill::alternating}};
    const std::vector<Case> cases = {
        {1, 33, 6, 7, 9, 5, 5, attrs(1, 1, 2, 2, 2, 2, 1, 1, 1)},
        {2, 6, 9, 8, 12, 3, 3, attrs(2, 1, 1, 0, 1, 2, 2, 1, 6)},
        {1, 4, 5, 5, 4, 1, 1, attrs(1, 1, 0, 0, 0, 0, 1, 1, 2)},
    };
    for (const auto& [fx, fw] : fills)
        for (const Case& c : cases) {
            const Conv2DShape s = shape_of(c);
            check_fast_matches_reference<uint8_t>(s, fx, fw, 0, {127}, false, rng);
            check_fast_matches_reference<uint8_t>(s, fx, fw, 255, {-128}, false, rng);
            check_fast_matches_reference<int8_t>(s, fx, fw, -128, {127}, false, rng);
            check_fast_matches_reference<int8_t>(s, fx, fw, 127, {-128}, true, rng);
        }
}

BOOST_AUTO_TEST_CASE(packed_weights_are_reused_across_batches_and_input_sizes) {
    std::mt19937 rng(11);
    const Conv2DShape a = conv2d_shape(1, 4, 9, 7, 6, 2, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 2));
    const Conv2DShape b = conv2d_shape(2, 4, 30, 17, 6, 2, 3, 3, attrs(2, 1, 0, 1, 2, 1, 1, 2, 2));
    const auto w = fill<int8_t>(a.w_size(), Fill::random, rng);
    const std::vector<int32_t> zw = random_zps(6, rng);
    for (Isa isa : available_isas()) {
        const PackedConv pw = pack_conv2d(a, w.data(), zw, isa);
        for (const Conv2DShape* s : {&a, &b, &a}) {
            const auto x = fill<uint8_t>(s->x_size(), Fill::random, rng);
            std::vector<int32_t> ref(s->y_size()), out(s->y_size());
            conv2d_u8s8_s32_ref(*s, x.data(), 13, w.data(), zw, nullptr, ref.data());
            conv2d_u8s8_s32(*s, x.data(), 13, pw, nullptr, out.data());
            BOOST_TEST((out == ref), isa_name(isa) << " " << describe(*s));
        }
    }
}

BOOST_AUTO_TEST_CASE(fp32_reference_matches_a_hand_computed_convolution) {
    // X 1x2x2x2, two groups (depthwise), kernels 1x2 [[0.5, -1]] and [[2, 0.25]], bias [1, -1].
    const Conv2DShape s = conv2d_shape(1, 2, 2, 2, 2, 1, 1, 2, attrs(1, 1, 0, 0, 0, 0, 1, 1, 2));
    const float x[] = {1, 2, 3, 4, /*ch1*/ 10, 20, 30, 40};
    const float w[] = {0.5f, -1, 2, 0.25f};
    const float bias[] = {1, -1};
    float y[4];
    conv2d_f32_ref(s, x, w, bias, y);
    BOOST_TEST(y[0] == 1 + 0.5f * 1 - 2);     // -0.5
    BOOST_TEST(y[1] == 1 + 0.5f * 3 - 4);     // -1.5
    BOOST_TEST(y[2] == -1 + 20 + 0.25f * 20);  // 24
    BOOST_TEST(y[3] == -1 + 60 + 0.25f * 40);  // 69
    float yf[4];
    conv2d_f32(s, x, pack_conv2d_f32(s, w), bias, yf);
    for (int i = 0; i < 4; ++i) BOOST_TEST(yf[i] == y[i]);  // exact: every partial sum is representable
}

BOOST_AUTO_TEST_CASE(fp32_fast_path_stays_within_the_documented_error_bound) {
    std::mt19937 rng(5);
    std::vector<Case> cases = kCases;
    cases.push_back({1, 64, 9, 9, 70, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 1)});  // K = 576: long k loops
    for (const Case& c : random_cases(rng, 20)) cases.push_back(c);
    double worst = 0.0;  // largest |error| / bound seen
    for (const Case& c : cases) {
        const Conv2DShape s = shape_of(c);
        const auto [x, w, bias] = random_f32_inputs(s, rng);
        std::vector<float> ref(s.y_size()), mag(s.y_size()), out(s.y_size()), again(s.y_size());
        conv2d_f32_ref(s, x.data(), w.data(), bias.data(), ref.data());
        // sum |x| |w| + |bias| per output: the reference on absolute values.
        std::vector<float> ax(x), aw(w), ab(bias);
        for (auto* v : {&ax, &aw, &ab})
            for (float& e : *v) e = std::fabs(e);
        conv2d_f32_ref(s, ax.data(), aw.data(), ab.data(), mag.data());
        const PackedConvF32 pw = pack_conv2d_f32(s, w.data());
        conv2d_f32(s, x.data(), pw, bias.data(), out.data());
        conv2d_f32(s, x.data(), pw, bias.data(), again.data());
        size_t bad = 0;
        for (size_t i = 0; i < out.size(); ++i) {
            const double err = std::fabs(double(out[i]) - double(ref[i]));
            // mag is itself rounded to float: widen it by one float ulp's worth.
            const double bound = conv2d_f32_error_bound(s, double(mag[i]) * (1.0 + FLT_EPSILON));
            bad += !(err <= bound);
            if (bound > 0) worst = std::max(worst, err / bound);
        }
        BOOST_TEST(bad == 0u, describe(s) << ": " << bad << " outputs outside the bound");
        BOOST_TEST((out == again), "fp32 fast path is not deterministic for " << describe(s));
    }
    BOOST_TEST_MESSAGE("fp32 fast path: worst error / bound = " << worst);
}

// The fast fp32 convolution promises the rounding of the plain loop (bias, then each tap's product
// rounded and added in (c, kh, kw) order), which makes it bit-identical natively and in wasm.
BOOST_AUTO_TEST_CASE(fp32_fast_path_is_bit_identical_to_the_plain_ordered_loop) {
    std::mt19937 rng(9);
    std::vector<Case> cases = kCases;
    cases.push_back({3, 1, 28, 28, 16, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1)});   // grey first layer
    cases.push_back({2, 16, 13, 13, 32, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1)});  // the Fashion CNN's conv2
    cases.push_back({1, 8, 40, 300, 5, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 1)});   // rows wider than a panel
    cases.push_back({1, 6, 10, 10, 12, 3, 3, attrs(2, 3, 1, 2, 0, 1, 2, 1, 3)});   // groups, strides, dilation
    cases.push_back({2, 4, 12, 45, 9, 3, 2, attrs(1, 1, 0, 0, 0, 0, 2, 3, 1)});    // stride 1, unpadded, dilated, rows > 32
    cases.push_back({1, 6, 9, 9, 10, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 2)});     // stride 1, unpadded, two groups
    cases.push_back({2, 8, 7, 7, 32, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 2)});     // by channel, two groups
    cases.push_back({1, 8, 10, 10, 40, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1)});   // by channel, 40 = 32 + 8 lanes
    cases.push_back({2, 1, 28, 28, 64, 7, 7, attrs(7, 7, 0, 0, 0, 0, 1, 1, 1)});   // the Mixer's patch embedding
    cases.push_back({1, 4, 12, 11, 16, 3, 3, attrs(2, 3, 0, 0, 0, 0, 1, 2, 1)});   // by channel, strided, dilated
    for (const Case& c : random_cases(rng, 20)) cases.push_back(c);
    for (const Case& c : cases) {
        const Conv2DShape s = shape_of(c);
        const auto [x, w, bias] = random_f32_inputs(s, rng);
        std::vector<float> plain(s.y_size()), out(s.y_size());
        const Conv2DAttrs& a = s.attrs;
        const int Cg = s.in_per_group(), Og = s.out_per_group();
        for (int n = 0; n < s.batch; ++n)
            for (int o = 0; o < s.out_channels; ++o)
                for (int oy = 0; oy < s.out_h; ++oy)
                    for (int ox = 0; ox < s.out_w; ++ox) {
                        float acc = bias[size_t(o)];
                        for (int c2 = 0; c2 < Cg; ++c2)
                            for (int kh = 0; kh < s.kernel_h; ++kh)
                                for (int kw = 0; kw < s.kernel_w; ++kw) {
                                    const int ih = oy * a.stride_h - a.pad_top + kh * a.dilation_h;
                                    const int iw = ox * a.stride_w - a.pad_left + kw * a.dilation_w;
                                    // A padding tap adds w * 0, which leaves a non-zero sum unchanged.
                                    if (ih < 0 || ih >= s.in_h || iw < 0 || iw >= s.in_w) continue;
                                    const int ci = (o / Og) * Cg + c2;
                                    const float xv = x[((size_t(n) * size_t(s.in_channels) + size_t(ci)) * size_t(s.in_h) +
                                                        size_t(ih)) * size_t(s.in_w) + size_t(iw)];
                                    const float wv = w[((size_t(o) * size_t(Cg) + size_t(c2)) * size_t(s.kernel_h) +
                                                        size_t(kh)) * size_t(s.kernel_w) + size_t(kw)];
                                    acc += wv * xv;
                                }
                        plain[((size_t(n) * size_t(s.out_channels) + size_t(o)) * size_t(s.out_h) + size_t(oy)) *
                                  size_t(s.out_w) + size_t(ox)] = acc;
                    }
        conv2d_f32(s, x.data(), pack_conv2d_f32(s, w.data()), bias.data(), out.data());
        size_t differ = 0;
        for (size_t i = 0; i < out.size(); ++i) differ += std::memcmp(&out[i], &plain[i], sizeof(float)) != 0;
        BOOST_TEST(differ == 0u, describe(s) << ": " << differ << " outputs differ from the ordered loop");
        // Fused ReLU (the executor's Conv -> Relu): the ordered loop's value, then x < 0 ? 0 : x.
        conv2d_f32(s, x.data(), pack_conv2d_f32(s, w.data()), bias.data(), out.data(), true);
        differ = 0;
        for (size_t i = 0; i < out.size(); ++i) {
            const float want = plain[i] < 0.0f ? 0.0f : plain[i];
            differ += std::memcmp(&out[i], &want, sizeof(float)) != 0;
        }
        BOOST_TEST(differ == 0u, describe(s) << ": " << differ << " outputs differ from the ordered loop + ReLU");
    }
}

// Conv -> [Relu] -> MaxPool fused per image: the bytes of conv2d_f32 then max_pool2d, on every conv
// path (row group, across channels, panels, depthwise) and pool attributes with padding and strides.
BOOST_AUTO_TEST_CASE(fp32_conv_relu_max_pool_fused_per_image_gives_the_bytes_of_the_three_apart) {
    std::mt19937 rng(21);
    Pool2DAttrs p2;
    p2.kernel_h = p2.kernel_w = 2;
    p2.stride_h = p2.stride_w = 2;
    Pool2DAttrs p3 = p2;
    p3.kernel_h = p3.kernel_w = 3;
    p3.pad_top = p3.pad_left = p3.pad_bottom = p3.pad_right = 1;
    const std::vector<Case> cases = {
        {3, 1, 28, 28, 16, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1)},   // the Fashion CNN's conv1 (row group)
        {2, 16, 13, 13, 32, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1)},  // its conv2 (across channels)
        {2, 3, 12, 10, 5, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 1)},    // padded (panels)
        {2, 4, 12, 12, 8, 3, 3, attrs(1, 1, 1, 1, 1, 1, 1, 1, 4)},    // depthwise (x2 multiplier)
        {2, 1, 40, 40, 5, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1)},    // row group over two strips (38 = 32 + 6)
        {2, 2, 15, 17, 9, 3, 3, attrs(1, 1, 0, 0, 0, 0, 1, 1, 1)},    // odd 13 x 15 output: last row, column dropped
    };
    // Ceil mode on odd sizes keeps a last partial window: the pool cannot run in the convolution's
    // registers, so that path must step aside.
    Pool2DAttrs p2_ceil = p2;
    p2_ceil.ceil_mode = true;
    for (const Case& c : cases)
        for (const Pool2DAttrs& pa : {p2, p3, p2_ceil})
            for (const bool relu : {false, true}) {
                const Conv2DShape s = shape_of(c);
                const auto [x, w, bias] = random_f32_inputs(s, rng);
                const PackedConvF32 pw = pack_conv2d_f32(s, w.data());
                std::vector<float> full(s.y_size());
                conv2d_f32(s, x.data(), pw, bias.data(), full.data(), relu);
                const Pool2DShape ps = conv2d_f32_max_pool_shape(s, pa);
                std::vector<float> apart(ps.y_size()), fused(ps.y_size());
                max_pool2d(ps, full.data(), apart.data());
                conv2d_f32_max_pool(s, x.data(), pw, bias.data(), relu, pa, fused.data());
                BOOST_TEST(std::memcmp(apart.data(), fused.data(), apart.size() * sizeof(float)) == 0,
                           describe(s) << " pool " << pa.kernel_h << (relu ? " relu" : ""));
            }
}

// Max pooling's fast paths (every window inside the input; 2x2 stride 2) keep the generic rule:
// the first tap starts the maximum, a later tap replaces it only if greater (so a NaN first tap
// stays, a later NaN is skipped).
BOOST_AUTO_TEST_CASE(max_pool_fast_paths_keep_the_first_tap_and_greater_than_rule) {
    std::mt19937 rng(4);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    auto pattrs = [](int k, int s, int pad, int dil) {
        Pool2DAttrs a;
        a.kernel_h = a.kernel_w = k;
        a.stride_h = a.stride_w = s;
        a.pad_top = a.pad_left = a.pad_bottom = a.pad_right = pad;
        a.dilation_h = a.dilation_w = dil;
        return a;
    };
    for (const Pool2DAttrs& a : {pattrs(2, 2, 0, 1), pattrs(3, 2, 0, 1), pattrs(3, 1, 0, 2), pattrs(2, 2, 1, 1),
                                 pattrs(3, 3, 1, 1)})
    for (const auto& [in_h, in_w] : {std::pair{13, 12}, std::pair{28, 28}, std::pair{9, 7}, std::pair{6, 17},
                                     std::pair{5, 70}}) {
        // Widths whose 2x2 rows are a multiple of the 4-output SIMD step, not one, and below it.
        const Pool2DShape s = pool2d_shape(2, 3, in_h, in_w, a);
        std::vector<float> x(s.x_size()), y(s.y_size());
        for (size_t i = 0; i < x.size(); ++i)
            x[i] = i % 17 == 0 ? std::nanf("") : i % 23 == 0 ? -0.0f : i % 29 == 0 ? 0.0f : d(rng);
        max_pool2d(s, x.data(), y.data());
        size_t differ = 0, i = 0;
        for (int p = 0; p < s.batch * s.channels; ++p)
            for (int oy = 0; oy < s.out_h; ++oy)
                for (int ox = 0; ox < s.out_w; ++ox, ++i) {
                    float best = 0.0f;
                    bool any = false;
                    for (int kh = 0; kh < a.kernel_h; ++kh)
                        for (int kw = 0; kw < a.kernel_w; ++kw) {
                            const int ih = oy * a.stride_h - a.pad_top + kh * a.dilation_h;
                            const int iw = ox * a.stride_w - a.pad_left + kw * a.dilation_w;
                            if (ih < 0 || ih >= s.in_h || iw < 0 || iw >= s.in_w) continue;
                            const float v = x[(size_t(p) * size_t(s.in_h) + size_t(ih)) * size_t(s.in_w) + size_t(iw)];
                            if (!any || v > best) best = v;
                            any = true;
                        }
                    differ += std::memcmp(&best, &y[i], sizeof(float)) != 0;
                }
        BOOST_TEST(differ == 0u, "kernel " << a.kernel_h << " stride " << a.stride_h << " pad " << a.pad_top << " on "
                                           << in_h << "x" << in_w << ": " << differ << " outputs differ");
    }
}

BOOST_AUTO_TEST_CASE(quantized_average_rounds_half_to_even_with_the_zero_point_applied_first) {
    struct Row {
        int64_t num, den, q;
    };
    for (const Row& r : {Row{5, 2, 2}, Row{7, 2, 4}, Row{-5, 2, -2}, Row{-7, 2, -4}, Row{10, 4, 2}, Row{11, 4, 3},
                         Row{-11, 4, -3}, Row{1, 3, 0}, Row{2, 3, 1}, Row{0, 9, 0}, Row{-9, 9, -1}})
        BOOST_TEST(divide_round_half_even(r.num, r.den) == r.q, r.num << "/" << r.den);
    BOOST_CHECK_THROW(divide_round_half_even(1, 0), std::invalid_argument);

    // 1x2 windows over uint8 [3, 4, 6, 7] with zero point 1: real values 2, 3, 5, 6 (scale 1).
    // Window 0: (2 + 3) / 2 = 2.5 -> 2 -> q 3 (rounding q itself, 3.5 -> 4, would be wrong);
    // window 1: (5 + 6) / 2 = 5.5 -> 6 -> q 7.
    Pool2DAttrs a;
    a.kernel_h = 1;
    a.kernel_w = 2;
    a.stride_w = 2;
    const Pool2DShape s = pool2d_shape(1, 1, 1, 4, a);
    const uint8_t x[] = {3, 4, 6, 7};
    uint8_t y[2];
    average_pool2d(s, x, 1, y);
    BOOST_TEST(int(y[0]) == 3);
    BOOST_TEST(int(y[1]) == 7);
    // int8 with count_include_pad: padding counts as real 0 (q = zero point).
    a.pad_left = 1;
    a.count_include_pad = true;
    const Pool2DShape sp = pool2d_shape(1, 1, 1, 3, a);  // windows {pad, x0}, {x1, x2}
    const int8_t xs[] = {-3, 8, 9};
    int8_t ys[2];
    average_pool2d(sp, xs, -10, ys);  // real 7, 18, 19 -> (0 + 7) / 2 = 3.5 -> 4; 37 / 2 = 18.5 -> 18
    BOOST_TEST(int(ys[0]) == -10 + 4);
    BOOST_TEST(int(ys[1]) == -10 + 18);
    const uint8_t g[] = {1, 2, 2, 2, /*plane 2*/ 0, 0, 0, 2};  // zp 0: 7 / 4 = 1.75 -> 2; 2 / 4 = 0.5 -> 0
    uint8_t gy[2];
    global_average_pool2d(1, 2, 2, 2, g, 0, gy);
    BOOST_TEST(int(gy[0]) == 2);
    BOOST_TEST(int(gy[1]) == 0);
}

BOOST_AUTO_TEST_CASE(integer_max_pool_agrees_with_float_max_pool) {
    std::mt19937 rng(8);
    Pool2DAttrs a;
    a.kernel_h = 3;
    a.kernel_w = 2;
    a.stride_h = 2;
    a.pad_top = 1;
    a.pad_bottom = 2;
    a.pad_right = 1;
    a.dilation_w = 2;
    a.ceil_mode = true;
    const Pool2DShape s = pool2d_shape(2, 3, 9, 8, a);
    const auto xs = fill<int8_t>(s.x_size(), Fill::random, rng);
    const auto xu = fill<uint8_t>(s.x_size(), Fill::random, rng);
    std::vector<float> fs8(xs.begin(), xs.end()), fu8(xu.begin(), xu.end()), ys_f(s.y_size()), yu_f(s.y_size());
    std::vector<int8_t> ys(s.y_size());
    std::vector<uint8_t> yu(s.y_size());
    max_pool2d(s, xs.data(), ys.data());
    max_pool2d(s, xu.data(), yu.data());
    max_pool2d(s, fs8.data(), ys_f.data());
    max_pool2d(s, fu8.data(), yu_f.data());
    for (size_t i = 0; i < ys.size(); ++i) {
        BOOST_TEST(float(ys[i]) == ys_f[i]);
        BOOST_TEST(float(yu[i]) == yu_f[i]);
    }
}

// The transposes of the convolution's and the executor's layout changes: 16x16 (bytes) or 4x4
// (words) SIMD blocks with an overlapping last block per axis, one by one along a shorter axis;
// padded strides on both sides, and the elements outside the destination's rows left alone.
BOOST_AUTO_TEST_CASE(transposes_move_every_element_and_nothing_else) {
    std::mt19937 rng(21);
    std::uniform_int_distribution<int> byte(0, 255);
    size_t cases = 0;
    for (size_t rows : {1u, 3u, 15u, 16u, 17u, 31u, 32u, 33u, 121u, 169u})
        for (size_t cols : {1u, 7u, 16u, 17u, 32u, 47u, 64u, 169u}) {
            const size_t src_stride = cols + rows % 3, dst_stride = rows + cols % 5;
            std::vector<uint8_t> src(rows * src_stride);
            for (auto& v : src) v = uint8_t(byte(rng));
            std::vector<uint8_t> dst(cols * dst_stride, 0xA5);
            transpose_bytes(src.data(), rows, cols, src_stride, dst.data(), dst_stride);
            size_t bad = 0;
            for (size_t c = 0; c < cols; ++c)
                for (size_t r = 0; r < dst_stride; ++r)
                    bad += dst[c * dst_stride + r] != (r < rows ? src[r * src_stride + c] : 0xA5);
            BOOST_TEST(bad == 0u, rows << " x " << cols);
            ++cases;
        }
    BOOST_TEST(cases == 80u);
    // 4-byte words (4x4 blocks): NaN payloads and every bit pattern move untouched.
    for (size_t rows : {1u, 3u, 4u, 5u, 8u, 13u, 49u, 64u})
        for (size_t cols : {1u, 2u, 4u, 7u, 16u, 49u, 64u}) {
            const size_t src_stride = cols + rows % 2, dst_stride = rows + cols % 3;
            std::vector<uint32_t> src(rows * src_stride);
            for (auto& v : src) v = uint32_t(rng()) | (src.size() % 2 ? 0x7fc00001u : 0u);
            std::vector<uint32_t> dst(cols * dst_stride, 0xDEADBEEFu);
            transpose_words(src.data(), rows, cols, src_stride, dst.data(), dst_stride);
            size_t bad = 0;
            for (size_t c = 0; c < cols; ++c)
                for (size_t r = 0; r < dst_stride; ++r)
                    bad += dst[c * dst_stride + r] != (r < rows ? src[r * src_stride + c] : 0xDEADBEEFu);
            BOOST_TEST(bad == 0u, "words " << rows << " x " << cols);
        }
}

// The 2x2 / stride 2 byte pool (16-, 8- and 4-output SIMD steps with an overlapping last step,
// a byte loop below 4 outputs) against the float pool of the same values, for every width from 1
// to 70 (odd widths drop their last column), both byte types, extremes included.
BOOST_AUTO_TEST_CASE(byte_2x2_max_pool_agrees_with_float_max_pool_at_every_width) {
    std::mt19937 rng(12);
    Pool2DAttrs a;
    a.kernel_h = a.kernel_w = 2;
    a.stride_h = a.stride_w = 2;
    size_t differ = 0, checked = 0;
    for (int in_w = 2; in_w <= 71; ++in_w)
        for (int in_h : {2, 5}) {
            const Pool2DShape s = pool2d_shape(2, 2, in_h, in_w, a);
            auto xs = fill<int8_t>(s.x_size(), Fill::random, rng);
            auto xu = fill<uint8_t>(s.x_size(), Fill::random, rng);
            for (size_t i = 0; i < xs.size(); i += 7) {  // the ends of both ranges and their flips
                xs[i] = int8_t(i % 2 ? -128 : 127);
                xu[i] = uint8_t(i % 2 ? 255 : 128);
            }
            std::vector<float> fs(xs.begin(), xs.end()), fu(xu.begin(), xu.end()), yfs(s.y_size()), yfu(s.y_size());
            std::vector<int8_t> ys(s.y_size());
            std::vector<uint8_t> yu(s.y_size());
            max_pool2d(s, xs.data(), ys.data());
            max_pool2d(s, xu.data(), yu.data());
            max_pool2d(s, fs.data(), yfs.data());
            max_pool2d(s, fu.data(), yfu.data());
            for (size_t i = 0; i < ys.size(); ++i, checked += 2)
                differ += (float(ys[i]) != yfs[i]) + (float(yu[i]) != yfu[i]);
        }
    BOOST_TEST(differ == 0u);
    BOOST_TEST(checked > 20000u);
}

BOOST_AUTO_TEST_CASE(fp32_conv_matches_onnx_backend_test_data) {
    require_node_tests();
    for (const char* name : {"test_basic_conv_with_padding", "test_basic_conv_without_padding", "test_conv_with_strides_padding",
                             "test_conv_with_strides_no_padding", "test_conv_with_strides_and_asymmetric_padding",
                             "test_conv_with_autopad_same"}) {
        const NodeData d = load_node_test(name);
        const Conv2DShape s = conv_shape_of(d, 0, 1);
        const float* x = d.inputs[0].as<float>();
        const float* w = d.inputs[1].as<float>();
        const float* b = d.inputs.size() > 2 ? d.inputs[2].as<float>() : nullptr;
        const onnx::Tensor& expect = d.outputs.at(0);
        BOOST_REQUIRE_MESSAGE(size_t(expect.numel()) == s.y_size(), name << ": output size " << expect.numel());
        std::vector<float> ref(s.y_size()), fast(s.y_size());
        conv2d_f32_ref(s, x, w, b, ref.data());
        conv2d_f32(s, x, pack_conv2d_f32(s, w), b, fast.data());
        double err_ref = 0, err_fast = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
            const double e = expect.as<float>()[i], tol = 1e-6 * (1.0 + std::fabs(e));
            err_ref = std::max(err_ref, std::fabs(ref[i] - e) / tol);
            err_fast = std::max(err_fast, std::fabs(fast[i] - e) / tol);
        }
        BOOST_TEST(err_ref <= 1.0, name << " reference");
        BOOST_TEST(err_fast <= 1.0, name << " fast");
    }
}

BOOST_AUTO_TEST_CASE(int8_conv_matches_onnx_backend_test_data) {
    require_node_tests();
    // ConvInteger: x, w, x_zero_point?, w_zero_point? -> int32.
    for (const char* name : {"test_basic_convinteger", "test_convinteger_with_padding", "test_convinteger_without_padding"}) {
        const NodeData d = load_node_test(name);
        const Conv2DShape s = conv_shape_of(d, 0, 1);
        BOOST_REQUIRE(d.inputs[0].dtype == onnx::DataType::UINT8);
        const std::vector<int32_t> zx = zero_points_of(d, 2);
        std::vector<int32_t> zw = zero_points_of(d, 3);
        const std::vector<int8_t> w = weights_as_s8(d.inputs[1], zw);
        const onnx::Tensor& expect = d.outputs.at(0);
        BOOST_REQUIRE(size_t(expect.numel()) == s.y_size());
        const std::vector<int32_t> want(expect.as<int32_t>(), expect.as<int32_t>() + expect.numel());
        std::vector<int32_t> ref(s.y_size());
        conv2d_u8s8_s32_ref(s, d.inputs[0].as<uint8_t>(), zx[0], w.data(), zw, nullptr, ref.data());
        BOOST_TEST((ref == want), name << " reference");
        for (Isa isa : available_isas()) {
            std::vector<int32_t> fast(s.y_size());
            conv2d_u8s8_s32(s, d.inputs[0].as<uint8_t>(), zx[0], pack_conv2d(s, w.data(), zw, isa), nullptr, fast.data());
            BOOST_TEST((fast == want), name << " " << isa_name(isa));
        }
    }
    // QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B? -> uint8 here.
    const NodeData d = load_node_test("test_qlinearconv");
    const Conv2DShape s = conv_shape_of(d, 0, 3);
    BOOST_REQUIRE(d.inputs[0].dtype == onnx::DataType::UINT8);
    BOOST_REQUIRE(d.inputs[7].dtype == onnx::DataType::UINT8);
    const std::vector<int32_t> zx = zero_points_of(d, 2);
    std::vector<int32_t> zw = zero_points_of(d, 5);
    const std::vector<int8_t> w = weights_as_s8(d.inputs[3], zw);
    const std::vector<float> sw(d.inputs[4].as<float>(), d.inputs[4].as<float>() + d.inputs[4].numel());
    const int32_t zy = zero_points_of(d, 7)[0];
    const int32_t* bias = d.inputs.size() > 8 ? d.inputs[8].as<int32_t>() : nullptr;
    const onnx::Tensor& expect = d.outputs.at(0);
    // onnxruntime's float_scale rule is what ONNX's expected output was produced with (in float).
    const auto rq = make_requant_params(d.inputs[1].as<float>()[0], sw, d.inputs[6].as<float>()[0], zy, false,
                                        RequantMode::float_scale);
    std::vector<uint8_t> ref(s.y_size());
    conv2d_u8s8_requant_ref(s, d.inputs[0].as<uint8_t>(), zx[0], w.data(), zw, bias, rq, false, ref.data());
    size_t bad = 0;
    for (size_t i = 0; i < ref.size(); ++i) bad += ref[i] != expect.as<uint8_t>()[i];
    BOOST_TEST(bad == 0u, "test_qlinearconv reference: " << bad << " of " << ref.size() << " differ");
    for (Isa isa : available_isas()) {
        std::vector<uint8_t> fast(s.y_size());
        conv2d_u8s8_requant(s, d.inputs[0].as<uint8_t>(), zx[0], pack_conv2d(s, w.data(), zw, isa), bias, rq, false,
                            fast.data());
        BOOST_TEST((fast == ref), "test_qlinearconv " << isa_name(isa));
    }
}

BOOST_AUTO_TEST_CASE(pooling_matches_onnx_backend_test_data) {
    require_node_tests();
    const char* tests[] = {"test_maxpool_2d_default", "test_maxpool_2d_pads", "test_maxpool_2d_strides",
                           "test_maxpool_2d_ceil", "test_maxpool_2d_dilations", "test_maxpool_2d_precomputed_pads",
                           "test_maxpool_2d_precomputed_strides", "test_maxpool_2d_precomputed_same_upper",
                           "test_maxpool_2d_same_upper", "test_maxpool_2d_same_lower", "test_maxpool_2d_uint8",
                           "test_averagepool_2d_default", "test_averagepool_2d_pads", "test_averagepool_2d_strides",
                           "test_averagepool_2d_ceil", "test_averagepool_2d_precomputed_pads",
                           "test_averagepool_2d_precomputed_strides", "test_averagepool_2d_pads_count_include_pad",
                           "test_averagepool_2d_precomputed_pads_count_include_pad",
                           "test_averagepool_2d_precomputed_same_upper", "test_averagepool_2d_same_upper",
                           "test_averagepool_2d_same_lower", "test_globalaveragepool", "test_globalaveragepool_precomputed"};
    for (const char* name : tests) {
        const NodeData d = load_node_test(name);
        const onnx::Tensor& x = d.inputs.at(0);
        const onnx::Tensor& expect = d.outputs.at(0);
        const std::string op = d.node.op_type;
        if (op == "GlobalAveragePool") {
            std::vector<float> y(size_t(x.dims[0] * x.dims[1]));
            global_average_pool2d(int(x.dims[0]), int(x.dims[1]), int(x.dims[2]), int(x.dims[3]), x.as<float>(), y.data());
            BOOST_REQUIRE(size_t(expect.numel()) == y.size());
            for (size_t i = 0; i < y.size(); ++i)
                BOOST_TEST(std::fabs(y[i] - expect.as<float>()[i]) <= 1e-6f * (1 + std::fabs(expect.as<float>()[i])), name);
            continue;
        }
        const Pool2DShape s = pool_shape_of(d);
        BOOST_REQUIRE_MESSAGE(size_t(expect.numel()) == s.y_size(), name << ": expected " << expect.numel()
                                                                           << " outputs, shape gives " << s.y_size());
        if (x.dtype == onnx::DataType::UINT8) {
            std::vector<uint8_t> y(s.y_size());
            max_pool2d(s, x.as<uint8_t>(), y.data());
            BOOST_TEST((y == std::vector<uint8_t>(expect.as<uint8_t>(), expect.as<uint8_t>() + expect.numel())), name);
            continue;
        }
        std::vector<float> y(s.y_size());
        if (op == "MaxPool")
            max_pool2d(s, x.as<float>(), y.data());
        else
            average_pool2d(s, x.as<float>(), y.data());
        size_t bad = 0;
        for (size_t i = 0; i < y.size(); ++i)
            bad += !(std::fabs(y[i] - expect.as<float>()[i]) <= 1e-6f * (1 + std::fabs(expect.as<float>()[i])));
        BOOST_TEST(bad == 0u, name << ": " << bad << " of " << y.size() << " differ");
    }
}

BOOST_AUTO_TEST_SUITE_END()
