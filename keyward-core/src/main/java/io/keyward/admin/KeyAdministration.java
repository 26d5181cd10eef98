package io.keyward.admin;

import io.keyward.key.Environment;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyIds;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import io.keyward.store.KeyStore;
import io.keyward.verify.ForeignFilter;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Creates, imports, changes, revokes and rotates keys. Every change is written to the store first
 * and then announced to the invalidation listener (the local verifier's cache, and in a
 * multi-node deployment the channel to the other nodes), so a revocation takes effect on this node
 * as soon as the call returns.
 */
public final class KeyAdministration {
  /** Longest rotation grace period. */
  public static final Duration MAX_GRACE_PERIOD = Duration.ofDays(30);
  /** Most records one list call returns. */
  public static final int MAX_PAGE_SIZE = 1_000;

  private static final int UPDATE_ATTEMPTS = 5;
  /** The latest expiry accepted (what every store and client can represent). */
  private static final Instant LATEST_EXPIRY = Instant.parse("9999-12-31T23:59:59Z");

  private final KeyFormat format;
  private final KeyStore store;
  private final Clock clock;
  private final KeyIds ids;
  private final Consumer<KeyHash> invalidation;
  private final ForeignFilter filter;

  public KeyAdministration(
      KeyFormat format, KeyStore store, Clock clock, KeyIds ids, Consumer<KeyHash> invalidation) {
    this(format, store, clock, ids, invalidation, ForeignFilter.NONE);
  }

  /**
   * @param filter told of every new key's hash before it is stored (see {@link
   *     ForeignFilter#announce}): an import that cannot be announced is refused
   */
  public KeyAdministration(KeyFormat format, KeyStore store, Clock clock, KeyIds ids,
      Consumer<KeyHash> invalidation, ForeignFilter filter) {
    this.format = Objects.requireNonNull(format, "format");
    this.store = Objects.requireNonNull(store, "store");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.ids = Objects.requireNonNull(ids, "ids");
    this.invalidation = Objects.requireNonNull(invalidation, "invalidation");
    this.filter = Objects.requireNonNull(filter, "filter");
  }

  /**
   * Tells the filters of a key this deployment issues, before it is stored. The key is in this
   * deployment's format, which the filter never judges on a node of this release with the same
   * prefix; the announcement matters to a node configured with another one (a prefix change
   * rolling out). The filter decides whether a failure stops the key (see {@link
   * ForeignFilter#announce}).
   */
  private void announceIssued(KeyHash hash) {
    filter.announce(hash, false);
  }

  /** Issues a new key with these attributes. The secret is in the result and nowhere else. */
  public IssuedKey create(KeyAttributes attributes) {
    requireFuture(attributes.expiresAt());
    String secret = format.generate(attributes.environment());
    KeyRecord record = newRecord(secret, attributes, null);
    announceIssued(record.hash());
    store.insert(record);
    filter.stored(record.hash(), false);
    return new IssuedKey(record, secret);
  }

  /**
   * Creates a root key (scope {@link Permissions#ADMIN}) if and only if the store holds no key.
   *
   * @param beforeInsert receives the issued key before it is stored, to put the secret somewhere
   *     safe first; if it throws, nothing is stored
   * @return the key, or null if the store already held keys
   */
  public @Nullable IssuedKey createRootKeyIfEmpty(Consumer<IssuedKey> beforeInsert) {
    String secret = format.generate(Environment.LIVE);
    IssuedKey issued = new IssuedKey(newRecord(secret, ROOT_KEY_ATTRIBUTES, null), secret);
    beforeInsert.accept(issued);
    announceIssued(issued.record().hash());
    if (!store.insertIfEmpty(issued.record())) {
      return null;
    }
    filter.stored(issued.record().hash(), false);
    return issued;
  }

  /**
   * Creates another root key whatever the store holds: the way back in when the only root key is
   * lost. Needs direct access to the store, which is what makes it safe to offer.
   */
  public IssuedKey createRootKey() {
    String secret = format.generate(Environment.LIVE);
    IssuedKey issued = new IssuedKey(newRecord(secret, ROOT_KEY_ATTRIBUTES, null), secret);
    announceIssued(issued.record().hash());
    store.insert(issued.record());
    filter.stored(issued.record().hash(), false);
    return issued;
  }

  private static final KeyAttributes ROOT_KEY_ATTRIBUTES =
      new KeyAttributes("root", "keyward", Set.of(Permissions.ADMIN), "{}", null, Environment.LIVE);

