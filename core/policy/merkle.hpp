// RFC 9162 (Certificate Transparency 2.0, same tree as RFC 6962) Merkle tree hashes and proofs.
//
//   leaf hash   SHA-256(0x00 || d)                          RFC 9162 §2.1.1
//   node hash   SHA-256(0x01 || left || right)
//   MTH({})     SHA-256("")   (the empty tree)
//   MTH(D[n])   n > 1: k = largest power of two < n, node(MTH(D[0:k]), MTH(D[k:n]))
//   inclusion proof  PATH(m, D[n])      generation §2.1.3.1, verification §2.1.3.2
//   consistency proof PROOF(m, D[n])    generation §2.1.4.1, verification §2.1.4.2
// The 0x00/0x01 prefixes keep a leaf from being passed off as an inner node (second preimages).
//
// The functions over a vector of leaf *hashes* are the reference: they recompute subtree roots,
// so a proof costs O(n) hashing. MerkleTree caches every complete subtree (n - 1 inner nodes,
// built in O(n) once, amortized O(1) hashes per append), so a root costs O(log n) lookups and
// hashes, and so does a proof: the RFC's recursion asks for complete (cached) subtrees except
// along the right edge of the tree of `size` leaves, and it leaves that edge at most once, asking
// for one incomplete subtree [x, size) that costs O(log n) to compute.
// Tests check every result against the reference.
// Verification never throws on a bad proof: it returns a result with the reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/crypto.hpp"

namespace stacklab::policy {

using Hash = Sha256;

Hash leaf_hash(std::string_view data);
Hash node_hash(const Hash& left, const Hash& right);
Hash empty_tree_root();

// MTH of the first `size` leaves (size <= leaves.size(); throws std::invalid_argument otherwise).
Hash tree_root(const std::vector<Hash>& leaves, std::uint64_t size);
inline Hash tree_root(const std::vector<Hash>& leaves) { return tree_root(leaves, leaves.size()); }

// PATH(index, D[size]): throws std::invalid_argument unless index < size <= leaves.size().
std::vector<Hash> inclusion_proof(const std::vector<Hash>& leaves, std::uint64_t index, std::uint64_t size);
// PROOF(old_size, D[new_size]): throws std::invalid_argument unless 0 < old_size <= new_size <= leaves.size().
std::vector<Hash> consistency_proof(const std::vector<Hash>& leaves, std::uint64_t old_size, std::uint64_t new_size);

// Complete subtrees of the leaves: levels[0] are the leaf hashes, levels[l][i] is the root of
// leaves [i * 2^l, (i + 1) * 2^l) (present once all of them are).
struct MerkleTree {
    std::vector<std::vector<Hash>> levels;
};
MerkleTree build_tree(const std::vector<Hash>& leaves);
void append_leaf(MerkleTree& tree, const Hash& leaf);
std::uint64_t tree_size(const MerkleTree& tree);
// Same results and errors as the reference functions above over the tree's leaves.
Hash tree_root(const MerkleTree& tree, std::uint64_t size);
std::vector<Hash> inclusion_proof(const MerkleTree& tree, std::uint64_t index, std::uint64_t size);
std::vector<Hash> consistency_proof(const MerkleTree& tree, std::uint64_t old_size, std::uint64_t new_size);

struct ProofCheck {
    bool ok = false;
    std::string reason;  // why it failed; empty when ok
    explicit operator bool() const { return ok; }
};

ProofCheck verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf, const std::vector<Hash>& proof,
                            const Hash& root);
// Sizes 0 < old_size < new_size per §2.1.4.2; additionally old_size == new_size (empty proof,
// equal roots) and old_size == 0 (empty proof: every tree extends the empty one).
ProofCheck verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                              const Hash& new_root, const std::vector<Hash>& proof);

}  // namespace stacklab::policy
