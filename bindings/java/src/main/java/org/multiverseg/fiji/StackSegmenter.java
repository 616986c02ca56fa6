package org.multiverseg.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.PointRoi;
import ij.gui.Roi;
import ij.measure.Calibration;
import ij.measure.ResultsTable;
import java.awt.Color;
import java.awt.geom.Rectangle2D;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;
import org.multiverseg.Backend;
import org.multiverseg.BatchResult;
import org.multiverseg.Image;
import org.multiverseg.Model;
import org.multiverseg.ModelOptions;
import org.multiverseg.MvsException;
import org.multiverseg.Prediction;
import org.multiverseg.Session;

/**
 * The core of "Plugins &gt; MultiverSeg &gt; Segment Stack", without any dialog: segments every
 * slice of a stack from point and rectangle ROIs and an optional mask stack, through the Java
 * bindings ({@link Session}). {@link SegmentStackPlugin} only gathers the inputs (dialog, ROI
 * Manager) and shows the outputs; scripts, macros and tests call {@link #run} directly, and it
 * works headless ({@code java.awt.headless=true}).
 *
 * <p>What happens, in this order:
 *
 * <ol>
 *   <li>Every input is checked before anything is predicted: the image type and shape, each
 *       ROI's type, slice and coordinates, the mask stack's size, and each slice and prompt
 *       against the library (cheap: no prediction). A problem throws {@link
 *       SegmentStackException}.
 *   <li>Each non-empty slice of the mask stack joins the context with its mask.
 *   <li>Each slice with prompts, in slice order, is predicted with its prompts and committed:
 *       the context grows, so later slices profit.
 *   <li>The remaining slices are predicted from the context alone in one {@link
 *       Session#predictBatch} call, with ImageJ's progress bar; the cancel check (Esc in
 *       ImageJ by default) stops it and nothing is produced.
 * </ol>
 *
 * <p>The output is a new 8-bit stack (255 = foreground, 0 = background) with the input's
 * spatial calibration (pixel size, unit, origin; not its value calibration, which would give
 * the 0/255 mask other values), its dimensions and slice labels, and a table of the predicted
 * slices' uncertainty, most uncertain first, to review next.
 */
public final class StackSegmenter {
  /** The title of the uncertainty table. */
  public static final String TABLE_TITLE = "MultiverSeg uncertainty";

  /** The table column with the 1-based slice (stack position). */
  public static final String COL_SLICE = "Slice";
  /** The table column with the slice's uncertainty in [0, 1] (higher = less sure). */
  public static final String COL_UNCERTAINTY = "Uncertainty";
  /** The table column saying how the slice was predicted: "prompts" or "context". */
  public static final String COL_SOURCE = "Source";

  private StackSegmenter() {}

  /** The settings of one run; the defaults are the plugin's. */
  public static final class Options {
    /**
     * The model: empty for the default model built into the native library, a path to a
     * safetensors file (written by {@code mvs convert} or tools/train), or the name of a
     * model fetched with {@code mvs fetch} ("official-v1", "official-v0").
     */
    public String model = "";
    /** Which backend runs the networks. */
    public Backend backend = Backend.AUTO;
    /** CPU threads; 0 = all cores. */
    public int threads = 0;
    /**
     * An optional mask stack of the image's width, height and slice count; nonzero pixels are
     * foreground, and every slice that is not empty joins the context. Null for none.
     */
    public ImagePlus masks = null;
    /**
     * True: map the image's display range (Image &gt; Adjust &gt; Brightness/Contrast) to [0, 1]
     * on every slice, clipping outside it. False (default): each slice's own min-max, as
     * everywhere else in the library.
     */
    public boolean displayRangeWindow = false;
    /**
     * Polled between slices and during the batch; true cancels the run. The default is Esc in
     * ImageJ ({@link IJ#escapePressed()}).
     */
    public BooleanSupplier cancelRequested = IJ::escapePressed;
  }

  /** What a successful run made. Nothing is shown: the caller decides. */
  public static final class Result {
    /** The 8-bit mask stack (0/255), titled "MultiverSeg of " and the input's title. */
    public final ImagePlus mask;
    /**
     * One row per predicted slice (slices given in the mask stack are not predicted and not
     * listed), most uncertain first: {@link #COL_SLICE}, {@link #COL_UNCERTAINTY}, {@link
     * #COL_SOURCE}.
     */
    public final ResultsTable uncertainty;
    /** The backend that ran, e.g. "cpu (tract, 2 threads, winograd 4x4)", for the log. */
    public final String backend;

