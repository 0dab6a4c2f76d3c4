#include <boost/test/unit_test.hpp>

#include "chip/catalog.hpp"
#include "chip/llm.hpp"
#include "chip/llm_tile.hpp"

using namespace stacklab::chip;

namespace {

Machine machine(const std::string& id) {
    for (const auto& c : load_catalog(bundled_catalog_files()))
        if (c.id == id) return machine_of(c);
    throw std::logic_error("no chip " + id);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(chip_tile_llm)

BOOST_AUTO_TEST_CASE(a_decode_step_is_never_faster_than_reading_its_weights_and_kv_cache) {
    const LlmShape s = find_llm("qwen2.5-7b");
    for (const char* chip : {"ascend-910b", "nvidia-h100"}) {
        BOOST_TEST_CONTEXT(chip) {
            const Machine m = machine(chip);
            const int batch = 4, context = 1024;
            const GraphResult g = simulate_graph(m, llm_decode_ops(s, m, parse_llm_quant("w16a16", false), batch, context));
            BOOST_TEST(g.ops.size() == size_t(12 * s.layers + 2));
            const LlmParams p = count_params(s);
            // Every weight but the embedding table crosses off-chip memory once, 2 bytes each,
            // plus the K and V caches of every sequence.
            const double weights = (p.total() - p.embedding + (s.tied_embeddings ? p.embedding : 0.0)) * 2;
            const double kv = 2.0 * s.layers * s.kv_heads * s.head_dim * context * batch * 2;
            BOOST_TEST(g.bytes.offchip >= 0.99 * (weights + kv), g.bytes.offchip << " vs " << weights + kv);
            BOOST_TEST(g.time_s >= (weights + kv) * 0.99 / m.offchip_bytes_per_s);
            BOOST_TEST(g.time_s >= g.roofline_s);
            // ... and it stays within a small factor of that floor (decode is memory-bound).
            BOOST_TEST(g.time_s <= 1.6 * (weights + kv) / m.offchip_bytes_per_s);
        }
    }
}

BOOST_AUTO_TEST_CASE(int8_decode_moves_about_half_the_bytes_of_fp16) {
    const LlmShape s = find_llm("llama-3-8b");
    const Machine m = machine("ascend-910b");
    const GraphResult a16 = simulate_graph(m, llm_decode_ops(s, m, parse_llm_quant("w16a16", false), 1, 512));
    const GraphResult a8 = simulate_graph(m, llm_decode_ops(s, m, parse_llm_quant("w8a8", false), 1, 512));
    BOOST_TEST(a8.bytes.offchip < 0.6 * a16.bytes.offchip);
    BOOST_TEST(a8.time_s < a16.time_s);
}

BOOST_AUTO_TEST_CASE(unsupported_models_and_quantizations_are_refused_by_name) {
    const Machine m = machine("ascend-910b");
    const LlmQuant w16 = parse_llm_quant("w16a16", false);
    try {
        llm_decode_ops(find_llm("deepseek-v2-lite"), m, w16, 1, 16);
        BOOST_ERROR("MLA accepted");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("MLA") != std::string::npos, e.what());
    }
    BOOST_CHECK_THROW(llm_decode_ops(find_llm("qwen2.5-7b"), m, parse_llm_quant("w4a16", false), 1, 16), std::invalid_argument);
    BOOST_CHECK_THROW(llm_decode_ops(find_llm("qwen2.5-7b"), m, parse_llm_quant("w16a16", true), 1, 16), std::invalid_argument);
    BOOST_CHECK_THROW(llm_decode_ops(find_llm("qwen2.5-7b"), m, w16, 0, 16), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
