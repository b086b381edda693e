// Finds, dlopens and binds the CUDA runtime, cuBLAS and cuDNN (see loader.h for the search
// order), and explains every failure: which files were tried, what dlerror() said for each, and
// how to fix it.
//
// Design notes (the why):
//  - RTLD_NOW | RTLD_LOCAL: unresolved symbols fail here, with a message, instead of killing the
//    process at a first call; LOCAL keeps these libraries' symbols out of the global namespace so
//    they cannot capture symbols of another CUDA copy in the process (e.g. PyTorch's, via Node).
//  - Companion libraries. dlopen("/dir/libcublas.so.12") loads the file but resolves its
//    DT_NEEDED libcublasLt.so.12 through the normal search, which does not include /dir. The
//    dynamic linker reuses an already-loaded object whose DT_SONAME equals a requested name,
//    whatever flags it was opened with, so we first dlopen /dir/libcublasLt.so.12 by full path.
//    cuDNN is the same, more so: libcudnn.so.9 is a small dispatcher that dlopens its
//    sub-libraries (libcudnn_graph.so.9, libcudnn_ops.so.9, libcudnn_cnn.so.9,
//    libcudnn_engines_precompiled.so.9, ...; the set grows between 9.x releases) by bare soname
//    at run time, found only through its RUNPATH (pip's x86-64 wheels set $ORIGIN; other builds
//    may not), LD_LIBRARY_PATH or the system paths; cuDNN 8's libcudnn.so.8 does the same with
//    libcudnn_{ops,cnn,adv}_{infer,train}.so.8. Loading from a folder therefore preloads, by full
//    path, every libcudnn_*.so.<major> in that folder (repeating passes until no more load,
//    since they depend on each other). This is what PyTorch's and ONNX Runtime's preloaders do.
//  - cuDNN decides the CUDA major. Its main library needs nothing else to load, so it is chosen
//    first; then the cuBLAS (cuDNN 8's sub-libraries link libcublasLt.so.<major>) and NVRTC (which
//    cuDNN 9 dlopens for its runtime-compiled engines) built for cuDNN's CUDA major
//    (cudnnGetCudartVersion) are loaded, from cuDNN's own folder first, and only then its
//    sub-libraries. A cuBLAS of another major is used only when none matches, with a note.
//  - Version/driver fit: when the driver is known (cudaDriverGetVersion > 0), a library built for
//    a newer CUDA major than the driver supports (e.g. libcublas.so.13 on a CUDA 12 driver) is
//    skipped in favour of a later candidate (libcublas.so.12); if no candidate fits, the first one
//    found is used anyway, so the error surfaces at the first call with CUDA's own message.
//  - Python environments are found by globbing their prefixes; python3 is run only when
//    LENET_CUDA_PYTHON=1 (starting it on the JS thread cost ~200 ms on every probe).
//  - Loaded libraries are never dlclose'd (CUDA libraries register atexit work and threads).
//    Candidates that are rejected (a missing function, a driver mismatch) are closed at once, so
//    their sonames do not shadow the next candidate's sub-libraries.
//  - Success is published through an atomic pointer: after the first load, cudart() & co cost
//    one acquire load. A failure is remembered (no rescans on every call) until
//    set_search_dirs() changes the configuration.
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <glob.h>
#include <link.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "../device.h"

