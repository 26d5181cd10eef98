package io.keyward.server;

import io.keyward.store.postgres.EmbeddedDatabase;
import java.util.OptionalLong;
import java.util.function.Consumer;

/**
 * Watches the embedded PostgreSQL's process while the server runs. If it dies (killed, crashed,
 * out of memory), the node cannot work any more and must not look alive: the watchdog reports it
 * once ({@code /health/live} fails from then on, and {@code keyward serve} exits with the
 * reason), instead of answering 503s forever from a process that looks healthy.
 */
final class EmbeddedWatchdog implements AutoCloseable {
  private static final long CHECK_EVERY_MILLIS = 1_000;

  private final Thread thread;
  private volatile boolean closed;

  EmbeddedWatchdog(EmbeddedDatabase database, Consumer<String> onDeath) {
    OptionalLong pid = database.serverPid();
    ProcessHandle process = pid.isPresent() ? ProcessHandle.of(pid.getAsLong()).orElse(null) : null;
    this.thread = Thread.ofPlatform().daemon().name("keyward-embedded-watchdog").unstarted(() -> {
      if (process == null) {
        return; // cannot be watched (no pid file): nothing to report
      }
      while (!closed) {
        try {
          Thread.sleep(CHECK_EVERY_MILLIS);
        } catch (InterruptedException e) {
          return;
        }
        if (!closed && !process.isAlive()) {
          onDeath.accept("the embedded PostgreSQL (pid " + process.pid() + ") stopped"
              + " unexpectedly; Keyward cannot work without it. Start Keyward again.");
          return;
        }
      }
    });
    thread.start();
  }

  @Override
  public void close() {
    closed = true;
    thread.interrupt();
  }

  @Override
  public String toString() {
    return "embedded PostgreSQL watchdog";
  }
}
