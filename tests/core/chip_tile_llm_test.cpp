#include <boost/test/unit_test.hpp>

#include <cmath>

#include "chip/catalog.hpp"
#include "chip/llm.hpp"
#include "chip/llm_tile.hpp"
#include "chip_toy_machine.hpp"

using namespace stacklab::chip;
using stacklab::test::toy;  // 1 GHz (a cycle is a nanosecond), off-chip 64 B/ns, L2 1000 B/ns, one core

namespace {

ChipSpec spec(const std::string& id) {
    for (const auto& c : load_catalog(bundled_catalog_files()))
        if (c.id == id) return c;
    throw std::logic_error("no chip " + id);
}

Machine machine(const std::string& id) { return machine_of(spec(id)); }

const TileResult& op_named(const GraphResult& g, const std::string& name) {
    for (const auto& r : g.ops)
        if (r.name == name) return r;
    throw std::logic_error("no op " + name);
}

const TileOp& tile_op_named(const std::vector<TileOp>& ops, const std::string& name) {
    for (const auto& op : ops)
        if (op.name == name) return op;
    throw std::logic_error("no op " + name);
}

int moe_layers(const LlmShape& s) { return s.moe ? s.layers - s.dense_layers : 0; }

// Weight bytes a step must read, derived from the parameter count (not from the lowering): every
// matrix but the embedding table (the LM head reads it when tied) and the routed experts the
// tokens are not sent to; norm vectors are left in (a few kB: the lowering reads them with no GEMM).
double expected_weight_bytes(const LlmShape& s, double routed_experts, double bytes_per_weight) {
    const LlmParams p = count_params(s);
    const double lm_head = p.output > 0 ? p.output : p.embedding;
    return (p.attention + p.dense_ffn + p.shared_experts + p.router + lm_head +
            routed_experts * p.expert * moe_layers(s)) * bytes_per_weight;
}

// KV-cache bytes per token read by the attention GEMMs, all layers: K and V of every KV head, or for
// MLA the latent with its RoPE key (scores) and the latent again (attention x value).
double expected_kv_read_per_token(const LlmShape& s, double bytes_per_value) {
    if (s.mla) return s.layers * double(2 * s.kv_lora_rank + s.qk_rope_dim) * bytes_per_value;
    return s.layers * 2.0 * s.kv_heads * s.head_dim * bytes_per_value;
}


bool near(double a, double b, double rel) { return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b)); }

}  // namespace

BOOST_AUTO_TEST_SUITE(chip_tile_llm)

// One 16 x 64 x 64 fp16 GEMM in one tile (one K step), by hand. Stored as 4-bit (0.5 B) with a
// 2-pass conversion: DMA in A 2048 B + B 2048 B = 64 ns; the conversion, 64 x 64 x 2 B x 2 passes /
// 64 B per cycle = 256 ns, outlasts the 16 matrix blocks (16 ns); epilogue 2048 B / 64 = 32 ns;
// store 2048 B = 32 ns. Total 384 ns. L0 receives A and fp16 B (2048 + 8192) and the 4096 B of
// accumulators; UB: 2 x 16384 converted bytes + 2 x 2048 epilogue bytes.
BOOST_AUTO_TEST_CASE(a_packed_b_operand_moves_its_stored_bytes_and_is_converted_on_the_vector_unit) {
    const Machine m = toy();
    TileOp op = gemm_op("w4", 16, 64, 64, DType::fp16);
    op.tile = {16, 64, 64};
    op.b_stored_bytes = 0.5;
    op.b_dequant_passes = 2;
    const TileResult r = simulate_tiles(m, op);
    BOOST_TEST(r.bytes.offchip == 6144.0);
    BOOST_TEST(r.bytes.l1 == 4096.0);
    BOOST_TEST(r.bytes.l0 == 2048.0 + 8192 + 4096);
    BOOST_TEST(r.bytes.ub == 2 * 16384.0 + 2 * 2048);
    BOOST_TEST(near(r.time_s, 384e-9, 1e-12), r.time_s);
    BOOST_TEST(near(r.util_matrix, 16.0 / 384, 1e-12));
    BOOST_TEST(near(r.util_vector, (256.0 + 32) / 384, 1e-12));
    BOOST_TEST(op_roofline(m, op).offchip_bytes == 6144.0);
    // The same GEMM unconverted: 2048 + 8192 B in (160 ns), 16 + 32 + 32 ns.
    TileOp f16 = gemm_op("w16", 16, 64, 64, DType::fp16);
    f16.tile = op.tile;
    const TileResult a = simulate_tiles(m, f16);
    BOOST_TEST(a.bytes.offchip == 12288.0);
    BOOST_TEST(a.bytes.l0 == r.bytes.l0);
    BOOST_TEST(near(a.time_s, 240e-9, 1e-12), a.time_s);
    // simulate_graph must not take one for a repeat of the other.
    const GraphResult g = simulate_graph(m, {f16, op});
    BOOST_TEST(g.ops[1].same_as == -1);
    BOOST_TEST(g.ops[1].bytes.offchip == 6144.0);
}

