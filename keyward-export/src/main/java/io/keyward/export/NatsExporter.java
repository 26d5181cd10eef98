package io.keyward.export;

import io.keyward.store.postgres.UsageOutbox;
import io.nats.client.Connection;
import io.nats.client.JetStream;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.JetStreamOptions;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.PublishOptions;
import io.nats.client.api.PublishAck;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * Publishes each usage batch to NATS JetStream with the official client, with {@code Nats-Msg-Id}
 * set to the batch's event id, so that a retry (after a timeout that may hide a success, or a
 * restart) within the stream's duplicate window is stored once. Creates its stream if absent
 * (file storage, the subject, a 2-minute duplicate window). Connects lazily and again after a
 * failure: a NATS that is down fails deliveries, which the loop retries; it never stops a node.
 */
public final class NatsExporter implements UsageExporter {
  /** How long a publish may wait for JetStream's acknowledgement. */
  static final Duration PUBLISH_TIMEOUT = Duration.ofSeconds(2);
  static final Duration DUPLICATE_WINDOW = Duration.ofMinutes(2);

  private final String url;
  private final String stream;
  private final String subject;
  private @Nullable Connection connection;
  private @Nullable JetStream jetStream;

  public NatsExporter(String url, String stream, String subject) {
    this.url = url;
    this.stream = stream;
    this.subject = subject;
  }

  @Override
  public String name() {
    return "nats";
  }

  @Override
  public void deliver(UsageOutbox.Row row) throws Exception {
    JetStream js = jetStream();
    PublishAck ack;
    try {
      ack = js.publish(subject, UsageExporter.eventJson(row).getBytes(StandardCharsets.UTF_8),
          PublishOptions.builder().messageId(row.eventId()).expectedStream(stream).build());
    } catch (IOException | JetStreamApiException | RuntimeException e) {
      disconnect(); // a fresh connection on the retry (a closed one throws IllegalStateException)
      throw e;
    }
    if (ack.isDuplicate()) {
      return; // stored before, under this id: delivered
    }
  }

  private synchronized JetStream jetStream() throws IOException, InterruptedException,
      JetStreamApiException {
    if (jetStream != null) {
      return jetStream;
    }
    Options options = Options.builder().server(url)
        .connectionTimeout(Duration.ofSeconds(2))
        .maxReconnects(-1)
        .reconnectWait(Duration.ofMillis(500))
        .connectionName("keyward-usage")
        .noNoResponders()
        .build();
    Connection opened = Nats.connect(options);
    try {
      ensureStream(opened.jetStreamManagement());
      JetStream js = opened.jetStream(JetStreamOptions.builder()
          .requestTimeout(PUBLISH_TIMEOUT).build());
      connection = opened;
      jetStream = js;
      return js;
    } catch (IOException | JetStreamApiException | RuntimeException e) {
      opened.close();
      throw e;
    }
  }

  private void ensureStream(JetStreamManagement jsm) throws IOException, JetStreamApiException {
    try {
      jsm.getStreamInfo(stream);
    } catch (JetStreamApiException e) {
      if (e.getErrorCode() != 404) {
        throw e;
      }
      jsm.addStream(StreamConfiguration.builder().name(stream).subjects(subject)
          .storageType(StorageType.File).duplicateWindow(DUPLICATE_WINDOW).build());
    }
  }

  private synchronized void disconnect() {
    Connection current = connection;
    connection = null;
    jetStream = null;
    if (current != null) {
      try {
        current.close();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Override
  public void close() {
    disconnect();
  }
}
