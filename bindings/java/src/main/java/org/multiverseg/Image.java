package org.multiverseg;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * A 2D single-channel image for the library: 8-bit, 16-bit (unsigned or signed) or float
 * pixels, rows {@code stride} pixels apart. From a direct NIO buffer the library reads the
 * caller's memory in place (no copy on the Java side); from an array the pixels are copied
 * once into native memory. Keep the image alive while a call uses it.
 */
public final class Image {
  static final int U8 = 0;
  static final int U16 = 1;
  static final int I16 = 2;
  static final int F32 = 3;

  final Pointer data;
  final int type;
  final int width;
  final int height;
  final int stride;
  // Holds the native copy (from an array) or the direct buffer alive with this object.
  @SuppressWarnings("unused")
  private final Object owner;
  private boolean useWindow;
  private float lo;
  private float hi;

  private Image(Pointer data, Object owner, int type, int width, int height, int stride) {
    this.data = data;
    this.owner = owner;
    this.type = type;
    this.width = width;
    this.height = height;
    this.stride = stride;
  }

  private static void checkSize(long have, int width, int height, int stride) {
    if (width <= 0 || height <= 0) {
      throw new IllegalArgumentException("width and height must be positive");
    }
    long s = stride == 0 ? width : stride;
    if (s < width) {
      throw new IllegalArgumentException("stride " + stride + " is smaller than width " + width);
    }
    long need = (height - 1) * s + width;
    if (have < need) {
      throw new IllegalArgumentException(
          "pixels: " + have + " values, the image needs " + need);
    }
  }

  private static Image direct(Buffer b, long elemBytes, int type, int w, int h, int stride) {
    if (!b.isDirect()) {
      throw new IllegalArgumentException("the buffer must be direct (ByteBuffer.allocateDirect)");
    }
    checkSize(b.remaining(), w, h, stride);
    Pointer p = Native.getDirectBufferPointer(b).share(b.position() * elemBytes);
    return new Image(p, b, type, w, h, stride);
  }

  private static Memory copy(long n, long elemBytes) {
    return new Memory(Math.max(1, n * elemBytes));
  }

  /** 8-bit pixels (read as unsigned) in a direct buffer, from its position. */
  public static Image u8(ByteBuffer pixels, int width, int height, int stride) {
    return direct(pixels, 1, U8, width, height, stride);
  }

  /** 8-bit pixels (read as unsigned), copied once into native memory. */
  public static Image u8(byte[] pixels, int width, int height, int stride) {
    checkSize(pixels.length, width, height, stride);
    Memory m = copy(pixels.length, 1);
    m.write(0, pixels, 0, pixels.length);
    return new Image(m, m, U8, width, height, stride);
  }

  /** 16-bit unsigned pixels in a direct buffer (native byte order), from its position. */
  public static Image u16(ShortBuffer pixels, int width, int height, int stride) {
    return direct(pixels, 2, U16, width, height, stride);
  }

  /** 16-bit unsigned pixels (Java shorts read as unsigned), copied once. */
  public static Image u16(short[] pixels, int width, int height, int stride) {
    return shorts(pixels, U16, width, height, stride);
  }

  /** 16-bit signed pixels in a direct buffer (native byte order), from its position. */
  public static Image i16(ShortBuffer pixels, int width, int height, int stride) {
    return direct(pixels, 2, I16, width, height, stride);
  }

  /** 16-bit signed pixels, copied once. */
  public static Image i16(short[] pixels, int width, int height, int stride) {
    return shorts(pixels, I16, width, height, stride);
  }

  private static Image shorts(short[] pixels, int type, int width, int height, int stride) {
    checkSize(pixels.length, width, height, stride);
    Memory m = copy(pixels.length, 2);
    m.write(0, pixels, 0, pixels.length);
    return new Image(m, m, type, width, height, stride);
  }

  /** Float pixels in a direct buffer (native byte order), from its position. */
  public static Image f32(FloatBuffer pixels, int width, int height, int stride) {
    return direct(pixels, 4, F32, width, height, stride);
  }

  /** Float pixels, copied once (NaN and Inf are rejected by the library). */
  public static Image f32(float[] pixels, int width, int height, int stride) {
    checkSize(pixels.length, width, height, stride);
    Memory m = copy(pixels.length, 4);
    m.write(0, pixels, 0, pixels.length);
    return new Image(m, m, F32, width, height, stride);
  }

  /** Maps [lo, hi] to [0, 1] and clips, instead of the image's min-max. Returns this. */
  public Image window(float lo, float hi) {
    this.useWindow = true;
    this.lo = lo;
    this.hi = hi;
    return this;
  }

  /** Width in pixels. */
  public int width() {
    return width;
  }

  /** Height in pixels. */
  public int height() {
    return height;
  }

  CApi.MvsImage toC() {
    CApi.MvsImage c = new CApi.MvsImage();
    fill(c);
    return c;
  }

  // Sets the fields of an element of a contiguous MvsImage array (predictBatch).
  void fill(CApi.MvsImage c) {
    c.data = data;
    c.pixel_type = type;
    c.width = width;
    c.height = height;
    c.stride = stride;
    c.use_window = useWindow ? 1 : 0;
    c.window_lo = lo;
    c.window_hi = hi;
  }
}
