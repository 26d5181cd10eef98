package io.keyward.export;

import io.keyward.store.postgres.UsageOutbox;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * POSTs each usage batch as JSON to a URL, signed the Standard Webhooks way: headers {@code
 * webhook-id} (the batch's event id, the same on every retry: the receiver's idempotency key),
 * {@code webhook-timestamp} (unix seconds) and {@code webhook-signature} ({@code v1,<base64 of
 * HMAC-SHA256 over "<id>.<timestamp>.<body>">}) under a {@code whsec_} secret. A 2xx answer is a
 * delivery; anything else, a timeout or a refused connection is a failure the loop retries.
 */
public final class WebhookExporter implements UsageExporter {
  static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
  static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(5);
  private static final String SECRET_PREFIX = "whsec_";

  private final URI url;
  private final byte[] secret;
  private final Clock clock;
  private final HttpClient http;
  private final Duration requestTimeout;

  /**
   * @param secret {@code whsec_} followed by the base64 of at least 24 bytes
   * @throws IllegalArgumentException for a URL that is not http(s) or a secret of another shape
   */
  public WebhookExporter(String url, String secret, Clock clock) {
    this(url, secret, clock, REQUEST_TIMEOUT);
  }

  /** @param requestTimeout how long a POST may take, its answer included */
  WebhookExporter(String url, String secret, Clock clock, Duration requestTimeout) {
    this.requestTimeout = requestTimeout;
    this.url = parseUrl(url);
    this.secret = parseSecret(secret);
    this.clock = clock;
    this.http = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT)
        .followRedirects(HttpClient.Redirect.NEVER).build();
  }

  public static URI parseUrl(String url) {
    URI parsed;
    try {
      parsed = URI.create(url);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("webhook URL is not a URL: " + e.getMessage());
    }
    if (!"http".equals(parsed.getScheme()) && !"https".equals(parsed.getScheme())
        || parsed.getHost() == null) {
      throw new IllegalArgumentException("webhook URL must be http:// or https:// with a host, got '"
          + url.replaceAll("//[^@/]*@", "//***@").replaceAll("\\?.*$", "?***") + "'");
    }
    return parsed;
  }

  public static byte[] parseSecret(String secret) {
    if (secret == null || !secret.startsWith(SECRET_PREFIX)) {
      throw new IllegalArgumentException("webhook secret must start with " + SECRET_PREFIX);
    }
    byte[] key;
    try {
      key = Base64.getDecoder().decode(secret.substring(SECRET_PREFIX.length()));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("webhook secret: what follows " + SECRET_PREFIX
          + " must be base64");
    }
    if (key.length < 24) {
      throw new IllegalArgumentException("webhook secret must hold at least 24 bytes, got "
          + key.length);
    }
    return key;
  }

  @Override
  public String name() {
    return "webhook";
  }

  /** The {@code webhook-signature} value for these parts. */
  static String signature(byte[] secret, String id, long timestamp, String body) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      byte[] signed = mac.doFinal((id + "." + timestamp + "." + body)
          .getBytes(StandardCharsets.UTF_8));
      return "v1," + Base64.getEncoder().encodeToString(signed);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
    }
  }

  @Override
  public void deliver(UsageOutbox.Row row) throws IOException, InterruptedException {
    String body = UsageExporter.eventJson(row);
    long timestamp = clock.instant().getEpochSecond();
    HttpRequest request = HttpRequest.newBuilder(url)
        .timeout(requestTimeout)
        .header("Content-Type", "application/json")
        .header("webhook-id", row.eventId())
        .header("webhook-timestamp", Long.toString(timestamp))
        .header("webhook-signature", signature(secret, row.eventId(), timestamp, body))
        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
        .build();
    // The whole exchange within the timeout: HttpRequest.timeout stops counting once the
    // headers arrive, and a receiver that then stalls its body would hold this thread forever.
    java.util.concurrent.CompletableFuture<HttpResponse<Void>> exchange =
        http.sendAsync(request, HttpResponse.BodyHandlers.discarding());
    HttpResponse<Void> response;
    try {
      response = exchange.get(requestTimeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      exchange.cancel(true);
      throw timedOut();
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof java.net.http.HttpTimeoutException) {
        throw timedOut(); // the request's own timeout fired first: the same failure
      }
      throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
    }
    if (response.statusCode() / 100 != 2) {
      throw new IOException("the webhook answered " + response.statusCode());
    }
  }

  private java.net.http.HttpTimeoutException timedOut() {
    return new java.net.http.HttpTimeoutException("the webhook did not answer within "
        + requestTimeout.toMillis() + " ms");
  }

  @Override
  public void close() {
    http.close();
  }
}
