package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.admin.Permissions;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.verify.Verdict;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** First start on an empty database creates one root key, prints it once, writes it 0600. */
class RootKeyBootstrapTest {
  @TempDir Path secondDataDir;

  @Test
  void firstStartCreatesPrintsAndWritesTheRootKeyAndARestartDoesNot() throws Exception {
    try (KeywardTestServer keyward = KeywardTestServer.start()) {
      String rootKey = keyward.rootKey();
      Path file = keyward.dataDir().resolve("root.key");

      assertThat(Files.readString(file).strip()).isEqualTo(rootKey);
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
          .isEqualTo("rw-------");
      assertThat(keyward.console().split(rootKey, -1)).hasSize(2); // printed exactly once
      assertThat(Files.exists(keyward.dataDir().resolve("root.key.pending"))).isFalse();
      Verdict verdict = keyward.server().verifier().verify(rootKey, List.of(Permissions.ADMIN));
      assertThat(verdict).isInstanceOf(Verdict.Valid.class);

      // Another node on the same database: no second root key, nothing printed or written.
      ByteArrayOutputStream console = new ByteArrayOutputStream();
      var settings = ServerSettings.defaults().withPort(0).withDataDir(secondDataDir)
          .withDatabaseUrl(keyward.database().url());
      try (KeywardServer second = KeywardServer.start(settings,
          new PrintStream(console, true, StandardCharsets.UTF_8))) {
        assertThat(second.createdRootKey()).isNull();
        assertThat(console.toString(StandardCharsets.UTF_8)).isEmpty();
        assertThat(Files.exists(secondDataDir.resolve("root.key"))).isFalse();
        assertThat(second.verifier().verify(rootKey)).isInstanceOf(Verdict.Valid.class);
      }
    }
  }
}
