package io.keyward.server;

import io.keyward.usage.UsageExport;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Usage counting and export. Validated on construction, naming the setting.
 *
 * @param enabled count verifications into PostgreSQL (on by default)
 * @param flushEvery how often a node writes its counts; a {@code kill -9} loses at most this much
 * @param bufferCells how many counters (key, outcome, minute) a node holds between flushes; an
 *     event that needs one more is dropped and counted
 * @param retentionDays how long hourly and daily counts are kept (minute counts: at most 7 days)
 * @param natsUrl a NATS server to export to through JetStream, or null for no NATS export
 * @param natsStream the JetStream stream (created if absent)
 * @param natsSubject the subject each batch is published on
 * @param webhookUrl a URL to POST each batch to (Standard Webhooks), or null
 * @param webhookSecret its {@code whsec_} signing secret (required with a URL)
 * @param jsonLinesDir a directory to append each batch to as JSON Lines, or null
 * @param bufferEvents how many verifications a node keeps one by one between flushes when an
 *     exporter sends events; a verification that finds it full is dropped and counted (from the
 *     counts too, so that counts and events cover the same verifications)
 * @param exportKinds what each exporter ({@code nats}, {@code webhook}, {@code jsonl}) sends; one
 *     not named sends {@link UsageExport#COUNTS}
 */
public record UsageSettings(boolean enabled, Duration flushEvery, int bufferCells,
    int retentionDays, @Nullable String natsUrl, String natsStream, String natsSubject,
    @Nullable String webhookUrl, @Nullable String webhookSecret,
    java.nio.file.@Nullable Path jsonLinesDir, int bufferEvents,
    Map<String, UsageExport> exportKinds) {

  /** The exporters' names, as in {@code exportKinds} and the API. */
  public static final List<String> EXPORTERS = List.of("nats", "webhook", "jsonl");

  public static final UsageSettings DEFAULTS = new UsageSettings(true, Duration.ofSeconds(10),
      200_000, 400, null, "KEYWARD_USAGE", "keyward.usage", null, null, null, 1_000_000, Map.of());

  public UsageSettings {
    Objects.requireNonNull(flushEvery, "flushEvery");
    if (flushEvery.compareTo(Duration.ofMillis(100)) < 0
        || flushEvery.compareTo(Duration.ofMinutes(1)) > 0) {
      throw new IllegalArgumentException("usage flush interval must be from 100 ms to 60 s, got "
          + flushEvery.toMillis() + " ms");
    }
    if (bufferCells < 1 || bufferCells > 10_000_000) {
      throw new IllegalArgumentException("usage buffer must hold from 1 to 10000000 counters, got "
          + bufferCells);
    }
    if (bufferEvents < 1 || bufferEvents > 50_000_000) {
      throw new IllegalArgumentException("usage buffer must hold from 1 to 50000000 events, got "
          + bufferEvents);
    }
    exportKinds = Map.copyOf(Objects.requireNonNull(exportKinds, "exportKinds"));
    for (String exporter : exportKinds.keySet()) {
      if (!EXPORTERS.contains(exporter)) {
        throw new IllegalArgumentException("no usage exporter is named '" + exporter
            + "' (there are " + String.join(", ", EXPORTERS) + ")");
      }
    }
    if (retentionDays < 1 || retentionDays > 36_500) {
      throw new IllegalArgumentException("usage retention must be from 1 to 36500 days, got "
          + retentionDays);
    }
    if (natsUrl != null && !natsUrl.matches("(?i)(nats|tls|ws|wss)://[^\\s]+")) {
      throw new IllegalArgumentException("NATS URL must look like nats://host:4222, got '"
          + masked(natsUrl) + "'");
    }
    if (natsStream == null || !natsStream.matches("[A-Za-z0-9_-]{1,64}")) {
      throw new IllegalArgumentException("NATS stream must be 1-64 letters, digits, '_' or '-', got '"
          + natsStream + "'");
    }
    if (natsSubject == null || !natsSubject.matches("[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*")
        || natsSubject.length() > 128) {
      throw new IllegalArgumentException("NATS subject must be dot-separated tokens of letters,"
          + " digits, '_' or '-' (no wildcards), got '" + natsSubject + "'");
    }
    if (webhookUrl != null) {
      io.keyward.export.WebhookExporter.parseUrl(webhookUrl);
      if (webhookSecret == null) {
        throw new IllegalArgumentException("a webhook URL needs a webhook secret (whsec_...)");
      }
      io.keyward.export.WebhookExporter.parseSecret(webhookSecret);
    } else if (webhookSecret != null) {
      throw new IllegalArgumentException("a webhook secret without a webhook URL");
    }
  }

  /** A URL without its user information or query (either may hold a credential). */
  static @Nullable String masked(@Nullable String url) {
    return url == null ? null : url.replaceAll("//[^@/]*@", "//***@").replaceAll("\\?.*$", "?***");
  }

  /** Whether any exporter is configured. */
  public boolean exports() {
    return natsUrl != null || webhookUrl != null || jsonLinesDir != null;
  }

  /** What the exporter named {@code exporter} sends. */
  public UsageExport kindOf(String exporter) {
    return exportKinds.getOrDefault(exporter, UsageExport.COUNTS);
  }

  /** Whether some configured exporter sends {@code kind}. */
  public boolean exports(UsageExport kind) {
    return (natsUrl != null && kindOf("nats") == kind)
        || (webhookUrl != null && kindOf("webhook") == kind)
        || (jsonLinesDir != null && kindOf("jsonl") == kind);
  }

  @Override
  public String toString() {
    return "UsageSettings[enabled=" + enabled + ", flushEvery=" + flushEvery + ", bufferCells="
        + bufferCells + ", retentionDays=" + retentionDays + ", nats=" + masked(natsUrl)
        + ", webhook=" + masked(webhookUrl) + (webhookSecret == null ? "" : " (secret set)")
        + ", jsonLinesDir=" + jsonLinesDir + ", bufferEvents=" + bufferEvents + ", exportKinds="
        + new java.util.TreeMap<>(exportKinds) + "]";
  }

  public UsageSettings withFlushEvery(Duration value) {
    return new UsageSettings(enabled, value, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, jsonLinesDir, bufferEvents, exportKinds);
  }

  public UsageSettings withBufferCells(int value) {
    return new UsageSettings(enabled, flushEvery, value, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, jsonLinesDir, bufferEvents, exportKinds);
  }

  public UsageSettings withEnabled(boolean value) {
    return new UsageSettings(value, flushEvery, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, jsonLinesDir, bufferEvents, exportKinds);
  }

  public UsageSettings withNats(@Nullable String url, String stream, String subject) {
    return new UsageSettings(enabled, flushEvery, bufferCells, retentionDays, url, stream, subject,
        webhookUrl, webhookSecret, jsonLinesDir, bufferEvents, exportKinds);
  }

  public UsageSettings withWebhook(@Nullable String url, @Nullable String secret) {
    return new UsageSettings(enabled, flushEvery, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, url, secret, jsonLinesDir, bufferEvents, exportKinds);
  }

  public UsageSettings withBufferEvents(int value) {
    return new UsageSettings(enabled, flushEvery, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, jsonLinesDir, value, exportKinds);
  }

  /** The same, with {@code exporter} sending {@code kind}. */
  public UsageSettings withExportKind(String exporter, UsageExport kind) {
    Map<String, UsageExport> kinds = new java.util.HashMap<>(exportKinds);
    kinds.put(exporter, kind);
    return new UsageSettings(enabled, flushEvery, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, jsonLinesDir, bufferEvents, kinds);
  }

  public UsageSettings withJsonLines(java.nio.file.@Nullable Path dir) {
    return new UsageSettings(enabled, flushEvery, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, dir, bufferEvents, exportKinds);
  }
}
