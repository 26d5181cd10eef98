package io.keyward.rollout;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.key.Environment;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import io.keyward.testing.Eventually;
import io.keyward.verify.Outcome;
import io.keyward.verify.Verdict;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The seam between a risky path and its switch: who answers at each stage, and the guard. */
class RolloutsTest {
  private static final Instant NOW = Instant.parse("2026-11-30T00:00:00Z");
  private static final byte[] HASH = KeyHash.of("k").toBytes();

  private final List<String> reverts = new CopyOnWriteArrayList<>();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final Switchboard board = new Switchboard();
  private Rollouts rollouts = new Rollouts(board,
      new Guard((state, evidence) -> reverts.add(state.name() + ": " + evidence)),
      Clock.fixed(NOW, java.time.ZoneOffset.UTC), registry, 1, 16);

  @AfterEach
  void close() {
    rollouts.close();
  }

  private static Verdict valid(String keyId) {
    KeyRecord key = new KeyRecord(keyId, KeyHash.of(keyId), null, "n", "o", Set.of(), "{}",
        Environment.LIVE, KeyOrigin.ISSUED, NOW, NOW, null, null, true, null, 1);
    return new Verdict.Valid(key);
  }

  private void set(Stage stage, int canaryBasisPoints, int sampleBasisPoints, GuardRules rules) {
    board.apply(List.of(new SwitchState("path", stage, canaryBasisPoints, sampleBasisPoints, 7,
        99, rules)), 7);
  }

  private static Supplier<Verdict> counting(AtomicInteger calls, Verdict verdict) {
    return () -> {
      calls.incrementAndGet();
      return verdict;
    };
  }

  @Test
  void offAndUnknownSwitchesRunTheControlOnly() {
    AtomicInteger candidate = new AtomicInteger();

    assertThat(rollouts.decide("never-set", HASH, () -> valid("key_a"),
        counting(candidate, Verdict.Denied.notFound())).outcome()).isEqualTo(Outcome.VALID);
    set(Stage.OFF, 10_000, 10_000, GuardRules.DEFAULTS);
    assertThat(rollouts.decide("path", HASH, () -> valid("key_a"),
        counting(candidate, Verdict.Denied.notFound())).outcome()).isEqualTo(Outcome.VALID);
    assertThat(candidate).hasValue(0);
  }

  @Test
  void shadowAnswersWithTheControlAndKeepsEachDisagreementWithTheKeyIdOnly() {
    set(Stage.SHADOW, 0, 10_000, GuardRules.DEFAULTS);

    Verdict answer = rollouts.decide("path", HASH, () -> valid("key_a"),
        () -> Verdict.Denied.notFound());

    assertThat(answer.outcome()).isEqualTo(Outcome.VALID);
    Eventually.await(() -> !rollouts.disagreements("path").isEmpty());
    assertThat(rollouts.disagreements("path")).singleElement().satisfies(d -> {
      assertThat(d.kind()).isEqualTo(Disagreement.Kind.CANDIDATE_DENIES_ALLOWED);
      assertThat(d.keyId()).isEqualTo("key_a");
      assertThat(d.control()).isEqualTo(Outcome.VALID);
      assertThat(d.candidate()).isEqualTo(Outcome.NOT_FOUND);
      assertThat(d.switchVersion()).isEqualTo(7);
    });
    Eventually.await(() -> reverts.size() == 1);
    assertThat(reverts.get(0)).contains("false denial").contains("key_a");
  }

  @Test
  void aFullShadowExecutorSkipsTheSampleAndCountsIt() throws Exception {
    set(Stage.SHADOW, 0, 10_000, GuardRules.DEFAULTS);
    CountDownLatch release = new CountDownLatch(1);
    Supplier<Verdict> stuck = () -> {
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return valid("key_a");
    };

    for (int i = 0; i < 40; i++) { // 1 running + 16 queued; the rest skipped
      assertThat(rollouts.decide("path", HASH, () -> valid("key_a"), stuck).outcome())
          .isEqualTo(Outcome.VALID);
    }

    assertThat(registry.get("keyward.rollout.shadow.skipped").tag("switch", "path").counter()
        .count()).isGreaterThanOrEqualTo(23);
    release.countDown();
  }

  @Test
  void canaryNeverDeniesAKeyTheControlAllowsAndTheGuardRevertsOnTheFirstOne() {
    set(Stage.CANARY, 10_000, 0, GuardRules.DEFAULTS);
    AtomicInteger control = new AtomicInteger();

    Verdict answer = rollouts.decide("path", HASH, counting(control, valid("key_a")),
        () -> Verdict.Denied.notFound());

    assertThat(answer.outcome()).isEqualTo(Outcome.VALID);
    assertThat(control).hasValue(1);
    assertThat(reverts).singleElement().asString().contains("false denial");
    assertThat(rollouts.guard().state(board.state("path")).tripped()).isTrue();
  }

