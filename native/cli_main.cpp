// `stacklab`: the command-line shell over the core. Built natively and, unchanged, to WebAssembly
// (build/wasm/stacklab-cli.js, run under node with the real file system), so both must print the
// same bytes. File I/O lives here, at the edge; the core only sees bytes.
//
// Every subcommand accepts --json and then prints exactly one JSON document on stdout.
// Errors go to stderr as "stacklab: <problem>" with exit code 1 (bad input) or 2 (bad usage).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"
#include "nn/node_test.hpp"
#include "robot/arm.hpp"
#include "robot/dynamics.hpp"
#include "robot/kinematics.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace stacklab;

namespace {

constexpr const char* kVersion = "0.1.0";

const char* kUsage =
    "usage: stacklab <command> [options] [--json]\n"
    "\n"
    "commands:\n"
    "  chips [--chips DIR]              list the chip catalog (bundled, or the *.json files in DIR)\n"
    "  chips show ID [--chips DIR]      one chip with every figure and its source\n"
    "  chips validate FILE...           check chip files against the catalog format\n"
    "  onnx-test DIR...                 run ONNX backend node tests (model.onnx + test_data_set_*/)\n"
    "  robot fk --arm ARM --q Q         flange pose for joint angles Q (rad, comma-separated)\n"
    "  robot ik --arm ARM --T T [--seed Q]\n"
    "                                   all closed-form IK solutions for the 4x4 row-major pose T\n"
    "                                   (16 comma-separated numbers), nearest to the seed first\n"
    "  robot id --arm ARM --q Q --qd QD --qdd QDD\n"
    "                                   joint torques (N m) by inverse dynamics, gravity 9.80665 along -z\n"
    "                                   ARM: a bundled id (ur5e, ur10e) or a path to an arm *.json file\n"
    "  version                          print the version\n"
    "  help                             this text\n"
    "\n"
    "--json prints one JSON document on stdout; errors always go to stderr with a non-zero exit code.\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Args {
    bool json = false;
    std::string chips_dir;
    std::map<std::string, std::string> values;  // --arm, --q, --qd, --qdd, --T, --seed
    std::vector<std::string> positional;
};

// Options that take one value (the robot commands).
const char* const kValueOptions[] = {"--arm", "--q", "--qd", "--qdd", "--T", "--seed"};

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--json") {
            a.json = true;
        } else if (s == "--chips") {
            if (i + 1 >= argc) throw UsageError("--chips needs a directory");
            a.chips_dir = argv[++i];
        } else if (std::find(std::begin(kValueOptions), std::end(kValueOptions), s) != std::end(kValueOptions)) {
            if (i + 1 >= argc) throw UsageError(s + " needs a value");
            a.values[s] = argv[++i];
        } else if (s == "-h" || s == "--help") {
            a.positional.insert(a.positional.begin(), "help");
        } else if (s.size() > 1 && s[0] == '-') {
            throw UsageError("unknown option " + s);
        } else {
            a.positional.push_back(s);
        }
    }
    return a;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(path + ": cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<chip::CatalogFile> catalog_files(const Args& a) {
    if (a.chips_dir.empty()) return chip::bundled_catalog_files();
    std::error_code ec;
    if (!fs::is_directory(a.chips_dir, ec)) throw InputError(a.chips_dir + ": not a directory");
    std::vector<std::string> paths;
    for (const auto& entry : fs::directory_iterator(a.chips_dir, ec))
        if (entry.path().extension() == ".json") paths.push_back(entry.path().string());
    if (ec) throw InputError(a.chips_dir + ": cannot list directory: " + ec.message());
    if (paths.empty()) throw InputError(a.chips_dir + ": no *.json chip files");
    std::sort(paths.begin(), paths.end());
    std::vector<chip::CatalogFile> files;
    for (const auto& p : paths) files.push_back({p, read_file(p)});
    return files;
}