  /**
   * Imports a key issued by another system, known only by the SHA-256 of its text, so that
   * tokens already in the wild keep working.
   *
   * @throws KeyConflictException if a key with this hash exists
   * @throws ForeignFilter.UnannouncedException if the filters of the other nodes cannot be told
   *     of the key (it is not stored: it would be denied where the filter is on)
   */
  public KeyRecord importKey(KeyHash hash, KeyAttributes attributes) {
    requireFuture(attributes.expiresAt());
    Instant now = now();
    KeyRecord record =
        new KeyRecord(
            ids.next(), hash, null, attributes.name(), attributes.ownerId(), attributes.scopes(),
            attributes.metaJson(), attributes.environment(), KeyOrigin.IMPORTED, now, now,
            attributes.expiresAt(), null, true, null, 1);
    // Before the insert: once stored the key may be used, and every filter must know it then.
    filter.announce(hash, true);
    try {
      store.insert(record);
    } catch (KeyStore.DuplicateKeyException e) {
      throw new KeyConflictException("a key with this sha256 is already stored");
    }
    // A "not found" for this hash may be cached; the key must work at once.
    invalidation.accept(hash);
    filter.stored(hash, true);
    return record;
  }

  /** The key with this id. */
  public KeyRecord get(String keyId) {
    return store.findById(keyId).orElseThrow(() -> new KeyNotFoundException(keyId));
  }

  /**
   * One page of keys ordered by id (creation time).
   *
   * @param afterKeyId the last id of the previous page, or null for the first
   */
  public KeyPage list(@Nullable String ownerId, @Nullable String afterKeyId, int limit) {
    if (limit < 1 || limit > MAX_PAGE_SIZE) {
      throw new InvalidFieldException("limit", "must be between 1 and " + MAX_PAGE_SIZE);
    }
    // One more than asked tells whether another page follows.
    List<KeyRecord> records = store.list(ownerId, afterKeyId, limit + 1);
    if (records.size() <= limit) {
      return new KeyPage(records, null);
    }
    List<KeyRecord> shown = List.copyOf(records.subList(0, limit));
    return new KeyPage(shown, shown.get(limit - 1).keyId());
  }

  /** A page of keys; {@code continueAfter} is the id to list after for the next, or null. */
  public record KeyPage(List<KeyRecord> keys, @Nullable String continueAfter) {}

  /** Applies {@code patch} to the key. Re-enabling a revoked key is refused. */
  public KeyRecord patch(String keyId, KeyPatch patch) {
    if (patch.isEmpty()) {
      return get(keyId);
    }
    return change(
        keyId,
        current -> {
          if (patch.enabled() != null && patch.enabled() && current.isRevoked()) {
            throw new KeyConflictException("key " + keyId + " is revoked; it cannot be re-enabled");
          }
          if (patch.expiresAt() != null) {
            requireFuture(patch.expiresAt().orElse(null));
          }
          return new KeyRecord(
              current.keyId(), current.hash(), current.hint(),
              patch.name() != null ? patch.name() : current.name(),
              current.ownerId(),
              patch.scopes() != null ? patch.scopes() : current.scopes(),
              patch.metaJson() != null ? patch.metaJson() : current.metaJson(),
              current.environment(), current.origin(), current.createdAt(), now(),
              patch.expiresAt() != null ? patch.expiresAt().orElse(null) : current.expiresAt(),
              current.revokedAt(),
              patch.enabled() != null ? patch.enabled() : current.enabled(),
              current.rotatedFrom(), current.version() + 1);
        });
  }

  /** Revokes the key. Idempotent: revoking a revoked key returns it unchanged. */
  public KeyRecord revoke(String keyId) {
    return change(
        keyId,
        current ->
            current.isRevoked()
                ? current
                : withTimes(current, current.expiresAt(), now()));
  }

  /** The outcome of a rotation: the new key (with its secret) and the retiring one. */
  public record Rotation(IssuedKey successor, KeyRecord predecessor) {}

