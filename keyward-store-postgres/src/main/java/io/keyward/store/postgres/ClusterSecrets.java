package io.keyward.store.postgres;

import io.keyward.store.StoreException;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import javax.sql.DataSource;

/**
 * Secrets shared by every node of a deployment, kept in table {@code keyward_secrets}: created
 * once by whichever node needs one first (from a CSPRNG), then read by all. Whoever can write this
 * table can already write keys, so keeping them here adds no new way in.
 */
public final class ClusterSecrets {
  /** The key that signs Redis cache entries. */
  public static final String CACHE_SIGNING_KEY = "cache-signing-key";

  static final String CREATE_IF_ABSENT =
      "INSERT INTO keyward_secrets (name, secret) VALUES (?, ?) ON CONFLICT (name) DO NOTHING";
  static final String READ = "SELECT secret FROM keyward_secrets WHERE name = ?";

  private final DataSource dataSource;
  private final SecureRandom random;

  public ClusterSecrets(DataSource dataSource, SecureRandom random) {
    this.dataSource = dataSource;
    this.random = random;
  }

  /**
   * The secret of this name, 32 random bytes created now if no node created it before.
   *
   * @throws StoreException if the database cannot answer
   */
  public byte[] getOrCreate(String name) {
    byte[] candidate = new byte[32];
    random.nextBytes(candidate);
    try (Connection connection = dataSource.getConnection()) {
      try (PreparedStatement insert = connection.prepareStatement(CREATE_IF_ABSENT)) {
        insert.setString(1, name);
        insert.setBytes(2, candidate);
        insert.executeUpdate();
      }
      try (PreparedStatement read = connection.prepareStatement(READ)) {
        read.setString(1, name);
        try (ResultSet rs = read.executeQuery()) {
          if (!rs.next()) {
            throw new StoreException("secret '" + name + "' vanished right after it was created");
          }
          return rs.getBytes(1);
        }
      }
    } catch (SQLException e) {
      throw new StoreException("cannot read the shared secret '" + name + "': " + e.getMessage(), e);
    } finally {
      java.util.Arrays.fill(candidate, (byte) 0);
    }
  }
}
