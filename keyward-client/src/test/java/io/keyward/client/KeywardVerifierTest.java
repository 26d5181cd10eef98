package io.keyward.client;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import io.keyward.client.admin.KeywardClient;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.testing.MutableClock;
import io.keyward.testing.TcpProxy;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The service-side verifier against a real Keyward (and, for the ways a server can misbehave, a
 * receiver this test runs): answers, caching, pushed revocations, every failure policy, timeouts,
 * the breaker, one request per key, and garbage keys.
 */
class KeywardVerifierTest {
  private static KeywardTestServer keyward;
  private static KeywardClient admin;
  private static String verifyKey;

  @BeforeAll
  static void start() {
    keyward = KeywardTestServer.start();
    admin = keyward.client();
    verifyKey = admin.createKey(Map.of("name", "svc", "ownerId", "svc",
        "scopes", List.of("keyward:verify"))).body().get("key").asText();
  }

  @AfterAll
  static void stop() {
    keyward.close();
  }

  private static JsonNode create(String... scopes) {
    return admin.createKey(Map.of("name", "k", "ownerId", "acct_9", "scopes", List.of(scopes)))
        .body();
  }

  private static KeywardVerifier.Builder verifier(URI base) {
    return KeywardVerifier.builder(base, verifyKey).timeout(Duration.ofMillis(500));
  }

  @Test
  void aValidKeyIsAllowedWithItsIdentityAndThenAnsweredFromTheCache() {
    JsonNode key = create("orders:read", "orders:write");
    try (KeywardVerifier verifier = verifier(keyward.baseUri()).subscribe(false).build()) {
      Decision first = verifier.verify(key.get("key").asText(), List.of("orders:read"));
      assertThat(first).isEqualTo(new Decision.Allowed(key.get("keyId").asText(), "acct_9",
          java.util.Set.of("orders:read", "orders:write"), Decision.Basis.CONFIRMED));
      long calls = verifier.stats().remoteCalls();
      assertThat(verifier.verify(key.get("key").asText(), List.of("orders:write")))
          .isInstanceOf(Decision.Allowed.class);
      // The scope check is local: one cached answer serves every route.
      assertThat(verifier.verify(key.get("key").asText(), List.of("admin")))
          .isEqualTo(new Decision.Denied("INSUFFICIENT_SCOPE"));
      assertThat(verifier.stats().remoteCalls()).isEqualTo(calls);
      assertThat(verifier.stats().cacheHits()).isEqualTo(2);
    }
  }

  @Test
  void refusedKeysAreDeniedWithTheServersCodeAndGarbageWithoutAsking() {
    JsonNode revoked = create();
    admin.revokeKey(revoked.get("keyId").asText());
    try (KeywardVerifier verifier = verifier(keyward.baseUri()).subscribe(false).build()) {
      assertThat(verifier.verify(revoked.get("key").asText(), List.of()))
          .isEqualTo(new Decision.Denied("REVOKED"));
      String key = create().get("key").asText();
      assertThat(verifier.verify(key.substring(0, key.length() - 6) + "AAAAAA", List.of()))
          .isInstanceOf(Decision.Denied.class);
      long calls = verifier.stats().remoteCalls();
      Random random = new Random(3);
      for (int i = 0; i < 20_000; i++) {
        char[] garbage = new char[random.nextInt(5_000)];
        for (int c = 0; c < garbage.length; c++) {
          garbage[c] = (char) random.nextInt(0x3000);
        }
        Decision decision = verifier.verify(new String(garbage), List.of("x"));
        assertThat(decision).isInstanceOf(Decision.Denied.class);
      }
      assertThat(verifier.verify(null, List.of())).isEqualTo(new Decision.Denied("MALFORMED"));
      assertThat(verifier.verify("x".repeat(4_097), List.of()))
          .isEqualTo(new Decision.Denied("MALFORMED"));
      // Printable garbage is Keyward's to judge; the rest never left the process.
      assertThat(verifier.stats().remoteCalls() - calls).isLessThan(200);
    }
  }

