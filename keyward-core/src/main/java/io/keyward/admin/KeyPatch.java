package io.keyward.admin;

import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * A change to a key's attributes. A null component leaves that attribute as it is; {@code
 * expiresAt} is {@code Optional.empty()} to remove the expiry.
 */
public record KeyPatch(
    @Nullable String name,
    @Nullable Set<String> scopes,
    @Nullable String metaJson,
    @Nullable Optional<Instant> expiresAt,
    @Nullable Boolean enabled) {

  public KeyPatch {
    if (name != null) {
      name = KeyAttributes.requireText("name", name);
    }
    if (scopes != null) {
      scopes = KeyAttributes.validScopes(scopes);
    }
    if (metaJson != null) {
      KeyAttributes.requireStorableMeta(metaJson);
    }
  }

  /** Whether this patch changes nothing. */
  public boolean isEmpty() {
    return name == null && scopes == null && metaJson == null && expiresAt == null && enabled == null;
  }
}
