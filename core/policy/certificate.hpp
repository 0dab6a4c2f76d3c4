// Certification of a deployment: manifest -> evidence -> policy decision -> signed certificate,
// and the offline verifier.
//
// Deployment manifest (models/deployments/*.json), every field:
//   format          "stacklab-deployment/1"
//   name            string
//   requested_tier  1 | 2 | 3   (licensing tiers pack)
//   policies        [string]    ids of the policy packs to certify against (--policy overrides)
//   model           {"file": string, "sha256": 64 hex}   the model the certificate binds
//   quant           string      LLM quantization scheme name, as chip/llm.hpp parses it ("w8a8")
//   chips           [{"id": catalog id, "firmware": string}]   the certified chip list
//   cell            {"scenario": string, "action_latency_budget_ms": number}
//   workload        {"llm": id, "batch": n, "prompt": n, "output": n}  the planner model run per
//                   action, used for the latency estimate on each chip
//   data            [{"name": string, "sha256": 64 hex}]  the data manifest
//   evidence        object, free form: results the manifest *declares* (accuracy per chip, cell
//                   runs, failure-mode stop times, ...); they enter the evidence document under
//                   "declared" and are never presented as measured.
//   measure         optional object: what `stacklab certify --measure` runs (policy/measure.hpp);
//                   paths are relative to the working directory of the command:
//                     model_eval  {"model": ONNX path, "data": "fashion-mnist" | IDX directory,
//                                  "limit": n >= 0 (0: the whole test set)}
//                     cell        {"scenario": bundled id or path, "seeds": [n, ...]} run on every
//                                 certified chip
//
// Evidence document (what rules read):
//   deployment.*  the manifest's description (tier, model, chips, cell, workload, data)
//   declared.*    the manifest's evidence section, verbatim: supplied, not measured
//   measured.*    present only when measured records are given: records produced by running the
//                 model, the cell and the chip models (policy/measure.hpp), each with source
//                 "measured", function, command, parameters, input SHA-256s, method and value
//   computed.*    computed by StackLab during certification: chip catalog facts (origin "CN" =
//                 domestic), and a roofline *estimate* of the action latency per chip
//                 (chip/llm.hpp: TTFT + output x decode time; a lower bound on real time)
//   provenance    says the above in words, inside the signed certificate
//
// Certificate: one JSON object in RFC 8785 canonical form followed by "\n", with
//   format "stacklab-certificate/1", status "certified" | "refused", subject (manifest hash,
//   model hash, chips with firmware, tier), policies (id, version, sha256 of the pack file),
//   decision, verdicts (every rule with outcome and reasons), evidence, evidence_hashes (SHA-256
//   of the JCS of each evidence section), validity {not_before, not_after}, issuer {key_id,
//   public_key}, issued_by, and signature {"alg": "Ed25519", "value": hex} over the JCS of the
//   certificate without "signature".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/crypto.hpp"
#include "policy/pack.hpp"

namespace stacklab::policy {

struct DeploymentFile {
    std::string name, bytes;
};
// models/deployments/*.json, embedded at build time: example manifests (the playground's Certify
// panel offers them; the model and data they name are not shipped, their hashes are declared).
const std::vector<DeploymentFile>& bundled_deployment_files();

// Parses and validates a manifest; throws std::invalid_argument naming the file and field.
nlohmann::json parse_manifest(const std::string& json_bytes, const std::string& file_name);

// The evidence document for a manifest (see above). `audit_log` says whether the certification
// is recorded in an audit log (Tier 3 and EU AI Act Art. 12 rules read it).
// `measured`: an object of measured records by name ("model_eval", "cell", "convergence"), or an
// empty object; every record must have "source": "measured" and a "value" (std::invalid_argument
// otherwise).
nlohmann::json gather_evidence(const nlohmann::json& manifest, bool audit_log,
                               const nlohmann::json& measured = nlohmann::json::object());

// "2025-06-01T12:00:00Z" <-> seconds since 1970 (UTC, proleptic Gregorian); throws
// std::invalid_argument for any other form.
long long parse_utc(const std::string& iso8601);
std::string format_utc(long long seconds);

struct CertifyOptions {
    std::string now;            // ISO 8601 UTC: the issue time and start of validity
    int validity_days = 365;
    bool audit_log = false;
    std::string issued_by = "stacklab";
    nlohmann::json measured = nlohmann::json::object();  // measured records (see gather_evidence)
};

struct CertifyResult {
    std::string certificate;  // JCS + "\n", signed (also when refused: a signed record of the refusal)
    Decision decision;
};

CertifyResult certify(const std::string& manifest_bytes, const std::string& manifest_name,
                      const std::vector<PolicyPack>& packs, const Ed25519KeyPair& key, const CertifyOptions& opt);

struct VerifyResult {
    bool ok = false;       // signature, form, hashes, validity all good AND status "certified"
    std::string reason;    // the first check that failed, naming it ("signature: ...")
    std::vector<std::string> checks;  // the checks that passed, in order
    nlohmann::json certificate;       // parsed, when it parsed
};

// Verifies certificate bytes at time `now` (ISO 8601). With `public_key` the issuer must be that
// key; without, the key embedded in the certificate is used (and the result says so).
VerifyResult verify_certificate(const std::string& bytes, const std::optional<Ed25519PublicKey>& public_key,
                                const std::string& now);

// The audit log entry that records a certificate: JCS of {"certificate_sha256", "decision",
// "subject", "type": "certification"}.
std::string certificate_log_entry(const std::string& certificate_bytes);

}  // namespace stacklab::policy