namespace lenet::cuda {
namespace {

constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL;

// ---------------------------------------------------------------------------------------------
// Small file-system and string helpers.
// ---------------------------------------------------------------------------------------------

std::string getenv_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& path) {
  struct stat st;  // stat follows symlinks: libfoo.so.12 -> libfoo.so.12.4.5 counts
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string canonical(const std::string& path) {
  char* real = ::realpath(path.c_str(), nullptr);
  if (!real) return path;
  std::string out(real);
  std::free(real);
  return out;
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

/// The folders matching a glob(3) pattern, sorted (glob sorts).
std::vector<std::string> glob_dirs(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g;
  std::memset(&g, 0, sizeof g);
  if (::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      if (is_dir(g.gl_pathv[i])) out.emplace_back(g.gl_pathv[i]);
    }
  }
  ::globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

/// File names in `dir` (not recursive); empty when unreadable.
std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) out.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string last_dlerror(const char* fallback) {
  const char* e = ::dlerror();
  return e ? std::string(e) : std::string(fallback);
}

/// The full path the dynamic linker loaded `handle` from.
std::string loaded_path(void* handle, const std::string& fallback) {
  struct link_map* lm = nullptr;
  if (::dlinfo(handle, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && lm->l_name[0]) {
    return canonical(lm->l_name);
  }
  return fallback;
}

// ---------------------------------------------------------------------------------------------
// Configuration: folders set programmatically, and a generation counter that invalidates
// remembered failures when it changes.
// ---------------------------------------------------------------------------------------------

std::mutex g_config_mu;
std::vector<std::string> g_search_dirs;
std::atomic<unsigned> g_config_generation{0};

std::vector<std::string> configured_dirs() {
  std::lock_guard<std::mutex> lock(g_config_mu);
  return g_search_dirs;
}

// ---------------------------------------------------------------------------------------------
// Python site-packages discovery (stage d).
// ---------------------------------------------------------------------------------------------

/// The prefixes Python environments live under, found without running anything: the folder
/// above every `bin/` on PATH that holds a python3 (a virtualenv's or conda env's prefix, as
/// sys.prefix would say, even when it is not activated), $VIRTUAL_ENV, $CONDA_PREFIX, and the
/// usual system, user and /opt locations.
std::vector<std::string> python_prefixes() {
  std::vector<std::string> out;
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    const std::string prefix = getenv_str(var);
    if (!prefix.empty()) out.push_back(prefix);
  }
  for (const auto& dir : split(getenv_str("PATH"), ':')) {
    if (is_file(join(dir, "python3")) && ends_with(dir, "/bin")) {
      out.push_back(dir.substr(0, dir.size() - 4));
    }
  }
  for (const char* fixed : {"/usr", "/usr/local", "/opt/conda"}) out.emplace_back(fixed);
  const std::string home = getenv_str("HOME");
  if (!home.empty()) {
    out.push_back(home + "/.local");
    for (auto& d : glob_dirs(home + "/.pyenv/versions/*")) out.push_back(std::move(d));
    for (auto& d : glob_dirs(home + "/*conda*")) out.push_back(std::move(d));
  }
  for (auto& d : glob_dirs("/opt/*/.venv")) out.push_back(std::move(d));
  for (auto& d : glob_dirs("/opt/*")) out.push_back(std::move(d));
  return out;
}

/// site-packages folders of those prefixes (lib/python3.X/{site,dist}-packages), each once.
std::vector<std::string> globbed_site_packages() {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& prefix : python_prefixes()) {
    for (const char* kind : {"site-packages", "dist-packages"}) {
      for (auto& d : glob_dirs(join(prefix, std::string("lib/python3*/") + kind))) {
        if (seen.insert(canonical(d)).second) out.push_back(std::move(d));
      }
    }
  }
  return out;
}

/// site-packages folders as the `python3` on PATH reports them (its sys.path): only when
/// LENET_CUDA_PYTHON=1 asks for it, since it starts an interpreter (about 200 ms, on the calling
/// thread). python_prefixes() finds the same folders in every common layout without it.
std::vector<std::string> python_reported_site_packages(std::string* note) {
  static std::mutex mu;
  static bool done = false;
  static std::vector<std::string> cached;
  static std::string cached_note;
  std::lock_guard<std::mutex> lock(mu);
  const std::string on = getenv_str("LENET_CUDA_PYTHON");
  if (on.empty() || on == "0") {
    if (note) *note = "python3 not asked for its site-packages (set LENET_CUDA_PYTHON=1 to ask it)";
    return {};
  }
  if (!done) {
    done = true;
    // stderr silenced (no python3 is a normal outcome); popen's shell finds python3 on PATH.
    const char* cmd =
        "python3 -c \"import sys; print('\\n'.join(p for p in sys.path "
        "if p.endswith(('site-packages', 'dist-packages'))))\" 2>/dev/null";
    if (FILE* f = ::popen(cmd, "r")) {
      char line[4096];
      while (std::fgets(line, sizeof line, f)) {
        std::string s(line);
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        if (!s.empty() && is_dir(s)) cached.push_back(s);
      }
      const int rc = ::pclose(f);
      cached_note = rc == 0 ? "asked python3 for its site-packages (LENET_CUDA_PYTHON=1)"
                            : "python3 is not available to ask for its site-packages";
    } else {
      cached_note = std::string("could not run python3: ") + std::strerror(errno);
    }
  }
  if (note) *note = cached_note;
  return cached;
}

/// The library folders under one site-packages: nvidia/<pkg>/lib (cu12 wheels:
/// nvidia/cudnn/lib, nvidia/cublas/lib, nvidia/cuda_runtime/lib; cu13 wheels: nvidia/cu13/lib,
/// cuDNN keeping nvidia/cudnn/lib) and torch/lib (PyTorch builds that bundle the libraries).
/// `preferred` (e.g. "cudnn") comes first, the rest in name order.
std::vector<std::string> nvidia_lib_dirs(const std::string& site, const char* preferred) {
  std::vector<std::string> dirs = glob_dirs(join(site, "nvidia/*/lib"));
  if (preferred) {
    const std::string want = join(site, std::string("nvidia/") + preferred + "/lib");
    std::stable_partition(dirs.begin(), dirs.end(),
                          [&](const std::string& d) { return d == want; });
  }
  const std::string torch = join(site, "torch/lib");
  if (is_dir(torch)) dirs.push_back(torch);
  return dirs;
}

// ---------------------------------------------------------------------------------------------
// Candidates and the generic loading loop.
// ---------------------------------------------------------------------------------------------

/// What to load and how to explain failures.
struct LibSpec {
  const char* title;           // "cuDNN (libcudnn)"
  const char* stem;            // "libcudnn.so"
  std::vector<int> majors;     // newest first: {9, 8}
  const char* companion_stem;  // "libcublasLt.so" for cuBLAS, else nullptr
  bool preload_cudnn_sublibs;  // libcudnn_*.so.<major> from the same folder, once accepted
  const char* pip_package;     // nvidia/<pip_package>/lib is searched first; nullptr: no stage (d)
  const char* fix;             // how to install it
};

/// One place to try: a full path (dir non-empty) or a bare soname for the system search.
struct Candidate {
  std::string stage;    // "(a) $LENET_CUDA_LIBS", ...
  std::string dir;      // empty for the system search
  std::string name;     // libcudnn.so.9
  std::string outcome;  // when non-empty: nothing to load here, and this says why
  std::string target() const { return dir.empty() ? name : join(dir, name); }
};

/// A loaded candidate and the companions loaded for it (closed together on rejection).
struct Opened {
  void* handle = nullptr;
  std::string path;
  std::vector<void*> companions;
  void close() {
    if (handle) ::dlclose(handle);
    for (auto it = companions.rbegin(); it != companions.rend(); ++it) ::dlclose(*it);
    handle = nullptr;
    companions.clear();
  }
};

std::vector<std::string> sonames(const LibSpec& spec) {
  std::vector<std::string> out;
  for (int m : spec.majors) out.push_back(std::string(spec.stem) + "." + std::to_string(m));
  out.push_back(spec.stem);
  return out;
}

std::string names_list(const LibSpec& spec) {
  auto names = sonames(spec);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += (i + 1 == names.size()) ? " or " : ", ";
    out += names[i];
  }
  return out;
}

