package io.keyward.store.postgres;

import io.keyward.logging.RateLimitedLogger;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * The node registry (table {@code keyward_nodes}): which Keyward nodes are running, which release
 * each runs and the hash of its query contract, by heartbeat. Migrations use it to tell which
 * releases are live; rollout switches to say which nodes have applied a change.
 *
 * <p>Times are the database's ({@code now()}), never a node's clock, so a node whose clock is
 * off is neither hidden nor kept alive by it. A side effect, never on the verify path: the
 * heartbeat runs on its own thread every {@link
 * #HEARTBEAT_EVERY}, and a failing database only delays it (counted, warned at most every 30 s).
 * Reads and writes go through a {@link SchemaGate}: until the table is visible to the pool (a
 * node of this release starting against a schema not yet migrated), the registry is off and the
 * node works as before.
 */
public final class NodeRegistry implements AutoCloseable {
  /** How often a node beats. */
  public static final Duration HEARTBEAT_EVERY = Duration.ofSeconds(5);
  /** A node whose last heartbeat is older than this is not live. */
  public static final Duration LIVE_WITHIN = HEARTBEAT_EVERY.multipliedBy(3);
  /** Rows of nodes silent for longer than this are deleted at start. */
  static final Duration FORGET_AFTER = Duration.ofDays(7);

  static final String PROBE =
      "SELECT node_id, release, contract_sha256, contract, host, started_at, heartbeat_at,"
          + " stopped_at FROM keyward_nodes WHERE false";
  static final String BEAT =
      "INSERT INTO keyward_nodes (node_id, release, contract_sha256, contract, host, started_at,"
          + " heartbeat_at, stopped_at) VALUES (?, ?, ?, ?, ?, now(), now(), NULL)"
          + " ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now()"
          + " WHERE keyward_nodes.stopped_at IS NULL";
  static final String STOP = "UPDATE keyward_nodes SET stopped_at = now() WHERE node_id = ?";
  static final String LIST =
      "SELECT node_id, release, contract_sha256, contract, host, started_at, heartbeat_at"
          + " FROM keyward_nodes WHERE stopped_at IS NULL"
          + " AND heartbeat_at > now() - make_interval(secs => ?)"
          + " AND heartbeat_at <= now() + interval '5 seconds' ORDER BY started_at";
  static final String FORGET =
      "DELETE FROM keyward_nodes WHERE heartbeat_at < now() - make_interval(days => CAST(? AS int))";

  /** Every statement the registry issues: part of the query contract. */
  public static final List<String> QUERY_CONTRACT = List.of(PROBE, BEAT, STOP, LIST, FORGET);

  /**
   * One live node as the registry knows it.
   *
   * @param contract the node's query contract in the contract file format
   */
  public record Node(String nodeId, String release, String contractSha256, String contract,
      String host, Instant startedAt, Instant heartbeatAt) {}

  private final DataSource pool;
  private final Clock clock;
  private final String nodeId;
  private final String release;
  private final String contractSha256;
  private final String contract;
  private final String host;
  private final SchemaGate gate;
  private final RateLimitedLogger warnings;
  private final Counter failures;
  private final Thread heartbeat;
  private volatile boolean closed;

  private NodeRegistry(DataSource pool, Clock clock, String nodeId, String release,
      String contract, String host, MeterRegistry registry) {
    this.pool = pool;
    this.clock = clock;
    this.nodeId = nodeId;
    this.release = release;
    this.contract = contract;
    this.contractSha256 = contractHash(contract);
    this.host = host;
    this.gate = new SchemaGate("node-registry", PROBE, pool, clock, HEARTBEAT_EVERY, registry);
    this.warnings = new RateLimitedLogger(LoggerFactory.getLogger(NodeRegistry.class), clock,
        Duration.ofSeconds(30));
    this.failures = Counter.builder("keyward.node.heartbeat.failures")
        .description("Heartbeats of this node the database did not take").register(registry);
    this.heartbeat = Thread.ofPlatform().daemon().name("keyward-heartbeat").unstarted(this::beatForever);
  }

  /**
   * Registers this node and starts its heartbeat.
   *
   * @param contract this release's query contract, in the contract file format
   */
  public static NodeRegistry start(DataSource pool, Clock clock, String nodeId, String release,
      String contract, String host, MeterRegistry registry) {
    NodeRegistry nodes = new NodeRegistry(pool, clock, nodeId, release, contract, host, registry);
    if (nodes.gate.checkNow()) {
      nodes.forgetLongSilentNodes();
    }
    nodes.beat();
    nodes.heartbeat.start();
    return nodes;
  }

  /** SHA-256 (hex) of a query contract's text. */
  public static String contractHash(String contract) {
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      digest.update(contract.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  public String nodeId() {
    return nodeId;
  }

  /** The gate the registry goes through (for readiness and metrics). */
  public SchemaGate gate() {
    return gate;
  }

  /**
   * The nodes whose last heartbeat is within {@link #LIVE_WITHIN} and that did not stop; empty
   * while the registry's table is not visible.
   *
   * @throws io.keyward.store.StoreException if the database fails
   */
  public List<Node> liveNodes() {
    return gate.call(() -> {
      try (Connection connection = pool.getConnection();
          PreparedStatement statement = connection.prepareStatement(LIST)) {
        statement.setLong(1, LIVE_WITHIN.toSeconds());
        List<Node> nodes = new ArrayList<>();
        try (ResultSet rs = statement.executeQuery()) {
          while (rs.next()) {
            nodes.add(new Node(rs.getString(1), rs.getString(2), rs.getString(3),
                rs.getString(4), rs.getString(5), instant(rs, 6), instant(rs, 7)));
          }
        }
        return nodes;
      }
    }, List::of);
  }

  /** Ends the heartbeat, then marks this node stopped (a late heartbeat cannot undo that). */
  @Override
  public void close() {
    closed = true;
    heartbeat.interrupt();
    try {
      heartbeat.join(java.time.Duration.ofSeconds(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      gate.call(() -> {
        try (Connection connection = pool.getConnection();
            PreparedStatement statement = connection.prepareStatement(STOP)) {
          statement.setString(1, nodeId);
          return statement.executeUpdate();
        }
      }, () -> 0);
    } catch (RuntimeException e) {
      warnings.warn("could not mark node {} stopped: {}", nodeId, e.toString());
    }
  }

  @Override
  public String toString() {
    return "node registry (" + nodeId + ")";
  }

  private void beatForever() {
    while (!closed) {
      try {
        Thread.sleep(HEARTBEAT_EVERY);
      } catch (InterruptedException e) {
        return;
      }
      if (!closed) {
        beat();
      }
    }
  }

  /** One heartbeat; never throws. */
  void beat() {
    try {
      gate.call(() -> {
        try (Connection connection = pool.getConnection();
            PreparedStatement statement = connection.prepareStatement(BEAT)) {
          statement.setString(1, nodeId);
          statement.setString(2, release);
          statement.setString(3, contractSha256);
          statement.setString(4, contract);
          statement.setString(5, host);
          return statement.executeUpdate();
        }
      }, () -> 0);
    } catch (RuntimeException e) {
      failures.increment();
      warnings.warn("node {} could not beat its heartbeat: {}", nodeId, e.toString());
    }
  }

  private void forgetLongSilentNodes() {
    try {
      gate.call(() -> {
        try (Connection connection = pool.getConnection();
            PreparedStatement statement = connection.prepareStatement(FORGET)) {
          statement.setLong(1, FORGET_AFTER.toDays());
          return statement.executeUpdate();
        }
      }, () -> 0);
    } catch (RuntimeException e) {
      warnings.warn("could not forget long-silent nodes: {}", e.toString());
    }
  }

  private static @Nullable Instant instant(ResultSet rs, int column) throws SQLException {
    OffsetDateTime value = rs.getObject(column, OffsetDateTime.class);
    return value == null ? null : value.toInstant();
  }
}
