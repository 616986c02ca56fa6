package org.multiverseg;

import com.sun.jna.Pointer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The library writes nothing to stdout or stderr. {@link #toJavaUtilLogging()} forwards its
 * messages to the java.util.logging logger "org.multiverseg" (which SLF4J and Log4j bridge);
 * {@link #off()} stops that.
 */
public final class Logging {
  private static final Logger LOG = Logger.getLogger("org.multiverseg");
  // Kept in a static field: JNA must not garbage-collect a callback the library holds.
  private static final CApi.MvsLogFn FORWARD =
      (int level, String message, Pointer userData) -> LOG.log(level(level), message);

  private Logging() {}

  static Level level(int mvsLevel) {
    switch (mvsLevel) {
      case 1:
        return Level.SEVERE;
      case 2:
        return Level.WARNING;
      case 3:
        return Level.INFO;
      case 4:
        return Level.FINE;
      default:
        return Level.FINER;
    }
  }

  /** Forwards the library's log messages to java.util.logging ("org.multiverseg"). */
  public static void toJavaUtilLogging() throws MvsException {
    MvsException.check(CApi.LIB.mvs_set_log_callback(FORWARD, null));
  }

  /** Stops forwarding (the library logs nowhere). */
  public static void off() throws MvsException {
    MvsException.check(CApi.LIB.mvs_set_log_callback(null, null));
  }
}
