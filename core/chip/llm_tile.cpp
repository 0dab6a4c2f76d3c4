#include "chip/llm_tile.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "chip/graph_sim.hpp"

namespace stacklab::chip {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string mib(double bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
    return buf;
}

// The ops of one step plus what they read, accumulated while lowering.
struct Builder {
    explicit Builder(const TileLlmOptions& options) : o(options) {}
    const TileLlmOptions& o;
    DType lt = DType::fp16;        // linear layers' matrix type
    DType at = DType::fp16;        // attention's matrix type
    DType vt = DType::fp16;        // vector ops
    double w_stored = 0;           // linear B stored bytes (0: the matrix type's)
    int w_passes = 0;              // ... and its conversion passes
    double bpw = 2;                // bytes per weight as read
    bool int8_out_fp16 = false;    // w8a8: the epilogue writes fp16
    double kv_elem = 2;            // bytes per cached value, scales included: set per attention kind
    int kv_passes = 0;
    bool int8_kv = false;
    std::vector<TileOp> ops;
    double weight_bytes = 0, kv_bytes = 0;

    // A linear layer: `batch` GEMMs of M x N x K, each with its own K x N weight.
    void linear(const std::string& name, int64_t M, int64_t N, int64_t K, int64_t batch = 1, bool bias = false) {
        TileOp op = gemm_op(name, M, N, K, lt, bias, Activation::none, batch);
        op.b_stored_bytes = w_stored;
        op.b_dequant_passes = w_passes;
        if (int8_out_fp16) op.out_bytes = 2;
        weight_bytes += double(batch) * N * K * bpw;
        ops.push_back(op);
    }
    // An attention GEMM whose B operand is the KV cache (K x N of it per GEMM).
    void attention(const std::string& name, int64_t M, int64_t N, int64_t K, int64_t batch) {
        TileOp op = gemm_op(name, M, N, K, at, false, Activation::none, batch);
        if (int8_kv) {
            op.b_stored_bytes = kv_elem;
            op.b_dequant_passes = kv_passes;
        }
        op.b_onchip = o.kv_onchip;
        kv_bytes += double(batch) * N * K * kv_elem;
        ops.push_back(op);
    }
    void vector(TileOp op) { ops.push_back(std::move(op)); }
};

}  // namespace

std::vector<TileOp> llm_decode_ops(const LlmShape& s, const Machine& m, const LlmQuant& q, int batch, int context,
                                   const TileLlmOptions& o) {
    return llm_step_ops(s, m, q, batch, 1, context, o);
}

