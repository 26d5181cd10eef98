package io.keyward.cli;

import java.io.Console;
import java.lang.reflect.Method;
import sun.misc.Signal;

/** The process's stop signals and terminal, for {@code keyward serve}. */
final class StopSignals {
  private StopSignals() {}

  /**
   * Runs {@code onStop} (on a signal thread) when the process gets SIGTERM or SIGINT, instead of
   * the JVM's immediate shutdown, so the server can stop gracefully and exit 0. A second signal
   * exits at once (130), for a start that takes long or a drain nobody wants to wait for.
   */
  @SuppressWarnings("removal")
  static void install(Runnable onStop) {
    java.util.concurrent.atomic.AtomicInteger signals = new java.util.concurrent.atomic.AtomicInteger();
    for (String name : new String[] {"TERM", "INT"}) {
      try {
        Signal.handle(new Signal(name), signal -> {
          if (signals.incrementAndGet() == 1) {
            onStop.run();
          } else {
            // A second signal (Ctrl-C again, or during a slow start): stop now. Shutdown hooks
            // still run; an embedded PostgreSQL left behind is stopped by the next start.
            System.err.println("keyward: second stop signal; exiting at once");
            System.exit(130);
          }
        });
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
