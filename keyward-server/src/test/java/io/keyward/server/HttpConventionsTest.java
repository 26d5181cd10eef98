package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.client.admin.KeywardClient.Response;
import io.keyward.server.auth.RootKeyAuthenticator;
import io.keyward.server.testing.KeywardTestServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * HTTP's own rules, checked on the wire with raw sockets: what load balancers, proxies and
 * careful clients send and expect (405 with Allow, HEAD, HTTP/1.0 probes, 431, one Authorization
 * header) and error messages in our words.
 */
class HttpConventionsTest {
  private static KeywardTestServer keyward;

  @BeforeAll
  static void start() {
    keyward = KeywardTestServer.start();
  }

  @AfterAll
  static void stop() {
    keyward.close();
  }

  /** Sends raw bytes and reads until the server closes or 5 s of silence. */
  private static String exchange(String request) throws IOException {
    try (Socket socket = new Socket("127.0.0.1", keyward.server().port())) {
      socket.setSoTimeout(5_000);
      socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
      socket.getOutputStream().flush();
      ByteArrayOutputStream read = new ByteArrayOutputStream();
      InputStream in = socket.getInputStream();
      byte[] buffer = new byte[8192];
      try {
        for (int n; (n = in.read(buffer)) >= 0; ) {
          read.write(buffer, 0, n);
        }
      } catch (java.net.SocketTimeoutException stillOpen) {
        read.writeBytes("\n<still open>".getBytes(StandardCharsets.ISO_8859_1));
      }
      return read.toString(StandardCharsets.ISO_8859_1);
    }
  }

  private static String body(String response) {
    int split = response.indexOf("\r\n\r\n");
    return split < 0 ? "" : response.substring(split + 4);
  }

