package io.keyward.server;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.keyward.client.admin.KeywardClient;
import io.keyward.server.testing.KeywardTestServer;
import io.keyward.testing.TcpProxy;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.Nats;
import io.nats.client.api.MessageInfo;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Incident I-2 replayed: the verify path also queued a billing event, the queue failed, and
 * authentication failed with it. Here verifications run over HTTP while the usage side is broken
 * for real, one fault after another: the usage tables locked in PostgreSQL, PostgreSQL refusing
 * connections, NATS cut, and a buffer that is full. Every verification answers as it would with
 * usage off; once everything is back, the events exported to NATS add up to the verifications
 * made minus the drops the store counted, with no duplicate event id.
 */
class IncidentI2ReplayTest {
  private static final String NATS_URL =
      System.getenv().getOrDefault("KEYWARD_TEST_NATS_URL", "nats://127.0.0.1:4222");
  private final String suffix = Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
  private final String stream = "KWI2_" + suffix;
  private final String subject = "kwi2." + suffix;
  private final TcpProxy natsProxy = TcpProxy.to(java.net.URI.create(NATS_URL).getPort());
  private final List<AutoCloseable> closing = new ArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable resource : closing.reversed()) {
      resource.close();
    }
    try (Connection nc = Nats.connect(NATS_URL)) {
      nc.jetStreamManagement().deleteStream(stream);
    } catch (JetStreamApiException e) {
      // never created
    }
    natsProxy.close();
  }

  private KeywardTestServer start(int bufferCells) {
    KeywardTestServer keyward = KeywardTestServer.start(settings -> settings.withUsage(
        UsageSettings.DEFAULTS.withFlushEvery(Duration.ofMillis(200)).withBufferCells(bufferCells)
            .withNats("nats://127.0.0.1:" + natsProxy.port(), stream, subject)));
    closing.add(keyward);
    return keyward;
  }

  /** Verifies keys over HTTP on a thread until stopped; counts answers by outcome. */
  private static final class Traffic implements AutoCloseable {
    final Map<String, AtomicLong> answers = new ConcurrentHashMap<>();
    final AtomicLong made = new AtomicLong();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final Thread thread;

    Traffic(KeywardClient client, List<String> keys) {
      thread = Thread.ofPlatform().start(() -> {
        int i = 0;
        while (!stop.get()) {
          KeywardClient.Response answer = client.verify(keys.get(i++ % keys.size()), List.of());
          String outcome = answer.status() + " " + answer.body().path("code").asText();
          answers.computeIfAbsent(outcome, o -> new AtomicLong()).incrementAndGet();
          made.incrementAndGet();
        }
      });
    }

    void runFor(long verifications) {
      long until = made.get() + verifications;
      await(() -> made.get() >= until);
    }

    @Override
    public void close() throws InterruptedException {
      stop.set(true);
      thread.join();
    }
  }

  private static double metric(KeywardClient client, String name) {
    String scrape = client.sendJson("GET", "/metrics", null, null, false).raw().body();
    return scrape.lines().filter(line -> line.startsWith(name + " ") || line.startsWith(name + "{"))
        .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
        .sum();
  }

  private static List<String> keys(KeywardClient client, int count, String owner) {
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      keys.add(client.createKey(Map.of("name", "i2", "ownerId", owner)).body().get("key")
          .asText());
    }
    return keys;
  }

  /** {@link #exportedValidOrThrow}, or -1 while the stream cannot be read (not created yet). */
  private long exportedValid(String owner) {
    try {
      Thread.sleep(20); // called in a loop: do not hammer NATS
      return exportedValidOrThrow(owner);
    } catch (AssertionError e) {
      throw e;
    } catch (Exception e) {
      return -1;
    }
  }

  /** Sums the exported counts of VALID verifications of the owner, and checks ids are distinct. */
  private long exportedValidOrThrow(String owner) throws Exception {
    ObjectMapper json = new ObjectMapper();
    try (Connection nc = Nats.connect(NATS_URL)) {
      var jsm = nc.jetStreamManagement();
      long last = jsm.getStreamInfo(stream).getStreamState().getLastSequence();
      Set<String> ids = new HashSet<>();
      long total = 0;
      for (long s = 1; s <= last; s++) {
        MessageInfo message = jsm.getMessage(stream, s);
        JsonNode event = json.readTree(message.getData());
        assertThat(ids.add(event.get("id").asText())).as("duplicate event %s", event.get("id"))
            .isTrue();
        for (JsonNode count : event.get("counts")) {
          if (count.get("ownerId").asText().equals(owner)
              && count.get("outcome").asText().equals("VALID")) {
            total += count.get("count").asLong();
          }
        }
      }
      return total;
    }
  }

  @Test
  void noFaultOfTheUsageSideChangesAVerdictAndNothingIsLostOnceItIsBack() throws Exception {
    KeywardTestServer keyward = start(200_000);
    KeywardClient client = keyward.client();
    List<String> keys = keys(client, 20, "i2-owner");
    long made;
    try (Traffic traffic = new Traffic(client, keys)) {
      traffic.runFor(200);

      // 1. The usage tables locked: every flush waits, then fails, and is retried.
      try (var connection = keyward.database().pool().getConnection()) {
        connection.setAutoCommit(false);
        try (Statement lock = connection.createStatement()) {
          lock.execute("LOCK TABLE keyward_usage_batches, keyward_usage_minute IN ACCESS"
              + " EXCLUSIVE MODE");
        }
        traffic.runFor(300);
        // The fault took hold: a batch waits on the lock, kept.
        await(() -> metric(client, "keyward_usage_pending_batch") >= 1.0);
        traffic.runFor(100);
        connection.rollback();
      }
      // 2. PostgreSQL refusing connections (the keys answer from L1).
      keyward.database().refuseAndKillConnections();
      try {
        double failures = metric(client, "keyward_usage_flush_failures_total");
        traffic.runFor(300);
        await(() -> metric(client, "keyward_usage_flush_failures_total") > failures);
      } finally {
        keyward.database().restore();
      }
      // 3. NATS cut.
      int port = natsProxy.port();
      natsProxy.stop();
      traffic.runFor(300);
      await(() -> metric(client, "keyward_usage_export_failures_total") >= 1);
      // The node is ready all along, and says what is failing.
      KeywardClient.Response ready = client.sendJson("GET", "/health/ready", null, null, false);
      assertThat(ready.status()).isEqualTo(200);
      assertThat(ready.raw().body()).contains("exporter.nats").contains("failing");
      closing.add(TcpProxy.on(port, java.net.URI.create(NATS_URL).getPort()));
      traffic.runFor(200);
      traffic.close();
      made = traffic.made.get();
      assertThat(traffic.answers.keySet()).as("every answer, by status and code")
          .containsExactly("200 VALID");
    }
    // Once everything is back: the exported counts equal the verifications made.
    long expected = made;
    await(() -> exportedValid("i2-owner") == expected);
  }

  @Test
  void aWebhookThatAnswers500AndThenHangsHoldsUpNeitherVerificationsNorTheOtherExporter()
      throws Exception {
    // The receiver: 500 first, then it hangs, then it takes batches. Deduplicated by webhook-id.
    java.util.concurrent.atomic.AtomicInteger mode = new java.util.concurrent.atomic.AtomicInteger(500);
    Map<String, String> delivered = new ConcurrentHashMap<>();
    var receiver = com.sun.net.httpserver.HttpServer.create(
        new java.net.InetSocketAddress("127.0.0.1", 0), 0);
    receiver.setExecutor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor());
    receiver.createContext("/hook", exchange -> {
      String body = new String(exchange.getRequestBody().readAllBytes(),
          java.nio.charset.StandardCharsets.UTF_8);
      int status = mode.get();
      if (status < 0) {
        try {
          Thread.sleep(30_000); // hangs past the exporter's 5 s timeout
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      } else if (status == 200) {
        delivered.put(exchange.getRequestHeaders().getFirst("webhook-id"), body);
      }
      exchange.sendResponseHeaders(status < 0 ? 200 : status, -1);
      exchange.close();
    });
    receiver.start();
    closing.add(() -> receiver.stop(0));
    String secret = "whsec_" + java.util.Base64.getEncoder().encodeToString(new byte[32]);
    KeywardTestServer keyward = KeywardTestServer.start(settings -> settings.withUsage(
        UsageSettings.DEFAULTS.withFlushEvery(Duration.ofMillis(200))
            .withNats("nats://127.0.0.1:" + natsProxy.port(), stream, subject)
            .withWebhook("http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook", secret)));
    closing.add(keyward);
    KeywardClient client = keyward.client();
    List<String> keys = keys(client, 10, "i2-hook");
    long made;
    try (Traffic traffic = new Traffic(client, keys)) {
      traffic.runFor(300);
      await(() -> metric(client, "keyward_usage_export_failures_total") >= 1); // the 500s
      mode.set(-1);
      long beforeTheHang = exportedValid("i2-hook");
      traffic.runFor(300);
      // Meanwhile NATS, the other exporter, goes on delivering.
      await(() -> exportedValid("i2-hook") > beforeTheHang);
      mode.set(200);
      traffic.runFor(200);
      traffic.close();
      made = traffic.made.get();
      assertThat(traffic.answers.keySet()).containsExactly("200 VALID");
    }
    ObjectMapper json = new ObjectMapper();
    await(() -> {
      long total = 0;
      for (String body : delivered.values()) {
        try {
          for (JsonNode count : json.readTree(body).get("counts")) {
            if (count.get("ownerId").asText().equals("i2-hook")) {
              total += count.get("count").asLong();
            }
          }
        } catch (java.io.IOException e) {
          return false;
        }
      }
      return total == made && exportedValid("i2-hook") == made;
    });
  }

  /** The owner's verifications NATS holds as events, each event id once (-1: not readable yet). */
  private long exportedEvents(String owner) {
    ObjectMapper json = new ObjectMapper();
    try (Connection nc = Nats.connect(NATS_URL)) {
      Thread.sleep(20);
      var jsm = nc.jetStreamManagement();
      long last = jsm.getStreamInfo(stream).getStreamState().getLastSequence();
      Set<String> ids = new HashSet<>();
      long total = 0;
      for (long s = 1; s <= last; s++) {
        JsonNode message = json.readTree(jsm.getMessage(stream, s).getData());
        assertThat(message.has("counts")).as("an exporter of events sends no counts").isFalse();
        for (JsonNode event : message.get("events")) {
          assertThat(ids.add(event.get("id").asText())).as("duplicate event %s", event.get("id"))
              .isTrue();
          if (event.get("ownerId").asText().equals(owner)) {
            assertThat(event.get("outcome").asText()).isEqualTo("VALID");
            total++;
          }
        }
      }
      return total;
    } catch (AssertionError e) {
      throw e;
    } catch (Exception e) {
      return -1;
    }
  }

  @Test
  void everyVerificationIsExportedAsAnEventOfItsOwnThroughANatsCutWhileTheOtherExporterSendsCounts(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path lines) throws Exception {
    KeywardTestServer keyward = KeywardTestServer.start(settings -> settings.withUsage(
        UsageSettings.DEFAULTS.withFlushEvery(Duration.ofMillis(200))
            .withNats("nats://127.0.0.1:" + natsProxy.port(), stream, subject)
            .withExportKind("nats", io.keyward.usage.UsageExport.EVENTS)
            .withJsonLines(lines)));
    closing.add(keyward);
    KeywardClient client = keyward.client();
    List<String> keys = keys(client, 10, "i2-events");
    long made;
    try (Traffic traffic = new Traffic(client, keys)) {
      traffic.runFor(300);
      int port = natsProxy.port();
      natsProxy.stop();
      traffic.runFor(300);
      await(() -> metric(client, "keyward_usage_export_failures_total") >= 1);
      closing.add(TcpProxy.on(port, java.net.URI.create(NATS_URL).getPort()));
      traffic.runFor(200);
      traffic.close();
      made = traffic.made.get();
      assertThat(traffic.answers.keySet()).containsExactly("200 VALID");
    }
    ObjectMapper json = new ObjectMapper();
    await(() -> {
      long counted = 0;
      try (var files = java.nio.file.Files.list(lines)) {
        for (java.nio.file.Path file : files.toList()) {
          for (String line : java.nio.file.Files.readAllLines(file)) {
            JsonNode message = json.readTree(line);
            assertThat(message.has("events")).as("an exporter of counts sends no events").isFalse();
            for (JsonNode count : message.get("counts")) {
              if (count.get("ownerId").asText().equals("i2-events")) {
                counted += count.get("count").asLong();
              }
            }
          }
        }
      } catch (java.io.IOException e) {
        return false;
      }
      return counted == made && exportedEvents("i2-events") == made;
    });
  }

  @Test
  void aFullBufferDropsAndCountsAndTheDropsAreInTheStoreAndTheUsageAnswer() throws Exception {
    KeywardTestServer keyward = start(3); // three counters: most keys find no room
    KeywardClient client = keyward.client();
    List<String> keys = keys(client, 10, "i2-full");
    long made;
    try (Traffic traffic = new Traffic(client, keys)) {
      traffic.runFor(500);
      traffic.close();
      made = traffic.made.get();
      assertThat(traffic.answers.keySet()).containsExactly("200 VALID");
    }
    await(() -> {
      JsonNode usage = client.send("GET", "/v1/usage?ownerId=i2-full&granularity=day", null)
          .body();
      long counted = 0;
      for (JsonNode bucket : usage.get("buckets")) {
        counted += bucket.path("counts").path("VALID").asLong(0);
      }
      long dropped = usage.get("notCounted").asLong();
      return dropped > 0 && counted + dropped == made && exportedValid("i2-full") == counted;
    });
  }
}
