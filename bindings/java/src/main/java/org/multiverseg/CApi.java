package org.multiverseg;

import com.sun.jna.Callback;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The C API of multiverseg (multiverseg.h), mapped one to one with JNA. Internal: use
 * {@link Model} and {@link Session}. size_t is mapped to long (64-bit platforms only).
 */
interface CApi extends Library {
  /** The loaded library: jna.library.path, java.library.path, then the jar. */
  CApi LIB = load();

  static CApi load() {
    if (Native.SIZE_T_SIZE != 8) {
      throw new UnsatisfiedLinkError("multiverseg's Java bindings need a 64-bit JVM");
    }
    return Native.load("multiverseg", CApi.class);
  }

  /** struct MvsImage. */
  @Structure.FieldOrder({
    "data", "pixel_type", "width", "height", "stride", "use_window", "window_lo", "window_hi"
  })
  class MvsImage extends Structure {
    public Pointer data;
    public int pixel_type;
    public int width;
    public int height;
    public int stride;
    public int use_window;
    public float window_lo;
    public float window_hi;
  }

  /** struct MvsModelOptions (initialize with mvs_model_options_init). */
  @Structure.FieldOrder({
    "struct_size", "backend", "threads", "gpu_conv_tile_rows", "gpu_conv_tile_cols",
    "cpu_conv", "gpu_adapter", "gpu_max_chunk", "gpu_memory_limit", "memory_limit"
  })
  class MvsModelOptions extends Structure {
    public int struct_size;
    public int backend;
    public int threads;
    public int gpu_conv_tile_rows;
    public int gpu_conv_tile_cols;
    public int cpu_conv;
    public String gpu_adapter;
    public long gpu_max_chunk;
    public long gpu_memory_limit;
    public long memory_limit;
  }

  /** MvsProgressFn: returns non-zero to cancel. */
  interface MvsProgressFn extends Callback {
    int invoke(long done, long total, Pointer userData);
  }

  /** MvsLogFn. */
  interface MvsLogFn extends Callback {
    void invoke(int level, String message, Pointer userData);
  }

  String mvs_version();

  String mvs_last_error_message();

  int mvs_model_load(String path, int backend, int threads, PointerByReference out);

  int mvs_model_load_default(int backend, int threads, PointerByReference out);

  int mvs_model_options_init(MvsModelOptions opts, long structSize);

  int mvs_model_load_with(String path, MvsModelOptions opts, PointerByReference out);

  int mvs_model_load_default_with(MvsModelOptions opts, PointerByReference out);

  int mvs_model_load_named(String name, MvsModelOptions opts, PointerByReference out);

  int mvs_set_log_callback(MvsLogFn callback, Pointer userData);

  int mvs_model_backend_name(Pointer model, byte[] buf, long capacity, LongByReference outLen);

  void mvs_model_free(Pointer model);

  int mvs_session_create(Pointer model, PointerByReference out);

  void mvs_session_free(Pointer session);

  int mvs_session_set_min_context(Pointer s, int n);

  int mvs_session_set_after_prompt(Pointer s, int afterPrompt);

  int mvs_session_get_after_prompt(Pointer s, IntByReference out);

  int mvs_session_set_unet_flip_average(Pointer s, int on);

  int mvs_session_get_unet_flip_average(Pointer s, IntByReference out);

  int mvs_session_context_add(
      Pointer s, MvsImage image, Pointer mask, int maskStride, LongByReference outId);

  int mvs_session_context_remove(Pointer s, long id);

  int mvs_session_context_count(Pointer s, LongByReference out);

  int mvs_session_context_list(Pointer s, long[] ids, long capacity, LongByReference outCount);

  int mvs_session_context_clear(Pointer s);

  int mvs_session_context_save(Pointer s, String path);

  int mvs_session_context_load(Pointer s, String path);

  int mvs_session_context_import_folder(Pointer s, String dir, LongByReference outAdded);

  int mvs_session_context_import_folder_label(
      Pointer s, String dir, int label, LongByReference outAdded);

  int mvs_session_set_context_policy(Pointer s, int cap, int select);

  int mvs_session_cancel(Pointer s);

  int mvs_session_set_image(Pointer s, MvsImage image);

  int mvs_session_image_size(Pointer s, IntByReference w, IntByReference h);

  int mvs_session_add_click(Pointer s, double x, double y, int positive);

  int mvs_session_add_box(Pointer s, double x0, double y0, double x1, double y1);

  int mvs_session_add_scribble(Pointer s, Pointer mask, int stride, int positive);

  int mvs_session_add_scribble_polyline(
      Pointer s, double[] xy, long nPoints, double radius, int positive);

  int mvs_session_undo(Pointer s);

  int mvs_session_clear_prompts(Pointer s);

  int mvs_session_predict(Pointer s, Pointer probabilities, Pointer mask, long len);

  int mvs_session_uncertainty(Pointer s, float[] out);

  int mvs_session_predict_batch(
      Pointer s,
      MvsImage[] images,
      long n,
      Pointer[] masks,
      float[] uncertainty,
      MvsProgressFn progress,
      Pointer userData);

  int mvs_session_commit(Pointer s, LongByReference outId);

  int mvs_session_commit_mask(Pointer s, Pointer mask, int stride, LongByReference outId);
}
