package io.keyward.cache.redis;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.testing.TcpProxy;
import io.keyward.verify.CacheTier;
import io.keyward.verify.RemoteInvalidations;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A node whose Redis is down when it starts: it starts anyway and connects once Redis answers. */
class DeferredRedisTierTest {
  private final RedisTestSupport redis = RedisTestSupport.open();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final List<String> events = new CopyOnWriteArrayList<>();
  private final RemoteInvalidations listener = new RemoteInvalidations() {
    @Override
    public void invalidated(KeyHash hash) {
      events.add("invalidated");
    }

    @Override
    public void channelLost() {
      events.add("lost");
    }

    @Override
    public void channelRestored() {
      events.add("restored");
    }
  };

  @AfterEach
  void close() {
    redis.close();
  }

  @Test
  void startsWithoutRedisAsAMissForEveryReadAndConnectsOnceRedisAnswers() {
    int port = TcpProxy.freePort();
    KeyRecord record = EntryEnvelopeTest.record(KeyHash.of("k-deferred"));
    try (DeferredRedisTier tier = DeferredRedisTier.connect(
        redis.settings("redis://127.0.0.1:" + port + "/0"), RedisTestSupport.SIGNING_KEY,
        Clock.systemUTC(), registry, Duration.ofMillis(50))) {
      tier.listen(listener);

      assertThat(tier.status()).startsWith("connecting: cannot connect to Redis");
      assertThat(events).containsExactly("lost"); // short freshness until the channel is live
      tier.write(record, System.currentTimeMillis());
      assertThat(tier.read(record.hash())).isEmpty();
      assertThat(registry.get("keyward.cache.l2.connected").gauge().value()).isZero();

      try (TcpProxy redisComesBack = TcpProxy.on(port, 6379)) {
        await(() -> tier.status().equals("connected"));

        assertThat(events).containsExactly("lost", "restored");
        assertThat(registry.get("keyward.cache.l2.connected").gauge().value()).isEqualTo(1);
        assertThat(registry.find("keyward.cache.l2.breaker.open").gauges())
            .as("one gauge, bound to the tier that connected").hasSize(1);
        long loadedAt = System.currentTimeMillis();
        tier.write(record, loadedAt);
        await(() -> tier.read(record.hash()).isPresent());
        assertThat(tier.read(record.hash())).contains(new CacheTier.Entry(record, loadedAt));
      }
    }
  }

  @Test
  void aRedisThatAnswersAtStartIsConnectedAtOnce() {
    try (DeferredRedisTier tier = DeferredRedisTier.connect(redis.settings(),
        RedisTestSupport.SIGNING_KEY, Clock.systemUTC(), registry)) {
      tier.listen(listener);

      assertThat(tier.status()).isEqualTo("connected");
      assertThat(events).isEmpty();
    }
  }
}
