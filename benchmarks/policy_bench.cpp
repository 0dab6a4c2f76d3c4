// Policy certification and audit log speed (issue 7), single thread. Prints one JSON document.
//   stacklab-policy-bench [--quick] [--manifest FILE] [--entries N]
// Measures (median of 7 runs, 5 with --quick; a run repeats the operation until it lasts >= 50 ms,
// >= 5 ms with --quick):
//   certify_ms        the example deployment end to end: parse the manifest, load the four bundled
//                     packs, gather evidence (chip catalog, latency estimates), evaluate, JCS,
//                     Ed25519 sign
//   verify_ms         verify_certificate of that certificate (parse, canonical form, signature,
//                     evidence hashes, validity)
//   report_html_ms    render_report of it as HTML
//   append_entries_per_s   in memory: encode one audit record (a ~150-byte JCS entry like the
//                     certification entries) and add its leaf to the cached Merkle tree
//   at N entries (default 1 048 576; 65 536 with --quick):
//     build_tree_ms                 MerkleTree of N leaf hashes
//     inclusion_proof_us            PATH(i, D[N]) from the cached tree (i spread over the tree)
//     inclusion_proof_reference_ms  the same from the leaf vector (recomputes subtrees: O(N))
//     inclusion_verify_us           verify_inclusion of such a proof
//     consistency_proof_us, consistency_verify_us   PROOF(N/3, D[N]) from the cache, and its check
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/audit_log.hpp"
#include "policy/certificate.hpp"
#include "policy/merkle.hpp"
#include "policy/report.hpp"