/// The major-version suffix of a soname ("libcudnn.so.9" -> ".9"), or "" when unversioned.
std::string version_suffix(const LibSpec& spec, const std::string& name) {
  const std::string stem(spec.stem);
  return name.size() > stem.size() ? name.substr(stem.size()) : std::string();
}

/// Preloads, by full path, the companion (libcublasLt for cuBLAS) that `c` needs from its folder.
void preload_companion(const LibSpec& spec, const Candidate& c, Opened& opened, LibraryReport& rep) {
  if (!spec.companion_stem || c.dir.empty()) return;
  const std::string path = join(c.dir, std::string(spec.companion_stem) + version_suffix(spec, c.name));
  if (!is_file(path)) return;
  if (void* h = ::dlopen(path.c_str(), kDlopenFlags)) {
    opened.companions.push_back(h);
  } else {
    rep.notes.push_back("could not preload " + path + ": " + last_dlerror("unknown error"));
  }
}

/// Preloads, by full path, every libcudnn_*.so<suffix> of `dir` (see the file comment). Run once
/// the cuDNN in `dir` is accepted and the cuBLAS and NVRTC it needs are loaded, since cuDNN 8's
/// sub-libraries link libcublasLt directly.
void preload_cudnn_sublibs(const std::string& dir, const std::string& suffix, LibraryReport& rep) {
  // libcudnn_<part>.so<suffix> exactly (not the .so.9.1.0 files the symlinks point to, which
  // are the same objects, and not static archives).
  std::vector<std::string> pending;
  for (const auto& f : list_dir(dir)) {
    if (starts_with(f, "libcudnn_") && ends_with(f, ".so" + suffix) &&
        f.find(".so") + 3 + suffix.size() == f.size()) {
      pending.push_back(f);
    }
  }
  // libcudnn_graph is what the others depend on; the passes below handle any other order.
  std::stable_partition(pending.begin(), pending.end(),
                        [](const std::string& f) { return starts_with(f, "libcudnn_graph"); });
  std::vector<std::pair<std::string, std::string>> errors;
  bool progress = true;
  size_t loaded = 0;
  while (!pending.empty() && progress) {
    progress = false;
    errors.clear();
    std::vector<std::string> still;
    for (const auto& f : pending) {
      const std::string path = join(dir, f);
      if (::dlopen(path.c_str(), kDlopenFlags)) {  // kept loaded with the cuDNN that needs it
        progress = true;
        ++loaded;
      } else {
        errors.emplace_back(path, last_dlerror("unknown error"));
        still.push_back(f);
      }
    }
    pending.swap(still);
  }
  if (loaded) rep.tried.push_back("preloaded " + std::to_string(loaded) + " cuDNN sub-libraries from " + dir);
  for (const auto& [path, err] : errors) {
    rep.notes.push_back("could not preload cuDNN sub-library " + path + " (cuDNN will fail "
                        "when it needs it): " + err);
  }
}

/// dlopens one candidate (with its companion when it is a full path).
bool open_candidate(const LibSpec& spec, const Candidate& c, Opened& out, LibraryReport& rep) {
  preload_companion(spec, c, out, rep);
  ::dlerror();
  void* h = ::dlopen(c.target().c_str(), kDlopenFlags);
  if (!h) {
    rep.tried.push_back(c.stage + ": " + c.target() + ": " + last_dlerror("dlopen failed"));
    out.close();
    return false;
  }
  out.handle = h;
  out.path = loaded_path(h, c.target());
  return true;
}

/// Second symbol name to try when the first is missing (see PFN_cudaGetDeviceProperties_v2).
const char* symbol_alias(const char* name) {
  if (std::strcmp(name, "cudaGetDeviceProperties_v2") == 0) return "cudaGetDeviceProperties";
  return nullptr;
}

template <class Fn>
bool bind_symbol(void* handle, const char* name, Fn& fn, bool required, std::string& err) {
  ::dlerror();
  void* p = ::dlsym(handle, name);
  std::string why = p ? std::string() : last_dlerror("not found");
  const char* alias = p ? nullptr : symbol_alias(name);
  if (alias) {
    ::dlerror();
    p = ::dlsym(handle, alias);
  }
  if (!p) {
    if (!required) {
      fn = nullptr;
      return true;
    }
    err = std::string("it lacks the function ") + name +
          (alias ? std::string(" (and ") + alias + ")" : std::string()) + " (" + why + ")";
    return false;
  }
  static_assert(sizeof(Fn) == sizeof(void*), "function pointers must be pointer-sized");
  std::memcpy(&fn, &p, sizeof p);  // POSIX guarantees dlsym's void* converts to a function pointer
  return true;
}

