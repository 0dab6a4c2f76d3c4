// `stacklab-gui`: the desktop shell. GLFW window + OpenGL 3.3 + Dear ImGui; everything it shows is
// drawn by ui/ from the core's results.
//   --frames N          render N frames (and on until no panel has work spread over frames left,
//                       e.g. the Models tab's evaluation), then exit (for tests and screenshots)
//   --screenshot FILE   with --frames: write the last frame as PNG
//   --width W --height H  window size in screen coordinates (default 1440x900)
//   --light             start with the light theme
//   --scenario Q        a scenario as in the browser's URL hash, e.g. "tab=llm&chip=nvidia-h100"
//   --onnx FILE         load FILE into the Models tab, as a file dropped on the window is
//   --certificate FILE  verify FILE (a certificate .json) in the Certify tab, as a dropped .json is
//   --load FILE.json    start from a saved scenario (ui::apply_scenario_json; --scenario applies on top)
//   --save FILE.json    on exit (after --frames, or when the window closes) save the scenario shown
// The sidebar's Share section saves and loads the same JSON at a path typed there. A save writes
// FILE.tmp next to FILE, flushes it to disk and renames it over FILE, so a failed save leaves the
// old file as it was.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "ui/app.hpp"

namespace {

struct Options {
    long frames = -1;
    std::string screenshot;
    int width = 1440, height = 900;
    bool light = false;
    std::string scenario, load, save;
    std::vector<std::string> onnx;
    std::vector<std::string> certificates;
};

int usage(const char* problem) {
    std::fprintf(stderr,
                 "stacklab-gui: %s\nusage: stacklab-gui [--frames N] [--screenshot FILE.png] [--width W] "
                 "[--height H] [--light] [--scenario key=value&...] [--load FILE.json] [--save FILE.json] "
                 "[--onnx FILE.onnx] [--certificate FILE.json]\n",
                 problem);
    return 2;
}

bool save_png(const std::string& path, int w, int h) {
    std::vector<unsigned char> pixels(size_t(w) * size_t(h) * 4);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadBuffer(GL_BACK);
    glReadPixels(0, 0, w, h, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    // OpenGL's origin is bottom-left; PNG rows go top-down.
    const int stride = w * 4;
    return stbi_write_png(path.c_str(), w, h, 4, pixels.data() + size_t(h - 1) * size_t(stride), -stride) != 0;
}

// The scenario file's bytes; "" or the problem, naming the file.
std::string read_file(const std::string& path, std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return "cannot open " + path + ": " + std::strerror(errno);
    text.clear();
    char buf[65536];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    return failed ? "cannot read " + path : "";
}

// Write PATH.tmp, flush it to the disk, rename it over PATH (atomic on POSIX): PATH is either the old
// file or the new one, never half of one. "" or the problem, naming the file.
std::string write_file_atomic(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) return "cannot save " + path + ": cannot create " + tmp + ": " + std::strerror(errno);
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    int err = ok ? 0 : errno;
    if (std::fclose(f) != 0 && ok) ok = false, err = errno;
    if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = errno;
    if (!ok) {
        std::remove(tmp.c_str());  // ours: fopen created it
        return "cannot save " + path + ": " + std::strerror(err) + " (the old file, if any, is unchanged)";
    }
    return "";
}

// The bytes of a file the user named (path field, --onnx) or dropped: file I/O stays in the shell.
std::string read_bytes(const std::string& path) {
    std::string bytes;
    const std::string problem = read_file(path, bytes);
    if (!problem.empty()) throw std::runtime_error(problem);
    return bytes;
}

void load_file(stacklab::ui::AppState& state, const std::string& path) {
    try {
        stacklab::ui::load_user_model(state, path, read_bytes(path));
    } catch (const std::exception& e) {
        state.user_model_error = "Could not load " + path + ": " + e.what();
    }
}

// A certificate (.json) the user named or dropped: verified in the Certify tab, which opens.
void verify_file(stacklab::ui::AppState& state, const std::string& path) {
    std::string bytes;
    const std::string problem = read_file(path, bytes);
    if (problem.empty()) {
        stacklab::ui::verify_certificate_input(state, path, bytes);
    } else {
        stacklab::ui::CertifyTools& t = state.certify_tools;
        t.source = path;
        t.verified = true;
        t.result = stacklab::policy::VerifyResult();
        t.result.reason = problem;
        t.message = problem;  // read_file's problem names the file
    }
    state.requested_tab = "Certify";
}

bool is_json(const std::string& path) {
    return path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
}

// Files dropped on the window: a .json certificate goes to the Certify tab, anything else (an ONNX
// model) to the Models tab, which opens.
void on_drop(GLFWwindow* window, int count, const char** paths) {
    auto* state = static_cast<stacklab::ui::AppState*>(glfwGetWindowUserPointer(window));
    if (!state) return;
    for (int i = 0; i < count; ++i) {
        if (is_json(paths[i])) {
            verify_file(*state, paths[i]);
        } else {
            load_file(*state, paths[i]);
            state->requested_tab = "Models";
        }
    }
}

void glfw_error(int code, const char* what) { std::fprintf(stderr, "stacklab-gui: GLFW error %d: %s\n", code, what); }

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&](const char* name) -> const char* {
            if (i + 1 >= argc) {
                std::exit(usage((std::string(name) + " needs a value").c_str()));
            }
            return argv[++i];
        };
        if (a == "--frames") opt.frames = std::atol(next("--frames"));
        else if (a == "--screenshot") opt.screenshot = next("--screenshot");
        else if (a == "--width") opt.width = std::atoi(next("--width"));
        else if (a == "--height") opt.height = std::atoi(next("--height"));
        else if (a == "--light") opt.light = true;
        else if (a == "--scenario") opt.scenario = next("--scenario");
        else if (a == "--onnx") opt.onnx.push_back(next("--onnx"));
        else if (a == "--certificate") opt.certificates.push_back(next("--certificate"));
        else if (a == "--load") opt.load = next("--load");
        else if (a == "--save") opt.save = next("--save");
        else return usage(("unknown option " + a).c_str());
    }
    if (!opt.screenshot.empty() && opt.frames <= 0) return usage("--screenshot needs --frames N");
    if (opt.width < 320 || opt.height < 240) return usage("window must be at least 320x240");

    glfwSetErrorCallback(glfw_error);
    if (!glfwInit()) {
        std::fprintf(stderr, "stacklab-gui: cannot initialise GLFW (is there a display? try xvfb-run)\n");
        return 1;
    }
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
    glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GL_TRUE);
    GLFWwindow* window = glfwCreateWindow(opt.width, opt.height, "StackLab", nullptr, nullptr);
    if (!window) {
        std::fprintf(stderr, "stacklab-gui: cannot create an OpenGL 3.3 window\n");
        glfwTerminate();
        return 1;
    }
    glfwMakeContextCurrent(window);
    glfwSwapInterval(opt.frames > 0 ? 0 : 1);

    float xscale = 1.0f, yscale = 1.0f;
    glfwGetWindowContentScale(window, &xscale, &yscale);

    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    stacklab::ui::AppState state = stacklab::ui::make_app_state();
    state.dark_theme = !opt.light;
    state.read_file = read_bytes;
    // Files first: the scenario may name a loaded model (model=ID).
    for (const auto& path : opt.onnx) {
        load_file(state, path);
        if (!state.user_model_error.empty()) std::fprintf(stderr, "stacklab-gui: %s\n", state.user_model_error.c_str());
    }
    state.share.save = write_file_atomic;
    state.share.load = read_file;
    state.certify_tools.save = write_file_atomic;
    for (const auto& path : opt.certificates) verify_file(state, path);
    if (!opt.load.empty()) {
        std::string text;
        std::string problem = read_file(opt.load, text);
        if (!problem.empty()) state.scenario_error = problem = "Scenario file " + opt.load + ": " + problem;
        else problem = stacklab::ui::apply_scenario_json(state, text, opt.load);
        if (!problem.empty()) std::fprintf(stderr, "stacklab-gui: %s\n", problem.c_str());
        state.share.path = opt.load;
    }
    if (!opt.scenario.empty()) {
        const std::string loaded = state.scenario_error;  // the file's problems stay on the banner
        const std::string problem = stacklab::ui::apply_scenario(state, opt.scenario);
        if (!problem.empty()) std::fprintf(stderr, "stacklab-gui: %s\n", problem.c_str());
        if (!loaded.empty()) state.scenario_error = loaded + (problem.empty() ? "" : "\n" + problem);
    }
    stacklab::ui::setup_ui(state, xscale);
    ImGui_ImplGlfw_InitForOpenGL(window, true);
    glfwSetWindowUserPointer(window, &state);  // the ImGui backend keeps its data elsewhere
    glfwSetDropCallback(window, on_drop);      // which the backend does not install
    ImGui_ImplOpenGL3_Init("#version 330 core");

    int status = 0;
    for (long frame = 1; !glfwWindowShouldClose(window); ++frame) {
        glfwPollEvents();
        ImGui_ImplOpenGL3_NewFrame();
        ImGui_ImplGlfw_NewFrame();
        ImGui::NewFrame();
        stacklab::ui::draw_app(state);
        ImGui::Render();
        int fb_w = 0, fb_h = 0;
        glfwGetFramebufferSize(window, &fb_w, &fb_h);
        glViewport(0, 0, fb_w, fb_h);
        const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
        glClearColor(bg.x, bg.y, bg.z, 1.0f);
        glClear(GL_COLOR_BUFFER_BIT);
        ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
        if (opt.frames > 0 && frame >= opt.frames && !stacklab::ui::ui_busy(state)) {
            if (!opt.screenshot.empty() && !save_png(opt.screenshot, fb_w, fb_h)) {
                std::fprintf(stderr, "stacklab-gui: cannot write %s\n", opt.screenshot.c_str());
                status = 1;
            }
            std::printf("%s\n", stacklab::ui::ui_report_json(state).c_str());
            break;
        }
        glfwSwapBuffers(window);
    }
    if (!opt.save.empty()) {
        const std::string problem = write_file_atomic(opt.save, stacklab::ui::scenario_json(state).dump(2) + "\n");
        if (!problem.empty()) {
            std::fprintf(stderr, "stacklab-gui: %s\n", problem.c_str());
            status = 1;
        }
    }

    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImGui::DestroyContext();
    glfwDestroyWindow(window);
    glfwTerminate();
    return status;
}
