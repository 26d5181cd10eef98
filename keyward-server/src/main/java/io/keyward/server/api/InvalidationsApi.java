package io.keyward.server.api;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.keyward.key.KeyHash;
import io.keyward.logging.RateLimitedLogger;
import io.keyward.server.auth.RootKeyAuthenticator;
import io.keyward.verify.Verifier;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /v1/invalidations}: the changes this node's cache hears of, pushed to clients as
 * Server-Sent Events, so that a client's own cache drops a revoked key as fast as a node does,
 * without Redis access. Fed by the same calls that drop keys from this node's L1 ({@link
 * Verifier.ChangeListener}): changes made here, and, with Redis, changes made on any node.
 *
 * <p>Events: {@code hello} on connect ({@code {"synced": true|false, "heartbeatMillis": N}}),
 * {@code invalidate} per changed key ({@code {"keyHash": "<hex sha-256>", "keyId": "key_..." or
 * null}}; the id is null when this node did not have the key cached: clients key their caches by
 * hash), {@code unsynced} and {@code synced} when this node's channel to other nodes is lost and
 * back (a client shortens its fresh window as the node does), and {@code heartbeat} every
 * {@link #HEARTBEAT}. A client that hears nothing for a few heartbeats has lost the stream.
 *
 * <p>Each subscriber has a bounded queue; the notifier never blocks: a subscriber too slow to
 * take {@value #QUEUE} events is disconnected (it reconnects, and treats the gap as a loss). At
 * most {@value #MAX_SUBSCRIBERS} streams per node, counted until their handlers return; beyond,
 * 503. Requires a key with {@code keyward:verify} (or admin), checked again about once a minute
 * (a revoked subscriber's stream ends). Shed like any request until authenticated
 * ({@link StreamPermits}).
 *
 * <p>A write that has not finished within {@link #WRITE_TIMEOUT} (a client that stopped reading
 * with its socket buffers full) ends its stream: a watchdog interrupts the handler's thread,
 * which closes the socket, so that a stuck client cannot hold one of the {@value
 * #MAX_SUBSCRIBERS} places for ever (counted: {@code keyward_invalidations_write_timeouts}).
 */
public final class InvalidationsApi implements Verifier.ChangeListener, AutoCloseable {
  public static final String PATH = "/v1/invalidations";
  public static final Duration HEARTBEAT = Duration.ofSeconds(5);
  static final int QUEUE = 10_000;
  static final int MAX_SUBSCRIBERS = 1_000;
  /** How often the subscriber's key is checked again, events or not. */
  static final Duration RECHECK_EVERY = Duration.ofMinutes(1);
  private static final String CLOSE = "\u0000close";
  /** The longest one write to a subscriber may take. */
  public static final Duration WRITE_TIMEOUT = Duration.ofSeconds(10);

  /** A stream's handler thread, and since when it has been writing (0: not writing). */
  private static final class Writer {
    final Thread thread = Thread.currentThread();
    volatile long writingSince;
    /** Whether the watchdog interrupted this writer (guarded by the writer's lock). */
    boolean interrupted;
  }

  private final RootKeyAuthenticator auth;
  private final Verifier verifier;
  private final Set<BlockingQueue<String>> subscribers = ConcurrentHashMap.newKeySet();
  private final AtomicLong sequence = new AtomicLong();
  private final java.util.concurrent.atomic.AtomicInteger open =
      new java.util.concurrent.atomic.AtomicInteger();
  private final RateLimitedLogger warnings;
  private final Counter published;
  private final Counter dropped;
  private final Counter writeTimeouts;
  private final Set<Writer> writers = ConcurrentHashMap.newKeySet();
  private final java.util.concurrent.ScheduledExecutorService watchdog;
  private volatile boolean closed;

  public InvalidationsApi(RootKeyAuthenticator auth, Verifier verifier, Clock clock,
      MeterRegistry registry) {
    this.auth = auth;
    this.verifier = verifier;
    this.warnings = new RateLimitedLogger(LoggerFactory.getLogger(InvalidationsApi.class), clock,
        Duration.ofSeconds(30));
    this.published = Counter.builder("keyward.invalidations.published")
        .description("Invalidation events queued to stream subscribers").register(registry);
    this.dropped = Counter.builder("keyward.invalidations.disconnected")
        .description("Stream subscribers disconnected because they fell behind").register(registry);
    this.writeTimeouts = Counter.builder("keyward.invalidations.write.timeouts")
        .description("Streams ended because one write took longer than "
            + WRITE_TIMEOUT.toSeconds() + " s").register(registry);
    this.watchdog = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(runnable -> {
      Thread thread = new Thread(runnable, "keyward-invalidations-watchdog");
      thread.setDaemon(true);
      return thread;
    });
    watchdog.scheduleWithFixedDelay(this::endStuckWrites, 1, 1, TimeUnit.SECONDS);
    Gauge.builder("keyward.invalidations.subscribers", subscribers, Set::size)
        .description("Clients subscribed to /v1/invalidations on this node").register(registry);
    verifier.addChangeListener(this);
  }

  /** Interrupts every handler stuck in one write for longer than {@link #WRITE_TIMEOUT}. */
  private void endStuckWrites() {
    long now = System.nanoTime();
    for (Writer writer : writers) {
      long since = writer.writingSince;
      if (since != 0 && now - since > WRITE_TIMEOUT.toNanos()) {
        synchronized (writer) { // with the write's end and the handler's: never after them
          if (writer.writingSince != since || !writers.remove(writer)) {
            continue; // that write finished meanwhile, or the stream ended
          }
          // A virtual thread blocked in a socket write: the interrupt closes the socket.
          writer.interrupted = true;
          writer.thread.interrupt();
        }
        writeTimeouts.increment();
        warnings.warn("an invalidation stream subscriber took no data for {} s; its stream ended",
            WRITE_TIMEOUT.toSeconds());
      }
    }
  }

  public void register(RouteTable routing) {
    routing.get(PATH, this::stream);
  }

  @Override
  public void changed(KeyHash hash, @Nullable String keyId) {
    publish("invalidate", "{\"keyHash\":\"" + hash.toHex() + "\",\"keyId\":"
        + (keyId == null ? "null" : "\"" + keyId + "\"") + "}");
  }

  @Override
  public void unsynced() {
    publish("unsynced", "{}");
  }

  @Override
  public void synced() {
    publish("synced", "{}");
  }

  private void publish(String event, String data) {
    if (subscribers.isEmpty()) {
      return;
    }
    String frame = "id: " + sequence.incrementAndGet() + "\nevent: " + event + "\ndata: " + data
        + "\n\n";
    for (BlockingQueue<String> queue : subscribers) {
      if (queue.offer(frame)) {
        published.increment();
      } else if (subscribers.remove(queue)) {
        // Too slow: cut it off rather than wait or lose events silently. Its writer sees the
        // close marker once it has drained what it holds (room is made for it).
        dropped.increment();
        queue.clear();
        queue.offer(CLOSE);
        warnings.warn("an invalidation stream subscriber fell {} events behind; disconnected",
            QUEUE);
      }
    }
  }

  private void stream(ServerRequest request, ServerResponse response) {
    auth.requireVerifier(request);
    StreamPermits.release(); // authenticated: the stream no longer holds a shedding permit
    if (closed) {
      throw ApiError.unavailable("the server is stopping");
    }
    // Counted until the handler returns (not only while subscribed): a stream cut off for being
    // slow may still be stuck in a write, and still holds its connection and thread.
    if (open.incrementAndGet() > MAX_SUBSCRIBERS) {
      open.decrementAndGet();
      throw ApiError.unavailable("too many invalidation streams on this node (at most "
          + MAX_SUBSCRIBERS + "); try another node or later");
    }
    BlockingQueue<String> queue = new ArrayBlockingQueue<>(QUEUE);
    subscribers.add(queue);
    Writer writer = new Writer();
    writers.add(writer);
    try {
      response.status(Status.OK_200);
      response.header(HeaderNames.CONTENT_TYPE, "text/event-stream");
      response.header(HeaderNames.CACHE_CONTROL, "no-store");
      response.header(HeaderNames.create("X-Accel-Buffering"), "no"); // nginx: do not buffer
      if (request.prologue().method().text().equals("HEAD")) {
        response.send();
        return;
      }
      try (OutputStream out = response.outputStream()) {
        write(writer, out, "event: hello\ndata: {\"synced\":" + !verifier.isUnsynced()
            + ",\"heartbeatMillis\":" + HEARTBEAT.toMillis() + "}\n\n");
        long recheckAt = System.nanoTime() + RECHECK_EVERY.toNanos();
        while (!closed) {
          String frame = queue.poll(HEARTBEAT.toMillis(), TimeUnit.MILLISECONDS);
          if (frame == CLOSE) {
            return;
          }
          if (System.nanoTime() - recheckAt >= 0) {
            recheckAt = System.nanoTime() + RECHECK_EVERY.toNanos();
            // The subscriber's key may have been revoked since it connected: checked again
            // about once a minute; refused, the stream ends.
            try {
              auth.requireVerifier(request);
            } catch (ApiError refused) {
              if (refused.status().code() == 401 || refused.status().code() == 403) {
                return;
              }
              // cannot check now (the store is failing): the stream goes on
            }
          }
          write(writer, out, frame != null ? frame : "event: heartbeat\ndata: {}\n\n");
        }
      }
    } catch (IOException | java.io.UncheckedIOException e) {
      // the client went away
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      subscribers.remove(queue);
      synchronized (writer) {
        writers.remove(writer);
        if (writer.interrupted) {
          Thread.interrupted(); // the watchdog's interrupt goes no further than this stream
        }
      }
      open.decrementAndGet();
    }
  }

  private static void write(Writer writer, OutputStream out, String frame) throws IOException {
    writer.writingSince = System.nanoTime() | 1; // never 0 (not writing)
    try {
      out.write(frame.getBytes(StandardCharsets.UTF_8));
      out.flush();
    } finally {
      synchronized (writer) {
        writer.writingSince = 0;
      }
    }
  }

  /** Ends every stream (a stop): each client reconnects elsewhere. */
  @Override
  public void close() {
    closed = true;
    watchdog.shutdownNow();
    for (BlockingQueue<String> queue : subscribers) {
      queue.clear();
      queue.offer(CLOSE);
    }
  }
}
