package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.verify.Outcome;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The default mode: no database URL, an embedded PostgreSQL in the data directory. */
class EmbeddedServerTest {
  @TempDir Path dataDir;

  @Test
  void serverOnTheEmbeddedDatabaseKeepsItsKeysAcrossARestart() throws Exception {
    var settings = ServerSettings.defaults().withPort(0).withDataDir(dataDir);
    PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    String rootKey;
    try (KeywardServer first = KeywardServer.start(settings, quiet)) {
      rootKey = first.createdRootKey().secret();
      assertThat(first.verifier().verify(rootKey).outcome()).isEqualTo(Outcome.VALID);
    }
    assertThat(Files.isDirectory(dataDir.resolve("postgres"))).isTrue();

    try (KeywardServer second = KeywardServer.start(settings, quiet)) {
      assertThat(second.createdRootKey()).isNull();
      assertThat(second.verifier().verify(rootKey).outcome()).isEqualTo(Outcome.VALID);
      assertThat(Files.readString(dataDir.resolve("root.key")).strip()).isEqualTo(rootKey);
    }
  }
}
