package io.keyward.cli;

import java.io.Console;
import java.lang.reflect.Method;
import sun.misc.Signal;

/** The process's stop signals and terminal, for {@code keyward serve}. */
final class StopSignals {
  private StopSignals() {}

  /**
   * Runs {@code onStop} (on a signal thread) when the process gets SIGTERM or SIGINT, instead of
   * the JVM's immediate shutdown, so the server can stop gracefully and exit 0.
   */
  @SuppressWarnings("removal")
  static void install(Runnable onStop) {
    for (String name : new String[] {"TERM", "INT"}) {
      try {
        Signal.handle(new Signal(name), signal -> onStop.run());
      } catch (IllegalArgumentException unsupported) {
        // Not on this platform (or the JVM reserves it): the shutdown hook still closes the server.
      }
    }
  }

  /**
   * Whether standard output is a terminal, where a secret shown once is seen by a person and not
   * kept by a log pipeline. JDK 22 and later give a console even when output is redirected and say
   * whether it is a terminal with {@code Console.isTerminal()}; JDK 21 gives none then.
   */
  static boolean stdoutIsTerminal() {
    Console console = System.console();
    if (console == null) {
      return false;
    }
    try {
      Method isTerminal = Console.class.getMethod("isTerminal");
      return (Boolean) isTerminal.invoke(console);
    } catch (ReflectiveOperationException e) {
      return true; // JDK 21: a console exists only for a terminal
    }
  }
}
