// Roofline and LLM serving estimates: hand-derived cases, the published parameter counts of each
// shipped shape, and a sweep over every LLM x chip x quantization that checks the roofline bounds.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "chip/catalog.hpp"
#include "chip/llm.hpp"
#include "chip/roofline.hpp"

using namespace stacklab::chip;

namespace {

const std::vector<ChipSpec>& catalog() {
    static const std::vector<ChipSpec> chips = load_catalog(bundled_catalog_files());
    return chips;
}

const ChipSpec& chip(const std::string& id) {
    for (const auto& c : catalog())
        if (c.id == id) return c;
    throw std::runtime_error("no chip " + id);
}

bool has_peaks(const ChipSpec& c) {
    return c.figure("memory_bandwidth_gbps").known() && c.figure("int8_tops").known() &&
           (c.figure("fp16_tflops").known() || c.figure("bf16_tflops").known());
}

}  // namespace

namespace stacklab::chip {
std::ostream& operator<<(std::ostream& os, Bound b) { return os << bound_name(b); }
}  // namespace stacklab::chip

namespace {

bool close(double a, double b, double rel) { return std::fabs(a - b) <= rel * std::fabs(b); }

}  // namespace

BOOST_AUTO_TEST_SUITE(chip_roofline)

BOOST_AUTO_TEST_CASE(a_large_int8_gemm_on_h100_is_compute_bound_at_the_datasheet_peak) {
    const ChipPeak p = chip_peak(chip("nvidia-h100"), DType::int8);
    BOOST_TEST(p.ops_per_s == 1979e12);
    BOOST_TEST(p.mem_bytes_per_s == 3350e9);
    BOOST_TEST(close(p.ridge_ops_per_byte(), 1979.0 / 3.35, 1e-12));
    const RooflineRow r = roofline(p, gemm_work(4096, 4096, 4096, DType::int8, 4));
    BOOST_TEST(r.bound == Bound::compute);
    BOOST_TEST(close(r.time_s, 2.0 * 4096 * 4096 * 4096 / 1979e12, 1e-12));
    // bytes: A and B once in int8, C once in int32
    BOOST_TEST(r.work.bytes == 4096.0 * 4096 * (1 + 1 + 4));
    BOOST_TEST(close(r.utilization, 1.0, 1e-12));
}

BOOST_AUTO_TEST_CASE(a_gemv_is_memory_bound_and_its_utilization_is_intensity_over_ridge) {
    const ChipPeak p = chip_peak(chip("nvidia-a100"), DType::fp16);
    const RooflineRow r = roofline(p, gemm_work(1, 4096, 4096, DType::fp16, 2));
    BOOST_TEST(r.bound == Bound::memory);
    BOOST_TEST(close(r.time_s, r.work.bytes / 2039e9, 1e-12));
    BOOST_TEST(r.intensity < 1.0);
    BOOST_TEST(close(r.utilization, r.intensity / p.ridge_ops_per_byte(), 1e-9));
    BOOST_TEST(close(r.attainable_ops_per_s, r.intensity * 2039e9, 1e-12));
}

BOOST_AUTO_TEST_CASE(conflicting_claims_give_low_and_high_peaks) {
    const ChipSpec& c = chip("ascend-910b");
    const auto [lo, hi] = c.figure("fp16_tflops").range();
    BOOST_TEST(lo < hi);
    BOOST_TEST(chip_peak(c, DType::fp16, Pick::low).ops_per_s == lo * 1e12);
    BOOST_TEST(chip_peak(c, DType::fp16, Pick::high).ops_per_s == hi * 1e12);
    BOOST_TEST(chip_peak(c, DType::fp16, Pick::nominal).ops_per_s == c.figure("fp16_tflops").number() * 1e12);
}

BOOST_AUTO_TEST_CASE(a_missing_catalog_figure_is_an_error_naming_chip_and_figure) {
    for (const auto& c : catalog()) {
        if (c.figure("memory_bandwidth_gbps").known()) continue;
        try {
            chip_peak(c, DType::int8);
            BOOST_FAIL(c.id << ": expected an error");
        } catch (const std::invalid_argument& e) {
            BOOST_TEST(std::string(e.what()).find(c.id + ": the catalog has no value for memory_bandwidth_gbps") == 0,
                       e.what());
        }
        return;
    }
    BOOST_TEST_MESSAGE("every chip has a bandwidth figure");
}