// B placed in L2: A's 2048 B come off-chip (32 ns) while B's 8192 B come from L2 (8.2 ns), then
// 16 + 32 + 32 ns; only A and C cross off-chip memory, in the simulation and in the floor.
BOOST_AUTO_TEST_CASE(an_on_chip_b_operand_is_read_from_l2_only) {
    const Machine m = toy();
    TileOp op = gemm_op("kv", 16, 64, 64, DType::fp16);
    op.tile = {16, 64, 64};
    op.b_onchip = true;
    const TileResult r = simulate_tiles(m, op);
    BOOST_TEST(r.bytes.offchip == 4096.0);
    BOOST_TEST(r.bytes.l2 == 8192.0);
    BOOST_TEST(near(r.time_s, 112e-9, 1e-12), r.time_s);
    BOOST_TEST(op_roofline(m, op).offchip_bytes == 4096.0);
}

// A gather of 8 rows x 512 from a table stored at 1 byte per element, converted to fp16 in 2
// passes, by hand on the toy machine: one tile of 8 rows (the UB holds 64); DMA in 4096 B = 64 ns,
// conversion 8 x 512 x 2 B x 2 passes / 64 B per cycle = 256 ns, store 8192 B = 128 ns: 448 ns;
// the UB sees each pass read and write the fp16 rows.
// The same rows stored in fp16 are a plain copy: 128 ns in, no vector work, 128 ns out.
BOOST_AUTO_TEST_CASE(a_gather_reads_its_rows_as_stored_and_writes_them_in_the_vector_type) {
    const Machine m = toy();
    const TileOp g8 = gather_op("embed", 8, 512, DType::fp16, 1.0, 2);
    BOOST_TEST(op_kind_name(g8.kind) == std::string("Gather"));
    const TileResult r = simulate_tiles(m, g8);
    BOOST_TEST(r.bytes.offchip == 4096.0 + 8192);
    BOOST_TEST(r.bytes.ub == 2 * 16384.0);  // each pass reads and writes the fp16 row
    BOOST_TEST(r.padded_macs == 0.0);
    BOOST_TEST(near(r.time_s, 448e-9, 1e-12), r.time_s);
    BOOST_TEST(op_roofline(m, g8).offchip_bytes == 4096.0 + 8192);
    const TileResult c = simulate_tiles(m, gather_op("embed16", 8, 512, DType::fp16));
    BOOST_TEST(c.bytes.offchip == 2 * 8192.0);
    BOOST_TEST(c.bytes.ub == 0.0);
    BOOST_TEST(near(c.time_s, 256e-9, 1e-12), c.time_s);
    BOOST_CHECK_THROW(gather_op("bad", 0, 512, DType::fp16), std::invalid_argument);
    BOOST_CHECK_THROW(gather_op("bad", 8, 512, DType::fp16, 1.0, -1), std::invalid_argument);
}

// The lookup at tile fidelity: T = batch x new tokens rows of hidden from the off-chip table, as
// stored, plus its T x hidden fp16 output; the roofline estimate counts the same table bytes.
BOOST_AUTO_TEST_CASE(the_embedding_lookup_reads_one_stored_row_per_token) {
    const LlmShape s = find_llm("qwen2.5-7b");
    const ChipSpec c = spec("ascend-910b");
    const Machine m = machine_of(c);
    const double H = s.hidden;
    struct Case { const char* quant; double table_bytes; double ub_passes; };
    for (const Case& k : {Case{"w16a16", 2.0, 0}, Case{"w8a8", 1.0, 2}, Case{"w4a16", 0.5 + 2.0 / 128, 3}}) {
        BOOST_TEST_CONTEXT(k.quant) {
            const LlmQuant q = parse_llm_quant(k.quant, false);
            const int batch = 3, n = 5, T = batch * n;
            const TileLlmStep st = simulate_llm_step(s, m, q, batch, n, 64);
            BOOST_TEST(st.sim.ops.front().name == "embed");
            const TileResult& e = op_named(st.sim, "embed");
            BOOST_TEST(e.op == std::string("Gather"));
            BOOST_TEST(near(e.bytes.offchip, T * H * k.table_bytes + T * H * 2, 1e-12), e.bytes.offchip);
            BOOST_TEST(near(e.bytes.ub, 2 * T * H * 2 * k.ub_passes, 1e-12));  // read + write per pass
            BOOST_TEST(near(st.embedding_bytes, T * H * k.table_bytes, 1e-12));
            // The step's memory floor now includes the rows.
            const double kv = batch * 64.0 * expected_kv_read_per_token(s, 2.0);
            BOOST_TEST(near(st.memory_floor_s * m.offchip_bytes_per_s, st.weight_bytes + st.embedding_bytes + kv, 1e-12));
            // The roofline: one more sequence adds one stored row and one KV-cache row per step.
            LlmWorkload w1, w2;
            w1.batch = 1, w2.batch = 2;
            w1.prompt = w2.prompt = 100, w1.output = w2.output = 1;
            const LlmEstimate a = estimate_llm(s, c, q, LlmSystem{}, w1), b = estimate_llm(s, c, q, LlmSystem{}, w2);
            BOOST_TEST(near(b.decode_first.bytes - a.decode_first.bytes, H * k.table_bytes + 101 * a.kv_bytes_per_token,
                            1e-9));
        }
    }
    // Vocab-parallel over 4 chips: each reads ceil(15 / 4) = 4 rows of its quarter of the table.
    TileLlmOptions tp;
    tp.chips = 4, tp.link_bytes_per_s = 56e9;
    const TileLlmStep st = simulate_llm_step(s, m, parse_llm_quant("w16a16", false), 3, 5, 64, tp);
    BOOST_TEST(op_named(st.sim, "embed").bytes.offchip == 4 * H * 2 + 4 * H * 2);
    BOOST_TEST(st.embedding_bytes == 4 * H * 2);
}

