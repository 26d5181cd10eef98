package io.keyward.server;

import io.keyward.admin.IssuedKey;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * {@code <data-dir>/root.key}: the first root key, readable by its owner only (0600). Written in
 * two steps so that the file holds a key only if that key was stored: a private temporary file
 * first, renamed into place once the database has the key, deleted otherwise.
 */
final class RootKeyFile {
  static final String NAME = "root.key";

  private final Path file;
  private final Path pending;

  RootKeyFile(Path dataDir) {
    this.file = dataDir.resolve(NAME);
    this.pending = dataDir.resolve(NAME + ".pending");
  }

  Path path() {
    return file;
  }

  /** Writes the key to the pending file, created with mode 0600 before any byte is written. */
  void writePending(IssuedKey key) {
    try {
      Files.deleteIfExists(pending);
      try {
        Files.createFile(pending,
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      } catch (UnsupportedOperationException notPosix) {
        Files.createFile(pending);
      }
      Files.writeString(pending, key.secret() + "\n", StandardCharsets.US_ASCII);
    } catch (FileAlreadyExistsException e) {
      throw new UncheckedIOException("another process is writing " + pending, e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + pending + ": " + e.getMessage(), e);
    }
  }

  /** Moves the pending file into place. */
  void commit() {
    try {
      Files.move(pending, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot move " + pending + " to " + file + ": " + e.getMessage(), e);
    }
  }

  /** Deletes the pending file, if any. */
  void discard() {
    try {
      Files.deleteIfExists(pending);
    } catch (IOException e) {
      // Best effort: the pending file holds a key that was never stored, so it grants nothing.
    }
  }
}
