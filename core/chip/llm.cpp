#include "chip/llm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace stacklab::chip {

using nlohmann::json;

namespace {

// Field-by-field reading so every error names the file and the JSON path; unknown keys are
// rejected (a typo must not silently become a default).
class Fields {
public:
    Fields(const json& j, const std::string& file, std::string path) : j_(j), file_(file), path_(std::move(path)) {
        if (!j_.is_object()) fail("", "expected an object");
    }
    [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
        throw std::invalid_argument(file_ + ": " + path_ + (key.empty() ? "" : "/" + key) + ": " + problem);
    }
    const json& get(const std::string& key) {
        seen_.insert(key);
        auto it = j_.find(key);
        if (it == j_.end()) fail(key, "required field is missing");
        return *it;
    }
    std::string str(const std::string& key) {
        const json& v = get(key);
        if (!v.is_string() || v.get<std::string>().empty()) fail(key, "expected a non-empty string");
        return v.get<std::string>();
    }
    int integer(const std::string& key, int min_value) {
        const json& v = get(key);
        if (!v.is_number_integer()) fail(key, "expected an integer");
        const long long x = v.get<long long>();
        if (x < min_value || x > 10'000'000) fail(key, "must be in [" + std::to_string(min_value) + ", 10000000]");
        return int(x);
    }
    double number(const std::string& key) {
        const json& v = get(key);
        if (!v.is_number() || !(v.get<double>() > 0)) fail(key, "expected a positive number");
        return v.get<double>();
    }
    bool boolean(const std::string& key) {
        const json& v = get(key);
        if (!v.is_boolean()) fail(key, "expected true or false");
        return v.get<bool>();
    }
    bool has(const std::string& key) const { return j_.contains(key); }
    Fields object(const std::string& key) { return Fields(get(key), file_, path_ + "/" + key); }
    void no_unknown_keys() const {
        for (auto it = j_.begin(); it != j_.end(); ++it)
            if (!seen_.count(it.key())) fail(it.key(), "unknown field");
    }

private:
    const json& j_;
    std::string file_, path_;
    std::set<std::string> seen_;
};

}  // namespace

double weight_bytes_per_element(WeightFormat f) {
    switch (f) {
        case WeightFormat::w16: return 2.0;
        case WeightFormat::w8: return 1.0;  // per-channel scales: < 0.1% of the bytes, left out
        case WeightFormat::w6: return 6.0 / 8.0 + 2.0 / 128.0;  // + one fp16 scale per 128 weights
        case WeightFormat::w4: return 4.0 / 8.0 + 2.0 / 128.0;
    }
    return 2.0;
}

namespace {

double bytes_per_weight(WeightFormat f) { return weight_bytes_per_element(f); }

// base^e by squaring: plain IEEE multiplications, so native and wasm agree bit for bit (libm's
// pow differs between glibc and Emscripten's musl in the last place).
double ipow(double base, double e) {
    double result = 1.0;
    for (unsigned long long n = (unsigned long long)e; n; n >>= 1, base *= base)
        if (n & 1) result *= base;
    return result;
}

int moe_layers(const LlmShape& s) { return s.moe ? s.layers - s.dense_layers : 0; }

// Per head: the width of a query-key dot product and of a value row, in the form served.
std::pair<double, double> attention_dims(const LlmShape& s) {
    if (s.mla) return {double(s.kv_lora_rank + s.qk_rope_dim), double(s.kv_lora_rank)};  // absorbed MLA
    return {double(s.head_dim), double(s.head_dim)};
}

}  // namespace

