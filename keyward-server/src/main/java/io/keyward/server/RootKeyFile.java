package io.keyward.server;

import io.keyward.admin.IssuedKey;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * {@code <data-dir>/root.key}: the first root key, readable by its owner only (0600). Written in
 * two steps so that the file holds a key only if that key was stored: a private temporary file
 * first, renamed into place once the database has the key, deleted otherwise.
 */
public final class RootKeyFile {
  static final String NAME = "root.key";

  private final Path dataDir;
  private final Path file;
  private Path pending;

  public RootKeyFile(Path dataDir) {
    this.dataDir = dataDir;
    this.file = dataDir.resolve(NAME);
  }

  public Path path() {
    return file;
  }

  /**
   * Writes the key to a pending file of this process's own (a unique name, so processes sharing
   * the data directory cannot touch each other's), created with mode 0600 before any byte.
   */
  public void writePending(IssuedKey key) {
    try {
      try {
        pending = Files.createTempFile(dataDir, pendingPrefix(ProcessHandle.current().pid()), ".pending",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      } catch (UnsupportedOperationException notPosix) {
        pending = Files.createTempFile(dataDir, pendingPrefix(ProcessHandle.current().pid()), ".pending");
      }
      Files.writeString(pending, key.secret() + "\n", StandardCharsets.US_ASCII);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write a pending root key in " + dataDir + ": "
          + e.getMessage(), e);
    }
  }

  /** Moves the pending file into place. */
  public void commit() {
    try {
      Files.move(pending, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException("the root key was stored but cannot be moved from " + pending
          + " to " + file + " (" + e.getMessage() + "); it was printed above, and"
          + " `keyward root-key create` makes a new one", e);
    }
  }

  /** Pending files are {@code root.key.<pid>.<random>.pending}: whose they are is in the name. */
  private static String pendingPrefix(long pid) {
    return NAME + "." + pid + ".";
  }

  /** Longest pending file read: a key is far shorter. */
  private static final int MAX_PENDING_BYTES = 4_096 + 2;

  /**
   * Finishes or undoes a root key creation that a crash cut short between storing the key and
   * moving its file into place, so that no live key is left in a {@code .pending} file. Only files
   * of processes that are gone are touched (the pid is in the name; another node starting on the
   * same directory right now keeps its own), only regular files (no links), and only keys that
   * are root keys this deployment issued. For each: a key that was never stored is deleted; a
   * stored one becomes {@code root.key} if there is none (the creation is completed); otherwise it
   * is revoked (another root key has been made since) and deleted.
   */
  public void recoverPending(io.keyward.store.KeyLookup store, io.keyward.admin.KeyAdministration admin) {
    java.util.List<Path> pendingFiles;
    try (var listing = Files.newDirectoryStream(dataDir, NAME + ".*.pending")) {
      pendingFiles = new java.util.ArrayList<>();
      listing.forEach(pendingFiles::add);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + dataDir + ": " + e.getMessage(), e);
    }
    for (Path leftOver : pendingFiles) {
      if (ownerIsAlive(leftOver) || !Files.isRegularFile(leftOver, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        continue;
      }
      String secret;
      try (var in = Files.newInputStream(leftOver, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        secret = new String(in.readNBytes(MAX_PENDING_BYTES), StandardCharsets.US_ASCII).strip();
      } catch (IOException e) {
        LOG.warn("cannot read {}; leaving it: {}", leftOver, e.toString());
        continue;
      }
      var record = secret.isEmpty() || secret.length() >= MAX_PENDING_BYTES
          ? java.util.Optional.<io.keyward.key.KeyRecord>empty()
          : store.findByHash(io.keyward.key.KeyHash.of(secret))
              .filter(RootKeyFile::isRootKey);
      try {
        if (record.isEmpty()) {
          Files.deleteIfExists(leftOver); // never stored: grants nothing
          LOG.info("deleted {}: its key was never stored", leftOver.getFileName());
        } else if (!Files.exists(file) && !record.get().isRevoked()) {
          Files.move(leftOver, file, StandardCopyOption.ATOMIC_MOVE);
          LOG.info("completed the creation of root key {} that a crash interrupted: moved it to {}",
              record.get().keyId(), file);
        } else {
          if (!record.get().isRevoked()) {
            admin.revoke(record.get().keyId());
          }
          Files.deleteIfExists(leftOver);
          LOG.warn("revoked root key {} left in {} by an interrupted creation ({} exists)",
              record.get().keyId(), leftOver.getFileName(), file.getFileName());
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot clean up " + leftOver + ": " + e.getMessage(), e);
      }
    }
  }

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(RootKeyFile.class);

  /** Whether the process that wrote a pending file (its pid is in the name) still runs. */
  private static boolean ownerIsAlive(Path pendingFile) {
    String name = pendingFile.getFileName().toString();
    String rest = name.substring(NAME.length() + 1);
    int dot = rest.indexOf('.');
    try {
      long pid = Long.parseLong(rest.substring(0, Math.max(dot, 0)));
      return pid != ProcessHandle.current().pid()
          && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    } catch (NumberFormatException e) {
      return false; // written by an earlier release, whose names had no pid
    }
  }

  /** Only a root key this deployment issued is ever promoted or revoked from a pending file. */
  private static boolean isRootKey(io.keyward.key.KeyRecord record) {
    return record.origin() == io.keyward.key.KeyOrigin.ISSUED
        && record.scopes().contains(io.keyward.admin.Permissions.ADMIN);
  }

  /** Deletes the pending file, if any. */
  public void discard() {
    if (pending == null) {
      return;
    }
    try {
      Files.deleteIfExists(pending);
    } catch (IOException e) {
      // Best effort: the pending file holds a key that was never stored, so it grants nothing.
    }
  }
}