int cmd_chips_list(const Args& a) {
    auto chips = chip::load_catalog(catalog_files(a));
    if (a.json) {
        std::cout << chip::catalog_json(chips) << "\n";
        return 0;
    }
    std::printf("%-20s %-34.34s %-18s %-18s %-18s %-14s\n", "id", "name", "int8_tops", "fp16_tflops",
                "memory_gbps", "tdp_w");
    for (const auto& c : chips)
        std::printf("%-20s %-34.34s %-18s %-18s %-18s %-14s\n", c.id.c_str(), c.name.c_str(),
                    chip::format_figure(c.figure("int8_tops")).c_str(), chip::format_figure(c.figure("fp16_tflops")).c_str(),
                    chip::format_figure(c.figure("memory_bandwidth_gbps")).c_str(), chip::format_figure(c.figure("tdp_w")).c_str());
    std::printf("\n[a-b]: range of public claims; (a): assumed; (r): reported only in news. 'stacklab chips show ID' lists the sources.\n");
    return 0;
}

int cmd_chips_show(const Args& a, const std::string& id) {
    auto chips = chip::load_catalog(catalog_files(a));
    for (const auto& c : chips) {
        if (c.id != id) continue;
        json doc = json::parse(chip::catalog_json({c}))["chips"][0];
        if (a.json) {
            std::cout << doc.dump(2) << "\n";
            return 0;
        }
        std::printf("%s — %s (%s, %s)\n%s\n\n", c.id.c_str(), c.name.c_str(), c.vendor.c_str(), c.segment.c_str(),
                    c.summary.c_str());
        for (const auto& key : chip::figure_keys()) {
            const chip::Figure& f = c.figure(key.name);
            std::printf("  %-22s %s\n", key.name, chip::format_figure(f).c_str());
            if (f.provenance == chip::Provenance::sourced)
                std::printf("  %-22s   source%s: %s\n", "", f.reported ? " (reported)" : "", f.source.c_str());
            for (const auto& cl : f.claims) {
                std::printf("  %-22s   claim %s%s: %s\n", "", chip::format_value(cl.value).c_str(), cl.reported ? " (reported)" : "",
                            cl.source.c_str());
            }
            if (!f.reason.empty()) std::printf("  %-22s   reason: %s\n", "", f.reason.c_str());
        }
        return 0;
    }
    throw InputError("no chip with id \"" + id + "\" in the catalog");
}

int cmd_chips_validate(const Args& a, const std::vector<std::string>& files) {
    if (files.empty()) throw UsageError("chips validate needs at least one FILE");
    json results = json::array();
    int failed = 0;
    for (const auto& path : files) {
        try {
            chip::ChipSpec c = chip::parse_chip(read_file(path), path);
            results.push_back({{"file", path}, {"ok", true}, {"id", c.id}});
            if (!a.json) std::printf("ok  %s (%s)\n", path.c_str(), c.id.c_str());
        } catch (const std::exception& e) {
            ++failed;
            results.push_back({{"file", path}, {"ok", false}, {"error", e.what()}});
            std::cerr << "stacklab: " << e.what() << "\n";
        }
    }
    if (a.json) std::cout << json{{"files", results}, {"failed", failed}}.dump(2) << "\n";
    return failed ? 1 : 0;
}

// Reads one ONNX backend node test folder: model.onnx and test_data_set_*/{input,output}_N.pb,
// numbered in order. Problems become a failed result naming the folder, never an abort.
nn::NodeTestResult run_onnx_test_dir(const std::string& dir) {
    std::string name = fs::path(dir).lexically_normal().filename().string();
    if (name.empty() || name == ".") name = fs::path(dir).lexically_normal().parent_path().filename().string();
    try {
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) throw InputError(dir + ": not a directory");
        const std::string model = read_file((fs::path(dir) / "model.onnx").string());
        std::vector<std::string> set_dirs;
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
                set_dirs.push_back(e.path().string());
        std::sort(set_dirs.begin(), set_dirs.end());
        if (set_dirs.empty()) throw InputError(dir + ": no test_data_set_* folders");
        std::vector<nn::NodeTestDataSet> sets;
        for (const auto& sd : set_dirs) {
            nn::NodeTestDataSet set;
            set.label = fs::path(sd).filename().string();
            for (const char* kind : {"input", "output"}) {
                auto& list = std::string(kind) == "input" ? set.input_pbs : set.output_pbs;
                for (int i = 0;; ++i) {
                    const fs::path f = fs::path(sd) / (std::string(kind) + "_" + std::to_string(i) + ".pb");
                    if (!fs::exists(f, ec)) break;
                    list.push_back(read_file(f.string()));
                }
            }
            sets.push_back(std::move(set));
        }
        return nn::run_node_test(name, model, sets);
    } catch (const std::exception& e) {
        nn::NodeTestResult r;
        r.name = name;
        r.passed = false;
        r.error = e.what();
        return r;
    }
}