  @Test
  void canaryAnswersWithTheCandidateWhenItAllowsAndConfirmsItsDenials() {
    set(Stage.CANARY, 10_000, 0, GuardRules.DEFAULTS);
    AtomicInteger control = new AtomicInteger();

    assertThat(rollouts.decide("path", HASH, counting(control, valid("key_a")),
        () -> valid("key_a")).outcome()).isEqualTo(Outcome.VALID);
    assertThat(control).as("an allowing candidate answers alone").hasValue(0);

    assertThat(rollouts.decide("path", HASH, counting(control, Verdict.Denied.notFound()),
        () -> Verdict.Denied.notFound()).outcome()).isEqualTo(Outcome.NOT_FOUND);
    assertThat(control).as("a denial is confirmed by the control").hasValue(1);
    assertThat(reverts).isEmpty();
  }

  @Test
  void theNodeWhoseGuardTrippedRunsTheControlAtOnceBeforeAnyRevertIsStored() {
    set(Stage.CANARY, 10_000, 0, GuardRules.DEFAULTS);
    AtomicInteger candidate = new AtomicInteger();
    rollouts.decide("path", HASH, () -> valid("key_a"), () -> Verdict.Denied.notFound());
    assertThat(reverts).hasSize(1); // handed over; the store has not changed the switch

    rollouts.decide("path", HASH, () -> valid("key_a"), counting(candidate, valid("key_a")));

    assertThat(candidate).hasValue(0);
    assertThat(board.state("path").stage()).isEqualTo(Stage.OFF);
    board.apply(List.of(new SwitchState("path", Stage.CANARY, 10_000, 0, 8, 99,
        GuardRules.DEFAULTS)), 8);
    assertThat(board.state("path").stage()).as("a newer version is applied").isEqualTo(Stage.CANARY);
  }

  @Test
  void keysOutsideTheCanaryGetTheControl() {
    set(Stage.CANARY, 0, 0, GuardRules.DEFAULTS);
    AtomicInteger candidate = new AtomicInteger();

    rollouts.decide("path", HASH, () -> valid("key_a"), counting(candidate, valid("key_a")));

    assertThat(candidate).hasValue(0);
  }

  @Test
  void candidateErrorsRevertOnlyAboveTheirRateOverTheMinimumSample() {
    set(Stage.CANARY, 10_000, 0, new GuardRules(50, 0.1, 0.5, 1000));
    Supplier<Verdict> failing = () -> {
      throw new IllegalStateException("boom");
    };
    Supplier<Verdict> fine = () -> valid("key_a");

    for (int i = 0; i < 49; i++) {
      Verdict answer = rollouts.decide("path", HASH, () -> valid("key_a"),
          i % 3 == 0 ? failing : fine);
      assertThat(answer.outcome()).as("an error is answered by the control").isEqualTo(Outcome.VALID);
    }
    assertThat(reverts).as("17 errors in 49: below the minimum sample of 50").isEmpty();

    rollouts.decide("path", HASH, () -> valid("key_a"), failing);

    assertThat(reverts).singleElement().asString().contains("errors: 18 of 50");
  }

  @Test
  void onAnswersWithTheCandidateAndFallsBackToTheControlWhenItThrows() {
    set(Stage.ON, 0, 0, GuardRules.DEFAULTS);

    assertThat(rollouts.decide("path", HASH, () -> valid("key_a"),
        () -> Verdict.Denied.notFound()).outcome()).isEqualTo(Outcome.NOT_FOUND);
    assertThat(rollouts.decide("path", HASH, () -> valid("key_a"), () -> {
      throw new IllegalStateException("boom");
    }).outcome()).isEqualTo(Outcome.VALID);
  }

  @Test
  void aNewVersionStartsTheGuardsCountsAgain() {
    set(Stage.CANARY, 10_000, 0, GuardRules.DEFAULTS);
    rollouts.decide("path", HASH, () -> valid("key_a"), () -> Verdict.Denied.notFound());
    assertThat(reverts).hasSize(1);

    board.apply(List.of(new SwitchState("path", Stage.CANARY, 10_000, 0, 9, 99,
        GuardRules.DEFAULTS)), 9);
    assertThat(rollouts.guard().state(board.state("path")).comparisons()).isZero();
    rollouts.decide("path", HASH, () -> valid("key_a"), () -> Verdict.Denied.notFound());

    assertThat(reverts).hasSize(2);
  }
}