  @Test
  void wrongMethodOnAKnownPathIs405WithAllowNot404() throws IOException {
    String live = exchange("POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        + "Connection: close\r\n\r\n");
    String key = exchange("DELETE /v1/keys/key_0000000000000000000000 HTTP/1.1\r\nHost: x\r\n"
        + "Connection: close\r\n\r\n");
    String unknown = exchange("GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

    assertThat(live).startsWith("HTTP/1.1 405").containsIgnoringCase("\r\nAllow: GET, HEAD\r\n");
    assertThat(key).startsWith("HTTP/1.1 405")
        .containsIgnoringCase("\r\nAllow: GET, HEAD, PATCH\r\n");
    assertThat(body(key)).contains("METHOD_NOT_ALLOWED");
    assertThat(unknown).startsWith("HTTP/1.1 404");
    assertThat(body(unknown)).contains("\"NOT_FOUND\"");
  }

  @Test
  void headAnswersWhereGetDoesWithTheSameLengthAndNoBody() throws IOException {
    String get = exchange("GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    String head = exchange("HEAD /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    String headUnauthorized = exchange("HEAD /v1/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

    assertThat(head).startsWith("HTTP/1.1 200");
    assertThat(contentLength(head)).isEqualTo(contentLength(get)).isGreaterThan(100);
    assertThat(body(head)).isEmpty();
    assertThat(headUnauthorized).startsWith("HTTP/1.1 401");
    assertThat(body(headUnauthorized)).isEmpty();
  }

  private static int contentLength(String response) {
    for (String line : response.split("\r\n")) {
      if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
        return Integer.parseInt(line.substring(15).strip());
      }
    }
    return -1;
  }

  @Test
  void http10HealthCheckIsAnsweredAndTheConnectionClosed() throws IOException {
    // HAProxy's default check, with no Host header.
    String response = exchange("GET /health/live HTTP/1.0\r\n\r\n");

    assertThat(response).startsWith("HTTP/1.1 200").doesNotContain("<still open>");
    assertThat(body(response)).contains("UP");
    // Error answers close the connection too, or the client waits for the idle timeout.
    assertThat(exchange("GET /v1/keys HTTP/1.0\r\n\r\n")).startsWith("HTTP/1.1 401")
        .doesNotContain("<still open>");
    assertThat(exchange("POST /health/live HTTP/1.0\r\n\r\n")).startsWith("HTTP/1.1 405")
        .doesNotContain("<still open>");
  }

  @Test
  void oversizedHeadersAre431() throws IOException {
    String big = "x".repeat(KeywardServer.MAX_HEADER_BYTES + 1024);
    String response = exchange("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + big
        + "\r\n\r\n");

    assertThat(response).startsWith("HTTP/1.1 431");
    assertThat(body(response)).contains("HEADERS_TOO_LARGE");
  }

  @Test
  void twoAuthorizationHeadersAreABadRequestNotFirstOneWins() throws IOException {
    String body = "{\"key\":\"kw_live_x\"}";
    String response = exchange("POST /v1/keys/verify HTTP/1.1\r\nHost: x\r\n"
        + "Authorization: Bearer " + keyward.rootKey() + "\r\n"
        + "Authorization: Bearer someone-elses\r\nContent-Type: application/json\r\n"
        + "Content-Length: " + body.length() + "\r\nConnection: close\r\n\r\n" + body);

    assertThat(response).startsWith("HTTP/1.1 400");
    assertThat(body(response)).contains("Authorization");
  }

  @Test
  void jsonErrorsAreInOurWordsNeverTheParsersInternals() {
    List<String> bodies = List.of(
        "{\"name\":\"a\",\"name\":\"b\",\"ownerId\":\"o\"}",
        "{\"name\":\"a\",\"ownerId\":\"o\"} {}",
        "[".repeat(40) + "]".repeat(40),
        "{\"name\": 1" + "0".repeat(200) + "}",
        "{\"name\":\"a\" \"ownerId\":\"o\"}",
        "{\"name\":",
        "{'name':'a'}");
    for (String json : bodies) {
      Response response = keyward.client().sendJson("POST", "/v1/keys",
          json.getBytes(StandardCharsets.UTF_8), "application/json", true);
      String message = response.body().at("/error/message").asText();

      assertThat(response.status()).as(json).isEqualTo(400);
      assertThat(message).as(json).isNotBlank()
          .doesNotContain("`").doesNotContain("com.fasterxml").doesNotContain("Feature")
          .doesNotContain("StreamReadConstraints").doesNotContain("ObjectNode")
          .doesNotContain("Source:");
    }
  }

  @Test
  void patchTakesAMergePatchMediaTypeAsTheOpenApiDocumentSays() {
    String keyId = keyward.client().createKey(Map.of("name", "n", "ownerId", "o")).body()
        .get("keyId").asText();

    Response patched = keyward.client().sendJson("PATCH", "/v1/keys/" + keyId,
        "{\"name\":\"renamed\",\"expiresAt\":null}".getBytes(StandardCharsets.UTF_8),
        "application/merge-patch+json", true);
    Response wrongType = keyward.client().sendJson("POST", "/v1/keys",
        "{\"name\":\"n\",\"ownerId\":\"o\"}".getBytes(StandardCharsets.UTF_8),
        "application/merge-patch+json", true);

    assertThat(patched.status()).isEqualTo(200);
    assertThat(patched.body().get("name").asText()).isEqualTo("renamed");
    assertThat(wrongType.status()).isEqualTo(415);
  }

  @Test
  void everyRefusedBearerKeyGetsTheSameMessageWhateverItsState() {
    Map<String, Object> attributes = Map.of("name", "n", "ownerId", "o",
        "scopes", List.of("keyward:admin"));
    String revoked = create(attributes);
    keyward.client().send("POST", "/v1/keys/" + keyId(revoked) + "/revoke", null);
    String disabled = create(attributes);
    keyward.client().send("PATCH", "/v1/keys/" + keyId(disabled), Map.of("enabled", false));
    String expiring = create(Map.of("name", "n", "ownerId", "o", "scopes", List.of("keyward:admin"),
        "expiresAt", Instant.now().plusSeconds(60).toString()));
    keyward.clock().advance(Duration.ofMinutes(2));
    String unknown = io.keyward.key.KeyFormat.withPrefix("kw").generate(io.keyward.key.Environment.LIVE);
    String typo = unknown.substring(0, unknown.length() - 1) + (unknown.endsWith("a") ? "b" : "a");

    for (String key : List.of(revoked, disabled, expiring, unknown, typo, "garbage")) {
      Response response = keyward.clientWithKey(key).send("GET", "/v1/keys", null);
      assertThat(response.status()).isEqualTo(401);
      assertThat(response.body().at("/error/message").asText())
          .isEqualTo(RootKeyAuthenticator.REFUSED);
    }
  }

  private final Map<String, String> keyIds = new java.util.HashMap<>();

  private String create(Map<String, Object> attributes) {
    var body = keyward.client().createKey(attributes).body();
    keyIds.put(body.get("key").asText(), body.get("keyId").asText());
    return body.get("key").asText();
  }

  private String keyId(String key) {
    return keyIds.get(key);
  }
}
