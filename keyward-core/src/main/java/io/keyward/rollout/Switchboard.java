package io.keyward.rollout;

import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The switches a node has applied: read on every verification without I/O, without a lock and
 * without throwing (an unknown switch is its control path), replaced whole when a newer version
 * is read from the store. A node that cannot read the store keeps what it applied last; one that
 * never read it has only control paths.
 */
public final class Switchboard {
  private volatile Map<String, SwitchState> states = Map.of();
  private volatile long appliedVersion;
  /** Versions this node's guard tripped, by switch: answered as off until a newer version. */
  private final Map<String, Long> tripped = new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * The state of {@code name}; its control path if this node never applied it, or if this node's
   * guard tripped its current version (off here at once, before the revert reaches the store).
   */
  public SwitchState state(String name) {
    SwitchState state = states.get(name);
    if (state == null) {
      return SwitchState.controlPath(name);
    }
    Long trippedVersion = tripped.isEmpty() ? null : tripped.get(name);
    return trippedVersion != null && trippedVersion == state.version()
        ? new SwitchState(name, Stage.OFF, state.canaryBasisPoints(), state.sampleBasisPoints(),
            state.version(), state.salt(), state.rules())
        : state;
  }

  /** Turns {@code state}'s version off on this node at once (the guard tripped it). */
  public void trip(SwitchState state) {
    tripped.merge(state.name(), state.version(), Math::max);
  }

  /** Every applied switch. */
  public List<SwitchState> states() {
    return List.copyOf(states.values());
  }

  /** The highest version applied (0 before the first read). */
  public long appliedVersion() {
    return appliedVersion;
  }

  /**
   * Applies what the store holds, when it is newer than what this node has.
   *
   * @param version the store's highest version (every switch's version is at most this)
   * @return whether anything changed
   */
  public boolean apply(Collection<SwitchState> stored, long version) {
    if (version <= appliedVersion && !states.isEmpty()) {
      return false;
    }
    Map<String, SwitchState> next = new HashMap<>();
    for (SwitchState state : stored) {
      next.put(state.name(), state);
    }
    states = Map.copyOf(next);
    appliedVersion = Math.max(appliedVersion, version);
    return true;
  }
}
