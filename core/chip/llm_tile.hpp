// An LLM decode step at tile fidelity: the operators of one forward pass of `batch` new tokens
// against a KV cache of `context` tokens, built from a shape in models/llm (chip/llm.hpp) and
// run through the tile-level simulator (chip/tile_sim.hpp).
//
// Lowering per layer (dense GQA models only; MLA and MoE are refused by name):
//   RMSNorm (as a 3-pass LayerNorm: an upper bound on its 2 passes), QKV projection (bias if the
//   model has one), attention scores as batch*kv_heads GEMMs of (heads/kv_heads) x context x
//   head_dim against the K cache, softmax over the context, attention x V likewise, output
//   projection, residual add, RMSNorm, gate+up projection as one GEMM (N = 2 x intermediate),
//   SiLU(gate) * up (one vector op, 2 inputs, 4 passes), down projection, residual add. Then the
//   final norm and the output projection over the vocabulary.
// Data types: w16a16 runs the matrix unit in fp16 (bf16 where the chip has no fp16 mode), w8a8
// in int8; the KV cache is in the activation type. Other quantizations (w4/w6 weights, int8 KV)
// change byte counts the simulator does not model per operand yet, and are refused.
#pragma once

#include <vector>

#include "chip/llm.hpp"
#include "chip/tile_sim.hpp"

namespace stacklab::chip {

// Throws std::invalid_argument naming the unsupported feature or a bad batch/context.
std::vector<TileOp> llm_decode_ops(const LlmShape& s, const Machine& m, const LlmQuant& q, int batch, int context);

}  // namespace stacklab::chip
