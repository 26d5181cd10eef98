package io.keyward.server.testing;

import io.keyward.client.admin.KeywardClient;
import io.keyward.server.KeywardServer;
import io.keyward.server.ServerSettings;
import io.keyward.store.postgres.TestDatabase;
import io.keyward.testing.MutableClock;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * A real Keyward server on a free port, over a scratch database on the machine's PostgreSQL, with
 * a clock the test moves: {@code try (var keyward = KeywardTestServer.start()) { ... }}.
 */
public final class KeywardTestServer implements AutoCloseable {
  private final TestDatabase database;
  private final Path dataDir;
  private final MutableClock clock;
  private final KeywardServer server;
  private final KeywardClient client;
  private final ByteArrayOutputStream console;

  private KeywardTestServer(TestDatabase database, Path dataDir, MutableClock clock,
      KeywardServer server, ByteArrayOutputStream console) {
    this.database = database;
    this.dataDir = dataDir;
    this.clock = clock;
    this.server = server;
    this.console = console;
    this.client = new KeywardClient(baseUri(), rootKey(), Duration.ofSeconds(30));
  }

  /** A server with default settings. */
  public static KeywardTestServer start() {
    return start(UnaryOperator.identity());
  }

  /** A server whose settings the caller adjusts (port, data dir and database are set here). */
  public static KeywardTestServer start(UnaryOperator<ServerSettings> adjust) {
    return start(TestDatabase.createEmpty(), adjust);
  }

  /**
   * A server that reaches its scratch database through another address (a proxy in front of
   * the PostgreSQL at {@link TestDatabase#ADMIN_URL}); {@code adminUrlViaProxy} is that URL with
   * the proxy's port.
   */
  public static KeywardTestServer startVia(String adminUrlViaProxy) {
    TestDatabase database = TestDatabase.createEmpty();
    String viaProxy = adminUrlViaProxy.replaceFirst("/[^/?]+(\\?|$)", "/" + database.name() + "$1");
    return start(database,
        s -> s.withDatabaseUrl(new io.keyward.store.postgres.DatabaseUrl(viaProxy, null, null)));
  }

  /** A server on a database the caller prepared (closed with the server). */
  public static KeywardTestServer startOn(TestDatabase database, UnaryOperator<ServerSettings> adjust) {
    return start(database, adjust);
  }

  private static KeywardTestServer start(TestDatabase database, UnaryOperator<ServerSettings> adjust) {
    try {
      Path dataDir = Files.createTempDirectory("keyward-test");
      MutableClock clock = new MutableClock(java.time.Instant.now());
      ServerSettings settings = adjust.apply(ServerSettings.defaults()
          .withPort(0).withDataDir(dataDir).withDatabaseUrl(database.url()).withClock(clock));
      ByteArrayOutputStream console = new ByteArrayOutputStream();
      KeywardServer server = KeywardServer.start(settings,
          new PrintStream(console, true, StandardCharsets.UTF_8));
      return new KeywardTestServer(database, dataDir, clock, server, console);
    } catch (IOException e) {
      database.close();
      throw new UncheckedIOException(e);
    } catch (RuntimeException e) {
      database.close();
      throw e;
    }
  }

  public URI baseUri() {
    return URI.create("http://127.0.0.1:" + server.port());
  }

  /** A client authenticated with the root key. */
  public KeywardClient client() {
    return client;
  }

  /** A client sending another bearer key. */
  public KeywardClient clientWithKey(String key) {
    return new KeywardClient(baseUri(), key, Duration.ofSeconds(30));
  }

  public String rootKey() {
    return server.createdRootKey().secret();
  }

  public KeywardServer server() {
    return server;
  }

  public TestDatabase database() {
    return database;
  }

  public MutableClock clock() {
    return clock;
  }

  public Path dataDir() {
    return dataDir;
  }

  /** What the server printed to its console (not its log). */
  public String console() {
    return console.toString(StandardCharsets.UTF_8);
  }

  @Override
  public void close() {
    try {
      server.close();
    } finally {
      database.close();
      deleteRecursively(dataDir);
    }
  }

  private static void deleteRecursively(Path dir) {
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
    } catch (IOException e) {
      // a leftover temp directory is harmless
    }
  }
}