int cmd_onnx_test(const Args& a, const std::vector<std::string>& dirs) {
    if (dirs.empty()) throw UsageError("onnx-test needs at least one test folder");
    json tests = json::array();
    int passed = 0, failed = 0;
    for (const auto& d : dirs) {
        const nn::NodeTestResult r = run_onnx_test_dir(d);
        (r.passed ? passed : failed)++;
        json t = {{"name", r.name}, {"passed", r.passed}, {"max_abs_err", r.max_abs_err}};
        if (!r.error.empty()) t["error"] = r.error;
        tests.push_back(t);
        if (!a.json) {
            if (r.passed)
                std::printf("PASS %-50s max_abs_err %g\n", r.name.c_str(), r.max_abs_err);
            else
                std::printf("FAIL %-50s %s\n", r.name.c_str(), r.error.c_str());
        }
        if (!r.passed) std::cerr << "stacklab: onnx-test " << r.name << " failed: " << r.error << "\n";
    }
    if (a.json)
        std::cout << json{{"tests", tests}, {"passed", passed}, {"failed", failed}}.dump(2) << "\n";
    else
        std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

// Robot commands. Numbers are printed with one fixed printf format so native and wasm (whose
// libm may differ from glibc's in the last bit of sin/cos) print the same bytes: 9 decimals is
// nanometres / nano-radians / nano-newton-metres, far below anything physical, far above 1 ulp.
std::string fixed(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9f", v);
    if (std::string(buf) == "-0.000000000") return "0.000000000";  // no "-0" from rounding noise
    return buf;
}

std::string fixed_list(const double* v, int n) {
    std::string s = "[";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + fixed(v[i]);
    return s + "]";
}

const std::string& need_value(const Args& a, const std::string& flag, const std::string& cmd) {
    auto it = a.values.find(flag);
    if (it == a.values.end()) throw UsageError(cmd + " needs " + flag);
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
                std::printf("  %13s %13s %13s %13s\n", fixed(t.R[3 * r]).c_str(), fixed(t.R[3 * r + 1]).c_str(),
                            fixed(t.R[3 * r + 2]).c_str(), fixed(t.p[r]).c_str());
            std::printf("position: %s %s %s\n", fixed(t.p[0]).c_str(), fixed(t.p[1]).c_str(), fixed(t.p[2]).c_str());
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
        if (a.values.count("--seed")) seed = parse_numbers("--seed", a.values.at("--seed"), n);
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

int run(int argc, char** argv) {
    Args a = parse_args(argc, argv);
    if (a.positional.empty()) throw UsageError("no command given");
    const std::string& cmd = a.positional[0];
    if (cmd == "help") {
        std::cout << kUsage;
        return 0;
    }
    if (cmd == "version") {
        if (a.json)
            std::cout << json{{"name", "stacklab"}, {"version", kVersion}}.dump(2) << "\n";
        else
            std::cout << "stacklab " << kVersion << "\n";
        return 0;
    }
    if (cmd == "chips") {
        const std::string sub = a.positional.size() > 1 ? a.positional[1] : "list";
        if (sub == "list") return cmd_chips_list(a);
        if (sub == "show") {
            if (a.positional.size() != 3) throw UsageError("chips show needs exactly one ID");
            return cmd_chips_show(a, a.positional[2]);
        }
        if (sub == "validate")
            return cmd_chips_validate(a, std::vector<std::string>(a.positional.begin() + 2, a.positional.end()));
        throw UsageError("unknown chips subcommand \"" + sub + "\"");
    }
    if (cmd == "robot") return cmd_robot(a);
    if (cmd == "onnx-test")
        return cmd_onnx_test(a, std::vector<std::string>(a.positional.begin() + 1, a.positional.end()));
    throw UsageError("unknown command \"" + cmd + "\"");
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "stacklab: " << e.what() << "\n" << kUsage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "stacklab: " << e.what() << "\n";
        return 1;
    }
}
