#include "robot/arm.hpp"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

namespace stacklab::robot {

using nlohmann::json;

ArmError::ArmError(std::string file, std::string field, const std::string& problem)
    : std::invalid_argument(file + ": " + (field.empty() ? std::string() : field + ": ") + problem),
      file_(std::move(file)),
      field_(std::move(field)) {}

namespace {

constexpr double kDeg = kPi / 180.0;

bool finite3(const Vec3& v) { return std::isfinite(v[0]) && std::isfinite(v[1]) && std::isfinite(v[2]); }

// Positive semi-definite and the triangle inequality on the principal moments: what any real
// body satisfies (a tensor violating it has no mass distribution, and dynamics would go wrong).
std::string inertia_problem(const Mat3& I) {
    for (double v : I)
        if (!std::isfinite(v)) return "must be finite";
    const double ixx = I[0], iyy = I[4], izz = I[8], ixy = I[1], ixz = I[2], iyz = I[5];
    const double tol = 1e-12 * std::max({1.0, std::abs(ixx), std::abs(iyy), std::abs(izz)});
    if (ixx < -tol || iyy < -tol || izz < -tol) return "diagonal moments must be >= 0";
    const double m2 = ixx * iyy - ixy * ixy;
    const double det = ixx * (iyy * izz - iyz * iyz) - ixy * (ixy * izz - iyz * ixz) + ixz * (ixy * iyz - iyy * ixz);
    if (m2 < -tol * tol || det < -tol * tol * tol) return "must be positive semi-definite";
    // Triangle inequality on the diagonal (holds in any frame for about-COM tensors).
    if (ixx + iyy < izz - tol || ixx + izz < iyy - tol || iyy + izz < ixx - tol)
        return "violates the triangle inequality (ixx + iyy >= izz and permutations)";
    return {};
}

}  // namespace

ArmModel::ArmModel(std::string id, std::string name, std::vector<Link> links, double payload_kg,
                   const std::string& file)
    : id_(std::move(id)), name_(std::move(name)), links_(std::move(links)), payload_kg_(payload_kg) {
    if (links_.empty()) throw ArmError(file, "/joints", "an arm needs at least one joint");
    if (links_.size() > static_cast<size_t>(kMaxJoints))
        throw ArmError(file, "/joints", "at most " + std::to_string(kMaxJoints) + " joints are supported, got " +
                                            std::to_string(links_.size()));
    if (!std::isfinite(payload_kg_) || payload_kg_ < 0) throw ArmError(file, "/payload_kg", "must be a finite number >= 0");
    for (size_t i = 0; i < links_.size(); ++i) {
        const Link& l = links_[i];
        const std::string at = "/joints/" + std::to_string(i) + "/";
        auto need = [&](bool ok, const char* field, const char* problem) {
            if (!ok) throw ArmError(file, at + field, problem);
        };
        need(std::isfinite(l.a_m), "a_m", "must be finite");
        need(std::isfinite(l.alpha_rad), "alpha_deg", "must be finite");
        need(std::isfinite(l.d_m), "d_m", "must be finite");
        need(std::isfinite(l.theta_offset_rad), "theta_offset_deg", "must be finite");
        need(std::isfinite(l.mass_kg) && l.mass_kg >= 0, "mass_kg", "must be a finite number >= 0");
        need(finite3(l.com_m), "com_m", "must be three finite numbers");
        const std::string ip = inertia_problem(l.inertia_kgm2);
        if (!ip.empty()) throw ArmError(file, at + "inertia_kgm2", ip);
        need(std::isfinite(l.position_min_rad) && std::isfinite(l.position_max_rad) && l.position_min_rad < l.position_max_rad,
             "position_limit_deg", "must be finite [min, max] with min < max");
        need(std::isfinite(l.velocity_limit_rad_s) && l.velocity_limit_rad_s > 0, "velocity_limit_dps", "must be > 0");
        need(std::isfinite(l.torque_limit_nm) && l.torque_limit_nm > 0, "torque_limit_nm", "must be > 0");
        ca_.push_back(std::cos(l.alpha_rad));
        sa_.push_back(std::sin(l.alpha_rad));
    }
}

namespace {

struct Reader {
    const std::string& file;
    const std::set<std::string>& sources;

    [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
        throw ArmError(file, field, problem);
    }

