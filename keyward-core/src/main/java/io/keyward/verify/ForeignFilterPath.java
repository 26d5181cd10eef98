package io.keyward.verify;

import io.keyward.key.KeyHash;
import io.keyward.rollout.CanaryBuckets;
import io.keyward.rollout.GuardRules;
import io.keyward.rollout.Rollouts;
import io.keyward.rollout.Stage;
import io.keyward.rollout.SwitchState;
import org.jspecify.annotations.Nullable;

/**
 * The verifier's path through the switch {@value Verifier#FOREIGN_FILTER_SWITCH}: whether the
 * {@link ForeignFilter} is consulted for a foreign-shaped key, and the comparison of its "absent"
 * with the store's answer. The candidate is a memory probe of a few nanoseconds, so in shadow it
 * runs on the request thread rather than being handed to the shadow executor.
 */
final class ForeignFilterPath {
  /** The filter's path without switches: always consulted. */
  private static final SwitchState ALWAYS = new SwitchState(Verifier.FOREIGN_FILTER_SWITCH,
      Stage.ON, 0, 0, 0, 0, GuardRules.DEFAULTS);

  private final ForeignFilter filter;
  private final @Nullable Rollouts rollouts;

  ForeignFilterPath(ForeignFilter filter, @Nullable Rollouts rollouts) {
    this.filter = filter;
    this.rollouts = rollouts;
  }

  /** Whether there is a filter at all. */
  boolean isPresent() {
    return filter != ForeignFilter.NONE;
  }

  /**
   * The switch's state when the filter proves {@code hash} absent and the switch says to act on
   * that ({@code on}) or to compare it with the store (a canary key, or a sampled call in shadow);
   * otherwise null, and the store decides alone.
   */
  @Nullable SwitchState consult(KeyHash hash) {
    SwitchState state = rollouts == null ? ALWAYS
        : rollouts.board().state(Verifier.FOREIGN_FILTER_SWITCH);
    boolean consulted = switch (state.stage()) {
      case OFF -> false;
      case ON -> true;
      case CANARY -> CanaryBuckets.inCanary(state, hash.toBytes()) || rollouts.sampled(state);
      case SHADOW -> rollouts.sampled(state);
    };
    return consulted && filter.provesAbsent(hash) ? state : null;
  }

  /**
   * Compares the filter's "absent" with the store's verdict ({@code control}; null when the store
   * could not answer: nothing to compare). A key the store holds is a false denial, which the
   * guard reverts on.
   */
  void compare(SwitchState state, @Nullable Verdict control) {
    if (control != null && rollouts != null) {
      rollouts.compared(state, control, Verdict.Denied.notFound());
    }
  }
}
