package org.multiverseg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java bindings on the default model shipped in the native library. */
class SessionTest {
  static final int W = 57;
  static final int H = 43;

  /** A bright ellipse centred at cx (8-bit pixels) and its mask. */
  static byte[][] scene(double cx) {
    byte[] img = new byte[W * H];
    byte[] mask = new byte[W * H];
    for (int y = 0; y < H; y++) {
      for (int x = 0; x < W; x++) {
        double u = (x - cx) / 13.0;
        double v = (y - 21.0) / 9.0;
        boolean in = u * u + v * v <= 1.0;
        mask[y * W + x] = (byte) (in ? 1 : 0);
        img[y * W + x] = (byte) ((in ? 190 : 40) + (x * 7 + y * 3) % 13);
      }
    }
    return new byte[][] {img, mask};
  }

  static Model cpu() throws MvsException {
    return Model.loadDefault(Backend.CPU, 2);
  }

  @Test
  void defaultModelLoadsAndNamesItsBackend() throws Exception {
    try (Model m = cpu()) {
      assertTrue(m.backendName().startsWith("cpu"), m.backendName());
      assertTrue(Model.version().length() > 0);
    }
  }

  @Test
  void unknownModelNameNamesTheKnownOnes() {
    MvsException e =
        assertThrows(
            MvsException.class, () -> Model.loadNamed("official-v9", new ModelOptions()));
    assertEquals(MvsException.INVALID_ARGUMENT, e.status());
    assertTrue(e.getMessage().contains("official-v1"), e.getMessage());
  }

  @Test
  void badPathIsACheckedExceptionWithStatus() {
    MvsException e =
        assertThrows(
            MvsException.class,
            () -> Model.load(Paths.get("/nonexistent/m.safetensors"), Backend.CPU, 1));
    assertEquals(MvsException.IO, e.status());
    assertTrue(e.getMessage().contains("nonexistent"), e.getMessage());
  }

  @Test
  void badInputChangesNothing() throws Exception {
    try (Model m = cpu();
        Session s = new Session(m)) {
      byte[][] sc = scene(28);
      MvsException e = assertThrows(MvsException.class, () -> s.addClick(1, 1, true));
      assertEquals(MvsException.STATE, e.status());
      float[] nan = new float[W * H];
      nan[3] = Float.NaN;
      assertThrows(
          MvsException.class, () -> s.addContext(Image.f32(nan, W, H, 0), sc[1], 0));
      assertEquals(0, s.contextCount());
      assertThrows(
          IllegalArgumentException.class,
          () -> s.addContext(Image.u8(sc[0], W, H, 0), new byte[10], 0));
      s.setImage(Image.u8(sc[0], W, H, 0));
      e = assertThrows(MvsException.class, () -> s.addClick(W + 2, 1, true));
      assertEquals(MvsException.INVALID_ARGUMENT, e.status());
      assertTrue(e.getMessage().contains("outside"), e.getMessage());
      assertThrows(MvsException.class, s::undo);
      assertThrows(IllegalArgumentException.class, () -> s.commitMask(new byte[5], 0));
      assertEquals(0, s.contextCount());
    }
  }

