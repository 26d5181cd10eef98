package io.keyward.verify;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.key.Environment;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import io.keyward.rollout.Guard;
import io.keyward.rollout.GuardRules;
import io.keyward.rollout.Rollouts;
import io.keyward.rollout.Stage;
import io.keyward.rollout.SwitchState;
import io.keyward.rollout.Switchboard;
import io.keyward.testing.InMemoryKeyStore;
import io.keyward.testing.MutableClock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The switch {@code verify.foreign-filter} on the verifier, with a filter whose answers the test
 * sets (a wrong one included: what the guard exists for).
 */
class VerifierForeignFilterTest {
  private static final String FOREIGN = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";

  private final MutableClock clock = MutableClock.startingAt2030();
  private final KeyFormat format = KeyFormat.withPrefix("kw");
  private final InMemoryKeyStore store = new InMemoryKeyStore();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final Switchboard board = new Switchboard();
  private final List<String> reverts = new CopyOnWriteArrayList<>();
  private final Rollouts rollouts = new Rollouts(board,
      new Guard((state, evidence) -> reverts.add(state.name() + ": " + evidence)), clock,
      registry, 1, 16);
  private final AtomicInteger consulted = new AtomicInteger();
  /** What the filter answers for every hash. */
  private volatile boolean provesAbsent = true;
  private final ForeignFilter filter = new ForeignFilter() {
    @Override
    public boolean provesAbsent(KeyHash hash) {
      consulted.incrementAndGet();
      return provesAbsent;
    }

    @Override
    public void announce(KeyHash hash, boolean imported) {}
  };
  private final Verifier verifier = Verifier.builder(format, store).clock(clock)
      .meterRegistry(registry).foreignFilter(filter).rollouts(rollouts).build();

  @AfterEach
  void close() {
    rollouts.close();
  }

  private void set(Stage stage, int canaryBasisPoints, int sampleBasisPoints) {
    board.apply(List.of(new SwitchState(Verifier.FOREIGN_FILTER_SWITCH, stage,
        canaryBasisPoints, sampleBasisPoints, 3, 42, GuardRules.DEFAULTS)), 3);
  }

  private void importForeign(String key) {
    Instant now = clock.instant();
    store.insert(new KeyRecord("key_imported", KeyHash.of(key), null, "n", "o", Set.of("read"),
        "{}", Environment.LIVE, KeyOrigin.IMPORTED, now, now, null, null, true, null, 1));
  }

  private double filtered() {
    return registry.get("keyward.verify.foreign.filtered").counter().count();
  }

  @Test
  void offNeverConsultsTheFilterAndTheStoreDecides() {
    set(Stage.OFF, 0, 0);
    assertThat(verifier.verify(FOREIGN).outcome()).isEqualTo(Outcome.NOT_FOUND);
    assertThat(consulted).hasValue(0);
    assertThat(store.lookups()).isEqualTo(1);
  }

  @Test
  void onAnswersWhatTheFilterProvesAbsentWithoutTheStoreEvenWhileTheStoreIsDown() {
    set(Stage.ON, 0, 0);
    store.setFailing(true);
    for (int i = 0; i < 50; i++) {
      assertThat(verifier.verify(FOREIGN + i).outcome()).isEqualTo(Outcome.NOT_FOUND);
    }
    assertThat(store.lookups()).isZero();
    assertThat(filtered()).isEqualTo(50);
  }

  @Test
  void onLeavesToTheStoreWhatTheFilterCannotProve() {
    set(Stage.ON, 0, 0);
    importForeign(FOREIGN);
    provesAbsent = false;
    assertThat(verifier.verify(FOREIGN).outcome()).isEqualTo(Outcome.VALID);
    store.setFailing(true);
    assertThat(verifier.verify(FOREIGN + "x").outcome()).isEqualTo(Outcome.UNAVAILABLE);
    assertThat(filtered()).isZero();
  }

  @Test
  void keysInThisDeploymentsOwnFormatNeverGoThroughTheFilter() {
    set(Stage.ON, 0, 0);
    String issued = format.generate(Environment.LIVE);
    Instant now = clock.instant();
    store.insert(new KeyRecord("key_issued", KeyHash.of(issued), null, "n", "o", Set.of(), "{}",
        Environment.LIVE, KeyOrigin.ISSUED, now, now, null, null, true, null, 1));
    assertThat(verifier.verify(issued).outcome()).isEqualTo(Outcome.VALID);
    assertThat(verifier.verify(format.generate(Environment.LIVE)).outcome())
        .isEqualTo(Outcome.NOT_FOUND);
    assertThat(consulted).hasValue(0);
    assertThat(store.lookups()).isEqualTo(2);
  }

  @Test
  void aWrongFilterInCanaryNeverDeniesAValidKeyAndTheGuardRevertsItAtOnce() {
    set(Stage.CANARY, 10_000, 0);
    importForeign(FOREIGN);
    assertThat(verifier.verify(FOREIGN).outcome()).isEqualTo(Outcome.VALID);
    assertThat(reverts).singleElement().asString()
        .startsWith(Verifier.FOREIGN_FILTER_SWITCH + ": ").contains("key_imported");
    assertThat(board.state(Verifier.FOREIGN_FILTER_SWITCH).stage()).isEqualTo(Stage.OFF);
    assertThat(rollouts.disagreements(Verifier.FOREIGN_FILTER_SWITCH)).singleElement()
        .satisfies(d -> {
          assertThat(d.keyId()).isEqualTo("key_imported");
          assertThat(d.control()).isEqualTo(Outcome.VALID);
          assertThat(d.candidate()).isEqualTo(Outcome.NOT_FOUND);
        });
  }

  @Test
  void aWrongFilterInShadowIsComparedOnItsSampleAndTheClientGetsTheStoresAnswer() {
    set(Stage.SHADOW, 0, 10_000);
    importForeign(FOREIGN);
    assertThat(verifier.verify(FOREIGN).outcome()).isEqualTo(Outcome.VALID);
    assertThat(reverts).hasSize(1);
  }

  @Test
  void aRightFilterInCanaryAgreesWithTheStoreAndRevertsNothing() {
    set(Stage.CANARY, 10_000, 0);
    for (int i = 0; i < 20; i++) {
      assertThat(verifier.verify(FOREIGN + i).outcome()).isEqualTo(Outcome.NOT_FOUND);
    }
    assertThat(store.lookups()).isEqualTo(20); // in canary the store confirms every denial
    assertThat(reverts).isEmpty();
    assertThat(registry.get("keyward.rollout.comparisons")
        .tags("switch", Verifier.FOREIGN_FILTER_SWITCH, "result", "agree").counter().count())
        .isEqualTo(20);
  }
}
