package io.keyward.verify;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.testing.MutableClock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class CircuitBreakerTest {
  private final MutableClock clock = MutableClock.startingAt2030();
  private final CircuitBreaker breaker = new CircuitBreaker(clock, 3, Duration.ofSeconds(1));

  @Test
  void opensAfterTheThresholdOfFailuresInARowAndProbesAfterTheOpenTime() {
    breaker.recordFailure();
    breaker.recordFailure();
    assertThat(breaker.allowsCall()).isTrue();
    assertThat(breaker.recordFailure()).isTrue();

    assertThat(breaker.allowsCall()).isFalse();
    clock.advance(Duration.ofMillis(999));
    assertThat(breaker.allowsCall()).isFalse();
    clock.advance(Duration.ofMillis(1));
    assertThat(breaker.allowsCall()).isTrue(); // the probe
    assertThat(breaker.allowsCall()).isFalse(); // only one probe at a time

    breaker.recordSuccess();
    assertThat(breaker.allowsCall()).isTrue();
    assertThat(breaker.isOpen()).isFalse();
  }

  @Test
  void failedProbeOpensItAgain() {
    for (int i = 0; i < 3; i++) {
      breaker.recordFailure();
    }
    clock.advance(Duration.ofSeconds(1));
    assertThat(breaker.allowsCall()).isTrue();

    breaker.recordFailure();

    assertThat(breaker.allowsCall()).isFalse();
    clock.advance(Duration.ofSeconds(1));
    assertThat(breaker.allowsCall()).isTrue();
  }

  @Test
  void successInBetweenResetsTheCount() {
    breaker.recordFailure();
    breaker.recordFailure();
    breaker.recordSuccess();
    breaker.recordFailure();
    breaker.recordFailure();

    assertThat(breaker.allowsCall()).isTrue();
  }
}
