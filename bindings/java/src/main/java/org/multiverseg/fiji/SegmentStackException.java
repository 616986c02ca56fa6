package org.multiverseg.fiji;

/**
 * Why {@link StackSegmenter#run} produced nothing: bad input (the message says what to change,
 * in words for an ImageJ user), a library error (its message, with the slice it concerns), or
 * a cancellation by the user ({@link #cancelled()}).
 */
public class SegmentStackException extends Exception {
  private static final long serialVersionUID = 1L;

  /** True for a cancellation by the user, false for an error. */
  private final boolean cancelled;

  /** Bad input or a failed library call. */
  public SegmentStackException(String message) {
    this(message, null, false);
  }

  /** A failed library call, with the exception that reported it. */
  public SegmentStackException(String message, Throwable cause) {
    this(message, cause, false);
  }

  private SegmentStackException(String message, Throwable cause, boolean cancelled) {
    super(message, cause);
    this.cancelled = cancelled;
  }

  /** The user cancelled (Esc in ImageJ): not an error, nothing was produced. */
  public static SegmentStackException cancellation() {
    return new SegmentStackException("cancelled; nothing was produced", null, true);
  }

  /** True when the user cancelled rather than something failing. */
  public boolean cancelled() {
    return cancelled;
  }
}
