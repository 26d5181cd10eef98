package io.keyward.export;

import static io.keyward.testing.Eventually.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.store.postgres.PostgresUsageStore;
import io.keyward.store.postgres.TestDatabase;
import io.keyward.store.postgres.UsageOutbox;
import io.keyward.testing.TcpProxy;
import io.keyward.usage.UsageBatch;
import io.keyward.verify.Outcome;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.Nats;
import io.nats.client.api.MessageInfo;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The NATS JetStream exporter on the machine's real NATS (127.0.0.1:4222, or
 * {@code KEYWARD_TEST_NATS_URL}), reached through a proxy the test can cut, over the real
 * PostgreSQL outbox.
 */
class NatsExporterTest {
  static final String NATS_URL =
      System.getenv().getOrDefault("KEYWARD_TEST_NATS_URL", "nats://127.0.0.1:4222");
  private static final Instant T0 = Instant.parse("2026-11-30T10:00:00Z");

  private final String suffix = Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
  private final String stream = "KWTEST_" + suffix;
  private final String subject = "kwtest." + suffix;
  private final TestDatabase database = TestDatabase.createMigrated();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final PostgresUsageStore store =
      new PostgresUsageStore(database.pool(), Clock.systemUTC(), registry);
  private final UsageOutbox outbox = new UsageOutbox(database.pool(), store.gate(), Clock.systemUTC());
  private final TcpProxy proxy = TcpProxy.to(natsPort());
  private final List<AutoCloseable> closing = new ArrayList<>();
  private final Connection admin = connect();
  private long seq;

  private static int natsPort() {
    return java.net.URI.create(NATS_URL).getPort();
  }

  private static Connection connect() {
    try {
      return Nats.connect(NATS_URL);
    } catch (Exception e) {
      throw new IllegalStateException("NATS must run at " + NATS_URL + " for this test", e);
    }
  }

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable resource : closing.reversed()) {
      resource.close();
    }
    try {
      admin.jetStreamManagement().deleteStream(stream);
    } catch (JetStreamApiException e) {
      // never created
    }
    admin.close();
    proxy.close();
    database.close();
  }

  private NatsExporter exporter() {
    NatsExporter exporter = new NatsExporter("nats://127.0.0.1:" + proxy.port(), stream, subject);
    closing.add(exporter);
    return exporter;
  }

  private ExportLoop loop() {
    ExportLoop loop = new ExportLoop(exporter(), outbox, Duration.ofMillis(50), Clock.systemUTC(),
        registry).start();
    closing.add(loop);
    return loop;
  }

  private void flush(long count) {
    seq++;
    store.flush("node_t", seq, new UsageBatch(List.of(new UsageBatch.Count("key_a", "owner",
        Outcome.VALID, T0.toEpochMilli(), count)), Map.of("key_a", T0.toEpochMilli()), List.of()),
        true, T0);
  }

  /** Every message in the stream: its Nats-Msg-Id and body. */
  private List<MessageInfo> messages() throws Exception {
    JetStreamManagement jsm = admin.jetStreamManagement();
    long last = jsm.getStreamInfo(stream).getStreamState().getLastSequence();
    List<MessageInfo> messages = new ArrayList<>();
    for (long s = 1; s <= last; s++) {
      messages.add(jsm.getMessage(stream, s));
    }
    return messages;
  }

  private long streamCount() {
    try {
      return admin.jetStreamManagement().getStreamInfo(stream).getStreamState().getMsgCount();
    } catch (Exception e) {
      return -1;
    }
  }

  @Test
  void eachBatchIsPublishedOnceWithItsEventIdAsNatsMsgIdAndTheStreamIsCreated() throws Exception {
    outbox.cursor("nats");
    flush(3);
    flush(4);
    loop();

    await(() -> streamCount() == 2);
    List<MessageInfo> messages = messages();
    assertThat(messages).extracting(m -> m.getHeaders().getFirst("Nats-Msg-Id"))
        .containsExactly("node_t:1:0", "node_t:2:0");
    String body = new String(messages.get(1).getData(), StandardCharsets.UTF_8);
    assertThat(body).startsWith("{\"id\":\"node_t:2:0\",\"node\":\"node_t\",\"seq\":2,\"part\":0,")
        .contains("\"keyId\": \"key_a\"").contains("\"count\": 4");
    await(() -> outbox.lag(outbox.cursor("nats")) == 0);
  }

  @Test
  void aRedeliveryAfterACrashBeforeTheCursorMovedIsStoredOnce() throws Exception {
    outbox.cursor("nats");
    flush(1);
    UsageOutbox.Row row = outbox.after(outbox.cursor("nats"), 10).get(0);
    NatsExporter exporter = exporter();
    exporter.deliver(row);
    exporter.deliver(row); // the node died before advancing its cursor, and delivers it again
    assertThat(streamCount()).isEqualTo(1);
  }

  @Test
  void whileNatsIsCutTheCursorWaitsAndEverythingArrivesOnceItIsBack() throws Exception {
    outbox.cursor("nats");
    flush(1);
    ExportLoop loop = loop();
    await(() -> streamCount() == 1);

    int port = proxy.port();
    proxy.stop();
    flush(2);
    flush(3);
    await(() -> registry.get("keyward.usage.export.failures").counter().count() >= 1);
    assertThat(loop.status().lastError()).isNotNull();
    await(() -> outbox.cursor("nats").lastError() != null); // recorded for the API and CLI
    assertThat(outbox.lag(outbox.cursor("nats"))).isEqualTo(2);

    try (TcpProxy back = TcpProxy.on(port, natsPort())) {
      await(() -> streamCount() == 3);
      assertThat(messages()).extracting(m -> m.getHeaders().getFirst("Nats-Msg-Id"))
          .containsExactly("node_t:1:0", "node_t:2:0", "node_t:3:0");
      await(() -> loop.status().lastError() == null);
    }
  }

  @Test
  void aPausedExporterDeliversNothingAndResumesFromItsCursor() throws Exception {
    outbox.cursor("nats");
    flush(1);
    ExportLoop loop = loop();
    await(() -> streamCount() == 1); // running: delivers
    assertThat(outbox.setPaused("nats", true)).isTrue();
    await(() -> loop.status().paused());
    flush(2);
    await(() -> loop.status().lag() == 1);
    Thread.sleep(300); // six passes of a running loop
    assertThat(streamCount()).isEqualTo(1);
    outbox.setPaused("nats", false);
    await(() -> streamCount() == 2);
  }
}