  /**
   * Issues a successor with the same attributes (scopes, metadata, expiry, enabled); the old key
   * stays valid for {@code gracePeriod} (or until its own expiry, if sooner) and is {@code
   * EXPIRED} after. Revoked and expired keys cannot be rotated: create a new key instead. A key
   * is rotated at most once: a key that already has a successor is a conflict, so concurrent
   * rotations give one successor, which keeps the original expiry.
   */
  public Rotation rotate(String keyId, Duration gracePeriod) {
    if (gracePeriod.isNegative() || gracePeriod.compareTo(MAX_GRACE_PERIOD) > 0) {
      throw new InvalidFieldException(
          "gracePeriodSeconds", "must be between 0 and " + MAX_GRACE_PERIOD.toSeconds());
    }
    for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      KeyRecord current = get(keyId);
      if (current.isRevoked()) {
        throw new KeyConflictException("key " + keyId + " is revoked; it cannot be rotated");
      }
      // One rotation wins. A second would copy the expiry the first one shortened to the grace
      // period, handing out a key that dies with its predecessor. (Concurrent rotations: the
      // losers' version check fails, and on the retry they find the winner's successor.)
      var rotatedTo = store.findSuccessorId(keyId);
      if (rotatedTo.isPresent()) {
        throw new KeyConflictException("key " + keyId + " was already rotated to "
            + rotatedTo.get() + "; rotate that key instead");
      }
      Instant now = now();
      if (current.isExpiredAt(now)) {
        throw new KeyConflictException("key " + keyId + " has expired; create a new key instead");
      }
      Instant graceEnd = now.plus(gracePeriod);
      Instant oldExpiry =
          current.expiresAt() != null && current.expiresAt().isBefore(graceEnd)
              ? current.expiresAt()
              : graceEnd;
      KeyRecord retiring = withTimes(current, oldExpiry, null);
      var attributes =
          new KeyAttributes(
              current.name(), current.ownerId(), current.scopes(), current.metaJson(),
              current.expiresAt(), current.environment());
      String secret = format.generate(current.environment());
      KeyRecord fresh = newRecord(secret, attributes, current.keyId());
      announceIssued(fresh.hash());
      KeyRecord successor = current.enabled() ? fresh : withEnabled(fresh, false);
      if (store.replace(retiring, current.version(), successor)) {
        invalidation.accept(current.hash());
        filter.stored(successor.hash(), false);
        return new Rotation(new IssuedKey(successor, secret), retiring);
      }
    }
    throw new KeyConflictException("key " + keyId + " kept changing; try again");
  }

  private KeyRecord change(String keyId, java.util.function.UnaryOperator<KeyRecord> edit) {
    for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      KeyRecord current = get(keyId);
      KeyRecord changed = edit.apply(current);
      if (changed == current) {
        return current;
      }
      if (store.update(changed, current.version())) {
        invalidation.accept(current.hash());
        return changed;
      }
    }
    throw new KeyConflictException("key " + keyId + " kept changing; try again");
  }

  private KeyRecord withTimes(KeyRecord r, @Nullable Instant expiresAt, @Nullable Instant revokedAt) {
    return new KeyRecord(
        r.keyId(), r.hash(), r.hint(), r.name(), r.ownerId(), r.scopes(), r.metaJson(),
        r.environment(), r.origin(), r.createdAt(), now(), expiresAt, revokedAt,
        r.enabled(), r.rotatedFrom(), r.version() + 1);
  }

  private static KeyRecord withEnabled(KeyRecord r, boolean enabled) {
    return new KeyRecord(
        r.keyId(), r.hash(), r.hint(), r.name(), r.ownerId(), r.scopes(), r.metaJson(),
        r.environment(), r.origin(), r.createdAt(), r.updatedAt(), r.expiresAt(), r.revokedAt(),
        enabled, r.rotatedFrom(), r.version());
  }

  private KeyRecord newRecord(String secret, KeyAttributes a, @Nullable String rotatedFrom) {
    Instant now = now();
    return new KeyRecord(
        ids.next(), KeyHash.of(secret), hintOf(secret), a.name(), a.ownerId(), a.scopes(),
        a.metaJson(), a.environment(), KeyOrigin.ISSUED, now, now, a.expiresAt(), null, true,
        rotatedFrom, 1);
  }

  /** Now, to the microsecond: what PostgreSQL keeps, so a record reads back as it was written. */
  private Instant now() {
    return clock.instant().truncatedTo(java.time.temporal.ChronoUnit.MICROS);
  }

  private void requireFuture(@Nullable Instant expiresAt) {
    if (expiresAt != null && !expiresAt.isAfter(now())) {
      throw new InvalidFieldException("expiresAt", "must be in the future");
    }
    if (expiresAt != null && expiresAt.isAfter(LATEST_EXPIRY)) {
      throw new InvalidFieldException("expiresAt", "must be before the year 10000");
    }
  }

  /** {@code prefix_env_} and the version digit and three random digits: 18 of 196 bits. */
  private static String hintOf(String secret) {
    int secondUnderscore = secret.indexOf('_', secret.indexOf('_') + 1);
    return secret.substring(0, secondUnderscore + 5);
  }
}
