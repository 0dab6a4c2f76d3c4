// LLM serving at tile fidelity: the operators of one forward step of `batch` sequences, each adding
// `new_tokens` tokens (decode: 1; prefill: the prompt), built from a shape in models/llm
// (chip/llm.hpp) for one chip's tensor-parallel shard and run through the tile-level simulator
// (chip/tile_sim.hpp); the all-reduces between the chips are added in closed form.
//
// `context` is the number of keys each sequence's last new token attends to: the KV cache after
// the step (a decode step at context C reads C cached tokens, its own included; a prefill of P
// tokens has context P).
//
// Lowering (T = batch x new_tokens tokens; per chip: hc = heads / N query heads):
//   first            the embedding lookup: a Gather op (tile_sim.hpp "Gather") of T rows x hidden
//                    read from the off-chip table, stored like the other weights (weight_bytes_per_
//                    element: 2, 1, 6/8 or 4/8 bytes + scales), converted to the vector type on the
//                    vector cores (0 passes for fp16, 2 for 8-bit, 3 for 6/4-bit: the linear layers'
//                    rule) and written off-chip as T x hidden activations. A gather, not a GEMM: no
//                    MACs, one contiguous row per token (repeated tokens are not deduplicated).
// Per layer:
//   attention, GQA   RMSNorm (as a 3-pass LayerNorm: an upper bound on its 2 passes), QKV
//                    projection (bias if the model has one), scores as batch x kc GEMMs of
//                    (hc/kc x new_tokens) x context x head_dim against the K cache (kc = KV heads
//                    per chip), softmax over the context, attention x V likewise, output projection,
//                    residual add.
//   attention, MLA   (DeepSeek-V2, in the absorbed form vLLM/SGLang decode with, the form
//                    chip/llm.hpp's roofline counts): RMSNorm; q projection (or q_a, its norm and
//                    q_b when q_lora_rank > 0); kv_a (hidden -> kv_lora_rank + qk_rope_head_dim: the
//                    compressed latent and the shared RoPE key the cache stores; replicated on every
//                    chip, as the latent cache is); the latent's norm; q_absorb (per head, q_nope x
//                    W_UK: nope -> kv_lora_rank); scores as batch GEMMs of (hc x new_tokens) x context x
//                    (kv_lora_rank + rope) against the latent cache; softmax; attention x latent
//                    ((hc x new_tokens) x kv_lora_rank x context, reading the latent part of the cache
//                    again: a fused kernel such as FlashMLA reads it once, so this is an upper bound
//                    by one more read of the latent); v_absorb (per head, kv_lora_rank -> v_head_dim,
//                    W_UV); output projection; residual add. The same absorbed form serves prefill
//                    (engines decompress K/V there instead; the absorbed form does more work).
//   FFN, dense       RMSNorm, gate+up as one GEMM (N = 2 x intermediate / N_chips), SiLU(gate) x up
//                    (one vector op, 2 inputs, 4 passes), down projection, residual add.
//   FFN, MoE         RMSNorm; router GEMM (T x experts x hidden) and its softmax/top-k (a softmax
//                    over the experts); routed experts: a batch of R GEMMs, one per DISTINCT expert
//                    the T tokens touch, R = ceil(E (1 - (1 - k/E)^T)) (uniform routing, the
//                    expectation chip/llm.hpp's roofline uses, rounded up; at most min(E, T k)),
//                    each with ceil(T k / R) token rows, gate+up then SiLU x up then down: only
//                    those R experts' weights are read; shared experts as one dense MLP of
//                    shared x expert_intermediate; the weighted sum of the k routed outputs and
//                    the shared one (a vector op, k + 1 inputs, 2 passes); residual add. The first
//                    dense_layers layers are dense.
//   then             the final norm and the output projection over the vocabulary, for every token
//                    of a decode step and for the last token of each sequence of a prefill (as
//                    serving engines compute logits).
//   Prefill attention computes the full context x context rectangle (causal masking is not
//   skipped: up to 2x the attention work a flash-attention kernel does).
//
// Data types and stored formats (see tile_sim.hpp "Stored B formats"):
//   linear layers    w16a16: the chip's float matrix type (fp16, else bf16). w8a8: int8 operands,
//                    int32 accumulation, the epilogue writes fp16 (as graph_sim's QDQ nodes do).
//                    w8a16 / w6a16 / w4a16: the float matrix type with weights stored at
//                    weight_bytes_per_element (packed bits + one fp16 scale per 128) and converted
//                    on the vector cores: 2 passes for 8-bit (convert, scale) and 3 for 6/4-bit
//                    (extract the bit fields, convert, scale): assumed costs.
//   attention        the chip's float matrix type, KV cache fp16; with int8 KV the cache is
//                    stored at 1 byte + one fp16 scale per head (MLA: per latent) per token and
//                    converted in 2 passes. A chip without a float matrix mode (int8-only NPUs)
//                    runs attention in int8 and needs the int8 KV cache (else
//                    std::invalid_argument says so); w16a16 / wNa16 on it are refused likewise.
//   vector ops       the float type (fp16 where the chip has no float matrix mode).
//
// KV-cache placement: off-chip (default), or on chip in L2 (`kv_onchip`): the attention GEMMs
//   then read the cache from L2 (tile_sim's b_onchip) and no cache byte crosses off-chip memory.
//   The cache of batch x context tokens (this chip's share) must fit in half of the L2 (the other
//   half stays for the simulator's resident operands); else std::invalid_argument names both sizes.
//
// Tensor parallelism over N chips (Megatron-LM): a vocab-parallel embedding (VocabParallelEmbedding:
//   each chip holds vocab / N rows of the table, so its memory is split like every other weight's;
//   it gathers the tokens in its range, ceil(T / N) rows under uniform tokens, the busiest chip,
//   and one ring all-reduce of the T x hidden fp16 rows sums the chips' parts; the zero rows a
//   chip writes for the others' tokens are left out), column-parallel QKV / q / gate+up / experts'
//   gate+up / LM head (the output columns split, ceil where uneven: the busiest chip is simulated),
//   row-parallel output and down projections (the reduction dimension split); query heads split
//   evenly (heads % N == 0 required, as chip/llm.hpp requires), KV heads too (kv_heads % N == 0,
//   or N % kv_heads == 0 and each chip keeps one KV head: a copy); MLA's kv_a and latent cache and
//   the MoE router are replicated. The chip's step is simulated once and two all-reduces of the
//   T x hidden fp16 activations per layer are added, not overlapped (as chip/llm.hpp does), each a
//   ring all-reduce: 2 (N-1) x link_latency + 2 (N-1)/N x bytes / link bandwidth. Then the
//   column-parallel LM head's logits are all-gathered (one row per sequence, fp16, as the LM head
//   GEMM writes them): a ring all-gather, (N-1) x link_latency + (N-1)/N x batch x vocab x 2 bytes
//   / link bandwidth, the same bytes chip/llm.hpp adds. So a step pays 2 x layers + 1 all-reduces
//   (the embedding's included) and one all-gather; chip/llm.hpp counts the same, and the same
//   embedding bytes (T x hidden x bytes per weight / N: the roofline takes the exact share).
// Against the roofline estimate (chip/llm.hpp) of the same step, w16a16, one chip, for every
// shipped model on the Ascend 910B and the H100 (tests/core/chip_tile_llm_test.cpp asserts the bands):
//   decode (batch 1, context 1024)   1.0x to 1.35x the roofline (measured 1.01-1.22x; Qwen2.5-7B on
//                                    the 910B in w8a8 / w8a16 / w6a16 / w4a16: 1.21-1.28x): the same
//                                    bytes plus activations, norms and softmax through off-chip
//                                    memory, and the pipeline fill of each of the ~340-650 ops.
//   prefill (batch 2, prompt 256)    1.0x to 2x (measured 1.09-1.96x: 910B 1.09-1.47x, H100
//                                    1.23-1.96x): the tile simulator's matrix utilization (on the
//                                    H100 model's 132 small cores, 128 x 128 tiles make the L2
//                                    bandwidth the limit, misses included; 93-100% on the 910B),
//                                    the full attention rectangle,
//                                    and vector work the roofline leaves out. (1.1-1.7x before
//                                    off-chip loads took L2 bandwidth too: tile_sim.hpp "Bandwidth".)
//   Larger prefills, where weights and activations exceed half the L2, rely on tile_sim's L2 reuse
//   of streamed operands (grouped tile orders, an LRU of streamed chunks: tile_sim.hpp "L2
//   reuse"). DeepSeek-V2-Lite on the H100, 64 x 1000 tokens: 2.19x (tested <= 2.3x); 4.6x before
//   that model, when every 128-row tile row re-read the dense FFN's 90 MB gate+up weight from
//   off-chip (4.8 TB off-chip for the step, then 0.95 TB, now 0.90 TB against 0.89 TB compulsory;
//   that GEMM 29x its compulsory bytes, then 1.9x, now 1.26x). What remains: the H100 model's L2
//   bandwidth (about 60% matrix utilization on the large GEMMs), the full 1000 x 1000 attention
//   rectangle (2x a causal kernel's work), and operands re-read where no grouping's working set
//   fits the L2's LRU half (the down projection, K = 10944: B once per wave, 2.65x its compulsory
//   bytes, which the plan predicts; 6.9x before tiles stopped drifting apart, tile_sim.hpp
//   "Plan vs simulation").
#pragma once

