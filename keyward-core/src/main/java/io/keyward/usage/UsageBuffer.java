package io.keyward.usage;

import io.keyward.verify.Outcome;
import io.keyward.verify.UsageSink;
import io.keyward.verify.UsageSink.UsageEvent;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A node's usage counts before they are written: one counter per key, outcome and minute, bounded
 * in how many it holds. The verify path only finds or adds a counter and increments it: no lock,
 * no I/O, no blocking, nothing that can fail the verification (incident I-2). When the buffer is
 * full, an event for a counter it does not hold yet is dropped and counted, per minute, and the
 * drop counts are written with the next batch, so a report can say what it does not cover.
 *
 * <p>{@link #drain} takes everything counted so far as one {@link UsageBatch}, exactly: each
 * counter is read and zeroed atomically; a counter of a minute that has passed is sealed before
 * it is removed, and an increment that finds a sealed counter starts a fresh one, so that nothing
 * is counted twice or lost between a drain and a late increment.
 *
 * <p>When an exporter sends every verification ({@link UsageExport#EVENTS}), the buffer also keeps
 * each event, bounded, in a lock-free queue; a verification that finds the counters full is
 * dropped from both (a drop); one that finds only the events full keeps its count and loses its
 * event (an events gap, counted and exported), so that the counts stay exact.
 */
public final class UsageBuffer implements UsageSink {
  private static final long MINUTE = 60_000;
  /** A counter that has been drained for the last time and removed. */
  private static final long SEALED = Long.MIN_VALUE;

  /** One counter's identity. */
  record Cell(String keyId, String ownerId, Outcome outcome, long minute) {}

  /**
   * One counter: how many, and the time of the latest event counted. The count is {@link
   * #SEALED} plus the increments that found it so once a drain has taken it for the last time:
   * negative, never counted again.
   */
  static final class Counter {
    final AtomicLong count = new AtomicLong();
    /** Read and written opaquely ({@link #LAST_AT}): atomic, with no fence of its own. */
    @SuppressWarnings("unused") // through LAST_AT
    private long lastAtMillis;
  }

  /**
   * A counter's last time, as a racy maximum: written before the increment that publishes it to
   * the drain (whose {@code getAndSet} of the count reads that increment), so that the verify
   * path pays no fence for it.
   */
  private static final VarHandle LAST_AT;

  static {
    try {
      LAST_AT = MethodHandles.lookup().findVarHandle(Counter.class, "lastAtMillis", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final ConcurrentHashMap<Cell, Counter> cells = new ConcurrentHashMap<>();
  private final AtomicInteger held = new AtomicInteger();
  private final int maxCells;
  private final ConcurrentHashMap<Long, AtomicLong> dropsByMinute = new ConcurrentHashMap<>();
  // Adders, not atomics: every verification touches them, from every thread.
  private final java.util.concurrent.atomic.LongAdder droppedTotal =
      new java.util.concurrent.atomic.LongAdder();

  /**
   * Each verification itself, in arrival order, when an exporter sends events ({@code maxEvents >
   * 0}), kept once it is counted: a verification the counters have no room for is a drop (from
   * both); one counted when the events are full keeps its count and loses its event (a gap,
   * counted: {@link UsageBatch#eventsDropped()}). Counts and events then cover the same
   * verifications minus the counted gaps, in total (a verification counted just before a drain
   * may have its event in the next batch).
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
    long at = event.atEpochMillis();
    long minute = Math.floorDiv(at, MINUTE) * MINUTE;
    Cell cell = new Cell(event.keyId(), event.ownerId(), event.outcome(), minute);
    while (true) {
      Counter counter = cells.get(cell);
      if (counter == null) {
        if (held.get() >= maxCells) {
          drop(minute);
          return;
        }
        Counter fresh = new Counter();
        counter = cells.putIfAbsent(cell, fresh);
        if (counter == null) {
          held.incrementAndGet();
          counter = fresh;
        }
      }
      if (at > (long) LAST_AT.getOpaque(counter)) {
        LAST_AT.setOpaque(counter, at); // racy max: good to a few ms
      }
      // One atomic add, never retried: a count that was not negative took this verification.
      if (counter.count.getAndIncrement() >= 0) {
        keep(event);
        return;
      }
      // Sealed by a drain: this counter is done with; count in a fresh one.
      if (cells.remove(cell, counter)) { // the drain removes it too; whoever is first
        held.decrementAndGet();
      }
    }
  }

  /**
   * Keeps the counted event for exporters of events, if there is room: else only its count is
   * kept, and the gap is counted ({@link UsageBatch#eventsDropped()}). Reserved only once the
   * count is in, so that a verification is never both a drop and a gap.
   */
  private void keep(UsageEvent event) {
    if (maxEvents == 0) {
      return;
    }
    if (eventsHeld.incrementAndGet() > maxEvents) {
      eventsHeld.decrementAndGet();
      eventsDropped.incrementAndGet();
      eventsDroppedTotal.increment();
      return;
    }
    events.offer(event);
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
    long currentMinute = Math.floorDiv(nowMillis, MINUTE) * MINUTE;
    List<UsageBatch.Count> counts = new ArrayList<>();
    Map<String, Long> lastUsed = new HashMap<>();
    for (Map.Entry<Cell, Counter> entry : cells.entrySet()) {
      Cell cell = entry.getKey();
      Counter counter = entry.getValue();
      boolean over = cell.minute() < currentMinute;
      long taken = over ? counter.count.getAndSet(SEALED) : counter.count.getAndSet(0);
      if (taken < 0) {
        continue; // sealed by an earlier drain; its remover has not run yet
      }
      if (over && cells.remove(cell, counter)) {
        held.decrementAndGet();
      }
      if (taken > 0) {
        counts.add(new UsageBatch.Count(cell.keyId(), cell.ownerId(), cell.outcome(),
            cell.minute(), taken));
        lastUsed.merge(cell.keyId(), (long) LAST_AT.getOpaque(counter), Math::max);
      }
    }
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

}
