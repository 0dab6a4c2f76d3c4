// libFuzzer harness: deployment manifests. parse_manifest must accept or throw
// std::invalid_argument, never anything else; an accepted manifest goes on through
// gather_evidence (chip lookups, the latency estimate), which must not throw at all.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "policy/certificate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    nlohmann::json m;
    try {
        m = stacklab::policy::parse_manifest(bytes, "fuzz.json");
    } catch (const std::invalid_argument&) {
        return 0;
    }
    (void)stacklab::policy::gather_evidence(m, size % 2 == 0);
    return 0;
}