#include <vector>

#include "chip/llm.hpp"
#include "chip/tile_sim.hpp"

namespace stacklab::chip {

struct TileLlmOptions {
    bool kv_onchip = false;       // KV cache placed in L2
    int chips = 1;                // tensor-parallel degree
    double link_bytes_per_s = 0;  // per chip; required when chips > 1
    double link_latency_s = 0;    // per ring step of an all-reduce (0: bandwidth only)
};

// The operators of one step on one chip. Throws std::invalid_argument naming the problem: batch,
// new_tokens or context < 1, context < new_tokens, a quantization the chip cannot run, heads that
// do not split over the chips, an on-chip KV cache that does not fit.
std::vector<TileOp> llm_step_ops(const LlmShape& s, const Machine& m, const LlmQuant& q, int batch, int new_tokens,
                                 int context, const TileLlmOptions& o = {});
// One decode step: llm_step_ops(s, m, q, batch, 1, context, o).
std::vector<TileOp> llm_decode_ops(const LlmShape& s, const Machine& m, const LlmQuant& q, int batch, int context,
                                   const TileLlmOptions& o = {});

struct TileLlmStep {
    int batch = 0, new_tokens = 0, context = 0, chips = 1;
    GraphResult sim;              // one chip's shard
    // What the step reads on one chip, as the lowering placed it (stored formats):
    double weight_bytes = 0;      // weights of every matrix the tokens pass through (active experts only)
    double kv_bytes = 0;          // KV cache read by the attention GEMMs
    double kv_cache_bytes = 0;    // the cache this chip holds after the step (what kv_onchip must fit)
    double embedding_bytes = 0;   // table rows the embedding gather reads (ceil(T / N) x hidden, as stored)
    double comm_bytes = 0, comm_s = 0;  // all-reduces (0 on one chip)
    double time_s = 0;            // sim.time_s + comm_s
    // Floors the time never beats: (weights + embedding rows + off-chip KV) / off-chip bandwidth, and the ideal ops
    // of every matrix op / its peak (sums over the ops of tile_sim's own floors).
    double memory_floor_s = 0, compute_floor_s = 0;
    Bound bound = Bound::memory;  // the larger floor
};
TileLlmStep simulate_llm_step(const LlmShape& s, const Machine& m, const LlmQuant& q, int batch, int new_tokens,
                              int context, const TileLlmOptions& o = {}, const SimOptions& sim = {});

// Prefill (TTFT) and decode at tile fidelity for a workload. Decode covers the whole output: step
// t (0-based) of `output` attends to prompt + t + 1 keys, and its time grows with that context (the
// KV cache read, the attention work). Simulating every step would take `output` times as long, so
// up to five steps are simulated, at t = floor(i (output - 1) / 4) for i = 0..4 (the first, the
// quarters, the middle, the last; fewer, deduplicated, for a short output), and the mean over all
// `output` steps is the composite trapezoid rule over those samples, taken exactly over the
// integer steps (decode_mean_from_samples): the time interpolated linearly between samples and
// summed step by step. A step's time is affine in its context but for the tiling's and the
// pipeline's steps (the attention GEMMs' tile counts change with the context), so the rule is
// exact for an affine time and off by at most those steps' share between samples. Simpson's rule
// would assume a curvature the step time does not have. tokens/s = batch / that mean.
// `decode` is the middle sample (context prompt + (output - 1) / 2 + 1) for the breakdown the CLI
// prints; decode_first / decode_last are the first and last steps.
struct TileLlmEstimate {
    TileLlmStep prefill, decode, decode_first, decode_last;
    std::vector<int> decode_steps;       // the simulated steps, increasing (0 ... output - 1)
    std::vector<double> decode_step_s;   // their times
    double ttft_s = 0, decode_s_per_token = 0, tokens_per_s = 0;
};
// The mean over steps 0 .. output - 1 of the time interpolated linearly between samples (steps
// increasing from 0 to output - 1); throws std::invalid_argument for samples that do not.
double decode_mean_from_samples(const std::vector<int>& steps, const std::vector<double>& times, int output);
TileLlmEstimate estimate_llm_tile(const LlmShape& s, const Machine& m, const LlmQuant& q, const LlmWorkload& w,
                                  const TileLlmOptions& o = {}, const SimOptions& sim = {});

}  // namespace stacklab::chip
