package io.keyward.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.store.postgres.UsageOutbox;
import io.keyward.testing.MutableClock;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The JSON Lines exporter: one line per batch part, hourly files, failures as exceptions. */
class JsonLinesExporterTest {
  @TempDir Path dir;
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-30T10:59:00Z"));

  private static UsageOutbox.Row row(long seq) {
    return new UsageOutbox.Row("100", seq, "node_j", seq, 0, Instant.parse("2026-11-30T10:00:00Z"),
        "{\"counts\": [{\"count\": 1, \"keyId\": \"key_a\"}]}", io.keyward.usage.UsageExport.COUNTS);
  }

  @Test
  void eachDeliveryIsOneLineAndTheFileTurnsOverEveryHour() throws Exception {
    JsonLinesExporter exporter = new JsonLinesExporter(dir.resolve("usage"), clock);
    exporter.deliver(row(1));
    exporter.deliver(row(2));
    clock.advance(Duration.ofMinutes(2));
    exporter.deliver(row(3));

    List<String> first = Files.readAllLines(dir.resolve("usage/usage-2026-11-30T10.jsonl"));
    assertThat(first).hasSize(2);
    assertThat(first.get(0)).startsWith("{\"id\":\"node_j:1:0\"").endsWith("}");
    assertThat(Files.readAllLines(dir.resolve("usage/usage-2026-11-30T11.jsonl")))
        .singleElement().asString().startsWith("{\"id\":\"node_j:3:0\"");
  }

  @Test
  void aPathThatIsAFileIsRefusedAndAnUnwritableDirectoryFailsTheDelivery() throws Exception {
    Path file = Files.createFile(dir.resolve("plain"));
    assertThatThrownBy(() -> new JsonLinesExporter(file, clock))
        .hasMessageContaining("is not a directory");
    // A directory that cannot be made (its parent is a file): every delivery fails, even as root.
    JsonLinesExporter exporter = new JsonLinesExporter(file.resolve("sub"), clock);
    assertThatThrownBy(() -> exporter.deliver(row(1))).isInstanceOf(IOException.class);
  }
}
