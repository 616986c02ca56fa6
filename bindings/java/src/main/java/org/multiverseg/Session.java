package org.multiverseg;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;

/**
 * One segmentation task: its context set, the current image, its prompts and the previous
 * prediction. Use one session from one thread at a time (the methods are synchronized, so
 * misuse serializes rather than corrupts). Every failed call throws {@link MvsException}
 * and leaves the session as it was.
 */
public final class Session implements AutoCloseable {
  // volatile: cancel() reads it without the lock, while a synchronized call runs.
  private volatile Pointer handle;

  /** A new session on {@code model} with an empty context. */
  public Session(Model model) throws MvsException {
    PointerByReference out = new PointerByReference();
    MvsException.check(CApi.LIB.mvs_session_create(model.live(), out));
    handle = out.getValue();
  }

  private Pointer h() {
    if (handle == null) {
      throw new IllegalStateException("the session is closed");
    }
    return handle;
  }

  // A mask as a pointer: direct buffers in place, arrays copied once.
  private static Pointer maskPointer(byte[] mask) {
    if (mask == null) {
      return null;
    }
    Memory m = new Memory(Math.max(1, mask.length));
    m.write(0, mask, 0, mask.length);
    return m;
  }

  private static Pointer maskPointer(ByteBuffer mask) {
    if (mask == null) {
      return null;
    }
    if (!mask.isDirect()) {
      throw new IllegalArgumentException("mask: the buffer must be direct");
    }
    return Native.getDirectBufferPointer(mask).share(mask.position());
  }

  private static void checkMask(int have, Image image, int stride) {
    checkMask(have, image.width, image.height, stride);
  }

  // The library reads (height - 1) * stride + width bytes; a shorter Java array must fail
  // here rather than let it read past the copy.
  private static void checkMask(long have, int width, int height, int stride) {
    long s = stride == 0 ? width : stride;
    long need = (height - 1) * s + width;
    if (width > 0 && have < need) {
      throw new IllegalArgumentException("mask: " + have + " bytes, the image needs " + need);
    }
  }

  private void checkMaskForImage(byte[] mask, int stride) throws MvsException {
    if (mask != null) {
      int[] wh = imageSize();
      checkMask(mask.length, wh[0], wh[1], stride);
    }
  }

  private static Pointer at(java.nio.Buffer b, int elemBytes) {
    return b == null ? null : Native.getDirectBufferPointer(b).share((long) b.position() * elemBytes);
  }

