package io.keyward.server;

import java.time.Duration;
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
 */
public record UsageSettings(boolean enabled, Duration flushEvery, int bufferCells,
    int retentionDays, @Nullable String natsUrl, String natsStream, String natsSubject,
    @Nullable String webhookUrl, @Nullable String webhookSecret,
    java.nio.file.@Nullable Path jsonLinesDir) {

  public static final UsageSettings DEFAULTS = new UsageSettings(true, Duration.ofSeconds(10),
      200_000, 400, null, "KEYWARD_USAGE", "keyward.usage", null, null, null);

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

  @Override
  public String toString() {
    return "UsageSettings[enabled=" + enabled + ", flushEvery=" + flushEvery + ", bufferCells="
        + bufferCells + ", retentionDays=" + retentionDays + ", nats=" + masked(natsUrl)
        + ", webhook=" + masked(webhookUrl) + (webhookSecret == null ? "" : " (secret set)")
        + ", jsonLinesDir="
        + jsonLinesDir + "]";
  }

  public UsageSettings withFlushEvery(Duration value) {
    return new UsageSettings(enabled, value, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, jsonLinesDir);
  }

  public UsageSettings withBufferCells(int value) {
    return new UsageSettings(enabled, flushEvery, value, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, jsonLinesDir);
  }

  public UsageSettings withEnabled(boolean value) {
    return new UsageSettings(value, flushEvery, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, jsonLinesDir);
  }

  public UsageSettings withNats(@Nullable String url, String stream, String subject) {
    return new UsageSettings(enabled, flushEvery, bufferCells, retentionDays, url, stream, subject,
        webhookUrl, webhookSecret, jsonLinesDir);
  }

  public UsageSettings withWebhook(@Nullable String url, @Nullable String secret) {
    return new UsageSettings(enabled, flushEvery, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, url, secret, jsonLinesDir);
  }

  public UsageSettings withJsonLines(java.nio.file.@Nullable Path dir) {
    return new UsageSettings(enabled, flushEvery, bufferCells, retentionDays, natsUrl, natsStream,
        natsSubject, webhookUrl, webhookSecret, dir);
  }
}
