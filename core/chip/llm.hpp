// LLM serving estimates on the roofline: prefill (time to first token), decode time per token,
// KV-cache memory and the largest batch that fits, for a decoder-only transformer described by its
// shape alone (models/llm/*.json, from the published Hugging Face configs), on one chip or N chips
// with tensor parallelism.
//
// Shape file (`models/llm/<id>.json`; every field is read here, unknown keys are errors):
//   id, name, source                 strings (source: the published config.json)
//   layers, hidden_size, vocab_size  integers
//   tie_word_embeddings              bool: the output projection reuses the embedding matrix
//   attention  {"kind": "gqa", heads, kv_heads, head_dim, qkv_bias}
//           or {"kind": "mla", heads, q_lora_rank (0: none), kv_lora_rank, qk_nope_head_dim,
//               qk_rope_head_dim, v_head_dim}   (DeepSeek-V2's multi-head latent attention)
//   ffn        {"kind": "dense", intermediate_size}   (gated SiLU MLP: gate, up, down)
//           or {"kind": "moe", dense_layers, dense_intermediate_size, experts, active_experts,
//               shared_experts, expert_intermediate_size}   (the first `dense_layers` layers are
//               dense; shared experts have expert_intermediate_size each, as in DeepSeek/ERNIE)
//   published_params_b {"total": B, "active": B?, "source": ...}   the model card's parameter
//               count, which the tests compare with the count derived from the shape
//
// Model of one forward pass (documented assumptions, each a choice a student can question):
//   * ops: 2 per weight per token for every matrix the token passes through (routed experts:
//     only the active ones), plus attention's QK^T and PV: 2 * 2 * heads * d * context per token
//     per layer (d = head_dim; for MLA the absorbed form, d = kv_lora_rank + rope dim for scores
//     and kv_lora_rank for values, as vLLM/SGLang serve it). Norms, softmax and RoPE are ignored
//     (they are vector work, a few % of the time, which the tile simulator models).
//   * bytes: every weight matrix a step touches is read once per step from off-chip memory; with
//     MoE, a batch of T tokens touches E * (1 - (1 - k/E)^T) distinct routed experts on average
//     (uniform routing). The KV cache of the whole context is read once per decode step and the
//     new entries written. Activations stay on chip.
//   * weights: W16 = 2 bytes; W8 = 1 byte (its per-channel scales, < 0.1%, are left out); W4 and W6 = k/8
//     bytes + one fp16 scale per group of 128 (the grouped formats of core/quant). Embedding
//     lookups read one row per token. KV cache: 2 bytes per value, or 1 with int8 KV (+ one fp16
//     scale per head per token).
//   * matrix dtype: A8 runs the matrix unit in int8, A16 in fp16 (or bf16 where the chip has no
//     fp16 figure).
//   * tensor parallelism over N chips (Megatron-LM style): weights, KV heads and work split evenly;
//     the embedding table vocab-parallel (each chip reads the rows of its share of the vocabulary,
//     tokens / N of them, and one all-reduce sums them: Megatron-LM's VocabParallelEmbedding, the
//     tile fidelity's lowering, chip/llm_tile.hpp); two all-reduces of the activations per layer
//     and that one, each taking 2 (N-1)/N * bytes / link bandwidth (ring), and one all-gather of the fp16 logits of the column-parallel LM head, (N-1)/N *
//     logit tokens x vocab x 2 bytes / link bandwidth (ring); none overlapped with compute.
//   * time per step = max(compute, memory) + communication: so decode is never faster than the
//     memory roofline and prefill never faster than the compute roofline.
//   * TTFT = the prefill of the whole batch. Decode per token = the mean over the output tokens of
//     the step time at its context length (prompt + tokens so far). tokens/s = batch / that mean.
//   * memory: weights + KV cache of batch * (prompt + output) tokens must fit in 90% of each chip's
//     off-chip memory (the rest for activations, workspace and the runtime); max_batch is the
//     largest batch that does, 0 when the weights alone do not fit.
//   * KV-cache placement (LlmSystem::kv_onchip): the cache lives in the on-chip L2 (the catalog's
//     microarch l2_mib and l2_bandwidth_gbps) instead of off-chip memory. It must fit in half of
//     the L2 (the other half for the weights and activations streaming through, the rule of
//     chip/llm_tile.hpp), else std::invalid_argument names both sizes; max_batch is then the
//     largest batch whose cache fits there (and whose weights fit off-chip). Its reads and writes
//     take kv bytes / L2 bandwidth, served beside the off-chip traffic: memory time =
//     max(off-chip bytes / bandwidth, KV bytes / L2 bandwidth).
#pragma once

#include <string>
#include <vector>

#include "chip/roofline.hpp"

