package io.keyward.server.testing;

import io.keyward.cache.redis.RedisTestSupport;
import io.keyward.cache.redis.RedisTierSettings;
import io.keyward.client.admin.KeywardClient;
import io.keyward.server.KeywardServer;
import io.keyward.server.ServerSettings;
import io.keyward.store.postgres.TestDatabase;
import io.keyward.testing.MutableClock;
import io.keyward.testing.TcpProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Several real Keyward servers sharing one PostgreSQL database and one Redis namespace, each on
 * its own port with its own clock, and each reaching Redis through its own {@link TcpProxy} so a
 * test can cut one node off Redis:
 * {@code try (var cluster = KeywardCluster.start(3)) { cluster.node(0).client()... }}.
 */
public final class KeywardCluster implements AutoCloseable {
  private final TestDatabase database;
  private final RedisTestSupport redis;
  private final List<Node> nodes = new ArrayList<>();

  /** One server of the cluster. */
  public record Node(KeywardServer server, MutableClock clock, TcpProxy redisProxy, KeywardClient client) {
    public URI baseUri() {
      return URI.create("http://127.0.0.1:" + server.port());
    }
  }

  private KeywardCluster(TestDatabase database, RedisTestSupport redis) {
    this.database = database;
    this.redis = redis;
  }

  /** {@code size} nodes with default settings. */
  /**
   * Changes a switch through node 0's API and returns once every node has applied it.
   *
   * @param change the PUT body ({@code stage}, {@code reason}, ...)
   * @return the answer of the last GET, once no node lags
   */
  public com.fasterxml.jackson.databind.JsonNode setSwitch(String name, Map<String, ?> change) {
    KeywardClient.Response put = nodes.get(0).client().send("PUT", "/v1/switches/" + name, change);
    if (!put.isSuccess()) {
      throw new IllegalStateException("PUT /v1/switches/" + name + ": " + put.status() + " "
          + put.body());
    }
    com.fasterxml.jackson.databind.JsonNode[] last = new com.fasterxml.jackson.databind.JsonNode[1];
    io.keyward.testing.Eventually.await(() -> {
      last[0] = nodes.get(0).client().send("GET", "/v1/switches/" + name, null).body();
      return last[0].get("lagging").isEmpty() && last[0].get("nodes").size() == nodes.size();
    });
    return last[0];
  }

  public static KeywardCluster start(int size) {
    return start(size, settings -> settings);
  }

  /** {@code size} nodes whose Redis settings the caller may adjust. */
  public static KeywardCluster start(int size, UnaryOperator<RedisTierSettings> adjustRedis) {
    KeywardCluster cluster = new KeywardCluster(TestDatabase.createMigrated(), RedisTestSupport.open());
    try {
      String rootKey = null;
      for (int i = 0; i < size; i++) {
        TcpProxy proxy = TcpProxy.to(6379);
        MutableClock clock = new MutableClock(Instant.now());
        RedisTierSettings redis = adjustRedis.apply(
            cluster.redis.settings("redis://127.0.0.1:" + proxy.port() + "/0"));
        ServerSettings settings = ServerSettings.defaults().withPort(0)
            .withDataDir(Files.createTempDirectory("keyward-node" + i))
            .withDatabaseUrl(cluster.database.url()).withClock(clock).withRedis(redis);
        KeywardServer server = KeywardServer.start(settings,
            new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        if (rootKey == null) {
          rootKey = server.createdRootKey().secret();
        }
        KeywardClient client = new KeywardClient(URI.create("http://127.0.0.1:" + server.port()),
            rootKey, Duration.ofSeconds(30));
        cluster.nodes.add(new Node(server, clock, proxy, client));
      }
      // A cluster with Redis reads its second tier, as a deployment that has rolled cache.l2 out.
      cluster.setSwitch("cache.l2", Map.of("stage", "on", "reason", "the cluster reads Redis"));
      return cluster;
    } catch (IOException e) {
      cluster.close();
      throw new UncheckedIOException(e);
    } catch (RuntimeException e) {
      cluster.close();
      throw e;
    }
  }

  public Node node(int index) {
    return nodes.get(index);
  }

  public List<Node> nodes() {
    return List.copyOf(nodes);
  }

  public RedisTestSupport redis() {
    return redis;
  }

  public TestDatabase database() {
    return database;
  }

  /** The key the nodes sign Redis entries with (from the shared database). */
  public io.keyward.cache.redis.SigningKey signingKey() {
    return io.keyward.cache.redis.SigningKey.of(
        new io.keyward.store.postgres.ClusterSecrets(database.pool(), new java.security.SecureRandom())
            .getOrCreate(io.keyward.store.postgres.ClusterSecrets.CACHE_SIGNING_KEY));
  }

  @Override
  public void close() {
    for (Node node : nodes) {
      try {
        node.server().close();
      } finally {
        node.redisProxy().close();
      }
    }
    redis.close();
    database.close();
  }
}
