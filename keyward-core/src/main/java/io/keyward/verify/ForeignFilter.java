package io.keyward.verify;

import io.keyward.key.KeyHash;

/**
 * Knows every key hash the store holds, well enough to say of a string that is not in this
 * deployment's format ({@link io.keyward.key.ParsedKey.Foreign}) that no key has it, without a
 * store lookup: the candidate path of the switch {@value Verifier#FOREIGN_FILTER_SWITCH}.
 *
 * <p>An implementation must be able to prove its negatives: a hash stored on any node, by any
 * release, before a verification started must never be reported absent. One that cannot prove
 * them at a given moment (not loaded yet, out of touch with the other nodes) says so by returning
 * false, and the store decides as it would without a filter.
 */
public interface ForeignFilter {
  /**
   * True only if no key with this hash is stored, as far as this filter can prove now. Called on
   * the verify path: no I/O, no lock, never throws.
   */
  boolean provesAbsent(KeyHash hash);

  /**
   * Called before a key with a new hash is stored, so that every filter knows of it before the
   * key can be used.
   *
   * @param imported an imported key (any shape: it may go through the filter on every node);
   *     false for a key issued in this deployment's format, which goes through the filter only on
   *     a node configured with another prefix
   * @throws UnannouncedException if the other nodes' filters cannot be told and the key depends
   *     on them (an import, or an issued key while the filter is in use): it must not be stored
   */
  void announce(KeyHash hash, boolean imported);

  /**
   * Called once the key announced with {@link #announce} is stored, before the call that stored
   * it answers: from its return on, the key must verify on every node. Never throws.
   */
  default void stored(KeyHash hash, boolean imported) {}

  /** A new key's hash could not be announced to the other nodes' filters. */
  final class UnannouncedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public UnannouncedException(String message) {
      super(message);
    }
  }

  /** No filter: nothing is proven absent, nothing needs announcing. */
  ForeignFilter NONE = new ForeignFilter() {
    @Override
    public boolean provesAbsent(KeyHash hash) {
      return false;
    }

    @Override
    public void announce(KeyHash hash, boolean imported) {}
  };
}