BOOST_AUTO_TEST_CASE(a_decode_step_is_never_faster_than_reading_its_weights_and_kv_cache) {
    const LlmShape s = find_llm("qwen2.5-7b");
    for (const char* chip : {"ascend-910b", "nvidia-h100"}) {
        BOOST_TEST_CONTEXT(chip) {
            const Machine m = machine(chip);
            const int batch = 4, context = 1024;
            const GraphResult g = simulate_graph(m, llm_decode_ops(s, m, parse_llm_quant("w16a16", false), batch, context));
            BOOST_TEST(g.ops.size() == size_t(1 + 12 * s.layers + 2));  // the lookup, the layers, the head
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

// The invariant at tile fidelity, for every shipped model (dense GQA, MoE, MLA), and the
// band that ties it to the roofline estimate of the same step (chip/llm_tile.hpp documents it).
BOOST_AUTO_TEST_CASE(every_shipped_llm_decodes_no_faster_than_the_bytes_it_reads_and_near_the_roofline) {
    for (const char* chip : {"ascend-910b", "nvidia-h100"}) {
        const ChipSpec c = spec(chip);
        const Machine m = machine_of(c);
        for (const LlmShape& s : bundled_llms()) {
            BOOST_TEST_CONTEXT(chip << " " << s.id) {
                const LlmQuant q = parse_llm_quant("w16a16", false);
                const int batch = 1, context = 1024;
                const TileLlmStep st = simulate_llm_step(s, m, q, batch, 1, context);
                // One token goes to exactly `active_experts` routed experts.
                const double weights = expected_weight_bytes(s, s.active_experts, 2.0);
                const double kv = batch * double(context) * expected_kv_read_per_token(s, 2.0);
                BOOST_TEST(near(st.weight_bytes, weights, 1e-4), st.weight_bytes << " vs " << weights);
                BOOST_TEST(near(st.kv_bytes, kv, 1e-12), st.kv_bytes << " vs " << kv);
                BOOST_TEST(st.sim.bytes.offchip >= 0.9999 * (weights + kv));
                BOOST_TEST(st.time_s >= 0.9999 * (weights + kv) / m.offchip_bytes_per_s);
                BOOST_TEST(st.time_s >= st.memory_floor_s);
                BOOST_TEST(st.time_s >= st.sim.roofline_s);
                BOOST_TEST(bound_name(st.bound) == std::string("memory"));
                // The roofline estimate's first decode step after a prompt of context - 1 tokens
                // attends to the same `context` keys.
                LlmWorkload w;
                w.batch = batch, w.prompt = context - 1, w.output = 1;
                const LlmEstimate e = estimate_llm(s, c, q, LlmSystem{}, w);
                const double ratio = st.time_s / e.decode_first.time_s;
                BOOST_TEST(ratio >= 1.0, "tile/roofline " << ratio);
                BOOST_TEST(ratio <= 1.35, "tile/roofline " << ratio);
            }
        }
    }
}

// The sweep the issue asks for, at tile fidelity: every catalog chip the simulator can describe x
// every shipped model; chips without a float matrix mode run w8a8 with an int8 KV cache.
BOOST_AUTO_TEST_CASE(no_chip_decodes_any_model_faster_than_its_memory_floor) {
    int swept = 0;
    for (const ChipSpec& c : load_catalog(bundled_catalog_files())) {
        Machine m;
        try {
            m = machine_of(c);
        } catch (const std::invalid_argument&) {
            continue;  // a figure the simulator needs is not public (Hygon: no microarch; Journey 5: no bandwidth)
        }
        const bool has_float = m.unit(DType::fp16).supported() || m.unit(DType::bf16).supported();
        const LlmQuant q = has_float ? parse_llm_quant("w16a16", false) : parse_llm_quant("w8a8", true);
        for (const LlmShape& s : bundled_llms()) {
            BOOST_TEST_CONTEXT(c.id << " " << s.id << " " << q.name) {
                const TileLlmStep st = simulate_llm_step(s, m, q, 2, 1, 256);
                const double bpw = weight_bytes_per_element(q.int8_activations ? WeightFormat::w8 : q.weights);
                const double kv = 2.0 * 256 * expected_kv_read_per_token(s, q.int8_kv ? 1.0 : 2.0);
                const double floor = (expected_weight_bytes(s, std::ceil(expected_routed_experts(s, 2)), bpw) + kv) /
                                     m.offchip_bytes_per_s;
                BOOST_TEST(st.time_s >= 0.9999 * floor);
                BOOST_TEST(st.time_s >= st.memory_floor_s);
                BOOST_TEST(st.time_s >= st.sim.roofline_s);
                ++swept;
            }
        }
    }
    BOOST_TEST(swept >= 8 * 5);
}

BOOST_AUTO_TEST_CASE(moe_decode_reads_only_the_experts_its_tokens_are_routed_to) {
    const Machine m = machine("ascend-910b");
    const LlmQuant q = parse_llm_quant("w16a16", false);
    for (const char* id : {"deepseek-v2-lite", "ernie-4.5-21b-a3b"}) {
        BOOST_TEST_CONTEXT(id) {
            const LlmShape s = find_llm(id);
            LlmShape all = s;  // the same parameters, every token through every expert
            all.active_experts = all.experts;
            const TileLlmStep moe = simulate_llm_step(s, m, q, 1, 1, 512);
            const TileLlmStep dense = simulate_llm_step(all, m, q, 1, 1, 512);
            BOOST_TEST(count_params(all).total() == count_params(s).total());
            BOOST_TEST(moe.weight_bytes < 0.3 * dense.weight_bytes);
            BOOST_TEST(moe.sim.bytes.offchip < 0.3 * dense.sim.bytes.offchip);
            BOOST_TEST(moe.time_s < 0.3 * dense.time_s);
            // A batch of 4 tokens touches ceil(E (1 - (1 - k/E)^4)) distinct experts per layer
            // (21 of 64 for k = 6), each read once, and each gets ceil(4 k / 21) token rows.
            const double touched = std::ceil(expected_routed_experts(s, 4.0));
            BOOST_TEST(touched == 21.0);
            const TileLlmStep b4 = simulate_llm_step(s, m, q, 4, 1, 512);
            const double expert_bytes = count_params(s).expert * 2.0 * moe_layers(s);
            BOOST_TEST(near(b4.weight_bytes - moe.weight_bytes, (touched - s.active_experts) * expert_bytes, 1e-9));
            const TileOp& up = tile_op_named(llm_decode_ops(s, m, q, 4, 512), "l1.experts_gate_up");
            BOOST_TEST(up.batch == 21);
            BOOST_TEST(up.M == 2);
            BOOST_TEST(up.N == 2 * s.expert_intermediate);
        }
    }
}

BOOST_AUTO_TEST_CASE(mla_decode_reads_the_compressed_latent_cache_not_per_head_keys_and_values) {
    const LlmShape s = find_llm("deepseek-v2-lite");
    const Machine m = machine("ascend-910b");
    const LlmQuant q = parse_llm_quant("w16a16", false);
    const std::vector<TileOp> ops = llm_decode_ops(s, m, q, 2, 1000);
    // Scores: per sequence, 16 heads x 1000 keys x (kv_lora_rank 512 + rope 64) against the latent.
    const TileOp& scores = tile_op_named(ops, "l0.scores");
    BOOST_TEST(scores.batch == 2);
    BOOST_TEST(scores.M == 16);
    BOOST_TEST(scores.N == 1000);
    BOOST_TEST(scores.K == 576);
    const TileOp& av = tile_op_named(ops, "l0.attn_v");
    BOOST_TEST(av.N == 512);
    BOOST_TEST(av.K == 1000);
    const TileLlmStep a = simulate_llm_step(s, m, q, 2, 1, 1000), b = simulate_llm_step(s, m, q, 2, 1, 3000);
    // 2000 more tokens of latent per sequence, read twice per layer, 2 bytes each.
    BOOST_TEST(near(b.kv_bytes - a.kv_bytes, 2.0 * 2000 * s.layers * (576 + 512) * 2.0, 1e-12));
    // The uncompressed cache (per head: a 192-wide key and a 128-wide value) would be 4.7x more.
    const double full = 2.0 * 1000 * s.layers * s.heads * (192.0 + 128.0) * 2.0;
    BOOST_TEST(a.kv_bytes < 0.25 * full);
}

BOOST_AUTO_TEST_CASE(prefill_is_never_faster_than_the_compute_roofline) {
    for (const char* chip : {"ascend-910b", "nvidia-h100"}) {
        const ChipSpec c = spec(chip);
        const Machine m = machine_of(c);
        for (const LlmShape& s : bundled_llms()) {
            BOOST_TEST_CONTEXT(chip << " " << s.id) {
                const LlmQuant q = parse_llm_quant("w16a16", false);
                LlmWorkload w;
                w.batch = 2, w.prompt = 256, w.output = 1;
                const TileLlmStep p = simulate_llm_step(s, m, q, w.batch, w.prompt, w.prompt);
                const LlmEstimate e = estimate_llm(s, c, q, LlmSystem{}, w);
                BOOST_TEST(p.time_s >= p.compute_floor_s);
                // The lowering does at least the roofline's work (full attention rectangle, routed
                // rows rounded up) on the same peak.
                BOOST_TEST(p.compute_floor_s >= 0.999 * e.prefill_compute_floor_s);
                BOOST_TEST(p.time_s >= e.prefill_compute_floor_s);
                BOOST_TEST(p.time_s >= p.sim.roofline_s);
                // The band chip/llm_tile.hpp documents for prefill against the roofline estimate.
                BOOST_TEST(p.time_s <= 2.0 * e.ttft_s, "tile/roofline " << p.time_s / e.ttft_s);
                // Logits only for the last token of each sequence.
                BOOST_TEST(op_named(p.sim, "lm_head").ops == 2.0 * w.batch * s.vocab * s.hidden);
            }
        }
    }
}

// Issue #5: a large prefill whose weights and activations exceed half the L2. Before tile_sim
// modelled L2 reuse for streamed operands, every 128-row tile row re-read the 90 MB dense FFN
// weight (4.6x the roofline estimate, 4.8 TB off-chip); the concurrent tiles now share panels.
BOOST_AUTO_TEST_CASE(a_large_deepseek_prefill_on_the_h100_shares_weight_panels_in_l2) {
    const ChipSpec c = spec("nvidia-h100");
    const Machine m = machine_of(c);
    const LlmShape s = find_llm("deepseek-v2-lite");
    const LlmQuant q = parse_llm_quant("w16a16", false);
    LlmWorkload w;
    w.batch = 64, w.prompt = 1000, w.output = 1;
    const TileLlmStep p = simulate_llm_step(s, m, q, w.batch, w.prompt, w.prompt);
    const LlmEstimate e = estimate_llm(s, c, q, LlmSystem{}, w);
    const double ratio = p.time_s / e.ttft_s;
    BOOST_TEST(ratio >= 1.0, "tile/roofline " << ratio);
    BOOST_TEST(ratio <= 2.3, "tile/roofline " << ratio);  // chip/llm_tile.hpp: measured 2.08x
    BOOST_TEST(p.time_s >= p.sim.roofline_s);
    // Never below the compulsory bytes of the ops; the dense FFN's gate+up (64000 x 21888 x 2048:
    // A 262 MB, B 90 MB, C 2.8 GB) within 2x of them, where it was 29x.
    double compulsory = 0;
    for (const auto& r : p.sim.ops) compulsory += r.memory_floor_s * m.offchip_bytes_per_s;
    BOOST_TEST(p.sim.bytes.offchip >= 0.9999 * compulsory);
    const TileResult& gate_up = op_named(p.sim, "l0.gate_up");
    const double gate_up_compulsory = gate_up.memory_floor_s * m.offchip_bytes_per_s;
    BOOST_TEST(gate_up_compulsory == 64000.0 * 2048 * 2 + 2048.0 * 21888 * 2 + 64000.0 * 21888 * 2,
               boost::test_tools::tolerance(1e-9));
    BOOST_TEST(gate_up.bytes.offchip >= gate_up_compulsory);
    BOOST_TEST(gate_up.bytes.offchip <= 2.0 * gate_up_compulsory);
}

BOOST_AUTO_TEST_CASE(weight_formats_change_the_bytes_each_level_moves) {
    const LlmShape s = find_llm("qwen2.5-7b");
    const Machine m = machine("ascend-910b");
    const int64_t H = s.hidden, I = s.intermediate;
    struct Case {
        const char* quant;
        double a_bytes, b_bytes;  // per element, as stored
    };
    const double g = 2.0 / 128;  // one fp16 scale per group of 128 weights
    const Case cases[] = {{"w16a16", 2, 2}, {"w8a16", 2, 1}, {"w6a16", 2, 0.75 + g}, {"w4a16", 2, 0.5 + g}, {"w8a8", 1, 1}};
    double l0_w16 = 0, ub_w16 = 0, time_w16 = 0;
    for (const Case& k : cases) {
        BOOST_TEST_CONTEXT(k.quant) {
            const TileLlmStep st = simulate_llm_step(s, m, parse_llm_quant(k.quant, false), 1, 1, 1024);
            // gate+up of a decode token: a 1 x H row, the H x 2I weight (too big for L2: streamed
            // once), a 1 x 2I fp16 output.
            const TileResult& up = op_named(st.sim, "l0.gate_up");
            const double expect = H * k.a_bytes + double(H) * 2 * I * k.b_bytes + 2.0 * I * 2;
            BOOST_TEST(near(up.bytes.offchip, expect, 1e-9), up.bytes.offchip << " vs " << expect);
            BOOST_TEST(near(st.weight_bytes, expected_weight_bytes(s, 0, k.b_bytes), 1e-4));
            BOOST_TEST(st.time_s >= st.memory_floor_s);
            // The decode band against the roofline holds for every format.
            LlmWorkload w;
            w.batch = 1, w.prompt = 1023, w.output = 1;
            const double ratio = st.time_s / estimate_llm(s, spec("ascend-910b"), parse_llm_quant(k.quant, false),
                                                          LlmSystem{}, w).decode_first.time_s;
            BOOST_TEST(ratio >= 1.0, ratio);
            BOOST_TEST(ratio <= 1.35, ratio);
            if (std::string(k.quant) == "w16a16") {
                l0_w16 = up.bytes.l0, ub_w16 = up.bytes.ub, time_w16 = st.time_s;
            } else {
                BOOST_TEST(st.time_s < time_w16);
            }
            if (k.a_bytes == 2 && k.b_bytes < 2) {
                // L0 receives fp16 whatever the stored format; the conversion shows as vector work.
                BOOST_TEST(near(up.bytes.l0, l0_w16, 0.01), up.bytes.l0 << " vs " << l0_w16);
                BOOST_TEST(up.bytes.ub > ub_w16 + double(H) * 2 * I * 2 * 2);
                BOOST_TEST(up.util_vector > 0);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(an_int8_kv_cache_halves_the_cache_bytes_plus_one_scale_per_head_and_token) {
    const Machine m = machine("ascend-910b");
    for (const char* id : {"llama-3-8b", "deepseek-v2-lite"}) {
        BOOST_TEST_CONTEXT(id) {
            const LlmShape s = find_llm(id);
            const TileLlmStep f16 = simulate_llm_step(s, m, parse_llm_quant("w16a16", false), 2, 1, 2048);
            const TileLlmStep i8 = simulate_llm_step(s, m, parse_llm_quant("w16a16", true), 2, 1, 2048);
            const double row = s.mla ? double(s.kv_lora_rank + s.qk_rope_dim) : double(s.head_dim);
            BOOST_TEST(near(i8.kv_bytes / f16.kv_bytes, (1.0 + 2.0 / row) / 2.0, 1e-12));
            BOOST_TEST(near(f16.sim.bytes.offchip - i8.sim.bytes.offchip, f16.kv_bytes - i8.kv_bytes, 1e-6));
            BOOST_TEST(i8.time_s < f16.time_s);
            BOOST_TEST(i8.time_s >= i8.memory_floor_s);
            const TileResult& sc = op_named(i8.sim, "l0.scores");
            BOOST_TEST(dtype_name(sc.dtype) == std::string("fp16"));  // converted on the vector cores, multiplied in fp16
        }
    }
}

BOOST_AUTO_TEST_CASE(an_on_chip_kv_cache_moves_the_cache_reads_from_offchip_to_l2_and_must_fit) {
    const LlmShape s = find_llm("qwen2.5-7b");
    const Machine m = machine("ascend-910b");
    const LlmQuant q = parse_llm_quant("w16a16", false);
    TileLlmOptions on;
    on.kv_onchip = true;
    const TileLlmStep off = simulate_llm_step(s, m, q, 1, 1, 1024);
    const TileLlmStep in = simulate_llm_step(s, m, q, 1, 1, 1024, on);
    BOOST_TEST(in.kv_bytes == off.kv_bytes);
    BOOST_TEST(near(off.sim.bytes.offchip - in.sim.bytes.offchip, off.kv_bytes, 1e-6));
    // Every cache byte now comes from L2, at least once.
    BOOST_TEST(in.sim.bytes.l2 >= in.kv_bytes);
    const TileResult &sc_off = op_named(off.sim, "l0.scores"), &sc_in = op_named(in.sim, "l0.scores");
    BOOST_TEST(near(sc_off.bytes.offchip - sc_in.bytes.offchip, 1024.0 * 4 * 128 * 2, 1e-12));
    BOOST_TEST(near(in.memory_floor_s, off.memory_floor_s - off.kv_bytes / m.offchip_bytes_per_s, 1e-12));
    BOOST_TEST(in.time_s < off.time_s);
    BOOST_TEST(in.time_s >= in.memory_floor_s);
    // 1024 tokens x 28 layers x 2 x 4 heads x 128 x 2 bytes = 56 MiB: fits half of the 910B's
    // 192 MiB L2; 4096 tokens (224 MiB) do not, nor 1024 on the H100's 50 MiB.
    BOOST_TEST(in.kv_cache_bytes == 1024.0 * 28 * 2 * 4 * 128 * 2);
    try {
        simulate_llm_step(s, m, q, 1, 1, 4096, on);
        BOOST_ERROR("a cache larger than half the L2 was placed on chip");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("L2") != std::string::npos, e.what());
        BOOST_TEST(std::string(e.what()).find("224.0 MiB") != std::string::npos, e.what());
    }
    BOOST_CHECK_THROW(llm_decode_ops(s, machine("nvidia-h100"), q, 1, 1024, on), std::invalid_argument);
}

// The roofline estimate offers the same placement: the cache's traffic moves to the L2 (served
// beside the off-chip traffic), its bytes leave the off-chip footprint, and it must fit half the L2.
BOOST_AUTO_TEST_CASE(the_roofline_estimate_places_the_kv_cache_on_chip_by_the_same_rule) {
    const LlmShape s = find_llm("qwen2.5-7b");
    const ChipSpec c = spec("ascend-910b");
    const Machine m = machine_of(c);
    const LlmQuant q = parse_llm_quant("w16a16", false);
    LlmWorkload w;
    w.batch = 1, w.prompt = 1000, w.output = 24;
    LlmSystem on;
    on.kv_onchip = true;
    const LlmEstimate off = estimate_llm(s, c, q, LlmSystem{}, w), in = estimate_llm(s, c, q, on, w);
    const double kv = 1001.0 * 57344;  // the first decode step reads 1000 cached tokens and writes one
    BOOST_TEST(near(off.decode_first.bytes - in.decode_first.bytes, kv, 1e-12));
    BOOST_TEST(near(in.decode_first.l2_bytes, kv, 1e-12));
    BOOST_TEST(in.decode_s_per_token < off.decode_s_per_token);
    BOOST_TEST(near(in.decode_first.memory_s, in.decode_first.bytes / 1.6e12, 1e-12));
    BOOST_TEST(near(off.memory_per_chip_bytes - in.memory_per_chip_bytes, off.kv_cache_bytes, 1e-12));
    BOOST_TEST(in.kv_onchip_bytes == off.kv_cache_bytes);
    // 96 MiB hold one sequence of 1024 tokens (56 MiB), not two.
    BOOST_TEST(in.max_batch == 1);
    // Tile fidelity agrees with the placement: its decode step reads no cache byte off-chip either.
    TileLlmOptions o;
    o.kv_onchip = true;
    const TileLlmStep st = simulate_llm_step(s, m, q, 1, 1, 1001, o);
    BOOST_TEST(st.time_s >= in.decode_first.memory_s);
    w.prompt = 2000;
    try {
        estimate_llm(s, c, q, on, w);
        BOOST_ERROR("a cache larger than half the L2 was placed on chip");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("more than half of ascend-910b's L2 (96.0 MiB)") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(tensor_parallelism_shards_the_gemms_and_adds_ring_all_reduces) {
    const LlmShape s = find_llm("qwen2.5-7b");  // 28 heads, 4 KV heads
    const Machine m = machine("ascend-910b");
    const LlmQuant q = parse_llm_quant("w16a16", false);
    const TileLlmStep one = simulate_llm_step(s, m, q, 8, 1, 1024);
    TileLlmOptions tp;
    tp.link_bytes_per_s = 56e9;
    tp.chips = 1;
    const TileLlmStep one_tp = simulate_llm_step(s, m, q, 8, 1, 1024, tp);
    BOOST_TEST(one_tp.time_s == one.time_s);
    BOOST_TEST(one_tp.comm_s == 0.0);
    double prev = one.time_s;
    for (int n : {2, 4}) {
        BOOST_TEST_CONTEXT(n << " chips") {
            tp.chips = n;
            const std::vector<TileOp> ops = llm_decode_ops(s, m, q, 8, 1024, tp);
            // Column-parallel QKV and gate+up, row-parallel output and down projections.
            BOOST_TEST(tile_op_named(ops, "l0.qkv").N == (28 / n + 2 * 4 / n) * 128);
            BOOST_TEST(tile_op_named(ops, "l0.o_proj").K == 28 / n * 128);
            BOOST_TEST(tile_op_named(ops, "l0.gate_up").N == 2 * s.intermediate / n);
            BOOST_TEST(tile_op_named(ops, "l0.down").K == s.intermediate / n);
            BOOST_TEST(tile_op_named(ops, "l0.scores").batch == 8 * 4 / n);
            const TileLlmStep st = simulate_llm_step(s, m, q, 8, 1, 1024, tp);
            BOOST_TEST(near(st.weight_bytes, one.weight_bytes / n, 1e-3));
            BOOST_TEST(near(st.kv_bytes, one.kv_bytes / n, 1e-12));
            // Two ring all-reduces of 8 x 3584 fp16 activations per layer and one for the
            // vocab-parallel embedding, and the all-gather of the 8 x 152064 fp16 logits (each chip
            // receives the other chips' shares).
            const double bytes = 8.0 * 3584 * 2, logits = 8.0 * 152064 * 2;
            BOOST_TEST(s.vocab == 152064);
            const double reduces = 2.0 * 28 + 1;
            BOOST_TEST(near(st.comm_s, (reduces * 2.0 * (n - 1) / n * bytes + double(n - 1) / n * logits) / 56e9, 1e-12));
            BOOST_TEST(near(st.comm_bytes, reduces * 2.0 * (n - 1) / n * bytes + double(n - 1) / n * logits, 1e-12));
            // The roofline estimate pays for the same bytes over the same link.
            LlmSystem sys;
            sys.chips = n, sys.link_bytes_per_s = 56e9;
            LlmWorkload w;
            w.batch = 8, w.prompt = 1023, w.output = 1;
            const LlmEstimate e = estimate_llm(s, spec("ascend-910b"), q, sys, w);
            BOOST_TEST(near(e.decode_first.comm_bytes, st.comm_bytes, 1e-12));
            BOOST_TEST(near(e.decode_first.comm_s, st.comm_s, 1e-12));
            BOOST_TEST(st.time_s == st.sim.time_s + st.comm_s);
            // Faster, but not n times: the all-reduces and the unsplit vector work remain.
            BOOST_TEST(st.time_s < prev);
            BOOST_TEST(st.time_s > one.time_s / n);
            prev = st.time_s;
        }
    }
    tp.chips = 4;
    const TileLlmStep a = simulate_llm_step(s, m, q, 8, 1, 1024, tp);
    tp.link_latency_s = 5e-6;
    const TileLlmStep b = simulate_llm_step(s, m, q, 8, 1, 1024, tp);
    // Latency: 2 (N-1) ring steps per all-reduce (2 per layer + the embedding's), N-1 for the
    // logits' all-gather.
    BOOST_TEST(near(b.comm_s - a.comm_s, (2.0 * 28 + 1) * 2 * 3 * 5e-6 + 3 * 5e-6, 1e-9));
    // MLA: the latent cache is replicated, not split.
    const LlmShape ds = find_llm("deepseek-v2-lite");
    tp.chips = 2;
    BOOST_TEST(simulate_llm_step(ds, m, q, 1, 1, 512, tp).kv_bytes == simulate_llm_step(ds, m, q, 1, 1, 512).kv_bytes);
}

BOOST_AUTO_TEST_CASE(the_tile_estimate_averages_decode_over_the_whole_output) {
    const LlmShape s = find_llm("llama-3-8b");
    const Machine m = machine("ascend-910b");
    const LlmQuant q = parse_llm_quant("w8a8", false);
    LlmWorkload w;
    w.batch = 2, w.prompt = 128, w.output = 64;
    const TileLlmEstimate e = estimate_llm_tile(s, m, q, w);
    BOOST_TEST(e.prefill.new_tokens == 128);
    BOOST_TEST(e.ttft_s == e.prefill.time_s);
    // Steps 0, 15, 31, 47, 63 simulated; step t attends to 128 + t + 1 keys.
    BOOST_TEST(e.decode_steps == (std::vector<int>{0, 15, 31, 47, 63}), boost::test_tools::per_element());
    BOOST_TEST(e.decode_first.context == 129);
    BOOST_TEST(e.decode_last.context == 128 + 64);
    BOOST_TEST(e.decode.context == 128 + 32);
    BOOST_TEST(e.decode_step_s.front() == e.decode_first.time_s);
    BOOST_TEST(e.decode_step_s.back() == e.decode_last.time_s);
    // A longer context reads more cache: the last step is slower, the mean lies between.
    BOOST_TEST(e.decode_last.time_s > e.decode_first.time_s);
    BOOST_TEST(e.decode_s_per_token > e.decode_first.time_s);
    BOOST_TEST(e.decode_s_per_token < e.decode_last.time_s);
    // Near the middle step (the time is nearly affine in the context) but not taken from it.
    BOOST_TEST(near(e.decode_s_per_token, e.decode.time_s, 0.01), e.decode_s_per_token << " vs " << e.decode.time_s);
    BOOST_TEST(e.tokens_per_s == 2 / e.decode_s_per_token);
    BOOST_TEST(dtype_name(op_named(e.decode.sim, "l0.qkv").dtype) == std::string("int8"));
    BOOST_TEST(dtype_name(op_named(e.decode.sim, "l0.scores").dtype) == std::string("fp16"));  // attention stays in fp16
    // One output token: one step, which is the mean.
    w.output = 1;
    const TileLlmEstimate one = estimate_llm_tile(s, m, q, w);
    BOOST_TEST(one.decode_steps.size() == 1u);
    BOOST_TEST(one.decode_s_per_token == one.decode_first.time_s);
    BOOST_TEST(one.decode_first.time_s == simulate_llm_step(s, m, q, 2, 1, 129).time_s);
    BOOST_TEST(one.decode_last.time_s == one.decode_first.time_s);
    // Two: both simulated, the mean is theirs.
    w.output = 2;
    const TileLlmEstimate two = estimate_llm_tile(s, m, q, w);
    BOOST_TEST(two.decode_steps == (std::vector<int>{0, 1}), boost::test_tools::per_element());
    BOOST_TEST(near(two.decode_s_per_token, (two.decode_first.time_s + two.decode_last.time_s) / 2, 1e-15));
}

// The trapezoid rule over the integer steps, by hand: samples 1 at step 0, 3 at step 4, 3 at step
// 6: steps 0..6 take 1, 1.5, 2, 2.5, 3, 3, 3 (sum 16); an affine time is summed exactly.
BOOST_AUTO_TEST_CASE(the_decode_mean_sums_the_interpolated_step_times_exactly) {
    BOOST_TEST(decode_mean_from_samples({0, 4, 6}, {1.0, 3.0, 3.0}, 7) == 16.0 / 7);
    BOOST_TEST(decode_mean_from_samples({0}, {2.5}, 1) == 2.5);
    // 100 steps of 1 + t / 10: mean 1 + 4.95, from two samples or five.
    BOOST_TEST(near(decode_mean_from_samples({0, 99}, {1.0, 10.9}, 100), 5.95, 1e-14));
    BOOST_TEST(near(decode_mean_from_samples({0, 24, 49, 74, 99}, {1.0, 3.4, 5.9, 8.4, 10.9}, 100), 5.95, 1e-14));
    BOOST_CHECK_THROW(decode_mean_from_samples({0, 4}, {1.0, 2.0}, 7), std::invalid_argument);  // not the last step
    BOOST_CHECK_THROW(decode_mean_from_samples({1, 6}, {1.0, 2.0}, 7), std::invalid_argument);  // not the first
    BOOST_CHECK_THROW(decode_mean_from_samples({0, 3, 3, 6}, {1, 2, 2, 3}, 7), std::invalid_argument);
    BOOST_CHECK_THROW(decode_mean_from_samples({0}, {1.0}, 0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(unsupported_settings_are_refused_by_name) {
    const Machine m = machine("ascend-910b");
    const LlmQuant w16 = parse_llm_quant("w16a16", false);
    const LlmShape s = find_llm("qwen2.5-7b");
    BOOST_CHECK_THROW(llm_decode_ops(s, m, w16, 0, 16), std::invalid_argument);
    BOOST_CHECK_THROW(llm_step_ops(s, m, w16, 1, 64, 32), std::invalid_argument);  // context < new tokens
    TileLlmOptions tp;
    tp.chips = 2;
    BOOST_CHECK_THROW(llm_decode_ops(s, m, w16, 1, 16, tp), std::invalid_argument);  // no link bandwidth
    tp.link_bytes_per_s = 1e9;
    tp.chips = 8;  // 28 heads
    try {
        llm_decode_ops(s, m, w16, 1, 16, tp);
        BOOST_ERROR("28 heads split over 8 chips");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("28 attention heads") != std::string::npos, e.what());
    }
    // An int8-only NPU runs w8a8 with an int8 KV cache, and nothing that needs a float matrix mode.
    const Machine npu = machine("edge-npu-64tops");
    try {
        llm_decode_ops(s, npu, parse_llm_quant("w8a8", false), 1, 16);
        BOOST_ERROR("fp16 attention on an int8-only chip");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("--kv-int8") != std::string::npos, e.what());
    }
    BOOST_CHECK_THROW(llm_decode_ops(s, npu, parse_llm_quant("w4a16", true), 1, 16), std::invalid_argument);
    const TileLlmStep st = simulate_llm_step(s, npu, parse_llm_quant("w8a8", true), 1, 1, 16);
    BOOST_TEST(dtype_name(op_named(st.sim, "l0.scores").dtype) == std::string("int8"));
}

BOOST_AUTO_TEST_SUITE_END()
