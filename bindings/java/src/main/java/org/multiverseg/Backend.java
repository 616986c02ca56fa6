package org.multiverseg;

/** Which backend runs the networks. */
public enum Backend {
  /** A hardware GPU when one is available (Vulkan, Metal, DX12), else the CPU. */
  AUTO(0),
  /** The CPU. */
  CPU(1),
  /** The GPU, software adapters included; loading fails when there is none. */
  GPU(2);

  final int code;

  Backend(int code) {
    this.code = code;
  }
}
