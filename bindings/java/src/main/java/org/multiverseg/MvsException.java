package org.multiverseg;

/** A failed library call: the C status code and the library's message. */
public class MvsException extends Exception {
  private static final long serialVersionUID = 1L;

  /** MVS_ERR_INVALID_ARGUMENT: null, wrong size, NaN pixel, point outside the image. */
  public static final int INVALID_ARGUMENT = 1;
  /** MVS_ERR_IO: a file could not be read or written. */
  public static final int IO = 2;
  /** MVS_ERR_FORMAT: a file is not in the expected format. */
  public static final int FORMAT = 3;
  /** MVS_ERR_NOT_FOUND: an id does not exist. */
  public static final int NOT_FOUND = 4;
  /** MVS_ERR_STATE: the call is not valid now (e.g. predict before setImage). */
  public static final int STATE = 5;
  /** MVS_ERR_BACKEND: the inference backend failed. */
  public static final int BACKEND = 6;
  /** MVS_ERR_INTERNAL: a bug; the message says more. */
  public static final int INTERNAL = 7;
  /** MVS_ERR_CANCELLED: the call was cancelled; nothing was changed. */
  public static final int CANCELLED = 8;
  /** MVS_ERR_OUT_OF_MEMORY: the call would exceed the model's memory limit. */
  public static final int OUT_OF_MEMORY = 9;

  private final int status;

  MvsException(int status, String message) {
    super(message);
    this.status = status;
  }

  /** The C status code (one of the constants above). */
  public int status() {
    return status;
  }

  /** Throws for a non-zero status, with the message of the failed call on this thread. */
  static void check(int status) throws MvsException {
    if (status != 0) {
      throw new MvsException(status, CApi.LIB.mvs_last_error_message());
    }
  }
}
