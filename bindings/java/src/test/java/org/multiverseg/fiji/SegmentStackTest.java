package org.multiverseg.fiji;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import ij.ImageStack;
import ij.Macro;
import ij.WindowManager;
import ij.gui.Line;
import ij.gui.Overlay;
import ij.gui.PointRoi;
import ij.gui.Roi;
import ij.macro.Interpreter;
import ij.measure.Calibration;
import ij.measure.ResultsTable;
import ij.process.ColorProcessor;
import java.awt.Color;
import java.awt.GraphicsEnvironment;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.multiverseg.Backend;

/**
 * The Fiji plugin headless (java.awt.headless=true, set by the pom's surefire argLine) on the
 * default model: a generated 16-bit stack of a bright disk that drifts across 12 slices, in
 * noise, with prompts on two slices or masks on two others.
 */
class SegmentStackTest {
  static final int W = 96;
  static final int H = 80;
  static final int D = 12;
  static final double R = 15;

  // Measured with the default model on the CPU (tract, x86-64): prompts on slices 3 and 9
  // give Dice 0.892 to 0.983 (mean 0.964 with version 4 of the model; versions 1-3: 0.926 to
  // 0.995, mean 0.974-0.977; the clicked slice is the worst), masks on slices 1 and 12 give
  // 0.987 to 0.996 on the others. The thresholds were set 0.04 below versions 1-3's values;
  // version 4's clicked slice is 0.012 above MIN_DICE, still far above the rounding differences
  // between CPUs (logits within 1e-5 move a few boundary pixels at most); version 5 (new
  // MultiverSegNet, version 4's UNet) passes, its per-slice values not recorded; version 6 (new
  // UNet) gives 0.907 on a disk like this one's clicked slice (tools/train/check_disk.py;
  // version 4's UNet: 0.898) and passes; version 7 (new UNet) gives 0.908 there and 0.896 on
  // this test's clicked slice (measured 2026-12-05). Two UNet candidates of 2026-12-05,
  // better on the held-out tasks, failed here (0.863 and 0.880 on the clicked slice) and were
  // not shipped (weights/MODEL_HISTORY.md); check_disk.py reads 0.012-0.017 above this test.
  // Version 8 (an exponential moving average of a UNet run's weights) gives 0.900 there and
  // 0.891 on this test's clicked slice; that run's final raw weights gave 0.873 (not shipped).
  // Version 9 (the same average, trained on) gives 0.898 there and 0.893 here; version 10 (the
  // mean of version 9's UNet and a later run's average) 0.882 here, 0.002 above MIN_DICE: about
  // three of the disk's ~707 pixels. Logits that differ by 1e-5 between CPUs flip only pixels
  // whose logit lies that close to 0, so the margin is thin but above that noise; a model
  // change that moves the boundary by a pixel anywhere can cross it. Version 11 (a UNet run
  // taught by version 10's flip-averaged UNet) gives 0.911 here, 0.031 above MIN_DICE; version
  // 12 (its UNet, a MultiverSegNet taught the mean after clicks) 0.911 too, the other slices
  // 0.893-0.981 (weights/eval/v11_distillmean/fiji_dice.txt). A
  // model that ignored its prompts or context, or masks shifted by 2 pixels throughout (Dice
  // 0.915 for this disk), fail them.
  static final double MEAN_DICE = 0.93;
  static final double MIN_DICE = 0.88;

  static double cx(int z) {
    return 38 + 1.5 * z;
  }

  static double cy(int z) {
    return 40 + 0.5 * z;
  }