/// What the per-library code supplies to the generic loop.
template <class Table>
struct Binder {
  /// Fills the table's pointers; false with `err` set when a required one is missing.
  bool (*bind)(void* handle, Table& table, std::string& err);
  /// Reads versions (no GPU needed); returns the CUDA major the library is built for, 0 if unknown.
  int (*inspect)(Table& table);
  /// e.g. "12.4" for the report.
  std::string (*version)(const Table& table);
  /// When non-null, the driver version to check this candidate against comes from the
  /// candidate itself (the CUDA runtime asks the driver); else load_library's argument is used.
  int (*own_driver_version)(const Table& table);
};

/// What a candidate must be built for: the driver's newest CUDA (when known) and, when
/// `want_major` is set, exactly that CUDA major (cuBLAS and NVRTC matched to cuDNN).
struct Fit {
  int driver_version = 0;
  int want_major = 0;
  std::string want_reason;  // "cuDNN 9.13.0 is built for CUDA 13.0"
};

/// The candidates of stages (a) to (c), in order. `seen` collects the folders listed, so that
/// a folder is tried once even when two stages name it. `first_dirs` are tried before all.
std::vector<Candidate> early_candidates(const LibSpec& spec, std::set<std::string>& seen,
                                        const std::vector<std::pair<std::string, std::string>>& first_dirs) {
  std::vector<Candidate> out;
  auto add_dir = [&](const std::string& stage, const std::string& dir) {
    if (!is_dir(dir)) {
      out.push_back({stage, dir, std::string(), "no such folder"});
      return;
    }
    if (!seen.insert(canonical(dir)).second) return;
    bool any = false;
    for (const auto& name : sonames(spec)) {
      if (is_file(join(dir, name))) {
        out.push_back({stage, dir, name, std::string()});
        any = true;
      }
    }
    if (!any) out.push_back({stage, dir, std::string(), "none of " + names_list(spec) + " there"});
  };
  for (const auto& [stage, dir] : first_dirs) add_dir(stage, dir);
  for (const auto& d : configured_dirs()) add_dir("(a) set_search_dirs()", d);
  for (const auto& d : split(getenv_str("LENET_CUDA_LIBS"), ':')) {
    add_dir("(a) $LENET_CUDA_LIBS", d);
  }
  for (const auto& name : sonames(spec)) {
    out.push_back({"(b) system search (LD_LIBRARY_PATH, RUNPATH, ld.so.cache, /usr/lib)",
                   std::string(), name, std::string()});
  }
  if (!spec.pip_package) {  // the driver: only the system's copy (and WSL's) can match the kernel module
    if (is_dir("/usr/lib/wsl/lib")) add_dir("(c) WSL driver folder", "/usr/lib/wsl/lib");
    return out;
  }
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    const std::string root = getenv_str(var);
    if (root.empty()) continue;
    const std::string stage = std::string("(c) $") + var;
    bool any = false;
    for (const char* sub : {"lib64", "lib"}) {
      const std::string dir = join(root, sub);
      if (is_dir(dir)) {
        add_dir(stage, dir);
        any = true;
      }
    }
    if (!any) out.push_back({stage, root, std::string(), "has neither a lib64 nor a lib folder"});
  }
  // nvcc's default install prefix, for machines where the toolkit is installed but neither on
  // the linker's path nor named by CUDA_HOME.
  for (const char* dir : {"/usr/local/cuda/lib64", "/usr/local/cuda/lib"}) {
    if (is_dir(dir)) add_dir("(c) default toolkit folder", dir);
  }
  return out;
}

/// The candidates of stage (d): Python environments. `notes` says what was looked at.
std::vector<Candidate> python_candidates(const LibSpec& spec, std::set<std::string>& seen,
                                         std::vector<std::string>& notes) {
  std::vector<Candidate> out;
  if (!spec.pip_package) return out;
  auto add_dirs_of = [&](const std::string& site) {
    for (const auto& dir : nvidia_lib_dirs(site, spec.pip_package)) {
      if (!seen.insert(canonical(dir)).second) continue;
      for (const auto& name : sonames(spec)) {
        if (is_file(join(dir, name))) out.push_back({"(d) Python environment", dir, name, ""});
      }
    }
  };
  std::vector<std::string> sites = globbed_site_packages();
  for (const auto& s : sites) add_dirs_of(s);
  if (out.empty()) {
    // Nothing where the globs look: ask python3 for its own site-packages, when allowed.
    std::string how;
    for (const auto& s : python_reported_site_packages(&how)) {
      if (std::find(sites.begin(), sites.end(), s) != sites.end()) continue;
      sites.push_back(s);
      add_dirs_of(s);
    }
    notes.push_back("(d) Python: " + how);
  }
  const std::string conda = getenv_str("CONDA_PREFIX");
  if (!conda.empty() && is_dir(join(conda, "lib")) && seen.insert(canonical(join(conda, "lib"))).second) {
    for (const auto& name : sonames(spec)) {
      if (is_file(join(join(conda, "lib"), name))) {
        out.push_back({"(d) $CONDA_PREFIX/lib", join(conda, "lib"), name, ""});
      }
    }
  }
  if (out.empty()) {
    std::string where;
    if (sites.empty()) {
      where = "no site-packages folder found";
    } else {
      where = "none of " + names_list(spec) + " in the nvidia/*/lib or torch/lib folders of ";
      for (size_t i = 0; i < sites.size(); ++i) where += (i ? ", " : "") + sites[i];
    }
    notes.push_back("(d) Python environments: " + where);
  }
  return out;
}

