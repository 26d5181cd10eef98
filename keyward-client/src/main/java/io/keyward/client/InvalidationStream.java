package io.keyward.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The subscription to {@code GET /v1/invalidations}, on a thread of its own: reads the server's
 * events and tells the verifier; reconnects with jittered backoff (100 ms to 10 s) when the
 * stream is lost; and counts it as lost (unsynced) when nothing, not even a heartbeat, has come
 * for three heartbeats. Never throws into the verifier.
 */
final class InvalidationStream implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(InvalidationStream.class.getName());

  /** What the stream says. Called on the stream's thread; must be quick. */
  interface Listener {
    void invalidated(String keyHash);

    /** {@code false}: changes may be missed from now on; {@code true}: the stream is live again. */
    void synced(boolean synced);
  }

  private final HttpClient http;
  private final URI uri;
  private final String authorization;
  private final Listener listener;
  private final Thread thread;
  private volatile boolean closed;
  private volatile InputStream body;
  private volatile long lastHeardNanos = System.nanoTime();
  private volatile long silenceLimitNanos = Duration.ofSeconds(15).toNanos();
  private Thread watchdog;

  InvalidationStream(HttpClient http, URI uri, String authorization, Listener listener) {
    this.http = http;
    this.uri = uri;
    this.authorization = authorization;
    this.listener = listener;
    this.thread = Thread.ofPlatform().daemon().name("keyward-invalidations").unstarted(this::run);
  }

  InvalidationStream start() {
    thread.start();
    watchdog = Thread.ofPlatform().daemon().name("keyward-invalidations-watchdog")
        .start(this::watch);
    return this;
  }

  private void run() {
    long backoff = 100;
    while (!closed) {
      try {
        if (readOnce()) {
          backoff = 100; // it was live for a while: reconnect at once
        }
      } catch (IOException | RuntimeException e) {
        LOG.log(System.Logger.Level.DEBUG, "keyward: invalidation stream lost: " + e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      if (closed) {
        return;
      }
      listener.synced(false);
      long pause = backoff / 2 + ThreadLocalRandom.current().nextLong(backoff / 2 + 1);
      try {
        Thread.sleep(pause);
      } catch (InterruptedException e) {
        return;
      }
      backoff = Math.min(10_000, backoff * 2);
    }
  }

  /** One connection, read until it ends; true if it got as far as the server's hello. */
  private boolean readOnce() throws IOException, InterruptedException {
    // The timeout bounds the wait for the response's headers only (the JDK's rule), which is
    // what a stream needs: a server that accepts and never answers is given up on; a live
    // stream then runs as long as it is heard from (the watchdog).
    HttpRequest request = HttpRequest.newBuilder(uri).header("Authorization", authorization)
        .header("Accept", "text/event-stream").timeout(Duration.ofSeconds(10)).GET().build();
    HttpResponse<InputStream> response = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
    body = response.body();
    if (response.statusCode() != 200) {
      body.close();
      LOG.log(System.Logger.Level.WARNING, "keyward: the invalidation stream answered " + response.statusCode()
          + (response.statusCode() == 401 || response.statusCode() == 403
              ? " (this service's key needs the keyward:verify scope)" : ""));
      return false;
    }
    boolean hello = false;
    lastHeardNanos = System.nanoTime();
    try (BufferedReader in = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
      String event = null;
      for (String line; !closed && (line = in.readLine()) != null; ) {
        lastHeardNanos = System.nanoTime();
        if (line.startsWith("event:")) {
          event = line.substring(6).strip();
        } else if (line.startsWith("data:") && event != null) {
          hello |= handle(event, line.substring(5).strip());
          event = null;
        } else if (line.isEmpty()) {
          event = null;
        }
      }
    }
    return hello;
  }

  /** Handles one event; true for the server's hello. */
  private boolean handle(String event, String data) {
    Map<?, ?> json;
    try {
      json = MiniJson.parse(data) instanceof Map<?, ?> map ? map : Map.of();
    } catch (IllegalArgumentException e) {
      return false; // garbage: ignored (a lost event would be a missed invalidation only if real)
    }
    switch (event) {
      case "hello" -> {
        if (json.get("heartbeatMillis") instanceof Double heartbeat && heartbeat > 0) {
          silenceLimitNanos = Duration.ofMillis((long) (heartbeat * 3)).toNanos();
        }
        listener.synced(!Boolean.FALSE.equals(json.get("synced")));
        return true;
      }
      case "invalidate" -> {
        if (json.get("keyHash") instanceof String hash && hash.length() == 64) {
          listener.invalidated(hash);
        }
      }
      case "unsynced" -> listener.synced(false);
      case "synced" -> listener.synced(true);
      default -> {
        // heartbeat, or an event of a later release
      }
    }
    return false;
  }

  /** Counts the stream as lost when it has been silent for three heartbeats, and cuts it. */
  private void watch() {
    while (!closed) {
      try {
        Thread.sleep(250);
      } catch (InterruptedException e) {
        return;
      }
      if (System.nanoTime() - lastHeardNanos > silenceLimitNanos) {
        lastHeardNanos = System.nanoTime();
        listener.synced(false);
        InputStream current = body;
        if (current != null) {
          try {
            current.close(); // the reader ends and reconnects
          } catch (IOException ignored) {
            // closing is all we want
          }
        }
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    InputStream current = body;
    if (current != null) {
      try {
        current.close();
      } catch (IOException ignored) {
        // closing is all we want
      }
    }
    thread.interrupt();
    if (watchdog != null) {
      watchdog.interrupt();
    }
  }
}
