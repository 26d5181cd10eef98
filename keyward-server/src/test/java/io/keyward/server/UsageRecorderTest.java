package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.usage.UsageBatch;
import io.keyward.verify.Outcome;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How a drained batch is cut into parts, each written as its own numbered batch. */
class UsageRecorderTest {
  @Test
  void aLargeBatchIsCutIntoPartsThatTogetherHoldEveryCountOnceWithTheirKeysLastUses() {
    List<UsageBatch.Count> counts = new ArrayList<>();
    Map<String, Long> lastUsed = new HashMap<>();
    int size = UsageRecorder.PART_COUNTS;
    for (int i = 0; i < 2 * size + size * 2 / 5; i++) {
      counts.add(new UsageBatch.Count("key_" + i, "o", Outcome.VALID, 0, i + 1));
      lastUsed.put("key_" + i, 1_000L + i);
    }
    UsageBatch batch = new UsageBatch(counts, lastUsed, List.of(new UsageBatch.Drop(0, 7)));

    List<UsageBatch> parts = UsageRecorder.split(batch);

    assertThat(parts).extracting(p -> p.counts().size()).containsExactly(size, size, size * 2 / 5);
    assertThat(parts.stream().mapToLong(UsageBatch::verifications).sum())
        .isEqualTo(batch.verifications());
    assertThat(parts).extracting(p -> p.drops().size()).containsExactly(1, 0, 0);
    for (UsageBatch part : parts) {
      assertThat(part.lastUsedMillis().keySet())
          .containsExactlyInAnyOrderElementsOf(part.counts().stream()
              .map(UsageBatch.Count::keyId).toList());
    }
  }

  @Test
  void aBatchsEventsFollowItsCountsInPartsOfTheirOwnEachOnceInOrder() {
    List<io.keyward.verify.UsageSink.UsageEvent> events = new ArrayList<>();
    int size = UsageRecorder.PART_COUNTS;
    int total = 2 * size + size * 2 / 5;
    for (int i = 0; i < total; i++) {
      events.add(new io.keyward.verify.UsageSink.UsageEvent("key_a", "o", Outcome.VALID, i));
    }
    UsageBatch batch = new UsageBatch(List.of(new UsageBatch.Count("key_a", "o", Outcome.VALID,
        0, total)), Map.of("key_a", total - 1L), List.of(), events);

    List<UsageBatch> parts = UsageRecorder.split(batch);

    assertThat(parts).extracting(p -> p.counts().size()).containsExactly(1, 0, 0, 0);
    assertThat(parts).extracting(p -> p.events().size()).containsExactly(0, size, size, size * 2 / 5);
    assertThat(parts.stream().flatMap(p -> p.events().stream()).toList()).isEqualTo(events);
    assertThat(parts.getFirst().lastUsedMillis()).containsEntry("key_a", total - 1L);
  }

  @Test
  void aSmallBatchIsOnePart() {
    UsageBatch batch = new UsageBatch(List.of(new UsageBatch.Count("key_a", "o", Outcome.VALID,
        0, 1)), Map.of("key_a", 1L), List.of());
    assertThat(UsageRecorder.split(batch)).containsExactly(batch);
  }
}
