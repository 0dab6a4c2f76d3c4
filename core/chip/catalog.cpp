#include "chip/catalog.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

namespace stacklab::chip {

using nlohmann::json;

CatalogError::CatalogError(std::string file, std::string field, const std::string& problem)
    : std::runtime_error(file + ": " + (field.empty() ? std::string() : field + ": ") + problem),
      file_(std::move(file)),
      field_(std::move(field)) {}

const std::vector<FigureKey>& figure_keys() {
    static const std::vector<FigureKey> keys = {
        {"int8_tops", false},   {"fp16_tflops", false},  {"bf16_tflops", false},
        {"memory_type", true},  {"memory_gb", false},    {"memory_bandwidth_gbps", false},
        {"tdp_w", false},       {"cores", false},        {"process", true},
        {"release_year", false},
    };
    return keys;
}

const std::vector<FigureKey>& microarch_keys() {
    static const std::vector<FigureKey> keys = {
        {"matrix_cores", false},      {"vector_cores", false},      {"clock_mhz", false},
        {"matrix_shape_int8", true},  {"matrix_shape_fp16", true},  {"matrix_shape_bf16", true},
        {"vector_bytes_per_cycle", false}, {"l0a_kib", false},      {"l0b_kib", false},
        {"l0c_kib", false},           {"l1_kib", false},            {"ub_kib", false},
        {"l2_mib", false},            {"l2_bandwidth_gbps", false}, {"core_dma_bytes_per_cycle", false},
    };
    return keys;
}

const std::vector<FigureKey>& energy_keys() {
    static const std::vector<FigureKey> keys = {
        {"mac_int8_pj", false}, {"mac_fp16_pj", false}, {"mac_bf16_pj", false},
        {"vector_byte_pj", false}, {"l0_byte_pj", false}, {"l1_byte_pj", false},
        {"ub_byte_pj", false}, {"l2_byte_pj", false}, {"offchip_byte_pj", false},
    };
    return keys;
}

double Figure::number() const {
    if (!value || !std::holds_alternative<double>(*value))
        throw std::logic_error("figure has no numeric value");
    return std::get<double>(*value);
}

std::string Figure::text() const {
    if (!value) return {};
    if (!std::holds_alternative<std::string>(*value))
        throw std::logic_error("figure is numeric, not text");
    return std::get<std::string>(*value);
}

std::pair<double, double> Figure::range() const {
    if (provenance != Provenance::claims) return {number(), number()};
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& c : claims) {
        lo = std::min(lo, std::get<double>(c.value));
        hi = std::max(hi, std::get<double>(c.value));
    }
    return {lo, hi};
}

