package io.keyward.usage;

import io.keyward.verify.Outcome;
import io.keyward.verify.UsageSink;
import io.keyward.verify.UsageSink.UsageEvent;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A node's usage counts before they are written, per key, outcome and minute: one counter per
 * key and outcome, kept across minutes while the key is in use, bounded in how many it holds. The
 * verify path only finds or adds a counter and increments it: no lock, no I/O, no blocking,
 * nothing that can fail the verification (incident I-2). When the buffer is full, an event for a
 * counter it does not hold yet is dropped and counted, per minute, and the drop counts are
 * written with the next batch, so a report can say what it does not cover.
 *
 * <p>A counter's state is one long: the minute it counts and the count. An increment of the same
 * minute adds one; the first increment of a later minute moves the counter on and retires what it
 * held for its minute (one compare-and-set: nothing counted twice or lost); an event of an earlier
 * minute (a thread that raced a minute boundary) is retired on its own. {@link #drain} takes each
 * counter's count (zeroing it in the same step) and every retired count, as one {@link
 * UsageBatch} with one count per key, outcome and minute. A counter idle for over a minute is
 * sealed and removed at a drain; an increment that finds it sealed makes a new one.
 *
 * <p>When an exporter sends every verification ({@link UsageExport#EVENTS}), the buffer also keeps
 * each event, bounded, in a lock-free queue; a verification that finds the counters full is
 * dropped from both (a drop); one that finds only the events full keeps its count and loses its
 * event (an events gap, counted and exported), so that the counts stay exact.
 */
public final class UsageBuffer implements UsageSink {
  private static final long MINUTE = 60_000;
  /** A counter's state once it has been drained for the last time and removed. */
  private static final long SEALED = Long.MIN_VALUE;

  /** A counter's identity: one per key and outcome, whatever the minute. */
  record Cell(String keyId, String ownerId, Outcome outcome) {}

  /**
   * One counter, which lives as long as its key is in use: it holds the count of one minute at a
   * time, packed with that minute in one long ({@link #pack}), so that moving to a new minute and
   * taking a count are single atomic steps. Counters are not made per minute: the earlier shape
   * (one per key, outcome and minute) created ~100,000 objects at every minute boundary under
   * load, which every young GC then copied until the minute was drained (docs/benchmarks.md).
   */
  static final class Counter {
    final Cell cell;
    /** {@code pack(minute index, count)}, or {@link #SEALED}. */
    final AtomicLong state;
    volatile long lastAtMillis;

    Counter(Cell cell, long minuteIndex) {
      this.cell = cell;
      this.state = new AtomicLong(pack(minuteIndex, 0));
    }
  }

  /** A count taken off a counter when it moved on to a later minute (or for an earlier one). */
  private record Retired(Counter counter, long minuteIndex, long count) {}

  /** Bits of a counter's state that hold the count; the rest hold the minute index. */
  private static final int COUNT_BITS = 40;
  private static final long COUNT_MASK = (1L << COUNT_BITS) - 1;

  static long pack(long minuteIndex, long count) {
    return (minuteIndex << COUNT_BITS) | count;
  }

  private final ConcurrentHashMap<Cell, Counter> cells = new ConcurrentHashMap<>();
  /** Counts moved off their counters between two drains (a minute boundary, a late event). */
  private final ConcurrentLinkedQueue<Retired> retired = new ConcurrentLinkedQueue<>();
  /** Minute indexes count from here (about 15 years before the buffer was made). */
  private final long minuteBase = System.currentTimeMillis() / MINUTE - (1L << 22);
  private final AtomicInteger held = new AtomicInteger();
  private final int maxCells;
  private final ConcurrentHashMap<Long, AtomicLong> dropsByMinute = new ConcurrentHashMap<>();
  // Adders, not atomics: every verification touches them, from every thread.
  private final java.util.concurrent.atomic.LongAdder droppedTotal =
      new java.util.concurrent.atomic.LongAdder();
  private final java.util.concurrent.atomic.LongAdder acceptedTotal =
      new java.util.concurrent.atomic.LongAdder();

  /**
   * Each verification itself, in arrival order, when an exporter sends events ({@code maxEvents >
   * 0}). A slot is taken before the event is counted and given back if the counters have no room
   * (then the verification is dropped from both, and counted as dropped). When the events are
   * full, the event alone is not kept: its count is, and the gap is counted ({@link
   * UsageBatch#eventsDropped()}), so that counts stay exact. Counts and events then cover the
   * same verifications minus the counted gaps, in total (a verification counted just before a
   * drain may have its event in the next batch).
   */
  private final ConcurrentLinkedQueue<UsageEvent> events = new ConcurrentLinkedQueue<>();
  private final AtomicInteger eventsHeld = new AtomicInteger();
  /** Events not kept since the last drain because the events were full (their counts were). */
  private final AtomicLong eventsDropped = new AtomicLong();
  private final java.util.concurrent.atomic.LongAdder eventsDroppedTotal =
      new java.util.concurrent.atomic.LongAdder();
  private final int maxEvents;

  /** @param maxCells how many counters (key, outcome, minute) it holds at most */
  public UsageBuffer(int maxCells) {
    this(maxCells, 0);
  }

  /**
   * @param maxCells how many counters (key, outcome, minute) it holds at most
   * @param maxEvents how many verifications it keeps one by one between drains, for exporters of
   *     {@link UsageExport#EVENTS}; 0 keeps none (counts only)
   */
  public UsageBuffer(int maxCells, int maxEvents) {
    if (maxCells < 1) {
      throw new IllegalArgumentException("the usage buffer must hold at least 1 counter, got "
          + maxCells);
    }
    if (maxEvents < 0) {
      throw new IllegalArgumentException("the usage buffer cannot hold a negative number of"
          + " events, got " + maxEvents);
    }
    this.maxCells = maxCells;
    this.maxEvents = maxEvents;
  }

  @Override
  public void accept(UsageEvent event) {
    long minute = Math.floorDiv(event.atEpochMillis(), MINUTE) * MINUTE;
    boolean keepEvent = maxEvents > 0;
    if (keepEvent && eventsHeld.incrementAndGet() > maxEvents) {
      // The events are full: this one is not kept (and is counted as an export gap); the count
      // still is, so that the counts stay exact whatever the exporters do.
      eventsHeld.decrementAndGet();
      eventsDropped.incrementAndGet();
      eventsDroppedTotal.increment();
      keepEvent = false;
    }
    long index = minuteIndex(minute);
    Cell cell = new Cell(event.keyId(), event.ownerId(), event.outcome());
    while (true) {
      Counter counter = cells.get(cell);
      if (counter == null) {
        if (held.get() >= maxCells) {
          if (keepEvent) {
            eventsHeld.decrementAndGet();
          }
          drop(minute);
          return;
        }
        Counter fresh = new Counter(cell, index);
        counter = cells.putIfAbsent(cell, fresh);
        if (counter == null) {
          held.incrementAndGet();
          counter = fresh;
        }
      }
      long state = counter.state.get();
      if (state == SEALED) {
        if (cells.remove(cell, counter)) { // the drain removes it too; whoever is first
          held.decrementAndGet();
        }
        continue;
      }
      long holds = state >>> COUNT_BITS;
      long count = state & COUNT_MASK;
      if (holds == index) {
        if (!counter.state.compareAndSet(state, state + 1)) {
          continue;
        }
      } else if (holds < index) {
        // The counter moves on to this minute; what it held for its minute is retired, exactly.
        if (!counter.state.compareAndSet(state, pack(index, 1))) {
          continue;
        }
        if (count > 0) {
          retired.add(new Retired(counter, holds, count));
        }
      } else {
        // An event of an earlier minute than the counter's (it raced a minute boundary): counted
        // in its own minute, off the counter.
        retired.add(new Retired(counter, index, 1));
      }
      if (event.atEpochMillis() > counter.lastAtMillis) {
        counter.lastAtMillis = event.atEpochMillis(); // racy max: good to a few ms
      }
      acceptedTotal.increment();
      if (keepEvent) {
        events.offer(event);
      }
      return;
    }
  }

  private long minuteIndex(long minuteMillis) {
    return Math.max(0, minuteMillis / MINUTE - minuteBase);
  }

  private long minuteMillisOf(long index) {
    return (index + minuteBase) * MINUTE;
  }

  private void drop(long minute) {
    droppedTotal.increment();
    while (true) { // sealed like the counters, so that no drop is lost to a drain
      AtomicLong drops = dropsByMinute.computeIfAbsent(minute, m -> new AtomicLong());
      long current = drops.get();
      if (current == SEALED) {
        dropsByMinute.remove(minute, drops);
        continue;
      }
      if (drops.compareAndSet(current, current + 1)) {
        return;
      }
    }
  }

  /**
   * Takes every count so far. Counters of minutes before {@code nowMillis}'s are removed (their
   * minute is over); the current minute's are zeroed and kept.
   */
  public UsageBatch drain(long nowMillis) {
    long currentIndex = minuteIndex(Math.floorDiv(nowMillis, MINUTE) * MINUTE);
    long currentMinute = Math.floorDiv(nowMillis, MINUTE) * MINUTE;
    List<UsageBatch.Count> counts = new ArrayList<>();
    Map<String, Long> lastUsed = new HashMap<>();
    // The count each counter gave this batch, by counter (a retired count of the same minute is
    // added to it: a batch holds one count per key, outcome and minute).
    java.util.IdentityHashMap<Counter, Integer> given = new java.util.IdentityHashMap<>();
    for (Counter counter : cells.values()) {
      while (true) {
        long state = counter.state.get();
        if (state == SEALED) {
          break;
        }
        long holds = state >>> COUNT_BITS;
        long count = state & COUNT_MASK;
        if (count > 0) {
          if (!counter.state.compareAndSet(state, pack(holds, 0))) {
            continue;
          }
          given.put(counter, counts.size());
          counts.add(new UsageBatch.Count(counter.cell.keyId(), counter.cell.ownerId(),
              counter.cell.outcome(), minuteMillisOf(holds), count));
          lastUsed.merge(counter.cell.keyId(), counter.lastAtMillis, Math::max);
        } else if (holds < currentIndex - 1) {
          // Idle for over a minute: sealed and removed, so that the buffer holds only keys in
          // use; a verification that finds it sealed makes a new one.
          if (!counter.state.compareAndSet(state, SEALED)) {
            continue;
          }
          if (cells.remove(counter.cell, counter)) {
            held.decrementAndGet();
          }
        }
        break;
      }
    }
    for (Retired r; (r = retired.poll()) != null; ) {
      Integer at = given.get(r.counter());
      long minuteMillis = minuteMillisOf(r.minuteIndex());
      if (at != null && counts.get(at).minuteMillis() == minuteMillis) {
        UsageBatch.Count sum = counts.get(at);
        counts.set(at, new UsageBatch.Count(sum.keyId(), sum.ownerId(), sum.outcome(),
            minuteMillis, sum.count() + r.count()));
      } else {
        // Merged with any other retired count of the same counter and minute below.
        counts.add(new UsageBatch.Count(r.counter().cell.keyId(), r.counter().cell.ownerId(),
            r.counter().cell.outcome(), minuteMillis, r.count()));
      }
      lastUsed.merge(r.counter().cell.keyId(), r.counter().lastAtMillis, Math::max);
    }
    counts = mergeSameCell(counts, given.size());
    List<UsageBatch.Drop> drops = new ArrayList<>();
    for (Map.Entry<Long, AtomicLong> entry : dropsByMinute.entrySet()) {
      boolean over = entry.getKey() < currentMinute;
      long dropped = entry.getValue().getAndSet(over ? SEALED : 0);
      if (dropped == SEALED) {
        continue;
      }
      if (over) {
        dropsByMinute.remove(entry.getKey(), entry.getValue());
      }
      if (dropped > 0) {
        drops.add(new UsageBatch.Drop(entry.getKey(), dropped));
      }
    }
    // The events kept so far. One counted just now may reach the queue only after this: it then
    // goes with the next batch, as its count may have.
    List<UsageEvent> taken = new ArrayList<>(maxEvents == 0 ? 0 : Math.min(eventsHeld.get(), 1 << 16));
    for (UsageEvent event; taken.size() < maxEvents && (event = events.poll()) != null; ) {
      taken.add(event);
    }
    eventsHeld.addAndGet(-taken.size());
    return new UsageBatch(counts, lastUsed, drops, taken, eventsDropped.getAndSet(0));
  }

  /** Events not kept since start because the events were full (their counts were kept). */
  public long eventsDroppedTotal() {
    return eventsDroppedTotal.sum();
  }

  /**
   * Sums the counts of one key, outcome and minute: the first {@code unique} are unique already
   * (one per counter); only the retired ones after them can repeat a cell.
   */
  private static List<UsageBatch.Count> mergeSameCell(List<UsageBatch.Count> counts, int unique) {
    if (counts.size() == unique) {
      return counts;
    }
    record Key(String keyId, Outcome outcome, long minuteMillis) {}
    Map<Key, Integer> index = new HashMap<>();
    List<UsageBatch.Count> merged = new ArrayList<>(counts.size());
    for (UsageBatch.Count count : counts) {
      Key key = new Key(count.keyId(), count.outcome(), count.minuteMillis());
      Integer at = index.putIfAbsent(key, merged.size());
      if (at == null) {
        merged.add(count);
      } else {
        UsageBatch.Count sum = merged.get(at);
        merged.set(at, new UsageBatch.Count(sum.keyId(), sum.ownerId(), sum.outcome(),
            sum.minuteMillis(), sum.count() + count.count()));
      }
    }
    return merged;
  }

  /** How many verifications it keeps one by one at most (0: counts only). */
  public int maxEvents() {
    return maxEvents;
  }

  /** How many verifications it keeps one by one now. */
  public int heldEvents() {
    return eventsHeld.get();
  }

  /** How many counters it holds now. */
  public int heldCells() {
    return held.get();
  }

  /** How many counters it holds at most. */
  public int maxCells() {
    return maxCells;
  }

  /** Events dropped since start because the buffer was full. */
  public long droppedTotal() {
    return droppedTotal.sum();
  }

  /** Events counted since start. */
  public long acceptedTotal() {
    return acceptedTotal.sum();
  }
}