    Result(ImagePlus mask, ResultsTable uncertainty, String backend) {
      this.mask = mask;
      this.uncertainty = uncertainty;
      this.backend = backend;
    }
  }

  /** One prompt, kept with the ROI it came from so that an error can name it. */
  private static final class Prompt {
    final String roi;
    final boolean box;
    final boolean positive;
    final double x0;
    final double y0;
    final double x1;
    final double y1;

    Prompt(String roi, boolean box, boolean positive, double x0, double y0, double x1, double y1) {
      this.roi = roi;
      this.box = box;
      this.positive = positive;
      this.x0 = x0;
      this.y0 = y0;
      this.x1 = x1;
      this.y1 = y1;
    }
  }

  /**
   * Segments {@code imp} from {@code rois} (point ROIs: clicks; rectangles: boxes; may be
   * null or empty when the mask stack gives context) and {@code options.masks}.
   *
   * <p>ROI rules: a ROI's slice is its position ({@link Roi#getPosition()}, or its Z/T
   * position in a hyperstack; in a multi-point ROI, each point's own position when it has
   * one); a ROI without a position is an error unless the image has one slice. A point
   * marks the pixel it lies in (the click is at the pixel's centre) and must lie inside the
   * image. A point ROI is negative (background) when its name starts with "neg" (any case)
   * or its stroke colour is pure red (255, 0, 0), else positive. A rectangle is a box,
   * clipped to the image; rounded corners are ignored, and a negative rectangle is an error.
   * Other ROI types are errors. A slice may not have both prompts and a non-empty mask.
   *
   * @throws SegmentStackException bad input (nothing was computed), a library error (its
   *     message, naming the slice), or a cancellation ({@link
   *     SegmentStackException#cancelled()}); no output exists then.
   */
  public static Result run(ImagePlus imp, Roi[] rois, Options options)
      throws SegmentStackException {
    Options o = options == null ? new Options() : options;
    checkImage(imp);
    final int w = imp.getWidth();
    final int h = imp.getHeight();
    final int n = imp.getStackSize();
    byte[][] given = readMasks(o.masks, imp);
    Map<Integer, List<Prompt>> prompts = readRois(rois == null ? new Roi[0] : rois, imp);
    boolean anyContext = false;
    for (int z = 0; z < n; z++) {
      if (given[z] != null) {
        anyContext = true;
        if (prompts.containsKey(z)) {
          throw new SegmentStackException(
              "Slice "
                  + (z + 1)
                  + " has both prompts (ROIs) and a non-empty mask in '"
                  + o.masks.getTitle()
                  + "'. Remove one of them: a masked slice is context, it is not predicted.");
        }
      }
    }
    if (!anyContext && prompts.isEmpty()) {
      throw new SegmentStackException(
          "Nothing to segment from: there are no prompts and no context.\n"
              + "Add point selections or a rectangle on at least one slice to the ROI Manager"
              + " (Edit > Selection > Add to Manager), or choose a mask stack with at least one"
              + " non-empty slice.");
    }
    float[] window = null;
    if (o.displayRangeWindow) {
      double lo = imp.getDisplayRangeMin();
      double hi = imp.getDisplayRangeMax();
      if (!(hi > lo)) {
        throw new SegmentStackException(
            "The display range of '" + imp.getTitle() + "' is empty (" + lo + " to " + hi
                + "): set it with Image > Adjust > Brightness/Contrast, or do not use it.");
      }
      window = new float[] {(float) lo, (float) hi};
    }

    IJ.resetEscape();
    ImageStack stack = imp.getStack();
    Image[] images = new Image[n];
    for (int z = 0; z < n; z++) {
      images[z] = slice(stack, z, w, h, window);
    }
    byte[][] out = new byte[n][];
    float[] uncertainty = new float[n];
    String[] source = new String[n];
    String[] backendName = new String[1];
    try (Session s = openSession(o, backendName)) {
      // The library checks every slice (e.g. NaN pixels) and prompt before the first (slow)
      // prediction, so that bad input fails now, naming its slice, and not after minutes.
      for (int z = 0; z < n; z++) {
        if (given[z] == null) {
          setImage(s, images[z], z);
          if (prompts.containsKey(z)) {
            addPrompts(s, z, prompts.get(z));
          }
        }
      }
      for (int z = 0; z < n; z++) {
        if (given[z] != null) {
          try {
            s.addContext(images[z], given[z], 0);
          } catch (MvsException e) {
            throw libraryError("slice " + (z + 1) + " of the mask stack", e);
          }
          out[z] = given[z];
        }
      }
      List<Integer> rest = new ArrayList<>();
      for (int z = 0; z < n; z++) {
        if (given[z] == null && !prompts.containsKey(z)) {
          rest.add(z);
        }
      }
      final int total = prompts.size() + rest.size();
      int done = 0;
      for (Map.Entry<Integer, List<Prompt>> e : prompts.entrySet()) {
        int z = e.getKey();
        if (o.cancelRequested.getAsBoolean()) {
          throw SegmentStackException.cancellation();
        }
        IJ.showStatus("MultiverSeg: slice " + (z + 1) + " (prompts)");
        setImage(s, images[z], z);
        addPrompts(s, z, e.getValue());
        try {
          Prediction p = s.predict();
          out[z] = p.mask;
          uncertainty[z] = p.uncertainty;
          source[z] = "prompts";
          s.commit();
        } catch (MvsException ex) {
          throw libraryError("slice " + (z + 1), ex);
        }
        IJ.showProgress(++done, total);
      }
      if (!rest.isEmpty()) {
        if (o.cancelRequested.getAsBoolean()) {
          throw SegmentStackException.cancellation();
        }
        IJ.showStatus("MultiverSeg: " + rest.size() + " slices from the context");
        Image[] batch = new Image[rest.size()];
        for (int i = 0; i < batch.length; i++) {
          batch[i] = images[rest.get(i)];
        }
        final int before = done;
        BatchResult r;
        try {
          r =
              s.predictBatch(
                  batch,
                  (d, t) -> {
                    IJ.showProgress(before + (int) d, total);
                    return !o.cancelRequested.getAsBoolean();
                  });
        } catch (MvsException ex) {
          if (ex.status() == MvsException.CANCELLED) {
            throw SegmentStackException.cancellation();
          }
          throw libraryError("the slices predicted from the context", ex);
        }
        for (int i = 0; i < batch.length; i++) {
          int z = rest.get(i);
          out[z] = r.masks[i];
          uncertainty[z] = r.uncertainty[i];
          source[z] = "context";
        }
      }
    } finally {
      IJ.showProgress(1.0);
      IJ.showStatus("");
    }
    return new Result(maskStack(imp, out), table(uncertainty, source), backendName[0]);
  }

