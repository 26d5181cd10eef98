package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.key.Environment;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyIds;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded PostgreSQL of the default (no --db-url) mode: real, and keeps its data. */
class EmbeddedDatabaseTest {
  @TempDir Path dataDir;

  @Test
  void embeddedDatabaseRunsDurablyNotWithTheTestDefaultsOfItsLibrary() {
    try (EmbeddedDatabase database = EmbeddedDatabase.start(dataDir)) {
      assertThat(database.durabilitySettings())
          .isEqualTo("fsync=on synchronous_commit=on full_page_writes=on");
    }
  }

  @Test
  void keysSurviveARestartOfTheEmbeddedDatabase() {
    String key = KeyFormat.withPrefix("kw").generate(Environment.LIVE);
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    KeyRecord record = new KeyRecord(new KeyIds(Clock.systemUTC(), new SecureRandom()).next(),
        KeyHash.of(key), null, "n", "o", Set.of(), "{}", Environment.LIVE, KeyOrigin.ISSUED, now,
        now, null, null, true, null, 1);

    try (EmbeddedDatabase first = EmbeddedDatabase.start(dataDir)) {
      assertThat(Migrations.migrate(first.url())).isEqualTo(7);
      try (var pool = ConnectionPool.open(first.url(), 2)) {
        new PostgresKeyStore(pool).insert(record);
      }
    }
    try (EmbeddedDatabase second = EmbeddedDatabase.start(dataDir)) {
      assertThat(Migrations.migrate(second.url())).isZero();
      try (var pool = ConnectionPool.open(second.url(), 2)) {
        assertThat(new PostgresKeyStore(pool).findByHash(KeyHash.of(key))).contains(record);
      }
    }
  }
}
