package io.keyward.spring;

import io.keyward.client.Decision;
import java.util.Set;
import org.springframework.security.core.AuthenticatedPrincipal;

/**
 * Who a request allowed by Keyward is: the key's id, its owner and scopes, and how the decision
 * came about. {@code @AuthenticationPrincipal KeywardPrincipal principal} in a controller.
 *
 * @param keyId the key's id (empty when {@code basis} is {@code OPEN})
 * @param ownerId the key's owner (empty when {@code basis} is {@code OPEN})
 * @param scopes the key's scopes (empty when {@code basis} is {@code OPEN})
 * @param basis {@code CONFIRMED}, or {@code STALE} / {@code OPEN} when Keyward could not be asked
 */
public record KeywardPrincipal(String keyId, String ownerId, Set<String> scopes,
    Decision.Basis basis) implements AuthenticatedPrincipal {

  public KeywardPrincipal {
    keyId = keyId == null ? "" : keyId;
    ownerId = ownerId == null ? "" : ownerId;
    scopes = Set.copyOf(scopes);
  }

  static KeywardPrincipal of(Decision.Allowed allowed) {
    return new KeywardPrincipal(allowed.keyId(), allowed.ownerId(), allowed.scopes(),
        allowed.basis());
  }

  /** Whether the decision was not confirmed by Keyward (stale or open). */
  public boolean degraded() {
    return basis != Decision.Basis.CONFIRMED;
  }

  /** The key id: what Spring Security calls the name. */
  @Override
  public String getName() {
    return keyId;
  }
}
