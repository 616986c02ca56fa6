// multiverseg.hpp: header-only C++17 wrapper over the multiverseg C API (multiverseg.h).
//
// mvs::Model and mvs::Session own their C handles (move-only, freed in the destructor);
// every failed call throws mvs::Error with the C status and message. Threads: a Model may
// be shared by sessions on any threads; a Session is used by one thread at a time.
// Nothing here does more than convert arguments and check statuses.
#ifndef MULTIVERSEG_HPP
#define MULTIVERSEG_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "multiverseg.h"

namespace mvs {

/// A failed call: the C status code and the library's message (names the bad argument).
class Error : public std::runtime_error {
 public:
  Error(MvsStatus status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  /// The C status code (never MVS_OK).
  MvsStatus status() const noexcept { return status_; }

 private:
  MvsStatus status_;
};

namespace detail {
inline void check(MvsStatus s) {
  if (s != MVS_OK) throw Error(s, mvs_last_error_message());
}
template <class T> struct PixelTypeOf;
template <> struct PixelTypeOf<uint8_t> { static constexpr MvsPixelType value = MVS_PIXEL_U8; };
template <> struct PixelTypeOf<uint16_t> { static constexpr MvsPixelType value = MVS_PIXEL_U16; };
template <> struct PixelTypeOf<int16_t> { static constexpr MvsPixelType value = MVS_PIXEL_I16; };
template <> struct PixelTypeOf<float> { static constexpr MvsPixelType value = MVS_PIXEL_F32; };
}  // namespace detail

/// The library version, e.g. "0.1.0".
inline std::string version() { return mvs_version(); }

/// Which backend runs the networks.
enum class Backend : uint32_t { Auto = MVS_BACKEND_AUTO, Cpu = MVS_BACKEND_CPU, Gpu = MVS_BACKEND_GPU };

/// How a capped context is filled (Session::set_context_policy).
enum class Select : uint32_t { Latest = MVS_SELECT_LATEST, Similar = MVS_SELECT_SIMILAR };
/// Which network predicts an image once it has a prompt, while the context has at least
/// min_context entries (Session::set_after_prompt; MvsAfterPrompt). MultiverSeg is the
/// paper and the default; Mean averages both networks' logits; MeanForClicks is Mean while
/// every prompt of the image is a click.
enum class AfterPrompt : uint32_t {
  MultiverSeg = MVS_AFTER_PROMPT_MULTIVERSEG,
  Unet = MVS_AFTER_PROMPT_UNET,
  Mean = MVS_AFTER_PROMPT_MEAN,
  MeanForClicks = MVS_AFTER_PROMPT_MEAN_FOR_CLICKS
};
/// How the CPU computes the 3x3 convolutions (MvsCpuConv): Winograd F(4x4, 3x3), the
/// fastest (logits within 3e-5 of f64), or F(2x2, 3x3), which rounds as PyTorch does.
enum class CpuConv : uint32_t {
  Winograd4x4 = MVS_CPU_CONV_WINOGRAD_4X4,
  Winograd2x2 = MVS_CPU_CONV_WINOGRAD_2X2
};

/// Log levels of the library's messages.
enum class LogLevel : int {
  Error = MVS_LOG_ERROR,
  Warn = MVS_LOG_WARN,
  Info = MVS_LOG_INFO,
  Debug = MVS_LOG_DEBUG,
  Trace = MVS_LOG_TRACE
};

namespace detail {
inline std::mutex& log_mutex() {
  static std::mutex m;
  return m;
}
inline std::function<void(LogLevel, const char*)>& log_handler() {
  static std::function<void(LogLevel, const char*)> h;
  return h;
}
extern "C" inline void log_trampoline(int level, const char* message, void*) {
  std::lock_guard<std::mutex> lock(log_mutex());
  if (log_handler()) log_handler()(static_cast<LogLevel>(level), message);
}
}  // namespace detail

/// Sends the library's log messages to `handler` (from any thread; serialized here), or
/// turns logging off with an empty function. By default the library logs nowhere.
inline void set_log_handler(std::function<void(LogLevel, const char*)> handler) {
  bool on = static_cast<bool>(handler);
  {
    std::lock_guard<std::mutex> lock(detail::log_mutex());
    detail::log_handler() = std::move(handler);
  }
  detail::check(mvs_set_log_callback(on ? &detail::log_trampoline : nullptr, nullptr));
}

/// Model options (the C struct MvsModelOptions); the defaults are the library's.
struct ModelOptions {
  Backend backend = Backend::Auto;
  uint32_t threads = 0;             ///< CPU threads, 0 = all cores
  CpuConv cpu_conv = CpuConv::Winograd4x4;  ///< how the CPU computes 3x3 convolutions
  std::string gpu_adapter;          ///< adapter name substring, empty = the best adapter
  uint32_t gpu_conv_tile_rows = 0;  ///< 4 or 8; 0 = by device (tuning)
  uint32_t gpu_conv_tile_cols = 0;  ///< 4 or 8; 0 = by device
  uint64_t gpu_max_chunk = 0;       ///< context entries per GPU chunk, 0 = by limits
  uint64_t gpu_memory_limit = 0;    ///< bytes per session on the GPU, 0 = none
  uint64_t memory_limit = 0;        ///< bytes per CPU prediction, 0 = 3/4 of RAM

