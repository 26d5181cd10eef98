package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.key.Environment;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyIds;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import io.keyward.store.postgres.PostgresKeyStore.PreflightProblem;
import io.keyward.testing.InMemoryKeyStore;
import io.keyward.testing.MutableClock;
import io.keyward.verify.Verifier;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.security.SecureRandom;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/** The readiness rules, over a preflight the test controls (the real outage is StoreOutageTest). */
class ReadinessTest {
  private final MutableClock clock = MutableClock.startingAt2030();
  private final InMemoryKeyStore store = new InMemoryKeyStore();
  private final KeyFormat format = KeyFormat.withPrefix("kw");
  private final Verifier verifier = Verifier.builder(format, store).clock(clock).build();
  private final AtomicReference<@Nullable PreflightProblem> finding = new AtomicReference<>();
  private final Readiness readiness =
      new Readiness(finding::get, verifier, clock, new SimpleMeterRegistry());

  private void cacheOneKey() {
    String key = format.generate(Environment.LIVE);
    var now = clock.instant();
    store.insert(new KeyRecord(new KeyIds(clock, new SecureRandom()).next(), KeyHash.of(key), null,
        "n", "o", Set.of(), "{}", Environment.LIVE, KeyOrigin.ISSUED, now, now, null, null, true,
        null, 1));
    verifier.verify(key);
  }

  /** The report once the background check (at most one a second) has seen {@code state}. */
  private Readiness.Report awaitState(Readiness.State state) {
    io.keyward.testing.Eventually.await(() -> readiness.report().state() == state);
    return readiness.report();
  }

  @Test
  void nodeThatServedAndHoldsACacheStaysReadyButDegradedWhileTheStoreFails() throws Exception {
    readiness.checkNow();
    cacheOneKey();
    finding.set(new PreflightProblem(false, "Connection is not available (total=0, waiting=16)"));

    Readiness.Report report = awaitState(Readiness.State.DEGRADED);

    assertThat(report.reason()).isEqualTo("store failing; answering cached keys")
        .doesNotContain("Connection is not available");
  }

  @Test
  void nodeThatNeverSawAUsableSchemaIsNotReady() {
    finding.set(new PreflightProblem(true, "relation \"api_keys\" does not exist"));
    readiness.checkNow();
    cacheOneKey();

    Readiness.Report report = readiness.report();

    assertThat(report.state()).isEqualTo(Readiness.State.NOT_READY);
    assertThat(report.reason()).isEqualTo("schema not usable");
  }

  @Test
  void nodeWithNothingCachedWhileTheStoreFailsIsNotReady() throws Exception {
    readiness.checkNow();
    finding.set(new PreflightProblem(false, "refused"));

    assertThat(awaitState(Readiness.State.NOT_READY).reason())
        .isEqualTo("store failing; nothing cached");
  }

  @Test
  void nodeHoldingOnlyNotFoundAnswersIsNotReadyWhileTheStoreFails() {
    readiness.checkNow();
    verifier.verify(format.generate(Environment.LIVE)); // cached as "not found": answers nothing
    finding.set(new PreflightProblem(false, "refused"));

    assertThat(awaitState(Readiness.State.NOT_READY).reason()).isEqualTo("store failing; nothing cached");
  }

  @Test
  void probeNeverWaitsForAHangingPreflight() throws Exception {
    readiness.checkNow();
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch entered = new CountDownLatch(1);
    Readiness hanging = new Readiness(() -> {
      entered.countDown();
      try {
        release.await(30, TimeUnit.SECONDS); // a black-holed database
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return null;
    }, verifier, clock, new SimpleMeterRegistry());

    // Every probe answers from the last finding while the one check in flight hangs; the old
    // probe held a lock around the query, so the second caller waited for the first.
    for (int i = 0; i < 50; i++) {
      assertThat(hanging.report()).isNotNull();
    }
    assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(hanging.report().state()).isEqualTo(Readiness.State.READY);
    release.countDown();
  }

  @Test
  void stoppingNodeIsNotReady() {
    readiness.checkNow();
    readiness.stopping();

    assertThat(readiness.report()).isEqualTo(new Readiness.Report(Readiness.State.NOT_READY, "shutting down"));
  }
}