LlmShape parse_llm(const std::string& json_bytes, const std::string& file_name) {
    json j;
    try {
        j = json::parse(json_bytes);
    } catch (const json::parse_error& e) {
        throw std::invalid_argument(file_name + ": malformed JSON: " + e.what());
    }
    Fields f(j, file_name, "");
    LlmShape s;
    s.id = f.str("id");
    s.name = f.str("name");
    s.source = f.str("source");
    s.layers = f.integer("layers", 1);
    s.hidden = f.integer("hidden_size", 1);
    s.vocab = f.integer("vocab_size", 1);
    s.tied_embeddings = f.boolean("tie_word_embeddings");
    {
        Fields a = f.object("attention");
        const std::string kind = a.str("kind");
        s.heads = a.integer("heads", 1);
        if (kind == "gqa") {
            s.kv_heads = a.integer("kv_heads", 1);
            s.head_dim = a.integer("head_dim", 1);
            s.qkv_bias = a.boolean("qkv_bias");
            if (s.heads % s.kv_heads != 0) a.fail("kv_heads", "must divide heads");
        } else if (kind == "mla") {
            s.mla = true;
            s.q_lora_rank = a.integer("q_lora_rank", 0);
            s.kv_lora_rank = a.integer("kv_lora_rank", 1);
            s.qk_nope_dim = a.integer("qk_nope_head_dim", 1);
            s.qk_rope_dim = a.integer("qk_rope_head_dim", 0);
            s.v_head_dim = a.integer("v_head_dim", 1);
        } else {
            a.fail("kind", "expected \"gqa\" or \"mla\", found \"" + kind + "\"");
        }
        a.no_unknown_keys();
    }
    {
        Fields ff = f.object("ffn");
        const std::string kind = ff.str("kind");
        if (kind == "dense") {
            s.intermediate = ff.integer("intermediate_size", 1);
        } else if (kind == "moe") {
            s.moe = true;
            s.dense_layers = ff.integer("dense_layers", 0);
            s.intermediate = ff.integer("dense_intermediate_size", s.dense_layers > 0 ? 1 : 0);
            s.experts = ff.integer("experts", 1);
            s.active_experts = ff.integer("active_experts", 1);
            s.shared_experts = ff.integer("shared_experts", 0);
            s.expert_intermediate = ff.integer("expert_intermediate_size", 1);
            if (s.active_experts > s.experts) ff.fail("active_experts", "exceeds experts");
            if (s.dense_layers >= s.layers) ff.fail("dense_layers", "must be less than layers");
        } else {
            ff.fail("kind", "expected \"dense\" or \"moe\", found \"" + kind + "\"");
        }
        ff.no_unknown_keys();
    }
    {
        Fields p = f.object("published_params_b");
        s.published_total_b = p.number("total");
        if (p.has("active")) s.published_active_b = p.number("active");
        s.published_source = p.str("source");
        p.no_unknown_keys();
    }
    f.no_unknown_keys();
    const std::string stem = file_name.substr(file_name.find_last_of("/\\") + 1);
    if (stem != s.id + ".json") f.fail("id", "\"" + s.id + "\" does not match the file name");
    return s;
}

std::vector<LlmShape> bundled_llms() {
    std::vector<LlmShape> out;
    for (const auto& f : bundled_llm_files()) out.push_back(parse_llm(f.bytes, f.name));
    std::sort(out.begin(), out.end(), [](const LlmShape& a, const LlmShape& b) { return a.id < b.id; });
    return out;
}

LlmShape find_llm(const std::string& id) {
    std::string known;
    for (auto& s : bundled_llms()) {
        if (s.id == id) return s;
        known += (known.empty() ? "" : ", ") + s.id;
    }
    throw std::invalid_argument("no LLM with id \"" + id + "\" (known: " + known + ")");
}

double LlmParams::total() const {
    return attention + dense_ffn + routed_experts + shared_experts + router + embedding + output + norms;
}

double LlmParams::active(const LlmShape& s) const {
    const double lm_head = output > 0 ? output : embedding;  // tied: the output matmul reuses the table
    return attention + dense_ffn + shared_experts + router + norms + lm_head +
           double(moe_layers(s)) * s.active_experts * expert;
}