  /// The C struct; `gpu_adapter`'s pointer stays valid while this object lives.
  MvsModelOptions c() const {
    MvsModelOptions o;
    detail::check(mvs_model_options_init(&o, sizeof o));
    o.backend = static_cast<uint32_t>(backend);
    o.threads = threads;
    o.cpu_conv = static_cast<uint32_t>(cpu_conv);
    o.gpu_adapter = gpu_adapter.empty() ? nullptr : gpu_adapter.c_str();
    o.gpu_conv_tile_rows = gpu_conv_tile_rows;
    o.gpu_conv_tile_cols = gpu_conv_tile_cols;
    o.gpu_max_chunk = gpu_max_chunk;
    o.gpu_memory_limit = gpu_memory_limit;
    o.memory_limit = memory_limit;
    return o;
  }
};

/// A non-owning view of a 2D single-channel image in caller memory: uint8_t, uint16_t,
/// int16_t or float pixels, rows `stride` pixels apart (0 = width). The data must outlive
/// the call it is passed to; nothing is copied until the library preprocesses it.
class ImageView {
 public:
  template <class T>
  ImageView(const T* data, uint32_t width, uint32_t height, uint32_t stride = 0) {
    img_.data = data;
    img_.pixel_type = detail::PixelTypeOf<T>::value;
    img_.width = width;
    img_.height = height;
    img_.stride = stride;
    img_.use_window = 0;
    img_.window_lo = 0.f;
    img_.window_hi = 0.f;
  }
  /// Maps [lo, hi] to [0, 1] and clips (e.g. a CT window) instead of the image's min-max.
  ImageView& window(float lo, float hi) {
    img_.use_window = 1;
    img_.window_lo = lo;
    img_.window_hi = hi;
    return *this;
  }
  uint32_t width() const noexcept { return img_.width; }
  uint32_t height() const noexcept { return img_.height; }
  /// The C struct this view stands for.
  const MvsImage* c() const noexcept { return &img_; }

