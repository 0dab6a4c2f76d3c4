// `stacklab robot`: forward and inverse kinematics and inverse dynamics of the bundled arms.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "native/cli.hpp"
#include "robot/arm.hpp"
#include "robot/dynamics.hpp"
#include "robot/kinematics.hpp"

namespace stacklab::cli {

using nlohmann::json;

namespace {

std::string fixed9(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9f", v);
    if (std::string(buf) == "-0.000000000") return "0.000000000";  // no "-0" from rounding noise
    return buf;
}

std::string fixed_list(const double* v, int n) {
    std::string s = "[";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + fixed9(v[i]);
    return s + "]";
}

const std::string& need_value(const Args& a, const std::string& flag, const std::string& cmd) {
    auto it = a.options.find(flag);
    if (it == a.options.end()) throw UsageError(cmd + " needs " + flag);
    return it->second;
}

// "1,2.5,-3" -> numbers; errors name the flag.
std::vector<double> parse_numbers(const std::string& flag, const std::string& text, size_t expected) {
    std::vector<double> out;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        char* end = nullptr;
        const double v = std::strtod(item.c_str(), &end);
        if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(v))
            throw InputError(flag + ": \"" + item + "\" is not a finite number");
        out.push_back(v);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (out.size() != expected)
        throw InputError(flag + ": expected " + std::to_string(expected) + " comma-separated numbers, got " +
                         std::to_string(out.size()));
    return out;
}

robot::ArmModel load_arm(const Args& a, const std::string& cmd) {
    const std::string& arm = need_value(a, "--arm", cmd);
    try {
        if (arm.size() > 5 && arm.compare(arm.size() - 5, 5, ".json") == 0) return robot::parse_arm(read_file(arm), arm);
        return robot::bundled_arm(arm);
    } catch (const InputError&) {
        throw;
    } catch (const std::exception& e) {
        throw InputError(std::string("--arm: ") + e.what());
    }
}

std::string pose_json_rows(const robot::Pose& t) {
    std::string s = "[";
    for (int r = 0; r < 4; ++r) {
        const double row[4] = {r < 3 ? t.R[3 * r] : 0.0, r < 3 ? t.R[3 * r + 1] : 0.0, r < 3 ? t.R[3 * r + 2] : 0.0,
                               r < 3 ? t.p[r] : 1.0};
        s += (r ? ", " : "") + fixed_list(row, 4);
    }
    return s + "]";
}

}  // namespace

int cmd_robot(const Args& a) {
    if (a.positional.size() != 2) throw UsageError("robot needs one subcommand: fk, ik or id");
    const std::string& sub = a.positional[1];
    const std::string cmd = "robot " + sub;
    if (sub != "fk" && sub != "ik" && sub != "id") throw UsageError("unknown robot subcommand \"" + sub + "\"");
    const robot::ArmModel arm = load_arm(a, cmd);
    const size_t n = static_cast<size_t>(arm.dof());
    robot::ArmData data(arm);
    if (sub == "fk") {
        const auto q = parse_numbers("--q", need_value(a, "--q", cmd), n);
        const robot::Pose t = robot::forward_kinematics(arm, data, q);
        if (a.json) {
            std::printf("{\n  \"T\": %s,\n  \"position\": %s\n}\n", pose_json_rows(t).c_str(), fixed_list(t.p.data(), 3).c_str());
        } else {
            std::printf("%s flange pose (base frame, m):\n", arm.id().c_str());
            for (int r = 0; r < 3; ++r)
                std::printf("  %13s %13s %13s %13s\n", fixed9(t.R[3 * r]).c_str(), fixed9(t.R[3 * r + 1]).c_str(),
                            fixed9(t.R[3 * r + 2]).c_str(), fixed9(t.p[r]).c_str());
            std::printf("position: %s %s %s\n", fixed9(t.p[0]).c_str(), fixed9(t.p[1]).c_str(), fixed9(t.p[2]).c_str());
        }
        return 0;
    }
    if (sub == "ik") {
        const auto m = parse_numbers("--T", need_value(a, "--T", cmd), 16);
        robot::Pose t;
        for (int r = 0; r < 3; ++r) {
            for (int c = 0; c < 3; ++c) t.R[3 * r + c] = m[4 * r + c];
            t.p[r] = m[4 * r + 3];
        }
        if (std::abs(m[12]) > 1e-9 || std::abs(m[13]) > 1e-9 || std::abs(m[14]) > 1e-9 || std::abs(m[15] - 1) > 1e-9)
            throw InputError("--T: the last row of a rigid transform must be 0,0,0,1");
        const robot::Mat3 rtr = robot::mul(robot::transpose(t.R), t.R);
        double off = 0;
        for (int i = 0; i < 9; ++i) off = std::max(off, std::abs(rtr[i] - (i % 4 == 0 ? 1.0 : 0.0)));
        const double det = t.R[0] * (t.R[4] * t.R[8] - t.R[5] * t.R[7]) - t.R[1] * (t.R[3] * t.R[8] - t.R[5] * t.R[6]) +
                           t.R[2] * (t.R[3] * t.R[7] - t.R[4] * t.R[6]);
        if (off > 1e-6 || det < 0) throw InputError("--T: the upper-left 3x3 block is not a rotation (orthonormal, det +1) within 1e-6");
        std::vector<double> seed;
        if (a.has("--seed")) seed = parse_numbers("--seed", a.options.at("--seed"), n);
        if (!robot::is_ur_type(arm)) throw InputError("--arm: " + arm.id() + " has no UR-type wrist; the closed-form IK needs one");
        const auto sols = robot::ik_ur(arm, t, seed);
        if (a.json) {
            std::printf("{\n  \"solutions\": [");
            for (size_t i = 0; i < sols.size(); ++i)
                std::printf("%s\n    %s", i ? "," : "", fixed_list(sols[i].data(), static_cast<int>(n)).c_str());
            std::printf("%s]\n}\n", sols.empty() ? "" : "\n  ");
        } else {
            std::printf("%zu solution%s (rad), nearest to the seed first:\n", sols.size(), sols.size() == 1 ? "" : "s");
            for (const auto& s : sols) std::printf("  %s\n", fixed_list(s.data(), static_cast<int>(n)).c_str());
        }
        return 0;
    }
    const auto q = parse_numbers("--q", need_value(a, "--q", cmd), n);
    const auto qd = parse_numbers("--qd", need_value(a, "--qd", cmd), n);
    const auto qdd = parse_numbers("--qdd", need_value(a, "--qdd", cmd), n);
    const auto& tau = robot::rnea(arm, data, q, qd, qdd);
    if (a.json)
        std::printf("{\n  \"tau\": %s\n}\n", fixed_list(tau.data(), static_cast<int>(n)).c_str());
    else
        std::printf("tau (N m): %s\n", fixed_list(tau.data(), static_cast<int>(n)).c_str());
    return 0;
}

}  // namespace stacklab::cli