LlmParams count_params(const LlmShape& s) {
    LlmParams p;
    const double h = s.hidden, L = s.layers;
    double attn = 0;
    if (s.mla) {
        const double qk = s.qk_nope_dim + s.qk_rope_dim;
        attn += s.q_lora_rank > 0 ? h * s.q_lora_rank + s.q_lora_rank + double(s.q_lora_rank) * s.heads * qk
                                  : h * s.heads * qk;
        attn += h * (s.kv_lora_rank + s.qk_rope_dim) + s.kv_lora_rank;  // kv_a projection + its norm
        attn += double(s.kv_lora_rank) * s.heads * (s.qk_nope_dim + s.v_head_dim);
        attn += double(s.heads) * s.v_head_dim * h;
    } else {
        const double q = double(s.heads) * s.head_dim, kv = double(s.kv_heads) * s.head_dim;
        attn = h * q + 2 * h * kv + q * h + (s.qkv_bias ? q + 2 * kv : 0);
    }
    p.attention = attn * L;
    const int dense_layers = s.moe ? s.dense_layers : s.layers;
    p.dense_ffn = 3.0 * h * s.intermediate * dense_layers;  // gate, up, down
    p.expert = 3.0 * h * s.expert_intermediate;
    p.routed_experts = p.expert * s.experts * moe_layers(s);
    p.shared_experts = p.expert * s.shared_experts * moe_layers(s);
    p.router = h * s.experts * moe_layers(s);
    p.embedding = double(s.vocab) * h;
    p.output = s.tied_embeddings ? 0.0 : double(s.vocab) * h;
    p.norms = 2 * h * L + h;
    return p;
}

std::vector<LlmGemm> llm_layer_gemms(const LlmShape& s, int tokens) {
    if (tokens < 1) throw std::invalid_argument("llm_layer_gemms: tokens must be >= 1 (got " + std::to_string(tokens) + ")");
    const double t = tokens, h = s.hidden;
    std::vector<LlmGemm> g;
    if (s.mla) {
        g.push_back({"kv_a", t, double(s.kv_lora_rank + s.qk_rope_dim), h});
        g.push_back({"attn out", t, h, double(s.heads) * s.v_head_dim});
    } else {
        g.push_back({"qkv", t, double(s.heads + 2 * s.kv_heads) * s.head_dim, h});
        g.push_back({"attn out", t, h, double(s.heads) * s.head_dim});
    }
    if (s.moe && moe_layers(s) > 0) {
        // Integer ceil of tokens * k / E: exact, no floating-point rounding at whole numbers.
        const long long routed = (static_cast<long long>(tokens) * s.active_experts + s.experts - 1) / s.experts;
        const double m = double(std::max(1LL, routed));
        g.push_back({"expert gate+up", m, 2.0 * s.expert_intermediate, h});
        g.push_back({"expert down", m, h, double(s.expert_intermediate)});
    } else {
        g.push_back({"ffn gate+up", t, 2.0 * s.intermediate, h});
        g.push_back({"ffn down", t, h, double(s.intermediate)});
    }
    return g;
}

double expected_routed_experts(const LlmShape& s, double tokens) {
    return s.moe ? s.experts * (1 - ipow(1 - double(s.active_experts) / s.experts, tokens)) : 0;
}

LlmQuant parse_llm_quant(const std::string& name, bool int8_kv) {
    LlmQuant q;
    q.name = name;
    q.int8_kv = int8_kv;
    if (name == "w16a16") q.weights = WeightFormat::w16;
    else if (name == "w8a8") { q.weights = WeightFormat::w8; q.int8_activations = true; }
    else if (name == "w8a16") q.weights = WeightFormat::w8;
    else if (name == "w6a16") q.weights = WeightFormat::w6;
    else if (name == "w4a16") q.weights = WeightFormat::w4;
    else throw std::invalid_argument("quantization \"" + name + "\" is not one of w16a16, w8a8, w8a16, w6a16, w4a16");
    return q;
}

namespace {

struct Model {
    const LlmShape& s;
    LlmParams p;
    double bpw;             // bytes per weight
    double kv_per_token;    // bytes, all layers, whole model
    double kv_share;        // fraction of the KV cache each chip holds
    int chips;
    double link;
    ChipPeak peak;
    double l2_bytes_per_s = 0;  // > 0: the KV cache is on chip