std::string format_value(const std::variant<double, std::string>& v) {
    if (std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", std::get<double>(v));
    return buf;
}

std::string format_figure(const Figure& f) {
    if (!f.known()) return "n/a";
    std::string s = format_value(*f.value);
    if (f.provenance == Provenance::claims && std::holds_alternative<double>(*f.value)) {
        auto [lo, hi] = f.range();
        s += " [" + format_value(lo) + "-" + format_value(hi) + "]";
    }
    if (f.provenance == Provenance::assumed) s += " (a)";
    if (f.provenance == Provenance::sourced && f.reported) s += " (r)";
    return s;
}

const Figure& ChipSpec::figure(const std::string& key) const {
    const auto& keys = figure_keys();
    for (size_t i = 0; i < keys.size(); ++i)
        if (key == keys[i].name) return figures.at(i);
    throw std::out_of_range("no chip figure named '" + key + "'");
}

namespace {
const Figure& keyed(const std::vector<FigureKey>& keys, const std::vector<Figure>& figs, const std::string& key,
                    const std::string& chip, const char* what) {
    if (figs.empty()) throw std::out_of_range("chip " + chip + " has no microarch description");
    for (size_t i = 0; i < keys.size(); ++i)
        if (key == keys[i].name) return figs.at(i);
    throw std::out_of_range(std::string("no ") + what + " figure named '" + key + "'");
}
}  // namespace

const Figure& ChipSpec::micro(const std::string& key) const {
    return keyed(microarch_keys(), microarch, key, id, "microarch");
}

const Figure& ChipSpec::energy_figure(const std::string& key) const {
    return keyed(energy_keys(), energy, key, id, "energy");
}

const char* provenance_name(Provenance p) {
    switch (p) {
        case Provenance::sourced: return "sourced";
        case Provenance::claims: return "claims";
        case Provenance::assumed: return "assumed";
        case Provenance::unknown: return "unknown";
    }
    return "unknown";
}

namespace {

// Reads one JSON object field by field, so each error names the exact path.
class Reader {
public:
    Reader(const json& obj, std::string file, std::string path)
        : obj_(obj), file_(std::move(file)), path_(std::move(path)) {
        if (!obj_.is_object()) fail("", "expected an object, found " + std::string(obj_.type_name()));
    }

    [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
        throw CatalogError(file_, key.empty() ? (path_.empty() ? "/" : path_) : path_ + "/" + key, problem);
    }

    bool has(const std::string& key) const { return obj_.contains(key); }

    const json& get(const std::string& key) const {
        seen_.insert(key);
        auto it = obj_.find(key);
        if (it == obj_.end()) fail(key, "required field is missing");
        return *it;
    }

    std::string string(const std::string& key) const {
        const json& v = get(key);
        if (!v.is_string()) fail(key, "expected a string, found " + std::string(v.type_name()));
        std::string s = v.get<std::string>();
        if (s.empty()) fail(key, "must not be empty");
        return s;
    }

    std::string optional_string(const std::string& key) const {
        return has(key) ? string(key) : std::string();
    }

    bool flag(const std::string& key) const {
        if (!has(key)) return false;
        const json& v = get(key);
        if (!v.is_boolean()) fail(key, "expected true or false, found " + std::string(v.type_name()));
        return v.get<bool>();
    }

    Reader child(const std::string& key) const { return Reader(get(key), file_, path_ + "/" + key); }

    // Every key present must have been read: unknown keys are typos until proven otherwise.
    void reject_unknown() const {
        for (auto it = obj_.begin(); it != obj_.end(); ++it)
            if (!seen_.count(it.key())) fail(it.key(), "unknown field");
    }

    const std::string& path() const { return path_; }
    const std::string& file() const { return file_; }

private:
    const json& obj_;
    std::string file_;
    std::string path_;
    mutable std::set<std::string> seen_;
};

std::variant<double, std::string> read_value(const Reader& r, const std::string& key, bool textual) {
    const json& v = r.get(key);
    if (textual) {
        if (!v.is_string() || v.get<std::string>().empty())
            r.fail(key, "expected a non-empty string, found " + std::string(v.type_name()));
        return v.get<std::string>();
    }
    if (!v.is_number()) r.fail(key, "expected a number, found " + std::string(v.type_name()));
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0) r.fail(key, "expected a finite number >= 0");
    return d;
}

Figure read_figure(const Reader& r, bool textual) {
    Figure f;
    f.note = r.optional_string("note");
    const bool assumed = r.flag("assumed");
    const bool unknown = r.flag("unknown");
    const bool has_claims = r.has("claims");
    const bool has_source = r.has("source");
    const int forms = int(assumed) + int(unknown) + int(has_claims) + int(has_source);
    if (forms != 1)
        r.fail("", "a figure needs exactly one of \"source\", \"claims\", \"assumed\": true or "
                   "\"unknown\": true");
    if (unknown) {
        f.provenance = Provenance::unknown;
        if (!r.get("value").is_null()) r.fail("value", "an unknown figure must have \"value\": null");
        f.reason = r.string("reason");
    } else {
        f.value = read_value(r, "value", textual);
        if (assumed) {
            f.provenance = Provenance::assumed;
            f.reason = r.string("reason");
        } else if (has_source) {
            f.provenance = Provenance::sourced;
            f.source = r.string("source");
            f.reported = r.flag("reported");
        } else {
            f.provenance = Provenance::claims;
            const json& arr = r.get("claims");
            if (!arr.is_array() || arr.size() < 2)
                r.fail("claims", "expected an array of at least two claims");
            for (size_t i = 0; i < arr.size(); ++i) {
                Reader c(arr[i], r.file(), r.path() + "/claims/" + std::to_string(i));
                Claim claim;
                claim.value = read_value(c, "value", textual);
                claim.source = c.string("source");
                claim.reported = c.flag("reported");
                c.reject_unknown();
                f.claims.push_back(std::move(claim));
            }
            if (!textual) {
                auto [lo, hi] = f.range();
                if (f.number() < lo || f.number() > hi)
                    r.fail("value", "the default value lies outside the claims' range");
            }
        }
    }
    r.reject_unknown();
    return f;
}

// Whole numbers print as integers so the JSON reads like the source ("2039", not "2039.0").
json number_json(double d) {
    if (std::floor(d) == d && std::fabs(d) < 9e15) return static_cast<long long>(d);
    return d;
}

json value_json(const std::variant<double, std::string>& v) {
    if (std::holds_alternative<double>(v)) return number_json(std::get<double>(v));
    return std::get<std::string>(v);
}

json figure_json(const Figure& f, bool textual) {
    json j;
    j["value"] = f.value ? value_json(*f.value) : json(nullptr);
    j["provenance"] = provenance_name(f.provenance);
    switch (f.provenance) {
        case Provenance::sourced:
            j["source"] = f.source;
            j["reported"] = f.reported;
            break;
        case Provenance::claims: {
            json claims = json::array();
            for (const auto& c : f.claims)
                claims.push_back({{"value", value_json(c.value)}, {"source", c.source}, {"reported", c.reported}});
            j["claims"] = claims;
            if (!textual) {
                auto [lo, hi] = f.range();
                j["range"] = {number_json(lo), number_json(hi)};
            }
            break;
        }
        case Provenance::assumed:
        case Provenance::unknown: j["reason"] = f.reason; break;
    }
    if (!f.note.empty()) j["note"] = f.note;
    return j;
}

std::string stem_of(const std::string& file_name) {
    auto slash = file_name.find_last_of("/\\");
    std::string base = slash == std::string::npos ? file_name : file_name.substr(slash + 1);
    const std::string ext = ".json";
    if (base.size() > ext.size() && base.compare(base.size() - ext.size(), ext.size(), ext) == 0)
        return base.substr(0, base.size() - ext.size());
    return base;
}

}  // namespace

