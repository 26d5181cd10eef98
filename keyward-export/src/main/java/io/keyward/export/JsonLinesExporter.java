package io.keyward.export;

import io.keyward.store.postgres.UsageOutbox;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * Appends each usage batch part as one JSON line to a file in a directory, rotated every hour
 * ({@code usage-2026-11-30T10.jsonl}, UTC), and forces it to disk before the cursor moves. At
 * least once: a crash between the write and the cursor's move writes the line again, with the
 * same {@code id}. Old files are left for whoever reads them to delete.
 */
public final class JsonLinesExporter implements UsageExporter {
  private static final DateTimeFormatter HOUR =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH").withZone(ZoneOffset.UTC);

  private final Path directory;
  private final Clock clock;

  /** @throws IllegalArgumentException if {@code directory} exists and is not a directory */
  public JsonLinesExporter(Path directory, Clock clock) {
    if (Files.exists(directory) && !Files.isDirectory(directory)) {
      throw new IllegalArgumentException("usage JSON Lines directory " + directory
          + " is not a directory");
    }
    this.directory = directory;
    this.clock = clock;
  }

  @Override
  public String name() {
    return "jsonl";
  }

  /** The file the line for now goes to. */
  Path currentFile() {
    return directory.resolve("usage-" + HOUR.format(clock.instant()) + ".jsonl");
  }

  @Override
  public void deliver(UsageOutbox.Row row) throws IOException {
    Files.createDirectories(directory);
    byte[] line = (UsageExporter.eventJson(row) + "\n").getBytes(StandardCharsets.UTF_8);
    try (FileChannel file = FileChannel.open(currentFile(), StandardOpenOption.CREATE,
        StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
      ByteBuffer buffer = ByteBuffer.wrap(line);
      while (buffer.hasRemaining()) {
        file.write(buffer);
      }
      file.force(false);
    }
  }
}
