#include "policy/merkle.hpp"

#include <stdexcept>

namespace stacklab::policy {
namespace {

// Largest power of two strictly below n (n > 1).
std::uint64_t split_point(std::uint64_t n) {
    std::uint64_t k = 1;
    while (k * 2 < n) k *= 2;
    return k;
}

// MTH(D[begin:end]) over leaf hashes.
Hash subtree_root(const std::vector<Hash>& leaves, std::uint64_t begin, std::uint64_t end) {
    const std::uint64_t n = end - begin;
    if (n == 0) return empty_tree_root();
    if (n == 1) return leaves[begin];
    const std::uint64_t k = split_point(n);
    return node_hash(subtree_root(leaves, begin, begin + k), subtree_root(leaves, begin + k, end));
}

// PATH(m, D[begin:end]), RFC 9162 §2.1.3.1. `root(begin, end)` is MTH(D[begin:end]): recomputed
// from the leaves for the reference functions, read from a MerkleTree's cache for the fast ones.
template <class Root>
void path(const Root& root, std::uint64_t m, std::uint64_t begin, std::uint64_t end, std::vector<Hash>& out) {
    const std::uint64_t n = end - begin;
    if (n <= 1) return;
    const std::uint64_t k = split_point(n);
    if (m < k) {
        path(root, m, begin, begin + k, out);
        out.push_back(root(begin + k, end));
    } else {
        path(root, m - k, begin + k, end, out);
        out.push_back(root(begin, begin + k));
    }
}

// SUBPROOF(m, D[begin:end], b), RFC 9162 §2.1.4.1.
template <class Root>
void subproof(const Root& root, std::uint64_t m, std::uint64_t begin, std::uint64_t end, bool b, std::vector<Hash>& out) {
    const std::uint64_t n = end - begin;
    if (m == n) {
        if (!b) out.push_back(root(begin, end));
        return;
    }
    const std::uint64_t k = split_point(n);
    if (m <= k) {
        subproof(root, m, begin, begin + k, b, out);
        out.push_back(root(begin + k, end));
    } else {
        subproof(root, m - k, begin + k, end, false, out);
        out.push_back(root(begin, begin + k));
    }
}

void check_size(std::uint64_t size, std::uint64_t leaves) {
    if (size > leaves)
        throw std::invalid_argument("tree size " + std::to_string(size) + " exceeds the " + std::to_string(leaves) + " leaves");
}

void check_index(std::uint64_t index, std::uint64_t size) {
    if (index >= size)
        throw std::invalid_argument("leaf index " + std::to_string(index) + " is not below tree size " + std::to_string(size));
}

void check_sizes(std::uint64_t old_size, std::uint64_t new_size) {
    if (old_size == 0 || old_size > new_size)
        throw std::invalid_argument("consistency proof needs 0 < old size <= new size, got " + std::to_string(old_size) +
                                    " and " + std::to_string(new_size));
}

// MTH(D[begin:end]) from the cache: a range of 2^l leaves starting at a multiple of 2^l is a
// complete subtree, stored at levels[l]; every other range (only the right edge of a tree) splits
// as the RFC's recursion does, so a root costs O(log n) lookups and hashes.
Hash cached_root(const MerkleTree& t, std::uint64_t begin, std::uint64_t end) {
    const std::uint64_t n = end - begin;
    if (n == 0) return empty_tree_root();
    if ((n & (n - 1)) == 0 && begin % n == 0) {
        std::size_t level = 0;
        while ((std::uint64_t(1) << level) < n) ++level;
        return t.levels[level][begin >> level];
    }
    const std::uint64_t k = split_point(n);
    return node_hash(cached_root(t, begin, begin + k), cached_root(t, begin + k, end));
}

ProofCheck fail(std::string reason) { return ProofCheck{false, std::move(reason)}; }

}  // namespace

Hash leaf_hash(std::string_view data) {
    std::string buf;
    buf.reserve(data.size() + 1);
    buf.push_back('\x00');
    buf.append(data);
    return sha256(buf);
}

Hash node_hash(const Hash& left, const Hash& right) {
    std::uint8_t buf[65];
    buf[0] = 0x01;
    for (int i = 0; i < 32; ++i) {
        buf[1 + i] = left[i];
        buf[33 + i] = right[i];
    }
    return sha256(buf, sizeof buf);
}

Hash empty_tree_root() { return sha256(std::string_view()); }

Hash tree_root(const std::vector<Hash>& leaves, std::uint64_t size) {
    check_size(size, leaves.size());
    return subtree_root(leaves, 0, size);
}

std::vector<Hash> inclusion_proof(const std::vector<Hash>& leaves, std::uint64_t index, std::uint64_t size) {
    check_size(size, leaves.size());
    check_index(index, size);
    std::vector<Hash> out;
    path([&](std::uint64_t b, std::uint64_t e) { return subtree_root(leaves, b, e); }, index, 0, size, out);
    return out;
}

std::vector<Hash> consistency_proof(const std::vector<Hash>& leaves, std::uint64_t old_size, std::uint64_t new_size) {
    check_size(new_size, leaves.size());
    check_sizes(old_size, new_size);
    std::vector<Hash> out;
    subproof([&](std::uint64_t b, std::uint64_t e) { return subtree_root(leaves, b, e); }, old_size, 0, new_size, true, out);
    return out;
}

void append_leaf(MerkleTree& t, const Hash& leaf) {
    if (t.levels.empty()) t.levels.emplace_back();
    t.levels[0].push_back(leaf);
    // Each time a level gets an even count, its last two nodes complete a node one level up.
    for (std::size_t l = 0; t.levels[l].size() % 2 == 0; ++l) {
        if (l + 1 == t.levels.size()) t.levels.emplace_back();
        const auto& lv = t.levels[l];
        const Hash parent = node_hash(lv[lv.size() - 2], lv[lv.size() - 1]);
        t.levels[l + 1].push_back(parent);
    }
}

MerkleTree build_tree(const std::vector<Hash>& leaves) {
    MerkleTree t;
    for (const Hash& h : leaves) append_leaf(t, h);
    return t;
}

std::uint64_t tree_size(const MerkleTree& t) { return t.levels.empty() ? 0 : t.levels[0].size(); }

Hash tree_root(const MerkleTree& t, std::uint64_t size) {
    check_size(size, tree_size(t));
    return cached_root(t, 0, size);
}

std::vector<Hash> inclusion_proof(const MerkleTree& t, std::uint64_t index, std::uint64_t size) {
    check_size(size, tree_size(t));
    check_index(index, size);
    std::vector<Hash> out;
    path([&](std::uint64_t b, std::uint64_t e) { return cached_root(t, b, e); }, index, 0, size, out);
    return out;
}

std::vector<Hash> consistency_proof(const MerkleTree& t, std::uint64_t old_size, std::uint64_t new_size) {
    check_size(new_size, tree_size(t));
    check_sizes(old_size, new_size);
    std::vector<Hash> out;
    subproof([&](std::uint64_t b, std::uint64_t e) { return cached_root(t, b, e); }, old_size, 0, new_size, true, out);
    return out;
}

ProofCheck verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf, const std::vector<Hash>& proof,
                            const Hash& root) {
    if (index >= size)
        return fail("leaf index " + std::to_string(index) + " is not below tree size " + std::to_string(size));
    std::uint64_t fn = index, sn = size - 1;
    Hash r = leaf;
    for (const Hash& p : proof) {
        if (sn == 0) return fail("inclusion proof has more hashes than a tree of size " + std::to_string(size) + " needs");
        if ((fn & 1) || fn == sn) {
            r = node_hash(p, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            r = node_hash(r, p);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0) return fail("inclusion proof has fewer hashes than a tree of size " + std::to_string(size) + " needs");
    if (r != root) return fail("inclusion proof does not lead to the root " + to_hex(root));
    return ProofCheck{true, ""};
}

ProofCheck verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                              const Hash& new_root, const std::vector<Hash>& proof) {
    if (old_size > new_size)
        return fail("old tree size " + std::to_string(old_size) + " exceeds new tree size " + std::to_string(new_size));
    if (old_size == new_size) {
        if (!proof.empty()) return fail("consistency proof between equal sizes must be empty");
        if (old_root != new_root) return fail("equal tree sizes with different roots");
        return ProofCheck{true, ""};
    }
    if (old_size == 0) {
        if (!proof.empty()) return fail("consistency proof from the empty tree must be empty");
        return ProofCheck{true, ""};
    }
    if (proof.empty()) return fail("consistency proof is empty");
    std::vector<Hash> path = proof;
    // An old tree of power-of-two size is a complete subtree of the new one: its root starts the path.
    if ((old_size & (old_size - 1)) == 0) path.insert(path.begin(), old_root);
    std::uint64_t fn = old_size - 1, sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    Hash fr = path[0], sr = path[0];
    for (std::size_t i = 1; i < path.size(); ++i) {
        const Hash& c = path[i];
        if (sn == 0) return fail("consistency proof has more hashes than sizes " + std::to_string(old_size) + " -> " +
                                 std::to_string(new_size) + " need");
        if ((fn & 1) || fn == sn) {
            fr = node_hash(c, fr);
            sr = node_hash(c, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            sr = node_hash(sr, c);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0) return fail("consistency proof has fewer hashes than sizes " + std::to_string(old_size) + " -> " +
                             std::to_string(new_size) + " need");
    if (fr != old_root) return fail("consistency proof does not reproduce the old root " + to_hex(old_root));
    if (sr != new_root) return fail("consistency proof does not reproduce the new root " + to_hex(new_root));
    return ProofCheck{true, ""};
}

}  // namespace stacklab::policy
