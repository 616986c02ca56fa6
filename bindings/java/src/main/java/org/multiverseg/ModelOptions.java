package org.multiverseg;

/**
 * Options for {@link Model#load(java.nio.file.Path, ModelOptions)}: the C struct
 * MvsModelOptions. Defaults: automatic backend, all cores, the best GPU adapter, no GPU
 * limits, a CPU memory limit of three quarters of the physical memory.
 */
public final class ModelOptions {
  /** Which backend runs the networks. */
  public Backend backend = Backend.AUTO;
  /** CPU threads; 0 = all cores. */
  public int threads = 0;
  /**
   * How the CPU computes the 3x3 convolutions: false (default) = Winograd F(4x4, 3x3), the
   * fastest, logits within 3e-5 of f64; true = Winograd F(2x2, 3x3), which rounds as PyTorch
   * does (within 1.1e-5), slower.
   */
  public boolean exactCpuConv = false;
  /** GPU adapter name substring (case-insensitive); null = the best adapter. */
  public String gpuAdapter = null;
  /** GPU conv register block rows and columns (4 or 8); 0 = chosen by the device. */
  public int gpuConvTileRows = 0;
  /** See {@link #gpuConvTileRows}. */
  public int gpuConvTileCols = 0;
  /** Most context entries the GPU processes at once; 0 = as its limits allow. */
  public long gpuMaxChunk = 0;
  /** Most bytes of GPU memory per session; 0 = no limit (more runs on the CPU). */
  public long gpuMemoryLimit = 0;
  /**
   * Most bytes of activations one CPU prediction may need; 0 = three quarters of the physical
   * memory, -1 (UINT64_MAX) = no limit. A prediction over it fails with OUT_OF_MEMORY.
   */
  public long memoryLimit = 0;

  CApi.MvsModelOptions toC() throws MvsException {
    CApi.MvsModelOptions o = new CApi.MvsModelOptions();
    MvsException.check(CApi.LIB.mvs_model_options_init(o, o.size()));
    o.read();
    o.backend = backend.code;
    o.threads = threads;
    o.cpu_conv = exactCpuConv ? 1 : 0;
    o.gpu_adapter = gpuAdapter;
    o.gpu_conv_tile_rows = gpuConvTileRows;
    o.gpu_conv_tile_cols = gpuConvTileCols;
    o.gpu_max_chunk = gpuMaxChunk;
    o.gpu_memory_limit = gpuMemoryLimit;
    o.memory_limit = memoryLimit;
    o.write();
    return o;
  }
}
