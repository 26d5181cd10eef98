package io.keyward.benchmarks;

import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyRecord;
import io.keyward.store.KeyLookup;
import io.keyward.usage.UsageBatch;
import io.keyward.usage.UsageBuffer;
import io.keyward.verify.Outcome;
import io.keyward.verify.Verdict;
import io.keyward.verify.Verifier;
import io.keyward.verify.VerifierSettings;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What usage counting costs the verify path, in process and in the same run: {@link #l1Hit} is
 * an L1 hit with usage off ({@code UsageSink.NONE}, as {@code --no-usage}); {@link #l1HitCounted}
 * the same verification counted into a {@link UsageBuffer}, as the server does by default, while
 * a thread of its own drains the buffer every second as the recorder does (without the database:
 * the HTTP harness, {@code bench/http-load.sh --usage-compare}, measures the whole).
 *
 * <p>The trial checks what it measured: every verification the counted verifier answered (its
 * own {@code keyward.verify} counter) is in a drained batch, and none was dropped.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
public class UsageBenchmark {
  private static final int KEYS = KeyCursor.KEYS;

  private String[] validKeys;
  private Verifier off;
  private Verifier counted;
  private PrometheusMeterRegistry countedMeters;
  private UsageBuffer buffer;
  private final AtomicLong drained = new AtomicLong();
  private volatile boolean stopped;
  private Thread drainer;

  @Setup(Level.Trial)
  public void setUp() {
    KeyFormat format = Fixtures.format();
    validKeys = Fixtures.keys(format, KEYS);
    ConcurrentHashMap<KeyHash, KeyRecord> store = new ConcurrentHashMap<>();
    for (String key : validKeys) {
      KeyRecord record = Fixtures.record(key);
      store.put(record.hash(), record);
    }
    KeyLookup lookup = hash -> Optional.ofNullable(store.get(hash));
    VerifierSettings settings = Fixtures.cachedForTheRun();
    buffer = new UsageBuffer(1_000_000); // the server's default --usage-buffer-cells
    off = Verifier.builder(format, lookup).settings(settings)
        .meterRegistry(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT)).build();
    countedMeters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    counted = Verifier.builder(format, lookup).settings(settings).usageSink(buffer)
        .meterRegistry(countedMeters).build();
    for (String key : validKeys) {
      for (Verifier verifier : new Verifier[] {off, counted}) {
        Outcome outcome = verifier.verify(key).outcome();
        if (outcome != Outcome.VALID) {
          throw new IllegalStateException("expected VALID in setup, got " + outcome);
        }
      }
    }
    drainer = Thread.ofPlatform().daemon().name("usage-drain").start(() -> {
      while (!stopped) {
        LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1));
        drain();
      }
    });
  }

  private void drain() {
    UsageBatch batch = buffer.drain(System.currentTimeMillis());
    drained.addAndGet(batch.verifications());
  }

  @TearDown(Level.Trial)
  public void check() throws InterruptedException {
    stopped = true;
    drainer.join();
    drain();
    drain(); // the second takes a counter a verification was incrementing during the first
    // The verifier's own count of valid answers is the independent tally.
    long verified = (long) countedMeters.get("keyward.verify").tag("outcome", "VALID").counter()
        .count();
    if (buffer.droppedTotal() != 0 || drained.get() != verified) {
      throw new IllegalStateException("usage lost count: " + verified + " verified, "
          + drained.get() + " drained, " + buffer.droppedTotal() + " dropped");
    }
  }

  /** An L1 hit, usage off. */
  @Benchmark
  public Verdict l1Hit(KeyCursor cursor) {
    return off.verify(validKeys[cursor.next()]);
  }

  /** The same L1 hit, counted into the usage buffer. */
  @Benchmark
  public Verdict l1HitCounted(KeyCursor cursor) {
    return counted.verify(validKeys[cursor.next()]);
  }
}