ChipSpec parse_chip(const std::string& json_bytes, const std::string& file_name) {
    json doc;
    try {
        doc = json::parse(json_bytes);
    } catch (const json::parse_error& e) {
        // nlohmann's message already carries "line L, column C".
        std::string what = e.what();
        auto pos = what.find("parse error");
        throw CatalogError(file_name, "", "malformed JSON: " + (pos == std::string::npos ? what : what.substr(pos)));
    }
    Reader r(doc, file_name, "");
    ChipSpec chip;
    chip.id = r.string("id");
    static const std::regex id_re("[a-z0-9]+(-[a-z0-9]+)*");
    if (!std::regex_match(chip.id, id_re))
        r.fail("id", "must be lowercase letters, digits and single dashes, got \"" + chip.id + "\"");
    if (stem_of(file_name) != chip.id)
        r.fail("id", "\"" + chip.id + "\" does not match the file name (expected " + chip.id + ".json)");
    chip.name = r.string("name");
    chip.vendor = r.string("vendor");
    chip.origin = r.string("origin");
    static const std::regex origin_re("[A-Z]{2}");
    if (!std::regex_match(chip.origin, origin_re))
        r.fail("origin", "expected a two-letter country code such as \"CN\" or \"US\"");
    chip.segment = r.string("segment");
    static const std::set<std::string> segments = {"datacenter-training", "datacenter-inference", "edge"};
    if (!segments.count(chip.segment))
        r.fail("segment", "expected one of datacenter-training, datacenter-inference, edge; got \"" +
                              chip.segment + "\"");
    chip.summary = r.string("summary");
    Reader figs = r.child("figures");
    for (const auto& key : figure_keys()) chip.figures.push_back(read_figure(figs.child(key.name), key.textual));
    figs.reject_unknown();
    if (r.has("microarch")) {
        Reader ma = r.child("microarch");
        static const std::regex shape_re("[1-9][0-9]{0,4}x[1-9][0-9]{0,4}x[1-9][0-9]{0,4}");
        for (const auto& key : microarch_keys()) {
            Figure f = read_figure(ma.child(key.name), key.textual);
            const std::string at = "/microarch/" + std::string(key.name) + "/value";
            if (f.known() && key.textual && !std::regex_match(f.text(), shape_re))
                throw CatalogError(file_name, at, "expected a matrix shape \"MxKxN\" such as \"16x16x16\", got \"" + f.text() + "\"");
            // Everything here is a size, a count or a rate: zero would divide by zero later.
            if (f.known() && !key.textual) {
                for (double v : {f.range().first, f.number()})
                    if (!(v > 0)) throw CatalogError(file_name, at, "expected a number > 0");
                const std::string k = key.name;
                if ((k == "matrix_cores" || k == "vector_cores") && f.number() != std::floor(f.number()))
                    throw CatalogError(file_name, at, "expected a whole number of cores");
            }
            chip.microarch.push_back(std::move(f));
        }
        Reader en = ma.child("energy");
        for (const auto& key : energy_keys()) chip.energy.push_back(read_figure(en.child(key.name), key.textual));
        en.reject_unknown();
        ma.reject_unknown();
    }
    r.reject_unknown();
    const Figure& year = chip.figure("release_year");
    if (year.known() && (year.number() != std::floor(year.number()) || year.number() < 1990 || year.number() > 2100))
        throw CatalogError(file_name, "/figures/release_year/value", "expected a whole year between 1990 and 2100");
    return chip;
}