std::string fix_text(const LibSpec& spec) {
  const std::string first = std::string(spec.stem) + "." + std::to_string(spec.majors.front());
  return std::string("To fix: set LENET_CUDA_LIBS to the folder that holds ") + first +
         " (several folders: separate them with ':'), or " + spec.fix + ".";
}

/// The generic loop: tries every candidate in order until one loads, binds and fits (the driver,
/// and the wanted CUDA major). When none fits, the first loadable one that only misses the wanted
/// major is used, then the first that only needs a newer driver, each with a note saying so.
/// `accepted` (may be null) runs once a candidate is chosen, with its folder ("" for the system
/// search) and soname suffix.
template <class Table>
using Accepted = std::function<void(const Candidate&, Table&, LibraryReport&)>;

template <class Table>
bool load_library(const LibSpec& spec, const Binder<Table>& binder, const Fit& fit, Table& table,
                  LibraryReport& rep,
                  const std::vector<std::pair<std::string, std::string>>& first_dirs = {},
                  const std::common_type_t<Accepted<Table>>& accepted = nullptr) {
  rep = LibraryReport();
  rep.library = spec.title;
  std::set<std::string> seen;
  const std::vector<Candidate> candidates = early_candidates(spec, seen, first_dirs);

  std::optional<Candidate> wrong_major, needs_driver;  // the fallbacks, in that order
  std::string wrong_major_reason, needs_driver_reason;

  enum class Mode { kStrict, kAnyMajor, kAnyDriver };
  auto try_one = [&](const Candidate& c, Mode mode) -> bool {
    if (!c.outcome.empty()) {
      rep.tried.push_back(c.stage + ": " + c.dir + ": " + c.outcome);
      return false;
    }
    Opened opened;
    if (!open_candidate(spec, c, opened, rep)) return false;
    Table t;
    std::string err;
    if (!binder.bind(opened.handle, t, err)) {
      rep.tried.push_back(c.stage + ": " + opened.path + ": loaded, but " + err);
      opened.close();
      return false;
    }
    t.path = opened.path;
    const int built_for = binder.inspect(t);
    const int driver = binder.own_driver_version ? binder.own_driver_version(t) : fit.driver_version;
    const int driver_major = driver / 1000;
    std::string skip;
    if (mode != Mode::kAnyDriver && driver_major > 0 && built_for > driver_major) {
      skip = "built for CUDA " + std::to_string(built_for) + " but the driver supports CUDA " +
             std::to_string(driver_major) + "." + std::to_string((driver % 1000) / 10);
      if (!needs_driver) needs_driver = c, needs_driver_reason = skip;
    } else if (mode == Mode::kStrict && fit.want_major > 0 && built_for > 0 && built_for != fit.want_major) {
      skip = "built for CUDA " + std::to_string(built_for) + ", but " + fit.want_reason;
      if (!wrong_major) wrong_major = c, wrong_major_reason = skip;
    }
    if (!skip.empty()) {
      rep.tried.push_back(c.stage + ": " + opened.path + ": skipped, " + skip);
      opened.close();  // so its sonames do not shadow the next candidate's companions
      return false;
    }
    rep.tried.push_back(c.stage + ": " + opened.path + ": chosen (version " + binder.version(t) + ")");
    table = std::move(t);
    rep.ok = true;
    rep.path = opened.path;
    rep.version = binder.version(table);
    if (accepted) accepted(c, table, rep);
    return true;  // `opened` is deliberately leaked: the library stays loaded for good
  };

  for (const auto& c : candidates) {
    if (try_one(c, Mode::kStrict)) return true;
  }
  std::vector<std::string> python_notes;
  const std::vector<Candidate> pythons = python_candidates(spec, seen, python_notes);
  for (const auto& c : pythons) {
    if (try_one(c, Mode::kStrict)) return true;
  }
  for (auto& n : python_notes) rep.tried.push_back(std::move(n));

  if (wrong_major && try_one(*wrong_major, Mode::kAnyMajor)) {
    rep.notes.push_back("no candidate is built for CUDA " + std::to_string(fit.want_major) + "; using " +
                        rep.path + " anyway (" + wrong_major_reason + ")");
    return true;
  }
  if (needs_driver && try_one(*needs_driver, Mode::kAnyDriver)) {
    rep.notes.push_back("no candidate matches the installed driver; using " + rep.path +
                        " anyway (" + needs_driver_reason + "): calls will fail until the NVIDIA "
                        "driver is updated");
    return true;
  }

  std::ostringstream msg;
  msg << "lenet: could not load " << spec.title << ": no usable " << names_list(spec)
      << " was found. Tried, in order:";
  int i = 0;
  for (const auto& t : rep.tried) msg << "\n  " << ++i << ". " << t;
  for (const auto& n : rep.notes) msg << "\n  note: " << n;
  msg << "\n" << fix_text(spec);
  rep.error = msg.str();
  return false;
}

// ---------------------------------------------------------------------------------------------
// Per-library state: the published table, a lock for loading, the last report.
// ---------------------------------------------------------------------------------------------

template <class Table>
struct LibState {
  std::mutex mu;
  std::atomic<const Table*> published{nullptr};
  Table table;
  LibraryReport report;
  bool failed = false;
  unsigned failed_generation = 0;
};

LibState<CudartApi> g_cudart;
LibState<DriverApi> g_driver;
LibState<CublasApi> g_cublas;
LibState<CudnnApi> g_cudnn;

