package org.multiverseg;

/**
 * Which network predicts an image once it has a prompt, while the context has at least
 * min_context entries ({@link Session#setAfterPrompt(AfterPrompt)}; MvsAfterPrompt). The
 * prediction before any prompt and predictBatch are not affected by it.
 */
public enum AfterPrompt {
  /** MultiverSegNet with the context (the paper; the default). */
  MULTIVERSEG(0),
  /** ScribblePrompt-UNet alone; its mask input is the previous prediction. */
  UNET(1),
  /** The mean of both networks' logits on the same input. */
  MEAN(2),
  /** MEAN while every prompt of the image is a click, MultiverSegNet after a box or scribble. */
  MEAN_FOR_CLICKS(3);

  final int code;

  AfterPrompt(int code) {
    this.code = code;
  }

  static AfterPrompt of(int code) {
    for (AfterPrompt a : values()) {
      if (a.code == code) {
        return a;
      }
    }
    throw new IllegalStateException("unknown MvsAfterPrompt value " + code);
  }
}
