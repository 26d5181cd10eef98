package io.keyward.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.keyward.client.admin.KeywardClient;
import io.keyward.server.testing.KeywardTestServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code /v1/forward-auth} as gateways call it, over raw HTTP on a real server: the verdict is the
 * status; a valid key passes its identity upstream; refusals carry an RFC 6750 challenge; nothing
 * about the gateway's setup or Keyward's state is ever a 401; garbage is a clean 401.
 */
class ForwardAuthTest {
  private static KeywardTestServer keyward;
  private static KeywardClient client;
  private static String gateway;
  private static String key;
  private static String keyId;
  private static String readOnly;

  @BeforeAll
  static void start() {
    keyward = KeywardTestServer.start();
    client = keyward.client();
    gateway = "Bearer " + client.createKey(Map.of("name", "nginx", "ownerId", "ops",
        "scopes", List.of("keyward:verify"))).body().get("key").asText();
    JsonNode created = client.createKey(Map.of("name", "app", "ownerId", "acct 42/é",
        "scopes", List.of("orders:read", "orders:write"))).body();
    key = created.get("key").asText();
    keyId = created.get("keyId").asText();
    readOnly = "Bearer " + client.createKey(Map.of("name", "weak", "ownerId", "ops",
        "scopes", List.of("read"))).body().get("key").asText();
  }

  @AfterAll
  static void stop() {
    keyward.close();
  }

  /** One answer: status line, headers (lower-case names), body. */
  record Answer(int status, Map<String, String> headers, String body) {
    String header(String name) {
      return headers.get(name.toLowerCase(java.util.Locale.ROOT));
    }
  }

  /** Sends {@code METHOD target} with these raw header lines (bytes as ISO-8859-1). */
  private static Answer send(String method, String target, String... headerLines)
      throws IOException {
    StringBuilder request = new StringBuilder(method + " " + target + " HTTP/1.1\r\nHost: gw\r\n"
        + "Connection: close\r\n");
    for (String line : headerLines) {
      request.append(line).append("\r\n");
    }
    request.append("\r\n");
    try (Socket socket = new Socket("127.0.0.1", keyward.server().port())) {
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(request.toString().getBytes(StandardCharsets.ISO_8859_1));
      ByteArrayOutputStream read = new ByteArrayOutputStream();
      InputStream in = socket.getInputStream();
      in.transferTo(read);
      String text = read.toString(StandardCharsets.ISO_8859_1);
      int split = text.indexOf("\r\n\r\n");
      String[] head = text.substring(0, split).split("\r\n");
      Map<String, String> headers = new java.util.HashMap<>();
      for (int i = 1; i < head.length; i++) {
        int colon = head[i].indexOf(':');
        headers.put(head[i].substring(0, colon).strip().toLowerCase(java.util.Locale.ROOT),
            head[i].substring(colon + 1).strip());
      }
      return new Answer(Integer.parseInt(head[0].substring(9, 12)), headers,
          text.substring(split + 4));
    }
  }

  private static Answer ask(String target, String... clientHeaders) throws IOException {
    String[] lines = new String[clientHeaders.length + 1];
    lines[0] = "Keyward-Authorization: " + gateway;
    System.arraycopy(clientHeaders, 0, lines, 1, clientHeaders.length);
    return send("GET", target, lines);
  }

  @Test
  void aValidKeyIsAllowedWithItsIdentityForTheUpstream() throws IOException {
    Answer answer = ask("/v1/forward-auth?scopes=orders:read", "Authorization: Bearer " + key);

    assertThat(answer.status()).isEqualTo(200);
    assertThat(answer.body()).isEmpty();
    assertThat(answer.header("Keyward-Key-Id")).isEqualTo(keyId);
    assertThat(answer.header("Keyward-Owner-Id")).isEqualTo("acct%2042/%C3%A9");
    assertThat(answer.header("Keyward-Scopes")).isEqualTo("orders:read orders:write");
    assertThat(answer.header("Cache-Control")).isEqualTo("no-store");
  }

  @Test
  void anyMethodAndAnyPathBelowTheEndpointAreAcceptedAsGatewaysSendThem() throws IOException {
    // Envoy forwards the client's method and appends its path; Keyward reads only the headers.
    Answer envoy = send("POST", "/v1/forward-auth/api/orders/7?x=1",
        "Keyward-Authorization: " + gateway, "Authorization: Bearer " + key,
        "Keyward-Required-Scopes: orders:write", "Content-Length: 0");
    assertThat(envoy.status()).isEqualTo(200);
    assertThat(send("DELETE", "/v1/forward-auth", "Keyward-Authorization: " + gateway,
        "Authorization: Bearer " + key).status()).isEqualTo(200);
  }

  @Test
  void theKeyCanComeFromAnotherHeaderWholeValue() throws IOException {
    assertThat(ask("/v1/forward-auth?keyHeader=X-Api-Key", "X-Api-Key: " + key).status())
        .isEqualTo(200);
    assertThat(ask("/v1/forward-auth", "Keyward-Key-Header: X-Api-Key", "X-Api-Key: " + key)
        .status()).isEqualTo(200);
    // The client's Authorization is then not read.
    assertThat(ask("/v1/forward-auth?keyHeader=X-Api-Key", "Authorization: Bearer " + key)
        .status()).isEqualTo(401);
  }

