// RFC 8785 JSON Canonicalization Scheme (JCS): the one byte sequence a JSON value signs as.
//
// Rules (RFC 8785 §3.2):
//   - no whitespace;
//   - literals null, true, false as is;
//   - strings: UTF-8, escaping only '"', '\\' and the controls U+0000..U+001F; \b \t \n \f \r use
//     their short forms, the other controls \u00xx with lowercase hex (§3.2.2.2);
//   - numbers: IEEE 754 doubles serialized exactly as ECMAScript's Number.prototype.toString
//     (§3.2.2.3, ECMA-262 Number::toString): the shortest digits that round-trip, plain notation
//     for 1e-7 < |x| < 1e21, exponent notation ("1e+30", "1e-27") otherwise, -0 as "0";
//     NaN and infinities are errors;
//   - object members sorted by their names compared as arrays of UTF-16 code units (§3.2.3),
//     which differs from UTF-8 byte order for characters above U+FFFF vs U+E000..U+FFFF.
// Integers in nlohmann::json are JSON numbers too: they are written as doubles, so an integer
// that a double cannot hold exactly (|n| > 2^53) is an error here rather than silently changed.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace stacklab::policy {

// The canonical form; throws std::invalid_argument for NaN/infinite numbers, integers beyond
// 2^53 and invalid UTF-8 in strings or names.
std::string canonicalize(const nlohmann::json& value);

// ECMAScript Number::toString(x) for a finite double (the JCS number form).
std::string format_number(double x);

// Parses JSON text strictly for signed documents: rejects duplicate member names (which
// nlohmann would silently collapse) and anything nlohmann rejects. `what` names the input.
nlohmann::json parse_json_strict(const std::string& text, const std::string& what);

}  // namespace stacklab::policy
