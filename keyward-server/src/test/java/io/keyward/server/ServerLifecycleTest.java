package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.admin.IssuedKey;
import io.keyward.admin.KeyAdministration;
import io.keyward.client.admin.KeywardClient;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyIds;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.store.postgres.PostgresKeyStore;
import io.keyward.store.postgres.TestDatabase;
import io.keyward.testing.Eventually;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Starting, stopping and the root key's file, on the real PostgreSQL. */
class ServerLifecycleTest {
  @TempDir Path dataDir;

  private static String text(ByteArrayOutputStream out) {
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void portInUseStopsTheStartInOneLineBeforeAnythingIsCreated() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        TestDatabase database = TestDatabase.createEmpty()) {
      var settings = ServerSettings.defaults().withPort(taken.getLocalPort()).withDataDir(dataDir)
          .withDatabaseUrl(database.url());

      assertThatThrownBy(() -> KeywardServer.start(settings, System.out))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("already in use")
          .hasMessageContaining(String.valueOf(taken.getLocalPort()));
      assertThat(database.queryForString("SELECT to_regclass('api_keys')::text")).isNull();
      assertThat(Files.list(dataDir).toList()).isEmpty();
    }
  }

  @Test
  void hostThatIsNotThisMachinesStopsTheStartInOneLine() {
    var settings = ServerSettings.defaults().withPort(0).withDataDir(dataDir);
    var foreign = new ServerSettings("192.0.2.1", 0, dataDir, null, "kw", true,
        settings.verifier(), settings.maxBodyBytes(), 10, 2, Clock.systemUTC(), null, List.of(),
        UsageSettings.DEFAULTS);

    assertThatThrownBy(() -> KeywardServer.start(foreign, System.out))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("192.0.2.1");
  }

  @Test
  void rootKeyIsNotPrintedWhenItMustNotBeShownOnlyItsFile() throws Exception {
    try (TestDatabase database = TestDatabase.createEmpty()) {
      ByteArrayOutputStream console = new ByteArrayOutputStream();
      var settings = ServerSettings.defaults().withPort(0).withDataDir(dataDir)
          .withDatabaseUrl(database.url());
      try (KeywardServer server = KeywardServer.start(settings,
          new PrintStream(console, true, StandardCharsets.UTF_8), false, reason -> {})) {
        String secret = server.createdRootKey().secret();

        assertThat(text(console)).doesNotContain(secret).contains(server.rootKeyFile().toString());
        assertThat(Files.readString(server.rootKeyFile()).strip()).isEqualTo(secret);
      }
    }
  }

  @Test
  void rootKeyLeftPendingByACrashIsMovedIntoPlaceOnTheNextStart() throws Exception {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      IssuedKey interrupted = rootKeyStoredButNotMoved(database);

      try (KeywardServer server = KeywardServer.start(ServerSettings.defaults().withPort(0)
          .withDataDir(dataDir).withDatabaseUrl(database.url()), System.out)) {
        assertThat(Files.readString(dataDir.resolve("root.key")).strip())
            .isEqualTo(interrupted.secret());
        assertThat(pendingFiles()).isEmpty();
        assertThat(server.verifier().verify(interrupted.secret()).outcome().name())
            .isEqualTo("VALID");
      }
    }
  }

  @Test
  void rootKeyLeftPendingBesideAnotherRootKeyFileIsRevokedAndDeleted() throws Exception {
    try (TestDatabase database = TestDatabase.createMigrated()) {
      IssuedKey interrupted = rootKeyStoredButNotMoved(database);
      Files.writeString(dataDir.resolve("root.key"), "kw_live_someone_elses\n");
      Files.writeString(dataDir.resolve("root.key.999999999.x.pending"), "kw_live_never_stored\n");
      // A pending file of a process that is still running (pid 1 always is) is its own business.
      Files.writeString(dataDir.resolve("root.key.1.y.pending"), "kw_live_in_progress\n");

      try (KeywardServer server = KeywardServer.start(ServerSettings.defaults().withPort(0)
          .withDataDir(dataDir).withDatabaseUrl(database.url()), System.out)) {
        assertThat(pendingFiles()).extracting(p -> p.getFileName().toString())
            .containsExactly("root.key.1.y.pending");
        assertThat(server.verifier().verify(interrupted.secret()).outcome().name())
            .isEqualTo("REVOKED");
        assertThat(Files.readString(dataDir.resolve("root.key"))).contains("someone_elses");
      }
    }
  }

  /** A crash between storing a root key and renaming its file leaves a live key in .pending. */
  private IssuedKey rootKeyStoredButNotMoved(TestDatabase database) throws Exception {
    var admin = new KeyAdministration(KeyFormat.withPrefix("kw"),
        new PostgresKeyStore(database.pool()), Clock.systemUTC(),
        new KeyIds(Clock.systemUTC(), new SecureRandom()), hash -> {});
    RootKeyFile file = new RootKeyFile(dataDir);
    IssuedKey key = admin.createRootKey();
    file.writePending(key); // ...and the process dies before file.commit()
    return key;
  }

  private List<Path> pendingFiles() throws Exception {
    try (var files = Files.list(dataDir)) {
      return files.filter(p -> p.getFileName().toString().endsWith(".pending")).toList();
    }
  }

  @Test
  void gracefulStopReportsNotReadyWhileStillServingThenStops() throws Exception {
    try (KeywardTestServer keyward = KeywardTestServer.start()) {
      KeywardClient client = keyward.client();
      int port = keyward.server().port();
      String key = client.createKey(Map.of("name", "n", "ownerId", "o")).body().get("key").asText();
      CompletableFuture<Void> stopping = CompletableFuture.runAsync(() ->
          keyward.server().shutDownGracefully(Duration.ofSeconds(2), Duration.ofSeconds(5)));

      Eventually.await(() -> client.sendJson("GET", "/health/ready", null, null, false).status() == 503);
      var ready = client.sendJson("GET", "/health/ready", null, null, false);
      var verified = client.verify(key, List.of());

      assertThat(ready.body().get("reason").asText()).isEqualTo("shutting down");
      assertThat(verified.status()).isEqualTo(200); // still serving while not ready
      stopping.get();
      assertThatThrownBy(() -> new KeywardClient(URI.create("http://127.0.0.1:" + port),
          "x", Duration.ofSeconds(2)).sendJson("GET", "/health/live", null, null, false))
          .isInstanceOf(KeywardClient.KeywardClientException.class);
    }
  }

  @Test
  void nodeRegistersItselfAndReadinessShowsTheRegistrysGate() {
    try (KeywardTestServer keyward = KeywardTestServer.start()) {
      var nodes = keyward.client().send("GET", "/v1/nodes", null);
      var ready = keyward.client().sendJson("GET", "/health/ready", null, null, false);

      assertThat(nodes.status()).isEqualTo(200);
      assertThat(nodes.body().get("nodes")).hasSize(1);
      assertThat(nodes.body().at("/nodes/0/nodeId").asText())
          .isEqualTo(nodes.body().get("self").asText()).startsWith("node_");
      assertThat(nodes.body().at("/nodes/0/release").asText()).isEqualTo(KeywardServer.RELEASE);
      assertThat(nodes.body().at("/nodes/0/contractSha256").asText()).isEqualTo(
          io.keyward.store.postgres.NodeRegistry.contractHash(
              io.keyward.schema.KeywardContracts.currentText(KeywardServer.RELEASE)));
      assertThat(ready.body().at("/gates/node-registry").asText()).isEqualTo("open");
    }
  }
}