  static byte[][] truth() {
    byte[][] t = new byte[D][W * H];
    for (int z = 0; z < D; z++) {
      for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
          double dx = x + 0.5 - cx(z);
          double dy = y + 0.5 - cy(z);
          t[z][y * W + x] = (byte) (dx * dx + dy * dy <= R * R ? 1 : 0);
        }
      }
    }
    return t;
  }

  /** The 16-bit stack, calibrated (0.25 mm pixels, 2 mm slices, signed 16-bit values). */
  static ImagePlus stack() {
    byte[][] t = truth();
    Random rnd = new Random(42);
    ImageStack st = new ImageStack(W, H);
    for (int z = 0; z < D; z++) {
      short[] px = new short[W * H];
      for (int i = 0; i < px.length; i++) {
        double v = (t[z][i] != 0 ? 2600 : 1000) + 150 * rnd.nextGaussian();
        px[i] = (short) Math.max(0, Math.min(65535, Math.round(v)));
      }
      st.addSlice(String.format("z%02d", z + 1), px);
    }
    ImagePlus imp = new ImagePlus("disk", st);
    Calibration c = imp.getCalibration();
    c.pixelWidth = 0.25;
    c.pixelHeight = 0.25;
    c.pixelDepth = 2.0;
    c.setUnit("mm");
    c.xOrigin = 3;
    c.setSigned16BitCalibration();
    return imp;
  }

  /** Clicks on slice 3 (centre +, a corner -) and a box on slice 9. */
  static Roi[] prompts() {
    PointRoi pos = new PointRoi(cx(2), cy(2));
    pos.setPosition(3);
    PointRoi neg = new PointRoi(6, 6);
    neg.addPoint(W - 6, H - 6);
    neg.setName("neg background");
    neg.setPosition(3);
    Roi box =
        new Roi(
            (int) (cx(8) - R - 3), (int) (cy(8) - R - 3), (int) (2 * R + 6), (int) (2 * R + 6));
    box.setPosition(9);
    return new Roi[] {pos, neg, box};
  }

  static StackSegmenter.Options cpu() {
    StackSegmenter.Options o = new StackSegmenter.Options();
    o.backend = Backend.CPU;
    o.threads = 2;
    return o;
  }

  static double dice(ImagePlus mask, int z, byte[] truth) {
    byte[] m = (byte[]) mask.getStack().getPixels(z + 1);
    long inter = 0;
    long sum = 0;
    for (int i = 0; i < truth.length; i++) {
      boolean a = m[i] != 0;
      boolean b = truth[i] != 0;
      inter += a && b ? 1 : 0;
      sum += (a ? 1 : 0) + (b ? 1 : 0);
    }
    return sum == 0 ? 1 : 2.0 * inter / sum;
  }

  /** Checks the mask stack's form and returns each slice's Dice (printed for the record). */
  static double[] checkMask(ImagePlus mask, String what) {
    assertEquals(ImagePlus.GRAY8, mask.getType());
    assertEquals(W, mask.getWidth());
    assertEquals(H, mask.getHeight());
    assertEquals(D, mask.getStackSize());
    byte[][] t = truth();
    double[] d = new double[D];
    StringBuilder line = new StringBuilder(what + " Dice per slice:");
    for (int z = 0; z < D; z++) {
      for (byte b : (byte[]) mask.getStack().getPixels(z + 1)) {
        assertTrue(b == 0 || b == (byte) 255, "mask values are 0/255");
      }
      d[z] = dice(mask, z, t[z]);
      line.append(String.format(" %.3f", d[z]));
    }
    System.out.println(line);
    return d;
  }

  static double mean(double[] d) {
    double s = 0;
    for (double v : d) {
      s += v;
    }
    return s / d.length;
  }

  static double min(double[] d) {
    double m = 1;
    for (double v : d) {
      m = Math.min(m, v);
    }
    return m;
  }

  @Test
  void headless() {
    assertTrue(GraphicsEnvironment.isHeadless(), "the surefire argLine sets java.awt.headless");
  }

  @Test
  void promptsOnTwoSlicesSegmentTheWholeStack() throws Exception {
    ImagePlus imp = stack();
    long t0 = System.nanoTime();
    StackSegmenter.Result r = StackSegmenter.run(imp, prompts(), cpu());
    System.out.printf("prompts: %.2f s, %s%n", (System.nanoTime() - t0) / 1e9, r.backend);
    double[] d = checkMask(r.mask, "prompts");
    assertTrue(mean(d) >= MEAN_DICE, "mean Dice " + mean(d));
    assertTrue(min(d) >= MIN_DICE, "min Dice " + min(d));

    // The spatial calibration is copied; the signed 16-bit value calibration is not (it
    // would make the 0/255 mask read -32768/-32513).
    Calibration c = r.mask.getCalibration();
    assertEquals(0.25, c.pixelWidth);
    assertEquals(0.25, c.pixelHeight);
    assertEquals(2.0, c.pixelDepth);
    assertEquals("mm", c.getUnit());
    assertEquals(3.0, c.xOrigin);
    assertFalse(c.calibrated(), "value calibration copied onto the mask");
    assertEquals("z05", r.mask.getStack().getSliceLabel(5));
    assertEquals("MultiverSeg of disk", r.mask.getTitle());

    // One row per slice, most uncertain first; slices 3 and 9 came from their prompts.
    ResultsTable rt = r.uncertainty;
    assertEquals(D, rt.size());
    Set<Integer> slices = new HashSet<>();
    double prev = Double.POSITIVE_INFINITY;
    for (int i = 0; i < rt.size(); i++) {
      int z = (int) rt.getValue(StackSegmenter.COL_SLICE, i);
      double u = rt.getValue(StackSegmenter.COL_UNCERTAINTY, i);
      assertTrue(u >= 0 && u <= 1, "uncertainty " + u);
      assertTrue(u <= prev, "not sorted, most uncertain first");
      prev = u;
      slices.add(z);
      String src = rt.getStringValue(StackSegmenter.COL_SOURCE, i);
      assertEquals(z == 3 || z == 9 ? "prompts" : "context", src, "slice " + z);
    }
    assertEquals(D, slices.size());
    assertTrue(slices.contains(1) && slices.contains(D));
  }

  @Test
  void aMaskStackGivesTheContext() throws Exception {
    ImagePlus imp = stack();
    byte[][] t = truth();
    ImageStack ms = new ImageStack(W, H);
    for (int z = 0; z < D; z++) {
      // 16-bit masks with label 7: any nonzero value is foreground.
      short[] px = new short[W * H];
      if (z == 0 || z == D - 1) {
        for (int i = 0; i < px.length; i++) {
          px[i] = (short) (t[z][i] != 0 ? 7 : 0);
        }
      }
      ms.addSlice("", px);
    }
    StackSegmenter.Options o = cpu();
    o.masks = new ImagePlus("seeds", ms);
    StackSegmenter.Result r = StackSegmenter.run(imp, null, o);
    double[] d = checkMask(r.mask, "masks");
    assertEquals(1.0, d[0], "a given mask is the output");
    assertEquals(1.0, d[D - 1]);
    assertTrue(mean(d) >= MEAN_DICE, "mean Dice " + mean(d));
    assertTrue(min(d) >= MIN_DICE, "min Dice " + min(d));
    assertEquals(D - 2, r.uncertainty.size(), "given slices are not predicted");
    for (int i = 0; i < r.uncertainty.size(); i++) {
      int z = (int) r.uncertainty.getValue(StackSegmenter.COL_SLICE, i);
      assertTrue(z > 1 && z < D, "slice " + z);
    }
  }

  /** A time series (frames, one slice each) with hyperstack ROI positions and a window. */
  @Test
  void aTimeSeriesWithTheDisplayRangeAsWindow() throws Exception {
    ImagePlus imp = stack();
    imp.setDimensions(1, 1, D);
    imp.setOpenAsHyperStack(true);
    StackSegmenter.Options o = cpu();
    o.displayRangeWindow = true;
    imp.setDisplayRange(5, 5);
    assertContains(error(imp, prompts(), o), "display range");
    imp.setDisplayRange(500, 3500);
    Roi[] rois = prompts();
    for (Roi r : rois) {
      int t = r.getPosition();
      r.setPosition(0);
      r.setPosition(1, 1, t); // as ImageJ records a ROI on a hyperstack: only T says the frame
      assertEquals(0, r.getPosition());
    }
    StackSegmenter.Result r = StackSegmenter.run(imp, rois, o);
    assertEquals(D, r.mask.getNFrames());
    assertEquals(1, r.mask.getNSlices());
    double[] d = checkMask(r.mask, "time series");
    assertTrue(mean(d) >= MEAN_DICE, "mean Dice " + mean(d));
    assertTrue(min(d) >= MIN_DICE, "min Dice " + min(d));
    for (int i = 0; i < r.uncertainty.size(); i++) {
      int z = (int) r.uncertainty.getValue(StackSegmenter.COL_SLICE, i);
      String src = r.uncertainty.getStringValue(StackSegmenter.COL_SOURCE, i);
      assertEquals(z == 3 || z == 9 ? "prompts" : "context", src, "frame " + z);
    }
  }

  static String error(ImagePlus imp, Roi[] rois, StackSegmenter.Options o) {
    SegmentStackException e =
        assertThrows(SegmentStackException.class, () -> StackSegmenter.run(imp, rois, o));
    assertFalse(e.cancelled());
    return e.getMessage();
  }

  static void assertContains(String text, String part) {
    assertTrue(text.contains(part), "'" + part + "' not in: " + text);
  }

  @Test
  void badInputIsRefusedWithAMessage() {
    ImagePlus imp = stack();

    ImageStack rgb = new ImageStack(W, H);
    rgb.addSlice("", new ColorProcessor(W, H));
    rgb.addSlice("", new ColorProcessor(W, H));
    assertContains(error(new ImagePlus("rgb", rgb), prompts(), cpu()), "RGB");

    ImageStack six = new ImageStack(W, H);
    for (int i = 0; i < 6; i++) {
      six.addSlice("", new short[W * H]);
    }
    ImagePlus channels = new ImagePlus("c", six);
    channels.setDimensions(2, 3, 1);
    assertContains(error(channels, prompts(), cpu()), "2 channels");
    ImagePlus fourD = new ImagePlus("t", six.duplicate());
    fourD.setDimensions(1, 3, 2);
    assertContains(error(fourD, prompts(), cpu()), "4D");

    PointRoi outside = new PointRoi(W + 4, 10);
    outside.setPosition(2);
    assertContains(error(imp, new Roi[] {outside}, cpu()), "outside the 96x80 image");
    PointRoi noSlice = new PointRoi(10, 10);
    assertContains(error(imp, new Roi[] {noSlice}, cpu()), "no slice position");
    Roi far = new PointRoi(10, 10);
    far.setPosition(D + 1);
    assertContains(error(imp, new Roi[] {far}, cpu()), "is on slice 13");
    Line line = new Line(1, 1, 20, 20);
    line.setPosition(1);
    assertContains(error(imp, new Roi[] {line}, cpu()), "use point selections");
    Roi negBox = new Roi(10, 10, 20, 20);
    negBox.setPosition(4);
    negBox.setStrokeColor(Color.RED);
    assertContains(error(imp, new Roi[] {negBox}, cpu()), "a box has no sign");

    assertContains(error(imp, new Roi[0], cpu()), "Nothing to segment from");

    // A NaN pixel in a 32-bit slice that would only be predicted at the end is refused by
    // the library before any prediction, and the message names the slice.
    ImageStack floats = new ImageStack(W, H);
    for (int z = 0; z < 3; z++) {
      float[] px = new float[W * H];
      px[5] = z == 2 ? Float.NaN : 1f;
      floats.addSlice("", px);
    }
    PointRoi click = new PointRoi(10, 10);
    click.setPosition(1);
    String nan = error(new ImagePlus("f", floats), new Roi[] {click}, cpu());
    assertContains(nan, "failed on slice 3");

    StackSegmenter.Options o = cpu();
    ImageStack small = new ImageStack(W - 1, H);
    for (int z = 0; z < D; z++) {
      small.addSlice("", new byte[(W - 1) * H]);
    }
    o.masks = new ImagePlus("small", small);
    assertContains(error(imp, prompts(), o), "same width, height and number of slices");
    ImageStack shallow = new ImageStack(W, H);
    shallow.addSlice("", new byte[W * H]);
    o.masks = new ImagePlus("shallow", shallow);
    assertContains(error(imp, prompts(), o), "96x80 with 1 slice;");
    ImageStack both = new ImageStack(W, H);
    for (int z = 0; z < D; z++) {
      byte[] px = new byte[W * H];
      px[0] = (byte) (z == 2 ? 1 : 0); // slice 3 also has clicks
      both.addSlice("", px);
    }
    o.masks = new ImagePlus("both", both);
    assertContains(error(imp, prompts(), o), "Slice 3 has both prompts");

    StackSegmenter.Options bad = cpu();
    bad.model = "/nonexistent/model.safetensors";
    String m = error(imp, prompts(), bad);
    assertContains(m, "Could not load the model");
    assertContains(m, "/nonexistent/model.safetensors");
  }

  @Test
  void negativeRule() {
    Roi r = new PointRoi(1, 1);
    assertFalse(StackSegmenter.isNegative(r));
    r.setName("Negative 2");
    assertTrue(StackSegmenter.isNegative(r));
    r.setName("pos");
    r.setStrokeColor(new Color(255, 0, 0, 128));
    assertTrue(StackSegmenter.isNegative(r), "red with any alpha");
    r.setStrokeColor(Color.YELLOW);
    assertFalse(StackSegmenter.isNegative(r));
  }

  @Test
  void cancellingDuringTheBatchProducesNothing() {
    StackSegmenter.Options o = cpu();
    AtomicInteger polls = new AtomicInteger();
    // Two polls before the prompted slices, one before the batch, then one per batch image.
    o.cancelRequested = () -> polls.incrementAndGet() > 5;
    SegmentStackException e =
        assertThrows(
            SegmentStackException.class, () -> StackSegmenter.run(stack(), prompts(), o));
    assertTrue(e.cancelled(), e.getMessage());
    assertEquals(6, polls.get(), "cancelled at the first poll that asked");
  }

  /** The plugin's own entry point, headless: macro options instead of the dialog. */
  @Test
  void thePluginRunsHeadlessFromMacroOptions() throws Exception {
    AtomicReference<Throwable> failure = new AtomicReference<>();
    AtomicReference<ImagePlus> made = new AtomicReference<>();
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    // ImageJ reads macro options only on threads named like its own ("Run$_...").
    Thread t =
        new Thread(
            () -> {
              try {
                ImagePlus imp = stack();
                Overlay ov = new Overlay();
                for (Roi r : prompts()) {
                  ov.add(r);
                }
                imp.setOverlay(ov);
                Interpreter.batchMode = true;
                Macro.setOptions("model=[] backend=cpu");
                WindowManager.setTempCurrentImage(imp);
                new SegmentStackPlugin().run("");
                made.set(WindowManager.getCurrentImage());

                // An RGB image: IJ.error, which ImageJ prints to stdout when headless.
                ImageStack rgb = new ImageStack(W, H);
                rgb.addSlice("", new ColorProcessor(W, H));
                WindowManager.setTempCurrentImage(new ImagePlus("rgb", rgb));
                PrintStream out = System.out;
                System.setOut(new PrintStream(console, true, "UTF-8"));
                try {
                  new SegmentStackPlugin().run("");
                } finally {
                  System.setOut(out);
                }
              } catch (Throwable e) {
                failure.set(e);
              } finally {
                Interpreter.batchMode = false;
                Macro.setOptions(null);
              }
            },
            "Run$_multiverseg_test");
    t.start();
    t.join();
    if (failure.get() != null) {
      throw new AssertionError(failure.get());
    }
    ImagePlus mask = made.get();
    assertNotNull(mask);
    assertEquals("MultiverSeg of disk", mask.getTitle());
    double[] d = checkMask(mask, "plugin");
    assertTrue(mean(d) >= MEAN_DICE, "mean Dice " + mean(d));
    String said = new String(console.toByteArray(), StandardCharsets.UTF_8);
    assertContains(said, "'rgb' is an RGB image");
  }

  @Test
  void macroOptionsAndBackendNames() throws Exception {
    StackSegmenter.Options o = new StackSegmenter.Options();
    SegmentStackPlugin.apply("model=[official-v1] backend=gpu window", stack(), o);
    assertEquals("official-v1", o.model);
    assertEquals(Backend.GPU, o.backend);
    assertTrue(o.displayRangeWindow);
    assertEquals(null, o.masks);
    SegmentStackException e =
        assertThrows(
            SegmentStackException.class,
            () -> SegmentStackPlugin.apply("mask=[gone.tif]", stack(), o));
    assertContains(e.getMessage(), "no open image called 'gone.tif'");
    assertArrayEquals(new String[] {"auto", "cpu", "gpu"}, StackSegmenter.backendChoices());
  }
}