  @Test
  void aRevocationIsPushedToASubscribedClientAndDeniedWithinMilliseconds() {
    try (KeywardVerifier verifier = verifier(keyward.baseUri()).fresh(Duration.ofHours(1))
        .build()) {
      await(() -> !verifier.isUnsynced());
      List<Long> millis = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        JsonNode key = create();
        String secret = key.get("key").asText();
        assertThat(verifier.verify(secret, List.of())).isInstanceOf(Decision.Allowed.class);
        long calls = verifier.stats().remoteCalls();
        long started = System.nanoTime();
        admin.revokeKey(key.get("keyId").asText());
        await(() -> verifier.verify(secret, List.of()) instanceof Decision.Denied);
        millis.add((System.nanoTime() - started) / 1_000_000);
        assertThat(verifier.stats().remoteCalls()).as("asked again only after the push")
            .isEqualTo(calls + 1);
      }
      assertThat(verifier.stats().invalidations()).isGreaterThanOrEqualTo(20);
      millis.sort(null);
      assertThat(millis.get(millis.size() - 1)).as("the slowest of 20 revocations, ms: %s",
          millis).isLessThan(2_000);
    }
  }

  @Test
  void withKeywardStoppedEachPolicyAnswersAsItSaysAndCountsIt() throws Exception {
    TcpProxy proxy = TcpProxy.to(keyward.server().port());
    MutableClock clock = new MutableClock(Instant.now());
    JsonNode key = create("orders:read");
    String secret = key.get("key").asText();
    try (KeywardVerifier verifier = verifier(URI.create("http://127.0.0.1:" + proxy.port()))
        .clock(clock).subscribe(false).fresh(Duration.ofSeconds(30)).build()) {
      assertThat(verifier.verify(secret, List.of("orders:read")))
          .isInstanceOf(Decision.Allowed.class);
      proxy.stop();
      clock.advance(Duration.ofMinutes(1)); // past the fresh window

      assertThat(verifier.verify(secret, List.of("orders:read")))
          .isInstanceOf(Decision.CannotDecide.class);
      assertThat(verifier.verify(secret, List.of("orders:read"),
          FailurePolicy.staleOk(Duration.ofMinutes(5))))
          .isEqualTo(new Decision.Allowed(key.get("keyId").asText(), "acct_9",
              java.util.Set.of("orders:read"), Decision.Basis.STALE));
      // Stale-ok keeps the scope check, and its bound.
      assertThat(verifier.verify(secret, List.of("admin"), FailurePolicy.staleOk(
          Duration.ofMinutes(5)))).isEqualTo(new Decision.Denied("INSUFFICIENT_SCOPE"));
      assertThat(verifier.verify(secret, List.of(), FailurePolicy.staleOk(Duration.ofSeconds(30))))
          .isInstanceOf(Decision.CannotDecide.class);
      // A key never seen is not allowed by stale-ok; open allows anything, marked.
      String unseen = create().get("key").asText();
      assertThat(verifier.verify(unseen, List.of(), FailurePolicy.staleOk(Duration.ofMinutes(5))))
          .isInstanceOf(Decision.CannotDecide.class);
      Decision open = verifier.verify(unseen, List.of(), FailurePolicy.open());
      assertThat(open).isEqualTo(new Decision.Allowed("", "", java.util.Set.of(),
          Decision.Basis.OPEN));
      assertThat(((Decision.Allowed) open).degraded()).isTrue();

      assertThat(verifier.stats().staleAllowed()).isEqualTo(1);
      assertThat(verifier.stats().openAllowed()).isEqualTo(1);
      assertThat(verifier.stats().cannotDecide()).isEqualTo(3);
      // Five failures in a row open the circuit: Keyward is not asked for a while.
      assertThat(verifier.stats().breakerRejected()).isPositive();
    } finally {
      proxy.close();
    }
  }

  /** A server that misbehaves as told, counting the verify requests it gets. */
  private static final class BadServer implements AutoCloseable {
    final AtomicReference<String> mode = new AtomicReference<>("500");
    final AtomicInteger requests = new AtomicInteger();
    final HttpServer server;

    BadServer() throws IOException {
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
      server.createContext("/v1/keys/verify", exchange -> {
        requests.incrementAndGet();
        exchange.getRequestBody().readAllBytes();
        String how = mode.get();
        byte[] body = switch (how) {
          case "garbage" -> "{\"valid\": tru".getBytes(StandardCharsets.UTF_8);
          case "wrong-shape" -> "[1, 2, 3]".getBytes(StandardCharsets.UTF_8);
          default -> "{}".getBytes(StandardCharsets.UTF_8);
        };
        if (how.equals("slow")) {
          try {
            Thread.sleep(3_000);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
        int status = how.equals("500") ? 500 : 200;
        exchange.sendResponseHeaders(status, body.length);
        exchange.getResponseBody().write(body);
        exchange.close();
      });
      server.start();
    }

    URI uri() {
      return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    @Override
    public void close() {
      server.stop(0);
    }
  }

  @Test
  void aServerThatAnswers500GarbageOrNothingIsCannotDecideWithinTheTimeoutNeverADenial()
      throws Exception {
    try (BadServer bad = new BadServer();
        KeywardVerifier verifier = verifier(bad.uri()).subscribe(false).build()) {
      for (String mode : List.of("500", "garbage", "wrong-shape", "slow")) {
        bad.mode.set(mode);
        int before = bad.requests.get();
        try (KeywardVerifier fresh = verifier(bad.uri()).subscribe(false).build()) {
          long started = System.nanoTime();
          Decision decision = fresh.verify("kw_live_1" + "a".repeat(39), List.of());
          long tookMillis = (System.nanoTime() - started) / 1_000_000;
          assertThat(decision).as(mode).isInstanceOf(Decision.CannotDecide.class);
          assertThat(((Decision.CannotDecide) decision).reason()).as(mode)
              .doesNotContain("circuit");
          assertThat(tookMillis).as(mode + ": bounded by the timeout (500 ms), whatever the"
              + " server").isLessThan(2_500);
        }
        assertThat(bad.requests.get()).as(mode + ": asked").isGreaterThan(before);
      }
      // Retries are bounded by the budget: far fewer than one per call.
      bad.mode.set("500");
      int before = bad.requests.get();
      for (int i = 0; i < 200; i++) {
        verifier.verify("kw_live_1" + "b".repeat(39), List.of());
      }
      assertThat(bad.requests.get() - before).as("requests for 200 calls, circuit and budget")
          .isLessThan(100);
    }
  }

  @Test
  void manyCallersOfOneUnseenKeyMakeOneRequest() throws Exception {
    try (BadServer slow = new BadServer();
        KeywardVerifier verifier = KeywardVerifier.builder(slow.uri(), verifyKey)
            .timeout(Duration.ofSeconds(5)).subscribe(false).build()) {
      slow.mode.set("slow");
      ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
      CountDownLatch go = new CountDownLatch(1);
      List<Future<Decision>> calls = new ArrayList<>();
      for (int i = 0; i < 50; i++) {
        calls.add(pool.submit(() -> {
          go.await();
          return verifier.verify("kw_live_1" + "c".repeat(39), List.of());
        }));
      }
      go.countDown();
      for (Future<Decision> call : calls) {
        call.get();
      }
      pool.shutdown();
      assertThat(slow.requests.get()).isEqualTo(1);
      assertThat(verifier.stats().sharedLoads()).isEqualTo(49);
    }
  }

  @Test
  void aLostStreamShortensTheFreshWindowAndTheVerifierAsksAgainSoon() throws Exception {
    TcpProxy proxy = TcpProxy.to(keyward.server().port());
    MutableClock clock = new MutableClock(Instant.now());
    String secret = create().get("key").asText();
    try (KeywardVerifier verifier = verifier(URI.create("http://127.0.0.1:" + proxy.port()))
        .clock(clock).fresh(Duration.ofHours(1)).unsyncedFresh(Duration.ofSeconds(2)).build()) {
      await(() -> !verifier.isUnsynced());
      assertThat(verifier.verify(secret, List.of())).isInstanceOf(Decision.Allowed.class);
      long calls = verifier.stats().remoteCalls();
      int port = proxy.port();
      proxy.stop(); // the stream is cut (and the verify calls with it)
      await(() -> verifier.stats().streamLosses() > 0); // counted once the entries are capped
      proxy = TcpProxy.on(port, keyward.server().port());
      clock.advance(Duration.ofSeconds(3)); // past the unsynced window, far inside the fresh one
      assertThat(verifier.verify(secret, List.of())).isInstanceOf(Decision.Allowed.class);
      assertThat(verifier.stats().remoteCalls()).as("asked again").isEqualTo(calls + 1);
      assertThat(verifier.stats().streamLosses()).isPositive();
      await(() -> !verifier.isUnsynced()); // reconnected
    } finally {
      proxy.close();
    }
  }

  @Test
  void settingsAndPoliciesAreCheckedNamingTheProblem() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> KeywardVerifier.builder(
        URI.create("ftp://x"), verifyKey)).hasMessageContaining("http:// or https://");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> KeywardVerifier.builder(
        keyward.baseUri(), "").build()).hasMessageContaining("verify key");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> verifier(keyward.baseUri())
        .timeout(Duration.ZERO)).hasMessageContaining("timeout must be from 1 ms");
    assertThat(FailurePolicy.parse("stale-ok:5m")).isEqualTo(FailurePolicy.staleOk(
        Duration.ofMinutes(5)));
    assertThat(FailurePolicy.parse("open")).isEqualTo(FailurePolicy.open());
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> FailurePolicy.parse("stale-ok"))
        .hasMessageContaining("closed, stale-ok:<bound> or open");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> FailurePolicy.parse("stale-ok:5"))
        .hasMessageContaining("stale-ok needs a bound");
  }
}
