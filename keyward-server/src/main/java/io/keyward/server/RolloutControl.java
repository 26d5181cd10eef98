package io.keyward.server;

import io.keyward.cache.redis.DeferredRedisTier;
import io.keyward.rollout.Guard;
import io.keyward.rollout.Rollouts;
import io.keyward.rollout.SwitchState;
import io.keyward.rollout.Switchboard;
import io.keyward.server.api.SwitchesApi;
import io.keyward.store.postgres.NodeRegistry;
import io.keyward.store.postgres.PostgresSwitchStore;
import io.keyward.store.postgres.SwitchSync;
import io.keyward.verify.Verifier;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's rollout switches, assembled: the {@link Switchboard} every verification reads, the
 * store, the {@link Rollouts} seam with its {@link Guard}, and, once the node has an id, the sync
 * that keeps the board in step with the store. With Redis, a change is also announced on the
 * invalidation channel so every node reads it at once. The guard's revert is written to the store
 * on a thread of its own (the tripping node is off at once regardless), retried every second
 * while the database refuses it and nobody has changed the switch since.
 */
final class RolloutControl implements AutoCloseable {
  /** The rollout switches this build has paths for. */
  static final List<SwitchesApi.KnownSwitch> KNOWN_SWITCHES = List.of(
      new SwitchesApi.KnownSwitch(Verifier.L2_SWITCH, "reading the second cache tier (Redis) on"
          + " an L1 miss; control: L1 and the store only. Writes to Redis and invalidations"
          + " are not switched."),
      new SwitchesApi.KnownSwitch(Verifier.FOREIGN_FILTER_SWITCH, "answering strings not in"
          + " this deployment's key format NOT_FOUND from a filter of every stored key's hash,"
          + " without a store lookup (needs --redis-url; without it the store decides); control:"
          + " every such string is looked up in the store."));

  /** How long the guard's revert is retried before this node gives up writing it. */
  private static final int REVERT_ATTEMPTS = 120;
  private static final Duration REVERT_RETRY_EVERY = Duration.ofSeconds(1);
  private static final Logger LOG = LoggerFactory.getLogger(RolloutControl.class);

  private final Switchboard board = new Switchboard();
  private final PostgresSwitchStore store;
  private final Rollouts rollouts;
  private final @Nullable DeferredRedisTier redis;
  private final Clock clock;
  private final MeterRegistry registry;
  // A thread per revert: reverts are rare (once per tripped version), and one that waits for
  // the database must not hold back another switch's.
  private final ExecutorService reverts = Executors.newThreadPerTaskExecutor(
      Thread.ofVirtual().name("keyward-guard-revert-", 0).factory());
  private final Counter guardReverts;
  private volatile @Nullable SwitchSync sync;

  RolloutControl(DataSource pool, @Nullable DeferredRedisTier redis, Clock clock,
      MeterRegistry registry) {
    this.redis = redis;
    this.clock = clock;
    this.registry = registry;
    this.store = new PostgresSwitchStore(pool, clock, registry);
    this.guardReverts = Counter.builder("keyward.rollout.reverts")
        .description("Switches the guard turned off").register(registry);
    this.rollouts = new Rollouts(board, new Guard(this::revertLater), clock, registry, 2, 1024);
  }

  /** The seam the verifier's risky paths go through. */
  Rollouts rollouts() {
    return rollouts;
  }

  PostgresSwitchStore store() {
    return store;
  }

  /**
   * Starts keeping the board in step with the store as node {@code nodeId} (applied now, then
   * polled, and read at once on a signal from another node).
   */
  void startSync(String nodeId) {
    SwitchSync started = SwitchSync.start(store, board, nodeId, SwitchSync.POLL_EVERY, clock,
        registry);
    sync = started;
    if (redis != null) {
      // Off the channel's I/O thread: the read is JDBC.
      redis.onSignal(signal -> {
        if (signal.startsWith("sw:")) {
          Thread.ofVirtual().name("keyward-switch-signal").start(started::syncNow);
        }
      });
    }
  }

  /** After a change stored by this node: applied here now, announced to the others. */
  void changed() {
    SwitchSync current = sync;
    if (current != null) {
      current.syncNow();
    }
    if (redis != null) {
      redis.announce("sw:" + board.appliedVersion());
    }
  }

  /** The switches' API, over this node's view and the live nodes. */
  SwitchesApi api(io.keyward.server.auth.RootKeyAuthenticator auth, NodeRegistry nodes) {
    return new SwitchesApi(auth, KNOWN_SWITCHES, store, rollouts, this::changed,
        nodes::liveNodes);
  }

  private void revertLater(SwitchState tripped, String evidence) {
    reverts.execute(() -> {
      for (int attempt = 1; attempt <= REVERT_ATTEMPTS; attempt++) {
        try {
          store.revert(tripped, evidence).ifPresent(off -> {
            guardReverts.increment();
            LOG.warn("switch {} reverted to off by the guard (version {} -> {}): {}",
                tripped.name(), tripped.version(), off.version(), evidence);
          });
          changed();
          return;
        } catch (RuntimeException e) {
          if (attempt == 1) {
            LOG.warn("the guard could not write the revert of switch {} yet (off on this node"
                + " meanwhile; retrying every second): {}", tripped.name(), e.toString());
          }
          try {
            Thread.sleep(REVERT_RETRY_EVERY);
          } catch (InterruptedException stop) {
            return;
          }
        }
      }
      LOG.error("gave up writing the guard's revert of switch {} (version {}) after {} attempts:"
          + " it is off on this node only; set it off by hand ({})", tripped.name(),
          tripped.version(), REVERT_ATTEMPTS, evidence);
    });
  }

  @Override
  public void close() {
    SwitchSync current = sync;
    if (current != null) {
      current.close();
    }
    reverts.shutdownNow();
    rollouts.close();
  }
}