  /** Uses ScribblePrompt-UNet while the context has fewer than n entries (default 1). */
  public synchronized void setMinContext(int n) throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_set_min_context(h(), n));
  }

  /**
   * Which network predicts an image once it has a prompt (default {@link
   * AfterPrompt#MULTIVERSEG}, the paper); the prediction before any prompt, predictBatch and
   * the UNet's use below the minimum context are not affected by it.
   */
  public synchronized void setAfterPrompt(AfterPrompt a) throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_set_after_prompt(h(), a.code));
  }

  /** The after-prompt setting ({@link #setAfterPrompt(AfterPrompt)}). */
  public synchronized AfterPrompt getAfterPrompt() throws MvsException {
    IntByReference out = new IntByReference();
    MvsException.check(CApi.LIB.mvs_session_get_after_prompt(h(), out));
    return AfterPrompt.of(out.getValue());
  }

  /**
   * Flip averaging of ScribblePrompt-UNet (default off, one pass): on, every UNet prediction is
   * the mean of its logits over the four flips of its input (four passes); MultiverSegNet's
   * predictions do not change (mvs_session_set_unet_flip_average).
   */
  public synchronized void setUnetFlipAverage(boolean on) throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_set_unet_flip_average(h(), on ? 1 : 0));
  }

  /** Whether flip averaging of the UNet is on ({@link #setUnetFlipAverage(boolean)}). */
  public synchronized boolean getUnetFlipAverage() throws MvsException {
    IntByReference out = new IntByReference();
    MvsException.check(CApi.LIB.mvs_session_get_unet_flip_average(h(), out));
    return out.getValue() != 0;
  }

  /** Adds an image and its mask (nonzero = foreground; stride in bytes, 0 = width). */
  public synchronized long addContext(Image image, byte[] mask, int maskStride)
      throws MvsException {
    if (mask != null) {
      checkMask(mask.length, image, maskStride);
    }
    return addContext(image, maskPointer(mask), maskStride);
  }

  /** {@link #addContext(Image, byte[], int)} with the mask in a direct buffer (no copy). */
  public synchronized long addContext(Image image, ByteBuffer mask, int maskStride)
      throws MvsException {
    if (mask != null) {
      checkMask(mask.remaining(), image, maskStride);
    }
    return addContext(image, maskPointer(mask), maskStride);
  }

  private long addContext(Image image, Pointer mask, int maskStride) throws MvsException {
    LongByReference id = new LongByReference();
    MvsException.check(CApi.LIB.mvs_session_context_add(h(), image.toC(), mask, maskStride, id));
    return id.getValue();
  }

  /** Removes the context entry {@code id}. */
  public synchronized void removeContext(long id) throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_context_remove(h(), id));
  }

  /** Number of context entries. */
  public synchronized int contextCount() throws MvsException {
    LongByReference n = new LongByReference();
    MvsException.check(CApi.LIB.mvs_session_context_count(h(), n));
    return (int) n.getValue();
  }

  /** Context ids in insertion order. */
  public synchronized long[] contextIds() throws MvsException {
    LongByReference n = new LongByReference();
    MvsException.check(CApi.LIB.mvs_session_context_list(h(), null, 0, n));
    long[] ids = new long[(int) n.getValue()];
    MvsException.check(CApi.LIB.mvs_session_context_list(h(), ids, ids.length, n));
    return ids;
  }

  /** Removes every context entry. */
  public synchronized void clearContext() throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_context_clear(h()));
  }

  /** Saves the context set to a versioned file. */
  public synchronized void saveContext(Path path) throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_context_save(h(), path.toString()));
  }

  /** Replaces the context set with a saved one. */
  public synchronized void loadContext(Path path) throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_context_load(h(), path.toString()));
  }

  /**
   * Adds the image_N.png / mask_N.png pairs of a folder whose masks are label maps: pixels
   * equal to {@code label} are the foreground. Returns how many were added.
   */
  public synchronized int importFolder(Path dir, int label) throws MvsException {
    LongByReference n = new LongByReference();
    MvsException.check(
        CApi.LIB.mvs_session_context_import_folder_label(h(), dir.toString(), label, n));
    return (int) n.getValue();
  }

  /**
   * Which context entries a prediction uses: all ({@code cap} = 0, the default) or at most
   * {@code cap}, chosen by {@code select}. A cap bounds the latency as the context grows.
   */
  public synchronized void setContextPolicy(int cap, Select select) throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_set_context_policy(h(), cap, select.code));
  }

  /**
   * Stops the call now running on this session in another thread (a predict or a batch): it
   * throws MvsException with status CANCELLED and changes nothing. Not synchronized: it is
   * meant to be called while another thread is inside this session.
   */
  public void cancel() throws MvsException {
    Pointer p = handle;
    if (p != null) {
      MvsException.check(CApi.LIB.mvs_session_cancel(p));
    }
  }

  /** Adds the image_N.png / mask_N.png pairs of a folder; returns how many. */
  public synchronized int importFolder(Path dir) throws MvsException {
    LongByReference n = new LongByReference();
    MvsException.check(CApi.LIB.mvs_session_context_import_folder(h(), dir.toString(), n));
    return (int) n.getValue();
  }

  /** Sets the image to segment; clears the prompts and the previous prediction. */
  public synchronized void setImage(Image image) throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_set_image(h(), image.toC()));
  }

  /** {width, height} of the current image; {0, 0} when none is set. */
  public synchronized int[] imageSize() throws MvsException {
    IntByReference w = new IntByReference();
    IntByReference hh = new IntByReference();
    MvsException.check(CApi.LIB.mvs_session_image_size(h(), w, hh));
    return new int[] {w.getValue(), hh.getValue()};
  }

  /** A click at (x, y) in image pixels. */
  public synchronized void addClick(double x, double y, boolean positive) throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_add_click(h(), x, y, positive ? 1 : 0));
  }

  /** A box with corners (x0, y0) and (x1, y1) in image pixels. */
  public synchronized void addBox(double x0, double y0, double x1, double y1)
      throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_add_box(h(), x0, y0, x1, y1));
  }

  /** A scribble as a brush mask of the image's size (nonzero = painted). */
  public synchronized void addScribble(byte[] mask, int stride, boolean positive)
      throws MvsException {
    checkMaskForImage(mask, stride);
    MvsException.check(
        CApi.LIB.mvs_session_add_scribble(h(), maskPointer(mask), stride, positive ? 1 : 0));
  }

  /** A scribble as a polyline {x0, y0, x1, y1, ...} painted with a round brush. */
  public synchronized void addScribblePolyline(double[] xy, double radius, boolean positive)
      throws MvsException {
    if (xy != null && xy.length % 2 != 0) {
      throw new IllegalArgumentException("xy: an even number of coordinates is needed");
    }
    long n = xy == null ? 0 : xy.length / 2;
    MvsException.check(
        CApi.LIB.mvs_session_add_scribble_polyline(h(), xy, n, radius, positive ? 1 : 0));
  }

  /** Removes the last prompt and restores the input that preceded it. */
  public synchronized void undo() throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_undo(h()));
  }

  /** Removes all prompts and the previous prediction of the current image. */
  public synchronized void clearPrompts() throws MvsException {
    MvsException.check(CApi.LIB.mvs_session_clear_prompts(h()));
  }

  /**
   * Predicts the current image: a pure function of the session (two calls give the same
   * result); a prompt added afterwards makes this prediction the next one's mask input.
   */
  public synchronized Prediction predict() throws MvsException {
    int[] wh = imageSize();
    int n = wh[0] * wh[1];
    if (n == 0) {
      // Let the library report the state error with its message.
      MvsException.check(CApi.LIB.mvs_session_predict(h(), null, null, 0));
    }
    FloatBuffer probs =
        ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    ByteBuffer mask = ByteBuffer.allocateDirect(n);
    MvsException.check(CApi.LIB.mvs_session_predict(h(), at(probs, 4), at(mask, 1), n));
    float[] p = new float[n];
    probs.get(p);
    byte[] m = new byte[n];
    mask.get(m);
    float[] u = new float[1];
    MvsException.check(CApi.LIB.mvs_session_uncertainty(h(), u));
    return new Prediction(wh[0], wh[1], p, m, u[0]);
  }

  /** Progress of {@link #predictBatch}: return false to cancel. */
  public interface Progress {
    /** {@code done} of {@code total} images finished. */
    boolean update(long done, long total);
  }

  /**
   * Predicts each image with the context and no prompts, without changing the session (one
   * intensity window for all: the images' windows must agree). {@code progress} may be null;
   * returning false from it cancels (MvsException CANCELLED).
   */
  public synchronized BatchResult predictBatch(Image[] images, Progress progress)
      throws MvsException {
    int n = images.length;
    byte[][] masks = new byte[n][];
    if (n == 0) {
      return new BatchResult(masks, new float[0]);
    }
    CApi.MvsImage[] cs = (CApi.MvsImage[]) new CApi.MvsImage().toArray(n);
    Memory[] buffers = new Memory[n];
    Pointer[] ptrs = new Pointer[n];
    for (int i = 0; i < n; i++) {
      images[i].fill(cs[i]);
      cs[i].write();
      buffers[i] = new Memory(Math.max(1L, (long) images[i].width() * images[i].height()));
      ptrs[i] = buffers[i];
    }
    float[] u = new float[n];
    CApi.MvsProgressFn cb =
        progress == null
            ? null
            : (long done, long total, Pointer userData) ->
                progress.update(done, total) ? 0 : 1;
    MvsException.check(CApi.LIB.mvs_session_predict_batch(h(), cs, n, ptrs, u, cb, null));
    for (int i = 0; i < n; i++) {
      masks[i] = buffers[i].getByteArray(0, images[i].width() * images[i].height());
    }
    return new BatchResult(masks, u);
  }

  /**
   * Predicts into caller buffers (direct, native order; either may be null), written from
   * their positions, each with at least width * height elements remaining: no copy on the
   * Java side.
   */
  public synchronized void predictInto(FloatBuffer probabilities, ByteBuffer mask)
      throws MvsException {
    long cap = Long.MAX_VALUE;
    if (probabilities != null) {
      if (!probabilities.isDirect()) {
        throw new IllegalArgumentException("probabilities: the buffer must be direct");
      }
      cap = Math.min(cap, probabilities.remaining());
    }
    if (mask != null) {
      if (!mask.isDirect()) {
        throw new IllegalArgumentException("mask: the buffer must be direct");
      }
      cap = Math.min(cap, mask.remaining());
    }
    MvsException.check(
        CApi.LIB.mvs_session_predict(
            h(), at(probabilities, 4), at(mask, 1), cap == Long.MAX_VALUE ? 0 : cap));
  }

  /** Adds the current image with its binarized last prediction to the context. */
  public synchronized long commit() throws MvsException {
    LongByReference id = new LongByReference();
    MvsException.check(CApi.LIB.mvs_session_commit(h(), id));
    return id.getValue();
  }

  /** Adds the current image with a caller-given mask (e.g. corrected by hand). */
  public synchronized long commitMask(byte[] mask, int stride) throws MvsException {
    checkMaskForImage(mask, stride);
    LongByReference id = new LongByReference();
    MvsException.check(CApi.LIB.mvs_session_commit_mask(h(), maskPointer(mask), stride, id));
    return id.getValue();
  }

  /** Frees the session; idempotent. */
  @Override
  public synchronized void close() {
    if (handle != null) {
      CApi.LIB.mvs_session_free(handle);
      handle = null;
    }
  }
}