  // ---- checks and conversions (ImageJ types to the bindings' types; no numerics) ----

  /** Refuses what cannot be segmented: no image, RGB or indexed colour, channels, 4D. */
  static void checkImage(ImagePlus imp) throws SegmentStackException {
    if (imp == null) {
      throw new SegmentStackException("There is no image: open a stack first.");
    }
    String t = "'" + imp.getTitle() + "'";
    switch (imp.getType()) {
      case ImagePlus.GRAY8:
      case ImagePlus.GRAY16:
      case ImagePlus.GRAY32:
        break;
      case ImagePlus.COLOR_RGB:
        throw new SegmentStackException(
            t + " is an RGB image; MultiverSeg segments one gray channel.\n"
                + "Convert it (Image > Type > 8-bit) or split the channels (Image > Color >"
                + " Split Channels) and run it on one of them.");
      default:
        // COLOR_256: the pixels are palette indices, not intensities.
        throw new SegmentStackException(
            t + " is an 8-bit colour (indexed) image; its pixel values are palette indices."
                + " Convert it to RGB and then to 8-bit gray (Image > Type) first.");
    }
    int c = imp.getNChannels();
    int zs = imp.getNSlices();
    int ts = imp.getNFrames();
    if (c > 1) {
      throw new SegmentStackException(
          t + " has " + c + " channels; MultiverSeg segments one gray channel.\n"
              + "Duplicate one channel (Image > Duplicate..., or Image > Color > Split"
              + " Channels) and run it on that.");
    }
    if (zs > 1 && ts > 1) {
      throw new SegmentStackException(
          t + " is a 4D hyperstack (" + zs + " slices x " + ts + " frames); MultiverSeg"
              + " segments one 3D stack or time series at a time.\n"
              + "Duplicate one frame or one slice (Image > Duplicate...) and run it on that.");
    }
  }