namespace {

struct StepLowering {
    std::vector<TileOp> ops;
    double weight_bytes = 0, kv_bytes = 0, kv_cache_bytes = 0, embedding_bytes = 0;
};

StepLowering lower_step(const LlmShape& s, const Machine& m, const LlmQuant& q, int batch, int n, int context,
                   const TileLlmOptions& o) {
    if (batch < 1 || n < 1 || context < 1)
        throw std::invalid_argument("llm step: batch, new tokens and context must be >= 1");
    if (context < n)
        throw std::invalid_argument("llm step: context (" + std::to_string(context) + ") must be at least the new tokens (" +
                                    std::to_string(n) + ")");
    const int N = o.chips;
    if (N < 1) throw std::invalid_argument("llm step: chips must be >= 1");
    if (N > 1 && !(o.link_bytes_per_s > 0))
        throw std::invalid_argument("llm step: " + std::to_string(N) + " chips need a chip-to-chip link bandwidth");
    if (s.heads % N != 0)
        throw std::invalid_argument("llm step: " + s.id + " has " + std::to_string(s.heads) +
                                    " attention heads, which do not split over " + std::to_string(N) + " chips");
    if (!s.mla && s.kv_heads % N != 0 && N % s.kv_heads != 0)
        throw std::invalid_argument("llm step: " + s.id + " has " + std::to_string(s.kv_heads) +
                                    " KV heads, which neither split over nor divide " + std::to_string(N) + " chips");
    if (o.link_latency_s < 0) throw std::invalid_argument("llm step: link latency must be >= 0");

    Builder b(o);
    DType ft = DType::fp16;
    const bool has_float = chip_float_type(m, ft);
    b.vt = has_float ? ft : DType::fp16;
    const bool a16 = !q.int8_activations;
    if (a16 && !has_float)
        throw std::invalid_argument(m.chip_id + " has no float matrix mode: " + q.name +
                                    " needs one (use w8a8 with an int8 KV cache)");
    if (q.int8_activations) {
        b.lt = DType::int8;
        b.int8_out_fp16 = true;
    } else {
        b.lt = ft;
        if (q.weights != WeightFormat::w16) {
            b.w_stored = weight_bytes_per_element(q.weights);
            b.w_passes = q.weights == WeightFormat::w8 ? 2 : 3;
        }
    }
    b.bpw = q.int8_activations ? 1.0 : weight_bytes_per_element(q.weights);
    if (!has_float && !q.int8_kv)
        throw std::invalid_argument(m.chip_id + " has no float matrix mode: attention needs an int8 KV cache (--kv-int8)");
    b.at = has_float ? ft : DType::int8;
    b.int8_kv = q.int8_kv;
    b.kv_passes = has_float ? 2 : 0;
    // One fp16 scale per head (MLA: per latent) per token, spread over the values it scales.
    const double kv_row = s.mla ? double(s.kv_lora_rank + s.qk_rope_dim) : double(s.head_dim);
    b.kv_elem = q.int8_kv ? 1.0 + 2.0 / kv_row : 2.0;

    const int64_t T = int64_t(batch) * n, H = s.hidden;
    const int64_t hc = s.heads / N;
    auto split = [&](int64_t x) { return ceil_div(x, N); };

    // The cache this chip holds after the step (its KV heads, or the whole latent), for placement.
    double kv_per_token = 0;
    int64_t kc = 0;
    if (s.mla) {
        kv_per_token = double(s.layers) * double(s.kv_lora_rank + s.qk_rope_dim) * b.kv_elem;
    } else {
        kc = s.kv_heads >= N ? s.kv_heads / N : 1;
        kv_per_token = double(s.layers) * 2.0 * double(kc) * s.head_dim * b.kv_elem;
    }
    const double cache = double(batch) * context * kv_per_token;
    if (o.kv_onchip && cache > m.l2_bytes / 2)
        throw std::invalid_argument("KV cache on chip: " + s.id + " at batch " + std::to_string(batch) + " and context " +
                                    std::to_string(context) + " needs " + mib(cache) + " per chip, more than half of " +
                                    m.chip_id + "'s L2 (" + mib(m.l2_bytes / 2) + "); place it off-chip");

    // The embedding lookup, vocab-parallel (Megatron-LM's VocabParallelEmbedding): each chip holds
    // vocab / N rows, gathers the tokens that fall in its range (uniform tokens: T / N of them,
    // rounded up for the busiest chip), converts a narrower stored table to the vector type (the
    // linear layers' conversion passes), and the rows are summed over the chips by one all-reduce
    // (added in simulate_llm_step). The table is stored like the other weights.
    const double table_bytes = b.bpw;
    const int embed_passes = q.weights == WeightFormat::w16 ? 0 : q.weights == WeightFormat::w8 ? 2 : 3;
    const int64_t embed_rows = ceil_div(T, N);
    b.vector(gather_op("embed", embed_rows, H, b.vt, table_bytes, embed_passes));
    const double embedding_bytes = double(embed_rows) * H * table_bytes;

    for (int l = 0; l < s.layers; ++l) {
        const std::string p = "l" + std::to_string(l) + ".";
        b.vector(layernorm_op(p + "attn_norm", T, H, b.vt));
        if (s.mla) {
            const int64_t qk = s.qk_nope_dim + s.qk_rope_dim, lat = s.kv_lora_rank + s.qk_rope_dim;
            if (s.q_lora_rank > 0) {
                b.linear(p + "q_a", T, s.q_lora_rank, H);
                b.vector(layernorm_op(p + "q_a_norm", T, s.q_lora_rank, b.vt));
                b.linear(p + "q_b", T, hc * qk, s.q_lora_rank);
            } else {
                b.linear(p + "q_proj", T, hc * qk, H);
            }
            b.linear(p + "kv_a", T, lat, H);
            b.vector(layernorm_op(p + "kv_a_norm", T, s.kv_lora_rank, b.vt));
            b.linear(p + "q_absorb", T, s.kv_lora_rank, s.qk_nope_dim, hc);
            b.attention(p + "scores", hc * n, context, lat, batch);
            b.vector(softmax_op(p + "softmax", T * hc, context, b.vt));
            b.attention(p + "attn_v", hc * n, s.kv_lora_rank, context, batch);
            b.linear(p + "v_absorb", T, s.v_head_dim, s.kv_lora_rank, hc);
            b.linear(p + "o_proj", T, H, hc * s.v_head_dim);
        } else {
            const int64_t hd = s.head_dim, group = hc / kc;
            b.linear(p + "qkv", T, (hc + 2 * kc) * hd, H, 1, s.qkv_bias);
            b.attention(p + "scores", group * n, context, hd, int64_t(batch) * kc);
            b.vector(softmax_op(p + "softmax", T * hc, context, b.vt));
            b.attention(p + "attn_v", group * n, hd, context, int64_t(batch) * kc);
            b.linear(p + "o_proj", T, H, hc * hd);
        }
        b.vector(elementwise_op(p + "residual1", T, H, b.vt, 2, 1));
        b.vector(layernorm_op(p + "ffn_norm", T, H, b.vt));
        if (!s.moe || l < s.dense_layers) {
            const int64_t I = split(s.intermediate);
            b.linear(p + "gate_up", T, 2 * I, H);
            b.vector(elementwise_op(p + "silu_mul", T, I, b.vt, 2, 4));
            b.linear(p + "down", T, H, I);
        } else {
            const int64_t E = s.experts, k = s.active_experts, I = split(s.expert_intermediate);
            b.linear(p + "router", T, E, H);
            b.vector(softmax_op(p + "router_softmax", T, E, b.vt));
            // Distinct experts the T tokens touch (see the header); the rounding guard keeps an
            // exact whole expectation (k at T = 1) from rounding up.
            const double expected = expected_routed_experts(s, double(T));
            int64_t R = int64_t(std::ceil(expected - 1e-9));
            R = std::max<int64_t>(k, std::min<int64_t>({R, E, T * k}));
            const int64_t rows = ceil_div(T * k, R);
            b.linear(p + "experts_gate_up", rows, 2 * I, H, R);
            b.vector(elementwise_op(p + "experts_silu_mul", R * rows, I, b.vt, 2, 4));
            b.linear(p + "experts_down", rows, H, I, R);
            if (s.shared_experts > 0) {
                const int64_t Is = split(int64_t(s.shared_experts) * s.expert_intermediate);
                b.linear(p + "shared_gate_up", T, 2 * Is, H);
                b.vector(elementwise_op(p + "shared_silu_mul", T, Is, b.vt, 2, 4));
                b.linear(p + "shared_down", T, H, Is);
            }
            b.vector(elementwise_op(p + "moe_combine", T, H, b.vt, int(k) + (s.shared_experts > 0 ? 1 : 0), 2));
        }
        b.vector(elementwise_op(p + "residual2", T, H, b.vt, 2, 1));
    }
    // Logits: every token of a decode step, the last of each sequence of a prefill.
    const int64_t logit_rows = n == 1 ? T : batch;
    b.vector(layernorm_op("final_norm", logit_rows, H, b.vt));
    b.linear("lm_head", logit_rows, split(s.vocab), H);
    return {std::move(b.ops), b.weight_bytes, b.kv_bytes, cache, embedding_bytes};
}

}  // namespace

