package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Usage settings: each bad value named, and no credential in what they print. */
class UsageSettingsTest {
  private static final String SECRET =
      "whsec_" + java.util.Base64.getEncoder().encodeToString(new byte[32]);

  @Test
  void whatTheyPrintHoldsNoCredentialOfAUrlNorTheWebhookSecret() {
    String shown = UsageSettings.DEFAULTS
        .withNats("nats://user:pass@nats:4222", "S", "a.b")
        .withWebhook("https://hooks.example/x?token=abc", SECRET).toString();
    assertThat(shown).contains("nats://***@nats:4222").contains("https://hooks.example/x?***")
        .contains("(secret set)").doesNotContain("pass").doesNotContain("abc")
        .doesNotContain(SECRET.substring(6));
  }

  @Test
  void eachBadValueIsRefusedNamingIt() {
    assertThatThrownBy(() -> UsageSettings.DEFAULTS.withFlushEvery(Duration.ofMillis(10)))
        .hasMessageContaining("flush interval must be from 100 ms to 60 s, got 10 ms");
    assertThatThrownBy(() -> UsageSettings.DEFAULTS.withBufferCells(0))
        .hasMessageContaining("from 1 to 10000000 counters, got 0");
    assertThatThrownBy(() -> UsageSettings.DEFAULTS.withNats("http://x", "S", "a"))
        .hasMessageContaining("NATS URL must look like nats://host:4222");
    assertThatThrownBy(() -> UsageSettings.DEFAULTS.withNats("nats://x:4222", "S", "a.*"))
        .hasMessageContaining("no wildcards");
    assertThatThrownBy(() -> UsageSettings.DEFAULTS.withWebhook("https://x/y", null))
        .hasMessageContaining("needs a webhook secret");
    assertThatThrownBy(() -> UsageSettings.DEFAULTS.withWebhook(null, SECRET))
        .hasMessageContaining("secret without a webhook URL");
    assertThatThrownBy(() -> UsageSettings.DEFAULTS.withBufferEvents(0))
        .hasMessageContaining("from 1 to 50000000 events, got 0");
    assertThatThrownBy(() -> UsageSettings.DEFAULTS.withExportKind("kafka",
        io.keyward.usage.UsageExport.EVENTS)).hasMessageContaining("no usage exporter is named 'kafka'");
  }

  @Test
  void anExporterSendsCountsUnlessItIsSetToSendEvents() {
    UsageSettings settings = UsageSettings.DEFAULTS.withNats("nats://x:4222", "S", "a")
        .withJsonLines(java.nio.file.Path.of("/tmp/x"))
        .withExportKind("nats", io.keyward.usage.UsageExport.EVENTS);
    assertThat(settings.kindOf("nats")).isEqualTo(io.keyward.usage.UsageExport.EVENTS);
    assertThat(settings.kindOf("jsonl")).isEqualTo(io.keyward.usage.UsageExport.COUNTS);
    assertThat(settings.exports(io.keyward.usage.UsageExport.EVENTS)).isTrue();
    assertThat(settings.exports(io.keyward.usage.UsageExport.COUNTS)).isTrue();
    assertThat(UsageSettings.DEFAULTS.withExportKind("nats", io.keyward.usage.UsageExport.EVENTS)
        .exports(io.keyward.usage.UsageExport.EVENTS)).as("no NATS exporter configured").isFalse();
  }
}
