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

// PATH(m, D[begin:end]), RFC 9162 §2.1.3.1.
void path(const std::vector<Hash>& leaves, std::uint64_t m, std::uint64_t begin, std::uint64_t end,
          std::vector<Hash>& out) {
    const std::uint64_t n = end - begin;
    if (n <= 1) return;
    const std::uint64_t k = split_point(n);
    if (m < k) {
        path(leaves, m, begin, begin + k, out);
        out.push_back(subtree_root(leaves, begin + k, end));
    } else {
        path(leaves, m - k, begin + k, end, out);
        out.push_back(subtree_root(leaves, begin, begin + k));
    }
}

// SUBPROOF(m, D[begin:end], b), RFC 9162 §2.1.4.1.
void subproof(const std::vector<Hash>& leaves, std::uint64_t m, std::uint64_t begin, std::uint64_t end, bool b,
              std::vector<Hash>& out) {
    const std::uint64_t n = end - begin;
    if (m == n) {
        if (!b) out.push_back(subtree_root(leaves, begin, end));
        return;
    }
    const std::uint64_t k = split_point(n);
    if (m <= k) {
        subproof(leaves, m, begin, begin + k, b, out);
        out.push_back(subtree_root(leaves, begin + k, end));
    } else {
        subproof(leaves, m - k, begin + k, end, false, out);
        out.push_back(subtree_root(leaves, begin, begin + k));
    }
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
    if (size > leaves.size())
        throw std::invalid_argument("tree size " + std::to_string(size) + " exceeds the " +
                                    std::to_string(leaves.size()) + " leaves");
    return subtree_root(leaves, 0, size);
}

std::vector<Hash> inclusion_proof(const std::vector<Hash>& leaves, std::uint64_t index, std::uint64_t size) {
    if (size > leaves.size())
        throw std::invalid_argument("tree size " + std::to_string(size) + " exceeds the " +
                                    std::to_string(leaves.size()) + " leaves");
    if (index >= size)
        throw std::invalid_argument("leaf index " + std::to_string(index) + " is not below tree size " +
                                    std::to_string(size));
    std::vector<Hash> out;
    path(leaves, index, 0, size, out);
    return out;
}

std::vector<Hash> consistency_proof(const std::vector<Hash>& leaves, std::uint64_t old_size, std::uint64_t new_size) {
    if (new_size > leaves.size())
        throw std::invalid_argument("tree size " + std::to_string(new_size) + " exceeds the " +
                                    std::to_string(leaves.size()) + " leaves");
    if (old_size == 0 || old_size > new_size)
        throw std::invalid_argument("consistency proof needs 0 < old size <= new size, got " + std::to_string(old_size) +
                                    " and " + std::to_string(new_size));
    std::vector<Hash> out;
    subproof(leaves, old_size, 0, new_size, true, out);
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