  @Test
  void refusalsAre401Or403WithAChallengeAndSayNothingOfTheKeysState() throws IOException {
    Answer none = ask("/v1/forward-auth");
    assertThat(none.status()).isEqualTo(401);
    assertThat(none.header("WWW-Authenticate")).isEqualTo("Bearer realm=\"keyward\"");

    Answer scope = ask("/v1/forward-auth?scopes=orders:read,admin", "Authorization: Bearer " + key);
    assertThat(scope.status()).isEqualTo(403);
    assertThat(scope.header("WWW-Authenticate")).isEqualTo(
        "Bearer realm=\"keyward\", error=\"insufficient_scope\", scope=\"orders:read admin\"");

    JsonNode revoked = client.createKey(Map.of("name", "gone", "ownerId", "o")).body();
    client.revokeKey(revoked.get("keyId").asText());
    String unknown = key.substring(0, key.length() - 8) + "AAAAAAAA";
    for (String bad : List.of(revoked.get("key").asText(), unknown, "kw_live_short", "x")) {
      Answer answer = ask("/v1/forward-auth", "Authorization: Bearer " + bad);
      assertThat(answer.status()).as(bad).isEqualTo(401);
      assertThat(answer.header("WWW-Authenticate"))
          .isEqualTo("Bearer realm=\"keyward\", error=\"invalid_token\"");
      assertThat(answer.body()).contains("the API key is not valid").doesNotContain("REVOKED")
          .doesNotContain("NOT_FOUND");
    }
    Answer twice = ask("/v1/forward-auth", "Authorization: Bearer " + key,
        "Authorization: Bearer " + key);
    assertThat(twice.status()).isEqualTo(401);
    assertThat(twice.header("WWW-Authenticate")).contains("error=\"invalid_request\"");
  }

  @Test
  void aGatewayWithoutAGoodKeyOrWithABadParameterIs503NeverA401() throws IOException {
    String client = "Authorization: Bearer " + key;
    List<Answer> answers = List.of(
        send("GET", "/v1/forward-auth", client),
        send("GET", "/v1/forward-auth", client, "Keyward-Authorization: Basic abc"),
        send("GET", "/v1/forward-auth", client, "Keyward-Authorization: Bearer kw_live_nope"),
        send("GET", "/v1/forward-auth", client, "Keyward-Authorization: " + readOnly),
        ask("/v1/forward-auth?scopes=bad*scope", client),
        ask("/v1/forward-auth?keyHeader=bad%20header", client),
        ask("/v1/forward-auth?keyHeader=Keyward-Authorization", client));
    for (Answer answer : answers) {
      assertThat(answer.status()).isEqualTo(503);
      assertThat(answer.header("Retry-After")).isEqualTo("1");
      assertThat(answer.body()).contains("GATEWAY_MISCONFIGURED");
    }
  }

  @Test
  void garbageInTheClientsHeaderIsAClean401NeverA500() throws IOException {
    Random random = new Random(12);
    for (int i = 0; i < 300; i++) {
      byte[] bytes = new byte[random.nextInt(200)];
      random.nextBytes(bytes);
      StringBuilder value = new StringBuilder();
      for (byte b : bytes) {
        int c = b & 0xff;
        // Any byte but the line breaks that would end the header (the gateway has parsed it).
        value.append(c == '\r' || c == '\n' ? ' ' : (char) c);
      }
      String header = switch (i % 3) {
        case 0 -> "Authorization: Bearer " + value;
        case 1 -> "Authorization: " + value;
        default -> "X-Api-Key: " + value;
      };
      String target = i % 3 == 2 ? "/v1/forward-auth?keyHeader=X-Api-Key" : "/v1/forward-auth";
      Answer answer = ask(target, header);
      assertThat(answer.status()).as("header %s", header).isIn(400, 401);
      assertThat(answer.body()).doesNotContain("Exception").doesNotContain("at io.");
    }
  }

  @Test
  void whenTheStoreFailsAnUncachedKeyIs503AndACachedOneStillPasses() throws IOException {
    JsonNode fresh = client.createKey(Map.of("name", "n", "ownerId", "o")).body();
    assertThat(ask("/v1/forward-auth", "Authorization: Bearer " + key).status()).isEqualTo(200);
    keyward.server().verifier().invalidateLocally(
        io.keyward.key.KeyHash.of(fresh.get("key").asText()));
    keyward.database().refuseAndKillConnections();
    try {
      Answer undecided = ask("/v1/forward-auth", "Authorization: Bearer " + fresh.get("key")
          .asText());
      assertThat(undecided.status()).isEqualTo(503);
      assertThat(undecided.header("Retry-After")).isEqualTo("1");
      assertThat(undecided.body()).contains("UNAVAILABLE");
      assertThat(ask("/v1/forward-auth", "Authorization: Bearer " + key).status())
          .isEqualTo(200);
    } finally {
      keyward.database().restore();
    }
    // Leave the store answering for the next test (its breaker lets a probe through after 1 s).
    io.keyward.testing.Eventually.await(() -> client.getKey(keyId).status() == 200);
  }
}