 private:
  MvsImage img_{};
};

/// Loaded weights and a backend; immutable, shareable across threads and sessions.
class Model {
 public:
  /// Loads a weights file (safetensors written by `mvs convert` or tools/train).
  static Model load(const std::string& path, Backend backend = Backend::Auto,
                    uint32_t threads = 0) {
    MvsModel* m = nullptr;
    detail::check(mvs_model_load(path.c_str(), static_cast<uint32_t>(backend), threads, &m));
    return Model(m);
  }
  /// Loads a weights file with all options.
  static Model load(const std::string& path, const ModelOptions& options) {
    MvsModel* m = nullptr;
    MvsModelOptions o = options.c();
    detail::check(mvs_model_load_with(path.c_str(), &o, &m));
    return Model(m);
  }
  /// Loads a fetched model by name ("official-v1", "official-v0") from the user cache
  /// folder, where `mvs fetch` put it; never downloads. Throws Error with status
  /// MVS_ERR_NOT_FOUND when it has not been fetched.
  static Model load_named(const std::string& name, const ModelOptions& options = {}) {
    MvsModel* m = nullptr;
    MvsModelOptions o = options.c();
    detail::check(mvs_model_load_named(name.c_str(), &o, &m));
    return Model(m);
  }
  /// Loads the model shipped in the library with all options.
  static Model load_default(const ModelOptions& options) {
    MvsModel* m = nullptr;
    MvsModelOptions o = options.c();
    detail::check(mvs_model_load_default_with(&o, &m));
    return Model(m);
  }
  /// Loads the model shipped in the library.
  static Model load_default(Backend backend = Backend::Auto, uint32_t threads = 0) {
    MvsModel* m = nullptr;
    detail::check(mvs_model_load_default(static_cast<uint32_t>(backend), threads, &m));
    return Model(m);
  }
  Model(Model&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Model& operator=(Model&& o) noexcept {
    if (this != &o) {
      mvs_model_free(p_);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model() { mvs_model_free(p_); }

  /// The backend's description, e.g. "cpu (tract, 2 threads, winograd 4x4)".
  std::string backend_name() const {
    size_t n = 0;
    detail::check(mvs_model_backend_name(p_, nullptr, 0, &n));
    std::string s(n + 1, '\0');
    detail::check(mvs_model_backend_name(p_, &s[0], s.size(), &n));
    s.resize(n);
    return s;
  }
  /// The C handle (still owned by this object).
  const MvsModel* get() const noexcept { return p_; }

 private:
  explicit Model(MvsModel* p) : p_(p) {}
  MvsModel* p_;
};

/// A prediction at the image's size: probabilities in [0, 1], the 0/1 mask, and how unsure
/// it is (uncertainty in [0, 1]: the mean binary entropy around the predicted object).
struct Prediction {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<float> probabilities;
  std::vector<uint8_t> mask;
  float uncertainty = 0.f;
};

/// Masks and uncertainty scores of Session::predict_batch, one per image.
struct BatchResult {
  std::vector<std::vector<uint8_t>> masks;
  std::vector<float> uncertainty;
};

/// One segmentation task: its context set, the current image, prompts and the previous
/// prediction. Keeps its model alive. Use from one thread at a time.
class Session {
 public:
  explicit Session(const Model& model) {
    detail::check(mvs_session_create(model.get(), &p_));
  }
  Session(Session&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Session& operator=(Session&& o) noexcept {
    if (this != &o) {
      mvs_session_free(p_);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() { mvs_session_free(p_); }

  /// Uses ScribblePrompt-UNet while the context has fewer than n entries (default 1).
  void set_min_context(uint32_t n) { detail::check(mvs_session_set_min_context(p_, n)); }
  /// Which network predicts an image once it has a prompt (mvs_session_set_after_prompt);
  /// the prediction before any prompt, predict_batch and the UNet's use below min_context
  /// are not affected by it.
  void set_after_prompt(AfterPrompt a) {
    detail::check(mvs_session_set_after_prompt(p_, static_cast<uint32_t>(a)));
  }
  AfterPrompt after_prompt() const {
    uint32_t a = 0;
    detail::check(mvs_session_get_after_prompt(p_, &a));
    return static_cast<AfterPrompt>(a);
  }
  /// Flip averaging of ScribblePrompt-UNet (mvs_session_set_unet_flip_average; default
  /// off): every UNet prediction becomes the mean of its logits over the four flips of its
  /// input, four passes; MultiverSegNet's predictions do not change. Throws mvs::Error on a
  /// moved-from session.
  void set_unet_flip_average(bool on) {
    detail::check(mvs_session_set_unet_flip_average(p_, on ? 1 : 0));
  }
  /// Whether flip averaging of the UNet is on (mvs_session_get_unet_flip_average).
  bool unet_flip_average() const {
    int on = 0;
    detail::check(mvs_session_get_unet_flip_average(p_, &on));
    return on != 0;
  }

  // ---- context set ----
  /// Adds an image and its mask (nonzero = foreground, the image's size, row stride in
  /// bytes or 0 for width) to the context; returns the entry's id.
  uint64_t add_context(const ImageView& image, const uint8_t* mask, uint32_t mask_stride = 0) {
    uint64_t id = 0;
    detail::check(mvs_session_context_add(p_, image.c(), mask, mask_stride, &id));
    return id;
  }
  void remove_context(uint64_t id) { detail::check(mvs_session_context_remove(p_, id)); }
  size_t context_count() const {
    size_t n = 0;
    detail::check(mvs_session_context_count(p_, &n));
    return n;
  }
  /// Context ids in insertion order.
  std::vector<uint64_t> context_ids() const {
    size_t n = 0;
    detail::check(mvs_session_context_list(p_, nullptr, 0, &n));
    std::vector<uint64_t> ids(n);
    detail::check(mvs_session_context_list(p_, ids.data(), ids.size(), &n));
    ids.resize(n);
    return ids;
  }
  void clear_context() { detail::check(mvs_session_context_clear(p_)); }
  void save_context(const std::string& path) const {
    detail::check(mvs_session_context_save(p_, path.c_str()));
  }
  void load_context(const std::string& path) {
    detail::check(mvs_session_context_load(p_, path.c_str()));
  }
  /// Adds the image_N.png / mask_N.png pairs of a folder; returns how many.
  size_t import_folder(const std::string& dir) {
    size_t n = 0;
    detail::check(mvs_session_context_import_folder(p_, dir.c_str(), &n));
    return n;
  }
  /// The same for label-map masks: pixels equal to `label` are the foreground.
  size_t import_folder(const std::string& dir, uint32_t label) {
    size_t n = 0;
    detail::check(mvs_session_context_import_folder_label(p_, dir.c_str(), label, &n));
    return n;
  }
  /// At most `cap` context entries per prediction (0 = all), chosen by `select`.
  void set_context_policy(uint32_t cap, Select select = Select::Latest) {
    detail::check(mvs_session_set_context_policy(p_, cap, static_cast<uint32_t>(select)));
  }
  /// Stops the call running on this session in another thread (it throws mvs::Error with
  /// MVS_ERR_CANCELLED and changes nothing). The one method callable concurrently.
  void cancel() const { detail::check(mvs_session_cancel(p_)); }

  // ---- the current image ----
  void set_image(const ImageView& image) { detail::check(mvs_session_set_image(p_, image.c())); }
  /// Width and height of the current image ({0, 0} when none is set).
  std::pair<uint32_t, uint32_t> image_size() const {
    uint32_t w = 0, h = 0;
    detail::check(mvs_session_image_size(p_, &w, &h));
    return {w, h};
  }
  void add_click(double x, double y, bool positive = true) {
    detail::check(mvs_session_add_click(p_, x, y, positive ? 1 : 0));
  }
  void add_box(double x0, double y0, double x1, double y1) {
    detail::check(mvs_session_add_box(p_, x0, y0, x1, y1));
  }
  /// A brush mask of the image's size (nonzero = painted; stride in bytes, 0 = width).
  void add_scribble(const uint8_t* mask, bool positive, uint32_t stride = 0) {
    detail::check(mvs_session_add_scribble(p_, mask, stride, positive ? 1 : 0));
  }
  /// A polyline of (x, y) points painted with a round brush of `radius` pixels.
  void add_scribble_polyline(const std::vector<std::pair<double, double>>& points,
                             double radius, bool positive) {
    std::vector<double> xy;
    xy.reserve(points.size() * 2);
    for (const auto& p : points) {
      xy.push_back(p.first);
      xy.push_back(p.second);
    }
    detail::check(mvs_session_add_scribble_polyline(p_, points.empty() ? nullptr : xy.data(),
                                                    points.size(), radius, positive ? 1 : 0));
  }
  void undo() { detail::check(mvs_session_undo(p_)); }
  void clear_prompts() { detail::check(mvs_session_clear_prompts(p_)); }

  /// Predicts the current image: a pure function of the session (two calls give the same
  /// result); a prompt added afterwards makes this prediction the next one's mask input.
  Prediction predict() {
    auto wh = image_size();
    Prediction p;
    p.width = wh.first;
    p.height = wh.second;
    const size_t n = static_cast<size_t>(p.width) * p.height;
    p.probabilities.resize(n);
    p.mask.resize(n);
    detail::check(mvs_session_predict(p_, p.probabilities.data(), p.mask.data(), n));
    detail::check(mvs_session_uncertainty(p_, &p.uncertainty));
    return p;
  }
  /// The uncertainty of the last prediction on the current image.
  float uncertainty() const {
    float u = 0.f;
    detail::check(mvs_session_uncertainty(p_, &u));
    return u;
  }
  /// Predicts each image with the context and no prompts, without changing the session
  /// (the images' windows must agree). `progress(done, total)` may return false to cancel
  /// (mvs::Error with MVS_ERR_CANCELLED); an exception it throws cancels the call too and
  /// is rethrown here. Either way the session is unchanged.
  BatchResult predict_batch(const std::vector<ImageView>& images,
                            std::function<bool(size_t, size_t)> progress = nullptr) {
    BatchResult r;
    std::vector<MvsImage> cs;
    std::vector<uint8_t*> ptrs;
    cs.reserve(images.size());
    r.masks.resize(images.size());
    r.uncertainty.resize(images.size());
    for (size_t i = 0; i < images.size(); i++) {
      cs.push_back(*images[i].c());
      r.masks[i].resize(static_cast<size_t>(images[i].width()) * images[i].height());
      ptrs.push_back(r.masks[i].data());
    }
    // An exception from `progress` must not unwind through the library's frames: it is
    // caught here, cancels the call, and is rethrown once the library has returned.
    struct Ctx {
      std::function<bool(size_t, size_t)>* f;
      std::exception_ptr error;
    } ctx{&progress, nullptr};
    auto tramp = [](size_t done, size_t total, void* ud) -> int {
      auto* c = static_cast<Ctx*>(ud);
      try {
        return (*c->f)(done, total) ? 0 : 1;
      } catch (...) {
        c->error = std::current_exception();
        return 1;
      }
    };
    MvsStatus st = mvs_session_predict_batch(p_, cs.data(), cs.size(), ptrs.data(),
                                             r.uncertainty.data(),
                                             progress ? +tramp : nullptr, &ctx);
    if (ctx.error) std::rethrow_exception(ctx.error);
    detail::check(st);
    return r;
  }
  /// Predicts into caller buffers of `len` elements each (either may be null).
  void predict_into(float* probabilities, uint8_t* mask, size_t len) {
    detail::check(mvs_session_predict(p_, probabilities, mask, len));
  }
  /// Adds the current image with its binarized last prediction to the context.
  uint64_t commit() {
    uint64_t id = 0;
    detail::check(mvs_session_commit(p_, &id));
    return id;
  }
  /// Adds the current image with a caller-given mask (e.g. corrected by hand).
  uint64_t commit_mask(const uint8_t* mask, uint32_t stride = 0) {
    uint64_t id = 0;
    detail::check(mvs_session_commit_mask(p_, mask, stride, &id));
    return id;
  }
  /// The C handle (still owned by this object).
  MvsSession* get() noexcept { return p_; }

 private:
  MvsSession* p_ = nullptr;
};

}  // namespace mvs

#endif  // MULTIVERSEG_HPP