  @Test
  void wholeLoopWithDirectBuffersAndAGrowingContext(@TempDir Path tmp) throws Exception {
    try (Model m = cpu();
        Session s = new Session(m)) {
      for (int i = 0; i < 3; i++) {
        byte[][] sc = scene(20 + 5 * i);
        // A 16-bit slice in a direct buffer: the library reads it in place.
        ShortBuffer px =
            ByteBuffer.allocateDirect(W * H * 2).order(ByteOrder.nativeOrder()).asShortBuffer();
        for (int k = 0; k < W * H; k++) {
          px.put(k, (short) ((sc[0][k] & 0xff) * 10));
        }
        s.setImage(Image.u16(px, W, H, 0).window(0, 2550));
        assertArrayEquals(new int[] {W, H}, s.imageSize());
        s.addClick(20 + 5 * i, 21, true);
        Prediction p = s.predict();
        assertEquals(W * H, p.probabilities.length);
        for (int k = 0; k < W * H; k++) {
          float q = p.probabilities[k];
          assertTrue(q >= 0 && q <= 1);
          if (Math.abs(q - 0.5f) > 1e-6f) {
            assertEquals(q > 0.5f ? 1 : 0, p.mask[k]);
          }
        }
        FloatBuffer probs =
            ByteBuffer.allocateDirect(W * H * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        s.predictInto(probs, null);
        long id = i == 2 ? s.commitMask(sc[1], 0) : s.commit();
        long[] ids = s.contextIds();
        assertEquals(id, ids[ids.length - 1]);
      }
      assertEquals(3, s.contextCount());
      Path f = tmp.resolve("ctx.bin");
      long[] ids = s.contextIds();
      s.saveContext(f);
      assertTrue(Files.size(f) > 0);
      s.clearContext();
      s.loadContext(f);
      assertArrayEquals(ids, s.contextIds());
    }
  }

  @Test
  void closeIsIdempotentAndUseAfterCloseIsAnError() throws Exception {
    Model m = cpu();
    Session s = new Session(m);
    m.close(); // the session keeps the model alive
    byte[][] sc = scene(30);
    s.setImage(Image.u8(sc[0], W, H, 0));
    s.addScribblePolyline(new double[] {20, 21, 40, 21}, 1.5, true);
    s.predict();
    s.close();
    s.close();
    assertThrows(IllegalStateException.class, s::contextCount);
    assertThrows(IllegalStateException.class, () -> new Session(m));
  }

  @Test
  void exactCpuConvReachesTheLibrary() throws Exception {
    ModelOptions o = new ModelOptions();
    o.backend = Backend.CPU;
    o.threads = 1;
    o.exactCpuConv = true;
    try (Model m = Model.loadDefault(o)) {
      assertTrue(m.backendName().contains("winograd 2x2"), m.backendName());
    }
  }

  @Test
  void optionsPurePredictBatchAndUncertainty() throws Exception {
    ModelOptions o = new ModelOptions();
    o.backend = Backend.CPU;
    o.threads = 1;
    try (Model m = Model.loadDefault(o);
        Session s = new Session(m);
        Session one = new Session(m)) {
      assertTrue(m.backendName().contains("1 threads"), m.backendName());
      assertTrue(m.backendName().contains("winograd 4x4"), m.backendName());
      byte[][] a = scene(20);
      byte[][] b = scene(30);
      s.addContext(Image.u8(a[0], W, H, 0), a[1], 0);
      one.addContext(Image.u8(a[0], W, H, 0), a[1], 0);
      s.setImage(Image.u8(b[0], W, H, 0));
      s.addClick(30.5, 21.5, true);
      Prediction p1 = s.predict();
      Prediction p2 = s.predict();
      assertArrayEquals(p1.probabilities, p2.probabilities, 0f, "two predicts in a row differ");
      assertTrue(p1.uncertainty >= 0f && p1.uncertainty <= 1f);
      final long[] calls = {0};
      BatchResult r =
          s.predictBatch(
              new Image[] {Image.u8(b[0], W, H, 0), Image.u8(a[0], W, H, 0)},
              (done, total) -> {
                calls[0]++;
                return true;
              });
      assertEquals(2, calls[0]);
      one.setImage(Image.u8(a[0], W, H, 0));
      Prediction single = one.predict();
      assertArrayEquals(single.mask, r.masks[1], "batch differs from a single prediction");
      assertEquals(single.uncertainty, r.uncertainty[1], 0f);
      MvsException e =
          assertThrows(
              MvsException.class,
              () -> s.predictBatch(new Image[] {Image.u8(b[0], W, H, 0)}, (d, t) -> false));
      assertEquals(MvsException.CANCELLED, e.status());
      assertArrayEquals(p1.probabilities, s.predict().probabilities, 0f, "session changed");
      s.setContextPolicy(1, Select.SIMILAR);
      s.cancel(); // no call runs: no effect
      s.predict();
    }
  }

  @Test
  void afterPromptChoosesTheNetworkAfterAClick() throws Exception {
    try (Model m = cpu();
        Session s = new Session(m)) {
      byte[][] a = scene(20);
      byte[][] b = scene(30);
      s.addContext(Image.u8(a[0], W, H, 0), a[1], 0);
      assertEquals(AfterPrompt.MULTIVERSEG, s.getAfterPrompt());
      s.setImage(Image.u8(b[0], W, H, 0));
      s.addClick(30.5, 21.5, true);
      float[] mvs = s.predict().probabilities;
      s.setAfterPrompt(AfterPrompt.UNET);
      assertEquals(AfterPrompt.UNET, s.getAfterPrompt());
      float[] unet = s.predict().probabilities;
      // the UNet alone (min_context above the context size) on the same state: the same bits
      s.setAfterPrompt(AfterPrompt.MULTIVERSEG);
      s.setMinContext(5);
      assertArrayEquals(unet, s.predict().probabilities, 0f, "UNET is the UNet's prediction");
      s.setMinContext(1);
      s.setAfterPrompt(AfterPrompt.MEAN);
      float[] mean = s.predict().probabilities;
      s.setAfterPrompt(AfterPrompt.MEAN_FOR_CLICKS);
      assertArrayEquals(mean, s.predict().probabilities, 0f, "clicks only: the mean");
      assertTrue(!java.util.Arrays.equals(mean, mvs) && !java.util.Arrays.equals(mean, unet));
    }
  }

  @Test
  void unetFlipAverageChangesTheUnetOnly() throws Exception {
    try (Model m = cpu();
        Session s = new Session(m)) {
      byte[][] a = scene(20);
      byte[][] b = scene(30);
      assertTrue(!s.getUnetFlipAverage(), "off by default");
      s.setImage(Image.u8(b[0], W, H, 0));
      s.addClick(30.5, 21.5, true);
      float[] onePass = s.predict().probabilities; // the UNet: no context yet
      s.setUnetFlipAverage(true);
      assertTrue(s.getUnetFlipAverage());
      float[] averaged = s.predict().probabilities;
      assertTrue(!java.util.Arrays.equals(onePass, averaged), "on changes the UNet's prediction");
      // with a context MultiverSegNet predicts, and the setting does not change it
      s.addContext(Image.u8(a[0], W, H, 0), a[1], 0);
      float[] mvsOn = s.predict().probabilities;
      s.setUnetFlipAverage(false);
      assertArrayEquals(mvsOn, s.predict().probabilities, 0f, "MultiverSegNet unchanged");
      assertTrue(!java.util.Arrays.equals(mvsOn, averaged));
    }
  }

  @Test
  void logMessagesGoToJavaUtilLogging() throws Exception {
    java.util.logging.Logger log = java.util.logging.Logger.getLogger("org.multiverseg");
    final int[] n = {0};
    java.util.logging.Handler h =
        new java.util.logging.Handler() {
          @Override
          public void publish(java.util.logging.LogRecord r) {
            n[0]++;
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    log.setLevel(java.util.logging.Level.ALL);
    log.addHandler(h);
    try {
      Logging.toJavaUtilLogging();
      cpu().close(); // loading logs what was loaded (debug level)
      assertTrue(n[0] > 0, "no log message reached java.util.logging");
      Logging.off();
      int before = n[0];
      cpu().close();
      assertEquals(before, n[0]);
    } finally {
      log.removeHandler(h);
    }
  }
}