  // Each slice's mask as 0/1 bytes, or null where it is empty (or there is no mask stack).
  private static byte[][] readMasks(ImagePlus m, ImagePlus imp) throws SegmentStackException {
    int w = imp.getWidth();
    int h = imp.getHeight();
    int n = imp.getStackSize();
    byte[][] given = new byte[n][];
    if (m == null) {
      return given;
    }
    if (m == imp) {
      throw new SegmentStackException(
          "The mask stack is the image itself: choose another image, or none.");
    }
    if (m.getWidth() != w || m.getHeight() != h || m.getStackSize() != n) {
      throw new SegmentStackException(
          "The mask stack '" + m.getTitle() + "' is " + m.getWidth() + "x" + m.getHeight()
              + " with " + slices(m.getStackSize()) + "; '" + imp.getTitle() + "' is " + w + "x"
              + h + " with " + slices(n) + ". They must have the same width, height and number"
              + " of slices.");
    }
    ImageStack st = m.getStack();
    for (int z = 0; z < n; z++) {
      Object px = st.getPixels(z + 1);
      byte[] b = new byte[w * h];
      boolean any = false;
      for (int i = 0; i < b.length; i++) {
        boolean fg;
        if (px instanceof byte[]) {
          fg = ((byte[]) px)[i] != 0;
        } else if (px instanceof short[]) {
          fg = ((short[]) px)[i] != 0;
        } else if (px instanceof float[]) {
          fg = ((float[]) px)[i] != 0f;
        } else {
          // RGB: the alpha byte is not part of the colour.
          fg = (((int[]) px)[i] & 0xffffff) != 0;
        }
        if (fg) {
          b[i] = 1;
          any = true;
        }
      }
      given[z] = any ? b : null;
    }
    return given;
  }

  private static String slices(int n) {
    return n == 1 ? "1 slice" : n + " slices";
  }

  private static String roiName(Roi roi, int index) {
    String name = roi.getName();
    return name == null || name.isEmpty() ? "ROI #" + (index + 1) : "ROI '" + name + "'";
  }

  /** The negative rule: a name starting with "neg" or a pure red stroke. */
  static boolean isNegative(Roi roi) {
    String name = roi.getName();
    if (name != null && name.toLowerCase(Locale.ROOT).startsWith("neg")) {
      return true;
    }
    Color c = roi.getStrokeColor();
    return c != null && (c.getRGB() & 0xffffff) == 0xff0000;
  }

  // The 1-based slice of a ROI (or of one of its points, when pointPosition > 0).
  private static int slice(Roi roi, int pointPosition, ImagePlus imp, String name)
      throws SegmentStackException {
    int n = imp.getStackSize();
    int p = pointPosition;
    if (p <= 0) {
      p = roi.getPosition();
    }
    if (p <= 0 && roi.hasHyperStackPosition()) {
      // Channels are 1 here (checked), so the Z or T position is the stack position.
      p = imp.getNFrames() > 1 ? roi.getTPosition() : roi.getZPosition();
    }
    if (p <= 0) {
      if (n == 1) {
        return 1;
      }
      throw new SegmentStackException(
          name + " has no slice position, so it could be on any of the " + n + " slices.\n"
              + "Add it to the ROI Manager while its slice is shown (with More > Options..."
              + " > Associate \"Show All\" ROIs with slices), or set its position (Properties).");
    }
    if (p > n) {
      throw new SegmentStackException(
          name + " is on slice " + p + ", but '" + imp.getTitle() + "' has " + n + " slices.");
    }
    return p;
  }

