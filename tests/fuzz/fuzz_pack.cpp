// libFuzzer harness: policy packs. parse_pack must accept or throw std::invalid_argument; an
// accepted pack is evaluated against a small evidence document and an empty one, and evaluate()
// must never throw (type errors and missing evidence fail the rule with a reason instead).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "policy/pack.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using stacklab::policy::PolicyPack;
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    PolicyPack pack;
    try {
        pack = stacklab::policy::parse_pack(bytes, "fuzz.json");
    } catch (const std::invalid_argument&) {
        return 0;
    }
    static const nlohmann::json evidence = nlohmann::json::parse(R"({
        "deployment": {"requested_tier": 2, "chips": [{"id": "a", "firmware": "1"}], "data": []},
        "declared": {"accuracy": {"fp32_top1_pct": 91.0, "per_chip": [{"chip": "a", "top1_pct": 90.5}]},
                     "agent": {"failure_modes": [{"mode": "x", "stop_ms": 10}], "stop_function": true}},
        "computed": {"chips": {"all_domestic": true, "per_chip": [{"id": "a", "action_latency_ms": 12.5}]},
                     "audit_log": {"enabled": false}}})");
    (void)stacklab::policy::evaluate({pack}, evidence);
    (void)stacklab::policy::evaluate({pack}, nlohmann::json::object());
    return 0;
}
