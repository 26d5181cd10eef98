package io.keyward.client.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.StringJoiner;

/**
 * A thin client for Keyward's HTTP API v1, on the JDK's HTTP client. Every call returns the
 * status and the JSON body as they came, so callers (the CLI, tests) see errors exactly as the
 * server sent them. Thread-safe.
 */
public final class KeywardClient {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private final URI base;
  private final String rootKey;
  private final HttpClient http;
  private final Duration timeout;

  /**
   * @param base the server's base URL, such as {@code http://127.0.0.1:8080}
   * @param rootKey the key sent as {@code Authorization: Bearer}
   */
  public KeywardClient(URI base, String rootKey, Duration timeout) {
    this.base = Objects.requireNonNull(base, "base");
    this.rootKey = Objects.requireNonNull(rootKey, "rootKey");
    this.timeout = Objects.requireNonNull(timeout, "timeout");
    this.http = HttpClient.newBuilder().connectTimeout(timeout).build();
  }

  /** A response: HTTP status and body (JSON, or a text node if the body was not JSON). */
  public record Response(int status, JsonNode body, HttpResponse<String> raw) {
    public boolean isSuccess() {
      return status >= 200 && status < 300;
    }
  }

  public Response createKey(Map<String, ?> attributes) {
    return send("POST", "/v1/keys", attributes);
  }

  public Response importKey(Map<String, ?> attributes) {
    return send("POST", "/v1/keys/import", attributes);
  }

  public Response getKey(String keyId) {
    return send("GET", "/v1/keys/" + encode(keyId), null);
  }

  /** Lists keys; null arguments are left out. */
  public Response listKeys(String ownerId, Integer limit, String cursor) {
    StringJoiner query = new StringJoiner("&", "?", "").setEmptyValue("");
    if (ownerId != null) {
      query.add("ownerId=" + encode(ownerId));
    }
    if (limit != null) {
      query.add("limit=" + limit);
    }
    if (cursor != null) {
      query.add("cursor=" + encode(cursor));
    }
    return send("GET", "/v1/keys" + query, null);
  }

  public Response patchKey(String keyId, Map<String, ?> changes) {
    return send("PATCH", "/v1/keys/" + encode(keyId), changes);
  }

  public Response revokeKey(String keyId) {
    return send("POST", "/v1/keys/" + encode(keyId) + "/revoke", null);
  }

  /** Rotates; a null grace period takes the server's default. */
  public Response rotateKey(String keyId, Long gracePeriodSeconds) {
    return send("POST", "/v1/keys/" + encode(keyId) + "/rotate",
        gracePeriodSeconds == null ? null : Map.of("gracePeriodSeconds", gracePeriodSeconds));
  }

  public Response verify(String key, java.util.Collection<String> scopes) {
    return send("POST", "/v1/keys/verify",
        Map.of("key", key, "scopes", scopes == null ? java.util.List.of() : scopes));
  }

  /** Sends any request; {@code body} is serialised as JSON when not null. */
  public Response send(String method, String path, Object body) {
    try {
      return sendJson(method, path, body == null ? null : MAPPER.writeValueAsBytes(body),
          "application/json", true);
    } catch (IOException e) {
      throw new KeywardClientException("cannot serialise request body: " + e.getMessage(), e);
    }
  }

  /** Sends raw bytes with the given content type; {@code authorize} adds the root key. */
  public Response sendJson(String method, String path, byte[] body, String contentType,
      boolean authorize) {
    HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(path))
        .timeout(timeout)
        .header("Accept", "application/json")
        .method(method, body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofByteArray(body));
    if (body != null && contentType != null) {
      request.header("Content-Type", contentType);
    }
    if (authorize) {
      request.header("Authorization", "Bearer " + rootKey);
    }
    HttpResponse<String> response;
    try {
      response = http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    } catch (IOException e) {
      String reason = e instanceof java.net.ConnectException
          ? "connection refused (is the server running? --url / KEYWARD_URL)"
          : e instanceof java.net.http.HttpTimeoutException ? "no answer within " + timeout
          : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      throw new KeywardClientException("cannot reach Keyward at " + base + ": " + reason, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KeywardClientException("interrupted calling Keyward", e);
    }
    JsonNode json;
    try {
      json = response.body().isEmpty()
          ? MAPPER.nullNode()
          : MAPPER.readTree(response.body());
    } catch (IOException e) {
      json = MAPPER.getNodeFactory().textNode(response.body());
    }
    return new Response(response.statusCode(), json, response);
  }

  private static String encode(String text) {
    return URLEncoder.encode(text, StandardCharsets.UTF_8);
  }

  /** The server could not be reached or the request could not be made. */
  public static final class KeywardClientException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public KeywardClientException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
