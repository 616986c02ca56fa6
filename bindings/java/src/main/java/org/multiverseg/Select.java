package org.multiverseg;

/** How a capped context is filled ({@link Session#setContextPolicy(int, Select)}). */
public enum Select {
  /** The most recently added entries. */
  LATEST(0),
  /** The entries whose images are most similar to the target's. */
  SIMILAR(1);

  final int code;

  Select(int code) {
    this.code = code;
  }
}
