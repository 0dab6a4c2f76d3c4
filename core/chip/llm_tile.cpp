#include "chip/llm_tile.hpp"

#include <stdexcept>
#include <string>

namespace stacklab::chip {

std::vector<TileOp> llm_decode_ops(const LlmShape& s, const Machine& m, const LlmQuant& q, int batch, int context) {
    if (s.mla || s.moe)
        throw std::invalid_argument(s.id + ": tile fidelity supports dense GQA models only (this one uses " +
                                    (s.mla ? "MLA attention" : "mixture-of-experts") + ")");
    if (q.weights != WeightFormat::w16 && q.weights != WeightFormat::w8)
        throw std::invalid_argument(q.name + ": tile fidelity models w16a16 and w8a8 only");
    if (q.weights == WeightFormat::w8 && !q.int8_activations)
        throw std::invalid_argument(q.name + ": tile fidelity models w16a16 and w8a8 only");
    if (q.int8_kv) throw std::invalid_argument("tile fidelity does not model an int8 KV cache yet");
    if (batch < 1 || context < 1) throw std::invalid_argument("llm decode: batch and context must be >= 1");
    DType t = q.int8_activations ? DType::int8 : DType::fp16;
    if (t == DType::fp16 && !m.unit(t).supported()) t = DType::bf16;
    const int64_t T = batch, H = s.hidden, hd = s.head_dim, heads = s.heads, kv = s.kv_heads;
    const int64_t group = heads / kv;
    std::vector<TileOp> ops;
    for (int l = 0; l < s.layers; ++l) {
        const std::string p = "l" + std::to_string(l) + ".";
        ops.push_back(layernorm_op(p + "attn_norm", T, H, t));
        ops.push_back(gemm_op(p + "qkv", T, (heads + 2 * kv) * hd, H, t, s.qkv_bias));
        ops.push_back(gemm_op(p + "scores", group, context, hd, t, false, Activation::none, T * kv));
        ops.push_back(softmax_op(p + "softmax", T * heads, context, t));
        ops.push_back(gemm_op(p + "attn_v", group, hd, context, t, false, Activation::none, T * kv));
        ops.push_back(gemm_op(p + "o_proj", T, H, heads * hd, t));
        ops.push_back(elementwise_op(p + "residual1", T, H, t, 2, 1));
        ops.push_back(layernorm_op(p + "ffn_norm", T, H, t));
        ops.push_back(gemm_op(p + "gate_up", T, 2 * int64_t(s.intermediate), H, t));
        ops.push_back(elementwise_op(p + "silu_mul", T, s.intermediate, t, 2, 4));
        ops.push_back(gemm_op(p + "down", T, H, s.intermediate, t));
        ops.push_back(elementwise_op(p + "residual2", T, H, t, 2, 1));
    }
    ops.push_back(layernorm_op("final_norm", T, H, t));
    ops.push_back(gemm_op("lm_head", T, s.vocab, H, t));
    return ops;
}

}  // namespace stacklab::chip
