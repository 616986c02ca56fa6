package org.multiverseg;

/** Which backend runs the networks. */
public enum Backend {
  /** The GPU when one is available, else the CPU. */
  AUTO(0),
  /** The CPU. */
  CPU(1);

  final int code;

  Backend(int code) {
    this.code = code;
  }
}