  private static Map<Integer, List<Prompt>> readRois(Roi[] rois, ImagePlus imp)
      throws SegmentStackException {
    int w = imp.getWidth();
    int h = imp.getHeight();
    // Sorted by slice: prompted slices are predicted and committed in stack order.
    Map<Integer, List<Prompt>> bySlice = new TreeMap<>();
    for (int k = 0; k < rois.length; k++) {
      Roi roi = rois[k];
      if (roi == null) {
        continue;
      }
      String name = roiName(roi, k);
      boolean negative = isNegative(roi);
      if (roi instanceof PointRoi) {
        PointRoi pr = (PointRoi) roi;
        float[] xs = pr.getFloatPolygon().xpoints;
        float[] ys = pr.getFloatPolygon().ypoints;
        for (int i = 0; i < xs.length; i++) {
          int z = slice(roi, pr.hasPointPosition(i) ? pr.getPointPosition(i) : 0, imp, name);
          // A point marks a pixel; the library's click is continuous, so click its centre.
          double px = Math.floor(xs[i]);
          double py = Math.floor(ys[i]);
          if (px < 0 || py < 0 || px >= w || py >= h) {
            throw new SegmentStackException(
                name + ": the point (" + xs[i] + ", " + ys[i] + ") on slice " + z
                    + " is outside the " + w + "x" + h + " image.");
          }
          bySlice
              .computeIfAbsent(z - 1, key -> new ArrayList<>())
              .add(new Prompt(name, false, !negative, px + 0.5, py + 0.5, 0, 0));
        }
      } else if (roi.getType() == Roi.RECTANGLE) {
        int z = slice(roi, 0, imp, name);
        if (negative) {
          throw new SegmentStackException(
              name + " is a rectangle marked negative (its name starts with \"neg\" or it is"
                  + " red); a box has no sign. Use negative points for the background.");
        }
        // ImageJ lets a rectangle reach past the border; the part inside is the box.
        Rectangle2D.Double b = roi.getFloatBounds();
        double x0 = Math.max(0, b.x);
        double y0 = Math.max(0, b.y);
        double x1 = Math.min(w, b.x + b.width);
        double y1 = Math.min(h, b.y + b.height);
        if (!(x1 > x0 && y1 > y0)) {
          throw new SegmentStackException(
              name + ": the rectangle on slice " + z + " lies outside the " + w + "x" + h
                  + " image.");
        }
        bySlice
            .computeIfAbsent(z - 1, key -> new ArrayList<>())
            .add(new Prompt(name, true, true, x0, y0, x1, y1));
      } else {
        throw new SegmentStackException(
            name + " is a " + roi.getTypeAsString() + " selection; use point selections"
                + " (clicks; named \"neg...\" or red for background) or rectangles (boxes).");
      }
    }
    return bySlice;
  }

  private static Image slice(ImageStack stack, int z, int w, int h, float[] window) {
    Object px = stack.getPixels(z + 1);
    Image img;
    if (px instanceof byte[]) {
      img = Image.u8((byte[]) px, w, h, 0);
    } else if (px instanceof short[]) {
      // ImageJ's 16-bit pixels are unsigned (signed data has a value calibration on top).
      img = Image.u16((short[]) px, w, h, 0);
    } else {
      img = Image.f32((float[]) px, w, h, 0);
    }
    return window == null ? img : img.window(window[0], window[1]);
  }

  private static void setImage(Session s, Image img, int z) throws SegmentStackException {
    try {
      s.setImage(img);
    } catch (MvsException e) {
      throw libraryError("slice " + (z + 1), e);
    }
  }

  private static void addPrompts(Session s, int z, List<Prompt> prompts)
      throws SegmentStackException {
    for (Prompt p : prompts) {
      try {
        if (p.box) {
          s.addBox(p.x0, p.y0, p.x1, p.y1);
        } else {
          s.addClick(p.x0, p.y0, p.positive);
        }
      } catch (MvsException e) {
        throw libraryError(p.roi + " on slice " + (z + 1), e);
      }
    }
  }

  private static SegmentStackException libraryError(String where, MvsException e) {
    return new SegmentStackException("MultiverSeg failed on " + where + ": " + e.getMessage(), e);
  }

  private static ImagePlus maskStack(ImagePlus imp, byte[][] masks) {
    int w = imp.getWidth();
    int h = imp.getHeight();
    ImageStack in = imp.getStack();
    ImageStack st = new ImageStack(w, h);
    for (int z = 0; z < masks.length; z++) {
      byte[] px = new byte[w * h];
      for (int i = 0; i < px.length; i++) {
        px[i] = masks[z][i] != 0 ? (byte) 255 : 0;
      }
      st.addSlice(in.getSliceLabel(z + 1), px);
    }
    ImagePlus res = new ImagePlus("MultiverSeg of " + imp.getTitle(), st);
    res.setDimensions(1, imp.getNSlices(), imp.getNFrames());
    res.setOpenAsHyperStack(imp.isHyperStack());
    Calibration cal = imp.getCalibration().copy();
    // The value calibration (e.g. signed 16-bit) describes the input's pixels, not 0/255.
    cal.disableDensityCalibration();
    res.setCalibration(cal);
    return res;
  }

