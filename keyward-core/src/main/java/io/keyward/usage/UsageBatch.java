package io.keyward.usage;

import io.keyward.verify.Outcome;
import io.keyward.verify.UsageSink.UsageEvent;
import java.util.List;
import java.util.Map;

/**
 * What a node counted between two flushes: counts per key, outcome and minute; each key's latest
 * verification; how many events were dropped, per minute, because the buffer was full; and, when
 * an exporter sends every verification ({@link UsageExport#EVENTS}), the verifications themselves.
 */
public record UsageBatch(List<Count> counts, Map<String, Long> lastUsedMillis, List<Drop> drops,
    List<UsageEvent> events, long eventsDropped) {
  public UsageBatch {
    counts = List.copyOf(counts);
    lastUsedMillis = Map.copyOf(lastUsedMillis);
    drops = List.copyOf(drops);
    events = List.copyOf(events);
    if (eventsDropped < 0) {
      throw new IllegalArgumentException("eventsDropped < 0");
    }
  }

  /** A batch without events. */
  public UsageBatch(List<Count> counts, Map<String, Long> lastUsedMillis, List<Drop> drops) {
    this(counts, lastUsedMillis, drops, List.of(), 0);
  }

  /** A batch with events and no events gap. */
  public UsageBatch(List<Count> counts, Map<String, Long> lastUsedMillis, List<Drop> drops,
      List<UsageEvent> events) {
    this(counts, lastUsedMillis, drops, events, 0);
  }

  /** {@code count} verifications of {@code keyId} with {@code outcome} in the minute starting at
   * {@code minuteMillis}. */
  public record Count(String keyId, String ownerId, Outcome outcome, long minuteMillis,
      long count) {}

  /** {@code dropped} verifications in the minute starting at {@code minuteMillis} not counted. */
  public record Drop(long minuteMillis, long dropped) {}

  /** The same counts and drops, with only these last uses. */
  public UsageBatch withLastUsed(Map<String, Long> lastUsed) {
    return new UsageBatch(counts, lastUsed, drops, events, eventsDropped);
  }

  /** The same counts, last uses and drops, without the events (nor their gap). */
  public UsageBatch withoutEvents() {
    return new UsageBatch(counts, lastUsedMillis, drops);
  }

  /** Whether there is nothing to write. */
  public boolean isEmpty() {
    return counts.isEmpty() && drops.isEmpty() && events.isEmpty() && eventsDropped == 0;
  }

  /** How many verifications it counts. */
  public long verifications() {
    return counts.stream().mapToLong(Count::count).sum();
  }
}