namespace stacklab::chip {

struct LlmShape {
    std::string id, name, source;
    int layers = 0, hidden = 0, vocab = 0;
    bool tied_embeddings = false;
    bool mla = false;
    int heads = 0, kv_heads = 0, head_dim = 0;  // gqa
    bool qkv_bias = false;
    int q_lora_rank = 0, kv_lora_rank = 0, qk_nope_dim = 0, qk_rope_dim = 0, v_head_dim = 0;  // mla
    bool moe = false;
    int intermediate = 0;  // dense FFN (all layers when !moe; the first dense_layers when moe)
    int dense_layers = 0, experts = 0, active_experts = 0, shared_experts = 0, expert_intermediate = 0;
    double published_total_b = 0, published_active_b = 0;  // 0: not published
    std::string published_source;
};

// Parses and validates one shape file; errors (std::invalid_argument) name the file and field.
LlmShape parse_llm(const std::string& json_bytes, const std::string& file_name);

struct LlmFile {
    std::string name, bytes;
};
// models/llm/*.json, embedded at build time.
const std::vector<LlmFile>& bundled_llm_files();
std::vector<LlmShape> bundled_llms();
// Throws std::invalid_argument listing the known ids when `id` is not bundled.
LlmShape find_llm(const std::string& id);

// Parameter counts derived from the shape (embedding and output projection included).
struct LlmParams {
    double attention = 0;        // per model, all layers
    double dense_ffn = 0;        // all dense FFN layers
    double expert = 0;           // one routed (or shared) expert
    double routed_experts = 0;   // all routed experts of all MoE layers
    double shared_experts = 0;   // all shared experts
    double router = 0;
    double embedding = 0, output = 0;  // output = 0 when tied
    double norms = 0;
    double total() const;
    // Parameters one token passes through: everything but the routed experts it is not sent to
    // and the embedding table (a lookup reads one row).
    double active(const LlmShape& s) const;
};
LlmParams count_params(const LlmShape& s);

// The weight GEMMs of one transformer layer with `tokens` tokens in flight (prefill: batch x
// prompt; decode: batch), as C[M,N] = A[M,K] W[K,N], M = tokens: the operators a roofline chart
// plots for this model. Per layer kind:
//   gqa attention  "qkv" (N = (heads + 2 kv_heads) head_dim, K = hidden, fused as vLLM serves it),
//                  "attn out" (N = hidden, K = heads head_dim)
//   mla attention  "kv_a" (N = kv_lora_rank + qk_rope_dim, K = hidden; the projection every token
//                  pays for), "attn out" (N = hidden, K = heads v_head_dim)
//   dense FFN      "ffn gate+up" (N = 2 intermediate, K = hidden), "ffn down" (N = hidden, K = intermediate)
//   MoE FFN        "expert gate+up", "expert down" of one routed expert, whose M is the tokens it
//                  gets under uniform routing, ceil(tokens x active_experts / experts) (the same
//                  assumption as estimate_llm); a model with any MoE layer shows its MoE layer.
// Attention's QK^T / PV products are not weight GEMMs and are left out. Throws
// std::invalid_argument when tokens < 1.
struct LlmGemm {
    std::string name;
    double m = 0, n = 0, k = 0;
};
std::vector<LlmGemm> llm_layer_gemms(const LlmShape& s, int tokens);

enum class WeightFormat { w16, w8, w6, w4 };
struct LlmQuant {
    WeightFormat weights = WeightFormat::w16;
    bool int8_activations = false;  // W8A8
    bool int8_kv = false;
    std::string name;  // "w8a8", "w4a16", ...
};
// "w16a16", "w8a8", "w8a16", "w6a16", "w4a16"; throws std::invalid_argument naming the value.
LlmQuant parse_llm_quant(const std::string& name, bool int8_kv);
// Bytes per stored weight, group scales included (the rule in the header comment): 2, 1,
// 6/8 + 2/128, 4/8 + 2/128. The tile fidelity (chip/llm_tile.hpp) reads the same figure.
double weight_bytes_per_element(WeightFormat f);
// Distinct routed experts a batch of `tokens` tokens touches per MoE layer on average under uniform
// routing, E (1 - (1 - k/E)^tokens) (the rule in the header comment); 0 for a dense model.
double expected_routed_experts(const LlmShape& s, double tokens);

struct LlmSystem {
    int chips = 1;
    double link_bytes_per_s = 0;  // per chip, for tensor parallelism; required when chips > 1
    bool kv_onchip = false;       // KV cache in the on-chip L2 (see the header comment)
};

struct LlmWorkload {
    int batch = 1, prompt = 512, output = 128;
};

struct StepCost {
    double ops = 0, bytes = 0, comm_bytes = 0;  // per chip; bytes: off-chip
    double l2_bytes = 0;                        // per chip: the KV cache's traffic when it is on chip
    double compute_s = 0, memory_s = 0, comm_s = 0, time_s = 0;
    Bound bound = Bound::memory;
};

struct LlmEstimate {
    std::string llm, chip, quant;
    DType matrix_dtype = DType::fp16;
    int chips = 1;
    double weight_bytes = 0;            // whole model
    double kv_bytes_per_token = 0;      // all layers
    double kv_cache_bytes = 0;          // batch * (prompt + output) tokens
    double memory_per_chip_bytes = 0;   // weights / N + KV / N (off-chip; KV left out when on chip)
    double kv_onchip_bytes = 0;         // per chip, when the KV cache is on chip (else 0)
    double memory_capacity_bytes = 0;   // per chip, 0 when unknown
    bool fits = false;
    int max_batch = 0;
    StepCost prefill;                   // TTFT
    StepCost decode_first, decode_last; // the first and last decode step
    double ttft_s = 0;
    double decode_s_per_token = 0;      // mean over the output tokens
    double tokens_per_s = 0;            // batch / decode_s_per_token
    Bound decode_bound = Bound::memory;
    // The pure memory roofline of the mean decode step (bytes / bandwidth) and the compute
    // roofline of the prefill (ops / peak), which the estimate can never beat.
    double decode_memory_floor_s = 0, prefill_compute_floor_s = 0;
};

// Throws std::invalid_argument naming the problem (batch/prompt/output < 1, chips < 1, chips > 1
// without a link bandwidth, heads not divisible by chips, a catalog figure missing).
LlmEstimate estimate_llm(const LlmShape& s, const ChipSpec& chip, const LlmQuant& q, const LlmSystem& sys,
                         const LlmWorkload& w, Pick pick = Pick::nominal);

}  // namespace stacklab::chip