  private static ResultsTable table(float[] uncertainty, String[] source) {
    List<Integer> rows = new ArrayList<>();
    for (int z = 0; z < source.length; z++) {
      if (source[z] != null) {
        rows.add(z);
      }
    }
    // Most uncertain first (review order); ties in slice order.
    rows.sort(
        Comparator.comparingDouble((Integer z) -> -uncertainty[z]).thenComparingInt(z -> z));
    ResultsTable rt = new ResultsTable();
    rt.showRowNumbers(false);
    rt.setPrecision(4);
    for (int z : rows) {
      rt.incrementCounter();
      rt.addValue(COL_SLICE, z + 1);
      rt.addValue(COL_UNCERTAINTY, uncertainty[z]);
      rt.addValue(COL_SOURCE, source[z]);
    }
    return rt;
  }

  // ---- the model: one loaded model is kept between runs ----

  private static Model cached;
  private static String cachedKey;

  /**
   * A new session on the model of {@code o}, whose backend's name goes to {@code backend[0]}.
   * The model is loaded once and kept while the settings (and a model file's size and date)
   * stay the same, since a GPU backend takes a while to start. The session is made under the
   * same lock: a run with other settings may then replace (close) the model at once, as a
   * session keeps its model alive.
   */
  private static synchronized Session openSession(Options o, String[] backend)
      throws SegmentStackException {
    Model m = model(o);
    try {
      backend[0] = m.backendName();
      return new Session(m);
    } catch (MvsException e) {
      throw libraryError("a new session", e);
    }
  }

  private static Model model(Options o) throws SegmentStackException {
    String spec = o.model == null ? "" : o.model.trim();
    Path path = asPath(spec);
    String key = spec + "|" + o.backend + "|" + o.threads;
    if (path != null) {
      File f = path.toFile();
      key += "|" + f.length() + "|" + f.lastModified();
    }
    if (cached != null && key.equals(cachedKey)) {
      return cached;
    }
    ModelOptions mo = new ModelOptions();
    mo.backend = o.backend;
    mo.threads = o.threads;
    Model m;
    try {
      if (spec.isEmpty()) {
        m = Model.loadDefault(mo);
      } else if (path != null) {
        m = Model.load(path, mo);
      } else {
        m = Model.loadNamed(spec, mo);
      }
    } catch (MvsException e) {
      throw new SegmentStackException(
          "Could not load the model '"
              + (spec.isEmpty() ? "(built-in default)" : spec)
              + "': "
              + e.getMessage()
              + "\nSet it in Plugins > MultiverSeg > Segment Stack (empty = the built-in"
              + " model).",
          e);
    }
    if (cached != null) {
      cached.close();
    }
    cached = m;
    cachedKey = key;
    return m;
  }

  // A model spec names a file when it looks like a path or exists; else it is a model name.
  private static Path asPath(String spec) {
    if (spec.isEmpty()) {
      return null;
    }
    try {
      Path p = Paths.get(spec);
      boolean looksLikePath =
          spec.indexOf('/') >= 0
              || spec.indexOf(File.separatorChar) >= 0
              || spec.toLowerCase(Locale.ROOT).endsWith(".safetensors");
      return looksLikePath || Files.exists(p) ? p : null;
    } catch (InvalidPathException e) {
      return null;
    }
  }

  /** The choices of {@link Options#backend} as the dialog shows them. */
  static String[] backendChoices() {
    String[] s = new String[Backend.values().length];
    for (int i = 0; i < s.length; i++) {
      s[i] = Backend.values()[i].name().toLowerCase(Locale.ROOT);
    }
    return s;
  }

  /** Parses a backend choice ("auto", "cpu", "gpu"); unknown names give AUTO. */
  static Backend backend(String choice) {
    for (Backend b : Backend.values()) {
      if (b.name().equalsIgnoreCase(choice == null ? "" : choice.trim())) {
        return b;
      }
    }
    return Backend.AUTO;
  }
}
