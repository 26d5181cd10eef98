package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.server.testing.CapturedLogs;
import io.keyward.server.testing.KeywardTestServer;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Promise 6: no full key is ever stored or logged. A whole life of keys (create, verify, typo,
 * rotate, revoke, failures, an outage that makes the server warn) with every log line captured at
 * every level; then neither the log nor any row of the database holds any secret.
 */
class NoSecretsLeakTest {
  @Test
  void noFullKeyAppearsInTheLogsOrTheDatabase() throws Exception {
    List<String> secrets = new ArrayList<>();
    List<String> logLines;
    String databaseDump;
    try (CapturedLogs logs = CapturedLogs.install();
        KeywardTestServer keyward = KeywardTestServer.start()) {
      secrets.add(keyward.rootKey());
      var client = keyward.client();
      Map<String, Object> body = Map.of("name", "n", "ownerId", "o", "scopes", List.of("read"));
      for (int i = 0; i < 3; i++) {
        String key = client.createKey(body).body().get("key").asText();
        secrets.add(key);
        client.verify(key, List.of("read"));
        client.verify(key, List.of("write"));
        client.verify(key.substring(0, key.length() - 1) + "0", List.of());
        client.verify(key + "x", List.of());
        keyward.clientWithKey(key).listKeys(null, null, null); // 403 with the key as bearer
      }
      String keyId = client.verify(secrets.get(1), List.of()).body().get("keyId").asText();
      secrets.add(client.rotateKey(keyId, 60L).body().get("key").asText());
      client.revokeKey(keyId);
      client.verify(secrets.get(1), List.of());
      // Bad requests carrying a key where it does not belong.
      client.send("POST", "/v1/keys/verify", Map.of("key", secrets.get(2), "extra", secrets.get(2)));
      client.send("POST", "/v1/keys", Map.of("name", secrets.get(2)));
      // An outage, so the verifier logs its (rate-limited) warnings.
      keyward.database().refuseAndKillConnections();
      keyward.clock().advance(Duration.ofSeconds(31));
      client.verify(secrets.get(2), List.of());
      client.verify(secrets.get(3), List.of());
      keyward.database().restore();

      try (Connection connection = DriverManager.getConnection(keyward.database().url().jdbcUrl());
          ResultSet rows = connection.createStatement().executeQuery(
              "SELECT coalesce(string_agg(row_to_json(k)::text, E'\\n'), '') FROM api_keys k")) {
        rows.next();
        databaseDump = rows.getString(1);
      }
      logLines = logs.lines();
    }

    assertThat(secrets).hasSize(5).allSatisfy(secret -> assertThat(secret).hasSizeGreaterThan(40));
    assertThat(logLines).isNotEmpty();
    assertThat(databaseDump).contains("kw_live_"); // the hints are there, as intended
    for (String secret : secrets) {
      assertThat(databaseDump).doesNotContain(secret);
      // Not even most of a key: the random part after the hint never shows.
      assertThat(databaseDump).doesNotContain(secret.substring(12, 30));
      for (String line : logLines) {
        assertThat(line).doesNotContain(secret).doesNotContain(secret.substring(12, 30));
      }
    }
  }
}