    void only_keys(const json& obj, const std::string& at, std::initializer_list<const char*> keys) const {
        for (auto it = obj.begin(); it != obj.end(); ++it) {
            if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return it.key() == k; }))
                fail(at + "/" + it.key(), "unknown field");
        }
    }

    std::string text(const json& obj, const std::string& at, const char* key) const {
        if (!obj.contains(key)) fail(at + "/" + key, "missing");
        if (!obj[key].is_string()) fail(at + "/" + key, "must be a string");
        return obj[key].get<std::string>();
    }

    // The value of a FIGURE, checked for provenance.
    const json& figure(const json& obj, const std::string& at, const char* key) const {
        const std::string path = at + "/" + key;
        if (!obj.contains(key)) fail(path, "missing");
        const json& f = obj[key];
        if (!f.is_object()) fail(path, "must be an object {\"value\": ..., \"source\": ...}");
        only_keys(f, path, {"value", "source", "assumed", "reason", "note"});
        if (!f.contains("value")) fail(path + "/value", "missing");
        if (f.contains("source")) {
            if (f.contains("assumed")) fail(path, "a figure is either sourced or assumed, not both");
            if (!f["source"].is_string() || !sources.count(f["source"].get<std::string>()))
                fail(path + "/source", "must name a key of /sources");
        } else if (f.contains("assumed")) {
            if (f["assumed"] != true) fail(path + "/assumed", "must be true");
            if (!f.contains("reason") || !f["reason"].is_string() || f["reason"].get<std::string>().empty())
                fail(path + "/reason", "an assumed figure needs a reason");
        } else {
            fail(path, "needs a \"source\" (or \"assumed\": true with a \"reason\")");
        }
        if (f.contains("note") && !f["note"].is_string()) fail(path + "/note", "must be a string");
        return f["value"];
    }

    double number(const json& obj, const std::string& at, const char* key) const {
        const json& v = figure(obj, at, key);
        if (!v.is_number()) fail(at + "/" + key + "/value", "must be a number");
        return v.get<double>();
    }

    std::vector<double> numbers(const json& obj, const std::string& at, const char* key, size_t n) const {
        const json& v = figure(obj, at, key);
        const std::string path = at + "/" + key + "/value";
        if (!v.is_array() || v.size() != n) fail(path, "must be an array of " + std::to_string(n) + " numbers");
        std::vector<double> out;
        for (const auto& e : v) {
            if (!e.is_number()) fail(path, "must be an array of " + std::to_string(n) + " numbers");
            out.push_back(e.get<double>());
        }
        return out;
    }
};

}  // namespace

ArmModel parse_arm(const std::string& json_bytes, const std::string& file_name) {
    json doc;
    try {
        doc = json::parse(json_bytes);
    } catch (const json::parse_error& e) {
        throw ArmError(file_name, "", std::string("not valid JSON: ") + e.what());
    }
    if (!doc.is_object()) throw ArmError(file_name, "", "top level must be an object");
    std::set<std::string> source_keys;
    if (!doc.contains("sources") || !doc["sources"].is_object())
        throw ArmError(file_name, "/sources", "missing or not an object");
    for (auto it = doc["sources"].begin(); it != doc["sources"].end(); ++it) {
        if (!it.value().is_string() || it.value().get<std::string>().empty())
            throw ArmError(file_name, "/sources/" + it.key(), "must be a non-empty citation string");
        source_keys.insert(it.key());
    }
    Reader r{file_name, source_keys};
    r.only_keys(doc, "", {"id", "name", "convention", "sources", "payload_kg", "joints"});
    const std::string id = r.text(doc, "", "id");
    if (!std::regex_match(id, std::regex("[a-z0-9-]+"))) r.fail("/id", "must match [a-z0-9-]+");
    const std::string stem = id + ".json";
    if (file_name.size() < stem.size() || file_name.compare(file_name.size() - stem.size(), stem.size(), stem) != 0 ||
        (file_name.size() > stem.size() && file_name[file_name.size() - stem.size() - 1] != '/'))
        r.fail("/id", "\"" + id + "\" must equal the file name stem");
    const std::string name = r.text(doc, "", "name");
    if (doc.contains("convention") && !doc["convention"].is_string()) r.fail("/convention", "must be a string");
    const double payload = r.number(doc, "", "payload_kg");
    if (!doc.contains("joints") || !doc["joints"].is_array()) r.fail("/joints", "missing or not an array");

    std::vector<Link> links;
    for (size_t i = 0; i < doc["joints"].size(); ++i) {
        const json& j = doc["joints"][i];
        const std::string at = "/joints/" + std::to_string(i);
        if (!j.is_object()) r.fail(at, "must be an object");
        r.only_keys(j, at, {"name", "a_m", "alpha_deg", "d_m", "theta_offset_deg", "mass_kg", "com_m", "inertia_kgm2",
                            "position_limit_deg", "velocity_limit_dps", "torque_limit_nm"});
        Link l;
        l.name = r.text(j, at, "name");
        l.a_m = r.number(j, at, "a_m");
        l.alpha_rad = r.number(j, at, "alpha_deg") * kDeg;
        l.d_m = r.number(j, at, "d_m");
        l.theta_offset_rad = r.number(j, at, "theta_offset_deg") * kDeg;
        l.mass_kg = r.number(j, at, "mass_kg");
        const auto c = r.numbers(j, at, "com_m", 3);
        l.com_m = {c[0], c[1], c[2]};
        const auto in = r.numbers(j, at, "inertia_kgm2", 6);
        // [ixx, iyy, izz, ixy, ixz, iyz] -> symmetric row-major 3x3.
        l.inertia_kgm2 = {in[0], in[3], in[4], in[3], in[1], in[5], in[4], in[5], in[2]};
        const auto lim = r.numbers(j, at, "position_limit_deg", 2);
        l.position_min_rad = lim[0] * kDeg;
        l.position_max_rad = lim[1] * kDeg;
        l.velocity_limit_rad_s = r.number(j, at, "velocity_limit_dps") * kDeg;
        l.torque_limit_nm = r.number(j, at, "torque_limit_nm");
        links.push_back(std::move(l));
    }
    return ArmModel(id, name, std::move(links), payload, file_name);
}

ArmModel bundled_arm(const std::string& id) {
    std::string known;
    for (const auto& f : bundled_arm_files()) {
        if (f.name == "models/arms/" + id + ".json") return parse_arm(f.bytes, f.name);
        const auto slash = f.name.rfind('/');
        known += (known.empty() ? "" : ", ") + f.name.substr(slash + 1, f.name.size() - slash - 6);
    }
    throw std::invalid_argument("arm: no bundled arm \"" + id + "\" (known: " + known + ")");
}

}  // namespace stacklab::robot
