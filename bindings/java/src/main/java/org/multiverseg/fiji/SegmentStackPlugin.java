package org.multiverseg.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.Prefs;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.macro.Interpreter;
import ij.plugin.PlugIn;
import ij.plugin.frame.RoiManager;
import java.awt.GraphicsEnvironment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * "Plugins &gt; MultiverSeg &gt; Segment Stack" (registered by the jar's plugins.config): the
 * ImageJ 1.x face of {@link StackSegmenter}. It reads the settings (a dialog, or the macro
 * options when headless), collects the prompts, runs the segmenter and shows its mask stack
 * and uncertainty table; errors go to {@link IJ#error(String, String)}, which ImageJ prints
 * to the console when headless.
 *
 * <p>An ImageJ 1.x {@link PlugIn} rather than a SciJava Command: it runs unchanged in plain
 * ImageJ and in Fiji, needs nothing but ij.jar (no SciJava dependency tree to match Fiji's
 * versions), and its core is tested headless with ij.jar alone.
 *
 * <p>Prompts come from the ROI Manager when it holds ROIs; otherwise from the image's
 * overlay; otherwise from the current selection, on the current slice. The rules for each
 * ROI (slice, sign, points, rectangles) are those of {@link StackSegmenter#run}.
 *
 * <p>Macro (and headless) use: {@code run("Segment Stack", "model=[] backend=auto
 * mask=[masks.tif] window");} where {@code model} is empty (the built-in model), a file or
 * a fetched model's name, {@code mask} an open image's title or {@code *None*}, and {@code
 * window} (optional) maps the display range instead of each slice's min-max.
 */
public class SegmentStackPlugin implements PlugIn {
  /** The title of dialogs and error messages. */
  public static final String TITLE = "MultiverSeg";

  static final String PREF_MODEL = "multiverseg.model";
  static final String PREF_BACKEND = "multiverseg.backend";
  static final String PREF_WINDOW = "multiverseg.window";
  static final String NONE = "*None*";

  /** ImageJ creates the plugin through this constructor. */
  public SegmentStackPlugin() {}

  /** Runs the command on the current image; {@code arg} (from plugins.config) is unused. */
  @Override
  public void run(String arg) {
    ImagePlus imp = WindowManager.getCurrentImage();
    if (imp == null) {
      IJ.noImage();
      return;
    }
    try {
      // Refuse a wrong image before asking anything about it.
      StackSegmenter.checkImage(imp);
      StackSegmenter.Options o = stored();
      if (GraphicsEnvironment.isHeadless()) {
        // No dialog exists headless (GenericDialog is an AWT window): read the macro options.
        String options = Macro.getOptions();
        if (options != null) {
          apply(options, imp, o);
        }
      } else if (!dialog(imp, o)) {
        return;
      }
      StackSegmenter.Result r = StackSegmenter.run(imp, prompts(imp), o);
      show(r);
    } catch (SegmentStackException e) {
      if (e.cancelled()) {
        IJ.showStatus(TITLE + ": cancelled");
        IJ.log(TITLE + ": " + e.getMessage());
      } else {
        IJ.error(TITLE, e.getMessage());
      }
    } catch (LinkageError e) {
      // JNA missing or older than 5.0, or no native library for this platform in the jar.
      IJ.error(
          TITLE,
          "The MultiverSeg library could not be loaded: "
              + e
              + "\nIt needs JNA 5 or later (Fiji ships it in jars/; in plain ImageJ copy"
              + " jna-5.x.jar into plugins/jars/) and a native library for "
              + System.getProperty("os.name")
              + " "
              + System.getProperty("os.arch")
              + " in the plugin's jar.");
    }
  }

  /** The settings last used (ImageJ's preferences), with no mask stack. */
  static StackSegmenter.Options stored() {
    StackSegmenter.Options o = new StackSegmenter.Options();
    o.model = Prefs.get(PREF_MODEL, "");
    o.backend = StackSegmenter.backend(Prefs.get(PREF_BACKEND, "auto"));
    o.displayRangeWindow = Prefs.get(PREF_WINDOW, false);
    return o;
  }

  private static void store(StackSegmenter.Options o) {
    Prefs.set(PREF_MODEL, o.model);
    Prefs.set(PREF_BACKEND, o.backend.name().toLowerCase(Locale.ROOT));
    Prefs.set(PREF_WINDOW, o.displayRangeWindow);
  }

  /**
   * Applies macro options (the keys the dialog records: model, backend, mask, window) to
   * {@code o}; keys that are absent keep the stored settings.
   */
  static void apply(String options, ImagePlus imp, StackSegmenter.Options o)
      throws SegmentStackException {
    o.model = Macro.getValue(options, "model", o.model).trim();
    o.backend = StackSegmenter.backend(Macro.getValue(options, "backend", o.backend.name()));
    o.displayRangeWindow = (" " + options + " ").contains(" window ");
    o.masks = maskImage(Macro.getValue(options, "mask", NONE), imp);
  }

  private static ImagePlus maskImage(String title, ImagePlus imp) throws SegmentStackException {
    if (title == null || title.isEmpty() || NONE.equals(title)) {
      return null;
    }
    ImagePlus m = WindowManager.getImage(title);
    if (m == null) {
      throw new SegmentStackException("There is no open image called '" + title + "'.");
    }
    return m;
  }

  private static boolean dialog(ImagePlus imp, StackSegmenter.Options o)
      throws SegmentStackException {
    List<String> masks = new ArrayList<>();
    masks.add(NONE);
    int[] ids = WindowManager.getIDList();
    if (ids != null) {
      for (int id : ids) {
        ImagePlus other = WindowManager.getImage(id);
        // Every other image is offered; a wrong size is reported with both sizes.
        if (other != null && other != imp) {
          masks.add(other.getTitle());
        }
      }
    }
    GenericDialog gd = new GenericDialog(TITLE + ": Segment Stack");
    gd.addFileField("Model", o.model, 30);
    gd.addMessage("Model: empty = the built-in model; a .safetensors file; or a fetched"
        + " name (official-v1).");
    gd.addChoice("Backend", StackSegmenter.backendChoices(),
        o.backend.name().toLowerCase(Locale.ROOT));
    gd.addChoice("Mask stack", masks.toArray(new String[0]), NONE);
    gd.addCheckbox("Window from display range (else each slice's min-max)",
        o.displayRangeWindow);
    gd.addMessage(
        "Prompts (ROI Manager, else overlay, else the selection), each on its slice:\n"
            + "points = clicks (name \"neg...\" or red = background), rectangle = box.\n"
            + "Non-empty mask slices are context. Esc cancels.");
    gd.showDialog();
    if (gd.wasCanceled()) {
      return false;
    }
    o.model = gd.getNextString().trim();
    o.backend = StackSegmenter.backend(gd.getNextChoice());
    String mask = gd.getNextChoice();
    o.displayRangeWindow = gd.getNextBoolean();
    store(o);
    o.masks = maskImage(mask, imp);
    return true;
  }

  /**
   * The prompts for {@code imp}: the ROI Manager's ROIs when it has any, else the overlay's,
   * else the current selection (placed on the current slice when it has no position).
   */
  static Roi[] prompts(ImagePlus imp) {
    // getInstance() never opens a manager (which would fail headless).
    RoiManager rm = RoiManager.getInstance();
    if (rm != null && rm.getCount() > 0) {
      return rm.getRoisAsArray();
    }
    Overlay ov = imp.getOverlay();
    if (ov != null && ov.size() > 0) {
      return ov.toArray();
    }
    Roi r = imp.getRoi();
    if (r == null) {
      return new Roi[0];
    }
    Roi c = (Roi) r.clone();
    if (c.getPosition() == 0 && !c.hasHyperStackPosition()) {
      c.setPosition(imp.getCurrentSlice());
    }
    return new Roi[] {c};
  }

  private static void show(StackSegmenter.Result r) {
    if (GraphicsEnvironment.isHeadless() && !Interpreter.isBatchMode()) {
      // Headless outside batch mode there is no window to open: make the mask the current
      // image, so that the next macro command (e.g. saveAs) works on it.
      WindowManager.setTempCurrentImage(r.mask);
    } else {
      r.mask.show();
    }
    r.uncertainty.show(StackSegmenter.TABLE_TITLE);
    IJ.showStatus(TITLE + ": done (" + r.backend + ")");
  }
}
