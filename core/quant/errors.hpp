// Private to core/quant: how its functions report bad arguments. Every message starts with
// "quant: " and names the parameter; numbers in messages use one fixed format ("%.9g") so the
// text is the same natively and in wasm.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

namespace stacklab::quant::detail {

[[noreturn]] inline void fail(const std::string& message) { throw std::invalid_argument("quant: " + message); }

inline std::string num(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

}  // namespace stacklab::quant::detail