std::vector<TileOp> llm_step_ops(const LlmShape& s, const Machine& m, const LlmQuant& q, int batch, int new_tokens,
                                 int context, const TileLlmOptions& o) {
    return lower_step(s, m, q, batch, new_tokens, context, o).ops;
}

TileLlmStep simulate_llm_step(const LlmShape& s, const Machine& m, const LlmQuant& q, int batch, int new_tokens,
                              int context, const TileLlmOptions& o, const SimOptions& opt) {
    StepLowering low = lower_step(s, m, q, batch, new_tokens, context, o);
    TileLlmStep r;
    r.batch = batch, r.new_tokens = new_tokens, r.context = context, r.chips = o.chips;
    r.sim = simulate_graph(m, low.ops, opt);
    r.weight_bytes = low.weight_bytes;
    r.kv_bytes = low.kv_bytes;
    r.kv_cache_bytes = low.kv_cache_bytes;
    r.embedding_bytes = low.embedding_bytes;
    if (o.chips > 1) {
        // Two ring all-reduces of the T x hidden fp16 activations per layer (Megatron-LM), and one
        // more that sums the vocab-parallel embedding's rows.
        const double N = o.chips, bytes = double(batch) * new_tokens * s.hidden * 2.0;
        const double per = 2.0 * (N - 1) / N * bytes, reduces = 2.0 * s.layers + 1;
        r.comm_bytes = reduces * per;
        r.comm_s = reduces * (2.0 * (N - 1) * o.link_latency_s + per / o.link_bytes_per_s);
        // The ring all-gather of the fp16 logits the column-parallel LM head leaves split: N - 1
        // steps, each chip receiving the others' rows x vocab / N (the roofline estimate's term).
        // Logit rows: one per sequence, in decode (its one token) and in prefill (its last token).
        const double gather = (N - 1) / N * double(batch) * s.vocab * 2.0;
        r.comm_bytes += gather;
        r.comm_s += (N - 1) * o.link_latency_s + gather / o.link_bytes_per_s;
    }
    r.time_s = r.sim.time_s + r.comm_s;
    r.memory_floor_s =
        (low.weight_bytes + low.embedding_bytes + (o.kv_onchip ? 0.0 : low.kv_bytes)) / m.offchip_bytes_per_s;
    for (const auto& op : r.sim.ops)
        if (op.op == op_kind_name(OpKind::gemm)) r.compute_floor_s += op.compute_floor_s;
    r.bound = r.compute_floor_s >= r.memory_floor_s ? Bound::compute : Bound::memory;
    return r;
}

