// RFC 6962/9162 Merkle tree: the reference tree of 8 leaves with its published roots, inclusion and
// consistency proofs (as in google/trillian merkle/testonly and transparency-dev/merkle
// testonly/reference_test.go), exhaustive generate/verify round trips, and corrupted proofs.
#include <boost/test/unit_test.hpp>

#include "policy/merkle.hpp"

using namespace stacklab::policy;

namespace {

const char* kLeafHex[] = {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                          "606162636465666768696a6b6c6d6e6f"};

// Roots of the trees of the first 0..8 leaves.
const char* kRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct InclusionVector {
    std::uint64_t index, size;
    std::vector<const char*> proof;
};
const InclusionVector kInclusion[] = {
    {0, 1, {}},
    {0, 2, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"}},
    {1, 2, {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {0, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

struct ConsistencyVector {
    std::uint64_t old_size, new_size;
    std::vector<const char*> proof;
};
const ConsistencyVector kConsistency[] = {
    {1, 1, {}},
    {1, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

std::vector<Hash> reference_leaves() {
    std::vector<Hash> out;
    for (const char* h : kLeafHex) {
        const Bytes b = from_hex(h);
        out.push_back(leaf_hash(std::string(b.begin(), b.end())));
    }
    return out;
}

std::vector<Hash> hashes(const std::vector<const char*>& hex) {
    std::vector<Hash> out;
    for (const char* h : hex) out.push_back(from_hex_fixed<32>(h, "proof hash"));
    return out;
}

Hash root(std::size_t size) { return from_hex_fixed<32>(kRoots[size], "root"); }

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_merkle)

BOOST_AUTO_TEST_CASE(roots_of_the_rfc_6962_reference_tree_match_for_every_size) {
    const auto leaves = reference_leaves();
    for (std::size_t n = 0; n <= 8; ++n) BOOST_TEST(to_hex(tree_root(leaves, n)) == kRoots[n], "size " << n);
    BOOST_TEST(to_hex(tree_root(leaves)) == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
    BOOST_CHECK_THROW(tree_root(leaves, 9), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(inclusion_proofs_match_the_published_vectors_and_verify) {
    const auto leaves = reference_leaves();
    for (const auto& v : kInclusion) {
        BOOST_TEST_CONTEXT("leaf " << v.index << " of " << v.size) {
            const auto proof = inclusion_proof(leaves, v.index, v.size);
            BOOST_TEST_REQUIRE(proof.size() == v.proof.size());
            for (std::size_t i = 0; i < proof.size(); ++i) BOOST_TEST(to_hex(proof[i]) == v.proof[i]);
            const ProofCheck c = verify_inclusion(v.index, v.size, leaves[v.index], hashes(v.proof), root(v.size));
            BOOST_TEST(c.ok, c.reason);
        }
    }
}

BOOST_AUTO_TEST_CASE(consistency_proofs_match_the_published_vectors_and_verify) {
    const auto leaves = reference_leaves();
    for (const auto& v : kConsistency) {
        BOOST_TEST_CONTEXT(v.old_size << " -> " << v.new_size) {
            const auto proof = consistency_proof(leaves, v.old_size, v.new_size);
            BOOST_TEST_REQUIRE(proof.size() == v.proof.size());
            for (std::size_t i = 0; i < proof.size(); ++i) BOOST_TEST(to_hex(proof[i]) == v.proof[i]);
            const ProofCheck c =
                verify_consistency(v.old_size, v.new_size, root(v.old_size), root(v.new_size), hashes(v.proof));
            BOOST_TEST(c.ok, c.reason);
        }
    }
}

BOOST_AUTO_TEST_CASE(every_generated_proof_of_trees_up_to_33_leaves_verifies) {
    std::vector<Hash> leaves;
    for (int i = 0; i < 33; ++i) leaves.push_back(leaf_hash("entry " + std::to_string(i)));
    for (std::uint64_t n = 1; n <= leaves.size(); ++n) {
        const Hash r = tree_root(leaves, n);
        for (std::uint64_t m = 0; m < n; ++m) {
            const ProofCheck c = verify_inclusion(m, n, leaves[m], inclusion_proof(leaves, m, n), r);
            BOOST_TEST(c.ok, "inclusion " << m << "/" << n << ": " << c.reason);
        }
        for (std::uint64_t m = 1; m <= n; ++m) {
            const ProofCheck c = verify_consistency(m, n, tree_root(leaves, m), r, consistency_proof(leaves, m, n));
            BOOST_TEST(c.ok, "consistency " << m << "->" << n << ": " << c.reason);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_cached_tree_gives_the_reference_roots_and_proofs_for_every_size_up_to_70) {
    std::vector<Hash> leaves;
    for (int i = 0; i < 70; ++i) leaves.push_back(leaf_hash("leaf " + std::to_string(i)));
    // Built at once and grown by appends: the same cache.
    MerkleTree grown;
    for (const Hash& h : leaves) append_leaf(grown, h);
    const MerkleTree t = build_tree(leaves);
    BOOST_TEST(tree_size(t) == 70u);
    BOOST_TEST((grown.levels == t.levels));
    for (std::uint64_t n = 0; n <= leaves.size(); ++n) {
        BOOST_TEST((tree_root(t, n) == tree_root(leaves, n)), "root " << n);
        for (std::uint64_t m = 0; m < n; ++m)
            BOOST_TEST((inclusion_proof(t, m, n) == inclusion_proof(leaves, m, n)), "inclusion " << m << "/" << n);
        for (std::uint64_t m = 1; m <= n; ++m)
            BOOST_TEST((consistency_proof(t, m, n) == consistency_proof(leaves, m, n)), "consistency " << m << "->" << n);
    }
    // The RFC 6962 reference tree through the cache.
    BOOST_TEST(to_hex(tree_root(build_tree(reference_leaves()), 8)) == kRoots[8]);
    BOOST_CHECK_THROW(tree_root(t, 71), std::invalid_argument);
    BOOST_CHECK_THROW(inclusion_proof(t, 5, 5), std::invalid_argument);
    BOOST_CHECK_THROW(consistency_proof(t, 0, 5), std::invalid_argument);
    BOOST_CHECK_THROW(inclusion_proof(MerkleTree{}, 0, 1), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(cached_proofs_equal_the_rfc_6962_reference_path_at_sizes_around_powers_of_two) {
    // The published vectors, through the cache.
    const MerkleTree ref = build_tree(reference_leaves());
    for (const auto& v : kInclusion) {
        const auto proof = inclusion_proof(ref, v.index, v.size);
        BOOST_TEST_REQUIRE(proof.size() == v.proof.size());
        for (std::size_t i = 0; i < proof.size(); ++i) BOOST_TEST(to_hex(proof[i]) == v.proof[i]);
    }
    for (const auto& v : kConsistency) {
        const auto proof = consistency_proof(ref, v.old_size, v.new_size);
        BOOST_TEST_REQUIRE(proof.size() == v.proof.size());
        for (std::size_t i = 0; i < proof.size(); ++i) BOOST_TEST(to_hex(proof[i]) == v.proof[i]);
    }
    // One cache for 2049 leaves answers for every older size too (what `audit prove --size` and
    // `verify --log` ask): compared with the reference recursion at sizes on both sides of powers
    // of two, where the right edge of the tree changes shape.
    std::vector<Hash> leaves;
    for (int i = 0; i < 2049; ++i) leaves.push_back(leaf_hash("log entry " + std::to_string(i)));
    const MerkleTree t = build_tree(leaves);
    std::size_t compared = 0;
    for (const std::uint64_t n : {71u, 127u, 128u, 129u, 255u, 256u, 257u, 300u, 511u, 512u, 513u, 1000u, 1023u, 1024u,
                                  1025u, 2047u, 2048u, 2049u}) {
        BOOST_TEST((tree_root(t, n) == tree_root(leaves, n)), "root " << n);
        std::vector<std::uint64_t> indices = {0, 1, 2, n / 3, n / 2, n - 2, n - 1};
        for (std::uint64_t m = 5; m < n; m += 97) indices.push_back(m);
        for (const std::uint64_t m : indices) {
            BOOST_TEST((inclusion_proof(t, m, n) == inclusion_proof(leaves, m, n)), "inclusion " << m << "/" << n);
            ++compared;
        }
        std::vector<std::uint64_t> olds = {1, 2, 3, n / 2, n - 1, n};
        for (std::uint64_t m = 7; m < n; m += 131) olds.push_back(m);
        for (const std::uint64_t m : olds) {
            BOOST_TEST((consistency_proof(t, m, n) == consistency_proof(leaves, m, n)), "consistency " << m << "->" << n);
            ++compared;
        }
    }
    BOOST_TEST(compared > 400u);
}

BOOST_AUTO_TEST_CASE(corrupted_inclusion_proofs_are_rejected_with_a_reason) {
    const auto leaves = reference_leaves();
    const auto proof = inclusion_proof(leaves, 5, 8);
    const Hash r = root(8);
    BOOST_TEST_REQUIRE(verify_inclusion(5, 8, leaves[5], proof, r).ok);
    // wrong index (every other index), wrong size (every other size), index past the end
    for (std::uint64_t i = 0; i < 8; ++i)
        if (i != 5) BOOST_TEST(!verify_inclusion(i, 8, leaves[5], proof, r).ok, "index " << i);
    // A size is only meaningful with its root (a signed tree head binds the two): leaf 5's path
    // has the same shape in trees of 7 and 8 leaves, so the claim "size 7" fails on the root.
    for (std::uint64_t n = 0; n < 20; ++n)
        if (n != 8) BOOST_TEST(!verify_inclusion(5, n, leaves[5], proof, n <= 8 ? root(n) : r).ok, "size " << n);
    BOOST_TEST(verify_inclusion(8, 8, leaves[5], proof, r).reason == "leaf index 8 is not below tree size 8");
    // extra hash, missing hash, empty proof
    auto extra = proof;
    extra.push_back(leaves[0]);
    BOOST_TEST(verify_inclusion(5, 8, leaves[5], extra, r).reason.find("more hashes") != std::string::npos);
    auto missing = proof;
    missing.pop_back();
    BOOST_TEST(verify_inclusion(5, 8, leaves[5], missing, r).reason.find("fewer hashes") != std::string::npos);
    BOOST_TEST(!verify_inclusion(5, 8, leaves[5], {}, r).ok);
    // wrong leaf, wrong root, every single flipped bit of the proof
    BOOST_TEST(!verify_inclusion(5, 8, leaves[4], proof, r).ok);
    BOOST_TEST(!verify_inclusion(5, 8, leaves[5], proof, root(7)).ok);
    for (std::size_t h = 0; h < proof.size(); ++h)
        for (int bit = 0; bit < 256; ++bit) {
            auto bad = proof;
            bad[h][bit / 8] ^= std::uint8_t(1u << (bit % 8));
            BOOST_TEST(!verify_inclusion(5, 8, leaves[5], bad, r).ok, "hash " << h << " bit " << bit);
        }
    // reordered hashes
    auto swapped = proof;
    std::swap(swapped[0], swapped[1]);
    BOOST_TEST(!verify_inclusion(5, 8, leaves[5], swapped, r).ok);
}

BOOST_AUTO_TEST_CASE(corrupted_consistency_proofs_are_rejected_with_a_reason) {
    const auto leaves = reference_leaves();
    const auto proof = consistency_proof(leaves, 6, 8);
    BOOST_TEST_REQUIRE(verify_consistency(6, 8, root(6), root(8), proof).ok);
    // swapped roots, wrong old/new root
    BOOST_TEST(!verify_consistency(6, 8, root(8), root(6), proof).ok);
    BOOST_TEST(verify_consistency(6, 8, root(5), root(8), proof).reason.find("old root") != std::string::npos);
    BOOST_TEST(verify_consistency(6, 8, root(6), root(7), proof).reason.find("new root") != std::string::npos);
    // wrong sizes
    for (std::uint64_t m = 1; m <= 8; ++m)
        if (m != 6) BOOST_TEST(!verify_consistency(m, 8, root(6), root(8), proof).ok, "old size " << m);
    for (std::uint64_t n = 6; n <= 16; ++n)
        if (n != 8) BOOST_TEST(!verify_consistency(6, n, root(6), n <= 8 ? root(n) : root(8), proof).ok, "new size " << n);
    BOOST_TEST(!verify_consistency(8, 6, root(8), root(6), proof).ok);
    // extra, missing, empty
    auto extra = proof;
    extra.push_back(leaves[0]);
    BOOST_TEST(verify_consistency(6, 8, root(6), root(8), extra).reason.find("more hashes") != std::string::npos);
    auto missing = proof;
    missing.pop_back();
    BOOST_TEST(verify_consistency(6, 8, root(6), root(8), missing).reason.find("fewer hashes") != std::string::npos);
    BOOST_TEST(verify_consistency(6, 8, root(6), root(8), {}).reason == "consistency proof is empty");
    for (std::size_t h = 0; h < proof.size(); ++h)
        for (int bit = 0; bit < 256; ++bit) {
            auto bad = proof;
            bad[h][bit / 8] ^= std::uint8_t(1u << (bit % 8));
            BOOST_TEST(!verify_consistency(6, 8, root(6), root(8), bad).ok, "hash " << h << " bit " << bit);
        }
    // equal sizes: only an empty proof with equal roots
    BOOST_TEST(verify_consistency(8, 8, root(8), root(8), {}).ok);
    BOOST_TEST(!verify_consistency(8, 8, root(8), root(7), {}).ok);
    BOOST_TEST(!verify_consistency(8, 8, root(8), root(8), proof).ok);
    // the generator refuses sizes it cannot prove
    BOOST_CHECK_THROW(consistency_proof(leaves, 0, 8), std::invalid_argument);
    BOOST_CHECK_THROW(consistency_proof(leaves, 5, 4), std::invalid_argument);
    BOOST_CHECK_THROW(inclusion_proof(leaves, 8, 8), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
