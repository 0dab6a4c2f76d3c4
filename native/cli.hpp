// The `stacklab` command-line shell, shared declarations. The CLI is built natively and, unchanged, to
// WebAssembly (build/wasm/stacklab-cli.js, run under node with the real file system), so both must
// print the same bytes. File I/O lives here, at the edge; the core only sees bytes.
//
// One file per capability (cli_chip.cpp, cli_kernels.cpp, cli_robot.cpp, ...) holds its commands;
// cli_main.cpp parses the arguments and dispatches. Every command accepts --json and then prints
// exactly one JSON document on stdout. Errors go to stderr as "stacklab: <problem>" with exit code
// 1 (bad input) or 2 (bad usage).
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "chip/catalog.hpp"
#include "nn/idx.hpp"

namespace stacklab::cli {

inline constexpr const char* kVersion = "0.1.0";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Args {
    bool json = false;
    std::string chips_dir;  // `chips`: a catalog folder; `llm` reads it as the number of chips (--chips N)
    std::map<std::string, std::string> options;  // --name value, for the names in value_options()
    std::set<std::string> flags;                 // --name, for the names in flag_options()
    std::map<std::string, std::vector<std::string>> lists;  // options that may repeat, every value in order
    std::vector<std::string> positional;

    bool has(const std::string& name) const { return options.count(name) > 0; }
    std::string get(const std::string& name, const std::string& fallback) const {
        auto it = options.find(name);
        return it == options.end() ? fallback : it->second;
    }
    bool flag(const std::string& name) const { return flags.count(name) > 0; }
};

// The whole file, or InputError naming the path.
std::string read_file(const std::string& path);

// Numbers from the command line, with a UsageError naming the option.
double parse_number(const std::string& option, const std::string& text);
int parse_count(const std::string& option, const std::string& text);  // a whole number >= 1
// "%.*f": the same text natively and in wasm for the same double.
std::string fixed(double v, int decimals);

// `--data`: "fashion-mnist" is the copy the build decompressed (CMakeLists.txt), any other value a
// directory holding the IDX files under their original names. load_split reads one split ("train",
// "t10k") from such a directory, load_test_split the t10k split of `--data` (cli_nn.cpp); errors
// name the file.
std::string dataset_dir(const std::string& data);
nn::ImageSet load_split(const std::string& dir, const std::string& split);
nn::ImageSet load_test_split(const std::string& data);

// The bundled catalog, or the *.json files of --chips DIR.
std::vector<chip::CatalogFile> catalog_files(const Args& a);
const chip::ChipSpec& find_chip(const std::vector<chip::ChipSpec>& chips, const std::string& id);

// Commands, one entry point per capability; each reads a.positional[1..] for its subcommand.
int cmd_chips(const Args& a);      // cli_chip.cpp
int cmd_simulate(const Args& a);   // cli_chip.cpp
int cmd_llm(const Args& a);        // cli_chip.cpp
int cmd_onnx_test(const Args& a);  // cli_kernels.cpp
int cmd_kernels(const Args& a);    // cli_kernels.cpp
int cmd_robot(const Args& a);      // cli_robot.cpp
int cmd_eval(const Args& a);       // cli_nn.cpp
int cmd_train(const Args& a);      // cli_nn.cpp
int cmd_quantize(const Args& a);   // cli_nn.cpp
int cmd_keygen(const Args& a);     // cli_policy.cpp
int cmd_certify(const Args& a);    // cli_policy.cpp
int cmd_verify(const Args& a);     // cli_policy.cpp
int cmd_policy(const Args& a);     // cli_policy.cpp
int cmd_audit(const Args& a);      // cli_policy.cpp

}  // namespace stacklab::cli
