package io.keyward.cache.redis;

import io.keyward.store.KeyStore;
import io.keyward.testing.InMemoryKeyStore;
import io.keyward.testing.VerificationContract;
import io.keyward.verify.CacheTier;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;

/** The whole verification decision matrix with the real Redis as the second tier. */
class RedisVerificationTest extends VerificationContract {
  private RedisTestSupport redis;
  private RedisCacheTier tier;

  @Override
  protected KeyStore newEmptyStore() {
    return new InMemoryKeyStore();
  }

  @Override
  protected CacheTier secondTier() {
    redis = RedisTestSupport.open();
    tier = RedisCacheTier.connect(redis.settings(), RedisTestSupport.SIGNING_KEY, clock,
        new SimpleMeterRegistry());
    return tier;
  }

  @AfterEach
  void closeRedis() {
    tier.close();
    redis.close();
  }
}
