package org.multiverseg;

/** A prediction at the image's size: probabilities in [0, 1] and the 0/1 mask, row-major. */
public final class Prediction {
  /** Image width. */
  public final int width;
  /** Image height. */
  public final int height;
  /** width * height foreground probabilities. */
  public final float[] probabilities;
  /** width * height values, 1 where the probability is above 0.5. */
  public final byte[] mask;
  /** How unsure the prediction is, in [0, 1] (mean binary entropy around the object). */
  public final float uncertainty;

  Prediction(int width, int height, float[] probabilities, byte[] mask, float uncertainty) {
    this.width = width;
    this.height = height;
    this.probabilities = probabilities;
    this.mask = mask;
    this.uncertainty = uncertainty;
  }
}
