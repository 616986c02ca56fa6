package org.multiverseg;

/** Masks and uncertainty scores of {@link Session#predictBatch}. */
public final class BatchResult {
  /** One 0/1 mask per image, its width * height bytes, row-major. */
  public final byte[][] masks;
  /** One score in [0, 1] per image (higher = less sure; review first). */
  public final float[] uncertainty;

  BatchResult(byte[][] masks, float[] uncertainty) {
    this.masks = masks;
    this.uncertainty = uncertainty;
  }
}