/// Loads under the library's lock unless already loaded or failed with this configuration.
/// Returns the table or nullptr (never throws except std::bad_alloc); `report` gets a copy of
/// the library's report when non-null.
template <class Table, class LoadFn>
const Table* ensure(LibState<Table>& st, LoadFn load, LibraryReport* report) {
  if (const Table* t = st.published.load(std::memory_order_acquire)) {
    if (report) {
      std::lock_guard<std::mutex> lock(st.mu);
      *report = st.report;
    }
    return t;
  }
  std::lock_guard<std::mutex> lock(st.mu);
  const Table* t = st.published.load(std::memory_order_acquire);
  if (!t) {
    const unsigned gen = g_config_generation.load();
    if (!st.failed || st.failed_generation != gen) {
      if (load(st.table, st.report)) {
        st.failed = false;
        st.published.store(&st.table, std::memory_order_release);
        t = &st.table;
      } else {
        st.failed = true;
        st.failed_generation = gen;
      }
    }
  }
  if (report) *report = st.report;
  return t;
}

#define LENET_BIND_ALL(list, Table)                                           \
  bool bind_##Table(void* h, Table& t, std::string& err) {                    \
    list(LENET_BIND_ONE) return true;                                         \
  }
#define LENET_BIND_ONE(name) \
  if (!bind_symbol(h, #name, t.name, true, err)) return false;

// ---- the CUDA runtime ----

const LibSpec kCudartSpec = {
    "the CUDA runtime (libcudart)", "libcudart.so", {13, 12}, nullptr, false, "cuda_runtime",
    "install the CUDA runtime: NVIDIA's CUDA toolkit (then set CUDA_HOME), or `pip install "
    "nvidia-cuda-runtime-cu12` (CUDA 12) / `pip install nvidia-cuda-runtime` (CUDA 13), or "
    "PyTorch with CUDA support"};

LENET_BIND_ALL(LENET_CUDART_FUNCTIONS, CudartApi)

int inspect_cudart(CudartApi& t) {
  int v = 0;
  if (t.cudaRuntimeGetVersion(&v) == cudaError_t::cudaSuccess) t.runtime_version = v;
  int d = 0;
  if (t.cudaDriverGetVersion(&d) == cudaError_t::cudaSuccess) t.driver_version = d;
  return t.runtime_version / 1000;
}

std::string version_cudart(const CudartApi& t) {
  return std::to_string(t.runtime_version / 1000) + "." +
         std::to_string((t.runtime_version % 1000) / 10);
}

int driver_of_cudart(const CudartApi& t) { return t.driver_version; }

const CudartApi* load_cudart(LibraryReport* report) {
  return ensure(g_cudart, [](CudartApi& table, LibraryReport& rep) {
    // The driver's version is only known once a runtime is loaded, so each candidate asks the
    // driver itself (inspect_cudart) and a runtime newer than the driver is passed over.
    const Binder<CudartApi> binder{bind_CudartApi, inspect_cudart, version_cudart, driver_of_cudart};
    return load_library(kCudartSpec, binder, Fit{}, table, rep);
  }, report);
}

int known_driver_version() {
  const CudartApi* rt = load_cudart(nullptr);
  return rt ? rt->driver_version : 0;
}

// ---- the CUDA driver API ----

const LibSpec kDriverSpec = {
    "the CUDA driver (libcuda)", "libcuda.so", {1}, nullptr, false, nullptr,
    "install the NVIDIA driver (535 or newer for CUDA 12, 580 or newer for CUDA 13); libcuda.so.1 "
    "comes with it and cannot come from pip"};

LENET_BIND_ALL(LENET_DRIVER_FUNCTIONS, DriverApi)

int inspect_driver(DriverApi& t) {
  int v = 0;
  if (t.cuDriverGetVersion(&v) == CUresult::CUDA_SUCCESS) t.driver_version = v;
  return 0;  // the driver is what the others are checked against
}

std::string version_driver(const DriverApi& t) {
  return "supports CUDA " + std::to_string(t.driver_version / 1000) + "." +
         std::to_string((t.driver_version % 1000) / 10);
}

const DriverApi* load_driver(LibraryReport* report) {
  return ensure(g_driver, [](DriverApi& table, LibraryReport& rep) {
    const Binder<DriverApi> binder{bind_DriverApi, inspect_driver, version_driver, nullptr};
    return load_library(kDriverSpec, binder, Fit{}, table, rep);
  }, report);
}

// ---- cuBLAS ----

const LibSpec kCublasSpec = {
    "cuBLAS (libcublas)", "libcublas.so", {13, 12}, "libcublasLt.so", false, "cublas",
    "install cuBLAS: `pip install nvidia-cublas-cu12` (CUDA 12) / `pip install nvidia-cublas` "
    "(CUDA 13), or PyTorch with CUDA support, or NVIDIA's CUDA toolkit"};

LENET_BIND_ALL(LENET_CUBLAS_FUNCTIONS, CublasApi)

int inspect_cublas(CublasApi& t) {
  t.cublasGetProperty(libraryPropertyType::MAJOR_VERSION, &t.major);
  t.cublasGetProperty(libraryPropertyType::MINOR_VERSION, &t.minor);
  t.cublasGetProperty(libraryPropertyType::PATCH_LEVEL, &t.patch);
  return t.major;  // cuBLAS 12 ships with CUDA 12, cuBLAS 13 with CUDA 13
}

std::string version_cublas(const CublasApi& t) {
  return std::to_string(t.major) + "." + std::to_string(t.minor) + "." + std::to_string(t.patch);
}

/// `fit.want_major`: the CUDA major of the cuDNN that will use it (0 before cuDNN is known).
const CublasApi* load_cublas(LibraryReport* report, const Fit& fit,
                             const std::vector<std::pair<std::string, std::string>>& first_dirs) {
  return ensure(g_cublas, [&](CublasApi& table, LibraryReport& rep) {
    const Binder<CublasApi> binder{bind_CublasApi, inspect_cublas, version_cublas, nullptr};
    return load_library(kCublasSpec, binder, fit, table, rep, first_dirs);
  }, report);
}

const CublasApi* load_cublas(LibraryReport* report) {
  // cuBLAS on its own is chosen for cuDNN (load_cudnn loads it with the matching major); only
  // when no cuDNN loads does the driver alone decide.
  Fit fit;
  fit.driver_version = known_driver_version();
  return load_cublas(report, fit, {});
}

// ---- NVRTC (for cuDNN 9's runtime-compiled engines; never called by us) ----

LibState<NvrtcInfo> g_nvrtc;

bool bind_NvrtcInfo(void* h, NvrtcInfo& t, std::string& err) {
  return bind_symbol(h, "nvrtcVersion", t.nvrtcVersion, true, err);
}

int inspect_nvrtc(NvrtcInfo& t) {
  if (t.nvrtcVersion(&t.major, &t.minor) != 0) t.major = t.minor = 0;
  return t.major;
}

std::string version_nvrtc(const NvrtcInfo& t) { return std::to_string(t.major) + "." + std::to_string(t.minor); }

/// Preloads libnvrtc.so.<major> (and its libnvrtc-builtins from the same folder) so that cuDNN's
/// own dlopen finds it by soname.
const NvrtcInfo* load_nvrtc(LibraryReport* report, const Fit& fit,
                            const std::vector<std::pair<std::string, std::string>>& first_dirs) {
  return ensure(g_nvrtc, [&](NvrtcInfo& table, LibraryReport& rep) {
    const LibSpec spec = {
        "NVRTC (libnvrtc, for cuDNN's runtime-compiled engines)", "libnvrtc.so", {fit.want_major},
        nullptr, false, "cuda_nvrtc",
        "install NVRTC for the CUDA major of cuDNN: `pip install nvidia-cuda-nvrtc-cu12` (CUDA 12) "
        "/ `pip install nvidia-cuda-nvrtc` (CUDA 13); without it cuDNN can still use its "
        "precompiled engines"};
    const Binder<NvrtcInfo> binder{bind_NvrtcInfo, inspect_nvrtc, version_nvrtc, nullptr};
    return load_library(spec, binder, fit, table, rep, first_dirs,
                        [](const Candidate& c, NvrtcInfo&, LibraryReport& r) {
                          if (c.dir.empty()) return;
                          for (const auto& f : list_dir(c.dir)) {
                            if (starts_with(f, "libnvrtc-builtins.so") && ::dlopen(join(c.dir, f).c_str(), kDlopenFlags)) {
                              r.tried.push_back("preloaded " + join(c.dir, f));
                              break;
                            }
                          }
                        });
  }, report);
}

// ---- cuDNN ----

const LibSpec kCudnnSpec = {
    "cuDNN (libcudnn)", "libcudnn.so", {9, 8}, nullptr, true, "cudnn",
    "install cuDNN: `pip install nvidia-cudnn-cu12` (CUDA 12) / `pip install nvidia-cudnn-cu13` "
    "(CUDA 13), or PyTorch with CUDA support, or NVIDIA's cuDNN packages for your distribution"};

bool bind_CudnnApi(void* h, CudnnApi& t, std::string& err) {
  LENET_CUDNN_FUNCTIONS(LENET_BIND_ONE)
#define LENET_BIND_OPTIONAL(name) bind_symbol(h, #name, t.name, false, err);
  LENET_CUDNN_OPTIONAL_FUNCTIONS(LENET_BIND_OPTIONAL)
#undef LENET_BIND_OPTIONAL
  return true;
}

int inspect_cudnn(CudnnApi& t) {
  t.version = t.cudnnGetVersion();
  // cuDNN 9 encodes 10000*major + 100*minor + patch; cuDNN 8 used 1000*major + 100*minor + patch.
  t.major = static_cast<int>(t.version >= 10000 ? t.version / 10000 : t.version / 1000);
  t.cudart_version = t.cudnnGetCudartVersion();
  return static_cast<int>(t.cudart_version / 1000);
}

std::string version_cudnn(const CudnnApi& t) {
  const std::size_t v = t.version;
  const std::size_t minor = v >= 10000 ? (v % 10000) / 100 : (v % 1000) / 100;
  return std::to_string(t.major) + "." + std::to_string(minor) + "." + std::to_string(v % 100) +
         " (for CUDA " + std::to_string(t.cudart_version / 1000) + "." +
         std::to_string((t.cudart_version % 1000) / 10) + ")";
}

const CudnnApi* load_cudnn(LibraryReport* report) {
  return ensure(g_cudnn, [](CudnnApi& table, LibraryReport& rep) {
    Fit fit;
    fit.driver_version = known_driver_version();
    const Binder<CudnnApi> binder{bind_CudnnApi, inspect_cudnn, version_cudnn, nullptr};
    // Once a cuDNN is chosen (its main library needs nothing else to load), the cuBLAS and NVRTC
    // of its CUDA major are loaded, looking first in its own folder, then its sub-libraries.
    return load_library(kCudnnSpec, binder, fit, table, rep, {},
                        [&](const Candidate& c, CudnnApi& t, LibraryReport& r) {
                          Fit match;
                          match.driver_version = fit.driver_version;
                          match.want_major = static_cast<int>(t.cudart_version / 1000);
                          match.want_reason = "cuDNN " + version_cudnn(t) + " needs CUDA " +
                                              std::to_string(match.want_major);
                          // cuDNN's own folder: the candidate's, or where the system search found it.
                          const std::string own = c.dir.empty() ? t.path.substr(0, t.path.find_last_of('/')) : c.dir;
                          std::vector<std::pair<std::string, std::string>> first;
                          if (!own.empty() && own != t.path) first.emplace_back("(0) cuDNN's own folder", own);
                          LibraryReport blas, nvrtc;
                          load_cublas(&blas, match, first);
                          if (blas.ok) {
                            r.tried.push_back("cuBLAS for it: " + blas.path + " (" + blas.version + ")");
                          } else {
                            r.notes.push_back("no cuBLAS loaded for it (see cuBLAS's report)");
                          }
                          if (match.want_major > 0) load_nvrtc(&nvrtc, match, first);
                          for (const auto& n : nvrtc.notes) r.notes.push_back("NVRTC: " + n);
                          if (nvrtc.ok) {
                            r.tried.push_back("NVRTC for it: " + nvrtc.path + " (" + nvrtc.version + ")");
                          } else {
                            r.notes.push_back("no libnvrtc.so." + std::to_string(match.want_major) +
                                              " found: cuDNN's runtime-compiled engines are unavailable "
                                              "(install nvidia-cuda-nvrtc for CUDA " +
                                              std::to_string(match.want_major) + ")");
                          }
                          if (!c.dir.empty()) preload_cudnn_sublibs(c.dir, version_suffix(kCudnnSpec, c.name), r);
                        });
  }, report);
}

#undef LENET_BIND_ONE
#undef LENET_BIND_ALL

[[noreturn]] void throw_load_error(const LibraryReport& rep, const char* title) {
  throw Error(rep.error.empty() ? std::string("lenet: could not load ") + title : rep.error);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API.
// ---------------------------------------------------------------------------------------------

const CudartApi& cudart() {
  if (const CudartApi* t = g_cudart.published.load(std::memory_order_acquire)) return *t;
  LibraryReport rep;
  if (const CudartApi* t = load_cudart(&rep)) return *t;
  throw_load_error(rep, kCudartSpec.title);
}

const DriverApi& driver() {
  if (const DriverApi* t = g_driver.published.load(std::memory_order_acquire)) return *t;
  LibraryReport rep;
  if (const DriverApi* t = load_driver(&rep)) return *t;
  throw_load_error(rep, kDriverSpec.title);
}

const CublasApi& cublas() {
  if (const CublasApi* t = g_cublas.published.load(std::memory_order_acquire)) return *t;
  load_cudnn(nullptr);  // cuBLAS is chosen to match cuDNN
  LibraryReport rep;
  if (const CublasApi* t = load_cublas(&rep)) return *t;
  throw_load_error(rep, kCublasSpec.title);
}

const CudnnApi& cudnn() {
  if (const CudnnApi* t = g_cudnn.published.load(std::memory_order_acquire)) return *t;
  LibraryReport rep;
  if (const CudnnApi* t = load_cudnn(&rep)) return *t;
  throw_load_error(rep, kCudnnSpec.title);
}

const CudartApi* cudart_if_loaded() noexcept {
  return g_cudart.published.load(std::memory_order_acquire);
}
const DriverApi* driver_if_loaded() noexcept {
  return g_driver.published.load(std::memory_order_acquire);
}
const CublasApi* cublas_if_loaded() noexcept {
  return g_cublas.published.load(std::memory_order_acquire);
}
const CudnnApi* cudnn_if_loaded() noexcept {
  return g_cudnn.published.load(std::memory_order_acquire);
}

void set_search_dirs(std::vector<std::string> dirs) {
  std::lock_guard<std::mutex> lock(g_config_mu);
  g_search_dirs = std::move(dirs);
  g_config_generation.fetch_add(1);
}

std::vector<std::string> search_dirs() { return configured_dirs(); }

LoadReport probe() noexcept {
  LoadReport out;
  try {
    out.cudart.library = kCudartSpec.title;
    out.driver.library = kDriverSpec.title;
    out.cublas.library = kCublasSpec.title;
    out.cudnn.library = kCudnnSpec.title;
    if (const CudartApi* rt = load_cudart(&out.cudart)) out.driver_version = rt->driver_version;
    load_driver(&out.driver);
    load_cudnn(&out.cudnn);  // loads the cuBLAS and NVRTC that match it
    load_cublas(&out.cublas);
    {
      std::lock_guard<std::mutex> lock(g_nvrtc.mu);  // the report only: loading cuDNN chose it
      out.nvrtc = g_nvrtc.report;
    }
  } catch (const std::exception& e) {  // std::bad_alloc: report what we have
    for (LibraryReport* r : {&out.cudart, &out.driver, &out.cublas, &out.cudnn}) {
      if (!r->ok && r->error.empty()) r->error = std::string("lenet: probe failed: ") + e.what();
    }
  } catch (...) {
    for (LibraryReport* r : {&out.cudart, &out.driver, &out.cublas, &out.cudnn}) {
      if (!r->ok && r->error.empty()) r->error = "lenet: probe failed";
    }
  }
  return out;
}

}  // namespace lenet::cuda
