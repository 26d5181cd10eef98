package io.keyward.verify;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.keyward.key.KeyHash;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Seeded property tests of the Bloom filter of key hashes. */
class BloomFilterTest {
  private static List<KeyHash> hashes(long seed, int count) {
    Random random = new Random(seed);
    List<KeyHash> hashes = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      hashes.add(new KeyHash(random.nextLong(), random.nextLong(), random.nextLong(),
          random.nextLong()));
    }
    return hashes;
  }

  @Test
  void everyAddedHashMightBeContainedAndFewOthersAreAtCapacity() {
    BloomFilter filter = BloomFilter.sizedFor(50_000, 0.01);
    List<KeyHash> added = hashes(1, 50_000);
    added.forEach(filter::add);

    assertThat(added).allMatch(filter::mightContain);
    long falsePositives = hashes(2, 100_000).stream().filter(filter::mightContain).count();
    // 1% expected at capacity; twice that would mean the sizing or the probes are wrong.
    assertThat(falsePositives).isBetween(1L, 2_000L);
    assertThat(filter.probes()).isEqualTo(7);
  }

  @Test
  void anEmptyFilterContainsNothing() {
    BloomFilter filter = BloomFilter.sizedFor(1, 0.01);
    assertThat(hashes(3, 1_000)).noneMatch(filter::mightContain);
  }

  @Test
  void hashesAddedConcurrentlyAreAllSeenOnceTheAddsReturn() throws Exception {
    BloomFilter filter = BloomFilter.sizedFor(40_000, 0.01);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<List<KeyHash>>> adds = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        long seed = 10 + t;
        adds.add(pool.submit(() -> {
          List<KeyHash> mine = hashes(seed, 10_000);
          mine.forEach(filter::add);
          return mine;
        }));
      }
      for (Future<List<KeyHash>> add : adds) {
        assertThat(add.get()).allMatch(filter::mightContain);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aCapacityRateOrSizeOutOfRangeIsRefusedNamingIt() {
    assertThatThrownBy(() -> BloomFilter.sizedFor(0, 0.01))
        .hasMessageContaining("capacity must be at least 1, got 0");
    assertThatThrownBy(() -> BloomFilter.sizedFor(10, 0.9))
        .hasMessageContaining("false-positive rate must be in (0, 0.5], got 0.9");
    assertThatThrownBy(() -> BloomFilter.sizedFor(10, Double.NaN))
        .hasMessageContaining("false-positive rate");
    assertThatThrownBy(() -> BloomFilter.sizedFor(Long.MAX_VALUE / 64, 0.01))
        .hasMessageContaining("more than " + BloomFilter.MAX_BITS);
  }
}
