package io.keyward.rollout;

import io.keyward.verify.Outcome;
import io.keyward.verify.Verdict;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * Runs a risky path behind its switch: the one seam between a caller (the verifier) and the
 * rollout machinery. {@link #decide} returns the verdict the client gets:
 *
 * <ul>
 *   <li>{@code off}: the control's.
 *   <li>{@code shadow}: the control's; on a sampled share of calls the candidate runs beside it,
 *       off the request thread on a bounded executor (a full executor skips the sample and counts
 *       it), and the two are compared.
 *   <li>{@code canary}: for keys in the canary, the candidate's, except that a denial (or an
 *       error, or "cannot decide") is never answered on the candidate's word: the control decides
 *       that request too, the client gets the control's answer, and a disagreement goes to the
 *       guard. A canary therefore cannot deny a valid key. Keys outside the canary are served as
 *       in shadow.
 *   <li>{@code on}: the candidate's; when it throws, the control's.
 * </ul>
 *
 * <p>The last {@value #KEPT} disagreements are kept per node, with the key's id (never the key).
 */
public final class Rollouts implements AutoCloseable {
  /** How many disagreements are kept. */
  public static final int KEPT = 100;

  private final Switchboard board;
  private final Guard guard;
  private final Clock clock;
  private final MeterRegistry registry;
  private final ThreadPoolExecutor shadowExecutor;
  private final Deque<Disagreement> recent = new ArrayDeque<>();
  private final Map<String, Counter> counters = new ConcurrentHashMap<>();

  /**
   * @param shadowThreads threads that run shadow candidates
   * @param shadowQueue samples that may wait for one; beyond, a sample is skipped and counted
   */
  public Rollouts(Switchboard board, Guard guard, Clock clock, MeterRegistry registry,
      int shadowThreads, int shadowQueue) {
    this.board = board;
    this.guard = guard;
    this.clock = clock;
    this.registry = registry;
    this.shadowExecutor = new ThreadPoolExecutor(shadowThreads, shadowThreads, 0,
        TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(shadowQueue),
        Thread.ofPlatform().daemon().name("keyward-shadow-", 0).factory(),
        (task, executor) -> {
          if (task instanceof ShadowRun run) {
            count("keyward.rollout.shadow.skipped", run.state.name(), null);
          } else if (task instanceof CandidateRun run) {
            run.rejected = true;
            count("keyward.rollout.shadow.skipped", run.state.name(), null);
          }
        });
  }

  /** The switches this node has applied. */
  public Switchboard board() {
    return board;
  }

  /** The guard. */
  public Guard guard() {
    return guard;
  }

  /** The verdict for a call through switch {@code name}; see the class comment. Never throws. */
  public Verdict decide(String name, byte[] keyHash, Supplier<Verdict> control,
      Supplier<Verdict> candidate) {
    SwitchState state = board.state(name);
    switch (state.stage()) {
      case OFF -> {
        return control.get();
      }
      case ON -> {
        Timed run = Timed.run(candidate);
        return run.verdict != null ? run.verdict : control.get();
      }
      case CANARY -> {
        if (CanaryBuckets.inCanary(state, keyHash)) {
          return canary(state, control, candidate);
        }
        return shadow(state, control, candidate);
      }
      case SHADOW -> {
        return shadow(state, control, candidate);
      }
    }
    return control.get();
  }

  private Verdict shadow(SwitchState state, Supplier<Verdict> control, Supplier<Verdict> candidate) {
    Verdict verdict = control.get();
    if (sampled(state)) {
      shadowExecutor.execute(new ShadowRun(state, verdict, candidate));
    }
    return verdict;
  }

  /** Whether this call is one of the share {@code state} samples in shadow. */
  public boolean sampled(SwitchState state) {
    return state.sampleBasisPoints() > 0
        && ThreadLocalRandom.current().nextInt(SwitchState.ALL) < state.sampleBasisPoints();
  }

  /**
   * A candidate started on the shadow executor before the control runs, for a path whose control
   * changes what the candidate would read (a store load that rewrites the cache it is compared
   * with): the caller runs the control, then {@link #compareWhenDone}, and holds back its own
   * side effects until {@link #whenDone}.
   */
  public static final class Pending {
    private final CompletableFuture<Timed> run = new CompletableFuture<>();
  }

  /**
   * Starts {@code candidate} on the shadow executor; null when the executor is full (the sample
   * is skipped and counted). A candidate that answers null had nothing to say (a cache miss).
   */
  public @Nullable Pending startCandidate(SwitchState state,
      Supplier<? extends @Nullable Verdict> candidate) {
    Pending pending = new Pending();
    CandidateRun task = new CandidateRun(state, () -> pending.run.complete(Timed.run(candidate)));
    shadowExecutor.execute(task);
    return task.rejected ? null : pending;
  }

  /** Compares the candidate, once it has run, with the control's verdict. */
  public void compareWhenDone(SwitchState state, Verdict control, Pending pending) {
    pending.run.thenAccept(run -> {
      if (run.verdict != null || run.error != null) {
        judge(state, control, run.verdict, run);
      }
    });
  }

  /** Runs {@code action} once the candidate has run (at once if it has). */
  public void whenDone(Pending pending, Runnable action) {
    pending.run.whenComplete((run, error) -> action.run());
  }

  /** A comparison the caller made itself (a canary's denial confirmed by the control). */
  public void compared(SwitchState state, Verdict control, Verdict candidate) {
    judge(state, control, candidate, new Timed(candidate, null, 0));
  }

  private Verdict canary(SwitchState state, Supplier<Verdict> control, Supplier<Verdict> candidate) {
    Timed run = Timed.run(candidate);
    if (run.verdict instanceof Verdict.Valid valid) {
      judge(state, null, valid, run); // its timing is judged; its answer stands
      return valid;
    }
    Verdict decided = control.get(); // a denial is never answered on the candidate's word
    judge(state, decided, run.verdict, run);
    return decided;
  }

  /** Compares, counts, keeps, and hands to the guard. {@code control} null: not compared. */
  private void judge(SwitchState state, @Nullable Verdict control, @Nullable Verdict candidate,
      Timed run) {
    Disagreement.Kind kind = null;
    String detail = null;
    if (candidate == null || candidate instanceof Verdict.Unavailable) {
      kind = Disagreement.Kind.CANDIDATE_ERROR;
      detail = candidate == null
          ? (run.error != null ? run.error : "the candidate answered nothing")
          : "the candidate could not decide";
    } else if (run.nanos > TimeUnit.MILLISECONDS.toNanos(state.rules().candidateTimeoutMillis())) {
      kind = Disagreement.Kind.CANDIDATE_TIMEOUT;
      detail = "took " + TimeUnit.NANOSECONDS.toMillis(run.nanos) + " ms";
    } else if (control != null && control.outcome() != Outcome.UNAVAILABLE) {
      boolean controlAllows = control.outcome() == Outcome.VALID;
      boolean candidateAllows = candidate.outcome() == Outcome.VALID;
      if (controlAllows && !candidateAllows) {
        kind = Disagreement.Kind.CANDIDATE_DENIES_ALLOWED;
      } else if (!controlAllows && candidateAllows) {
        kind = Disagreement.Kind.CANDIDATE_ALLOWS_DENIED;
      }
    }
    String keyId = keyId(control, candidate);
    count("keyward.rollout.comparisons", state.name(),
        kind != null ? kind.label() : control == null ? "unchecked" : "agree");
    if (kind != null && control != null) {
      keep(new Disagreement(clock.instant(), state.name(), state.version(), kind, keyId,
          control.outcome(), candidate == null ? null : candidate.outcome(), detail));
    }
    if (guard.record(state, kind, keyId == null ? "(unknown)" : keyId)) {
      board.trip(state); // this node stops at once; the revert reaches the others via the store
    }
  }

  private static @Nullable String keyId(@Nullable Verdict control, @Nullable Verdict candidate) {
    for (Verdict verdict : new Verdict[] {control, candidate}) {
      if (verdict instanceof Verdict.Valid valid) {
        return valid.key().keyId();
      }
      if (verdict instanceof Verdict.Denied denied && denied.key() != null) {
        return denied.key().keyId();
      }
    }
    return null;
  }

  private void keep(Disagreement disagreement) {
    synchronized (recent) {
      if (recent.size() == KEPT) {
        recent.removeFirst();
      }
      recent.addLast(disagreement);
    }
  }

  /** The last disagreements of {@code name} (all switches if null), oldest first. */
  public List<Disagreement> disagreements(@Nullable String name) {
    List<Disagreement> out = new ArrayList<>();
    synchronized (recent) {
      for (Disagreement disagreement : recent) {
        if (name == null || disagreement.switchName().equals(name)) {
          out.add(disagreement);
        }
      }
    }
    return out;
  }

  private void count(String meter, String switchName, @Nullable String result) {
    String key = meter + '|' + switchName + '|' + result;
    counters.computeIfAbsent(key, k -> {
      Counter.Builder builder = Counter.builder(meter).tag("switch", switchName);
      return (result == null ? builder : builder.tag("result", result)).register(registry);
    }).increment();
  }

  /** A candidate's run: its verdict (null when it threw), its error, how long it took. */
  private record Timed(@Nullable Verdict verdict, @Nullable String error, long nanos) {
    static Timed run(Supplier<? extends @Nullable Verdict> candidate) {
      long t0 = System.nanoTime();
      try {
        Verdict verdict = candidate.get();
        return new Timed(verdict, null, System.nanoTime() - t0); // null: no answer (a miss)
      } catch (RuntimeException e) {
        return new Timed(null, e.getClass().getSimpleName() + ": " + e.getMessage(),
            System.nanoTime() - t0);
      }
    }
  }

  /** A candidate started ahead of its control. */
  private static final class CandidateRun implements Runnable {
    final SwitchState state;
    final Runnable body;
    boolean rejected; // set by the rejection handler, within execute, on the caller's thread

    CandidateRun(SwitchState state, Runnable body) {
      this.state = state;
      this.body = body;
    }

    @Override
    public void run() {
      body.run();
    }
  }

  /** A shadow sample: the candidate run off the request thread, compared with the control's. */
  private final class ShadowRun implements Runnable {
    final SwitchState state;
    final Verdict control;
    final Supplier<Verdict> candidate;

    ShadowRun(SwitchState state, Verdict control, Supplier<Verdict> candidate) {
      this.state = state;
      this.control = control;
      this.candidate = candidate;
    }

    @Override
    public void run() {
      Timed run = Timed.run(candidate);
      judge(state, control, run.verdict, run);
    }
  }

  @Override
  public void close() {
    shadowExecutor.shutdownNow();
  }
}
