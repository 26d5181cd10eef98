package io.keyward.verify;

import io.keyward.key.KeyHash;

/**
 * What a shared tier's channel tells this node's verifier about changes made on other nodes.
 * Implementations must be quick and must not throw: they run on the channel's thread.
 */
public interface RemoteInvalidations {

  /** A key changed somewhere (revoked, rotated, patched): drop this node's copy. */
  void invalidated(KeyHash hash);

  /**
   * The channel is down: invalidations may be missed from now on. The verifier flushes its
   * in-process cache and uses its short "unsynced" freshness until {@link #channelRestored()}.
   */
  void channelLost();

  /** The channel is back; the verifier flushes again (it may have missed some) and resumes. */
  void channelRestored();

  /** Ignores everything. */
  RemoteInvalidations NONE =
      new RemoteInvalidations() {
        @Override
        public void invalidated(KeyHash hash) {}

        @Override
        public void channelLost() {}

        @Override
        public void channelRestored() {}
      };
}
