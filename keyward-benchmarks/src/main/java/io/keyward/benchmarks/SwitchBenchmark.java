package io.keyward.benchmarks;

import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.rollout.Guard;
import io.keyward.rollout.GuardRules;
import io.keyward.rollout.Rollouts;
import io.keyward.rollout.Stage;
import io.keyward.rollout.SwitchState;
import io.keyward.rollout.Switchboard;
import io.keyward.verify.CacheTier;
import io.keyward.verify.Outcome;
import io.keyward.verify.Verdict;
import io.keyward.verify.Verifier;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of the {@code cache.l2} switch on the verifier's load path (an L1 miss), in process:
 * {@link #verifyL1Miss} verifies keys that each miss L1 (it holds one entry; {@value #KEYS} keys
 * rotate) with the switch {@code off}, in {@code shadow} sampling 1%, 10% or 100% of loads (the
 * second tier read and compared on the shadow executor, its write held back until that read), or
 * {@code on} (the tier answers). Store and tier are in-memory maps, so what is measured is the
 * machinery, not a network. The teardown prints the shadow samples taken and skipped.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
public class SwitchBenchmark {
  static final int KEYS = KeyCursor.KEYS;

  /** {@code off}, {@code shadow-1}, {@code shadow-10}, {@code shadow-100} (percent), {@code on}. */
  @Param({"off", "shadow-1", "shadow-10", "shadow-100", "on"})
  public String stage;

  private String[] keys;
  private Verifier verifier;
  private Rollouts rollouts;
  private SimpleMeterRegistry registry;
  private final LongAdder tierReads = new LongAdder();

  @Setup(Level.Trial)
  public void setUp() {
    keys = Fixtures.keys(Fixtures.format(), KEYS);
    ConcurrentHashMap<KeyHash, KeyRecord> records = new ConcurrentHashMap<>();
    for (String key : keys) {
      KeyRecord record = Fixtures.record(key);
      records.put(record.hash(), record);
    }
    long loadedAt = System.currentTimeMillis();
    CacheTier tier = new CacheTier() {
      @Override
      public Optional<Entry> read(KeyHash hash) {
        tierReads.increment();
        KeyRecord record = records.get(hash);
        return record == null ? Optional.empty() : Optional.of(new Entry(record, loadedAt));
      }

      @Override
      public void write(KeyRecord record, long loadedAtMillis) {}

      @Override
      public void invalidate(KeyHash hash) {}
    };
    Switchboard board = new Switchboard();
    Stage s = stage.startsWith("shadow") ? Stage.SHADOW : Stage.valueOf(stage.toUpperCase());
    int sample = stage.startsWith("shadow") ? 100 * Integer.parseInt(stage.substring(7)) : 0;
    board.apply(List.of(new SwitchState(Verifier.L2_SWITCH, s, 0, sample, 1, 7,
        GuardRules.DEFAULTS)), 1);
    registry = new SimpleMeterRegistry();
    rollouts = new Rollouts(board, new Guard((state, evidence) -> {
      throw new IllegalStateException("the guard tripped in a benchmark: " + evidence);
    }), Clock.systemUTC(), registry, 2, 1024);
    verifier = Verifier.builder(Fixtures.format(), hash -> Optional.ofNullable(records.get(hash)))
        .settings(Fixtures.cachedForTheRun().withMaxEntries(1))
        .secondTier(tier)
        .rollouts(rollouts)
        .meterRegistry(new SimpleMeterRegistry())
        .build();
    KeyCursor check = new KeyCursor();
    for (int i = 0; i < KEYS; i++) {
      Outcome outcome = verifyL1Miss(check).outcome();
      if (outcome != Outcome.VALID) {
        throw new IllegalStateException("expected VALID in setup, got " + outcome);
      }
    }
  }

  @Benchmark
  public Verdict verifyL1Miss(KeyCursor cursor) {
    return verifier.verify(keys[cursor.next()]);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    double skipped = registry.find("keyward.rollout.shadow.skipped").counters().stream()
        .mapToDouble(c -> c.count()).sum();
    double compared = registry.find("keyward.rollout.comparisons").counters().stream()
        .mapToDouble(c -> c.count()).sum();
    System.out.printf("%nSwitchBenchmark %s: %.0f comparisons, %.0f samples skipped (executor"
        + " full), %d tier reads%n", stage, compared, skipped, tierReads.sum());
    rollouts.close();
  }
}
