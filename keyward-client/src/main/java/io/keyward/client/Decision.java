package io.keyward.client;

import java.util.Set;

/**
 * What {@link KeywardVerifier#verify} decided, with the same three-way distinction as the server:
 * the key is allowed, it is denied (a code saying why), or it cannot be decided now, which is
 * never a denial. Expected outcomes are values, never exceptions.
 */
public sealed interface Decision {

  /** How an {@link Allowed} came about. */
  enum Basis {
    /** Keyward said so, just now or within the fresh window (kept in step by its stream). */
    CONFIRMED,
    /**
     * Keyward could not be asked; a VALID answer from the cache, older than the fresh window
     * and younger than the route's stale bound, was used ({@link FailurePolicy#staleOk}).
     */
    STALE,
    /** Keyward could not be asked and the route allows anyway ({@link FailurePolicy#open()}). */
    OPEN
  }

  /**
   * The key may pass. {@code keyId}, {@code ownerId} and {@code scopes} are the key's; all three
   * are empty (not known) when {@code basis} is {@link Basis#OPEN}.
   */
  record Allowed(String keyId, String ownerId, Set<String> scopes, Basis basis)
      implements Decision {
    public Allowed {
      scopes = Set.copyOf(scopes);
    }

    /** Whether this decision was not confirmed by Keyward (stale or open): mark the request. */
    public boolean degraded() {
      return basis != Basis.CONFIRMED;
    }
  }

  /**
   * The key may not pass: {@code code} is the server's ({@code NOT_FOUND}, {@code REVOKED},
   * {@code EXPIRED}, {@code DISABLED}, {@code MALFORMED}, {@code INSUFFICIENT_SCOPE}, ...).
   * {@link #insufficientScope()} is the one a caller answers with 403 rather than 401.
   */
  record Denied(String code) implements Decision {
    public boolean insufficientScope() {
      return code.equals("INSUFFICIENT_SCOPE");
    }
  }

  /**
   * Keyward could not be asked (unreachable, slow, failing, answering garbage, or the circuit is
   * open) and the policy did not allow an answer without it: a 503 with {@code Retry-After},
   * never a 401.
   */
  record CannotDecide(String reason) implements Decision {}
}