    // One forward step of `batch` sequences, each adding `n` tokens after `ctx` cached ones.
    StepCost step(double batch, double n, double ctx, bool prefill) const {
        const double tokens = batch * n;
        const double lm_head = p.output > 0 ? p.output : p.embedding;
        const double per_token = p.active(s) - lm_head;  // weights every new token passes through
        // Serving engines compute logits only for the last position of a prefill.
        const double logit_tokens = prefill ? batch : tokens;
        const auto [dqk, dv] = attention_dims(s);
        const double pairs = batch * (n * ctx + n * (n + 1) / 2);  // (query, key) pairs, causal
        StepCost c;
        const double ops = 2 * per_token * tokens + 2 * lm_head * logit_tokens +
                           2.0 * s.heads * (dqk + dv) * s.layers * pairs;
        // Distinct routed experts a batch of tokens touches per MoE layer, uniform routing.
        const double touched = expected_routed_experts(s, tokens);
        const double weights_read = (p.attention + p.dense_ffn + p.shared_experts + p.router + p.norms + lm_head +
                                     touched * p.expert * moe_layers(s)) * bpw;
        // The embedding lookup reads one stored row per token; vocab-parallel over the chips, each
        // chip reads the rows of its share of the vocabulary (tokens / N on average).
        const double embedding_rows = tokens * s.hidden * bpw;
        const double kv = (batch * ctx + tokens) * kv_per_token;  // read the cache, write the new entries
        c.ops = ops / chips;
        c.bytes = (weights_read + embedding_rows) / chips;
        if (l2_bytes_per_s > 0)
            c.l2_bytes = kv * kv_share;
        else
            c.bytes += kv * kv_share;
        c.compute_s = c.ops / peak.ops_per_s;
        c.memory_s = std::max(c.bytes / peak.mem_bytes_per_s, l2_bytes_per_s > 0 ? c.l2_bytes / l2_bytes_per_s : 0.0);
        if (chips > 1) {
            // Two ring all-reduces of the fp16 activations per layer, then the all-gather of the
            // fp16 logits the column-parallel LM head leaves split over the chips (each chip
            // receives the other chips' logit_tokens x vocab / N); plus one all-reduce that sums
            // the vocab-parallel embedding's rows (chip/llm_tile.hpp's lowering, Megatron-LM).
            c.comm_bytes = (2.0 * s.layers + 1) * tokens * s.hidden * 2.0 * 2.0 * (chips - 1) / chips +
                           logit_tokens * s.vocab * 2.0 * (chips - 1) / chips;
            c.comm_s = c.comm_bytes / link;
        }
        c.bound = c.compute_s >= c.memory_s ? Bound::compute : Bound::memory;
        c.time_s = std::max(c.compute_s, c.memory_s) + c.comm_s;
        return c;
    }
};

}  // namespace