std::vector<ChipSpec> load_catalog(const std::vector<CatalogFile>& files) {
    std::vector<ChipSpec> chips;
    std::map<std::string, std::string> first_file;
    for (const auto& f : files) {
        ChipSpec chip = parse_chip(f.bytes, f.name);
        auto [it, fresh] = first_file.emplace(chip.id, f.name);
        if (!fresh) throw CatalogError(f.name, "/id", "duplicate id \"" + chip.id + "\", already defined in " + it->second);
        chips.push_back(std::move(chip));
    }
    std::sort(chips.begin(), chips.end(), [](const ChipSpec& a, const ChipSpec& b) { return a.id < b.id; });
    return chips;
}

std::string catalog_json(const std::vector<ChipSpec>& chips, int indent) {
    json list = json::array();
    for (const auto& c : chips) {
        json figs = json::object();
        const auto& keys = figure_keys();
        for (size_t i = 0; i < keys.size(); ++i) figs[keys[i].name] = figure_json(c.figures[i], keys[i].textual);
        json chip = {{"id", c.id},         {"name", c.name},       {"vendor", c.vendor}, {"origin", c.origin},
                     {"segment", c.segment}, {"summary", c.summary}, {"figures", figs}};
        if (c.has_microarch()) {
            json ma = json::object(), en = json::object();
            const auto& mk = microarch_keys();
            for (size_t i = 0; i < mk.size(); ++i) ma[mk[i].name] = figure_json(c.microarch[i], mk[i].textual);
            const auto& ek = energy_keys();
            for (size_t i = 0; i < ek.size(); ++i) en[ek[i].name] = figure_json(c.energy[i], ek[i].textual);
            ma["energy"] = en;
            chip["microarch"] = ma;
        }
        list.push_back(chip);
    }
    return json{{"chips", list}}.dump(indent);
}

}  // namespace stacklab::chip