BOOST_AUTO_TEST_CASE(bad_dtype_and_dimensions_are_rejected) {
    BOOST_CHECK_THROW(parse_dtype("fp8"), std::invalid_argument);
    BOOST_CHECK_THROW(gemm_work(0, 4, 4, DType::int8, 4), std::invalid_argument);
    BOOST_CHECK_THROW(parse_pick("median"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(chip_llm)

BOOST_AUTO_TEST_CASE(every_shipped_shape_parses_and_matches_its_published_parameter_count) {
    const auto llms = bundled_llms();
    BOOST_TEST(llms.size() >= 5u);
    for (const char* id : {"qwen2.5-7b", "qwen2.5-72b", "deepseek-v2-lite", "ernie-4.5-21b-a3b", "llama-3-8b"})
        BOOST_CHECK_NO_THROW(find_llm(id));
    for (const auto& s : llms) {
        const LlmParams p = count_params(s);
        // Model cards round (ERNIE's "21B" is 21.8B by its config): 5% on the total.
        BOOST_TEST(close(p.total() / 1e9, s.published_total_b, 0.05),
                   s.id << ": " << p.total() / 1e9 << "B from the shape vs " << s.published_total_b << "B published");
        if (s.published_active_b > 0)  // "A3B"-style names round harder
            BOOST_TEST(close(p.active(s) / 1e9, s.published_active_b, 0.15),
                       s.id << ": active " << p.active(s) / 1e9 << "B vs " << s.published_active_b << "B");
        if (!s.moe) BOOST_TEST(p.active(s) + (s.tied_embeddings ? 0 : p.embedding) == p.total());
    }
}

BOOST_AUTO_TEST_CASE(llama3_8b_decode_on_h100_is_its_weight_bytes_over_bandwidth) {
    // By hand: per layer q, o 4096x4096, k, v 4096x1024, gate/up/down 4096x14336; lm_head
    // 128256x4096; norms 65*4096. Every decode step reads them once in fp16.
    const double per_layer = 2 * 4096.0 * 4096 + 2 * 4096.0 * 1024 + 3 * 4096.0 * 14336;
    const double weights = 32 * per_layer + 128256.0 * 4096 + 65 * 4096.0;
    const double expected = 2 * weights / 3350e9;  // about 4.48 ms
    const LlmEstimate e = estimate_llm(find_llm("llama-3-8b"), chip("nvidia-h100"), parse_llm_quant("w16a16", false),
                                       {}, {1, 128, 1});
    BOOST_TEST(e.decode_bound == Bound::memory);
    // The KV cache of 129 tokens (128 KiB each) and one embedding row add < 0.2%.
    BOOST_TEST(close(e.decode_s_per_token, expected, 0.002), e.decode_s_per_token << " vs " << expected);
    BOOST_TEST(e.kv_bytes_per_token == 32 * 2 * 8 * 128 * 2.0);
    BOOST_TEST(e.fits);
}

// Decode over the whole output, by hand: Llama-3-8B on the H100, batch 1, prompt 128, output 3.
// Step t reads every weight once (fp16), one embedding row (4096 x 2 B) and the cache of 128 + t
// tokens plus its own new entry (128 KiB per token): memory-bound, so its time is those bytes over
// 3350 GB/s, affine in t, and the mean of steps 0, 1, 2 is step 1's time.
BOOST_AUTO_TEST_CASE(decode_time_is_the_mean_of_every_output_step) {
    const double per_layer = 2 * 4096.0 * 4096 + 2 * 4096.0 * 1024 + 3 * 4096.0 * 14336;
    const double weights = 2 * (32 * per_layer + 128256.0 * 4096 + 65 * 4096.0);
    const double kv = 32 * 2 * 8 * 128 * 2.0;
    auto step = [&](int t) { return (weights + 4096.0 * 2 + (128.0 + t + 1) * kv) / 3350e9; };
    const LlmShape s = find_llm("llama-3-8b");
    const LlmQuant q = parse_llm_quant("w16a16", false);
    const LlmEstimate e = estimate_llm(s, chip("nvidia-h100"), q, {}, {1, 128, 3});
    BOOST_TEST(close(e.decode_first.time_s, step(0), 1e-12), e.decode_first.time_s << " vs " << step(0));
    BOOST_TEST(close(e.decode_last.time_s, step(2), 1e-12));
    BOOST_TEST(close(e.decode_s_per_token, (step(0) + step(1) + step(2)) / 3, 1e-12));
    BOOST_TEST(e.decode_first.time_s < e.decode_s_per_token);
    BOOST_TEST(e.decode_s_per_token < e.decode_last.time_s);
    BOOST_TEST(e.tokens_per_s == 1 / e.decode_s_per_token);
    // A long output: the exact mean equals the sum of single-step estimates at each context.
    const LlmEstimate longer = estimate_llm(s, chip("nvidia-h100"), q, {}, {4, 1000, 50});
    double sum = 0;
    for (int t = 0; t < 50; ++t) sum += estimate_llm(s, chip("nvidia-h100"), q, {}, {4, 1000 + t, 1}).decode_first.time_s;
    BOOST_TEST(close(longer.decode_s_per_token, sum / 50, 1e-12));
    BOOST_TEST(longer.decode_first.time_s < longer.decode_s_per_token);
    BOOST_TEST(longer.decode_s_per_token < longer.decode_last.time_s);
    // One output token: the mean is that one step.
    const LlmEstimate one = estimate_llm(s, chip("nvidia-h100"), q, {}, {1, 128, 1});
    BOOST_TEST(one.decode_s_per_token == one.decode_first.time_s);
    BOOST_TEST(one.decode_last.time_s == one.decode_first.time_s);
}

BOOST_AUTO_TEST_CASE(roofline_bounds_hold_for_every_llm_chip_and_quantization) {
    int checked = 0;
    for (const auto& s : bundled_llms()) {
        for (const auto& c : catalog()) {
            if (!has_peaks(c)) continue;
            for (const char* qn : {"w16a16", "w8a8", "w6a16", "w4a16"}) {
                for (bool kv8 : {false, true}) {
                    for (const LlmWorkload w : {LlmWorkload{1, 128, 16}, LlmWorkload{32, 2048, 64}}) {
                        const LlmQuant q = parse_llm_quant(qn, kv8);
                        const LlmEstimate e = estimate_llm(s, c, q, {}, w);
                        const ChipPeak p = chip_peak(c, e.matrix_dtype);
                        // Decode can never beat reading the weights it needs once per step.
                        const LlmParams prm = count_params(s);
                        const double min_weights = (prm.attention + prm.dense_ffn + prm.shared_experts) *
                                                   (q.weights == WeightFormat::w16 ? 2.0 : q.weights == WeightFormat::w8 ? 1.0 : 0.5);
                        BOOST_TEST(e.decode_s_per_token >= min_weights / p.mem_bytes_per_s, s.id << " " << c.id << " " << qn);
                        BOOST_TEST(e.decode_s_per_token >= e.decode_memory_floor_s * (1 - 1e-12));
                        // Prefill can never beat doing 2 ops per active weight per prompt token.
                        const double min_ops = 2.0 * (prm.active(s) - (prm.output > 0 ? prm.output : prm.embedding)) *
                                               w.batch * w.prompt;
                        BOOST_TEST(e.ttft_s >= min_ops / p.ops_per_s, s.id << " " << c.id << " " << qn);
                        BOOST_TEST(e.ttft_s >= e.prefill_compute_floor_s);
                        BOOST_TEST(e.tokens_per_s == w.batch / e.decode_s_per_token);
                        ++checked;
                    }
                }
            }
        }
    }
    BOOST_TEST(checked >= 5 * 6 * 16);
}

BOOST_AUTO_TEST_CASE(a_big_batch_touches_more_experts_than_one_token) {
    const LlmShape s = find_llm("deepseek-v2-lite");
    const LlmQuant q = parse_llm_quant("w16a16", false);
    const LlmEstimate one = estimate_llm(s, chip("nvidia-a100"), q, {}, {1, 16, 1});
    const LlmEstimate many = estimate_llm(s, chip("nvidia-a100"), q, {}, {64, 16, 1});
    const LlmParams p = count_params(s);
    // One token reads about its active weights; 64 tokens touch nearly every expert.
    BOOST_TEST(one.decode_first.bytes < 1.2 * 2 * p.active(s));
    BOOST_TEST(many.decode_first.bytes > 2 * 0.9 * p.total() - 2 * p.embedding);
}

BOOST_AUTO_TEST_CASE(a_72b_model_fits_one_h100_only_when_quantized_to_4_bits) {
    const LlmShape s = find_llm("qwen2.5-72b");
    const ChipSpec& h100 = chip("nvidia-h100");
    const LlmEstimate fp16 = estimate_llm(s, h100, parse_llm_quant("w16a16", false), {}, {1, 1024, 128});
    BOOST_TEST(!fp16.fits);
    BOOST_TEST(fp16.max_batch == 0);
    const LlmEstimate w4 = estimate_llm(s, h100, parse_llm_quant("w4a16", true), {}, {1, 1024, 128});
    BOOST_TEST(w4.fits);
    BOOST_TEST(w4.max_batch > 1);
    // max_batch is the edge: it fits, one more sequence does not.
    const LlmEstimate at = estimate_llm(s, h100, parse_llm_quant("w4a16", true), {}, {w4.max_batch, 1024, 128});
    const LlmEstimate over = estimate_llm(s, h100, parse_llm_quant("w4a16", true), {}, {w4.max_batch + 1, 1024, 128});
    BOOST_TEST(at.fits);
    BOOST_TEST(!over.fits);
}

BOOST_AUTO_TEST_CASE(tensor_parallelism_splits_the_work_and_pays_for_the_link) {
    const LlmShape s = find_llm("qwen2.5-72b");
    const ChipSpec& c = chip("ascend-910b");
    const LlmQuant q = parse_llm_quant("w8a8", false);
    BOOST_CHECK_THROW(estimate_llm(s, c, q, {2, 0}, {1, 512, 32}), std::invalid_argument);  // no link given
    BOOST_CHECK_THROW(estimate_llm(s, c, q, {3, 56e9}, {1, 512, 32}), std::invalid_argument);  // 64 heads / 3
    const LlmEstimate two = estimate_llm(s, c, q, {2, 56e9}, {1, 512, 32});
    const LlmEstimate eight = estimate_llm(s, c, q, {8, 56e9}, {1, 512, 32});
    BOOST_TEST(eight.decode_first.bytes < two.decode_first.bytes / 3.5);
    BOOST_TEST(eight.decode_first.comm_s > two.decode_first.comm_s);
    BOOST_TEST(eight.decode_s_per_token < two.decode_s_per_token);
    BOOST_TEST(eight.memory_per_chip_bytes < two.memory_per_chip_bytes);
}

BOOST_AUTO_TEST_CASE(bad_shape_files_name_the_file_and_field) {
    auto error_of = [](const std::string& text, const std::string& file) {
        try {
            parse_llm(text, file);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    BOOST_TEST(error_of("{", "x.json").find("x.json: malformed JSON") == 0);
    const std::string ok = bundled_llm_files().front().bytes;
    std::string typo = ok;
    typo.replace(typo.find("\"layers\""), 8, "\"layerz\"");
    BOOST_TEST(error_of(typo, bundled_llm_files().front().name).find("/layers: required field is missing") !=
               std::string::npos);
    BOOST_TEST(error_of(ok, "models/llm/other.json").find("does not match the file name") != std::string::npos);
    BOOST_CHECK_THROW(parse_llm_quant("w3a16", false), std::invalid_argument);
    BOOST_CHECK_THROW(find_llm("gpt-5"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(layer_gemms_of_a_dense_model_cover_every_weight_of_one_layer) {
    const LlmShape s = find_llm("llama-3-8b");
    const auto g = llm_layer_gemms(s, 1);
    BOOST_REQUIRE_EQUAL(g.size(), 4u);
    // qkv: (32 + 2 x 8) heads x 128 = 6144 outputs from 4096 inputs (the published config).
    BOOST_CHECK_EQUAL(g[0].name, "qkv");
    BOOST_CHECK_EQUAL(g[0].m, 1.0);
    BOOST_CHECK_EQUAL(g[0].n, 6144.0);
    BOOST_CHECK_EQUAL(g[0].k, 4096.0);
    BOOST_CHECK_EQUAL(g[3].name, "ffn down");
    BOOST_CHECK_EQUAL(g[3].n, 4096.0);
    BOOST_CHECK_EQUAL(g[3].k, 14336.0);
    // The matrices' weights are exactly one layer's attention + FFN parameters (no bias here).
    const LlmParams p = count_params(s);
    double weights = 0;
    for (const auto& x : g) weights += x.n * x.k;
    BOOST_CHECK_EQUAL(weights, (p.attention + p.dense_ffn) / s.layers);
    for (const auto& x : llm_layer_gemms(s, 2048)) BOOST_CHECK_EQUAL(x.m, 2048.0);
}

BOOST_AUTO_TEST_CASE(layer_gemms_of_a_moe_model_give_one_expert_its_share_of_the_tokens) {
    const LlmShape s = find_llm("deepseek-v2-lite");
    const auto g = llm_layer_gemms(s, 512);
    BOOST_REQUIRE_EQUAL(g.size(), 4u);
    BOOST_CHECK_EQUAL(g[0].name, "kv_a");
    BOOST_CHECK_EQUAL(g[0].n, 512.0 + 64.0);
    BOOST_CHECK_EQUAL(g[1].k, 16.0 * 128.0);
    // 512 tokens x 6 of 64 experts = 48 tokens per expert; one decode token still makes M = 1.
    BOOST_CHECK_EQUAL(g[2].name, "expert gate+up");
    BOOST_CHECK_EQUAL(g[2].m, 48.0);
    BOOST_CHECK_EQUAL(g[2].n, 2.0 * 1408.0);
    BOOST_CHECK_EQUAL(llm_layer_gemms(s, 1)[2].m, 1.0);
    BOOST_CHECK_EQUAL(llm_layer_gemms(s, 11)[3].m, 2.0);  // ceil(66 / 64)
    BOOST_CHECK_THROW(llm_layer_gemms(s, 0), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
