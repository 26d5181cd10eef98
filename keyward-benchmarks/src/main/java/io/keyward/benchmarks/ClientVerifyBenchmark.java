package io.keyward.benchmarks;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.sun.net.httpserver.HttpServer;
import io.keyward.client.Decision;
import io.keyward.client.KeywardVerifier;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
 * A cached verification through {@link KeywardVerifier} (keyward-client) against its floor in the
 * same run: the SHA-256 of the key as hex and one Caffeine lookup, the least a client cache keyed
 * by hash can do. The cache is filled from a stand-in for Keyward's verify call (a JDK HTTP
 * server answering VALID with two scopes), so the measured calls never leave the process. The
 * issue's aim: at most 2x the floor.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
public class ClientVerifyBenchmark {
  static final int KEYS = KeyCursor.KEYS;
  private static final List<String> SCOPES = List.of("orders:read");

  private String[] keys;
  private HttpServer server;
  private KeywardVerifier verifier;
  private Cache<String, Object> floorCache;

  @Setup(Level.Trial)
  public void setUp() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/v1/keys/verify", exchange -> {
      exchange.getRequestBody().readAllBytes();
      byte[] body = ("{\"valid\":true,\"code\":\"VALID\",\"keyId\":\"key_bench\",\"ownerId\":"
          + "\"acct_1\",\"scopes\":[\"orders:read\",\"orders:write\"],\"expiresAt\":null}")
          .getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.start();
    verifier = KeywardVerifier.builder(URI.create("http://127.0.0.1:"
            + server.getAddress().getPort()), "kw_live_benchverifykey")
        .fresh(Duration.ofHours(1)).subscribe(false).build();
    floorCache = Caffeine.newBuilder().maximumSize(100_000).build();
    keys = new String[KEYS];
    for (int i = 0; i < KEYS; i++) {
      keys[i] = "kw_live_1" + String.format("%039d", i);
      if (!(verifier.verify(keys[i], SCOPES) instanceof Decision.Allowed)) {
        throw new IllegalStateException("the stand-in did not answer VALID");
      }
      floorCache.put(sha256Hex(keys[i]), Boolean.TRUE);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (verifier.stats().remoteCalls() != KEYS) {
      throw new IllegalStateException("measured calls left the process: "
          + verifier.stats());
    }
    verifier.close();
    server.stop(0);
  }

  private static final MessageDigest SHA256;

  static {
    try {
      SHA256 = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** As cheaply as the JDK allows: a clone of a prepared digest (what the client does too). */
  private static String sha256Hex(String key) {
    try {
      return HexFormat.of().formatHex(((MessageDigest) SHA256.clone())
          .digest(key.getBytes(StandardCharsets.US_ASCII)));
    } catch (CloneNotSupportedException e) {
      throw new IllegalStateException(e);
    }
  }

  /** SHA-256 of the key as hex, and a Caffeine lookup: the floor. */
  @Benchmark
  public Object floor(KeyCursor cursor) {
    return floorCache.getIfPresent(sha256Hex(keys[cursor.next()]));
  }

  /** {@link KeywardVerifier#verify} of a cached valid key with one required scope. */
  @Benchmark
  public Decision cachedVerify(KeyCursor cursor) {
    return verifier.verify(keys[cursor.next()], SCOPES);
  }
}