double decode_mean_from_samples(const std::vector<int>& steps, const std::vector<double>& times, int output) {
    if (output < 1) throw std::invalid_argument("decode mean: output must be >= 1");
    if (steps.empty() || steps.size() != times.size() || steps.front() != 0 || steps.back() != output - 1)
        throw std::invalid_argument("decode mean: the samples must start at step 0 and end at step output - 1");
    // Segment [a, b): sum_{j=0}^{n-1} (f_a + (f_b - f_a) j / n) = n f_a + (f_b - f_a) (n - 1) / 2.
    double sum = times.back();
    for (size_t i = 0; i + 1 < steps.size(); ++i) {
        const double n = double(steps[i + 1] - steps[i]);
        if (!(n > 0)) throw std::invalid_argument("decode mean: sample steps must increase");
        sum += n * times[i] + (times[i + 1] - times[i]) * (n - 1) / 2;
    }
    return sum / output;
}

TileLlmEstimate estimate_llm_tile(const LlmShape& s, const Machine& m, const LlmQuant& q, const LlmWorkload& w,
                                  const TileLlmOptions& o, const SimOptions& opt) {
    if (w.batch < 1 || w.prompt < 1 || w.output < 1)
        throw std::invalid_argument("llm: batch, prompt and output must be >= 1");
    TileLlmEstimate e;
    e.prefill = simulate_llm_step(s, m, q, w.batch, w.prompt, w.prompt, o, opt);
    // Decode step t (0-based) attends to prompt + t + 1 keys. Samples at the first, last, middle
    // and quarter steps (fewer where the output is short), deduplicated.
    const int last = w.output - 1;
    for (int i = 0; i <= 4; ++i) {
        const int t = int(int64_t(last) * i / 4);
        if (e.decode_steps.empty() || e.decode_steps.back() != t) e.decode_steps.push_back(t);
    }
    const int mid = last / 2;
    for (int t : e.decode_steps) {
        TileLlmStep st = simulate_llm_step(s, m, q, w.batch, 1, w.prompt + t + 1, o, opt);
        e.decode_step_s.push_back(st.time_s);
        if (t == 0) e.decode_first = st;
        if (t == last) e.decode_last = st;
        if (t == mid) e.decode = std::move(st);
    }
    e.ttft_s = e.prefill.time_s;
    e.decode_s_per_token = decode_mean_from_samples(e.decode_steps, e.decode_step_s, w.output);
    e.tokens_per_s = w.batch / e.decode_s_per_token;
    return e;
}

}  // namespace stacklab::chip
