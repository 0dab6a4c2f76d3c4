#include "policy/jcs.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace stacklab::policy {
namespace {

// UTF-8 -> UTF-16 code units, for ordering member names (RFC 8785 §3.2.3).
std::u16string utf16_units(const std::string& s) {
    std::u16string out;
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        std::uint32_t cp = 0;
        int extra = 0;
        if (c < 0x80) { cp = c; }
        else if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; extra = 1; }
        else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; extra = 2; }
        else if ((c & 0xF8) == 0xF0) { cp = c & 0x07; extra = 3; }
        else throw std::invalid_argument("JCS: invalid UTF-8 in a member name");
        for (int k = 1; k <= extra; ++k) {
            if (i + k >= s.size()) throw std::invalid_argument("JCS: truncated UTF-8 in a member name");
            const unsigned char cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) throw std::invalid_argument("JCS: invalid UTF-8 in a member name");
            cp = (cp << 6) | (cc & 0x3F);
        }
        i += 1 + extra;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            out.push_back(char16_t(0xD800 + (cp >> 10)));
            out.push_back(char16_t(0xDC00 + (cp & 0x3FF)));
        } else {
            out.push_back(char16_t(cp));
        }
    }
    return out;
}

void write_string(const std::string& s, std::string& out) {
    // nlohmann validates UTF-8 when it parses; strings built in code are checked by the same
    // serializer (it throws on invalid UTF-8), so only the escaping rules are ours.
    try {
        (void)nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    } catch (const nlohmann::json::exception&) {
        throw std::invalid_argument("JCS: a string is not valid UTF-8");
    }
    out.push_back('"');
    for (const char ch : s) {
        const unsigned char c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\f': out += "\\f"; break;
            case '\r': out += "\\r"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(c));
                    out += buf;
                } else {
                    out.push_back(ch);
                }
        }
    }
    out.push_back('"');
}

// 2^53: the largest range in which a double holds every integer (compared as integers, since
// converting first would round 2^53 + 1 down to 2^53).
constexpr std::int64_t kMaxExactInteger = std::int64_t(1) << 53;

void write_value(const nlohmann::json& v, std::string& out) {
    using nlohmann::json;
    switch (v.type()) {
        case json::value_t::null: out += "null"; return;
        case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return;
        case json::value_t::string: write_string(v.get_ref<const std::string&>(), out); return;
        case json::value_t::number_integer: {
            const auto n = v.get<std::int64_t>();
            if (n > kMaxExactInteger || n < -kMaxExactInteger)
                throw std::invalid_argument("JCS: integer " + std::to_string(n) + " is beyond 2^53 (not exact as a double)");
            out += format_number(double(n));
            return;
        }
        case json::value_t::number_unsigned: {
            const auto n = v.get<std::uint64_t>();
            if (n > std::uint64_t(kMaxExactInteger))
                throw std::invalid_argument("JCS: integer " + std::to_string(n) + " is beyond 2^53 (not exact as a double)");
            out += format_number(double(n));
            return;
        }
        case json::value_t::number_float: out += format_number(v.get<double>()); return;
        case json::value_t::array: {
            out.push_back('[');
            bool first = true;
            for (const auto& e : v) {
                if (!first) out.push_back(',');
                first = false;
                write_value(e, out);
            }
            out.push_back(']');
            return;
        }
        case json::value_t::object: {
            std::vector<std::pair<std::u16string, const std::string*>> keys;
            for (auto it = v.begin(); it != v.end(); ++it) keys.emplace_back(utf16_units(it.key()), &it.key());
            std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
            out.push_back('{');
            bool first = true;
            for (const auto& k : keys) {
                if (!first) out.push_back(',');
                first = false;
                write_string(*k.second, out);
                out.push_back(':');
                write_value(v.at(*k.second), out);
            }
            out.push_back('}');
            return;
        }
        case json::value_t::binary:
        case json::value_t::discarded: break;
    }
    throw std::invalid_argument("JCS: value has no JSON form");
}

