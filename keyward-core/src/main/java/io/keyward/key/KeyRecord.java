package io.keyward.key;

import java.time.Instant;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Everything Keyward knows about one key except the key itself: what is stored, cached and
 * returned by a verification.
 *
 * @param keyId public identifier, {@code key_} and 22 base62 digits, time-ordered
 * @param hash SHA-256 of the key text
 * @param hint the key's first characters for people to recognise it ({@code kw_live_1Abc}); null
 *     for imported keys, whose text Keyward never saw
 * @param metaJson the customer's metadata, a JSON object as text (the core does not read it)
 * @param expiresAt when the key stops being valid; null for never
 * @param revokedAt when it was revoked; null if it was not
 * @param rotatedFrom the key this one replaced by rotation, if any
 * @param version incremented by every change, for optimistic updates and cache freshness
 */
public record KeyRecord(
    String keyId,
    KeyHash hash,
    @Nullable String hint,
    String name,
    String ownerId,
    Set<String> scopes,
    String metaJson,
    Environment environment,
    KeyOrigin origin,
    Instant createdAt,
    Instant updatedAt,
    @Nullable Instant expiresAt,
    @Nullable Instant revokedAt,
    boolean enabled,
    @Nullable String rotatedFrom,
    long version) {

  public KeyRecord {
    Objects.requireNonNull(keyId, "keyId");
    Objects.requireNonNull(hash, "hash");
    Objects.requireNonNull(name, "name");
    // Owners, scopes and empty metadata repeat across keys: interned, a million cached keys
    // share one copy of each instead of holding a million (the JVM's string table holds them
    // weakly). A record is built per load, never per verification, so this is off the hot path.
    ownerId = Objects.requireNonNull(ownerId, "ownerId").intern();
    scopes = internAll(scopes);
    metaJson = Objects.requireNonNull(metaJson, "metaJson");
    if (metaJson.equals(EMPTY_META)) {
      metaJson = EMPTY_META;
    }
    Objects.requireNonNull(environment, "environment");
    Objects.requireNonNull(origin, "origin");
    Objects.requireNonNull(createdAt, "createdAt");
    Objects.requireNonNull(updatedAt, "updatedAt");
  }

  private static final String EMPTY_META = "{}";

  private static Set<String> internAll(Set<String> scopes) {
    String[] interned = new String[scopes.size()];
    int i = 0;
    for (String scope : scopes) {
      interned[i++] = Objects.requireNonNull(scope, "scope").intern();
    }
    return Set.of(interned);
  }

  /** Whether the key has expired at {@code now}: expiry is evaluated at decision time. */
  public boolean isExpiredAt(Instant now) {
    return expiresAt != null && !now.isBefore(expiresAt);
  }

  /** Whether the key was revoked. */
  public boolean isRevoked() {
    return revokedAt != null;
  }
}
