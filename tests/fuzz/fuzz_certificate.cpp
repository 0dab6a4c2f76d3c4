// libFuzzer harness: the certificate verifier on arbitrary bytes. verify_certificate must never
// throw and must give a reason whenever it rejects; a certificate that parses also goes through
// the report renderer, which may only throw std::invalid_argument.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include "policy/certificate.hpp"
#include "policy/report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace policy = stacklab::policy;
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    const policy::VerifyResult r = policy::verify_certificate(bytes, std::nullopt, "2025-07-01T00:00:00Z");
    if (!r.ok && r.reason.empty()) std::abort();  // a rejection must say why
    if (r.certificate.is_object()) {
        for (auto format : {policy::ReportFormat::markdown, policy::ReportFormat::html}) {
            try {
                (void)policy::render_report(r.certificate, format);
            } catch (const std::invalid_argument&) {
            }
        }
    }
    return 0;
}