// Decimal digits and exponent of the shortest representation that reads back as x (x > 0):
// x == 0.d1d2...dk * 10^n. Tries k = 1..17 significant digits. For each k, printf's correctly
// rounded k-digit value is the k-digit decimal nearest x, so when it reads back as x it is the
// answer ECMA-262 Number::toString asks for (fewest digits, then nearest). Near powers of two
// the round-trip interval is lopsided: the nearest k-digit value may miss while the neighbour
// one unit in the last place away still hits, which is then the only k-digit hit.
// Only exact integer and correctly rounded printf/strtod steps: identical natively and in wasm.
void shortest_digits(double x, std::string& digits, int& n) {
    char buf[64];
    for (int k = 1; k <= 17; ++k) {
        std::snprintf(buf, sizeof buf, "%.*e", k - 1, x);
        // buf: d[.ddd]e[+-]XX
        std::string mant;
        const char* p = buf;
        for (; *p && *p != 'e'; ++p)
            if (*p != '.') mant.push_back(*p);
        const int exp10 = std::atoi(p + 1);
        const long long s = std::atoll(mant.c_str());
        for (long long cand : {s, s - 1, s + 1}) {
            if (cand <= 0) continue;
            std::snprintf(buf, sizeof buf, "%llde%d", cand, exp10 - (k - 1));
            if (std::strtod(buf, nullptr) != x) continue;
            // x == cand * 10^(exp10 - (k-1)); cand may have k+1 digits (99 + 1) or k-1 (10 - 1).
            digits = std::to_string(cand);
            n = exp10 - (k - 1) + int(digits.size());
            while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
            return;
        }
    }
    // %.17e always round-trips, so the loop returns; keep the compiler and reader sure.
    throw std::logic_error("JCS: no round-trip representation found");
}

}  // namespace

std::string format_number(double x) {
    if (!std::isfinite(x)) throw std::invalid_argument("JCS: NaN and infinity have no JSON form");
    if (x == 0) return "0";  // +0 and -0 (ECMA-262: -0 prints as "0")
    std::string out;
    if (x < 0) {
        out.push_back('-');
        x = -x;
    }
    std::string d;
    int n = 0;
    shortest_digits(x, d, n);
    const int k = int(d.size());
    if (k <= n && n <= 21) {
        out += d;
        out.append(std::size_t(n - k), '0');
    } else if (0 < n && n <= 21) {
        out += d.substr(0, std::size_t(n));
        out.push_back('.');
        out += d.substr(std::size_t(n));
    } else if (-6 < n && n <= 0) {
        out += "0.";
        out.append(std::size_t(-n), '0');
        out += d;
    } else {
        out.push_back(d[0]);
        if (k > 1) {
            out.push_back('.');
            out += d.substr(1);
        }
        out.push_back('e');
        out.push_back(n - 1 >= 0 ? '+' : '-');
        out += std::to_string(std::abs(n - 1));
    }
    return out;
}

std::string canonicalize(const nlohmann::json& value) {
    std::string out;
    write_value(value, out);
    return out;
}

nlohmann::json parse_json_strict(const std::string& text, const std::string& what) {
    using nlohmann::json;
    // The parser callback sees each member name as it is read; a name seen twice in the same
    // object is an error, because two readers could take different values from it.
    std::vector<std::vector<std::string>> seen;
    std::string duplicate;
    json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start: seen.emplace_back(); break;
            case json::parse_event_t::object_end: if (!seen.empty()) seen.pop_back(); break;
            case json::parse_event_t::key: {
                const std::string& k = parsed.get_ref<const std::string&>();
                auto& names = seen.back();
                if (std::find(names.begin(), names.end(), k) != names.end() && duplicate.empty()) duplicate = k;
                names.push_back(k);
                break;
            }
            default: break;
        }
        return true;
    };
    json j;
    try {
        j = json::parse(text, cb);
    } catch (const json::exception& e) {
        // parse_error, and out_of_range for a number beyond a double ("1e999"): both bad input.
        throw std::invalid_argument(what + ": malformed JSON: " + e.what());
    }
    if (!duplicate.empty()) throw std::invalid_argument(what + ": duplicate member name \"" + duplicate + "\"");
    return j;
}

}  // namespace stacklab::policy
