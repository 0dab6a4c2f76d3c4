// `stacklab-gui`: the desktop shell. GLFW window + OpenGL 3.3 + Dear ImGui; everything it shows is
// drawn by ui/ from the core's results.
//   --frames N          render N frames (and on until no panel has work spread over frames left,
//                       e.g. the Models tab's evaluation), then exit (for tests and screenshots)
//   --screenshot FILE   with --frames: write the last frame as PNG
//   --width W --height H  window size in screen coordinates (default 1440x900)
//   --light             start with the light theme
//   --scenario Q        a scenario as in the browser's URL hash, e.g. "tab=llm&chip=nvidia-h100"
//   --onnx FILE         load FILE into the Models tab, as a file dropped on the window is
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

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
    std::string scenario;
    std::vector<std::string> onnx;
};

int usage(const char* problem) {
    std::fprintf(stderr,
                 "stacklab-gui: %s\nusage: stacklab-gui [--frames N] [--screenshot FILE.png] [--width W] "
                 "[--height H] [--light] [--scenario key=value&...] [--onnx FILE.onnx]\n",
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

// The bytes of a file the user named (path field, --onnx) or dropped: file I/O stays in the shell.
std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void load_file(stacklab::ui::AppState& state, const std::string& path) {
    try {
        stacklab::ui::load_user_model(state, path, read_bytes(path));
    } catch (const std::exception& e) {
        state.user_model_error = "Could not load " + path + ": " + e.what();
    }
}

// Files dropped on the window go to the Models tab, which opens.
void on_drop(GLFWwindow* window, int count, const char** paths) {
    auto* state = static_cast<stacklab::ui::AppState*>(glfwGetWindowUserPointer(window));
    if (!state) return;
    for (int i = 0; i < count; ++i) load_file(*state, paths[i]);
    state->requested_tab = "Models";
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
    if (!opt.scenario.empty()) {
        const std::string problem = stacklab::ui::apply_scenario(state, opt.scenario);
        if (!problem.empty()) std::fprintf(stderr, "stacklab-gui: %s\n", problem.c_str());
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

    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImGui::DestroyContext();
    glfwDestroyWindow(window);
    glfwTerminate();
    return status;
}
