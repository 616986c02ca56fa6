package org.multiverseg;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Loaded weights and a backend. Immutable and thread-safe: many {@link Session}s on any
 * threads may share one model. A session keeps its model alive, so a model may be closed
 * while its sessions are still in use.
 */
public final class Model implements AutoCloseable {
  private Pointer handle;

  private Model(Pointer handle) {
    this.handle = handle;
  }

  /** The library version, e.g. "0.1.0". */
  public static String version() {
    return CApi.LIB.mvs_version();
  }

  /** Loads a weights file (safetensors written by {@code mvs convert} or tools/train). */
  public static Model load(Path path, Backend backend, int threads) throws MvsException {
    PointerByReference out = new PointerByReference();
    MvsException.check(
        CApi.LIB.mvs_model_load(path.toString(), backend.code, threads, out));
    return new Model(out.getValue());
  }

  /** Loads a weights file with all options (see {@link ModelOptions}). */
  public static Model load(Path path, ModelOptions options) throws MvsException {
    PointerByReference out = new PointerByReference();
    MvsException.check(CApi.LIB.mvs_model_load_with(path.toString(), options.toC(), out));
    return new Model(out.getValue());
  }

  /**
   * Loads a fetched model by name ("official-v1", "official-v0") from the user cache folder,
   * where {@code mvs fetch} put it; never downloads. Throws MvsException with status
   * NOT_FOUND when it has not been fetched.
   */
  public static Model loadNamed(String name, ModelOptions options) throws MvsException {
    PointerByReference out = new PointerByReference();
    MvsException.check(CApi.LIB.mvs_model_load_named(name, options.toC(), out));
    return new Model(out.getValue());
  }

  /** Loads the model shipped in the library with all options. */
  public static Model loadDefault(ModelOptions options) throws MvsException {
    PointerByReference out = new PointerByReference();
    MvsException.check(CApi.LIB.mvs_model_load_default_with(options.toC(), out));
    return new Model(out.getValue());
  }

  /** Loads the model shipped in the library. */
  public static Model loadDefault(Backend backend, int threads) throws MvsException {
    PointerByReference out = new PointerByReference();
    MvsException.check(CApi.LIB.mvs_model_load_default(backend.code, threads, out));
    return new Model(out.getValue());
  }

  /** {@link #loadDefault(Backend, int)} with the automatic backend and all cores. */
  public static Model loadDefault() throws MvsException {
    return loadDefault(Backend.AUTO, 0);
  }

  /** The backend's description, e.g. "cpu (tract, 2 threads, winograd 4x4)". */
  public synchronized String backendName() throws MvsException {
    LongByReference n = new LongByReference();
    MvsException.check(CApi.LIB.mvs_model_backend_name(live(), null, 0, n));
    byte[] buf = new byte[(int) n.getValue() + 1];
    MvsException.check(CApi.LIB.mvs_model_backend_name(live(), buf, buf.length, n));
    return new String(buf, 0, (int) n.getValue(), StandardCharsets.UTF_8);
  }

  synchronized Pointer live() {
    if (handle == null) {
      throw new IllegalStateException("the model is closed");
    }
    return handle;
  }

  /** Frees the handle; idempotent. Sessions created from this model stay valid. */
  @Override
  public synchronized void close() {
    if (handle != null) {
      CApi.LIB.mvs_model_free(handle);
      handle = null;
    }
  }
}
