package io.keyward.store;

import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import java.util.List;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * The durable home of key records: the port the core needs from a database.
 *
 * <p>Every method either answers or throws {@link StoreException} when the store cannot be
 * reached or fails; "not there" is never an exception. Implementations must be thread-safe.
 */
public interface KeyStore extends KeyLookup {

  /** The record with this id, if any. */
  Optional<KeyRecord> findById(String keyId);

  /** The id of the key that a rotation of {@code keyId} created, if it was rotated. */
  Optional<String> findSuccessorId(String keyId);

  /**
   * Stores a new record.
   *
   * @throws DuplicateKeyException if the id or the hash is already stored
   */
  void insert(KeyRecord record);

  /**
   * Replaces a record if its stored {@link KeyRecord#version()} is {@code expectedVersion}.
   *
   * @return false if the record is gone or was changed by someone else meanwhile
   */
  boolean update(KeyRecord record, long expectedVersion);

  /**
   * Inserts {@code successor} and updates {@code predecessor} in one transaction (rotation).
   *
   * @return false if the predecessor was changed meanwhile; nothing was written then
   */
  boolean replace(KeyRecord predecessor, long expectedVersion, KeyRecord successor);

  /**
   * Up to {@code limit} records ordered by id, after {@code afterKeyId} (exclusive) when given,
   * only those of {@code ownerId} when given.
   */
  List<KeyRecord> list(@Nullable String ownerId, @Nullable String afterKeyId, int limit);

  /**
   * Stores {@code record} only if the store holds no key at all, atomically with respect to other
   * nodes doing the same (used to create the first root key exactly once).
   *
   * @return whether the record was stored
   */
  boolean insertIfEmpty(KeyRecord record);

  /** Raised when a record's id or hash is already stored. */
  final class DuplicateKeyException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DuplicateKeyException(String message) {
      super(message);
    }
  }
}