LlmEstimate estimate_llm(const LlmShape& s, const ChipSpec& chip, const LlmQuant& q, const LlmSystem& sys,
                         const LlmWorkload& w, Pick pick) {
    if (w.batch < 1 || w.prompt < 1 || w.output < 1)
        throw std::invalid_argument("llm: batch, prompt and output must be >= 1");
    if (sys.chips < 1) throw std::invalid_argument("llm: chips must be >= 1");
    if (sys.chips > 1 && !(sys.link_bytes_per_s > 0))
        throw std::invalid_argument("llm: " + std::to_string(sys.chips) +
                                    " chips need a chip-to-chip link bandwidth (--link-gbps)");
    if (s.heads % sys.chips != 0)
        throw std::invalid_argument("llm: " + s.id + " has " + std::to_string(s.heads) +
                                    " attention heads, which do not split over " + std::to_string(sys.chips) + " chips");
    DType dtype = DType::int8;
    if (!q.int8_activations) {
        const Figure& fp16 = chip.figure("fp16_tflops");
        dtype = fp16.known() ? DType::fp16 : DType::bf16;
    }
    Model m{s, count_params(s), bytes_per_weight(q.weights), 0, 1.0, sys.chips, sys.link_bytes_per_s,
            chip_peak(chip, dtype, pick), 0.0};
    const double kvb = q.int8_kv ? 1.0 : 2.0;
    const double scale_bytes = q.int8_kv ? 2.0 : 0.0;  // one fp16 scale per head (or latent) per token
    if (s.mla) {
        m.kv_per_token = s.layers * ((s.kv_lora_rank + s.qk_rope_dim) * kvb + scale_bytes);
        m.kv_share = 1.0;  // the latent cache is replicated on every tensor-parallel rank
    } else {
        m.kv_per_token = s.layers * 2.0 * s.kv_heads * (s.head_dim * kvb + scale_bytes);
        // KV heads split over the chips; with more chips than KV heads each chip keeps a copy of one.
        m.kv_share = std::ceil(double(s.kv_heads) / sys.chips) / s.kv_heads;
    }

    LlmEstimate e;
    e.llm = s.id;
    e.chip = chip.id;
    e.quant = q.name + (q.int8_kv ? "+kv8" : "");
    e.matrix_dtype = dtype;
    e.chips = sys.chips;
    e.weight_bytes = m.p.total() * m.bpw;
    e.kv_bytes_per_token = m.kv_per_token;
    const double context = double(w.prompt) + w.output;
    e.kv_cache_bytes = w.batch * context * m.kv_per_token;
    e.memory_per_chip_bytes = e.weight_bytes / sys.chips + (sys.kv_onchip ? 0.0 : e.kv_cache_bytes * m.kv_share);
    e.memory_capacity_bytes = m.peak.memory_bytes;
    const double usable = 0.9 * m.peak.memory_bytes;
    e.fits = m.peak.memory_bytes > 0 && e.memory_per_chip_bytes <= usable;
    const double per_sequence = context * m.kv_per_token * m.kv_share;
    const double room = usable - e.weight_bytes / sys.chips;
    e.max_batch = room > 0 ? int(std::min(1e9, std::floor(room / per_sequence))) : 0;
    if (sys.kv_onchip) {
        auto micro = [&](const char* key) {
            const Figure& f = chip.micro(key);
            if (!f.known())
                throw std::invalid_argument(chip.id + ": an on-chip KV cache needs microarch/" + key + ", which is unknown");
            const auto [lo, hi] = f.range();
            return pick == Pick::low ? lo : pick == Pick::high ? hi : f.number();
        };
        const double half_l2 = micro("l2_mib") * 1048576 / 2;
        m.l2_bytes_per_s = micro("l2_bandwidth_gbps") * 1e9;
        e.kv_onchip_bytes = e.kv_cache_bytes * m.kv_share;
        if (e.kv_onchip_bytes > half_l2) {
            char need[32], have[32];
            std::snprintf(need, sizeof need, "%.1f MiB", e.kv_onchip_bytes / 1048576);
            std::snprintf(have, sizeof have, "%.1f MiB", half_l2 / 1048576);
            throw std::invalid_argument("KV cache on chip: " + s.id + " at batch " + std::to_string(w.batch) + " and " +
                                        std::to_string(w.prompt + w.output) + " tokens needs " + need +
                                        " per chip, more than half of " + chip.id + "'s L2 (" + have + "); place it off-chip");
        }
        e.max_batch = room > 0 ? std::min(e.max_batch, int(std::floor(half_l2 / per_sequence))) : 0;
    }

    e.prefill = m.step(w.batch, w.prompt, 0, true);
    e.ttft_s = e.prefill.time_s;
    e.prefill_compute_floor_s = e.prefill.compute_s;
    double total = 0, floor_total = 0;
    for (int t = 0; t < w.output; ++t) {
        const StepCost c = m.step(w.batch, 1, double(w.prompt) + t, false);
        total += c.time_s;
        floor_total += c.memory_s;
        if (t == 0) e.decode_first = c;
        if (t == w.output - 1) e.decode_last = c;
    }
    e.decode_s_per_token = total / w.output;
    e.decode_memory_floor_s = floor_total / w.output;
    e.tokens_per_s = w.batch / e.decode_s_per_token;
    e.decode_bound = e.decode_last.bound;
    return e;
}

}  // namespace stacklab::chip