using namespace stacklab::policy;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Seconds per call: median over `runs` runs, each repeating fn until min_seconds have passed.
template <typename F>
double time_per_call(F&& fn, int runs, double min_seconds) {
    fn();  // warm up
    long iters = 1;
    for (;;) {
        const auto t0 = Clock::now();
        for (long i = 0; i < iters; ++i) fn();
        const double s = seconds_since(t0);
        if (s >= min_seconds) break;
        iters = s <= 0 ? iters * 10 : std::max(iters + 1, long(double(iters) * min_seconds / s * 1.2));
    }
    std::vector<double> per;
    for (int r = 0; r < runs; ++r) {
        const auto t0 = Clock::now();
        for (long i = 0; i < iters; ++i) fn();
        per.push_back(seconds_since(t0) / double(iters));
    }
    std::sort(per.begin(), per.end());
    return per[per.size() / 2];
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error(path + ": cannot open file (run from the repository root)");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Keeps results observable so the optimizer cannot drop the work.
volatile std::size_t g_sink = 0;

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    std::string manifest_path = "models/deployments/warehouse-cell-tier2-pass.json";
    std::uint64_t n = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") quick = true;
        else if (a == "--manifest" && i + 1 < argc) manifest_path = argv[++i];
        else if (a == "--entries" && i + 1 < argc) n = std::stoull(argv[++i]);
        else {
            std::fprintf(stderr, "usage: stacklab-policy-bench [--quick] [--manifest FILE] [--entries N]\n");
            return 2;
        }
    }
    if (n == 0) n = quick ? (1u << 16) : (1u << 20);
    if (n < 3) n = 3;
    const int runs = quick ? 5 : 7;
    const double min_s = quick ? 0.005 : 0.05;
    try {
        json out = {{"runs", runs}, {"min_run_seconds", min_s}};

        // ---- certification end to end ----
        const std::string manifest = read_file(manifest_path);
        const Ed25519KeyPair key = ed25519_from_seed(from_hex_fixed<32>(std::string(64, '7'), "seed"));
        CertifyOptions opt;
        opt.now = "2025-06-01T00:00:00Z";
        opt.audit_log = true;
        std::string cert;
        const double certify_s = time_per_call(
            [&] {
                const json m = parse_manifest(manifest, manifest_path);
                std::vector<PolicyPack> packs;
                for (const auto& id : m.at("policies")) packs.push_back(find_pack(id.get<std::string>()));
                cert = certify(manifest, manifest_path, packs, key, opt).certificate;
                g_sink = g_sink + cert.size();
            },
            runs, min_s);
        const double verify_s = time_per_call(
            [&] {
                const VerifyResult r = verify_certificate(cert, key.public_key, "2025-07-01T00:00:00Z");
                if (!r.ok) throw std::runtime_error("verify: " + r.reason);
            },
            runs, min_s);
        const json parsed = json::parse(cert);
        const double report_s = time_per_call([&] { g_sink = g_sink + render_report(parsed, ReportFormat::html).size(); }, runs, min_s);
        out["certify"] = {{"manifest", manifest_path}, {"certificate_bytes", cert.size()}, {"certify_ms", certify_s * 1e3},
                          {"verify_ms", verify_s * 1e3}, {"report_html_ms", report_s * 1e3}};

        // ---- log append rate, in memory ----
        {
            const std::uint64_t batch = quick ? 20000 : 200000;
            std::vector<double> rates;
            for (int r = 0; r < runs; ++r) {
                std::string file = encode_log_header();
                file.reserve(batch * 230);
                MerkleTree tree;
                const auto t0 = Clock::now();
                for (std::uint64_t i = 0; i < batch; ++i) {
                    const std::string entry = "{\"certificate_sha256\":\"" + std::string(64, 'a') +
                                              "\",\"status\":\"certified\",\"subject\":\"entry-" + std::to_string(i) +
                                              "\",\"type\":\"certification\"}";
                    file += encode_record(RecordKind::entry, entry);
                    append_leaf(tree, leaf_hash(entry));
                }
                rates.push_back(double(batch) / seconds_since(t0));
                g_sink = g_sink + file.size();
            }
            std::sort(rates.begin(), rates.end());
            out["append"] = {{"entries_per_run", batch}, {"entries_per_s", rates[rates.size() / 2]},
                             {"what", "encode_record (length, kind, SHA-256 checksum) + leaf hash + cached tree update"}};
        }

        // ---- proofs at n entries ----
        std::vector<Hash> leaves;
        leaves.reserve(n);
        for (std::uint64_t i = 0; i < n; ++i) leaves.push_back(leaf_hash("entry " + std::to_string(i)));
        auto t0 = Clock::now();
        const MerkleTree tree = build_tree(leaves);
        const double build_s = seconds_since(t0);
        const Hash root = tree_root(tree, n);
        std::uint64_t idx = 0;
        auto next_index = [&] { return idx = (idx * 6364136223846793005ull + 1442695040888963407ull) % n; };
        std::vector<Hash> proof;
        const double incl_s = time_per_call([&] { proof = inclusion_proof(tree, next_index(), n); }, runs, min_s);
        const std::uint64_t vi = n / 2 + 1;
        proof = inclusion_proof(tree, vi, n);
        const double incl_verify_s = time_per_call(
            [&] {
                if (!verify_inclusion(vi, n, leaves[vi], proof, root)) throw std::runtime_error("inclusion proof rejected");
            },
            runs, min_s);
        // The reference recomputes about n hashes per proof: a few single runs, not the 50 ms loop.
        std::vector<double> ref;
        for (int r = 0; r < (quick ? 3 : 3); ++r) {
            t0 = Clock::now();
            const auto p = inclusion_proof(leaves, next_index(), n);
            ref.push_back(seconds_since(t0));
            g_sink = g_sink + p.size();
        }
        std::sort(ref.begin(), ref.end());
        if (inclusion_proof(leaves, vi, n) != proof) throw std::runtime_error("cached and reference proofs differ");
        const std::uint64_t old_size = n / 3;
        std::vector<Hash> cproof;
        const double cons_s = time_per_call([&] { cproof = consistency_proof(tree, old_size, n); }, runs, min_s);
        const Hash old_root = tree_root(tree, old_size);
        const double cons_verify_s = time_per_call(
            [&] {
                if (!verify_consistency(old_size, n, old_root, root, cproof)) throw std::runtime_error("consistency proof rejected");
            },
            runs, min_s);
        out["proofs"] = {{"entries", n},
                         {"build_tree_ms", build_s * 1e3},
                         {"inclusion_proof_hashes", proof.size()},
                         {"inclusion_proof_us", incl_s * 1e6},
                         {"inclusion_proof_reference_ms", ref[ref.size() / 2] * 1e3},
                         {"inclusion_verify_us", incl_verify_s * 1e6},
                         {"consistency_proof_hashes", cproof.size()},
                         {"consistency_proof_us", cons_s * 1e6},
                         {"consistency_verify_us", cons_verify_s * 1e6}};
        std::printf("%s\n", out.dump(2).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stacklab-policy-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
